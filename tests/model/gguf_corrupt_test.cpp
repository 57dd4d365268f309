// Corrupt GGUF files must give a clean Status, never a crash or an
// out-of-bounds read (run this binary under ASan to check the latter):
// every truncation of a small writer-made file, every bit flip in its header,
// hostile counts and shapes, and the fuzzer's regression corpus.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "model/gguf.h"
#include "model/tokenizer.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;
using V = GgufWriter::Value;

// A small model: metadata of every kind, a tokenizer and three tensors. The
// last tensor is 32 bytes so the file has no trailing padding.
std::vector<uint8_t> small_file() {
  GgufWriter w;
  w.add_str("general.architecture", "llama");
  w.add_u32("llama.context_length", 128);
  w.add("i8", V::i8(-1));
  w.add("f64", V::f64(2.5));
  w.add("b", V::boolean(true));
  w.add_str("tokenizer.ggml.model", "gpt2");
  w.add_str("tokenizer.ggml.pre", "gpt-2");
  std::vector<std::string> toks = {"a", "b", "ab", "\xc4\xa0", "<|endoftext|>"};
  w.add("tokenizer.ggml.tokens", V::array_str(toks));
  std::vector<std::string> merges = {"a b"};
  w.add("tokenizer.ggml.merges", V::array_str(merges));
  std::vector<int32_t> types = {1, 1, 1, 1, 3};
  w.add("tokenizer.ggml.token_type", V::array_i32(types));
  std::vector<V> nested = {V::array(std::vector<V>{V::u16(1), V::u16(2)}), V::array({}, GgufType::kUint16)};
  w.add("nested", V::array(nested));
  std::vector<float> a(4 * 3, 0.5f);
  EXPECT_TRUE(w.add_tensor_f32("token_embd.weight", {4, 3}, a).is_ok());
  std::vector<uint8_t> q(34 * 2, 3);
  EXPECT_TRUE(w.add_tensor("blk.0.attn_q.weight", GgmlType::Q8_0, {64, 1}, q).is_ok());
  std::vector<float> last(8, 1.0f);
  EXPECT_TRUE(w.add_tensor_f32("output_norm.weight", {8}, last).is_ok());
  return w.to_bytes();
}

// Parses and, when the file is accepted, reads everything it exposes.
Status parse_and_touch(std::span<const uint8_t> bytes) {
  auto r = GgufFile::from_bytes(bytes, "corrupt");
  if (!r.is_ok()) return r.status();
  const GgufFile& f = **r;
  for (const GgufTensorInfo& t : f.tensors()) {
    const uint8_t* p = f.data(t);
    EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, f.file_size()) << t.name;
    volatile uint8_t sink = t.n_bytes ? p[t.n_bytes - 1] : 0;
    (void)sink;
  }
  for (const GgufKv& kv : f.kvs()) (void)kv.value.to_display_string();
  auto tok = Tokenizer::from_gguf(f);
  if (tok.is_ok()) (void)(*tok)->tokenize("ab ab<|endoftext|>", true, true);
  return Status::ok();
}

TEST(GgufCorrupt, SmallFileIsValid) {
  auto bytes = small_file();
  ASSERT_TRUE(parse_and_touch(bytes).is_ok());
  auto r = GgufFile::from_bytes(bytes);
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ((*r)->tensors().size(), 3u);
  EXPECT_EQ((*r)->data_offset() + (*r)->tensors()[2].offset + 32, bytes.size());
}

TEST(GgufCorrupt, EveryTruncationFailsCleanly) {
  auto bytes = small_file();
  size_t failures = 0;
  for (size_t len = 0; len < bytes.size(); ++len) {
    Status s = parse_and_touch(std::span<const uint8_t>(bytes.data(), len));
    EXPECT_FALSE(s.is_ok()) << "truncated to " << len << " bytes was accepted";
    if (!s.is_ok()) {
      ++failures;
      EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
      EXPECT_NE(s.message().find("error loading model"), std::string::npos) << s.message();
    }
  }
  EXPECT_EQ(failures, bytes.size());
}

TEST(GgufCorrupt, TruncatedTensorNamesTheTensor) {
  auto bytes = small_file();
  ASSERT_FALSE(bytes.empty());
  bytes.pop_back();  // (resize(size() - 1) draws a false -Wstringop-overflow from GCC 12 at -O1)
  auto r = GgufFile::from_bytes(bytes, "m.gguf");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("tensor 'output_norm.weight' extends past end of file"), std::string::npos)
      << r.status().message();
}

TEST(GgufCorrupt, TruncatedFileOnDiskThroughMmap) {
  auto bytes = small_file();
  const fs::path p = fs::temp_directory_path() / "ragd_gguf_truncated.gguf";
  for (size_t len : {size_t{3}, size_t{24}, bytes.size() / 2, bytes.size() - 5}) {
    {
      std::ofstream out(p, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(len));
    }
    auto r = GgufFile::open(p.string());
    ASSERT_FALSE(r.is_ok()) << len;
    EXPECT_NE(r.status().message().find(p.string()), std::string::npos) << r.status().message();
  }
  { std::ofstream out(p, std::ios::binary); }  // empty file
  EXPECT_FALSE(GgufFile::open(p.string()).is_ok());
  fs::remove(p);
}

TEST(GgufCorrupt, EveryBitFlipInTheHeader) {
  const auto bytes = small_file();
  auto r = GgufFile::from_bytes(bytes);
  ASSERT_TRUE(r.is_ok());
  const size_t header = (*r)->data_offset();
  size_t rejected = 0;
  for (size_t i = 0; i < header; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = bytes;
      copy[i] ^= static_cast<uint8_t>(1u << bit);
      if (!parse_and_touch(copy).is_ok()) ++rejected;
    }
  }
  // Most flips land in lengths, counts, types and names; flips inside string
  // text or values may still give a valid file. Both must be safe.
  EXPECT_GT(rejected, header / 4) << rejected << " of " << header * 8 << " flips rejected";
}

// Overwrites the u64 at `off` (little-endian).
void put_u64(std::vector<uint8_t>& b, size_t off, uint64_t v) { std::memcpy(b.data() + off, &v, 8); }
void put_u32(std::vector<uint8_t>& b, size_t off, uint32_t v) { std::memcpy(b.data() + off, &v, 4); }

std::string error_of(const std::vector<uint8_t>& b) {
  auto r = GgufFile::from_bytes(b, "hostile");
  return r.is_ok() ? std::string("(accepted)") : r.status().message();
}

TEST(GgufCorrupt, HugeCounts) {
  const auto bytes = small_file();
  for (uint64_t v : {uint64_t{1} << 40, std::numeric_limits<uint64_t>::max(), uint64_t{1} << 63}) {
    auto b = bytes;
    put_u64(b, 8, v);  // tensor count
    EXPECT_NE(error_of(b).find("tensor count"), std::string::npos) << error_of(b);
    b = bytes;
    put_u64(b, 16, v);  // metadata count
    EXPECT_NE(error_of(b).find("metadata count"), std::string::npos) << error_of(b);
    b = bytes;
    put_u64(b, 24, v);  // length of the first key
    EXPECT_NE(error_of(b).find("extends past end of file"), std::string::npos) << error_of(b);
  }
  // The element count of the tokens array.
  std::string key = "tokenizer.ggml.tokens";
  auto it = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
  ASSERT_NE(it, bytes.end());
  const size_t count_off = static_cast<size_t>(it - bytes.begin()) + key.size() + 4 + 4;
  auto b = bytes;
  put_u64(b, count_off, uint64_t{1} << 62);
  EXPECT_NE(error_of(b).find("elements"), std::string::npos) << error_of(b);
  b = bytes;
  put_u32(b, count_off - 4, 13);  // element type
  EXPECT_NE(error_of(b).find("unknown type 13"), std::string::npos) << error_of(b);
}

// Bytes of a file with one hand-written tensor info.
std::vector<uint8_t> one_tensor(uint32_t n_dims, std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                                size_t data_bytes, const std::string& name = "t") {
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  auto u32 = [&](uint32_t v) { b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); };
  auto u64 = [&](uint64_t v) { b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8); };
  u32(3);
  u64(1);
  u64(0);
  u64(name.size());
  b.insert(b.end(), name.begin(), name.end());
  u32(n_dims);
  for (uint64_t d : ne) u64(d);
  u32(type);
  u64(offset);
  while (b.size() % 32) b.push_back(0);
  b.resize(b.size() + data_bytes, 0);
  return b;
}

TEST(GgufCorrupt, HostileTensorInfos) {
  EXPECT_EQ(error_of(one_tensor(1, {8}, 0, 0, 32)), "(accepted)");
  EXPECT_NE(error_of(one_tensor(5, {1, 1, 1, 1, 1}, 0, 0, 32)).find("5 dimensions"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(0, {}, 0, 0, 32)).find("0 dimensions"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(2, {1ull << 62, 1ull << 62}, 0, 0, 32)).find("overflows"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {1ull << 63}, 0, 0, 32)).find("out of range"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {1ull << 61}, 0, 0, 32)).find("extends past end of file"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {8}, 4, 0, 32)).find("unknown ggml type 4"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {8}, 99, 0, 32)).find("unknown ggml type 99"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {33}, 8, 0, 64)).find("block size"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {8}, 0, 3, 64)).find("alignment"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {8}, 0, 32, 32)).find("extends past end of file"), std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {8}, 0, std::numeric_limits<uint64_t>::max() - 31, 32)).find("extends past"),
            std::string::npos);
  EXPECT_NE(error_of(one_tensor(1, {8}, 0, 0, 32, "")).find("empty name"), std::string::npos);
}

TEST(GgufCorrupt, DuplicatesAndBadMetadata) {
  GgufWriter w;
  w.add_u32("k", 1);
  w.add_u32("k", 2);
  EXPECT_NE(error_of(w.to_bytes()).find("duplicate metadata key 'k'"), std::string::npos);

  GgufWriter a;
  a.add_str("general.alignment", "x");
  EXPECT_NE(error_of(a.to_bytes()).find("general.alignment"), std::string::npos);
  GgufWriter a2;
  a2.add_u32("general.alignment", 48);
  EXPECT_NE(error_of(a2.to_bytes()).find("power of two"), std::string::npos);

  auto b = one_tensor(1, {8}, 0, 0, 32);
  auto two = b;  // same tensor info twice: bump the count and repeat the info
  put_u64(two, 8, 2);
  std::vector<uint8_t> info(b.begin() + 24, b.begin() + 24 + 8 + 1 + 4 + 8 + 4 + 8);
  two.insert(two.begin() + 24 + info.size(), info.begin(), info.end());
  EXPECT_NE(error_of(two).find("duplicate tensor name 't'"), std::string::npos) << error_of(two);

  auto magic = b;
  magic[0] = 'X';
  EXPECT_NE(error_of(magic).find("bad magic"), std::string::npos);
  auto ver = b;
  put_u32(ver, 4, 4);
  EXPECT_NE(error_of(ver).find("version 4"), std::string::npos);

  // A bool that is neither 0 nor 1, and arrays nested deeper than 8.
  GgufWriter bw;
  bw.add("b", V::u8(7));
  auto bb = bw.to_bytes();
  put_u32(bb, 24 + 8 + 1, static_cast<uint32_t>(GgufType::kBool));
  EXPECT_NE(error_of(bb).find("bool"), std::string::npos) << error_of(bb);
  V deep = V::array(std::vector<V>{V::u8(1)});
  for (int i = 0; i < 10; ++i) deep = V::array(std::vector<V>{deep});
  GgufWriter dw;
  dw.add("deep", deep);
  EXPECT_NE(error_of(dw.to_bytes()).find("nested too deeply"), std::string::npos);
}

TEST(GgufCorrupt, RegressionCorpus) {
  const fs::path dir = fs::path(RAGD_SOURCE_DIR) / "tests" / "model" / "gguf_corpus";
  ASSERT_TRUE(fs::exists(dir)) << dir;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() == ".md") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Status s = parse_and_touch(bytes);  // must return, either way
    if (!s.is_ok()) {
      EXPECT_FALSE(s.message().empty()) << e.path();
    }
    ++n;
  }
  EXPECT_GE(n, 10u);
}

}  // namespace
}  // namespace ragd

// Model runtime speed, side by side with llama.cpp on the very same files.
//
// Usage: model_bench [--dir DIR] [--models a,b,...] [--threads 1,2] [--reps 3]
//                    [--pp 512] [--tg 128] [--vocab-from FILE]...
//                    [--llama-bench PATH] [--llama-embedding PATH] [--no-keep]
//                    [--no-onednn] [--bert-rows N] [--int8-prompts]
//
// 1. Writes realistic-size models with ragd's own GgufWriter and random
//    weights (speed does not depend on the values) into DIR (default: a
//    folder under the system temp directory; files are reused when present,
//    --no-keep deletes the folder at the end):
//      smollm2-135m-f16 / -q8_0   30 layers, 576 wide, 9/3 heads, ffn 1536,
//                                 vocab 49152, tied output (llama)
//      smollm2-135m-q4_k          the same in Q4_K where a row is a whole
//                                 number of 256-blocks (ffn_down, 1536 wide),
//                                 Q8_0 elsewhere: llama-quantize's Q4_K_M
//                                 also falls back for 576-wide rows (to Q5_0 /
//                                 Q8_0; ragd has no Q5_0). Quantised with
//                                 ragd's quantize_row_q4_k_ref.
//      qwen2.5-0.5b-q8_0          24 layers, 896 wide, 14/2 heads, ffn 4864,
//                                 vocab 151936, qkv bias, tied (qwen2)
//      bge-small-f16 / -f32       12 layers, 384 wide, 12 heads, ffn 1536,
//                                 vocab 30522, CLS pooling (bert)
//    The vocabulary (tokenizer.* keys) is copied from a --vocab-from GGUF
//    whose model type and token count fit, else synthesised (a valid
//    byte-level BPE with merges, or a WordPiece list of "w<n>" words), so
//    llama.cpp loads the files too.
// 2. Measures the machine's memory bandwidth (read and STREAM triad over
//    256 MiB arrays, median of 5) at each thread count.
//    Then times oneDNN's f32, bf16 and int8 (u8 x s8) matmuls at M = 1 and
//    M = 32 (K 576, N 1536), the figures (bench/README.md) behind
//    model/README.md's notes on why ragd's quantised paths do not use
//    oneDNN's int8 / bf16 here.
// 3. For each model and thread count, in a child process (fresh peak RSS):
//    decoders: prompt processing (one pp-token batch, logits of the last
//    position) and generation (tg tokens one by one from an empty cache), as
//    llama-bench does (warm-up first, then --reps runs, median quoted);
//    encoders: embeddings/s for batch 1 and 32 of 128-token inputs, and the
//    peak RSS after the batch-1 runs and after the batch-32 runs
//    (--bert-rows sets BertLoadOptions::n_batch_tokens, the rows the
//    encoder runs together; default: the library's). --int8-prompts also
//    times pp with DecoderLoadOptions::int8_prompts (oneDNN int8) and prints
//    its ratio to the default path.
//    Then llama-bench (and llama-embedding for the batch of 32) on the same
//    file with the same thread count; its peak RSS comes from wait4().
//    ragd runs also report tokens per CPU second (all threads), which shows
//    the cost of a run when the machine is shared and wall times are noisy.
//    llama-embedding is run twice for the batch of 32: all sequences in one
//    batch (llama.cpp then attends over the whole batch under a mask) and one
//    sequence per batch; the ratio is taken to the better of the two.
//    The encoder table puts llama.cpp's peak RSS of each of these runs (from
//    wait4, shared libraries included) next to ragd's.
// 4. Prints one table: tok/s, ratio ragd/llama.cpp, peak RSS against file +
//    KV cache (without the resident pages of shared libraries' code, which
//    every process using them shares), and the fraction of the read bandwidth
//    reached in generation (weight bytes per token x tok/s / bandwidth) by
//    ragd and by llama.cpp, then a summary of the ratios.
// Short names: smollm-f16, smollm-q8, smollm-q4k, qwen-q8, bge (bge-small-f16),
// bge-f32; e.g. --models smollm-q8,bge --threads 1 --reps 2 for a quick run.
// Sessions use ragd's defaults (n_batch 256, f16 KV cache, n_ctx = pp + tg,
// as llama-bench sizes its context).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench_stats.h"
#include "model/bert.h"
#include "model/gguf.h"
#include "model/llama.h"
#include "model/matmul.h"
#include "model/model_builder.h"
#include "model/quant.h"
#include "model/tokenizer.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace ragd;
using ragd::bench::median;

namespace {

// ---------------------------------------------------------------- options

struct Args {
  fs::path dir = fs::temp_directory_path() / "ragd_model_bench";
  std::vector<std::string> models = {"smollm2-135m-f16", "smollm2-135m-q8_0", "smollm2-135m-q4_k",
                                     "qwen2.5-0.5b-q8_0", "bge-small-f16"};
  std::vector<int> threads = {1, 2};
  int reps = 3;
  int pp = 512;
  int tg = 128;
  int embd_len = 128;
  int bert_rows = 0;  // BertLoadOptions::n_batch_tokens; 0 = the default
  bool int8_prompts = false;  // also time pp with DecoderLoadOptions::int8_prompts
  std::vector<std::string> vocab_from;
  std::string llama_bench;
  std::string llama_embedding;
  bool keep = true;
  bool onednn = true;  // measure oneDNN f32 / bf16 / int8 matmuls
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU seconds used by this process (all threads); on a shared, loaded
// machine tokens per CPU second show the work a run costs.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

// ---------------------------------------------------------------- shapes

struct Shape {
  std::string name;
  std::string arch;  // llama, qwen2, bert
  int n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab;
  GgmlType type;
  bool qkv_bias = false;
  int n_ctx_train = 8192;
  float rope_base = 10000.0f;
  bool is_encoder() const { return arch == "bert"; }
};

std::string full_name(const std::string& name) {
  static const std::map<std::string, std::string> kShort = {
      {"smollm-f16", "smollm2-135m-f16"}, {"smollm-q8", "smollm2-135m-q8_0"}, {"smollm-q4k", "smollm2-135m-q4_k"},
      {"qwen-q8", "qwen2.5-0.5b-q8_0"},   {"bge", "bge-small-f16"},           {"bge-f32", "bge-small-f32"}};
  const auto it = kShort.find(name);
  return it == kShort.end() ? name : it->second;
}

std::optional<Shape> shape_for(const std::string& short_name) {
  const std::string name = full_name(short_name);
  if (name == "smollm2-135m-f16") return Shape{name, "llama", 30, 576, 9, 3, 1536, 49152, GgmlType::F16, false, 8192, 100000.0f};
  if (name == "smollm2-135m-q8_0") return Shape{name, "llama", 30, 576, 9, 3, 1536, 49152, GgmlType::Q8_0, false, 8192, 100000.0f};
  if (name == "smollm2-135m-q4_k") return Shape{name, "llama", 30, 576, 9, 3, 1536, 49152, GgmlType::Q4_K, false, 8192, 100000.0f};
  if (name == "qwen2.5-0.5b-q8_0") return Shape{name, "qwen2", 24, 896, 14, 2, 4864, 151936, GgmlType::Q8_0, true, 32768, 1000000.0f};
  if (name == "bge-small-f16") return Shape{name, "bert", 12, 384, 12, 12, 1536, 30522, GgmlType::F16, false, 512, 0.0f};
  if (name == "bge-small-f32") return Shape{name, "bert", 12, 384, 12, 12, 1536, 30522, GgmlType::F32, false, 512, 0.0f};
  return std::nullopt;
}

// ---------------------------------------------------------------- random weights

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f; }
};

// rows x cols weights of `type`, uniform in +-scale.
std::vector<uint8_t> random_tensor(GgmlType type, int64_t cols, int64_t rows, float scale, Rng& rng) {
  const size_t n = static_cast<size_t>(cols * rows);
  std::vector<uint8_t> out(ggml_row_size(type, cols) * static_cast<size_t>(rows));
  if (type == GgmlType::F32) {
    auto* p = reinterpret_cast<float*>(out.data());
    for (size_t i = 0; i < n; ++i) p[i] = rng.uniform() * scale;
  } else if (type == GgmlType::F16) {
    auto* p = reinterpret_cast<uint16_t*>(out.data());
    float buf[256];
    for (size_t i = 0; i < n; i += 256) {
      const size_t c = std::min<size_t>(256, n - i);
      for (size_t j = 0; j < c; ++j) buf[j] = rng.uniform() * scale;
      fp32_to_fp16_row(buf, p + i, static_cast<int64_t>(c));
    }
  } else if (type == GgmlType::Q8_0) {
    auto* b = reinterpret_cast<BlockQ8_0*>(out.data());
    const uint16_t d = fp32_to_fp16(scale / 127.0f);
    for (size_t i = 0; i < n / 32; ++i) {
      b[i].d = d;
      for (int j = 0; j < 32; j += 8) {
        uint64_t r = rng.next();
        for (int k = 0; k < 8; ++k, r >>= 8) b[i].qs[j + k] = static_cast<int8_t>(static_cast<int>(r & 0xff) % 255 - 127);
      }
    }
  } else if (type == GgmlType::Q4_K) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = rng.uniform() * scale;
      quantize_row_q4_k_ref(row.data(), reinterpret_cast<BlockQ4_K*>(out.data() + ggml_row_size(type, cols) * r), cols);
    }
  }
  return out;
}

// Q4_K needs rows of whole 256-blocks; narrower rows fall back to Q8_0.
GgmlType tensor_type(GgmlType type, int64_t cols) {
  return type == GgmlType::Q4_K && cols % 256 != 0 ? GgmlType::Q8_0 : type;
}

Status add_random(GgufWriter& w, const std::string& name, GgmlType type, int64_t cols, int64_t rows, Rng& rng,
                  float scale = -1.0f) {
  if (scale < 0) scale = 1.0f / std::sqrt(static_cast<float>(cols));
  type = tensor_type(type, cols);
  auto bytes = random_tensor(type, cols, rows, scale, rng);
  std::vector<int64_t> ne = {cols};
  if (rows > 1 || type != GgmlType::F32) ne.push_back(rows);
  return w.add_tensor(name, type, ne, bytes);
}

Status add_const(GgufWriter& w, const std::string& name, int64_t n, float v) {
  std::vector<float> vals(static_cast<size_t>(n), v);
  return w.add_tensor_f32(name, {n}, vals);
}

// ---------------------------------------------------------------- vocabularies

// Converts one metadata value read from a file back to a writer value.
std::optional<GgufWriter::Value> copy_value(const GgufValue& v) {
  using V = GgufWriter::Value;
  switch (v.type()) {
    case GgufType::kUint8: return V::u8(static_cast<uint8_t>(*v.as_uint()));
    case GgufType::kInt8: return V::i8(static_cast<int8_t>(*v.as_int()));
    case GgufType::kUint16: return V::u16(static_cast<uint16_t>(*v.as_uint()));
    case GgufType::kInt16: return V::i16(static_cast<int16_t>(*v.as_int()));
    case GgufType::kUint32: return V::u32(static_cast<uint32_t>(*v.as_uint()));
    case GgufType::kInt32: return V::i32(static_cast<int32_t>(*v.as_int()));
    case GgufType::kUint64: return V::u64(*v.as_uint());
    case GgufType::kInt64: return V::i64(*v.as_int());
    case GgufType::kFloat32: return V::f32(static_cast<float>(*v.as_float()));
    case GgufType::kFloat64: return V::f64(*v.as_float());
    case GgufType::kBool: return V::boolean(*v.as_bool());
    case GgufType::kString: return V::str(*v.as_string());
    case GgufType::kArray:
      if (v.array_type() == GgufType::kString) {
        std::vector<std::string> s(v.array_strings().begin(), v.array_strings().end());
        return V::array_str(s);
      }
      if (v.array_type() == GgufType::kArray) return std::nullopt;
      return V::numeric_array(v.array_type(), v.array_data(), v.array_size());
  }
  return std::nullopt;
}

// Copies tokenizer.* from the first --vocab-from file of the right model
// type and size. Returns true when it did.
bool copy_vocab(GgufWriter& w, const std::vector<std::string>& files, const std::string& model, int n_vocab) {
  for (const auto& path : files) {
    auto f = GgufFile::open(path);
    if (!f.is_ok()) {
      std::fprintf(stderr, "  --vocab-from %s: %s\n", path.c_str(), f.status().to_string().c_str());
      continue;
    }
    const GgufFile& g = *f.value();
    auto m = g.get_str("tokenizer.ggml.model");
    auto toks = g.get_arr("tokenizer.ggml.tokens");
    if (!m.is_ok() || !toks.is_ok() || m.value() != model ||
        static_cast<int>(toks.value()->array_size()) != n_vocab) {
      continue;
    }
    for (const auto& kv : g.kvs()) {
      if (kv.key.rfind("tokenizer.", 0) != 0) continue;
      auto v = copy_value(kv.value);
      if (v) w.add(kv.key, std::move(*v));
    }
    std::printf("  vocabulary copied from %s\n", path.c_str());
    return true;
  }
  return false;
}

// GPT-2's byte -> printable code point mapping, as UTF-8 strings.
std::vector<std::string> byte_symbols() {
  std::vector<std::string> out(256);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + extra++);
    std::string s;
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    out[static_cast<size_t>(b)] = s;
  }
  return out;
}

// A valid byte-level BPE vocabulary of n_vocab tokens: 3 control tokens, the
// 256 byte symbols, then tokens made by merges of existing tokens.
void synth_gpt2_vocab(GgufWriter& w, int n_vocab, const std::string& pre) {
  std::vector<std::string> tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  std::vector<int32_t> types = {3, 3, 3};
  const auto bytes = byte_symbols();
  for (const auto& b : bytes) {
    tokens.push_back(b);
    types.push_back(1);
  }
  std::unordered_set<std::string> seen(tokens.begin(), tokens.end());
  std::vector<std::string> merges;
  Rng rng(7);
  // Letters and the space symbol are merged most, like real text.
  const std::string letters = "abcdefghijklmnopqrstuvwxyzetaoinsh";
  while (static_cast<int>(tokens.size()) < n_vocab) {
    const size_t base = 3 + rng.next() % std::min<size_t>(tokens.size() - 3, 4000 + tokens.size() / 4);
    const std::string b = (rng.next() % 4 == 0) ? std::string(1, letters[rng.next() % letters.size()])
                                                : tokens[3 + rng.next() % std::min<size_t>(tokens.size() - 3, 600)];
    const std::string& a = tokens[base];
    if (a.size() + b.size() > 24) continue;
    std::string t = a + b;
    if (!seen.insert(t).second) continue;
    merges.push_back(a + " " + b);
    tokens.push_back(std::move(t));
    types.push_back(1);
  }
  VocabSpec v;
  v.model = "gpt2";
  v.pre = pre;
  v.tokens = std::move(tokens);
  v.types = std::move(types);
  v.merges = std::move(merges);
  v.ids = {{"bos", 0}, {"eos", 2}, {"padding", 0}};
  add_vocab(w, v);
  w.add_bool("tokenizer.ggml.add_bos_token", false);
}

// WordPiece: [PAD], [unused*], [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103,
// then word-initial pieces "▁w<n>" (llama.cpp's phantom-space convention).
void synth_bert_vocab(GgufWriter& w, int n_vocab) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int i = 0; i < n_vocab; ++i) {
    std::string t;
    int type = 1;
    if (i == 0) t = "[PAD]", type = 3;
    else if (i < 100) t = "[unused" + std::to_string(i) + "]", type = 5;
    else if (i == 100) t = "[UNK]", type = 3;
    else if (i == 101) t = "[CLS]", type = 3;
    else if (i == 102) t = "[SEP]", type = 3;
    else if (i == 103) t = "[MASK]", type = 3;
    else t = "\xE2\x96\x81w" + std::to_string(i - 104);
    tokens.push_back(std::move(t));
    types.push_back(type);
  }
  w.add_u32("tokenizer.ggml.token_type_count", 2);
  VocabSpec v;
  v.model = "bert";
  v.pre = "jina-v2-en";
  v.tokens = std::move(tokens);
  v.types = std::move(types);
  v.ids = {{"unknown", 100}, {"seperator", 102}, {"padding", 0}, {"cls", 101}, {"mask", 103}};
  add_vocab(w, v);
}

// ---------------------------------------------------------------- model files

uint32_t file_type_of(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q8_0: return 7;
    case GgmlType::Q4_K: return 15;  // LLAMA_FTYPE_MOSTLY_Q4_K_M
    default: return 0;
  }
}

// Random weights for the builder's tensors: matrices uniform in
// +-1/sqrt(row length) (embeddings +-0.05), norm gains 1, norm biases 0,
// projection biases uniform in +-bias_scale.
TensorFill random_fill(Rng& rng, float bias_scale) {
  return [&rng, bias_scale](GgufWriter& w, const TensorSlot& t) -> Status {
    switch (t.kind) {
      case TensorKind::kNormWeight: return add_const(w, t.name, t.ne[0], 1.0f);
      case TensorKind::kNormBias: return add_const(w, t.name, t.ne[0], 0.0f);
      case TensorKind::kBias: return add_random(w, t.name, GgmlType::F32, t.ne[0], 1, rng, bias_scale);
      case TensorKind::kMatrix: break;
    }
    const bool embedding = t.role == "token_embd" || t.role == "token_types" || t.role == "position_embd";
    return add_random(w, t.name, t.type, t.ne[0], t.ne[1], rng, embedding ? 0.05f : -1.0f);
  };
}

Status write_decoder(const Shape& s, const Args& args, const std::string& path) {
  DecoderShape d;
  d.arch = s.arch;
  d.name = s.name + " (random weights, ragd model_bench)";
  d.file_type = file_type_of(s.type);
  d.n_vocab = s.n_vocab;
  d.n_embd = s.n_embd;
  d.n_layer = s.n_layer;
  d.n_head = s.n_head;
  d.n_head_kv = s.n_head_kv;
  d.n_ff = s.n_ff;
  d.n_ctx = s.n_ctx_train;
  d.rope_base = s.rope_base;
  d.rope_dimension_count = true;
  d.qkv_bias = s.qkv_bias;
  d.wtype = s.type;
  GgufWriter w;
  if (!copy_vocab(w, args.vocab_from, "gpt2", s.n_vocab)) {
    synth_gpt2_vocab(w, s.n_vocab, s.arch == "qwen2" ? "qwen2" : "smollm");
  }
  Rng rng(42);
  RAGD_RETURN_IF_ERROR(add_decoder(w, d, random_fill(rng, 0.1f)));
  return w.write(path);
}

Status write_encoder(const Shape& s, const Args& args, const std::string& path) {
  EncoderShape e;
  e.name = s.name + " (random weights, ragd model_bench)";
  e.file_type = file_type_of(s.type);
  e.n_vocab = s.n_vocab;
  e.n_embd = s.n_embd;
  e.n_layer = s.n_layer;
  e.n_head = s.n_head;
  e.n_ff = s.n_ff;
  e.n_ctx = s.n_ctx_train;
  e.pooling = 2;
  e.write_causal = true;
  e.wtype = s.type;
  GgufWriter w;
  if (!copy_vocab(w, args.vocab_from, "bert", s.n_vocab)) synth_bert_vocab(w, s.n_vocab);
  Rng rng(43);
  RAGD_RETURN_IF_ERROR(add_encoder(w, e, random_fill(rng, 0.05f)));
  return w.write(path);
}

// ---------------------------------------------------------------- child processes

// Runs `fn` in a forked child; returns what it wrote to its pipe ("" when it
// failed) and its peak RSS from wait4 (KiB).
std::string in_child(const std::function<std::string()>& fn, long* maxrss_kb = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string out = fn();
    size_t off = 0;
    while (off < out.size()) {
      const ssize_t n = write(fds[1], out.data() + off, out.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(fds[1]);
    std::fflush(stdout);
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (maxrss_kb) *maxrss_kb = ru.ru_maxrss;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "";
  return out;
}

// Runs a program; returns its stdout (stderr to `err` if given) and peak RSS.
std::string run_program(const std::vector<std::string>& argv, long* maxrss_kb, std::string* err, int* rc) {
  int out_fds[2], err_fds[2];
  if (pipe(out_fds) != 0 || pipe(err_fds) != 0) return "";
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fds[1], 1);
    dup2(err_fds[1], 2);
    close(out_fds[0]);
    close(err_fds[0]);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  close(out_fds[1]);
  close(err_fds[1]);
  // Drain both pipes (stderr can be long) without blocking on either.
  std::string out, errs;
  fcntl(out_fds[0], F_SETFL, O_NONBLOCK);
  fcntl(err_fds[0], F_SETFL, O_NONBLOCK);
  bool open_out = true, open_err = true;
  char buf[8192];
  while (open_out || open_err) {
    bool any = false;
    for (int which = 0; which < 2; ++which) {
      bool& open = which == 0 ? open_out : open_err;
      if (!open) continue;
      const int fd = which == 0 ? out_fds[0] : err_fds[0];
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        (which == 0 ? out : errs).append(buf, static_cast<size_t>(n));
        any = true;
      } else if (n == 0) {
        open = false;
      }
    }
    if (!any) usleep(2000);
  }
  close(out_fds[0]);
  close(err_fds[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (maxrss_kb) *maxrss_kb = ru.ru_maxrss;
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (err) *err = std::move(errs);
  return out;
}

// Resets the peak RSS counter of this process (Linux >= 4.0), so a child
// reports only what it uses after the fork.
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, n, key) == 0) return std::atol(line.c_str() + n);
  }
  return 0;
}
long peak_rss_kb() { return status_kb("VmHWM:"); }

// Resident pages of shared libraries' files (libdnnl, libstdc++, ...): code
// shared with every process using them, not memory the model needs.
long shared_library_rss_kb() {
  std::ifstream maps("/proc/self/smaps");
  std::string line;
  bool lib = false;
  long kb = 0;
  while (std::getline(maps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < 17) {
      lib = line.find(".so") != std::string::npos;
    } else if (lib && line.rfind("Rss:", 0) == 0) {
      kb += std::atol(line.c_str() + 4);
    }
  }
  return kb;
}

std::map<std::string, double> parse_kv(const std::string& s) {
  std::map<std::string, double> m;
  std::stringstream ss(s);
  std::string item;
  while (ss >> item) {
    const auto eq = item.find('=');
    if (eq != std::string::npos) m[item.substr(0, eq)] = std::atof(item.c_str() + eq + 1);
  }
  return m;
}

std::string kv_line(const std::map<std::string, double>& m) {
  std::string s;
  char buf[64];
  for (const auto& [k, v] : m) {
    std::snprintf(buf, sizeof buf, "%.6g", v);
    s += k + "=" + buf + " ";
  }
  return s;
}

// ---------------------------------------------------------------- bandwidth

// GB/s of a read (sum) and of a triad a = b + s*c over arrays far larger than
// the caches, with `threads` std::threads each taking a contiguous part.
std::map<std::string, double> measure_bandwidth(int threads) {
  const size_t n = size_t{64} << 20;  // 64 Mi floats = 256 MiB per array
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  std::atomic<double> sink{0};
  auto run = [&](bool triad) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        if (triad) {
          for (size_t i = lo; i < hi; ++i) a[i] = b[i] + 3.0f * c[i];
        } else {
          float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
          for (size_t i = lo; i + 8 <= hi; i += 8) {
            s0 += b[i]; s1 += b[i + 1]; s2 += b[i + 2]; s3 += b[i + 3];
            s4 += b[i + 4]; s5 += b[i + 5]; s6 += b[i + 6]; s7 += b[i + 7];
          }
          sink = sink + (s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
        }
      });
    }
    for (auto& t : ts) t.join();
  };
  std::map<std::string, double> r;
  for (bool triad : {false, true}) {
    run(triad);  // warm-up (first touch)
    std::vector<double> gbs;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = Clock::now();
      run(triad);
      const double s = seconds_since(t0);
      const double bytes = triad ? 3.0 * n * 4 : 1.0 * n * 4;
      gbs.push_back(bytes / s / 1e9);
    }
    r[triad ? "triad" : "read"] = median(gbs);
  }
  return r;
}

// ---------------------------------------------------------------- ragd runs

std::string ragd_decoder(const std::string& path, int threads, const Args& args) {
  reset_peak_rss();
  auto model = DecoderModel::load(path);
  if (!model.is_ok()) {
    std::fprintf(stderr, "ragd: %s\n", model.status().to_string().c_str());
    return "";
  }
  DecoderSessionOptions so;
  so.n_ctx = args.pp + args.tg;
  so.n_threads = threads;
  so.kv_type = KvType::kF16;
  DecoderSession session(model.value(), so);
  const int V = session.n_vocab();
  Rng rng(11);
  std::vector<int32_t> prompt(static_cast<size_t>(args.pp));
  for (auto& t : prompt) t = static_cast<int32_t>(rng.next() % static_cast<uint64_t>(V));
  std::vector<float> logits;
  std::vector<double> pp_cpu, tg_cpu;
  auto pp_once = [&]() {
    session.reset();
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    Status s = session.eval(prompt, &logits);
    if (!s.is_ok()) std::fprintf(stderr, "ragd pp: %s\n", s.to_string().c_str());
    pp_cpu.push_back(args.pp / (cpu_seconds() - c0));
    return args.pp / seconds_since(t0);
  };
  auto tg_once = [&](int n) {
    session.reset();
    int32_t id = prompt[0];
    const double c0 = cpu_seconds();
    struct Cpu {
      std::vector<double>& out;
      double c0;
      int n;
      ~Cpu() { out.push_back(n / (cpu_seconds() - c0)); }
    } cpu{tg_cpu, c0, n};
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      Status s = session.eval(std::span<const int32_t>(&id, 1), &logits);
      if (!s.is_ok()) std::fprintf(stderr, "ragd tg: %s\n", s.to_string().c_str());
      id = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    return n / seconds_since(t0);
  };
  pp_once();   // warm-up, as llama-bench
  tg_once(1);
  pp_cpu.clear();
  tg_cpu.clear();
  std::vector<double> pp, tg;
  for (int r = 0; r < args.reps; ++r) pp.push_back(pp_once());
  for (int r = 0; r < args.reps; ++r) tg.push_back(tg_once(args.tg));
  std::map<std::string, double> m;
  m["pp"] = median(pp);
  m["tg"] = median(tg);
  m["pp_cpu"] = median(pp_cpu);
  m["tg_cpu"] = median(tg_cpu);
  m["rss_kb"] = static_cast<double>(peak_rss_kb());
  m["libs_kb"] = static_cast<double>(shared_library_rss_kb());
  m["kv_bytes"] = static_cast<double>(session.kv_bytes());
  m["weight_bytes"] = static_cast<double>(model.value()->weight_bytes());
  if (args.int8_prompts) {  // the same prompt through oneDNN int8, after the RSS was read
    auto int8 = DecoderModel::load(path, {.int8_prompts = true});
    if (int8.is_ok()) {
      DecoderSession s8(int8.value(), so);
      std::vector<double> pp8;
      if (!s8.eval(prompt, &logits).is_ok()) return kv_line(m);  // warm-up
      for (int r = 0; r < args.reps; ++r) {
        s8.reset();
        const auto t0 = Clock::now();
        if (!s8.eval(prompt, &logits).is_ok()) return kv_line(m);
        pp8.push_back(args.pp / seconds_since(t0));
      }
      m["pp_int8"] = median(pp8);
    }
  }
  return kv_line(m);
}

std::vector<std::vector<int32_t>> bert_inputs(int n_seq, int len, int n_vocab) {
  Rng rng(5);
  std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(n_seq));
  for (auto& s : seqs) {
    s.push_back(101);
    for (int i = 1; i + 1 < len; ++i) s.push_back(104 + static_cast<int32_t>(rng.next() % static_cast<uint64_t>(n_vocab - 104)));
    s.push_back(102);
  }
  return seqs;
}

std::string ragd_encoder(const std::string& path, int threads, const Args& args) {
  reset_peak_rss();
  BertLoadOptions lo;
  if (args.bert_rows > 0) lo.n_batch_tokens = args.bert_rows;
  auto model = BertModel::load(path, lo);
  if (!model.is_ok()) {
    std::fprintf(stderr, "ragd: %s\n", model.status().to_string().c_str());
    return "";
  }
  const BertModel& m = *model.value();
  std::map<std::string, double> r;
  for (int batch : {1, 32}) {
    auto seqs = bert_inputs(batch, args.embd_len, m.config().n_vocab);
    std::vector<float> out;
    std::vector<double> cpu;
    auto once = [&]() {
      out.clear();
      const auto t0 = Clock::now();
      const double c0 = cpu_seconds();
      Status s = m.encode(seqs, PoolingType::kNone, true, out, threads);
      if (!s.is_ok()) std::fprintf(stderr, "ragd encode: %s\n", s.to_string().c_str());
      cpu.push_back(batch / (cpu_seconds() - c0));
      return batch / seconds_since(t0);
    };
    once();
    cpu.clear();
    std::vector<double> v;
    for (int rep = 0; rep < args.reps; ++rep) v.push_back(once());
    r["emb" + std::to_string(batch)] = median(v);
    r["emb" + std::to_string(batch) + "_cpu"] = median(cpu);
    r["rss" + std::to_string(batch) + "_kb"] = static_cast<double>(peak_rss_kb());
  }
  r["rss_kb"] = static_cast<double>(peak_rss_kb());
  r["libs_kb"] = static_cast<double>(shared_library_rss_kb());
  return kv_line(r);
}

// ---------------------------------------------------------------- llama.cpp runs

struct LlamaResult {
  double pp = 0, tg = 0;
  long rss_kb = 0;
  bool ok = false;
};

double median_ts(const nlohmann::json& test) {
  const double n = test.value("n_prompt", 0) + test.value("n_gen", 0);
  std::vector<double> ts;
  for (const auto& ns : test["samples_ns"]) ts.push_back(n / (ns.get<double>() / 1e9));
  return median(ts);
}

LlamaResult llama_bench(const Args& args, const std::string& file, int threads, bool embeddings) {
  LlamaResult r;
  std::vector<std::string> argv = {args.llama_bench, "-m", file, "-t", std::to_string(threads), "-r",
                                   std::to_string(args.reps), "-o", "json"};
  const std::vector<std::string> extra =
      embeddings ? std::vector<std::string>{"-p", std::to_string(args.embd_len), "-n", "0", "-embd", "1"}
                 : std::vector<std::string>{"-p", std::to_string(args.pp), "-n", std::to_string(args.tg)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::string err;
  int rc = 0;
  const std::string out = run_program(argv, &r.rss_kb, &err, &rc);
  try {
    const auto j = nlohmann::json::parse(out);
    for (const auto& t : j) {
      if (t.value("n_gen", 0) == 0) r.pp = median_ts(t);
      else r.tg = median_ts(t);
    }
    r.ok = true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "  llama-bench failed (rc %d): %s\n  %s\n", rc, e.what(),
                 err.substr(err.size() > 600 ? err.size() - 600 : 0).c_str());
  }
  return r;
}

// Embeddings/s of llama-embedding for `n_seq` prompts of embd_len tokens in
// one batch: median over reps of n_seq / prompt-eval time.
LlamaResult llama_embedding(const Args& args, const std::string& file, int threads, int n_seq, bool one_per_batch) {
  LlamaResult r;
  // "w<i>" words are single tokens of the synthetic vocabulary; with [CLS]
  // and [SEP] a line of embd_len-2 words is embd_len tokens.
  std::string prompt;
  for (int s = 0; s < n_seq; ++s) {
    if (s) prompt += "\n";
    for (int i = 0; i < args.embd_len - 2; ++i) prompt += (i ? " w" : "w") + std::to_string((s * 131 + i * 7) % 20000);
  }
  // One batch of all n_seq sequences (llama.cpp then attends over the whole
  // batch with a mask), or one sequence per batch (-b = input length).
  const int batch = one_per_batch ? args.embd_len : n_seq * args.embd_len;
  std::vector<double> v;
  for (int rep = 0; rep < args.reps; ++rep) {
    std::vector<std::string> argv = {args.llama_embedding, "-m", file, "-t", std::to_string(threads), "-b",
                                     std::to_string(batch), "-c", std::to_string(batch), "-p", prompt};
    std::string err;
    int rc = 0;
    long rss = 0;
    run_program(argv, &rss, &err, &rc);
    r.rss_kb = std::max(r.rss_kb, rss);
    // llama_perf_context_print: "prompt eval time =  123.45 ms /  4096 tokens"
    const auto at = err.find("prompt eval time =");
    if (rc != 0 || at == std::string::npos) {
      std::fprintf(stderr, "  llama-embedding failed (rc %d): %s\n", rc,
                   err.substr(err.size() > 600 ? err.size() - 600 : 0).c_str());
      return r;
    }
    const double ms = std::atof(err.c_str() + at + std::strlen("prompt eval time ="));
    const auto slash = err.find('/', at);
    const int toks = slash == std::string::npos ? 0 : std::atoi(err.c_str() + slash + 1);
    if (toks != n_seq * args.embd_len) {
      std::fprintf(stderr, "  llama-embedding: %d tokens, expected %d\n", toks, n_seq * args.embd_len);
    }
    v.push_back(n_seq / (ms / 1000.0));
  }
  r.pp = median(v);
  r.ok = true;
  return r;
}

// ---------------------------------------------------------------- report

std::string fmt(double v, int prec = 1) {
  if (v <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}
std::string ratio(double a, double b) {
  if (a <= 0 || b <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", a / b);
  return buf;
}
std::string mib(double bytes) { return fmt(bytes / (1 << 20), 0); }

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dir") args.dir = next();
    else if (a == "--models") args.models = split(next(), ',');
    else if (a == "--threads") {
      args.threads.clear();
      for (const auto& t : split(next(), ',')) args.threads.push_back(std::atoi(t.c_str()));
    } else if (a == "--reps") args.reps = std::max(1, std::atoi(next().c_str()));
    else if (a == "--pp") args.pp = std::max(1, std::atoi(next().c_str()));
    else if (a == "--tg") args.tg = std::max(1, std::atoi(next().c_str()));
    else if (a == "--vocab-from") args.vocab_from.push_back(next());
    else if (a == "--llama-bench") args.llama_bench = next();
    else if (a == "--llama-embedding") args.llama_embedding = next();
    else if (a == "--no-keep") args.keep = false;
    else if (a == "--no-onednn") args.onednn = false;
    else if (a == "--int8-prompts") args.int8_prompts = true;
    else if (a == "--bert-rows") args.bert_rows = std::max(1, std::atoi(next().c_str()));
    else {
      std::fprintf(stderr,
                   "usage: model_bench [--dir DIR] [--models a,b] [--threads 1,2] [--reps N] [--pp N] [--tg N]\n"
                   "                   [--vocab-from FILE]... [--llama-bench PATH] [--llama-embedding PATH]"
                   " [--no-keep] [--no-onednn] [--bert-rows N] [--int8-prompts]\n");
      return 2;
    }
  }
  std::error_code ec;
  fs::create_directories(args.dir, ec);
  double start_load[3] = {0, 0, 0};
  if (getloadavg(start_load, 3) == 3) {
    std::printf("load average: %.2f %.2f %.2f\n", start_load[0], start_load[1], start_load[2]);
  }

  // 1. Model files (each written in a child so this process stays small).
  std::vector<std::pair<Shape, std::string>> models;
  for (const auto& name : args.models) {
    auto s = shape_for(name);
    if (!s) {
      std::fprintf(stderr, "unknown model '%s'\n", name.c_str());
      return 2;
    }
    const std::string path = (args.dir / (s->name + ".gguf")).string();
    if (!fs::exists(path) || fs::file_size(path) == 0) {
      std::printf("writing %s ...\n", path.c_str());
      const auto t0 = Clock::now();
      const std::string r = in_child([&]() -> std::string {
        Status st = s->is_encoder() ? write_encoder(*s, args, path) : write_decoder(*s, args, path);
        if (!st.is_ok()) {
          std::fprintf(stderr, "%s\n", st.to_string().c_str());
          return "";
        }
        return "ok";
      });
      if (r != "ok") {
        std::fprintf(stderr, "could not write %s\n", path.c_str());
        return 1;
      }
      std::printf("  %.1f MiB in %.1f s\n", fs::file_size(path) / 1048576.0, seconds_since(t0));
    }
    models.emplace_back(*s, path);
  }

  // 2. Bandwidth.
  std::map<int, std::map<std::string, double>> bw;
  for (int t : args.threads) {
    bw[t] = parse_kv(in_child([&] { return kv_line(measure_bandwidth(t)); }));
    std::printf("memory bandwidth, %d thread(s): read %.1f GB/s, triad %.1f GB/s\n", t, bw[t]["read"],
                bw[t]["triad"]);
  }

  // 2b. oneDNN's int8 (u8 x s8) and bf16 matmuls against f32 on this CPU, at
  // generation (M = 1) and prompt-sized (M = 32) batches, SmolLM2's FFN shape.
  std::string onednn_table;
  if (args.onednn) {
    onednn_table = "\n## oneDNN matmul on this CPU (GFLOP/s, median of 20, K=576 N=1536)\n\n"
                   "| thr | M | f32 | bf16 (x f32) | int8 u8*s8 (x f32) | implementations f32 / bf16 / int8 |\n"
                   "|---|---|---|---|---|---|\n";
    for (int t : args.threads) {
      for (int64_t m : {1, 32}) {
        const std::string line = in_child([&] {
          std::string cells, impls;
          double f32 = 0;
          for (auto kind : {OnednnMatmulKind::kF32, OnednnMatmulKind::kBf16, OnednnMatmulKind::kInt8}) {
            auto r = onednn_matmul_speed(kind, m, 576, 1536, 20, t);
            if (!r.is_ok()) {
              // oneDNN 2.6 builds no bf16 matmul without AVX-512 (e.g. on AVX2).
              cells += " no primitive on this CPU |";
              std::fprintf(stderr, "  %s\n", r.status().to_string().c_str());
              impls += " - /";
              continue;
            }
            if (kind == OnednnMatmulKind::kF32) f32 = r.value().gflops;
            cells += " " + fmt(r.value().gflops) +
                     (kind == OnednnMatmulKind::kF32 ? "" : " (" + ratio(r.value().gflops, f32) + ")") + " |";
            impls += " " + r.value().impl + " /";
          }
          impls.pop_back();
          return "| " + std::to_string(t) + " | " + std::to_string(m) + " |" + cells + impls + "|\n";
        });
        onednn_table += line.empty() ? "| " + std::to_string(t) + " | " + std::to_string(m) + " | failed |\n" : line;
      }
    }
    std::printf("%s", onednn_table.c_str());
  }

  // 3. Runs.
  struct Row {
    std::string model;
    int threads;
    std::map<std::string, double> ragd;
    LlamaResult lb, le, le1;
    double file_bytes;
  };
  std::vector<Row> rows;
  for (const auto& [shape, path] : models) {
    for (int t : args.threads) {
      Row row{shape.name, t, {}, {}, {}, {}, static_cast<double>(fs::file_size(path))};
      std::printf("%s, %d thread(s): ragd ...", shape.name.c_str(), t);
      std::fflush(stdout);
      const Shape sh = shape;
      const std::string p = path;
      row.ragd = parse_kv(in_child([&] { return sh.is_encoder() ? ragd_encoder(p, t, args) : ragd_decoder(p, t, args); }));
      if (shape.is_encoder()) {
        std::printf(" emb/s b1 %.1f (%.1f per CPU s), b32 %.1f (%.1f per CPU s)", row.ragd["emb1"],
                    row.ragd["emb1_cpu"], row.ragd["emb32"], row.ragd["emb32_cpu"]);
      } else {
        std::printf(" pp %.1f tok/s (%.1f per CPU s), tg %.1f tok/s (%.1f per CPU s)", row.ragd["pp"],
                    row.ragd["pp_cpu"], row.ragd["tg"], row.ragd["tg_cpu"]);
        if (row.ragd.count("pp_int8")) {
          std::printf(", pp with --int8-prompts %.1f tok/s (%.2fx)", row.ragd["pp_int8"],
                      row.ragd["pp_int8"] / row.ragd["pp"]);
        }
      }
      std::fflush(stdout);
      if (!args.llama_bench.empty()) {
        std::printf("; llama.cpp ...");
        std::fflush(stdout);
        row.lb = llama_bench(args, path, t, shape.is_encoder());
        if (shape.is_encoder()) {
          std::printf(" emb/s b1 %.1f", row.lb.pp / args.embd_len);
        } else {
          std::printf(" pp %.1f, tg %.1f", row.lb.pp, row.lb.tg);
        }
      }
      if (shape.is_encoder() && !args.llama_embedding.empty()) {
        row.le = llama_embedding(args, path, t, 32, false);
        row.le1 = llama_embedding(args, path, t, 32, true);
        std::printf(", b32 %.1f (one per batch %.1f)", row.le.pp, row.le1.pp);
      }
      if (shape.is_encoder()) {
        std::printf("; peak RSS MiB ragd b1 %.0f, b32 %.0f; llama.cpp b1 %.0f, b32 %.0f (one per batch %.0f)",
                    row.ragd["rss1_kb"] / 1024.0, row.ragd["rss32_kb"] / 1024.0, row.lb.rss_kb / 1024.0,
                    row.le.rss_kb / 1024.0, row.le1.rss_kb / 1024.0);
      }
      std::printf("\n");
      rows.push_back(std::move(row));
    }
  }

  // 4. Table.
  std::printf("\n## Decoders (tok/s, median of %d; pp%d = one %d-token prompt, tg%d = %d tokens one by one)\n\n",
              args.reps, args.pp, args.pp, args.tg, args.tg);
  std::printf("| model | thr | ragd pp%d | llama.cpp pp%d | ratio | ragd tg%d | llama.cpp tg%d | ratio | "
              "ragd tg GB/s (frac of read bw) | llama.cpp tg GB/s (frac) | ragd peak RSS MiB (of it shared libs) | "
              "file+KV MiB | (peak-libs)/(file+KV) | llama.cpp RSS MiB |\n",
              args.pp, args.pp, args.tg, args.tg);
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    if (shape_for(r.model)->is_encoder()) continue;
    auto g = r.ragd;
    // Bytes of weights one generated token reads (every matrix once, the
    // tied output included), times tokens per second.
    const double tg_gbs = g["weight_bytes"] * g["tg"] / 1e9;
    const double lb_gbs = g["weight_bytes"] * r.lb.tg / 1e9;
    const double read_bw = bw[r.threads]["read"];
    const double budget = r.file_bytes + g["kv_bytes"];
    std::printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s (%s) | %s (%s) | %s | %s | %s | %s |\n", r.model.c_str(),
                r.threads, fmt(g["pp"]).c_str(), fmt(r.lb.pp).c_str(), ratio(g["pp"], r.lb.pp).c_str(),
                fmt(g["tg"]).c_str(), fmt(r.lb.tg).c_str(), ratio(g["tg"], r.lb.tg).c_str(), fmt(tg_gbs).c_str(),
                read_bw > 0 ? fmt(tg_gbs / read_bw, 2).c_str() : "-", fmt(lb_gbs).c_str(),
                read_bw > 0 ? fmt(lb_gbs / read_bw, 2).c_str() : "-",
                (fmt(g["rss_kb"] / 1024.0, 0) + " (" + fmt(g["libs_kb"] / 1024.0, 0) + ")").c_str(),
                mib(budget).c_str(), fmt((g["rss_kb"] - g["libs_kb"]) * 1024.0 / budget, 2).c_str(),
                fmt(r.lb.rss_kb / 1024.0, 0).c_str());
  }
  std::printf("\n## Encoders (embeddings/s of %d-token inputs, median of %d)\n\n", args.embd_len, args.reps);
  std::printf("| model | thr | ragd b1 | llama.cpp b1 | ratio | ragd b32 | llama.cpp b32 (one batch / one per batch) "
              "| ratio to best | peak RSS MiB b1: ragd / llama-bench | peak RSS MiB b32: ragd / llama-embedding "
              "(one batch / one per batch) | ragd shared libs MiB | file MiB | (ragd b32 peak - libs) / file |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    if (!shape_for(r.model)->is_encoder()) continue;
    auto g = r.ragd;
    const double lb1 = r.lb.pp / args.embd_len;
    const double best32 = std::max(r.le.pp, r.le1.pp);
    auto kb = [](double v) { return fmt(v / 1024.0, 0); };
    std::printf("| %s | %d | %s | %s | %s | %s | %s / %s | %s | %s / %s | %s / %s / %s | %s | %s | %s |\n",
                r.model.c_str(), r.threads, fmt(g["emb1"]).c_str(), fmt(lb1).c_str(), ratio(g["emb1"], lb1).c_str(),
                fmt(g["emb32"]).c_str(), fmt(r.le.pp).c_str(), fmt(r.le1.pp).c_str(), ratio(g["emb32"], best32).c_str(),
                kb(g["rss1_kb"]).c_str(), kb(static_cast<double>(r.lb.rss_kb)).c_str(), kb(g["rss32_kb"]).c_str(),
                kb(static_cast<double>(r.le.rss_kb)).c_str(), kb(static_cast<double>(r.le1.rss_kb)).c_str(),
                kb(g["libs_kb"]).c_str(), mib(r.file_bytes).c_str(),
                fmt((g["rss32_kb"] - g["libs_kb"]) * 1024.0 / r.file_bytes, 2).c_str());
  }
  std::printf("\nPeak RSS includes the model file's mapped pages; llama.cpp's comes from wait4 and includes its\n"
              "shared libraries' resident code too (ragd's libraries are shown apart).\n");
  std::printf("%s", onednn_table.c_str());
  std::printf("\nbandwidth (GB/s, median of 5): ");
  for (const auto& [t, m] : bw) std::printf("%d thr read %.1f triad %.1f; ", t, m.at("read"), m.at("triad"));

  // 5. Summary: one line per model and figure, ragd/llama.cpp.
  std::printf("\n\n## Summary (ratio ragd / llama.cpp; > 1 means ragd is faster)\n\n");
  std::printf("| model | figure |");
  for (int t : args.threads) std::printf(" %d thr |", t);
  std::printf("\n|---|---|");
  for (size_t i = 0; i < args.threads.size(); ++i) std::printf("---|");
  std::printf("\n");
  auto find_row = [&](const std::string& model, int t) -> const Row* {
    for (const auto& r : rows) {
      if (r.model == model && r.threads == t) return &r;
    }
    return nullptr;
  };
  for (const auto& [shape, path] : models) {
    const std::vector<std::string> figures = shape.is_encoder() ? std::vector<std::string>{"emb/s b1", "emb/s b32"}
                                                                : std::vector<std::string>{"pp", "tg"};
    for (const auto& fig : figures) {
      std::printf("| %s | %s |", shape.name.c_str(), fig.c_str());
      for (int t : args.threads) {
        const Row* r = find_row(shape.name, t);
        if (r == nullptr) {
          std::printf(" - |");
          continue;
        }
        auto g = r->ragd;
        double a = 0, b = 0;
        if (fig == "pp") a = g["pp"], b = r->lb.pp;
        else if (fig == "tg") a = g["tg"], b = r->lb.tg;
        else if (fig == "emb/s b1") a = g["emb1"], b = r->lb.pp / args.embd_len;
        else a = g["emb32"], b = std::max(r->le.pp, r->le1.pp);
        std::printf(" %s |", ratio(a, b).c_str());
      }
      std::printf("\n");
    }
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) {
    std::printf("\nload average at the start: %.2f %.2f %.2f, at the end: %.2f %.2f %.2f (%u CPUs)\n", start_load[0],
                start_load[1], start_load[2], load[0], load[1], load[2], std::thread::hardware_concurrency());
  }
  if (!args.keep) fs::remove_all(args.dir, ec);
  return 0;
}

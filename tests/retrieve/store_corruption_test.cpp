// A corrupt SST data block with a real RocksDB: every read that touches it
// reports kCorruption (not "not found", not a document with fewer chunks),
// and the documents outside it still read. The store is written, closed
// (which flushes it to SST files), corrupted on disk and reopened with the
// store's own options.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "index/store.h"
#include "retrieve/retriever.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;

constexpr int kDocs = 40;
constexpr int kChunksPerDoc = 4;
constexpr int kDim = 8;
constexpr int kTarget = 17;  // the document whose blocks get corrupted
constexpr int kTargetChunk = 2;

// A word of random letters: unique in the corpus (so the lexical search for
// it finds one chunk) and without repeats that compression would fold away
// (so its bytes appear as they are in the SST file).
std::string random_word(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> letter(0, 25);
  std::string w;
  for (size_t i = 0; i < n; ++i) w += static_cast<char>('a' + letter(rng));
  return w;
}

struct Corpus {
  std::vector<Document> docs;
  std::vector<std::vector<Chunk>> chunks;
  std::vector<std::vector<float>> vectors;
  std::string target_word;  // the marker of the target chunk
};

Corpus make_corpus() {
  std::mt19937 rng(20261204);
  std::normal_distribution<float> g;
  Corpus c;
  for (int d = 0; d < kDocs; ++d) {
    Document doc;
    doc.id = "DOC" + std::to_string(d);
    doc.title = "Document " + std::to_string(d);
    doc.kind = "runbook";
    doc.source = "api";
    std::vector<Chunk> chunks;
    std::vector<float> vecs;
    for (int k = 0; k < kChunksPerDoc; ++k) {
      std::string marker = random_word(rng, 24);
      if (d == kTarget && k == kTargetChunk) c.target_word = marker;
      std::string text = marker;
      // About 1.5 KB per chunk: a 4 KB data block holds two or three chunks.
      for (int w = 0; w < 180; ++w) text += " " + random_word(rng, 7);
      Chunk ch;
      ch.id = doc.id + "#" + std::to_string(k);
      ch.doc_id = doc.id;
      ch.ordinal = static_cast<uint32_t>(k);
      ch.text = text;
      doc.text += text + "\n\n";
      chunks.push_back(ch);
      for (int j = 0; j < kDim; ++j) vecs.push_back(g(rng));
    }
    c.docs.push_back(doc);
    c.chunks.push_back(chunks);
    c.vectors.push_back(vecs);
  }
  return c;
}

// Flips bytes in the middle of every copy of `needle` in the store's SST
// files; returns how many copies were found.
int corrupt_sst_files(const fs::path& dir, const std::string& needle) {
  int found = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".sst") continue;
    std::string bytes;
    {
      std::ifstream in(e.path(), std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    bool changed = false;
    for (size_t at = bytes.find(needle); at != std::string::npos; at = bytes.find(needle, at + 1)) {
      for (size_t i = 8; i < 16; ++i) bytes[at + i] = static_cast<char>(bytes[at + i] ^ 0x5a);
      ++found;
      changed = true;
    }
    if (changed) {
      std::ofstream out(e.path(), std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
  }
  return found;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("ragd-corruption-" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(StoreCorruption, CorruptBlockIsReportedAndHealthyDocumentsStillRead) {
  TempDir dir;
  StoreOptions o;
  o.dir = dir.path() / "data";
  const Corpus corpus = make_corpus();
  {
    auto s = Store::open(o);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    Store& store = **s;
    ASSERT_TRUE(store.bind_encoder("test:8", kDim).is_ok());
    for (int d = 0; d < kDocs; ++d) {
      auto r = store.upsert(corpus.docs[d], corpus.chunks[d], corpus.vectors[d]);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    }
  }  // closing flushes the memtables into SST files
  ASSERT_GE(corrupt_sst_files(o.dir, corpus.target_word), 2) << "the marker should be in doc_text and chunks";

  auto s = Store::open(o);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  Store& store = **s;
  const std::string target = corpus.docs[kTarget].id;

  // Get by id: the document text and its chunks.
  auto doc = store.get_document(target);
  EXPECT_EQ(doc.status().code(), StatusCode::kCorruption) << doc.status().to_string();
  auto chunks = store.chunks_of(target);
  EXPECT_EQ(chunks.status().code(), StatusCode::kCorruption) << "not a partial list";

  // A search that finds the chunk and then reads it (hydration).
  const std::vector<std::string> terms{corpus.target_word};
  auto lexical = store.search_lexical(terms, 5, nullptr);
  ASSERT_EQ(lexical.size(), 1u);  // the inverted index is intact
  auto direct = store.chunk(lexical[0].label);
  EXPECT_EQ(direct.status().code(), StatusCode::kCorruption);
  Retriever retriever(store, nullptr);
  SearchRequest req;
  req.query = corpus.target_word;
  req.k = 5;
  req.mode = SearchMode::kLexical;
  auto hits = retriever.retrieve(req);
  EXPECT_EQ(hits.status().code(), StatusCode::kCorruption) << "not an empty result";
  // Each failed read was counted (and logged) once, by the store.
  EXPECT_EQ(store.stats().read_errors, 4u);

  // Listing every document: each one reads whole or fails as corrupt; the
  // blocks around the marker hold at most a few of them.
  int whole = 0;
  int corrupt = 0;
  store.for_each_document([&](const std::string& id) {
    const int d = std::stoi(id.substr(3));
    auto got = store.get_document(id);
    auto cs = store.chunks_of(id);
    if (!cs.is_ok()) {
      EXPECT_EQ(cs.status().code(), StatusCode::kCorruption) << id;
      ++corrupt;
      return;
    }
    ASSERT_EQ(cs->size(), static_cast<size_t>(kChunksPerDoc)) << id << ": a partial document";
    for (int k = 0; k < kChunksPerDoc; ++k) EXPECT_EQ((*cs)[k].text, corpus.chunks[d][k].text) << id;
    if (!got.is_ok()) {
      EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << id;
      ++corrupt;
      return;
    }
    EXPECT_EQ(got->text, corpus.docs[d].text) << id;
    ++whole;
  });
  EXPECT_GE(corrupt, 1);
  EXPECT_GE(whole, kDocs - 4);
  EXPECT_EQ(whole + corrupt, kDocs);

  // A healthy document found by search hydrates as before.
  SearchRequest ok_req;
  ok_req.query = corpus.chunks[0][1].text.substr(0, 24);
  ok_req.k = 1;
  ok_req.mode = SearchMode::kLexical;
  auto ok_hits = retriever.retrieve(ok_req);
  ASSERT_TRUE(ok_hits.is_ok()) << ok_hits.status().to_string();
  ASSERT_EQ(ok_hits->size(), 1u);
  EXPECT_EQ((*ok_hits)[0].chunk_id, "DOC0#1");
}

}  // namespace
}  // namespace ragd

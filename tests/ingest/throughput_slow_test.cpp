// Ingest throughput on real text: the licence and copyright files every
// Debian system has (/usr/share/common-licenses, /usr/share/doc/*/copyright),
// or $RAGD_THROUGHPUT_DIR. Prints chunks/s for the chunker alone and for the
// whole pipeline with GloVe-SIF and a real Store; skipped without the text or
// the GloVe file.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "index/store.h"
#include "ingest/pipeline.h"
#include "model/glove_sif.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;

std::vector<Document> load_corpus(size_t max_bytes) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (const char* env = std::getenv("RAGD_THROUGHPUT_DIR")) {
    for (auto it = fs::recursive_directory_iterator(env, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(it->path());
  } else {
    for (auto it = fs::directory_iterator("/usr/share/common-licenses", ec); !ec && it != fs::directory_iterator();
         it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(it->path());
    for (auto it = fs::directory_iterator("/usr/share/doc", ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      fs::path c = it->path() / "copyright";
      if (fs::is_regular_file(c, ec)) files.push_back(c);
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<Document> docs;
  size_t total = 0;
  for (const auto& f : files) {
    if (total >= max_bytes) break;
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    Document d;
    d.id = f.string();
    d.title = f.parent_path().filename().string();
    d.text = ss.str();
    if (d.text.empty() || d.text.find('\0') != std::string::npos) continue;
    total += d.text.size();
    docs.push_back(std::move(d));
  }
  return docs;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(Throughput, ChunkerOnRealText) {
  std::vector<Document> docs = load_corpus(32u << 20);
  if (docs.empty()) GTEST_SKIP() << "no real text found (set RAGD_THROUGHPUT_DIR)";
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.text.size();
  const Chunker chunker;
  size_t chunks = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (auto d : docs) {
    ASSERT_TRUE(normalize_document(d).is_ok());
    chunks += chunker.split(d).size();
  }
  double s = seconds_since(t0);
  std::printf("chunker: %zu docs, %.1f MB, %zu chunks in %.2f s = %.0f chunks/s, %.1f MB/s (normalise + split)\n",
              docs.size(), bytes / 1e6, chunks, s, chunks / s, bytes / 1e6 / s);
  EXPECT_GT(chunks / s, 10000.0) << "the chunker should be far faster than the 2,000 chunks/s ingest target";
}

TEST(Throughput, PipelineWithGloveAndStore) {
  auto glove = open_glove();
  if (!glove.is_ok()) GTEST_SKIP() << glove.status().to_string();
  std::vector<Document> docs = load_corpus(6u << 20);
  if (docs.empty()) GTEST_SKIP() << "no real text found (set RAGD_THROUGHPUT_DIR)";
  std::mt19937_64 rng(std::random_device{}());
  fs::path dir = fs::temp_directory_path() / ("ragd-tput-" + std::to_string(rng()));
  {
    StoreOptions so;
    so.dir = dir;
    auto store = Store::open(so);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    IngestOptions io;
    if (const char* b = std::getenv("RAGD_INGEST_BATCH")) io.batch_documents = std::strtoul(b, nullptr, 10);
    Ingestor ing(**store, **glove, io);
    auto t0 = std::chrono::steady_clock::now();
    for (auto& d : docs) ing.add(std::move(d));
    ing.flush();
    double s = seconds_since(t0);
    const IngestStats& st = ing.stats();
    std::printf("pipeline (GloVe-SIF, RocksDB synced, hnsw): %llu docs, %llu chunks in %.2f s = %.0f docs/s, "
                "%.0f chunks/s\n",
                static_cast<unsigned long long>(st.ingested), static_cast<unsigned long long>(st.chunks), s,
                st.ingested / s, st.chunks / s);
    std::printf("  stages: prepare (normalise+hash+chunk) %.2f s, embed %.2f s, write %.2f s\n", st.seconds_prepare,
                st.seconds_embed, st.seconds_write);
    EXPECT_EQ(st.failed, 0u) << (st.errors.empty() ? "" : st.errors[0]);
    EXPECT_GT(st.chunks / s, 200.0);  // a sanity bound: the figure above is what counts
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace ragd

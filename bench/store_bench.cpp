// Store throughput and search latency on real text.
// Usage: store_bench [chunks=100000] [dir]
// Text: every /usr/share/doc/*/copyright file and /usr/share/common-licenses,
// cut into 60-word chunks (windows overlap when more chunks are asked for
// than the text holds), 10 chunks a document, written 32 documents per synced
// upsert_batch. Vectors: 100-d feature hashing of the words (a stand-in for
// GloVe-SIF with the same shape and cost class). Prints docs/s, chunks/s,
// lexical / vector / hybrid (both) latency p50/p99 at k=100, and peak RSS.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "index/analyzer.h"
#include "index/store.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kDim = 100;

std::vector<std::string> load_words() {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& d : fs::directory_iterator("/usr/share/doc", ec)) {
    if (fs::exists(d.path() / "copyright")) files.push_back(d.path() / "copyright");
  }
  for (const auto& f : fs::directory_iterator("/usr/share/common-licenses", ec)) files.push_back(f.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> words;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string w;
    while (in >> w) words.push_back(w);
  }
  return words;
}

void embed(const std::string& text, float* out) {
  std::fill(out, out + kDim, 0.0f);
  for (const auto& w : ragd::analyze(text)) {
    uint64_t h = std::hash<std::string>()(w);
    for (int j = 0; j < kDim; ++j) {
      h ^= h >> 33;
      h *= 0xff51afd7ed558ccdULL;
      h ^= h >> 29;
      out[j] += static_cast<float>(static_cast<int64_t>(h % 2001) - 1000) / 1000.0f;
    }
  }
  double ss = 0;
  for (int j = 0; j < kDim; ++j) ss += out[j] * out[j];
  if (ss > 0)
    for (int j = 0; j < kDim; ++j) out[j] = static_cast<float>(out[j] / std::sqrt(ss));
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

long peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t target = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  fs::path dir = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / ("ragd-store-bench-" + std::to_string(target));
  fs::remove_all(dir);
  auto words = load_words();
  if (words.size() < 10000) {
    std::fprintf(stderr, "not enough text under /usr/share/doc\n");
    return 1;
  }
  const size_t chunk_words = 60;
  const size_t stride = std::max<size_t>(1, (words.size() - chunk_words) / target);
  std::printf("text: %zu words; %zu chunks of %zu words, stride %zu\n", words.size(), target, chunk_words, stride);

  ragd::StoreOptions o;
  o.dir = dir;
  o.sync_writes = true;
  auto opened = ragd::Store::open(o);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    return 1;
  }
  auto store = std::move(opened).value();
  if (!store->bind_encoder("bench-hash-100", kDim).is_ok()) return 1;

  const size_t per_doc = 10, docs_per_batch = 32;
  size_t made = 0, docs = 0;
  double embed_s = 0;
  auto t0 = Clock::now();
  while (made < target) {
    std::vector<ragd::Document> batch_docs;
    std::vector<std::vector<ragd::Chunk>> batch_chunks;
    std::vector<std::vector<float>> batch_vecs;
    for (size_t d = 0; d < docs_per_batch && made < target; ++d) {
      ragd::Document doc;
      doc.id = "doc" + std::to_string(docs++);
      doc.title = words[(made * stride) % words.size()];
      doc.kind = docs % 3 ? "policy" : "runbook";
      std::vector<ragd::Chunk> chunks;
      std::vector<float> vecs;
      for (size_t c = 0; c < per_doc && made < target; ++c, ++made) {
        size_t start = (made * stride) % (words.size() - chunk_words);
        std::string text;
        for (size_t w = 0; w < chunk_words; ++w) text += words[start + w] + " ";
        doc.text += text;
        ragd::Chunk ch;
        ch.ordinal = static_cast<uint32_t>(c);
        ch.text = std::move(text);
        auto te = Clock::now();
        vecs.resize(vecs.size() + kDim);
        embed(ch.text, vecs.data() + vecs.size() - kDim);
        embed_s += std::chrono::duration<double>(Clock::now() - te).count();
        chunks.push_back(std::move(ch));
      }
      batch_docs.push_back(std::move(doc));
      batch_chunks.push_back(std::move(chunks));
      batch_vecs.push_back(std::move(vecs));
    }
    std::vector<ragd::DocumentWrite> writes;
    for (size_t i = 0; i < batch_docs.size(); ++i) writes.push_back({&batch_docs[i], batch_chunks[i], batch_vecs[i]});
    for (auto& r : store->upsert_batch(writes)) {
      if (!r.is_ok()) {
        std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
        return 1;
      }
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("ingest (durable, 32 docs per synced batch): %zu docs, %zu chunks in %.1f s: %.0f docs/s, %.0f chunks/s "
              "(store only, excluding %.1f s of hashing-embedding: %.0f chunks/s)\n",
              docs, made, secs, docs / secs, made / secs, embed_s, made / (secs - embed_s));

  std::mt19937 rng(3);
  std::vector<double> lex, vec, hyb;
  const int nq = 1000;
  std::vector<float> q(kDim);
  for (int i = 0; i < nq; ++i) {
    std::string query;
    int len = 2 + static_cast<int>(rng() % 5);
    size_t at = rng() % (words.size() - 10);
    for (int w = 0; w < len; ++w) query += words[at + static_cast<size_t>(w)] + " ";
    auto ts = Clock::now();
    auto terms = ragd::analyze(query);
    auto l = store->search_lexical(terms, 100, nullptr);
    auto tm = Clock::now();
    embed(query, q.data());
    auto v = store->search_vector(q, 100, nullptr);
    auto te = Clock::now();
    lex.push_back(std::chrono::duration<double, std::milli>(tm - ts).count());
    vec.push_back(std::chrono::duration<double, std::milli>(te - tm).count());
    hyb.push_back(std::chrono::duration<double, std::milli>(te - ts).count());
  }
  std::printf("search k=100, %d queries of 2-6 words: lexical p50 %.2f ms p99 %.2f ms | vector p50 %.2f ms p99 %.2f ms | "
              "hybrid (both) p50 %.2f ms p99 %.2f ms\n",
              nq, pct(lex, 0.5), pct(lex, 0.99), pct(vec, 0.5), pct(vec, 0.99), pct(hyb, 0.5), pct(hyb, 0.99));
  auto st = store->stats();
  std::printf("stats: %llu documents, %llu chunks, %llu terms; peak RSS %ld MB\n",
              static_cast<unsigned long long>(st.documents), static_cast<unsigned long long>(st.chunks),
              static_cast<unsigned long long>(st.lexical_terms), peak_rss_mb());
  t0 = Clock::now();
  store.reset();
  std::printf("close (snapshot) %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  t0 = Clock::now();
  auto again = ragd::Store::open(o);
  std::printf("reopen %.1f s (%s); peak RSS %ld MB\n", std::chrono::duration<double>(Clock::now() - t0).count(),
              again.is_ok() ? (*again)->stats().ann_state.c_str() : again.status().to_string().c_str(), peak_rss_mb());
  again = ragd::Status::cancelled("done");
  fs::remove_all(dir);
  return 0;
}

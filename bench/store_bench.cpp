// Store throughput, reopen time, search latency and ANN recall on real text.
//
// Usage: store_bench [chunks=100000] [dir] [extra text files...]
// Environment:
//   RAGD_BENCH_REUSE=1   reuse a store already in `dir` (skip the ingest)
//   RAGD_BENCH_KEEP=1    keep the store afterwards
//   RAGD_BENCH_EFC=N     HNSW ef_construction (default: StoreOptions's)
//   RAGD_BENCH_EF=N      HNSW ef_search (default: StoreOptions's)
//   RAGD_BENCH_BATCH=N   documents per synced upsert_batch (default 32)
//   RAGD_BENCH_REOPENS=N reopen runs (default 3; the median is printed)
//   RAGD_BENCH_OPEN_ONLY=1 with REUSE: only time the open (for profiling)
//   RAGD_BENCH_SLOWEST=N print the N slowest hybrid queries (thread CPU time
//                        of retrieve(), the wall time of a second gather()
//                        and the thread CPU time of lexical k=100)
//   RAGD_GLOVE=FILE      GloVe-SIF binary (default: the build's default path);
//                        without it, 100-d feature hashing stands in.
//
// Text: sentences of every /usr/share/doc/*/copyright file, the common
// licenses, the man pages ingest_bench renders (if present) and any extra
// files. A chunk is a run of randomly drawn sentences (fixed seed) of at least
// 50 words, 10 chunks a document, so a million distinct chunks keep a real
// vocabulary and term distribution. Queries are 2-6 consecutive words of a
// random sentence.
//
// Prints: ingest docs/s and chunks/s (store only, and including embedding),
// reopen time (median), p50/p99 of lexical search through the Store at k=10
// (the query's terms already analysed) and k=100 (analysis included), of
// vector search (k=100) and of hybrid search through the Retriever (k=10, its
// default 100 candidates a half), HNSW recall@10 against brute force, and
// peak RSS.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "index/analyzer.h"
#include "index/store.h"
#include "model/glove_sif.h"
#include "retrieve/retriever.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ragd::bench::median;
using ragd::bench::percentile;

namespace {

constexpr int kHashDim = 100;

// Feature hashing of the analysed words: the fallback encoder.
class HashEmbedder final : public ragd::Embedder {
 public:
  int dim() const override { return kHashDim; }
  std::string fingerprint() const override { return "bench-hash-100"; }
  ragd::Status embed(std::span<const std::string> texts, ragd::EmbedRole, std::vector<float>& out) const override {
    for (const auto& text : texts) {
      size_t at = out.size();
      out.resize(at + kHashDim, 0.0f);
      float* v = out.data() + at;
      for (const auto& w : ragd::analyze(text)) {
        uint64_t h = std::hash<std::string>()(w);
        for (int j = 0; j < kHashDim; ++j) {
          h ^= h >> 33;
          h *= 0xff51afd7ed558ccdULL;
          h ^= h >> 29;
          v[j] += static_cast<float>(static_cast<int64_t>(h % 2001) - 1000) / 1000.0f;
        }
      }
      double ss = 0;
      for (int j = 0; j < kHashDim; ++j) ss += v[j] * v[j];
      if (ss > 0)
        for (int j = 0; j < kHashDim; ++j) v[j] = static_cast<float>(v[j] / std::sqrt(ss));
    }
    return ragd::Status::ok();
  }
};

// Splits text into sentences of 4..80 words (whitespace-normalised).
void add_sentences(const std::string& text, std::vector<std::string>& out) {
  std::string cur;
  size_t words = 0;
  bool space = false;
  auto end_sentence = [&] {
    if (words >= 4 && words <= 80) out.push_back(cur);
    cur.clear();
    words = 0;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n' && i + 1 < text.size() && text[i + 1] == '\n') {
      end_sentence();
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !cur.empty();
      continue;
    }
    if (space) {
      cur.push_back(' ');
      ++words;
      space = false;
    }
    if (cur.empty()) words = 1;
    cur.push_back(c);
    if ((c == '.' || c == '?' || c == '!') && (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\n')) {
      end_sentence();
    }
  }
  end_sentence();
}

std::vector<std::string> load_sentences(const std::vector<fs::path>& extra) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& d : fs::directory_iterator("/usr/share/doc", ec)) {
    if (fs::exists(d.path() / "copyright")) files.push_back(d.path() / "copyright");
  }
  for (const auto& f : fs::directory_iterator("/usr/share/common-licenses", ec)) files.push_back(f.path());
  for (const auto& f : fs::directory_iterator(fs::temp_directory_path() / "ragd-ingest-bench-corpus", ec)) {
    files.push_back(f.path());
  }
  files.insert(files.end(), extra.begin(), extra.end());
  std::sort(files.begin(), files.end());
  std::vector<std::string> sentences;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    add_sentences(text, sentences);
  }
  std::sort(sentences.begin(), sentences.end());
  sentences.erase(std::unique(sentences.begin(), sentences.end()), sentences.end());
  return sentences;
}

// CPU time of this thread, ms: unlike wall time it leaves out the time the
// thread waited for a core on a shared machine.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

long peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

size_t env_size(const char* name, size_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoul(v, nullptr, 10) : dflt;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t target = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  fs::path dir = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / ("ragd-store-bench-" + std::to_string(target));
  std::vector<fs::path> extra;
  for (int i = 3; i < argc; ++i) extra.emplace_back(argv[i]);
  const bool reuse = env_size("RAGD_BENCH_REUSE", 0) != 0 && fs::exists(dir);
  const bool keep = env_size("RAGD_BENCH_KEEP", 0) != 0;
  const size_t docs_per_batch = env_size("RAGD_BENCH_BATCH", 32);
  const size_t reopens = std::max<size_t>(1, env_size("RAGD_BENCH_REOPENS", 3));
  if (!reuse) fs::remove_all(dir);

  auto t_load = Clock::now();
  auto sentences = load_sentences(extra);
  if (sentences.size() < 1000) {
    std::fprintf(stderr, "not enough text: %zu sentences\n", sentences.size());
    return 1;
  }
  std::printf("text: %zu distinct sentences (%.1f s)\n", sentences.size(),
              std::chrono::duration<double>(Clock::now() - t_load).count());

  std::unique_ptr<ragd::Embedder> embedder;
  {
    fs::path glove = std::getenv("RAGD_GLOVE") ? fs::path(std::getenv("RAGD_GLOVE")) : fs::path(RAGD_DEFAULT_GLOVE_PATH);
    auto g = ragd::GloveSifEmbedder::open(glove);
    if (g.is_ok()) {
      embedder = std::move(g).value();
    } else {
      std::printf("no GloVe (%s): feature hashing stands in\n", g.status().to_string().c_str());
      embedder = std::make_unique<HashEmbedder>();
    }
  }
  const size_t dim = static_cast<size_t>(embedder->dim());
  std::printf("encoder: %s\n", embedder->fingerprint().c_str());

  ragd::StoreOptions o;
  o.dir = dir;
  o.sync_writes = true;
  if (size_t efc = env_size("RAGD_BENCH_EFC", 0)) o.hnsw_ef_construction = static_cast<int>(efc);
  if (size_t ef = env_size("RAGD_BENCH_EF", 0)) o.hnsw_ef_search = static_cast<int>(ef);
  std::printf("store: M %d, ef_construction %d, ef_search %d, %zu docs per synced batch\n", o.hnsw_m,
              o.hnsw_ef_construction, o.hnsw_ef_search, docs_per_batch);
  auto t_open = Clock::now();
  auto opened = ragd::Store::open(o);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    return 1;
  }
  auto store = std::move(opened).value();
  if (reuse) {
    std::printf("reused store: open %.2f s (%s; ANN: %s; lexical: %s); peak RSS %ld MB\n",
                std::chrono::duration<double>(Clock::now() - t_open).count(), store->stats().open_phases.c_str(),
                store->stats().ann_state.c_str(), store->stats().lexical_state.c_str(), peak_rss_mb());
    if (env_size("RAGD_BENCH_OPEN_ONLY", 0)) return 0;
  }
  if (!store->bind_encoder(embedder->fingerprint(), static_cast<int>(dim)).is_ok()) return 1;

  std::mt19937_64 rng(42);
  if (!reuse) {
    const size_t per_doc = 10;
    size_t made = 0, docs = 0;
    double embed_s = 0;
    auto t0 = Clock::now();
    while (made < target) {
      std::vector<ragd::Document> batch_docs;
      std::vector<std::vector<ragd::Chunk>> batch_chunks;
      std::vector<std::string> texts;
      for (size_t d = 0; d < docs_per_batch && made < target; ++d) {
        ragd::Document doc;
        doc.id = "doc" + std::to_string(docs++);
        doc.kind = docs % 3 ? "policy" : "runbook";
        std::vector<ragd::Chunk> chunks;
        for (size_t c = 0; c < per_doc && made < target; ++c, ++made) {
          std::string text;
          size_t words = 0;
          while (words < 50) {
            const std::string& s = sentences[rng() % sentences.size()];
            text += s;
            text += ' ';
            words += static_cast<size_t>(std::count(s.begin(), s.end(), ' ')) + 1;
          }
          if (c == 0) doc.title = text.substr(0, text.find(' ', 40));
          doc.text += text;
          ragd::Chunk ch;
          ch.ordinal = static_cast<uint32_t>(c);
          ch.text = std::move(text);
          texts.push_back(ch.text);
          chunks.push_back(std::move(ch));
        }
        batch_docs.push_back(std::move(doc));
        batch_chunks.push_back(std::move(chunks));
      }
      auto te = Clock::now();
      std::vector<float> vecs;
      if (!embedder->embed(texts, ragd::EmbedRole::kPassage, vecs).is_ok()) return 1;
      embed_s += std::chrono::duration<double>(Clock::now() - te).count();
      std::vector<ragd::DocumentWrite> writes;
      size_t at = 0;
      for (size_t i = 0; i < batch_docs.size(); ++i) {
        const size_t n = batch_chunks[i].size();
        writes.push_back({&batch_docs[i], batch_chunks[i], std::span<const float>(vecs.data() + at * dim, n * dim)});
        at += n;
      }
      for (auto& r : store->upsert_batch(writes)) {
        if (!r.is_ok()) {
          std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
          return 1;
        }
      }
      if (made % 100000 < per_doc * docs_per_batch) {
        std::fprintf(stderr, "  %zu chunks, %.0f s\n", made, std::chrono::duration<double>(Clock::now() - t0).count());
      }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("ingest (durable, %zu docs per synced batch): %zu docs, %zu chunks in %.1f s: %.0f chunks/s including "
                "%.1f s of embedding, %.0f chunks/s store only; peak RSS %ld MB\n",
                docs_per_batch, docs, made, secs, made / secs, embed_s, made / (secs - embed_s), peak_rss_mb());
  }

  // Search latency.
  ragd::Retriever retriever(*store, embedder.get());
  std::vector<double> lex, lex10, vec, hyb, gat, hyb_cpu, lex_cpu, lex10_cpu;
  const int nq = 1000;
  std::vector<std::string> queries;
  for (int i = 0; i < nq; ++i) {
    const std::string& s = sentences[rng() % sentences.size()];
    std::vector<std::string> words;
    size_t p = 0;
    while (p < s.size()) {
      size_t e = s.find(' ', p);
      if (e == std::string::npos) e = s.size();
      words.push_back(s.substr(p, e - p));
      p = e + 1;
    }
    size_t len = std::min<size_t>(words.size(), 2 + rng() % 5);
    size_t at = rng() % (words.size() - len + 1);
    std::string q;
    for (size_t w = 0; w < len; ++w) q += words[at + w] + " ";
    queries.push_back(q);
  }
  std::vector<float> qv;
  size_t lex_hits = 0, hyb_hits = 0;
  for (const auto& query : queries) {
    auto ts = Clock::now();
    const double l0 = thread_cpu_ms();
    auto terms = ragd::analyze(query);
    auto l = store->search_lexical(terms, 100, nullptr);
    auto tm = Clock::now();
    const double l1 = thread_cpu_ms();
    lex_cpu.push_back(l1 - l0);
    auto l10 = store->search_lexical(terms, 10, nullptr);
    lex10.push_back(std::chrono::duration<double, std::milli>(Clock::now() - tm).count());
    lex10_cpu.push_back(thread_cpu_ms() - l1);
    tm = Clock::now();
    qv.clear();
    (void)embedder->embed(std::span<const std::string>(&query, 1), ragd::EmbedRole::kQuery, qv);
    auto v = store->search_vector(qv, 100, nullptr);
    auto te = Clock::now();
    if (!v.is_ok()) {
      std::fprintf(stderr, "vector search: %s\n", v.status().to_string().c_str());
      return 1;
    }
    ragd::SearchRequest req;
    req.query = query;
    req.k = 10;
    const double c0 = thread_cpu_ms();
    auto h = retriever.retrieve(req);
    auto th = Clock::now();
    hyb_cpu.push_back(thread_cpu_ms() - c0);
    auto g = retriever.gather(req, 100);
    gat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - th).count());
    lex_hits += l.size();
    hyb_hits += h.is_ok() ? h->size() : 0;
    lex.push_back(std::chrono::duration<double, std::milli>(tm - ts).count());
    vec.push_back(std::chrono::duration<double, std::milli>(te - tm).count());
    hyb.push_back(std::chrono::duration<double, std::milli>(th - te).count());
  }
  if (const size_t slowest = std::min(env_size("RAGD_BENCH_SLOWEST", 0), queries.size())) {
    std::vector<size_t> order(queries.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(slowest), order.end(),
                      [&](size_t a, size_t b) { return hyb_cpu[a] > hyb_cpu[b]; });
    for (size_t r = 0; r < slowest; ++r) {
      const size_t i = order[r];
      std::string terms;
      for (const auto& t : ragd::analyze(queries[i])) terms += t + " ";
      std::printf("slow query %zu: retrieve() %.2f ms (CPU), gather() again %.2f ms (wall), lexical k=100 %.2f ms (CPU): "
                  "[%s]\n",
                  r + 1, hyb_cpu[i], gat[i], lex_cpu[i], terms.c_str());
    }
  }
  std::printf("hybrid: gather alone p50 %.2f ms p99 %.2f ms; thread CPU time of retrieve() p50 %.2f ms p99 %.2f ms\n",
              percentile(gat, 0.5), percentile(gat, 0.99), percentile(hyb_cpu, 0.5), percentile(hyb_cpu, 0.99));
  std::printf("lexical k=10 (analysed terms, no analysis time) p50 %.2f ms p99 %.2f ms; thread CPU time p50 %.2f ms "
              "p99 %.2f ms\n",
              percentile(lex10, 0.5), percentile(lex10, 0.99), percentile(lex10_cpu, 0.5), percentile(lex10_cpu, 0.99));
  std::printf("lexical k=100 thread CPU time p50 %.2f ms p99 %.2f ms\n", percentile(lex_cpu, 0.5),
              percentile(lex_cpu, 0.99));
  std::printf("search, %d queries of 2-6 words: lexical k=100 p50 %.2f ms p99 %.2f ms | vector k=100 p50 %.2f ms "
              "p99 %.2f ms | hybrid (Retriever, k=10) p50 %.2f ms p99 %.2f ms  [avg hits: lexical %.0f, hybrid %.1f]\n",
              nq, percentile(lex, 0.5), percentile(lex, 0.99), percentile(vec, 0.5), percentile(vec, 0.99), percentile(hyb, 0.5), percentile(hyb, 0.99),
              static_cast<double>(lex_hits) / nq, static_cast<double>(hyb_hits) / nq);
  // With RAGD_BENCH_REUSE this is the memory of a store opened and searched
  // (GloVe and the sentence pool included); the brute force below adds a
  // copy of every vector.
  std::printf("peak RSS after search: %ld MB\n", peak_rss_mb());

  // ANN recall@10 against brute force over every stored vector.
  {
    auto st = store->stats();
    std::vector<uint64_t> labels;
    std::vector<float> all;
    for (uint64_t l = 0; labels.size() < st.chunks && l < st.chunks * 4 + 1000; ++l) {
      auto got = store->chunk_vector(l);
      if (!got.is_ok()) {
        std::fprintf(stderr, "chunk_vector: %s\n", got.status().to_string().c_str());
        return 1;
      }
      const std::vector<float>& v = *got;
      if (v.size() != dim) continue;
      labels.push_back(l);
      all.insert(all.end(), v.begin(), v.end());
    }
    const size_t rq = 200;
    size_t found = 0, total = 0;
    for (size_t i = 0; i < rq; ++i) {
      qv.clear();
      (void)embedder->embed(std::span<const std::string>(&queries[i], 1), ragd::EmbedRole::kQuery, qv);
      if (qv.size() != dim) continue;
      std::vector<std::pair<float, uint64_t>> s(labels.size());
      for (size_t r = 0; r < labels.size(); ++r) {
        float d = 0;
        for (size_t j = 0; j < dim; ++j) d += all[r * dim + j] * qv[j];
        s[r] = {-d, labels[r]};
      }
      const size_t k = std::min<size_t>(10, s.size());
      std::partial_sort(s.begin(), s.begin() + static_cast<ptrdiff_t>(k), s.end());
      std::set<uint64_t> truth;
      for (size_t j = 0; j < k; ++j) truth.insert(s[j].second);
      auto hits = store->search_vector(qv, 10, nullptr);
      if (!hits.is_ok()) {
        std::fprintf(stderr, "vector search: %s\n", hits.status().to_string().c_str());
        return 1;
      }
      for (const auto& h : *hits) found += truth.count(h.label);
      total += k;
    }
    std::printf("vector recall@10 vs brute force (%zu queries, %zu vectors): %.4f\n", rq, labels.size(),
                total ? static_cast<double>(found) / static_cast<double>(total) : 0.0);
  }

  auto st = store->stats();
  std::printf("stats: %llu documents, %llu chunks, %llu terms; peak RSS %ld MB\n",
              static_cast<unsigned long long>(st.documents), static_cast<unsigned long long>(st.chunks),
              static_cast<unsigned long long>(st.lexical_terms), peak_rss_mb());
  auto t0 = Clock::now();
  store.reset();
  std::printf("close (snapshot) %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  std::vector<double> reopen_s;
  for (size_t r = 0; r < reopens; ++r) {
    t0 = Clock::now();
    auto again = ragd::Store::open(o);
    reopen_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    std::printf("reopen %zu: %.2f s (%s; ANN: %s; lexical: %s)\n", r + 1, reopen_s.back(),
                again.is_ok() ? (*again)->stats().open_phases.c_str() : "",
                again.is_ok() ? (*again)->stats().ann_state.c_str() : again.status().to_string().c_str(),
                again.is_ok() ? (*again)->stats().lexical_state.c_str() : "");
  }
  std::printf("reopen median %.2f s; peak RSS %ld MB\n", median(reopen_s), peak_rss_mb());
  if (!keep) fs::remove_all(dir);
  return 0;
}

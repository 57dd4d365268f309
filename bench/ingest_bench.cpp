// End-to-end ingest throughput with the default encoder: read files (the
// directory crawler), normalise, chunk, embed with GloVe-SIF, write durably
// (synced RocksDB batches, HNSW, BM25) -- the same road as `ragd ingest`.
//
// Usage: ingest_bench [documents=1000] [glove.bin] [corpus dir]
// Corpus: man pages (up to a third of it) rendered once with `man -P cat`
// into a cache directory under the system temp dir (rendering is not timed),
// topped up with /usr/share/doc/*/copyright files.
// Prints docs/s, chunks/s, the time per stage and peak RSS, for three runs
// each into a fresh store, and their medians.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "connectors/connector.h"
#include "index/store.h"
#include "ingest/pipeline.h"
#include "model/glove_sif.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// User + system CPU seconds of the whole process so far (every thread).
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

long peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

// Renders up to `want` man pages (sections 1, 5, 8) into `dir` as .txt.
size_t build_corpus(const fs::path& dir, size_t want) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  size_t have = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) have += e.path().extension() == ".txt";
  if (have >= want) return have;
  std::vector<fs::path> pages;
  for (const char* sec : {"/usr/share/man/man1", "/usr/share/man/man8", "/usr/share/man/man5"}) {
    for (const auto& e : fs::directory_iterator(sec, ec)) pages.push_back(e.path());
  }
  std::sort(pages.begin(), pages.end());
  // Rendering takes a while on a busy machine: a third of the corpus at most
  // comes from man pages, the rest from copyright files.
  const size_t man_pages = std::max<size_t>(want / 3, have);
  for (size_t i = 0; i < pages.size() && have < man_pages; ++i) {
    std::string name = pages[i].filename().string();
    if (name.size() > 3 && name.ends_with(".gz")) name.resize(name.size() - 3);
    const fs::path out = dir / (name + ".txt");
    if (fs::exists(out)) continue;
    std::string cmd = "MANWIDTH=100 man -P cat -l '" + pages[i].string() + "' > '" + out.string() + "' 2>/dev/null";
    if (std::system(cmd.c_str()) != 0 || fs::file_size(out, ec) < 2000) {
      fs::remove(out, ec);
      continue;
    }
    ++have;
  }
  for (const auto& d : fs::directory_iterator("/usr/share/doc", ec)) {
    if (have >= want) break;
    const fs::path src = d.path() / "copyright";
    const fs::path out = dir / ("copyright-" + d.path().filename().string() + ".txt");
    if (!fs::exists(src) || fs::exists(out)) continue;
    fs::copy_file(src, out, ec);
    if (!ec) ++have;
  }
  return have;
}

struct Run {
  double seconds = 0;
  double cpu = 0;  // CPU seconds, all threads: stable under load, unlike the wall time
  uint64_t docs = 0;
  uint64_t chunks = 0;
  double prepare = 0, embed = 0, analyze = 0, write = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const size_t want = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
  fs::path glove = argc > 2 ? fs::path(argv[2]) : fs::path();
  if (glove.empty()) glove = std::getenv("RAGD_GLOVE") ? std::getenv("RAGD_GLOVE") : RAGD_DEFAULT_GLOVE_PATH;
  const fs::path corpus =
      argc > 3 ? fs::path(argv[3]) : fs::temp_directory_path() / "ragd-ingest-bench-corpus";
  auto embedder = ragd::GloveSifEmbedder::open(glove);
  if (!embedder.is_ok()) {
    std::fprintf(stderr, "%s\n", embedder.status().to_string().c_str());
    return 1;
  }
  auto t_corpus = Clock::now();
  const size_t files = build_corpus(corpus, want);
  std::printf("corpus: %zu text files in %s (prepared in %.1f s, not timed)\n", files, corpus.string().c_str(),
              std::chrono::duration<double>(Clock::now() - t_corpus).count());

  std::vector<Run> runs;
  for (int r = 0; r < 3; ++r) {
    const fs::path dir = fs::temp_directory_path() / "ragd-ingest-bench-store";
    fs::remove_all(dir);
    ragd::StoreOptions so;
    so.dir = dir;
    auto store = ragd::Store::open(so);
    if (!store.is_ok()) {
      std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
      return 1;
    }
    Run run;
    {
    auto t0 = Clock::now();
    const double cpu0 = cpu_seconds();
    ragd::Ingestor ingestor(**store, **embedder);
    size_t fetched = 0;
    ragd::FetchSink sink;
    sink.on_document = [&](ragd::Document&& d) {
      if (fetched++ < want) ingestor.add(std::move(d));
    };
    sink.on_error = [](const ragd::Status&) {};
    ragd::Status s = ragd::fetch_path(corpus, ragd::FetchOptions{}, sink);
    ingestor.flush();
    run.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    run.cpu = cpu_seconds() - cpu0;
    const auto& st = ingestor.stats();
    run.docs = st.ingested;
    run.chunks = st.chunks;
    run.prepare = st.seconds_prepare;
    run.embed = st.seconds_embed;
    run.analyze = st.seconds_analyze;
    run.write = st.seconds_write;
    std::printf("run %d: %llu docs, %llu chunks (%llu failed) in %.2f s: %.0f docs/s, %.0f chunks/s | "
                "CPU %.2f s (%.0f chunks per CPU-second) | prepare %.2f s, embed %.2f s, analyse %.2f s, "
                "write %.2f s (the write overlaps the rest)%s\n",
                r + 1, static_cast<unsigned long long>(run.docs), static_cast<unsigned long long>(run.chunks),
                static_cast<unsigned long long>(st.failed), run.seconds, run.docs / run.seconds,
                run.chunks / run.seconds, run.cpu, run.chunks / run.cpu, run.prepare, run.embed, run.analyze, run.write,
                s.is_ok() ? "" : (" fetch: " + s.to_string()).c_str());
    }
    runs.push_back(run);
    store = ragd::Status::cancelled("done");
    fs::remove_all(dir);
  }
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
  const Run& med = runs[runs.size() / 2];
  std::vector<double> cpu;
  for (const Run& r : runs) cpu.push_back(r.cpu);
  const double cpu_median = ragd::bench::median(cpu);
  std::printf("median: %.0f docs/s, %.0f chunks/s end to end (GloVe-SIF, synced 64-doc batches); "
              "CPU %.2f s a run (%.0f chunks per CPU-second); peak RSS %ld MB\n",
              med.docs / med.seconds, med.chunks / med.seconds, cpu_median, med.chunks / cpu_median, peak_rss_mb());
  return 0;
}

// `ragd eval --corpus C.jsonl --queries Q.jsonl --qrels R.tsv`: BEIR-style
// retrieval quality (nDCG@10, Recall@100). The metrics are retrieve/eval.h's.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "api/cli/cli.h"
#include "ingest/pipeline.h"
#include "retrieve/eval.h"

namespace ragd::cli {
namespace {

struct EvalArgs {
  CommonOptions common;
  bool data_given = false;
  std::string corpus, queries, qrels;
  std::string mode = "hybrid";  // or "all"
  int threads = 1;
};

// Removes a temporary store when the command ends.
struct TempDir {
  std::filesystem::path path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

int run_eval(EvalArgs a) {
  std::vector<SearchMode> modes;
  if (a.mode == "all") {
    modes = {SearchMode::kLexical, SearchMode::kVector, SearchMode::kHybrid};
  } else {
    auto m = parse_search_mode(a.mode);
    if (!m) return fail(Status::invalid_argument("--mode: expected lexical, vector, hybrid or all, got '" + a.mode + "'"));
    modes = {*m};
  }
  auto corpus = load_beir_corpus(a.corpus);
  if (!corpus.is_ok()) return fail(corpus.status());
  auto queries = load_beir_queries(a.queries);
  if (!queries.is_ok()) return fail(queries.status());
  auto qrels = load_beir_qrels(a.qrels);
  if (!qrels.is_ok()) return fail(qrels.status());

  TempDir tmp;
  if (!a.data_given) {
    std::mt19937_64 rng(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                        static_cast<uint64_t>(getpid()));
    tmp.path = std::filesystem::temp_directory_path() /
               ("ragd-eval-" + std::to_string(getpid()) + "-" + std::to_string(rng() % 1000000));
    a.common.data = tmp.path.string();
  }
  bool lexical_only = modes.size() == 1 && modes[0] == SearchMode::kLexical;
  auto svc = open_service(a.common, lexical_only ? EmbedderLoad::kOptional : EmbedderLoad::kRequired);
  if (!svc.is_ok()) return fail(svc.status());
  ServiceContext& s = **svc;
  if (s.embedder() == nullptr) {
    return fail(Status::failed_precondition("eval ingests the corpus and needs the GloVe file (--glove)"));
  }

  auto start = std::chrono::steady_clock::now();
  Ingestor ingestor(s.store(), *s.embedder(), s.options().ingest);
  const bool tty = isatty(STDERR_FILENO) == 1;
  ingestor.on_progress = [&](const IngestStats& st) {
    if (tty && st.seen % 200 == 0) std::fprintf(stderr, "\ringesting %llu/%zu", static_cast<unsigned long long>(st.seen), corpus->size());
  };
  size_t n_docs = corpus->size();
  for (auto& d : *corpus) ingestor.add(std::move(d));
  ingestor.flush();
  double ingest_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (tty) std::fprintf(stderr, "\n");
  const IngestStats& st = ingestor.stats();
  std::printf("corpus=%zu ingested=%llu unchanged=%llu failed=%llu chunks=%llu ingest_time=%.1fs\n", n_docs,
              static_cast<unsigned long long>(st.ingested), static_cast<unsigned long long>(st.unchanged),
              static_cast<unsigned long long>(st.failed), static_cast<unsigned long long>(st.chunks), ingest_s);
  for (const auto& e : st.errors) std::fprintf(stderr, "  %s\n", e.c_str());

  for (SearchMode mode : modes) {
    EvalOptions eo;
    eo.mode = mode;
    eo.threads = a.threads;
    auto report = evaluate(s.retriever(), s.store(), *queries, *qrels, eo);
    if (!report.is_ok()) return fail(report.status());
    std::printf("%s\n", report->summary().c_str());
    std::fflush(stdout);
  }
  Status closed = s.close();
  if (!closed.is_ok()) return fail(closed);
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "retrieval quality on BEIR-format data (nDCG@10, Recall@100)");
  CLI::Option* data = cmd->add_option("--data", a->common.data, "store to use (default: a temporary one)");
  cmd->add_option("--glove", a->common.glove, "GloVe binary file");
  cmd->add_option("--corpus", a->corpus, "corpus.jsonl")->required();
  cmd->add_option("--queries", a->queries, "queries.jsonl")->required();
  cmd->add_option("--qrels", a->qrels, "qrels .tsv")->required();
  cmd->add_option("--mode", a->mode, "lexical, vector, hybrid or all")->capture_default_str();
  cmd->add_option("--threads", a->threads, "query threads")->capture_default_str();
  cmd->callback([a, data, &exit_code] {
    a->data_given = data->count() > 0;
    exit_code = run_eval(*a);
  });
}

}  // namespace ragd::cli

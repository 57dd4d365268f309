// ServiceContext: the wired-up service that the HTTP routes and the CLI share.
// It opens the Store, loads the embedding encoder, and builds the Retriever
// and the ExtractiveAnswerer on top of them.
//
// Thread safety: everything except close() may be called from many threads
// at once (the Store serialises writers; each ingest() call uses its own
// Ingestor). A background reindex runs on a thread of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "service/encoder.h"
#include "generate/extractive.h"
#include "index/store.h"
#include "ingest/pipeline.h"
#include "ragd/document.h"
#include "ragd/embedder.h"
#include "ragd/status.h"
#include "retrieve/retriever.h"

namespace ragd {

enum class EmbedderLoad {
  kRequired,  // fail to open when no encoder file is found
  kOptional,  // load it when found; lexical search works without it
  kNone,      // never load it (stats, delete)
};

// A background reindex (`ragd serve --reindex`, api/README.md "Reindexing").
struct BackgroundReindexOptions {
  // When the store is bound to another encoder than ServiceOptions::encoder,
  // keep serving with the store's encoder and reindex to the new one in the
  // background instead of refusing to open. Default: false.
  bool enabled = false;
  // The store's current encoder when it is a GGUF file; a GloVe-SIF store
  // uses ServiceOptions::glove. Default: empty.
  EncoderOptions previous;
  // Chunks embedded per step; the write lock is held only to store them.
  // Default: 256.
  size_t batch = 256;
  // Pause between steps, milliseconds, to leave CPU to the requests.
  // Default: 0.
  int pause_ms = 0;
};

// What the background reindex is doing (GET /v1/stats, /metrics).
enum class ReindexState { kIdle, kRunning, kSwitching, kDone, kFailed };
// "idle", "running", "switching", "done", "failed" (GET /v1/stats).
constexpr std::string_view reindex_state_name(ReindexState s) {
  switch (s) {
    case ReindexState::kIdle: return "idle";
    case ReindexState::kRunning: return "running";
    case ReindexState::kSwitching: return "switching";
    case ReindexState::kDone: return "done";
    case ReindexState::kFailed: return "failed";
  }
  return "idle";
}

struct ReindexStatus {
  ReindexState state = ReindexState::kIdle;
  // True while the reindex runs (embedding or switching).
  bool active() const { return state == ReindexState::kRunning || state == ReindexState::kSwitching; }
  std::string from, target;    // fingerprints
  uint64_t done = 0, total = 0;
  std::string error;           // when failed
  double seconds = 0;          // since it started (running) or its duration
};

struct ServiceOptions {
  // Store settings; store.dir is the data directory. Default: ./ragd-data.
  StoreOptions store;
  // GloVe binary file for the default GloVe-SIF encoder. Empty: $RAGD_GLOVE,
  // then ./.cache/ragd/glove-wink-sg-100d.bin, then
  // $HOME/.cache/ragd/glove-wink-sg-100d.bin. Default: empty.
  std::filesystem::path glove;
  // A GGUF BERT-family encoder replacing GloVe-SIF for ingest and query
  // (`--embed-model`, service/encoder.h); encoder.model empty = GloVe-SIF.
  // Switching encoders on an existing store needs `ragd reindex` (the store
  // is bound to the encoder's fingerprint). Default: GloVe-SIF.
  EncoderOptions encoder;
  // A GloVe-SIF encoder already loaded, used instead of reading `glove`
  // again (the collections of one server share the default's:
  // service/collections.h). Default: none.
  std::shared_ptr<const GloveSifEmbedder> shared_glove;
  // Whether the encoder must, may or must not be loaded. Default: kOptional.
  EmbedderLoad embedder_load = EmbedderLoad::kOptional;
  // Bind the store to the encoder's fingerprint on open (refusing a store
  // built with another encoder). `reindex` turns it off. Default: true.
  bool bind_encoder = true;
  // Reindex in the background while serving (`--reindex`). Default: off.
  BackgroundReindexOptions reindex;
  // Retrieval, answering and ingest tuning. Defaults: see their headers.
  RetrieverOptions retriever;
  ExtractiveOptions extractive;
  IngestOptions ingest;
};

// Finds the GloVe file by the rule described at ServiceOptions::glove; empty
// when none exists.
std::filesystem::path find_glove_file(const std::filesystem::path& explicit_path);

class ServiceContext {
 public:
  static Result<std::unique_ptr<ServiceContext>> open(ServiceOptions options);
  ~ServiceContext();
  ServiceContext(const ServiceContext&) = delete;
  ServiceContext& operator=(const ServiceContext&) = delete;

  Store& store() { return *store_; }
  const Store& store() const { return *store_; }
  // The encoder that ingest and queries use now (during a background reindex
  // the store's old one, switched to the new one with the store). Null when
  // none is loaded.
  const Embedder* embedder() const;
  const Retriever& retriever() const { return *retriever_; }
  const ExtractiveAnswerer& answerer() const { return *answerer_; }
  // GloVe word frequency ranks for the extractive answer's term weights
  // (ExtractiveOptions::word_ranks); null when no GloVe file was found.
  const GloveSifEmbedder* word_ranks() const { return word_ranks_.get(); }
  std::shared_ptr<const GloveSifEmbedder> shared_word_ranks() const { return word_ranks_; }
  const ServiceOptions& options() const { return options_; }

  // retriever().retrieve() and answerer().answer(), rerun when a reindex
  // switch happened while they ran, so that the query vector and the stored
  // vectors always come from the same encoder.
  Result<std::vector<Hit>> search(const SearchRequest& request) const;
  // With `reader`, the extractive answer retrieves and reads through it
  // (AnswerRequest::reader).
  Result<Answer> answer(const SearchRequest& request, const KnowledgeReader* reader = nullptr) const;
  // retriever().gather() to its full depth, BM25 scored with `corpus` when
  // given, rerun like search(): a cluster shard's part of a search that its
  // coordinator fuses (cluster/README.md, "Read path").
  Result<CandidateSet> gather(const SearchRequest& request, const LexicalStats* corpus) const;

  // Chunks, embeds and stores the documents; durable when it returns.
  // Fails (without writing) only when no encoder is loaded; per-document
  // problems are listed in the returned stats. During a reindex switch it
  // waits for the switch to finish.
  Result<IngestStats> ingest(std::vector<Document> docs,
                             const std::function<void(const IngestStats&)>& progress = {});
  // Runs `fn` with an Ingestor on the current encoder inside the same gate
  // as ingest(): a reindex switch waits until `fn` returns, and `fn` waits
  // for a switch in progress, so every vector it writes comes from the
  // encoder the store is bound to. For writers that carry their own state
  // with each document (the cluster's appliers). Returns fn's status;
  // kFailedPrecondition (read-only store, no encoder) without calling it.
  Status with_ingestor(const std::function<Status(Ingestor&)>& fn);

  ReindexStatus reindex_status() const;
  // Waits until the background reindex ends (done, failed or none). False
  // on timeout.
  bool wait_reindex(std::chrono::milliseconds timeout);
  // Starts a background reindex to the GGUF encoder `model` (the registry's
  // encoder activation in a running server), as --reindex does at open: the
  // current encoder serves until the switch. Errors: kFailedPrecondition
  // (read-only store, no encoder loaded, a reindex running),
  // kAlreadyExists (the store is bound to it already), the encoder's load
  // errors. Thread-safe.
  Status reindex_to(const std::filesystem::path& model);

  // Stops a background reindex (its work is discarded, the store stays on
  // the old encoder), writes the ANN snapshot and closes the store.
  // Idempotent; also done by the destructor. REQUIRES: no other call in flight.
  Status close();

 private:
  explicit ServiceContext(ServiceOptions options) : options_(std::move(options)) {}
  // Runs `run` (a retrieval) again when a reindex switch overlapped it,
  // after waiting for one under way; kUnavailable when switches kept
  // overlapping it for 10 s.
  template <class F>
  auto retry_across_switch(F&& run) const -> decltype(run());
  Status start_reindex(std::shared_ptr<const Embedder> target);
  void run_reindex(std::shared_ptr<const Embedder> target);
  void set_reindex_state(ReindexState state, const std::string& error = {});

  ServiceOptions options_;
  std::unique_ptr<Store> store_;
  // The encoder behind embedder(); null when none could be loaded and no
  // reindex runs.
  std::unique_ptr<SwitchableEncoder> encoder_;
  std::unique_ptr<Retriever> retriever_;
  std::unique_ptr<ExtractiveAnswerer> answerer_;
  std::shared_ptr<const GloveSifEmbedder> word_ranks_;
  bool closed_ = false;

  // The reindex switch: odd while it runs (a seqlock for search()/answer()).
  std::atomic<uint64_t> switch_seq_{0};
  // Ingest calls in flight; the switch waits for them and holds new ones.
  mutable std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  int ingests_ = 0;        // guarded by gate_mu_
  bool switching_ = false;  // guarded by gate_mu_

  std::thread reindex_thread_;
  std::atomic<bool> reindex_stop_{false};
  mutable std::mutex reindex_mu_;
  std::condition_variable reindex_cv_;
  ReindexStatus reindex_;  // guarded by reindex_mu_
  std::mutex reindex_start_mu_;  // serialises reindex_to() (done/total come from the store)
  std::chrono::steady_clock::time_point reindex_started_;
};

// The usual name in the brief and in the routes.
using Service = ServiceContext;

}  // namespace ragd

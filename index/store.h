// Store: the durable knowledge store. RocksDB is the source of truth (column
// families: documents, chunks, per-chunk term lists, vectors, meta); the ANN
// index and the in-memory inverted index are derived from it and snapshotted
// beside it (index/README.md).
//
// Thread safety: all methods are safe to call concurrently. Writers are
// serialised; a reader never sees a chunk whose document has been deleted or
// replaced once upsert()/remove() has returned, nor a half-written document.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ragd/document.h"
#include "ragd/status.h"

namespace ragd {

struct StoreOptions {
  // Directory of the RocksDB database and the ANN snapshot.
  std::filesystem::path dir = "ragd-data";
  // "hnsw" (hnswlib), or "faiss:<index_factory string>", e.g. "faiss:Flat",
  // "faiss:IVF256,PQ16". Default: "hnsw". Fixed when the store is created:
  // an existing store keeps the type it was created with.
  std::string vector_index = "hnsw";
  // HNSW graph degree. Default: 16.
  int hnsw_m = 16;
  // HNSW construction beam width. 100 builds the graph twice as fast as 200
  // at 100k GloVe chunks; recall@10 at ef_search 64 drops from 0.89 to 0.85
  // there (bench/README.md, store_bench). Default: 100.
  int hnsw_ef_construction = 100;
  // HNSW search beam width (raised to k when k is larger). Default: 64.
  int hnsw_ef_search = 64;
  // fsync the WAL before a write is acknowledged. Default: true.
  bool sync_writes = true;
  // Open read-only (for `stats` while a server runs). Default: false.
  bool read_only = false;
  // BM25 parameters. Defaults tuned on SciFact train: k1 0.9, b 0.4.
  float bm25_k1 = 0.9f;
  float bm25_b = 0.4f;
  // Threads that insert into the HNSW graph for large batches and rebuilds.
  // Default: 2.
  int index_threads = 2;
  // A lexical search whose terms hold this many postings or more runs as two
  // halves of the label space side by side, when a core is spare (the
  // process lends out at most hardware_concurrency - 1 such helper threads
  // at once, so under a full request load searches run whole). 2^18 postings
  // are about 2 ms of work, far above the cost of starting a thread.
  // 0 = never. Default: 262144.
  size_t lexical_split_postings = size_t{1} << 18;
  // Writes a fresh ANN snapshot after this many index operations (adds and
  // removals) since the last one, bounding the replay work at open.
  // 0 = only on snapshot() and close. Default: 200000.
  uint64_t snapshot_every_ops = 200000;
  // Rebuilds the ANN from RocksDB when removed vectors still inside it exceed
  // this fraction of the live ones (and 1,000). Default: 1.0.
  double rebuild_deleted_ratio = 1.0;
  // FAISS: vectors collected before an IVF/PQ index is trained; until then
  // vector search is exact. 0 = FAISS's needs (40 x lists, at least 1,000).
  // Default: 0.
  size_t faiss_train_size = 0;
  // FAISS IVF lists probed per query. Default: 16.
  int faiss_nprobe = 16;
  // Bytes of free space kept on the store's file system: a write that would
  // leave less (free space below the reserve plus the write's own size) fails
  // with kNoSpace before RocksDB sees it, and the store reports disk full
  // until space is back. RocksDB itself cannot be trusted to recover from a
  // write that ran out of space (a failed WAL write leaves the DB unable to
  // resume, and Debian's librocksdb, built with assertions, aborts on the
  // next sync), so the store never lets its own writes get there. Once
  // refused, the store counts as full (stats().disk_full, /healthz) until
  // twice the reserve is free. 0 = off.
  // Default: 64 MiB.
  uint64_t free_space_reserve = 64ull << 20;
  // Fault injection for tests: while it returns true, every file write of
  // the store (RocksDB's WAL, SST, MANIFEST; our snapshot files) fails with
  // ENOSPC, as on a full disk. Called from RocksDB's threads too, so it must
  // be thread-safe. Default: none.
  std::function<bool()> fault_no_space;
  // Test hook: when set, the free bytes the reserve check sees on the
  // store's file system (instead of statvfs's), so that a test can make the
  // reserve refuse exactly the writes it means to. Default: none.
  std::function<uint64_t()> fault_free_bytes;
};

// What retrieval needs to know about a chunk's document for filters and hits.
struct DocInfo {
  std::string id;
  std::string title;
  std::string kind;
  std::string source;
  std::string url;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> acl;
  int64_t updated_at = 0;
};

// A chunk as returned by the store, with its document's info.
struct StoredChunk {
  Chunk chunk;
  std::shared_ptr<const DocInfo> doc;
};

// BM25's collection statistics as a query sees them: live chunks, their
// summed lengths, and for each query term the live chunks that hold it. A
// cluster's coordinator sums them over the shards and hands the sums to
// every shard's search, so that a score does not depend on which shard
// holds the chunk (cluster/README.md, "Read path").
struct LexicalStats {
  uint64_t chunks = 0;
  uint64_t total_length = 0;
  std::unordered_map<std::string, uint64_t> df;  // by analysed term
};

struct ScoredChunk {
  uint64_t label = 0;  // internal chunk number, stable while the chunk lives
  float score = 0;     // BM25 score, or cosine similarity for vectors
};

// Decides whether a chunk of this document may be returned (filters, ACL).
using DocPredicate = std::function<bool(const DocInfo&)>;

struct UpsertResult {
  bool changed = false;  // false: same content hash, nothing written
  uint32_t chunks = 0;   // chunks now stored for the document
};

// The BM25 analysis of one document's chunks (their term counts and
// lengths), as upsert() computes it. Opaque outside index/.
struct ChunkAnalysis;

// A client state key (as put_state()) written in the same RocksDB
// WriteBatch as a document change, so the two are durable together or not
// at all: a cluster node's applied stream sequence (cluster/README.md).
struct StateWrite {
  std::string key;
  std::string value;
};

// One document of an upsert_batch(): the same arguments as upsert().
struct DocumentWrite {
  const Document* doc = nullptr;
  std::span<const Chunk> chunks;
  std::span<const float> vectors;
  // Optional: Store::analyze_chunks(*doc, chunks) computed beforehand, so
  // that the analysis runs on the caller's thread instead of under the
  // store's writer lock (ingest does it while the previous batch is being
  // written). Null: the store analyses the chunks itself.
  // REQUIRES: made from this document's title and these chunks.
  std::shared_ptr<const ChunkAnalysis> analysis = nullptr;
  // Optional: a state key written with this document, in the same
  // WriteBatch. An unchanged document (same content hash) still gets its
  // state written (alone). Null: none.
  const StateWrite* state = nullptr;
};

// A reindex in progress (Store::reindex_begin .. reindex_commit).
struct ReindexProgress {
  std::string target;   // fingerprint being built; "" when no reindex runs
  int dim = 0;          // its dimension
  uint64_t done = 0;    // chunks embedded with the target encoder so far
  uint64_t total = 0;   // live chunks now (grows with ingest during the run)
};

struct StoreStats {
  uint64_t documents = 0;
  uint64_t chunks = 0;
  std::string index_type;  // "hnsw" or "faiss:<factory>"
  std::string encoder;     // fingerprint bound to the store, "" if none yet
  int dim = 0;
  uint64_t sequence = 0;   // RocksDB sequence number
  uint64_t lexical_terms = 0;
  // How the ANN index was obtained at open, e.g. "snapshot op 42 + 3
  // replayed" or "rebuilt from RocksDB: <why>".
  std::string ann_state;
  // How the inverted index was obtained at open, e.g. "snapshot label 100 +
  // 20 read" or "rebuilt from chunkinfo: <why>".
  std::string lexical_state;
  // How long the open took, and its phases ("RocksDB 0.05 s, documents
  // 0.40 s, inverted index 1.20 s, vector index 0.70 s"). The last three
  // run side by side (the inverted index's time is its snapshot's load,
  // beside the documents, plus its catch-up after them), so they add up to
  // more than the open.
  double open_seconds = 0;
  std::string open_phases;
  // The reindex in progress, if any.
  ReindexProgress reindex;
  // Fingerprint of an interrupted reindex that open() discarded (the store
  // kept serving the old encoder), else "".
  std::string reindex_discarded;
  // Reads since open that met corruption or an I/O error (each one was
  // returned to its caller and logged).
  uint64_t read_errors = 0;
  // Lexical searches since open that ran as two halves side by side
  // (StoreOptions::lexical_split_postings).
  uint64_t lexical_split_searches = 0;
  // Rebuilds of a derived index from RocksDB since open: the ANN or the
  // inverted index at open (snapshot missing, damaged, stale or not
  // matching) or later (an ANN holding too many deleted vectors). Each is
  // logged ("ragd.index": warn when a snapshot was damaged, else info).
  uint64_t index_rebuilds = 0;
  // The last one: "vector index: <why>" or "inverted index: <why>" ("" if
  // none), and how long it took, milliseconds.
  std::string last_rebuild;
  double last_rebuild_ms = 0;
  // The last write (or snapshot) failed for lack of disk space (kNoSpace)
  // and none has succeeded since: writes fail until space is freed.
  bool disk_full = false;
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const StoreOptions& options);
  virtual ~Store() = default;

  // Binds the store to an encoder. The first call records the fingerprint and
  // dimension; later calls with another fingerprint fail with
  // kFailedPrecondition and a message that suggests `ragd reindex`.
  virtual Status bind_encoder(const std::string& fingerprint, int dim) = 0;

  // Content hash of a document as upsert() computes it (covers every field).
  static std::string content_hash(const Document& doc);
  // The lexical analysis upsert() would compute for these chunks: each
  // chunk's title + section path + text through analyze() (index/analyzer.h),
  // counted per term. Thread-safe; touches no store.
  static std::shared_ptr<const ChunkAnalysis> analyze_chunks(const Document& doc,
                                                             std::span<const Chunk> chunks);
  // True when a document with this id and content hash is already stored,
  // so ingest can skip chunking and embedding.
  virtual bool is_current(const std::string& doc_id, const std::string& hash) const = 0;

  // Atomically replaces the document, its chunks, their vectors (row-major,
  // chunks.size() x dim) and term lists in one WriteBatch. Durable when
  // it returns ok. A document whose content hash is unchanged is a no-op.
  virtual Result<UpsertResult> upsert(const Document& doc, std::span<const Chunk> chunks,
                                      std::span<const float> vectors) = 0;
  // upsert() for several documents with one synced RocksDB write: each
  // document is still all-or-nothing, and all are durable when it returns.
  // Returns one result per write, in order; an invalid document fails alone.
  // A write the store fails (disk full, an I/O error) stops the call: every
  // write after it fails too, unwritten, states included, so no state is
  // ever durable ahead of a document before it.
  virtual std::vector<Result<UpsertResult>> upsert_batch(std::span<const DocumentWrite> writes) = 0;
  // Deletes a document and everything derived from it. Returns false when
  // there was no such document.
  virtual Result<bool> remove(const std::string& doc_id) = 0;
  // remove(doc_id, state), then makes the deleted bytes leave the files (the
  // right to be forgotten): `state` (the purge's tombstone) is written in the
  // removal's batch, so the two are durable together; then, without the
  // writer lock, it flushes the memtables, so the WAL that holds the document's
  // text is retired, and compacts the key ranges that held it (its id in
  // documents and doc_text, its chunk labels in chunks, chunkinfo and both
  // vector families) down to the bottom level, where the deleted values and
  // their tombstones are dropped. Costs a rewrite of the SST files that
  // overlap those ranges.
  virtual Result<bool> purge(const std::string& doc_id, const StateWrite& state) = 0;

  // remove() that also writes `state` in the same WriteBatch (alone when
  // there was no such document), so the removal and the state are durable
  // together.
  virtual Result<bool> remove(const std::string& doc_id, const StateWrite& state) = 0;

  // Small durable state of a client of the store (a sync source's cursor),
  // kept in the meta column family under "state:<key>". get_state: "" when
  // unset. put_state is one synced write; call it after the documents it
  // describes are durable (ingest flush()), so it never runs ahead of them.
  virtual Result<std::string> get_state(const std::string& key) const = 0;
  virtual Status put_state(const std::string& key, const std::string& value) = 0;
  // Every state key starting with `prefix`, in key order, with its value; at
  // most `limit` of them. delete_state: one synced delete (absent is fine).
  virtual Result<std::vector<std::pair<std::string, std::string>>> list_state(const std::string& prefix,
                                                                              size_t limit) const = 0;
  virtual Status delete_state(const std::string& key) = 0;

  // Reads. "Absent" is a normal answer (kNotFound, an empty list, nullopt);
  // a record that RocksDB cannot read (kCorruption: checksum mismatch,
  // malformed or missing record; kIoError) is an error, never "absent" and
  // never part of an answer: a document comes back whole or not at all. Each
  // such error is logged once, here, with the "ragd.index" spdlog logger and
  // counted in StoreStats::read_errors; callers pass the status on.

  // kNotFound when there is no such document.
  virtual Result<Document> get_document(const std::string& doc_id) const = 0;
  // The document's chunks in order; empty when there is no such document.
  virtual Result<std::vector<Chunk>> chunks_of(const std::string& doc_id) const = 0;
  // nullopt when the label is not live (deleted or replaced since a search).
  virtual Result<std::optional<StoredChunk>> chunk(uint64_t label) const = 0;
  // Vector of a stored chunk (dim floats), empty if it has none or is not
  // live.
  virtual Result<std::vector<float>> chunk_vector(uint64_t label) const = 0;

  // BM25 over the analysed query terms (see index/analyzer.h), best first.
  // Served from memory: it cannot meet a read error. A long search may run
  // in two halves on two threads, so `allow` may be called from both at once.
  // With `corpus`, BM25's statistics are those (a cluster's sums over its
  // shards) instead of this store's.
  virtual std::vector<ScoredChunk> search_lexical(std::span<const std::string> terms, size_t k,
                                                  const DocPredicate& allow, const LexicalStats* corpus) const = 0;
  std::vector<ScoredChunk> search_lexical(std::span<const std::string> terms, size_t k,
                                          const DocPredicate& allow) const {
    return search_lexical(terms, k, allow, nullptr);
  }
  // BM25's statistics of this store for these terms (live chunks, their
  // summed lengths, each term's document frequency). Served from memory.
  virtual LexicalStats lexical_stats(std::span<const std::string> terms) const = 0;
  // Cosine similarity to an L2-normalised query vector, best first. A failed
  // ANN search or a vector that cannot be read in the exact scan (selective
  // filters) is an error.
  virtual Result<std::vector<ScoredChunk>> search_vector(std::span<const float> query, size_t k,
                                                         const DocPredicate& allow) const = 0;

  // Visits every document id (for reindex and export).
  virtual void for_each_document(const std::function<void(const std::string&)>& fn) const = 0;
  // Visits every document's in-memory info (id, kind, source, metadata,
  // ACL, updated_at: what filters read), by id, without reading RocksDB.
  virtual void for_each_document_info(const std::function<void(const DocInfo&)>& fn) const = 0;

  // Reindex: re-embed every chunk with a new encoder while the old vectors,
  // ANN index and fingerprint keep serving (index/README.md, "Reindex").
  // New vectors go to a shadow column family and a new VectorIndex; the
  // switch is one synced WriteBatch. Until it, a crash leaves the store bound
  // to the old encoder (open() discards the shadow); never a mixed store.
  //
  // embed(chunk texts) must return texts.size() x dim floats (any norm).
  // Each text is chunk_embed_text(title, chunk) (ragd/chunk_text.h), the
  // text ingest embedded for the chunk.
  using EmbedFn = std::function<Result<std::vector<float>>(std::span<const std::string>)>;

  // Starts a reindex to `fingerprint`. kFailedPrecondition while another runs.
  virtual Status reindex_begin(const std::string& fingerprint, int dim) = 0;
  // Embeds up to `max_chunks` chunks not yet in the shadow, in label order
  // (documents written meanwhile get higher labels, so they are reached
  // too). Holds the write lock only to pick the labels and to store the
  // vectors, never while `embed` runs. Returns how many labels are still to
  // visit (0: caught up). An error from `embed` aborts the reindex.
  virtual Result<uint64_t> reindex_step(const EmbedFn& embed, size_t max_chunks) = 0;
  // Embeds what is still missing (under the write lock: call it once
  // reindex_step() is nearly caught up), then switches fingerprint, dim,
  // vectors and ANN index in one synced step. Writers wait meanwhile;
  // readers see the old or the new state, never a mix. Does not write the
  // ANN snapshot (call snapshot()).
  virtual Status reindex_commit(const EmbedFn& embed) = 0;
  // Drops a reindex in progress and its shadow vectors. No-op when none runs.
  virtual Status reindex_abort() = 0;
  virtual ReindexProgress reindex_progress() const = 0;

  // The whole reindex in one call (begin, steps, commit, snapshot), as
  // `ragd reindex` runs it; progress(done, total) after every step.
  virtual Status reindex(const std::string& fingerprint, int dim, const EmbedFn& embed,
                         const std::function<void(uint64_t done, uint64_t total)>& progress) = 0;

  // Writes the ANN snapshot (tagged with the store's sequence number) so the
  // next open() does not rebuild it. Also done on close.
  virtual Status snapshot() = 0;

  // A consistent copy of the store's RocksDB database, as of one moment,
  // in the new directory `dir` (which must not exist; on the store's file
  // system its files are hard links, so it costs a flush and little space):
  // every document with the state keys written in its batch (a cluster
  // replica's applied position), never half a batch. The derived indexes
  // (ANN, inverted index) are not in it: a store opened on the copy
  // rebuilds them from RocksDB. A cluster replica ships it to a new replica
  // of its shard (cluster/README.md, "Snapshots"). Writers are not held up.
  virtual Status checkpoint(const std::filesystem::path& dir) = 0;

  virtual StoreStats stats() const = 0;

  // Disk full: while StoreStats::disk_full is set, tries to make the store
  // writable again (RocksDB's Resume() after its background error, then one
  // small synced write) and returns whether it is still full. Returns the
  // current state at once, without trying, while a writer holds the store.
  // Cheap when the disk is not full. Thread-safe.
  virtual bool recheck_disk_full() { return stats().disk_full; }
};

}  // namespace ragd

// StoreImpl: the RocksDB-backed Store. Private to index/.
//
// Locking:
//  - write_mu_ serialises writers (upsert, remove, bind_encoder, reindex,
//    snapshot). Writer-only state (next_label_, op_seq_, ...) needs it.
//  - mu_ (shared) orders readers against the moment a write becomes visible:
//    a writer first makes its WriteBatch durable, then takes mu_ exclusively
//    and flips the slots, the lexical index and the ANN deletions together.
//    Readers hold mu_ shared for a whole search, so they see a document's
//    chunks all old or all new, and every candidate label is checked against
//    slots_ before it is returned.
//  - The VectorIndex has its own lock; lock order is mu_ then the index's.
//  - A reindex (store_reindex.cpp) keeps its run in reindex_ (write_mu_);
//    its switch flips encoder_, dim_, ann_ and vectors_b_ under mu_
//    exclusively, so readers see the old or the new vector space.
#pragma once

#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "index/lexical_index.h"
#include "ragd/serial_worker.h"
#include "index/store.h"
#include "index/vector_index.h"

namespace ragd {

// kVectors names the active vectors column family: "vectors" or, after an
// odd number of reindexes, "vectors_b" (meta "vectors_cf"); the other one is
// the reindex shadow. kVectorsB is only used through cf()/shadow_cf().
struct ChunkAnalysis {
  std::vector<std::vector<TermFreq>> terms;  // per chunk, sorted by term
  std::vector<uint32_t> lengths;             // analysed tokens per chunk (BM25 length)
};

enum class Cf { kDefault = 0, kDocuments, kDocText, kChunks, kChunkInfo, kVectors, kPostings, kMeta, kOplog, kVectorsB };

// Shared by store*.cpp (defined in store.cpp).
Status from_rocks(const rocksdb::Status& s, const std::string& what);
// An Env whose file writes fail with ENOSPC while `when()` is true
// (StoreOptions::fault_no_space; index/fault_fs.cpp).
std::unique_ptr<rocksdb::Env> make_no_space_env(std::function<bool()> when);
// L2-normalises in place; false when a value is not finite.
bool normalise(std::span<float> v);

class StoreImpl final : public Store {
 public:
  explicit StoreImpl(const StoreOptions& options);
  ~StoreImpl() override;

  Status open_db();
  Status load();
  // Records how long the open took (StoreStats::open_seconds, open_phases).
  void set_open_times(double total, double rocksdb);

  Status bind_encoder(const std::string& fingerprint, int dim) override;
  bool is_current(const std::string& doc_id, const std::string& hash) const override;
  Result<UpsertResult> upsert(const Document& doc, std::span<const Chunk> chunks,
                              std::span<const float> vectors) override;
  std::vector<Result<UpsertResult>> upsert_batch(std::span<const DocumentWrite> writes) override;
  Result<bool> remove(const std::string& doc_id) override;
  Result<bool> purge(const std::string& doc_id, const StateWrite& state) override;
  Result<bool> remove(const std::string& doc_id, const StateWrite& state) override;
  // remove() and purge(): removes `doc_id` with `state` (if any) in the same
  // batch, or writes the state alone when there is no such document; the
  // removed document's chunk labels go to `labels` (if given).
  // REQUIRES: write_mu_ held.
  Result<bool> remove_locked(const std::string& doc_id, const StateWrite* state, std::vector<uint64_t>* labels);
  Result<std::string> get_state(const std::string& key) const override;  // store_state.cpp
  Status put_state(const std::string& key, const std::string& value) override;
  Result<std::vector<std::pair<std::string, std::string>>> list_state(const std::string& prefix,
                                                                      size_t limit) const override;
  Status delete_state(const std::string& key) override;
  Result<Document> get_document(const std::string& doc_id) const override;
  Result<std::vector<Chunk>> chunks_of(const std::string& doc_id) const override;
  Result<std::optional<StoredChunk>> chunk(uint64_t label) const override;
  Result<std::vector<float>> chunk_vector(uint64_t label) const override;
  using Store::search_lexical;
  std::vector<ScoredChunk> search_lexical(std::span<const std::string> terms, size_t k, const DocPredicate& allow,
                                          const LexicalStats* corpus) const override;
  LexicalStats lexical_stats(std::span<const std::string> terms) const override;
  Result<std::vector<ScoredChunk>> search_vector(std::span<const float> query, size_t k,
                                                 const DocPredicate& allow) const override;
  // A long lexical search run as two halves side by side, or nullopt when
  // it is short or no core is spare (the caller then runs it whole).
  std::optional<std::vector<LexicalHit>> search_lexical_split(std::span<const std::string> terms, size_t k,
                                                              Bm25Params params, const DocPredicate& allow,
                                                              const LexicalStats* corpus) const;
  void for_each_document(const std::function<void(const std::string&)>& fn) const override;
  void for_each_document_info(const std::function<void(const DocInfo&)>& fn) const override;
  Status reindex_begin(const std::string& fingerprint, int dim) override;
  Result<uint64_t> reindex_step(const EmbedFn& embed, size_t max_chunks) override;
  Status reindex_commit(const EmbedFn& embed) override;
  Status reindex_abort() override;
  ReindexProgress reindex_progress() const override;
  Status reindex(const std::string& fingerprint, int dim, const EmbedFn& embed,
                 const std::function<void(uint64_t done, uint64_t total)>& progress) override;
  Status snapshot() override;
  Status checkpoint(const std::filesystem::path& dir) override;
  StoreStats stats() const override;
  bool recheck_disk_full() override;

 private:
  struct DocEntry {
    std::shared_ptr<const DocInfo> info;
    std::string hash;
    std::vector<uint64_t> labels;
    bool has_vectors = false;
  };

  // One document of a write group, prepared before the batch is built.
  struct Pending {
    size_t index = 0;  // position in the caller's batch
    std::string doc_id;
    bool remove_only = false;
    bool unchanged = false;
    uint32_t unchanged_chunks = 0;
    const Document* doc = nullptr;
    std::string hash;
    std::vector<Chunk> chunks;
    std::vector<float> vectors;  // normalised
    std::shared_ptr<const ChunkAnalysis> analysis;  // one entry per chunk
    const StateWrite* state = nullptr;  // written in the same batch; null: none
    // Filled by commit().
    std::vector<uint64_t> old_labels;
    bool old_had_vectors = false;
    std::vector<std::vector<TermFreq>> old_terms;
    std::vector<uint64_t> new_labels;
    std::shared_ptr<const DocInfo> info;
  };

  rocksdb::ColumnFamilyHandle* cf(Cf c) const {
    if (c == Cf::kVectors && vectors_b_) c = Cf::kVectorsB;
    return cfs_[static_cast<size_t>(c)];
  }
  // The vectors column family that is not active: a reindex's shadow.
  rocksdb::ColumnFamilyHandle* shadow_cf() const {
    return cfs_[static_cast<size_t>(vectors_b_ ? Cf::kVectors : Cf::kVectorsB)];
  }
  rocksdb::WriteOptions sync_options() const;
  std::string get_meta(const std::string& key) const;
  uint64_t get_meta_u64(const std::string& key) const;
  VectorIndexOptions index_options(int dim) const;

  // What load_ann_snapshot() found: the vector index from its snapshot and
  // the op log, or why it must be rebuilt.
  struct AnnFromSnapshot {
    std::unique_ptr<VectorIndex> index;  // null: rebuild, for `why`
    std::string why;
    uint64_t op = 0, replayed = 0;
    double seconds = 0;
  };
  // Reads only (the snapshot, the op log and the vectors it names) and
  // needs no document, so it runs beside the documents' load; load() then
  // checks its size against the documents' vector count.
  Result<AnnFromSnapshot> load_ann_snapshot();
  // Adopts what load_ann_snapshot() found, or rebuilds from RocksDB (and
  // snapshots the result).
  Status load_ann(AnnFromSnapshot loaded);
  // Completes the inverted index once the documents are in: `tag` is what
  // LexicalIndex::load() of the snapshot returned (read beside the
  // documents); the snapshot is trimmed to the live chunks and brought up to
  // date from chunkinfo, or the index is rebuilt from chunkinfo.
  Status load_lexical(Result<uint64_t> tag);
  Result<uint64_t> replay_oplog(VectorIndex& index, uint64_t after);
  Result<std::unique_ptr<VectorIndex>> build_ann(int dim) const;
  // Writes the snapshots; on failure removes their temporary files and
  // notes a full disk. REQUIRES: write_mu_ held.
  Status snapshot_locked();
  Status snapshot_files_locked();
  Status prepare(const DocumentWrite& w, Pending& p) const;
  Status commit(std::vector<Pending>& group);
  // The meta column family's key of client state `key` ("state:<key>").
  static std::string state_record_key(const std::string& key);
  // kInvalidArgument when the key or value is out of bounds.
  static Status check_state(const std::string& key, const std::string& value);
  // One synced write of a state key. REQUIRES: write_mu_ held.
  Status put_state_locked(const std::string& key, const std::string& value);
  void set_slot(uint64_t label, std::shared_ptr<const DocInfo> info);
  // Logs a rebuild of the ANN or the inverted index from RocksDB (warn when
  // its snapshot was damaged, else info) and counts it. Thread-safe.
  void log_rebuild(const char* what, const std::string& why,
                   std::chrono::steady_clock::time_point started) const;
  // REQUIRES: mu_ held (either way), or write_mu_ held.
  bool live(uint64_t label) const { return label < slots_.size() && slots_[label] != nullptr; }
  // A reindex in progress. Guarded by write_mu_.
  struct ReindexRun {
    uint64_t id = 0;  // tells a step that its run was aborted meanwhile
    std::string fingerprint;
    int dim = 0;
    std::unique_ptr<VectorIndex> index;
    uint64_t cursor = 0;                  // labels below it have been visited
    std::vector<uint64_t> shadow_labels;  // labels whose vectors are in the shadow
  };
  // Store-side of the reindex (store_reindex.cpp). REQUIRES: write_mu_ held.
  Status recover_reindex_at_open();
  Status embed_into_shadow(ReindexRun& run, std::span<const uint64_t> labels, std::vector<float>& vecs);
  Status drop_shadow(bool sync);
  // Ends the run (no reindex target any more) without touching the shadow.
  void end_reindex_run();
  // A failed step or commit: ends the run, empties the shadow (not synced:
  // open() discards an unfinished one anyway) and returns `why`.
  Status abandon_reindex(Status why);
  // The text a reindex embeds for chunk `label` of `info`'s document:
  // chunk_embed_text(), as ingest embedded it. kNotFound when the chunk is
  // gone. Needs no lock: chunks are immutable and labels never reused.
  Status reindex_text(uint64_t label, const DocInfo& info, std::string* text) const;
  Result<std::vector<ScoredChunk>> exact_vector_search(std::span<const float> query, size_t k,
                                                       const DocPredicate& allow) const;
  // A read that failed: logs it (once, here), counts it in read_errors_ and
  // returns it as kCorruption or kIoError. Thread-safe.
  Status read_failure(Status error) const;
  Status read_failure(const rocksdb::Status& s, const std::string& what) const;
  // Reads chunk `label` (kNotFound when its record is gone). REQUIRES: mu_
  // held shared, or nothing (chunks are immutable).
  Status read_chunk(uint64_t label, Chunk& out) const;
  // Waits until no write is between its durable batch and its flip under
  // mu_ (takes and drops write_mu_). A chunk record found missing while its
  // label was live was either removed by such a write or lost; after this
  // call, a label still live names a record that must exist.
  // REQUIRES: neither mu_ nor write_mu_ held.
  void wait_for_writer() const;
  // Disk full. before_write(): while the last write failed for lack of
  // space, asks RocksDB to resume (it refuses writes after such an error
  // until then) and fails fast with kNoSpace if it cannot. after_write(s):
  // notes the outcome of a write (sets or clears no_space_, logs the
  // change once) and returns s. REQUIRES: write_mu_ held.
  // before_write(bytes) also fails with kNoSpace when the file system's free
  // space is below StoreOptions::free_space_reserve + bytes (the reserve).
  Status before_write(uint64_t bytes = 0);
  Status after_write(Status s);
  // kNoSpace when the free space under the store is below the reserve plus
  // `bytes`; ok when it is not, or it cannot be read, or the reserve is off.
  Status check_reserve(uint64_t bytes) const;
  // Removes our temporary files (lex.index.tmp, ann.*.tmp, any *.tmp of the
  // store directory's top level; RocksDB's own are *.dbtmp): left by a
  // failed or interrupted snapshot, they only hold disk space.
  void remove_temp_files() const;

  StoreOptions options_;
  std::unique_ptr<rocksdb::Env> fault_env_;  // only with options_.fault_no_space; outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // owned by db_; destroyed in ~StoreImpl

  mutable std::mutex write_mu_;
  // Guarded by write_mu_.
  uint64_t next_label_ = 0;
  uint64_t op_seq_ = 0;
  uint64_t oplog_trimmed_ = 0;
  uint64_t ops_since_snapshot_ = 0;
  bool snapshot_current_ = false;
  std::string reindex_pending_;  // meta "reindex_pending" (legacy in-place reindex)
  std::unique_ptr<ReindexRun> reindex_;
  uint64_t reindex_runs_ = 0;
  std::atomic<uint64_t> reindex_done_{0};
  bool lexical_dirty_ = false;  // lexical_ changed since lex.index was written
  // The ANN that still holds (as removed) vectors of a RocksDB write that
  // failed after they were inserted; it is not snapshotted. Only compared,
  // never dereferenced: a rebuilt or reindexed ANN is another object.
  const VectorIndex* ann_with_orphans_ = nullptr;
  // Runs a commit's synced RocksDB write while the committing thread inserts
  // the batch's vectors into the ANN. Each commit waits for its write, so
  // nothing is queued when the store closes.
  SerialWorker db_writer_;

  mutable std::shared_mutex mu_;
  // Guarded by mu_ (written with write_mu_ also held).
  std::string index_type_;
  std::string encoder_;
  int dim_ = 0;
  std::unordered_map<std::string, DocEntry> docs_;
  std::vector<std::shared_ptr<const DocInfo>> slots_;  // by label; null = not live
  uint64_t live_chunks_ = 0;
  uint64_t expected_vectors_ = 0;
  LexicalIndex lexical_;
  std::unique_ptr<VectorIndex> ann_;
  std::string ann_state_;
  std::string lexical_state_;
  bool vectors_b_ = false;  // "vectors_b" is the active vectors column family
  std::string reindex_target_;     // fingerprint being built, "" when none
  int reindex_dim_ = 0;
  std::string reindex_discarded_;  // interrupted reindex dropped at open
  mutable std::atomic<uint64_t> read_errors_{0};
  mutable std::atomic<uint64_t> lexical_split_searches_{0};
  std::atomic<bool> no_space_{false};  // written with write_mu_ held
  // Index rebuilds (StoreStats::index_rebuilds), counted by log_rebuild().
  mutable std::mutex rebuild_mu_;
  mutable uint64_t rebuilds_ = 0;        // guarded by rebuild_mu_
  mutable std::string last_rebuild_;     // guarded by rebuild_mu_
  mutable double last_rebuild_ms_ = 0;   // guarded by rebuild_mu_
  // How long the open took, and its phases (load() writes the phases,
  // set_open_times() adds RocksDB's and the total; written once).
  double open_seconds_ = 0;
  std::string open_phases_;
};

}  // namespace ragd

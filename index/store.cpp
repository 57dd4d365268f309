// Store on RocksDB: opening, loading the derived indexes, and writes. Reads
// and searches are in index/store_read.cpp. See index/store_impl.h for the
// locking rules.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "index/analyzer.h"
#include "index/codec.h"
#include "index/log.h"
#include "index/records.h"
#include "index/snapshot.h"
#include "index/store_impl.h"

namespace ragd {

namespace {

constexpr const char* kLexicalSnapshot = "lex.index";

const std::vector<std::string> kCfNames = {"default", "documents", "doc_text", "chunks",   "chunkinfo",
                                           "vectors", "postings",  "meta",     "oplog",    "vectors_b"};

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// `fn` on a thread of its own or, when no thread can be started (a pids
// limit), deferred: get() then runs it on the caller's thread.
template <class Fn>
auto start_async(Fn fn) -> std::future<std::invoke_result_t<Fn>> {
  try {
    return std::async(std::launch::async, fn);
  } catch (const std::system_error&) {
    return std::async(std::launch::deferred, fn);
  }
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Status from_rocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::ok();
  if (s.IsCorruption()) return Status::corruption(what + ": " + s.ToString());
  if (s.IsNotFound()) return Status::not_found(what + ": " + s.ToString());
  // RocksDB marks ENOSPC as IOError/NoSpace; a background error it raised
  // from one keeps that subcode. Quota errors only say so in the text.
  if (s.IsNoSpace() || s.ToString().find("No space left on device") != std::string::npos ||
      s.ToString().find("Disk quota exceeded") != std::string::npos) {
    return Status::no_space(what + ": " + s.ToString());
  }
  return Status::io_error(what + ": " + s.ToString());
}

// L2-normalises in place; false when a value is not finite.
bool normalise(std::span<float> v) {
  double ss = 0;
  for (float x : v) {
    if (!std::isfinite(x)) return false;
    ss += static_cast<double>(x) * x;
  }
  if (ss > 0) {
    auto inv = static_cast<float>(1.0 / std::sqrt(ss));
    for (float& x : v) x *= inv;
  }
  return true;
}

std::string Store::content_hash(const Document& doc) {
  // Two differently seeded lanes make a 128-bit hash. `origin` is left out:
  // it says where the document was read from, not what it says.
  std::string out;
  for (uint64_t seed : {0x51ed270b27c5a1ffULL, 0x2545f4914f6cdd1dULL}) {
    codec::Hasher h(seed);
    h.str(doc.id);
    h.str(doc.title);
    h.str(doc.kind);
    h.str(doc.source);
    h.str(doc.url);
    h.u64(doc.metadata.size());
    for (const auto& [k, v] : doc.metadata) {
      h.str(k);
      h.str(v);
    }
    h.u64(doc.acl.size());
    for (const auto& g : doc.acl) h.str(g);
    h.u64(static_cast<uint64_t>(doc.created_at));
    h.u64(static_cast<uint64_t>(doc.updated_at));
    h.str(doc.text);
    h.u64(doc.blocks.size());
    for (const auto& b : doc.blocks) {
      h.u64(b.section_path.size());
      for (const auto& s : b.section_path) h.str(s);
      h.str(b.role);
      h.str(b.text);
    }
    out += hex64(h.digest());
  }
  return out;
}

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
  auto store = std::make_unique<StoreImpl>(options);
  const auto start = std::chrono::steady_clock::now();
  RAGD_RETURN_IF_ERROR(store->open_db().with_context("opening store " + options.dir.string()));
  const double rocksdb_s = seconds_since(start);
  RAGD_RETURN_IF_ERROR(store->load().with_context("loading store " + options.dir.string()));
  store->set_open_times(seconds_since(start), rocksdb_s);
  return std::unique_ptr<Store>(std::move(store));
}

StoreImpl::StoreImpl(const StoreOptions& options) : options_(options) {}

StoreImpl::~StoreImpl() {
  if (!db_) return;
  if (!options_.read_only) {
    std::lock_guard w(write_mu_);
    if (ops_since_snapshot_ > 0 || !snapshot_current_ || lexical_dirty_) (void)snapshot_locked();
    // Memtables go to SST files now, so the next open has no WAL to replay.
    rocksdb::FlushOptions fo;
    (void)db_->Flush(fo, cfs_);
  }
  for (auto* h : cfs_) {
    if (h) (void)db_->DestroyColumnFamilyHandle(h);
  }
  cfs_.clear();
  (void)db_->Close();
}

Status StoreImpl::open_db() {
  std::error_code ec;
  if (!options_.read_only) {
    std::filesystem::create_directories(options_.dir, ec);
    if (ec) return Status::io_error("creating " + options_.dir.string() + ": " + ec.message());
    // First, so that a restart on a nearly full disk has their space.
    remove_temp_files();
  }
  rocksdb::DBOptions db_options;
  if (options_.fault_no_space) {
    fault_env_ = make_no_space_env(options_.fault_no_space);
    db_options.env = fault_env_.get();
  }
  db_options.create_if_missing = !options_.read_only;
  db_options.create_missing_column_families = !options_.read_only;
  db_options.IncreaseParallelism(2);
  db_options.max_background_jobs = 2;
  // Bounds the WAL that open() must replay: RocksDB flushes the column
  // families that hold the oldest log once the logs pass this size (the
  // default lets them grow to 4x all write buffers, gigabytes here).
  db_options.max_total_wal_size = 128 << 20;
  // A WAL left by a crash (or by a close on a full disk, whose flush
  // failed) is replayed into the memtables and flushed later with the
  // next writes, not as SST files during open: a store whose disk filled
  // up still opens, needing only a new MANIFEST, OPTIONS file and WAL.
  db_options.avoid_flush_during_recovery = true;
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = 32 << 20;
  std::vector<std::string> names = kCfNames;
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, options_.dir.string(), &existing).ok()) {
    for (const auto& n : existing) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  } else if (options_.read_only) {
    return Status::not_found("no store at " + options_.dir.string());
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  std::vector<size_t> slot_of;  // descs[i] is cfs_[slot_of[i]]
  for (size_t i = 0; i < names.size(); ++i) {
    // Read-only cannot create column families: one that a newer version adds
    // (vectors_b) stays null until the store is opened for writing.
    if (options_.read_only && std::find(existing.begin(), existing.end(), names[i]) == existing.end()) continue;
    descs.emplace_back(names[i], cf_options);
    slot_of.push_back(i);
  }
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s =
      options_.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, options_.dir.string(), descs, &handles, &db)
          : rocksdb::DB::Open(db_options, options_.dir.string(), descs, &handles, &db);
  if (!s.ok()) return from_rocks(s, "RocksDB open");
  db_.reset(db);
  cfs_.assign(names.size(), nullptr);
  for (size_t i = 0; i < handles.size(); ++i) cfs_[slot_of[i]] = handles[i];
  return Status::ok();
}

std::string StoreImpl::get_meta(const std::string& key) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), key, &v).ok()) return "";
  return v;
}

uint64_t StoreImpl::get_meta_u64(const std::string& key) const {
  std::string v = get_meta(key);
  return v.empty() ? 0 : std::strtoull(v.c_str(), nullptr, 10);
}

Status StoreImpl::load() {
  next_label_ = get_meta_u64("next_label");
  op_seq_ = get_meta_u64("op_seq");
  oplog_trimmed_ = get_meta_u64("oplog_trimmed");
  encoder_ = get_meta("encoder");
  dim_ = static_cast<int>(get_meta_u64("dim"));
  reindex_pending_ = get_meta("reindex_pending");
  vectors_b_ = get_meta("vectors_cf") == "vectors_b";
  RAGD_RETURN_IF_ERROR(recover_reindex_at_open());
  index_type_ = get_meta("index_type");
  if (index_type_.empty()) {
    index_type_ = options_.vector_index;
    // Checks the type (and a FAISS factory string) before recording it.
    VectorIndexOptions probe = index_options(8);
    auto made = make_vector_index(probe);
    if (!made.is_ok()) return made.status();
    if (!options_.read_only) {
      RAGD_RETURN_IF_ERROR(from_rocks(
          db_->Put(sync_options(), cf(Cf::kMeta), "index_type", index_type_), "writing meta"));
    }
  }

  // The snapshot files of the two derived indexes are read on two threads
  // while this one reads the documents: the vector index's snapshot and op
  // log, and the inverted index's snapshot (the chunks it keeps are decided
  // below, once the documents say which are live). The first thread reads
  // only members set above and returns what it built; the second fills
  // lexical_ in place, which nothing on this thread touches until
  // lexical_file.get() (before the store is published, so without mu_).
  // The futures' destructors join both on every path out of this function
  // (an open that fails on a damaged document record still waits for them).
  std::future<Result<AnnFromSnapshot>> ann;
  if (dim_ > 0) ann = start_async([this] { return load_ann_snapshot(); });
  auto lexical_file = start_async([this] {
    const auto start = std::chrono::steady_clock::now();
    auto tag = lexical_.load(options_.dir / kLexicalSnapshot);
    return std::make_pair(std::move(tag), seconds_since(start));
  });

  // Documents and their chunk labels.
  auto phase = std::chrono::steady_clock::now();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kDocuments)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    DocRecord rec;
    if (!decode_doc_record(std::string_view(it->value().data(), it->value().size()), rec)) {
      return Status::corruption("documents record '" + it->key().ToString() + "' is malformed");
    }
    auto info = std::make_shared<const DocInfo>(std::move(rec.info));
    for (uint64_t l : rec.labels) {
      if (l >= next_label_) {
        return Status::corruption("documents record '" + it->key().ToString() + "': label " +
                                  std::to_string(l) + " beyond next_label");
      }
      set_slot(l, info);
    }
    live_chunks_ += rec.labels.size();
    if (rec.has_vectors) expected_vectors_ += rec.labels.size();
    DocEntry entry{info, std::move(rec.hash), std::move(rec.labels), rec.has_vectors};
    docs_.emplace(it->key().ToString(), std::move(entry));
  }
  RAGD_RETURN_IF_ERROR(from_rocks(it->status(), "reading documents"));

  const double documents_s = seconds_since(phase);

  // The inverted index is completed (or rebuilt from chunkinfo) while the
  // vector index may still load; a vector index rebuild, and every write,
  // waits until both are in.
  auto [lexical_tag, lexical_file_s] = lexical_file.get();
  phase = std::chrono::steady_clock::now();
  Status lexical = load_lexical(std::move(lexical_tag));
  const double lexical_s = lexical_file_s + seconds_since(phase);
  Result<AnnFromSnapshot> ann_loaded = ann.valid() ? ann.get() : Result<AnnFromSnapshot>(AnnFromSnapshot{});
  RAGD_RETURN_IF_ERROR(lexical);
  RAGD_RETURN_IF_ERROR(ann_loaded.status());
  if (ann_loaded->index && ann_loaded->index->size() != expected_vectors_) {
    ann_loaded->why = "snapshot+replay holds " + std::to_string(ann_loaded->index->size()) + " vectors, the store " +
                      std::to_string(expected_vectors_);
    ann_loaded->index.reset();
  }
  // Layout 1 also kept one postings key per (term, chunk); they are derived
  // from chunkinfo and no longer read, so an old store sheds them once.
  if (!options_.read_only && get_meta("layout") != "2") {
    rocksdb::WriteBatch batch;
    batch.DeleteRange(cf(Cf::kPostings), rocksdb::Slice("", 0), rocksdb::Slice("\xff\xff\xff\xff", 4));
    batch.Put(cf(Cf::kMeta), "layout", "2");
    RAGD_RETURN_IF_ERROR(from_rocks(db_->Write(sync_options(), &batch), "dropping layout-1 postings"));
  }

  char phases[128];
  std::snprintf(phases, sizeof phases, "documents %.2f s, inverted index %.2f s, vector index %.2f s", documents_s,
                lexical_s, ann_loaded->seconds);
  open_phases_ = phases;
  if (dim_ > 0) RAGD_RETURN_IF_ERROR(load_ann(std::move(*ann_loaded)));
  return Status::ok();
}

void StoreImpl::set_open_times(double total, double rocksdb) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "RocksDB %.2f s, ", rocksdb);
  open_seconds_ = total;
  open_phases_ = buf + open_phases_;
  index_log().debug("store {}: opened in {:.2f} s ({})", options_.dir.string(), total, open_phases_);
}

// The inverted index: the snapshot (lex.index) holds every chunk below its
// tag label as it was then. Chunks are immutable and labels never reused, so
// the snapshot is brought up to date by dropping the chunks that are no
// longer live and reading the term lists of those added since (labels from
// the tag on) from chunkinfo. Without a usable snapshot every live chunk's
// term list is read.
Status StoreImpl::load_lexical(Result<uint64_t> tag) {
  uint64_t from = 0;
  size_t dropped = 0;
  std::string why;
  if (!tag.is_ok()) {
    why = tag.status().message();
  } else if (*tag > next_label_) {
    why = "lexical snapshot is ahead of the store (label " + std::to_string(*tag) + ")";
    lexical_ = LexicalIndex{};
  } else {
    from = *tag;
    dropped = lexical_.retain_live([this](uint32_t label) { return live(label); });
  }
  auto read_from = [&](uint64_t first) -> Result<uint64_t> {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    ro.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(Cf::kChunkInfo)));
    std::vector<std::pair<std::string_view, uint32_t>> terms;
    uint64_t read = 0;
    for (it->Seek(codec::key_u64(first)); it->Valid(); it->Next()) {
      uint64_t label = codec::parse_key_u64(std::string_view(it->key().data(), it->key().size()));
      if (!live(label)) continue;
      uint32_t length = 0;
      if (!decode_chunk_info_terms(std::string_view(it->value().data(), it->value().size()), length, terms)) {
        return Status::corruption("chunkinfo record " + std::to_string(label) + " is malformed");
      }
      lexical_.load_chunk(static_cast<uint32_t>(label), terms, length);
      ++read;
    }
    RAGD_RETURN_IF_ERROR(from_rocks(it->status(), "reading chunkinfo"));
    return read;
  };
  if (why.empty()) {
    RAGD_ASSIGN_OR_RETURN(uint64_t read, read_from(from));
    if (lexical_.chunks() == live_chunks_) {
      lexical_state_ = "snapshot label " + std::to_string(from) + " - " + std::to_string(dropped) + " removed + " +
                       std::to_string(read) + " read";
      lexical_dirty_ = read > 0 || dropped > 0;
      return Status::ok();
    }
    why = "snapshot + chunkinfo hold " + std::to_string(lexical_.chunks()) + " chunks, the store " +
          std::to_string(live_chunks_);
    lexical_ = LexicalIndex{};
  }
  const auto rebuild_start = std::chrono::steady_clock::now();
  RAGD_RETURN_IF_ERROR(read_from(0).status());
  log_rebuild("inverted index", why, rebuild_start);
  lexical_state_ = "rebuilt from chunkinfo: " + why;
  lexical_dirty_ = true;
  return Status::ok();
}

VectorIndexOptions StoreImpl::index_options(int dim) const {
  VectorIndexOptions o;
  o.type = index_type_;
  o.dim = dim;
  o.hnsw_m = options_.hnsw_m;
  o.hnsw_ef_construction = options_.hnsw_ef_construction;
  o.hnsw_ef_search = options_.hnsw_ef_search;
  o.add_threads = options_.index_threads;
  o.faiss_train_size = options_.faiss_train_size;
  o.faiss_nprobe = options_.faiss_nprobe;
  return o;
}

Result<StoreImpl::AnnFromSnapshot> StoreImpl::load_ann_snapshot() {
  const auto start = std::chrono::steady_clock::now();
  AnnFromSnapshot out;
  RAGD_ASSIGN_OR_RETURN(auto index, make_vector_index(index_options(dim_)));
  auto tag = load_snapshot(*index, options_.dir);
  if (!tag.is_ok()) {
    out.why = tag.status().message();
  } else if (tag->encoder != encoder_) {
    out.why = "snapshot was made with encoder '" + tag->encoder + "'";
  } else if (tag->op > op_seq_) {
    out.why = "snapshot is ahead of the store (op " + std::to_string(tag->op) + " > " + std::to_string(op_seq_) + ")";
  } else if (tag->op < oplog_trimmed_) {
    out.why = "snapshot is older than the op log (op " + std::to_string(tag->op) + ")";
  } else {
    auto replayed = replay_oplog(*index, tag->op);
    if (!replayed.is_ok()) {
      out.why = replayed.status().message();
    } else {
      out.index = std::move(index);
      out.op = tag->op;
      out.replayed = *replayed;
    }
  }
  out.seconds = seconds_since(start);
  return out;
}

Status StoreImpl::load_ann(AnnFromSnapshot loaded) {
  if (loaded.index) {
    ann_ = std::move(loaded.index);
    ann_state_ = "snapshot op " + std::to_string(loaded.op) + " + " + std::to_string(loaded.replayed) + " replayed";
    snapshot_current_ = loaded.replayed == 0;
    ops_since_snapshot_ = loaded.replayed;
    return Status::ok();
  }
  const std::string& why = loaded.why;
  const auto rebuild_start = std::chrono::steady_clock::now();
  RAGD_ASSIGN_OR_RETURN(ann_, build_ann(dim_));
  log_rebuild("vector index", why, rebuild_start);
  ann_state_ = "rebuilt from RocksDB: " + why;
  snapshot_current_ = false;
  if (!options_.read_only) {
    Status s = snapshot_locked();
    (void)s;  // a failed snapshot only means the next open rebuilds again
  }
  return Status::ok();
}

Result<uint64_t> StoreImpl::replay_oplog(VectorIndex& index, uint64_t after) {
  std::unordered_set<uint64_t> added;
  std::vector<uint64_t> add_order;
  std::vector<uint64_t> removed;
  uint64_t ops = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kOplog)));
  for (it->Seek(codec::key_u64(after + 1)); it->Valid(); it->Next()) {
    OpType type;
    uint64_t label = 0;
    if (!decode_op(std::string_view(it->value().data(), it->value().size()), type, label)) {
      return Status::corruption("op log record is malformed");
    }
    ++ops;
    if (type == OpType::kAdd) {
      if (added.insert(label).second) add_order.push_back(label);
    } else if (!added.erase(label)) {
      removed.push_back(label);  // added before the snapshot
    }
  }
  RAGD_RETURN_IF_ERROR(from_rocks(it->status(), "reading op log"));
  for (uint64_t l : removed) RAGD_RETURN_IF_ERROR(index.remove(l));
  std::vector<uint64_t> labels;
  std::vector<float> vecs;
  std::string v;
  for (uint64_t l : add_order) {
    if (!added.count(l)) continue;  // removed again later
    rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf(Cf::kVectors), codec::key_u64(l), &v);
    if (rs.IsNotFound()) continue;  // the count check in load() decides
    if (!rs.ok()) return read_failure(rs, "replaying the op log: vector of chunk " + std::to_string(l));
    if (v.size() != static_cast<size_t>(dim_) * sizeof(float)) {
      return read_failure(Status::corruption("replaying the op log: vector of chunk " + std::to_string(l) +
                                             " has " + std::to_string(v.size()) + " bytes"));
    }
    labels.push_back(l);
    size_t at = vecs.size();
    vecs.resize(at + static_cast<size_t>(dim_));
    std::memcpy(vecs.data() + at, v.data(), v.size());
  }
  RAGD_RETURN_IF_ERROR(index.add(labels, vecs));
  return ops;
}

Result<std::unique_ptr<VectorIndex>> StoreImpl::build_ann(int dim) const {
  RAGD_ASSIGN_OR_RETURN(auto index, make_vector_index(index_options(dim)));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kVectors)));
  std::vector<uint64_t> labels;
  std::vector<float> vecs;
  const size_t bytes = static_cast<size_t>(dim) * sizeof(float);
  auto flush = [&]() -> Status {
    Status s = index->add(labels, vecs);
    labels.clear();
    vecs.clear();
    return s;
  };
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t label = codec::parse_key_u64(std::string_view(it->key().data(), it->key().size()));
    if (!live(label) || it->value().size() != bytes) continue;
    labels.push_back(label);
    size_t at = vecs.size();
    vecs.resize(at + static_cast<size_t>(dim));
    std::memcpy(vecs.data() + at, it->value().data(), bytes);
    if (labels.size() >= 8192) RAGD_RETURN_IF_ERROR(flush());
  }
  RAGD_RETURN_IF_ERROR(from_rocks(it->status(), "reading vectors"));
  RAGD_RETURN_IF_ERROR(flush());
  return index;
}

Status StoreImpl::snapshot() {
  if (options_.read_only) return Status::failed_precondition("store is open read-only");
  std::lock_guard w(write_mu_);
  return snapshot_locked();
}

Status StoreImpl::checkpoint(const std::filesystem::path& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  RAGD_RETURN_IF_ERROR(
      from_rocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint of " + options_.dir.string()));
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  // log_size_for_flush 0: the memtables are flushed first, so the copy
  // needs no WAL beyond what RocksDB adds to keep the column families
  // consistent with each other.
  return from_rocks(cp->CreateCheckpoint(dir.string(), 0), "checkpoint of " + options_.dir.string() + " into " +
                                                               dir.filename().string());
}

void StoreImpl::remove_temp_files() const {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(options_.dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::filesystem::path& p = it->path();
    if (p.extension() != ".tmp") continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    uintmax_t size = it->file_size(type_ec);
    std::error_code rm_ec;
    if (std::filesystem::remove(p, rm_ec)) {
      index_log().info("store {}: removed the temporary file {} ({} bytes) of a failed or interrupted snapshot",
                       options_.dir.string(), p.filename().string(), type_ec ? 0 : size);
    } else if (rm_ec) {
      index_log().warn("store {}: cannot remove {}: {}", options_.dir.string(), p.string(), rm_ec.message());
    }
  }
}

Status StoreImpl::check_reserve(uint64_t bytes) const {
  if (options_.free_space_reserve == 0) return Status::ok();
  uint64_t free_bytes = 0;
  if (options_.fault_free_bytes) {
    free_bytes = options_.fault_free_bytes();
  } else {
    struct statvfs fs {};
    if (::statvfs(options_.dir.c_str(), &fs) != 0) return Status::ok();  // unknown: let the write tell
    free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  if (free_bytes >= options_.free_space_reserve + bytes) return Status::ok();
  return Status::no_space("writing to " + options_.dir.string() + ": " + std::to_string(free_bytes >> 20) +
                          " MiB free, below the reserve of " + std::to_string(options_.free_space_reserve >> 20) +
                          " MiB plus this write's " + std::to_string(bytes >> 10) + " KiB");
}

Status StoreImpl::before_write(uint64_t bytes) {
  RAGD_RETURN_IF_ERROR(check_reserve(bytes));
  if (!no_space_.load()) return Status::ok();
  // RocksDB's own SstFileManager retries a NoSpace error by itself once the
  // disk has room (polling every few seconds); while it does, Resume() is
  // Busy and the disk counts as still full.
  rocksdb::Status s = db_->Resume();
  if (s.IsBusy()) return Status::no_space("RocksDB is still recovering from a full disk: " + s.ToString());
  return from_rocks(s, "resuming writes after a full disk");
}

Status StoreImpl::after_write(Status s) {
  if (s.code() == StatusCode::kNoSpace) {
    if (!no_space_.exchange(true)) {
      index_log().warn("store {}: disk full, writes fail until space is freed under {}: {}", options_.dir.string(),
                       options_.dir.string(), s.message());
    }
  } else if (s.is_ok() && no_space_.exchange(false)) {
    index_log().info("store {}: writes work again (disk space was freed)", options_.dir.string());
  }
  return s;
}

bool StoreImpl::recheck_disk_full() {
  if (!no_space_.load()) return false;
  std::unique_lock w(write_mu_, std::try_to_lock);
  if (!w.owns_lock()) return no_space_.load();
  // Back to normal only with the reserve free twice over, so /healthz does
  // not flap between "ok" and a write that is refused again.
  Status s = before_write(options_.free_space_reserve);
  // Resume() succeeds at once when RocksDB had no error to clear (a
  // snapshot file did not fit): one small synced write shows whether
  // there is room again. It runs only above the reserve, so the probe
  // itself never meets a full disk.
  if (s.is_ok()) {
    s = from_rocks(db_->Put(sync_options(), cf(Cf::kMeta), "disk_probe", std::to_string(next_label_)),
                   "probing for free space");
  }
  (void)after_write(s);
  return no_space_.load();
}

Status StoreImpl::snapshot_locked() {
  if (options_.read_only) return Status::ok();
  Status s = snapshot_files_locked();
  if (!s.is_ok()) remove_temp_files();  // a half-written snapshot only holds space
  if (s.code() == StatusCode::kNoSpace) (void)after_write(s);
  return s;
}

Status StoreImpl::snapshot_files_locked() {
  if (options_.fault_no_space && options_.fault_no_space()) {
    return Status::no_space("writing snapshots in " + options_.dir.string() + ": injected: No space left on device");
  }
  Status lexical_saved;
  if (lexical_dirty_) {
    // Readers may search meanwhile; writers are held off by write_mu_. A
    // failure still lets the ANN snapshot be written below.
    lexical_saved = lexical_.save(options_.dir / kLexicalSnapshot, next_label_);
    if (lexical_saved.is_ok()) lexical_dirty_ = false;
  }
  // An ANN holding vectors of a failed write is never snapshotted: the op
  // log still covers everything since the last snapshot.
  if (!ann_ || ann_.get() == ann_with_orphans_) return lexical_saved;
  SnapshotTag tag{op_seq_, index_type_, dim_, encoder_};
  RAGD_RETURN_IF_ERROR(save_snapshot(*ann_, options_.dir, tag));
  // The op log up to the snapshot is no longer needed. Losing this write is
  // harmless: replay skips entries the snapshot already covers.
  rocksdb::WriteBatch batch;
  batch.DeleteRange(cf(Cf::kOplog), codec::key_u64(0), codec::key_u64(op_seq_ + 1));
  batch.Put(cf(Cf::kMeta), "oplog_trimmed", std::to_string(op_seq_));
  RAGD_RETURN_IF_ERROR(from_rocks(db_->Write(rocksdb::WriteOptions(), &batch), "trimming op log"));
  oplog_trimmed_ = op_seq_;
  ops_since_snapshot_ = 0;
  snapshot_current_ = true;
  return lexical_saved;
}

rocksdb::WriteOptions StoreImpl::sync_options() const {
  rocksdb::WriteOptions w;
  w.sync = options_.sync_writes;
  return w;
}

Status StoreImpl::bind_encoder(const std::string& fingerprint, int dim) {
  if (fingerprint.empty() || dim <= 0 || dim > 65536) {
    return Status::invalid_argument("bind_encoder: bad fingerprint '" + fingerprint + "' or dim " +
                                    std::to_string(dim));
  }
  std::lock_guard w(write_mu_);
  if (!reindex_pending_.empty()) {
    return Status::failed_precondition("a reindex to encoder '" + reindex_pending_ +
                                       "' was interrupted; run `ragd reindex` to finish it");
  }
  if (encoder_ == fingerprint && dim_ == dim) return Status::ok();
  if (!encoder_.empty()) {
    return Status::failed_precondition(
        "the store at " + options_.dir.string() + " holds vectors from encoder '" + encoder_ +
        "' (dim " + std::to_string(dim_) + "), not '" + fingerprint + "' (dim " +
        std::to_string(dim) + "); run `ragd reindex` to re-embed every chunk with the new encoder");
  }
  if (options_.read_only) return Status::failed_precondition("store is open read-only");
  RAGD_ASSIGN_OR_RETURN(auto index, make_vector_index(index_options(dim)));
  rocksdb::WriteBatch batch;
  batch.Put(cf(Cf::kMeta), "encoder", fingerprint);
  batch.Put(cf(Cf::kMeta), "dim", std::to_string(dim));
  RAGD_RETURN_IF_ERROR(after_write(before_write()));
  RAGD_RETURN_IF_ERROR(after_write(from_rocks(db_->Write(sync_options(), &batch), "binding encoder")));
  std::unique_lock lock(mu_);
  encoder_ = fingerprint;
  dim_ = dim;
  ann_ = std::move(index);
  ann_state_ = "new";
  snapshot_current_ = false;
  return Status::ok();
}

bool StoreImpl::is_current(const std::string& doc_id, const std::string& hash) const {
  std::shared_lock lock(mu_);
  auto it = docs_.find(doc_id);
  return it != docs_.end() && it->second.hash == hash;
}

Result<UpsertResult> StoreImpl::upsert(const Document& doc, std::span<const Chunk> chunks,
                                       std::span<const float> vectors) {
  DocumentWrite w{&doc, chunks, vectors};
  auto results = upsert_batch(std::span<const DocumentWrite>(&w, 1));
  return std::move(results[0]);
}

Result<bool> StoreImpl::remove_locked(const std::string& doc_id, const StateWrite* state,
                                      std::vector<uint64_t>* labels) {
  auto it = docs_.find(doc_id);
  if (it == docs_.end()) {
    if (state != nullptr) RAGD_RETURN_IF_ERROR(put_state_locked(state->key, state->value));
    return false;
  }
  if (labels != nullptr) *labels = it->second.labels;
  std::vector<Pending> group(1);
  group[0].doc_id = doc_id;
  group[0].remove_only = true;
  group[0].state = state;
  RAGD_RETURN_IF_ERROR(commit(group).with_context("removing '" + doc_id + "'"));
  return true;
}

Result<bool> StoreImpl::remove(const std::string& doc_id) {
  if (options_.read_only) return Status::failed_precondition("store is open read-only");
  std::lock_guard w(write_mu_);
  return remove_locked(doc_id, nullptr, nullptr);
}

Result<bool> StoreImpl::remove(const std::string& doc_id, const StateWrite& state) {
  RAGD_RETURN_IF_ERROR(check_state(state.key, state.value));
  if (options_.read_only) return Status::failed_precondition("store is open read-only");
  std::lock_guard w(write_mu_);
  return remove_locked(doc_id, &state, nullptr);
}

Result<bool> StoreImpl::purge(const std::string& doc_id, const StateWrite& state) {
  RAGD_RETURN_IF_ERROR(check_state(state.key, state.value));
  if (options_.read_only) return Status::failed_precondition("store is open read-only");
  std::vector<uint64_t> labels;
  bool removed = false;
  {
    std::lock_guard w(write_mu_);
    RAGD_ASSIGN_OR_RETURN(removed, remove_locked(doc_id, &state, &labels));
  }
  // Flush and compaction run without the writer lock (RocksDB allows them
  // beside writes), so ingest is not held up by the rewrite.
  rocksdb::FlushOptions fo;
  fo.wait = true;
  RAGD_RETURN_IF_ERROR(from_rocks(db_->Flush(fo, cfs_), "flushing after purging '" + doc_id + "'"));
  rocksdb::CompactRangeOptions co;
  // Without kForce the bottom level is left alone and keeps the old values.
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  auto compact = [&](rocksdb::ColumnFamilyHandle* h, const std::string& begin, const std::string& end) -> Status {
    if (h == nullptr) return Status::ok();
    rocksdb::Slice b(begin), e(end);  // both inclusive
    return from_rocks(db_->CompactRange(co, h, &b, &e), "compacting after purging '" + doc_id + "'");
  };
  for (Cf c : {Cf::kDocuments, Cf::kDocText}) RAGD_RETURN_IF_ERROR(compact(cf(c), doc_id, doc_id));
  if (!labels.empty()) {
    const auto [lo, hi] = std::minmax_element(labels.begin(), labels.end());
    const std::string b = codec::key_u64(*lo), e = codec::key_u64(*hi);
    for (Cf c : {Cf::kChunks, Cf::kChunkInfo, Cf::kVectors}) RAGD_RETURN_IF_ERROR(compact(cf(c), b, e));
    RAGD_RETURN_IF_ERROR(compact(shadow_cf(), b, e));
  }
  return removed;
}

std::vector<Result<UpsertResult>> StoreImpl::upsert_batch(std::span<const DocumentWrite> writes) {
  std::vector<Result<UpsertResult>> results(writes.size(), Result<UpsertResult>(UpsertResult{}));
  if (options_.read_only) {
    for (auto& r : results) r = Status::failed_precondition("store is open read-only");
    return results;
  }
  std::lock_guard w(write_mu_);
  std::vector<Pending> group;
  std::unordered_set<std::string> ids_in_group;
  Status stopped = Status::ok();  // the store's first failure: nothing after it is written
  auto commit_group = [&] {
    if (group.empty()) return;
    Status s = stopped.is_ok() ? commit(group) : stopped;
    if (!s.is_ok() && stopped.is_ok()) stopped = s;
    for (auto& p : group) {
      if (s.is_ok()) {
        results[p.index] = UpsertResult{true, static_cast<uint32_t>(p.chunks.size())};
      } else {
        results[p.index] = s.with_context("writing '" + p.doc_id + "'");
      }
    }
    group.clear();
    ids_in_group.clear();
  };
  for (size_t i = 0; i < writes.size(); ++i) {
    const DocumentWrite& dw = writes[i];
    if (dw.doc && ids_in_group.count(dw.doc->id)) commit_group();  // same id twice: in order
    if (!stopped.is_ok()) {
      results[i] = stopped.with_context("not written after an earlier write failed");
      continue;
    }
    Pending p;
    Status s = prepare(dw, p);
    if (!s.is_ok()) {
      results[i] = std::move(s);
      continue;
    }
    p.index = i;
    if (p.unchanged) {
      // Its state is still due; the documents before it in this call are
      // written first, so the state never runs ahead of them.
      if (dw.state) {
        commit_group();
        if (!stopped.is_ok()) {
          results[i] = stopped.with_context("not written after an earlier write failed");
          continue;
        }
        if (Status st = put_state_locked(dw.state->key, dw.state->value); !st.is_ok()) {
          stopped = st;
          results[i] = std::move(st);
          continue;
        }
      }
      results[i] = UpsertResult{false, p.unchanged_chunks};
      continue;
    }
    ids_in_group.insert(p.doc_id);
    group.push_back(std::move(p));
  }
  commit_group();
  return results;
}

// REQUIRES: write_mu_ held.
Status StoreImpl::prepare(const DocumentWrite& w, Pending& p) const {
  if (!w.doc) return Status::invalid_argument("upsert: null document");
  if (w.state) RAGD_RETURN_IF_ERROR(check_state(w.state->key, w.state->value));
  const Document& doc = *w.doc;
  const std::string where = "document '" + doc.id + "'" + (doc.origin.empty() ? "" : " (" + doc.origin + ")");
  if (doc.id.empty()) {
    return Status::invalid_argument("document" + (doc.origin.empty() ? "" : " (" + doc.origin + ")") +
                                    ": empty id");
  }
  if (doc.id.size() > kMaxDocumentIdBytes) {
    return Status::invalid_argument(where.substr(0, 80) + "...: id longer than " + std::to_string(kMaxDocumentIdBytes) +
                                    " bytes");
  }
  if (w.chunks.size() > 1000000) return Status::invalid_argument(where + ": too many chunks");
  if (!w.vectors.empty()) {
    if (dim_ <= 0) {
      return Status::failed_precondition(where + ": vectors given but no encoder is bound (call bind_encoder)");
    }
    if (w.vectors.size() != w.chunks.size() * static_cast<size_t>(dim_)) {
      return Status::invalid_argument(where + ": " + std::to_string(w.vectors.size()) + " floats for " +
                                      std::to_string(w.chunks.size()) + " chunks of dim " +
                                      std::to_string(dim_));
    }
  }
  for (const auto& c : w.chunks) {
    if (!c.doc_id.empty() && c.doc_id != doc.id) {
      return Status::invalid_argument(where + ": chunk '" + c.id + "' belongs to '" + c.doc_id + "'");
    }
  }
  p.doc_id = doc.id;
  p.state = w.state;
  p.hash = content_hash(doc);
  auto it = docs_.find(doc.id);
  const bool has_vectors = !w.vectors.empty();
  if (it != docs_.end() && it->second.hash == p.hash && (it->second.has_vectors || !has_vectors)) {
    p.unchanged = true;
    p.unchanged_chunks = static_cast<uint32_t>(it->second.labels.size());
    return Status::ok();
  }
  p.doc = &doc;
  p.chunks.assign(w.chunks.begin(), w.chunks.end());
  for (size_t i = 0; i < p.chunks.size(); ++i) {
    Chunk& c = p.chunks[i];
    c.doc_id = doc.id;
    if (c.id.empty()) c.id = doc.id + "#" + std::to_string(c.ordinal);
  }
  p.vectors.assign(w.vectors.begin(), w.vectors.end());
  for (size_t i = 0; i < p.chunks.size() && has_vectors; ++i) {
    if (!normalise(std::span<float>(p.vectors).subspan(i * static_cast<size_t>(dim_), static_cast<size_t>(dim_)))) {
      return Status::invalid_argument(where + ": vector of chunk " + std::to_string(i) + " is not finite");
    }
  }
  if (w.analysis && w.analysis->terms.size() == p.chunks.size() && w.analysis->lengths.size() == p.chunks.size()) {
    p.analysis = w.analysis;
  } else {
    p.analysis = analyze_chunks(doc, p.chunks);
  }
  return Status::ok();
}

std::shared_ptr<const ChunkAnalysis> Store::analyze_chunks(const Document& doc, std::span<const Chunk> chunks) {
  auto a = std::make_shared<ChunkAnalysis>();
  a->terms.resize(chunks.size());
  a->lengths.resize(chunks.size());
  // The title and section path are indexed with every chunk (as BM25 over
  // title + text does), so a ticket number or runbook name in the title finds
  // the document whichever chunk matches. Neighbouring chunks mostly share a
  // section path: its analysis is reused while it stays the same.
  const std::vector<std::string> title_tokens = analyze(doc.title);
  const std::vector<std::string>* section_of = nullptr;
  std::vector<std::string> section_tokens;
  std::vector<std::string> tokens;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!section_of || *section_of != chunks[i].section_path) {
      section_of = &chunks[i].section_path;
      section_tokens.clear();
      for (const auto& s : chunks[i].section_path) {
        auto st = analyze(s);
        section_tokens.insert(section_tokens.end(), std::make_move_iterator(st.begin()),
                              std::make_move_iterator(st.end()));
      }
    }
    tokens = title_tokens;
    tokens.insert(tokens.end(), section_tokens.begin(), section_tokens.end());
    auto body = analyze(chunks[i].text);
    tokens.insert(tokens.end(), std::make_move_iterator(body.begin()), std::make_move_iterator(body.end()));
    a->lengths[i] = static_cast<uint32_t>(tokens.size());
    a->terms[i] = count_terms(tokens);
  }
  return a;
}

// REQUIRES: write_mu_ held. Writes the group in one WriteBatch, then applies
// it to the in-memory indexes.
Status StoreImpl::commit(std::vector<Pending>& group) {
  RAGD_RETURN_IF_ERROR(after_write(before_write()));
  rocksdb::WriteBatch batch;
  uint64_t label = next_label_;
  uint64_t op = op_seq_;
  // Old chunks: their term lists come from RocksDB (not kept in memory).
  for (auto& p : group) {
    auto it = docs_.find(p.doc_id);
    if (it == docs_.end()) continue;
    p.old_labels = it->second.labels;
    p.old_had_vectors = it->second.has_vectors;
    p.old_terms.resize(p.old_labels.size());
    for (size_t i = 0; i < p.old_labels.size(); ++i) {
      const uint64_t l = p.old_labels[i];
      const std::string key = codec::key_u64(l);
      std::string v;
      if (db_->Get(rocksdb::ReadOptions(), cf(Cf::kChunkInfo), key, &v).ok()) {
        ChunkInfo info;
        if (decode_chunk_info(v, info)) p.old_terms[i] = std::move(info.terms);
      }
      batch.Delete(cf(Cf::kChunks), key);
      batch.Delete(cf(Cf::kChunkInfo), key);
      if (p.old_had_vectors) {
        batch.Delete(cf(Cf::kVectors), key);
        batch.Put(cf(Cf::kOplog), codec::key_u64(++op), encode_op(OpType::kRemove, l));
      }
    }
    if (p.remove_only) {
      batch.Delete(cf(Cf::kDocuments), p.doc_id);
      batch.Delete(cf(Cf::kDocText), p.doc_id);
    }
  }
  for (auto& p : group) {
    if (p.remove_only) continue;
    const Document& doc = *p.doc;
    DocRecord rec;
    rec.hash = p.hash;
    rec.info = DocInfo{doc.id, doc.title, doc.kind, doc.source, doc.url, doc.metadata, doc.acl, doc.updated_at};
    rec.created_at = doc.created_at;
    rec.has_vectors = !p.vectors.empty();
    const size_t dim = static_cast<size_t>(std::max(dim_, 0));
    for (size_t i = 0; i < p.chunks.size(); ++i) {
      const uint64_t l = label++;
      if (l > UINT32_MAX) {
        return Status::resource_exhausted("chunk labels exhausted; rebuild the store by re-ingesting");
      }
      rec.labels.push_back(l);
      const std::string key = codec::key_u64(l);
      batch.Put(cf(Cf::kChunks), key, encode_chunk(p.chunks[i]));
      batch.Put(cf(Cf::kChunkInfo), key, encode_chunk_info(doc.id, p.analysis->lengths[i], p.analysis->terms[i]));
      if (rec.has_vectors) {
        batch.Put(cf(Cf::kVectors), key,
                  rocksdb::Slice(reinterpret_cast<const char*>(p.vectors.data() + i * dim), dim * sizeof(float)));
        batch.Put(cf(Cf::kOplog), codec::key_u64(++op), encode_op(OpType::kAdd, l));
      }
    }
    p.new_labels = rec.labels;
    p.info = std::make_shared<const DocInfo>(rec.info);
    batch.Put(cf(Cf::kDocuments), p.doc_id, encode_doc_record(rec));
    batch.Put(cf(Cf::kDocText), p.doc_id, encode_doc_text(doc));
  }
  for (const auto& p : group) {
    if (p.state) batch.Put(cf(Cf::kMeta), state_record_key(p.state->key), p.state->value);
  }
  batch.Put(cf(Cf::kMeta), "next_label", std::to_string(label));
  batch.Put(cf(Cf::kMeta), "op_seq", std::to_string(op));
  // New vectors go into the ANN while the batch is written and synced: the
  // graph insertion (the largest part of a write) hides the fsync. Searches
  // that meet them meanwhile drop them because their slots are still empty.
  std::vector<uint64_t> add_labels;
  std::vector<float> add_vectors;
  if (ann_) {
    for (const auto& p : group) {
      if (p.remove_only || p.vectors.empty()) continue;
      add_labels.insert(add_labels.end(), p.new_labels.begin(), p.new_labels.end());
      add_vectors.insert(add_vectors.end(), p.vectors.begin(), p.vectors.end());
    }
  }
  // The batch goes to the WAL now and to an SST at the next flush: it must
  // fit above the reserve twice. Nothing in memory has changed yet.
  RAGD_RETURN_IF_ERROR(after_write(check_reserve(2 * static_cast<uint64_t>(batch.GetDataSize()))));
  Status ann_status;
  rocksdb::Status written;
  if (add_labels.empty()) {
    written = db_->Write(sync_options(), &batch);
  } else {
    auto write = db_writer_.submit([&] { return db_->Write(sync_options(), &batch); });
    try {
      ann_status = ann_->add(add_labels, add_vectors);
    } catch (...) {
      write.wait();  // the write still reads `batch`
      throw;
    }
    written = write.get();
  }
  if (!written.ok()) {
    // Not durable, so the vectors must go again. Their labels are not handed
    // out again in this process (the ANN may keep them as removed), and the
    // ANN is not snapshotted while it holds them, so a restart never meets
    // them either.
    for (uint64_t l : add_labels) (void)ann_->remove(l);
    if (!add_labels.empty()) {
      next_label_ = label;
      ann_with_orphans_ = ann_.get();
    }
    return after_write(from_rocks(written, "RocksDB write"));
  }
  (void)after_write(Status::ok());
  const uint64_t ops = op - op_seq_;
  lexical_dirty_ = true;
  next_label_ = label;
  op_seq_ = op;
  ops_since_snapshot_ += ops;
  if (ops > 0) snapshot_current_ = false;

  {
    std::unique_lock lock(mu_);
    for (auto& p : group) {
      for (size_t i = 0; i < p.old_labels.size(); ++i) {
        const uint64_t l = p.old_labels[i];
        set_slot(l, nullptr);
        lexical_.remove(static_cast<uint32_t>(l), p.old_terms[i]);
        if (ann_ && p.old_had_vectors && ann_status.is_ok()) ann_status = ann_->remove(l);
      }
      if (!p.old_labels.empty() || p.remove_only) {
        auto it = docs_.find(p.doc_id);
        if (it != docs_.end()) {
          live_chunks_ -= it->second.labels.size();
          if (it->second.has_vectors) expected_vectors_ -= it->second.labels.size();
          docs_.erase(it);
        }
      }
      if (p.remove_only) continue;
      for (size_t i = 0; i < p.new_labels.size(); ++i) {
        set_slot(p.new_labels[i], p.info);
        lexical_.add(static_cast<uint32_t>(p.new_labels[i]), p.analysis->terms[i], p.analysis->lengths[i]);
      }
      live_chunks_ += p.new_labels.size();
      const bool hv = !p.vectors.empty();
      if (hv) expected_vectors_ += p.new_labels.size();
      docs_[p.doc_id] = DocEntry{p.info, p.hash, p.new_labels, hv};
    }
  }
  if (!ann_status.is_ok() || (ann_ && ann_->deleted() > 1000 &&
                              static_cast<double>(ann_->deleted()) >
                                  options_.rebuild_deleted_ratio * static_cast<double>(ann_->size()))) {
    // The ANN is derived: rebuild it from RocksDB rather than fail a write
    // that is already durable.
    const auto rebuild_start = std::chrono::steady_clock::now();
    auto rebuilt = build_ann(dim_);
    if (!rebuilt.is_ok()) return rebuilt.status().with_context("rebuilding vector index");
    log_rebuild("vector index", ann_status.is_ok() ? "too many deleted vectors" : ann_status.message(), rebuild_start);
    std::unique_lock lock(mu_);
    ann_ = std::move(rebuilt).value();
    ann_state_ = ann_status.is_ok() ? "rebuilt: too many deleted vectors" : "rebuilt: " + ann_status.message();
    snapshot_current_ = false;
  }
  if (options_.snapshot_every_ops > 0 && ops_since_snapshot_ >= options_.snapshot_every_ops) {
    (void)snapshot_locked();  // best effort: a missing snapshot only costs replay time
  }
  return Status::ok();
}

void StoreImpl::log_rebuild(const char* what, const std::string& why,
                            std::chrono::steady_clock::time_point started) const {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // A missing snapshot (a new store, a deleted file) or a planned rebuild
  // is routine; a damaged or mismatching one is worth an operator's look.
  const bool routine = why.rfind("no ", 0) == 0 || why == "too many deleted vectors";
  index_log().log(routine ? spdlog::level::info : spdlog::level::warn, "store {}: {} rebuilt from RocksDB in {:.2f} s: {}",
                  options_.dir.string(), what, seconds, why);
  std::lock_guard lock(rebuild_mu_);
  ++rebuilds_;
  last_rebuild_ = std::string(what) + ": " + why;
  last_rebuild_ms_ = seconds * 1000.0;
}

// REQUIRES: mu_ held exclusively, or no readers yet (open).
void StoreImpl::set_slot(uint64_t label, std::shared_ptr<const DocInfo> info) {
  if (slots_.size() <= label) {
    if (!info) return;
    slots_.resize(std::max<size_t>(label + 1, slots_.size() * 3 / 2 + 1024));
  }
  slots_[label] = std::move(info);
}

}  // namespace ragd

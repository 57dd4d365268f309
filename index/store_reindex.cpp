// Reindex: re-embedding every chunk with a new encoder while the old vectors,
// ANN index and fingerprint keep serving. See index/README.md, "Reindex".
//
// The new vectors go to the shadow vectors column family (whichever of
// "vectors" / "vectors_b" is not active) and into a new VectorIndex. The run
// walks the label space with a cursor: labels are never reused and new
// chunks get higher labels, so documents written during the run are reached
// by the same walk. The switch is one synced WriteBatch (meta "vectors_cf",
// "encoder", "dim", the op log reset) followed by one flip under mu_.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>

#include "index/codec.h"
#include "index/records.h"
#include "index/store_impl.h"
#include "ragd/chunk_text.h"

namespace ragd {

namespace {

// Past every 8-byte label key.
const std::string kPastLastLabel(9, '\xff');

Result<std::vector<float>> run_embed(const Store::EmbedFn& embed, std::span<const std::string> texts, int dim) {
  auto vecs = embed(texts);
  if (!vecs.is_ok()) return vecs.status().with_context("reindex: embedding");
  if (vecs->size() != texts.size() * static_cast<size_t>(dim)) {
    return Status::invalid_argument("reindex: encoder returned " + std::to_string(vecs->size()) + " floats for " +
                                    std::to_string(texts.size()) + " texts of dim " + std::to_string(dim));
  }
  return vecs;
}

}  // namespace

// REQUIRES: write_mu_ held, or open.
Status StoreImpl::drop_shadow(bool sync) {
  rocksdb::WriteBatch batch;
  batch.DeleteRange(shadow_cf(), codec::key_u64(0), kPastLastLabel);
  batch.Delete(cf(Cf::kMeta), "reindex_pending");
  batch.Delete(cf(Cf::kMeta), "reindex_dim");
  batch.Delete(cf(Cf::kMeta), "reindex_mode");
  rocksdb::WriteOptions wo = sync_options();
  wo.sync = wo.sync && sync;
  return from_rocks(db_->Write(wo, &batch), "reindex: dropping the shadow vectors");
}

// At open: a shadow reindex that did not reach its switch is discarded (the
// store never stopped being the old encoder's), and a shadow left behind by a
// switch whose clean-up was cut short is emptied. A legacy in-place reindex
// (no "reindex_mode") stays pending: bind_encoder() then asks for
// `ragd reindex`, which rebuilds every vector.
Status StoreImpl::recover_reindex_at_open() {
  if (options_.read_only) {
    if (get_meta("reindex_mode") == "shadow") reindex_pending_.clear();
    return Status::ok();
  }
  if (!reindex_pending_.empty() && get_meta("reindex_mode") == "shadow") {
    reindex_discarded_ = reindex_pending_;
    reindex_pending_.clear();
    return drop_shadow(/*sync=*/true);
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), shadow_cf()));
  it->SeekToFirst();
  if (it->Valid()) return drop_shadow(/*sync=*/false);
  return from_rocks(it->status(), "reading the shadow vectors");
}

Status StoreImpl::reindex_begin(const std::string& fingerprint, int dim) {
  if (options_.read_only) return Status::failed_precondition("store is open read-only");
  if (fingerprint.empty() || dim <= 0 || dim > 65536) {
    return Status::invalid_argument("reindex: bad fingerprint '" + fingerprint + "' or dim " + std::to_string(dim));
  }
  std::lock_guard w(write_mu_);
  if (reindex_) {
    return Status::failed_precondition("a reindex to encoder '" + reindex_->fingerprint + "' is already running");
  }
  RAGD_ASSIGN_OR_RETURN(auto index, make_vector_index(index_options(dim)));
  rocksdb::WriteBatch batch;
  batch.DeleteRange(shadow_cf(), codec::key_u64(0), kPastLastLabel);
  batch.Put(cf(Cf::kMeta), "reindex_pending", fingerprint);
  batch.Put(cf(Cf::kMeta), "reindex_dim", std::to_string(dim));
  batch.Put(cf(Cf::kMeta), "reindex_mode", "shadow");
  RAGD_RETURN_IF_ERROR(after_write(before_write()));
  RAGD_RETURN_IF_ERROR(after_write(from_rocks(db_->Write(sync_options(), &batch), "starting reindex")));
  auto run = std::make_unique<ReindexRun>();
  run->id = ++reindex_runs_;
  run->fingerprint = fingerprint;
  run->dim = dim;
  run->index = std::move(index);
  reindex_ = std::move(run);
  reindex_done_ = 0;
  std::unique_lock lock(mu_);
  reindex_target_ = fingerprint;
  reindex_dim_ = dim;
  return Status::ok();
}

// REQUIRES: write_mu_ held.
void StoreImpl::end_reindex_run() {
  reindex_.reset();
  std::unique_lock lock(mu_);
  reindex_target_.clear();
}

// REQUIRES: write_mu_ held.
Status StoreImpl::abandon_reindex(Status why) {
  end_reindex_run();
  (void)drop_shadow(/*sync=*/false);
  return why;
}

Status StoreImpl::reindex_text(uint64_t label, const DocInfo& info, std::string* text) const {
  Chunk c;
  RAGD_RETURN_IF_ERROR(read_chunk(label, c));
  *text = chunk_embed_text(info.title, c);
  return Status::ok();
}

// REQUIRES: write_mu_ held. Stores the vectors of the labels still live.
Status StoreImpl::embed_into_shadow(ReindexRun& run, std::span<const uint64_t> labels, std::vector<float>& vecs) {
  const size_t dim = static_cast<size_t>(run.dim);
  rocksdb::WriteBatch batch;
  std::vector<uint64_t> kept;
  std::vector<float> kept_vecs;
  for (size_t i = 0; i < labels.size(); ++i) {
    std::span<float> row(vecs.data() + i * dim, dim);
    if (!normalise(row)) return Status::invalid_argument("reindex: encoder returned a non-finite vector");
    if (!live(labels[i])) continue;  // removed while it was being embedded
    batch.Put(shadow_cf(), codec::key_u64(labels[i]),
              rocksdb::Slice(reinterpret_cast<const char*>(row.data()), row.size() * sizeof(float)));
    kept.push_back(labels[i]);
    kept_vecs.insert(kept_vecs.end(), row.begin(), row.end());
  }
  if (kept.empty()) return Status::ok();
  // Not synced: the switch's synced write makes everything before it durable.
  RAGD_RETURN_IF_ERROR(after_write(from_rocks(db_->Write(rocksdb::WriteOptions(), &batch), "reindex: writing vectors")));
  RAGD_RETURN_IF_ERROR(run.index->add(kept, kept_vecs));
  run.shadow_labels.insert(run.shadow_labels.end(), kept.begin(), kept.end());
  reindex_done_ += kept.size();
  return Status::ok();
}

Result<uint64_t> StoreImpl::reindex_step(const EmbedFn& embed, size_t max_chunks) {
  std::vector<uint64_t> labels;
  std::vector<std::shared_ptr<const DocInfo>> infos;
  uint64_t run_id = 0;
  int dim = 0;
  {
    std::lock_guard w(write_mu_);
    if (!reindex_) return Status::failed_precondition("no reindex is running");
    ReindexRun& run = *reindex_;
    run_id = run.id;
    dim = run.dim;
    uint64_t l = run.cursor;
    for (; l < next_label_ && labels.size() < std::max<size_t>(1, max_chunks); ++l) {
      if (!live(l)) continue;
      labels.push_back(l);
      infos.push_back(slots_[l]);
    }
    run.cursor = l;
    if (labels.empty()) return next_label_ - run.cursor;
  }
  // Chunks are immutable and labels never reused: read and embed them
  // without holding any lock. A chunk deleted meanwhile is skipped.
  std::vector<uint64_t> found;
  std::vector<std::string> texts;
  Status read;
  for (size_t i = 0; i < labels.size() && read.is_ok(); ++i) {
    std::string text;
    Status s = reindex_text(labels[i], *infos[i], &text);
    if (s.code() == StatusCode::kNotFound) continue;  // deleted meanwhile
    if (!s.is_ok()) {
      read = s.with_context("reindex");
      break;
    }
    found.push_back(labels[i]);
    texts.push_back(std::move(text));
  }
  Result<std::vector<float>> vecs = std::vector<float>{};
  if (!read.is_ok()) vecs = read;
  else if (!found.empty()) vecs = run_embed(embed, texts, dim);
  std::lock_guard w(write_mu_);
  if (!reindex_ || reindex_->id != run_id) return Status::cancelled("reindex: aborted while embedding");
  Status s = vecs.is_ok() ? embed_into_shadow(*reindex_, found, *vecs) : vecs.status();
  if (!s.is_ok()) return abandon_reindex(std::move(s));
  return next_label_ - reindex_->cursor;
}

Status StoreImpl::reindex_commit(const EmbedFn& embed) {
  std::lock_guard w(write_mu_);
  if (!reindex_) return Status::failed_precondition("no reindex is running");
  ReindexRun& run = *reindex_;
  auto fail = [&](Status s) { return abandon_reindex(std::move(s)); };
  // The rest, with writers held off: only what arrived since the last step.
  std::vector<uint64_t> labels;
  std::vector<std::string> texts;
  auto flush = [&]() -> Status {
    if (labels.empty()) return Status::ok();
    RAGD_ASSIGN_OR_RETURN(auto vecs, run_embed(embed, texts, run.dim));
    RAGD_RETURN_IF_ERROR(embed_into_shadow(run, labels, vecs));
    labels.clear();
    texts.clear();
    return Status::ok();
  };
  for (uint64_t l = run.cursor; l < next_label_; ++l) {
    if (!live(l)) continue;
    std::string text;
    // No write runs (write_mu_ is held), so a live chunk's record must exist.
    if (Status s = reindex_text(l, *slots_[l], &text); !s.is_ok()) {
      if (s.code() == StatusCode::kNotFound) s = read_failure(Status::corruption(s.message() + " is live but missing"));
      return fail(s.with_context("reindex"));
    }
    labels.push_back(l);
    texts.push_back(std::move(text));
    if (labels.size() >= 256) {
      if (Status s = flush(); !s.is_ok()) return fail(s);
    }
  }
  if (Status s = flush(); !s.is_ok()) return fail(s);
  run.cursor = next_label_;

  // Vectors of chunks deleted during the run leave the shadow and its index.
  rocksdb::WriteBatch batch;
  std::vector<uint64_t> kept;
  kept.reserve(run.shadow_labels.size());
  for (uint64_t l : run.shadow_labels) {
    if (live(l)) {
      kept.push_back(l);
      continue;
    }
    batch.Delete(shadow_cf(), codec::key_u64(l));
    if (Status s = run.index->remove(l); !s.is_ok()) return fail(s.with_context("reindex: dropping a removed chunk"));
  }
  run.shadow_labels = std::move(kept);
  for (auto& [id, entry] : docs_) {
    if (entry.has_vectors) continue;
    std::string v;
    DocRecord rec;
    rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf(Cf::kDocuments), id, &v);
    if (!rs.ok()) return fail(read_failure(rs, "reindex: reading document '" + id + "'"));
    if (!decode_doc_record(v, rec)) {
      return fail(read_failure(Status::corruption("reindex: document '" + id + "' has a malformed record")));
    }
    rec.has_vectors = true;
    batch.Put(cf(Cf::kDocuments), id, encode_doc_record(rec));
  }
  // The switch: one synced batch.
  batch.Put(cf(Cf::kMeta), "vectors_cf", vectors_b_ ? "vectors" : "vectors_b");
  batch.Put(cf(Cf::kMeta), "encoder", run.fingerprint);
  batch.Put(cf(Cf::kMeta), "dim", std::to_string(run.dim));
  batch.Delete(cf(Cf::kMeta), "reindex_pending");
  batch.Delete(cf(Cf::kMeta), "reindex_dim");
  batch.Delete(cf(Cf::kMeta), "reindex_mode");
  batch.DeleteRange(cf(Cf::kOplog), codec::key_u64(0), codec::key_u64(op_seq_ + 1));
  batch.Put(cf(Cf::kMeta), "oplog_trimmed", std::to_string(op_seq_));
  if (Status s = after_write(from_rocks(db_->Write(sync_options(), &batch), "reindex: switching")); !s.is_ok()) {
    return fail(s);
  }
  {
    std::unique_lock lock(mu_);
    for (auto& [id, entry] : docs_) entry.has_vectors = true;
    expected_vectors_ = live_chunks_;
    encoder_ = run.fingerprint;
    dim_ = run.dim;
    vectors_b_ = !vectors_b_;
    ann_ = std::move(run.index);
    ann_state_ = "rebuilt by reindex";
    reindex_target_.clear();
  }
  reindex_pending_.clear();
  oplog_trimmed_ = op_seq_;
  ops_since_snapshot_ = 0;
  snapshot_current_ = false;
  reindex_.reset();
  // The old vectors are garbage now; open() clears them if this is lost.
  rocksdb::WriteBatch cleanup;
  cleanup.DeleteRange(shadow_cf(), codec::key_u64(0), kPastLastLabel);
  (void)db_->Write(rocksdb::WriteOptions(), &cleanup);
  return Status::ok();
}

Status StoreImpl::reindex_abort() {
  std::lock_guard w(write_mu_);
  if (!reindex_) return Status::ok();
  end_reindex_run();
  return drop_shadow(/*sync=*/true);
}

ReindexProgress StoreImpl::reindex_progress() const {
  std::shared_lock lock(mu_);
  ReindexProgress p;
  if (reindex_target_.empty()) return p;
  p.target = reindex_target_;
  p.dim = reindex_dim_;
  p.done = reindex_done_.load();
  p.total = std::max(live_chunks_, p.done);
  return p;
}

Status StoreImpl::reindex(const std::string& fingerprint, int dim, const EmbedFn& embed,
                          const std::function<void(uint64_t done, uint64_t total)>& progress) {
  RAGD_RETURN_IF_ERROR(reindex_begin(fingerprint, dim));
  for (;;) {
    auto left = reindex_step(embed, 256);
    if (!left.is_ok()) return left.status();
    if (progress) {
      ReindexProgress p = reindex_progress();
      progress(p.done, p.total);
    }
    if (*left == 0) break;
  }
  RAGD_RETURN_IF_ERROR(reindex_commit(embed));
  return snapshot();
}

}  // namespace ragd

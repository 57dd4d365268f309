// Store reads and searches. Every search holds mu_ shared from the index
// lookup to the last liveness check, so it sees each document either before
// or after a write, never half of it.
#include <rocksdb/db.h>
#include <rocksdb/snapshot.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "index/codec.h"
#include "index/log.h"
#include "index/records.h"
#include "index/store_impl.h"

namespace ragd {

namespace {

// Remembers the predicate's answer per document for one search.
class AllowCache {
 public:
  explicit AllowCache(const DocPredicate& allow) : allow_(allow) {}
  bool operator()(const DocInfo* doc) {
    if (!allow_) return true;
    if (doc == last_doc_) return last_answer_;
    auto [it, inserted] = seen_.try_emplace(doc, false);
    if (inserted) it->second = allow_(*doc);
    last_doc_ = doc;
    last_answer_ = it->second;
    return it->second;
  }

 private:
  const DocPredicate& allow_;
  std::unordered_map<const DocInfo*, bool> seen_;
  const DocInfo* last_doc_ = nullptr;
  bool last_answer_ = false;
};

// The cores beyond the caller's that split searches may use at once, over
// all stores of the process. Under a full request load none is spare, and
// searches run whole on their own thread.
std::atomic<int> spare_cores{static_cast<int>(std::max(2u, std::thread::hardware_concurrency())) - 1};

bool claim_spare_core() {
  int n = spare_cores.load(std::memory_order_relaxed);
  while (n > 0) {
    if (spare_cores.compare_exchange_weak(n, n - 1, std::memory_order_acquire)) return true;
  }
  return false;
}

void release_spare_core() { spare_cores.fetch_add(1, std::memory_order_release); }

}  // namespace

Status StoreImpl::read_failure(Status error) const {
  read_errors_.fetch_add(1, std::memory_order_relaxed);
  index_log().error("store {}: {}", options_.dir.string(), error.to_string());
  return error;
}

Status StoreImpl::read_failure(const rocksdb::Status& s, const std::string& what) const {
  Status st = from_rocks(s, what);
  // A record that is referenced but missing is damage too, not "absent".
  if (st.code() == StatusCode::kNotFound) st = Status::corruption(what + ": record missing");
  return read_failure(std::move(st));
}

void StoreImpl::wait_for_writer() const { std::lock_guard w(write_mu_); }

Status StoreImpl::read_chunk(uint64_t label, Chunk& out) const {
  std::string v;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf(Cf::kChunks), codec::key_u64(label), &v);
  if (rs.IsNotFound()) return Status::not_found("chunk " + std::to_string(label));
  if (!rs.ok()) return read_failure(rs, "reading chunk " + std::to_string(label));
  if (!decode_chunk(v, out)) return read_failure(Status::corruption("chunk " + std::to_string(label) + " is malformed"));
  return Status::ok();
}

Result<Document> StoreImpl::get_document(const std::string& doc_id) const {
  // One RocksDB snapshot for both records: a concurrent remove cannot leave
  // a record without its text.
  rocksdb::ManagedSnapshot snap(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot();
  std::string rec_bytes;
  std::string text_bytes;
  rocksdb::Status rs = db_->Get(ro, cf(Cf::kDocuments), doc_id, &rec_bytes);
  if (rs.IsNotFound()) return Status::not_found("no document '" + doc_id + "'");
  if (!rs.ok()) return read_failure(rs, "reading document '" + doc_id + "'");
  DocRecord rec;
  Document doc;
  if (!decode_doc_record(rec_bytes, rec)) {
    return read_failure(Status::corruption("document '" + doc_id + "' has a malformed record"));
  }
  rs = db_->Get(ro, cf(Cf::kDocText), doc_id, &text_bytes);
  if (!rs.ok()) return read_failure(rs, "reading the text of document '" + doc_id + "'");
  if (!decode_doc_text(text_bytes, doc)) {
    return read_failure(Status::corruption("document '" + doc_id + "' has a malformed text record"));
  }
  doc.id = rec.info.id;
  doc.title = rec.info.title;
  doc.kind = rec.info.kind;
  doc.source = rec.info.source;
  doc.url = rec.info.url;
  doc.metadata = rec.info.metadata;
  doc.acl = rec.info.acl;
  doc.updated_at = rec.info.updated_at;
  doc.created_at = rec.created_at;
  return doc;
}

Result<std::vector<Chunk>> StoreImpl::chunks_of(const std::string& doc_id) const {
  // A write makes its batch durable before it flips the labels under mu_, so
  // a chunk record may be gone while its label still looks live: that is
  // the document being replaced, and the second try (after the writer) sees
  // the new labels. Gone on the second try is damage.
  for (int attempt = 0;; ++attempt) {
    {
      std::shared_lock lock(mu_);
      std::vector<Chunk> out;
      auto it = docs_.find(doc_id);
      if (it == docs_.end()) return out;
      out.reserve(it->second.labels.size());
      Status missing;
      for (uint64_t l : it->second.labels) {
        Chunk c;
        Status s = read_chunk(l, c);
        if (s.code() == StatusCode::kNotFound) {
          missing = std::move(s);
          break;
        }
        if (!s.is_ok()) return s;
        out.push_back(std::move(c));
      }
      if (missing.is_ok()) return out;
      if (attempt > 0) {
        return read_failure(Status::corruption("document '" + doc_id + "': " + missing.message() + " is missing"));
      }
    }
    wait_for_writer();
  }
}

Result<std::optional<StoredChunk>> StoreImpl::chunk(uint64_t label) const {
  for (int attempt = 0;; ++attempt) {
    {
      std::shared_lock lock(mu_);
      if (!live(label)) return std::optional<StoredChunk>();
      StoredChunk sc;
      Status s = read_chunk(label, sc.chunk);
      if (s.is_ok()) {
        sc.doc = slots_[label];
        return std::optional<StoredChunk>(std::move(sc));
      }
      if (s.code() != StatusCode::kNotFound) return s;
      // As in chunks_of(): removed by a write that has not flipped yet, or lost.
      if (attempt > 0) return read_failure(Status::corruption(s.message() + " is live but missing"));
    }
    wait_for_writer();
  }
}

Result<std::vector<float>> StoreImpl::chunk_vector(uint64_t label) const {
  std::shared_lock lock(mu_);
  std::vector<float> out;
  if (!live(label) || dim_ <= 0) return out;
  out.resize(static_cast<size_t>(dim_));
  if (ann_ && ann_->get(label, out)) return out;  // the ANN keeps the same normalised vector
  out.clear();
  std::string v;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf(Cf::kVectors), codec::key_u64(label), &v);
  // Not found: a document stored without vectors, or one being replaced.
  if (rs.IsNotFound()) return out;
  if (!rs.ok()) return read_failure(rs, "reading the vector of chunk " + std::to_string(label));
  if (v.size() != static_cast<size_t>(dim_) * sizeof(float)) {
    return read_failure(Status::corruption("the vector of chunk " + std::to_string(label) + " has " +
                                           std::to_string(v.size()) + " bytes, not dim " + std::to_string(dim_)));
  }
  out.resize(static_cast<size_t>(dim_));
  std::memcpy(out.data(), v.data(), v.size());
  return out;
}

std::vector<ScoredChunk> StoreImpl::search_lexical(std::span<const std::string> terms, size_t k,
                                                   const DocPredicate& allow, const LexicalStats* corpus) const {
  std::shared_lock lock(mu_);
  const Bm25Params params{options_.bm25_k1, options_.bm25_b};
  std::optional<std::vector<LexicalHit>> hits = search_lexical_split(terms, k, params, allow, corpus);
  if (!hits) {
    AllowCache cache(allow);
    auto accept = [&](uint32_t label) { return live(label) && cache(slots_[label].get()); };
    hits = lexical_.search(terms, k, params, accept, {}, corpus);
  }
  std::vector<ScoredChunk> out;
  out.reserve(hits->size());
  for (const auto& h : *hits) out.push_back({h.label, h.score});
  return out;
}

LexicalStats StoreImpl::lexical_stats(std::span<const std::string> terms) const {
  std::shared_lock lock(mu_);
  return lexical_.stats(terms);
}

Result<std::vector<ScoredChunk>> StoreImpl::search_vector(std::span<const float> query, size_t k,
                                                          const DocPredicate& allow) const {
  std::shared_lock lock(mu_);
  std::vector<ScoredChunk> out;
  if (!ann_ || k == 0 || query.size() != static_cast<size_t>(dim_)) return out;
  std::vector<float> q(query.begin(), query.end());
  double ss = 0;
  for (float x : q) ss += static_cast<double>(x) * x;
  if (!(ss > 0) || !std::isfinite(ss)) return out;
  for (float& x : q) x = static_cast<float>(x / std::sqrt(ss));

  // hnswlib 0.6.2 cannot filter inside the graph walk: over-fetch, check
  // each candidate, and widen the beam while too few survive.
  AllowCache cache(allow);
  const size_t live_vectors = ann_->size();
  // Most requests pass a predicate (ACL) that almost every chunk passes, so
  // the first try over-fetches only a little; a selective filter widens the
  // beam below (x4 a round) and ends in an exact scan.
  size_t fetch = allow ? k + k / 4 + 32 : k + 16;
  constexpr size_t kMaxFetch = 4096;
  for (;;) {
    auto hits = ann_->search(q, fetch, std::max<size_t>(fetch, static_cast<size_t>(options_.hnsw_ef_search)));
    if (!hits.is_ok()) return read_failure(hits.status().with_context("vector search"));
    out.clear();
    size_t rejected = 0;
    for (const auto& h : *hits) {
      if (!live(h.label) || !cache(slots_[h.label].get())) {
        ++rejected;
        continue;
      }
      out.push_back({h.label, h.score});
      if (out.size() == k) break;
    }
    if (out.size() >= k) return out;
    if (hits->size() < fetch) {
      // The walk reached every point it could: a wider beam finds nothing
      // more. Either it saw every vector (so `out` holds every allowed chunk
      // with its exact cosine), or the graph's reach from its entry point is
      // short (a knot of near-duplicates that links only to itself). Then
      // nothing was filtered out, and a full exact scan (seconds at 1M
      // chunks) would only fill in what an approximate search may miss
      // anyway: the search returns what the graph gives.
      if (hits->size() >= live_vectors || rejected == 0) return out;
      break;
    }
    if (fetch >= kMaxFetch || fetch >= live_vectors) break;
    fetch = std::min(fetch * 4, kMaxFetch);
  }
  // Selective filter: score the allowed chunks exactly.
  return exact_vector_search(q, k, allow);
}

// REQUIRES: mu_ held shared (the helper thread reads under the caller's lock,
// which is held until it has joined).
std::optional<std::vector<LexicalHit>> StoreImpl::search_lexical_split(std::span<const std::string> terms, size_t k,
                                                                       Bm25Params params,
                                                                       const DocPredicate& allow,
                                                                       const LexicalStats* corpus) const {
  if (options_.lexical_split_postings == 0 || k == 0) return std::nullopt;
  const LexicalIndex::Split split = lexical_.split_point(terms);
  if (split.postings < options_.lexical_split_postings || split.label == 0 || !claim_spare_core()) return std::nullopt;
  std::vector<LexicalHit> upper;
  std::exception_ptr upper_error;
  auto search_upper = [&] {
    try {
      AllowCache cache(allow);
      auto accept = [&](uint32_t label) { return live(label) && cache(slots_[label].get()); };
      upper = lexical_.search(terms, k, params, accept, {split.label, UINT32_MAX}, corpus);
    } catch (...) {
      upper_error = std::current_exception();
    }
  };
  std::thread helper;
  try {
    helper = std::thread(search_upper);
  } catch (const std::system_error&) {
    release_spare_core();  // no thread to be had: the caller searches whole
    return std::nullopt;
  }
  std::vector<LexicalHit> lower;
  std::exception_ptr lower_error;
  try {
    AllowCache cache(allow);
    auto accept = [&](uint32_t label) { return live(label) && cache(slots_[label].get()); };
    lower = lexical_.search(terms, k, params, accept, {0, split.label}, corpus);
  } catch (...) {
    lower_error = std::current_exception();
  }
  helper.join();
  release_spare_core();
  lexical_split_searches_.fetch_add(1, std::memory_order_relaxed);
  if (lower_error) std::rethrow_exception(lower_error);
  if (upper_error) std::rethrow_exception(upper_error);
  // Both halves are best first, ties by label, and every label of `lower`
  // is below every label of `upper`: a merge keeps that order.
  std::vector<LexicalHit> merged;
  merged.reserve(std::min(k, lower.size() + upper.size()));
  std::merge(lower.begin(), lower.end(), upper.begin(), upper.end(), std::back_inserter(merged),
             [](const LexicalHit& x, const LexicalHit& y) {
               return x.score != y.score ? x.score > y.score : x.label < y.label;
             });
  if (merged.size() > k) merged.resize(k);
  return merged;
}

// REQUIRES: mu_ held shared.
Result<std::vector<ScoredChunk>> StoreImpl::exact_vector_search(std::span<const float> query, size_t k,
                                                                const DocPredicate& allow) const {
  std::vector<std::string> keys;
  std::vector<uint64_t> labels;
  for (const auto& [id, entry] : docs_) {
    if (!entry.has_vectors || (allow && !allow(*entry.info))) continue;
    for (uint64_t l : entry.labels) {
      labels.push_back(l);
      keys.push_back(codec::key_u64(l));
    }
  }
  std::vector<ScoredChunk> all;
  const size_t bytes = static_cast<size_t>(dim_) * sizeof(float);
  constexpr size_t kBatch = 1024;
  std::vector<float> v(static_cast<size_t>(dim_));
  for (size_t begin = 0; begin < keys.size(); begin += kBatch) {
    size_t end = std::min(keys.size(), begin + kBatch);
    std::vector<rocksdb::Slice> slices(keys.begin() + static_cast<ptrdiff_t>(begin),
                                       keys.begin() + static_cast<ptrdiff_t>(end));
    std::vector<rocksdb::PinnableSlice> values(slices.size());
    std::vector<rocksdb::Status> statuses(slices.size());
    db_->MultiGet(rocksdb::ReadOptions(), cf(Cf::kVectors), slices.size(), slices.data(), values.data(),
                  statuses.data());
    for (size_t i = 0; i < slices.size(); ++i) {
      // Not found: no vectors, or a document being replaced (see chunks_of).
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) {
        return read_failure(statuses[i], "reading the vector of chunk " + std::to_string(labels[begin + i]));
      }
      if (values[i].size() != bytes) {
        return read_failure(Status::corruption("the vector of chunk " + std::to_string(labels[begin + i]) +
                                               " has " + std::to_string(values[i].size()) + " bytes"));
      }
      std::memcpy(v.data(), values[i].data(), bytes);
      float s = 0;
      for (size_t j = 0; j < v.size(); ++j) s += v[j] * query[j];
      all.push_back({labels[begin + i], s});
    }
  }
  size_t top = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(top), all.end(),
                    [](const ScoredChunk& a, const ScoredChunk& b) {
                      return a.score != b.score ? a.score > b.score : a.label < b.label;
                    });
  all.resize(top);
  return all;
}

void StoreImpl::for_each_document(const std::function<void(const std::string&)>& fn) const {
  std::vector<std::string> ids;
  {
    std::shared_lock lock(mu_);
    ids.reserve(docs_.size());
    for (const auto& [id, entry] : docs_) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  for (const auto& id : ids) fn(id);
}

void StoreImpl::for_each_document_info(const std::function<void(const DocInfo&)>& fn) const {
  std::vector<std::shared_ptr<const DocInfo>> infos;
  {
    std::shared_lock lock(mu_);
    infos.reserve(docs_.size());
    for (const auto& [id, entry] : docs_) infos.push_back(entry.info);
  }
  std::sort(infos.begin(), infos.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  for (const auto& info : infos) fn(*info);
}

StoreStats StoreImpl::stats() const {
  std::shared_lock lock(mu_);
  StoreStats s;
  s.documents = docs_.size();
  s.chunks = live_chunks_;
  s.index_type = index_type_;
  s.encoder = encoder_;
  s.dim = dim_;
  s.sequence = db_->GetLatestSequenceNumber();
  s.lexical_terms = lexical_.terms();
  s.ann_state = ann_state_;
  s.lexical_state = lexical_state_;
  s.open_seconds = open_seconds_;
  s.open_phases = open_phases_;
  if (!reindex_target_.empty()) {
    s.reindex.target = reindex_target_;
    s.reindex.dim = reindex_dim_;
    s.reindex.done = reindex_done_.load();
    s.reindex.total = std::max(live_chunks_, s.reindex.done);
  }
  s.reindex_discarded = reindex_discarded_;
  s.read_errors = read_errors_.load(std::memory_order_relaxed);
  s.lexical_split_searches = lexical_split_searches_.load(std::memory_order_relaxed);
  s.disk_full = no_space_.load();
  std::lock_guard rebuild_lock(rebuild_mu_);
  s.index_rebuilds = rebuilds_;
  s.last_rebuild = last_rebuild_;
  s.last_rebuild_ms = last_rebuild_ms_;
  return s;
}

}  // namespace ragd

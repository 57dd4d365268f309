// Store reads and searches. Every search holds mu_ shared from the index
// lookup to the last liveness check, so it sees each document either before
// or after a write, never half of it.
#include <rocksdb/db.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "index/codec.h"
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

}  // namespace

Result<Document> StoreImpl::get_document(const std::string& doc_id) const {
  std::shared_lock lock(mu_);
  std::string rec_bytes;
  std::string text_bytes;
  if (!db_->Get(rocksdb::ReadOptions(), cf(Cf::kDocuments), doc_id, &rec_bytes).ok()) {
    return Status::not_found("no document '" + doc_id + "'");
  }
  DocRecord rec;
  Document doc;
  if (!decode_doc_record(rec_bytes, rec) ||
      !db_->Get(rocksdb::ReadOptions(), cf(Cf::kDocText), doc_id, &text_bytes).ok() ||
      !decode_doc_text(text_bytes, doc)) {
    return Status::corruption("document '" + doc_id + "' is malformed in the store");
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

std::vector<Chunk> StoreImpl::chunks_of(const std::string& doc_id) const {
  std::shared_lock lock(mu_);
  std::vector<Chunk> out;
  auto it = docs_.find(doc_id);
  if (it == docs_.end()) return out;
  for (uint64_t l : it->second.labels) {
    std::string v;
    Chunk c;
    if (db_->Get(rocksdb::ReadOptions(), cf(Cf::kChunks), codec::key_u64(l), &v).ok() && decode_chunk(v, c)) {
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::optional<StoredChunk> StoreImpl::chunk(uint64_t label) const {
  std::shared_lock lock(mu_);
  if (!live(label)) return std::nullopt;
  std::string v;
  StoredChunk sc;
  if (!db_->Get(rocksdb::ReadOptions(), cf(Cf::kChunks), codec::key_u64(label), &v).ok() ||
      !decode_chunk(v, sc.chunk)) {
    return std::nullopt;
  }
  sc.doc = slots_[label];
  return sc;
}

std::vector<float> StoreImpl::chunk_vector(uint64_t label) const {
  std::shared_lock lock(mu_);
  std::vector<float> out;
  if (!live(label) || dim_ <= 0) return out;
  out.resize(static_cast<size_t>(dim_));
  if (ann_ && ann_->get(label, out)) return out;  // the ANN keeps the same normalised vector
  out.clear();
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), cf(Cf::kVectors), codec::key_u64(label), &v).ok() ||
      v.size() != static_cast<size_t>(dim_) * sizeof(float)) {
    return out;
  }
  out.resize(static_cast<size_t>(dim_));
  std::memcpy(out.data(), v.data(), v.size());
  return out;
}

std::vector<ScoredChunk> StoreImpl::search_lexical(std::span<const std::string> terms, size_t k,
                                                   const DocPredicate& allow) const {
  std::shared_lock lock(mu_);
  AllowCache cache(allow);
  auto accept = [&](uint32_t label) { return live(label) && cache(slots_[label].get()); };
  auto hits = lexical_.search(terms, k, Bm25Params{options_.bm25_k1, options_.bm25_b}, accept);
  std::vector<ScoredChunk> out;
  out.reserve(hits.size());
  for (const auto& h : hits) out.push_back({h.label, h.score});
  return out;
}

std::vector<ScoredChunk> StoreImpl::search_vector(std::span<const float> query, size_t k,
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
  bool complete = false;
  for (;;) {
    auto hits = ann_->search(q, fetch, std::max<size_t>(fetch, static_cast<size_t>(options_.hnsw_ef_search)));
    if (!hits.is_ok()) break;
    out.clear();
    for (const auto& h : *hits) {
      if (!live(h.label) || !cache(slots_[h.label].get())) continue;
      out.push_back({h.label, h.score});
      if (out.size() == k) break;
    }
    if (out.size() >= k) return out;
    if (hits->size() < fetch && fetch >= live_vectors) {
      complete = true;  // the index had nothing more to give
      break;
    }
    if (fetch >= kMaxFetch || fetch >= live_vectors) break;
    fetch = std::min(fetch * 4, kMaxFetch);
  }
  // The index gave every vector it holds, so `out` already holds every
  // allowed chunk with its exact cosine.
  if (complete) return out;
  // Selective filter: score the allowed chunks exactly.
  return exact_vector_search(q, k, allow);
}

// REQUIRES: mu_ held shared.
std::vector<ScoredChunk> StoreImpl::exact_vector_search(std::span<const float> query, size_t k,
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
      if (!statuses[i].ok() || values[i].size() != bytes) continue;
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
  if (!reindex_target_.empty()) {
    s.reindex.target = reindex_target_;
    s.reindex.dim = reindex_dim_;
    s.reindex.done = reindex_done_.load();
    s.reindex.total = std::max(live_chunks_, s.reindex.done);
  }
  s.reindex_discarded = reindex_discarded_;
  return s;
}

}  // namespace ragd

// FAISS adapter: any index_factory string, inner-product metric. Indexes
// without their own ids are wrapped in IndexIDMap2. Indexes that need training
// (IVF, PQ) collect vectors until there are enough to train on, and until then
// answer by exact search over what they collected. Indexes that cannot remove
// (HNSW) keep a set of deleted labels and filter them out of results. Every
// FAISS exception is caught here and becomes a Status.
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>

#include "index/vector_index.h"

namespace ragd {
namespace {

// The server runs one search per request thread; FAISS's own OpenMP teams
// would only oversubscribe the cores (and spin-wait) on top of that. The
// setting is per calling thread in libgomp.
void single_threaded() { omp_set_num_threads(1); }

constexpr char kMagic[8] = {'R', 'G', 'F', 'A', 'I', 'S', 'S', '1'};

class FaissIndex final : public VectorIndex {
 public:
  explicit FaissIndex(const VectorIndexOptions& options)
      : options_(options), factory_(options.type.substr(6)) {}

  Status init() {
    try {
      index_ = make_empty();
    } catch (const std::exception& e) {
      return Status::invalid_argument("faiss: index_factory(\"" + factory_ + "\"): " + e.what());
    }
    return Status::ok();
  }

  const VectorIndexOptions& options() const override { return options_; }
  size_t size() const override {
    std::shared_lock lock(mu_);
    return live_;
  }
  size_t deleted() const override {
    std::shared_lock lock(mu_);
    return deleted_.size();
  }

  Status add(std::span<const uint64_t> labels, std::span<const float> vectors) override {
    single_threaded();
    const size_t dim = static_cast<size_t>(options_.dim);
    if (vectors.size() != labels.size() * dim) {
      return Status::invalid_argument("faiss: add: " + std::to_string(vectors.size()) +
                                      " floats for " + std::to_string(labels.size()) + " labels");
    }
    if (labels.empty()) return Status::ok();
    std::unique_lock lock(mu_);
    try {
      if (!index_->is_trained) {
        pending_labels_.insert(pending_labels_.end(), labels.begin(), labels.end());
        pending_vectors_.insert(pending_vectors_.end(), vectors.begin(), vectors.end());
        live_ += labels.size();
        if (pending_labels_.size() >= train_size()) RAGD_RETURN_IF_ERROR(train_locked());
        return Status::ok();
      }
      std::vector<faiss::Index::idx_t> ids(labels.begin(), labels.end());
      index_->add_with_ids(static_cast<faiss::Index::idx_t>(ids.size()), vectors.data(), ids.data());
      live_ += labels.size();
    } catch (const std::exception& e) {
      return Status::internal("faiss (" + factory_ + "): add: " + e.what());
    }
    return Status::ok();
  }

  Status remove(uint64_t label) override {
    single_threaded();
    std::unique_lock lock(mu_);
    try {
      if (!index_->is_trained) {
        auto it = std::find(pending_labels_.begin(), pending_labels_.end(), label);
        if (it == pending_labels_.end()) return Status::ok();
        size_t i = static_cast<size_t>(it - pending_labels_.begin());
        const size_t dim = static_cast<size_t>(options_.dim);
        pending_labels_.erase(it);
        pending_vectors_.erase(pending_vectors_.begin() + static_cast<ptrdiff_t>(i * dim),
                               pending_vectors_.begin() + static_cast<ptrdiff_t>((i + 1) * dim));
        --live_;
        return Status::ok();
      }
      if (deleted_.count(label)) return Status::ok();
      if (can_remove_) {
        try {
          faiss::IDSelectorBatch sel(1, reinterpret_cast<const faiss::Index::idx_t*>(&label));
          size_t n = index_->remove_ids(sel);
          if (n > 0) --live_;
          return Status::ok();
        } catch (const std::exception&) {
          can_remove_ = false;  // e.g. HNSW: fall back to the deleted set
        }
      }
      deleted_.insert(label);
      if (live_ > 0) --live_;
    } catch (const std::exception& e) {
      return Status::internal("faiss (" + factory_ + "): remove " + std::to_string(label) + ": " +
                              e.what());
    }
    return Status::ok();
  }

  Result<std::vector<VectorHit>> search(std::span<const float> query, size_t k,
                                        size_t /*ef*/) const override {
    single_threaded();
    if (query.size() != static_cast<size_t>(options_.dim)) {
      return Status::invalid_argument("faiss: query has " + std::to_string(query.size()) +
                                      " floats, index dim is " + std::to_string(options_.dim));
    }
    std::vector<VectorHit> hits;
    if (k == 0) return hits;
    std::shared_lock lock(mu_);
    try {
      if (!index_->is_trained) return exact_pending(query, k);
      if (index_->ntotal == 0) return hits;
      size_t fetch = std::min<size_t>(static_cast<size_t>(index_->ntotal), k + deleted_.size());
      std::vector<float> dist(fetch);
      std::vector<faiss::Index::idx_t> ids(fetch);
      index_->search(1, query.data(), static_cast<faiss::Index::idx_t>(fetch), dist.data(), ids.data());
      for (size_t i = 0; i < fetch && hits.size() < k; ++i) {
        if (ids[i] < 0) break;
        uint64_t label = static_cast<uint64_t>(ids[i]);
        if (deleted_.count(label)) continue;
        hits.push_back({label, dist[i]});
      }
    } catch (const std::exception& e) {
      return Status::internal("faiss (" + factory_ + "): search: " + e.what());
    }
    return hits;
  }

  // File: magic, trained flag, live count, deleted labels, pending labels and
  // vectors, then the FAISS index as write_index() produced it.
  Status save(const std::filesystem::path& file) const override {
    std::shared_lock lock(mu_);
    try {
      faiss::VectorIOWriter w;
      faiss::write_index(index_.get(), &w);
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      auto put = [&](const void* p, size_t n) { out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); };
      auto put64 = [&](uint64_t v) { put(&v, 8); };
      put(kMagic, 8);
      put64(live_);
      put64(deleted_.size());
      for (uint64_t l : deleted_) put64(l);
      put64(pending_labels_.size());
      put(pending_labels_.data(), pending_labels_.size() * 8);
      put(pending_vectors_.data(), pending_vectors_.size() * sizeof(float));
      put64(w.data.size());
      put(w.data.data(), w.data.size());
      out.flush();
      if (!out) return Status::io_error("faiss: writing " + file.string() + " failed");
    } catch (const std::exception& e) {
      return Status::io_error("faiss: saving " + file.string() + ": " + e.what());
    }
    return Status::ok();
  }

  Status load(const std::filesystem::path& file) override {
    std::unique_lock lock(mu_);
    std::ifstream in(file, std::ios::binary);
    if (!in) return Status::io_error("faiss: cannot open " + file.string());
    std::error_code ec;
    const uint64_t file_size = std::filesystem::file_size(file, ec);
    auto corrupt = [&](const std::string& what) {
      return Status::corruption("faiss: " + file.string() + ": " + what);
    };
    auto get = [&](void* p, uint64_t n) {
      in.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
      return static_cast<bool>(in);
    };
    uint64_t v = 0;
    auto get64 = [&]() { return get(&v, 8); };
    char magic[8];
    if (ec || !get(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return corrupt("bad magic");
    try {
      if (!get64()) return corrupt("truncated");
      size_t live = v;
      if (!get64() || v > file_size / 8) return corrupt("bad deleted count");
      std::unordered_set<uint64_t> deleted;
      for (uint64_t i = 0, n = v; i < n; ++i) {
        if (!get64()) return corrupt("truncated deleted set");
        deleted.insert(v);
      }
      if (!get64() || v > file_size / 8) return corrupt("bad pending count");
      std::vector<uint64_t> pending_labels(v);
      std::vector<float> pending_vectors(v * static_cast<uint64_t>(options_.dim));
      if (v * 8 + pending_vectors.size() * 4 > file_size) return corrupt("bad pending count");
      if (!get(pending_labels.data(), v * 8) ||
          !get(pending_vectors.data(), pending_vectors.size() * sizeof(float))) {
        return corrupt("truncated pending vectors");
      }
      if (!get64() || v > file_size) return corrupt("bad index size");
      faiss::VectorIOReader r;
      r.data.resize(v);
      if (!get(r.data.data(), v)) return corrupt("truncated index");
      std::unique_ptr<faiss::Index> index(faiss::read_index(&r));
      if (index->d != options_.dim) return corrupt("dimension differs");
      configure(index.get());
      index_ = std::move(index);
      live_ = live;
      deleted_ = std::move(deleted);
      pending_labels_ = std::move(pending_labels);
      pending_vectors_ = std::move(pending_vectors);
    } catch (const std::exception& e) {
      return corrupt(e.what());
    }
    return Status::ok();
  }

 private:
  std::unique_ptr<faiss::Index> make_empty() const {
    std::unique_ptr<faiss::Index> base(
        faiss::index_factory(options_.dim, factory_.c_str(), faiss::METRIC_INNER_PRODUCT));
    bool has_ids = dynamic_cast<faiss::IndexIVF*>(base.get()) != nullptr ||
                   dynamic_cast<faiss::IndexIDMap*>(base.get()) != nullptr ||
                   dynamic_cast<faiss::IndexIDMap2*>(base.get()) != nullptr;
    if (!has_ids) {
      auto wrapped = std::make_unique<faiss::IndexIDMap2>(base.release());
      wrapped->own_fields = true;
      base = std::move(wrapped);
    }
    configure(base.get());
    return base;
  }

  void configure(faiss::Index* index) const {
    faiss::Index* inner = index;
    if (auto* map = dynamic_cast<faiss::IndexIDMap*>(index)) inner = map->index;
    if (auto* map2 = dynamic_cast<faiss::IndexIDMap2*>(index)) inner = map2->index;
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(inner)) {
      ivf->nprobe = static_cast<size_t>(std::max(1, options_.faiss_nprobe));
      ivf->make_direct_map(false);
    }
    // Polysemous training (on by default for factory "PQ" strings) costs
    // minutes and only helps Hamming-filtered search, which is not used.
    if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(inner)) ivfpq->do_polysemous_training = false;
    if (auto* pq = dynamic_cast<faiss::IndexPQ*>(inner)) pq->do_polysemous_training = false;
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(inner)) {
      hnsw->hnsw.efSearch = options_.hnsw_ef_search;
    }
  }

  size_t train_size() const {
    if (options_.faiss_train_size > 0) return options_.faiss_train_size;
    size_t need = 1000;
    const faiss::Index* inner = index_.get();
    if (auto* map2 = dynamic_cast<const faiss::IndexIDMap2*>(inner)) inner = map2->index;
    if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(inner)) need = std::max(need, 40 * ivf->nlist);
    return need;
  }

  // REQUIRES: mu_ held exclusively.
  Status train_locked() {
    const auto n = static_cast<faiss::Index::idx_t>(pending_labels_.size());
    index_->train(n, pending_vectors_.data());
    std::vector<faiss::Index::idx_t> ids(pending_labels_.begin(), pending_labels_.end());
    index_->add_with_ids(n, pending_vectors_.data(), ids.data());
    pending_labels_.clear();
    pending_labels_.shrink_to_fit();
    pending_vectors_.clear();
    pending_vectors_.shrink_to_fit();
    return Status::ok();
  }

  // REQUIRES: mu_ held (shared is enough).
  std::vector<VectorHit> exact_pending(std::span<const float> query, size_t k) const {
    const size_t dim = static_cast<size_t>(options_.dim);
    std::vector<VectorHit> all(pending_labels_.size());
    for (size_t i = 0; i < all.size(); ++i) {
      const float* v = pending_vectors_.data() + i * dim;
      float s = 0;
      for (size_t j = 0; j < dim; ++j) s += v[j] * query[j];
      all[i] = {pending_labels_[i], s};
    }
    size_t top = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(top), all.end(),
                      [](const VectorHit& a, const VectorHit& b) { return a.score > b.score; });
    all.resize(top);
    return all;
  }

  VectorIndexOptions options_;
  std::string factory_;
  mutable std::shared_mutex mu_;
  std::unique_ptr<faiss::Index> index_;
  size_t live_ = 0;
  bool can_remove_ = true;
  std::unordered_set<uint64_t> deleted_;
  std::vector<uint64_t> pending_labels_;
  std::vector<float> pending_vectors_;
};

}  // namespace

Result<std::unique_ptr<VectorIndex>> make_faiss_index(const VectorIndexOptions& options) {
  if (options.dim <= 0 || options.dim > 65536) {
    return Status::invalid_argument("faiss: bad dimension " + std::to_string(options.dim));
  }
  if (options.type.size() <= 6) return Status::invalid_argument("faiss: empty index_factory string");
  auto index = std::make_unique<FaissIndex>(options);
  RAGD_RETURN_IF_ERROR(index->init());
  return std::unique_ptr<VectorIndex>(std::move(index));
}

}  // namespace ragd

// hnswlib adapter: the default VectorIndex. Inner product on L2-normalised
// vectors; removals are hnswlib's markDelete; capacity doubles as needed.
// Every hnswlib exception is caught here and becomes a Status.
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "index/vector_index.h"

namespace ragd {
namespace {

class HnswIndex final : public VectorIndex {
 public:
  explicit HnswIndex(const VectorIndexOptions& options)
      : options_(options), space_(static_cast<size_t>(options.dim)) {}

  Status init(size_t capacity) {
    try {
      hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          &space_, std::max<size_t>(capacity, 1024), options_.hnsw_m, options_.hnsw_ef_construction,
          options_.seed);
      // The beam is passed per search through k (see search()); a shared ef_
      // of 1 lets max(ef_, k) be exactly that beam.
      hnsw_->setEf(1);
    } catch (const std::exception& e) {
      return Status::resource_exhausted(std::string("hnswlib: creating index: ") + e.what());
    }
    return Status::ok();
  }

  const VectorIndexOptions& options() const override { return options_; }
  size_t size() const override { return live_.load(std::memory_order_relaxed); }
  size_t deleted() const override { return deleted_.load(std::memory_order_relaxed); }

  Status add(std::span<const uint64_t> labels, std::span<const float> vectors) override {
    const size_t dim = static_cast<size_t>(options_.dim);
    if (vectors.size() != labels.size() * dim) {
      return Status::invalid_argument("hnswlib: add: " + std::to_string(vectors.size()) +
                                      " floats for " + std::to_string(labels.size()) +
                                      " labels of dim " + std::to_string(dim));
    }
    if (labels.empty()) return Status::ok();
    try {
      // hnswlib allows concurrent addPoint calls but not addPoint next to
      // searchKnn, so adds hold the lock exclusively, in slices to keep
      // searches waiting only briefly.
      constexpr size_t kSlice = 512;
      const size_t n = labels.size();
      for (size_t begin = 0; begin < n; begin += kSlice) {
        size_t end = std::min(n, begin + kSlice);
        std::unique_lock lock(mu_);
        size_t need = hnsw_->cur_element_count + (end - begin);
        if (need > hnsw_->max_elements_) {
          hnsw_->resizeIndex(std::max(need, hnsw_->max_elements_ * 2));
        }
        RAGD_RETURN_IF_ERROR(add_slice(labels.subspan(begin, end - begin),
                                       vectors.subspan(begin * dim, (end - begin) * dim)));
      }
      live_ += n;
    } catch (const std::exception& e) {
      return Status::internal(std::string("hnswlib: add: ") + e.what());
    }
    return Status::ok();
  }

  Status remove(uint64_t label) override {
    try {
      std::unique_lock lock(mu_);
      auto it = hnsw_->label_lookup_.find(label);
      if (it == hnsw_->label_lookup_.end() || hnsw_->isMarkedDeleted(it->second)) return Status::ok();
      hnsw_->markDelete(label);
      --live_;
      ++deleted_;
    } catch (const std::exception& e) {
      return Status::internal("hnswlib: remove " + std::to_string(label) + ": " + e.what());
    }
    return Status::ok();
  }

  Result<std::vector<VectorHit>> search(std::span<const float> query, size_t k,
                                        size_t ef) const override {
    if (query.size() != static_cast<size_t>(options_.dim)) {
      return Status::invalid_argument("hnswlib: query has " + std::to_string(query.size()) +
                                      " floats, index dim is " + std::to_string(options_.dim));
    }
    std::vector<VectorHit> hits;
    if (k == 0) return hits;
    try {
      std::shared_lock lock(mu_);
      if (hnsw_->cur_element_count == 0) return hits;
      // hnswlib 0.6.2 searches with max(ef_, k) and ef_ is shared, so a wider
      // beam is asked for through k and the surplus is cut below.
      size_t beam = std::max(k, ef > 0 ? ef : static_cast<size_t>(options_.hnsw_ef_search));
      auto pq = hnsw_->searchKnn(query.data(), beam);
      while (pq.size() > k) pq.pop();
      hits.resize(pq.size());
      for (size_t i = hits.size(); i-- > 0;) {
        hits[i] = {static_cast<uint64_t>(pq.top().second), 1.0f - pq.top().first};
        pq.pop();
      }
    } catch (const std::exception& e) {
      return Status::internal(std::string("hnswlib: search: ") + e.what());
    }
    return hits;
  }

  bool get(uint64_t label, std::span<float> out) const override {
    if (out.size() != static_cast<size_t>(options_.dim)) return false;
    std::shared_lock lock(mu_);
    auto it = hnsw_->label_lookup_.find(label);
    if (it == hnsw_->label_lookup_.end() || hnsw_->isMarkedDeleted(it->second)) return false;
    std::memcpy(out.data(), hnsw_->getDataByInternalId(it->second), out.size() * sizeof(float));
    return true;
  }

  Status save(const std::filesystem::path& file) const override {
    try {
      std::unique_lock lock(mu_);
      hnsw_->saveIndex(file.string());
    } catch (const std::exception& e) {
      return Status::io_error("hnswlib: saving " + file.string() + ": " + e.what());
    }
    return Status::ok();
  }

  Status load(const std::filesystem::path& file) override {
    // hnswlib's loadIndex trusts its input, and its destructor frees
    // pointers that a failed load leaves uninitialised, so the layout is
    // checked here first.
    RAGD_RETURN_IF_ERROR(check_layout(file));
    auto fresh = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space_);
    fresh->num_deleted_ = 0;  // this constructor leaves it uninitialised
    try {
      fresh->loadIndex(file.string(), &space_);
    } catch (const std::exception& e) {
      (void)fresh.release();  // its destructor is unsafe after a failed load: leak it
      return Status::corruption("hnswlib: loading " + file.string() + ": " + e.what());
    }
    fresh->setEf(1);  // see init()
    std::unique_lock lock(mu_);
    size_t deleted = fresh->num_deleted_;
    live_ = fresh->cur_element_count - deleted;
    deleted_ = deleted;
    hnsw_ = std::move(fresh);
    return Status::ok();
  }

  // Walks the file as saveIndex() wrote it and checks every size against the
  // space and the file length.
  Status check_layout(const std::filesystem::path& file) const {
    auto corrupt = [&](const std::string& why) {
      return Status::corruption("hnswlib: " + file.string() + ": " + why);
    };
    std::ifstream in(file, std::ios::binary);
    if (!in) return Status::io_error("hnswlib: cannot open " + file.string());
    std::error_code ec;
    const uint64_t file_size = std::filesystem::file_size(file, ec);
    if (ec) return Status::io_error("hnswlib: " + file.string() + ": " + ec.message());
    size_t offset_level0, max_elements, count, size_per_element, label_offset, offset_data;
    int max_level;
    unsigned int enter_point;
    size_t max_m, max_m0, m;
    double mult;
    size_t ef_construction;
    auto get = [&](auto& v) { in.read(reinterpret_cast<char*>(&v), sizeof v); return static_cast<bool>(in); };
    if (!get(offset_level0) || !get(max_elements) || !get(count) || !get(size_per_element) || !get(label_offset) ||
        !get(offset_data) || !get(max_level) || !get(enter_point) || !get(max_m) || !get(max_m0) || !get(m) ||
        !get(mult) || !get(ef_construction)) {
      return corrupt("truncated header");
    }
    const size_t data_size = static_cast<size_t>(options_.dim) * sizeof(float);
    if (max_m0 == 0 || max_m0 > 4096 || max_m == 0 || max_m > 4096 || offset_level0 != 0 ||
        offset_data != max_m0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint) ||
        label_offset != offset_data + data_size || size_per_element != label_offset + sizeof(hnswlib::labeltype) ||
        count > (uint64_t{1} << 32) || max_level < 0 || max_level > 64 || (count > 0 && enter_point >= count) ||
        !(mult > 0) || mult > 10) {
      return corrupt("header does not match a dim " + std::to_string(options_.dim) + " index");
    }
    const size_t links_per_level = max_m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
    uint64_t pos = static_cast<uint64_t>(in.tellg()) + count * size_per_element;
    if (pos > file_size) return corrupt("truncated vectors");
    in.seekg(static_cast<std::streamoff>(pos));
    for (size_t i = 0; i < count; ++i) {
      unsigned int size = 0;
      if (!get(size)) return corrupt("truncated link lists");
      if (size % links_per_level != 0 || size / links_per_level > 64) return corrupt("bad link list size");
      pos += sizeof(size) + size;
      if (pos > file_size) return corrupt("truncated link lists");
      in.seekg(static_cast<std::streamoff>(pos));
    }
    if (pos != file_size) return corrupt("trailing bytes");
    return Status::ok();
  }

 private:
  // REQUIRES: mu_ held exclusively.
  Status add_slice(std::span<const uint64_t> labels, std::span<const float> vectors) {
    const size_t dim = static_cast<size_t>(options_.dim);
    const size_t n = labels.size();
    int threads = std::clamp(options_.add_threads, 1, 64);
    if (n < 64) threads = 1;
    if (threads == 1) {
      for (size_t i = 0; i < n; ++i) hnsw_->addPoint(vectors.data() + i * dim, labels[i]);
      return Status::ok();
    }
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::string error;
    std::mutex error_mu;
    auto work = [&] {
      for (size_t i = next++; i < n && !failed; i = next++) {
        try {
          hnsw_->addPoint(vectors.data() + i * dim, labels[i]);
        } catch (const std::exception& e) {
          std::lock_guard g(error_mu);
          error = e.what();
          failed = true;
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    if (failed) return Status::internal("hnswlib: add: " + error);
    return Status::ok();
  }

  VectorIndexOptions options_;
  hnswlib::InnerProductSpace space_;
  // Searches share it; adds, removals, save and load hold it exclusively.
  mutable std::shared_mutex mu_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_;
  std::atomic<size_t> live_{0};
  std::atomic<size_t> deleted_{0};
};

}  // namespace

Result<std::unique_ptr<VectorIndex>> make_hnsw_index(const VectorIndexOptions& options) {
  if (options.dim <= 0 || options.dim > 65536) {
    return Status::invalid_argument("hnswlib: bad dimension " + std::to_string(options.dim));
  }
  if (options.hnsw_m < 2 || options.hnsw_m > 256 || options.hnsw_ef_construction < 1 ||
      options.hnsw_ef_search < 1) {
    return Status::invalid_argument("hnswlib: bad parameters (M " + std::to_string(options.hnsw_m) +
                                    ", ef_construction " +
                                    std::to_string(options.hnsw_ef_construction) + ")");
  }
  auto index = std::make_unique<HnswIndex>(options);
  RAGD_RETURN_IF_ERROR(index->init(1024));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

Result<std::unique_ptr<VectorIndex>> make_vector_index(const VectorIndexOptions& options) {
  if (options.type == "hnsw") return make_hnsw_index(options);
  if (options.type.rfind("faiss:", 0) == 0) return make_faiss_index(options);
  return Status::invalid_argument("unknown vector index type '" + options.type +
                                  "' (expected \"hnsw\" or \"faiss:<factory>\")");
}

}  // namespace ragd

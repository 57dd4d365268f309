// hnswlib adapter: the default VectorIndex. Inner product on L2-normalised
// vectors; removals are hnswlib's markDelete; capacity doubles as needed.
// Every hnswlib exception is caught here and becomes a Status.
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "index/snapshot.h"
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
      // Inserts may not run next to searchKnn, so adds hold the lock
      // exclusively, in slices to keep searches waiting only briefly; within
      // a slice add_slice() links points on several threads.
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

  // Reads the file saveIndex() wrote in one sequential pass through a 1 MiB
  // buffer, checking every size and link against the header and the file
  // length before it is used. hnswlib's own loadIndex() trusts its input (its
  // destructor then frees uninitialised pointers), and asks the file position
  // twice per point: a system call each, seconds at a million points.
  Status load(const std::filesystem::path& file) override {
    auto corrupt = [&](const std::string& why) {
      return Status::corruption("hnswlib: " + file.string() + ": " + why);
    };
    std::vector<char> buffer(1 << 20);
    std::ifstream in;
    in.rdbuf()->pubsetbuf(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    in.open(file, std::ios::binary);
    if (!in) return Status::io_error("hnswlib: cannot open " + file.string());
    std::error_code ec;
    const uint64_t file_size = std::filesystem::file_size(file, ec);
    if (ec) return Status::io_error("hnswlib: " + file.string() + ": " + ec.message());
    auto get = [&](void* p, size_t n) {
      in.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
      return static_cast<bool>(in);
    };
    Header h;
    if (!get(&h.offset_level0, 8) || !get(&h.max_elements, 8) || !get(&h.count, 8) || !get(&h.size_per_element, 8) ||
        !get(&h.label_offset, 8) || !get(&h.offset_data, 8) || !get(&h.max_level, 4) || !get(&h.enter_point, 4) ||
        !get(&h.max_m, 8) || !get(&h.max_m0, 8) || !get(&h.m, 8) || !get(&h.mult, 8) || !get(&h.ef_construction, 8)) {
      return corrupt("truncated header");
    }
    if (std::string why = check_header(h); !why.empty()) return corrupt(why);
    const uint64_t level0_bytes = h.count * h.size_per_element;
    if (kHeaderBytes + level0_bytes + h.count * sizeof(uint32_t) > file_size) return corrupt("truncated vectors");

    std::unique_ptr<Graph> g;
    try {
      g = std::make_unique<Graph>(&space_, std::max<size_t>(h.count, 1024), h.m, h.ef_construction, options_.seed);
    } catch (const std::exception& e) {
      return Status::resource_exhausted(std::string("hnswlib: loading ") + file.string() + ": " + e.what());
    }
    advise_huge_pages(g->data_level0_memory_, g->max_elements_ * g->size_data_per_element_);
    g->mult_ = h.mult;
    g->revSize_ = 1.0 / h.mult;
    g->ef_construction_ = h.ef_construction;
    size_t deleted = 0;
    try {
      if (!get(g->data_level0_memory_, level0_bytes)) return corrupt("truncated vectors");
      // The destructor frees linkLists_[i] for the points below
      // cur_element_count whose level is above 0; levels stay 0 until a list
      // is in place, so a failure below leaves a graph that is safe to destroy.
      g->cur_element_count = h.count;
      std::fill_n(g->linkLists_, h.count, nullptr);
      const size_t links_per_level = h.max_m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
      uint64_t pos = kHeaderBytes + level0_bytes;
      g->label_lookup_.reserve(h.count);
      for (size_t i = 0; i < h.count; ++i) {
        uint32_t size = 0;
        if (!get(&size, sizeof size)) return corrupt("truncated link lists");
        pos += sizeof size + size;
        if (pos > file_size) return corrupt("truncated link lists");
        if (size % links_per_level != 0 || static_cast<int64_t>(size / links_per_level) > h.max_level) {
          return corrupt("bad link list size at point " + std::to_string(i));
        }
        const auto id = static_cast<hnswlib::tableint>(i);
        if (size > 0) {
          char* lists = static_cast<char*>(std::malloc(size + kLinkListPad));
          if (lists == nullptr) return Status::resource_exhausted("hnswlib: out of memory loading " + file.string());
          std::memset(lists + size, 0, kLinkListPad);
          g->linkLists_[i] = lists;
          g->element_levels_[i] = static_cast<int>(size / links_per_level);
          if (!get(lists, size)) return corrupt("truncated link lists");
        }
        const hnswlib::labeltype label = g->getExternalLabel(id);
        if (!g->label_lookup_.emplace(label, id).second) return corrupt("label " + std::to_string(label) + " twice");
        if (g->isMarkedDeleted(id)) ++deleted;
      }
      if (pos != file_size) return corrupt("trailing bytes");
      // With every point's level known: each link of each level is checked.
      for (size_t i = 0; i < h.count; ++i) {
        for (int level = 0; level <= g->element_levels_[i]; ++level) {
          if (!links_in_range(*g, static_cast<hnswlib::tableint>(i), level)) {
            return corrupt("bad link at point " + std::to_string(i));
          }
        }
      }
    } catch (const std::exception& e) {
      return Status::resource_exhausted(std::string("hnswlib: loading ") + file.string() + ": " + e.what());
    }
    g->maxlevel_ = h.max_level;
    g->enterpoint_node_ = h.count > 0 ? h.enter_point : static_cast<hnswlib::tableint>(-1);
    if (h.count > 0 && g->element_levels_[h.enter_point] != h.max_level) {
      return corrupt("the entry point is not on the top level");
    }
    g->num_deleted_ = deleted;
    g->setEf(1);  // see init()
    std::unique_lock lock(mu_);
    live_ = h.count - deleted;
    deleted_ = deleted;
    hnsw_ = std::move(g);
    return Status::ok();
  }

 private:
  using Graph = hnswlib::HierarchicalNSW<float>;

  // hnswlib's beam search prefetches the entry after a list's last one
  // (`*(datal + j + 1)` in searchBaseLayer and searchBaseLayerST), so on a
  // full upper-level list it reads 4 bytes past the list's allocation: a
  // heap overflow that AddressSanitizer reports (the value only feeds a
  // prefetch). Every upper-level list therefore gets kLinkListPad spare
  // bytes, from add_slice() and from load(). Level 0 lives in one array
  // whose lists are followed by each point's vector, so it needs none.
  static constexpr size_t kLinkListPad = sizeof(hnswlib::tableint);

  // The fixed header saveIndex() writes, in its order.
  struct Header {
    size_t offset_level0 = 0, max_elements = 0, count = 0, size_per_element = 0, label_offset = 0, offset_data = 0;
    int max_level = 0;
    unsigned int enter_point = 0;
    size_t max_m = 0, max_m0 = 0, m = 0;
    double mult = 0;
    size_t ef_construction = 0;
  };
  static constexpr uint64_t kHeaderBytes = 6 * 8 + 4 + 4 + 3 * 8 + 8 + 8;

  // Empty when the header describes an index of this space that saveIndex()
  // could have written (M within make_hnsw_index's bounds), else why not.
  std::string check_header(const Header& h) const {
    const size_t data_size = static_cast<size_t>(options_.dim) * sizeof(float);
    if (h.m < 2 || h.m > 256 || h.max_m != h.m || h.max_m0 != 2 * h.m || h.offset_level0 != 0 ||
        h.offset_data != h.max_m0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint) ||
        h.label_offset != h.offset_data + data_size ||
        h.size_per_element != h.label_offset + sizeof(hnswlib::labeltype) || h.ef_construction < 1 ||
        h.ef_construction > (1u << 20)) {
      return "header does not match a dim " + std::to_string(options_.dim) + " index";
    }
    // An empty graph has no entry point and level -1.
    if (h.count > (uint64_t{1} << 32) || h.count > h.max_elements || h.max_level < -1 || h.max_level > 64 ||
        (h.count > 0 && (h.max_level < 0 || h.enter_point >= h.count)) || (h.count == 0 && h.max_level != -1) ||
        !(h.mult > 0) || h.mult > 10) {
      return "bad point count, level or entry point";
    }
    return "";
  }

  // The list of point `id` on `level` holds at most the level's M links, each
  // to a point of the graph that reaches that level (a search reads the
  // target's list of the same level): what searches then follow unchecked.
  static bool links_in_range(Graph& g, hnswlib::tableint id, int level) {
    hnswlib::linklistsizeint* list = level == 0 ? g.get_linklist0(id) : g.get_linklist(id, level);
    const size_t size = g.getListCount(list);
    if (size > (level == 0 ? g.maxM0_ : g.maxM_)) return false;
    const auto* ids = reinterpret_cast<const hnswlib::tableint*>(list + 1);
    for (size_t j = 0; j < size; ++j) {
      if (ids[j] >= g.cur_element_count || g.element_levels_[ids[j]] < level) return false;
    }
    return true;
  }

  // REQUIRES: mu_ held exclusively.
  //
  // Inserts without hnswlib's addPoint for new points: addPoint draws each
  // point's level from the index's one unlocked RNG (getRandomLevel, also
  // when a level is passed in), a data race between concurrent calls, and
  // holds the new point's link lock and then `global` for the whole
  // insertion while it takes other points' link locks: an order that two
  // insertions invert (TSan reports it even on one thread). So:
  //  1. on this thread, in order: labels already present are updated by
  //     hnswlib (addPoint's update path draws no level); every new point
  //     gets its internal id, its level (the RNG draws in insertion order,
  //     as serial addPoint calls would), its data and blank link lists.
  //     Without parallelism, or when a point starts the graph or raises its
  //     top level, the point is linked right away, so the entry point and
  //     top level never change while other threads link;
  //  2. on `threads` threads: the remaining points are linked with hnswlib's
  //     own searchBaseLayer / mutuallyConnectNewElement
  //     (link_concurrently() below), which take one link lock at a time and
  //     never hold one while taking another.
  // One thread gives the graph hnswlib's addPoint would build.
  Status add_slice(std::span<const uint64_t> labels, std::span<const float> vectors) {
    const size_t dim = static_cast<size_t>(options_.dim);
    const size_t n = labels.size();
    int threads = std::clamp(options_.add_threads, 1, 64);
    if (n < 64) threads = 1;
    Graph& g = *hnsw_;
    struct NewPoint {
      hnswlib::tableint id;
      const float* data;
      int level;
    };
    std::vector<NewPoint> deferred;
    if (threads > 1) deferred.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const float* data = vectors.data() + i * dim;
      const hnswlib::labeltype label = labels[i];
      if (g.label_lookup_.count(label)) {
        g.addPoint(data, label);  // an update, as hnswlib does it
        continue;
      }
      if (g.cur_element_count >= g.max_elements_) throw std::runtime_error("index is full");
      const auto id = static_cast<hnswlib::tableint>(g.cur_element_count++);
      g.label_lookup_[label] = id;
      const int level = g.getRandomLevel(g.mult_);
      g.element_levels_[id] = level;
      std::memset(g.data_level0_memory_ + id * g.size_data_per_element_ + g.offsetLevel0_, 0,
                  g.size_data_per_element_);
      std::memcpy(g.getExternalLabeLp(id), &label, sizeof label);
      std::memcpy(g.getDataByInternalId(id), data, g.data_size_);
      if (level > 0) {
        const size_t bytes = g.size_links_per_element_ * static_cast<size_t>(level) + 1 + kLinkListPad;
        g.linkLists_[id] = static_cast<char*>(std::calloc(1, bytes));
        if (g.linkLists_[id] == nullptr) throw std::bad_alloc();
      }
      if (threads == 1 || static_cast<int>(g.enterpoint_node_) == -1 || level > g.maxlevel_) {
        link(g, id, data, level);
      } else {
        deferred.push_back({id, data, level});
      }
    }
    if (deferred.empty()) return Status::ok();
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::string error;
    std::mutex error_mu;
    auto work = [&] {
      for (size_t i = next++; i < deferred.size() && !failed; i = next++) {
        try {
          link_concurrently(g, deferred[i].id, deferred[i].data, deferred[i].level);
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mu);
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

  // Greedy descent from `entry` on levels top .. level+1: the point closest
  // to `data` that the upper levels lead to.
  static hnswlib::tableint descend(Graph& g, hnswlib::tableint entry, const float* data, int top, int level) {
    hnswlib::tableint cur = entry;
    float cur_dist = g.fstdistfunc_(data, g.getDataByInternalId(cur), g.dist_func_param_);
    for (int l = top; l > level; --l) {
      for (bool changed = true; changed;) {
        changed = false;
        std::unique_lock lock(g.link_list_locks_[cur]);
        hnswlib::linklistsizeint* list = g.get_linklist(cur, l);
        const int size = g.getListCount(list);
        const hnswlib::tableint* ids = reinterpret_cast<const hnswlib::tableint*>(list + 1);
        for (int i = 0; i < size; ++i) {
          const hnswlib::tableint cand = ids[i];
          if (cand >= g.max_elements_) throw std::runtime_error("bad link in the graph");
          const float d = g.fstdistfunc_(data, g.getDataByInternalId(cand), g.dist_func_param_);
          if (d < cur_dist) {
            cur_dist = d;
            cur = cand;
            changed = true;
          }
        }
      }
    }
    return cur;
  }

  // link() for phase 2 of add_slice(), next to other link_concurrently()
  // calls. hnswlib connects a point level by level from the top down and
  // keeps it locked meanwhile, because once it is linked on a level, other
  // insertions can walk down through it and link to its lists on the lower
  // levels before it has. Without that lock the point is searched on every
  // level first and then connected from level 0 up: when another insertion
  // can reach it on a level, its lists on that level and every level below
  // are already in place. REQUIRES: level <= g.maxlevel_; the entry point
  // and top level do not change meanwhile.
  static void link_concurrently(Graph& g, hnswlib::tableint id, const float* data, int level) {
    using Candidates = std::priority_queue<std::pair<float, hnswlib::tableint>,
                                           std::vector<std::pair<float, hnswlib::tableint>>, Graph::CompareByFirst>;
    const hnswlib::tableint entry = g.enterpoint_node_;
    const bool entry_deleted = g.isMarkedDeleted(entry);
    hnswlib::tableint cur = descend(g, entry, data, g.maxlevel_, level);
    std::vector<Candidates> found(static_cast<size_t>(level) + 1);
    for (int l = level; l >= 0; --l) {
      Candidates candidates = g.searchBaseLayer(cur, data, l);
      if (entry_deleted) {
        candidates.emplace(g.fstdistfunc_(data, g.getDataByInternalId(entry), g.dist_func_param_), entry);
        if (candidates.size() > g.ef_construction_) candidates.pop();
      }
      // The next level down starts from the closest point found here.
      for (Candidates copy = candidates; !copy.empty(); copy.pop()) cur = copy.top().second;
      found[static_cast<size_t>(l)] = std::move(candidates);
    }
    for (int l = 0; l <= level; ++l) g.mutuallyConnectNewElement(data, id, found[static_cast<size_t>(l)], l, false);
  }

  // Links point `id` (data and blank lists in place) into the graph: a greedy
  // descent from the entry point to the point's level, then a beam search
  // and connection on each level below, as hnswlib's addPoint does. Raises
  // the entry point when the point is above it (REQUIRES: then no other
  // link() runs).
  static void link(Graph& g, hnswlib::tableint id, const float* data, int level) {
    if (static_cast<int>(g.enterpoint_node_) == -1) {  // the first point
      g.enterpoint_node_ = id;
      g.maxlevel_ = level;
      return;
    }
    const int top = g.maxlevel_;
    const hnswlib::tableint entry = g.enterpoint_node_;
    hnswlib::tableint cur = level < top ? descend(g, entry, data, top, level) : entry;
    const bool entry_deleted = g.isMarkedDeleted(entry);
    for (int l = std::min(level, top); l >= 0; --l) {
      auto candidates = g.searchBaseLayer(cur, data, l);
      if (entry_deleted) {
        candidates.emplace(g.fstdistfunc_(data, g.getDataByInternalId(entry), g.dist_func_param_), entry);
        if (candidates.size() > g.ef_construction_) candidates.pop();
      }
      cur = g.mutuallyConnectNewElement(data, id, candidates, l, false);
    }
    if (level > top) {
      g.enterpoint_node_ = id;
      g.maxlevel_ = level;
    }
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

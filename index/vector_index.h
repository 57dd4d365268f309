// VectorIndex: the approximate nearest-neighbour index behind Store. It is a
// derived structure: the vectors column family in RocksDB is the truth, and an
// index can always be rebuilt from it.
//
// Implementations: hnswlib (index/hnsw_index.cpp, the default) and FAISS with
// any index_factory string (index/faiss_index.cpp). Each adapter file catches
// its library's exceptions and returns a Status.
//
// Similarity is the inner product of L2-normalised vectors (cosine).
//
// Thread safety: search() and size() may run concurrently with each other and
// with one add()/remove() caller at a time (callers serialise writers).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ragd/status.h"

namespace ragd {

struct VectorIndexOptions {
  // "hnsw", or "faiss:<index_factory string>" ("faiss:Flat", "faiss:IVF256,PQ16",
  // "faiss:HNSW32"). Default: "hnsw".
  std::string type = "hnsw";
  // Vector dimension. Required (> 0).
  int dim = 0;
  // HNSW graph degree. Default: 16.
  int hnsw_m = 16;
  // HNSW construction beam width. Default: 100 (as StoreOptions).
  int hnsw_ef_construction = 100;
  // HNSW search beam width; a search for k > ef uses k. Default: 64.
  int hnsw_ef_search = 64;
  // Seed of the HNSW level generator. Default: 100.
  uint64_t seed = 100;
  // Threads used by add() for large batches (hnswlib only). Default: 1.
  int add_threads = 1;
  // FAISS: vectors needed before an index that needs training (IVF, PQ) is
  // trained; until then search is exact over the pending vectors.
  // 0 = 40 x the number of IVF lists or 1,000 for PQ-only. Default: 0.
  size_t faiss_train_size = 0;
  // FAISS IVF lists probed per query. Default: 16.
  int faiss_nprobe = 16;
};

struct VectorHit {
  uint64_t label = 0;
  float score = 0;  // inner product, higher is closer
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  virtual const VectorIndexOptions& options() const = 0;
  // Live vectors (added and not removed).
  virtual size_t size() const = 0;
  // Removed vectors still held inside the structure (hnswlib marks them).
  virtual size_t deleted() const = 0;

  // Adds n = labels.size() vectors, row-major n x dim. A label is new: labels
  // are never reused by the store.
  virtual Status add(std::span<const uint64_t> labels, std::span<const float> vectors) = 0;
  // Removes one vector; unknown labels are ignored.
  virtual Status remove(uint64_t label) = 0;
  // Up to k nearest by inner product, best first. `ef` is the search beam
  // width for HNSW (0 = options().hnsw_ef_search) and ignored elsewhere.
  virtual Result<std::vector<VectorHit>> search(std::span<const float> query, size_t k,
                                                size_t ef = 0) const = 0;

  // Copies the live vector of `label` (dim floats) into `out`. False when the
  // label is not live here, or the index does not keep vectors readable
  // (the caller then reads them from RocksDB).
  virtual bool get(uint64_t label, std::span<float> out) const {
    (void)label;
    (void)out;
    return false;
  }

  // Writes the whole index (including deletions) to `file` in the library's
  // own format, and reads it back into an empty index. The store wraps the
  // file with a checksummed header (see index/snapshot.h); load() trusts
  // that check and only guards against what the library itself reports.
  virtual Status save(const std::filesystem::path& file) const = 0;
  virtual Status load(const std::filesystem::path& file) = 0;
};

// Creates an empty index. Fails with kInvalidArgument on an unknown type or a
// FAISS factory string FAISS rejects.
Result<std::unique_ptr<VectorIndex>> make_vector_index(const VectorIndexOptions& options);

// Implementation hooks used by make_vector_index (one per adapter file).
Result<std::unique_ptr<VectorIndex>> make_hnsw_index(const VectorIndexOptions& options);
Result<std::unique_ptr<VectorIndex>> make_faiss_index(const VectorIndexOptions& options);

}  // namespace ragd

// KvCache's memory: positions take memory when they are written, not when
// the cache is made (kv_cache.h, "Memory on use").
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "model/kv_cache.h"
#include "model/quant.h"

namespace ragd {
namespace {

// Resident pages of [p, p + bytes) (p page-aligned).
size_t resident_pages(const void* p, size_t bytes) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((bytes + page - 1) / page);
  if (::mincore(const_cast<void*>(p), bytes, vec.data()) != 0) return SIZE_MAX;
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

TEST(KvCache, TakesMemoryOnlyForThePositionsWritten) {
  const int n_layer = 4, n_ctx = 4096, kv_dim = 256;
  for (KvType type : {KvType::kF16, KvType::kF32}) {
    KvCache cache(n_layer, n_ctx, kv_dim, type);
    const size_t elem = type == KvType::kF16 ? 2 : 4;
    ASSERT_EQ(cache.bytes(), static_cast<size_t>(n_layer) * 2 * n_ctx * kv_dim * elem);
    const void* base = cache.view(0).k;
    EXPECT_EQ(resident_pages(base, cache.bytes()), 0u);
    // Eight positions in every layer: 4 or 8 KiB of K and of V per layer.
    std::vector<float> k(8 * kv_dim, 0.5f), v(8 * kv_dim, -0.25f);
    for (int l = 0; l < n_layer; ++l) cache.store(l, 0, 8, k.data(), v.data());
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t written_pages = (8 * kv_dim * elem + page - 1) / page;
    EXPECT_LE(resident_pages(base, cache.bytes()), static_cast<size_t>(n_layer) * 2 * written_pages);
    // What was written reads back; what was not reads as zeros.
    const KvView view = cache.view(n_layer - 1);
    if (type == KvType::kF16) {
      const auto* kr = static_cast<const uint16_t*>(view.k);
      const auto* vr = static_cast<const uint16_t*>(view.v);
      EXPECT_EQ(fp16_to_fp32(kr[7 * kv_dim + 3]), 0.5f);
      EXPECT_EQ(fp16_to_fp32(vr[7 * kv_dim + 3]), -0.25f);
      EXPECT_EQ(kr[static_cast<size_t>(n_ctx - 1) * kv_dim], 0);
    } else {
      const auto* kr = static_cast<const float*>(view.k);
      EXPECT_EQ(kr[7 * kv_dim + 3], 0.5f);
      EXPECT_EQ(kr[static_cast<size_t>(n_ctx - 1) * kv_dim], 0.0f);
    }
    // Importing exported rows fills only those positions' pages too.
    KvCache other(n_layer, n_ctx, kv_dim, type);
    other.import_rows(cache.export_rows(8), 8, 8);
    EXPECT_LE(resident_pages(other.view(0).k, other.bytes()), static_cast<size_t>(n_layer) * 2 * written_pages);
  }
}

}  // namespace
}  // namespace ragd

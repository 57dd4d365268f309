// KvCache's memory: positions take memory when they are written, not when
// the cache is made (kv_cache.h, "Memory on use").
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/kv_cache.h"
#include "model/llama.h"
#include "model/quant.h"
#include "tests/sanitizer.h"
#include "tiny_models.h"

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

// A cache's size is computed, checked, before anything is mapped: a
// product past size_t, a zero dimension, and a cache larger than the
// machine's memory are errors that say which, never a mapping of a wrapped
// size or an exception.
TEST(KvCache, SizesAreCheckedBeforeMapping) {
  EXPECT_EQ(KvCache::bytes_for(2, 10, 64, KvType::kF16).value(), size_t{2} * 2 * 10 * 64 * 2);
  const Result<size_t> over = KvCache::bytes_for(1 << 20, 1 << 30, 1 << 26, KvType::kF32);
  ASSERT_FALSE(over.is_ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(over.status().message().find("overflows"), std::string::npos) << over.status().message();
  EXPECT_EQ(KvCache::bytes_for(2, 0, 64, KvType::kF16).status().code(), StatusCode::kInvalidArgument);
  // 30 layers x 2^30 positions x 192 values in f16: 24.7 TB.
  const Result<KvCache> huge = KvCache::create(30, 1 << 30, 192, KvType::kF16);
  ASSERT_FALSE(huge.is_ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(huge.status().message().find("more than this machine's"), std::string::npos) << huge.status().message();
}

// A session of a model file (the builder's tiny decoder) asked for a context
// no machine holds: create() says so with the positions asked for, where the
// constructor threw std::bad_alloc (a server answered 413, or cut a stream).
TEST(KvCache, ASessionTooLongForTheMachineIsAStatus) {
  testing_tiny::TinySpec spec;
  spec.layers = 2;
  spec.embd = 64;
  spec.heads = 4;
  spec.heads_kv = 4;  // 64 values a position and layer
  auto model = DecoderModel::load(testing_tiny::write_tiny_decoder(spec, nullptr, "kv_too_long"));
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  DecoderSessionOptions so;
  so.n_ctx = 2'000'000'000;  // 2 x 2 x 2e9 x 64 x 2 bytes: 1 TB
  auto s = DecoderSession::create(*model, so);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.status().message().find("2000000000 positions"), std::string::npos) << s.status().message();
  so.n_ctx = 64;
  auto ok = DecoderSession::create(*model, so);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ((*ok)->n_ctx(), 64);
}

// A mapping the kernel refuses (ENOMEM: here the address space is capped at
// what the process uses plus 64 MB, and the cache asks 512 MB) is
// kUnavailable with the reason, not std::bad_alloc.
TEST(KvCache, AMappingTheKernelRefusesIsAStatus) {
  if (ragd::testing::kSanitized) GTEST_SKIP() << "a sanitizer's shadow memory needs the address space";
  long vm_kb = 0;
  {
    std::ifstream st("/proc/self/status");
    for (std::string line; std::getline(st, line);) {
      if (line.rfind("VmSize:", 0) == 0) vm_kb = std::atol(line.c_str() + 7);
    }
  }
  ASSERT_GT(vm_kb, 0);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_AS, &old), 0);
  const rlimit cap{static_cast<rlim_t>(vm_kb + 64 * 1024) * 1024, old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_AS, &cap), 0);
  const Result<KvCache> refused = KvCache::create(2, 1 << 20, 64, KvType::kF16);  // 512 MiB
  ASSERT_EQ(::setrlimit(RLIMIT_AS, &old), 0);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("could not be mapped"), std::string::npos) << refused.status().message();
  EXPECT_TRUE(KvCache::create(2, 1 << 20, 64, KvType::kF16).is_ok()) << "the limit was restored";
}

}  // namespace
}  // namespace ragd

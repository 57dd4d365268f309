// Linear::forward_overwriting gives forward()'s result bit for bit, and what
// it leaves in x is the activations rounded as ggml rounds them.
#include <gtest/gtest.h>

#include <vector>

#include "model/matmul.h"
#include "model/model_builder.h"
#include "model/quant.h"

namespace ragd {
namespace {

TEST(LinearOverwriting, SameResultAsForwardAndRoundsInPlace) {
  const int64_t rows = 72, cols = 96;
  const auto w = normal_values(static_cast<size_t>(rows * cols), 1);
  std::vector<uint8_t> f16(w.size() * 2), q8(weight_row_bytes(WeightType::kQ8_0, cols) * rows);
  ASSERT_TRUE(quantize_row(WeightType::kF16, w.data(), f16.data(), rows * cols));
  ASSERT_TRUE(quantize_row(WeightType::kQ8_0, w.data(), q8.data(), rows * cols));
  for (WeightType type : {WeightType::kF16, WeightType::kQ8_0, WeightType::kF32}) {
    const void* data = type == WeightType::kF16 ? static_cast<const void*>(f16.data())
                       : type == WeightType::kQ8_0 ? static_cast<const void*>(q8.data())
                                                   : static_cast<const void*>(w.data());
    auto l = Linear::create(type, data, rows, cols, "w");
    ASSERT_TRUE(l.is_ok()) << l.status().to_string();
    for (int64_t m : {1, 5, 12, 40}) {  // the small, tiled and (Q8_0) prompt paths
      const auto x = normal_values(static_cast<size_t>(m * cols), 7 + static_cast<uint32_t>(m));
      std::vector<float> want(static_cast<size_t>(m * rows)), got(want.size(), -1.0f);
      (*l)->forward(x.data(), m, want.data(), 2);
      std::vector<float> xw = x;
      (*l)->forward_overwriting(xw.data(), m, got.data(), 2);
      EXPECT_EQ(got, want) << weight_type_name(type) << " m " << m;
      // x now holds what the GEMM multiplied: for F16 weights the f16-rounded
      // activations; for F32 it is untouched.
      std::vector<float> rounded(x.size());
      round_row_to_fp16(x.data(), rounded.data(), static_cast<int64_t>(x.size()));
      if (type == WeightType::kF32) {
        EXPECT_EQ(xw, x);
      } else if (type == WeightType::kF16) {
        EXPECT_EQ(xw, rounded) << "m " << m;
      }
    }
  }
}

}  // namespace
}  // namespace ragd

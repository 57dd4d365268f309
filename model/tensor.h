// Helpers that turn GGUF tensor infos into runtime weights, with the shape
// and type checks a model loader needs ("blk.3.attn_q.weight: expected
// [128, 128], file has [128, 64]").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/matmul.h"
#include "ragd/status.h"

namespace ragd {

// Reads GGUF metadata with the architecture prefix ("llama.block_count").
class HParamReader {
 public:
  HParamReader(const GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}
  Result<uint32_t> u32(std::string_view suffix) const;
  Result<uint32_t> u32_or(std::string_view suffix, uint32_t def) const;
  Result<float> f32_or(std::string_view suffix, float def) const;
  Result<bool> bool_or(std::string_view suffix, bool def) const;

 private:
  std::string key(std::string_view suffix) const { return arch_ + "." + std::string(suffix); }
  const GgufFile& file_;
  std::string arch_;
};

// Wraps a 2-D tensor [cols (ne0), rows (ne1)] as a Linear without copying.
// Checks the shape when expected_cols/rows are > 0.
Result<std::unique_ptr<Linear>> load_linear(const GgufFile& file, const std::string& name, int64_t expected_cols,
                                            int64_t expected_rows, LinearOptions options = {});
// Same, but returns nullptr when the tensor is absent.
Result<std::unique_ptr<Linear>> load_linear_optional(const GgufFile& file, const std::string& name,
                                                     int64_t expected_cols, int64_t expected_rows,
                                                     LinearOptions options = {});
// Copies a 1-D tensor of n elements (any supported type) into f32.
Result<std::vector<float>> load_vector(const GgufFile& file, const std::string& name, int64_t n);
// Same; an empty vector when absent.
Result<std::vector<float>> load_vector_optional(const GgufFile& file, const std::string& name, int64_t n);

}  // namespace ragd

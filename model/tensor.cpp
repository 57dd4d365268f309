#include "model/tensor.h"

namespace ragd {

Result<uint32_t> HParamReader::u32(std::string_view suffix) const { return file_.get_u32(key(suffix)); }
Result<uint32_t> HParamReader::u32_or(std::string_view suffix, uint32_t def) const {
  return file_.get_u32_or(key(suffix), def);
}
Result<float> HParamReader::f32_or(std::string_view suffix, float def) const {
  return file_.get_f32_or(key(suffix), def);
}
Result<bool> HParamReader::bool_or(std::string_view suffix, bool def) const {
  return file_.get_bool_or(key(suffix), def);
}

namespace {
std::string shape_str(const GgufTensorInfo& t) {
  std::string s = "[";
  for (int i = 0; i < t.n_dims; ++i) s += (i ? ", " : "") + std::to_string(t.ne[static_cast<size_t>(i)]);
  return s + "]";
}
}  // namespace

Result<std::unique_ptr<Linear>> load_linear_optional(const GgufFile& file, const std::string& name,
                                                     int64_t expected_cols, int64_t expected_rows,
                                                     LinearOptions options) {
  const GgufTensorInfo* t = file.tensor(name);
  if (t == nullptr) return std::unique_ptr<Linear>();
  if (t->n_dims != 2 || t->ne[2] != 1 || t->ne[3] != 1) {
    return Status::invalid_argument(name + ": expected a 2-D tensor, file has " + shape_str(*t));
  }
  if ((expected_cols > 0 && t->ne[0] != expected_cols) || (expected_rows > 0 && t->ne[1] != expected_rows)) {
    return Status::invalid_argument(name + ": expected [" + std::to_string(expected_cols) + ", " +
                                    std::to_string(expected_rows) + "], file has " + shape_str(*t));
  }
  if (!weight_type_supported(static_cast<uint32_t>(t->type))) {
    return Status::unimplemented(name + ": weight type " + ggml_type_name(t->type) +
                                 " is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K are)");
  }
  const auto type = static_cast<WeightType>(t->type);
  if (t->n_bytes < weight_row_bytes(type, t->ne[0]) * static_cast<size_t>(t->ne[1])) {
    return Status::corruption(name + ": tensor data is shorter than its shape");
  }
  auto l = Linear::create(type, file.data(*t), t->ne[1], t->ne[0], name, options);
  if (!l.is_ok()) return l.status();
  return std::move(l).value();
}

Result<std::unique_ptr<Linear>> load_linear(const GgufFile& file, const std::string& name, int64_t expected_cols,
                                            int64_t expected_rows, LinearOptions options) {
  RAGD_ASSIGN_OR_RETURN(auto l, load_linear_optional(file, name, expected_cols, expected_rows, options));
  if (!l) return Status::not_found("missing tensor " + name);
  return l;
}

Result<std::vector<float>> load_vector_optional(const GgufFile& file, const std::string& name, int64_t n) {
  const GgufTensorInfo* t = file.tensor(name);
  if (t == nullptr) return std::vector<float>();
  if (t->n_elements() != n) {
    return Status::invalid_argument(name + ": expected " + std::to_string(n) + " elements, file has " +
                                    shape_str(*t));
  }
  if (!weight_type_supported(static_cast<uint32_t>(t->type))) {
    return Status::unimplemented(name + ": type " + std::string(ggml_type_name(t->type)) + " is not supported");
  }
  const auto type = static_cast<WeightType>(t->type);
  if (n % weight_type_block_elems(type) != 0 || t->n_bytes < weight_row_bytes(type, n)) {
    return Status::corruption(name + ": tensor size does not match its type");
  }
  std::vector<float> v(static_cast<size_t>(n));
  dequantize_row(type, file.data(*t), v.data(), n);
  return v;
}

Result<std::vector<float>> load_vector(const GgufFile& file, const std::string& name, int64_t n) {
  RAGD_ASSIGN_OR_RETURN(auto v, load_vector_optional(file, name, n));
  if (v.empty()) return Status::not_found("missing tensor " + name);
  return v;
}

}  // namespace ragd

// Model builder: metadata keys and tensor layout of the decoder and encoder
// families, with the values left to the caller.
#include "model/model_builder.h"

#include <unistd.h>

#include <filesystem>

#include "model/quant.h"

namespace ragd {

namespace {

TensorSlot slot(int layer, std::string role, TensorKind kind, std::vector<int64_t> ne, GgmlType wtype) {
  TensorSlot t;
  const bool bias = kind == TensorKind::kNormBias || kind == TensorKind::kBias;
  t.name = (layer >= 0 ? "blk." + std::to_string(layer) + "." : std::string()) + role + (bias ? ".bias" : ".weight");
  t.role = std::move(role);
  t.layer = layer;
  t.kind = kind;
  t.ne = std::move(ne);
  t.type = kind == TensorKind::kMatrix ? wtype : GgmlType::F32;
  return t;
}

}  // namespace

int64_t TensorSlot::elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

Status add_decoder(GgufWriter& w, const DecoderShape& s, const TensorFill& fill) {
  const std::string& a = s.arch;
  w.add_str("general.architecture", a);
  if (!s.name.empty()) w.add_str("general.name", s.name);
  if (s.file_type) w.add_u32("general.file_type", *s.file_type);
  w.add_u32(a + ".context_length", static_cast<uint32_t>(s.n_ctx));
  w.add_u32(a + ".embedding_length", static_cast<uint32_t>(s.n_embd));
  w.add_u32(a + ".block_count", static_cast<uint32_t>(s.n_layer));
  w.add_u32(a + ".feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.add_u32(a + ".attention.head_count", static_cast<uint32_t>(s.n_head));
  w.add_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  w.add_f32(a + ".rope.freq_base", s.rope_base);
  w.add_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  if (s.rope_dimension_count) w.add_u32(a + ".rope.dimension_count", static_cast<uint32_t>(s.n_embd / s.n_head));

  const int64_t E = s.n_embd, kv = static_cast<int64_t>(s.n_embd / s.n_head) * s.n_head_kv, F = s.n_ff;
  const GgmlType t = s.wtype;
  RAGD_RETURN_IF_ERROR(fill(w, slot(-1, "token_embd", TensorKind::kMatrix, {E, s.n_vocab}, t)));
  RAGD_RETURN_IF_ERROR(fill(w, slot(-1, "output_norm", TensorKind::kNormWeight, {E}, t)));
  if (!s.tied) RAGD_RETURN_IF_ERROR(fill(w, slot(-1, "output", TensorKind::kMatrix, {E, s.n_vocab}, t)));
  for (int l = 0; l < s.n_layer; ++l) {
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "attn_norm", TensorKind::kNormWeight, {E}, t)));
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "ffn_norm", TensorKind::kNormWeight, {E}, t)));
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "attn_q", TensorKind::kMatrix, {E, E}, t)));
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "attn_k", TensorKind::kMatrix, {E, kv}, t)));
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "attn_v", TensorKind::kMatrix, {E, kv}, t)));
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "attn_output", TensorKind::kMatrix, {E, E}, t)));
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "ffn_gate", TensorKind::kMatrix, {E, F}, t)));
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "ffn_up", TensorKind::kMatrix, {E, F}, t)));
    RAGD_RETURN_IF_ERROR(fill(w, slot(l, "ffn_down", TensorKind::kMatrix, {F, E}, t)));
    if (s.qkv_bias) {
      RAGD_RETURN_IF_ERROR(fill(w, slot(l, "attn_q", TensorKind::kBias, {E}, t)));
      RAGD_RETURN_IF_ERROR(fill(w, slot(l, "attn_k", TensorKind::kBias, {kv}, t)));
      RAGD_RETURN_IF_ERROR(fill(w, slot(l, "attn_v", TensorKind::kBias, {kv}, t)));
    }
  }
  return Status::ok();
}

Status add_encoder(GgufWriter& w, const EncoderShape& s, const TensorFill& fill) {
  w.add_str("general.architecture", "bert");
  if (!s.name.empty()) w.add_str("general.name", s.name);
  if (s.file_type) w.add_u32("general.file_type", *s.file_type);
  w.add_u32("bert.context_length", static_cast<uint32_t>(s.n_ctx));
  w.add_u32("bert.embedding_length", static_cast<uint32_t>(s.n_embd));
  w.add_u32("bert.block_count", static_cast<uint32_t>(s.n_layer));
  w.add_u32("bert.feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.add_u32("bert.attention.head_count", static_cast<uint32_t>(s.n_head));
  w.add_f32("bert.attention.layer_norm_epsilon", 1e-12f);
  if (s.write_causal) w.add_bool("bert.attention.causal", false);
  w.add_u32("bert.pooling_type", s.pooling);

  const int64_t E = s.n_embd, F = s.n_ff;
  const GgmlType t = s.wtype;
  // A (weight, bias) pair: a matrix and its bias, or a norm's gain and bias.
  auto pair = [&](int layer, const std::string& role, std::vector<int64_t> ne, int64_t out) -> Status {
    const bool norm = ne.size() == 1;
    RAGD_RETURN_IF_ERROR(fill(w, slot(layer, role, norm ? TensorKind::kNormWeight : TensorKind::kMatrix, ne, t)));
    return fill(w, slot(layer, role, norm ? TensorKind::kNormBias : TensorKind::kBias, {out}, t));
  };
  RAGD_RETURN_IF_ERROR(fill(w, slot(-1, "token_embd", TensorKind::kMatrix, {E, s.n_vocab}, t)));
  RAGD_RETURN_IF_ERROR(fill(w, slot(-1, "token_types", TensorKind::kMatrix, {E, 2}, GgmlType::F32)));
  RAGD_RETURN_IF_ERROR(fill(w, slot(-1, "position_embd", TensorKind::kMatrix, {E, s.n_ctx}, t)));
  RAGD_RETURN_IF_ERROR(pair(-1, "token_embd_norm", {E}, E));
  for (int l = 0; l < s.n_layer; ++l) {
    for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output"}) RAGD_RETURN_IF_ERROR(pair(l, m, {E, E}, E));
    RAGD_RETURN_IF_ERROR(pair(l, "attn_output_norm", {E}, E));
    RAGD_RETURN_IF_ERROR(pair(l, "ffn_up", {E, F}, F));
    RAGD_RETURN_IF_ERROR(pair(l, "ffn_down", {F, E}, E));
    RAGD_RETURN_IF_ERROR(pair(l, "layer_output_norm", {E}, E));
  }
  return Status::ok();
}

void add_vocab(GgufWriter& w, const VocabSpec& v) {
  using V = GgufWriter::Value;
  w.add_str("tokenizer.ggml.model", v.model);
  if (!v.pre.empty()) w.add_str("tokenizer.ggml.pre", v.pre);
  w.add("tokenizer.ggml.tokens", V::array_str(v.tokens));
  if (!v.scores.empty()) w.add("tokenizer.ggml.scores", V::array_f32(v.scores));
  w.add("tokenizer.ggml.token_type", V::array_i32(v.types));
  if (!v.merges.empty()) w.add("tokenizer.ggml.merges", V::array_str(v.merges));
  for (const auto& [key, id] : v.ids) w.add_u32("tokenizer.ggml." + key + "_token_id", id);
  if (!v.chat_template.empty()) w.add_str("tokenizer.chat_template", v.chat_template);
}

Status add_tensor_values(GgufWriter& w, const TensorSlot& slot, std::span<const float> values) {
  if (static_cast<int64_t>(values.size()) != slot.elements()) {
    return Status::invalid_argument("model builder: " + slot.name + " needs " + std::to_string(slot.elements()) +
                                    " values, got " + std::to_string(values.size()));
  }
  if (slot.type == GgmlType::F32) return w.add_tensor_f32(slot.name, slot.ne, values);
  const int64_t n = slot.elements(), cols = slot.ne[0];
  std::vector<uint8_t> bytes(ggml_row_size(slot.type, cols) * static_cast<size_t>(n / cols));
  if (!weight_type_supported(static_cast<uint32_t>(slot.type)) ||
      !quantize_row(static_cast<WeightType>(slot.type), values.data(), bytes.data(), n)) {
    return Status::invalid_argument("model builder: " + slot.name + ": cannot convert f32 values to " +
                                    ggml_type_name(slot.type));
  }
  return w.add_tensor(slot.name, slot.type, slot.ne, bytes);
}

std::string temp_model_path(std::string_view prefix, std::string_view tag) {
  const std::string file = "ragd_" + std::string(prefix) + "_" + std::string(tag) + "_" +
                           std::to_string(::getpid()) + ".gguf";
  return (std::filesystem::temp_directory_path() / file).string();
}

std::vector<float> NormalWeights::draw(size_t n, float scale, float offset) {
  if (fresh_per_draw_) nd_ = std::normal_distribution<float>(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = offset + scale * nd_(rng_);
  return v;
}

}  // namespace ragd

// Model builder: the GGUF layout of the model families ragd loads (llama /
// qwen2 decoders, BERT encoders), for writing models with chosen or random
// weights. It knows the metadata keys, the tensor names, their shapes and
// their order, which model/llama.cpp and model/bert.cpp read back; the
// caller supplies the values of each tensor through a fill function and the
// vocabulary through VocabSpec. Used by the tests' tiny models and by
// bench/model_bench's realistic-size models.
//
// Thread safety: free functions over a caller-owned GgufWriter; no state.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/gguf.h"
#include "ragd/status.h"

namespace ragd {

// What a tensor is, for a fill function that picks values by kind.
enum class TensorKind {
  kMatrix,      // a 2-D weight (embeddings included)
  kNormWeight,  // the gain vector of a norm
  kNormBias,    // the bias vector of a (layer) norm
  kBias,        // the bias vector of a projection
};

// One tensor the builder asks a fill function for.
struct TensorSlot {
  std::string name;         // full GGUF name, e.g. "blk.3.attn_q.weight"
  std::string role;         // name without "blk.N." and ".weight"/".bias", e.g. "attn_q"
  int layer = -1;           // block index; -1 for tensors outside the blocks
  TensorKind kind = TensorKind::kMatrix;
  std::vector<int64_t> ne;  // ggml order: ne[0] = row length
  GgmlType type = GgmlType::F32;  // the shape's weight type for matrices, F32 for vectors
  int64_t elements() const;
};

// Adds the tensor for `slot` (use add_tensor_values, or GgufWriter::add_tensor
// with bytes of another type). Called once per tensor, in file order.
using TensorFill = std::function<Status(GgufWriter& w, const TensorSlot& slot)>;

// A llama-family decoder (llama: interleaved RoPE; qwen2: NeoX RoPE).
struct DecoderShape {
  std::string arch = "llama";  // "llama" or "qwen2". Default: "llama"
  std::string name;            // general.name; "" = not written. Default: ""
  std::optional<uint32_t> file_type;  // general.file_type (llama.cpp ftype). Default: not written
  int n_vocab = 48;            // rows of token_embd. Default: 48
  int n_embd = 32;             // model width. Default: 32
  int n_layer = 2;             // blocks. Default: 2
  int n_head = 4;              // query heads. Default: 4
  int n_head_kv = 2;           // key/value heads (GQA when < n_head). Default: 2
  int n_ff = 64;               // feed-forward width. Default: 64
  int n_ctx = 64;              // <arch>.context_length, tokens. Default: 64
  float rope_base = 10000.0f;  // <arch>.rope.freq_base. Default: 10000
  bool rope_dimension_count = false;  // also write <arch>.rope.dimension_count (head size). Default: false
  bool tied = true;            // no output.weight: logits from token_embd. Default: true
  bool qkv_bias = false;       // attn_q/k/v biases (qwen2). Default: false
  GgmlType wtype = GgmlType::F32;  // type of the weight matrices; vectors stay F32. Default: F32
};

// A BERT-family encoder (post-norm, learned positions, GELU).
struct EncoderShape {
  std::string name;            // general.name; "" = not written. Default: ""
  std::optional<uint32_t> file_type;  // general.file_type. Default: not written
  int n_vocab = 64;            // rows of token_embd. Default: 64
  int n_embd = 32;             // model width. Default: 32
  int n_layer = 2;             // blocks. Default: 2
  int n_head = 4;              // heads. Default: 4
  int n_ff = 64;               // feed-forward width. Default: 64
  int n_ctx = 64;              // learned positions (bert.context_length). Default: 64
  uint32_t pooling = 2;        // bert.pooling_type: 1 mean, 2 cls. Default: 2
  bool write_causal = false;   // also write bert.attention.causal = false. Default: false
  GgmlType wtype = GgmlType::F32;  // type of token/position embeddings and weight matrices. Default: F32
};

// The tokenizer.* keys of a vocabulary.
struct VocabSpec {
  std::string model;                  // tokenizer.ggml.model: "llama", "gpt2", "bert"
  std::string pre;                    // tokenizer.ggml.pre; "" = not written
  std::vector<std::string> tokens;    // tokenizer.ggml.tokens
  std::vector<float> scores;          // tokenizer.ggml.scores; empty = not written
  std::vector<int32_t> types;         // tokenizer.ggml.token_type
  std::vector<std::string> merges;    // tokenizer.ggml.merges; empty = not written
  // Special token ids, by the key's middle part: {"bos", 1} writes
  // tokenizer.ggml.bos_token_id = 1 ("eos", "unknown", "seperator" [sic,
  // llama.cpp's key], "padding", "cls", "mask").
  std::vector<std::pair<std::string, uint32_t>> ids;
  std::string chat_template;          // tokenizer.chat_template; "" = not written
};

// Writes the architecture metadata and every tensor of the decoder into `w`
// (the vocabulary is the caller's: add_vocab). Tensor order: token_embd,
// output_norm, [output], then per block attn_norm, ffn_norm, attn_q, attn_k,
// attn_v, attn_output, ffn_gate, ffn_up, ffn_down, [attn_q/k/v biases].
Status add_decoder(GgufWriter& w, const DecoderShape& s, const TensorFill& fill);

// The same for an encoder. Tensor order (llama.cpp's): token_embd,
// token_types, position_embd, token_embd_norm (weight, bias), then per block attn_q, attn_k,
// attn_v, attn_output (each weight then bias), attn_output_norm, ffn_up,
// ffn_down, layer_output_norm (each weight then bias).
Status add_encoder(GgufWriter& w, const EncoderShape& s, const TensorFill& fill);

void add_vocab(GgufWriter& w, const VocabSpec& v);

// Adds `values` (f32, row-major, ne[0] per row) as the slot's tensor,
// converted to slot.type by quantize_row (rows of whole blocks).
Status add_tensor_values(GgufWriter& w, const TensorSlot& slot, std::span<const float> values);

// <temp dir>/ragd_<prefix>_<tag>_<pid>.gguf: a model file name that tests
// running at the same time do not share.
std::string temp_model_path(std::string_view prefix, std::string_view tag);

// Normal random weights: offset + scale * N(0, 1) from std::mt19937 with a
// fixed seed, reproducible.
class NormalWeights {
 public:
  // fresh_per_draw: each draw starts a new std::normal_distribution, which
  // drops the second value of the pair it had computed; the tiny decoder
  // models were made that way, and keep their weights with it. Default:
  // false (one distribution across draws).
  explicit NormalWeights(uint32_t seed, bool fresh_per_draw = false) : rng_(seed), fresh_per_draw_(fresh_per_draw) {}
  std::vector<float> draw(size_t n, float scale, float offset = 0.0f);

 private:
  std::mt19937 rng_;
  std::normal_distribution<float> nd_{0.0f, 1.0f};
  bool fresh_per_draw_;
};

// n values of N(0, scale^2) from a fresh std::mt19937(seed).
inline std::vector<float> normal_values(size_t n, uint32_t seed, float scale = 1.0f) {
  return NormalWeights(seed).draw(n, scale);
}

}  // namespace ragd

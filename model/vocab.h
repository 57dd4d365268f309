// The vocabulary of a model, read from GGUF metadata (tokenizer.ggml.*).
// Immutable after load_vocab(): the tokenizer sessions only read it, so one
// Vocab serves any number of threads. Internal to model/; the public face is
// Tokenizer (tokenizer.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/gguf.h"
#include "model/unicode_split.h"
#include "ragd/status.h"

namespace ragd {

enum class VocabType { kSpm, kBpe, kWpm };

// Token attributes (bit set), as llama.cpp derives them from token_type.
namespace token_attr {
inline constexpr uint32_t kUndefined = 0;
inline constexpr uint32_t kUnknown = 1u << 0;
inline constexpr uint32_t kUnused = 1u << 1;
inline constexpr uint32_t kNormal = 1u << 2;
inline constexpr uint32_t kControl = 1u << 3;
inline constexpr uint32_t kUserDefined = 1u << 4;
inline constexpr uint32_t kByte = 1u << 5;
inline constexpr uint32_t kLstrip = 1u << 7;  // eat whitespace left of the token when splitting it out
inline constexpr uint32_t kRstrip = 1u << 8;  // eat whitespace right of it
}  // namespace token_attr

inline constexpr int32_t kNullToken = -1;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Vocab {
  VocabType type = VocabType::kSpm;
  std::string model;        // tokenizer.ggml.model ("llama", "gpt2", "bert")
  std::string pre;          // tokenizer.ggml.pre as written ("" when absent)
  PreTokenizer pre_type = PreTokenizer::kDefault;

  std::vector<std::string> text;   // by id
  std::vector<float> score;        // by id
  std::vector<uint32_t> attr;      // by id, token_attr bits
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> to_id;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> bpe_rank;  // "left\0right" -> rank
  size_t max_token_len = 0;        // bytes

  int32_t bos = kNullToken, eos = kNullToken, eot = kNullToken, eom = kNullToken;
  int32_t unk = kNullToken, sep = kNullToken, pad = kNullToken, mask = kNullToken;
  int32_t fim_pre = kNullToken, fim_suf = kNullToken, fim_mid = kNullToken;
  int32_t fim_pad = kNullToken, fim_rep = kNullToken, fim_sep = kNullToken;
  std::unordered_set<int32_t> eog;  // end-of-generation ids

  bool add_space_prefix = false;
  bool add_bos = false;
  bool add_eos = false;
  bool ignore_merges = false;
  bool clean_spaces = false;

  // Control, user-defined and unknown tokens, longest text first: split out of
  // the text before the model's tokenizer runs.
  std::vector<int32_t> special_tokens;
  std::vector<std::string> piece;  // token_to_piece(id, special=true), precomputed

  size_t n_tokens() const { return text.size(); }
  bool valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < text.size(); }
  int32_t find(std::string_view s) const {
    auto it = to_id.find(s);
    return it == to_id.end() ? kNullToken : it->second;
  }
  int32_t find_bpe_rank(std::string_view left, std::string_view right) const;
  // The byte token of an SPM vocabulary ("<0x41>", else the byte itself), or unk.
  int32_t byte_to_token(uint8_t byte) const;
};

// Errors name the key ("tokenizer.ggml.scores has 10 entries, tokens 12").
Result<Vocab> load_vocab(const GgufFile& file);

}  // namespace ragd

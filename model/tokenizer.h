// Text <-> token ids for the three tokenizer families a GGUF file can carry:
// SentencePiece-style BPE ("llama", with <0xXX> byte fallback), byte-level BPE
// ("gpt2", with the pre-tokenizer named by tokenizer.ggml.pre) and WordPiece
// ("bert"). Results match llama.cpp's llama_tokenize / llama_detokenize.
//
// Thread safety: a Tokenizer is immutable after from_gguf(); every call keeps
// its working state on its own stack, so one Tokenizer serves many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/gguf.h"
#include "ragd/status.h"

namespace ragd {

struct Vocab;

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from the file. The Tokenizer copies what it needs:
  // it does not keep a reference to `file`.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& file);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: add BOS/EOS (CLS/SEP for WordPiece) as the model asks.
  // parse_special: text such as "<|im_start|>" becomes its control token;
  // user-defined tokens are always split out (as in llama.cpp).
  std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const;

  // The text of one token. Control/unknown tokens give "" unless `special`.
  std::string token_to_piece(int32_t id, bool special = true) const;
  // Text of a sequence, with SentencePiece's leading space removed and the
  // model's clean-up of spaces before punctuation. `special` renders control
  // tokens as their text; `remove_special` drops a leading BOS / trailing EOS
  // that the model adds itself.
  std::string decode(std::span<const int32_t> ids, bool special = false, bool remove_special = false) const;

  size_t n_vocab() const;
  // Raw token text as stored in the file (e.g. "▁the", "Ġthe", "<0x0A>").
  const std::string& token_text(int32_t id) const;
  float token_score(int32_t id) const;
  // Token with exactly this raw text, or -1.
  int32_t find_token(std::string_view text) const;

  // Special ids; -1 when the vocabulary has none.
  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;
  int32_t unk() const;
  int32_t sep() const;
  int32_t pad() const;
  int32_t cls() const { return bos(); }  // WordPiece: [CLS] is the BOS id
  bool add_bos() const;
  bool add_eos() const;
  bool is_eog(int32_t id) const;      // end of generation (EOS, EOT, <|im_end|>, ...)
  bool is_control(int32_t id) const;

  const std::string& model() const;  // "llama", "gpt2", "bert"
  const std::string& pre() const;    // tokenizer.ggml.pre, "" if absent

 private:
  explicit Tokenizer(std::unique_ptr<Vocab> vocab);
  std::unique_ptr<const Vocab> vocab_;
};

// Splits a llama.cpp tokenizer test file (.inp) into its cases: the separator
// is "\n__ggml_vocab_test__\n" and the text after the last one is no case.
std::vector<std::string> split_vocab_test_cases(std::string_view text);

}  // namespace ragd

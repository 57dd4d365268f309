// Pre-tokenizers of byte-level BPE: hand-written splitters that reproduce the
// regular expressions of each model family (as applied by llama.cpp, whose
// ids the conformance tests compare with). std::regex cannot express \p{L},
// so each expression is a small matcher over code points and their Unicode
// categories. Expressions are applied one after another: each one splits every
// piece left by the previous one into matches and the text between them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragd {

enum class PreTokenizer {
  kDefault,        // gpt-neox and files without tokenizer.ggml.pre
  kGpt2,           // gpt-2, mpt, olmo, jais, phi-2, roberta-bpe, ...
  kLlama3,         // llama-bpe / llama3 / falcon3 / dbrx / smaug-bpe
  kQwen2,          // qwen2, stablelm2, deepseek-r1-qwen, megrez
  kDeepseekLlm,
  kDeepseekCoder,
  kFalcon,
  kStarcoder,      // starcoder, refact, smollm, command-r, codeshell, exaone, minerva-7b
};

// Splits `text` into words (UTF-8; invalid bytes become U+FFFD) that the BPE
// merges then work on independently.
std::vector<std::string> pre_tokenize(std::string_view text, PreTokenizer pre);

}  // namespace ragd

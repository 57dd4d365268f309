// The per-call tokenizers of each family. Each call owns its working state
// (symbols, merge queue); the Vocab is only read.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "model/vocab.h"

namespace ragd {

// SentencePiece BPE over text whose spaces are already "▁".
void tokenize_spm(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);
// Byte-level BPE: pre-tokenizer, byte encoding, then ranked merges per word.
void tokenize_bpe(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);
// WordPiece: lowercase, strip accents, split on whitespace and punctuation,
// then the longest vocabulary match from the left ("▁" marks a word start).
void tokenize_wpm(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

}  // namespace ragd

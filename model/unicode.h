// Unicode helpers for the tokenizers: UTF-8 decoding the way llama.cpp does it
// (an invalid byte becomes U+FFFD and decoding moves on by one byte), general
// categories and White_Space from utf8proc, lowercase, the first code point of
// the NFD decomposition, and GPT-2's byte <-> printable code point mapping.
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ragd::unicode {

// Category flags of a code point, one category bit plus is_whitespace.
struct CptFlags {
  bool is_undefined = false;    // Cn
  bool is_number = false;       // \p{N}
  bool is_letter = false;       // \p{L}
  bool is_separator = false;    // \p{Z}
  bool is_mark = false;         // \p{M}
  bool is_punctuation = false;  // \p{P}
  bool is_symbol = false;       // \p{S}
  bool is_control = false;      // \p{C} except Cn
  bool is_whitespace = false;   // Unicode White_Space (what \s matches)
};

CptFlags cpt_flags(uint32_t cpt);

// Bytes in a UTF-8 sequence judged by its lead byte only (1 for stray bytes).
size_t utf8_len(char lead);
// Decodes the whole string; each invalid byte gives U+FFFD.
std::vector<uint32_t> utf8_to_cpts(std::string_view s);
// Encodes one code point (values past U+10FFFF give U+FFFD).
void append_utf8(std::string& out, uint32_t cpt);
std::string cpt_to_utf8(uint32_t cpt);

uint32_t to_lower(uint32_t cpt);
// The first code point of the canonical decomposition ("é" -> "e").
uint32_t nfd_first(uint32_t cpt);

// GPT-2 byte-level encoding: each byte maps to one printable code point.
const std::string& byte_to_utf8(uint8_t byte);
// The byte for a byte-level code point, or -1.
int utf8_to_byte(uint32_t cpt);

}  // namespace ragd::unicode

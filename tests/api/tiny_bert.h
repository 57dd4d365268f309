// Test support: a tiny BERT-family encoder GGUF (random weights, WordPiece
// vocabulary of the given words) written with ragd's GgufWriter, for
// `ragd serve --embed-model` tests. The tensors and metadata are the ones
// model/bert.cpp reads.
#pragma once

#include <cctype>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/gguf.h"

namespace ragd::test {

struct TinyBertSpec {
  int embd = 32, layers = 2, heads = 4, ff = 64;
  // Learned positions: texts longer than ctx - 1 tokens are truncated.
  int ctx = 64;
  uint32_t pooling = 1;  // 1 mean, 2 cls (bert.pooling_type)
  uint32_t seed = 11;
  std::string name = "tiny-bert";
};

// The lowercased words of `texts` (letters and digits), for the vocabulary.
inline std::vector<std::string> tiny_bert_words(const std::vector<std::string>& texts) {
  std::set<std::string> words;
  for (const auto& t : texts) {
    std::string w;
    for (char ch : t + " ") {
      auto c = static_cast<unsigned char>(ch);
      if (std::isalnum(c) != 0) {
        w.push_back(static_cast<char>(std::tolower(c)));
      } else if (!w.empty()) {
        words.insert(w);
        w.clear();
      }
    }
  }
  return {words.begin(), words.end()};
}

// Writes the encoder to `path`. Vocabulary: [PAD] [UNK] [CLS] [SEP], every
// word of `words` as a word start, common punctuation, and "query" /
// "passage" for the e5 prefixes.
inline void write_tiny_bert(const std::filesystem::path& path, const std::vector<std::string>& words,
                            const TinyBertSpec& s = {}) {
  const std::string sp = "\xe2\x96\x81";  // WordPiece word start, as GGUF BERT vocabularies store it
  std::vector<std::string> toks = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
  std::set<std::string> seen;
  auto add_word = [&](const std::string& w) {
    if (seen.insert(w).second) toks.push_back(sp + w);
  };
  for (const char* w : {"query", "passage", "represent", "this", "sentence", "for", "searching", "relevant",
                        "passages", ":", ".", ",", "?", "!", "-", "/", "#", "'", "(", ")"}) {
    add_word(w);
  }
  for (const auto& w : words) add_word(w);
  std::vector<int32_t> types(toks.size(), 1);
  for (int i = 0; i < 4; ++i) types[static_cast<size_t>(i)] = 3;

  std::mt19937 rng(s.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto rnd = [&](size_t n, float scale, float offset = 0.0f) {
    std::vector<float> v(n);
    for (auto& x : v) x = offset + scale * nd(rng);
    return v;
  };
  const int64_t E = s.embd, V = static_cast<int64_t>(toks.size());
  const float is = 1.0f / std::sqrt(static_cast<float>(s.embd));

  GgufWriter w;
  w.add_str("general.architecture", "bert");
  w.add_str("general.name", s.name);
  w.add_u32("bert.context_length", static_cast<uint32_t>(s.ctx));
  w.add_u32("bert.embedding_length", static_cast<uint32_t>(s.embd));
  w.add_u32("bert.block_count", static_cast<uint32_t>(s.layers));
  w.add_u32("bert.feed_forward_length", static_cast<uint32_t>(s.ff));
  w.add_u32("bert.attention.head_count", static_cast<uint32_t>(s.heads));
  w.add_f32("bert.attention.layer_norm_epsilon", 1e-12f);
  w.add_u32("bert.pooling_type", s.pooling);
  w.add_str("tokenizer.ggml.model", "bert");
  w.add("tokenizer.ggml.tokens", GgufWriter::Value::array_str(toks));
  w.add("tokenizer.ggml.token_type", GgufWriter::Value::array_i32(types));
  w.add_u32("tokenizer.ggml.unknown_token_id", 1);
  w.add_u32("tokenizer.ggml.bos_token_id", 2);
  w.add_u32("tokenizer.ggml.seperator_token_id", 3);
  w.add_u32("tokenizer.ggml.padding_token_id", 0);

  auto put = [&](const std::string& name, std::vector<int64_t> ne, const std::vector<float>& v) {
    Status st = w.add_tensor_f32(name, std::move(ne), v);
    if (!st.is_ok()) throw std::runtime_error("tiny bert: " + st.to_string());
  };
  put("token_embd.weight", {E, V}, rnd(static_cast<size_t>(E * V), 1.0f));
  put("position_embd.weight", {E, s.ctx}, rnd(static_cast<size_t>(E) * s.ctx, 0.3f));
  put("token_types.weight", {E, 2}, rnd(static_cast<size_t>(E) * 2, 0.1f));
  put("token_embd_norm.weight", {E}, rnd(static_cast<size_t>(E), 0.1f, 1.0f));
  put("token_embd_norm.bias", {E}, rnd(static_cast<size_t>(E), 0.1f));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      put(p + m + ".weight", {E, E}, rnd(static_cast<size_t>(E * E), is));
      put(p + m + ".bias", {E}, rnd(static_cast<size_t>(E), 0.1f));
    }
    put(p + "attn_output_norm.weight", {E}, rnd(static_cast<size_t>(E), 0.1f, 1.0f));
    put(p + "attn_output_norm.bias", {E}, rnd(static_cast<size_t>(E), 0.1f));
    put(p + "ffn_up.weight", {E, s.ff}, rnd(static_cast<size_t>(E) * s.ff, is));
    put(p + "ffn_up.bias", {s.ff}, rnd(static_cast<size_t>(s.ff), 0.1f));
    put(p + "ffn_down.weight", {s.ff, E}, rnd(static_cast<size_t>(E) * s.ff, 1.0f / std::sqrt(float(s.ff))));
    put(p + "ffn_down.bias", {E}, rnd(static_cast<size_t>(E), 0.1f));
    put(p + "layer_output_norm.weight", {E}, rnd(static_cast<size_t>(E), 0.1f, 1.0f));
    put(p + "layer_output_norm.bias", {E}, rnd(static_cast<size_t>(E), 0.1f));
  }
  Status st = w.write(path.string());
  if (!st.is_ok()) throw std::runtime_error("tiny bert: " + st.to_string());
}

}  // namespace ragd::test

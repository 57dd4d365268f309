// Test support: a tiny BERT-family encoder GGUF (random weights, WordPiece
// vocabulary of the given words) written with ragd's GgufWriter, for
// `ragd serve --embed-model` tests. The tensors and metadata are the ones
// model/bert.cpp reads.
#pragma once

#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/model_builder.h"

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

  EncoderShape shape;
  shape.name = s.name;
  shape.n_vocab = static_cast<int>(toks.size());
  shape.n_embd = s.embd;
  shape.n_layer = s.layers;
  shape.n_head = s.heads;
  shape.n_ff = s.ff;
  shape.n_ctx = s.ctx;
  shape.pooling = s.pooling;
  NormalWeights rnd(s.seed);
  const float is = 1.0f / std::sqrt(static_cast<float>(s.embd));
  GgufWriter w;
  // Positions are drawn before the token types (this model's weights since
  // it was first written), though the file stores them after.
  std::vector<float> positions;
  Status st = add_encoder(w, shape, [&](GgufWriter& out, const TensorSlot& t) {
    if (t.role == "token_types") positions = rnd.draw(static_cast<size_t>(s.embd) * s.ctx, 0.3f);
    if (t.role == "position_embd") return add_tensor_values(out, t, positions);
    float scale = 0.1f, offset = 0.0f;
    if (t.kind == TensorKind::kNormWeight) {
      offset = 1.0f;
    } else if (t.role == "token_embd") {
      scale = 1.0f;
    } else if (t.role == "ffn_down" && t.kind == TensorKind::kMatrix) {
      scale = 1.0f / std::sqrt(static_cast<float>(s.ff));
    } else if (t.kind == TensorKind::kMatrix && t.role != "token_types") {
      scale = is;
    }
    return add_tensor_values(out, t, rnd.draw(static_cast<size_t>(t.elements()), scale, offset));
  });
  VocabSpec v;
  v.model = "bert";
  v.tokens = std::move(toks);
  v.types = std::move(types);
  v.ids = {{"unknown", 1}, {"bos", 2}, {"seperator", 3}, {"padding", 0}};
  add_vocab(w, v);
  if (st.is_ok()) st = w.write(path.string());
  if (!st.is_ok()) throw std::runtime_error("tiny bert: " + st.to_string());
}

}  // namespace ragd::test

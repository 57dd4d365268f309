// Test support for the LLM answer path: a random-weight tiny llama model
// with a real SentencePiece-style vocabulary (byte fallback, ChatML markers,
// whole words with every prefix so merges can build them), written with
// GgufWriter. Shared with bench/answer_bench.cpp, which writes a
// SmolLM2-135M-shaped model with it (vocab_size, f16, path).
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/model_builder.h"

namespace ragd::testing_llm {

inline const std::string kSpace = "\xe2\x96\x81";  // ▁

struct TinyLlmSpec {
  int embd = 32, layers = 2, heads = 4, heads_kv = 2, ff = 64, ctx = 1024;
  uint32_t seed = 11;
  std::vector<std::string> words;  // vocabulary words (lowercase and as written)
  // Vocabulary size: pieces beyond it are dropped, and never-matched
  // "<fillerN>" tokens pad it up to this size. 0 = exactly the pieces.
  int vocab_size = 0;
  bool f16 = false;      // weight matrices stored as F16 (norm vectors stay F32)
  std::string path;      // output file; "" = temp dir, named by tag and pid
  std::string name;      // general.name; "" = not set
};

// Writes the model; returns its path. Token ids: 0 <unk>, 1 <s>, 2 </s>,
// 3 <|im_start|>, 4 <|im_end|>, 5..260 bytes <0x00>..<0xFF>, then pieces.
inline std::string write_tiny_llm(const TinyLlmSpec& s, const std::string& tag) {
  std::vector<std::string> toks = {"<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"};
  std::vector<int32_t> types = {2, 3, 3, 3, 3};
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    toks.push_back(buf);
    types.push_back(6);
  }
  std::set<std::string> pieces;
  for (char c = 33; c < 127; ++c) pieces.insert(std::string(1, c));
  pieces.insert(kSpace);
  for (const auto& w : s.words) {
    const std::string full = kSpace + w;
    // every prefix (in whole UTF-8 characters; the words are ASCII)
    for (size_t n = kSpace.size() + 1; n <= full.size(); ++n) pieces.insert(full.substr(0, n));
    for (size_t n = 2; n <= w.size(); ++n) pieces.insert(w.substr(0, n));
  }
  std::vector<float> scores(toks.size(), 0.0f);
  for (const auto& p : pieces) {
    if (s.vocab_size > 0 && static_cast<int>(toks.size()) >= s.vocab_size) break;
    toks.push_back(p);
    types.push_back(1);
    scores.push_back(static_cast<float>(p.size()));  // longer merges win
  }
  for (int i = 0; static_cast<int>(toks.size()) < s.vocab_size; ++i) {
    toks.push_back("<filler" + std::to_string(i) + ">");
    types.push_back(4);  // user-defined: never produced by the tokenizer from text
    scores.push_back(0.0f);
  }
  DecoderShape shape;
  shape.name = s.name;
  shape.n_vocab = static_cast<int>(toks.size());
  shape.n_embd = s.embd;
  shape.n_layer = s.layers;
  shape.n_head = s.heads;
  shape.n_head_kv = s.heads_kv;
  shape.n_ff = s.ff;
  shape.n_ctx = s.ctx;
  shape.wtype = s.f16 ? GgmlType::F16 : GgmlType::F32;
  NormalWeights rnd(s.seed);
  const float is = 1.0f / std::sqrt(static_cast<float>(s.embd));
  GgufWriter w;
  (void)add_decoder(w, shape, [&](GgufWriter& out, const TensorSlot& t) {
    float scale = is, offset = 0.0f;
    if (t.kind == TensorKind::kNormWeight) {
      scale = 0.1f, offset = 1.0f;
    } else if (t.role == "token_embd") {
      scale = 1.0f;
    } else if (t.role == "attn_q" || t.role == "attn_k") {
      scale = 2 * is;
    } else if (t.role == "ffn_down") {
      scale = 0.125f;
    }
    return add_tensor_values(out, t, rnd.draw(static_cast<size_t>(t.elements()), scale, offset));
  });
  VocabSpec v;
  v.model = "llama";
  v.tokens = std::move(toks);
  v.scores = std::move(scores);
  v.types = std::move(types);
  v.ids = {{"bos", 1}, {"eos", 2}, {"unknown", 0}};
  v.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
  add_vocab(w, v);
  const auto path = !s.path.empty() ? s.path : temp_model_path("llm", tag);
  (void)w.write(path);
  return path;
}

// The words of some texts (letters and digits runs, as written), distinct.
inline std::vector<std::string> words_of(const std::vector<std::string>& texts) {
  std::set<std::string> out;
  for (const auto& t : texts) {
    std::string cur;
    for (char c : t + " ") {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        cur.push_back(c);
      } else if (!cur.empty()) {
        out.insert(cur);
        cur.clear();
      }
    }
  }
  return {out.begin(), out.end()};
}

#ifdef RAGD_SOURCE_DIR
inline std::string prompts_dir() { return RAGD_SOURCE_DIR "/generate/prompts"; }
#endif

}  // namespace ragd::testing_llm

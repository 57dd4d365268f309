// Test support for the LLM answer path: a random-weight tiny llama model
// with a real SentencePiece-style vocabulary (byte fallback, ChatML markers,
// whole words with every prefix so merges can build them), written with
// GgufWriter. Shared with bench/answer_bench.cpp, which writes a
// SmolLM2-135M-shaped model with it (vocab_size, f16, path).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/quant.h"

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
  const int vocab = static_cast<int>(toks.size());
  std::mt19937 rng(s.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto rnd = [&](size_t n, float scale, float offset = 0.0f) {
    std::vector<float> v(n);
    for (auto& x : v) x = offset + scale * nd(rng);
    return v;
  };
  const int hd = s.embd / s.heads, kv = s.heads_kv * hd;
  const float is = 1.0f / std::sqrt(static_cast<float>(s.embd));
  GgufWriter w;
  w.add_str("general.architecture", "llama");
  if (!s.name.empty()) w.add_str("general.name", s.name);
  w.add_u32("llama.context_length", static_cast<uint32_t>(s.ctx));
  w.add_u32("llama.embedding_length", static_cast<uint32_t>(s.embd));
  w.add_u32("llama.block_count", static_cast<uint32_t>(s.layers));
  w.add_u32("llama.feed_forward_length", static_cast<uint32_t>(s.ff));
  w.add_u32("llama.attention.head_count", static_cast<uint32_t>(s.heads));
  w.add_u32("llama.attention.head_count_kv", static_cast<uint32_t>(s.heads_kv));
  w.add_f32("llama.rope.freq_base", 10000.0f);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_str("tokenizer.ggml.model", "llama");
  w.add("tokenizer.ggml.tokens", GgufWriter::Value::array_str(toks));
  w.add("tokenizer.ggml.scores", GgufWriter::Value::array_f32(scores));
  w.add("tokenizer.ggml.token_type", GgufWriter::Value::array_i32(types));
  w.add_u32("tokenizer.ggml.bos_token_id", 1);
  w.add_u32("tokenizer.ggml.eos_token_id", 2);
  w.add_u32("tokenizer.ggml.unknown_token_id", 0);
  w.add_str("tokenizer.chat_template",
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}");
  // A weight matrix of `cols` x `rows` (GGUF order), F32 or F16.
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows, std::vector<float> v) {
    if (!s.f16) return w.add_tensor_f32(name, {cols, rows}, v);
    std::vector<uint8_t> bytes(v.size() * 2);
    fp32_to_fp16_row(v.data(), reinterpret_cast<uint16_t*>(bytes.data()), static_cast<int64_t>(v.size()));
    return w.add_tensor(name, GgmlType::F16, {cols, rows}, bytes);
  };
  (void)matrix("token_embd.weight", s.embd, vocab, rnd(static_cast<size_t>(vocab) * s.embd, 1.0f));
  (void)w.add_tensor_f32("output_norm.weight", {s.embd}, rnd(s.embd, 0.1f, 1.0f));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    (void)w.add_tensor_f32(p + "attn_norm.weight", {s.embd}, rnd(s.embd, 0.1f, 1.0f));
    (void)w.add_tensor_f32(p + "ffn_norm.weight", {s.embd}, rnd(s.embd, 0.1f, 1.0f));
    (void)matrix(p + "attn_q.weight", s.embd, s.embd, rnd(static_cast<size_t>(s.embd) * s.embd, 2 * is));
    (void)matrix(p + "attn_k.weight", s.embd, kv, rnd(static_cast<size_t>(kv) * s.embd, 2 * is));
    (void)matrix(p + "attn_v.weight", s.embd, kv, rnd(static_cast<size_t>(kv) * s.embd, is));
    (void)matrix(p + "attn_output.weight", s.embd, s.embd, rnd(static_cast<size_t>(s.embd) * s.embd, is));
    (void)matrix(p + "ffn_gate.weight", s.embd, s.ff, rnd(static_cast<size_t>(s.ff) * s.embd, is));
    (void)matrix(p + "ffn_up.weight", s.embd, s.ff, rnd(static_cast<size_t>(s.ff) * s.embd, is));
    (void)matrix(p + "ffn_down.weight", s.ff, s.embd, rnd(static_cast<size_t>(s.embd) * s.ff, 0.125f));
  }
  const auto path = !s.path.empty() ? s.path
                                     : (std::filesystem::temp_directory_path() /
                                        ("ragd_llm_" + tag + "_" + std::to_string(::getpid()) + ".gguf")).string();
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

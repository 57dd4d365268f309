// Test support: tiny llama / qwen2 / bert GGUF files with chosen random
// weights, written with GgufWriter, and reference forward passes in double.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/gguf.h"
#include "model/model_builder.h"

namespace ragd::testing_tiny {

struct TinySpec {
  std::string arch = "llama";
  int vocab = 48, embd = 32, layers = 2, heads = 4, heads_kv = 2, ff = 64, ctx = 64;
  float rope_base = 10000.0f;
  bool tied = true;
  bool qkv_bias = false;
  uint32_t seed = 7;
  GgmlType wtype = GgmlType::F32;
  bool with_tokenizer = true;
};

// All weights of a tiny decoder, in f32 [rows][cols] (row = output feature).
struct TinyWeights {
  std::vector<float> embd, out_norm, output;
  struct Layer {
    std::vector<float> attn_norm, ffn_norm, wq, wk, wv, wo, gate, up, down, bq, bk, bv;
  };
  std::vector<Layer> layers;
};

inline std::vector<std::string> tiny_vocab(int n) {
  std::vector<std::string> t = {"<unk>", "<s>", "</s>"};
  const char* pieces[] = {"\xe2\x96\x81", "a", "b", "c", "d", "e", "\xe2\x96\x81" "the", "\xe2\x96\x81" "cat",
                          "\xe2\x96\x81" "sat", "s", "t", "\xe2\x96\x81" "on", "x", "y", "z", "!"};
  for (int i = 0; static_cast<int>(t.size()) < n; ++i) {
    if (i < 16) {
      t.push_back(pieces[i]);
    } else {
      t.push_back("\xe2\x96\x81w" + std::to_string(i));
    }
  }
  return t;
}

// The tensor of `slot` in W.
inline const std::vector<float>& tiny_weight(const TinyWeights& W, const TensorSlot& slot) {
  if (slot.layer < 0) return slot.role == "token_embd" ? W.embd : slot.role == "output" ? W.output : W.out_norm;
  const auto& L = W.layers[static_cast<size_t>(slot.layer)];
  const bool bias = slot.kind == TensorKind::kBias;
  if (slot.role == "attn_norm") return L.attn_norm;
  if (slot.role == "ffn_norm") return L.ffn_norm;
  if (slot.role == "attn_q") return bias ? L.bq : L.wq;
  if (slot.role == "attn_k") return bias ? L.bk : L.wk;
  if (slot.role == "attn_v") return bias ? L.bv : L.wv;
  if (slot.role == "attn_output") return L.wo;
  if (slot.role == "ffn_gate") return L.gate;
  return slot.role == "ffn_up" ? L.up : L.down;
}

// Writes the model to a temp file and returns its path; fills `weights` with
// the f32 values it was made from (before any F16 / Q8_0 rounding).
inline std::string write_tiny_decoder(const TinySpec& s, TinyWeights* weights, const std::string& tag) {
  NormalWeights rnd(s.seed, /*fresh_per_draw=*/true);
  const int hd = s.embd / s.heads, kv = s.heads_kv * hd;
  TinyWeights W;
  W.embd = rnd.draw(static_cast<size_t>(s.vocab) * s.embd, 1.0f);
  W.out_norm = rnd.draw(s.embd, 0.1f, 1.0f);
  if (!s.tied) W.output = rnd.draw(static_cast<size_t>(s.vocab) * s.embd, 0.3f);
  const float is = 1.0f / std::sqrt(static_cast<float>(s.embd));
  for (int l = 0; l < s.layers; ++l) {
    TinyWeights::Layer L;
    L.attn_norm = rnd.draw(s.embd, 0.1f, 1.0f);
    L.ffn_norm = rnd.draw(s.embd, 0.1f, 1.0f);
    L.wq = rnd.draw(static_cast<size_t>(s.embd) * s.embd, 2 * is);
    L.wk = rnd.draw(static_cast<size_t>(kv) * s.embd, 2 * is);
    L.wv = rnd.draw(static_cast<size_t>(kv) * s.embd, is);
    L.wo = rnd.draw(static_cast<size_t>(s.embd) * s.embd, is);
    L.gate = rnd.draw(static_cast<size_t>(s.ff) * s.embd, is);
    L.up = rnd.draw(static_cast<size_t>(s.ff) * s.embd, is);
    L.down = rnd.draw(static_cast<size_t>(s.embd) * s.ff, 1.0f / std::sqrt(static_cast<float>(s.ff)));
    if (s.qkv_bias) {
      L.bq = rnd.draw(s.embd, 0.2f);
      L.bk = rnd.draw(kv, 0.2f);
      L.bv = rnd.draw(kv, 0.2f);
    }
    W.layers.push_back(std::move(L));
  }
  GgufWriter w;
  DecoderShape shape;
  shape.arch = s.arch;
  shape.n_vocab = s.vocab;
  shape.n_embd = s.embd;
  shape.n_layer = s.layers;
  shape.n_head = s.heads;
  shape.n_head_kv = s.heads_kv;
  shape.n_ff = s.ff;
  shape.n_ctx = s.ctx;
  shape.rope_base = s.rope_base;
  shape.tied = s.tied;
  shape.qkv_bias = s.qkv_bias;
  shape.wtype = s.wtype;
  const Status st = add_decoder(w, shape, [&](GgufWriter& out, const TensorSlot& slot) {
    return add_tensor_values(out, slot, tiny_weight(W, slot));
  });
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  if (s.with_tokenizer) {
    VocabSpec v;
    v.model = "llama";
    v.tokens = tiny_vocab(s.vocab);
    v.scores.resize(v.tokens.size());
    for (size_t i = 0; i < v.scores.size(); ++i) v.scores[i] = -static_cast<float>(i);
    v.types.assign(v.tokens.size(), 1);
    v.types[0] = 2;
    v.types[1] = v.types[2] = 3;
    v.ids = {{"bos", 1}, {"eos", 2}, {"unknown", 0}};
    v.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}";
    add_vocab(w, v);
  }
  const auto path = temp_model_path("tiny", tag);
  EXPECT_TRUE(w.write(path).is_ok()) << path;
  if (weights) *weights = std::move(W);
  return path;
}

// Reference decoder forward in double: logits for every position.
inline std::vector<std::vector<double>> reference_decoder(const TinySpec& s, const TinyWeights& W,
                                                          const std::vector<int32_t>& ids) {
  const int E = s.embd, hd = E / s.heads, kvd = s.heads_kv * hd, n = static_cast<int>(ids.size());
  auto matvec = [](const std::vector<float>& w, const std::vector<double>& x, int rows) {
    const size_t cols = x.size();
    std::vector<double> y(static_cast<size_t>(rows));
    for (int r = 0; r < rows; ++r) {
      double acc = 0;
      for (size_t c = 0; c < cols; ++c) acc += static_cast<double>(w[r * cols + c]) * x[c];
      y[static_cast<size_t>(r)] = acc;
    }
    return y;
  };
  auto rms = [&](const std::vector<double>& x, const std::vector<float>& g) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double sc = 1.0 / std::sqrt(ss / x.size() + 1e-5);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * sc * g[i];
    return y;
  };
  auto rope = [&](std::vector<double>& v, int heads, int pos) {
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < hd / 2; ++i) {
        const double th = pos * std::pow(static_cast<double>(s.rope_base), -2.0 * i / hd);
        const bool neox = s.arch == "qwen2";
        const int a = h * hd + (neox ? i : 2 * i), b = h * hd + (neox ? i + hd / 2 : 2 * i + 1);
        const double x0 = v[a], x1 = v[b];
        v[a] = x0 * std::cos(th) - x1 * std::sin(th);
        v[b] = x0 * std::sin(th) + x1 * std::cos(th);
      }
    }
  };
  std::vector<std::vector<double>> x(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) x[i].assign(W.embd.begin() + ids[i] * E, W.embd.begin() + (ids[i] + 1) * E);
  for (const auto& L : W.layers) {
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int i = 0; i < n; ++i) {
      auto h = rms(x[i], L.attn_norm);
      q[i] = matvec(L.wq, h, E);
      k[i] = matvec(L.wk, h, kvd);
      v[i] = matvec(L.wv, h, kvd);
      for (size_t j = 0; j < L.bq.size(); ++j) q[i][j] += L.bq[j];
      for (size_t j = 0; j < L.bk.size(); ++j) k[i][j] += L.bk[j];
      for (size_t j = 0; j < L.bv.size(); ++j) v[i][j] += L.bv[j];
      rope(q[i], s.heads, i);
      rope(k[i], s.heads_kv, i);
    }
    for (int i = 0; i < n; ++i) {
      std::vector<double> att(static_cast<size_t>(E));
      for (int h = 0; h < s.heads; ++h) {
        const int g = h / (s.heads / s.heads_kv);
        std::vector<double> p(static_cast<size_t>(i + 1));
        double mx = -1e300, z = 0;
        for (int j = 0; j <= i; ++j) {
          double d = 0;
          for (int t = 0; t < hd; ++t) d += q[i][h * hd + t] * k[j][g * hd + t];
          p[j] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, p[j]);
        }
        for (auto& e : p) z += (e = std::exp(e - mx));
        for (int j = 0; j <= i; ++j) {
          for (int t = 0; t < hd; ++t) att[h * hd + t] += p[j] / z * v[j][g * hd + t];
        }
      }
      auto o = matvec(L.wo, att, E);
      for (int t = 0; t < E; ++t) x[i][t] += o[t];
      auto h = rms(x[i], L.ffn_norm);
      auto gt = matvec(L.gate, h, s.ff), up = matvec(L.up, h, s.ff);
      for (int t = 0; t < s.ff; ++t) gt[t] = gt[t] / (1 + std::exp(-gt[t])) * up[t];
      auto d = matvec(L.down, gt, E);
      for (int t = 0; t < E; ++t) x[i][t] += d[t];
    }
  }
  std::vector<std::vector<double>> logits(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) logits[i] = matvec(s.tied ? W.embd : W.output, rms(x[i], W.out_norm), s.vocab);
  return logits;
}

}  // namespace ragd::testing_tiny

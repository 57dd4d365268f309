// Test support: tiny llama / qwen2 / bert GGUF files with chosen random
// weights, written with GgufWriter, and reference forward passes in double.
#pragma once

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/quant.h"

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

inline std::vector<float> rnd(std::mt19937& rng, size_t n, float scale, float offset = 0.0f) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = offset + scale * d(rng);
  return v;
}

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

inline void add_tensor(GgufWriter& w, const std::string& name, GgmlType type, std::vector<int64_t> ne,
                       const std::vector<float>& v) {
  if (type == GgmlType::F32 || ne.size() == 1) {
    (void)w.add_tensor_f32(name, ne, v);
    return;
  }
  const int64_t cols = ne[0], rows = static_cast<int64_t>(v.size()) / cols;
  std::vector<uint8_t> bytes;
  if (type == GgmlType::F16) {
    bytes.resize(v.size() * 2);
    fp32_to_fp16_row(v.data(), reinterpret_cast<uint16_t*>(bytes.data()), static_cast<int64_t>(v.size()));
  } else {  // Q8_0
    bytes.resize(static_cast<size_t>(rows * cols / 32) * sizeof(BlockQ8_0));
    quantize_row_q8_0(v.data(), reinterpret_cast<BlockQ8_0*>(bytes.data()), rows * cols);
  }
  (void)w.add_tensor(name, type, ne, bytes);
}

// Writes the model to a temp file and returns its path; fills `weights` with
// the (dequantised) values the file holds.
inline std::string write_tiny_decoder(const TinySpec& s, TinyWeights* weights, const std::string& tag) {
  std::mt19937 rng(s.seed);
  const int hd = s.embd / s.heads, kv = s.heads_kv * hd;
  TinyWeights W;
  W.embd = rnd(rng, static_cast<size_t>(s.vocab) * s.embd, 1.0f);
  W.out_norm = rnd(rng, s.embd, 0.1f, 1.0f);
  if (!s.tied) W.output = rnd(rng, static_cast<size_t>(s.vocab) * s.embd, 0.3f);
  const float is = 1.0f / std::sqrt(static_cast<float>(s.embd));
  for (int l = 0; l < s.layers; ++l) {
    TinyWeights::Layer L;
    L.attn_norm = rnd(rng, s.embd, 0.1f, 1.0f);
    L.ffn_norm = rnd(rng, s.embd, 0.1f, 1.0f);
    L.wq = rnd(rng, static_cast<size_t>(s.embd) * s.embd, 2 * is);
    L.wk = rnd(rng, static_cast<size_t>(kv) * s.embd, 2 * is);
    L.wv = rnd(rng, static_cast<size_t>(kv) * s.embd, is);
    L.wo = rnd(rng, static_cast<size_t>(s.embd) * s.embd, is);
    L.gate = rnd(rng, static_cast<size_t>(s.ff) * s.embd, is);
    L.up = rnd(rng, static_cast<size_t>(s.ff) * s.embd, is);
    L.down = rnd(rng, static_cast<size_t>(s.embd) * s.ff, 1.0f / std::sqrt(static_cast<float>(s.ff)));
    if (s.qkv_bias) {
      L.bq = rnd(rng, s.embd, 0.2f);
      L.bk = rnd(rng, kv, 0.2f);
      L.bv = rnd(rng, kv, 0.2f);
    }
    W.layers.push_back(std::move(L));
  }
  GgufWriter w;
  const std::string a = s.arch;
  w.add_str("general.architecture", a);
  w.add_u32(a + ".context_length", static_cast<uint32_t>(s.ctx));
  w.add_u32(a + ".embedding_length", static_cast<uint32_t>(s.embd));
  w.add_u32(a + ".block_count", static_cast<uint32_t>(s.layers));
  w.add_u32(a + ".feed_forward_length", static_cast<uint32_t>(s.ff));
  w.add_u32(a + ".attention.head_count", static_cast<uint32_t>(s.heads));
  w.add_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.heads_kv));
  w.add_f32(a + ".rope.freq_base", s.rope_base);
  w.add_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  if (s.with_tokenizer) {
    auto toks = tiny_vocab(s.vocab);
    std::vector<float> scores(toks.size());
    std::vector<int32_t> types(toks.size(), 1);
    types[0] = 2;
    types[1] = types[2] = 3;
    for (size_t i = 0; i < toks.size(); ++i) scores[i] = -static_cast<float>(i);
    w.add_str("tokenizer.ggml.model", "llama");
    w.add("tokenizer.ggml.tokens", GgufWriter::Value::array_str(toks));
    w.add("tokenizer.ggml.scores", GgufWriter::Value::array_f32(scores));
    w.add("tokenizer.ggml.token_type", GgufWriter::Value::array_i32(types));
    w.add_u32("tokenizer.ggml.bos_token_id", 1);
    w.add_u32("tokenizer.ggml.eos_token_id", 2);
    w.add_u32("tokenizer.ggml.unknown_token_id", 0);
    w.add_str("tokenizer.chat_template", "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}");
  }
  const GgmlType t = s.wtype;
  add_tensor(w, "token_embd.weight", t, {s.embd, s.vocab}, W.embd);
  add_tensor(w, "output_norm.weight", GgmlType::F32, {s.embd}, W.out_norm);
  if (!s.tied) add_tensor(w, "output.weight", t, {s.embd, s.vocab}, W.output);
  for (int l = 0; l < s.layers; ++l) {
    const auto& L = W.layers[static_cast<size_t>(l)];
    const std::string p = "blk." + std::to_string(l) + ".";
    add_tensor(w, p + "attn_norm.weight", GgmlType::F32, {s.embd}, L.attn_norm);
    add_tensor(w, p + "ffn_norm.weight", GgmlType::F32, {s.embd}, L.ffn_norm);
    add_tensor(w, p + "attn_q.weight", t, {s.embd, s.embd}, L.wq);
    add_tensor(w, p + "attn_k.weight", t, {s.embd, kv}, L.wk);
    add_tensor(w, p + "attn_v.weight", t, {s.embd, kv}, L.wv);
    add_tensor(w, p + "attn_output.weight", t, {s.embd, s.embd}, L.wo);
    add_tensor(w, p + "ffn_gate.weight", t, {s.embd, s.ff}, L.gate);
    add_tensor(w, p + "ffn_up.weight", t, {s.embd, s.ff}, L.up);
    add_tensor(w, p + "ffn_down.weight", t, {s.ff, s.embd}, L.down);
    if (s.qkv_bias) {
      add_tensor(w, p + "attn_q.bias", GgmlType::F32, {s.embd}, L.bq);
      add_tensor(w, p + "attn_k.bias", GgmlType::F32, {kv}, L.bk);
      add_tensor(w, p + "attn_v.bias", GgmlType::F32, {kv}, L.bv);
    }
  }
  const auto path = (std::filesystem::temp_directory_path() /
                     ("ragd_tiny_" + tag + "_" + std::to_string(::getpid()) + ".gguf")).string();
  (void)w.write(path);
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

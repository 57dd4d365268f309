#include "model/decoder_batch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

namespace ragd {

namespace {
int all_cores() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
void grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}
}  // namespace

DecoderBatch::DecoderBatch(std::shared_ptr<const DecoderModel> model, int n_threads)
    : model_(std::move(model)), n_threads_(n_threads > 0 ? n_threads : all_cores()) {}

Status DecoderBatch::forward(std::span<const DecodeItem> items) {
  if (items.empty()) return Status::ok();
  for (size_t i = 0; i < items.size(); ++i) {
    const DecodeItem& it = items[i];
    if (it.session == nullptr) return Status::invalid_argument("batch item " + std::to_string(i) + " has no session");
    if (&it.session->model() != model_.get()) {
      return Status::invalid_argument("batch item " + std::to_string(i) + " belongs to another model");
    }
    for (size_t j = 0; j < i; ++j) {
      if (items[j].session == it.session) {
        return Status::invalid_argument("batch items " + std::to_string(j) + " and " + std::to_string(i) +
                                        " name the same session");
      }
    }
    RAGD_RETURN_IF_ERROR(it.session->check_tokens(it.tokens));
  }
  if (n_threads_ > 1 && !pool_) pool_ = std::make_unique<ComputePool>(n_threads_);
  ComputePool::Scope scope(pool_.get());
  run(items);
  return Status::ok();
}

void DecoderBatch::run(std::span<const DecodeItem> items) {
  const DecoderModel& m = *model_;
  const DecoderConfig& c = m.config_;
  const int E = c.n_embd, hd = c.head_dim, F = c.n_ff;
  const int q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  const int nt = n_threads_;
  const size_t V = static_cast<size_t>(c.n_vocab);

  // Rows: the small items first (one group), then each long item. With a
  // chunk-invariant model every row is computed as alone at any size, so all
  // items share one group: one pass over each weight matrix per pass.
  const bool one_group = m.chunk_invariant();
  auto in_group = [&](size_t i) { return one_group || items[i].tokens.size() <= static_cast<size_t>(kSmallItemTokens); };
  order_.clear();
  for (size_t i = 0; i < items.size(); ++i) {
    if (in_group(i)) order_.push_back(i);
  }
  const size_t n_small = order_.size();
  for (size_t i = 0; i < items.size(); ++i) {
    if (!in_group(i)) order_.push_back(i);
  }
  item_row0_.assign(items.size(), 0);
  groups_.clear();
  tokens_.clear();
  row_pos_.clear();
  for (size_t o = 0; o < order_.size(); ++o) {
    const DecodeItem& it = items[order_[o]];
    const int row0 = static_cast<int>(tokens_.size());
    item_row0_[order_[o]] = row0;
    const int n = static_cast<int>(it.tokens.size());
    if (o < n_small) {
      if (groups_.empty()) groups_.push_back({0, 0, true});
      groups_.back().n += n;
    } else {
      groups_.push_back({row0, n, false});
    }
    for (int j = 0; j < n; ++j) {
      tokens_.push_back(it.tokens[static_cast<size_t>(j)]);
      row_pos_.push_back(it.session->n_past() + j);
    }
  }
  const int R = static_cast<int>(tokens_.size());
  const size_t Rs = static_cast<size_t>(R);
  grow(x_, Rs * E);
  grow(h_, Rs * static_cast<size_t>(std::max(E, q_dim)));
  grow(q_, Rs * q_dim);
  grow(k_, Rs * kv_dim);
  grow(v_, Rs * kv_dim);
  grow(attn_, Rs * q_dim);
  grow(ffn_a_, Rs * F);
  grow(ffn_b_, Rs * F);

  // Row-wise steps: in parallel when there are enough rows to share.
  auto for_rows = [&](auto&& body) {
    if (R >= 8) {
      parallel_for(R, nt, [&](int64_t i) { body(static_cast<int>(i)); });
    } else {
      for (int i = 0; i < R; ++i) body(i);
    }
  };
  // y = x * W^T over each group: the small group row by row exact, a long
  // item as eval() multiplies it.
  auto linear = [&](const Linear& w, float* x, int x_ld, float* y, int y_ld, bool x_dead) {
    for (const Group& g : groups_) {
      float* xg = x + static_cast<size_t>(g.row0) * x_ld;
      float* yg = y + static_cast<size_t>(g.row0) * y_ld;
      if (g.small) {
        w.forward_rows(xg, g.n, yg, nt);
      } else if (x_dead) {
        w.forward_overwriting(xg, g.n, yg, nt);
      } else {
        w.forward(xg, g.n, yg, nt);
      }
    }
  };
  auto linear_group = [&](std::span<const Linear* const> ws, const float* x, std::span<float* const> ys,
                          std::span<const int> y_lds) {
    for (const Group& g : groups_) {
      const float* xg = x + static_cast<size_t>(g.row0) * E;
      if (g.small) {
        for (size_t i = 0; i < ws.size(); ++i) {
          ws[i]->forward_rows(xg, g.n, ys[i] + static_cast<size_t>(g.row0) * y_lds[i], nt);
        }
      } else {
        float* outs[8];
        for (size_t i = 0; i < ys.size(); ++i) outs[i] = ys[i] + static_cast<size_t>(g.row0) * y_lds[i];
        Linear::forward_group(ws, xg, g.n, std::span<float* const>(outs, ys.size()), nt);
      }
    }
  };

  for_rows([&](int i) { m.token_embd_->row(tokens_[static_cast<size_t>(i)], &x_[static_cast<size_t>(i) * E]); });
  const AttentionShape shape{c.n_head, c.n_head_kv, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
  const float* freq = m.rope_freqs_.empty() ? nullptr : m.rope_freqs_.data();
  for (int l = 0; l < c.n_layer; ++l) {
    const DecoderModel::Layer& L = m.layers_[static_cast<size_t>(l)];
    for_rows([&](int i) {
      rms_norm(&x_[static_cast<size_t>(i) * E], L.attn_norm.data(), &h_[static_cast<size_t>(i) * E], E, c.rms_eps);
    });
    {
      const Linear* qkv[] = {L.wq.get(), L.wk.get(), L.wv.get()};
      float* const out[] = {q_.data(), k_.data(), v_.data()};
      const int lds[] = {q_dim, kv_dim, kv_dim};
      linear_group(qkv, h_.data(), out, lds);
    }
    for_rows([&](int i) {
      float* qi = &q_[static_cast<size_t>(i) * q_dim];
      float* ki = &k_[static_cast<size_t>(i) * kv_dim];
      float* vi = &v_[static_cast<size_t>(i) * kv_dim];
      if (!L.bq.empty()) add_inplace(qi, L.bq.data(), q_dim);
      if (!L.bk.empty()) add_inplace(ki, L.bk.data(), kv_dim);
      if (!L.bv.empty()) add_inplace(vi, L.bv.data(), kv_dim);
      const int pos = row_pos_[static_cast<size_t>(i)];
      rope(qi, c.n_head, hd, c.n_rot, pos, c.rope_base, c.rope_mode, freq);
      rope(ki, c.n_head_kv, hd, c.n_rot, pos, c.rope_base, c.rope_mode, freq);
    });
    // Each sequence attends over its own cache; the calls share one
    // parallel region where they can (attention_many).
    calls_.clear();
    for (size_t it = 0; it < items.size(); ++it) {
      DecoderSession& s = *items[it].session;
      const size_t r0 = static_cast<size_t>(item_row0_[it]);
      const int n = static_cast<int>(items[it].tokens.size());
      const int pos0 = s.n_past_;
      s.cache_.store(l, pos0, n, &k_[r0 * kv_dim], &v_[r0 * kv_dim]);
      calls_.push_back({&q_[r0 * q_dim], q_dim, n, pos0, s.kv_view(l), 0, pos0 + n, true, &attn_[r0 * q_dim],
                        q_dim});
    }
    attention_many(calls_, shape, nt);
    linear(*L.wo, attn_.data(), q_dim, h_.data(), E, true);
    for_rows([&](int i) {
      const size_t o = static_cast<size_t>(i) * E;
      add_inplace(&x_[o], &h_[o], E);
      rms_norm(&x_[o], L.ffn_norm.data(), &h_[o], E, c.rms_eps);
    });
    {
      const Linear* gate_up[] = {L.gate.get(), L.up.get()};
      float* const out[] = {ffn_a_.data(), ffn_b_.data()};
      const int lds[] = {F, F};
      linear_group(gate_up, h_.data(), out, lds);
    }
    for_rows([&](int i) {
      const size_t o = static_cast<size_t>(i) * F;
      swiglu(&ffn_a_[o], &ffn_b_[o], &ffn_a_[o], F);
    });
    linear(*L.down, ffn_a_.data(), F, h_.data(), E, true);
    for_rows([&](int i) { add_inplace(&x_[static_cast<size_t>(i) * E], &h_[static_cast<size_t>(i) * E], E); });
  }
  for (const DecodeItem& it : items) it.session->n_past_ += static_cast<int>(it.tokens.size());

  // Logits. Every wanted row of a small item, and the last row of a long
  // one (which eval() also multiplies alone), go through the output matrix
  // together; all rows of a long item as eval() does them.
  const Linear& out = m.output_ ? *m.output_ : *m.token_embd_;
  std::vector<std::pair<int, float*>> wanted;  // (row, destination)
  for (size_t it = 0; it < items.size(); ++it) {
    const DecodeItem& d = items[it];
    const int row0 = item_row0_[it];
    const int n = static_cast<int>(d.tokens.size());
    const bool small = n <= kSmallItemTokens;
    if (d.logits_all != nullptr && !small) {
      grow(g_, static_cast<size_t>(n) * E);
      for (int j = 0; j < n; ++j) {
        rms_norm(&x_[static_cast<size_t>(row0 + j) * E], m.output_norm_.data(), &g_[static_cast<size_t>(j) * E], E,
                 c.rms_eps);
      }
      out.forward(g_.data(), n, d.logits_all, nt);
      if (d.logits_last) std::memcpy(d.logits_last, d.logits_all + (n - 1) * V, V * sizeof(float));
      continue;
    }
    if (d.logits_all != nullptr) {
      for (int j = 0; j < n; ++j) wanted.emplace_back(row0 + j, d.logits_all + static_cast<size_t>(j) * V);
    }
    if (d.logits_last != nullptr) wanted.emplace_back(row0 + n - 1, d.logits_last);
  }
  if (wanted.empty()) return;
  // A row asked for twice (logits_all and logits_last) is computed once.
  std::vector<int> rows;
  for (const auto& w : wanted) {
    if (std::find(rows.begin(), rows.end(), w.first) == rows.end()) rows.push_back(w.first);
  }
  const size_t G = rows.size();
  grow(g_, G * E);
  grow(logits_, G * V);
  for (size_t j = 0; j < G; ++j) {
    rms_norm(&x_[static_cast<size_t>(rows[j]) * E], m.output_norm_.data(), &g_[j * E], E, c.rms_eps);
  }
  out.forward_rows(g_.data(), static_cast<int64_t>(G), logits_.data(), nt);
  for (const auto& w : wanted) {
    const size_t j = static_cast<size_t>(std::find(rows.begin(), rows.end(), w.first) - rows.begin());
    std::memcpy(w.second, &logits_[j * V], V * sizeof(float));
  }
}

}  // namespace ragd

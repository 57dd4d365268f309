#include "model/bert.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "model/kv_cache.h"
#include "model/tensor.h"

namespace ragd {

void l2_normalize(float* v, int n) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += static_cast<double>(v[i]) * v[i];
  const double norm = std::sqrt(sum);
  if (norm <= 0.0) return;
  const float inv = static_cast<float>(1.0 / norm);
  for (int i = 0; i < n; ++i) v[i] *= inv;
}

Result<std::shared_ptr<const BertModel>> BertModel::load(const std::string& path, BertLoadOptions options) {
  auto file = GgufFile::open(path);
  if (!file.is_ok()) return file.status();
  std::shared_ptr<const GgufFile> shared(std::move(file).value());
  auto m = from_gguf(std::move(shared), options);
  if (!m.is_ok()) return m.status().with_context("loading encoder " + path);
  return m;
}

Result<std::shared_ptr<const BertModel>> BertModel::from_gguf(std::shared_ptr<const GgufFile> file,
                                                              BertLoadOptions options) {
  std::shared_ptr<BertModel> m(new BertModel());
  const GgufFile& f = *file;
  RAGD_ASSIGN_OR_RETURN(auto arch, f.get_str("general.architecture"));
  if (arch != "bert") return Status::unimplemented("architecture '" + std::string(arch) + "' is not a BERT encoder");
  HParamReader hp(f, "bert");
  BertConfig& c = m->config_;
  RAGD_ASSIGN_OR_RETURN(auto n_embd, hp.u32("embedding_length"));
  RAGD_ASSIGN_OR_RETURN(auto n_layer, hp.u32("block_count"));
  RAGD_ASSIGN_OR_RETURN(auto n_head, hp.u32("attention.head_count"));
  RAGD_ASSIGN_OR_RETURN(auto n_ff, hp.u32("feed_forward_length"));
  RAGD_ASSIGN_OR_RETURN(auto n_ctx, hp.u32_or("context_length", 512));
  RAGD_ASSIGN_OR_RETURN(c.eps, hp.f32_or("attention.layer_norm_epsilon", 1e-12f));
  RAGD_ASSIGN_OR_RETURN(auto pooling, hp.u32_or("pooling_type", 2));
  RAGD_ASSIGN_OR_RETURN(auto causal, hp.bool_or("attention.causal", false));
  if (causal) return Status::unimplemented("causal BERT attention is not supported");
  if (n_embd == 0 || n_layer == 0 || n_head == 0 || n_embd % n_head != 0 || n_ff == 0 || n_embd > (1u << 16) ||
      n_layer > 1024 || n_ff > (1u << 20) || n_ctx == 0 || n_ctx > (1u << 16)) {
    return Status::invalid_argument("inconsistent BERT hyper-parameters");
  }
  if (pooling != 1 && pooling != 2 && pooling != 3) {
    return Status::unimplemented("bert.pooling_type " + std::to_string(pooling) +
                                 " (only mean=1, cls=2, last=3 are supported)");
  }
  c.n_embd = static_cast<int>(n_embd);
  c.n_layer = static_cast<int>(n_layer);
  c.n_head = static_cast<int>(n_head);
  c.n_ff = static_cast<int>(n_ff);
  c.n_ctx_train = static_cast<int>(n_ctx);
  c.pooling = static_cast<PoolingType>(pooling);
  m->options_ = options;
  LinearOptions lo;
  lo.emulate_ggml = options.emulate_ggml;
  const int64_t E = c.n_embd;
  RAGD_ASSIGN_OR_RETURN(m->token_embd_, load_linear(f, "token_embd.weight", E, 0, lo));
  c.n_vocab = static_cast<int>(m->token_embd_->rows());
  RAGD_ASSIGN_OR_RETURN(m->pos_embd_, load_linear(f, "position_embd.weight", E, 0, lo));
  if (m->pos_embd_->rows() < c.n_ctx_train) c.n_ctx_train = static_cast<int>(m->pos_embd_->rows());
  RAGD_ASSIGN_OR_RETURN(auto types, load_linear_optional(f, "token_types.weight", E, 0, lo));
  m->type_embd0_.assign(static_cast<size_t>(E), 0.0f);
  if (types) {
    c.n_token_types = static_cast<int>(types->rows());
    types->row(0, m->type_embd0_.data());
  }
  RAGD_ASSIGN_OR_RETURN(m->embd_norm_w_, load_vector(f, "token_embd_norm.weight", E));
  RAGD_ASSIGN_OR_RETURN(m->embd_norm_b_, load_vector(f, "token_embd_norm.bias", E));
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    Layer L;
    RAGD_ASSIGN_OR_RETURN(L.wq, load_linear(f, p + "attn_q.weight", E, E, lo));
    RAGD_ASSIGN_OR_RETURN(L.wk, load_linear(f, p + "attn_k.weight", E, E, lo));
    RAGD_ASSIGN_OR_RETURN(L.wv, load_linear(f, p + "attn_v.weight", E, E, lo));
    RAGD_ASSIGN_OR_RETURN(L.wo, load_linear(f, p + "attn_output.weight", E, E, lo));
    RAGD_ASSIGN_OR_RETURN(L.up, load_linear(f, p + "ffn_up.weight", E, c.n_ff, lo));
    RAGD_ASSIGN_OR_RETURN(L.down, load_linear(f, p + "ffn_down.weight", c.n_ff, E, lo));
    RAGD_ASSIGN_OR_RETURN(L.bq, load_vector_optional(f, p + "attn_q.bias", E));
    RAGD_ASSIGN_OR_RETURN(L.bk, load_vector_optional(f, p + "attn_k.bias", E));
    RAGD_ASSIGN_OR_RETURN(L.bv, load_vector_optional(f, p + "attn_v.bias", E));
    RAGD_ASSIGN_OR_RETURN(L.bo, load_vector_optional(f, p + "attn_output.bias", E));
    RAGD_ASSIGN_OR_RETURN(L.b_up, load_vector_optional(f, p + "ffn_up.bias", c.n_ff));
    RAGD_ASSIGN_OR_RETURN(L.b_down, load_vector_optional(f, p + "ffn_down.bias", E));
    RAGD_ASSIGN_OR_RETURN(L.attn_norm_w, load_vector(f, p + "attn_output_norm.weight", E));
    RAGD_ASSIGN_OR_RETURN(L.attn_norm_b, load_vector_optional(f, p + "attn_output_norm.bias", E));
    RAGD_ASSIGN_OR_RETURN(L.out_norm_w, load_vector(f, p + "layer_output_norm.weight", E));
    RAGD_ASSIGN_OR_RETURN(L.out_norm_b, load_vector_optional(f, p + "layer_output_norm.bias", E));
    m->layers_.push_back(std::move(L));
  }
  m->file_ = std::move(file);
  return std::shared_ptr<const BertModel>(std::move(m));
}

namespace {
void add_bias_rows(float* y, const std::vector<float>& b, int rows, int n) {
  if (b.empty()) return;
#pragma omp parallel for schedule(static) if (rows >= 16)
  for (int i = 0; i < rows; ++i) add_inplace(y + static_cast<int64_t>(i) * n, b.data(), n);
}
const float* opt(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
}  // namespace

// One group's activations, sized for the largest group of a call and reused
// by every group. Row-major [rows][width]; `kvf` holds K | V | the attention
// output during attention and the FFN activations afterwards (both are dead
// by then), and `qh` holds Q, then the attention block's output.
struct BertModel::Scratch {
  std::vector<float> x, qh, kvf;
};

Status BertModel::encode(std::span<const std::vector<int32_t>> seqs, PoolingType pooling, bool normalize,
                         std::vector<float>& out, int n_threads) const {
  const BertConfig& c = config_;
  if (n_threads <= 0) n_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (pooling == PoolingType::kNone) pooling = c.pooling;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const auto& ids = seqs[s];
    if (ids.empty()) return Status::invalid_argument("sequence " + std::to_string(s) + " is empty");
    if (static_cast<int>(ids.size()) > c.n_ctx_train) {
      return Status::invalid_argument("sequence " + std::to_string(s) + " has " + std::to_string(ids.size()) +
                                      " tokens; the encoder takes at most " + std::to_string(c.n_ctx_train));
    }
    for (int32_t id : ids) {
      if (id < 0 || id >= c.n_vocab) {
        return Status::invalid_argument("sequence " + std::to_string(s) + ": token id " + std::to_string(id) +
                                        " is outside the vocabulary (" + std::to_string(c.n_vocab) + ")");
      }
    }
  }
  if (seqs.empty()) return Status::ok();
  // Groups [ends[g-1], ends[g]) of consecutive sequences within the row
  // budget; a sequence longer than the budget makes a group of its own.
  const int budget = std::max(1, options_.n_batch_tokens);
  std::vector<size_t> ends;
  std::vector<int> totals;
  int rows = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int n = static_cast<int>(seqs[s].size());
    if (!totals.empty() && totals.back() + n <= budget) {
      totals.back() += n;
      ends.back() = s + 1;
    } else {
      totals.push_back(n);
      ends.push_back(s + 1);
    }
    rows = std::max(rows, totals.back());
  }
  omp_set_num_threads(n_threads);
  const size_t E = static_cast<size_t>(c.n_embd), F = static_cast<size_t>(c.n_ff);
  Scratch scratch;
  scratch.x.resize(rows * E);
  scratch.qh.resize(rows * E);
  scratch.kvf.resize(rows * std::max(3 * E, F));
  const size_t base = out.size();
  out.resize(base + seqs.size() * E);
  size_t begin = 0;
  for (size_t g = 0; g < ends.size(); ++g) {
    encode_group(seqs.subspan(begin, ends[g] - begin), totals[g], pooling, normalize, scratch,
                 &out[base + begin * E], n_threads);
    begin = ends[g];
  }
  return Status::ok();
}

void BertModel::encode_group(std::span<const std::vector<int32_t>> seqs, int total, PoolingType pooling,
                             bool normalize, Scratch& scratch, float* out, int n_threads) const {
  const BertConfig& c = config_;
  const int E = c.n_embd, F = c.n_ff, hd = E / c.n_head;
  const size_t TE = static_cast<size_t>(total) * E;
  float* x = scratch.x.data();
  float* q = scratch.qh.data();
  float* h = scratch.qh.data();  // Q is dead once attention has run
  float* k = scratch.kvf.data();
  float* v = k + TE;
  float* a = v + TE;
  float* ff = scratch.kvf.data();  // K, V and the attention output are dead by the FFN
  std::vector<size_t> starts;
  size_t at = 0;
  for (const auto& ids : seqs) {
    starts.push_back(at);
    at += ids.size();
  }
  std::vector<float> pos_row(static_cast<size_t>(E));
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (size_t p = 0; p < seqs[s].size(); ++p) {
      float* row = x + (starts[s] + p) * E;
      token_embd_->row(seqs[s][p], row);
      add_inplace(row, type_embd0_.data(), E);
      pos_embd_->row(static_cast<int64_t>(p), pos_row.data());
      add_inplace(row, pos_row.data(), E);
    }
  }
  [[maybe_unused]] const bool par = total >= 16;  // unused where OpenMP is off (TSan builds)
#pragma omp parallel for schedule(static) if (par)
  for (int i = 0; i < total; ++i) {
    float* r = x + static_cast<size_t>(i) * E;
    layer_norm(r, embd_norm_w_.data(), embd_norm_b_.data(), r, E, c.eps);
  }
  AttentionShape shape{c.n_head, c.n_head, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
  for (const Layer& L : layers_) {
    L.wq->forward(x, total, q, n_threads);
    L.wk->forward(x, total, k, n_threads);
    L.wv->forward(x, total, v, n_threads);
    add_bias_rows(q, L.bq, total, E);
    add_bias_rows(k, L.bk, total, E);
    add_bias_rows(v, L.bv, total, E);
    for (size_t s = 0; s < seqs.size(); ++s) {
      const size_t off = starts[s] * E;
      const int n = static_cast<int>(seqs[s].size());
      KvView kv{k + off, v + off, E, false};
      attention(q + off, E, n, 0, kv, 0, n, false, shape, a + off, E, n_threads);
    }
    L.wo->forward_overwriting(a, total, h, n_threads);  // a is dead after this
    add_bias_rows(h, L.bo, total, E);
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < total; ++i) {
      float* r = h + static_cast<size_t>(i) * E;
      add_inplace(r, x + static_cast<size_t>(i) * E, E);
      layer_norm(r, L.attn_norm_w.data(), opt(L.attn_norm_b), r, E, c.eps);
    }
    L.up->forward(h, total, ff, n_threads);
    add_bias_rows(ff, L.b_up, total, F);
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < total; ++i) gelu(ff + static_cast<size_t>(i) * F, F, options_.gelu);
    L.down->forward_overwriting(ff, total, x, n_threads);  // ff too
    add_bias_rows(x, L.b_down, total, E);
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < total; ++i) {
      float* r = x + static_cast<size_t>(i) * E;
      add_inplace(r, h + static_cast<size_t>(i) * E, E);
      layer_norm(r, L.out_norm_w.data(), opt(L.out_norm_b), r, E, c.eps);
    }
  }
  for (size_t s = 0; s < seqs.size(); ++s) {
    float* dst = out + s * E;
    const int n = static_cast<int>(seqs[s].size());
    const float* first = x + starts[s] * E;
    if (pooling == PoolingType::kCls) {
      std::copy(first, first + E, dst);
    } else if (pooling == PoolingType::kLast) {
      std::copy(first + static_cast<size_t>(n - 1) * E, first + static_cast<size_t>(n) * E, dst);
    } else {
      const float inv = 1.0f / static_cast<float>(n);
      std::fill(dst, dst + E, 0.0f);
      for (int p = 0; p < n; ++p) {
        for (int d = 0; d < E; ++d) dst[d] += first[static_cast<size_t>(p) * E + d] * inv;
      }
    }
    if (normalize) l2_normalize(dst, E);
  }
}

}  // namespace ragd

#include "model/llama.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "model/batch_scheduler.h"
#include "model/tensor.h"

namespace ragd {

namespace {

Result<DecoderConfig> read_config(const GgufFile& f) {
  DecoderConfig c;
  RAGD_ASSIGN_OR_RETURN(auto arch, f.get_str("general.architecture"));
  c.arch = std::string(arch);
  if (c.arch != "llama" && c.arch != "qwen2") {
    return Status::unimplemented("architecture '" + c.arch + "' is not a supported decoder (llama, qwen2)");
  }
  HParamReader hp(f, c.arch);
  RAGD_ASSIGN_OR_RETURN(auto n_embd, hp.u32("embedding_length"));
  RAGD_ASSIGN_OR_RETURN(auto n_layer, hp.u32("block_count"));
  RAGD_ASSIGN_OR_RETURN(auto n_head, hp.u32("attention.head_count"));
  RAGD_ASSIGN_OR_RETURN(auto n_head_kv, hp.u32_or("attention.head_count_kv", n_head));
  RAGD_ASSIGN_OR_RETURN(auto n_ff, hp.u32("feed_forward_length"));
  RAGD_ASSIGN_OR_RETURN(auto n_ctx_train, hp.u32_or("context_length", 2048));
  RAGD_ASSIGN_OR_RETURN(auto eps, hp.f32_or("attention.layer_norm_rms_epsilon", 1e-5f));
  RAGD_ASSIGN_OR_RETURN(auto base, hp.f32_or("rope.freq_base", 10000.0f));
  if (n_embd == 0 || n_layer == 0 || n_head == 0 || n_head_kv == 0 || n_ff == 0 || n_embd % n_head != 0 ||
      n_head % n_head_kv != 0 || n_embd > (1u << 16) || n_layer > 1024 || n_ff > (1u << 20)) {
    return Status::invalid_argument("inconsistent hyper-parameters (embedding_length " + std::to_string(n_embd) +
                                    ", head_count " + std::to_string(n_head) + ", head_count_kv " +
                                    std::to_string(n_head_kv) + ")");
  }
  RAGD_ASSIGN_OR_RETURN(auto head_dim, hp.u32_or("attention.key_length", n_embd / n_head));
  RAGD_ASSIGN_OR_RETURN(auto n_rot, hp.u32_or("rope.dimension_count", head_dim));
  if (head_dim == 0 || head_dim > 1024 || n_rot > head_dim || n_rot % 2 != 0) {
    return Status::invalid_argument("bad head dim " + std::to_string(head_dim) + " / rope dims " +
                                    std::to_string(n_rot));
  }
  c.n_embd = static_cast<int>(n_embd);
  c.n_layer = static_cast<int>(n_layer);
  c.n_head = static_cast<int>(n_head);
  c.n_head_kv = static_cast<int>(n_head_kv);
  c.head_dim = static_cast<int>(head_dim);
  c.n_ff = static_cast<int>(n_ff);
  c.n_rot = static_cast<int>(n_rot);
  c.n_ctx_train = static_cast<int>(std::min<uint32_t>(n_ctx_train, 1u << 20));
  c.rms_eps = eps;
  c.rope_base = base;
  c.rope_mode = c.arch == "qwen2" ? RopeMode::kNeox : RopeMode::kNormal;
  return c;
}

size_t linear_bytes(const Linear* l) {
  return l ? weight_row_bytes(l->type(), l->cols()) * static_cast<size_t>(l->rows()) : 0;
}

}  // namespace

Result<std::shared_ptr<const DecoderModel>> DecoderModel::load(const std::string& path, DecoderLoadOptions options) {
  auto file = GgufFile::open(path);
  if (!file.is_ok()) return file.status();
  std::shared_ptr<const GgufFile> shared(std::move(file).value());
  auto m = from_gguf(std::move(shared), options);
  if (!m.is_ok()) return m.status().with_context("loading decoder " + path);
  return m;
}

Result<std::shared_ptr<const DecoderModel>> DecoderModel::from_gguf(std::shared_ptr<const GgufFile> file,
                                                                    DecoderLoadOptions options) {
  std::shared_ptr<DecoderModel> m(new DecoderModel());
  const GgufFile& f = *file;
  RAGD_ASSIGN_OR_RETURN(m->config_, read_config(f));
  DecoderConfig& c = m->config_;
  LinearOptions lo;
  lo.emulate_ggml = options.emulate_ggml;
  lo.exact_q8_0 = options.exact_q8_0;
  lo.int8_prompts = options.int8_prompts;
  const int64_t E = c.n_embd, q_dim = static_cast<int64_t>(c.n_head) * c.head_dim,
                kv_dim = static_cast<int64_t>(c.n_head_kv) * c.head_dim;
  RAGD_ASSIGN_OR_RETURN(m->token_embd_, load_linear(f, "token_embd.weight", E, 0, lo));
  c.n_vocab = static_cast<int>(m->token_embd_->rows());
  RAGD_ASSIGN_OR_RETURN(m->output_, load_linear_optional(f, "output.weight", E, c.n_vocab, lo));
  c.tied_output = m->output_ == nullptr;
  RAGD_ASSIGN_OR_RETURN(m->output_norm_, load_vector(f, "output_norm.weight", E));
  RAGD_ASSIGN_OR_RETURN(m->rope_freqs_, load_vector_optional(f, "rope_freqs.weight", c.n_rot / 2));
  m->weight_bytes_ = linear_bytes(m->token_embd_.get()) + linear_bytes(m->output_.get());
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    Layer L;
    RAGD_ASSIGN_OR_RETURN(L.attn_norm, load_vector(f, p + "attn_norm.weight", E));
    RAGD_ASSIGN_OR_RETURN(L.ffn_norm, load_vector(f, p + "ffn_norm.weight", E));
    RAGD_ASSIGN_OR_RETURN(L.wq, load_linear(f, p + "attn_q.weight", E, q_dim, lo));
    RAGD_ASSIGN_OR_RETURN(L.wk, load_linear(f, p + "attn_k.weight", E, kv_dim, lo));
    RAGD_ASSIGN_OR_RETURN(L.wv, load_linear(f, p + "attn_v.weight", E, kv_dim, lo));
    RAGD_ASSIGN_OR_RETURN(L.wo, load_linear(f, p + "attn_output.weight", q_dim, E, lo));
    RAGD_ASSIGN_OR_RETURN(L.bq, load_vector_optional(f, p + "attn_q.bias", q_dim));
    RAGD_ASSIGN_OR_RETURN(L.bk, load_vector_optional(f, p + "attn_k.bias", kv_dim));
    RAGD_ASSIGN_OR_RETURN(L.bv, load_vector_optional(f, p + "attn_v.bias", kv_dim));
    RAGD_ASSIGN_OR_RETURN(L.gate, load_linear(f, p + "ffn_gate.weight", E, c.n_ff, lo));
    RAGD_ASSIGN_OR_RETURN(L.up, load_linear(f, p + "ffn_up.weight", E, c.n_ff, lo));
    RAGD_ASSIGN_OR_RETURN(L.down, load_linear(f, p + "ffn_down.weight", c.n_ff, E, lo));
    for (const Linear* l : {L.wq.get(), L.wk.get(), L.wv.get(), L.wo.get(), L.gate.get(), L.up.get(), L.down.get()}) {
      m->weight_bytes_ += linear_bytes(l);
    }
    m->layers_.push_back(std::move(L));
  }
  m->chunk_invariant_ = (m->output_ ? m->output_ : m->token_embd_)->rows_independent();
  for (const Layer& L : m->layers_) {
    for (const Linear* l : {L.wq.get(), L.wk.get(), L.wv.get(), L.wo.get(), L.gate.get(), L.up.get(), L.down.get()}) {
      m->chunk_invariant_ = m->chunk_invariant_ && l->rows_independent();
    }
  }
  m->file_ = std::move(file);
  return std::shared_ptr<const DecoderModel>(std::move(m));
}

namespace {
int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
// Batches of at most this many tokens (generation, drafts, the server's
// prompt chunks of 64) run on the session's ComputePool, whose caller takes
// the tasks a descheduled worker has not claimed; larger ones (a whole
// prompt in 256-token batches) use OpenMP regions. On a loaded host an
// OpenMP region waits for every thread of its team to be scheduled (model/
// README.md, "Threads").
constexpr size_t kPoolMaxTokens = 64;
// Row-wise steps (norms, RoPE, SwiGLU, adds) run in parallel from this many
// tokens (a parallel step costs more than the work for a few rows).
constexpr int kParallelRowsMin = 16;
// Batches of at most this many tokens use Linear::forward_rows (the same as
// DecoderBatch::kSmallItemTokens).
constexpr int kRowExactMaxTokens = 16;
int session_ctx(const DecoderModel& m, const DecoderSessionOptions& o) {
  if (o.n_ctx > 0) return o.n_ctx;
  return std::min(m.config().n_ctx_train > 0 ? m.config().n_ctx_train : 2048, 4096);
}
}  // namespace

Result<std::unique_ptr<DecoderSession>> DecoderSession::create(std::shared_ptr<const DecoderModel> model,
                                                                DecoderSessionOptions options) {
  const DecoderConfig& c = model->config();
  const int n_ctx = session_ctx(*model, options);
  Result<KvCache> cache = KvCache::create(c.n_layer, n_ctx, c.n_head_kv * c.head_dim, options.kv_type);
  if (!cache.is_ok()) return cache.status().with_context("a session of " + std::to_string(n_ctx) + " positions");
  return std::unique_ptr<DecoderSession>(
      new DecoderSession(std::move(model), options, n_ctx, std::move(cache).value()));
}

DecoderSession::DecoderSession(std::shared_ptr<const DecoderModel> model, DecoderSessionOptions options, int n_ctx,
                               KvCache cache)
    : model_(std::move(model)),
      options_(options),
      n_ctx_(n_ctx),
      n_threads_(options.n_threads > 0 ? options.n_threads : default_threads()),
      cache_(std::move(cache)) {
  if (options_.n_batch <= 0) options_.n_batch = 256;
}

DecoderSession::DecoderSession(std::shared_ptr<const DecoderModel> model, DecoderSessionOptions options)
    : model_(std::move(model)),
      options_(options),
      n_ctx_(session_ctx(*model_, options)),
      n_threads_(options.n_threads > 0 ? options.n_threads : default_threads()),
      cache_(model_->config().n_layer, n_ctx_, model_->config().n_head_kv * model_->config().head_dim,
             options.kv_type) {
  if (options_.n_batch <= 0) options_.n_batch = 256;
}

DecoderSession::~DecoderSession() { pause(); }

Status DecoderSession::check_rows(const char* caller, size_t bytes, int rows_n, int n, int at) const {
  if (n < 0 || n > rows_n || n > n_ctx_ - at) {
    return Status::invalid_argument(std::string(caller) + ": " + std::to_string(n) + " of " + std::to_string(rows_n) +
                                    " positions after " + std::to_string(at) + " into a " + std::to_string(n_ctx_) +
                                    "-position session");
  }
  if (bytes != cache_.row_bytes() * 2 * static_cast<size_t>(cache_.n_layer()) * static_cast<size_t>(rows_n)) {
    return Status::invalid_argument(std::string(caller) + ": rows of another model or KV type");
  }
  return Status::ok();
}

Status DecoderSession::import_kv(const std::vector<uint8_t>& rows, int rows_n, int n) {
  RAGD_RETURN_IF_ERROR(check_rows("import_kv", rows.size(), rows_n, n, 0));
  n_past_ = 0;
  unshare(0);
  return append_kv(rows, rows_n, n);
}

Status DecoderSession::append_kv(const std::vector<uint8_t>& rows, int rows_n, int n) {
  RAGD_RETURN_IF_ERROR(check_rows("append_kv", rows.size(), rows_n, n, n_past_));
  cache_.import_rows(rows, rows_n, n_past_, n);
  n_past_ += n;
  return Status::ok();
}

Status DecoderSession::share_kv(std::shared_ptr<const void> owner, std::span<const SharedKvRows> parts) {
  if (n_past_ != 0) return Status::invalid_argument("share_kv: the session is not empty");
  int at = 0;
  for (const SharedKvRows& p : parts) {
    if (p.begin != at || p.end < p.begin) {
      return Status::invalid_argument("share_kv: parts must be consecutive from position 0");
    }
    RAGD_RETURN_IF_ERROR(check_rows("share_kv", p.rows.size(), p.rows_n, p.end - p.begin, p.begin));
    at = p.end;
  }
  shared_owner_ = std::move(owner);
  shared_parts_.assign(parts.begin(), parts.end());
  unshare(at);  // builds the views
  n_past_ = shared_n_;
  return Status::ok();
}

void DecoderSession::unshare(int n) {
  while (!shared_parts_.empty() && shared_parts_.back().begin >= n) shared_parts_.pop_back();
  if (!shared_parts_.empty()) shared_parts_.back().end = std::min(shared_parts_.back().end, n);
  shared_n_ = shared_parts_.empty() ? 0 : shared_parts_.back().end;
  if (shared_parts_.empty()) shared_owner_.reset();
  const int L = cache_.n_layer();
  const size_t elem = cache_.type() == KvType::kF16 ? 2 : 4;
  shared_segs_.clear();
  for (int l = 0; l < L; ++l) {
    for (const SharedKvRows& p : shared_parts_) {
      const size_t part = cache_.row_bytes() * static_cast<size_t>(p.rows_n);
      const uint8_t* base = p.rows.data() + static_cast<size_t>(l) * 2 * part;
      shared_segs_.push_back({base, base + part, static_cast<int64_t>(cache_.row_bytes() / elem), p.begin, p.end});
    }
  }
}

KvView DecoderSession::kv_view(int layer) const {
  KvView v = cache_.view(layer);
  if (!shared_parts_.empty()) {
    v.shared = shared_segs_.data() + static_cast<size_t>(layer) * shared_parts_.size();
    v.n_shared = static_cast<int>(shared_parts_.size());
  }
  return v;
}

std::vector<uint8_t> DecoderSession::export_kv(int begin, int end) const {
  end = std::min(end, n_past_);
  begin = std::min(begin, end);
  if (begin >= shared_n_) return cache_.export_rows(begin, end);
  const size_t rb = cache_.row_bytes(), part = rb * static_cast<size_t>(end - begin);
  std::vector<uint8_t> out(part * 2 * static_cast<size_t>(cache_.n_layer()));
  for (int l = 0; l < cache_.n_layer(); ++l) {
    uint8_t* k_out = out.data() + static_cast<size_t>(l) * 2 * part;
    uint8_t* v_out = k_out + part;
    kv_view(l).for_runs(begin, end, [&](int p, int e, const void* kr, const void* vr, int64_t) {
      // Rows are contiguous within a run (stride = kv_dim).
      const size_t at = static_cast<size_t>(p - begin) * rb, n = static_cast<size_t>(e - p) * rb;
      std::memcpy(k_out + at, kr, n);
      std::memcpy(v_out + at, vr, n);
    });
  }
  return out;
}

void DecoderSession::pause() {
  if (options_.scheduler != nullptr) options_.scheduler->pause(*this);
}

Status DecoderSession::check_tokens(std::span<const int32_t> tokens) const {
  const DecoderConfig& c = model_->config_;
  if (tokens.empty()) return Status::invalid_argument("eval: no tokens");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.n_vocab) {
      return Status::invalid_argument("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                      " is outside the vocabulary (" + std::to_string(c.n_vocab) + ")");
    }
  }
  if (static_cast<int64_t>(n_past_) + static_cast<int64_t>(tokens.size()) > n_ctx_) {
    return Status::resource_exhausted("context full: " + std::to_string(n_past_) + " tokens in the cache + " +
                                      std::to_string(tokens.size()) + " new > n_ctx " + std::to_string(n_ctx_));
  }
  return Status::ok();
}

Status DecoderSession::eval(std::span<const int32_t> tokens, std::vector<float>* logits_last,
                            std::vector<float>* logits_all) {
  const DecoderConfig& c = model_->config_;
  RAGD_RETURN_IF_ERROR(check_tokens(tokens));
  if (options_.scheduler != nullptr) return options_.scheduler->eval(*this, tokens, logits_last, logits_all);
  omp_set_num_threads(n_threads_);
  const size_t V = static_cast<size_t>(c.n_vocab);
  if (logits_all) logits_all->assign(tokens.size() * V, 0.0f);
  if (logits_last) logits_last->assign(V, 0.0f);
  for (size_t b = 0; b < tokens.size(); b += static_cast<size_t>(options_.n_batch)) {
    const size_t n = std::min(tokens.size() - b, static_cast<size_t>(options_.n_batch));
    const bool last_batch = b + n == tokens.size();
    // Batches of a few tokens (generation) run many short parallel steps:
    // on the session's pool, whose workers spin between them.
    ComputePool* pool = nullptr;
    if (n <= kPoolMaxTokens && n_threads_ > 1) {
      if (!pool_) pool_ = std::make_unique<ComputePool>(n_threads_);
      pool = pool_.get();
    }
    ComputePool::Scope scope(pool);
    if (logits_all) {
      forward_batch(tokens.subspan(b, n), true, logits_all->data() + b * V);
    } else {
      forward_batch(tokens.subspan(b, n), false, last_batch && logits_last ? logits_last->data() : nullptr);
    }
  }
  if (logits_all && logits_last) {
    std::copy(logits_all->end() - static_cast<std::ptrdiff_t>(V), logits_all->end(), logits_last->begin());
  }
  return Status::ok();
}

void DecoderSession::forward_batch(std::span<const int32_t> tokens, bool want_all, float* logits_out) {
  const DecoderModel& m = *model_;
  const DecoderConfig& c = m.config_;
  const int n = static_cast<int>(tokens.size());
  const int E = c.n_embd, hd = c.head_dim;
  const int q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  const int nt = n_threads_;
  auto grow = [](std::vector<float>& v, size_t sz) {
    if (v.size() < sz) v.resize(sz);
  };
  grow(x_, static_cast<size_t>(n) * E);
  grow(h_, static_cast<size_t>(n) * std::max(E, q_dim));
  grow(q_, static_cast<size_t>(n) * q_dim);
  grow(k_, static_cast<size_t>(n) * kv_dim);
  grow(v_, static_cast<size_t>(n) * kv_dim);
  grow(attn_, static_cast<size_t>(n) * q_dim);
  grow(ffn_a_, static_cast<size_t>(n) * c.n_ff);
  grow(ffn_b_, static_cast<size_t>(n) * c.n_ff);

  // Row-wise steps run in parallel for prompt-sized batches only (a parallel
  // region costs more than the work for a single token).
  const bool par = n >= kParallelRowsMin;
  // body(i) for every row: in parallel (the open pool, else OpenMP) from
  // kParallelRowsMin rows; each row's result is the same either way.
  auto for_rows = [&](auto&& body) {
    if (par) {
      parallel_for(n, nt, [&](int64_t i) { body(static_cast<int>(i)); });
    } else {
      for (int i = 0; i < n; ++i) body(i);
    }
  };
  // A few tokens (generation, a short prompt, drafts) through the row-exact
  // kernels, so a sequence gets the same numbers alone as in a DecoderBatch.
  const bool rows_exact = n <= kRowExactMaxTokens;
  auto group = [&](std::span<const Linear* const> ls, const float* x, std::span<float* const> ys) {
    if (rows_exact && n > 1) {
      for (size_t i = 0; i < ls.size(); ++i) ls[i]->forward_rows(x, n, ys[i], nt);
    } else {
      Linear::forward_group(ls, x, n, ys, nt);
    }
  };
  auto dead_input = [&](const Linear& w, float* x, float* y) {
    if (rows_exact && n > 1) {
      w.forward_rows(x, n, y, nt);
    } else {
      w.forward_overwriting(x, n, y, nt);
    }
  };
  for_rows([&](int i) { m.token_embd_->row(tokens[static_cast<size_t>(i)], x_.data() + static_cast<size_t>(i) * E); });

  const int pos0 = n_past_;
  AttentionShape shape{c.n_head, c.n_head_kv, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
  const float* freq = m.rope_freqs_.empty() ? nullptr : m.rope_freqs_.data();
  for (int l = 0; l < c.n_layer; ++l) {
    const DecoderModel::Layer& L = m.layers_[static_cast<size_t>(l)];
    for_rows([&](int i) {
      rms_norm(&x_[static_cast<size_t>(i) * E], L.attn_norm.data(), &h_[static_cast<size_t>(i) * E], E, c.rms_eps);
    });
    {
      const Linear* qkv[] = {L.wq.get(), L.wk.get(), L.wv.get()};
      float* const out[] = {q_.data(), k_.data(), v_.data()};
      group(qkv, h_.data(), out);
    }
    for_rows([&](int i) {
      float* qi = &q_[static_cast<size_t>(i) * q_dim];
      float* ki = &k_[static_cast<size_t>(i) * kv_dim];
      float* vi = &v_[static_cast<size_t>(i) * kv_dim];
      if (!L.bq.empty()) add_inplace(qi, L.bq.data(), q_dim);
      if (!L.bk.empty()) add_inplace(ki, L.bk.data(), kv_dim);
      if (!L.bv.empty()) add_inplace(vi, L.bv.data(), kv_dim);
      rope(qi, c.n_head, hd, c.n_rot, pos0 + i, c.rope_base, c.rope_mode, freq);
      rope(ki, c.n_head_kv, hd, c.n_rot, pos0 + i, c.rope_base, c.rope_mode, freq);
    });
    cache_.store(l, pos0, n, k_.data(), v_.data());
    attention(q_.data(), q_dim, n, pos0, kv_view(l), 0, pos0 + n, true, shape, attn_.data(), q_dim, nt);
    dead_input(*L.wo, attn_.data(), h_.data());
    for_rows([&](int i) {
      const size_t o = static_cast<size_t>(i) * E;
      add_inplace(&x_[o], &h_[o], E);
      rms_norm(&x_[o], L.ffn_norm.data(), &h_[o], E, c.rms_eps);
    });
    {
      const Linear* gate_up[] = {L.gate.get(), L.up.get()};
      float* const out[] = {ffn_a_.data(), ffn_b_.data()};
      group(gate_up, h_.data(), out);
    }
    for_rows([&](int i) {
      const size_t o = static_cast<size_t>(i) * c.n_ff;
      swiglu(&ffn_a_[o], &ffn_b_[o], &ffn_a_[o], c.n_ff);
    });
    dead_input(*L.down, ffn_a_.data(), h_.data());
    for_rows([&](int i) { add_inplace(&x_[static_cast<size_t>(i) * E], &h_[static_cast<size_t>(i) * E], E); });
  }
  n_past_ += n;
  if (logits_out == nullptr) return;
  const Linear& out = m.output_ ? *m.output_ : *m.token_embd_;
  const int first = want_all ? 0 : n - 1;
  const int rows = n - first;
  for (int i = first; i < n; ++i) {
    rms_norm(&x_[static_cast<size_t>(i) * E], m.output_norm_.data(), &h_[static_cast<size_t>(i - first) * E], E, c.rms_eps);
  }
  if (rows_exact && rows > 1) {
    out.forward_rows(h_.data(), rows, logits_out, nt);
  } else {
    out.forward(h_.data(), rows, logits_out, nt);
  }
}

}  // namespace ragd

#include "triage/learners.h"
#include "triage/bytes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

namespace ragd::triage {

// ---- linear model ----------------------------------------------------------

LinearModel LinearModel::train(const std::vector<SparseVec>& xs, const std::vector<int>& ys, int classes,
                               uint32_t dim, const LinearOptions& o,
                               const std::function<void(int, const LinearModel&)>& after_epoch) {
  assert(xs.size() == ys.size() && classes > 0);
  LinearModel m;
  m.classes_ = classes;
  m.dim_ = dim;
  m.bias_.assign(classes, 0.0f);
  m.w_.assign(static_cast<size_t>(dim) * classes, 0.0f);
  std::vector<float> g2(m.w_.size(), 0.0f), g2_bias(classes, 0.0f);
  std::vector<float> cw(classes, 1.0f);
  if (o.class_weighting >= 1 && !ys.empty()) {
    std::vector<size_t> count(classes, 0);
    for (int y : ys) ++count[y];
    for (int c = 0; c < classes; ++c) {
      if (count[c] == 0) continue;
      double w = std::sqrt(static_cast<double>(ys.size()) / (static_cast<double>(classes) * count[c]));
      cw[c] = static_cast<float>(std::clamp(w, 0.2, 5.0));
    }
    if (o.class_weighting == 1) {
      m.adjust_.resize(classes);
      for (int c = 0; c < classes; ++c) m.adjust_[c] = -std::log(cw[c]);
    }
  }
  std::vector<size_t> order(xs.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::vector<float> z(classes), g(classes);
  const float eps = 1e-8f;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      const SparseVec& x = xs[i];
      m.raw_logits(x, z);
      float zmax = *std::max_element(z.begin(), z.end());
      double sum = 0;
      for (int c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c] - zmax));
      for (int c = 0; c < classes; ++c) {
        float p = static_cast<float>(std::exp(static_cast<double>(z[c] - zmax)) / sum);
        g[c] = (p - (c == ys[i] ? 1.0f : 0.0f)) * cw[ys[i]];
      }
      for (int c = 0; c < classes; ++c) {
        if (std::fabs(g[c]) < 1e-5f) continue;
        g2_bias[c] += g[c] * g[c];
        m.bias_[c] -= o.learning_rate * g[c] / std::sqrt(g2_bias[c] + eps);
      }
      for (size_t k = 0; k < x.idx.size(); ++k) {
        float* row = &m.w_[static_cast<size_t>(x.idx[k]) * classes];
        float* acc = &g2[static_cast<size_t>(x.idx[k]) * classes];
        const float xv = x.val[k];
        for (int c = 0; c < classes; ++c) {
          if (std::fabs(g[c]) < 1e-5f) continue;
          float grad = g[c] * xv + o.l2 * row[c];
          acc[c] += grad * grad;
          row[c] -= o.learning_rate * grad / std::sqrt(acc[c] + eps);
        }
      }
    }
    if (after_epoch) after_epoch(epoch, m);
  }
  return m;
}

void LinearModel::logits(const SparseVec& x, std::vector<float>& out) const {
  raw_logits(x, out);
  for (size_t c = 0; c < adjust_.size(); ++c) out[c] += adjust_[c];
}

void LinearModel::raw_logits(const SparseVec& x, std::vector<float>& out) const {
  out.assign(bias_.begin(), bias_.end());
  const size_t C = static_cast<size_t>(classes_);
  for (size_t k = 0; k < x.idx.size(); ++k) {
    if (x.idx[k] >= dim_) continue;
    const size_t f = x.idx[k];
    if (!w_.empty()) {
      const float* row = &w_[f * C];
      for (size_t c = 0; c < C; ++c) out[c] += x.val[k] * row[c];
    } else {
      const float s = scale_[f];
      if (s == 0.0f) continue;
      const int8_t* row = &q_[f * C];
      const float xs = x.val[k] * s;
      for (size_t c = 0; c < C; ++c) out[c] += xs * static_cast<float>(row[c]);
    }
  }
}

void LinearModel::quantize() {
  if (w_.empty()) return;
  for (size_t c = 0; c < adjust_.size(); ++c) bias_[c] += adjust_[c];
  adjust_.clear();
  const size_t C = static_cast<size_t>(classes_);
  q_.assign(w_.size(), 0);
  scale_.assign(dim_, 0.0f);
  for (size_t f = 0; f < dim_; ++f) {
    const float* row = &w_[f * C];
    float mx = 0;
    for (size_t c = 0; c < C; ++c) mx = std::max(mx, std::fabs(row[c]));
    if (mx == 0.0f) continue;
    scale_[f] = mx / 127.0f;
    for (size_t c = 0; c < C; ++c) q_[f * C + c] = static_cast<int8_t>(std::lround(row[c] / scale_[f]));
  }
  std::vector<float>().swap(w_);
}

namespace {

constexpr uint32_t kLinearMagic = 0x314c5254;  // "TRL1"

}  // namespace

std::string LinearModel::serialize() const {
  assert(w_.empty() && "quantize() before serialize()");
  std::string out;
  put(out, kLinearMagic);
  put(out, static_cast<int32_t>(classes_));
  put(out, dim_);
  for (float b : bias_) put(out, b);
  uint32_t rows = 0;
  for (float s : scale_) rows += s != 0.0f;
  put(out, rows);
  const size_t C = static_cast<size_t>(classes_);
  for (uint32_t f = 0; f < dim_; ++f) {
    if (scale_[f] == 0.0f) continue;
    put(out, f);
    put(out, scale_[f]);
    out.append(reinterpret_cast<const char*>(&q_[f * C]), C);
  }
  return out;
}

Result<LinearModel> LinearModel::deserialize(std::string_view bytes) {
  Reader r(bytes);
  uint32_t magic = 0, rows = 0;
  int32_t classes = 0;
  LinearModel m;
  if (!r.get(magic) || magic != kLinearMagic) return Status::corruption("linear model: bad magic");
  if (!r.get(classes) || !r.get(m.dim_) || classes <= 0 || classes > 100000 || m.dim_ == 0 || m.dim_ > (1u << 24)) {
    return Status::corruption("linear model: bad header");
  }
  m.classes_ = classes;
  m.bias_.resize(classes);
  if (!r.bytes(m.bias_.data(), sizeof(float) * classes) || !r.get(rows) || rows > m.dim_) {
    return Status::corruption("linear model: truncated header");
  }
  for (int32_t c = 0; c < classes; ++c) {
    if (!std::isfinite(m.bias_[c])) return Status::corruption("linear model: non-finite bias " + std::to_string(c));
  }
  const size_t C = static_cast<size_t>(classes);
  m.q_.assign(static_cast<size_t>(m.dim_) * C, 0);
  m.scale_.assign(m.dim_, 0.0f);
  for (uint32_t i = 0; i < rows; ++i) {
    uint32_t f = 0;
    float s = 0;
    if (!r.get(f) || !r.get(s) || f >= m.dim_ || !std::isfinite(s) || !r.bytes(&m.q_[f * C], C)) {
      return Status::corruption("linear model: bad row " + std::to_string(i));
    }
    m.scale_[f] = s;
  }
  if (!r.done()) return Status::corruption("linear model: trailing bytes");
  return m;
}

// ---- kNN -------------------------------------------------------------------

KnnModel::KnnModel(std::vector<SparseVec> docs, std::vector<int> labels, int classes)
    : labels_(std::move(labels)), classes_(classes) {
  for (const auto& d : docs)
    if (!d.idx.empty()) dim_ = std::max(dim_, d.idx.back() + 1);
  postings_.resize(dim_);
  for (uint32_t i = 0; i < docs.size(); ++i)
    for (size_t k = 0; k < docs[i].idx.size(); ++k) postings_[docs[i].idx[k]].emplace_back(i, docs[i].val[k]);
}

std::vector<float> KnnModel::votes(const SparseVec& x, int k) const {
  std::vector<float> sim(labels_.size(), 0.0f);
  for (size_t j = 0; j < x.idx.size(); ++j) {
    if (x.idx[j] >= dim_) continue;
    for (const auto& [doc, w] : postings_[x.idx[j]]) sim[doc] += w * x.val[j];
  }
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < sim.size(); ++i)
    if (sim[i] > 0) ids.push_back(i);
  size_t kk = std::min<size_t>(static_cast<size_t>(std::max(k, 1)), ids.size());
  std::partial_sort(ids.begin(), ids.begin() + kk, ids.end(),
                    [&](uint32_t a, uint32_t b) { return sim[a] != sim[b] ? sim[a] > sim[b] : a < b; });
  std::vector<float> v(classes_, 0.0f);
  double total = 0;
  for (size_t i = 0; i < kk; ++i) {
    v[labels_[ids[i]]] += sim[ids[i]];
    total += sim[ids[i]];
  }
  if (total > 0)
    for (float& p : v) p = static_cast<float>(p / total);
  return v;
}

// ---- calibration and metrics ----------------------------------------------

std::vector<float> softmax(const std::vector<float>& logits, double temperature) {
  std::vector<float> p(logits.size());
  if (logits.empty()) return p;
  float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += std::exp((logits[i] - mx) / temperature);
  for (size_t i = 0; i < logits.size(); ++i) p[i] = static_cast<float>(std::exp((logits[i] - mx) / temperature) / sum);
  return p;
}

double fit_temperature(const std::vector<std::vector<float>>& logits, const std::vector<int>& truth) {
  double best_t = 1, best_nll = INFINITY;
  for (int i = 0; i <= 80; ++i) {
    double t = 0.05 * std::pow(400.0, i / 80.0);
    double nll = 0;
    for (size_t n = 0; n < logits.size(); ++n) {
      auto p = softmax(logits[n], t);
      nll -= std::log(std::max(1e-12, static_cast<double>(p[truth[n]])));
    }
    if (nll < best_nll) {
      best_nll = nll;
      best_t = t;
    }
  }
  return best_t;
}

Scored top1(const std::vector<float>& probs) {
  Scored s;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (s.label < 0 || probs[i] > s.confidence) {
      s.label = static_cast<int>(i);
      s.confidence = probs[i];
    }
  }
  return s;
}

double choose_threshold(const std::vector<Scored>& preds, const std::vector<int>& truth, double target,
                        size_t min_support) {
  std::vector<size_t> order(preds.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return preds[a].confidence > preds[b].confidence; });
  double best = 1.0 + 1e-9;  // withhold everything
  size_t right = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    right += preds[order[i]].label == truth[order[i]];
    // Only cut between distinct confidences: a threshold keeps all ties.
    if (i + 1 < order.size() && preds[order[i + 1]].confidence == preds[order[i]].confidence) continue;
    size_t n = i + 1;
    if (n >= min_support && static_cast<double>(right) / n >= target) best = preds[order[i]].confidence;
  }
  return best;
}

Metrics evaluate(const std::vector<Scored>& preds, const std::vector<int>& truth, int classes, double threshold) {
  Metrics m;
  m.n = preds.size();
  m.threshold = threshold;
  if (preds.empty()) return m;
  std::vector<size_t> tp(classes, 0), fp(classes, 0), fn(classes, 0);
  size_t right = 0, served = 0, served_right = 0;
  for (size_t i = 0; i < preds.size(); ++i) {
    bool ok = preds[i].label == truth[i];
    right += ok;
    if (ok) {
      ++tp[truth[i]];
    } else {
      if (preds[i].label >= 0) ++fp[preds[i].label];
      ++fn[truth[i]];
    }
    if (preds[i].confidence >= threshold) {
      ++served;
      served_right += ok;
    }
  }
  m.accuracy = static_cast<double>(right) / preds.size();
  double f1_sum = 0;
  int f1_n = 0;
  for (int c = 0; c < classes; ++c) {
    if (tp[c] + fp[c] + fn[c] == 0) continue;
    f1_sum += 2.0 * tp[c] / (2.0 * tp[c] + fp[c] + fn[c]);
    ++f1_n;
  }
  m.macro_f1 = f1_n ? f1_sum / f1_n : 0;
  m.coverage = static_cast<double>(served) / preds.size();
  m.precision = served ? static_cast<double>(served_right) / served : 0;
  return m;
}

Metrics evaluate(const std::vector<Scored>& preds, const std::vector<int>& truth, int classes, double threshold,
                 double target_precision) {
  Metrics m = evaluate(preds, truth, classes, threshold);
  const double t = choose_threshold(preds, truth, target_precision);
  size_t served = 0;
  for (const auto& p : preds) served += p.confidence >= t;
  m.coverage_at_target = preds.empty() ? 0 : static_cast<double>(served) / preds.size();
  return m;
}

double calibration_error(const std::vector<Scored>& preds, const std::vector<int>& truth, int bins) {
  std::vector<double> conf(bins, 0), acc(bins, 0);
  std::vector<size_t> n(bins, 0);
  for (size_t i = 0; i < preds.size(); ++i) {
    int b = std::min(bins - 1, static_cast<int>(preds[i].confidence * bins));
    conf[b] += preds[i].confidence;
    acc[b] += preds[i].label == truth[i];
    ++n[b];
  }
  double ece = 0;
  for (int b = 0; b < bins; ++b)
    if (n[b]) ece += std::fabs(acc[b] - conf[b]) / static_cast<double>(preds.size());
  return ece;
}

}  // namespace ragd::triage

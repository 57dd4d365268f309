#include "triage/model.h"
#include "triage/bytes.h"

#include <cmath>
#include <cstring>

namespace ragd::triage {
namespace {

constexpr uint32_t kFieldMagic = 0x31465254;       // "TRF1": no calibration map
constexpr uint32_t kFieldMagicMapped = 0x32465254;  // "TRF2": a map after the threshold

void put_vectorizer(std::string& out, const Vectorizer& v) {
  const FeatureOptions& o = v.options();
  put(out, o.hash_bits);
  put(out, static_cast<uint8_t>(o.word_bigrams));
  put(out, static_cast<int32_t>(o.char_min));
  put(out, static_cast<int32_t>(o.char_max));
  put(out, static_cast<uint8_t>(o.sublinear_tf));
  put(out, static_cast<uint32_t>(o.field_tokens.size()));
  for (const auto& f : o.field_tokens) put_str(out, f);
  const auto& idf = v.idf();
  uint32_t nz = 0;
  for (float x : idf) nz += x != 0.0f;
  put(out, nz);
  for (uint32_t i = 0; i < idf.size(); ++i) {
    if (idf[i] == 0.0f) continue;
    put(out, i);
    put(out, idf[i]);
  }
}

Status get_vectorizer(Reader& r, Vectorizer& out) {
  auto bad = [](const std::string& what) { return Status::corruption("triage model: " + what); };
  FeatureOptions o;
  uint8_t bigrams = 0, sublinear = 0;
  int32_t cmin = 0, cmax = 0;
  uint32_t n = 0;
  if (!r.get(o.hash_bits) || o.hash_bits < 4 || o.hash_bits > 24 || !r.get(bigrams) || !r.get(cmin) ||
      !r.get(cmax) || !r.get(sublinear) || !r.get(n) || n > 1000) {
    return bad("bad feature options");
  }
  o.word_bigrams = bigrams != 0;
  o.char_min = cmin;
  o.char_max = cmax;
  o.sublinear_tf = sublinear != 0;
  if (cmax > 0 && (cmin < 1 || cmin > cmax || cmax > 10)) return bad("bad character n-gram range");
  o.field_tokens.resize(n);
  for (auto& f : o.field_tokens)
    if (!r.str(f)) return bad("truncated field names");
  out = Vectorizer(o);
  std::vector<float> idf(size_t{1} << o.hash_bits, 0.0f);
  if (!r.get(n) || n > idf.size()) return bad("bad idf size");
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t i = 0;
    float v = 0;
    if (!r.get(i) || !r.get(v) || i >= idf.size() || !std::isfinite(v)) return bad("bad idf entry");
    idf[i] = v;
  }
  out.set_idf(std::move(idf));
  return Status::ok();
}

}  // namespace

const char* family_name(FieldModel::Family f) {
  switch (f) {
    case FieldModel::Family::kLinear: return "linear";
    case FieldModel::Family::kMajority: return "majority";
    case FieldModel::Family::kBlend: return "blend";
  }
  return "?";
}

void FieldModel::build_knn() {
  knn = std::make_shared<const KnnModel>(knn_docs, knn_labels, static_cast<int>(labels.size()));
}

std::vector<float> FieldModel::probabilities(const TicketText& t) const {
  if (family == Family::kMajority) return prior;
  std::vector<float> z;
  linear.logits(vectorizer.transform(ticket_counts(t, vectorizer.options(), field)), z);
  std::vector<float> p = softmax(z, temperature);
  if (family == Family::kBlend && knn) {
    std::vector<float> v = knn->votes(knn_vectorizer.transform(ticket_counts(t, knn_vectorizer.options(), field)),
                                      knn_k);
    for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>((1 - blend) * p[i] + blend * v[i]);
  }
  calibration.apply_top1(p);
  return p;
}

std::string FieldModel::serialize() const {
  std::string out;
  put(out, calibration.empty() ? kFieldMagic : kFieldMagicMapped);
  put(out, static_cast<uint8_t>(family));
  put(out, temperature);
  put(out, threshold);
  if (!calibration.empty()) calibration.serialize(out);
  put_str(out, field);
  put(out, static_cast<uint32_t>(labels.size()));
  for (const auto& l : labels) put_str(out, l);
  put_vectorizer(out, vectorizer);
  put(out, static_cast<uint32_t>(prior.size()));
  for (float p : prior) put(out, p);
  if (family == Family::kBlend) {
    put(out, blend);
    put(out, static_cast<int32_t>(knn_k));
    put_vectorizer(out, knn_vectorizer);
    put(out, static_cast<uint32_t>(knn_docs.size()));
    for (size_t i = 0; i < knn_docs.size(); ++i) {
      put(out, static_cast<uint32_t>(knn_labels[i]));
      put(out, static_cast<uint32_t>(knn_docs[i].idx.size()));
      for (size_t k = 0; k < knn_docs[i].idx.size(); ++k) {
        put(out, knn_docs[i].idx[k]);
        put(out, knn_docs[i].val[k]);
      }
    }
  }
  if (family != Family::kMajority) out += linear.serialize();
  return out;
}

Result<std::unique_ptr<FieldModel>> FieldModel::deserialize(std::string_view bytes) {
  auto bad = [](const std::string& what) { return Status::corruption("triage model: " + what); };
  Reader r(bytes);
  auto m = std::make_unique<FieldModel>();
  uint32_t magic = 0, n = 0;
  uint8_t fam = 0;
  if (!r.get(magic) || (magic != kFieldMagic && magic != kFieldMagicMapped)) return bad("bad magic");
  if (!r.get(fam) || fam > 2 || !r.get(m->temperature) || !r.get(m->threshold)) return bad("bad header");
  if (magic == kFieldMagicMapped) {
    size_t used = 0;
    if (!ConfidenceMap::parse(r.rest(), used, m->calibration) || !r.skip(used)) return bad("bad calibration map");
  }
  if (!r.str(m->field)) return bad("bad header");
  if (!(m->temperature > 0) || !std::isfinite(m->temperature)) return bad("bad temperature");
  // Above 1 is legitimate (withhold everything); NaN or infinite is not.
  if (!std::isfinite(m->threshold)) return bad("non-finite threshold");
  m->family = static_cast<Family>(fam);
  if (!r.get(n) || n == 0 || n > 100000) return bad("bad label count");
  m->labels.resize(n);
  for (auto& l : m->labels)
    if (!r.str(l)) return bad("truncated labels");
  if (Status st = get_vectorizer(r, m->vectorizer); !st.is_ok()) return st;
  if (!r.get(n) || n > m->labels.size()) return bad("bad prior");
  m->prior.resize(n);
  for (auto& p : m->prior)
    if (!r.get(p)) return bad("truncated prior");
  if (m->family == Family::kMajority) {
    if (m->prior.size() != m->labels.size()) return bad("prior does not match the labels");
    if (!r.rest().empty()) return bad("trailing bytes");
    return m;
  }
  if (m->family == Family::kBlend) {
    int32_t k = 0;
    if (!r.get(m->blend) || !(m->blend >= 0 && m->blend <= 1) || !r.get(k) || k < 1 || k > 10000) {
      return bad("bad blend settings");
    }
    m->knn_k = k;
    if (Status st = get_vectorizer(r, m->knn_vectorizer); !st.is_ok()) return st;
    if (!r.get(n) || n > 10000000) return bad("bad kNN size");
    m->knn_docs.resize(n);
    m->knn_labels.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t label = 0, nnz = 0;
      if (!r.get(label) || label >= m->labels.size() || !r.get(nnz) || nnz > m->knn_vectorizer.dim()) {
        return bad("bad kNN entry " + std::to_string(i));
      }
      m->knn_labels[i] = static_cast<int>(label);
      auto& d = m->knn_docs[i];
      d.idx.resize(nnz);
      d.val.resize(nnz);
      for (uint32_t k2 = 0; k2 < nnz; ++k2) {
        if (!r.get(d.idx[k2]) || !r.get(d.val[k2]) || d.idx[k2] >= m->knn_vectorizer.dim() ||
            !std::isfinite(d.val[k2])) {
          return bad("bad kNN entry " + std::to_string(i));
        }
      }
    }
    m->build_knn();
  }
  auto lin = LinearModel::deserialize(r.rest());
  if (!lin.is_ok()) return lin.status().with_context("triage model");
  if (static_cast<size_t>(lin->classes()) != m->labels.size() || lin->dim() != m->vectorizer.dim()) {
    return bad("linear model does not match the labels or features");
  }
  m->linear = std::move(*lin);
  return m;
}

}  // namespace ragd::triage

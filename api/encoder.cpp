#include "api/encoder.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "model/bert_embedder.h"

namespace ragd::api {

Result<Prefixes> encoder_prefixes(const EncoderOptions& o) {
  std::string preset = o.prefix_preset;
  if (preset == "auto") {
    std::string name = o.model.filename().string();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    preset = name.find("e5") != std::string::npos ? "e5" : name.find("bge") != std::string::npos ? "bge" : "none";
  }
  Prefixes p;
  if (preset == "e5") {
    p = {"query: ", "passage: "};
  } else if (preset == "bge") {
    p = {"Represent this sentence for searching relevant passages: ", ""};
  } else if (preset != "none") {
    return Status::invalid_argument("--embed-prefixes: unknown preset '" + o.prefix_preset +
                                    "' (auto, e5, bge or none)");
  }
  if (o.query_prefix) p.query = *o.query_prefix;
  if (o.passage_prefix) p.passage = *o.passage_prefix;
  return p;
}

namespace {

// The encoder's fingerprint names its prefixes too: a passage prefix changes
// every stored vector, so changing it must also ask for `ragd reindex`.
class PrefixedEncoder : public Embedder {
 public:
  PrefixedEncoder(std::unique_ptr<Embedder> inner, const Prefixes& p) : inner_(std::move(inner)) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (char c : p.query + '\x1f' + p.passage) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    fingerprint_ = inner_->fingerprint() + (p.query.empty() && p.passage.empty() ? "" : std::string(":prefix-") + hex);
  }
  int dim() const override { return inner_->dim(); }
  std::string fingerprint() const override { return fingerprint_; }
  Status embed(std::span<const std::string> texts, EmbedRole role, std::vector<float>& out) const override {
    return inner_->embed(texts, role, out);
  }

 private:
  std::unique_ptr<Embedder> inner_;
  std::string fingerprint_;
};

}  // namespace

Result<std::unique_ptr<Embedder>> load_gguf_encoder(const EncoderOptions& o) {
  RAGD_ASSIGN_OR_RETURN(Prefixes p, encoder_prefixes(o));
  BertEmbedderOptions bo;
  bo.max_batch = std::max(1, o.batch);
  bo.n_threads = o.threads;
  bo.query_prefix = p.query;
  bo.passage_prefix = p.passage;
  auto e = BertEmbedder::load(o.model.string(), bo);
  if (!e.is_ok()) return e.status().with_context("--embed-model " + o.model.string());
  return std::unique_ptr<Embedder>(std::make_unique<PrefixedEncoder>(std::move(e).value(), p));
}

}  // namespace ragd::api

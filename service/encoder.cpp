#include "service/encoder.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "model/bert_embedder.h"

namespace ragd {

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
  PrefixedEncoder(std::unique_ptr<Embedder> inner, const Prefixes& p) : inner_(std::move(inner)), prefixes_(p) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (char c : p.query + '\x1f' + p.passage) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    fingerprint_ = inner_->fingerprint() + (p.query.empty() && p.passage.empty() ? "" : std::string(":prefix-") + hex);
  }
  int dim() const override { return inner_->dim(); }
  std::string fingerprint() const override { return fingerprint_; }
  const Embedder& inner() const { return *inner_; }
  const Prefixes& prefixes() const { return prefixes_; }
  Status embed(std::span<const std::string> texts, EmbedRole role, std::vector<float>& out) const override {
    return inner_->embed(texts, role, out);
  }

 private:
  std::unique_ptr<Embedder> inner_;
  Prefixes prefixes_;
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

std::optional<size_t> encoder_token_count(const Embedder& encoder, const std::string& text) {
  const Embedder* e = &encoder;
  std::shared_ptr<const Embedder> hold;
  if (const auto* sw = dynamic_cast<const SwitchableEncoder*>(e)) {
    hold = sw->current();
    if (!hold) return std::nullopt;
    e = hold.get();
  }
  // BertEmbedder::tokenize() does not add the prefix that embed() adds.
  std::string prefix;
  if (const auto* pe = dynamic_cast<const PrefixedEncoder*>(e)) {
    prefix = pe->prefixes().passage;
    e = &pe->inner();
  }
  if (const auto* bert = dynamic_cast<const BertEmbedder*>(e)) return bert->tokenize(prefix + text).size();
  return std::nullopt;
}

SwitchableEncoder::SwitchableEncoder(std::shared_ptr<const Embedder> current, std::string fallback_fingerprint,
                                     int fallback_dim)
    : current_(std::move(current)),
      fallback_fingerprint_(std::move(fallback_fingerprint)),
      fallback_dim_(fallback_dim) {}

void SwitchableEncoder::set(std::shared_ptr<const Embedder> current) {
  std::lock_guard lock(mu_);
  current_ = std::move(current);
}

std::shared_ptr<const Embedder> SwitchableEncoder::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

int SwitchableEncoder::dim() const {
  auto c = current();
  return c ? c->dim() : fallback_dim_;
}

std::string SwitchableEncoder::fingerprint() const {
  auto c = current();
  return c ? c->fingerprint() : fallback_fingerprint_;
}

Status SwitchableEncoder::embed(std::span<const std::string> texts, EmbedRole role, std::vector<float>& out) const {
  auto c = current();
  if (c) return c->embed(texts, role, out);
  out.insert(out.end(), texts.size() * static_cast<size_t>(std::max(fallback_dim_, 0)), 0.0f);
  return Status::ok();
}

}  // namespace ragd

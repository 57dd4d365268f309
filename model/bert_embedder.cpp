#include "model/bert_embedder.h"

#include <algorithm>
#include <cstdio>

namespace ragd {

namespace {
// FNV-1a over the metadata-independent identity of the weights: file size,
// and the first and last MiB of tensor data.
uint64_t weights_hash(const GgufFile& f) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  const uint64_t size = f.file_size();
  mix(reinterpret_cast<const uint8_t*>(&size), sizeof size);
  for (const auto& t : f.tensors()) {
    const size_t n = std::min<size_t>(t.n_bytes, 1 << 16);
    mix(f.data(t), n);
  }
  return h;
}
}  // namespace

Result<std::unique_ptr<BertEmbedder>> BertEmbedder::load(const std::string& path, BertEmbedderOptions options) {
  auto file = GgufFile::open(path);
  if (!file.is_ok()) return file.status();
  std::shared_ptr<const GgufFile> shared(std::move(file).value());
  std::unique_ptr<BertEmbedder> e(new BertEmbedder());
  BertLoadOptions lo;
  lo.n_batch_tokens = options.n_batch_tokens;
  auto model = BertModel::from_gguf(shared, lo);
  if (!model.is_ok()) return model.status().with_context("loading encoder " + path);
  e->model_ = *model;
  auto tok = Tokenizer::from_gguf(*shared);
  if (!tok.is_ok()) return tok.status().with_context("loading encoder vocabulary " + path);
  e->tokenizer_ = std::move(tok).value();
  e->options_ = options;
  e->pooling_ = options.pooling == PoolingType::kNone ? e->model_->config().pooling : options.pooling;
  std::string name = "bert";
  if (auto n = shared->get_str("general.name"); n.is_ok()) name = std::string(*n);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(weights_hash(*shared)));
  e->fingerprint_ = "gguf-bert:" + name + ":" + (e->pooling_ == PoolingType::kMean ? "mean" : "cls") + ":" + hex;
  return e;
}

std::vector<int32_t> BertEmbedder::tokenize(std::string_view text) const {
  std::vector<int32_t> ids = tokenizer_->tokenize(text, /*add_special=*/true, /*parse_special=*/false);
  const size_t max = static_cast<size_t>(model_->config().n_ctx_train);
  if (ids.size() > max) {
    const int32_t sep = tokenizer_->sep();
    ids.resize(max);
    if (sep >= 0) ids.back() = sep;
  }
  if (ids.empty()) ids.push_back(tokenizer_->cls() >= 0 ? tokenizer_->cls() : 0);
  return ids;
}

Status BertEmbedder::embed(std::span<const std::string> texts, EmbedRole role, std::vector<float>& out) const {
  const std::string& prefix = role == EmbedRole::kQuery ? options_.query_prefix : options_.passage_prefix;
  const size_t batch = static_cast<size_t>(std::max(1, options_.max_batch));
  for (size_t b = 0; b < texts.size(); b += batch) {
    std::vector<std::vector<int32_t>> seqs;
    for (size_t i = b; i < std::min(texts.size(), b + batch); ++i) seqs.push_back(tokenize(prefix + texts[i]));
    RAGD_RETURN_IF_ERROR(model_->encode(seqs, pooling_, true, out, options_.n_threads));
  }
  return Status::ok();
}

}  // namespace ragd

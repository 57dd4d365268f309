// Next-token sampling: repetition penalty, then top-k, top-p, min-p,
// temperature and a seeded draw (llama.cpp's default chain order).
// Temperature <= 0 means greedy (argmax after the penalty).
// Thread safety: a Sampler has its own RNG; one per request.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace ragd {

struct SamplerOptions {
  // Softmax temperature; <= 0 picks the argmax. Default: 0.8.
  float temperature = 0.8f;
  // Keep the k most likely tokens; 0 = all. Default: 40.
  int top_k = 40;
  // Keep the smallest set whose probability reaches p; 1 = off. Default: 0.95.
  float top_p = 0.95f;
  // Drop tokens below min_p times the top probability; 0 = off. Default: 0.05.
  float min_p = 0.05f;
  // Divides positive (multiplies negative) logits of recently seen tokens;
  // 1 = off. Default: 1.0.
  float repeat_penalty = 1.0f;
  // How many of the last tokens the penalty looks at. Default: 64.
  int repeat_last_n = 64;
  // RNG seed; the same seed, options and logits give the same tokens. Default: 42.
  uint64_t seed = 42;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options);
  // Picks a token from `logits` (n_vocab values); `history` holds the tokens
  // so far (prompt and generated), for the repetition penalty.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;  // scratch
};

// Index of the largest value (the first one on ties).
int32_t argmax(std::span<const float> logits);

}  // namespace ragd

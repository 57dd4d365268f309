// The LLM that `ragd serve` answers with, switchable while serving (issue
// 16: `POST /v1/registry/models/{name}/activate` makes the registry's new
// active LLM serve without a restart).
//
// switch_to() loads the new file with the options the server started with
// (model threads, sessions, prompts, audit log), then swaps it in under a
// mutex. A request takes its own reference to the model at its start
// (current()), so requests in flight finish on the old model, which is
// freed when the last of them drops it; the load happens before the swap,
// so a file that fails to load leaves the old model serving.
//
// A server started without an LLM serves with none (current() is null):
// answer() goes to the fallback answerer (the extractive one) and
// generates() is false until the first switch_to() loads one. There is no
// switch back to none. A caller that read generates() just before that
// first switch may still be answered by the new model through answer()
// (outside the generation queue, encoded as an extractive answer): once,
// at the switch.
//
// Thread safety: every method may be called from many threads at once;
// switches are serialised.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>

#include "service/answerer.h"
#include "service/llm_path.h"

namespace ragd {

class LiveLlm final : public Answerer {
 public:
  // `ctx` and `fallback` must outlive this; `options` are those `first` was
  // opened with (and every later model will be). `first` null = no model
  // yet: `fallback` answers until switch_to() loads one.
  LiveLlm(const ServiceContext& ctx, LlmPathOptions options, std::shared_ptr<const LlmAnswerPath> first,
          const Answerer& fallback);

  Result<Answer> answer(const AnswerRequest& request, AnswerSink* sink) const override;
  bool generates() const override { return current() != nullptr; }
  // The serving model's (epochs differ between caches: an epoch read from
  // the model before a switch keeps the prompt out of the new one's cache).
  std::optional<uint64_t> prefix_cache_epoch() const override {
    std::shared_ptr<const LlmAnswerPath> model = current();
    return model ? model->prefix_cache_epoch() : std::nullopt;
  }

  // The model serving now (null before the first model); hold the pointer
  // for the whole request.
  std::shared_ptr<const LlmAnswerPath> current() const;
  // The options every model is opened with (their `model` aside).
  const LlmPathOptions& options() const { return options_; }
  // Loads `model` and makes it serve; `loaded` (optional) is called with it
  // after the load and before it serves (what describes the model is set
  // before any request sees it). Errors: LlmAnswerPath::open's (the old
  // model keeps serving).
  Status switch_to(const std::filesystem::path& model,
                   const std::function<void(const LlmAnswerPath&)>& loaded = {});
  // Completed switches since start.
  uint64_t switches() const { return switches_.load(); }

 private:
  const ServiceContext& ctx_;
  const LlmPathOptions options_;
  const Answerer& fallback_;
  std::mutex switch_mu_;  // one load at a time
  mutable std::mutex mu_;
  std::shared_ptr<const LlmAnswerPath> current_;  // guarded by mu_; null = none yet
  std::atomic<uint64_t> switches_{0};
};

}  // namespace ragd

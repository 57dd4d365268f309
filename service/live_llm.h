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
// Thread safety: every method may be called from many threads at once;
// switches are serialised.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>

#include "service/answerer.h"
#include "service/llm_path.h"

namespace ragd {

class LiveLlm final : public Answerer {
 public:
  // `ctx` must outlive this; `options` are those `first` was opened with.
  LiveLlm(const ServiceContext& ctx, LlmPathOptions options, std::shared_ptr<const LlmAnswerPath> first);

  Result<Answer> answer(const AnswerRequest& request, AnswerSink* sink) const override {
    return current()->answer(request, sink);
  }
  bool generates() const override { return true; }

  // The model serving now; hold the pointer for the whole request.
  std::shared_ptr<const LlmAnswerPath> current() const;
  // Loads `model` and makes it serve. Errors: LlmAnswerPath::open's (the old
  // model keeps serving).
  Status switch_to(const std::filesystem::path& model);
  // Completed switches since start.
  uint64_t switches() const { return switches_.load(); }

 private:
  const ServiceContext& ctx_;
  const LlmPathOptions options_;
  std::mutex switch_mu_;  // one load at a time
  mutable std::mutex mu_;
  std::shared_ptr<const LlmAnswerPath> current_;  // guarded by mu_
  std::atomic<uint64_t> switches_{0};
};

}  // namespace ragd

#include "service/live_llm.h"

#include <utility>

namespace ragd {

LiveLlm::LiveLlm(const ServiceContext& ctx, LlmPathOptions options, std::shared_ptr<const LlmAnswerPath> first)
    : ctx_(ctx), options_(std::move(options)), current_(std::move(first)) {}

std::shared_ptr<const LlmAnswerPath> LiveLlm::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Status LiveLlm::switch_to(const std::filesystem::path& model) {
  std::lock_guard switching(switch_mu_);
  LlmPathOptions o = options_;
  o.model = model;
  // Loaded beside the serving one: for a moment both models are in memory.
  auto opened = LlmAnswerPath::open(ctx_, o);
  if (!opened.is_ok()) return opened.status().with_context("switching to " + model.string());
  std::shared_ptr<const LlmAnswerPath> next = std::move(opened).value();
  std::shared_ptr<const LlmAnswerPath> old;
  {
    std::lock_guard lock(mu_);
    old = std::exchange(current_, std::move(next));
  }
  ++switches_;
  // `old` is released here, or by the last request still using it.
  return Status::ok();
}

}  // namespace ragd

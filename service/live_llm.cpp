#include "service/live_llm.h"

#include <utility>

namespace ragd {

LiveLlm::LiveLlm(const ServiceContext& ctx, LlmPathOptions options, std::shared_ptr<const LlmAnswerPath> first,
                 const Answerer& fallback)
    : ctx_(ctx), options_(std::move(options)), fallback_(fallback), current_(std::move(first)) {}

Result<Answer> LiveLlm::answer(const AnswerRequest& request, AnswerSink* sink) const {
  std::shared_ptr<const LlmAnswerPath> model = current();
  if (model == nullptr) return fallback_.answer(request, sink);
  return model->answer(request, sink);
}

std::shared_ptr<const LlmAnswerPath> LiveLlm::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Status LiveLlm::switch_to(const std::filesystem::path& model,
                          const std::function<void(const LlmAnswerPath&)>& loaded) {
  std::lock_guard switching(switch_mu_);
  LlmPathOptions o = options_;
  o.model = model;
  // Loaded beside the serving one: for a moment both models are in memory.
  auto opened = LlmAnswerPath::open(ctx_, o);
  if (!opened.is_ok()) return opened.status().with_context("switching to " + model.string());
  std::shared_ptr<const LlmAnswerPath> next = std::move(opened).value();
  if (loaded) loaded(*next);
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

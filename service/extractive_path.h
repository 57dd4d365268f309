// The default Answerer: ServiceContext::answer() (the extractive answerer of
// generate/extractive.h over a retrieval rerun across a reindex switch),
// recorded in the audit log. It never streams: the sink is not used.
#pragma once

#include "generate/audit_log.h"
#include "service/answerer.h"
#include "service/service.h"

namespace ragd {

class ExtractiveAnswerPath final : public Answerer {
 public:
  // `audit` may be null (answers are not recorded). Both must outlive this.
  ExtractiveAnswerPath(const ServiceContext& ctx, AuditLog* audit) : ctx_(ctx), audit_(audit) {}

  Result<Answer> answer(const AnswerRequest& request, AnswerSink* sink) const override;
  bool generates() const override { return false; }
  std::optional<uint64_t> prefix_cache_epoch() const override { return std::nullopt; }

 private:
  const ServiceContext& ctx_;
  AuditLog* audit_;
};

}  // namespace ragd

#include "service/extractive_path.h"

#include <algorithm>
#include <chrono>

#include "ragd/clock.h"

namespace ragd {
namespace {

// Who asked what, what was retrieved and cited, and what produced the answer.
AuditRecord audit_record(const AnswerRequest& req, const Answer& answer, double latency_ms) {
  AuditRecord rec;
  rec.request_id = req.request_id;
  rec.time_ms = unix_ms() - static_cast<int64_t>(latency_ms);
  rec.caller = req.caller;
  rec.task = "answer";
  rec.query = req.search.query;
  auto add_distinct = [](std::vector<std::string>& ids, const std::string& id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  for (const auto& h : answer.hits) add_distinct(rec.retrieved_doc_ids, h.doc_id);
  for (const auto& c : answer.citations) add_distinct(rec.cited_doc_ids, c.doc_id);
  rec.grounding = grounding_name(answer.refused ? Grounding::kRefused : answer.grounding);
  rec.answerer = answer.answerer;
  rec.encoder = answer.encoder;
  rec.prompt_version = answer.prompt_version;
  rec.store_sequence = answer.store_sequence;
  rec.latency_ms = latency_ms;
  return rec;
}

}  // namespace

Result<Answer> ExtractiveAnswerPath::answer(const AnswerRequest& request, AnswerSink*) const {
  const auto start = std::chrono::steady_clock::now();
  const ServiceContext& ctx = request.context != nullptr ? *request.context : ctx_;
  RAGD_ASSIGN_OR_RETURN(Answer answer, ctx.answer(request.search, request.reader));
  answer.request_id = request.request_id;  // the answer's id: its audit record's, feedback's key
  if (audit_) {
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    Status logged = audit_->append(audit_record(request, answer, ms));
    if (!logged.is_ok()) return logged.with_context("audit log");
  }
  return answer;
}

}  // namespace ragd

#include "govern/feedback.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace ragd::govern {
namespace {

using json = nlohmann::json;
constexpr const char* kPrefix = "answer_feedback/";

}  // namespace

Result<AnswerFeedback> feedback_for(const std::vector<AuditRecord>& records, bool helpful, std::string correction) {
  const AuditRecord* base = nullptr;
  const AuditRecord* escalated = nullptr;
  for (const auto& r : records) {
    if (r.task == "escalation") {
      if (r.escalation_outcome == "answered") escalated = &r;
    } else if (base == nullptr) {
      base = &r;
    }
  }
  if (base == nullptr) return Status::not_found("no answer with this id in the audit log");
  AnswerFeedback f;
  f.answer_id = base->request_id;
  f.helpful = helpful;
  f.correction = std::move(correction);
  f.question = base->query;
  const AuditRecord& final_rec = escalated != nullptr ? *escalated : *base;
  f.refused = escalated == nullptr && base->grounding == "refused";
  f.cited_doc_ids = final_rec.cited_doc_ids;
  f.answerer = final_rec.answerer;
  f.model = final_rec.model_file;
  f.grounding = final_rec.grounding;
  f.answered_ms = base->time_ms;
  return f;
}

std::string feedback_to_json(const AnswerFeedback& f) {
  json j{{"answer_id", f.answer_id},   {"helpful", f.helpful},       {"correction", f.correction},
         {"caller", f.caller},         {"time_ms", f.time_ms},       {"question", f.question},
         {"refused", f.refused},       {"cited_doc_ids", f.cited_doc_ids}, {"answerer", f.answerer},
         {"model", f.model},           {"grounding", f.grounding},   {"answered_ms", f.answered_ms}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<AnswerFeedback> feedback_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::corruption("answer feedback is not a JSON object");
  AnswerFeedback f;
  try {
    f.answer_id = j.at("answer_id").get<std::string>();
    f.helpful = j.at("helpful").get<bool>();
    f.correction = j.value("correction", "");
    f.caller = j.value("caller", "");
    f.time_ms = j.value("time_ms", int64_t{0});
    f.question = j.value("question", "");
    f.refused = j.value("refused", false);
    f.cited_doc_ids = j.value("cited_doc_ids", std::vector<std::string>{});
    f.answerer = j.value("answerer", "");
    f.model = j.value("model", "");
    f.grounding = j.value("grounding", "");
    f.answered_ms = j.value("answered_ms", int64_t{0});
  } catch (const json::exception& e) {
    return Status::corruption(std::string("answer feedback: ") + e.what());
  }
  return f;
}

Status put_feedback(Store& store, const AnswerFeedback& f) {
  return store.put_state(kPrefix + f.answer_id, feedback_to_json(f));
}

Result<std::vector<AnswerFeedback>> list_feedback(const Store& store, size_t* malformed) {
  RAGD_ASSIGN_OR_RETURN(auto rows, store.list_state(kPrefix, SIZE_MAX));
  std::vector<AnswerFeedback> out;
  size_t bad = 0;
  for (const auto& [key, value] : rows) {
    auto f = feedback_from_json(value);
    if (f.is_ok()) {
      out.push_back(std::move(f).value());
    } else {
      ++bad;
    }
  }
  if (malformed != nullptr) *malformed = bad;
  return out;
}

std::optional<std::string> feedback_eval_line(const AnswerFeedback& f, const std::string& split) {
  if (f.question.empty()) return std::nullopt;
  json j{{"id", "feedback-" + f.answer_id}, {"question", f.question}, {"category", "feedback"}, {"split", split}};
  if (f.helpful && f.refused) {
    j["answerable"] = false;
    j["key_facts"] = json::array();
    j["gold_doc_ids"] = json::array();
    j["category"] = "feedback_refusal";
  } else if (!f.correction.empty()) {
    j["answerable"] = true;
    j["key_facts"] = json::array({f.correction});
    j["gold_doc_ids"] = f.helpful ? f.cited_doc_ids : std::vector<std::string>{};
  } else {
    return std::nullopt;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace ragd::govern

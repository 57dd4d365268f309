// Answer feedback (issue 16, point 4): a judgement of one answer (helpful or
// not, and an optional correction), linked to the answer's audit record by
// its id (the request id every answer carries) and stored durably in the
// collection's store under the state key "answer_feedback/<answer id>" (the
// newest judgement of an answer wins). `ragd eval export-feedback` turns the
// judged questions into an answers-eval file (retrieve/eval.h's format,
// what `ragd eval --answers` reads):
//
//   helpful, answered            -> answerable, gold docs = the cited ones,
//                                   key fact = the correction (skipped without one)
//   helpful, refused             -> unanswerable (the refusal was right)
//   not helpful, with correction -> answerable, key fact = the correction
//   not helpful, no correction   -> skipped (nothing says what is right)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "generate/audit_log.h"
#include "index/store.h"
#include "ragd/status.h"

namespace ragd::govern {

struct AnswerFeedback {
  std::string answer_id;   // the answer's request_id, its audit record's
  bool helpful = false;
  std::string correction;  // "" = none: the right answer (or a phrase it must hold)
  std::string caller;      // who judged, "" = unknown
  int64_t time_ms = 0;     // when, unix ms
  // From the answer's audit record:
  std::string question;
  bool refused = false;
  std::vector<std::string> cited_doc_ids;
  std::string answerer;    // "extractive", "llm", "escalated"
  std::string model;       // model file (or upstream model), "" for extractive
  std::string grounding;
  int64_t answered_ms = 0;
};

// Longest accepted correction, bytes.
inline constexpr size_t kMaxCorrectionBytes = 4096;

// The feedback for the answer whose audit records are `records` (those with
// its request id; an escalation record, when it answered, is the final
// answer). Errors: kNotFound when `records` holds no answer record.
Result<AnswerFeedback> feedback_for(const std::vector<AuditRecord>& records, bool helpful, std::string correction);

std::string feedback_to_json(const AnswerFeedback& f);
Result<AnswerFeedback> feedback_from_json(std::string_view text);

// Stores it (one synced write). Errors: the store's.
Status put_feedback(Store& store, const AnswerFeedback& f);
// Every stored judgement in key order; malformed ones are skipped and counted.
Result<std::vector<AnswerFeedback>> list_feedback(const Store& store, size_t* malformed = nullptr);

// The answers-eval line (one JSON object, no newline), or nullopt when the
// judgement makes no question (see the table above).
std::optional<std::string> feedback_eval_line(const AnswerFeedback& f, const std::string& split);

}  // namespace ragd::govern

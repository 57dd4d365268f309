// Ticket assist: what the service desk asks of a ticket that just arrived
// (POST /v1/tickets/assist, api/routes/tickets.cpp; service/TICKETS.md).
//
//   assist(ticket, groups) -> similar      resolved tickets like it (hybrid
//                                          retrieval, then a rerank on shared
//                                          identifiers, open ones penalised)
//                             runbooks     non-ticket documents that apply,
//                                          with their best section
//                             suggestion   the Answerer's grounded answer to
//                                          "how do I fix <ticket>"
//                             triage       the TriagePredictor's fields
//                             duplicates   open tickets with the same error
//                                          on the same CI in the time window
//
// One retrieval (ticket kinds and the others together) feeds similar,
// runbooks and duplicates; the suggestion runs the Answerer once more. Every
// list goes through the caller's groups (SearchRequest::groups), so a
// ticket never shows what the key may not read.
//
// Tasks (summarize, resolution_note, kb_draft): with an LLM loaded, the
// Answerer writes them from the ticket's own description, comments and
// resolution and (kb_draft) its siblings' resolutions, given as passages
// (AnswerRequest::passages), with the task's prompt template; only verified
// sentences are kept, and each names the part it cites. Without an LLM, or
// when nothing of the model's text is verified, they select sentences
// (generate/sentences.h) from the same parts. Every sentence carries its
// citation ("comment 3", "description", "resolution", or "<doc> (resolution)").
//
// Feedback: one durable state record per call under "ticket_feedback/"
// (Store::put_state), the acceptance counters loaded from there at start.
//
// Thread safety: assist(), the tasks and feedback() may be called from many
// threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/answerer.h"
#include "service/service.h"
#include "triage/triage.h"

namespace ragd {

// One predicted ticket field (triage/triage.h).
using FieldPrediction = triage::FieldPrediction;

// Predicts ticket fields (assignment_group, category, priority, ...) from
// the ticket's text and known fields.
class TriagePredictor {
 public:
  virtual ~TriagePredictor() = default;
  virtual std::map<std::string, FieldPrediction> predict(std::string_view subject, std::string_view description,
                                                         const std::map<std::string, std::string>& fields) const = 0;
};

// The TriagePredictor of `ragd serve`: the models `ragd triage train` (or
// the server's own retrainer, service/triage_retrainer.h) activated in the
// store (triage::TriageModels), read at open and again by reload().
// Thread-safe: a prediction uses one set of models while reload() swaps in
// the next.
class StoredTriage final : public TriagePredictor {
 public:
  // kCorruption when a stored model cannot be read; no trained field is an
  // empty predictor (predict() returns {}), not an error.
  static Result<std::unique_ptr<StoredTriage>> open(const Store& store);
  std::map<std::string, FieldPrediction> predict(std::string_view subject, std::string_view description,
                                                 const std::map<std::string, std::string>& fields) const override;
  // Re-reads the active models; on error the current ones keep serving.
  Status reload(const Store& store);
  std::vector<triage::ServedModelInfo> served() const;
  // The fields that have a served model.
  size_t fields() const { return served().size(); }

 private:
  explicit StoredTriage(std::shared_ptr<const triage::TriageModels> models) : models_(std::move(models)) {}
  std::shared_ptr<const triage::TriageModels> current() const;
  mutable std::mutex mu_;  // guards the pointer only; models are immutable
  std::shared_ptr<const triage::TriageModels> models_;
};

// A ticket as the ITSM tool holds it.
struct TicketInput {
  std::string id;
  std::string subject;
  std::string description;
  // category, priority, cmdb_ci, caller, sys_id, ...
  std::map<std::string, std::string> fields;
  // Comment thread / work notes, oldest first (tasks).
  std::vector<std::string> comments;
  // Close notes when the ticket is already resolved (kb_draft).
  std::string resolution;
  // When it was opened, unix seconds; 0 = now (duplicate window).
  int64_t opened_at = 0;
};

// A raw ServiceNow, Jira or Zendesk record (one object as the vendor's API
// returns it), mapped by connectors/ into a TicketInput. `format`:
// "servicenow", "jira" or "zendesk".
Result<TicketInput> ticket_from_record(std::string_view record_json, std::string_view format);
// A stored ticket (or one just mapped) as a TicketInput: subject from the
// title, description, close notes and comments from its blocks.
TicketInput ticket_from_document(const Document& doc);

struct TicketAssistOptions {
  // Chunks retrieved for similar tickets, runbooks and duplicates together.
  // Default: 60.
  int candidates = 60;
  // Similar tickets returned. Default: 5.
  int similar_k = 5;
  // Runbooks returned; one whose best chunk scores under runbook_min_share of
  // the best runbook's is left out. Defaults: 3, 0.5.
  int runbooks_k = 3;
  double runbook_min_share = 0.5;
  // Rerank: score = retrieval score / best + identifier_weight * share of
  // the ticket's identifiers (weighted) the candidate holds - open_penalty
  // when the candidate is not resolved. Defaults: 0.8, 0.5.
  double identifier_weight = 0.8;
  double open_penalty = 0.5;
  // Duplicates: open tickets opened within this many seconds of the new one
  // that share an error identifier and the CI, or whose rerank score is at
  // least duplicate_score. Defaults: 86400 (24 h), 1.6.
  int64_t duplicate_window_s = 86400;
  double duplicate_score = 1.6;
  int duplicates_k = 5;
  // Chunks the suggestion's answer may use. Default: 6.
  int suggestion_k = 6;
  // Sentences per task section. Default: 3.
  int task_sentences = 3;
};

struct SimilarTicket {
  std::string id, title, url;
  double score = 0;
  std::string resolution;  // the resolution block (close notes), or ""
  std::string state, close_code;
  int64_t closed_at = 0;  // unix seconds when resolved (its last update), else 0
  bool resolved = false;
  std::vector<std::string> shared_identifiers;
};

struct RunbookMatch {
  std::string id, title, url, kind, chunk_id;
  double score = 0;
  std::vector<std::string> section_path;
  std::string text;
};

struct Suggestion {
  bool grounded = false;
  std::string text;
  std::vector<Citation> citations;
  double confidence = 0;
  // Which answerer made it: "extractive" or the LLM's prompt version and
  // model file and SHA-256 (Answer's provenance fields).
  std::string answerer, prompt_version, model_file, model_sha256;
};

struct DuplicateTicket {
  std::string id, title, url, state;
  double score = 0;
  int64_t opened_at = 0;
  std::vector<std::string> shared_identifiers;
  bool same_ci = false;
};

// One cited sentence of a task's output.
struct CitedSentence {
  std::string text;
  std::string cite;  // "description", "comment 2", "INC0012345#1"
};

struct TaskSection {
  std::string name;  // "problem", "tried", "current_state", "cause", ...
  std::vector<CitedSentence> sentences;
};

struct TaskResult {
  std::string task;  // summarize | resolution_note | kb_draft
  std::vector<TaskSection> sections;
  // What wrote it: "llm" (the loaded model, every sentence kept only when
  // the verifier found it supported by the passage it cites) or
  // "extractive" (sentences selected from the ticket and its siblings).
  std::string generated_by = "extractive";
  // LLM only: the verifier's verdict ("verified" or "partial"), the model
  // file and the prompt template version.
  std::string grounding, model_file, prompt_version;
  // With an LLM loaded, why its text was not used ("" when it was): it
  // failed verification, said the passages do not answer, or failed.
  std::string llm_fallback;
};

struct AssistResult {
  std::vector<SimilarTicket> similar;
  std::vector<RunbookMatch> runbooks;
  Suggestion suggestion;
  std::map<std::string, FieldPrediction> triage;
  std::vector<DuplicateTicket> duplicates;
  std::vector<TaskResult> tasks;
  // Provenance: the encoder and the store sequence the result was computed
  // at (at least); the triage models' versions are in each prediction.
  std::string encoder;
  uint64_t store_sequence = 0;
};

struct AssistRequest {
  TicketInput ticket;
  // The caller's groups (already narrowed to the key's).
  std::vector<std::string> groups;
  // Tasks to run as well: "summarize", "resolution_note", "kb_draft".
  std::vector<std::string> tasks;
  std::string caller, request_id;
  // Where to search and read documents when not this service's store: a
  // cluster's coordinator (KnowledgeReader::retrieve and ::document, and
  // the suggestion's answer through it). Null: the store.
  const KnowledgeReader* reader = nullptr;
  // TicketAssist::prefix_cache_epoch() read before `ticket` was read from
  // the store (a request by id), whose text the tasks' prompts quote.
  // Unset = assist() and run_task() read it when they start.
  std::optional<uint64_t> cache_epoch;
};

// What the agent did with an assist result.
struct TicketFeedback {
  std::string ticket_id;
  std::string field;      // e.g. assignment_group; "" = none
  std::string value;      // the right value of `field`
  std::string predicted;  // what triage predicted for `field`, "" = unknown
  std::optional<bool> suggestion_helpful;
  std::string similar_used;  // id of the similar ticket used, "" = none
  std::string caller;
};

// Acceptance counters (from every stored feedback record).
struct FeedbackCounts {
  uint64_t records = 0;
  uint64_t suggestion_rated = 0, suggestion_helpful = 0;
  uint64_t similar_rated = 0, similar_used = 0;
  uint64_t triage_rated = 0, triage_accepted = 0;
};

bool is_ticket_task(std::string_view name);

class TicketAssist {
 public:
  // `triage` may be null ("triage": {}). All must outlive this. Loads the
  // feedback counters from the store.
  TicketAssist(const ServiceContext& ctx, const Answerer& answerer, const TriagePredictor* triage,
               TicketAssistOptions options = {});

  Result<AssistResult> assist(const AssistRequest& request) const;
  // One task alone (the /v1/tickets/<task> routes). kInvalidArgument for an
  // unknown task.
  Result<TaskResult> run_task(const std::string& task, const AssistRequest& request) const;

  // Stores the record ("ticket_feedback/<ts>-<ticket_id>-<n>") and counts
  // it. Returns the key written.
  Result<std::string> feedback(const TicketFeedback& feedback, Store& store);
  FeedbackCounts feedback_counts() const;

  const TicketAssistOptions& options() const { return options_; }
  // The answerer's prefix-cache epoch, for AssistRequest::cache_epoch.
  std::optional<uint64_t> prefix_cache_epoch() const { return answerer_.prefix_cache_epoch(); }

 private:
  struct Candidates;
  Result<Candidates> retrieve(const TicketInput& ticket, const std::vector<std::string>& groups,
                              const KnowledgeReader* reader) const;
  Suggestion suggest(const AssistRequest& request) const;
  // The LLM's version when one is loaded and its text is verified, else
  // the extractive one (with TaskResult::llm_fallback saying why).
  // `cache_epoch`: the answerer's prefix_cache_epoch() read before
  // `similar` was found (AnswerRequest::cache_epoch).
  TaskResult task_from(const std::string& task, const AssistRequest& request, const std::vector<SimilarTicket>& similar,
                       std::optional<uint64_t> cache_epoch) const;
  Result<TaskResult> llm_task(const std::string& task, const AssistRequest& request,
                              const std::vector<SimilarTicket>& similar, std::optional<uint64_t> cache_epoch) const;
  TaskResult extractive_task(const std::string& task, const TicketInput& ticket,
                             const std::vector<SimilarTicket>& similar) const;
  void count(const TicketFeedback& f);

  const ServiceContext& ctx_;
  const Answerer& answerer_;
  const TriagePredictor* triage_;
  TicketAssistOptions options_;
  mutable std::mutex feedback_mu_;
  FeedbackCounts counts_;  // guarded by feedback_mu_
  uint64_t feedback_seq_ = 0;  // guarded by feedback_mu_
};

// Identifiers of a text: tokens with digits (error codes 0x80070005,
// ORA-12541, hosts db-prod-03, KB0010023), dotted host names, lower-cased;
// a host name also gives its first label. Exposed for tests.
std::vector<std::string> extract_identifiers(std::string_view text);

}  // namespace ragd

// Escalation to a larger model, only with permission (issue 16, point 5).
//
// EscalatingAnswerer wraps the server's Answerer (extractive or LLM). It
// hands a question to the collection's OpenAI-compatible upstream only when
// all three hold:
//   1. the local answer is refused or unverified (grounding refused,
//      partial, none or fallback);
//   2. the collection's [[escalation]] policy says allow = true;
//   3. the request says "escalate": true (AnswerRequest::escalate).
// What leaves the box is the question and the local answer's passages (the
// cited ones first, then the other retrieved ones, at most max_passages),
// after redact.h: e-mail addresses, IPs, host names, the people named in the
// passages' name fields (requester, assignee, ...) and the policy's own
// patterns. The audit log gets one record (task "escalation") holding the
// exact request body sent. The upstream's answer goes through the same
// citation verification as the local LLM's (generate/verifier.h) against the
// passages it was given; only a verified or partial answer replaces the
// local one, otherwise the local answer stands with the outcome named.
//
// Thread safety: answer() may be called from many threads (one HTTP client
// per call; the policies are immutable).
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "generate/audit_log.h"
#include "govern/redact.h"
#include "service/answerer.h"
#include "service/service.h"

namespace ragd::govern {

// One [[escalation]] table of the config file.
struct EscalationPolicy {
  // The collection it governs; "default" is the data directory's own.
  // Default: "default".
  std::string collection = "default";
  // Whether answers of this collection may leave the box at all. Default: false.
  bool allow = false;
  // The upstream's OpenAI base URL ("https://llm.example/v1"); requests go
  // to url + "/chat/completions". Required when allow is true.
  std::string url;
  // The upstream model name. Required when allow is true.
  std::string model;
  // Environment variable holding the upstream's API key (sent as a bearer
  // token); "" = no key. The key itself never appears in the config file.
  std::string key_env;
  // Extra patterns (ECMAScript regular expressions) replaced by
  // "[REDACTED]". Default: none.
  std::vector<std::string> redact;
  // Metadata fields whose values name people; their values are redacted
  // wherever they appear in what is sent.
  // Default: requester, caller_id, caller, reporter, assignee, assigned_to,
  // opened_by, submitter, author.
  std::vector<std::string> name_fields = {"requester", "caller_id",   "caller",    "reporter", "assignee",
                                          "assigned_to", "opened_by", "submitter", "author"};
  // Passages sent at most. Default: 4.
  int max_passages = 4;
  // max_tokens asked of the upstream. Default: 512.
  int max_tokens = 512;
  // Whole-request timeout, seconds. Default: 60.
  int timeout_seconds = 60;
  int line = 0;  // where the table starts in the config file, for messages
};

// Reads every [[escalation]] table of a TOML config file. Errors name the
// file and line: "ragd.toml:7: escalation 'kb2': allow = true needs url".
Result<std::vector<EscalationPolicy>> parse_escalation_policies(std::string_view toml, const std::string& path);
Result<std::vector<EscalationPolicy>> read_escalation_policies(const std::string& path);

// The outcomes, as in Answer::escalation and ragd_escalations_total{outcome}.
inline constexpr std::array<std::string_view, 6> kEscalationOutcomes = {
    "not_needed", "not_allowed", "answered", "unverified", "failed", "no_passages"};

// The chat request body sent upstream for a question and its (already
// redacted) passages: exposed for tests.
std::string escalation_request_body(const EscalationPolicy& policy, const std::string& question,
                                    const std::vector<std::string>& titles, const std::vector<std::string>& passages);

class EscalatingAnswerer final : public Answerer {
 public:
  // `inner`, `ctx` (the default collection, for the verifier's encoder) and
  // `audit` (may be null: nothing recorded) must outlive this. Errors:
  // kInvalidArgument for a bad redact pattern.
  static Result<std::unique_ptr<EscalatingAnswerer>> make(const Answerer& inner, const ServiceContext& ctx,
                                                          std::vector<EscalationPolicy> policies, AuditLog* audit);

  Result<Answer> answer(const AnswerRequest& request, AnswerSink* sink) const override;
  bool generates() const override { return inner_.generates(); }
  std::optional<uint64_t> prefix_cache_epoch() const override { return inner_.prefix_cache_epoch(); }

  // Called with each outcome (metrics). Set before serving.
  std::function<void(std::string_view outcome)> on_outcome;
  // The policy of a collection ("" = default); null when none is configured.
  const EscalationPolicy* policy(std::string_view collection) const;

 private:
  struct Entry {
    EscalationPolicy policy;
    Redactor redactor;
  };
  EscalatingAnswerer(const Answerer& inner, const ServiceContext& ctx, std::vector<Entry> entries, AuditLog* audit)
      : inner_(inner), ctx_(ctx), entries_(std::move(entries)), audit_(audit) {}
  Result<Answer> escalate(const AnswerRequest& request, Answer local, const Entry& entry) const;
  Answer& mark(Answer& a, std::string_view outcome) const;

  const Answerer& inner_;
  const ServiceContext& ctx_;
  std::vector<Entry> entries_;
  AuditLog* audit_;
};

}  // namespace ragd::govern

#include "govern/escalation.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "generate/sentences.h"
#include "generate/verifier.h"
#include "ragd/clock.h"
#include "sync/http.h"

namespace ragd::govern {
namespace {

using json = nlohmann::json;

// Refused, or an LLM answer the verifier did not fully back.
bool needs_escalation(const Answer& a) {
  return a.refused || a.grounding == Grounding::kRefused || a.grounding == Grounding::kPartial ||
         a.grounding == Grounding::kNone || a.grounding == Grounding::kFallback;
}

// The passages to send: the chunks the local answer cites first, then the
// other retrieved ones in rank order.
std::vector<const Hit*> pick_passages(const Answer& a, int max_passages) {
  std::vector<const Hit*> out;
  std::set<std::string> taken;
  auto take = [&](const Hit& h) {
    if (static_cast<int>(out.size()) < max_passages && taken.insert(h.chunk_id).second) out.push_back(&h);
  };
  for (const auto& c : a.citations) {
    for (const auto& h : a.hits) {
      if (h.chunk_id == c.chunk_id) take(h);
    }
  }
  for (const auto& h : a.hits) take(h);
  return out;
}

std::string first_sentences(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  std::string out;
  for (const auto& s : split_sentences(text)) {
    if (!out.empty() && out.size() + s.size() + 1 > max_chars) break;
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out.empty() ? text.substr(0, max_chars) : out;
}

}  // namespace

std::string escalation_request_body(const EscalationPolicy& policy, const std::string& question,
                                    const std::vector<std::string>& titles, const std::vector<std::string>& passages) {
  const std::string refusal = VerifierOptions{}.refusal;
  std::string user = "Passages:\n";
  for (size_t i = 0; i < passages.size(); ++i) {
    user += "[" + std::to_string(i + 1) + "] " + (i < titles.size() ? titles[i] : std::string()) + "\n" + passages[i] +
            "\n\n";
  }
  user += "Question: " + question;
  json body{{"model", policy.model},
            {"messages",
             json::array({json{{"role", "system"},
                               {"content", "Answer the question using only the numbered passages. End every sentence "
                                           "with the number of the passage that supports it, like [1]. If the "
                                           "passages do not contain the answer, reply exactly: " +
                                               refusal}},
                          json{{"role", "user"}, {"content", user}}})},
            {"max_tokens", policy.max_tokens},
            {"temperature", 0},
            {"stream", false}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::unique_ptr<EscalatingAnswerer>> EscalatingAnswerer::make(const Answerer& inner, const ServiceContext& ctx,
                                                                     std::vector<EscalationPolicy> policies,
                                                                     AuditLog* audit) {
  std::vector<Entry> entries;
  for (auto& p : policies) {
    auto r = Redactor::make(p.redact);
    if (!r.is_ok()) return r.status().with_context("escalation '" + p.collection + "'");
    entries.push_back(Entry{std::move(p), std::move(r).value()});
  }
  return std::unique_ptr<EscalatingAnswerer>(new EscalatingAnswerer(inner, ctx, std::move(entries), audit));
}

const EscalationPolicy* EscalatingAnswerer::policy(std::string_view collection) const {
  const std::string_view name = collection.empty() ? std::string_view("default") : collection;
  for (const auto& e : entries_) {
    if (e.policy.collection == name) return &e.policy;
  }
  return nullptr;
}

Answer& EscalatingAnswerer::mark(Answer& a, std::string_view outcome) const {
  a.escalation = std::string(outcome);
  if (on_outcome) on_outcome(outcome);
  return a;
}

Result<Answer> EscalatingAnswerer::answer(const AnswerRequest& request, AnswerSink* sink) const {
  RAGD_ASSIGN_OR_RETURN(Answer local, inner_.answer(request, sink));
  if (!request.escalate) return local;
  if (!needs_escalation(local)) return std::move(mark(local, "not_needed"));
  const EscalationPolicy* p = policy(request.collection);
  if (p == nullptr || !p->allow) return std::move(mark(local, "not_allowed"));
  for (const auto& e : entries_) {
    if (&e.policy == p) return escalate(request, std::move(local), e);
  }
  return std::move(mark(local, "not_allowed"));
}

Result<Answer> EscalatingAnswerer::escalate(const AnswerRequest& request, Answer local, const Entry& entry) const {
  const EscalationPolicy& p = entry.policy;
  const auto start = std::chrono::steady_clock::now();
  const int64_t started_ms = unix_ms();
  local.escalation_model = p.model;
  const std::vector<const Hit*> hits = pick_passages(local, p.max_passages);
  if (hits.empty()) return std::move(mark(local, "no_passages"));

  // Redact: the people named in the passages' name fields, then the rest.
  std::vector<std::string> names;
  for (const Hit* h : hits) {
    for (const auto& f : p.name_fields) {
      if (auto it = h->metadata.find(f); it != h->metadata.end() && !it->second.empty()) names.push_back(it->second);
    }
  }
  RedactionCounts counts;
  const std::string& question = request.input.empty() ? request.search.query : request.input;
  const std::string sent_question = entry.redactor.redact(question, names, &counts);
  std::vector<std::string> titles, passages;
  for (const Hit* h : hits) {
    titles.push_back(entry.redactor.redact(h->title, names, &counts));
    passages.push_back(entry.redactor.redact(h->text, names, &counts));
  }
  const std::string body = escalation_request_body(p, sent_question, titles, passages);

  AuditRecord rec;
  rec.request_id = request.request_id;
  rec.time_ms = started_ms;
  rec.caller = request.caller;
  rec.task = "escalation";
  rec.query = sent_question;
  for (const Hit* h : hits) {
    if (std::find(rec.retrieved_doc_ids.begin(), rec.retrieved_doc_ids.end(), h->doc_id) == rec.retrieved_doc_ids.end()) {
      rec.retrieved_doc_ids.push_back(h->doc_id);
    }
  }
  rec.answerer = "escalated";
  rec.model_file = p.model;
  rec.encoder = local.encoder;
  rec.store_sequence = local.store_sequence;
  rec.escalation_url = p.url + "/chat/completions";
  rec.escalation_sent = body;
  rec.grounding = std::string(grounding_name(Grounding::kNone));

  std::string outcome = "failed";
  std::optional<Answer> upstream_answer;
  [&] {
    std::string key;
    if (!p.key_env.empty()) {
      const char* v = std::getenv(p.key_env.c_str());
      if (v == nullptr || *v == '\0') {
        rec.escalation_error = "environment variable " + p.key_env + " (key_env) is not set";
        rec.escalation_sent.clear();  // nothing left the box
        return;
      }
      key = v;
    }
    sync::HttpOptions ho;
    ho.timeout_seconds = p.timeout_seconds;
    ho.connect_timeout_seconds = std::min(10, p.timeout_seconds);
    ho.max_attempts = 2;
    ho.backoff_initial_ms = 200;
    ho.backoff_max_ms = 2000;
    ho.max_body_bytes = 8u << 20;
    sync::HttpClient client(ho);
    if (!key.empty()) client.set_bearer(key);
    auto resp = client.post_json(rec.escalation_url, body);
    if (!resp.is_ok()) {
      rec.escalation_error = resp.status().message();
      return;
    }
    json j = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    const json* content = nullptr;
    if (j.is_object() && j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
      const json& c0 = j["choices"][0];
      if (c0.is_object() && c0.contains("message") && c0["message"].is_object() &&
          c0["message"].contains("content") && c0["message"]["content"].is_string()) {
        content = &c0["message"]["content"];
      }
    }
    if (content == nullptr) {
      rec.escalation_error = "the upstream's answer is not an OpenAI chat completion (choices[0].message.content)";
      return;
    }
    const std::string text = content->get<std::string>();
    if (j.contains("usage") && j["usage"].is_object()) {
      rec.prompt_tokens = j["usage"].value("prompt_tokens", 0);
      rec.completion_tokens = j["usage"].value("completion_tokens", 0);
    }
    // The same check as the local LLM's answers, against what it was given.
    const ServiceContext& ctx = request.context != nullptr ? *request.context : ctx_;
    const Verifier verifier(ctx.embedder());
    const Verification v = verifier.verify(text, passages);
    rec.grounding = std::string(grounding_name(v.grounding));
    if (v.grounding != Grounding::kVerified && v.grounding != Grounding::kPartial) {
      outcome = "unverified";
      return;
    }
    Answer a = local;
    a.text = v.text;
    a.format = "text";
    a.raw_text = text;
    a.refused = false;
    a.grounding = v.grounding;
    a.removed_sentences = v.removed;
    a.confidence = v.mean_support;
    a.citations.clear();
    for (int n : v.cited) {
      const Hit& h = *hits[static_cast<size_t>(n - 1)];
      a.citations.push_back(Citation{n, h.doc_id, h.chunk_id, h.title, h.url, first_sentences(h.text, 300)});
      if (std::find(rec.cited_doc_ids.begin(), rec.cited_doc_ids.end(), h.doc_id) == rec.cited_doc_ids.end()) {
        rec.cited_doc_ids.push_back(h.doc_id);
      }
    }
    a.answerer = "escalated";
    a.model_file = p.model;
    a.model_sha256.clear();
    a.prompt_tokens = rec.prompt_tokens;
    a.completion_tokens = rec.completion_tokens;
    outcome = "answered";
    upstream_answer = std::move(a);
  }();
  rec.escalation_outcome = outcome;
  rec.outcome = outcome == "failed" ? "error" : "ok";
  rec.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (audit_ != nullptr) {
    Status logged = audit_->append(rec);
    if (!logged.is_ok()) return logged.with_context("audit log");
  }
  if (upstream_answer) return std::move(mark(*upstream_answer, outcome));
  return std::move(mark(local, outcome));
}

}  // namespace ragd::govern

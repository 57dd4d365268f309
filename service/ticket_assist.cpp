#include "service/ticket_assist.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "connectors/connector.h"
#include "generate/sentences.h"
#include "generate/verifier.h"
#include "ragd/clock.h"

namespace ragd {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// "2024-03-02", "10:20", "4/5/2024": times and dates are not identifiers.
bool date_or_time(std::string_view t) {
  int digits = 0, seps = 0;
  for (char c : t) {
    if (is_digit(c)) ++digits;
    else if (c == '-' || c == ':' || c == '/' || c == '.' || c == 't' || c == 'z') ++seps;
    else return false;
  }
  if (digits + seps != static_cast<int>(t.size())) return false;
  // Dates: yyyy-mm-dd (10), times hh:mm(:ss).
  return t.find(':') != std::string_view::npos ||
         (t.size() >= 8 && t.size() <= 10 && (t[4] == '-' || t[2] == '/' || t[1] == '/')) ||
         (t.size() >= 19 && t[4] == '-');
}

// A year (1990..2099) alone says nothing about the error.
bool year(std::string_view t) {
  return t.size() == 4 && std::all_of(t.begin(), t.end(), is_digit) && (t.substr(0, 2) == "19" || t.substr(0, 2) == "20");
}

// Identifier weight: codes with letters and digits (and hosts) 1, a bare
// number 0.5 (error 809, but also "port 500").
double identifier_weight(std::string_view id) {
  bool letter = std::any_of(id.begin(), id.end(), is_alpha);
  return letter ? 1.0 : 0.5;
}

constexpr const char* kCiFields[] = {"cmdb_ci", "configuration_item", "ci", "host", "hostname", "components"};

// The ticket's CI (lower-cased), "" when none.
std::string ci_of(const std::map<std::string, std::string>& fields) {
  for (const char* f : kCiFields) {
    auto it = fields.find(f);
    if (it != fields.end() && !trim(it->second).empty()) return lower(trim(it->second));
  }
  return "";
}

// The first label of a host name ("db-prod-03.corp.example.com" -> "db-prod-03").
std::string first_label(const std::string& host) {
  size_t dot = host.find('.');
  return dot == std::string::npos ? host : host.substr(0, dot);
}

bool closed_state(const std::string& s) {
  static const std::set<std::string> kClosed = {"resolved", "closed", "done", "solved", "complete", "completed",
                                                "cancelled", "canceled", "fixed", "6", "7", "8"};
  return kClosed.count(lower(trim(s))) > 0;
}

bool open_state(const std::string& s) {
  static const std::set<std::string> kOpen = {"new", "open", "pending", "hold", "on hold", "in progress", "to do",
                                              "todo", "active", "work in progress", "assigned", "1", "2", "3"};
  return kOpen.count(lower(trim(s))) > 0;
}

std::string state_of(const Document& d) {
  for (const char* k : {"state", "status", "incident_state"}) {
    auto it = d.metadata.find(k);
    if (it != d.metadata.end() && !it->second.empty()) return it->second;
  }
  return "";
}

const Block* block_with_role(const Document& d, const char* role) {
  for (const auto& b : d.blocks) {
    if (b.role == role) return &b;
  }
  return nullptr;
}

// Resolved: a closed state, or close notes and no open state.
bool is_resolved(const Document& d) {
  const std::string s = state_of(d);
  if (closed_state(s)) return true;
  if (open_state(s)) return false;
  return block_with_role(d, "resolution") != nullptr;
}

std::string meta(const Document& d, const char* key) {
  auto it = d.metadata.find(key);
  return it == d.metadata.end() ? std::string() : it->second;
}

// The whole text of a stored document for identifier matching.
std::string full_text(const Document& d) {
  std::string t = d.title;
  if (!d.blocks.empty()) {
    for (const auto& b : d.blocks) t += "\n" + b.text;
  } else {
    t += "\n" + d.text;
  }
  for (const char* f : kCiFields) {
    auto it = d.metadata.find(f);
    if (it != d.metadata.end()) t += "\n" + it->second;
  }
  return t;
}

// Drops the connector's entry header: "2024-03-02 10:11:12 - Name (Work
// notes)\n", "Name (2024-…): ", "author 42 (public, …): ".
std::string_view strip_entry_header(std::string_view c) {
  c = trim(c);
  if (c.size() > 10 && is_digit(c[0]) && c[4] == '-') {
    size_t nl = c.find('\n');
    if (nl != std::string_view::npos && nl < 120 && c.substr(0, nl).find(')') != std::string_view::npos) {
      return trim(c.substr(nl + 1));
    }
  }
  size_t close = c.find("): ");
  if (close != std::string_view::npos && close < 120 && c.substr(0, close).find('(') != std::string_view::npos &&
      c.substr(0, close).find('\n') == std::string_view::npos) {
    return trim(c.substr(close + 3));
  }
  return c;
}

// Sentences worth quoting: at least `min_words` words.
std::vector<std::string> sentences_of(std::string_view text, int min_words = 3) {
  std::vector<std::string> out;
  for (auto& s : split_sentences(text)) {
    int words = 0;
    bool in_word = false;
    for (char c : s) {
      bool w = !std::isspace(static_cast<unsigned char>(c));
      if (w && !in_word) ++words;
      in_word = w;
    }
    if (words >= min_words) out.push_back(std::move(s));
  }
  return out;
}

bool states_cause(const std::string& s) {
  const std::string l = lower(s);
  for (const char* m : {"because", "caused", "cause:", "root cause", "due to", "was the cause", "as a result of",
                        "after the", "since the"}) {
    if (l.find(m) != std::string::npos) return true;
  }
  return false;
}

// Whether `d` is the ticket itself: the same id (also Zendesk's "ZD-<id>"),
// or the same source record id (sys_id).
bool same_ticket(const TicketInput& t, const Document& d) {
  if (!t.id.empty()) {
    const std::string a = lower(t.id), b = lower(d.id);
    if (a == b) return true;
    if (b.size() > a.size() && b.compare(b.size() - a.size(), a.size(), a) == 0 && b[b.size() - a.size() - 1] == '-' &&
        std::all_of(a.begin(), a.end(), is_digit)) {
      return true;
    }
  }
  auto sys = t.fields.find("sys_id");
  return sys != t.fields.end() && !sys->second.empty() && sys->second == meta(d, "sys_id");
}

// Weighted share of `query` identifiers found in `have`, and which.
double overlap(const std::vector<std::string>& query, const std::unordered_set<std::string>& have,
               std::vector<std::string>* shared) {
  double total = 0, hit = 0;
  for (const auto& q : query) {
    const double w = identifier_weight(q);
    total += w;
    if (have.count(q)) {
      hit += w;
      if (shared) shared->push_back(q);
    }
  }
  return total > 0 ? hit / total : 0;
}

}  // namespace

std::vector<std::string> extract_identifiers(std::string_view text) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  auto add = [&](std::string id) {
    if (id.size() < 3 || id.size() > 80) return;
    if (seen.insert(id).second) out.push_back(std::move(id));
  };
  auto is_token_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':' ||
           c == '/' || c == '\\' || c == '$' || c == '#';
  };
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !is_token_char(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && is_token_char(text[j])) ++j;
    std::string_view tok = text.substr(i, j - i);
    i = j;
    // Trailing punctuation of prose ("db-prod-03.", "809:") is not part of it.
    while (!tok.empty() && (tok.back() == '.' || tok.back() == ':' || tok.back() == '-' || tok.back() == '/' ||
                            tok.back() == '\\' || tok.back() == '_')) {
      tok.remove_suffix(1);
    }
    while (!tok.empty() && (tok.front() == '.' || tok.front() == ':' || tok.front() == '-' || tok.front() == '/' ||
                            tok.front() == '\\' || tok.front() == '#')) {
      tok.remove_prefix(1);
    }
    if (tok.size() < 3) continue;
    // Paths and URLs: their parts are tokens of their own.
    if (tok.find('/') != std::string_view::npos || tok.find('\\') != std::string_view::npos ||
        tok.find("::") != std::string_view::npos) {
      std::string part;
      for (char c : std::string(tok) + "/") {
        if (c == '/' || c == '\\' || c == ':') {
          for (auto& id : extract_identifiers(part)) add(std::move(id));
          part.clear();
        } else {
          part += c;
        }
      }
      continue;
    }
    std::string t = lower(tok);
    const bool digit = std::any_of(t.begin(), t.end(), is_digit);
    const bool letter = std::any_of(t.begin(), t.end(), is_alpha);
    const bool dotted_host = letter && t.find('.') != std::string::npos && is_alpha(t.front()) &&
                             is_alpha(t.back()) && std::count(t.begin(), t.end(), '.') >= 2;
    if (!digit && !dotted_host) continue;
    if (date_or_time(t) || year(t)) continue;
    if (digit && !letter && t.find_first_not_of("0123456789") == std::string::npos && t.size() < 3) continue;
    // "v2", "2nd", "10am": short letter+digit words are prose.
    if (digit && letter && t.size() <= 3 && t.find_first_of("-_.") == std::string::npos) continue;
    if (dotted_host || (letter && t.find('.') != std::string::npos && t.find_first_of("-") != std::string::npos)) {
      const std::string label = first_label(t);
      if (label.size() >= 3 && label != t && std::any_of(label.begin(), label.end(), is_alpha)) add(label);
    }
    add(std::move(t));
  }
  return out;
}

Result<TicketInput> ticket_from_record(std::string_view record_json, std::string_view format) {
  auto f = parse_source_format(format);
  std::string wrapped;
  if (f == SourceFormat::kServiceNow) {
    wrapped = "{\"result\":[" + std::string(record_json) + "]}";
  } else if (f == SourceFormat::kJira) {
    wrapped = "{\"issues\":[" + std::string(record_json) + "]}";
  } else if (f == SourceFormat::kZendesk) {
    wrapped = "{\"tickets\":[" + std::string(record_json) + "]}";
  } else {
    return Status::invalid_argument("field 'format': expected \"servicenow\", \"jira\" or \"zendesk\"");
  }
  FetchOptions fo;
  fo.format = *f;
  std::vector<Document> docs;
  std::string error;
  FetchSink sink{[&](Document&& d) { docs.push_back(std::move(d)); },
                 [&](const Status& s) {
                   if (error.empty()) error = s.message();
                 }};
  Status st = fetch_buffer(wrapped, "record.json", fo, sink);
  if (!st.is_ok()) return st.with_context("field 'record'");
  if (docs.size() != 1) {
    return Status::invalid_argument("field 'record': not a " + std::string(format) + " record" +
                                    (error.empty() ? std::string() : ": " + error));
  }
  return ticket_from_document(docs.front());
}

TicketInput ticket_from_document(const Document& d) {
  TicketInput t;
  t.id = d.id;
  const std::string prefix = d.id + ": ";
  t.subject = d.title.rfind(prefix, 0) == 0 ? d.title.substr(prefix.size()) : d.title;
  for (const auto& b : d.blocks) {
    if (b.role == "problem") {
      std::string_view p = b.text;
      if (p.rfind(d.title, 0) == 0) p.remove_prefix(d.title.size());
      t.description = std::string(trim(p));
    } else if (b.role == "resolution") {
      t.resolution = b.text;
    } else if (b.role == "comment") {
      t.comments.push_back(b.text);
    }
  }
  if (d.blocks.empty()) t.description = std::string(trim(d.text));
  t.fields = d.metadata;
  t.opened_at = d.created_at ? d.created_at : d.updated_at;
  return t;
}

bool is_ticket_task(std::string_view name) {
  return name == "summarize" || name == "resolution_note" || name == "kb_draft";
}

// The retrieval shared by similar, runbooks and duplicates.
struct TicketAssist::Candidates {
  struct TicketCand {
    Document doc;
    double score = 0;  // rerank score
    double retrieval = 0;
    double overlap = 0;
    bool resolved = false;
    bool same_ci = false;
    std::vector<std::string> shared;
  };
  std::vector<TicketCand> tickets;  // best first
  std::vector<RunbookMatch> runbooks;
  std::vector<std::string> identifiers;
};

Result<TicketAssist::Candidates> TicketAssist::retrieve(const TicketInput& ticket,
                                                        const std::vector<std::string>& groups,
                                                        const KnowledgeReader* reader) const {
  Candidates c;
  const std::string ci = ci_of(ticket.fields);
  c.identifiers = extract_identifiers(ticket.subject + "\n" + ticket.description);
  if (!ci.empty()) {
    for (const std::string& id : {ci, first_label(ci)}) {
      if (id.size() >= 3 && std::find(c.identifiers.begin(), c.identifiers.end(), id) == c.identifiers.end()) {
        c.identifiers.push_back(id);
      }
    }
  }
  SearchRequest sr;
  sr.query = ticket.subject + "\n" + ticket.description;
  if (!ci.empty()) sr.query += "\n" + ci;
  if (trim(sr.query).empty()) return Status::invalid_argument("the ticket has no subject or description");
  sr.k = options_.candidates;
  sr.groups = groups;
  sr.dedup = false;  // duplicates are what this looks for
  RAGD_ASSIGN_OR_RETURN(std::vector<Hit> hits, reader ? reader->retrieve(sr) : ctx_.search(sr));

  // Best chunk per document, in rank order.
  std::vector<const Hit*> best;
  std::unordered_map<std::string, size_t> at;
  for (const auto& h : hits) {
    if (at.emplace(h.doc_id, best.size()).second) best.push_back(&h);
  }
  double top_ticket = 0, top_runbook = 0;
  for (const Hit* h : best) {
    double& top = h->kind == "ticket" ? top_ticket : top_runbook;
    top = std::max(top, h->score);
  }
  for (const Hit* h : best) {
    if (h->kind == "ticket") {
      std::optional<Document> doc;
      if (reader) {
        RAGD_ASSIGN_OR_RETURN(doc, reader->document(sr, h->doc_id));
      } else if (auto stored = ctx_.store().get_document(h->doc_id); stored.is_ok()) {
        doc = std::move(stored).value();
      } else if (stored.status().code() != StatusCode::kNotFound) {
        return stored.status();
      }
      if (!doc) continue;  // deleted since the search
      if (same_ticket(ticket, *doc)) continue;
      Candidates::TicketCand t;
      t.doc = std::move(*doc);
      t.retrieval = top_ticket > 0 ? h->score / top_ticket : 0;
      auto ids = extract_identifiers(full_text(t.doc));
      std::unordered_set<std::string> have(ids.begin(), ids.end());
      const std::string their_ci = lower(meta(t.doc, "cmdb_ci"));
      if (!their_ci.empty()) {
        have.insert(their_ci);
        have.insert(first_label(their_ci));
      }
      t.overlap = overlap(c.identifiers, have, &t.shared);
      t.resolved = is_resolved(t.doc);
      t.same_ci = !ci.empty() && (their_ci == ci || have.count(ci) || have.count(first_label(ci)));
      t.score = t.retrieval + options_.identifier_weight * t.overlap - (t.resolved ? 0 : options_.open_penalty);
      c.tickets.push_back(std::move(t));
    } else {
      RunbookMatch r;
      r.id = h->doc_id;
      r.title = h->title;
      r.url = h->url;
      r.kind = h->kind;
      r.chunk_id = h->chunk_id;
      r.section_path = h->section_path;
      r.text = h->text;
      auto ids = extract_identifiers(h->title + "\n" + h->text);
      std::unordered_set<std::string> have(ids.begin(), ids.end());
      const double base = top_runbook > 0 ? h->score / top_runbook : 0;
      r.score = base + options_.identifier_weight * 0.5 * overlap(c.identifiers, have, nullptr);
      c.runbooks.push_back(std::move(r));
    }
  }
  std::stable_sort(c.tickets.begin(), c.tickets.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  std::stable_sort(c.runbooks.begin(), c.runbooks.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  return c;
}

Suggestion TicketAssist::suggest(const AssistRequest& request) const {
  const TicketInput& t = request.ticket;
  AnswerRequest ar;
  std::string desc(trim(t.description));
  if (desc.size() > 600) desc.resize(600);
  // A fix question: the extractive answerer then looks for resolution
  // sections (generate/intent.h).
  ar.search.query = "How do I fix this: " + t.subject + (desc.empty() ? "" : ". " + desc);
  ar.search.k = options_.suggestion_k;
  ar.search.groups = request.groups;
  ar.caller = request.caller;
  ar.request_id = request.request_id;
  ar.reader = request.reader;
  if (answerer_.generates()) {
    ar.task = PromptTask::kSuggestResolution;
    ar.input = t.subject + "\n\n" + t.description;
    ar.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  }
  Suggestion s;
  auto a = answerer_.answer(ar, nullptr);
  if (a.is_ok()) {
    s.answerer = a->answerer;
    s.prompt_version = a->prompt_version;
    s.model_file = a->model_file;
    s.model_sha256 = a->model_sha256;
  }
  if (!a.is_ok() || a->refused || a->citations.empty()) {
    s.text = "no grounded suggestion";
    return s;
  }
  s.grounded = true;
  s.text = a->text;
  s.citations = a->citations;
  s.confidence = a->confidence;
  return s;
}

Result<AssistResult> TicketAssist::assist(const AssistRequest& request) const {
  const TicketInput& t = request.ticket;
  for (const auto& task : request.tasks) {
    if (!is_ticket_task(task)) {
      return Status::invalid_argument("field 'tasks': unknown task '" + task +
                                      "' (expected summarize, resolution_note or kb_draft)");
    }
  }
  AssistResult out;
  // Before the similar tickets are found (and the ticket read, when the
  // caller read the epoch before): a purge from here on keeps the tasks'
  // prompts, which quote them, out of the prefix cache.
  const std::optional<uint64_t> cache_epoch = request.cache_epoch ? request.cache_epoch : prefix_cache_epoch();
  // Through a reader (a cluster's coordinator) there is no one store.
  out.store_sequence = request.reader ? 0 : ctx_.store().stats().sequence;
  if (const Embedder* e = ctx_.embedder()) out.encoder = e->fingerprint();
  RAGD_ASSIGN_OR_RETURN(Candidates c, retrieve(t, request.groups, request.reader));
  for (const auto& tc : c.tickets) {
    if (static_cast<int>(out.similar.size()) >= options_.similar_k) break;
    SimilarTicket s;
    s.id = tc.doc.id;
    s.title = tc.doc.title;
    s.url = tc.doc.url;
    s.score = tc.score;
    if (const Block* b = block_with_role(tc.doc, "resolution")) s.resolution = b->text;
    if (s.resolution.empty()) s.resolution = meta(tc.doc, "resolution");
    s.state = state_of(tc.doc);
    s.close_code = meta(tc.doc, "close_code");
    if (s.close_code.empty()) s.close_code = meta(tc.doc, "resolution");
    s.resolved = tc.resolved;
    s.closed_at = tc.resolved ? tc.doc.updated_at : 0;
    s.shared_identifiers = tc.shared;
    out.similar.push_back(std::move(s));
  }
  if (!c.runbooks.empty()) {
    const double top = c.runbooks.front().score;
    for (auto& r : c.runbooks) {
      if (static_cast<int>(out.runbooks.size()) >= options_.runbooks_k) break;
      if (r.score < options_.runbook_min_share * top) break;
      out.runbooks.push_back(std::move(r));
    }
  }
  // Duplicates: open, in the window, the same error on the same CI (or a
  // very close match).
  const int64_t when = t.opened_at ? t.opened_at : unix_seconds();
  const std::string ci = ci_of(t.fields);
  for (const auto& tc : c.tickets) {
    if (static_cast<int>(out.duplicates.size()) >= options_.duplicates_k) break;
    if (tc.resolved) continue;
    const int64_t opened = tc.doc.created_at ? tc.doc.created_at : tc.doc.updated_at;
    if (opened == 0 || std::llabs(opened - when) > options_.duplicate_window_s) continue;
    const bool shares_error = std::any_of(tc.shared.begin(), tc.shared.end(), [&](const std::string& id) {
      return id != ci && id != first_label(ci);
    });
    const double closeness = tc.score + options_.open_penalty;  // as if it were resolved
    if (!((tc.same_ci && shares_error) || closeness >= options_.duplicate_score)) continue;
    DuplicateTicket d;
    d.id = tc.doc.id;
    d.title = tc.doc.title;
    d.url = tc.doc.url;
    d.state = state_of(tc.doc);
    d.score = closeness;
    d.opened_at = opened;
    d.shared_identifiers = tc.shared;
    d.same_ci = tc.same_ci;
    out.duplicates.push_back(std::move(d));
  }
  out.suggestion = suggest(request);
  if (triage_) out.triage = triage_->predict(t.subject, t.description, t.fields);
  for (const auto& task : request.tasks) out.tasks.push_back(task_from(task, request, out.similar, cache_epoch));
  return out;
}

Result<TaskResult> TicketAssist::run_task(const std::string& task, const AssistRequest& request) const {
  if (!is_ticket_task(task)) {
    return Status::invalid_argument("unknown task '" + task + "' (expected summarize, resolution_note or kb_draft)");
  }
  const std::optional<uint64_t> cache_epoch =
      request.cache_epoch ? request.cache_epoch : prefix_cache_epoch();  // as in assist()
  std::vector<SimilarTicket> similar;
  if (task == "kb_draft") {
    RAGD_ASSIGN_OR_RETURN(Candidates c, retrieve(request.ticket, request.groups, request.reader));
    for (const auto& tc : c.tickets) {
      if (similar.size() >= 2) break;
      if (!tc.resolved || tc.overlap <= 0) continue;  // siblings only: they share an identifier
      SimilarTicket s;
      s.id = tc.doc.id;
      if (const Block* b = block_with_role(tc.doc, "resolution")) s.resolution = b->text;
      if (s.resolution.empty()) continue;
      similar.push_back(std::move(s));
    }
  }
  return task_from(task, request, similar, cache_epoch);
}

TaskResult TicketAssist::task_from(const std::string& task, const AssistRequest& request,
                                   const std::vector<SimilarTicket>& similar,
                                   std::optional<uint64_t> cache_epoch) const {
  if (!answerer_.generates()) return extractive_task(task, request.ticket, similar);
  auto generated = llm_task(task, request, similar, cache_epoch);
  if (generated.is_ok() && generated->llm_fallback.empty()) return std::move(generated).value();
  TaskResult out = extractive_task(task, request.ticket, similar);
  out.llm_fallback = generated.is_ok() ? generated->llm_fallback : generated.status().to_string();
  return out;
}

namespace {

// The parts of a ticket a task's LLM reads, as numbered passages: its own
// description, comments and resolution (doc_id: the ticket's id, chunk_id:
// the part), and for kb_draft its siblings' resolutions.
std::vector<Hit> task_passages(const std::string& task, const TicketInput& t,
                               const std::vector<SimilarTicket>& similar) {
  std::vector<Hit> out;
  const std::string own = t.id.empty() ? "ticket" : t.id;
  auto add = [&](const std::string& doc, const std::string& part, const std::string& title, std::string_view text) {
    if (trim(text).empty()) return;
    Hit h;
    h.doc_id = doc;
    h.chunk_id = part;
    h.title = title;
    h.kind = "ticket";
    h.text = std::string(trim(text));
    h.score = 1;
    out.push_back(std::move(h));
  };
  add(own, "description", t.subject, t.description);
  for (size_t i = 0; i < t.comments.size(); ++i) {
    add(own, "comment " + std::to_string(i + 1), t.subject, strip_entry_header(t.comments[i]));
  }
  add(own, "resolution", t.subject, t.resolution);
  if (task == "kb_draft") {
    for (const auto& sim : similar) add(sim.id, "resolution", sim.title, sim.resolution);
  }
  return out;
}

// The section a sentence opens with a "Name:" heading the task's template
// asks for ("Cause: ..."), with the heading removed; "" when it has none.
std::string take_heading(std::string& sentence, const std::vector<std::string>& names) {
  const size_t colon = sentence.find(':');
  if (colon == std::string::npos || colon > 24) return "";
  std::string head;
  for (char c : sentence.substr(0, colon)) {
    if (std::isalpha(static_cast<unsigned char>(c))) head += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c == ' ' && !head.empty()) head += '_';
  }
  for (const auto& n : names) {
    if (head == n) {
      sentence = std::string(trim(sentence.substr(colon + 1)));
      return n;
    }
  }
  return "";
}

}  // namespace

Result<TaskResult> TicketAssist::llm_task(const std::string& task, const AssistRequest& request,
                                          const std::vector<SimilarTicket>& similar,
                                          std::optional<uint64_t> cache_epoch) const {
  const TicketInput& t = request.ticket;
  TaskResult out;
  out.task = task;
  AnswerRequest ar;
  ar.task = task == "summarize"         ? PromptTask::kSummarizeTicket
            : task == "resolution_note" ? PromptTask::kResolutionNote
                                        : PromptTask::kKbDraft;
  ar.passages = task_passages(task, t, similar);
  if (ar.passages.empty()) {
    out.llm_fallback = "the ticket has no text to write from";
    return out;
  }
  ar.input = t.subject;
  ar.search.query = t.subject.empty() ? ar.passages.front().text.substr(0, 200) : t.subject;
  ar.search.groups = request.groups;
  ar.caller = request.caller;
  ar.request_id = request.request_id;
  ar.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  // Unset when no model served as it was read (a first switch since): 0
  // is no cache's epoch, so the prompt is not stored.
  ar.cache_epoch = cache_epoch.value_or(0);
  RAGD_ASSIGN_OR_RETURN(Answer a, answerer_.answer(ar, nullptr));
  out.model_file = a.model_file;
  out.prompt_version = a.prompt_version;
  if (a.refused || a.grounding == Grounding::kRefused) {
    out.llm_fallback = "the model said the ticket's text does not answer this";
    return out;
  }
  if (a.grounding != Grounding::kVerified && a.grounding != Grounding::kPartial) {
    out.llm_fallback = "no sentence of the model's text was supported by the passage it cites";
    return out;
  }
  // Each kept sentence, its heading and its citations' parts.
  std::map<int, const Citation*> by_n;
  for (const auto& c : a.citations) by_n[c.n] = &c;
  const std::string own = t.id.empty() ? "ticket" : t.id;
  const std::vector<std::string> names = task == "summarize"         ? std::vector<std::string>{}
                                         : task == "resolution_note" ? std::vector<std::string>{"cause", "resolution"}
                                                                     : std::vector<std::string>{"symptoms", "cause",
                                                                                                "resolution"};
  std::vector<TaskSection> sections;
  std::string current = task == "summarize" ? "summary" : names.front();
  for (std::string sentence : split_sentences(a.text)) {
    const std::vector<CitationMarker> markers = find_citation_markers(sentence);
    std::string cite;
    for (const auto& m : markers) {
      for (int n : m.numbers) {
        auto c = by_n.find(n);
        if (c == by_n.end()) continue;
        const std::string part = c->second->doc_id == own ? c->second->chunk_id
                                                          : c->second->doc_id + " (" + c->second->chunk_id + ")";
        if (cite.find(part) == std::string::npos) cite += (cite.empty() ? "" : ", ") + part;
      }
    }
    std::string plain = strip_citation_markers(sentence, markers);
    if (const std::string head = take_heading(plain, names); !head.empty()) current = head;
    if (plain.empty() || cite.empty()) continue;
    if (sections.empty() || sections.back().name != current) sections.push_back({current, {}});
    sections.back().sentences.push_back({plain, cite});
  }
  if (sections.empty()) {
    out.llm_fallback = "the model's verified text carried no citation";
    return out;
  }
  out.sections = std::move(sections);
  out.generated_by = "llm";
  out.grounding = std::string(grounding_name(a.grounding));
  return out;
}

TaskResult TicketAssist::extractive_task(const std::string& task, const TicketInput& t,
                                         const std::vector<SimilarTicket>& similar) const {
  const size_t n = static_cast<size_t>(std::max(2, options_.task_sentences));
  TaskResult out;
  out.task = task;
  auto add = [](TaskSection& sec, const std::string& text, const std::string& cite) {
    for (const auto& s : sec.sentences) {
      if (s.text == text) return;
    }
    sec.sentences.push_back({text, cite});
  };
  auto comment_cite = [](size_t i) { return "comment " + std::to_string(i + 1); };
  // The ticket's problem: the description's first sentences (else the subject).
  TaskSection problem{task == "kb_draft" ? "symptoms" : "problem", {}};
  for (auto& s : sentences_of(t.description)) {
    if (problem.sentences.size() >= n - 1) break;
    add(problem, s, "description");
  }
  if (problem.sentences.empty() && !trim(t.subject).empty()) add(problem, std::string(trim(t.subject)), "subject");

  if (task == "summarize") {
    TaskSection tried{"tried", {}}, current{"current_state", {}};
    const size_t last = t.comments.size();
    // What was tried: the first telling sentence of each entry but the last,
    // the latest ones when there are many.
    std::vector<CitedSentence> steps;
    for (size_t i = 0; i + 1 < last; ++i) {
      auto ss = sentences_of(strip_entry_header(t.comments[i]), 4);
      if (!ss.empty()) steps.push_back({ss.front(), comment_cite(i)});
    }
    const size_t keep = n + 1;
    for (size_t i = steps.size() > keep ? steps.size() - keep : 0; i < steps.size(); ++i) {
      add(tried, steps[i].text, steps[i].cite);
    }
    if (!trim(t.resolution).empty()) {
      for (auto& s : sentences_of(t.resolution)) {
        if (current.sentences.size() >= n - 1) break;
        add(current, s, "resolution");
      }
    } else if (last > 0) {
      for (auto& s : sentences_of(strip_entry_header(t.comments[last - 1]))) {
        if (current.sentences.size() >= n - 1) break;
        add(current, s, comment_cite(last - 1));
      }
    }
    out.sections = {problem, tried, current};
    return out;
  }

  // The close note's and the KB draft's sources: the resolution, then the
  // latest entries, newest first (where a thread ends is where it was fixed).
  std::vector<CitedSentence> source;
  if (!trim(t.resolution).empty()) {
    for (auto& s : sentences_of(t.resolution)) source.push_back({s, "resolution"});
  }
  for (size_t k = 0; k < t.comments.size() && k < 3; ++k) {
    const size_t i = t.comments.size() - 1 - k;
    for (auto& s : sentences_of(strip_entry_header(t.comments[i]), 4)) source.push_back({s, comment_cite(i)});
  }
  TaskSection cause{"cause", {}}, resolution{"resolution", {}};
  for (const auto& s : source) {
    if (states_cause(s.text) && cause.sentences.size() < n - 1) add(cause, s.text, s.cite);
  }
  for (const auto& s : source) {
    if (resolution.sentences.size() >= n) break;
    bool in_cause = std::any_of(cause.sentences.begin(), cause.sentences.end(),
                                [&](const CitedSentence& c) { return c.text == s.text; });
    if (!in_cause) add(resolution, s.text, s.cite);
  }
  if (task == "kb_draft") {
    // Siblings confirm the cause and the fix: their close notes, cited by
    // document (their resolution block).
    for (const auto& sim : similar) {
      for (auto& s : sentences_of(sim.resolution)) {
        if (states_cause(s)) {
          if (cause.sentences.size() < n) add(cause, s, sim.id + " (resolution)");
        } else if (resolution.sentences.size() < n + 1) {
          add(resolution, s, sim.id + " (resolution)");
        }
      }
    }
    out.sections = {problem, cause, resolution};
  } else {
    out.sections = {cause, resolution};
  }
  return out;
}

// ---- feedback ---------------------------------------------------------------

namespace {

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

// A field of a flat JSON record written by feedback() (its own writer, so a
// plain scan is enough): a string's text, or the literal (true, null, 12).
std::string record_field(std::string_view rec, std::string_view key) {
  const std::string k = "\"" + std::string(key) + "\":";
  size_t p = rec.find(k);
  if (p == std::string_view::npos) return "";
  p += k.size();
  if (p < rec.size() && rec[p] == '"') {
    std::string out;
    for (size_t i = p + 1; i < rec.size(); ++i) {
      if (rec[i] == '\\' && i + 1 < rec.size()) {
        out += rec[++i];
      } else if (rec[i] == '"') {
        return out;
      } else {
        out += rec[i];
      }
    }
    return out;
  }
  size_t e = rec.find_first_of(",}", p);
  return std::string(rec.substr(p, e == std::string_view::npos ? std::string_view::npos : e - p));
}

void count_into(FeedbackCounts& c, const std::string& predicted, const std::string& value,
                const std::string& helpful, const std::string& similar) {
  ++c.records;
  if (helpful == "true" || helpful == "false") {
    ++c.suggestion_rated;
    if (helpful == "true") ++c.suggestion_helpful;
  }
  if (!similar.empty() && similar != "null") {
    ++c.similar_rated;
    if (similar != "false") ++c.similar_used;
  }
  if (!predicted.empty() && !value.empty()) {
    ++c.triage_rated;
    if (predicted == value) ++c.triage_accepted;
  }
}

}  // namespace

Result<std::unique_ptr<StoredTriage>> StoredTriage::open(const Store& store) {
  RAGD_ASSIGN_OR_RETURN(triage::TriageModels models, triage::TriageModels::load(store));
  return std::unique_ptr<StoredTriage>(new StoredTriage(std::make_shared<const triage::TriageModels>(std::move(models))));
}

std::shared_ptr<const triage::TriageModels> StoredTriage::current() const {
  std::lock_guard lock(mu_);
  return models_;
}

std::map<std::string, FieldPrediction> StoredTriage::predict(std::string_view subject, std::string_view description,
                                                             const std::map<std::string, std::string>& fields) const {
  return current()->predict(triage::TicketText{std::string(subject), std::string(description), fields});
}

Status StoredTriage::reload(const Store& store) {
  RAGD_ASSIGN_OR_RETURN(triage::TriageModels models, triage::TriageModels::load(store));
  auto next = std::make_shared<const triage::TriageModels>(std::move(models));
  std::lock_guard lock(mu_);
  models_ = std::move(next);
  return Status::ok();
}

std::vector<triage::ServedModelInfo> StoredTriage::served() const { return current()->served(); }

TicketAssist::TicketAssist(const ServiceContext& ctx, const Answerer& answerer, const TriagePredictor* triage,
                           TicketAssistOptions options)
    : ctx_(ctx), answerer_(answerer), triage_(triage), options_(options) {
  auto records = ctx_.store().list_state("ticket_feedback/", 10'000'000);
  if (!records.is_ok()) return;  // the counters start at zero; the records stay
  for (const auto& [key, rec] : *records) {
    count_into(counts_, record_field(rec, "predicted"), record_field(rec, "value"),
               record_field(rec, "suggestion_helpful"), record_field(rec, "similar_used"));
  }
  feedback_seq_ = records->size();
}

Result<std::string> TicketAssist::feedback(const TicketFeedback& f, Store& store) {
  if (trim(f.ticket_id).empty()) return Status::invalid_argument("field 'ticket_id': required");
  if (f.ticket_id.size() > 200) return Status::invalid_argument("field 'ticket_id': longer than 200 bytes");
  if (!f.value.empty() && f.field.empty()) return Status::invalid_argument("field 'field': required with 'value'");
  const int64_t ms = unix_ms();
  uint64_t n;
  {
    std::lock_guard<std::mutex> lock(feedback_mu_);
    n = ++feedback_seq_;
  }
  // Zero-padded milliseconds keep the keys in time order.
  char ts[32];
  std::snprintf(ts, sizeof ts, "%015lld", static_cast<long long>(ms));
  std::string safe_id;
  for (char c : f.ticket_id) safe_id += (c == '/' ? '_' : c);
  const std::string key = "ticket_feedback/" + std::string(ts) + "-" + safe_id + "-" + std::to_string(n);
  const std::string helpful = f.suggestion_helpful ? (*f.suggestion_helpful ? "true" : "false") : "null";
  const std::string rec = "{\"ticket_id\":\"" + json_escape(f.ticket_id) + "\",\"field\":\"" + json_escape(f.field) +
                          "\",\"value\":\"" + json_escape(f.value) + "\",\"predicted\":\"" +
                          json_escape(f.predicted) + "\",\"ts\":" + std::to_string(ms / 1000) +
                          ",\"suggestion_helpful\":" + helpful + ",\"similar_used\":" +
                          (f.similar_used.empty() ? std::string("null") : "\"" + json_escape(f.similar_used) + "\"") +
                          ",\"caller\":\"" + json_escape(f.caller) + "\"}";
  RAGD_RETURN_IF_ERROR(store.put_state(key, rec));
  count(f);
  return key;
}

void TicketAssist::count(const TicketFeedback& f) {
  std::lock_guard<std::mutex> lock(feedback_mu_);
  count_into(counts_, f.predicted, f.value, f.suggestion_helpful ? (*f.suggestion_helpful ? "true" : "false") : "",
             f.similar_used);
}

FeedbackCounts TicketAssist::feedback_counts() const {
  std::lock_guard<std::mutex> lock(feedback_mu_);
  return counts_;
}

}  // namespace ragd

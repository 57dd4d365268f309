// POST /v1/tickets/assist, /v1/tickets/{summarize,resolution_note,kb_draft}
// and /v1/tickets/assist/feedback: parse the ticket (plain fields, a raw
// vendor record mapped by connectors/, or the id of a stored ticket the
// caller may read), call service/'s TicketAssist once, encode.
//
// The caller's groups narrow every list exactly as /v1/search does
// (bind_groups). Feedback is a reader's action too: the desk agent who saw
// the result says what was right (service/TICKETS.md).
#include <chrono>
#include <cstdio>
#include <ctime>

#include "api/auth_hook.h"
#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "cluster/node.h"
#include "connectors/connector.h"
#include "service/ticket_assist.h"

namespace ragd::api {
namespace {

using Clock = std::chrono::steady_clock;

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// A scalar as text ("3", "true"); "" for null; nullopt for arrays/objects.
std::optional<std::string> scalar_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return v.dump();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_null()) return std::string();
  return std::nullopt;
}

// A string field; `id_like` also takes a number (Zendesk ids are numbers).
Result<std::string> string_field(const Json& j, const char* name, bool id_like = false) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (id_like && it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return Status::invalid_argument(std::string("field '") + name + "': expected a string");
}

std::string iso_time(int64_t t) {
  if (t <= 0) return "";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The ticket of a request: {"record","format"}, {"id"} alone (a stored
// ticket the caller may read), or the plain fields.
Result<TicketInput> parse_ticket(const Request& req, const Json& body, Api& api, const KnowledgeReader* reader) {
  if (auto rec = body.find("record"); rec != body.end() && !rec->is_null()) {
    if (!rec->is_object()) return Status::invalid_argument("field 'record': expected an object");
    RAGD_ASSIGN_OR_RETURN(std::string format, string_field(body, "format"));
    if (format.empty()) return Status::invalid_argument("field 'format': required with 'record' (servicenow, jira, zendesk)");
    return ticket_from_record(dump(*rec), format);
  }
  TicketInput t;
  RAGD_ASSIGN_OR_RETURN(t.id, string_field(body, "id", true));
  RAGD_ASSIGN_OR_RETURN(t.subject, string_field(body, "subject"));
  RAGD_ASSIGN_OR_RETURN(t.description, string_field(body, "description"));
  RAGD_ASSIGN_OR_RETURN(t.resolution, string_field(body, "resolution"));
  if (auto f = body.find("fields"); f != body.end() && !f->is_null()) {
    if (!f->is_object()) return Status::invalid_argument("field 'fields': expected an object");
    for (auto it = f->begin(); it != f->end(); ++it) {
      // ServiceNow reference fields: {"display_value","value"}.
      const Json& v = it->is_object() && it->contains("display_value") ? (*it)["display_value"] : *it;
      auto s = scalar_text(v);
      if (!s) return Status::invalid_argument("field 'fields." + it.key() + "': expected a string or number");
      if (!s->empty()) t.fields[it.key()] = *s;
    }
  }
  if (auto c = body.find("comments"); c != body.end() && !c->is_null()) {
    if (!c->is_array()) return Status::invalid_argument("field 'comments': expected an array of strings");
    for (size_t i = 0; i < c->size(); ++i) {
      const Json& e = (*c)[i];
      if (e.is_string()) {
        t.comments.push_back(e.get<std::string>());
      } else if (e.is_object() && e.contains("text") && e["text"].is_string()) {
        t.comments.push_back(e["text"].get<std::string>());
      } else {
        return Status::invalid_argument("field 'comments[" + std::to_string(i) + "]': expected a string");
      }
    }
  }
  for (const char* k : {"opened_at", "created_at", "sys_created_on", "created"}) {
    std::string v;
    if (auto it = body.find(k); it != body.end()) {
      v = scalar_text(*it).value_or("");
    } else if (auto fi = t.fields.find(k); fi != t.fields.end()) {
      v = fi->second;
    }
    if (v.empty()) continue;
    auto ts = connectors::parse_timestamp(v);
    if (!ts) return Status::invalid_argument(std::string("field '") + k + "': not a timestamp");
    t.opened_at = *ts;
    break;
  }
  if (t.subject.empty() && t.description.empty()) {
    if (t.id.empty()) return Status::invalid_argument("the ticket needs 'subject' or 'description', 'record', or 'id'");
    // A stored ticket: read it as the caller may (an unreadable one does
    // not exist for them); on a cluster node, from its shard, with the
    // groups may_read() uses (bound already: the peer narrows, never widens).
    std::optional<Document> doc;
    if (reader != nullptr) {
      SearchRequest as_caller;
      as_caller.groups = read_groups(req);
      RAGD_ASSIGN_OR_RETURN(doc, reader->document(as_caller, t.id));
    } else if (auto stored = api.service.store().get_document(t.id); stored.is_ok()) {
      if (may_read(req, stored->acl)) doc = std::move(stored).value();
    } else if (stored.status().code() != StatusCode::kNotFound) {
      return stored.status();
    }
    if (!doc) return Status::not_found("no ticket '" + t.id + "'");
    TicketInput stored = ticket_from_document(*doc);
    if (t.opened_at) stored.opened_at = t.opened_at;
    for (auto& [k, v] : t.fields) stored.fields[k] = v;
    return stored;
  }
  return t;
}

Result<AssistRequest> parse_assist(const Request& req, const Json& body, Api& api, const KnowledgeReader* reader) {
  AssistRequest ar;
  ar.reader = reader;
  RAGD_ASSIGN_OR_RETURN(ar.ticket, parse_ticket(req, body, api, reader));
  SearchRequest groups;
  if (auto g = body.find("groups"); g != body.end() && !g->is_null()) {
    if (!g->is_array()) return Status::invalid_argument("field 'groups': expected an array of strings");
    for (const auto& e : *g) {
      if (!e.is_string()) return Status::invalid_argument("field 'groups': expected an array of strings");
      groups.groups.push_back(e.get<std::string>());
    }
  }
  bind_groups(req, groups);
  ar.groups = std::move(groups.groups);
  if (auto ts = body.find("tasks"); ts != body.end() && !ts->is_null()) {
    if (!ts->is_array()) return Status::invalid_argument("field 'tasks': expected an array of strings");
    for (const auto& e : *ts) {
      if (!e.is_string() || !is_ticket_task(e.get<std::string>())) {
        return Status::invalid_argument("field 'tasks': expected \"summarize\", \"resolution_note\" or \"kb_draft\"");
      }
      ar.tasks.push_back(e.get<std::string>());
    }
  }
  ar.caller = req.caller;
  ar.request_id = req.request_id;
  return ar;
}

Json task_json(const TaskResult& t) {
  Json sections = Json::object();
  std::string text;
  for (const auto& s : t.sections) {
    Json list = Json::array();
    for (const auto& c : s.sentences) {
      list.push_back(Json{{"text", c.text}, {"cite", c.cite}});
      text += (text.empty() ? "" : "\n") + std::string("- ") + s.name + ": " + c.text + " [" + c.cite + "]";
    }
    sections[s.name] = std::move(list);
  }
  Json j{{"task", t.task}, {"sections", std::move(sections)}, {"text", text}, {"generated_by", t.generated_by}};
  if (t.generated_by == "llm") {
    j["grounding"] = t.grounding;
    j["model_file"] = t.model_file;
    j["prompt_version"] = t.prompt_version;
  }
  if (!t.llm_fallback.empty()) j["llm_fallback"] = t.llm_fallback;
  return j;
}

std::string clip(std::string s, size_t n) {
  if (s.size() <= n) return s;
  size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
  s.resize(cut);
  return s + "...";
}

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

// The plain-text work note an ITSM rule writes back (service/TICKETS.md):
// the same content as the JSON, for people.
std::string assist_note(const std::string& ticket_id, const AssistResult& a) {
  std::string n = "ragd ticket assist" + (ticket_id.empty() ? std::string() : " for " + ticket_id) + "\n";
  if (!a.similar.empty()) {
    n += "\nSimilar tickets:\n";
    for (size_t i = 0; i < a.similar.size() && i < 3; ++i) {
      const auto& s = a.similar[i];
      n += "- " + s.id + " (" + (s.resolved ? "resolved" : "open") + "): " + one_line(clip(s.title, 120));
      if (!s.resolution.empty()) n += "\n  Fix: " + one_line(clip(s.resolution, 300));
      n += "\n";
    }
  }
  if (!a.runbooks.empty()) {
    n += "\nRunbooks:\n";
    for (const auto& r : a.runbooks) {
      std::string section;
      for (const auto& p : r.section_path) section += (section.empty() ? "" : " > ") + p;
      n += "- " + r.title + (section.empty() ? "" : " (" + section + ")") + (r.url.empty() ? "" : " " + r.url) + "\n";
    }
  }
  n += "\nSuggestion: " + (a.suggestion.grounded ? clip(a.suggestion.text, 1200) : std::string("no grounded suggestion")) + "\n";
  if (!a.duplicates.empty()) {
    n += "\nPossible duplicates (open):\n";
    for (const auto& d : a.duplicates) n += "- " + d.id + ": " + one_line(clip(d.title, 120)) + "\n";
  }
  if (!a.triage.empty()) {
    n += "\nTriage:\n";
    for (const auto& [field, p] : a.triage) {
      char conf[16];
      std::snprintf(conf, sizeof conf, "%.2f", p.confidence);
      n += "- " + field + ": " + (p.withheld ? "route manually (best guess " + p.value + ", " + conf + ")" : p.value + " (" + conf + ")") + "\n";
    }
  }
  return n;
}

Json assist_json(const AssistResult& a) {
  Json similar = Json::array();
  for (const auto& s : a.similar) {
    similar.push_back(Json{{"id", s.id},
                           {"title", s.title},
                           {"score", s.score},
                           {"resolution", s.resolution},
                           {"state", s.state},
                           {"close_code", s.close_code},
                           {"closed_at", iso_time(s.closed_at)},
                           {"resolved", s.resolved},
                           {"shared_identifiers", s.shared_identifiers},
                           {"url", s.url}});
  }
  Json runbooks = Json::array();
  for (const auto& r : a.runbooks) {
    runbooks.push_back(Json{{"id", r.id},
                            {"title", r.title},
                            {"kind", r.kind},
                            {"score", r.score},
                            {"url", r.url},
                            {"section", Json{{"chunk_id", r.chunk_id}, {"heading", r.section_path}, {"text", r.text}}}});
  }
  Json citations = Json::array();
  for (const auto& c : a.suggestion.citations) {
    citations.push_back(
        Json{{"n", c.n}, {"doc_id", c.doc_id}, {"chunk_id", c.chunk_id}, {"title", c.title}, {"url", c.url}, {"quote", c.quote}});
  }
  Json suggestion{{"grounded", a.suggestion.grounded}, {"text", a.suggestion.text}};
  if (!a.suggestion.answerer.empty()) {
    Json made{{"answerer", a.suggestion.answerer}, {"prompt_version", a.suggestion.prompt_version}};
    if (!a.suggestion.model_file.empty()) made["model_file"] = a.suggestion.model_file;
    if (!a.suggestion.model_sha256.empty()) made["model_sha256"] = a.suggestion.model_sha256;
    suggestion["provenance"] = std::move(made);
  }
  if (a.suggestion.grounded) {
    suggestion["citations"] = std::move(citations);
    suggestion["confidence"] = a.suggestion.confidence;
  }
  Json triage = Json::object();
  for (const auto& [field, p] : a.triage) {
    Json alts = Json::array();
    for (size_t i = 0; i < p.alternatives.size() && i < 3; ++i) {
      alts.push_back(Json{{"value", p.alternatives[i].first}, {"confidence", p.alternatives[i].second}});
    }
    triage[field] = Json{{"value", p.value}, {"confidence", p.confidence}, {"withheld", p.withheld}, {"alternatives", alts}};
    if (!p.model_version.empty()) triage[field]["model_version"] = p.model_version;
  }
  Json duplicates = Json::array();
  for (const auto& d : a.duplicates) {
    duplicates.push_back(Json{{"id", d.id},
                              {"title", d.title},
                              {"state", d.state},
                              {"score", d.score},
                              {"opened_at", iso_time(d.opened_at)},
                              {"same_ci", d.same_ci},
                              {"shared_identifiers", d.shared_identifiers},
                              {"url", d.url}});
  }
  Json j{{"similar", std::move(similar)},
         {"runbooks", std::move(runbooks)},
         {"suggestion", std::move(suggestion)},
         {"triage", std::move(triage)},
         {"duplicates", std::move(duplicates)},
         {"provenance", Json{{"encoder", a.encoder}, {"store_sequence", a.store_sequence}}}};
  if (!a.tasks.empty()) {
    Json tasks = Json::object();
    for (const auto& t : a.tasks) tasks[t.task] = task_json(t);
    j["tasks"] = std::move(tasks);
  }
  return j;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

Response no_assist() {
  return error_response(Status::unimplemented("ticket assist is not wired in this server"));
}

Response run_task_route(const Request& req, Api& api, const std::string& task) {
  const auto start = Clock::now();
  if (!api.tickets) return no_assist();
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto reader = cluster_reader(req, *body, api);
  if (!reader.is_ok()) return error_response(reader.status());
  const std::optional<uint64_t> cache_epoch = api.tickets->prefix_cache_epoch();  // before a stored ticket is read
  auto ar = parse_assist(req, *body, api, reader->get());
  if (!ar.is_ok()) return error_response(ar.status());
  ar->cache_epoch = cache_epoch;
  auto t = api.tickets->run_task(task, *ar);
  if (!t.is_ok()) return error_response(t.status());
  Json j = task_json(*t);
  j["ticket_id"] = ar->ticket.id;
  j["took_ms"] = ms_since(start);
  return json_response(std::move(j));
}

}  // namespace

Response handle_ticket_assist(const Request& req, Api& api) {
  const auto start = Clock::now();
  if (!api.tickets) return no_assist();
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto reader = cluster_reader(req, *body, api);
  if (!reader.is_ok()) return error_response(reader.status());
  const std::optional<uint64_t> cache_epoch = api.tickets->prefix_cache_epoch();  // before a stored ticket is read
  auto ar = parse_assist(req, *body, api, reader->get());
  if (!ar.is_ok()) return error_response(ar.status());
  ar->cache_epoch = cache_epoch;
  auto a = api.tickets->assist(*ar);
  if (!a.is_ok()) return error_response(a.status());
  Json j = assist_json(*a);
  j["ticket_id"] = ar->ticket.id;
  j["note"] = assist_note(ar->ticket.id, *a);
  j["took_ms"] = ms_since(start);
  return json_response(std::move(j));
}

Response handle_ticket_summarize(const Request& req, Api& api) { return run_task_route(req, api, "summarize"); }
Response handle_ticket_resolution_note(const Request& req, Api& api) {
  return run_task_route(req, api, "resolution_note");
}
Response handle_ticket_kb_draft(const Request& req, Api& api) { return run_task_route(req, api, "kb_draft"); }

Response handle_ticket_feedback(const Request& req, Api& api) {
  if (!api.tickets) return no_assist();
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  const Json& b = *body;
  if (!b.is_object()) return error_response(Status::invalid_argument("expected a JSON object"));
  TicketFeedback f;
  auto read = [&](const char* name, std::string& out) -> Status {
    auto v = string_field(b, name);
    if (!v.is_ok()) return v.status();
    out = *v;
    return Status::ok();
  };
  if (auto v = string_field(b, "ticket_id", true); v.is_ok()) {
    f.ticket_id = *v;
  } else {
    return error_response(v.status());
  }
  for (auto [name, out] : {std::pair<const char*, std::string*>{"field", &f.field},
                           {"value", &f.value}, {"predicted", &f.predicted}}) {
    Status s = read(name, *out);
    if (!s.is_ok()) return error_response(s);
  }
  if (auto h = b.find("suggestion_helpful"); h != b.end() && !h->is_null()) {
    if (!h->is_boolean()) return error_response(Status::invalid_argument("field 'suggestion_helpful': expected a boolean"));
    f.suggestion_helpful = h->get<bool>();
  }
  if (auto s = b.find("similar_used"); s != b.end() && !s->is_null()) {
    if (s->is_boolean()) {
      f.similar_used = s->get<bool>() ? "true" : "false";
    } else if (s->is_string()) {
      f.similar_used = s->get<std::string>();
    } else {
      return error_response(Status::invalid_argument("field 'similar_used': expected a ticket id or a boolean"));
    }
  }
  for (const std::string* s : {&f.field, &f.value, &f.predicted, &f.similar_used}) {
    if (s->size() > 200) return error_response(Status::invalid_argument("feedback fields are limited to 200 bytes"));
  }
  f.caller = req.caller;
  auto key = api.tickets->feedback(f, api.service.store());
  if (!key.is_ok()) return error_response(key.status());
  return json_response(Json{{"stored", *key}});
}

}  // namespace ragd::api

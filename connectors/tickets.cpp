// Ticket exports: ServiceNow, Jira and Zendesk JSON, and the JSON shape
// detection that routes a .json file to the right mapper.
#include <algorithm>
#include <cstring>
#include <optional>
#include <functional>

#include "connectors/json_fields.h"

namespace ragd::connectors {

namespace {

// ---- ServiceNow ----------------------------------------------------------

// "2024-03-02 10:11:12 - Jane Doe (Work notes)": the header of one journal entry.
bool is_journal_header(std::string_view line) {
  line = trim(line);
  if (line.size() < 24 || line.back() != ')') return false;
  if (!parse_timestamp(line.substr(0, 19))) return false;
  return line.substr(19, 3) == " - " && line.find(" (", 22) != std::string_view::npos;
}

// Splits a journal string into entries, each keeping its header line.
void split_journal(std::string_view text, std::vector<std::string>& out) {
  std::string current;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (is_journal_header(line) && !trim(current).empty()) {
      out.emplace_back(trim(current));
      current.clear();
    }
    current += line;
    current += '\n';
  }
  if (!trim(current).empty()) out.emplace_back(trim(current));
}

void journal(const json& rec, const char* key, RecordReader& r, std::vector<std::string>& out) {
  auto it = rec.find(key);
  if (it == rec.end() || it->is_null()) return;
  if (it->is_string()) return split_journal(it->get<std::string>(), out);
  if (it->is_object()) {  // {"display_value": "...", "value": "..."}
    if (auto t = ref_text(*it)) split_journal(*t, out);
    return;
  }
  if (!it->is_array()) return r.fail(std::string("'") + key + "' is not a string or an array");
  for (const json& e : *it) {
    if (e.is_string()) {
      split_journal(e.get<std::string>(), out);
    } else if (e.is_object()) {  // sys_journal_field rows
      RecordReader er(e);
      std::string value = er.str("value");
      std::string when = er.str("sys_created_on");
      std::string who = er.str("sys_created_by");
      if (!er.error().empty()) return r.fail(std::string("'") + key + "': " + er.error());
      if (trim(value).empty()) continue;
      out.push_back(when + " - " + who + " (" + key + ")\n" + value);
    } else {
      return r.fail(std::string("'") + key + "' holds an entry that is not a string");
    }
  }
}

}  // namespace

void map_servicenow(const json& rec, RecordReader& r, Document& doc, const FileInput&) {
  std::string number = r.str("number");
  std::string sys_id = r.str("sys_id");
  doc.id = !number.empty() ? number : sys_id;
  if (doc.id.empty()) r.fail("missing field 'number'");
  std::string subject = r.str("short_description");
  std::string description = r.str("description");
  std::string close_notes = r.str("close_notes");
  std::vector<std::string> comments;
  journal(rec, "comments", r, comments);
  journal(rec, "work_notes", r, comments);
  // Journals list newest first and per field; read them as one conversation,
  // oldest first, when every entry has its time.
  std::vector<std::pair<int64_t, std::string>> timed;
  for (auto& c : comments) {
    auto t = parse_timestamp(std::string_view(c).substr(0, 19));
    if (!t) break;
    timed.emplace_back(*t, std::move(c));
  }
  if (timed.size() == comments.size()) {
    std::stable_sort(timed.begin(), timed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < timed.size(); ++i) comments[i] = std::move(timed[i].second);
  } else {
    for (size_t i = 0; i < timed.size(); ++i) comments[i] = std::move(timed[i].second);  // put back
  }
  static const char* kMeta[] = {"category", "subcategory", "assignment_group", "priority", "state",
                                "close_code", "impact", "urgency", "cmdb_ci", "sys_id", "contact_type",
                                "business_service", "assigned_to", "caller_id", "location", "incident_state"};
  for (const char* k : kMeta) {
    std::string v = r.str(k);
    if (!v.empty()) doc.metadata[k] = v;
  }
  doc.created_at = r.time("sys_created_on");
  if (!doc.created_at) doc.created_at = r.time("opened_at");
  doc.updated_at = r.time("sys_updated_on");
  if (!doc.updated_at) doc.updated_at = r.time("resolved_at");
  if (!doc.updated_at) doc.updated_at = r.time("closed_at");
  if (!doc.updated_at) doc.updated_at = doc.created_at;
  doc.url = r.str("url");
  doc.title = subject.empty() ? doc.id : doc.id + ": " + subject;
  doc.kind = "ticket";
  doc.source = "servicenow";
  add_ticket_blocks(doc, doc.title, description, close_notes, std::move(comments));
}

namespace {

// ---- Jira ----------------------------------------------------------------

// Text of a Jira rich-text field: plain (wiki) text or an ADF document.
std::string jira_text(const json& parent, const char* key, RecordReader& r) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return adf_to_text(*it);
  r.fail(std::string("'") + key + "' is neither text nor an ADF document");
  return "";
}

// A Jira user's stable id (accountId, else the Server name/key), "" when
// the field is not a user object.
std::string person_id(const json& parent, const char* key) {
  auto it = parent.find(key);
  if (it == parent.end() || !it->is_object()) return "";
  for (const char* k : {"accountId", "name", "key"}) {
    auto v = it->find(k);
    if (v != it->end() && v->is_string() && !v->get<std::string>().empty()) return v->get<std::string>();
  }
  return "";
}

// A timestamp that only orders comments: 0 when absent or unreadable.
int64_t lenient_time(const json& parent, const char* key) {
  auto it = parent.find(key);
  if (it == parent.end() || !it->is_string()) return 0;
  return parse_timestamp(it->get<std::string>()).value_or(0);
}

void map_jira(const json& rec, RecordReader& r, Document& doc, const FileInput&) {
  doc.id = r.str("key", true);
  const json* fields = r.object("fields");
  if (!fields) {
    r.fail("missing object 'fields'");
    return;
  }
  RecordReader f(*fields);
  std::string summary = f.str("summary");
  std::string description = jira_text(*fields, "description", f);
  std::string resolution = f.str("resolution");
  for (const char* k : {"status", "priority", "issuetype", "assignee", "reporter", "project"}) {
    std::string v = f.str(k);
    if (!v.empty()) doc.metadata[k] = v;
  }
  if (!resolution.empty()) doc.metadata["resolution"] = resolution;
  auto labels = f.list("labels");
  if (!labels.empty()) doc.metadata["labels"] = join(labels, ",");
  auto components = f.list("components");
  if (!components.empty()) doc.metadata["components"] = join(components, ",");
  doc.created_at = f.time("created");
  doc.updated_at = f.time("updated");
  if (!doc.updated_at) doc.updated_at = doc.created_at;

  // Who reported the issue: comments by the reporter describe the problem
  // (or thank), comments by others are the work done.
  std::string reporter_id = person_id(*fields, "reporter");
  std::string reporter_name = f.str("reporter");
  // When it was resolved: the changelog's resolution transition (expand=
  // changelog), else resolutiondate. Comments written after it are
  // follow-ups, not the resolution.
  int64_t resolved_at = lenient_time(*fields, "resolutiondate");
  auto log = rec.find("changelog");
  if (log != rec.end() && log->is_object() && log->contains("histories") && (*log)["histories"].is_array()) {
    for (const json& h : (*log)["histories"]) {
      if (!h.is_object() || !h.contains("items") || !h["items"].is_array()) continue;
      bool sets_resolution = false;
      for (const json& it : h["items"])
        sets_resolution |= it.is_object() && it.value("field", json()).is_string() &&
                           it["field"].get<std::string>() == "resolution" && it.contains("to") && !it["to"].is_null();
      if (sets_resolution)
        if (int64_t t = lenient_time(h, "created")) resolved_at = t;
    }
  }

  struct JiraComment {
    std::string text;
    int64_t created = 0;
    bool by_reporter = false;
  };
  std::vector<JiraComment> all;
  if (const json* c = f.object("comment")) {
    RecordReader cr(*c);
    if (const json* list = cr.array("comments")) {
      for (const json& cm : *list) {
        if (!cm.is_object()) { f.fail("comment is not an object"); break; }
        RecordReader one(cm);
        std::string body = jira_text(cm, "body", one);
        std::string author = one.str("author");
        std::string author_id = person_id(cm, "author");
        std::string when = one.str("created");
        int64_t created = lenient_time(cm, "created");
        if (!one.error().empty()) { f.fail("comment: " + one.error()); break; }
        if (trim(body).empty()) continue;
        std::string head = author.empty() ? "comment" : author;
        if (!when.empty()) head += " (" + when + ")";
        JiraComment jc;
        jc.text = head + ": " + body;
        jc.created = created;
        jc.by_reporter = !reporter_id.empty() && !author_id.empty() ? author_id == reporter_id
                                                                     : !reporter_name.empty() && author == reporter_name;
        all.push_back(std::move(jc));
      }
    }
    if (!cr.error().empty()) f.fail("comment: " + cr.error());
  }
  if (!f.error().empty()) r.fail("fields: " + f.error());
  // Jira has no resolution notes. For a resolved issue the resolution is
  // the closing run of work comments: going back from the last comment
  // written up to the resolution, the comments by others than the reporter
  // (at most three, stopping at the reporter's), in their order. A fix is
  // often posted before a closing remark (the cause, "job green again"),
  // so the last comment alone misses it. Without such comments: the last.
  std::string resolution_text;
  std::vector<bool> in_resolution(all.size(), false);
  if (!resolution.empty() && !all.empty()) {
    size_t i = all.size();
    while (i > 0 && resolved_at && all[i - 1].created > resolved_at) --i;  // follow-ups
    while (i > 0 && all[i - 1].by_reporter) --i;
    for (int taken = 0; i > 0 && taken < 3 && !all[i - 1].by_reporter; ++taken) in_resolution[--i] = true;
    if (std::find(in_resolution.begin(), in_resolution.end(), true) == in_resolution.end())
      in_resolution.back() = true;
    resolution_text = "Resolution: " + resolution;
    for (size_t k = 0; k < all.size(); ++k)
      if (in_resolution[k]) resolution_text += "\n\n" + all[k].text;
  }
  std::vector<std::string> comments;
  for (size_t k = 0; k < all.size(); ++k)
    if (!in_resolution[k]) comments.push_back(std::move(all[k].text));
  std::string self = r.str("self");
  size_t rest = self.find("/rest/");
  if (rest != std::string::npos && !doc.id.empty()) doc.url = self.substr(0, rest) + "/browse/" + doc.id;
  doc.title = summary.empty() ? doc.id : doc.id + ": " + summary;
  doc.kind = "ticket";
  doc.source = "jira";
  add_ticket_blocks(doc, doc.title, description, resolution_text, std::move(comments));
}

// ---- Zendesk -------------------------------------------------------------

void map_zendesk(const json& /*rec*/, RecordReader& r, Document& doc, const FileInput&,
                 const json* sibling_comments) {
  std::string id = r.str("id", true);
  if (!id.empty()) doc.id = "ZD-" + id;
  std::string subject = r.str("subject");
  if (subject.empty()) subject = r.str("raw_subject");
  std::string description = r.str("description");
  std::string status = r.str("status");
  for (const char* k : {"status", "priority", "type", "group_id", "assignee_id", "requester_id",
                        "organization_id"}) {
    std::string v = r.str(k);
    if (!v.empty()) doc.metadata[k] = v;
  }
  auto tags = r.list("tags");
  if (!tags.empty()) doc.metadata["tags"] = join(tags, ",");
  doc.created_at = r.time("created_at");
  doc.updated_at = r.time("updated_at");
  if (!doc.updated_at) doc.updated_at = doc.created_at;

  std::vector<std::string> comments;
  const json* list = r.array("comments");
  if (!list) list = sibling_comments;
  if (list) {
    for (const json& cm : *list) {
      if (!cm.is_object()) { r.fail("comment is not an object"); break; }
      RecordReader one(cm);
      std::string body = one.str("plain_body");
      if (body.empty()) body = one.str("body");
      std::string author = one.str("author_id");
      std::string when = one.str("created_at");
      bool is_public = true;
      if (auto p = cm.find("public"); p != cm.end() && p->is_boolean()) is_public = p->get<bool>();
      if (!one.error().empty()) { r.fail("comment: " + one.error()); break; }
      if (trim(body).empty()) continue;
      if (comments.empty() && trim(body) == trim(description)) {
        comments.push_back("");  // the opening comment repeats the description
        continue;
      }
      std::string head = "author " + (author.empty() ? std::string("unknown") : author);
      head += is_public ? " (public" : " (internal";
      if (!when.empty()) head += ", " + when;
      head += ")";
      comments.push_back(head + ": " + body);
    }
  }
  std::erase_if(comments, [](const std::string& c) { return c.empty(); });
  std::string resolution_text;
  if ((status == "solved" || status == "closed") && !comments.empty()) {
    resolution_text = "Solved: " + comments.back();
    comments.pop_back();
  }
  std::string url = r.str("url");  // https://x.zendesk.com/api/v2/tickets/123.json
  size_t api = url.find("/api/v2/tickets/");
  doc.url = api != std::string::npos ? url.substr(0, api) + "/agent/tickets/" + id : url;
  doc.title = subject.empty() ? doc.id : doc.id + ": " + subject;
  doc.kind = "ticket";
  doc.source = "zendesk";
  add_ticket_blocks(doc, doc.title, description, resolution_text, std::move(comments));
}

using Mapper = std::function<void(const json&, RecordReader&, Document&)>;

void map_records(const FileInput& in, const json& records, const Mapper& mapper) {
  size_t n = 0;
  auto one = [&](const json& rec) {
    ++n;
    const std::string where = in.name + ": record " + std::to_string(n);
    if (!rec.is_object()) {
      in.error(Status::invalid_argument(where + ": not a JSON object"));
      return;
    }
    Document doc;
    RecordReader r(rec);
    try {
      mapper(rec, r, doc);
    } catch (const std::exception& e) {  // nlohmann type errors we did not foresee
      r.fail(e.what());
    }
    if (!r.error().empty()) {
      std::string id = doc.id.empty() ? "" : " (" + doc.id + ")";
      in.error(Status::invalid_argument(where + id + ": " + r.error()));
      return;
    }
    doc.origin = in.name + " record " + std::to_string(n);
    in.emit(std::move(doc));
  };
  if (records.is_array()) {
    for (const json& rec : records) one(rec);
  } else {
    one(records);
  }
}

bool has(const json& j, const char* key) { return j.is_object() && j.contains(key); }

size_t skip_ws(std::string_view s, size_t pos) {
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t')) ++pos;
  return pos;
}

// End (one past) of the JSON value starting at `pos`, or npos when the input
// ends first. Only brackets and strings are tracked: the value is parsed for
// real afterwards.
size_t value_end(std::string_view s, size_t pos) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      if (depth == 0) return i;  // end of the enclosing array: a scalar ended
      if (--depth == 0) return i + 1;
    } else if (c == ',' && depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

// After a parse error (typically a truncated export): the complete records
// of the record array before the damage, in a root of the same shape.
std::optional<json> recover_records(std::string_view s, size_t& recovered) {
  recovered = 0;
  size_t pos = skip_ws(s, 0);
  std::string key;
  if (pos < s.size() && s[pos] == '{') {
    size_t best = std::string_view::npos;
    for (const char* k : {"result", "records", "issues", "tickets", "documents"}) {
      size_t at = s.find(std::string("\"") + k + "\"");
      if (at == std::string_view::npos || at >= best) continue;
      size_t p = skip_ws(s, at + std::strlen(k) + 2);
      if (p >= s.size() || s[p] != ':') continue;
      p = skip_ws(s, p + 1);
      if (p >= s.size() || s[p] != '[') continue;
      best = at;
      key = k;
      pos = p;
    }
    if (key.empty()) return std::nullopt;
  } else if (pos >= s.size() || s[pos] != '[') {
    return std::nullopt;
  }
  json records = json::array();
  ++pos;  // past '['
  while (true) {
    pos = skip_ws(s, pos);
    if (pos < s.size() && s[pos] == ',') pos = skip_ws(s, pos + 1);
    if (pos >= s.size() || s[pos] == ']') break;
    size_t end = value_end(s, pos);
    if (end == std::string_view::npos) break;
    try {
      records.push_back(json::parse(s.substr(pos, end - pos)));
    } catch (const json::exception&) {  // parse_error, or out_of_range for 1e400
      break;  // damage inside this record: what follows cannot be trusted
    }
    pos = end;
  }
  recovered = records.size();
  if (key.empty()) return records;
  json root = json::object();
  root[key] = std::move(records);
  return root;
}

}  // namespace

Status parse_json_export(const FileInput& in, SourceFormat format) {
  if (looks_binary(in.bytes)) return Status::invalid_argument("binary content in a JSON file; skipped");
  json root;
  try {
    root = json::parse(in.bytes.begin(), in.bytes.end());
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number such as 1e400
    const auto* syntax = dynamic_cast<const json::parse_error*>(&e);
    std::string what = !syntax ? std::string("a number is out of range (larger than a 64-bit float)")
                               : "invalid JSON at byte " + std::to_string(syntax->byte) +
                                     (syntax->byte >= in.bytes.size() ? " (truncated?)" : "");
    size_t recovered = 0;
    std::optional<json> partial = recover_records(in.bytes, recovered);
    if (!partial || recovered == 0) return Status::invalid_argument(what);
    // The records before the damage still go in; the file is reported.
    in.error(Status::invalid_argument(in.name + ": " + what + "; read the " + std::to_string(recovered) +
                                      " complete record(s) before it"));
    root = std::move(*partial);
  }
  auto sn = [&](const json& j, RecordReader& r, Document& d) { map_servicenow(j, r, d, in); };
  auto jira = [&](const json& j, RecordReader& r, Document& d) { map_jira(j, r, d, in); };
  auto zd = [&](const json& j, RecordReader& r, Document& d) { map_zendesk(j, r, d, in, nullptr); };
  auto generic = [&](const std::string& source) {
    return [&in, source](const json& j, RecordReader& r, Document& d) { map_generic(j, r, d, in, source); };
  };
  auto need_array = [&](const json& j, const char* key) -> Status {
    if (!j.is_array()) return Status::invalid_argument(std::string("'") + key + "' is not an array");
    return Status::ok();
  };

  // The record list and its mapper, by forced format or by shape.
  if (root.is_object()) {
    if ((format == SourceFormat::kAuto || format == SourceFormat::kServiceNow) &&
        (has(root, "result") || has(root, "records"))) {
      const char* key = has(root, "result") ? "result" : "records";
      const json& recs = root[key];
      if (!recs.is_array() && !recs.is_object()) return need_array(recs, key);
      map_records(in, recs, sn);
      return Status::ok();
    }
    if ((format == SourceFormat::kAuto || format == SourceFormat::kJira) && has(root, "issues")) {
      RAGD_RETURN_IF_ERROR(need_array(root["issues"], "issues"));
      map_records(in, root["issues"], jira);
      return Status::ok();
    }
    if ((format == SourceFormat::kAuto || format == SourceFormat::kZendesk) && has(root, "tickets")) {
      RAGD_RETURN_IF_ERROR(need_array(root["tickets"], "tickets"));
      map_records(in, root["tickets"], zd);
      return Status::ok();
    }
    if ((format == SourceFormat::kAuto || format == SourceFormat::kZendesk) && has(root, "ticket")) {
      const json* sibling = has(root, "comments") && root["comments"].is_array() ? &root["comments"] : nullptr;
      map_records(in, root["ticket"], [&](const json& j, RecordReader& r, Document& d) {
        map_zendesk(j, r, d, in, sibling);
      });
      return Status::ok();
    }
    if (format == SourceFormat::kAuto && has(root, "documents")) {
      RAGD_RETURN_IF_ERROR(need_array(root["documents"], "documents"));
      map_records(in, root["documents"], generic("api"));
      return Status::ok();
    }
    // A single record.
    if (format == SourceFormat::kJira || (format == SourceFormat::kAuto && has(root, "key") && has(root, "fields")))
      return map_records(in, root, jira), Status::ok();
    if (format == SourceFormat::kServiceNow ||
        (format == SourceFormat::kAuto && (has(root, "number") || has(root, "short_description"))))
      return map_records(in, root, sn), Status::ok();
    if (format == SourceFormat::kZendesk) return map_records(in, root, zd), Status::ok();
    if (format == SourceFormat::kAuto && (has(root, "_id") || has(root, "id")) && has(root, "text"))
      return map_records(in, root, generic("json")), Status::ok();
    return Status::invalid_argument(
        "unrecognised JSON shape (expected {\"result\":[...]}, {\"records\":[...]}, {\"issues\":[...]}, "
        "{\"tickets\":[...]} or {\"documents\":[...]})");
  }
  if (root.is_array()) {
    const json* first = nullptr;
    for (const json& j : root) if (j.is_object()) { first = &j; break; }
    if (!first) return root.empty() ? Status::ok() : Status::invalid_argument("a JSON array without objects");
    SourceFormat f = format;
    if (f == SourceFormat::kAuto) {
      if (has(*first, "key") && has(*first, "fields")) f = SourceFormat::kJira;
      else if (has(*first, "number") || has(*first, "sys_id")) f = SourceFormat::kServiceNow;
      else if (has(*first, "subject") && has(*first, "id")) f = SourceFormat::kZendesk;
    }
    if (f == SourceFormat::kJira) map_records(in, root, jira);
    else if (f == SourceFormat::kServiceNow) map_records(in, root, sn);
    else if (f == SourceFormat::kZendesk) map_records(in, root, zd);
    else map_records(in, root, generic("json"));
    return Status::ok();
  }
  return Status::invalid_argument("JSON is neither an object nor an array");
}

}  // namespace ragd::connectors

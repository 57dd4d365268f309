// The vendor clients. Each follows its vendor's documented API shape:
//   ServiceNow Table API  GET /api/now/table/{table}?sysparm_query=...&sysparm_limit=N
//   Jira (JSM) search     GET /rest/api/3/search/jql?jql=...&nextPageToken=...
//   Zendesk export        GET /api/v2/incremental/tickets/cursor.json?start_time=0 | ?cursor=...
//   Confluence search     GET {base}/rest/api/content/search?cql=...&expand=body.storage,...
// and, for pruning, an id-only listing of each (list_ids):
//   ServiceNow  the Table API with sysparm_fields=sys_id,number, keyset on sys_id
//   Jira        the search with fields=id, ORDER BY key
//   Zendesk     GET /api/v2/tickets.json?page[size]=N (cursor pagination)
//   Confluence  the search without expansions, order by created
#include "sync/vendor.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "connectors/connector.h"

namespace ragd::sync {

std::string field_text(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  if (it->is_object()) {
    auto v = it->find("value");
    if (v != it->end() && v->is_string()) return v->get<std::string>();
  }
  return "";
}

namespace {

using json = nlohmann::json;

std::string raw_value(const json& obj, const char* key) { return field_text(obj, key); }

// A page's JSON body, checked to hold the array `field` of records: the one
// check every vendor's page goes through. A failed request is its own error;
// a body that is not a JSON object, or lacks the array, is kCorruption naming
// `what`.
Result<json> page_body(const Result<HttpResponse>& r, const std::string& what, const char* field) {
  if (!r.is_ok()) return r.status();
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::corruption(what + ": the response is not a JSON object (" + std::to_string(r->body.size()) +
                              " bytes)");
  }
  auto it = j.find(field);
  if (it == j.end() || !it->is_array()) {
    return Status::corruption(what + ": the response has no \"" + field + "\" array");
  }
  return j;
}

// Maps one record with the connector for `format`; errors name the record.
void map_record(const json& wrapped, SourceFormat format, const std::string& id, Page& page,
                std::vector<Document>* out = nullptr) {
  FetchOptions fo;
  fo.format = format;
  std::string text = wrapped.dump(-1, ' ', false, json::error_handler_t::replace);
  std::vector<Document>& docs = out != nullptr ? *out : page.documents;
  size_t before = docs.size();
  FetchSink sink;
  sink.on_document = [&](Document&& d) { docs.push_back(std::move(d)); };
  std::string first_error;
  sink.on_error = [&](const Status& s) {
    if (first_error.empty()) first_error = s.message();
  };
  Status st = fetch_buffer(text, "record", fo, sink);
  if (!st.is_ok() && first_error.empty()) first_error = st.message();
  if (docs.size() == before) {
    page.errors.push_back("record " + (id.empty() ? std::string("(no id)") : id) + ": " +
                          (first_error.empty() ? std::string("no document in it") : first_error));
  }
}

bool link_has_next(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("link");
  return it != headers.end() && it->second.find("rel=\"next\"") != std::string::npos;
}

std::optional<uint64_t> header_count(const std::map<std::string, std::string>& headers, const char* name) {
  auto it = headers.find(name);
  if (it == headers.end() || it->second.empty() || it->second.size() > 18) return std::nullopt;
  if (!std::all_of(it->second.begin(), it->second.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoull(it->second);
}

// ---- ServiceNow (incidents and knowledge articles) ----

const char* kIncidentFields =
    "sys_id,number,short_description,description,close_notes,comments,work_notes,category,subcategory,"
    "assignment_group,priority,state,close_code,impact,urgency,cmdb_ci,contact_type,business_service,"
    "assigned_to,caller_id,location,sys_created_on,opened_at,sys_updated_on,resolved_at,closed_at";
const char* kKbFields =
    "sys_id,number,short_description,text,workflow_state,kb_category,kb_knowledge_base,sys_created_on,"
    "sys_updated_on";

// A knowledge article: published ones are runbooks or policies; any other
// workflow state (retired, outdated, draft, review) leaves the index.
void map_article(const SourceConfig& s, const json& rec, const std::string& id, int64_t updated, Page& page) {
  const std::string state = raw_value(rec, "workflow_state");
  if (state != "published") {
    page.deletions.push_back(id);
    return;
  }
  std::vector<Document> docs;
  FetchOptions fo;
  fo.format = SourceFormat::kHtml;
  FetchSink sink;
  sink.on_document = [&](Document&& d) { docs.push_back(std::move(d)); };
  std::string err;
  sink.on_error = [&](const Status& e) { err = e.message(); };
  const std::string html = raw_value(rec, "text");
  (void)fetch_buffer(html, id + ".html", fo, sink);
  const std::string title = raw_value(rec, "short_description");
  if (docs.empty() && title.empty()) {
    page.errors.push_back("record " + id + ": article body unreadable" + (err.empty() ? "" : ": " + err));
    return;
  }
  Document d = docs.empty() ? Document{} : std::move(docs.front());
  d.id = id;
  if (!title.empty()) d.title = title;
  std::string category = raw_value(rec, "kb_category");
  auto display = rec.find("kb_category");
  if (display != rec.end() && display->is_object() && display->contains("display_value") &&
      (*display)["display_value"].is_string()) {
    category = (*display)["display_value"].get<std::string>();
  }
  std::string lower = category + " " + d.title;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  d.kind = lower.find("policy") != std::string::npos ? "policy" : "runbook";
  d.source = "servicenow";
  d.url = s.url + "/kb_view.do?sysparm_article=" + url_encode(id);
  d.metadata["number"] = id;
  d.metadata["workflow_state"] = state;
  if (!category.empty()) d.metadata["kb_category"] = category;
  d.metadata["sys_id"] = raw_value(rec, "sys_id");
  d.updated_at = updated;
  if (auto c = connectors::parse_timestamp(raw_value(rec, "sys_created_on"))) d.created_at = *c;
  d.origin = s.name + " " + id;
  page.documents.push_back(std::move(d));
}

// One Table API row (incident or knowledge article). False when it lacks
// sys_id or sys_updated_on (reported on the page, cursor not moved by it).
bool map_servicenow_row(const SourceConfig& s, const json& rec, Page& page) {
  if (!rec.is_object()) {
    page.errors.push_back("record (not an object): skipped");
    return false;
  }
  const std::string sys_id = raw_value(rec, "sys_id");
  const std::string number = raw_value(rec, "number");
  const std::string updated = raw_value(rec, "sys_updated_on");
  if (sys_id.empty() || !connectors::parse_timestamp(updated)) {
    page.errors.push_back("record " + (number.empty() ? sys_id : number) +
                          ": no sys_id or no valid sys_updated_on; skipped");
    return false;
  }
  const std::string id = number.empty() ? sys_id : number;
  page.seen_ids.push_back(id);
  if (s.type == SourceType::kServiceNowKb) {
    map_article(s, rec, id, *connectors::parse_timestamp(updated), page);
  } else {
    map_record(json{{"result", json::array({rec})}}, SourceFormat::kServiceNow, id, page);
  }
  return true;
}

class ServiceNowClient : public VendorClient {
 public:
  ServiceNowClient(const SourceConfig& s, HttpClient& http) : s_(s), http_(http) {}

  Result<Page> fetch(const Cursor& cursor) override {
    const std::string q = s_.query.empty() ? "" : s_.query + "^";
    std::string query;
    if (cursor.since.empty()) {
      query = s_.query;
    } else {
      // Keyset paging on (sys_updated_on, sys_id): nothing skipped when
      // records change between pages, which offset paging cannot promise.
      query = q + "sys_updated_on>" + cursor.since + "^NQ" + q + "sys_updated_on=" + cursor.since +
              "^sys_id>" + cursor.last_id;
    }
    query += std::string(query.empty() ? "" : "^") + "ORDERBYsys_updated_on^ORDERBYsys_id";
    const bool kb = s_.type == SourceType::kServiceNowKb;
    std::string url = s_.url + "/api/now/table/" + url_encode(s_.table) + "?sysparm_query=" + url_encode(query) +
                      "&sysparm_limit=" + std::to_string(s_.page_size) +
                      "&sysparm_offset=0&sysparm_display_value=all&sysparm_exclude_reference_link=true"
                      "&sysparm_fields=" + url_encode(kb ? kKbFields : kIncidentFields);
    auto r = http_.get(url);
    auto body = page_body(r, "ServiceNow " + s_.table, "result");
    if (!body.is_ok()) return body.status();
    auto res = body->find("result");
    Page page;
    page.next = cursor;
    page.total = header_count(r->headers, "x-total-count");
    for (const json& rec : *res) {
      ++page.fetched;
      // The cursor moves over every record read, good or bad: a malformed
      // record is reported, not retried forever.
      if (map_servicenow_row(s_, rec, page)) {
        page.next.since = raw_value(rec, "sys_updated_on");
        page.next.last_id = raw_value(rec, "sys_id");
      }
    }
    page.last = page.fetched < static_cast<uint64_t>(s_.page_size) || !link_has_next(r->headers);
    return page;
  }

  Result<IdPage> list_ids(const std::string& token) override {
    // Keyset on sys_id, which never changes; raw values, two fields.
    std::string query = s_.query;
    if (!token.empty()) query += std::string(query.empty() ? "" : "^") + "sys_id>" + token;
    query += std::string(query.empty() ? "" : "^") + "ORDERBYsys_id";
    const std::string url = s_.url + "/api/now/table/" + url_encode(s_.table) + "?sysparm_query=" +
                            url_encode(query) + "&sysparm_limit=" + std::to_string(s_.page_size) +
                            "&sysparm_offset=0&sysparm_exclude_reference_link=true&sysparm_fields=" +
                            url_encode("sys_id,number");
    auto r = http_.get(url);
    auto body = page_body(r, "ServiceNow " + s_.table + " id listing", "result");
    if (!body.is_ok()) return body.status();
    IdPage out;
    size_t rows = 0;
    std::string last_sys_id;
    for (const json& rec : (*body)["result"]) {
      ++rows;
      const std::string sys_id = rec.is_object() ? raw_value(rec, "sys_id") : "";
      if (sys_id.empty()) return Status::corruption("ServiceNow " + s_.table + " id listing: a row without sys_id");
      const std::string number = raw_value(rec, "number");
      out.ids.push_back(number.empty() ? sys_id : number);
      last_sys_id = sys_id;
    }
    out.last = rows < static_cast<size_t>(s_.page_size) || !link_has_next(r->headers);
    if (!out.last) out.next = last_sys_id;
    return out;
  }

 private:
  const SourceConfig& s_;
  HttpClient& http_;
};

// ---- Jira Service Management ----

const char* kJiraFields =
    "summary,description,comment,status,priority,issuetype,assignee,reporter,project,resolution,labels,"
    "components,created,updated,resolutiondate";

// Ends a pass of a "modified since" search: the next one starts at the
// minute of the newest update seen (records of that minute come again and
// are unchanged no-ops).
void end_pass(const Cursor& cursor, Page& page) {
  page.next.token.clear();
  if (page.next.pass_max > 0) page.next.since = format_query_minute(page.next.pass_max);
  else page.next.since = cursor.since;
  page.next.pass_max = 0;
  page.last = true;
}

// One Jira issue as the search returns it; returns its `updated` time
// (unix seconds, 0 when unreadable).
int64_t map_jira_issue(const json& issue, Page& page) {
  const std::string key = issue.is_object() ? raw_value(issue, "key") : "";
  if (key.empty()) {
    page.errors.push_back("record (no key): skipped");
    return 0;
  }
  page.seen_ids.push_back(key);
  int64_t updated = 0;
  auto fields = issue.find("fields");
  if (fields != issue.end() && fields->is_object()) {
    if (auto t = connectors::parse_timestamp(raw_value(*fields, "updated"))) updated = *t;
  }
  map_record(json{{"issues", json::array({issue})}}, SourceFormat::kJira, key, page);
  return updated;
}

class JiraClient : public VendorClient {
 public:
  JiraClient(const SourceConfig& s, HttpClient& http) : s_(s), http_(http) {}

 private:
  // The source's JQL and `updated >= since`. /search/jql refuses an
  // unbounded query (one without a search restriction), so without either
  // the restriction is "updated since 1970".
  std::string bounded_jql(const std::string& since) const {
    std::string jql = s_.query.empty() ? "" : "(" + s_.query + ")";
    if (!since.empty() || jql.empty()) {
      jql += std::string(jql.empty() ? "" : " AND ") + "updated >= \"" + (since.empty() ? "1970/01/01 00:00" : since) +
             "\"";
    }
    return jql;
  }
  static std::string next_page_token(const json& body) {
    auto tok = body.find("nextPageToken");
    if (body.value("isLast", false) || tok == body.end() || !tok->is_string()) return "";
    return tok->get<std::string>();
  }

 public:
  Result<Page> fetch(const Cursor& cursor) override {
    const std::string jql = bounded_jql(cursor.since) + " ORDER BY updated ASC, key ASC";
    std::string url = s_.url + "/rest/api/3/search/jql?jql=" + url_encode(jql) +
                      "&maxResults=" + std::to_string(s_.page_size) + "&fields=" + url_encode(kJiraFields);
    if (!cursor.token.empty()) url += "&nextPageToken=" + url_encode(cursor.token);
    auto r = http_.get(url);
    auto body = page_body(r, "Jira search", "issues");
    if (!body.is_ok()) return body.status();
    auto issues = body->find("issues");
    Page page;
    page.next = cursor;
    for (const json& issue : *issues) {
      ++page.fetched;
      page.next.pass_max = std::max(page.next.pass_max, map_jira_issue(issue, page));
    }
    if (std::string tok = next_page_token(*body); !tok.empty()) {
      page.next.token = tok;
    } else {
      end_pass(cursor, page);
    }
    return page;
  }

  Result<IdPage> list_ids(const std::string& token) override {
    // Keys never change and new issues sort last, so key order does not
    // shift under a running listing the way update order does.
    const std::string jql = bounded_jql("") + " ORDER BY key ASC";
    std::string url = s_.url + "/rest/api/3/search/jql?jql=" + url_encode(jql) +
                      "&maxResults=" + std::to_string(s_.page_size) + "&fields=id";
    if (!token.empty()) url += "&nextPageToken=" + url_encode(token);
    auto r = http_.get(url);
    auto body = page_body(r, "Jira id listing", "issues");
    if (!body.is_ok()) return body.status();
    IdPage out;
    for (const json& issue : (*body)["issues"]) {
      const std::string key = issue.is_object() ? raw_value(issue, "key") : "";
      if (key.empty()) return Status::corruption("Jira id listing: an issue without key");
      out.ids.push_back(key);
    }
    out.next = next_page_token(*body);
    out.last = out.next.empty();
    return out;
  }

 private:
  const SourceConfig& s_;
  HttpClient& http_;
};

// ---- Zendesk ----

// One Zendesk ticket (the export's or GET /api/v2/tickets/{id}.json's).
void map_zendesk_ticket(const json& t, Page& page) {
  const std::string raw_id = t.is_object() ? raw_value(t, "id") : "";
  if (raw_id.empty()) {
    page.errors.push_back("record (no id): skipped");
    return;
  }
  const std::string id = "ZD-" + raw_id;
  page.seen_ids.push_back(id);
  if (raw_value(t, "status") == "deleted") {
    page.deletions.push_back(id);
    return;
  }
  map_record(json{{"tickets", json::array({t})}}, SourceFormat::kZendesk, id, page);
}

class ZendeskClient : public VendorClient {
 public:
  ZendeskClient(const SourceConfig& s, HttpClient& http) : s_(s), http_(http) {}

  Result<Page> fetch(const Cursor& cursor) override {
    std::string url = s_.url + "/api/v2/incremental/tickets/cursor.json?per_page=" + std::to_string(s_.page_size);
    url += cursor.token.empty() ? "&start_time=0" : "&cursor=" + url_encode(cursor.token);
    auto r = http_.get(url);
    auto body = page_body(r, "Zendesk incremental export", "tickets");
    if (!body.is_ok()) return body.status();
    auto tickets = body->find("tickets");
    Page page;
    page.next = cursor;
    for (const json& t : *tickets) {
      ++page.fetched;
      map_zendesk_ticket(t, page);
    }
    auto after = body->find("after_cursor");
    if (after != body->end() && after->is_string() && !after->get<std::string>().empty()) {
      page.next.token = after->get<std::string>();
    }
    page.last = body->value("end_of_stream", true);
    return page;
  }

  Result<IdPage> list_ids(const std::string& token) override {
    // List Tickets with cursor pagination: deleted tickets are not listed.
    const std::string url = token.empty() ? s_.url + "/api/v2/tickets.json?page%5Bsize%5D=" +
                                                std::to_string(std::min(s_.page_size, 100))
                                          : s_.url + token;
    auto r = http_.get(url);
    auto body = page_body(r, "Zendesk ticket listing", "tickets");
    if (!body.is_ok()) return body.status();
    IdPage out;
    for (const json& t : (*body)["tickets"]) {
      const std::string id = t.is_object() ? raw_value(t, "id") : "";
      if (id.empty()) return Status::corruption("Zendesk ticket listing: a ticket without id");
      out.ids.push_back("ZD-" + id);
    }
    bool more = false;
    if (auto m = body->find("meta"); m != body->end() && m->is_object()) more = m->value("has_more", false);
    std::string next;
    if (auto l = body->find("links"); l != body->end() && l->is_object()) next = raw_value(*l, "next");
    // links.next is absolute; keep its path and query, the base is ours.
    if (more) {
      const size_t scheme = next.find("://");
      const size_t path = scheme == std::string::npos ? std::string::npos : next.find('/', scheme + 3);
      if (path == std::string::npos) return Status::corruption("Zendesk ticket listing: has_more without links.next");
      out.next = next.substr(path);
    }
    out.last = out.next.empty();
    return out;
  }

 private:
  const SourceConfig& s_;
  HttpClient& http_;
};

// ---- Confluence ----

// One Confluence content object (the search's or GET /rest/api/content/{id}'s,
// with body.storage, version, metadata.labels, space); returns its
// version.when (unix seconds, 0 when it has none).
int64_t map_confluence_page(const SourceConfig& s, const json& c, Page& page) {
  const std::string raw_id = c.is_object() ? raw_value(c, "id") : "";
  if (raw_id.empty()) {
    page.errors.push_back("record (no id): skipped");
    return 0;
  }
  const std::string id = "confluence-" + raw_id;
  page.seen_ids.push_back(id);
  int64_t when = 0;
  std::string html;
  try {
    if (c.contains("version")) {
      if (auto t = connectors::parse_timestamp(raw_value(c.at("version"), "when"))) when = *t;
    }
    html = c.at("body").at("storage").at("value").get<std::string>();
  } catch (const json::exception&) {
    page.errors.push_back("record " + id + ": no body.storage.value string; skipped");
    return 0;
  }
  if (raw_value(c, "status") == "trashed") {
    page.deletions.push_back(id);
    return when;
  }
  std::vector<Document> docs;
  FetchOptions fo;
  fo.format = SourceFormat::kHtml;
  FetchSink sink;
  sink.on_document = [&](Document&& d) { docs.push_back(std::move(d)); };
  std::string err;
  sink.on_error = [&](const Status& e) { err = e.message(); };
  (void)fetch_buffer(html, id + ".html", fo, sink);
  const std::string title = raw_value(c, "title");
  if (docs.empty() && title.empty()) {
    page.errors.push_back("record " + id + ": page body unreadable" + (err.empty() ? "" : ": " + err));
    return when;
  }
  Document d = docs.empty() ? Document{} : std::move(docs.front());
  d.id = id;
  d.title = title;
  d.kind = "runbook";
  d.source = "confluence";
  d.updated_at = when;
  std::string labels;
  try {
    for (const json& l : c.at("metadata").at("labels").at("results")) {
      std::string name = raw_value(l, "name");
      if (name.empty()) continue;
      labels += (labels.empty() ? "" : ",") + name;
      if (name == "policy") d.kind = "policy";
    }
  } catch (const json::exception&) {
  }
  if (!labels.empty()) d.metadata["labels"] = labels;
  if (c.contains("space") && c["space"].is_object()) d.metadata["space"] = raw_value(c["space"], "key");
  if (c.contains("_links") && c["_links"].is_object()) {
    std::string webui = raw_value(c["_links"], "webui");
    if (!webui.empty()) d.url = s.url + webui;
  }
  d.origin = s.name + " " + id;
  page.documents.push_back(std::move(d));
  return when;
}

class ConfluenceClient : public VendorClient {
 public:
  ConfluenceClient(const SourceConfig& s, HttpClient& http) : s_(s), http_(http) {}

  Result<Page> fetch(const Cursor& cursor) override {
    std::string url;
    if (!cursor.token.empty()) {
      url = s_.url + cursor.token;  // _links.next, relative to the base URL
    } else {
      std::string cql = "type=page";
      if (!s_.query.empty()) cql += " AND (" + s_.query + ")";
      if (!cursor.since.empty()) cql += " AND lastmodified >= \"" + cursor.since + "\"";
      cql += " order by lastmodified asc";
      url = s_.url + "/rest/api/content/search?cql=" + url_encode(cql) + "&limit=" + std::to_string(s_.page_size) +
            "&expand=" + url_encode("body.storage,version,metadata.labels,space");
    }
    auto r = http_.get(url);
    auto body = page_body(r, "Confluence search", "results");
    if (!body.is_ok()) return body.status();
    auto results = body->find("results");
    Page page;
    page.next = cursor;
    if (auto t = body->find("totalSize"); t != body->end() && t->is_number_unsigned()) page.total = t->get<uint64_t>();
    for (const json& c : *results) {
      ++page.fetched;
      page.next.pass_max = std::max(page.next.pass_max, map_confluence_page(s_, c, page));
    }
    std::string next;
    if (auto l = body->find("_links"); l != body->end() && l->is_object()) next = raw_value(*l, "next");
    if (!next.empty() && next.front() == '/') {
      page.next.token = next;
    } else {
      end_pass(cursor, page);
    }
    return page;
  }

  Result<IdPage> list_ids(const std::string& token) override {
    std::string url = token;
    if (url.empty()) {
      // Creation order: a page edited during the listing does not move.
      std::string cql = "type=page";
      if (!s_.query.empty()) cql += " AND (" + s_.query + ")";
      cql += " order by created asc";
      url = "/rest/api/content/search?cql=" + url_encode(cql) + "&limit=" + std::to_string(s_.page_size);
    }
    auto r = http_.get(s_.url + url);
    auto body = page_body(r, "Confluence id listing", "results");
    if (!body.is_ok()) return body.status();
    IdPage out;
    for (const json& c : (*body)["results"]) {
      const std::string id = c.is_object() ? raw_value(c, "id") : "";
      if (id.empty()) return Status::corruption("Confluence id listing: a result without id");
      out.ids.push_back("confluence-" + id);
    }
    if (auto l = body->find("_links"); l != body->end() && l->is_object()) out.next = raw_value(*l, "next");
    if (!out.next.empty() && out.next.front() != '/') {
      return Status::corruption("Confluence id listing: _links.next is not a relative link");
    }
    out.last = out.next.empty();
    return out;
  }

 private:

  const SourceConfig& s_;
  HttpClient& http_;
};

}  // namespace

std::string format_servicenow_time(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string format_query_minute(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y/%m/%d %H:%M", &tm);
  return buf;
}

std::string Cursor::to_json() const {
  return json{{"since", since}, {"last_id", last_id}, {"token", token}, {"pass_max", pass_max}}.dump();
}

Result<Cursor> Cursor::from_json(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::corruption("sync cursor is not a JSON object");
  Cursor c;
  try {
    c.since = j.value("since", "");
    c.last_id = j.value("last_id", "");
    c.token = j.value("token", "");
    c.pass_max = j.value("pass_max", int64_t{0});
  } catch (const json::exception& e) {
    return Status::corruption(std::string("sync cursor: ") + e.what());
  }
  return c;
}

Page map_one_record(const SourceConfig& source, std::string_view record_json) {
  Page page;
  page.fetched = 1;
  json rec = json::parse(record_json, nullptr, false);
  if (rec.is_discarded()) {
    page.errors.push_back("record (not JSON): skipped");
    return page;
  }
  switch (source.type) {
    case SourceType::kServiceNow:
    case SourceType::kServiceNowKb: (void)map_servicenow_row(source, rec, page); break;
    case SourceType::kJira: (void)map_jira_issue(rec, page); break;
    case SourceType::kZendesk: map_zendesk_ticket(rec, page); break;
    case SourceType::kConfluence: (void)map_confluence_page(source, rec, page); break;
  }
  return page;
}

Result<std::string> fetch_one_record(const SourceConfig& source, HttpClient& http, const std::string& vendor_id) {
  if (vendor_id.empty() || vendor_id.size() > 64 ||
      !std::all_of(vendor_id.begin(), vendor_id.end(), [](unsigned char c) { return std::isalnum(c) || c == '-'; })) {
    return Status::invalid_argument("record id must be 1-64 letters, digits or '-'");
  }
  std::string url;
  const char* field = nullptr;
  switch (source.type) {
    case SourceType::kZendesk:
      url = source.url + "/api/v2/tickets/" + vendor_id + ".json";
      field = "ticket";
      break;
    case SourceType::kConfluence:
      url = source.url + "/rest/api/content/" + vendor_id + "?expand=" + url_encode("body.storage,version,metadata.labels,space");
      break;
    default:
      return Status::unimplemented(std::string("fetching one record of a ") + source_type_name(source.type) +
                                   " source");
  }
  auto r = http.get(url);
  if (!r.is_ok()) return r.status();
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::corruption("GET " + url + ": not a JSON object");
  if (field == nullptr) return r->body;
  auto it = j.find(field);
  if (it == j.end() || !it->is_object()) {
    return Status::corruption(std::string("the response has no \"") + field + "\" object");
  }
  return it->dump();
}

std::unique_ptr<VendorClient> make_vendor_client(const SourceConfig& source, HttpClient& http) {
  switch (source.type) {
    case SourceType::kServiceNow:
    case SourceType::kServiceNowKb: return std::make_unique<ServiceNowClient>(source, http);
    case SourceType::kJira: return std::make_unique<JiraClient>(source, http);
    case SourceType::kZendesk: return std::make_unique<ZendeskClient>(source, http);
    case SourceType::kConfluence: return std::make_unique<ConfluenceClient>(source, http);
  }
  return nullptr;
}

}  // namespace ragd::sync

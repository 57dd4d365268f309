// Fake vendor APIs behind LoopbackServer, following each vendor's documented
// response shapes (the fields ragd reads and the paging fields):
//   ServiceNow Table API: {"result":[...]}, X-Total-Count, Link rel="next",
//     sysparm_display_value=all fields as {"display_value","value"}.
//   Jira: /rest/api/3/search/jql {"issues":[...],"nextPageToken","isLast"}.
//   Zendesk: /api/v2/incremental/tickets/cursor.json {"tickets","after_cursor",
//     "after_url","end_of_stream"}.
//   Confluence: /rest/api/content/search {"results","_links":{"next","base"},"size","limit"}.
// and the id-only listings that pruning reads: the Table API ordered by
// sys_id with sysparm_fields=sys_id,number (raw values); the Jira search
// ordered by key with fields=id; Zendesk's List Tickets with cursor
// pagination (/api/v2/tickets.json, "meta":{"has_more","after_cursor"},
// "links":{"next"}); the Confluence search ordered by created.
// Faults (429 + Retry-After, 500, 401) are queued and served first.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "tests/sync/loopback_server.h"

namespace ragd::sync::testing {

using json = nlohmann::json;

inline std::string sn_time(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

inline std::string iso_time(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000+0000", &tm);
  return buf;
}

// "yyyy/MM/dd HH:mm" (JQL/CQL) -> unix seconds, UTC.
inline int64_t query_minute(const std::string& s) {
  std::tm tm{};
  if (sscanf(s.c_str(), "%d/%d/%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min) != 5) return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

inline std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += k[v >> 18]; out += k[(v >> 12) & 63]; out += k[(v >> 6) & 63]; out += k[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += k[v >> 18]; out += k[(v >> 12) & 63]; out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += k[v >> 18]; out += k[(v >> 12) & 63]; out += k[(v >> 6) & 63]; out += '=';
  }
  return out;
}

// What every fake shares: queued faults, an expected Authorization header,
// an optional delay per page (the crash test kills mid-pass).
class FakeBase {
 public:
  virtual ~FakeBase() = default;
  void push_fault(Response r) {
    std::lock_guard l(mu_);
    faults_.push_back(std::move(r));
  }
  void expect_auth(std::string header) {
    std::lock_guard l(mu_);
    auth_ = std::move(header);
  }
  void set_delay_ms(int ms) { delay_ms_ = ms; }
  Response handle(const Request& req) {
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    std::lock_guard l(mu_);
    if (!auth_.empty()) {
      auto it = req.headers.find("authorization");
      if (it == req.headers.end() || it->second != auth_) return Response{401, {}, R"({"error":"unauthorized"})"};
    }
    if (!faults_.empty()) {
      Response r = faults_.front();
      faults_.pop_front();
      return r;
    }
    return serve(req);
  }

 protected:
  // REQUIRES: mu_ held.
  virtual Response serve(const Request& req) = 0;
  std::mutex mu_;

 private:
  std::deque<Response> faults_;
  std::string auth_;
  std::atomic<int> delay_ms_{0};
};

// ServiceNow: records keyed by sys_id; fields are plain strings here and
// served as {"display_value","value"} objects (sysparm_display_value=all).
class FakeServiceNow : public FakeBase {
 public:
  explicit FakeServiceNow(std::string table) : table_(std::move(table)) {}
  void put(const json& rec) {
    std::lock_guard l(mu_);
    const std::string id = rec.at("sys_id").get<std::string>();
    if (auto it = records_.find(id); it != records_.end()) order_.erase({it->second.at("sys_updated_on"), id});
    records_[id] = rec;
    order_.insert({rec.at("sys_updated_on").get<std::string>(), id});
  }
  void erase(const std::string& sys_id) {
    std::lock_guard l(mu_);
    if (auto it = records_.find(sys_id); it != records_.end()) order_.erase({it->second.at("sys_updated_on"), sys_id});
    records_.erase(sys_id);
  }
  std::map<std::string, json> records() {
    std::lock_guard l(mu_);
    return records_;
  }

 protected:
  Response serve(const Request& req) override {
    if (req.path != "/api/now/table/" + table_) return Response{404, {}, R"({"error":{"message":"No such table"}})"};
    std::string q = req.query.count("sysparm_query") ? req.query.at("sysparm_query") : "";
    std::smatch m;
    static const std::regex by_id(R"(^(sys_id>([^^]*)\^)?ORDERBYsys_id$)");
    if (std::regex_match(q, m, by_id)) return list_by_sys_id(req, m[2]);
    std::string since, last_id;
    static const std::regex keyset(R"(^sys_updated_on>([^^]+)\^NQsys_updated_on=([^^]+)\^sys_id>([^^]*)\^ORDERBYsys_updated_on\^ORDERBYsys_id$)");
    if (std::regex_match(q, m, keyset)) {
      since = m[1];
      last_id = m[3];
    } else if (q != "ORDERBYsys_updated_on^ORDERBYsys_id") {
      return Response{400, {}, R"({"error":{"message":"fake: unexpected sysparm_query"}})"};
    }
    if (!req.query.count("sysparm_display_value") || req.query.at("sysparm_display_value") != "all") {
      return Response{400, {}, R"({"error":{"message":"fake: expected sysparm_display_value=all"}})"};
    }
    // Records in (sys_updated_on, sys_id) order after the keyset position.
    auto first = since.empty() ? order_.begin() : order_.upper_bound({since, last_id});
    std::vector<const json*> rows;
    for (auto it = first; it != order_.end(); ++it) rows.push_back(&records_.at(it->second));
    size_t limit = std::stoul(req.query.at("sysparm_limit"));
    size_t offset = req.query.count("sysparm_offset") ? std::stoul(req.query.at("sysparm_offset")) : 0;
    std::vector<std::string> fields;
    if (req.query.count("sysparm_fields")) {
      std::string f = req.query.at("sysparm_fields");
      for (size_t s = 0; s <= f.size();) {
        size_t c = f.find(',', s);
        if (c == std::string::npos) c = f.size();
        fields.push_back(f.substr(s, c - s));
        s = c + 1;
      }
    }
    json result = json::array();
    for (size_t i = offset; i < rows.size() && i < offset + limit; ++i) {
      json out = json::object();
      for (const auto& [k, v] : rows[i]->items()) {
        if (!fields.empty() && std::find(fields.begin(), fields.end(), k) == fields.end()) continue;
        out[k] = json{{"display_value", v}, {"value", v}};
      }
      result.push_back(out);
    }
    Response r;
    r.body = json{{"result", result}}.dump();
    r.headers.emplace_back("X-Total-Count", std::to_string(rows.size()));
    std::string self = "<https://fake.service-now.com/api/now/table/" + table_ + "?sysparm_limit=" +
                       std::to_string(limit) + "&sysparm_offset=";
    std::string link = self + "0>;rel=\"first\"";
    if (offset + limit < rows.size()) link += "," + self + std::to_string(offset + limit) + ">;rel=\"next\"";
    link += "," + self + std::to_string(rows.empty() ? 0 : (rows.size() - 1) / limit * limit) + ">;rel=\"last\"";
    r.headers.emplace_back("Link", link);
    return r;
  }

 private:
  // The id listing: records after `after` in sys_id order, raw values
  // (no sysparm_display_value), the asked fields only.
  Response list_by_sys_id(const Request& req, const std::string& after) {
    if (req.query.count("sysparm_display_value") && req.query.at("sysparm_display_value") != "false") {
      return Response{400, {}, R"({"error":{"message":"fake: the id listing wants raw values"}})"};
    }
    const size_t limit = std::stoul(req.query.at("sysparm_limit"));
    const std::string fields = req.query.count("sysparm_fields") ? req.query.at("sysparm_fields") : "";
    json result = json::array();
    size_t left = 0;
    for (auto it = records_.upper_bound(after); it != records_.end(); ++it) {
      if (result.size() == limit) {
        ++left;
        continue;
      }
      json out = json::object();
      for (const auto& [k, v] : it->second.items()) {
        if (fields.empty() || ("," + fields + ",").find("," + k + ",") != std::string::npos) out[k] = v;
      }
      result.push_back(out);
    }
    Response r;
    r.body = json{{"result", result}}.dump();
    r.headers.emplace_back("X-Total-Count", std::to_string(records_.size()));
    if (left > 0) r.headers.emplace_back("Link", "<https://fake.service-now.com/next>;rel=\"next\"");
    return r;
  }

  std::string table_;
  std::map<std::string, json> records_;
  std::set<std::pair<std::string, std::string>> order_;  // (sys_updated_on, sys_id)
};

// Jira: issues keyed by key; `updated` as unix seconds in `_t`.
class FakeJira : public FakeBase {
 public:
  void put(const std::string& key, int64_t updated, const std::string& summary, const std::string& text) {
    std::lock_guard l(mu_);
    json adf = {{"type", "doc"}, {"version", 1}, {"content", json::array({{{"type", "paragraph"}, {"content", json::array({{{"type", "text"}, {"text", text}}})}}})}};
    issues_[key] = {{"_t", updated},
                    {"key", key},
                    {"id", std::to_string(10000 + issues_.size())},
                    {"self", "https://acme.atlassian.net/rest/api/3/issue/" + key},
                    {"fields",
                     {{"summary", summary},
                      {"description", adf},
                      {"status", {{"name", "Open"}}},
                      {"issuetype", {{"name", "Incident"}}},
                      {"comment", {{"comments", json::array()}}},
                      {"created", iso_time(updated - 3600)},
                      {"updated", iso_time(updated)}}}};
  }
  void erase(const std::string& key) {
    std::lock_guard l(mu_);
    issues_.erase(key);
  }

 protected:
  Response serve(const Request& req) override {
    if (req.path != "/rest/api/3/search/jql") return Response{404, {}, "{}"};
    std::string jql = req.query.count("jql") ? req.query.at("jql") : "";
    int64_t since = -1;
    std::smatch m;
    static const std::regex upd(R"#(updated >= "([^"]+)")#");
    if (std::regex_search(jql, m, upd)) since = query_minute(m[1]);
    // /search/jql refuses an unbounded query.
    if (since < 0) return Response{400, {}, R"({"errorMessages":["Unbounded JQL queries are not allowed here."]})"};
    const bool by_key = jql.find("ORDER BY key ASC") != std::string::npos;
    if (!by_key && jql.find("ORDER BY updated ASC") == std::string::npos) {
      return Response{400, {}, R"({"errorMessages":["order"]})"};
    }
    std::vector<const json*> rows;
    for (const auto& [k, v] : issues_) {
      if (v["_t"].get<int64_t>() >= since) rows.push_back(&v);
    }
    if (!by_key) {
      std::sort(rows.begin(), rows.end(), [](const json* a, const json* b) {
        return std::make_pair(a->at("_t").get<int64_t>(), a->at("key").get<std::string>()) <
               std::make_pair(b->at("_t").get<int64_t>(), b->at("key").get<std::string>());
      });
    }
    const bool ids_only = req.query.count("fields") && req.query.at("fields") == "id";
    size_t limit = std::stoul(req.query.at("maxResults"));
    size_t offset = 0;
    if (req.query.count("nextPageToken")) offset = std::stoul(req.query.at("nextPageToken").substr(1));
    json issues = json::array();
    for (size_t i = offset; i < rows.size() && i < offset + limit; ++i) {
      json o = *rows[i];
      o.erase("_t");
      if (ids_only) o = json{{"id", o["id"]}, {"key", o["key"]}, {"self", o["self"]}};
      issues.push_back(o);
    }
    json body = {{"issues", issues}, {"isLast", offset + limit >= rows.size()}};
    if (offset + limit < rows.size()) body["nextPageToken"] = "p" + std::to_string(offset + limit);
    return Response{200, {}, body.dump()};
  }

 private:
  std::map<std::string, json> issues_;
};

// Zendesk: a change log; each put/delete appends the ticket's state, and the
// export replays the log after the cursor (a cursor is the log position).
class FakeZendesk : public FakeBase {
 public:
  void put(int64_t id, int64_t updated, const std::string& subject, const std::string& status = "open") {
    std::lock_guard l(mu_);
    log_.push_back({{"id", id},
                    {"url", "https://acme.zendesk.com/api/v2/tickets/" + std::to_string(id) + ".json"},
                    {"subject", subject},
                    {"description", "Customer reports: " + subject},
                    {"status", status},
                    {"tags", json::array({"vpn"})},
                    {"created_at", iso_time(updated - 60)},
                    {"updated_at", iso_time(updated)},
                    {"generated_timestamp", updated}});
  }
  void put_raw(json ticket) {
    std::lock_guard l(mu_);
    log_.push_back(std::move(ticket));
  }
  // A permanent deletion (Zendesk's deleted-ticket purge): the ticket leaves
  // the listing and the export without a "deleted" state ever shown.
  void purge(int64_t id) {
    std::lock_guard l(mu_);
    std::erase_if(log_, [id](const json& t) { return t["id"].get<int64_t>() == id; });
  }

 protected:
  Response serve(const Request& req) override {
    // Show Ticket: the latest state in the log; a deleted ticket is a 404
    // (RecordNotFound), as Zendesk answers for deleted tickets.
    static const std::regex show(R"(^/api/v2/tickets/([0-9]+)\.json$)");
    std::smatch sm;
    if (std::regex_match(req.path, sm, show)) {
      const int64_t id = std::stoll(sm[1]);
      for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
        if ((*it)["id"].get<int64_t>() != id) continue;
        if ((*it)["status"] == "deleted") break;
        return Response{200, {}, json{{"ticket", *it}}.dump()};
      }
      return Response{404, {}, R"({"error":"RecordNotFound","description":"Not found"})"};
    }
    if (req.path == "/api/v2/tickets.json") return list_tickets(req);
    if (req.path != "/api/v2/incremental/tickets/cursor.json") return Response{404, {}, "{}"};
    size_t from = 0;
    if (req.query.count("cursor")) {
      from = std::stoul(req.query.at("cursor").substr(1));
    } else if (!req.query.count("start_time")) {
      return Response{400, {}, R"({"error":"InvalidValue","description":"start_time or cursor required"})"};
    }
    size_t per_page = req.query.count("per_page") ? std::stoul(req.query.at("per_page")) : 1000;
    json tickets = json::array();
    size_t i = from;
    for (; i < log_.size() && tickets.size() < per_page; ++i) tickets.push_back(log_[i]);
    const bool eos = i >= log_.size();
    json body = {{"tickets", tickets},
                 {"after_cursor", "c" + std::to_string(i)},
                 {"before_cursor", "c" + std::to_string(from)},
                 {"after_url", "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json?cursor=c" + std::to_string(i)},
                 {"end_of_stream", eos}};
    return Response{200, {}, body.dump()};
  }

 private:
  // List Tickets, cursor pagination: the latest state of each ticket that is
  // not deleted, by id; page[after] is the last id of the previous page.
  Response list_tickets(const Request& req) {
    if (!req.query.count("page[size]") && !req.query.count("page[after]")) {
      return Response{400, {}, R"({"error":"fake: cursor pagination expected"})"};
    }
    const size_t size = req.query.count("page[size]") ? std::stoul(req.query.at("page[size]")) : 100;
    if (size > 100) return Response{400, {}, R"({"error":"InvalidPaginationParameter"})"};
    const int64_t after = req.query.count("page[after]") ? std::stoll(req.query.at("page[after]")) : -1;
    std::map<int64_t, const json*> latest;
    for (const json& t : log_) latest[t["id"].get<int64_t>()] = &t;
    json tickets = json::array();
    bool more = false;
    int64_t last = after;
    for (const auto& [id, t] : latest) {
      if (id <= after || (*t)["status"] == "deleted") continue;
      if (tickets.size() == size) {
        more = true;
        break;
      }
      tickets.push_back(*t);
      last = id;
    }
    json body = {{"tickets", tickets},
                 {"meta", {{"has_more", more}, {"after_cursor", std::to_string(last)}, {"before_cursor", nullptr}}},
                 {"links",
                  {{"next", more ? json("https://acme.zendesk.com/api/v2/tickets.json?page%5Bsize%5D=" +
                                        std::to_string(size) + "&page%5Bafter%5D=" + std::to_string(last))
                                 : json(nullptr)},
                   {"prev", nullptr}}}};
    return Response{200, {}, body.dump()};
  }

  std::vector<json> log_;
};

// Confluence: pages keyed by id; CQL lastmodified bound; cursor = offset.
class FakeConfluence : public FakeBase {
 public:
  void erase(const std::string& id) {
    std::lock_guard l(mu_);
    pages_.erase(id);
  }
  void put(const std::string& id, int64_t when, const std::string& title, const std::string& html,
           std::vector<std::string> labels) {
    std::lock_guard l(mu_);
    json ls = json::array();
    for (auto& n : labels) ls.push_back({{"prefix", "global"}, {"name", n}});
    pages_[id] = {{"_t", when},
                  {"id", id},
                  {"type", "page"},
                  {"status", "current"},
                  {"title", title},
                  {"space", {{"key", "OPS"}}},
                  {"version", {{"when", iso_time(when)}, {"number", 1}}},
                  {"body", {{"storage", {{"value", html}, {"representation", "storage"}}}}},
                  {"metadata", {{"labels", {{"results", ls}}}}},
                  {"_links", {{"webui", "/spaces/OPS/pages/" + id}}}};
  }

 protected:
  Response serve(const Request& req) override {
    // Get content by id (with the expansions ragd asks for).
    static const std::regex one(R"(^/rest/api/content/([0-9]+)$)");
    std::smatch sm;
    if (std::regex_match(req.path, sm, one)) {
      auto it = pages_.find(sm[1]);
      if (it == pages_.end()) return Response{404, {}, R"({"statusCode":404,"message":"No content found"})"};
      json o = it->second;
      o.erase("_t");
      return Response{200, {}, o.dump()};
    }
    if (req.path != "/rest/api/content/search") return Response{404, {}, "{}"};
    std::string cql = req.query.count("cql") ? req.query.at("cql") : "";
    int64_t since = -1;
    std::smatch m;
    static const std::regex lm(R"#(lastmodified >= "([^"]+)")#");
    if (std::regex_search(cql, m, lm)) since = query_minute(m[1]);
    std::vector<const json*> rows;
    for (const auto& [k, v] : pages_) {
      if (v["_t"].get<int64_t>() >= since) rows.push_back(&v);
    }
    // "order by created": ids are handed out in creation order here.
    if (cql.find("order by created asc") != std::string::npos) {
      std::sort(rows.begin(), rows.end(), [](const json* a, const json* b) {
        return std::stoll(a->at("id").get<std::string>()) < std::stoll(b->at("id").get<std::string>());
      });
    } else {
      std::sort(rows.begin(), rows.end(), [](const json* a, const json* b) {
        return std::make_pair(a->at("_t").get<int64_t>(), a->at("id").get<std::string>()) <
               std::make_pair(b->at("_t").get<int64_t>(), b->at("id").get<std::string>());
      });
    }
    size_t limit = std::stoul(req.query.at("limit"));
    size_t offset = req.query.count("cursor") ? std::stoul(req.query.at("cursor")) : 0;
    json results = json::array();
    for (size_t i = offset; i < rows.size() && i < offset + limit; ++i) {
      json o = *rows[i];
      o.erase("_t");
      results.push_back(o);
    }
    json links = {{"base", "https://acme.atlassian.net/wiki"}, {"context", "/wiki"}};
    if (offset + limit < rows.size()) {
      std::string enc;
      for (unsigned char c : cql) {
        char b[4];
        if (std::isalnum(c)) enc += static_cast<char>(c);
        else { std::snprintf(b, sizeof b, "%%%02X", c); enc += b; }
      }
      links["next"] = "/rest/api/content/search?cql=" + enc + "&limit=" + std::to_string(limit) +
                      "&cursor=" + std::to_string(offset + limit);
    }
    json body = {{"results", results}, {"start", offset}, {"limit", limit}, {"size", results.size()}, {"_links", links}};
    return Response{200, {}, body.dump()};
  }

 private:
  std::map<std::string, json> pages_;
};

}  // namespace ragd::sync::testing

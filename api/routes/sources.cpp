// GET /v1/sources, POST /v1/sources/{name}/sync, and the sync metrics of
// /metrics (the scheduler of sync/scheduler.h, issue 12). Webhooks: webhooks.cpp.
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "sync/scheduler.h"

namespace ragd::api {
namespace {

Json counts_to_json(const sync::SyncCounts& c) {
  return Json{{"fetched", c.fetched}, {"new", c.added},        {"updated", c.updated}, {"unchanged", c.unchanged},
              {"deleted", c.deleted}, {"failed", c.failed},    {"pages", c.pages},     {"retries", c.retries},
              {"tombstoned", c.tombstoned}};
}

Json source_to_json(const sync::SourceStatus& s) {
  Json cursor = nullptr;
  if (!s.cursor.empty()) {
    cursor = Json::parse(s.cursor, nullptr, false);
    if (cursor.is_discarded()) cursor = s.cursor;
  }
  Json j{{"name", s.name},
         {"type", s.type},
         {"url", s.url},
         {"interval_seconds", s.interval_seconds},
         {"webhook", s.webhook},
         {"running", s.running},
         {"last_pass",
          {{"start", time_json(s.last_start_ms)},
           {"end", time_json(s.last_end_ms)},
           {"counts", counts_to_json(s.last_counts)},
           {"error", s.last_error.empty() ? Json(nullptr) : Json(s.last_error)},
           {"failed_records", s.last_record_errors}}},
         {"last_success", time_json(s.last_success_ms)},
         {"next_run", s.running ? Json(nullptr) : time_json(s.next_run_ms)},
         {"prune",
          {{"last", time_json(s.last_prune_ms)},
           {"deleted", s.last_prune_deleted},
           {"error", s.last_prune_error.empty() ? Json(nullptr) : Json(s.last_prune_error)},
           {"next", time_json(s.next_prune_ms)}}},
         {"cursor", cursor},
         {"totals", counts_to_json(s.totals)},
         {"passes", s.passes},
         {"errors", s.errors},
         {"webhooks", {{"applied", s.webhooks_applied}, {"refused", s.webhooks_refused}}}};
  if (s.running) j["running_full"] = s.running_full;
  if (!s.synced_by.empty()) j["synced_by"] = s.synced_by;
  return j;
}

}  // namespace

Response handle_list_sources(const Request&, Api& api) {
  Json list = Json::array();
  if (api.sources != nullptr) {
    for (const auto& s : api.sources->status()) list.push_back(source_to_json(s));
  }
  return json_response(Json{{"sources", list}});
}

Response handle_source_action(const Request& req, Api& api) {
  // The router matches "/v1/sources/{name}" with the rest of the path as
  // the parameter: "<name>/sync" is the one action.
  const std::string suffix = "/sync";
  const std::string& p = req.path_param;
  if (p.size() <= suffix.size() || p.compare(p.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return not_found_response(req);
  }
  std::string name;
  if (!percent_decode(p.substr(0, p.size() - suffix.size()), name)) {
    return error_response(Status::invalid_argument("malformed percent-escape in the source name"));
  }
  // ?full=1: from an empty cursor, removing what the pass did not see;
  // ?prune=1: from the cursor, then an id-only prune.
  bool flags[2] = {false, false};
  const char* names[2] = {"full", "prune"};
  for (int i = 0; i < 2; ++i) {
    auto it = req.query.find(names[i]);
    if (it == req.query.end()) continue;
    if (it->second == "1" || it->second == "true") {
      flags[i] = true;
    } else if (it->second != "0" && it->second != "false") {
      return error_response(Status::invalid_argument(std::string(names[i]) + " must be 1, 0, true or false"));
    }
  }
  const bool full = flags[0], prune = flags[1];
  if (full && prune) return error_response(Status::invalid_argument("full=1 already prunes; give one of full and prune"));
  const auto kind = full ? sync::Scheduler::PassKind::kFull
                         : prune ? sync::Scheduler::PassKind::kPrune : sync::Scheduler::PassKind::kIncremental;
  if (api.sources == nullptr) return error_response(Status::not_found("no [[source]] tables are configured"));
  std::string holder;
  switch (api.sources->trigger(name, kind, &holder)) {
    case sync::Scheduler::Trigger::kUnknown:
      return error_response(Status::not_found("no source named '" + name + "'"));
    case sync::Scheduler::Trigger::kAlreadyRunning:
      return error_response(Status::already_exists("source '" + name + "' is already running a pass"));
    case sync::Scheduler::Trigger::kElsewhere:
      return error_response(Status::failed_precondition("source '" + name + "' is synced by cluster node '" + holder +
                                                        "': ask that node"));
    case sync::Scheduler::Trigger::kStarted: break;
  }
  return json_response(Json{{"source", name}, {"started", true}, {"full", full}, {"prune", prune}}, 202);
}

void register_sync_metrics(Registry& registry, sync::Scheduler& scheduler) {
  auto& records = registry.counter("ragd_sync_records_total",
                                   "Records read from each sync source (fetched) and what became of them.",
                                   {"source", "result"});
  auto& passes = registry.counter("ragd_sync_passes_total", "Sync passes finished, by source.", {"source"});
  auto& errors = registry.counter("ragd_sync_errors_total", "Sync passes that stopped with an error, by source.",
                                  {"source"});
  auto& webhooks = registry.counter("ragd_sync_webhooks_total", "Webhooks received, by source and result.",
                                    {"source", "result"});
  auto& lag = registry.gauge("ragd_sync_lag_seconds",
                             "Now minus the source's update time of the newest record stored from it.", {"source"});
  auto& since = registry.gauge("ragd_sync_seconds_since_success",
                               "Seconds since the last sync pass that finished without error.", {"source"});
  auto& running = registry.gauge("ragd_sync_running", "1 while a sync pass of the source runs.", {"source"});
  // Counters only go up: the collector adds what the scheduler counted since
  // the last scrape.
  struct Seen {
    std::mutex mu;
    std::map<std::string, std::map<std::string, double>> v;  // source -> series -> value
  };
  auto seen = std::make_shared<Seen>();
  auto bump = [seen](Counter& c, const std::string& src, const std::string& series, double now) {
    double& prev = seen->v[src][series];
    if (now > prev) c.inc(now - prev);
    prev = now;
  };
  for (const auto& s : scheduler.status()) {
    for (const char* r : {"fetched", "new", "updated", "unchanged", "deleted", "failed"}) records.with({s.name, r});
    passes.with({s.name});
    errors.with({s.name});
  }
  registry.add_collector([seen, bump, sched = &scheduler, records = &records, passes = &passes, errors = &errors,
                          webhooks = &webhooks, lag = &lag, since = &since, running = &running] {
    std::lock_guard lock(seen->mu);
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& s : sched->status()) {
      const auto& t = s.totals;
      const std::pair<const char*, uint64_t> rs[] = {{"fetched", t.fetched}, {"new", t.added},
                                                     {"updated", t.updated}, {"unchanged", t.unchanged},
                                                     {"deleted", t.deleted}, {"failed", t.failed}};
      for (const auto& [r, v] : rs) bump(records->with({s.name, r}), s.name, r, static_cast<double>(v));
      bump(passes->with({s.name}), s.name, "passes", static_cast<double>(s.passes));
      bump(errors->with({s.name}), s.name, "errors", static_cast<double>(s.errors));
      bump(webhooks->with({s.name, "applied"}), s.name, "wh_applied", static_cast<double>(s.webhooks_applied));
      bump(webhooks->with({s.name, "refused"}), s.name, "wh_refused", static_cast<double>(s.webhooks_refused));
      if (s.newest_record_at > 0) lag->with({s.name}).set(std::max(0.0, now - static_cast<double>(s.newest_record_at)));
      if (s.last_success_ms > 0) since->with({s.name}).set(now - static_cast<double>(s.last_success_ms) / 1000.0);
      running->with({s.name}).set(s.running ? 1 : 0);
    }
  });
}

}  // namespace ragd::api

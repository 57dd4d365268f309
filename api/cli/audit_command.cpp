// `ragd audit [--since T] [--until T] [--caller C] [--doc ID] [--request-id R] [--limit N] [--json]`:
// reads the answer audit log (generate/audit_log.h) that `ragd serve --llm`
// appends to: by default <data>/audit.jsonl, or --audit-log FILE.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "api/cli/cli.h"
#include "api/json_codec.h"
#include "generate/audit_log.h"
#include "govern/retention.h"
#include "ragd/clock.h"

namespace ragd::cli {
namespace {

struct AuditArgs {
  CommonOptions common;
  std::string audit_log;
  std::string since, until, caller, doc, request_id;
  size_t limit = 0;
  bool json = false;
  int prune_days = 0;  // --prune-days N: drop records older than N days (retention)
};

// Unix milliseconds from "2024-03-01", ISO 8601, unix seconds, or an age
// ("90s", "15m", "2h", "7d": that long ago).
Result<int64_t> parse_when(const std::string& text, const char* flag) {
  if (!text.empty()) {
    char unit = text.back();
    std::string num = text.substr(0, text.size() - 1);
    int64_t mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
    if (mult != 0 && !num.empty() && num.find_first_not_of("0123456789") == std::string::npos) {
      auto now = unix_ms();
      return now - std::stoll(num) * mult * 1000;
    }
  }
  auto t = api::parse_time(text);
  if (!t) {
    return Status::invalid_argument(std::string(flag) + ": '" + text +
                                    "' is not a date, unix time or age (90s, 15m, 2h, 7d)");
  }
  return *t * 1000;
}

std::string format_time(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int run_audit(const AuditArgs& a) {
  AuditQuery q;
  if (!a.since.empty()) {
    auto t = parse_when(a.since, "--since");
    if (!t.is_ok()) return fail(t.status());
    q.from_ms = *t;
  }
  if (!a.until.empty()) {
    auto t = parse_when(a.until, "--until");
    if (!t.is_ok()) return fail(t.status());
    q.to_ms = *t;
  }
  if (a.prune_days > 0) {
    const std::filesystem::path file =
        a.audit_log.empty() ? std::filesystem::path(a.common.data) / "audit.jsonl" : std::filesystem::path(a.audit_log);
    const int64_t now = unix_ms();
    auto pruned = govern::prune_audit_log(file, now - static_cast<int64_t>(a.prune_days) * 86400 * 1000);
    if (!pruned.is_ok()) return fail(pruned.status());
    std::printf("audit log %s: %zu record(s) older than %d days dropped, %zu kept\n", file.c_str(), pruned->dropped,
                a.prune_days, pruned->kept);
    return 0;
  }
  q.caller = a.caller;
  q.doc_id = a.doc;
  q.request_id = a.request_id;
  q.limit = a.limit;
  const std::filesystem::path file =
      a.audit_log.empty() ? std::filesystem::path(a.common.data) / "audit.jsonl" : std::filesystem::path(a.audit_log);
  AuditReadStats stats;
  auto records = query_audit_log(file, q, &stats);
  if (!records.is_ok()) return fail(records.status());
  for (const auto& r : *records) {
    if (a.json) {
      std::printf("%s\n", audit_record_to_json(r).c_str());
      continue;
    }
    std::string docs;
    for (const auto& d : r.cited_doc_ids) docs += (docs.empty() ? "" : ",") + d;
    std::printf("%s  %s  %-8s %-9s %-8s %4d+%-4d tok %7.0f ms  caller=%s  q=\"%s\"  cited=[%s]\n",
                format_time(r.time_ms).c_str(), r.request_id.c_str(), r.task.c_str(), r.grounding.c_str(),
                r.outcome.c_str(), r.prompt_tokens, r.completion_tokens, r.latency_ms,
                r.caller.empty() ? "-" : r.caller.c_str(), r.query.substr(0, 80).c_str(), docs.c_str());
  }
  if (!a.json) {
    std::fprintf(stderr, "%zu record(s) from %s (%zu lines read%s%s)\n", records->size(), file.c_str(), stats.lines,
                 stats.bad_lines ? (", " + std::to_string(stats.bad_lines) + " malformed skipped").c_str() : "",
                 stats.torn_tail ? ", torn last line skipped" : "");
  }
  return 0;
}

}  // namespace

void add_audit_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<AuditArgs>();
  CLI::App* cmd = app.add_subcommand("audit", "query the answer audit log");
  add_common_options(*cmd, a->common);
  cmd->add_option("--audit-log", a->audit_log, "audit log file (default: <data>/audit.jsonl)");
  cmd->add_option("--since", a->since, "records at or after: 2024-03-01, ISO 8601, unix seconds, or an age (2h, 7d)");
  cmd->add_option("--until", a->until, "records at or before (same forms)");
  cmd->add_option("--caller", a->caller, "only this caller");
  cmd->add_option("--doc", a->doc, "only answers that retrieved or cited this document id");
  cmd->add_option("--request-id", a->request_id, "only this request");
  cmd->add_option("--limit", a->limit, "the newest N matches (0 = all)");
  cmd->add_flag("--json", a->json, "one JSON record per line");
  cmd->add_option("--prune-days", a->prune_days,
                  "retention: drop the records older than N days (the file is rewritten; a running server follows)")
      ->check(CLI::Range(1, 36500));
  cmd->callback([a, &exit_code] { exit_code = run_audit(*a); });
}

}  // namespace ragd::cli

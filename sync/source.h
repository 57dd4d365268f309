// Sync sources: the [[source]] tables of the config file (issue 12), one per
// system that ragd polls. Secrets are named here (an environment variable or
// a file), never written in the file itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/status.h"

namespace ragd::sync {

enum class SourceType { kServiceNow, kServiceNowKb, kJira, kZendesk, kConfluence };

const char* source_type_name(SourceType t);
std::optional<SourceType> parse_source_type(std::string_view name);

enum class AuthKind { kNone, kBasic, kBearer };

struct SourceConfig {
  std::string name;  // unique; names the cursor in the store and the documents' metadata "sync_source"
  SourceType type = SourceType::kServiceNow;
  // Base URL of the instance, no trailing slash: "https://acme.service-now.com".
  std::string url;
  // ServiceNow: the table. Default: "incident" (servicenow), "kb_knowledge" (servicenow-kb).
  std::string table;
  // Source-side filter: an encoded query (ServiceNow), JQL (Jira), CQL
  // (Confluence: e.g. space in ("OPS","IT")). Zendesk: unused. Default: none.
  std::string query;
  AuthKind auth = AuthKind::kNone;
  std::string user;        // basic auth user (Zendesk API tokens: "agent@acme.com/token")
  std::string secret_env;  // environment variable holding the password or token
  std::string secret_file; // or a file holding it (one line)
  // Seconds between passes for `ragd serve` (not run by `ragd sync`). Default: 300.
  int64_t interval_seconds = 300;
  // Seconds between id-only listings that remove what the source no longer
  // holds (pruning; `ragd serve` runs one after a pass when due, `ragd sync
  // --prune` on demand). 0: never. Default: 86400 (1d).
  int64_t prune_interval_seconds = 86400;
  // A prune that would remove more than this share of the source's stored
  // documents is refused (a listing cut short by a wrong query or a
  // permission change must not empty the index); `ragd sync --full` still
  // prunes. Default: 0.5.
  double prune_max_fraction = 0.5;
  std::vector<std::string> acl_groups;  // given to every document of the source
  std::string webhook_secret_env;       // the webhook secret (POST /v1/webhooks/{name}); unset: no webhooks
  // Records asked for per request (1-1000). Default: 100.
  int page_size = 100;
  int line = 0;  // where the table starts in the config file, for messages
};

// Reads every [[source]] table of a TOML config file with CLI11's TOML
// reader. Other keys and sections are left to the command's own settings.
// Errors name the file and the line: "ragd.toml:12: source 'sn': unknown
// type 'snow' (servicenow, servicenow-kb, jira, zendesk, confluence)".
Result<std::vector<SourceConfig>> read_sources(const std::string& path);
// The same over text already in memory; `path` only names it in errors.
Result<std::vector<SourceConfig>> parse_sources(std::string_view toml, const std::string& path);

// A document purged with `ragd purge` (govern/retention.h) leaves the store
// state key kTombstonePrefix + id; sync skips documents that have one, so a
// source does not bring back what was forgotten.
inline constexpr std::string_view kTombstonePrefix = "tombstone/";

// "30s", "5m", "2h", "1d" or a bare number of seconds.
std::optional<int64_t> parse_interval(std::string_view text);

// The source's secret from secret_env or secret_file ("" when it names none).
Result<std::string> load_secret(const SourceConfig& source);

}  // namespace ragd::sync

// [[source]] tables from the config file's items (toml_items.h).
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "sync/source.h"
#include "sync/toml_items.h"

namespace ragd::sync {
namespace {

using Item = TomlItem;

const std::string& single(const Item& it, const std::string& where) {
  static const std::string kEmpty;
  if (it.inputs.size() != 1) {
    throw std::invalid_argument(where + ": '" + it.name + "' takes one value");
  }
  return it.inputs.empty() ? kEmpty : it.inputs.front();
}

int to_int(const std::string& v, const std::string& where, const std::string& key, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > hi) {
    throw std::invalid_argument(where + ": '" + key + "' must be a whole number from " + std::to_string(lo) +
                                " to " + std::to_string(hi) + ", got \"" + v + "\"");
  }
  return static_cast<int>(n);
}

void set_field(SourceConfig& s, const Item& it, const std::string& where) {
  const std::string& key = it.name;
  if (key == "acl_groups") {
    s.acl_groups.clear();
    for (const auto& g : it.inputs) {
      if (!g.empty()) s.acl_groups.push_back(g);
    }
    return;
  }
  const std::string& v = single(it, where);
  if (key == "name") {
    s.name = v;
  } else if (key == "type") {
    auto t = parse_source_type(v);
    if (!t) {
      throw std::invalid_argument(where + ": unknown source type '" + v +
                                  "' (servicenow, servicenow-kb, jira, zendesk, confluence)");
    }
    s.type = *t;
  } else if (key == "url") {
    s.url = v;
    while (!s.url.empty() && s.url.back() == '/') s.url.pop_back();
  } else if (key == "table") {
    s.table = v;
  } else if (key == "query") {
    s.query = v;
  } else if (key == "auth") {
    if (v == "basic") {
      s.auth = AuthKind::kBasic;
    } else if (v == "bearer") {
      s.auth = AuthKind::kBearer;
    } else if (v == "none") {
      s.auth = AuthKind::kNone;
    } else {
      throw std::invalid_argument(where + ": auth must be basic, bearer or none, got '" + v + "'");
    }
  } else if (key == "user") {
    s.user = v;
  } else if (key == "secret_env") {
    s.secret_env = v;
  } else if (key == "secret_file") {
    s.secret_file = v;
  } else if (key == "interval") {
    auto secs = parse_interval(v);
    if (!secs) throw std::invalid_argument(where + ": interval must look like 30s, 5m, 2h or 1d, got '" + v + "'");
    s.interval_seconds = *secs;
  } else if (key == "prune_interval") {
    if (v == "0" || v == "never") {
      s.prune_interval_seconds = 0;
    } else {
      auto secs = parse_interval(v);
      if (!secs) {
        throw std::invalid_argument(where + ": prune_interval must look like 30s, 5m, 2h or 1d (or 0 for never), got '" +
                                    v + "'");
      }
      s.prune_interval_seconds = *secs;
    }
  } else if (key == "prune_max_fraction") {
    char* end = nullptr;
    errno = 0;
    const double f = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || errno != 0 || !(f > 0.0 && f <= 1.0)) {
      throw std::invalid_argument(where + ": prune_max_fraction must be a number in (0, 1], got '" + v + "'");
    }
    s.prune_max_fraction = f;
  } else if (key == "webhook_secret_env") {
    s.webhook_secret_env = v;
  } else if (key == "page_size") {
    s.page_size = to_int(v, where, key, 1, 1000);
  } else if (key == "secret" || key == "password" || key == "token" || key == "api_token") {
    throw std::invalid_argument(where + ": '" + key +
                                "' would put a secret in the config file; name it with secret_env or secret_file");
  } else {
    throw std::invalid_argument(where + ": unknown key '" + key +
                                "' in [[source]] (name, type, url, table, query, auth, user, secret_env, "
                                "secret_file, interval, prune_interval, prune_max_fraction, acl_groups, "
                                "webhook_secret_env, page_size)");
  }
}

void check_source(SourceConfig& s, const std::string& where) {
  if (s.name.empty()) throw std::invalid_argument(where + ": [[source]] has no name");
  for (char c : s.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      throw std::invalid_argument(where + ": source name '" + s.name + "' may hold only letters, digits, - _ .");
    }
  }
  const std::string who = where + ": source '" + s.name + "'";
  if (s.url.rfind("http://", 0) != 0 && s.url.rfind("https://", 0) != 0) {
    throw std::invalid_argument(who + ": url must start with https:// (or http://), got '" + s.url + "'");
  }
  if (s.auth != AuthKind::kNone && s.secret_env.empty() && s.secret_file.empty()) {
    throw std::invalid_argument(who + ": auth needs secret_env or secret_file");
  }
  if (!s.secret_env.empty() && !s.secret_file.empty()) {
    throw std::invalid_argument(who + ": give secret_env or secret_file, not both");
  }
  if (s.auth == AuthKind::kBasic && s.user.empty()) throw std::invalid_argument(who + ": auth = \"basic\" needs user");
  if (!s.table.empty() && s.type != SourceType::kServiceNow && s.type != SourceType::kServiceNowKb) {
    throw std::invalid_argument(who + ": table applies to servicenow sources only");
  }
  if (s.table.empty() && s.type == SourceType::kServiceNow) s.table = "incident";
  if (s.table.empty() && s.type == SourceType::kServiceNowKb) s.table = "kb_knowledge";
}

}  // namespace

const char* source_type_name(SourceType t) {
  switch (t) {
    case SourceType::kServiceNow: return "servicenow";
    case SourceType::kServiceNowKb: return "servicenow-kb";
    case SourceType::kJira: return "jira";
    case SourceType::kZendesk: return "zendesk";
    case SourceType::kConfluence: return "confluence";
  }
  return "?";
}

std::optional<SourceType> parse_source_type(std::string_view name) {
  for (SourceType t : {SourceType::kServiceNow, SourceType::kServiceNowKb, SourceType::kJira, SourceType::kZendesk,
                       SourceType::kConfluence}) {
    if (name == source_type_name(t)) return t;
  }
  return std::nullopt;
}

std::optional<int64_t> parse_interval(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t unit = 1;
  switch (text.back()) {
    case 's': unit = 1; text.remove_suffix(1); break;
    case 'm': unit = 60; text.remove_suffix(1); break;
    case 'h': unit = 3600; text.remove_suffix(1); break;
    case 'd': unit = 86400; text.remove_suffix(1); break;
    default: break;
  }
  if (text.empty() || text.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n <= 0) return std::nullopt;
  return n * unit;
}

Result<std::vector<SourceConfig>> parse_sources(std::string_view toml, const std::string& path) {
  std::set<std::string> names;
  return read_tables<SourceConfig>(
      toml, path, "source", [](SourceConfig& s, const Item& it, const std::string& where) { set_field(s, it, where); },
      [&names](SourceConfig& s, const std::string& at) {
        check_source(s, at);
        if (!names.insert(s.name).second) throw std::invalid_argument(at + ": source name '" + s.name + "' is used twice");
      });
}

Result<std::vector<SourceConfig>> read_sources(const std::string& path) {
  auto text = read_config_file(path);
  if (!text.is_ok()) return text.status();
  return parse_sources(*text, path);
}

Result<std::string> load_secret(const SourceConfig& s) {
  if (!s.secret_env.empty()) {
    const char* v = std::getenv(s.secret_env.c_str());
    if (v == nullptr || *v == '\0') {
      return Status::failed_precondition("source '" + s.name + "': environment variable " + s.secret_env +
                                         " (secret_env) is not set");
    }
    return std::string(v);
  }
  if (!s.secret_file.empty()) {
    std::ifstream in(s.secret_file, std::ios::binary);
    if (!in) {
      return Status::failed_precondition("source '" + s.name + "': cannot read secret_file: " +
                                         std::strerror(errno));
    }
    std::string v;
    std::getline(in, v);
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
    if (v.empty()) return Status::failed_precondition("source '" + s.name + "': secret_file is empty");
    return v;
  }
  return std::string();
}

}  // namespace ragd::sync

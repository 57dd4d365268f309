// [[escalation]] tables from the config file's items (sync/toml_items.h).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "govern/escalation.h"
#include "service/collections.h"
#include "sync/toml_items.h"

namespace ragd::govern {
namespace {

const std::string& single(const sync::TomlItem& it, const std::string& where) {
  if (it.inputs.size() != 1) throw std::invalid_argument(where + ": '" + it.name + "' takes one value");
  return it.inputs.front();
}

int to_int(const std::string& v, const std::string& where, const std::string& key, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > hi) {
    throw std::invalid_argument(where + ": '" + key + "' must be a whole number from " + std::to_string(lo) + " to " +
                                std::to_string(hi) + ", got \"" + v + "\"");
  }
  return static_cast<int>(n);
}

void set_field(EscalationPolicy& p, const sync::TomlItem& it, const std::string& where) {
  const std::string& key = it.name;
  if (key == "redact" || key == "name_fields") {
    std::vector<std::string>& list = key == "redact" ? p.redact : p.name_fields;
    list.clear();
    for (const auto& v : it.inputs) {
      if (!v.empty()) list.push_back(v);
    }
    return;
  }
  const std::string& v = single(it, where);
  if (key == "collection") {
    p.collection = v;
  } else if (key == "allow") {
    if (v != "true" && v != "false") throw std::invalid_argument(where + ": allow must be true or false, got '" + v + "'");
    p.allow = v == "true";
  } else if (key == "url") {
    p.url = v;
    while (!p.url.empty() && p.url.back() == '/') p.url.pop_back();
  } else if (key == "model") {
    p.model = v;
  } else if (key == "key_env") {
    p.key_env = v;
  } else if (key == "max_passages") {
    p.max_passages = to_int(v, where, key, 1, 32);
  } else if (key == "max_tokens") {
    p.max_tokens = to_int(v, where, key, 1, 32768);
  } else if (key == "timeout") {
    p.timeout_seconds = to_int(v, where, key, 1, 3600);
  } else if (key == "key" || key == "api_key" || key == "token" || key == "secret") {
    throw std::invalid_argument(where + ": '" + key +
                                "' would put a secret in the config file; name its environment variable with key_env");
  } else {
    throw std::invalid_argument(where + ": unknown key '" + key +
                                "' in [[escalation]] (collection, allow, url, model, key_env, redact, name_fields, "
                                "max_passages, max_tokens, timeout)");
  }
}

void check_policy(const EscalationPolicy& p, const std::string& where) {
  if (p.collection != "default" && !Collections::check_name(p.collection).is_ok()) {
    throw std::invalid_argument(where + ": escalation collection '" + p.collection +
                                "' is not a collection name (1-64 of a-z0-9_-, or default)");
  }
  const std::string who = where + ": escalation '" + p.collection + "'";
  if (!p.allow) return;
  if (p.url.rfind("http://", 0) != 0 && p.url.rfind("https://", 0) != 0) {
    throw std::invalid_argument(who + ": allow = true needs url (https://... or http://...), got '" + p.url + "'");
  }
  if (p.model.empty()) throw std::invalid_argument(who + ": allow = true needs model");
  if (auto r = Redactor::make(p.redact); !r.is_ok()) throw std::invalid_argument(who + ": " + r.status().message());
}

}  // namespace

Result<std::vector<EscalationPolicy>> parse_escalation_policies(std::string_view toml, const std::string& path) {
  std::set<std::string> names;
  return sync::read_tables<EscalationPolicy>(
      toml, path, "escalation",
      [](EscalationPolicy& p, const sync::TomlItem& it, const std::string& where) { set_field(p, it, where); },
      [&names](EscalationPolicy& p, const std::string& at) {
        check_policy(p, at);
        if (!names.insert(p.collection).second) {
          throw std::invalid_argument(at + ": collection '" + p.collection + "' has two [[escalation]] tables");
        }
      });
}

Result<std::vector<EscalationPolicy>> read_escalation_policies(const std::string& path) {
  auto text = sync::read_config_file(path);
  if (!text.is_ok()) return text.status();
  return parse_escalation_policies(*text, path);
}

}  // namespace ragd::govern

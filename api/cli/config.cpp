#include "api/cli/config.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace ragd::cli {
namespace {

// The keys every store-opening command takes (ConfigScope::kStore), and
// "cluster" for the one that has a --cluster too (`sync`): it writes where
// `serve` with the same file writes.
const std::set<std::string>& store_keys() {
  static const std::set<std::string> keys{"data",           "glove",        "embed-model",
                                          "embed-prefixes", "query-prefix", "passage-prefix",
                                          "index",          "audit-log",    "cluster"};
  return keys;
}

struct Registered {
  ConfigScope scope = ConfigScope::kStore;
  std::string config_file;  // --config
};

// Filled while main() builds the command tree (one thread), read after parse.
struct State {
  std::map<const CLI::App*, Registered> commands;
  std::set<std::string> keys;  // the long option names of `serve`
  std::vector<Setting> settings;
  std::string file;
};

State& state() {
  static State s;
  return s;
}

// One key of the file, with the line it is on.
struct FileItem {
  std::string key;
  std::vector<std::string> inputs;
  int line = 0;
  int again_line = 0;  // a later line that CLI11 merged into this item (the same key again)
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read the config file " + path + ": " + std::strerror(errno));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (in.bad()) throw ConfigError("cannot read the config file " + path + ": " + std::strerror(errno));
  return lines;
}

// CLI11's TOML reader does the parsing. It reports no line numbers, so the
// file is read again line by line as growing prefixes: an item is on the
// line whose prefix first yields it (the opening line of a multi-line value).
std::vector<FileItem> read_config_file(const std::string& path) {
  const std::vector<std::string> lines = read_lines(path);
  const CLI::ConfigTOML reader;
  std::vector<FileItem> items;
  std::string prefix;
  std::vector<CLI::ConfigItem> parsed;
  try {
    for (size_t i = 0; i < lines.size(); ++i) {
      prefix += lines[i];
      prefix += '\n';
      std::istringstream in(prefix);
      const size_t before = items.empty() ? 0 : parsed.back().inputs.size();
      parsed = reader.from_config(in);
      const int line = static_cast<int>(i + 1);
      if (!items.empty() && items.size() == parsed.size() && parsed.back().inputs.size() > before &&
          items.back().again_line == 0) {
        items.back().again_line = line;
      }
      while (items.size() < parsed.size()) items.push_back(FileItem{"", {}, line, 0});
    }
  } catch (const CLI::Error& e) {
    throw ConfigError(path + ": " + e.what());
  }
  std::map<std::string, int> first_line;
  for (size_t i = 0; i < parsed.size(); ++i) {
    const CLI::ConfigItem& p = parsed[i];
    FileItem& item = items[i];
    const std::string where = path + ":" + std::to_string(item.line);
    if (!p.parents.empty() && p.parents.front() == "source") continue;  // [[source]]: `ragd sync` (sync/)
    if (!p.parents.empty() && (p.parents.front() == "escalation" || p.parents.front() == "retention" ||
                               p.parents.front() == "eval")) {
      continue;  // [[escalation]], [[retention]], [[eval]]: govern/
    }
    if (!p.parents.empty()) {
      throw ConfigError(where + ": sections ([" + p.parents.front() +
                        "]) are not supported; put every key at the top level");
    }
    if (state().keys.count(p.name) == 0) {
      throw ConfigError(where + ": unknown key '" + p.name +
                        "'; keys are the long option names of `ragd serve` (see `ragd serve --help`)");
    }
    if (auto [it, fresh] = first_line.emplace(p.name, item.line); !fresh) {
      throw ConfigError(where + ": '" + p.name + "' is set twice (first on line " + std::to_string(it->second) + ")");
    }
    if (item.again_line != 0) {
      throw ConfigError(path + ":" + std::to_string(item.again_line) + ": '" + p.name + "' is set twice (first on line " +
                        std::to_string(item.line) + ")");
    }
    item.key = p.name;
    item.inputs = p.inputs;
  }
  return items;
}

std::string env_name(const std::string& key) {
  std::string name = "RAGD_";
  for (char c : key) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

bool is_flag(const CLI::Option& opt) { return opt.get_expected_min() == 0; }

bool is_text(const CLI::Option& opt) {
  if (is_flag(opt)) return false;
  const std::string type = opt.get_type_name();
  return type != "INT" && type != "UINT" && type != "FLOAT" && type != "NUMBER" && type != "BOOLEAN";
}

// A flag's result as TOML: CLI11 keeps "true", "1", "yes", "on" as given.
std::string flag_text(const std::string& v) {
  std::string l;
  for (char c : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l == "true" || l == "1" || l == "yes" || l == "on" || l == "y" || l == "t" ? "true" : "false";
}

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : " ") + v;
  return out;
}

// Puts `inputs` into the option as if they had been given as its flag, so
// CLI11 converts and validates them with the option's own rules.
void set_option(CLI::Option& opt, const std::vector<std::string>& inputs, const std::string& where) {
  const std::string key = opt.get_lnames().front();
  const int max_items = std::max(opt.get_items_expected_max(), 1);
  if (static_cast<int>(inputs.size()) > max_items) {
    throw ConfigError(where + ": '" + key + "' takes one value, got " + std::to_string(inputs.size()) + " (" +
                      join(inputs) + ")");
  }
  try {
    opt.add_result(inputs);
    opt.run_callback();
  } catch (const CLI::Error& e) {
    std::string expected = is_flag(opt) ? "true or false" : opt.get_type_name();
    if (expected.rfind("TEXT:", 0) == 0) expected.erase(0, 5);
    throw ConfigError(where + ": bad value \"" + join(inputs) + "\" for '" + key + "' (expected " + expected +
                      "): " + e.what());
  }
}

CLI::App* chosen_command(CLI::App& app, Registered*& reg) {
  CLI::App* chosen = nullptr;
  reg = nullptr;
  for (CLI::App* cur = &app;;) {
    if (auto it = state().commands.find(cur); it != state().commands.end()) {
      chosen = cur;
      reg = &it->second;
    }
    auto subs = cur->get_subcommands();
    if (subs.empty()) break;
    cur = subs.front();
  }
  return chosen;
}

// A key that names a secret itself (api-key, admin-token), not a file that
// holds one (api-keys-file) nor a count (max-tokens).
bool is_secret(const std::string& key) {
  std::vector<std::string> words;
  std::stringstream ss(key);
  for (std::string w; std::getline(ss, w, '-');) words.push_back(w);
  if (words.empty() || words.back() == "file" || words.back() == "dir") return false;
  for (const auto& w : words) {
    if (w == "key" || w == "keys" || w == "secret" || w == "password" || w == "token" || w == "apikey") return true;
  }
  return false;
}

std::string toml_string(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

void config_command(CLI::App& cmd, ConfigScope scope) {
  auto [it, fresh] = state().commands.try_emplace(&cmd);
  if (fresh) {
    it->second.scope = scope;
    cmd.add_option("--config", it->second.config_file,
                   std::string("TOML settings file; keys are option names (default: $RAGD_CONFIG, else ") +
                       kDefaultConfigFile + " when it exists)");
  } else if (scope == ConfigScope::kAll) {
    it->second.scope = scope;
  }
}

void config_keys_from(const CLI::App& cmd) {
  for (const CLI::Option* opt : cmd.get_options()) {
    if (opt->get_lnames().empty()) continue;
    const std::string& key = opt->get_lnames().front();
    if (key != "help" && key != "config") state().keys.insert(key);
  }
}

void apply_config(CLI::App& app) {
  Registered* reg = nullptr;
  CLI::App* cmd = chosen_command(app, reg);
  if (cmd == nullptr) return;

  std::string path = reg->config_file;
  bool required = !path.empty();
  if (path.empty()) {
    if (const char* env = std::getenv("RAGD_CONFIG"); env != nullptr && *env != '\0') {
      path = env;
      required = true;
    }
  }
  if (path.empty()) path = kDefaultConfigFile;
  std::vector<FileItem> items;
  std::error_code ec;
  if (required || std::filesystem::exists(path, ec)) {
    items = read_config_file(path);
    state().file = path;
  }

  std::vector<Setting>& settings = state().settings;
  settings.clear();
  for (CLI::Option* opt : cmd->get_options()) {
    if (opt->get_lnames().empty()) continue;  // a positional
    const std::string key = opt->get_lnames().front();
    if (key == "help" || key == "config") continue;
    if (reg->scope == ConfigScope::kStore && store_keys().count(key) == 0) continue;
    opt->capture_default_str();
    Setting s;
    s.key = key;
    s.is_text = is_text(*opt);
    if (opt->count() > 0) {
      s.source = "flag --" + key;
    } else if (const char* env = std::getenv(env_name(key).c_str()); env != nullptr && *env != '\0') {
      set_option(*opt, {env}, "environment variable " + env_name(key));
      s.source = "env " + env_name(key);
    } else if (auto it = std::find_if(items.begin(), items.end(), [&key](const FileItem& i) { return i.key == key; });
               it != items.end()) {
      const std::string where = path + ":" + std::to_string(it->line);
      set_option(*opt, it->inputs, where);
      s.source = "file " + where;
    } else {
      s.source = "default";
    }
    if (opt->count() > 0) {
      s.value = join(opt->results());
      s.is_set = true;
      if (is_flag(*opt)) s.value = flag_text(s.value);
    } else {
      s.value = opt->get_default_str();
      s.is_set = !s.value.empty() || is_flag(*opt);
      if (is_flag(*opt) && s.value.empty()) s.value = "false";
    }
    settings.push_back(std::move(s));
  }
}

const std::vector<Setting>& effective_settings() { return state().settings; }
const std::string& effective_config_file() { return state().file; }

std::string format_settings(const std::vector<Setting>& settings, const std::string& file) {
  std::ostringstream out;
  out << "# ragd: effective settings; config file: " << (file.empty() ? "(none)" : file) << "\n";
  std::vector<std::pair<std::string, std::string>> rows;
  size_t width = 0;
  for (const Setting& s : settings) {
    std::string line;
    if (!s.is_set) {
      line = "# " + s.key + " (not set)";
    } else {
      std::string v = is_secret(s.key) ? std::string("***") : s.value;
      if (s.is_text) v = toml_string(v);
      line = s.key + " = " + v;
    }
    width = std::max(width, line.size());
    rows.emplace_back(std::move(line), s.source);
  }
  for (const auto& [line, source] : rows) {
    out << line << std::string(width + 2 - line.size(), ' ') << "# " << source << "\n";
  }
  return out.str();
}

}  // namespace ragd::cli

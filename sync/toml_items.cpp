#include "sync/toml_items.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ragd::sync {

Result<std::vector<TomlItem>> read_toml_items(std::string_view toml, const std::string& path) {
  std::vector<TomlItem> out;
  const CLI::ConfigTOML reader;
  std::string prefix;
  size_t start = 0;
  int line = 0;
  try {
    while (start <= toml.size()) {
      size_t end = toml.find('\n', start);
      if (end == std::string_view::npos) end = toml.size();
      prefix.append(toml.substr(start, end - start));
      prefix += '\n';
      ++line;
      std::istringstream in(prefix);
      std::vector<CLI::ConfigItem> parsed = reader.from_config(in);
      // The "--" items that close the tables still open at the end of a
      // prefix belong to a later line (or to the end of the file).
      size_t stable = parsed.size();
      const bool at_end = end == toml.size();
      while (!at_end && stable > 0 && parsed[stable - 1].name == "--") --stable;
      if (out.size() > stable) out.resize(stable);
      for (size_t i = 0; i < stable; ++i) {
        TomlItem item{std::move(parsed[i].parents), std::move(parsed[i].name), std::move(parsed[i].inputs), line};
        if (i < out.size()) {
          item.line = out[i].line;  // a multi-line value grows
          out[i] = std::move(item);
        } else {
          out.push_back(std::move(item));
        }
      }
      if (end == toml.size()) break;
      start = end + 1;
    }
  } catch (const CLI::Error& e) {
    return Status::invalid_argument(path + ": " + e.what());
  }
  return out;
}

Result<std::string> read_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot read the config file " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ragd::sync

// The items of a TOML config file with the line each starts on, read with
// CLI11's TOML reader (CLI::ConfigTOML, as api/cli/config.cpp reads the top
// level). The [[source]] tables (source_config.cpp) and govern/'s
// [[escalation]] tables are read from these, so both report "file:line".
//
// CLI11 2.1 turns each table opening into a "++" item and its end into "--",
// with the table name as the item's first parent, so an array of tables
// comes out as one run of items per table. It reports no line numbers: the
// file is parsed again as growing prefixes and an item is on the line whose
// prefix first yields it.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/status.h"

namespace ragd::sync {

struct TomlItem {
  std::vector<std::string> parents;  // enclosing table names, outermost first
  std::string name;                  // the key, or "++" / "--" for a table's start / end
  std::vector<std::string> inputs;   // the value(s); an array gives one input per element
  int line = 0;                      // 1-based line of the file where it starts
};

// Errors: kInvalidArgument "PATH: <CLI11's message>".
Result<std::vector<TomlItem>> read_toml_items(std::string_view toml, const std::string& path);

// Every [[name]] table of the file, each read into a T (which has an `int
// line`, set to where the table starts): set(T&, item, "file:line") for
// each key, finish(T&, "file:line of the table") at the table's end. Both
// throw std::invalid_argument with a message for bad input, which becomes
// kInvalidArgument; so do nested tables and keys outside a table.
template <class T, class Set, class Finish>
Result<std::vector<T>> read_tables(std::string_view toml, const std::string& path, const std::string& name, Set set,
                                   Finish finish) {
  auto items = read_toml_items(toml, path);
  if (!items.is_ok()) return items.status();
  const std::string table = "[[" + name + "]]";
  std::vector<T> out;
  T* cur = nullptr;
  try {
    for (const TomlItem& it : *items) {
      if (it.parents.empty() || it.parents.front() != name) {
        cur = nullptr;
        continue;
      }
      const std::string where = path + ":" + std::to_string(it.line);
      if (it.parents.size() > 1) throw std::invalid_argument(where + ": " + table + " tables cannot nest");
      if (it.name == "++") {
        cur = &out.emplace_back();
        cur->line = it.line;
      } else if (it.name == "--") {
        if (cur != nullptr) finish(*cur, path + ":" + std::to_string(cur->line));
        cur = nullptr;
      } else {
        if (cur == nullptr) throw std::invalid_argument(where + ": key outside a " + table + " table");
        set(*cur, it, where);
      }
    }
  } catch (const std::invalid_argument& e) {
    return Status::invalid_argument(e.what());
  }
  return out;
}

// The whole config file at `path`; kNotFound naming it when unreadable.
Result<std::string> read_config_file(const std::string& path);

}  // namespace ragd::sync

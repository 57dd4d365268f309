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

}  // namespace ragd::sync

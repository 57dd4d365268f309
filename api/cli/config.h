// Settings from three places for the `ragd` commands: a TOML file
// (`--config FILE`, else $RAGD_CONFIG, else /etc/ragd/ragd.toml when it
// exists), environment variables RAGD_<OPTION> (upper case, dashes to
// underscores: RAGD_MAX_BODY) and flags. Flags win over the environment, the
// environment over the file, the file over the built-in default.
//
// Keys are the long option names of `ragd serve` (`data = "/var/lib/ragd"`,
// `max-body = 67108864`). `serve` and `config` take every key; the other
// commands that open the store take the store and index keys (data, glove,
// embed-model, embed-prefixes, query-prefix, passage-prefix, index,
// audit-log; `sync` cluster too) and ignore the rest. [[source]] tables belong to `ragd sync`
// (sync/source.h) and are skipped here. A key that no `serve` option has, another section,
// a key set twice or a value the option cannot take is an error naming the
// file and the line, and the command does not run.
//
// CLI11 reads the file (CLI::ConfigTOML, its own TOML reader); CLI11's
// set_config() is not used because CLI11 2.1 applies the file before the
// environment (so the file would win over RAGD_*) and its errors carry no
// line numbers. Values go into the options through CLI11 itself
// (Option::add_result + run_callback), so types and validators are the
// flags' own.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ragd::cli {

// The file read when neither --config nor $RAGD_CONFIG names one.
inline constexpr const char* kDefaultConfigFile = "/etc/ragd/ragd.toml";

// Which keys a command takes from the file and the environment.
enum class ConfigScope {
  kStore,  // the store and index options (see above)
  kAll,    // every option (serve, config)
};

// A bad config file, environment variable or value; what() is the message
// for the operator ("/etc/ragd/ragd.toml:4: unknown key 'lisen' ...").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One option's effective value and where it came from.
struct Setting {
  std::string key;     // long option name: "max-body"
  std::string value;   // as given, or the default ("" with is_set false: no value)
  bool is_set = false;
  bool is_text = true;  // a string (quoted when printed as TOML)
  std::string source;  // "default", "file /etc/ragd/ragd.toml:3", "env RAGD_MAX_BODY", "flag --max-body"
};

// Lets `cmd` take settings from the file and the environment (and adds its
// --config option). Call once per command; a later kAll widens a kStore.
void config_command(CLI::App& cmd, ConfigScope scope);

// The file's keys are the long option names of this command (`serve`).
void config_keys_from(const CLI::App& cmd);

// Run after CLI11 has parsed the flags and before any command's callback
// (main.cpp calls it from the app's parse-complete callback): fills every
// option of the chosen command that no flag set, from the environment, else
// the file. Throws ConfigError.
void apply_config(CLI::App& app);

// After apply_config: the chosen command's settings, in option order, and
// the file that was read ("" when none).
const std::vector<Setting>& effective_settings();
const std::string& effective_config_file();

// `ragd config` output: the settings as TOML, each with its source as a
// comment; secrets (key, token, secret, password) are masked.
std::string format_settings(const std::vector<Setting>& settings, const std::string& file);

}  // namespace ragd::cli

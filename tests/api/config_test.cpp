// Settings and version of the real `ragd` binary (api/cli/config.h):
//   - precedence flag > RAGD_<OPTION> > file > default, shown by `ragd config`
//     with each value's source, and obeyed by a running server (--max-body);
//   - unknown keys, sections, repeated keys and bad values (in the file or
//     the environment) stop the command with the file and the line;
//   - the store commands take the store keys and ignore the server's;
//   - packaging/ragd.toml is accepted by `ragd config` and `ragd serve`;
//   - `ragd --version`.
#include <gtest/gtest.h>

#include <optional>
#include <regex>

#include <nlohmann/json.hpp>

#include "ragd/version.h"
#include "test_support.h"

namespace ragd::test {
namespace {

struct Value {
  std::string value;   // as printed (strings keep their quotes)
  std::string source;  // "default", "file PATH:LINE", "env NAME", "flag --NAME"
};

// Parses `ragd config` output: "key = value   # source" lines.
std::map<std::string, Value> parse_config_output(const std::string& out) {
  std::map<std::string, Value> m;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find(" = ");
    auto hash = line.rfind("  # ");
    if (eq == std::string::npos || hash == std::string::npos) continue;
    std::string value = line.substr(eq + 3, hash - eq - 3);
    value.erase(value.find_last_not_of(' ') + 1);
    m[line.substr(0, eq)] = Value{value, line.substr(hash + 4)};
  }
  return m;
}

// Sets environment variables for one scope (children inherit them), then
// restores what was there.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [k, v] : vars) {
      const char* old = std::getenv(k);
      saved_.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      ::setenv(k, v, 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [k, old] : saved_) {
      if (old) {
        ::setenv(k.c_str(), old->c_str(), 1);
      } else {
        ::unsetenv(k.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The keys these tests set must not come from the caller's environment.
    for (const char* k : {"RAGD_CONFIG", "RAGD_DATA", "RAGD_THREADS", "RAGD_MAX_BODY", "RAGD_LISTEN",
                          "RAGD_READ_TIMEOUT", "RAGD_LOG_FORMAT", "RAGD_REINDEX", "RAGD_MAX_QUEUE"}) {
      ::unsetenv(k);
    }
  }
  TempDir dir_{"config"};
};

TEST_F(ConfigTest, FlagsBeatEnvironmentBeatsFileBeatsDefault) {
  const fs::path file = dir_.path / "ragd.toml";
  write_file(file,
             "# a comment\n"
             "data = \"/srv/ragd\"\n"
             "threads = 3\n"
             "\n"
             "max-body = 1000   # bytes\n"
             "listen = \"0.0.0.0:9000\"\n"
             "reindex = true\n");
  ScopedEnv env{{"RAGD_THREADS", "5"}, {"RAGD_MAX_BODY", "2000"}, {"RAGD_MAX_QUEUE", "4"}};
  std::string out;
  ASSERT_EQ(run_ragd({"config", "--config", file.string(), "--max-body", "3000"}, &out), 0) << out;
  auto m = parse_config_output(out);
  const std::string f = "file " + file.string();
  EXPECT_EQ(m["data"].value, "\"/srv/ragd\"");
  EXPECT_EQ(m["data"].source, f + ":2");
  EXPECT_EQ(m["listen"].value, "\"0.0.0.0:9000\"");
  EXPECT_EQ(m["listen"].source, f + ":6");
  EXPECT_EQ(m["reindex"].value, "true");
  EXPECT_EQ(m["reindex"].source, f + ":7");
  EXPECT_EQ(m["threads"].value, "5");  // env over file
  EXPECT_EQ(m["threads"].source, "env RAGD_THREADS");
  EXPECT_EQ(m["max-queue"].value, "4");  // env over default
  EXPECT_EQ(m["max-queue"].source, "env RAGD_MAX_QUEUE");
  EXPECT_EQ(m["max-body"].value, "3000");  // flag over env over file
  EXPECT_EQ(m["max-body"].source, "flag --max-body");
  EXPECT_EQ(m["read-timeout"].value, "30");
  EXPECT_EQ(m["read-timeout"].source, "default");
  EXPECT_NE(out.find("config file: " + file.string()), std::string::npos) << out;
}

// The environment names that existed before the config file keep working,
// as the RAGD_<OPTION> of --glove and --prompts.
TEST_F(ConfigTest, OldEnvironmentNamesAreOptionNames) {
  ScopedEnv env{{"RAGD_GLOVE", "/opt/glove.bin"}, {"RAGD_PROMPTS", "/opt/prompts"}};
  std::string out;
  ASSERT_EQ(run_ragd({"config", "--config", "/dev/null"}, &out), 0) << out;
  auto m = parse_config_output(out);
  EXPECT_EQ(m["glove"].value, "\"/opt/glove.bin\"");
  EXPECT_EQ(m["glove"].source, "env RAGD_GLOVE");
  EXPECT_EQ(m["prompts"].value, "\"/opt/prompts\"");
  EXPECT_EQ(m["prompts"].source, "env RAGD_PROMPTS");
}

TEST_F(ConfigTest, ConfigFileFromEnvironment) {
  const fs::path file = dir_.path / "env.toml";
  write_file(file, "max-inflight = 7\n");
  ScopedEnv env{{"RAGD_CONFIG", file.c_str()}};
  std::string out;
  ASSERT_EQ(run_ragd({"config"}, &out), 0) << out;
  auto m = parse_config_output(out);
  EXPECT_EQ(m["max-inflight"].value, "7");
  EXPECT_EQ(m["max-inflight"].source, "file " + file.string() + ":1");
}

TEST_F(ConfigTest, UnknownKeyNamesFileAndLineAndServerDoesNotStart) {
  const fs::path file = dir_.path / "typo.toml";
  write_file(file, "data = \"" + (dir_.path / "data").string() + "\"\n\nlisen = \"127.0.0.1:0\"\n");
  std::string out;
  EXPECT_EQ(run_ragd({"config", "--config", file.string()}, &out), 2);
  EXPECT_NE(out.find(file.string() + ":3: unknown key 'lisen'"), std::string::npos) << out;
  // The server refuses to start: it exits with the same error and never
  // writes its port file.
  const fs::path port_file = dir_.path / "port";
  EXPECT_EQ(run_ragd({"serve", "--config", file.string(), "--listen", "127.0.0.1:0", "--port-file",
                      port_file.string()},
                     &out),
            2);
  EXPECT_NE(out.find(file.string() + ":3: unknown key 'lisen'"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(port_file));
  EXPECT_FALSE(fs::exists(dir_.path / "data"));
  // Every command reads the file, so `ragd stats` refuses it too.
  EXPECT_EQ(run_ragd({"stats", "--config", file.string()}, &out), 2);
  EXPECT_NE(out.find(":3: unknown key 'lisen'"), std::string::npos) << out;
}

TEST_F(ConfigTest, BadValuesNameFileAndLine) {
  struct Case {
    std::string text;
    std::string expected;  // after "FILE:"
  };
  const std::vector<Case> cases = {
      {"threads = 2\nmax-body = \"64MiB\"\n", "2: bad value \"64MiB\" for 'max-body' (expected UINT)"},
      {"listen = \"localhost\"\n", "1: bad value \"localhost\" for 'listen' (expected HOST:PORT)"},
      {"\n\nlog-format = \"xml\"\n", "3: bad value \"xml\" for 'log-format'"},
      {"reindex = maybe\n", "1: bad value \"maybe\" for 'reindex' (expected true or false)"},
      {"read-timeout = 1.5\n", "1: bad value \"1.5\" for 'read-timeout' (expected INT)"},
      {"data = \"a\"\nthreads = 1\ndata = \"b\"\n", "3: 'data' is set twice (first on line 1)"},
      {"data = \"a\"\ndata = \"b\"\n", "2: 'data' is set twice (first on line 1)"},
      {"max-body = [1, 2]\n", "1: 'max-body' takes one value, got 2"},
      {"[serve]\nlisten = \"127.0.0.1:1\"\n", "1: sections ([serve]) are not supported"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const fs::path file = dir_.path / ("bad" + std::to_string(i) + ".toml");
    write_file(file, cases[i].text);
    std::string out;
    EXPECT_EQ(run_ragd({"config", "--config", file.string()}, &out), 2) << cases[i].text;
    EXPECT_NE(out.find(file.string() + ":" + cases[i].expected), std::string::npos)
        << "config:\n" << cases[i].text << "output:\n" << out;
  }
  // `serve` stops on a bad value before it opens the store or listens.
  const fs::path file = dir_.path / "bad-serve.toml";
  write_file(file, "data = \"" + (dir_.path / "data").string() + "\"\nmax-body = \"lots\"\n");
  std::string out;
  EXPECT_EQ(run_ragd({"serve", "--config", file.string(), "--port-file", (dir_.path / "port").string()}, &out), 2);
  EXPECT_NE(out.find(file.string() + ":2: bad value \"lots\" for 'max-body'"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_.path / "data"));
  EXPECT_FALSE(fs::exists(dir_.path / "port"));
}

TEST_F(ConfigTest, BadEnvironmentValueAndMissingFile) {
  std::string out;
  {
    ScopedEnv env{{"RAGD_MAX_BODY", "lots"}};
    EXPECT_EQ(run_ragd({"config", "--config", "/dev/null"}, &out), 2);
    EXPECT_NE(out.find("environment variable RAGD_MAX_BODY: bad value \"lots\" for 'max-body'"), std::string::npos)
        << out;
  }
  const fs::path missing = dir_.path / "missing.toml";
  EXPECT_EQ(run_ragd({"config", "--config", missing.string()}, &out), 2);
  EXPECT_NE(out.find("cannot read the config file " + missing.string()), std::string::npos) << out;
  // An empty file is fine: every value is its default.
  ASSERT_EQ(run_ragd({"config", "--config", "/dev/null"}, &out), 0) << out;
  EXPECT_EQ(parse_config_output(out)["listen"].source, "default");
}

TEST_F(ConfigTest, StoreCommandsTakeStoreKeysAndIgnoreServerKeys) {
  std::vector<std::string> texts{"VPN error 809 means the firewall blocks L2TP.", "Reset your password in the portal."};
  const fs::path glove = dir_.path / "glove.bin";
  make_tiny_glove(glove, texts);
  const fs::path docs = dir_.path / "docs";
  write_file(docs / "vpn.md", "# VPN\n\n" + texts[0] + "\n");
  write_file(docs / "password.md", "# Password\n\n" + texts[1] + "\n");
  const fs::path data = dir_.path / "store";
  const fs::path file = dir_.path / "store.toml";
  write_file(file, "data = \"" + data.string() + "\"\nglove = \"" + glove.string() +
                       "\"\nlisten = \"127.0.0.1:0\"\nmax-body = 100\n");
  std::string out;
  ASSERT_EQ(run_ragd({"ingest", docs.string(), "--config", file.string(), "--quiet"}, &out), 0) << out;
  EXPECT_TRUE(fs::is_directory(data)) << out;
  ASSERT_EQ(run_ragd({"stats", "--config", file.string(), "--json"}, &out), 0) << out;
  auto stats = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(stats.is_object()) << out;
  EXPECT_EQ(stats["documents"], 2) << out;
  // RAGD_DATA beats the file: an empty store elsewhere.
  const fs::path other = dir_.path / "other";
  {
    ScopedEnv env{{"RAGD_DATA", other.c_str()}};
    ASSERT_EQ(run_ragd({"search", "firewall", "--config", file.string(), "--json"}, &out), 0) << out;
    EXPECT_EQ(out.find("vpn.md"), std::string::npos) << out;
  }
  ASSERT_EQ(run_ragd({"search", "firewall", "--config", file.string(), "--json"}, &out), 0) << out;
  EXPECT_NE(out.find("vpn.md"), std::string::npos) << out;
}

// The server obeys the file, the environment and the flags in that order:
// --max-body decides between 413 and a normal answer.
TEST_F(ConfigTest, RunningServerFollowsPrecedence) {
  const fs::path glove = dir_.path / "glove.bin";
  make_tiny_glove(glove, {"hello world"});
  const fs::path file = dir_.path / "server.toml";
  write_file(file, "max-body = 1000\n");
  const std::string body = "{\"query\":\"" + std::string(1500, 'a') + "\"}";
  auto post = [&](ServerProcess& s) { return http_post(s.port(), "/v1/search", body).status; };
  {
    ServerProcess s(dir_.path / "d1", glove, {"--config", file.string()});
    ASSERT_TRUE(s.start()) << s.log();
    EXPECT_EQ(post(s), 413);
    EXPECT_EQ(s.stop(), 0);
  }
  {
    ScopedEnv env{{"RAGD_MAX_BODY", "4000"}};
    ServerProcess s(dir_.path / "d2", glove, {"--config", file.string()});
    ASSERT_TRUE(s.start()) << s.log();
    EXPECT_EQ(post(s), 200);
    EXPECT_EQ(s.stop(), 0);
  }
  {
    ScopedEnv env{{"RAGD_MAX_BODY", "4000"}};
    ServerProcess s(dir_.path / "d3", glove, {"--config", file.string(), "--max-body", "500"});
    ASSERT_TRUE(s.start()) << s.log();
    EXPECT_EQ(post(s), 413);
    EXPECT_EQ(s.stop(), 0);
  }
}

// The file the Debian package installs as /etc/ragd/ragd.toml.
TEST_F(ConfigTest, PackagedConfigIsAccepted) {
  const fs::path packaged = fs::path(RAGD_SOURCE_DIR) / "packaging" / "ragd.toml";
  ASSERT_TRUE(fs::exists(packaged));
  std::string out;
  ASSERT_EQ(run_ragd({"config", "--config", packaged.string()}, &out), 0) << out;
  auto m = parse_config_output(out);
  const std::string src = "file " + packaged.string() + ":";
  EXPECT_EQ(m["data"].value, "\"/var/lib/ragd\"");
  EXPECT_EQ(m["data"].source.rfind(src, 0), 0u) << m["data"].source;
  EXPECT_EQ(m["listen"].value, "\"127.0.0.1:8080\"");
  EXPECT_EQ(m["listen"].source.rfind(src, 0), 0u);
  EXPECT_EQ(m["glove"].value, "\"/usr/share/ragd/glove-wink-sg-100d.bin\"");
  EXPECT_EQ(m["prompts"].value, "\"/usr/share/ragd/prompts\"");
  // Every commented example is a valid key and value once uncommented.
  std::string uncommented;
  std::istringstream in(read_file(packaged));
  std::regex example(R"(^# ([a-z-]+) = (.*)$)");
  int examples = 0;
  for (std::string line; std::getline(in, line);) {
    std::smatch mm;
    if (std::regex_match(line, mm, example)) {
      uncommented += mm[1].str() + " = " + mm[2].str() + "\n";
      ++examples;
    }
  }
  EXPECT_GE(examples, 10);
  const fs::path all = dir_.path / "examples.toml";
  write_file(all, uncommented);
  ASSERT_EQ(run_ragd({"config", "--config", all.string()}, &out), 0) << uncommented << out;
  // And `ragd serve` starts with it (the store and the GloVe file moved to
  // places this test may write and read, by flags).
  const fs::path glove = dir_.path / "glove.bin";
  make_tiny_glove(glove, {"hello world"});
  ServerProcess s(dir_.path / "data", glove, {"--config", packaged.string()});
  ASSERT_TRUE(s.start()) << s.log();
  EXPECT_EQ(http_get(s.port(), "/healthz").status, 200);
  EXPECT_EQ(s.stop(), 0);
}

TEST_F(ConfigTest, VersionNamesVersionCommitAndBuildType) {
  std::string out;
  ASSERT_EQ(run_ragd({"--version"}, &out), 0) << out;
  // The version is the top-level project(VERSION ...).
  std::smatch m;
  const std::string cmake = read_file(fs::path(RAGD_SOURCE_DIR) / "CMakeLists.txt");
  ASSERT_TRUE(std::regex_search(cmake, m, std::regex(R"(project\(ragd VERSION ([0-9.]+))")));
  const std::string version = m[1];
  std::smatch v;
  ASSERT_TRUE(std::regex_search(out, v, std::regex(R"(^ragd ([0-9.]+) \(commit ([0-9a-f]{12}|unknown), (\w+) build\))")))
      << out;
  EXPECT_EQ(v[1].str(), version);
  EXPECT_EQ(v[2].str(), build_info().commit);
  EXPECT_EQ(v[3].str(), build_info().build_type);
  EXPECT_EQ(std::string(build_info().version), version);
}

}  // namespace
}  // namespace ragd::test

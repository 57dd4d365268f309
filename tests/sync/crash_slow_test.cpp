// Crash test: `ragd sync` is killed with SIGKILL at seeded random moments in
// the middle of passes, several rounds, while the sources keep changing;
// after a final pass the store equals the sources exactly: every record
// present once with its latest content, deleted tickets gone.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <set>

#include "index/store.h"
#include "model/glove_sif.h"
#include "tests/sync/fake_vendors.h"
#include "tests/sync/test_embedder.h"

namespace ragd::sync {
namespace {

using namespace ragd::sync::testing;

constexpr int64_t kT0 = 1717200000;
constexpr int kIncidents = 1000;
constexpr int kTickets = 600;
constexpr int kRounds = 6;
constexpr uint64_t kSeed = 20261204;

std::string ragd_binary() {
  if (const char* b = std::getenv("RAGD_BIN"); b != nullptr && *b != '\0') return b;
  return RAGD_BINARY_DIR "/api/ragd";
}

pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& out) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<std::string> all{ragd_binary()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

std::string subject(int i, int version) {
  return "Mailbox quota exceeded for user " + std::to_string(i) + " version " + std::to_string(version);
}

json incident(int i, int version, int64_t t) {
  char sys_id[40], number[16];
  std::snprintf(sys_id, sizeof sys_id, "%032x", i * 104729);
  std::snprintf(number, sizeof number, "INC%07d", i);
  return {{"sys_id", sys_id},
          {"number", number},
          {"short_description", subject(i, version)},
          {"description", "The mailbox is full and mail bounces."},
          {"close_notes", "Archived old items and raised the quota to 50 GB."},
          {"state", "Closed"},
          {"sys_created_on", sn_time(kT0)},
          {"sys_updated_on", sn_time(t)}};
}

TEST(SyncCrash, KillNineMidPassThenStoreEqualsTheSources) {
  const auto dir = temp_dir("crash");
  const auto data = dir / "data";
  const auto glove = dir / "glove.bin";
  {
    std::vector<std::string> texts{subject(1, 1) + " The mailbox is full and mail bounces. Archived old items raised "
                                   "quota GB Printer jams on floor ticket opened"};
    std::vector<std::string> words;
    std::vector<float> vecs;
    std::mt19937 rng(kSeed);
    std::normal_distribution<float> nd;
    std::set<std::string> uniq;
    for (auto& w : glove_tokenize(texts[0])) uniq.insert(w);
    for (const auto& w : uniq) {
      words.push_back(w);
      for (int d = 0; d < 16; ++d) vecs.push_back(nd(rng));
    }
    ASSERT_TRUE(write_glove_file(words, vecs, 16, glove).is_ok());
  }

  FakeServiceNow sn("incident");
  FakeZendesk zd;
  std::map<int, int> sn_version;        // incident -> version
  std::map<int, std::string> zd_state;  // ticket -> subject, "" when deleted
  int64_t clock = kT0 + 10;
  for (int i = 1; i <= kIncidents; ++i) {
    sn_version[i] = 1;
    sn.put(incident(i, 1, clock + i / 4));
  }
  for (int i = 1; i <= kTickets; ++i) {
    zd_state[i] = "Printer jams on floor " + std::to_string(i);
    zd.put(i, clock + i, zd_state[i]);
  }
  clock += 1000;
  sn.set_delay_ms(30);
  zd.set_delay_ms(30);
  LoopbackServer sn_server([&](const Request& r) { return sn.handle(r); });
  LoopbackServer zd_server([&](const Request& r) { return zd.handle(r); });

  const auto config = dir / "ragd.toml";
  {
    std::ofstream out(config);
    out << "[[source]]\nname = \"sn\"\ntype = \"servicenow\"\nurl = \"" << sn_server.url()
        << "\"\npage_size = 10\n\n[[source]]\nname = \"zd\"\ntype = \"zendesk\"\nurl = \"" << zd_server.url()
        << "\"\npage_size = 10\n";
  }
  const std::vector<std::string> args{"sync", "--config", config.string(), "--data", data.string(), "--glove",
                                      glove.string(), "--quiet"};
  const auto log = dir / "sync.log";
  std::mt19937_64 rng(kSeed);
  int killed = 0;
  int mid_pass = 0;
  std::vector<std::string> full_args = args;
  full_args.push_back("--full");
  for (int round = 0; round < kRounds; ++round) {
    // The first rounds resume the first pass; later incremental passes have
    // only a few changes and may end before any kill, so the later rounds
    // are full passes (every page again, plus pruning), long enough to be
    // killed in the middle.
    pid_t pid = spawn(round < 2 ? args : full_args, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(600, 2500)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++killed;
    {
      // How far the killed pass got: some rounds must stop mid-pass.
      StoreOptions ro;
      ro.dir = data;
      ro.read_only = true;
      if (auto st = Store::open(ro); st.is_ok()) {
        size_t n = 0;
        (*st)->for_each_document([&](const std::string&) { ++n; });
        if (n > 0 && n < static_cast<size_t>(kIncidents + kTickets)) ++mid_pass;
        std::printf("round %d: killed with %zu documents stored, cursor sn %s\n", round, n,
                    (*st)->get_state("sync:sn").is_ok() ? (*st)->get_state("sync:sn")->c_str() : "?");
      }
    }
    // The sources change between rounds: updates, new records, deletions.
    for (int k = 0; k < 8; ++k) {
      int i = std::uniform_int_distribution<int>(1, kIncidents)(rng);
      sn.put(incident(i, ++sn_version[i], clock++));
    }
    for (int k = 0; k < 3; ++k) {
      int i = std::uniform_int_distribution<int>(1, kTickets)(rng);
      if (zd_state[i].empty()) continue;
      zd_state[i].clear();
      zd.put(i, clock++, "deleted", "deleted");
    }
    int fresh = kTickets + round + 1;
    zd_state[fresh] = "Badge reader offline " + std::to_string(fresh);
    zd.put(fresh, clock++, zd_state[fresh]);
  }
  EXPECT_GE(killed, kRounds - 1) << "the passes ended before the kill; raise the delay";
  EXPECT_GE(mid_pass, 2) << "too few kills landed mid-pass";

  sn.set_delay_ms(0);
  zd.set_delay_ms(0);
  pid_t pid = spawn(args, log);
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream lf(log);
  std::string log_text((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log_text;
  EXPECT_NE(log_text.find("sn (servicenow): fetched "), std::string::npos) << log_text;
  EXPECT_NE(log_text.find("zd (zendesk): fetched "), std::string::npos) << log_text;

  StoreOptions so;
  so.dir = data;
  so.read_only = true;
  auto store = Store::open(so);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  std::set<std::string> expected;
  for (auto& [i, v] : sn_version) {
    char number[16];
    std::snprintf(number, sizeof number, "INC%07d", i);
    expected.insert(number);
    auto doc = (*store)->get_document(number);
    ASSERT_TRUE(doc.is_ok()) << number;
    EXPECT_NE(doc->title.find(subject(i, v)), std::string::npos) << doc->title << " want version " << v;
  }
  for (auto& [i, s] : zd_state) {
    if (s.empty()) continue;
    expected.insert("ZD-" + std::to_string(i));
    auto doc = (*store)->get_document("ZD-" + std::to_string(i));
    ASSERT_TRUE(doc.is_ok()) << i;
    EXPECT_NE(doc->title.find(s), std::string::npos) << doc->title;
  }
  std::set<std::string> stored;
  (*store)->for_each_document([&](const std::string& id) { stored.insert(id); });
  EXPECT_EQ(stored, expected);
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ragd::sync

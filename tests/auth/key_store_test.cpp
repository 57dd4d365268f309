#include "auth/key_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <random>
#include <sstream>
#include <thread>

namespace ragd::auth {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("ragd-auth-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  fs::path file(const std::string& n) const { return path_ / n; }

 private:
  fs::path path_;
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<KeyStore> open_store(const TempDir& dir, KeyStoreOptions o = {}) {
  auto s = KeyStore::open(dir.str(), std::move(o));
  EXPECT_TRUE(s) << s.status().to_string();
  return s ? std::move(s).value() : nullptr;
}

TEST(KeyStore, CreateVerifyListRevoke) {
  TempDir dir("basic");
  auto ks = open_store(dir);
  ASSERT_TRUE(ks);
  EXPECT_TRUE(ks->empty());
  auto created = ks->create("ops-bot", Role::kWriter, {"ops", "it", "ops"}, "", 0);
  ASSERT_TRUE(created) << created.status().to_string();
  const std::string secret = created->secret;
  EXPECT_EQ(secret.size(), 48u);
  EXPECT_EQ(secret.substr(0, 5), "ragd_");
  EXPECT_EQ(created->record.id, secret.substr(5, kKeyIdChars));
  EXPECT_TRUE(created->record.hash.empty());

  auto rec = ks->verify(secret);
  ASSERT_TRUE(rec) << rec.status().to_string();
  EXPECT_EQ(rec->name, "ops-bot");
  EXPECT_EQ(rec->role, Role::kWriter);
  EXPECT_EQ(rec->groups, (std::vector<std::string>{"it", "ops"}));
  Principal p = rec->principal();
  EXPECT_EQ(p.via, Via::kKey);
  EXPECT_TRUE(role_allows(p.role, Action::kPostDocument));
  EXPECT_FALSE(role_allows(p.role, Action::kManageKeys));

  auto second = ks->create("reader-1", Role::kReader, {}, "hr", 0);
  ASSERT_TRUE(second);
  EXPECT_NE(second->secret, secret);
  auto listed = ks->list();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "ops-bot");
  EXPECT_EQ(listed[1].name, "reader-1");
  EXPECT_EQ(listed[1].collection, "hr");
  for (const auto& r : listed) {
    EXPECT_TRUE(r.salt.empty());
    EXPECT_TRUE(r.hash.empty());
  }
  // The secret is stored nowhere on disk.
  std::string file = read_all(dir.file("keys.json"));
  EXPECT_EQ(file.find(secret), std::string::npos);
  EXPECT_EQ(file.find(secret.substr(5)), std::string::npos);
  EXPECT_EQ(fs::status(dir.file("keys.json")).permissions() & fs::perms::others_read, fs::perms::none);

  ASSERT_TRUE(ks->revoke("ops-bot").is_ok());
  auto gone = ks->verify(secret);
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is_unauthenticated(gone.status()));
  EXPECT_TRUE(ks->verify(second->secret));
  Status again = ks->revoke("ops-bot");
  EXPECT_EQ(again.code(), StatusCode::kNotFound);
  EXPECT_EQ(ks->size(), 1u);
}

TEST(KeyStore, WrongAndMalformedSecretsFailWithoutEchoingThem) {
  TempDir dir("wrong");
  auto ks = open_store(dir);
  auto c = ks->create("k", Role::kAdmin, {}, "", 0);
  ASSERT_TRUE(c);
  std::string s = c->secret;
  std::string flipped = s;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';  // same id, wrong rest
  std::string other_id = s;
  other_id[6] = other_id[6] == 'A' ? 'B' : 'A';
  for (const std::string& bad : {flipped, other_id, s.substr(0, 47), s + "A", std::string("ragd_") + std::string(43, '!'),
                                 std::string("RAGD_") + s.substr(5), std::string(), std::string(100000, 'x'),
                                 std::string("Bearer ") + s}) {
    auto r = ks->verify(bad);
    ASSERT_FALSE(r) << bad.substr(0, 60);
    EXPECT_TRUE(is_unauthenticated(r.status())) << r.status().to_string();
    EXPECT_EQ(r.status().message().find(s.substr(5, 20)), std::string::npos);
  }
  EXPECT_TRUE(ks->verify(s));
}

TEST(KeyStore, ExpiredKeysFail) {
  TempDir dir("expiry");
  int64_t now = 1'800'000'000;
  KeyStoreOptions o;
  o.now = [&now] { return now; };
  auto ks = open_store(dir, o);
  auto c = ks->create("temp", Role::kReader, {}, "", now + 60);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->record.created, now);
  EXPECT_TRUE(ks->verify(c->secret));
  now += 59;
  EXPECT_TRUE(ks->verify(c->secret));
  now += 1;
  auto r = ks->verify(c->secret);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_unauthenticated(r.status()));
  EXPECT_NE(r.status().message().find("expired"), std::string::npos);
  // An expiry in the past is refused at creation.
  auto past = ks->create("late", Role::kReader, {}, "", now - 1);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.status().code(), StatusCode::kInvalidArgument);
}

TEST(KeyStore, BadArgumentsAreRefused) {
  TempDir dir("args");
  auto ks = open_store(dir);
  ASSERT_TRUE(ks->create("dup", Role::kReader, {}, "", 0));
  EXPECT_EQ(ks->create("dup", Role::kAdmin, {}, "", 0).status().code(), StatusCode::kAlreadyExists);
  for (const std::string& name : {std::string(), std::string("has space"), std::string("a/b"), std::string(65, 'n'),
                                  std::string("caf\xc3\xa9")}) {
    EXPECT_EQ(ks->create(name, Role::kReader, {}, "", 0).status().code(), StatusCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(ks->create("g", Role::kReader, {""}, "", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ks->create("g", Role::kReader, std::vector<std::string>(300, "x"), "", 0).status().code(),
            StatusCode::kOk);  // duplicates collapse to one group
  EXPECT_EQ(ks->create("c", Role::kReader, {}, std::string(200, 'c'), 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ks->create("e", Role::kReader, {}, "", -5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ks->size(), 2u);
  EXPECT_FALSE(KeyStore::open(dir.str() + "/missing"));
}

TEST(KeyStore, PersistsAcrossReopen) {
  TempDir dir("reopen");
  std::string reader, admin;
  {
    auto ks = open_store(dir);
    reader = ks->create("reader", Role::kReader, {"ops"}, "it", 0)->secret;
    admin = ks->create("admin", Role::kAdmin, {}, "", 4'000'000'000)->secret;
    std::string gone = ks->create("gone", Role::kWriter, {}, "", 0)->secret;
    ASSERT_TRUE(ks->revoke("gone").is_ok());
    ASSERT_FALSE(ks->verify(gone));
  }
  auto ks = open_store(dir);
  ASSERT_TRUE(ks);
  EXPECT_EQ(ks->size(), 2u);
  auto r = ks->verify(reader);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->groups, std::vector<std::string>{"ops"});
  EXPECT_EQ(r->collection, "it");
  auto a = ks->verify(admin);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->role, Role::kAdmin);
  EXPECT_EQ(a->expires, 4'000'000'000);
}

TEST(KeyStore, CorruptFilesAreRefusedNotHalfLoaded) {
  TempDir dir("corrupt");
  {
    auto ks = open_store(dir);
    ASSERT_TRUE(ks->create("a", Role::kReader, {}, "", 0));
    ASSERT_TRUE(ks->create("b", Role::kReader, {}, "", 0));
  }
  const std::string good = read_all(dir.file("keys.json"));
  auto json = nlohmann::json::parse(good);
  auto with = [&](const std::function<void(nlohmann::json&)>& f) {
    auto j = json;
    f(j);
    return j.dump();
  };
  const std::vector<std::string> bad = {
      good.substr(0, good.size() / 2),  // torn
      "",
      "[]",
      "{\"version\":2,\"keys\":[]}",
      with([](auto& j) { j["keys"][0]["hash"] = "short"; }),
      with([](auto& j) { j["keys"][0]["role"] = "root"; }),
      with([](auto& j) { j["keys"][1]["name"] = j["keys"][0]["name"]; }),
      with([](auto& j) { j["keys"][0]["id"] = 7; }),
      with([](auto& j) { j["keys"][0]["groups"] = {1, 2}; }),
      with([](auto& j) { j["keys"][0].erase("salt"); }),
      std::string("\xff\xfe{", 3),
  };
  for (const auto& content : bad) {
    std::ofstream(dir.file("keys.json"), std::ios::binary | std::ios::trunc) << content;
    auto ks = KeyStore::open(dir.str());
    ASSERT_FALSE(ks) << content.substr(0, 80);
    EXPECT_EQ(ks.status().code(), StatusCode::kCorruption) << ks.status().to_string();
  }
  std::ofstream(dir.file("keys.json"), std::ios::binary | std::ios::trunc) << good;
  EXPECT_TRUE(KeyStore::open(dir.str()));
}

TEST(KeyStore, TwoProcessesShareTheFileAndReloadSeesChanges) {
  TempDir dir("shared");
  auto server = open_store(dir);
  auto cli = open_store(dir);
  auto a = server->create("a", Role::kReader, {}, "", 0);
  ASSERT_TRUE(a);
  // The CLI's change re-reads the file, so it does not lose "a".
  auto b = cli->create("b", Role::kReader, {}, "", 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(cli->size(), 2u);
  EXPECT_FALSE(server->verify(b->secret));  // not seen until reload
  ASSERT_TRUE(server->reload().is_ok());
  EXPECT_TRUE(server->verify(b->secret));
  ASSERT_TRUE(cli->revoke("a").is_ok());
  ASSERT_TRUE(server->reload().is_ok());
  EXPECT_FALSE(server->verify(a->secret));
  EXPECT_EQ(server->size(), 1u);
  EXPECT_TRUE(server->reload().is_ok());  // unchanged: nothing to do

  // A vanished or corrupt file keeps the loaded keys in force.
  const std::string good = read_all(dir.file("keys.json"));
  fs::remove(dir.file("keys.json"));
  EXPECT_EQ(server->reload().code(), StatusCode::kNotFound);
  EXPECT_TRUE(server->verify(b->secret));
  std::ofstream(dir.file("keys.json"), std::ios::binary | std::ios::trunc) << good.substr(0, 10);
  EXPECT_EQ(server->reload().code(), StatusCode::kCorruption);
  EXPECT_TRUE(server->verify(b->secret));
}

TEST(KeyStore, ConcurrentVerifiesDuringWrites) {
  TempDir dir("concurrent");
  auto ks = open_store(dir);
  std::vector<std::string> stable;
  for (int i = 0; i < 8; ++i) stable.push_back(ks->create("stable-" + std::to_string(i), Role::kReader, {}, "", 0)->secret);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, verified{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      size_t i = static_cast<size_t>(t);
      while (!stop.load()) {
        if (!ks->verify(stable[i++ % stable.size()])) ++failures;
        ++verified;
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    auto c = ks->create("churn-" + std::to_string(i), Role::kWriter, {}, "", 0);
    ASSERT_TRUE(c);
    EXPECT_TRUE(ks->verify(c->secret));
    ASSERT_TRUE(ks->revoke("churn-" + std::to_string(i)).is_ok());
    EXPECT_FALSE(ks->verify(c->secret));
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(verified.load(), 0);
}

// kill -9 of a process in the middle of revocations (issue 11, fault tests):
// a child revokes keys one by one and reports each revocation that returned
// ok through a pipe; the parent kills it at a random moment. After every
// kill the file must load, every acknowledged revocation must hold, and
// every key never revoked must still work. Meanwhile a reader thread checks
// that the file on disk is always a whole, valid key file.
TEST(KeyStore, KillDuringRevocationsNeverLosesARevocation) {
  TempDir dir("kill9");
  constexpr int kKeys = 60;
  std::vector<std::string> secrets;
  {
    auto ks = open_store(dir);
    for (int i = 0; i < kKeys; ++i) {
      auto c = ks->create("key-" + std::to_string(i), Role::kReader, {}, "", 0);
      ASSERT_TRUE(c);
      secrets.push_back(c->secret);
    }
  }
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread watcher([&] {
    while (!stop.load()) {
      std::string data = read_all(dir.file("keys.json"));
      auto j = nlohmann::json::parse(data, nullptr, false);
      if (j.is_discarded() || !j.contains("keys")) ++torn;
      ++reads;
    }
  });

  std::mt19937 rng(20261204);
  std::vector<bool> acknowledged(kKeys, false);
  int next = 0, kills = 0, interrupted_before_rename = 0, interrupted_after_rename = 0;
  while (next < kKeys && kills < 12) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto ks = KeyStore::open(dir.str());
      if (!ks) ::_exit(2);
      for (int i = next; i < kKeys; ++i) {
        if (!(*ks)->revoke("key-" + std::to_string(i)).is_ok()) ::_exit(3);
        unsigned char b = static_cast<unsigned char>(i);
        if (::write(fds[1], &b, 1) != 1) ::_exit(4);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    // Let a random number of revocations through, then kill at a random
    // moment within the next one.
    int let_through = std::uniform_int_distribution<int>(0, 4)(rng);
    int got = 0;
    unsigned char b;
    // poll() bounds the wait, so a child stuck for any reason fails the
    // test instead of hanging it.
    while (got < let_through) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (::poll(&pfd, 1, 10000) != 1 || ::read(fds[0], &b, 1) != 1) break;
      acknowledged[b] = true;
      ++got;
    }
    ::usleep(std::uniform_int_distribution<int>(0, 3000)(rng));
    ::kill(pid, SIGKILL);
    while (::read(fds[0], &b, 1) == 1) acknowledged[b] = true;  // acks that raced the kill
    ::close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ++kills;
    interrupted_before_rename += fs::exists(dir.file("keys.json.tmp"));

    auto ks = KeyStore::open(dir.str());
    ASSERT_TRUE(ks) << "after kill " << kills << ": " << ks.status().to_string();
    for (int i = 0; i < kKeys; ++i) {
      bool works = static_cast<bool>((*ks)->verify(secrets[i]));
      if (acknowledged[i]) {
        EXPECT_FALSE(works) << "revoked key-" << i << " works again after kill " << kills;
      }
    }
    // Revocations run in order, so the revoked keys are a prefix, at most
    // one longer than the acknowledged ones (the one the kill interrupted
    // after its rename), and every key past it still works.
    int first_unrevoked = kKeys;
    for (int i = 0; i < kKeys; ++i) {
      if ((*ks)->verify(secrets[i])) {
        first_unrevoked = i;
        break;
      }
    }
    int acked = static_cast<int>(std::count(acknowledged.begin(), acknowledged.end(), true));
    EXPECT_GE(first_unrevoked, acked);
    EXPECT_LE(first_unrevoked, acked + 1);
    interrupted_after_rename += first_unrevoked == acked + 1;
    for (int i = first_unrevoked; i < kKeys; ++i) {
      EXPECT_TRUE((*ks)->verify(secrets[i])) << "key-" << i << " was revoked out of order";
    }
    EXPECT_EQ((*ks)->size(), static_cast<size_t>(kKeys - first_unrevoked));
    // What this reopen saw revoked must stay revoked after later kills.
    for (int i = 0; i < first_unrevoked; ++i) acknowledged[i] = true;
    next = first_unrevoked;
    EXPECT_FALSE(fs::exists(dir.file("keys.json.tmp"))) << "open() leaves no stale temporary";
  }
  stop = true;
  watcher.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_GT(reads.load(), 0);
  EXPECT_GE(kills, 3);
  std::printf("%d kills: %d left a temporary behind, %d landed after a rename but before its ack; "
              "%d file reads, none torn\n",
              kills, interrupted_before_rename, interrupted_after_rename, reads.load());
}

}  // namespace
}  // namespace ragd::auth

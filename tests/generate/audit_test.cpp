#include "generate/audit_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace ragd {
namespace {

namespace fs = std::filesystem;

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ragd_audit_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    path_ = dir_ / "sub" / "audit.jsonl";
  }
  void TearDown() override { fs::remove_all(dir_); }
  static AuditRecord rec(std::string id, int64_t t, std::string caller, std::vector<std::string> docs) {
    AuditRecord r;
    r.request_id = std::move(id);
    r.time_ms = t;
    r.caller = std::move(caller);
    r.query = "how do I fix \"VPN\" error 809?\n";
    r.retrieved_doc_ids = docs;
    if (!docs.empty()) r.cited_doc_ids = {docs.front()};
    r.grounding = "partial";
    r.model_file = "m.gguf";
    r.model_sha256 = sha256_hex("m");
    r.prompt_tokens = 100;
    r.completion_tokens = 20;
    r.latency_ms = 12.5;
    return r;
  }
  fs::path dir_, path_;
};

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_F(AuditTest, AppendsAndQueries) {
  {
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log.is_ok()) << log.status().to_string();
    ASSERT_TRUE(log.value()->append(rec("r1", 1000, "alice", {"INC1", "runbooks/vpn.md"})).is_ok());
    ASSERT_TRUE(log.value()->append(rec("r2", 2000, "bob", {"INC2"})).is_ok());
    ASSERT_TRUE(log.value()->append(rec("r3", 3000, "alice", {})).is_ok());
  }
  {  // reopening appends, never truncates
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log.is_ok());
    ASSERT_TRUE(log.value()->append(rec("r4", 4000, "", {"runbooks/vpn.md"})).is_ok());
  }
  AuditReadStats stats;
  auto all = query_audit_log(path_, {}, &stats);
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ(stats.bad_lines, 0u);
  EXPECT_FALSE(stats.torn_tail);
  const AuditRecord& r1 = all->front();
  EXPECT_EQ(r1.request_id, "r1");
  EXPECT_EQ(r1.query, "how do I fix \"VPN\" error 809?\n");
  EXPECT_EQ(r1.retrieved_doc_ids, (std::vector<std::string>{"INC1", "runbooks/vpn.md"}));
  EXPECT_EQ(r1.cited_doc_ids, (std::vector<std::string>{"INC1"}));
  EXPECT_EQ(r1.prompt_tokens, 100);
  EXPECT_EQ(r1.completion_tokens, 20);
  EXPECT_DOUBLE_EQ(r1.latency_ms, 12.5);
  EXPECT_EQ(r1.model_sha256, sha256_hex("m"));

  AuditQuery q;
  q.caller = "alice";
  EXPECT_EQ(query_audit_log(path_, q)->size(), 2u);
  q = {};
  q.doc_id = "runbooks/vpn.md";
  auto by_doc = query_audit_log(path_, q);
  ASSERT_EQ(by_doc->size(), 2u);
  EXPECT_EQ((*by_doc)[1].request_id, "r4");
  q = {};
  q.from_ms = 2000;
  q.to_ms = 3000;
  EXPECT_EQ(query_audit_log(path_, q)->size(), 2u);
  q = {};
  q.request_id = "r3";
  auto one = query_audit_log(path_, q);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(one->front().time_ms, 3000);
  q = {};
  q.limit = 1;
  EXPECT_EQ(query_audit_log(path_, q)->front().request_id, "r4");
}

TEST_F(AuditTest, TornLastLineIsToleratedAndNotGluedToTheNext) {
  {
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log.is_ok());
    ASSERT_TRUE(log.value()->append(rec("r1", 1000, "alice", {"A"})).is_ok());
  }
  {  // a crash mid-write
    std::ofstream out(path_, std::ios::app | std::ios::binary);
    out << R"({"request_id":"torn","time_ms":20)";
  }
  AuditReadStats stats;
  auto before = query_audit_log(path_, {}, &stats);
  ASSERT_TRUE(before.is_ok());
  EXPECT_EQ(before->size(), 1u);
  EXPECT_TRUE(stats.torn_tail);
  {
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log.is_ok());
    ASSERT_TRUE(log.value()->append(rec("r2", 2000, "bob", {"B"})).is_ok());
  }
  auto after = query_audit_log(path_, {}, &stats);
  ASSERT_TRUE(after.is_ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[1].request_id, "r2");
  EXPECT_EQ(stats.bad_lines, 1u);  // the torn record, now a whole bad line
  EXPECT_FALSE(stats.torn_tail);
}

TEST_F(AuditTest, ConcurrentAppendsStayWholeLines) {
  auto log = AuditLog::open(path_, AuditLogOptions{.sync = false});
  ASSERT_TRUE(log.is_ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_TRUE(log.value()->append(rec("t" + std::to_string(t) + "-" + std::to_string(i), i, "c", {"D"})).is_ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  AuditReadStats stats;
  auto all = query_audit_log(path_, {}, &stats);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->size(), 200u);
  EXPECT_EQ(stats.bad_lines, 0u);
}

TEST_F(AuditTest, MissingFileIsEmptyAndGarbageIsSkipped) {
  auto none = query_audit_log(dir_ / "nope.jsonl", {});
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
  fs::create_directories(path_.parent_path());
  std::ofstream(path_) << "not json\n[1,2]\n{\"request_id\":5}\n";
  AuditReadStats stats;
  auto r = query_audit_log(path_, {}, &stats);
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(stats.bad_lines, 3u);
}

}  // namespace
}  // namespace ragd

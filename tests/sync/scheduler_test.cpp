// The scheduler in process (threads, triggers, errors kept and retried,
// stop mid-pass), and the webhook checks as pure functions.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "index/store.h"
#include "sync/scheduler.h"
#include "sync/webhook.h"
#include "tests/sync/fake_vendors.h"
#include "tests/sync/test_embedder.h"

namespace ragd::sync {
namespace {

using namespace ragd::sync::testing;

constexpr int64_t kT0 = 1717200000;

json incident(int i, int64_t updated) {
  char sys_id[40], number[16];
  std::snprintf(sys_id, sizeof sys_id, "%032x", i * 7919);
  std::snprintf(number, sizeof number, "INC%07d", i);
  return {{"sys_id", sys_id},
          {"number", number},
          {"short_description", "Disk full on build agent " + std::to_string(i)},
          {"close_notes", "Cleaned the workspace cache."},
          {"state", "Closed"},
          {"sys_created_on", sn_time(updated - 100)},
          {"sys_updated_on", sn_time(updated)}};
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("scheduler");
    StoreOptions so;
    so.dir = dir_;
    so.sync_writes = false;
    auto s = Store::open(so);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  SourceConfig source(const std::string& url, int64_t interval) {
    SourceConfig s;
    s.name = "sn";
    s.type = SourceType::kServiceNow;
    s.table = "incident";
    s.url = url;
    s.page_size = 5;
    s.interval_seconds = interval;
    return s;
  }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  HashEmbedder embedder_;
};

TEST_F(SchedulerTest, RunsOnItsIntervalKeepsAnAuthErrorAndRetries) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 12; ++i) sn.put(incident(i, kT0 + i));
  sn.expect_auth("Basic c29tZW9uZTplbHNl");  // someone:else; ragd sends no credentials
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  SchedulerOptions o;
  o.http.backoff_initial_ms = 1;
  Scheduler sched(*store_, [this] { return &embedder_; }, {source(server.url(), 1)}, o);
  sched.start();
  ASSERT_TRUE(sched.wait_passes("sn", 1, std::chrono::seconds(30)));
  auto st = sched.status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_NE(st[0].last_error.find("401"), std::string::npos) << st[0].last_error;
  EXPECT_EQ(st[0].errors, 1u);
  EXPECT_EQ(st[0].last_success_ms, 0);
  EXPECT_GT(st[0].next_run_ms, st[0].last_end_ms);
  // The credentials are fixed at the source; the next interval succeeds.
  sn.expect_auth("");
  ASSERT_TRUE(sched.wait_passes("sn", 2, std::chrono::seconds(30)));
  st = sched.status();
  EXPECT_EQ(st[0].last_error, "");
  EXPECT_EQ(st[0].last_counts.added, 12u);
  EXPECT_GT(st[0].last_success_ms, 0);
  EXPECT_EQ(st[0].newest_record_at, kT0 + 12);
  EXPECT_NE(st[0].cursor.find(sn_time(kT0 + 12)), std::string::npos) << st[0].cursor;
  sched.stop();
}

TEST_F(SchedulerTest, TriggerOnePassAtATimeAndStopMidPass) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 40; ++i) sn.put(incident(i, kT0 + i));
  sn.set_delay_ms(100);
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  SchedulerOptions o;
  o.run_at_start = false;
  Scheduler sched(*store_, [this] { return &embedder_; }, {source(server.url(), 3600)}, o);
  EXPECT_EQ(sched.trigger("nope", Scheduler::PassKind::kIncremental), Scheduler::Trigger::kUnknown);
  sched.start();
  EXPECT_EQ(sched.trigger("sn", Scheduler::PassKind::kIncremental), Scheduler::Trigger::kStarted);
  EXPECT_EQ(sched.trigger("sn", Scheduler::PassKind::kFull), Scheduler::Trigger::kAlreadyRunning);
  for (int i = 0; i < 100 && !sched.status()[0].running; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(sched.status()[0].running);
  EXPECT_EQ(sched.trigger("sn", Scheduler::PassKind::kIncremental), Scheduler::Trigger::kAlreadyRunning);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  const auto t0 = std::chrono::steady_clock::now();
  sched.stop();  // mid-pass: 8 pages of 100 ms
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  auto st = sched.status();
  EXPECT_FALSE(st[0].running);
  EXPECT_EQ(st[0].last_error, "") << "a stop is not an error";
  EXPECT_LT(st[0].last_counts.fetched, 40u);
  // The cursor is at the last durable page: a new scheduler resumes there.
  Scheduler again(*store_, [this] { return &embedder_; }, {source(server.url(), 3600)}, o);
  again.start();
  EXPECT_EQ(again.trigger("sn", Scheduler::PassKind::kIncremental), Scheduler::Trigger::kStarted);
  ASSERT_TRUE(again.wait_passes("sn", 1, std::chrono::seconds(30)));
  EXPECT_EQ(again.status()[0].last_counts.fetched + st[0].last_counts.fetched, 40u);
  size_t n = 0;
  store_->for_each_document([&](const std::string&) { ++n; });
  EXPECT_EQ(n, 40u);
}

TEST_F(SchedulerTest, PrunesWhenDueAndOnRequestAndRemembersTheTime) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 12; ++i) sn.put(incident(i, kT0 + i));
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  SchedulerOptions o;
  o.run_at_start = false;
  SourceConfig src = source(server.url(), 3600);
  src.prune_interval_seconds = 3600;
  auto sys_id = [](int i) {
    char b[40];
    std::snprintf(b, sizeof b, "%032x", i * 7919);
    return std::string(b);
  };
  auto count = [this] {
    size_t n = 0;
    store_->for_each_document([&](const std::string&) { ++n; });
    return n;
  };
  {
    Scheduler sched(*store_, [this] { return &embedder_; }, {src}, o);
    sched.start();
    const auto first = sched.status()[0];
    EXPECT_EQ(first.last_prune_ms, 0);
    EXPECT_GT(first.next_prune_ms, 0);  // one interval after start
    ASSERT_EQ(sched.trigger("sn", Scheduler::PassKind::kIncremental), Scheduler::Trigger::kStarted);
    ASSERT_TRUE(sched.wait_passes("sn", 1, std::chrono::seconds(30)));
    EXPECT_EQ(count(), 12u);
    // Gone at the source, no marker: a pass does not see it, the prune does.
    sn.erase(sys_id(2));
    ASSERT_EQ(sched.trigger("sn", Scheduler::PassKind::kIncremental), Scheduler::Trigger::kStarted);
    ASSERT_TRUE(sched.wait_passes("sn", 2, std::chrono::seconds(30)));
    EXPECT_EQ(count(), 12u) << "not due yet: no prune";
    ASSERT_EQ(sched.trigger("sn", Scheduler::PassKind::kPrune), Scheduler::Trigger::kStarted);
    ASSERT_TRUE(sched.wait_passes("sn", 3, std::chrono::seconds(30)));
    EXPECT_EQ(count(), 11u);
    const auto st = sched.status()[0];
    EXPECT_EQ(st.last_prune_deleted, 1u);
    EXPECT_EQ(st.last_prune_error, "");
    EXPECT_GT(st.last_prune_ms, 0);
    EXPECT_EQ(st.next_prune_ms, st.last_prune_ms + 3600 * 1000);
    EXPECT_EQ(st.last_counts.deleted, 1u);
    EXPECT_EQ(st.totals.deleted, 1u);
  }
  // A restart keeps the schedule: the next prune is an interval after the
  // stored one, not after start.
  Scheduler again(*store_, [this] { return &embedder_; }, {src}, o);
  again.start();
  const auto st = again.status()[0];
  EXPECT_GT(st.last_prune_ms, 0);
  EXPECT_EQ(st.next_prune_ms, st.last_prune_ms + 3600 * 1000);
  // Due now (interval 1 s, stored prune older than that): the next pass prunes.
  again.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  sn.erase(sys_id(3));
  src.prune_interval_seconds = 1;
  Scheduler due(*store_, [this] { return &embedder_; }, {src}, o);
  due.start();
  ASSERT_EQ(due.trigger("sn", Scheduler::PassKind::kIncremental), Scheduler::Trigger::kStarted);
  ASSERT_TRUE(due.wait_passes("sn", 1, std::chrono::seconds(30)));
  EXPECT_EQ(count(), 10u);
  EXPECT_EQ(due.status()[0].last_prune_deleted, 1u);
}

TEST(Webhook, SignaturesPerVendor) {
  WebhookOptions o;
  const int64_t now = 1760000000;
  SourceConfig s;
  s.name = "x";
  s.table = "incident";
  const std::string body = R"({"timestamp":1760000000000,"a":1})";
  s.type = SourceType::kJira;
  EXPECT_EQ(verify_webhook(s, "k", {{"x-hub-signature", "sha256=00"}}, body, now, o).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(verify_webhook(s, "k", {}, body, now, o).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(verify_webhook(s, "", {{"x-hub-signature", "sha256=00"}}, body, now, o).status().code(),
            StatusCode::kUnauthenticated);
  s.type = SourceType::kConfluence;
  EXPECT_TRUE(verify_webhook(s, "k", {{"x-ragd-webhook-secret", "k"}}, body, now, o).is_ok());
  EXPECT_FALSE(verify_webhook(s, "k", {{"x-ragd-webhook-secret", "k"}}, body, now + 301, o).is_ok());
  EXPECT_FALSE(verify_webhook(s, "k", {{"x-ragd-webhook-secret", "K"}}, body, now, o).is_ok());
  EXPECT_FALSE(verify_webhook(s, "k", {{"x-ragd-webhook-secret", "k"}}, R"({"a":1})", now, o).is_ok())
      << "no timestamp";
}

TEST(Webhook, ReplayCacheSeesAKeyOnce) {
  WebhookOptions o;
  o.replay_cache_entries = 3;
  ReplayCache c(o);
  EXPECT_TRUE(c.first_sight("a", 100));
  EXPECT_FALSE(c.first_sight("a", 101));
  EXPECT_TRUE(c.first_sight("b", 102));
  EXPECT_TRUE(c.first_sight("c", 103));
  EXPECT_TRUE(c.first_sight("d", 104));  // drops the oldest ("a")
  EXPECT_FALSE(c.first_sight("d", 105));
  EXPECT_FALSE(c.first_sight("c", 105));
}

TEST(Webhook, EventsPerVendor) {
  SourceConfig s;
  s.table = "incident";
  s.type = SourceType::kZendesk;
  auto e = parse_webhook_event(s, R"({"type":"zen:event-type:ticket.comment_added","detail":{"id":"42"}})");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->kind, WebhookEvent::Kind::kFetch);
  EXPECT_EQ(e->vendor_id, "42");
  e = parse_webhook_event(s, R"({"type":"zen:event-type:ticket.permanently_deleted","detail":{"id":"42"}})");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->kind, WebhookEvent::Kind::kDelete);
  EXPECT_EQ(e->document_id, "ZD-42");
  EXPECT_FALSE(parse_webhook_event(s, R"({"detail":{"id":"../x"}})").is_ok());
  s.type = SourceType::kJira;
  e = parse_webhook_event(s, R"({"webhookEvent":"comment_created","comment":{}})");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->kind, WebhookEvent::Kind::kIgnore);
  s.type = SourceType::kServiceNow;
  EXPECT_FALSE(parse_webhook_event(s, R"({"operation":"update","table":"problem","record":{}})").is_ok());
  EXPECT_FALSE(parse_webhook_event(s, "not json").is_ok());
  s.type = SourceType::kConfluence;
  e = parse_webhook_event(s, R"({"event":"page_removed","page":{"id":77}})");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->document_id, "confluence-77");
}

}  // namespace
}  // namespace ragd::sync

// The sync engine against fake vendor APIs on loopback, with a real RocksDB
// store: paging, cursors, retries, deletions, malformed records.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>

#include "index/store.h"
#include "sync/engine.h"
#include "tests/sync/fake_vendors.h"
#include "tests/sync/test_embedder.h"

namespace ragd::sync {
namespace {

using namespace ragd::sync::testing;

constexpr int64_t kT0 = 1717200000;  // 2024-06-01 00:00:00 UTC

json incident(int i, int64_t updated, const std::string& extra = "") {
  char sys_id[40];
  std::snprintf(sys_id, sizeof sys_id, "%032x", i * 7919);
  char number[16];
  std::snprintf(number, sizeof number, "INC%07d", i);
  return {{"sys_id", sys_id},
          {"number", number},
          {"short_description", "VPN error 809 on laptop " + std::to_string(i) + extra},
          {"description", "User cannot connect to the VPN; error 809 after the update."},
          {"close_notes", "Re-registered the L2TP IPsec NAT-T key and rebooted."},
          {"category", "network"},
          {"assignment_group", "Service Desk"},
          {"state", "Closed"},
          {"sys_created_on", sn_time(updated - 100)},
          {"sys_updated_on", sn_time(updated)}};
}

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("engine");
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
  SyncResult run(const SourceConfig& src, SyncRunOptions o = {}) {
    SyncEngine e(*store_, embedder_);
    e.sleep_override = [this](int64_t ms) {
      waits_.push_back(ms);
      return true;
    };
    return e.run(src, o);
  }
  SourceConfig source(SourceType type, const std::string& url, int page_size) {
    SourceConfig s;
    s.name = "src";
    s.type = type;
    s.url = url;
    s.page_size = page_size;
    if (type == SourceType::kServiceNow) s.table = "incident";
    if (type == SourceType::kServiceNowKb) s.table = "kb_knowledge";
    return s;
  }
  std::set<std::string> ids() {
    std::set<std::string> out;
    store_->for_each_document([&](const std::string& id) { out.insert(id); });
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  HashEmbedder embedder_;
  std::vector<int64_t> waits_;
};

TEST_F(SyncTest, ServiceNowPagesByKeysetAndResumes) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 250; ++i) sn.put(incident(i, kT0 + i / 3));  // several records per second
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  SourceConfig src = source(SourceType::kServiceNow, server.url(), 100);
  src.acl_groups = {"itsm-agents"};

  std::vector<std::optional<uint64_t>> totals;
  SyncEngine e(*store_, embedder_);
  e.on_page = [&](const SourceConfig&, const SyncCounts&, std::optional<uint64_t> total) { totals.push_back(total); };
  SyncResult r = e.run(src);
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.counts.fetched, 250u);
  EXPECT_EQ(r.counts.added, 250u);
  EXPECT_EQ(r.counts.failed, 0u);
  EXPECT_EQ(r.counts.pages, 3u);
  ASSERT_EQ(totals.size(), 3u);
  EXPECT_EQ(totals[0], 250u);  // X-Total-Count
  EXPECT_EQ(totals[1], 150u);  // what is left after the cursor
  EXPECT_EQ(ids().size(), 250u);
  auto doc = store_->get_document("INC0000007");
  ASSERT_TRUE(doc.is_ok());
  EXPECT_EQ(doc->kind, "ticket");
  EXPECT_EQ(doc->acl, std::vector<std::string>{"itsm-agents"});
  EXPECT_EQ(doc->metadata.at("sync_source"), "src");
  EXPECT_NE(doc->text.find("NAT-T"), std::string::npos);  // close_notes became the resolution
  for (const auto& t : server.targets()) {
    EXPECT_NE(t.find("sysparm_fields="), std::string::npos);
    EXPECT_NE(t.find("sysparm_limit=100"), std::string::npos);
  }

  // Nothing new: one request, nothing fetched.
  SyncResult again = run(src);
  ASSERT_TRUE(again.status.is_ok()) << again.status.to_string();
  EXPECT_EQ(again.counts.fetched, 0u);

  // Two updated, one new, and one at the same second as the cursor but a
  // later sys_id.
  sn.put(incident(5, kT0 + 1000, " (reopened)"));
  sn.put(incident(9, kT0 + 1001, " (reopened)"));
  sn.put(incident(300, kT0 + 1001));
  SyncResult delta = run(src);
  ASSERT_TRUE(delta.status.is_ok()) << delta.status.to_string();
  EXPECT_EQ(delta.counts.fetched, 3u);
  EXPECT_EQ(delta.counts.updated, 2u);
  EXPECT_EQ(delta.counts.added, 1u);
  EXPECT_NE(store_->get_document("INC0000005")->title.find("(reopened)"), std::string::npos);
  EXPECT_EQ(ids().size(), 251u);
}

TEST_F(SyncTest, RetriesHonourRetryAfterAndBackOffOn500) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 30; ++i) sn.put(incident(i, kT0 + i));
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  sn.push_fault(Response{429, {{"Retry-After", "7"}}, R"({"error":{"message":"Too many requests"}})"});
  sn.push_fault(Response{500, {}, R"({"error":{"message":"internal"}})"});
  sn.push_fault(Response{503, {{"Retry-After", "2"}}, "{}"});
  SyncResult r = run(source(SourceType::kServiceNow, server.url(), 100));
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.counts.fetched, 30u);
  EXPECT_EQ(r.counts.retries, 3u);
  ASSERT_EQ(waits_.size(), 3u);
  EXPECT_EQ(waits_[0], 7000);                       // Retry-After: 7
  EXPECT_GE(waits_[1], 500);                         // 500: backoff with jitter, second attempt
  EXPECT_LE(waits_[1], 1000);
  EXPECT_EQ(waits_[2], 2000);                       // 503 + Retry-After: 2
  EXPECT_EQ(ids().size(), 30u);
}

TEST_F(SyncTest, PersistentServerErrorsStopWithoutMovingTheCursor) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 30; ++i) sn.put(incident(i, kT0 + i));
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  SourceConfig src = source(SourceType::kServiceNow, server.url(), 10);
  SyncRunOptions one;
  one.max_pages = 1;
  ASSERT_TRUE(run(src, one).status.is_ok());
  const std::string cursor = *store_->get_state(cursor_key("src"));
  for (int i = 0; i < 10; ++i) sn.push_fault(Response{500, {}, "{}"});
  SyncResult r = run(src);
  EXPECT_EQ(r.status.code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status.message().find("HTTP 500"), std::string::npos) << r.status.message();
  EXPECT_EQ(*store_->get_state(cursor_key("src")), cursor);
  EXPECT_EQ(ids().size(), 10u);
  // Exponential: each wait's ceiling doubles.
  ASSERT_EQ(waits_.size(), 5u);
  EXPECT_LE(waits_[0], 500);
  EXPECT_GT(waits_[4], 4000);
}

TEST_F(SyncTest, UnauthorizedStopsTheSourceWithAClearError) {
  FakeServiceNow sn("incident");
  sn.put(incident(1, kT0));
  sn.expect_auth("Basic " + base64("svc_ragd:right"));
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  SourceConfig src = source(SourceType::kServiceNow, server.url(), 10);
  src.auth = AuthKind::kBasic;
  src.user = "svc_ragd";
  src.secret_env = "RAGD_SYNC_TEST_PW";
  ::setenv("RAGD_SYNC_TEST_PW", "wrong", 1);
  SyncResult bad = run(src);
  EXPECT_EQ(bad.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(bad.status.message().find("HTTP 401"), std::string::npos) << bad.status.message();
  EXPECT_EQ(bad.status.message().find("wrong"), std::string::npos);  // the secret is never in a message
  EXPECT_TRUE(waits_.empty());  // no retries
  EXPECT_TRUE(ids().empty());
  ::setenv("RAGD_SYNC_TEST_PW", "right", 1);
  SyncResult good = run(src);
  ASSERT_TRUE(good.status.is_ok()) << good.status.to_string();
  EXPECT_EQ(ids().size(), 1u);
  ::unsetenv("RAGD_SYNC_TEST_PW");
}

TEST_F(SyncTest, MalformedRecordIsReportedWithItsIdAndSkipped) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 5; ++i) sn.put(incident(i, kT0 + i));
  json bad = incident(3, kT0 + 3);
  bad["sys_updated_on"] = "yesterday";
  sn.put(bad);
  json empty = incident(4, kT0 + 4);  // no text at all: the document is rejected by ingest
  empty["short_description"] = "";
  empty["description"] = "";
  empty["close_notes"] = "";
  sn.put(empty);
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  SyncResult r = run(source(SourceType::kServiceNow, server.url(), 100));
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.counts.fetched, 5u);
  EXPECT_GE(r.counts.failed, 1u);
  bool named = false;
  for (const auto& e : r.errors) named |= e.find("INC0000003") != std::string::npos;
  EXPECT_TRUE(named) << ::testing::PrintToString(r.errors);
  EXPECT_TRUE(ids().count("INC0000001"));
  EXPECT_TRUE(ids().count("INC0000005"));
  EXPECT_FALSE(ids().count("INC0000003"));
}

TEST_F(SyncTest, RetiredKnowledgeArticleLeavesTheIndex) {
  FakeServiceNow kb("kb_knowledge");
  auto article = [](int i, int64_t t, const std::string& state) {
    char sys_id[40];
    std::snprintf(sys_id, sizeof sys_id, "%032x", 1000 + i);
    return json{{"sys_id", sys_id},
                {"number", "KB00" + std::to_string(10 + i)},
                {"short_description", "Reset a forgotten password " + std::to_string(i)},
                {"text", "<h2>Steps</h2><p>Open the self-service portal and choose <b>Forgot password</b>.</p>"},
                {"workflow_state", state},
                {"kb_category", i == 2 ? "Security policy" : "How-to"},
                {"sys_created_on", sn_time(t - 10)},
                {"sys_updated_on", sn_time(t)}};
  };
  kb.put(article(1, kT0, "published"));
  kb.put(article(2, kT0 + 1, "published"));
  kb.put(article(3, kT0 + 2, "draft"));
  LoopbackServer server([&](const Request& r) { return kb.handle(r); });
  SourceConfig src = source(SourceType::kServiceNowKb, server.url(), 10);
  SyncResult r = run(src);
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(ids(), (std::set<std::string>{"KB0011", "KB0012"}));
  auto doc = store_->get_document("KB0011");
  ASSERT_TRUE(doc.is_ok());
  EXPECT_EQ(doc->kind, "runbook");
  EXPECT_EQ(doc->metadata.at("workflow_state"), "published");
  EXPECT_NE(doc->text.find("Forgot password"), std::string::npos);
  EXPECT_EQ(store_->get_document("KB0012")->kind, "policy");

  kb.put(article(1, kT0 + 50, "retired"));
  SyncResult r2 = run(src);
  ASSERT_TRUE(r2.status.is_ok()) << r2.status.to_string();
  EXPECT_EQ(r2.counts.deleted, 1u);
  EXPECT_EQ(ids(), (std::set<std::string>{"KB0012"}));
}

TEST_F(SyncTest, ZendeskCursorExportUntilEndOfStreamWithDeletions) {
  FakeZendesk zd;
  for (int i = 1; i <= 45; ++i) zd.put(i, kT0 + i, "Printer jams on floor " + std::to_string(i), "solved");
  json broken = {{"id", 999}, {"subject", {{"nested", true}}}, {"status", "open"}};  // subject is not text
  zd.put_raw(broken);
  LoopbackServer server([&](const Request& r) { return zd.handle(r); });
  SourceConfig src = source(SourceType::kZendesk, server.url(), 20);
  SyncResult r = run(src);
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.counts.fetched, 46u);
  EXPECT_EQ(r.counts.pages, 3u);  // 20 + 20 + 6, end_of_stream on the last
  EXPECT_EQ(r.counts.added, 45u);
  EXPECT_EQ(ids().size(), 45u);
  EXPECT_TRUE(ids().count("ZD-7"));
  ASSERT_EQ(r.counts.failed, 1u);
  EXPECT_NE(r.errors.at(0).find("ZD-999"), std::string::npos) << r.errors.at(0);

  zd.put(7, kT0 + 100, "Printer jams on floor 7", "deleted");
  zd.put(8, kT0 + 101, "Printer jams on floor 8 (again)", "open");
  SyncResult r2 = run(src);
  ASSERT_TRUE(r2.status.is_ok()) << r2.status.to_string();
  EXPECT_EQ(r2.counts.fetched, 2u);  // resumed from after_cursor
  EXPECT_EQ(r2.counts.deleted, 1u);
  EXPECT_EQ(r2.counts.updated, 1u);
  EXPECT_FALSE(ids().count("ZD-7"));
  auto targets = server.targets();
  ASSERT_EQ(targets.size(), 4u);  // 3 pages, then 1 for the changes
  EXPECT_NE(targets[0].find("start_time=0"), std::string::npos);
  for (size_t i = 1; i < targets.size(); ++i) EXPECT_NE(targets[i].find("cursor=c"), std::string::npos) << targets[i];
}

TEST_F(SyncTest, JiraNextPageTokenAndAdf) {
  FakeJira jira;
  for (int i = 1; i <= 25; ++i) {
    jira.put("IT-" + std::to_string(i), kT0 + i * 30, "Outlook keeps asking for password " + std::to_string(i),
             "Clear the cached credentials in Credential Manager.");
  }
  LoopbackServer server([&](const Request& r) { return jira.handle(r); });
  SourceConfig src = source(SourceType::kJira, server.url(), 10);
  SyncResult r = run(src);
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.counts.fetched, 25u);
  EXPECT_EQ(r.counts.pages, 3u);
  EXPECT_EQ(ids().size(), 25u);
  auto doc = store_->get_document("IT-3");
  ASSERT_TRUE(doc.is_ok());
  EXPECT_NE(doc->text.find("Credential Manager"), std::string::npos);
  bool token_used = false;
  for (const auto& t : server.targets()) token_used |= t.find("nextPageToken=p10") != std::string::npos;
  EXPECT_TRUE(token_used);

  // The next pass starts at the newest update's minute: only that minute
  // again (unchanged) and the new change.
  jira.put("IT-2", kT0 + 2000, "Outlook keeps asking for password (Teams too)", "Reset the token broker.");
  SyncResult r2 = run(src);
  ASSERT_TRUE(r2.status.is_ok()) << r2.status.to_string();
  EXPECT_EQ(r2.counts.updated, 1u);
  EXPECT_LE(r2.counts.fetched, 4u);
  EXPECT_NE(store_->get_document("IT-2")->text.find("token broker"), std::string::npos);

  // Pruning: a full pass removes what the source no longer lists.
  jira.erase("IT-4");
  SyncRunOptions full;
  full.full = true;
  SyncResult r3 = run(src, full);
  ASSERT_TRUE(r3.status.is_ok()) << r3.status.to_string();
  EXPECT_EQ(r3.counts.deleted, 1u);
  EXPECT_EQ(r3.counts.unchanged, 24u);
  EXPECT_FALSE(ids().count("IT-4"));
}

TEST_F(SyncTest, ConfluenceCqlPagingWithLabels) {
  FakeConfluence conf;
  for (int i = 1; i <= 12; ++i) {
    conf.put(std::to_string(500 + i), kT0 + i * 60, "Runbook: restart the print spooler " + std::to_string(i),
             "<h1>Symptoms</h1><p>Jobs stuck.</p><h1>Fix</h1><ol><li>Stop the spooler</li><li>Clear the queue</li></ol>",
             i == 1 ? std::vector<std::string>{"policy", "printing"} : std::vector<std::string>{"printing"});
  }
  LoopbackServer server([&](const Request& r) { return conf.handle(r); });
  SourceConfig src = source(SourceType::kConfluence, server.url(), 5);
  SyncResult r = run(src);
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.counts.fetched, 12u);
  EXPECT_EQ(r.counts.pages, 3u);
  auto doc = store_->get_document("confluence-505");
  ASSERT_TRUE(doc.is_ok());
  EXPECT_EQ(doc->kind, "runbook");
  EXPECT_EQ(doc->metadata.at("labels"), "printing");
  EXPECT_NE(doc->text.find("Clear the queue"), std::string::npos);
  EXPECT_EQ(doc->url, server.url() + "/spaces/OPS/pages/505");
  EXPECT_EQ(store_->get_document("confluence-501")->kind, "policy");
}

// Pruning by id-only listing (SyncEngine::prune), per vendor: records gone
// at the source without a deleted marker leave the store; nothing else does.
class PruneTest : public SyncTest {
 protected:
  SyncResult prune(const SourceConfig& src) {
    SyncEngine e(*store_, embedder_);
    e.sleep_override = [](int64_t) { return true; };
    return e.prune(src);
  }
  // A document of another source with an id the listing never has.
  void add_foreign_document() {
    Document d;
    d.id = "OTHER-1";
    d.title = "VPN runbook";
    d.text = "Reinstall the VPN client.";
    d.metadata["sync_source"] = "another-source";
    Chunk c;
    c.id = "OTHER-1#0";
    c.doc_id = d.id;
    c.text = d.text;
    std::vector<float> v(static_cast<size_t>(embedder_.dim()), 0.5f);
    ASSERT_TRUE(store_->bind_encoder(embedder_.fingerprint(), embedder_.dim()).is_ok());
    auto r = store_->upsert(d, std::span<const Chunk>(&c, 1), v);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  // Syncs, then prunes after the test removed `gone` at the source.
  void expect_prune(const SourceConfig& src, LoopbackServer& server, size_t total,
                    const std::function<void()>& remove_at_source, const std::vector<std::string>& gone,
                    const std::string& listing_marker) {
    add_foreign_document();
    SyncResult r = run(src);
    ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
    ASSERT_EQ(ids().size(), total + 1);
    remove_at_source();
    const size_t before = server.targets().size();
    SyncResult p = prune(src);
    ASSERT_TRUE(p.status.is_ok()) << p.status.to_string();
    EXPECT_EQ(p.counts.fetched, total - gone.size());
    EXPECT_GE(p.counts.pages, 2u);  // the listing pages too
    EXPECT_EQ(p.counts.deleted, gone.size());
    const auto now = ids();
    EXPECT_EQ(now.size(), total + 1 - gone.size());
    for (const auto& id : gone) EXPECT_FALSE(now.count(id)) << id;
    EXPECT_TRUE(now.count("OTHER-1"));  // another source's document stays
    const auto targets = server.targets();
    ASSERT_GT(targets.size(), before);
    for (size_t i = before; i < targets.size(); ++i) {
      EXPECT_NE(targets[i].find(listing_marker), std::string::npos) << targets[i];
    }
    auto when = store_->get_state(prune_key(src.name));
    ASSERT_TRUE(when.is_ok());
    EXPECT_FALSE(when->empty());
    // Nothing more to remove: a second prune deletes nothing.
    SyncResult again = prune(src);
    ASSERT_TRUE(again.status.is_ok()) << again.status.to_string();
    EXPECT_EQ(again.counts.deleted, 0u);
  }
};

TEST_F(PruneTest, ServiceNowListsSysIdsAndNumbersOnly) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 30; ++i) sn.put(incident(i, kT0 + i));
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  const SourceConfig src = source(SourceType::kServiceNow, server.url(), 8);
  auto sys_id = [](int i) {
    char b[40];
    std::snprintf(b, sizeof b, "%032x", i * 7919);
    return std::string(b);
  };
  expect_prune(src, server, 30, [&] { sn.erase(sys_id(3)); sn.erase(sys_id(17)); }, {"INC0000003", "INC0000017"},
               "sysparm_fields=sys_id%2Cnumber");
}

TEST_F(PruneTest, JiraListsKeysInKeyOrder) {
  FakeJira jira;
  for (int i = 1; i <= 23; ++i) jira.put("IT-" + std::to_string(i), kT0 + i * 60, "Printer " + std::to_string(i), "Restart it.");
  LoopbackServer server([&](const Request& r) { return jira.handle(r); });
  const SourceConfig src = source(SourceType::kJira, server.url(), 10);
  expect_prune(src, server, 23, [&] { jira.erase("IT-9"); }, {"IT-9"}, "fields=id");
}

TEST_F(PruneTest, ZendeskListsTicketsWithCursorPagination) {
  FakeZendesk zd;
  for (int i = 1; i <= 25; ++i) zd.put(i, kT0 + i, "Badge reader offline " + std::to_string(i), "solved");
  LoopbackServer server([&](const Request& r) { return zd.handle(r); });
  const SourceConfig src = source(SourceType::kZendesk, server.url(), 10);
  expect_prune(src, server, 25, [&] { zd.purge(4); zd.purge(20); }, {"ZD-4", "ZD-20"}, "/api/v2/tickets.json?page");
}

TEST_F(PruneTest, ConfluenceListsPagesWithoutBodies) {
  FakeConfluence conf;
  for (int i = 1; i <= 12; ++i) {
    conf.put(std::to_string(700 + i), kT0 + i * 60, "Runbook " + std::to_string(i), "<p>Restart the agent.</p>", {});
  }
  LoopbackServer server([&](const Request& r) { return conf.handle(r); });
  const SourceConfig src = source(SourceType::kConfluence, server.url(), 5);
  expect_prune(src, server, 12, [&] { conf.erase("705"); }, {"confluence-705"}, "order%20by%20created%20asc");
}

TEST_F(PruneTest, RefusesToRemoveMoreThanTheMaxFraction) {
  FakeJira jira;
  for (int i = 1; i <= 10; ++i) jira.put("IT-" + std::to_string(i), kT0 + i * 60, "Disk full " + std::to_string(i), "Clean up.");
  LoopbackServer server([&](const Request& r) { return jira.handle(r); });
  SourceConfig src = source(SourceType::kJira, server.url(), 4);
  ASSERT_TRUE(run(src).status.is_ok());
  for (int i = 1; i <= 6; ++i) jira.erase("IT-" + std::to_string(i));  // 6 of 10 > 0.5
  SyncResult p = prune(src);
  EXPECT_EQ(p.status.code(), StatusCode::kFailedPrecondition) << p.status.to_string();
  EXPECT_NE(p.status.message().find("6 of the 10"), std::string::npos) << p.status.message();
  EXPECT_EQ(ids().size(), 10u);  // nothing removed
  src.prune_max_fraction = 0.7;
  SyncResult p2 = prune(src);
  ASSERT_TRUE(p2.status.is_ok()) << p2.status.to_string();
  EXPECT_EQ(p2.counts.deleted, 6u);
  EXPECT_EQ(ids().size(), 4u);
}

TEST_F(PruneTest, AFailedListingRemovesNothing) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 20; ++i) sn.put(incident(i, kT0 + i));
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  const SourceConfig src = source(SourceType::kServiceNow, server.url(), 5);
  ASSERT_TRUE(run(src).status.is_ok());
  for (int i = 1; i <= 15; ++i) {
    char b[40];
    std::snprintf(b, sizeof b, "%032x", i * 7919);
    sn.erase(b);
  }
  // A 401 on the listing (the account lost its rights, or its view of the
  // table shrank): the 5 records it could show must not be taken as the
  // whole source.
  SourceConfig loose = src;
  loose.prune_max_fraction = 1.0;
  sn.push_fault(Response{401, {}, R"({"error":"unauthorized"})"});
  SyncResult p = prune(loose);
  EXPECT_EQ(p.status.code(), StatusCode::kFailedPrecondition) << p.status.to_string();
  EXPECT_NE(p.status.message().find("unauthorized"), std::string::npos) << p.status.message();
  EXPECT_NE(p.status.message().find("nothing removed"), std::string::npos) << p.status.message();
  EXPECT_EQ(ids().size(), 20u);
  auto when = store_->get_state(prune_key(src.name));
  ASSERT_TRUE(when.is_ok());
  EXPECT_TRUE(when->empty());  // no prune has finished
}

}  // namespace
}  // namespace ragd::sync

namespace ragd::sync {
namespace {

using namespace ragd::sync::testing;

// A purged document (govern/retention.h: removed, and a tombstone state
// key) is not brought back by later syncs, even when the vendor updates it.
TEST_F(SyncTest, TombstonedDocumentIsNotSyncedBack) {
  FakeServiceNow sn("incident");
  for (int i = 1; i <= 3; ++i) sn.put(incident(i, kT0 + i));
  LoopbackServer server([&](const Request& r) { return sn.handle(r); });
  SourceConfig src = source(SourceType::kServiceNow, server.url(), 10);
  ASSERT_TRUE(run(src).status.is_ok());
  ASSERT_EQ(ids().size(), 3u);
  ASSERT_TRUE(store_->remove("INC0000002").is_ok());
  ASSERT_TRUE(store_->put_state(std::string(kTombstonePrefix) + "INC0000002", "{}").is_ok());
  sn.put(incident(2, kT0 + 100, " (reopened)"));
  sn.put(incident(3, kT0 + 101, " (reopened)"));
  SyncResult r = run(src);
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.counts.tombstoned, 1u);
  EXPECT_EQ(r.counts.updated, 1u);
  EXPECT_EQ(ids(), (std::set<std::string>{"INC0000001", "INC0000003"}));
  // A full pass too.
  SyncRunOptions full;
  full.full = true;
  SyncResult f = run(src, full);
  ASSERT_TRUE(f.status.is_ok()) << f.status.to_string();
  EXPECT_EQ(f.counts.tombstoned, 1u);
  EXPECT_FALSE(store_->get_document("INC0000002").is_ok());
}

}  // namespace
}  // namespace ragd::sync

// Retention and purge: [[retention]] tables and their errors, the audit
// log's pruning (a running AuditLog follows the rewritten file), and over
// the real `ragd serve` / CLI: POST /v1/purge everywhere removes a document
// from every collection's store, indexes and searches and leaves the
// tombstone; `ragd purge --everywhere` and `ragd retention` on the store.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "generate/audit_log.h"
#include "govern/retention.h"
#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

TEST(Retention, RulesAndTheirErrors) {
  auto rules = govern::parse_retention_rules(
      "[[retention]]\nsource = \"zendesk\"\nmax_age_days = 30\n\n"
      "[[retention]]\nkind = \"ticket\"\nmax_age_days = 365\n",
      "ragd.toml");
  ASSERT_TRUE(rules.is_ok()) << rules.status().to_string();
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].source, "zendesk");
  EXPECT_EQ((*rules)[0].max_age_days, 30);
  EXPECT_EQ((*rules)[1].kind, "ticket");
  EXPECT_EQ((*rules)[1].line, 5);
  EXPECT_EQ((*rules)[1].collection, "");
  // A rule may name its collection; the others apply to every collection.
  auto scoped = govern::parse_retention_rules(
      "[[retention]]\ncollection = \"hr\"\nmax_age_days = 7\n\n[[retention]]\nmax_age_days = 365\n", "ragd.toml");
  ASSERT_TRUE(scoped.is_ok()) << scoped.status().to_string();
  ASSERT_EQ(govern::rules_for_collection(*scoped, "hr").size(), 2u);
  ASSERT_EQ(govern::rules_for_collection(*scoped, "default").size(), 1u);
  EXPECT_EQ(govern::rules_for_collection(*scoped, "default")[0].max_age_days, 365);
  for (const auto& [toml, expect] : std::vector<std::pair<std::string, std::string>>{
           {"[[retention]]\nkind = \"ticket\"\n", "ragd.toml:1: [[retention]] needs max_age_days"},
           {"[[retention]]\nmax_age_days = 0\n", "ragd.toml:2: max_age_days must be a whole number"},
           {"[[retention]]\nmax_age_days = 3\nwhen = 1\n", "ragd.toml:3: unknown key 'when'"},
           {"[[retention]]\nmax_age_days = 3\ncollection = \"\"\n", "ragd.toml:3: collection must be"},
           {"[[retention]]\nmax_age_days = 3\ncollection = \"../hr\"\n", "ragd.toml:3: collection must be"}}) {
    auto r = govern::parse_retention_rules(toml, "ragd.toml");
    ASSERT_FALSE(r.is_ok()) << toml;
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
  }
}

TEST(Retention, AuditLogPruneAndAWriterThatFollows) {
  TempDir dir("audit-prune");
  const fs::path path = dir.path / "audit.jsonl";
  auto log = AuditLog::open(path, {});
  ASSERT_TRUE(log.is_ok());
  const int64_t day = 86400LL * 1000;
  const int64_t now = 1'800'000'000'000LL;
  for (int i = 0; i < 10; ++i) {
    AuditRecord r;
    r.request_id = "r" + std::to_string(i);
    r.time_ms = now - (10 - i) * day;  // 10 .. 1 days old
    ASSERT_TRUE((*log)->append(r).is_ok());
  }
  auto pruned = govern::prune_audit_log(path, now - 5 * day);  // keep 5 days and younger
  ASSERT_TRUE(pruned.is_ok()) << pruned.status().to_string();
  EXPECT_EQ(pruned->dropped, 5u);
  EXPECT_EQ(pruned->kept, 5u);
  AuditRecord late;
  late.request_id = "after-prune";
  late.time_ms = now;
  ASSERT_TRUE((*log)->append(late).is_ok());
  auto all = query_audit_log(path, {});
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ(all->front().request_id, "r5");
  EXPECT_EQ(all->back().request_id, "after-prune");
  auto none = govern::prune_audit_log(dir.path / "missing.jsonl", now);
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(none->kept + none->dropped, 0u);
}

std::string docs_json(int64_t now) {
  Json docs = Json::array();
  docs.push_back(Json{{"id", "INC-OLD"}, {"title", "Old ticket"}, {"kind", "ticket"}, {"source", "zendesk"},
                      {"text", "The printer spooler hung and was restarted."}, {"updated_at", now - 400 * 86400}});
  docs.push_back(Json{{"id", "INC-NEW"}, {"title", "New ticket"}, {"kind", "ticket"}, {"source", "zendesk"},
                      {"text", "The printer spooler hung again and was restarted."}, {"updated_at", now - 86400}});
  docs.push_back(Json{{"id", "kb/printer.md"}, {"title", "Printer runbook"}, {"kind", "runbook"},
                      {"text", "To fix the printer restart the spooler service."}, {"updated_at", now - 900 * 86400}});
  return Json{{"documents", docs}}.dump();
}

TEST(PurgeHttp, EverywhereAndRetention) {
  TempDir dir("purge");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, {"the printer spooler hung and was restarted again to fix restart service old new ticket"});
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  {
    ServerProcess server(data, glove);
    ASSERT_TRUE(server.start()) << server.log();
    const uint16_t port = server.port();
    ASSERT_EQ(http_post(port, "/v1/collections", R"({"name":"kb2"})").status, 201);
    for (const std::string prefix : {"/v1", "/v1/collections/kb2"}) {
      ASSERT_EQ(http_post(port, prefix + "/documents", docs_json(now)).status, 200);
    }
    auto hits_of = [&](const std::string& prefix) {
      HttpResult r = http_post(port, prefix + "/search", R"({"query":"printer spooler hung","k":10})");
      EXPECT_EQ(r.status, 200) << r.body;
      return r.body;
    };
    ASSERT_NE(hits_of("/v1").find("INC-NEW"), std::string::npos);
    HttpResult p = http_post(port, "/v1/purge", R"({"doc_id":"INC-NEW","everywhere":true})");
    ASSERT_EQ(p.status, 200) << p.body;
    Json pj = Json::parse(p.body);
    ASSERT_EQ(pj["collections"].size(), 2u) << p.body;
    for (const auto& c : pj["collections"]) {
      EXPECT_TRUE(c["removed"].get<bool>()) << p.body;
      EXPECT_TRUE(c["tombstoned"].get<bool>());
    }
    for (const std::string prefix : {"/v1", "/v1/collections/kb2"}) {
      EXPECT_EQ(hits_of(prefix).find("INC-NEW"), std::string::npos) << prefix;
      EXPECT_NE(hits_of(prefix).find("INC-OLD"), std::string::npos) << prefix;
      EXPECT_EQ(http_get(port, prefix + "/documents/INC-NEW").status, 404);
    }
    EXPECT_EQ(http_post(port, "/v1/purge", R"({"everywhere":true})").status, 400);
    EXPECT_EQ(http_post(port, "/v1/purge", R"({"doc_id":"x","everywhere":"yes"})").status, 400);
    ASSERT_EQ(server.stop(), 0);
  }
  std::string out;
  // The CLI: everywhere, then retention from the config file.
  ASSERT_EQ(run_ragd({"purge", "--doc", "kb/printer.md", "--everywhere", "--data", data.string()}, &out), 0) << out;
  EXPECT_NE(out.find("purged kb/printer.md from 2 of 2 store(s)"), std::string::npos) << out;
  // A table naming a collection applies there only; one without applies to
  // every collection.
  const fs::path config = dir.path / "ragd.toml";
  write_file(config,
             "[[retention]]\nsource = \"zendesk\"\nkind = \"ticket\"\ncollection = \"kb2\"\nmax_age_days = 365\n");
  ASSERT_EQ(run_ragd({"retention", "--dry-run", "--config", config.string(), "--data", data.string()}, &out), 0) << out;
  EXPECT_NE(out.find("kb2: would delete INC-OLD"), std::string::npos) << out;
  EXPECT_EQ(out.find("default: would delete"), std::string::npos) << out;
  write_file(config, "[[retention]]\nsource = \"zendesk\"\nkind = \"ticket\"\nmax_age_days = 365\n");
  ASSERT_EQ(run_ragd({"retention", "--dry-run", "--config", config.string(), "--data", data.string()}, &out), 0) << out;
  EXPECT_NE(out.find("default: would delete INC-OLD"), std::string::npos) << out;
  EXPECT_NE(out.find("kb2: would delete INC-OLD"), std::string::npos) << out;
  ASSERT_EQ(run_ragd({"retention", "--config", config.string(), "--data", data.string()}, &out), 0) << out;
  EXPECT_NE(out.find("default: deleted INC-OLD"), std::string::npos) << out;
  EXPECT_NE(out.find("kb2: deleted INC-OLD"), std::string::npos) << out;
  EXPECT_NE(out.find("in 2 store(s), 2 deleted"), std::string::npos) << out;
  for (const fs::path& store : {data, data / "collections" / "kb2"}) {
    ASSERT_EQ(run_ragd({"stats", "--json", "--data", store.string()}, &out), 0) << out;
    EXPECT_NE(out.find("\"documents\": 0"), std::string::npos) << store << out;
  }
}

// Whether any file under `dir` holds `needle` (as `grep -r` would find it).
std::vector<fs::path> files_holding(const fs::path& dir, const std::string& needle) {
  std::vector<fs::path> out;
  for (const auto& p : list_files(dir))
    if (read_file(p).find(needle) != std::string::npos) out.push_back(p);
  return out;
}

TEST(PurgeFiles, DeletedBytesLeaveTheDataDirectory) {
  TempDir dir("purge-files");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  const std::string secret = "Quokkazebra seventeen lives at 4711 Wombat Lane";
  make_tiny_glove(glove, {secret + " the printer spooler hung and was restarted"});
  {
    ServerProcess server(data, glove);
    ASSERT_TRUE(server.start()) << server.log();
    const uint16_t port = server.port();
    ASSERT_EQ(http_post(port, "/v1/collections", R"({"name":"kb2"})").status, 201);
    Json docs = Json::array();
    docs.push_back(Json{{"id", "SECRET-1"}, {"title", "Private"}, {"text", secret + "."}});
    for (int i = 0; i < 20; ++i) {
      docs.push_back(Json{{"id", "other-" + std::to_string(i)}, {"title", "Printer"},
                          {"text", "The printer spooler hung and was restarted, case " + std::to_string(i) + "."}});
    }
    for (const std::string prefix : {"/v1", "/v1/collections/kb2"}) {
      ASSERT_EQ(http_post(port, prefix + "/documents", Json{{"documents", docs}}.dump()).status, 200);
    }
    ASSERT_EQ(server.stop(), 0);
  }
  // The test can fail: the text is on disk (SST files of both stores).
  ASSERT_GE(files_holding(data, "Quokkazebra").size(), 2u);
  std::string out;
  ASSERT_EQ(run_ragd({"purge", "--doc", "SECRET-1", "--everywhere", "--data", data.string()}, &out), 0) << out;
  EXPECT_NE(out.find("purged SECRET-1 from 2 of 2 store(s)"), std::string::npos) << out;
  for (const auto& p : files_holding(data, "Quokkazebra")) ADD_FAILURE() << "still in " << p;
  for (const auto& p : files_holding(data, "Wombat")) ADD_FAILURE() << "still in " << p;
  // The other documents are intact.
  ASSERT_EQ(run_ragd({"stats", "--json", "--data", data.string()}, &out), 0) << out;
  EXPECT_NE(out.find("\"documents\": 20"), std::string::npos) << out;
}

TEST(RetentionSchedule, ServeAppliesTheTablesOnItsInterval) {
  TempDir dir("retention-schedule");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, {"the printer spooler hung and was restarted again to fix restart service old new ticket"});
  const fs::path config = dir.path / "ragd.toml";
  write_file(config, "[[retention]]\nsource = \"zendesk\"\nkind = \"ticket\"\nmax_age_days = 365\n");
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  ServerProcess server(data, glove, {"--config", config.string(), "--retention-interval", "1s"});
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  // The default collection and another one: the table names neither, so it
  // applies to both.
  ASSERT_EQ(http_post(port, "/v1/collections", R"({"name":"kb2"})").status, 201);
  for (const std::string prefix : {"/v1", "/v1/collections/kb2"}) {
    ASSERT_EQ(http_post(port, prefix + "/documents", docs_json(now)).status, 200);
  }
  for (int i = 0; i < 300; ++i) {
    if (http_get(port, "/v1/documents/INC-OLD").status == 404 &&
        http_get(port, "/v1/collections/kb2/documents/INC-OLD").status == 404) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const std::string prefix : {"/v1", "/v1/collections/kb2"}) {
    EXPECT_EQ(http_get(port, prefix + "/documents/INC-OLD").status, 404) << prefix;
    EXPECT_EQ(http_get(port, prefix + "/documents/INC-NEW").status, 200) << prefix;
    EXPECT_EQ(http_get(port, prefix + "/documents/kb%2Fprinter.md").status, 200) << prefix;  // a runbook: no rule
  }
  // The counter and the job's run count move after the removals are
  // visible, when the pass ends: wait for them.
  std::string metrics;
  Json stats;
  for (int i = 0; i < 200; ++i) {
    metrics = http_get(port, "/metrics").body;
    stats = Json::parse(http_get(port, "/v1/stats").body);
    if (metrics.find("ragd_retention_deleted_documents 2") != std::string::npos &&
        stats["retention"]["runs"].get<uint64_t>() >= 1) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(metrics.find("ragd_retention_deleted_documents 2"), std::string::npos) << metrics;
  EXPECT_GE(stats["retention"]["runs"].get<uint64_t>(), 1u) << stats.dump();
  EXPECT_EQ(stats["retention"]["interval_seconds"], 1);
  EXPECT_TRUE(stats["retention"]["last_error"].is_null()) << stats.dump();
  EXPECT_TRUE(stats["evals"].is_object());
  EXPECT_NE(metrics.find("ragd_job_runs{job=\"retention\"}"), std::string::npos);
  // On request too (202, or 409 when the scheduled pass is running).
  const int st = http_post(port, "/v1/retention/run", "").status;
  EXPECT_TRUE(st == 202 || st == 409) << st;
  ASSERT_EQ(server.stop(), 0);
  // A bad interval stops the start with a clear error.
  ServerProcess bad(data, glove, {"--config", config.string(), "--retention-interval", "soon"});
  EXPECT_FALSE(bad.start(30));
  EXPECT_NE(bad.log().find("--retention-interval must look like"), std::string::npos) << bad.log();
}

}  // namespace
}  // namespace ragd::test

// `ragd serve` with [[source]] tables, end to end over loopback: the
// background scheduler, GET /v1/sources, POST /v1/sources/{name}/sync,
// /metrics, and the signed webhooks of each vendor (valid, tampered body,
// wrong secret, replayed, too old), against the fake vendors. Signatures are
// computed here with OpenSSL directly, not with ragd's helpers.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <fstream>

#include "tests/api/test_support.h"
#include "tests/sync/fake_vendors.h"

namespace ragd::sync {
namespace {

namespace st = ragd::sync::testing;
namespace at = ragd::test;
using json = nlohmann::json;

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string hex(const std::string& bytes) {
  std::string out;
  char b[3];
  for (unsigned char c : bytes) {
    std::snprintf(b, sizeof b, "%02x", c);
    out += b;
  }
  return out;
}

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }

std::string zendesk_time(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json incident(const std::string& n, const std::string& text, int64_t t) {
  return {{"sys_id", "a1b2c3" + n},
          {"number", "INC000" + n},
          {"short_description", text},
          {"description", "Users cannot reach the share."},
          {"close_notes", "Restarted the file service."},
          {"state", "Closed"},
          {"sys_created_on", st::sn_time(t - 100)},
          {"sys_updated_on", st::sn_time(t)}};
}

class ServeSync : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new at::TempDir("servesync");
    sn_ = new st::FakeServiceNow("incident");
    jira_ = new st::FakeJira();
    zd_ = new st::FakeZendesk();
    cf_ = new st::FakeConfluence();
    const int64_t t = now_s() - 3600;
    sn_->put(incident("1", "File share unreachable from branch office", t));
    jira_->put("OPS-1", t, "Printer queue stuck", "The spooler hangs after a driver update.");
    zd_->put(7, t, "Password reset link expired");
    cf_->put("1001", t, "VPN runbook", "<p>Reconnect the VPN client and renew the certificate.</p>", {"vpn"});
    sn_srv_ = new st::LoopbackServer([](const st::Request& r) { return sn_->handle(r); });
    jira_srv_ = new st::LoopbackServer([](const st::Request& r) { return jira_->handle(r); });
    zd_srv_ = new st::LoopbackServer([](const st::Request& r) { return zd_->handle(r); });
    cf_srv_ = new st::LoopbackServer([](const st::Request& r) { return cf_->handle(r); });

    const auto glove = dir_->path / "glove.bin";
    at::make_tiny_glove(glove, {"file share unreachable branch office users cannot reach restarted service printer "
                                "queue stuck spooler hangs driver update password reset link expired vpn runbook "
                                "reconnect client renew certificate mailbox quota badge reader offline"});
    const auto config = dir_->path / "ragd.toml";
    std::ofstream out(config);
    auto source = [&](const char* name, const char* type, const std::string& url, const char* hook,
                      const char* table = nullptr) {
      out << "[[source]]\nname = \"" << name << "\"\ntype = \"" << type << "\"\nurl = \"" << url
          << "\"\ninterval = \"1h\"\n";
      if (table != nullptr) out << "table = \"" << table << "\"\n";
      if (hook != nullptr) out << "webhook_secret_env = \"" << hook << "\"\n";
      out << "\n";
    };
    source("sn", "servicenow", sn_srv_->url(), "RAGD_TEST_SN_HOOK");
    source("jira", "jira", jira_srv_->url(), "RAGD_TEST_JIRA_HOOK");
    source("zd", "zendesk", zd_srv_->url(), "RAGD_TEST_ZD_HOOK");
    source("cf", "confluence", cf_srv_->url(), "RAGD_TEST_CF_HOOK");
    // No webhook secret, and a table the fake does not have: its passes fail.
    source("nohook", "servicenow", sn_srv_->url(), nullptr, "problem");
    out.close();
    setenv("RAGD_TEST_SN_HOOK", "sn-secret", 1);
    setenv("RAGD_TEST_JIRA_HOOK", "jira-secret", 1);
    setenv("RAGD_TEST_ZD_HOOK", "zd-secret", 1);
    setenv("RAGD_TEST_CF_HOOK", "cf-secret", 1);
    server_ = new at::ServerProcess(dir_->path / "data", glove, {"--config", config.string()});
    ASSERT_TRUE(server_->start()) << server_->log();
    // The first passes run at start.
    for (int i = 0; i < 600 && !first_passes_done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(first_passes_done()) << at::http_get(server_->port(), "/v1/sources").body;
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
    delete server_;
    delete sn_srv_;
    delete jira_srv_;
    delete zd_srv_;
    delete cf_srv_;
    delete sn_;
    delete jira_;
    delete zd_;
    delete cf_;
    delete dir_;
  }

  static json sources() { return json::parse(at::http_get(server_->port(), "/v1/sources").body); }
  static const json* source(const json& all, const std::string& name) {
    for (const json& s : all["sources"]) {
      if (s["name"] == name) return &s;
    }
    return nullptr;
  }
  static bool first_passes_done() {
    json all = json::parse(at::http_get(server_->port(), "/v1/sources").body, nullptr, false);
    if (!all.is_object()) return false;
    for (const json& s : all["sources"]) {
      if (s["passes"].get<int>() < 1) return false;
    }
    return true;
  }
  // The stored document's title, "" when it is not stored.
  static std::string title(const std::string& id) {
    auto r = at::http_get(server_->port(), "/v1/documents/" + id);
    if (r.status != 200) return "";
    return json::parse(r.body).value("title", "");
  }
  static at::HttpResult hook(const std::string& name, const std::string& body, const std::vector<std::string>& headers) {
    return at::http_request(server_->port(), "POST", "/v1/webhooks/" + name, body, "application/json", headers);
  }

  static at::TempDir* dir_;
  static st::FakeServiceNow* sn_;
  static st::FakeJira* jira_;
  static st::FakeZendesk* zd_;
  static st::FakeConfluence* cf_;
  static st::LoopbackServer *sn_srv_, *jira_srv_, *zd_srv_, *cf_srv_;
  static at::ServerProcess* server_;
};

at::TempDir* ServeSync::dir_ = nullptr;
st::FakeServiceNow* ServeSync::sn_ = nullptr;
st::FakeJira* ServeSync::jira_ = nullptr;
st::FakeZendesk* ServeSync::zd_ = nullptr;
st::FakeConfluence* ServeSync::cf_ = nullptr;
st::LoopbackServer* ServeSync::sn_srv_ = nullptr;
st::LoopbackServer* ServeSync::jira_srv_ = nullptr;
st::LoopbackServer* ServeSync::zd_srv_ = nullptr;
st::LoopbackServer* ServeSync::cf_srv_ = nullptr;
at::ServerProcess* ServeSync::server_ = nullptr;

TEST_F(ServeSync, BackgroundPassesShowInSourcesAndMetrics) {
  json all = sources();
  ASSERT_EQ(all["sources"].size(), 5u);
  const json* sn = source(all, "sn");
  ASSERT_NE(sn, nullptr);
  EXPECT_EQ(sn->at("type"), "servicenow");
  EXPECT_TRUE(sn->at("webhook").get<bool>());
  EXPECT_FALSE(source(all, "nohook")->at("webhook").get<bool>());
  EXPECT_TRUE(source(all, "nohook")->at("last_pass").at("error").is_string()) << all.dump();
  EXPECT_TRUE(sn->at("last_pass").at("error").is_null()) << sn->dump();
  EXPECT_GE(sn->at("totals").at("fetched").get<int>(), 1);
  EXPECT_FALSE(sn->at("cursor").is_null());
  EXPECT_FALSE(sn->at("next_run").is_null());
  EXPECT_EQ(all.dump().find("secret"), std::string::npos) << "no secrets in /v1/sources";
  EXPECT_EQ(title("INC0001"), "INC0001: File share unreachable from branch office");
  EXPECT_NE(title("OPS-1"), "");
  EXPECT_NE(title("ZD-7"), "");
  EXPECT_EQ(title("confluence-1001"), "VPN runbook");

  auto m = at::http_get(server_->port(), "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("ragd_sync_records_total{source=\"sn\",result=\"fetched\"} "), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("ragd_sync_passes_total{source=\"jira\"} "), std::string::npos);
  EXPECT_NE(m.body.find("ragd_sync_lag_seconds{source=\"sn\"} "), std::string::npos);
  EXPECT_NE(m.body.find("ragd_sync_seconds_since_success{source=\"zd\"} "), std::string::npos);
}

TEST_F(ServeSync, TriggerStartsAPassAndRefusesASecondWhileOneRuns) {
  EXPECT_EQ(at::http_post(server_->port(), "/v1/sources/nope/sync", "").status, 404);
  EXPECT_EQ(at::http_post(server_->port(), "/v1/sources/sn/other", "").status, 404);
  EXPECT_EQ(at::http_post(server_->port(), "/v1/sources/sn/sync?full=maybe", "").status, 400);
  const int before = source(sources(), "sn")->at("passes").get<int>();
  sn_->put(incident("2", "Badge reader offline in lobby", now_s() - 60));
  sn_->set_delay_ms(500);
  auto first = at::http_post(server_->port(), "/v1/sources/sn/sync", "");
  auto second = at::http_post(server_->port(), "/v1/sources/sn/sync?full=1", "");
  sn_->set_delay_ms(0);
  EXPECT_EQ(first.status, 202) << first.body;
  EXPECT_EQ(second.status, 409) << second.body;
  for (int i = 0; i < 200 && source(sources(), "sn")->at("passes").get<int>() <= before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  json sn = *source(sources(), "sn");
  EXPECT_GT(sn["passes"].get<int>(), before);
  EXPECT_EQ(title("INC0002"), "INC0002: Badge reader offline in lobby") << sn.dump();
}

TEST_F(ServeSync, UnknownSourceOrNoSecretIs404) {
  EXPECT_EQ(hook("nope", "{}", {}).status, 404);
  EXPECT_EQ(hook("nohook", "{}", {}).status, 404);
}

TEST_F(ServeSync, ServiceNowWebhook) {
  const int64_t t = now_s();
  json body = {{"operation", "update"}, {"table", "incident"}, {"record", incident("1", "File share back online", t)}};
  const std::string b = body.dump();
  const std::string ts = std::to_string(t);
  auto sig = [&](const std::string& secret, const std::string& data) {
    return "X-Ragd-Signature: sha256=" + hex(hmac(secret, ts + "." + data));
  };
  // Tampered body: signed one text, sent another.
  std::string tampered = b;
  tampered.replace(tampered.find("back online"), 11, "taken down!");
  EXPECT_EQ(hook("sn", tampered, {"X-Ragd-Timestamp: " + ts, sig("sn-secret", b)}).status, 401);
  EXPECT_EQ(hook("sn", b, {"X-Ragd-Timestamp: " + ts, sig("wrong-secret", b)}).status, 401);
  EXPECT_EQ(hook("sn", b, {sig("sn-secret", b)}).status, 401) << "no timestamp";
  EXPECT_EQ(title("INC0001"), "INC0001: File share unreachable from branch office") << "a refused event changes nothing";
  auto ok = hook("sn", b, {"X-Ragd-Timestamp: " + ts, sig("sn-secret", b)});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["action"], "upserted");
  EXPECT_EQ(title("INC0001"), "INC0001: File share back online");
  EXPECT_EQ(hook("sn", b, {"X-Ragd-Timestamp: " + ts, sig("sn-secret", b)}).status, 401) << "replay";
  // Validly signed but ten minutes old.
  const std::string old_ts = std::to_string(t - 600);
  EXPECT_EQ(hook("sn", b, {"X-Ragd-Timestamp: " + old_ts, "X-Ragd-Signature: sha256=" +
                                                               hex(hmac("sn-secret", old_ts + "." + b))}).status,
            401);
  // Delete.
  json del = {{"operation", "delete"}, {"table", "incident"}, {"record", {{"sys_id", "a1b2c31"}, {"number", "INC0001"}}}};
  const std::string d = del.dump();
  const std::string ts2 = std::to_string(t + 1);
  auto gone = hook("sn", d, {"X-Ragd-Timestamp: " + ts2, "X-Ragd-Signature: sha256=" + hex(hmac("sn-secret", ts2 + "." + d))});
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(title("INC0001"), "");
}

TEST_F(ServeSync, JiraWebhook) {
  const int64_t t = now_s();
  json issue = {{"key", "OPS-1"},
                {"id", "10001"},
                {"fields",
                 {{"summary", "Printer queue cleared"},
                  {"description",
                   {{"type", "doc"}, {"version", 1}, {"content", json::array({{{"type", "paragraph"}, {"content", json::array({{{"type", "text"}, {"text", "Restarted the spooler."}}})}}})}}},
                  {"status", {{"name", "Done"}}},
                  {"issuetype", {{"name", "Incident"}}},
                  {"comment", {{"comments", json::array()}}},
                  {"created", st::iso_time(t - 3600)},
                  {"updated", st::iso_time(t)}}}};
  const std::string b = json{{"timestamp", t * 1000}, {"webhookEvent", "jira:issue_updated"}, {"issue", issue}}.dump();
  auto sig = [](const std::string& secret, const std::string& data) {
    return "X-Hub-Signature: sha256=" + hex(hmac(secret, data));
  };
  std::string tampered = b;
  tampered.replace(tampered.find("cleared"), 7, "burned!");
  const std::string before = title("OPS-1");
  EXPECT_EQ(hook("jira", tampered, {sig("jira-secret", b)}).status, 401);
  EXPECT_EQ(hook("jira", b, {sig("other", b)}).status, 401);
  EXPECT_EQ(title("OPS-1"), before);
  auto ok = hook("jira", b, {sig("jira-secret", b)});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(title("OPS-1").find("Printer queue cleared"), std::string::npos) << title("OPS-1");
  EXPECT_EQ(hook("jira", b, {sig("jira-secret", b)}).status, 401) << "replay";
  const std::string old = json{{"timestamp", (t - 900) * 1000}, {"webhookEvent", "jira:issue_updated"}, {"issue", issue}}.dump();
  EXPECT_EQ(hook("jira", old, {sig("jira-secret", old)}).status, 401) << "too old";
  const std::string del =
      json{{"timestamp", t * 1000 + 1}, {"webhookEvent", "jira:issue_deleted"}, {"issue", {{"key", "OPS-1"}}}}.dump();
  ASSERT_EQ(hook("jira", del, {sig("jira-secret", del)}).status, 200);
  EXPECT_EQ(title("OPS-1"), "");
}

TEST_F(ServeSync, ZendeskWebhookFetchesTheTicket) {
  const int64_t t = now_s();
  zd_->put(7, t, "Password reset works again");
  const std::string b = json{{"type", "zen:event-type:ticket.status_changed"}, {"detail", {{"id", "7"}}},
                             {"time", zendesk_time(t)}}.dump();
  const std::string ts = zendesk_time(t);
  auto sig = [&](const std::string& secret, const std::string& stamp, const std::string& data) {
    return std::vector<std::string>{"X-Zendesk-Webhook-Signature-Timestamp: " + stamp,
                                    "X-Zendesk-Webhook-Signature: " + st::base64(hmac(secret, stamp + data))};
  };
  std::string tampered = b;
  tampered.replace(tampered.find("\"7\""), 3, "\"8\"");
  const std::string before = title("ZD-7");
  EXPECT_EQ(hook("zd", tampered, sig("zd-secret", ts, b)).status, 401);
  EXPECT_EQ(hook("zd", b, sig("nope", ts, b)).status, 401);
  EXPECT_EQ(title("ZD-7"), before);
  auto ok = hook("zd", b, sig("zd-secret", ts, b));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(title("ZD-7").find("Password reset works again"), std::string::npos) << title("ZD-7");
  EXPECT_EQ(hook("zd", b, sig("zd-secret", ts, b)).status, 401) << "replay";
  EXPECT_EQ(hook("zd", b, sig("zd-secret", zendesk_time(t - 400), b)).status, 401) << "too old";
  // The ticket is deleted at the source; the event deletes it here.
  zd_->put(7, t + 1, "deleted", "deleted");
  const std::string d = json{{"type", "zen:event-type:ticket.soft_deleted"}, {"detail", {{"id", "7"}}}}.dump();
  ASSERT_EQ(hook("zd", d, sig("zd-secret", zendesk_time(t + 1), d)).status, 200);
  EXPECT_EQ(title("ZD-7"), "");
}

TEST_F(ServeSync, ConfluenceWebhookFetchesThePage) {
  const int64_t t = now_s();
  cf_->put("1001", t, "VPN runbook v2", "<p>Renew the certificate, then reconnect.</p>", {"vpn"});
  const std::string b = json{{"event", "page_updated"}, {"timestamp", t * 1000}, {"page", {{"id", 1001}}}}.dump();
  EXPECT_EQ(hook("cf", b, {"X-Ragd-Webhook-Secret: wrong"}).status, 401);
  EXPECT_EQ(hook("cf", b, {}).status, 401);
  EXPECT_EQ(title("confluence-1001"), "VPN runbook");
  auto ok = hook("cf", b, {"X-Ragd-Webhook-Secret: cf-secret"});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(title("confluence-1001"), "VPN runbook v2");
  EXPECT_EQ(hook("cf", b, {"X-Ragd-Webhook-Secret: cf-secret"}).status, 401) << "replay";
  const std::string old = json{{"event", "page_updated"}, {"timestamp", (t - 600) * 1000}, {"page", {{"id", 1001}}}}.dump();
  EXPECT_EQ(hook("cf", old, {"X-Ragd-Webhook-Secret: cf-secret"}).status, 401) << "too old";
  // Removed at the source: the fetch gets a 404 and the page leaves.
  cf_->erase("1001");
  const std::string rm = json{{"event", "page_updated"}, {"timestamp", t * 1000 + 1}, {"page", {{"id", 1001}}}}.dump();
  auto gone = hook("cf", rm, {"X-Ragd-Webhook-Secret: cf-secret"});
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(json::parse(gone.body)["action"], "deleted");
  EXPECT_EQ(title("confluence-1001"), "");
}

TEST_F(ServeSync, WebhookThenPollIsIdempotent) {
  const int64_t t = now_s();
  json rec = incident("5", "Mailbox quota raised", t);
  sn_->put(rec);
  const std::string b = json{{"operation", "insert"}, {"table", "incident"}, {"record", rec}}.dump();
  const std::string ts = std::to_string(t);
  ASSERT_EQ(hook("sn", b, {"X-Ragd-Timestamp: " + ts, "X-Ragd-Signature: sha256=" + hex(hmac("sn-secret", ts + "." + b))})
                .status,
            200);
  const std::string doc = at::http_get(server_->port(), "/v1/documents/INC0005").body;
  const int before = source(sources(), "sn")->at("passes").get<int>();
  ASSERT_EQ(at::http_post(server_->port(), "/v1/sources/sn/sync", "").status, 202);
  for (int i = 0; i < 200 && source(sources(), "sn")->at("passes").get<int>() <= before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  json sn = *source(sources(), "sn");
  EXPECT_EQ(sn["last_pass"]["counts"]["new"].get<int>(), 0) << sn.dump();
  EXPECT_EQ(sn["last_pass"]["counts"]["updated"].get<int>(), 0) << sn.dump();
  EXPECT_EQ(at::http_get(server_->port(), "/v1/documents/INC0005").body, doc);
}

}  // namespace
}  // namespace ragd::sync

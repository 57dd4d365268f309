// Collections over HTTP (issue 11, item 4): two knowledge bases in one
// server hold the same document ids with different text. Searches in every
// mode, GET by id and answers never cross; a key bound to one collection is
// refused on the others; collections made by the CLI are found by a running
// server; `ragd ingest --collection`; a restart keeps them all.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "auth/key_store.h"
#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

HttpResult call(uint16_t port, const std::string& method, const std::string& target, const std::string& secret,
                const std::string& body = {}) {
  return http_request(port, method, target, body, "application/json", {"Authorization: Bearer " + secret});
}

std::string docs_json(const std::string& marker) {
  Json docs = Json::array();
  docs.push_back(Json{{"id", "runbooks/vpn.md"},
                      {"title", "VPN runbook"},
                      {"text", "To fix the vpn tunnel restart the client. Reference " + marker + " vpn."}});
  docs.push_back(Json{{"id", "runbooks/printer.md"},
                      {"title", "Printer runbook"},
                      {"text", "To fix the printer restart the spooler service. Reference " + marker + " printer."}});
  return Json{{"documents", docs}}.dump();
}

class CollectionsHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("collections");
    data_ = dir_->path / "data";
    fs::create_directories(data_);
    glove_ = dir_->path / "glove.bin";
    make_tiny_glove(glove_, {"fix vpn tunnel restart client reference printer spooler service alphamark betamark "
                             "gammamark runbook"});
    auto ks = auth::KeyStore::open(data_.string());
    ASSERT_TRUE(ks.is_ok()) << ks.status().to_string();
    auto make = [&](const std::string& name, auth::Role role, const std::string& collection) {
      auto c = (*ks)->create(name, role, {}, collection, 0);
      EXPECT_TRUE(c.is_ok()) << c.status().to_string();
      return c.is_ok() ? c->secret : std::string();
    };
    admin_ = make("admin", auth::Role::kAdmin, "");
    writer_kb2_ = make("writer-kb2", auth::Role::kWriter, "kb2");
    reader_kb2_ = make("reader-kb2", auth::Role::kReader, "kb2");
  }

  // Every search mode, and GET by id: the collection at `prefix` shows
  // `own` and never `other`.
  void expect_isolated(uint16_t port, const std::string& prefix, const std::string& secret, const std::string& own,
                       const std::string& other) {
    for (const char* mode : {"hybrid", "lexical", "vector"}) {
      for (const std::string& q : {own, other, std::string("vpn tunnel restart")}) {
        HttpResult r = call(port, "POST", prefix + "/search", secret,
                            Json{{"query", q}, {"k", 10}, {"mode", mode}}.dump());
        ASSERT_EQ(r.status, 200) << prefix << " " << mode << ": " << r.body;
        EXPECT_EQ(r.body.find(other), std::string::npos) << prefix << " " << mode << " '" << q << "': " << r.body;
        if (q == own && std::string(mode) != "vector") {
          EXPECT_NE(r.body.find(own), std::string::npos) << prefix << " " << mode << ": " << r.body;
        }
      }
    }
    HttpResult g = call(port, "GET", prefix + "/documents/runbooks%2Fvpn.md", secret);
    ASSERT_EQ(g.status, 200) << prefix << ": " << g.body;
    EXPECT_NE(g.body.find(own), std::string::npos) << g.body;
    EXPECT_EQ(g.body.find(other), std::string::npos) << g.body;
    HttpResult a = call(port, "POST", prefix + "/answer", secret,
                        Json{{"query", "how do I fix the vpn tunnel " + own}, {"include_hits", true}}.dump());
    ASSERT_EQ(a.status, 200) << prefix << ": " << a.body;
    EXPECT_EQ(a.body.find(other), std::string::npos) << prefix << " answer: " << a.body;
    EXPECT_NE(a.body.find(own), std::string::npos) << prefix << " answer: " << a.body;
  }

  std::unique_ptr<TempDir> dir_;
  fs::path data_, glove_;
  std::string admin_, writer_kb2_, reader_kb2_;
};

TEST_F(CollectionsHttp, SameIdsNeverCrossKeysAreBoundAndRestartKeepsThem) {
  auto server = std::make_unique<ServerProcess>(data_, glove_);
  ASSERT_TRUE(server->start()) << server->log();
  uint16_t port = server->port();

  // Only an admin creates; names are checked; a second create is a 409.
  EXPECT_EQ(call(port, "POST", "/v1/collections", writer_kb2_, R"({"name":"kb2"})").status, 403);
  HttpResult made = call(port, "POST", "/v1/collections", admin_, R"({"name":"kb2"})");
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(call(port, "POST", "/v1/collections", admin_, R"({"name":"kb2"})").status, 409);
  EXPECT_EQ(call(port, "POST", "/v1/collections", admin_, R"({"name":"../etc"})").status, 400);
  EXPECT_EQ(call(port, "POST", "/v1/collections", admin_, R"({"name":"default"})").status, 400);
  EXPECT_EQ(call(port, "POST", "/v1/collections/nope/search", admin_, R"({"query":"vpn"})").status, 404);

  // The same ids, different text.
  HttpResult p1 = call(port, "POST", "/v1/documents", admin_, docs_json("alphamark"));
  ASSERT_EQ(p1.status, 200) << p1.body;
  HttpResult p2 = call(port, "POST", "/v1/collections/kb2/documents", writer_kb2_, docs_json("betamark"));
  ASSERT_EQ(p2.status, 200) << p2.body;

  expect_isolated(port, "/v1", admin_, "alphamark", "betamark");
  expect_isolated(port, "/v1/collections/kb2", admin_, "betamark", "alphamark");
  expect_isolated(port, "/v1/collections/kb2", reader_kb2_, "betamark", "alphamark");

  // A key bound to kb2 is refused everywhere else, for reads and writes.
  EXPECT_EQ(call(port, "POST", "/v1/search", reader_kb2_, R"({"query":"vpn"})").status, 403);
  EXPECT_EQ(call(port, "GET", "/v1/documents/runbooks%2Fvpn.md", reader_kb2_).status, 403);
  EXPECT_EQ(call(port, "POST", "/v1/answer", reader_kb2_, R"({"query":"vpn"})").status, 403);
  EXPECT_EQ(call(port, "POST", "/v1/documents", writer_kb2_, docs_json("planted")).status, 403);
  EXPECT_EQ(call(port, "DELETE", "/v1/documents/runbooks%2Fvpn.md", writer_kb2_).status, 403);
  // A reader bound to kb2 still cannot write there (role first).
  EXPECT_EQ(call(port, "POST", "/v1/collections/kb2/documents", reader_kb2_, docs_json("planted")).status, 403);

  // Made by the CLI while the server runs: found on first use.
  std::string out;
  ASSERT_EQ(run_ragd({"collections", "create", "kb3", "--data", data_.string(), "--glove", glove_.string()}, &out), 0)
      << out;
  EXPECT_EQ(call(port, "POST", "/v1/collections/kb3/search", reader_kb2_, R"({"query":"vpn"})").status, 403);
  HttpResult kb3 = call(port, "POST", "/v1/collections/kb3/search", admin_, R"({"query":"vpn tunnel"})");
  EXPECT_EQ(kb3.status, 200) << kb3.body;
  EXPECT_EQ(Json::parse(kb3.body, nullptr, false).value("hits", Json::array()).size(), 0u) << kb3.body;

  HttpResult listed = call(port, "GET", "/v1/collections", admin_);
  ASSERT_EQ(listed.status, 200);
  Json names = Json::array();
  const Json listed_json = Json::parse(listed.body);
  for (const auto& c : listed_json["collections"]) names.push_back(c["name"]);
  EXPECT_EQ(names, Json({"default", "kb2", "kb3"})) << listed.status << " " << listed.body;
  HttpResult bound_list = call(port, "GET", "/v1/collections", reader_kb2_);
  ASSERT_EQ(bound_list.status, 200);
  EXPECT_EQ(Json::parse(bound_list.body)["collections"].size(), 1u) << bound_list.body;
  EXPECT_NE(bound_list.body.find("kb2"), std::string::npos);

  // Per-collection stats; a delete in one leaves the other's same id alone.
  HttpResult st = call(port, "GET", "/v1/collections/kb2/stats", admin_);
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(Json::parse(st.body).value("documents", 0), 2) << st.body;
  ASSERT_EQ(call(port, "DELETE", "/v1/collections/kb2/documents/runbooks%2Fprinter.md", writer_kb2_).status, 200);
  EXPECT_EQ(call(port, "GET", "/v1/documents/runbooks%2Fprinter.md", admin_).status, 200);
  EXPECT_EQ(call(port, "GET", "/v1/collections/kb2/documents/runbooks%2Fprinter.md", admin_).status, 404);

  // `ragd ingest --collection` (the server is stopped: one writer per store).
  EXPECT_EQ(server->stop(), 0) << server->log();
  write_file(dir_->path / "in" / "gamma.md", "# Gamma\n\nTo fix the vpn tunnel see gammamark.\n");
  ASSERT_EQ(run_ragd({"ingest", "--data", data_.string(), "--glove", glove_.string(), "--collection", "kb3",
                      (dir_->path / "in").string()},
                     &out),
            0)
      << out;
  EXPECT_NE(run_ragd({"ingest", "--data", data_.string(), "--glove", glove_.string(), "--collection", "nope",
                      (dir_->path / "in").string()},
                     &out),
            0);

  server = std::make_unique<ServerProcess>(data_, glove_);
  ASSERT_TRUE(server->start()) << server->log();
  port = server->port();
  expect_isolated(port, "/v1", admin_, "alphamark", "betamark");
  expect_isolated(port, "/v1/collections/kb2", reader_kb2_, "betamark", "alphamark");
  HttpResult g3 = call(port, "POST", "/v1/collections/kb3/search", admin_, R"({"query":"gammamark"})");
  EXPECT_NE(g3.body.find("gammamark"), std::string::npos) << g3.body;
  HttpResult g0 = call(port, "POST", "/v1/search", admin_, R"({"query":"gammamark"})");
  EXPECT_EQ(g0.body.find("gammamark"), std::string::npos) << g0.body;
  EXPECT_EQ(call(port, "GET", "/v1/collections/kb2/documents/runbooks%2Fprinter.md", admin_).status, 404);
  EXPECT_EQ(server->stop(), 0) << server->log();
}

// The value of the series `name{collection="c"}` in /metrics; -1 when absent.
double collection_metric(const std::string& metrics, const std::string& name, const std::string& collection) {
  const std::string key = name + "{collection=\"" + collection + "\"} ";
  const size_t at = metrics.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + key.size()));
}

TEST_F(CollectionsHttp, DeleteRemovesDataSeriesAndNameAndMetricsArePerCollection) {
  std::string bound_admin;
  {
    auto ks = auth::KeyStore::open(data_.string());
    ASSERT_TRUE(ks.is_ok());
    auto made = (*ks)->create("admin-kb2", auth::Role::kAdmin, {}, "kb2", 0);
    ASSERT_TRUE(made.is_ok());
    bound_admin = made->secret;
  }
  auto server = std::make_unique<ServerProcess>(data_, glove_);
  ASSERT_TRUE(server->start()) << server->log();
  const uint16_t port = server->port();
  for (const char* name : {"kb2", "kb3"}) {
    ASSERT_EQ(call(port, "POST", "/v1/collections", admin_, Json{{"name", name}}.dump()).status, 201);
  }
  ASSERT_EQ(call(port, "POST", "/v1/collections/kb2/documents", writer_kb2_, docs_json("betamark")).status, 200);
  ASSERT_EQ(call(port, "POST", "/v1/documents", admin_, docs_json("alphamark")).status, 200);
  ASSERT_EQ(call(port, "POST", "/v1/collections/kb2/search", reader_kb2_, R"({"query":"betamark"})").status, 200);
  EXPECT_EQ(call(port, "POST", "/v1/collections/nope/search", admin_, R"({"query":"x"})").status, 404);

  HttpResult m = call(port, "GET", "/metrics", admin_);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_documents", "kb2"), 2) << m.body;
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_documents", "default"), 2) << m.body;
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_documents", "kb3"), 0) << m.body;
  EXPECT_GT(collection_metric(m.body, "ragd_collection_chunks", "kb2"), 0) << m.body;
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_disk_full", "kb2"), 0) << m.body;
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_read_errors", "kb2"), 0) << m.body;
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_requests_total", "kb2"), 2) << m.body;
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_requests_total", "nope"), -1) << m.body;

  // Who may delete: an admin of all collections; not the default.
  EXPECT_EQ(call(port, "DELETE", "/v1/collections/kb2", writer_kb2_).status, 403);
  EXPECT_EQ(call(port, "DELETE", "/v1/collections/kb2", bound_admin).status, 403);
  EXPECT_EQ(call(port, "DELETE", "/v1/collections/default", admin_).status, 400);
  EXPECT_EQ(call(port, "DELETE", "/v1/collections/nope", admin_).status, 404);
  EXPECT_EQ(call(port, "DELETE", "/v1/collections/..%2Fkeys", admin_).status, 400);

  HttpResult d = call(port, "DELETE", "/v1/collections/kb2", admin_);
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(Json::parse(d.body).value("pending", true), false) << d.body;
  EXPECT_FALSE(fs::exists(data_ / "collections" / "kb2"));
  EXPECT_EQ(call(port, "POST", "/v1/collections/kb2/search", admin_, R"({"query":"betamark"})").status, 404);
  EXPECT_EQ(call(port, "DELETE", "/v1/collections/kb2", admin_).status, 404);
  HttpResult listed = call(port, "GET", "/v1/collections", admin_);
  EXPECT_EQ(listed.body.find("kb2"), std::string::npos) << listed.body;
  m = call(port, "GET", "/metrics", admin_);
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_documents", "kb2"), -1) << m.body;
  EXPECT_EQ(collection_metric(m.body, "ragd_collection_documents", "default"), 2) << m.body;
  // The default collection keeps its own documents of the same ids.
  EXPECT_EQ(call(port, "GET", "/v1/documents/runbooks%2Fvpn.md", admin_).status, 200);

  // The name can be used again: a new, empty collection.
  ASSERT_EQ(call(port, "POST", "/v1/collections", admin_, R"({"name":"kb2"})").status, 201);
  HttpResult fresh = call(port, "POST", "/v1/collections/kb2/search", admin_, R"({"query":"betamark vpn"})");
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_EQ(fresh.body.find("betamark"), std::string::npos) << fresh.body;

  // The CLI refuses a collection that a running server holds, and deletes
  // it once the server is stopped.
  std::string out;
  EXPECT_NE(run_ragd({"collections", "delete", "kb3", "--data", data_.string(), "--glove", glove_.string()}, &out), 0)
      << out;
  EXPECT_TRUE(fs::exists(data_ / "collections" / "kb3"));
  EXPECT_EQ(server->stop(), 0) << server->log();
  ASSERT_EQ(run_ragd({"collections", "delete", "kb3", "--data", data_.string(), "--glove", glove_.string()}, &out), 0)
      << out;
  EXPECT_FALSE(fs::exists(data_ / "collections" / "kb3"));
  EXPECT_NE(run_ragd({"collections", "delete", "kb3", "--data", data_.string(), "--glove", glove_.string()}, &out), 0);
}

}  // namespace
}  // namespace ragd::test

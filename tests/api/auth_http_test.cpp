// Authentication and identity-bound access over real sockets: `ragd keys`
// makes keys in a real data directory, `ragd serve` (with a random-weight
// tiny LLM, so the chat and streaming routes exist) enforces them.
//   - 401 without or with a bad credential, 403 for a role too low, /healthz
//     open, /metrics for an admin or the scrape token, a CLI revocation
//     taking effect in a running server;
//   - a randomized ACL-leak test: 200 documents with random ACLs, 20 keys
//     with random groups, every way out (search in each mode, answer,
//     streamed answer, chat, streamed chat, GET by id, the audit log);
//   - writes need groups that cover the document's existing ACL;
//   - serve refuses a non-loopback address without keys.
#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "tests/api/test_support.h"
#include "tests/generate/llm_test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

constexpr int kDocs = 200;
constexpr int kKeys = 20;
const std::vector<std::string> kGroups = {"ops", "hr", "security-team", "finance", "legal", "dba"};
const std::vector<std::string> kTopics = {"printer", "vpn", "password", "laptop", "backup", "email", "wifi", "badge"};

std::string bearer(const std::string& secret) { return "Authorization: Bearer " + secret; }

HttpResult call(uint16_t port, const std::string& method, const std::string& target, const std::string& secret,
                const std::string& body = {}) {
  std::vector<std::string> headers;
  if (!secret.empty()) headers.push_back(bearer(secret));
  return http_request(port, method, target, body, "application/json", headers);
}

// `ragd keys create`; returns the secret ("" on failure).
std::string make_key(const fs::path& data, const std::string& name, const std::string& role,
                     const std::vector<std::string>& groups) {
  std::vector<std::string> args{"keys", "create", "--data", data.string(), "--name", name, "--role", role};
  std::string joined;
  for (const auto& g : groups) joined += (joined.empty() ? "" : ",") + g;
  if (!joined.empty()) {
    args.push_back("--groups");
    args.push_back(joined);
  }
  std::string out;
  if (run_ragd(args, &out) != 0) {
    ADD_FAILURE() << "ragd keys create: " << out;
    return "";
  }
  // The secret is stdout's one line; stdout is flushed before the note on
  // stderr.
  std::string first = out.substr(0, out.find('\n'));
  EXPECT_EQ(first.rfind("ragd_", 0), 0u) << out;
  EXPECT_EQ(first.size(), 48u) << out;
  return first;
}

// The document marker: an id and a word no other document or query has.
std::string doc_id(int i) { return "kb/doc-" + std::to_string(1000 + i) + ".md"; }
std::string marker(int i) { return "qzmark" + std::to_string(1000 + i) + "x"; }

struct Corpus {
  std::vector<std::vector<std::string>> acl;  // per document
  std::vector<std::string> texts;
};

Corpus make_corpus(std::mt19937_64& rng) {
  Corpus c;
  for (int i = 0; i < kDocs; ++i) {
    std::vector<std::string> acl;
    // A third public, the rest one or two groups.
    if (rng() % 3 != 0) {
      acl.push_back(kGroups[rng() % kGroups.size()]);
      if (rng() % 2 == 0) {
        const std::string& g = kGroups[rng() % kGroups.size()];
        if (g != acl[0]) acl.push_back(g);
      }
    }
    const std::string& topic = kTopics[rng() % kTopics.size()];
    const std::string& other = kTopics[rng() % kTopics.size()];
    c.texts.push_back("How to fix the " + topic + " problem. Restart the " + topic +
                      " service and check the " + other + " settings. Reference " + marker(i) + ".");
    c.acl.push_back(std::move(acl));
  }
  return c;
}

bool visible(const std::vector<std::string>& acl, const std::vector<std::string>& groups) {
  if (acl.empty()) return true;
  for (const auto& g : acl) {
    if (std::find(groups.begin(), groups.end(), g) != groups.end()) return true;
  }
  return false;
}

class AuthHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("auth");
    data_ = dir_->path / "data";
    fs::create_directories(data_);
  }
  std::unique_ptr<TempDir> dir_;
  fs::path data_;
};

TEST_F(AuthHttp, KeysRolesRevocationAndMetricsToken) {
  fs::path glove = dir_->path / "glove.bin";
  make_tiny_glove(glove, {"printer vpn password restart service fix problem"});
  const std::string reader = make_key(data_, "reader1", "reader", {"ops"});
  const std::string writer = make_key(data_, "writer1", "writer", {"ops"});
  const std::string admin = make_key(data_, "admin1", "admin", {});
  ASSERT_FALSE(reader.empty() || writer.empty() || admin.empty());
  ServerProcess server(data_, glove, {"--metrics-token", "scrape-token-0123456789"});
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();

  EXPECT_EQ(http_get(port, "/healthz").status, 200);
  // HEAD: the GET's headers and length, no body.
  HttpResult head = http_request(port, "HEAD", "/healthz");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty()) << head.body;
  EXPECT_GT(std::atoi(head.headers["content-length"].c_str()), 0);
  HttpResult anon = call(port, "POST", "/v1/search", "", R"({"query":"printer"})");
  EXPECT_EQ(anon.status, 401) << anon.body;
  EXPECT_NE(anon.headers["www-authenticate"].find("Bearer"), std::string::npos);
  EXPECT_EQ(call(port, "POST", "/v1/search", "ragd_notakeyatall", R"({"query":"printer"})").status, 401);
  EXPECT_EQ(call(port, "GET", "/v1/stats", "").status, 401);

  const std::string doc = R"({"documents":[{"id":"a.md","text":"Restart the printer service.","acl":["ops"]}]})";
  EXPECT_EQ(call(port, "POST", "/v1/documents", reader, doc).status, 403);
  HttpResult posted = call(port, "POST", "/v1/documents", writer, doc);
  EXPECT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(call(port, "POST", "/v1/search", reader, R"({"query":"printer"})").status, 200);
  EXPECT_EQ(call(port, "GET", "/v1/documents/a.md", reader).status, 200);
  EXPECT_EQ(call(port, "DELETE", "/v1/documents/a.md", reader).status, 403);
  EXPECT_EQ(call(port, "GET", "/v1/stats", writer).status, 403);
  EXPECT_EQ(call(port, "GET", "/v1/stats", admin).status, 200);
  EXPECT_EQ(call(port, "GET", "/metrics", reader).status, 403);
  EXPECT_EQ(call(port, "GET", "/metrics", admin).status, 200);
  EXPECT_EQ(call(port, "GET", "/metrics", "scrape-token-0123456789").status, 200);
  EXPECT_EQ(call(port, "GET", "/metrics", "scrape-token-0123456780").status, 401);

  // A page on another site cannot make a browser write (CSRF); the same
  // origin, and clients that send no Origin, can.
  auto with_origin = [&](const std::string& origin) {
    return http_request(port, "POST", "/v1/documents", doc, "application/json",
                        {bearer(writer), "Origin: " + origin});
  };
  HttpResult csrf = with_origin("https://evil.example.com");
  EXPECT_EQ(csrf.status, 403) << csrf.body;
  EXPECT_NE(csrf.body.find("cross-origin"), std::string::npos) << csrf.body;
  EXPECT_EQ(with_origin("null").status, 403);
  EXPECT_EQ(with_origin("http://127.0.0.1").status, 200);  // the test client's Host is 127.0.0.1

  // A revocation from the CLI reaches the running server.
  std::string out;
  ASSERT_EQ(run_ragd({"keys", "revoke", "--data", data_.string(), "reader1"}, &out), 0) << out;
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    status = call(port, "POST", "/v1/search", reader, R"({"query":"printer"})").status;
    if (status == 401) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 401) << "a revoked key still works after 5 s";
  EXPECT_EQ(call(port, "POST", "/v1/search", writer, R"({"query":"printer"})").status, 200);
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(AuthHttp, WritesNeedGroupsCoveringTheExistingAcl) {
  fs::path glove = dir_->path / "glove.bin";
  make_tiny_glove(glove, {"break glass procedure restricted runbook planted text"});
  const std::string sec = make_key(data_, "sec-writer", "writer", {"security-team"});
  const std::string ops = make_key(data_, "ops-writer", "writer", {"ops"});
  const std::string ops_reader = make_key(data_, "ops-reader", "reader", {"ops"});
  const std::string sec_ops = make_key(data_, "sec-ops-writer", "writer", {"security-team", "ops"});
  ServerProcess server(data_, glove);
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  const std::string restricted =
      R"({"documents":[{"id":"bg.md","text":"Break glass procedure.","acl":["security-team"]}]})";
  ASSERT_EQ(call(port, "POST", "/v1/documents", sec, restricted).status, 200);
  // Overwriting it as public needs the security-team group; to a writer
  // without it the document does not exist, so it cannot delete it either.
  const std::string planted = R"({"documents":[{"id":"bg.md","text":"Planted text.","acl":[]}]})";
  EXPECT_EQ(call(port, "POST", "/v1/documents", ops, planted).status, 403);
  // Nor under an id that ingest stores as the same one.
  EXPECT_EQ(call(port, "POST", "/v1/documents", ops,
                 R"({"documents":[{"id":" bg.md\t","text":"Planted text.","acl":["ops"]}]})").status, 403);
  EXPECT_EQ(call(port, "DELETE", "/v1/documents/bg.md", ops).status, 404);
  // A writer that can read a document but not cover its whole ACL may not
  // delete it.
  const std::string shared =
      R"({"documents":[{"id":"shared.md","text":"Shared runbook.","acl":["ops","security-team"]}]})";
  ASSERT_EQ(call(port, "POST", "/v1/documents", sec_ops, shared).status, 200);
  EXPECT_EQ(call(port, "GET", "/v1/documents/shared.md", ops).status, 200);
  EXPECT_EQ(call(port, "DELETE", "/v1/documents/shared.md", ops).status, 403);
  // Nor can a writer grant itself a group it lacks.
  EXPECT_EQ(call(port, "POST", "/v1/documents", ops,
                 R"({"documents":[{"id":"new.md","text":"x","acl":["security-team"]}]})").status, 403);
  // The document is unchanged and hidden from the ops reader, by id too.
  HttpResult got = call(port, "GET", "/v1/documents/bg.md", sec);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_NE(got.body.find("Break glass"), std::string::npos);
  EXPECT_EQ(call(port, "GET", "/v1/documents/bg.md", ops_reader).status, 404);
  EXPECT_EQ(call(port, "DELETE", "/v1/documents/bg.md", sec).status, 200);
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(AuthHttp, ServeRefusesANonLoopbackAddressWithoutKeys) {
  fs::path glove = dir_->path / "glove.bin";
  make_tiny_glove(glove, {"anything"});
  std::string out;
  int rc = run_ragd({"serve", "--listen", "0.0.0.0:0", "--data", data_.string(), "--glove", glove.string()}, &out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--insecure-no-auth"), std::string::npos) << out;
}

// Every response a key can get, scanned for the markers of documents it may
// not see. Seeds: a fixed one, and a fresh one printed for reproduction.
class AclLeak : public AuthHttp, public ::testing::WithParamInterface<bool> {};

TEST_P(AclLeak, NoRouteShowsADocumentOutsideTheCallersGroups) {
  const uint64_t seed = GetParam() ? std::random_device{}() : 20261204;
  std::cout << "ACL leak seed: " << seed << std::endl;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Corpus corpus = make_corpus(rng);

  std::vector<std::string> vocab_texts;
  for (const auto& t : kTopics) vocab_texts.push_back("How to fix the " + t + " problem restart service check settings");
  fs::path glove = dir_->path / "glove.bin";
  std::vector<std::string> glove_texts = vocab_texts;
  glove_texts.insert(glove_texts.end(), corpus.texts.begin(), corpus.texts.end());
  make_tiny_glove(glove, glove_texts);
  // The model's vocabulary has no markers, so generated text cannot spell one.
  testing_llm::TinyLlmSpec spec;
  spec.words = testing_llm::words_of(vocab_texts);
  fs::path model = dir_->path / "tiny.gguf";
  fs::rename(testing_llm::write_tiny_llm(spec, "acl"), model);

  const std::string admin = make_key(data_, "admin", "admin", {});
  std::vector<std::string> secrets;
  std::vector<std::vector<std::string>> key_groups;
  for (int k = 0; k < kKeys; ++k) {
    std::vector<std::string> groups;
    for (const auto& g : kGroups) {
      if (rng() % 3 == 0) groups.push_back(g);
    }
    secrets.push_back(make_key(data_, "reader" + std::to_string(k), "reader", groups));
    key_groups.push_back(groups);
  }
  fs::path audit = dir_->path / "audit.jsonl";
  ServerProcess server(data_, glove, {"--llm", model.string(), "--audit-log", audit.string(), "--llm-threads", "1"});
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();

  Json docs = Json::array();
  for (int i = 0; i < kDocs; ++i) {
    docs.push_back(Json{{"id", doc_id(i)}, {"title", "Doc " + std::to_string(i)}, {"text", corpus.texts[i]},
                        {"acl", corpus.acl[i]}});
  }
  HttpResult posted = call(port, "POST", "/v1/documents", admin, Json{{"documents", docs}}.dump());
  ASSERT_EQ(posted.status, 200) << posted.body;

  // Finds the marker of a document the key may not see.
  int checked = 0, leaks = 0, restricted_seen = 0;
  // `asked`: the one document id the request named, which its error may
  // quote back.
  auto scan = [&](int k, const std::string& what, const std::string& body, int asked = -1) {
    ++checked;
    for (int i = 0; i < kDocs; ++i) {
      if (visible(corpus.acl[i], key_groups[k])) continue;
      if (body.find(marker(i)) != std::string::npos ||
          (i != asked && body.find(doc_id(i)) != std::string::npos)) {
        ++leaks;
        ADD_FAILURE() << "key " << k << " saw " << doc_id(i) << " via " << what;
        return;
      }
    }
  };
  for (int k = 0; k < kKeys; ++k) {
    const std::string& s = secrets[k];
    const std::string topic = kTopics[rng() % kTopics.size()];
    const std::string q = "how do I fix the " + topic + " problem";
    // Claiming every group must not widen what the key sees.
    Json all_groups = kGroups;
    for (const char* mode : {"hybrid", "lexical", "vector"}) {
      HttpResult r = call(port, "POST", "/v1/search", s,
                          Json{{"query", q}, {"k", 50}, {"mode", mode}, {"groups", all_groups}}.dump());
      EXPECT_EQ(r.status, 200) << r.body;
      scan(k, std::string("search ") + mode, r.body);
      // The filter must not hide what the key may see: restricted documents
      // of its groups come back too.
      for (int i = 0; i < kDocs; ++i) {
        if (!corpus.acl[i].empty() && visible(corpus.acl[i], key_groups[k]) &&
            r.body.find(doc_id(i)) != std::string::npos) {
          ++restricted_seen;
        }
      }
    }
    HttpResult ans = call(port, "POST", "/v1/answer", s, Json{{"query", q}, {"groups", all_groups}}.dump());
    EXPECT_EQ(ans.status, 200) << ans.body;
    scan(k, "answer", ans.body);
    HttpResult sse = call(port, "POST", "/v1/answer", s,
                          Json{{"query", q}, {"stream", true}, {"max_tokens", 8}, {"groups", all_groups}}.dump());
    scan(k, "answer stream", sse.body);
    Json msgs = Json::array({Json{{"role", "user"}, {"content", q}}});
    HttpResult chat = call(port, "POST", "/v1/chat/completions", s,
                           Json{{"model", "tiny"}, {"messages", msgs}, {"max_tokens", 8}}.dump());
    scan(k, "chat", chat.body);
    HttpResult chat_sse = call(port, "POST", "/v1/chat/completions", s,
                               Json{{"model", "tiny"}, {"messages", msgs}, {"max_tokens", 8}, {"stream", true}}.dump());
    scan(k, "chat stream", chat_sse.body);
    // Ticket assist: every list (similar, runbooks, duplicates, the
    // suggestion, the note, a task) and a stored ticket named by id.
    HttpResult assist = call(port, "POST", "/v1/tickets/assist", s,
                             Json{{"subject", q}, {"description", q}, {"groups", all_groups},
                                  {"tasks", {"kb_draft"}}}.dump());
    EXPECT_EQ(assist.status, 200) << assist.body;
    scan(k, "ticket assist", assist.body);
    for (int j = 0; j < 3; ++j) {
      int i = static_cast<int>(rng() % kDocs);
      HttpResult t = call(port, "POST", "/v1/tickets/kb_draft", s, Json{{"id", doc_id(i)}}.dump());
      EXPECT_EQ(t.status, visible(corpus.acl[i], key_groups[k]) ? 200 : 404) << doc_id(i) << " " << t.body;
      scan(k, "kb_draft " + doc_id(i), t.body, i);
    }
    for (int j = 0; j < 10; ++j) {
      int i = static_cast<int>(rng() % kDocs);
      HttpResult g = call(port, "GET", "/v1/documents/" + doc_id(i), s);
      if (visible(corpus.acl[i], key_groups[k])) {
        EXPECT_EQ(g.status, 200) << doc_id(i) << " " << g.body;
      } else {
        EXPECT_EQ(g.status, 404) << doc_id(i) << " " << g.body;
        scan(k, "GET " + doc_id(i), g.body, i);
      }
    }
  }
  EXPECT_EQ(server.stop(), 0);
  // The audit log names the authenticated caller, and each caller's records
  // cite only what it may see.
  std::string log = read_file(audit);
  std::istringstream lines(log);
  std::string line;
  int records = 0;
  while (std::getline(lines, line)) {
    Json r = Json::parse(line, nullptr, false);
    if (!r.is_object()) continue;
    ++records;
    std::string caller = r.value("caller", "");
    ASSERT_EQ(caller.rfind("reader", 0), 0u) << line.substr(0, 300);
    int k = std::stoi(caller.substr(6));
    scan(k, "audit record", line);
  }
  EXPECT_GE(records, kKeys);
  EXPECT_GT(restricted_seen, 0) << "no key ever saw a restricted document of its own groups";
  std::cout << checked << " responses checked, " << leaks << " leaks, " << restricted_seen
            << " restricted documents shown to keys holding their groups, " << records << " audit records"
            << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Seeds, AclLeak, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "FreshSeed" : "FixedSeed"; });

}  // namespace
}  // namespace ragd::test

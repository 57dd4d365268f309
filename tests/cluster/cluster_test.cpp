// A ragd cluster of real processes on loopback (cluster_fixture.h): writes
// go through one node and are read through the other. The unit tests of
// the shard hash, the shard map, the messages and the cluster file need no
// servers. The kill -9 test is cluster_kill_slow_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <atomic>
#include <stdexcept>
#include <chrono>
#include <numeric>
#include <thread>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>

#include "auth/peer.h"
#include "cluster/etcd.h"
#include "cluster/fan_out.h"
#include "cluster/jetstream.h"
#include "cluster/message.h"
#include "cluster/node.h"
#include "cluster/options.h"
#include "cluster/rebalance.h"
#include "cluster/shard.h"
#include "govern/retention.h"
#include "index/store.h"
#include "ingest/chunker.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/generate/llm_test_support.h"
#include "tests/sync/loopback_server.h"

namespace ragd::test {
namespace {

// A replica that fails a search's fetch (killed after answering its
// candidates: the fetch cannot move to another replica, since the labels
// are its store's) fails that attempt with 503; the search runs once more
// and its first phases pass over it. f stands in the map before a, in
// front of a, and fails the first fetch asked of it; b coordinates.
TEST_F(ClusterTest, ASearchWhoseFetchFailsRunsOnceMore) {
  uint16_t a_port = 0;
  std::atomic<int> fetches{0};
  ProxyPeer f(a_port, [&](const Json& req) { return req.value("shard_phase", "") == "fetch" && fetches++ == 0; });
  ServerProcess& a = node("a", {"a", "b"}, 1);
  ServerProcess& b = node("b", {"a", "b"}, 1);
  ASSERT_NO_FATAL_FAILURE(put_first_in_map("f", f.url(), {"a"}, "a"));
  ASSERT_TRUE(a.start(30)) << a.log();
  a_port = a.port();
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_EQ(post_docs(a.port(), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0).status, 200);
  ASSERT_TRUE(wait_until([&] {
    auto ids = search(a.port(), token(3, 0));
    return ids && ids->count(doc_id(3)) == 1;
  }, 15000));
  fetches = 0;

  const double before = total(series(b.port(), "ragd_cluster_search_retries_total"));
  HttpResult r = http_post(b.port(), "/v1/search", Json{{"query", token(3, 0)}, {"k", 5}, {"mode", "lexical"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body << "\n" << b.log();
  const Json hits = Json::parse(r.body)["hits"];
  bool found = false;
  for (const auto& h : hits) found = found || h["doc_id"] == doc_id(3);
  EXPECT_TRUE(found) << r.body;
  EXPECT_EQ(f.failed(), 1) << "f failed the first attempt's fetch";
  EXPECT_EQ(f.passed("fetch"), 0) << "the second attempt fetched from a, passing over f\n" << b.log();
  EXPECT_EQ(total(series(b.port(), "ragd_cluster_search_retries_total")) - before, 1.0);
}

TEST_F(ClusterTest, WriteThroughOneNodeReadThroughAnother) {
  // One replica per shard: node b holds half the shards, so its searches
  // must reach node a's shards over HTTP.
  ServerProcess& a = node("a", {"a", "b"}, 1, 3000);
  ServerProcess& b = node("b", {"a", "b"}, 1, 3000);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  // A node that has just joined has read the live nodes: /healthz does not
  // call etcd unreachable until its first lease renewal.
  const Json started = Json::parse(http_get(b.port(), "/healthz").body);
  EXPECT_EQ(started["status"], "ok") << started.dump();
  std::vector<int> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(i);
  const auto w0 = std::chrono::steady_clock::now();
  HttpResult w = post_docs(a.port(), ids, 0);
  const double write_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count();
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(Json::parse(w.body)["ingested"], 30);

  for (int i : ids) {
    const bool found = wait_until([&] {
      auto got = search(b.port(), token(i, 0));
      return got && got->count(doc_id(i)) == 1;
    }, 20000);
    ASSERT_TRUE(found) << "document " << i << " not found through node b\nnode a:\n" << a.log() << "\nnode b:\n" << b.log();
  }
  // Both nodes hold documents: the read really crossed nodes.
  EXPECT_GT(stored_documents(a.port()), 0u);
  EXPECT_GT(stored_documents(b.port()), 0u);
  EXPECT_EQ(stored_documents(a.port()) + stored_documents(b.port()), 30u);

  // /metrics: each node's applied shards, their streams and lag. With one
  // replica per shard every message is applied by exactly one node, so the
  // applied sequences of the two nodes add up to the 30 messages, and once
  // the appliers have read their streams' ends the lag is 0 everywhere.
  EXPECT_EQ(total(series(a.port(), "ragd_cluster_shard_applied_sequence")) +
                total(series(b.port(), "ragd_cluster_shard_applied_sequence")),
            30.0);
  EXPECT_EQ(series(a.port(), "ragd_cluster_shard_applied_sequence").size() +
                series(b.port(), "ragd_cluster_shard_applied_sequence").size(),
            4u)
      << "every shard is applied by one node";
  EXPECT_TRUE(wait_until([&] {
    for (uint16_t port : {a.port(), b.port()}) {
      const auto lag = series(port, "ragd_cluster_shard_lag_messages");
      const auto streams = series(port, "ragd_cluster_shard_stream_sequence");
      if (lag.empty() || total(lag) != 0 || total(streams) == 0) return false;
    }
    return total(series(a.port(), "ragd_cluster_shard_stream_sequence")) +
               total(series(b.port(), "ragd_cluster_shard_stream_sequence")) ==
           30.0;
  }, 10000)) << http_get(a.port(), "/metrics").body;
  EXPECT_GT(total(series(a.port(), "ragd_cluster_shard_map_revision")), 0.0);
  // Both nodes live, as each node last read etcd (every lease renewal).
  EXPECT_TRUE(wait_until([&] { return total(series(a.port(), "ragd_cluster_live_nodes")) == 2.0; }, 5000));
  EXPECT_EQ(total(series(b.port(), "ragd_cluster_etcd_reachable")), 1.0);
  EXPECT_EQ(total(series(a.port(), "ragd_cluster_shard_apply_failures_total")), 0.0);

  // Figures (one run, loopback, shared machine): a search through the
  // coordinator (4 shards on 2 nodes over HTTP) against one shard's own
  // search on the same node.
  auto p50 = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::vector<double> fanout, direct;
  const std::string q = Json{{"query", "vpn tunnel firewall"}, {"k", 10}, {"mode", "hybrid"}}.dump();
  for (int r = 0; r < 40; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(http_post(b.port(), "/v1/search", q).status, 200);
    auto t1 = std::chrono::steady_clock::now();
    EXPECT_EQ(http_post(b.port(), "/v1/collections/shard-1/search", q).status, 200);
    auto t2 = std::chrono::steady_clock::now();
    fanout.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    direct.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  std::cout << "[ figures ] write of 30 documents acknowledged in " << write_ms << " ms; search p50 through the "
            << "coordinator " << p50(fanout) << " ms, one shard directly " << p50(direct) << " ms\n";

  // A document whose message is over NATS's max_payload (1 MB by default)
  // fails at once with a clear error, and the other documents of the
  // request are still written.
  {
    std::string big = "zqcbig ";
    while (big.size() < (1200u << 10)) big += "the vpn tunnel drops after the firewall rule update ";
    Json docs = Json::array({Json{{"id", "doc-big"}, {"title", "Big"}, {"text", big}},
                             Json{{"id", doc_id(40)}, {"title", "Doc 40"}, {"text", text_of(40, 0)}}});
    HttpResult mixed = http_post(a.port(), "/v1/documents", Json{{"documents", docs}}.dump());
    ASSERT_EQ(mixed.status, 200) << mixed.body;
    const Json body = Json::parse(mixed.body);
    EXPECT_EQ(body["ingested"], 1) << mixed.body;
    EXPECT_EQ(body["failed"], 1) << mixed.body;
    ASSERT_EQ(body["errors"].size(), 1u) << mixed.body;
    const std::string error = body["errors"][0].get<std::string>();
    EXPECT_EQ(error.rfind("doc-big: ", 0), 0u) << error;
    EXPECT_NE(error.find("max_payload of 1048576 bytes"), std::string::npos) << error;
    EXPECT_EQ(error.find("did not acknowledge"), std::string::npos) << error;  // not retried to the timeout
    EXPECT_TRUE(wait_until([&] {
      auto got = search(b.port(), token(40, 0));
      return got && got->count(doc_id(40)) == 1;
    }, 20000));
  }

  // One request writing a document twice, among others: the shards are
  // published side by side, but a document's versions keep their order.
  {
    Json docs = Json::array();
    for (int v = 1; v <= 3; ++v) {
      for (int i : {41, 42, 43, 44}) {
        docs.push_back({{"id", doc_id(i)}, {"title", "Doc"}, {"text", text_of(i, v)}, {"kind", "runbook"}});
      }
    }
    HttpResult w3 = http_post(a.port(), "/v1/documents", Json{{"documents", docs}}.dump());
    ASSERT_EQ(w3.status, 200) << w3.body;
    EXPECT_EQ(Json::parse(w3.body)["ingested"], 12) << w3.body;
    const std::string tok = Json::parse(w3.body)["consistency_token"].get<std::string>();
    for (int i : {41, 42, 43, 44}) {
      HttpResult r = http_post(b.port(), "/v1/search",
                               Json{{"query", token(i, 3)}, {"k", 5}, {"mode", "lexical"}, {"consistency_token", tok}}
                                   .dump());
      ASSERT_EQ(r.status, 200) << r.body;
      const Json hits = Json::parse(r.body)["hits"];
      ASSERT_FALSE(hits.empty()) << doc_id(i) << ": " << r.body;
      EXPECT_EQ(hits[0]["text"], text_of(i, 3)) << doc_id(i) << " ends at its last version";
    }
  }

  // A delete through b disappears from searches through a.
  HttpResult d = http_request(b.port(), "DELETE", "/v1/documents/" + doc_id(7));
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_TRUE(wait_until([&] {
    auto got = search(a.port(), token(7, 0));
    return got && got->count(doc_id(7)) == 0;
  }, 20000));

  // `ragd cluster status` from outside: both nodes live, every shard's one
  // replica answers and, once applied, is level with its stream.
  auto status = [&](std::string* text) {
    return run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string(), "--json"}, text);
  };
  std::string view_text;
  Json view;
  EXPECT_TRUE(wait_until([&] {
    if (status(&view_text) != 0) return false;
    view = Json::parse(view_text.substr(std::min(view_text.find('{'), view_text.size())), nullptr, false);
    if (view.is_discarded()) return false;
    for (const auto& sh : view["shards"]) {
      if (!sh["serving"].get<bool>()) return false;
    }
    return true;
  }, 10000)) << view_text;
  if (!view.is_discarded()) {
    EXPECT_EQ(view["live_nodes"].size(), 2u) << view_text;
    EXPECT_TRUE(view["searchable"].get<bool>());
    ASSERT_EQ(view["shards"].size(), static_cast<size_t>(kShards)) << view_text;
    uint64_t applied = 0, streams = 0;
    for (const auto& sh : view["shards"]) {
      ASSERT_EQ(sh["replicas"].size(), 1u) << view_text;
      EXPECT_TRUE(sh["replicas"][0]["answered"].get<bool>()) << view_text;
      EXPECT_EQ(sh["replicas"][0]["behind"], 0) << view_text;
      applied += sh["replicas"][0]["applied"].get<uint64_t>();
      streams += sh["stream_last"].get<uint64_t>();
    }
    EXPECT_EQ(applied, streams);
    EXPECT_GE(streams, 31u);  // 30 documents, the one that fit of the mixed batch, a delete
    // Leader health: every shard's log is led by one of the three NATS
    // servers, with the other two as its replicas; the one etcd member leads.
    EXPECT_TRUE(view["writable"].get<bool>()) << view_text;
    for (const auto& sh : view["shards"]) {
      const std::string leader = sh["stream_leader"].get<std::string>();
      EXPECT_TRUE(leader == "n0" || leader == "n1" || leader == "n2") << view_text;
      ASSERT_EQ(sh["stream_replicas"].size(), 2u) << view_text;
      for (const auto& p : sh["stream_replicas"]) EXPECT_NE(p["name"].get<std::string>(), leader) << view_text;
    }
    ASSERT_EQ(view["etcd"].size(), 1u) << view_text;
    EXPECT_TRUE(view["etcd"][0]["leader"].get<bool>()) << view_text;
  }

  // Read-your-writes: a write answers with a consistency token, and a
  // search through the other node that carries it sees the write at once,
  // every time, without polling; so does a delete. A token ahead of every
  // stream is refused with 503 once the replicas have waited
  // consistency_wait_ms (2 s) for it.
  auto hit_ids = [&](const std::string& query, const std::string& tok) {
    std::set<std::string> ids;
    HttpResult r = http_post(b.port(), "/v1/search",
                             Json{{"query", query}, {"k", 5}, {"mode", "lexical"}, {"consistency_token", tok}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    Json j = Json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.contains("hits")) {
      for (const auto& h : j["hits"]) ids.insert(h.value("doc_id", ""));
    }
    return ids;
  };
  for (int i = 60; i < 70; ++i) {
    HttpResult put = post_docs(a.port(), {i}, 0);
    ASSERT_EQ(put.status, 200) << put.body;
    const std::string tok = Json::parse(put.body).value("consistency_token", "");
    ASSERT_NE(tok.find(':'), std::string::npos) << put.body;
    EXPECT_EQ(hit_ids(token(i, 0), tok).count(doc_id(i)), 1u) << "write " << i << " not seen with token " << tok;
  }
  {
    // An answer's evidence too: a write through a, answered through b at once.
    HttpResult put = post_docs(a.port(), {70}, 0);
    ASSERT_EQ(put.status, 200) << put.body;
    const std::string tok = Json::parse(put.body).value("consistency_token", "");
    HttpResult answer =
        http_post(b.port(), "/v1/answer",
                  Json{{"query", token(70, 0)}, {"include_hits", true}, {"consistency_token", tok}}.dump());
    ASSERT_EQ(answer.status, 200) << answer.body;
    std::set<std::string> ids;
    for (const auto& h : Json::parse(answer.body).value("hits", Json::array())) ids.insert(h.value("doc_id", ""));
    EXPECT_EQ(ids.count(doc_id(70)), 1u) << "the answer's evidence misses the write its token names: " << answer.body;
    EXPECT_EQ(http_post(b.port(), "/v1/answer", Json{{"query", "vpn"}, {"consistency_token", 5}}.dump()).status, 400);
  }
  HttpResult del = http_request(a.port(), "DELETE", "/v1/documents/" + doc_id(61));
  ASSERT_EQ(del.status, 200) << del.body;
  const std::string del_tok = Json::parse(del.body).value("consistency_token", "");
  EXPECT_EQ(hit_ids(token(61, 0), del_tok).count(doc_id(61)), 0u) << "delete not seen with token " << del_tok;
  std::string ahead;
  for (int s = 0; s < kShards; ++s) ahead += (s ? "," : "") + std::to_string(s) + ":999999";
  const auto t_ahead = std::chrono::steady_clock::now();
  HttpResult behind = http_post(b.port(), "/v1/search",
                                Json{{"query", "vpn"}, {"k", 5}, {"consistency_token", ahead}}.dump());
  EXPECT_EQ(behind.status, 503) << behind.body;
  EXPECT_GE(std::chrono::steady_clock::now() - t_ahead, std::chrono::milliseconds(1900));
  EXPECT_EQ(http_post(b.port(), "/v1/search", R"({"query":"vpn","consistency_token":"0:x"})").status, 400);
  EXPECT_EQ(http_post(b.port(), "/v1/search", R"({"query":"vpn","consistency_token":"99:1"})").status, 400);
  // An answer waits for the token's writes the same way.
  HttpResult answer_behind =
      http_post(b.port(), "/v1/answer", Json{{"query", "vpn"}, {"consistency_token", ahead}}.dump());
  EXPECT_EQ(answer_behind.status, 503) << answer_behind.body;

  // One NATS server down: the logs keep a quorum, so writes still work,
  // and `ragd cluster status` names the server every log misses (exit 0).
  servers_.nats[2]->kill_hard();
  std::string one_down;
  EXPECT_TRUE(wait_until([&] {
    if (status(&one_down) != 0) return false;
    Json j = Json::parse(one_down.substr(std::min(one_down.find('{'), one_down.size())), nullptr, false);
    if (j.is_discarded() || !j["writable"].get<bool>()) return false;
    for (const auto& sh : j["shards"]) {
      bool missed = false;
      for (const auto& p : sh["stream_replicas"]) {
        missed |= p["name"] == "n2" && (p["offline"].get<bool>() || !p["current"].get<bool>());
      }
      if (sh["stream_leader"] == "n2" || !missed) return false;
    }
    return true;
  }, 20000)) << one_down;
  std::string table;
  EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string()}, &table), 0) << table;
  EXPECT_NE(table.find("log replicas: n2"), std::string::npos) << table;
  servers_.start_nats(2);

  // With one node down, its shards have no replica: the search fails with
  // 503 rather than answering from half the shards.
  a.kill_hard();
  EXPECT_TRUE(wait_until([&] { return http_post(b.port(), "/v1/search", R"({"query":"vpn","k":5})").status == 503; },
                         10000));
  // ... and `ragd cluster status` says so: exit 1, a's shards unanswered.
  std::string down;
  EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string()}, &down), 1) << down;
  EXPECT_NE(down.find("NOT SEARCHABLE"), std::string::npos) << down;
  // b's /metrics sees a go once a's lease expires.
  EXPECT_TRUE(wait_until([&] { return total(series(b.port(), "ragd_cluster_live_nodes")) == 1.0; }, 10000));
  // A shard with no live replica fails the search at once: it is not run
  // again (only a failed fetch is).
  const double retried = total(series(b.port(), "ragd_cluster_search_retries_total"));
  EXPECT_EQ(http_post(b.port(), "/v1/search", R"({"query":"vpn","k":5})").status, 503);
  EXPECT_EQ(total(series(b.port(), "ragd_cluster_search_retries_total")), retried);

  // Cut off from NATS, a node acknowledges no write: 503 once the publish
  // timeout has passed, naming JetStream, or at once once the node has seen
  // its connection go.
  for (auto& n : servers_.nats) n->kill_hard();
  const auto t0 = std::chrono::steady_clock::now();
  HttpResult refused = post_docs(b.port(), {50}, 0);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_TRUE(refused.body.find("JetStream did not acknowledge") != std::string::npos ||
              refused.body.find("lost its connection to NATS") != std::string::npos)
      << refused.body;
  // The answer names the document not acknowledged and counts it failed.
  EXPECT_NE(refused.body.find("doc-50: not acknowledged"), std::string::npos) << refused.body;
  const Json refused_body = Json::parse(refused.body);
  EXPECT_EQ(refused_body["error"]["failed"], 1) << refused.body;
  EXPECT_EQ(refused_body["error"]["ingested"], 0) << refused.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

// `ragd keys create` in `data`; returns the secret ("" on failure).
std::string make_key(const fs::path& data, const std::string& name, const std::string& role) {
  std::string out;
  if (run_ragd({"keys", "create", "--data", data.string(), "--name", name, "--role", role}, &out) != 0) {
    ADD_FAILURE() << "ragd keys create: " << out;
    return "";
  }
  return out.substr(0, out.find('\n'));
}

HttpResult keyed(uint16_t port, const std::string& method, const std::string& target, const std::string& secret,
                 const std::string& body = {}, const std::string& content_type = "application/json") {
  return http_request(port, method, target, body, content_type, {"Authorization: Bearer " + secret});
}

// A stream deleted and created again restarts its sequences at 1. A store
// that applied the old stream must not take the new one for a continuation
// (every message would be skipped as a redelivery of one it holds): it
// applies nothing and says why, until it is wiped and replays the new stream.
TEST_F(ClusterTest, AStreamCreatedAgainIsRefusedUntilTheStoreIsWiped) {
  ServerProcess& a = node("a", {"a"}, 1, 3000);
  ASSERT_TRUE(a.start(30)) << a.log();
  std::vector<int> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(i);
  ASSERT_EQ(post_docs(a.port(), ids, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return stored_documents(a.port()) == 8; }, 20000)) << a.log();
  EXPECT_EQ(total(series(a.port(), "ragd_cluster_shard_apply_failures_total")), 0.0);

  a.kill_hard();
  std::vector<std::string> urls;
  for (uint16_t p : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(p));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  for (uint32_t s = 0; s < kShards; ++s) {
    ASSERT_TRUE((*js)->delete_stream("t_S" + std::to_string(s)).is_ok());
  }
  // The node creates the streams again on start; a new write lands in one.
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_EQ(post_docs(a.port(), {100}, 0).status, 200);
  EXPECT_TRUE(wait_until([&] { return total(series(a.port(), "ragd_cluster_shard_apply_failures_total")) >= 4; },
                         20000))
      << a.log();
  EXPECT_NE(a.log().find("was deleted and created again"), std::string::npos) << a.log();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(stored_documents(a.port()), 8u) << "nothing of the new stream is applied";
  EXPECT_EQ(stored_text(a.port(), 100), "");

  // Wiped, the node replays the new streams: the new document only.
  a.kill_hard();
  fs::remove_all(tmp_.path / "data-a");
  ASSERT_TRUE(a.start(30)) << a.log();
  EXPECT_TRUE(wait_until([&] { return stored_text(a.port(), 100) == text_of(100, 0); }, 20000)) << a.log();
  EXPECT_EQ(stored_documents(a.port()), 1u);
  EXPECT_EQ(total(series(a.port(), "ragd_cluster_shard_apply_failures_total")), 0.0);
}

TEST_F(ClusterTest, WritesToShardCollectionsAreRefused) {
  const fs::path data = tmp_.path / "data-a";
  const std::string writer = make_key(data, "w1", "writer");
  const std::string admin = make_key(data, "adm", "admin");
  ASSERT_FALSE(writer.empty());
  ASSERT_FALSE(admin.empty());
  ServerProcess& a = node("a", {"a"}, 1);
  ASSERT_TRUE(a.start(30)) << a.log();
  const uint16_t port = a.port();
  const std::string docs = Json{{"documents", {{{"id", doc_id(1)}, {"text", text_of(1, 0)}}}}}.dump();

  // A shard's replica is written from its stream alone: writes, deletes
  // and admin operations through /v1/collections/shard-<s>/ are refused.
  for (uint32_t s = 0; s < kShards; ++s) {
    const std::string base = "/v1/collections/" + cluster::shard_collection(s);
    HttpResult p = keyed(port, "POST", base + "/documents", writer, docs);
    EXPECT_EQ(p.status, 409) << p.body;
    EXPECT_NE(p.body.find("written only from its stream"), std::string::npos) << p.body;
    EXPECT_EQ(keyed(port, "DELETE", base + "/documents/" + doc_id(1), writer).status, 409);
    EXPECT_EQ(keyed(port, "POST", base + "/purge", admin, R"({"ids":["x"]})").status, 409);
  }
  // Nor may a collection take a shard's name.
  HttpResult c = keyed(port, "POST", "/v1/collections", admin, R"({"name":"shard-9"})");
  EXPECT_EQ(c.status, 400) << c.body;
  EXPECT_EQ(keyed(port, "POST", "/v1/collections", admin, R"({"name":"kb2"})").status, 201);
  // Reads stay open: a peer's coordinator searches a shard over HTTP.
  const std::string q = Json{{"query", "vpn"}, {"k", 5}}.dump();
  EXPECT_EQ(keyed(port, "POST", "/v1/collections/shard-0/search", writer, q).status, 200);
  EXPECT_EQ(keyed(port, "GET", "/v1/collections/shard-0/stats", admin).status, 200);
  EXPECT_EQ(keyed(port, "POST", "/v1/search", writer, q).status, 200);
  // Nothing refused reached a store.
  for (uint32_t s = 0; s < kShards; ++s) {
    HttpResult st = keyed(port, "GET", "/v1/collections/" + cluster::shard_collection(s) + "/stats", admin);
    ASSERT_EQ(st.status, 200) << st.body;
    EXPECT_EQ(Json::parse(st.body).value("documents", uint64_t{1}), 0u) << "shard " << s;
  }
}

// A keyed caller writes in a cluster as on one node: the caller's groups
// must cover the ACL of the new document and of the stored one it replaces
// or deletes. The stored one is read from the log (the last message on the
// document's subject), so a write acknowledged a moment ago counts before
// any replica has applied it; and every replica checks again as it applies,
// in the log's order, which settles two writers racing past the first check.
TEST_F(ClusterTest, KeyedWritesAreCheckedAgainstTheDocumentsInTheLog) {
  const fs::path data = tmp_.path / "data-a";
  auto key = [&](const std::string& name, const std::string& role, const std::string& groups) {
    return create_key(data, name, role, groups);
  };
  const std::string hr = key("hr-writer", "writer", "hr");
  const std::string eng = key("eng-writer", "writer", "eng");
  const std::string admin = key("adm", "admin", "");
  fs::create_directories(tmp_.path / "data-b");
  fs::copy_file(data / "keys.json", tmp_.path / "data-b" / "keys.json");
  // One replica per shard: half of the documents live on b alone.
  ServerProcess& a = node("a", {"a", "b"}, 1);
  ServerProcess& b = node("b", {"a", "b"}, 1);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  const uint16_t port = a.port();
  auto doc = [](int i, int version, const Json& acl) {
    Json d{{"id", doc_id(i)}, {"title", "Doc " + std::to_string(i)}, {"text", text_of(i, version)}};
    if (!acl.is_null()) d["acl"] = acl;
    return d;
  };
  auto post = [&](const std::string& secret, const Json& docs) {
    return keyed(port, "POST", "/v1/documents", secret, Json{{"documents", docs}}.dump());
  };
  const Json hr_only = Json::array({"hr"});

  Json first = Json::array();
  for (int i = 0; i < 6; ++i) first.push_back(doc(i, 0, hr_only));
  HttpResult w = post(hr, first);
  ASSERT_EQ(w.status, 200) << w.body;
  std::set<uint32_t> shards;
  for (int i = 0; i < 6; ++i) shards.insert(cluster::shard_of(doc_id(i), kShards));
  ASSERT_GT(shards.size(), 2u) << "the documents spread over the shards of both nodes";

  // At once, with no wait for the appliers: eng may not replace or delete
  // hr's documents, nor write one restricted to hr. Nothing of a refused
  // request is published.
  HttpResult replace = post(eng, Json::array({doc(10, 0, nullptr), doc(0, 1, nullptr)}));
  EXPECT_EQ(replace.status, 403) << replace.body;
  EXPECT_NE(replace.body.find("exists with an acl"), std::string::npos) << replace.body;
  HttpResult restrict = post(eng, Json::array({doc(10, 0, hr_only)}));
  EXPECT_EQ(restrict.status, 403) << restrict.body;
  // Nor under an id the cluster stores as hr's (ingest trims it).
  Json padded = doc(0, 1, Json::array({"eng"}));
  padded["id"] = " " + doc_id(0) + "\t";
  HttpResult trimmed = post(eng, Json::array({padded}));
  EXPECT_EQ(trimmed.status, 403) << trimmed.body;
  EXPECT_EQ(keyed(port, "DELETE", "/v1/documents/" + doc_id(1), eng).status, 404) << "eng cannot see it";
  // Its own documents, JSON and uploads alike.
  HttpResult own = post(eng, Json::array({doc(11, 0, Json::array({"eng"}))}));
  EXPECT_EQ(own.status, 200) << own.body;
  HttpResult up = keyed(port, "POST", "/v1/documents?filename=eng-note.txt", eng, "zqcnote from eng", "text/plain");
  EXPECT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(keyed(port, "DELETE", "/v1/documents/" + doc_id(11), hr).status, 404);
  EXPECT_EQ(keyed(port, "DELETE", "/v1/documents/no-such-doc", hr).status, 404);
  // hr replaces and deletes its own.
  EXPECT_EQ(post(hr, Json::array({doc(2, 1, hr_only)})).status, 200);
  HttpResult del = keyed(port, "DELETE", "/v1/documents/" + doc_id(1), hr);
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_NE(del.body.find("consistency_token"), std::string::npos) << del.body;

  // Two writers racing past the node's check: messages published straight
  // to the log with the writers' groups, as a node writes them. eng's
  // replacement of hr's doc-3 is refused by the replica; hr's of doc-4, after
  // it in the same shard's log or another's, is made.
  std::vector<std::string> urls;
  for (uint16_t p : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(p));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  cluster::ClusterOptions co;
  co.name = "t";
  co.shards = kShards;
  auto raced = [&](int i, const std::string& group) {
    cluster::WriteMessage m;
    m.doc.id = doc_id(i);
    m.doc.title = "Doc " + std::to_string(i);
    m.doc.text = text_of(i, 1);
    m.doc.kind = "text";
    m.writer_groups = std::vector<std::string>{group};
    auto seq = (*js)->publish(cluster::document_subject(co, m.doc.id), "raced-" + std::to_string(i),
                              cluster::encode_message(m), 5000);
    EXPECT_TRUE(seq.is_ok()) << seq.status().to_string();
  };
  raced(3, "eng");
  raced(4, "hr");

  // Read as hr (documents restricted to eng as eng): an admin's key holds no
  // groups.
  auto text = [&](int i) {
    const uint32_t s = cluster::shard_of(doc_id(i), kShards);
    for (ServerProcess* n : {&a, &b}) {
      HttpResult r = keyed(n->port(), "GET",
                           "/v1/collections/" + cluster::shard_collection(s) + "/documents/" + doc_id(i),
                           i == 11 ? eng : hr);
      if (r.status == 200) return Json::parse(r.body).value("text", "");
    }
    return std::string();
  };
  // Counted on the node that applies doc-3's shard.
  auto refused = [&] {
    double n = 0;
    for (ServerProcess* p : {&a, &b}) n += total(series(p->port(), "ragd_cluster_shard_writes_refused_total", admin));
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return refused() == 1.0; }, 20000)) << a.log() << b.log();
  EXPECT_TRUE(wait_until([&] { return text(4) == text_of(4, 1); }, 20000)) << a.log() << b.log();
  EXPECT_TRUE(wait_until([&] { return text(2) == text_of(2, 1) && text(1).empty(); }, 20000));
  EXPECT_EQ(text(3), text_of(3, 0)) << "eng's raced replacement was refused where it was applied";
  EXPECT_EQ(text(0), text_of(0, 0));
  EXPECT_EQ(text(11), text_of(11, 0));
  EXPECT_EQ(text(10), "");
  // And shown in its stats.
  uint64_t shown = 0;
  for (ServerProcess* n : {&a, &b}) {
    HttpResult st = keyed(n->port(), "GET", "/v1/stats", admin);
    ASSERT_EQ(st.status, 200) << st.body;
    const Json stats = Json::parse(st.body);
    for (const auto& sh : stats["cluster"]["applying"]) shown += sh.value("refused", uint64_t{0});
  }
  EXPECT_EQ(shown, 1u);
  EXPECT_EQ(refused(), 1.0);
  // The refused message is doc-3's last in the log; the lookup replays the
  // document's messages as the replicas decided, so hr still owns it and
  // eng still may not touch it.
  EXPECT_EQ(post(eng, Json::array({doc(3, 2, Json::array({"eng"}))})).status, 403);
  HttpResult again = post(hr, Json::array({doc(3, 2, hr_only)}));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(wait_until([&] { return text(3) == text_of(3, 2); }, 20000));
  EXPECT_EQ(refused(), 1.0);
}

// The right to be forgotten in a cluster: POST /v1/purge on one node puts a
// purge in the log, which every replica of the document's shard applies
// (removed, a tombstone), and deletes the document's earlier messages from
// the stream, so that no replica replaying it later, nor anyone reading
// the stream, finds the content again.
TEST_F(ClusterTest, APurgeReachesEveryReplicaAndLeavesNothingInTheLog) {
  // The wiped node below replays the streams (no peer snapshot): the
  // replay must step over the purge's erased messages.
  servers_.cluster_file_extra = "snapshot_bootstrap = false\n";
  // Every shard on both nodes.
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_EQ(post_docs(a.port(), {0, 1, 2}, 0).status, 200);
  ASSERT_EQ(post_docs(a.port(), {0}, 1).status, 200);
  for (ServerProcess* n : {&a, &b}) {
    ASSERT_TRUE(wait_until([&] { return stored_text(n->port(), 0) == text_of(0, 1) &&
                                        stored_text(n->port(), 1) == text_of(1, 0) &&
                                        stored_text(n->port(), 2) == text_of(2, 0); }, 20000))
        << n->log();
  }

  // b down while more documents arrive and doc-0 is purged: b's consumer is
  // behind the purge when it comes back, and must still apply them all.
  b.kill_hard();
  std::vector<int> more;
  for (int i = 5; i < 25; ++i) more.push_back(i);
  ASSERT_EQ(post_docs(a.port(), more, 0).status, 200);
  HttpResult p = http_post(a.port(), "/v1/purge", Json{{"doc_id", doc_id(0)}}.dump());
  ASSERT_EQ(p.status, 200) << p.body;
  // A NATS server restarted right after: its copy of the streams is whole.
  servers_.nats[1]->kill_hard();
  servers_.start_nats(1);
  ASSERT_TRUE(b.start(30)) << b.log();
  const Json body = Json::parse(p.body);
  ASSERT_TRUE(body.contains("consistency_token")) << p.body;
  EXPECT_EQ(body["collections"][0]["collection"], "cluster") << p.body;
  // Through a, with b's token: the purge is applied there, and doc-0 is
  // found by neither of its versions' words.
  HttpResult after = http_post(a.port(), "/v1/search",
                               Json{{"query", "zqc0v0x zqc0v1x zqc1v0x"}, {"k", 10}, {"mode", "lexical"},
                                    {"consistency_token", body["consistency_token"]}}.dump());
  ASSERT_EQ(after.status, 200) << after.body;
  std::set<std::string> found;
  const Json hits = Json::parse(after.body)["hits"];
  for (const auto& h : hits) found.insert(h["doc_id"].get<std::string>());
  EXPECT_EQ(found, std::set<std::string>{doc_id(1)}) << after.body;
  for (ServerProcess* n : {&a, &b}) {
    EXPECT_TRUE(wait_until([&] { return stored_text(n->port(), 0).empty(); }, 20000)) << n->log();
    EXPECT_EQ(stored_text(n->port(), 1), text_of(1, 0)) << n->log();
    for (int i : more) {
      EXPECT_TRUE(wait_until([&] { return stored_text(n->port(), i) == text_of(i, 0); }, 20000))
          << doc_id(i) << " on port " << n->port();
    }
  }

  // The stream, read from its start: doc-0's purge and nothing of its
  // content; the other documents' messages are all there.
  std::vector<std::string> urls;
  for (uint16_t port : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(port));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  const uint32_t shard = cluster::shard_of(doc_id(0), kShards);
  const std::string stream = "t_S" + std::to_string(shard);
  auto consumer = (*js)->consume(stream, "purge-check", 1);
  ASSERT_TRUE(consumer.is_ok()) << consumer.status().to_string();
  std::vector<std::string> messages;
  for (int round = 0; round < 5; ++round) {
    auto got = (*consumer)->fetch(64, 500);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    for (const auto& m : *got) messages.push_back(m.data);
  }
  size_t purges = 0, others = 0;
  for (const std::string& m : messages) {
    EXPECT_EQ(m.find("zqc0v"), std::string::npos) << "doc-0's content is still in the log: " << m.substr(0, 200);
    auto decoded = cluster::decode_message(m);
    ASSERT_TRUE(decoded.is_ok()) << m;
    if (decoded->purge && decoded->doc.id == doc_id(0)) ++purges;
    if (!decoded->remove) ++others;
  }
  EXPECT_EQ(purges, 1u);
  size_t expected = 0;
  for (int i : {1, 2}) expected += cluster::shard_of(doc_id(i), kShards) == shard ? 1 : 0;
  for (int i : more) expected += cluster::shard_of(doc_id(i), kShards) == shard ? 1 : 0;
  EXPECT_EQ(others, expected) << "the stream holds the shard's other documents";
  ASSERT_TRUE((*js)->delete_consumer(stream, "purge-check").is_ok());

  // b wiped replays every stream: doc-0 never comes back.
  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(30)) << b.log();
  EXPECT_TRUE(wait_until([&] { return stored_documents(b.port()) == 2 + more.size(); }, 20000)) << b.log();
  EXPECT_EQ(stored_text(b.port(), 2), text_of(2, 0));
  EXPECT_EQ(stored_text(b.port(), 0), "");
  // The replay stepped over doc-0's two erased messages, which the purge
  // recorded: no gap, on either node ("Gaps").
  uint64_t erased_skipped = 0;
  const Json b_stats = Json::parse(http_get(b.port(), "/v1/stats").body);
  for (const auto& sh : b_stats["cluster"]["applying"]) {
    erased_skipped += sh.value("erased_skipped", uint64_t{0});
    EXPECT_EQ(sh.value("gaps", uint64_t{9}), 0u) << sh;
    EXPECT_FALSE(sh.contains("gap")) << sh;
  }
  EXPECT_EQ(erased_skipped, 2u);
  for (ServerProcess* n : {&a, &b}) {
    EXPECT_EQ(total(series(n->port(), "ragd_cluster_shard_stream_gaps_total")), 0.0);
    // Healthy once the restarted node has caught up with every shard and
    // the peers see it again (a gap would keep it degraded).
    std::string health;
    EXPECT_TRUE(wait_until(
        [&] {
          health = http_get(n->port(), "/healthz").body;
          return Json::parse(health)["status"] == "ok";
        },
        20000))
        << health;
  }
  // And a's replica holds the purge's tombstone (sync never brings it back).
  ASSERT_EQ(a.stop(), 0);
  StoreOptions so;
  so.dir = tmp_.path / "data-a" / "collections" / cluster::shard_collection(shard);
  auto store = Store::open(so);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  auto tomb = govern::tombstone_of(**store, doc_id(0));
  ASSERT_TRUE(tomb.is_ok()) << tomb.status().to_string();
  EXPECT_NE(*tomb, "");
}

// What a purge relies on: erasing a message of one subject does not move a
// consumer over the whole stream (nats-server 2.9's purge by subject does:
// it sets every consumer whose filter covers the subject, and an unfiltered
// one does, to the purge point). A subject's messages are found one by one.
// What an applier meets when a rebalancer deletes its node's consumer
// under it (a node whose lease lapsed while it kept running; cluster/README.md,
// "Rebalancing"): its fetches get nothing, without an error that would make
// it create the consumer again, and the consumer stays gone.
TEST_F(ClusterTest, AFetchFromADeletedConsumerGetsNothingAndMakesNoConsumer) {
  std::vector<std::string> urls;
  for (uint16_t port : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(port));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  ASSERT_TRUE((*js)->ensure_stream("gone", "x", 3).is_ok());
  auto consumer = (*js)->consume("gone", "n3_s0", 1);
  ASSERT_TRUE(consumer.is_ok()) << consumer.status().to_string();
  ASSERT_TRUE((*js)->publish("x.a", "m1", "one", 5000).is_ok());
  auto first = (*consumer)->fetch(10, 2000);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(first->size(), 1u);
  auto names = (*js)->consumer_names("gone");
  ASSERT_TRUE(names.is_ok()) << names.status().to_string();
  EXPECT_EQ(*names, std::vector<std::string>{"n3_s0"});

  ASSERT_TRUE((*js)->delete_consumer("gone", "n3_s0").is_ok());
  ASSERT_TRUE((*js)->publish("x.a", "m2", "two", 5000).is_ok());
  for (int i = 0; i < 3; ++i) {
    auto got = (*consumer)->fetch(10, 500);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_TRUE(got->empty());
  }
  names = (*js)->consumer_names("gone");
  ASSERT_TRUE(names.is_ok()) << names.status().to_string();
  EXPECT_TRUE(names->empty());
  EXPECT_TRUE((*js)->delete_consumer("gone", "n3_s0").is_ok()) << "one already gone is no error";
}

TEST_F(ClusterTest, ErasingAMessageLeavesAConsumerWhereItWas) {
  std::vector<std::string> urls;
  for (uint16_t port : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(port));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  ASSERT_TRUE((*js)->ensure_stream("erase", "x", 3).is_ok());
  auto consumer = (*js)->consume("erase", "c", 1);
  ASSERT_TRUE(consumer.is_ok()) << consumer.status().to_string();
  int n = 0;
  auto put = [&](const std::string& subject, const std::string& data) {
    auto seq = (*js)->publish(subject, "m" + std::to_string(++n), data, 5000);
    EXPECT_TRUE(seq.is_ok()) << seq.status().to_string();
    return seq.is_ok() ? *seq : 0;
  };
  const uint64_t a1 = put("x.a", "a1");
  put("x.b", "b1");
  put("x.a", "a2");
  put("x.b", "b2");
  // x.a's messages from the start, then the first erased.
  auto first = (*js)->next_message("erase", "x.a", 1);
  ASSERT_TRUE(first.is_ok() && first->has_value());
  EXPECT_EQ((*first)->stream_seq, a1);
  EXPECT_EQ((*first)->data, "a1");
  auto second = (*js)->next_message("erase", "x.a", a1 + 1);
  ASSERT_TRUE(second.is_ok() && second->has_value());
  EXPECT_EQ((*second)->data, "a2");
  auto none = (*js)->next_message("erase", "x.a", (*second)->stream_seq + 1);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE((*js)->erase_message("erase", a1).is_ok());
  Status twice = (*js)->erase_message("erase", a1);
  ASSERT_TRUE(twice.is_ok()) << "one already gone is no error: " << twice.to_string();
  std::vector<std::string> got;
  for (int round = 0; round < 3 && got.size() < 3; ++round) {
    auto batch = (*consumer)->fetch(10, 1000);
    ASSERT_TRUE(batch.is_ok()) << batch.status().to_string();
    for (const auto& m : *batch) got.push_back(m.data);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"b1", "a2", "b2"}));
  auto after = (*js)->next_message("erase", "x.a", 1);
  ASSERT_TRUE(after.is_ok() && after->has_value());
  EXPECT_EQ((*after)->data, "a2");
  EXPECT_TRUE((*js)->delete_stream("erase").is_ok());
}

// Ticket assist on a cluster node reads every shard through the
// coordinator, so it answers as a single store with the same documents
// does: the sample knowledge base uploaded file by file to a single server
// and through node a of a 2-node cluster, then every ticket of
// examples/kb-eval/ticket_siblings.jsonl assisted by id (the stored ticket
// itself read from its shard) through b.
TEST_F(ClusterTest, TicketAssistOnANodeAnswersAsOneStoreDoes) {
  ServerProcess single(tmp_.path / "single", glove_);
  ServerProcess& a = node("a", {"a", "b"}, 1);
  ServerProcess& b = node("b", {"a", "b"}, 1);
  ASSERT_TRUE(single.start(30)) << single.log();
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  const fs::path kb = fs::path(RAGD_SOURCE_DIR) / "examples/kb";
  auto encode = [](const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '.' || c == '_') {
        out += static_cast<char>(c);
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
    return out;
  };
  for (const auto& f : list_files(kb)) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string target = "/v1/documents?filename=" + encode(fs::relative(f, kb).string());
    for (uint16_t port : {single.port(), a.port()}) {
      HttpResult up = http_request(port, "POST", target, bytes, "application/octet-stream");
      ASSERT_EQ(up.status, 200) << f << ": " << up.body;
    }
  }
  HttpResult st = http_get(single.port(), "/v1/stats");
  ASSERT_EQ(st.status, 200);
  const uint64_t documents = Json::parse(st.body).value("documents", uint64_t{0});
  ASSERT_GT(documents, 50u);
  ASSERT_TRUE(wait_until([&] { return stored_documents(a.port()) + stored_documents(b.port()) == documents; },
                         30000));

  std::ifstream lines(fs::path(RAGD_SOURCE_DIR) / "examples/kb-eval/ticket_siblings.jsonl");
  size_t tickets = 0, with_similar = 0, grounded = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const std::string id = Json::parse(line)["ticket"].get<std::string>();
    const std::string body = Json{{"id", id}}.dump();
    HttpResult one = http_post(single.port(), "/v1/tickets/assist", body);
    HttpResult many = http_post(b.port(), "/v1/tickets/assist", body);
    ASSERT_EQ(one.status, 200) << id << ": " << one.body;
    ASSERT_EQ(many.status, 200) << id << ": " << many.body;
    const Json x = Json::parse(one.body), y = Json::parse(many.body);
    auto ids = [](const Json& list) {
      std::vector<std::string> out;
      for (const auto& e : list) out.push_back(e.value("id", ""));
      return out;
    };
    EXPECT_EQ(ids(y["similar"]), ids(x["similar"])) << id;
    ASSERT_EQ(y["similar"].size(), x["similar"].size()) << id;
    for (size_t i = 0; i < x["similar"].size(); ++i) {
      EXPECT_NEAR(y["similar"][i].value("score", 0.0), x["similar"][i].value("score", 0.0), 1e-6) << id;
      EXPECT_EQ(y["similar"][i].value("resolution", ""), x["similar"][i].value("resolution", "")) << id;
    }
    EXPECT_EQ(ids(y["runbooks"]), ids(x["runbooks"])) << id;
    EXPECT_EQ(ids(y["duplicates"]), ids(x["duplicates"])) << id;
    EXPECT_EQ(y["suggestion"].value("text", ""), x["suggestion"].value("text", "")) << id;
    ++tickets;
    with_similar += x["similar"].empty() ? 0 : 1;
    grounded += x["suggestion"].value("grounded", false) ? 1 : 0;
  }
  EXPECT_GE(tickets, 20u);
  EXPECT_GE(with_similar, tickets / 2) << "the comparison is of real answers, not of empty ones";
  EXPECT_GE(grounded, 1u);

  // A ticket restricted to hr, written through a and assisted by id through
  // b at once with the write's token: read from a replica that has it, and
  // only by a caller asking as hr, as on the single server.
  // Behind 300 other documents in the same write, so that the replicas are
  // still applying when the assist comes.
  Json restricted{{"documents", Json::array()}};
  for (int i = 100; i < 400; ++i) {
    restricted["documents"].push_back({{"id", doc_id(i)}, {"title", "Doc " + std::to_string(i)}, {"text", text_of(i, 0)}});
  }
  restricted["documents"].push_back({{"id", "INC-ACL-1"},
                                     {"kind", "ticket"},
                                     {"title", "VPN error 809 at the branch office"},
                                     {"text", "The branch office VPN fails with error 809 since this morning."},
                                     {"acl", {"hr"}}});
  ASSERT_EQ(http_post(single.port(), "/v1/documents", restricted.dump()).status, 200);
  HttpResult w = http_post(a.port(), "/v1/documents", restricted.dump());
  ASSERT_EQ(w.status, 200) << w.body;
  const std::string token = Json::parse(w.body)["consistency_token"].get<std::string>();
  const std::string by_id = Json{{"id", "INC-ACL-1"}, {"consistency_token", token}}.dump();
  for (uint16_t port : {single.port(), b.port()}) {
    HttpResult as_hr = http_post(port, "/v1/tickets/assist?groups=hr", by_id);
    EXPECT_EQ(as_hr.status, 200) << port << ": " << as_hr.body;
    EXPECT_EQ(http_post(port, "/v1/tickets/assist", by_id).status, 404) << port;
    EXPECT_EQ(http_post(port, "/v1/tickets/assist?groups=sales", by_id).status, 404) << port;
  }
}

// The LLM routes on a cluster node read every shard through the
// coordinator. The model is the model builder's random-weight one: its text
// means nothing, the retrieval does.
//   - POST /v1/chat/completions with model "ragd": the evidence of a
//     document whose only replica is on the other node reaches the LLM (the
//     audit log's retrieved documents say which did).
//   - POST /v1/answer: a fix question whose one hit is the symptoms of a
//     runbook held only by the other node takes the steps of that runbook's
//     Resolution section, read through the coordinator, for its evidence
//     order and its extractive fallback: the fallback is the extractive
//     answer of the node without the LLM.
TEST_F(ClusterTest, TheLlmRoutesReadEveryShard) {
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i) texts.push_back(text_of(i, 0));
  testing_llm::TinyLlmSpec spec;
  spec.words = testing_llm::words_of(texts);
  const fs::path model = tmp_.path / "tiny.gguf";
  fs::rename(testing_llm::write_tiny_llm(spec, "cluster"), model);
  const fs::path audit = tmp_.path / "audit.jsonl";
  // One replica per shard: a holds shards 0 and 2, b holds 1 and 3.
  ServerProcess& a = node("a", {"a", "b"}, 1, 20000, kShards,
                          {"--llm", model.string(), "--audit-log", audit.string(), "--llm-threads", "1"});
  ServerProcess& b = node("b", {"a", "b"}, 1);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  std::vector<int> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(i);
  HttpResult w = post_docs(b.port(), ids, 0);
  ASSERT_EQ(w.status, 200) << w.body;
  const std::string tok = Json::parse(w.body)["consistency_token"].get<std::string>();
  int on_b = -1;
  for (int i = 0; i < 20 && on_b < 0; ++i) {
    if (cluster::shard_of(doc_id(i), kShards) % 2 == 1) on_b = i;
  }
  ASSERT_GE(on_b, 0);
  // Until a has read b's lease, b's shards have no live replica (503).
  ASSERT_TRUE(wait_until([&] {
    auto got = search(a.port(), token(on_b, 0));
    return got && got->count(doc_id(on_b));
  }, 20000));
  const Json chat{{"model", "ragd"},
                  {"max_tokens", 4},
                  {"messages", Json::array({Json{{"role", "user"}, {"content", token(on_b, 0)}}})},
                  {"ragd", Json{{"consistency_token", tok}, {"mode", "lexical"}}}};
  HttpResult r = http_post(a.port(), "/v1/chat/completions", chat.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  std::ifstream in(audit);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  ASSERT_FALSE(last.empty()) << "no audit record";
  const Json rec = Json::parse(last);
  ASSERT_TRUE(rec.contains("retrieved_doc_ids")) << last;
  ASSERT_FALSE(rec["retrieved_doc_ids"].empty()) << last;
  EXPECT_EQ(rec["retrieved_doc_ids"][0], doc_id(on_b)) << last;

  std::string runbook_id;
  for (int n = 0; runbook_id.empty(); ++n) {
    if (cluster::shard_of("runbook-" + std::to_string(n), kShards) % 2 == 1) runbook_id = "runbook-" + std::to_string(n);
  }
  const std::string runbook =
      "# Spooler zq7 stalls\n\n## Symptoms\n\nThe spooler zq7 stalls every morning and the print queue stays "
      "empty. Jobs sent from any laptop wait without an error, and the printers at the site show no job at "
      "all.\n\n## Resolution\n\n1. Stop the print service on the server.\n2. Delete the stale files in "
      "the queue folder.\n3. Start the service again and print a test page.\n";
  const Json doc{{"documents", Json::array({Json{{"id", runbook_id}, {"title", "Spooler zq7 stalls"}, {"text", runbook}}})}};
  HttpResult put = http_post(b.port(), "/v1/documents", doc.dump());
  ASSERT_EQ(put.status, 200) << put.body;
  const std::string put_tok = Json::parse(put.body)["consistency_token"].get<std::string>();
  const Json q{{"query", "How do I fix the spooler zq7 stalls?"}, {"k", 1}, {"max_tokens", 2},
               {"consistency_token", put_tok}, {"include_hits", true}};
  HttpResult llm = http_post(a.port(), "/v1/answer", q.dump());
  ASSERT_EQ(llm.status, 200) << llm.body;
  HttpResult plain = http_post(b.port(), "/v1/answer", q.dump());
  ASSERT_EQ(plain.status, 200) << plain.body;
  const Json la = Json::parse(llm.body), pa = Json::parse(plain.body);
  ASSERT_EQ(la["grounding"], "fallback") << la.dump(2);
  // The steps are not in the one hit: they were read through the coordinator.
  ASSERT_EQ(la["hits"].size(), 1u) << la.dump(2);
  EXPECT_EQ(la["hits"][0]["section_path"].back(), "Symptoms") << la.dump(2);
  EXPECT_NE(la["answer"].get<std::string>().find("Delete the stale files"), std::string::npos) << la.dump(2);
  EXPECT_EQ(la["answer"], pa["answer"]) << la.dump(2) << "\n" << pa.dump(2);

  // A purge through b of the runbook, which only b holds: a took no part in
  // it, but its prefix cache holds prompts that quote the runbook, and
  // empties at a's next look at the purges (every second).
  // -1: no such series (a failed scrape), which must not pass for empty.
  auto cached = [&] {
    const auto s = series(a.port(), "ragd_llm_prefix_cache_bytes");
    return s.empty() ? -1.0 : total(s);
  };
  ASSERT_GT(cached(), 0) << "a cached the prompts it answered";
  HttpResult purged = http_post(b.port(), "/v1/purge", Json{{"doc_id", runbook_id}}.dump());
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_TRUE(wait_until([&] { return cached() == 0; }, 10000)) << a.log();
}

TEST_F(ClusterTest, ConcurrentSearchesOnANodeThatHoldsEveryShardDoNotStall) {
  // Two route workers (--threads 2) and more concurrent searches than
  // that: a coordinator that asked its own shards over HTTP would wait for
  // workers its own searches hold, until the search timeout (10 s).
  ServerProcess& a = node("a", {"a"}, 1);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_EQ(post_docs(a.port(), {1, 2, 3}, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return finds(a.port(), 2); }, 20000)) << a.log();
  constexpr int kConcurrent = 6;
  std::vector<int> codes(kConcurrent);
  std::vector<double> ms(kConcurrent);
  std::vector<std::thread> threads;
  const std::string q = Json{{"query", "vpn tunnel firewall"}, {"k", 5}, {"mode", "hybrid"}}.dump();
  for (int t = 0; t < kConcurrent; ++t) {
    threads.emplace_back([&, t] {
      const auto t0 = std::chrono::steady_clock::now();
      codes[t] = http_request(a.port(), "POST", "/v1/search", q, "application/json", {}, 30).status;
      ms[t] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kConcurrent; ++t) {
    EXPECT_EQ(codes[t], 200) << "search " << t;
    EXPECT_LT(ms[t], 5000) << "search " << t;
  }
  std::cout << "[ figures ] " << kConcurrent << " concurrent searches on 2 workers, slowest "
            << *std::max_element(ms.begin(), ms.end()) << " ms\n";
}

// A search asks each peer once per phase, for all of the shards it holds,
// not once per shard: three nodes, eight shards, one replica each, so the
// coordinator asks its two peers for five shards. Each search answers what
// a one-shard-per-request search would (every document that holds the
// query's token is found).
TEST_F(ClusterTest, ASearchAsksEachPeerOncePerPhase) {
  const std::vector<std::string> ids{"a", "b", "c"};
  constexpr int kEight = 8;
  for (const auto& id : ids) ASSERT_TRUE(node(id, ids, 1, 20000, kEight).start(30)) << nodes_[id]->log();
  const uint16_t a = nodes_["a"]->port();
  std::vector<int> all(40);
  std::iota(all.begin(), all.end(), 0);
  ASSERT_EQ(post_docs(a, all, 0).status, 200);
  ASSERT_TRUE(wait_until([&] {
    double sum = 0;
    for (const auto& id : ids) sum += total(series(nodes_[id]->port(), "ragd_cluster_shard_applied_sequence"));
    return sum == 40.0;
  }, 30000));
  ASSERT_TRUE(wait_until([&] { return search(a, token(7, 0)).has_value(); }, 15000));
  // Which shards a holds: the others are its peers'.
  std::set<uint32_t> remote;
  for (int i : all) remote.insert(cluster::shard_of(doc_id(i), kEight));
  for (uint32_t s = 0; s < kEight; ++s) {
    if (http_get(a, "/v1/collections/" + cluster::shard_collection(s) + "/stats").status == 200) remote.erase(s);
  }
  ASSERT_GE(remote.size(), 3u) << "the peers hold most shards";

  const double before = total(series(a, "ragd_cluster_search_peer_requests_total"));
  constexpr int kSearches = 12;
  for (int i = 0; i < kSearches; ++i) {
    // Each search's own term: its statistics are read, not cached. One
    // fetch batch: k 5 without de-duplication takes the first 16 fused.
    const Json q{{"query", token(i, 0) + " vpn"}, {"k", 5}, {"mode", "hybrid"}, {"dedup", false}};
    HttpResult r = http_post(a, "/v1/search", q.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const Json hits = Json::parse(r.body)["hits"];
    bool found = false;
    for (const auto& h : hits) found |= h["doc_id"] == doc_id(i);
    EXPECT_TRUE(found) << "the document with the search's own token: " << r.body;
  }
  const double sent = total(series(a, "ragd_cluster_search_peer_requests_total")) - before;
  // Three phases, two peers: at most 6 requests a search (a shard per
  // request would take one per remote shard and phase: 3 x remote).
  EXPECT_LE(sent, 6.0 * kSearches);
  EXPECT_GE(sent, 2.0 * kSearches) << "each search asks both peers for candidates";
  std::cout << "[ figures ] " << sent / kSearches << " peer requests a search for " << remote.size()
            << " remote shards on 2 peers\n";
}

// Searches coordinated on two nodes at once, more of them than each node
// has route workers (--threads 2): each waits for the other node's phases.
// Were the phases answered by the route workers, both nodes' workers would
// wait for each other and each search for its timeout (10 s); they have
// threads of their own (Lane::kPeer).
TEST_F(ClusterTest, SearchesThroughTwoNodesAtOnceDoNotWaitForEachOther) {
  ServerProcess& a = node("a", {"a", "b"}, 1);
  ServerProcess& b = node("b", {"a", "b"}, 1);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  std::vector<int> all(30);
  std::iota(all.begin(), all.end(), 0);
  ASSERT_EQ(post_docs(a.port(), all, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return finds(a.port(), 29) && finds(b.port(), 29); }, 20000));
  constexpr int kEach = 6;
  std::vector<int> codes(2 * kEach);
  std::vector<double> ms(2 * kEach);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kEach; ++t) {
    threads.emplace_back([&, t] {
      const std::string q = Json{{"query", token(t, 0) + " vpn tunnel"}, {"k", 5}, {"mode", "hybrid"}}.dump();
      const uint16_t port = t % 2 == 0 ? a.port() : b.port();
      const auto t0 = std::chrono::steady_clock::now();
      for (int round = 0; round < 3; ++round) {
        const int code = http_request(port, "POST", "/v1/search", q, "application/json", {}, 30).status;
        if (code != 200) codes[t] = code;
      }
      if (codes[t] == 0) codes[t] = 200;
      ms[t] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 2 * kEach; ++t) {
    EXPECT_EQ(codes[t], 200) << "client " << t;
    EXPECT_LT(ms[t], 5000) << "client " << t << ": three searches";
  }
  std::cout << "[ figures ] " << 2 * kEach << " clients through 2 nodes of 2 route workers, slowest 3 searches "
            << *std::max_element(ms.begin(), ms.end()) << " ms\n";
}

// A key's groups hold on every shard, local or a peer's: a coordinator
// binds them once and its peers must not widen them again (an empty list
// stays empty). The scheme of the bearer token may come in any case, and a
// malformed shard phase is a 400.
// Writes 24 documents through `a`: 12 restricted to "hr" (text
// "zqcsecret ..."), 12 public ("zqcpublic ..."); waits until `a` and `b`
// applied them, stops both, and creates a reader key holding hr and eng in
// `key_data` (returned in `key`).
void write_acl_corpus_then_key(ServerProcess& a, ServerProcess& b, const fs::path& key_data, std::string& key) {
  Json docs = Json::array();
  for (int i = 0; i < 24; ++i) {
    Json d{{"id", doc_id(i)},
           {"title", "Doc " + std::to_string(i)},
           {"text", (i < 12 ? "zqcsecret " : "zqcpublic ") + text_of(i, 0)}};
    if (i < 12) d["acl"] = {"hr"};
    docs.push_back(d);
  }
  ASSERT_EQ(http_post(a.port(), "/v1/documents", Json{{"documents", docs}}.dump()).status, 200);
  ASSERT_TRUE(wait_until([&] {
    return total(series(a.port(), "ragd_cluster_shard_applied_sequence")) +
               total(series(b.port(), "ragd_cluster_shard_applied_sequence")) ==
           24.0;
  }, 20000));
  ASSERT_EQ(a.stop(), 0);
  ASSERT_EQ(b.stop(), 0);
  std::string out;
  ASSERT_EQ(run_ragd({"keys", "create", "--data", key_data.string(), "--name", "r", "--role", "reader", "--groups",
                      "hr,eng"},
                     &out),
            0)
      << out;
  key = out.substr(0, out.find('\n'));
}

// The distinct documents a lexical search for `query` (k 50, no
// de-duplication, with `groups` unless null) finds through `port`.
size_t documents_found(uint16_t port, const std::string& authorization, const std::string& query, const Json& groups) {
  Json body{{"query", query}, {"k", 50}, {"mode", "lexical"}, {"dedup", false}};
  if (!groups.is_null()) body["groups"] = groups;
  HttpResult r = http_request(port, "POST", "/v1/search", body.dump(), "application/json",
                              {"Authorization: " + authorization});
  EXPECT_EQ(r.status, 200) << r.body;
  std::set<std::string> ids;
  const Json j = Json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.contains("hits")) {
    for (const auto& h : j["hits"]) ids.insert(h["doc_id"].get<std::string>());
  }
  return ids.size();
}

TEST_F(ClusterTest, AKeysGroupsHoldOnEveryShard) {
  ServerProcess& a = node("a", {"a", "b"}, 1, 3000);
  ServerProcess& b = node("b", {"a", "b"}, 1, 3000);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  // Written before any key exists.
  std::string key;
  ASSERT_NO_FATAL_FAILURE(write_acl_corpus_then_key(a, b, tmp_.path / "data-a", key));
  // The same key on both nodes.
  fs::copy_file(tmp_.path / "data-a" / "keys.json", tmp_.path / "data-b" / "keys.json",
                fs::copy_options::overwrite_existing);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  // Until a sees b's new lease, b's shards have no live replica (503).
  ASSERT_TRUE(wait_until([&] {
    return keyed(a.port(), "POST", "/v1/search", key, R"({"query":"zqcpublic"})").status == 200;
  }, 15000)) << keyed(a.port(), "POST", "/v1/search", key, R"({"query":"zqcpublic"})").body;

  auto found = [&](const std::string& query, const Json& groups, const std::string& scheme) {
    return documents_found(a.port(), scheme + " " + key, query, groups);
  };
  EXPECT_EQ(found("zqcsecret", nullptr, "Bearer"), 12u) << "the key holds hr: every shard's restricted documents";
  EXPECT_EQ(found("zqcsecret", Json::array({"sales"}), "Bearer"), 0u)
      << "asking for a group the key lacks leaves none, on the peer's shards too";
  EXPECT_EQ(found("zqcpublic", Json::array({"sales"}), "Bearer"), 12u);
  EXPECT_EQ(found("zqcsecret", nullptr, "bearer"), 12u) << "the scheme in lower case reaches the peers too";
  EXPECT_EQ(http_post(a.port(), "/v1/search", Json{{"query", "zqcsecret"}}.dump()).status, 401);

  // Malformed shard phases are the caller's error.
  auto phase = [&](const Json& fields) {
    Json body{{"query", "zqcsecret"}, {"k", 5}};
    for (const auto& [k, v] : fields.items()) body[k] = v;
    return keyed(a.port(), "POST", "/v1/collections/shard-0/search", key, body.dump()).status;
  };
  EXPECT_EQ(phase({{"shard_phase", "bogus"}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "fetch"}, {"labels", Json::array({Json::array({1, 1})})}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "fetch"}, {"labels", Json::array({std::vector<int>(2001, 0)})}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "fetch"}, {"labels", Json::array({Json::array({-1})})}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "fetch"}, {"labels", Json::array({1})}}), 400) << "one list per shard";
  EXPECT_EQ(phase({{"shard_phase", "stats"}, {"shards", {1, 0}}}), 400) << "the path's shard first";
  EXPECT_EQ(phase({{"shard_phase", "stats"}, {"shards", {0, 0}}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "stats"}, {"shards", {0, 99}}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "stats"}, {"shards", Json::array()}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "candidates"}, {"corpus", {{"chunks", 5}}}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "candidates"},
                   {"corpus", {{"chunks", 5}, {"total_length", 1}, {"df", Json::object()}}}}),
            400);
  EXPECT_EQ(phase({{"shard_phase", "chunks"}, {"doc_id", 7}}), 400);
  EXPECT_EQ(phase({{"shard_phase", "stats"}}), 200);
  EXPECT_EQ(phase({{"shard_phase", "documents_where"}, {"key", "sync_source"}, {"value", "sn"}}), 403)
      << "a reader's key must not list documents whatever their ACL";
  EXPECT_EQ(http_get(a.port(), "/healthz").status, 200);
}

// With a cluster secret (secret_file), a coordinator signs its requests to
// the shards' replicas instead of passing the caller's key on: a key that
// exists on the coordinating node only searches every shard, its groups
// still bound; and a shard replica answers only signed requests, so no key
// asks it a term's document frequency, an answer or BM25 scores over
// documents the key may not see.
TEST_F(ClusterTest, WithASecretTheNodesSignAndOnlyTheyAskTheShards) {
  const std::string secret = "4f1c0d3e9a7b5c2d8e6f0a1b3c5d7e9f-test-secret";
  write_file(tmp_.path / "cluster.secret", secret + "\n");
  fs::permissions(tmp_.path / "cluster.secret", fs::perms::owner_read | fs::perms::owner_write);
  // Written before any key exists, so the nodes start without keys:
  // --insecure-no-auth.
  ServerProcess& a = node("a", {"a", "b"}, 1, 3000, kShards, {"--insecure-no-auth"});
  ServerProcess& b = node("b", {"a", "b"}, 1, 3000, kShards, {"--insecure-no-auth"});
  for (const char* id : {"a", "b"}) {
    std::ofstream(tmp_.path / (std::string(id) + ".toml"), std::ios::app) << "secret_file = \"cluster.secret\"\n";
  }
  {
    // Without it a keyless node with a secret refuses to start: the other
    // nodes would take its word for any caller's groups.
    std::string refused;
    EXPECT_NE(run_ragd({"serve", "--cluster", (tmp_.path / "a.toml").string(), "--data",
                        (tmp_.path / "data-refused").string(), "--listen", "127.0.0.1:0"},
                       &refused),
              0);
    EXPECT_NE(refused.find("requires no key"), std::string::npos) << refused;
  }
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  // A reader key on a only; b has keys of its own (so it requires one).
  std::string key;
  ASSERT_NO_FATAL_FAILURE(write_acl_corpus_then_key(a, b, tmp_.path / "data-a", key));
  const std::string b_admin = make_key(tmp_.path / "data-b", "b-admin", "admin");
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] {
    return keyed(a.port(), "POST", "/v1/search", key, R"({"query":"zqcpublic"})").status == 200;
  }, 15000)) << keyed(a.port(), "POST", "/v1/search", key, R"({"query":"zqcpublic"})").body << a.log();

  auto found = [&](const std::string& query, const Json& groups) {
    return documents_found(a.port(), "Bearer " + key, query, groups);
  };
  EXPECT_EQ(found("zqcsecret", nullptr), 12u) << "the key, unknown to b, reads b's shards through a";
  EXPECT_EQ(found("zqcsecret", Json::array({"sales"})), 0u) << "a's binding of the groups holds on b";
  EXPECT_EQ(found("zqcpublic", nullptr), 12u);
  // The key is not valid on b itself.
  EXPECT_EQ(keyed(b.port(), "POST", "/v1/search", key, R"({"query":"zqcpublic"})").status, 401);

  // A shard b holds.
  HttpResult stats = keyed(b.port(), "GET", "/v1/stats", b_admin);
  ASSERT_EQ(stats.status, 200) << stats.body;
  const Json shards = Json::parse(stats.body)["cluster"]["applying"];
  ASSERT_FALSE(shards.empty()) << stats.body;
  const std::string target = "/v1/collections/shard-" + std::to_string(shards[0]["shard"].get<int>()) + "/search";
  const std::string phase = R"({"query":"zqcsecret","k":5,"shard_phase":"stats"})";
  // No key asks a shard's phases directly, not even an admin's.
  HttpResult direct = keyed(b.port(), "POST", target, b_admin, phase);
  EXPECT_EQ(direct.status, 403) << direct.body;
  EXPECT_EQ(keyed(a.port(), "POST", "/v1/collections/shard-0/search", key, phase).status, 403);
  // Signed requests: the right secret passes; another secret, another body,
  // an old signature or another route does not.
  auto signed_by = [&](const std::string& with, const std::string& method, const std::string& path,
                       const std::string& body, int64_t age_ms = 0) {
    const int64_t now = auth::peer_clock_ms();
    return http_request(b.port(), method, path, body, "application/json",
                        {"X-Ragd-Peer: " + auth::sign_peer_request(with, "t", "a", now - age_ms, method, path, body)});
  };
  HttpResult ok = signed_by(secret, "POST", target, phase);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("\"df\""), std::string::npos) << ok.body;
  EXPECT_EQ(signed_by(secret + "x", "POST", target, phase).status, 401);
  EXPECT_EQ(signed_by(secret, "POST", target, phase, 120000).status, 401);
  HttpResult moved = http_request(
      b.port(), "POST", target, R"({"query":"zqcpublic","k":5,"shard_phase":"stats"})", "application/json",
      {"X-Ragd-Peer: " + auth::sign_peer_request(secret, "t", "a",
                                                 auth::peer_clock_ms(),
                                                 "POST", target, phase)});
  EXPECT_EQ(moved.status, 401) << "a signature does not carry over to another body";
  EXPECT_EQ(signed_by(secret, "POST", "/v1/search", R"({"query":"zqcpublic"})").status, 403);
  EXPECT_EQ(signed_by(secret, "GET", "/v1/stats", "").status, 403);
  const std::string shard_answer = target.substr(0, target.rfind('/')) + "/answer";
  EXPECT_EQ(signed_by(secret, "POST", shard_answer, R"({"query":"zqcsecret"})").status, 403);
  {
    // Another cluster with the same secret file.
    const int64_t now = auth::peer_clock_ms();
    HttpResult other = http_request(b.port(), "POST", target, phase, "application/json",
                                    {"X-Ragd-Peer: " + auth::sign_peer_request(secret, "staging", "a", now, "POST",
                                                                               target, phase)});
    EXPECT_EQ(other.status, 401) << other.body;
  }
  // No route of a replica answers a key, not a search, not an answer (with
  // its hits' BM25 scores) and not a plain search; an admin may GET.
  EXPECT_EQ(keyed(b.port(), "POST", shard_answer, b_admin, R"({"query":"zqcsecret","include_hits":true})").status,
            403);
  EXPECT_EQ(keyed(b.port(), "POST", target, b_admin, R"({"query":"zqcsecret"})").status, 403);
  EXPECT_EQ(keyed(a.port(), "POST", "/v1/collections/shard-0/search", key, R"({"query":"zqcsecret"})").status, 403);
  HttpResult admin_get =
      keyed(b.port(), "GET", target.substr(0, target.rfind('/')) + "/documents/" + doc_id(0), b_admin);
  EXPECT_TRUE(admin_get.status == 200 || admin_get.status == 404) << admin_get.status << " " << admin_get.body;
  EXPECT_EQ(keyed(a.port(), "GET", "/v1/collections/shard-0/documents/" + doc_id(0), key).status, 403)
      << "a reader's GET of a replica";
  EXPECT_EQ(keyed(b.port(), "DELETE", target.substr(0, target.rfind('/')), b_admin).status, 409)
      << "a replica is not deleted by hand";
  // The answer path reads b's shards through a too (the chunks phase is
  // signed like the search's).
  HttpResult answer = keyed(a.port(), "POST", "/v1/answer", key, R"({"query":"zqcsecret","include_hits":true})");
  ASSERT_EQ(answer.status, 200) << answer.body;
  const Json answered = Json::parse(answer.body);
  ASSERT_TRUE(answered.contains("hits")) << answer.body;
  EXPECT_FALSE(answered["hits"].empty()) << answer.body;
  EXPECT_EQ(http_get(b.port(), "/healthz").status, 200);

  // b restarted with another secret: a's searches that need b's shards fail
  // with 503, naming what to check.
  ASSERT_EQ(b.stop(), 0);
  write_file(tmp_.path / "cluster.secret", secret + "-rotated-on-b-only\n");
  fs::permissions(tmp_.path / "cluster.secret", fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_TRUE(b.start(30)) << b.log();
  HttpResult mismatched;
  ASSERT_TRUE(wait_until([&] {
    mismatched = keyed(a.port(), "POST", "/v1/search", key, R"({"query":"zqcpublic"})");
    return mismatched.status == 503 && mismatched.body.find("refused this node") != std::string::npos;
  }, 15000)) << mismatched.status << " " << mismatched.body;
  EXPECT_NE(mismatched.body.find("secret_file"), std::string::npos) << mismatched.body;
}

// A secret rotated with rolling restarts: halfway through the round where
// the nodes switch to signing with the new secret, a signs with the new one
// and accepts the old, b signs with the old and accepts the new: each
// searches the other's shards. Without the new secret accepted, b refuses a.
TEST_F(ClusterTest, ASecretIsRotatedWhileTheNodesKeepSearchingEachOther) {
  auto private_file = [&](const std::string& name, const std::string& secret) {
    write_file(tmp_.path / name, secret + "\n");
    fs::permissions(tmp_.path / name, fs::perms::owner_read | fs::perms::owner_write);
  };
  private_file("old.secret", "0123456789abcdef0123456789abcdef-old-secret");
  private_file("new.secret", "fedcba9876543210fedcba9876543210-new-secret");
  ServerProcess& a = node("a", {"a", "b"}, 1, 3000, kShards, {"--insecure-no-auth"});
  ServerProcess& b = node("b", {"a", "b"}, 1, 3000, kShards, {"--insecure-no-auth"});
  const std::string a_file = (tmp_.path / "a.toml").string(), b_file = (tmp_.path / "b.toml").string();
  const std::string a_base = read_file(a_file), b_base = read_file(b_file);
  write_file(a_file, a_base + "secret_file = \"new.secret\"\naccept_secret_files = [\"old.secret\"]\n");
  write_file(b_file, b_base + "secret_file = \"old.secret\"\naccept_secret_files = [\"new.secret\"]\n");
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  std::vector<int> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(i);
  ASSERT_EQ(post_docs(a.port(), ids, 0).status, 200);
  auto all_found = [&](uint16_t port) {
    for (int i : ids) {
      auto got = search(port, token(i, 0));
      if (!got || got->count(doc_id(i)) != 1) return false;
    }
    return true;
  };
  EXPECT_TRUE(wait_until([&] { return all_found(a.port()); }, 20000)) << "a signs with the new secret; b accepts it";
  EXPECT_TRUE(all_found(b.port())) << "b signs with the old secret; a accepts it";
  // b accepting only its own (old) secret: a's requests are refused.
  ASSERT_EQ(b.stop(), 0);
  write_file(b_file, b_base + "secret_file = \"old.secret\"\n");
  ASSERT_TRUE(b.start(30)) << b.log();
  EXPECT_TRUE(wait_until([&] { return all_found(b.port()); }, 20000)) << "a still accepts the old secret";
  HttpResult refused = http_post(a.port(), "/v1/search", Json{{"query", token(0, 0)}, {"mode", "lexical"}}.dump());
  EXPECT_EQ(refused.status, 503) << refused.body;
  // A missing accepted file is an error at start, naming it.
  write_file(b_file, b_base + "secret_file = \"old.secret\"\naccept_secret_files = [\"gone.secret\"]\n");
  std::string out;
  EXPECT_NE(run_ragd({"serve", "--cluster", b_file, "--data", (tmp_.path / "data-x").string(), "--listen",
                      "127.0.0.1:0", "--insecure-no-auth"},
                     &out),
            0);
  EXPECT_NE(out.find("gone.secret"), std::string::npos) << out;
}

TEST(ClusterUnitTest, ClusterSecretFileMustBePrivateAndLongEnough) {
  TempDir tmp("secret");
  const fs::path file = tmp.path / "s";
  write_file(file, std::string(40, 'k') + "\n\n");
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  auto read = cluster::read_cluster_secret(file);
  ASSERT_TRUE(read.is_ok()) << read.status().message();
  EXPECT_EQ(*read, std::string(40, 'k')) << "trailing whitespace dropped";
  fs::permissions(file, fs::perms::group_read, fs::perm_options::add);
  read = cluster::read_cluster_secret(file);
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("chmod 600"), std::string::npos) << read.status().message();
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  write_file(file, std::string(31, 'k') + "   \n");
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  read = cluster::read_cluster_secret(file);
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("at least 32 bytes"), std::string::npos) << read.status().message();
  EXPECT_FALSE(cluster::read_cluster_secret(tmp.path / "missing").is_ok());
  // In a cluster file, relative to the file.
  write_file(file, std::string(32, 'z'));
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  write_file(tmp.path / "c.toml",
             "node_id = \"n1\"\nnats = [\"nats://127.0.0.1:1\"]\netcd = [\"http://127.0.0.1:2\"]\n"
             "nodes = [\"n1\"]\nsecret_file = \"s\"\n");
  auto options = cluster::read_cluster_options(tmp.path / "c.toml");
  ASSERT_TRUE(options.is_ok()) << options.status().message();
  EXPECT_EQ(options->secret_file, tmp.path / "s");
  EXPECT_EQ(options->secret, "") << "read by serve alone: `ragd cluster status` needs only the cluster file";
  fs::permissions(file, fs::perms::none);
  EXPECT_TRUE(cluster::read_cluster_options(tmp.path / "c.toml").is_ok());
  // Secrets accepted during a rotation: relative to the file too, and only
  // beside one to sign with.
  const std::string base = "node_id = \"n1\"\nnats = [\"nats://127.0.0.1:1\"]\netcd = [\"http://127.0.0.1:2\"]\n"
                           "nodes = [\"n1\"]\n";
  write_file(tmp.path / "c.toml", base + "secret_file = \"s\"\naccept_secret_files = [\"old\", \"/abs/older\"]\n");
  options = cluster::read_cluster_options(tmp.path / "c.toml");
  ASSERT_TRUE(options.is_ok()) << options.status().message();
  EXPECT_EQ(options->accept_secret_files,
            (std::vector<fs::path>{tmp.path / "old", fs::path("/abs/older")}));
  write_file(tmp.path / "c.toml", base + "accept_secret_files = [\"old\"]\n");
  options = cluster::read_cluster_options(tmp.path / "c.toml");
  ASSERT_FALSE(options.is_ok());
  EXPECT_NE(options.status().message().find("accept_secret_files"), std::string::npos) << options.status().message();
}

TEST(ClusterUnitTest, TlsFilesAreCheckedAndResolvedWhenTheFileIsRead) {
  TempDir tmp("cluster-tls-options");
  fs::create_directories(tmp.path / "pki");
  for (const char* f : {"pki/ca.pem", "pki/n1.pem", "pki/n1.key"}) write_file(tmp.path / f, "PEM");
  const std::string node = "node_id = \"n1\"\nnodes = [\"n1\"]\n";
  const std::string urls = "nats = [\"tls://127.0.0.1:1\", \"tls://127.0.0.1:2\"]\netcd = [\"https://127.0.0.1:3\"]\n";
  auto read = [&](const std::string& text) {
    write_file(tmp.path / "c.toml", text);
    return cluster::read_cluster_options(tmp.path / "c.toml");
  };
  auto options = read(node + urls +
                      "tls_ca_file = \"pki/ca.pem\"\ntls_cert_file = \"pki/n1.pem\"\ntls_key_file = \"pki/n1.key\"\n");
  ASSERT_TRUE(options.is_ok()) << options.status().message();
  EXPECT_EQ(options->tls.ca_file, fs::absolute(tmp.path / "pki/ca.pem")) << "relative to the cluster file";
  EXPECT_EQ(options->tls.cert_file, fs::absolute(tmp.path / "pki/n1.pem"));
  EXPECT_EQ(options->tls.key_file, fs::absolute(tmp.path / "pki/n1.key"));
  auto refused = [&](const std::string& text, const std::string& why) {
    auto got = read(text);
    ASSERT_FALSE(got.is_ok()) << text;
    EXPECT_NE(got.status().message().find(why), std::string::npos) << got.status().message();
  };
  refused(node + urls + "tls_cert_file = \"pki/n1.pem\"\n", "both or neither");
  refused(node + urls + "tls_key_file = \"pki/n1.key\"\n", "both or neither");
  refused(node + urls + "tls_ca_file = \"pki/missing.pem\"\n", "no such file");
  refused(node + "nats = [\"tls://127.0.0.1:1\", \"nats://127.0.0.1:2\"]\netcd = [\"https://127.0.0.1:3\"]\n",
          "not a mix");
  refused(node + "nats = [\"ws://127.0.0.1:1\"]\netcd = [\"https://127.0.0.1:3\"]\n", "nats://");
  refused(node + "nats = [\"nats://127.0.0.1:1\"]\netcd = [\"ftp://127.0.0.1:3\"]\n", "http://");
  // A URL without a scheme still means what libnats and libcurl take it for.
  EXPECT_TRUE(read(node + "nats = [\"127.0.0.1:1\"]\netcd = [\"127.0.0.1:3\"]\n").is_ok());
}

TEST(ClusterUnitTest, FanOutRunsEveryPartOnceAndRethrowsAfterAllEnd) {
  cluster::FanOut fan(3);
  // Four callers at once, each with 50 batches of 8 parts: every part runs
  // exactly once and run() returns only after all of its parts did.
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        std::vector<std::atomic<int>> ran(8);
        fan.run(8, [&](size_t i) { ran[i].fetch_add(1); });
        for (auto& r : ran) wrong += r.load() != 1;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // A part that throws: the others still run to their end before run()
  // rethrows (they use the caller's state).
  std::atomic<int> finished{0};
  EXPECT_THROW(fan.run(6,
                       [&](size_t i) {
                         if (i == 0) throw std::runtime_error("part 0");
                         std::this_thread::sleep_for(std::chrono::milliseconds(20));
                         finished.fetch_add(1);
                       }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 5);
}

TEST(ClusterUnitTest, PublishCheckUsesTheConfiguredIngestOptions) {
  // The appliers ingest with the node's IngestOptions: a document they
  // would refuse must be refused before it is acknowledged.
  Document d;
  d.id = "big";
  d.title = "Big";
  for (int i = 0; i < 3000; ++i) d.text += "word" + std::to_string(i) + " ";
  IngestOptions o;
  Document copy = d;
  ASSERT_TRUE(cluster::check_publishable(copy, o).is_ok());
  ASSERT_GT(Chunker(o.chunker).split(copy).size(), 2u);
  o.limits.max_chunks = 2;
  copy = d;
  Status st = cluster::check_publishable(copy, o);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.to_string();
  EXPECT_NE(st.message().find("max_chunks"), std::string::npos) << st.message();

  o = IngestOptions{};
  o.limits.max_metadata_keys = 1;
  copy = d;
  copy.metadata = {{"a", "1"}, {"b", "2"}};
  EXPECT_EQ(cluster::check_publishable(copy, o).code(), StatusCode::kResourceExhausted);
  copy = d;
  copy.id = std::string(kMaxDocumentIdBytes + 1, 'x');
  EXPECT_EQ(cluster::check_publishable(copy, IngestOptions{}).code(), StatusCode::kInvalidArgument);
}

// A slow etcd call (a range read) must not hold up another (a lease
// renewal): the client used to send every call through one HTTP handle
// behind a mutex, so the renewal waited out the read and the lease could
// lapse. A local server plays etcd's JSON gateway.
TEST(ClusterUnitTest, ASlowEtcdCallDoesNotHoldUpAnother) {
  sync::testing::LoopbackServer gateway(
      [](const sync::testing::Request& r) {
        sync::testing::Response out;
        if (r.path == "/v3/kv/range") {
          std::this_thread::sleep_for(std::chrono::milliseconds(1500));
          out.body = R"({"header":{"revision":"7"},"kvs":[]})";
        } else if (r.path == "/v3/lease/keepalive") {
          out.body = R"({"result":{"ID":"5","TTL":"9"}})";
        } else {
          out.status = 404;
        }
        return out;
      },
      /*concurrent=*/true);
  cluster::Etcd etcd({gateway.url()}, 5);
  std::thread slow([&] {
    auto range = etcd.range_prefix("ragd/t/");
    EXPECT_TRUE(range.is_ok()) << range.status().to_string();
    if (range.is_ok()) {
      EXPECT_EQ(range->revision, 7);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the read is in flight
  const auto t0 = std::chrono::steady_clock::now();
  auto ttl = etcd.lease_keepalive(5);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  slow.join();
  ASSERT_TRUE(ttl.is_ok()) << ttl.status().to_string();
  EXPECT_EQ(*ttl, 9);
  EXPECT_LT(ms, 800) << "the renewal waited for the range read";
  EXPECT_EQ(gateway.requests(), 2);
}

TEST(ClusterUnitTest, ShardOfIsStableAndSpreads) {
  // Fixed values: every node and every version must agree forever. The
  // FNV-1a 64 hashes (the published test vectors for "", "a" and "foobar")
  // are checked through moduli large enough to expose any other hash.
  struct Vector {
    const char* id;
    uint64_t fnv1a64;
  };
  for (const Vector& v : {Vector{"", 0xcbf29ce484222325ull}, Vector{"a", 0xaf63dc4c8601ec8cull},
                          Vector{"foobar", 0x85944171f73967e8ull}, Vector{"INC0012345", 0xdbbba807e400520eull}}) {
    for (uint32_t shards : {4u, 8u, 1000003u, 4294967291u}) {
      EXPECT_EQ(cluster::shard_of(v.id, shards), v.fnv1a64 % shards) << v.id << " mod " << shards;
    }
  }
  EXPECT_EQ(cluster::shard_of("INC0012345", 8), 6u);
  EXPECT_EQ(cluster::shard_of("doc-0", 4), 0u);
  std::vector<int> counts(8);
  for (int i = 0; i < 8000; ++i) ++counts[cluster::shard_of("doc-" + std::to_string(i), 8)];
  for (int c : counts) EXPECT_NEAR(c, 1000, 150);
}

TEST(ClusterUnitTest, ShardMapIsDealtRoundRobin) {
  auto m = cluster::deal_shard_map({"a", "b", "c"}, 4, 2);
  ASSERT_EQ(m.replicas.size(), 4u);
  EXPECT_EQ(m.replicas[0], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.replicas[2], (std::vector<std::string>{"c", "a"}));
  auto back = cluster::shard_map_from_json(cluster::shard_map_to_json(m), 4);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->replicas, m.replicas);
  EXPECT_FALSE(cluster::shard_map_from_json(cluster::shard_map_to_json(m), 8).is_ok());
  EXPECT_FALSE(cluster::shard_map_from_json("{", 4).is_ok());
}

// Every shard keeps `per_shard` distinct replicas, and the nodes in
// `nodes` hold between lo and hi replicas each.
void expect_even(const cluster::ShardMap& m, const std::vector<std::string>& nodes, size_t per_shard, size_t lo,
                 size_t hi) {
  std::map<std::string, size_t> load;
  for (const auto& r : m.replicas) {
    EXPECT_EQ(r.size(), per_shard);
    EXPECT_EQ(std::set<std::string>(r.begin(), r.end()).size(), r.size()) << "two replicas of a shard on one node";
    for (const auto& n : r) ++load[n];
  }
  for (const auto& n : nodes) EXPECT_TRUE(load[n] >= lo && load[n] <= hi) << n << " holds " << load[n];
}

// Applies a plan the way the rebalancer does: ids, then the switch.
cluster::ShardMap apply_plan(cluster::ShardMap m, std::vector<cluster::ShardMove> plan) {
  std::set<std::string> ids;
  for (size_t i = 0; i < plan.size(); ++i) ids.insert(plan[i].id = "m" + std::to_string(i));
  m.moves = std::move(plan);
  return cluster::switch_moves(m, ids);
}

TEST(ClusterUnitTest, APlanGivesANewNodeItsShareWithTheFewestMoves) {
  const std::vector<std::string> four{"n1", "n2", "n3", "n4"}, five{"n1", "n2", "n3", "n4", "n5"};
  const auto m = cluster::deal_shard_map(four, 8, 2);
  auto plan = cluster::plan_moves(m, {five.begin(), five.end()}, {});
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  // 16 replicas over 5 nodes: 3 or 4 each, so n5 needs 3 and no more move.
  ASSERT_EQ(plan->size(), 3u);
  for (const auto& mv : *plan) EXPECT_EQ(mv.to, "n5");
  const auto after = apply_plan(m, *plan);
  expect_even(after, five, 2, 3, 4);
  EXPECT_TRUE(after.moves.empty());
  // Balanced now: nothing more to plan, and the plan is the same each time.
  EXPECT_TRUE(cluster::plan_moves(after, {five.begin(), five.end()}, {})->empty());
  auto again = cluster::plan_moves(m, {five.begin(), five.end()}, {});
  ASSERT_TRUE(again.is_ok());
  ASSERT_EQ(again->size(), plan->size());
  for (size_t i = 0; i < plan->size(); ++i) {
    EXPECT_EQ(again->at(i).shard, plan->at(i).shard);
    EXPECT_EQ(again->at(i).from, plan->at(i).from);
    EXPECT_EQ(again->at(i).to, plan->at(i).to);
  }
  // Growing from 2 nodes to 4 at once.
  const auto two = cluster::deal_shard_map({"n1", "n2"}, 8, 2);
  plan = cluster::plan_moves(two, {four.begin(), four.end()}, {});
  ASSERT_TRUE(plan.is_ok());
  EXPECT_EQ(plan->size(), 8u);
  expect_even(apply_plan(two, *plan), four, 2, 4, 4);
}

TEST(ClusterUnitTest, ADrainEmptiesTheNodeAndADeadNodeKeepsItsReplicas) {
  const std::vector<std::string> four{"n1", "n2", "n3", "n4"};
  const auto m = cluster::deal_shard_map(four, 8, 2);
  auto plan = cluster::plan_moves(m, {four.begin(), four.end()}, {"n2"});
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->size(), 4u);  // n2's four replicas, nothing else
  for (const auto& mv : *plan) EXPECT_EQ(mv.from, "n2");
  const auto after = apply_plan(m, *plan);
  expect_even(after, {"n1", "n3", "n4"}, 2, 5, 6);
  EXPECT_TRUE(after.shards_of("n2").empty());
  // n4 is not live (restarting?): it neither gives nor takes; n5 is new.
  plan = cluster::plan_moves(m, {"n1", "n2", "n3", "n5"}, {});
  ASSERT_TRUE(plan.is_ok());
  for (const auto& mv : *plan) {
    EXPECT_NE(mv.from, "n4");
    EXPECT_EQ(mv.to, "n5");
  }
  // Both replicas of shard 0 (n1, n2) drained: one moves per round, as the
  // rebalancer plans again after each round.
  auto map = m;
  for (int round = 0; round < 4; ++round) {
    auto next = cluster::plan_moves(map, {four.begin(), four.end()}, {"n1", "n2"});
    ASSERT_TRUE(next.is_ok()) << next.status().to_string();
    if (next->empty()) break;
    std::set<uint32_t> shards;
    for (const auto& mv : *next) EXPECT_TRUE(shards.insert(mv.shard).second) << "shard " << mv.shard << " twice";
    map = apply_plan(map, *next);
  }
  EXPECT_TRUE(map.shards_of("n1").empty());
  EXPECT_TRUE(map.shards_of("n2").empty());
  expect_even(map, {"n3", "n4"}, 2, 8, 8);
  // Two nodes, two replicas each: a drained replica has nowhere to go.
  const auto two = cluster::deal_shard_map({"a", "b"}, 4, 2);
  auto refused = cluster::plan_moves(two, {"a", "b"}, {"b"});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(cluster::plan_moves(two, {"b"}, {"b"}).is_ok());
}

TEST(ClusterUnitTest, ADeadNodesReplicasGoToTheLiveNodesOrStayWhenNoneIsFree) {
  const std::vector<std::string> four{"n1", "n2", "n3", "n4"};
  const auto m = cluster::deal_shard_map(four, 8, 2);
  // n4 dead: its four replicas go first, each to a live node without the
  // shard, and the three live nodes end even (16 replicas: 5, 5, 6).
  auto plan = cluster::plan_moves(m, {"n1", "n2", "n3"}, {}, {"n4"});
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->size(), 4u);
  for (const auto& mv : *plan) EXPECT_EQ(mv.from, "n4");
  const auto after = apply_plan(m, *plan);
  EXPECT_TRUE(after.shards_of("n4").empty());
  expect_even(after, {"n1", "n2", "n3"}, 2, 5, 6);
  // Two nodes, two replicas each, one dead: nowhere to go, nothing moves
  // (a dead node's replica is not a drained one's error).
  const auto two = cluster::deal_shard_map({"a", "b"}, 4, 2);
  plan = cluster::plan_moves(two, {"a"}, {}, {"b"});
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_TRUE(plan->empty());
  // A dead node that is live again (it came back during a run) takes
  // nothing either.
  plan = cluster::plan_moves(m, {"n1", "n2", "n3", "n4"}, {}, {"n4"});
  ASSERT_TRUE(plan.is_ok());
  for (const auto& mv : *plan) EXPECT_NE(mv.to, "n4");
}

TEST(ClusterUnitTest, TheRebalanceLockRoundTripsAndAMalformedOneIsNoLock) {
  const cluster::RebalanceLock l{"n2", true, "node n5 joined: holds 0 replica(s), its share is 3", "abc"};
  const auto back = cluster::rebalance_lock_from_json(cluster::rebalance_lock_to_json(l));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->by, "n2");
  EXPECT_TRUE(back->automatic);
  EXPECT_EQ(back->reason, l.reason);
  EXPECT_EQ(back->nonce, "abc");
  EXPECT_FALSE(cluster::rebalance_lock_from_json("not json").has_value());
  EXPECT_FALSE(cluster::rebalance_lock_from_json("{\"by\": 3}").has_value());
  EXPECT_FALSE(cluster::rebalance_lock_from_json("[]").has_value());
}

TEST(ClusterUnitTest, AutoRebalanceNeedsDeadAfterAboveTheLease) {
  const TempDir tmp("cluster-auto");
  const fs::path file = tmp.path / "c.toml";
  const std::string base = "name = \"t\"\nnode_id = \"a\"\nnats = [\"nats://127.0.0.1:1\"]\n"
                           "etcd = [\"http://127.0.0.1:1\"]\nnodes = [\"a\"]\nlease_ttl_seconds = 5\n";
  write_file(file, base + "auto_rebalance = true\ndead_after_seconds = 5\n");
  auto o = cluster::read_cluster_options(file);
  ASSERT_FALSE(o.is_ok());
  EXPECT_NE(o.status().message().find("dead_after_seconds must exceed lease_ttl_seconds"), std::string::npos)
      << o.status().to_string();
  write_file(file, base + "auto_rebalance = true\ndead_after_seconds = 6\nabsence_watch_seconds = 5\n");
  o = cluster::read_cluster_options(file);
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_TRUE(o->auto_rebalance);
  EXPECT_EQ(o->dead_after_seconds, 6);
  write_file(file, base);
  o = cluster::read_cluster_options(file);
  ASSERT_TRUE(o.is_ok());
  EXPECT_FALSE(o->auto_rebalance);
  EXPECT_EQ(o->dead_after_seconds, 120);
}

// The options that must hold against each other (cluster/README.md, "The
// cluster file"): read_cluster_options refuses a file that breaks one,
// naming both sides (what `serve` calls before it connects to NATS or etcd).
TEST(ClusterUnitTest, OptionsThatMustHoldTogetherAreCheckedAtStart) {
  const TempDir tmp("cluster-pairs");
  const fs::path file = tmp.path / "c.toml";
  const std::string base = "name = \"t\"\nnode_id = \"a\"\nnats = [\"nats://127.0.0.1:1\"]\n"
                           "etcd = [\"http://127.0.0.1:1\"]\nnodes = [\"a\"]\nlease_ttl_seconds = 2\n";
  auto refused = [&](const std::string& text, const std::vector<std::string>& named) {
    write_file(file, base + text);
    auto o = cluster::read_cluster_options(file);
    ASSERT_FALSE(o.is_ok()) << text;
    EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
    for (const auto& n : named) EXPECT_NE(o.status().message().find(n), std::string::npos) << o.status().to_string();
  };
  auto accepted = [&](const std::string& text) {
    write_file(file, base + text);
    auto o = cluster::read_cluster_options(file);
    EXPECT_TRUE(o.is_ok()) << text << ": " << o.status().to_string();
  };
  // The absences' watch must lapse before their timers: the default watch
  // (10 s) against the tests' dead_after_seconds of 6.
  refused("auto_rebalance = true\ndead_after_seconds = 6\n", {"absence_watch_seconds (10)", "dead_after_seconds (6)"});
  refused("auto_rebalance = true\ndead_after_seconds = 8\nabsence_watch_seconds = 8\n",
          {"absence_watch_seconds", "dead_after_seconds", "lower absence_watch_seconds (at least 5)"});
  // At or under the watch's floor (5 s), only a longer dead_after_seconds
  // can keep the rule: the message says so.
  refused("auto_rebalance = true\ndead_after_seconds = 5\nabsence_watch_seconds = 5\n",
          {"absence_watch_seconds (5)", "raise dead_after_seconds to at least 6"});
  accepted("auto_rebalance = true\ndead_after_seconds = 8\nabsence_watch_seconds = 7\n");
  accepted("auto_rebalance = true\n");  // the defaults: 10 s against 120 s
  accepted("dead_after_seconds = 6\n");  // no automatic rebalancer: neither is used
  // The node's PING must tell a silence before the NATS client gives the
  // connection up (two unanswered pings).
  refused("nats_first_ack_ms = 1000\nnats_silent_after_ms = 3000\n",
          {"nats_first_ack_ms", "nats_silent_after_ms", "nats_ping_interval_ms (2000"});
  refused("nats_ping_interval_ms = 500\n", {"nats_first_ack_ms", "nats_ping_interval_ms"});
  accepted("nats_first_ack_ms = 1000\nnats_silent_after_ms = 3000\nnats_ping_interval_ms = 2001\n");
  // A PING may wait longer than the lease lives: no renewal waits on it.
  accepted("nats_first_ack_ms = 100\nnats_silent_after_ms = 3000\nnats_ping_interval_ms = 10000\n");
  // nats_ping_interval_ms has a floor of its own (100 ms): 99 is refused
  // with PING times that keep the pair rule.
  write_file(file, base + "nats_first_ack_ms = 10\nnats_silent_after_ms = 10\nnats_ping_interval_ms = 99\n");
  auto below_floor = cluster::read_cluster_options(file);
  ASSERT_FALSE(below_floor.is_ok());
  EXPECT_EQ(below_floor.status().code(), StatusCode::kInvalidArgument);
  const std::string said = file.string() + ":9: 'nats_ping_interval_ms' must be a whole number from 100";
  EXPECT_NE(below_floor.status().message().find(said), std::string::npos) << below_floor.status().to_string();
  accepted("nats_first_ack_ms = 10\nnats_silent_after_ms = 10\nnats_ping_interval_ms = 100\n");
}

// The new options' defaults and values; the absence record's JSON, and
// what counts as malformed (cluster/README.md, "Rebalancing").
TEST(ClusterUnitTest, SilenceAndAbsenceOptionsAndTheAbsenceRecord) {
  const TempDir tmp("cluster-silence");
  const fs::path file = tmp.path / "c.toml";
  const std::string base = "name = \"t\"\nnode_id = \"a\"\nnats = [\"nats://127.0.0.1:1\"]\n"
                           "etcd = [\"http://127.0.0.1:1\"]\nnodes = [\"a\"]\n";
  write_file(file, base);
  auto o = cluster::read_cluster_options(file);
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->nats_silence.silent_after_ms, 1000);
  EXPECT_EQ(o->nats_silence.silent_recheck_ms, 500);
  EXPECT_EQ(o->nats_silence.first_ack_ms, 500);
  EXPECT_EQ(o->nats_silence.ping_interval_ms, 2000);
  EXPECT_EQ(o->absence_watch_seconds, 10);
  write_file(file, base + "nats_silent_after_ms = 2000\nnats_silent_recheck_ms = 250\nnats_first_ack_ms = 800\n"
                          "absence_watch_seconds = 30\n");
  o = cluster::read_cluster_options(file);
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->nats_silence.silent_after_ms, 2000);
  EXPECT_EQ(o->nats_silence.silent_recheck_ms, 250);
  EXPECT_EQ(o->nats_silence.first_ack_ms, 800);
  EXPECT_EQ(o->absence_watch_seconds, 30);
  write_file(file, base + "absence_watch_seconds = 1\n");
  EXPECT_FALSE(cluster::read_cluster_options(file).is_ok());

  auto back = cluster::absence_from_json(cluster::absence_to_json({"n2", 7587000000000001234}));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->by, "n2");
  EXPECT_EQ(back->timer, 7587000000000001234);
  EXPECT_FALSE(cluster::absence_from_json("not json").has_value());
  EXPECT_FALSE(cluster::absence_from_json("{\"by\": 3, \"timer\": \"12\"}").has_value());
  EXPECT_FALSE(cluster::absence_from_json("{\"by\": \"n1\", \"timer\": 12}").has_value());
  EXPECT_FALSE(cluster::absence_from_json("{\"by\": \"n1\", \"timer\": \"x\"}").has_value());
  EXPECT_FALSE(cluster::absence_from_json("{\"by\": \"n1\", \"timer\": \"0\"}").has_value());
  EXPECT_FALSE(cluster::absence_from_json("{\"by\": \"n1\"}").has_value());
}

TEST(ClusterUnitTest, PendingMovesRoundTripAndSwitchOneAtATime) {
  auto m = cluster::deal_shard_map({"a", "b", "c"}, 4, 2);
  m.moves = {{1, "b", "d", "x1"}, {2, "c", "d", "x2"}};
  auto back = cluster::shard_map_from_json(cluster::shard_map_to_json(m), 4);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  ASSERT_EQ(back->moves.size(), 2u);
  EXPECT_EQ(back->moves[1].to, "d");
  EXPECT_EQ(back->moves[1].id, "x2");
  // The target materialises a shard moving to it before the switch.
  EXPECT_EQ(back->shards_of("d"), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(back->shards_of("b"), (std::vector<uint32_t>{0, 1, 3}));
  const auto one = cluster::switch_moves(*back, {"x1"});
  EXPECT_EQ(one.replicas[1], (std::vector<std::string>{"d", "c"}));  // d takes b's place
  ASSERT_EQ(one.moves.size(), 1u);
  EXPECT_EQ(one.moves[0].id, "x2");
  EXPECT_EQ(one.shards_of("b"), (std::vector<uint32_t>{0, 3}));
  EXPECT_EQ(one.shards_of("d"), (std::vector<uint32_t>{1, 2}));
  // A move naming a shard the cluster lacks is a malformed map.
  EXPECT_FALSE(cluster::shard_map_from_json(R"({"replicas":[["a"],["a"]],"moves":[{"shard":5,"from":"a",)"
                                            R"("to":"b","id":"z"}]})",
                                            2)
                   .is_ok());
  EXPECT_FALSE(cluster::shard_map_from_json(R"({"replicas":[["a"]],"moves":[{"shard":0}]})", 1).is_ok());
  // Moves that do not fit the replicas, a second move of a shard, a shard
  // with two replicas on one node: all malformed, never applied.
  for (const char* bad : {R"({"replicas":[["a","b"]],"moves":[{"shard":0,"from":"c","to":"d","id":"1"}]})",
                          R"({"replicas":[["a","b"]],"moves":[{"shard":0,"from":"a","to":"b","id":"1"}]})",
                          R"({"replicas":[["a","b"]],"moves":[{"shard":0,"from":"a","to":"c","id":"1"},)"
                          R"({"shard":0,"from":"b","to":"d","id":"2"}]})",
                          R"({"replicas":[["a","a"]]})"}) {
    auto got = cluster::shard_map_from_json(bad, 1);
    ASSERT_FALSE(got.is_ok()) << bad;
    EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << bad;
  }
}

TEST(ClusterUnitTest, MessagesRoundTripEveryField) {
  cluster::WriteMessage m;
  m.doc.id = "INC1";
  m.doc.title = "VPN drops";
  m.doc.kind = "ticket";
  m.doc.source = "servicenow";
  m.doc.url = "https://x/INC1";
  m.doc.metadata = {{"priority", "2"}, {"group", "net"}};
  m.doc.acl = {"it", "net"};
  m.doc.created_at = 1700000000;
  m.doc.updated_at = 1700000100;
  m.doc.text = "body";
  m.doc.blocks = {Block{{"A", "B"}, "resolution", "restart the tunnel"}};
  auto back = cluster::decode_message(cluster::encode_message(m));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_FALSE(back->remove);
  EXPECT_EQ(Store::content_hash(back->doc), Store::content_hash(m.doc));
  EXPECT_EQ(back->doc.blocks.at(0).section_path, m.doc.blocks[0].section_path);
  EXPECT_FALSE(back->writer_groups.has_value()) << "an unrestricted writer stays unrestricted";
  cluster::WriteMessage del;
  del.remove = true;
  del.doc.id = "INC2";
  del.writer_groups = std::vector<std::string>{"it"};
  back = cluster::decode_message(cluster::encode_message(del));
  ASSERT_TRUE(back.is_ok());
  EXPECT_TRUE(back->remove);
  EXPECT_EQ(back->doc.id, "INC2");
  ASSERT_TRUE(back->writer_groups.has_value());
  EXPECT_EQ(*back->writer_groups, std::vector<std::string>{"it"});
  // A writer with no groups is not an unrestricted one.
  del.writer_groups = std::vector<std::string>{};
  back = cluster::decode_message(cluster::encode_message(del));
  ASSERT_TRUE(back.is_ok());
  EXPECT_TRUE(back->writer_groups.has_value());
  // Anything else is refused, never a crash.
  for (const char* bad : {"", "{", "[]", R"({"op":"put","id":"x"})", R"({"op":"zap","id":"x"})",
                          R"({"op":"put","id":"x","title":1})"}) {
    EXPECT_FALSE(cluster::decode_message(bad).is_ok()) << bad;
  }
}

TEST(ClusterUnitTest, ClusterFileErrorsNameFileAndLine) {
  TempDir tmp("cluster-file");
  const fs::path f = tmp.path / "c.toml";
  write_file(f, "node_id = \"a\"\nnats = [\"nats://127.0.0.1:4222\"]\netcd = [\"http://127.0.0.1:2379\"]\n"
                "nodes = [\"a\", \"b\"]\nshards = 4\n");
  auto ok = cluster::read_cluster_options(f);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(ok->shards, 4u);
  EXPECT_EQ(ok->nodes.size(), 2u);
  write_file(f, "node_id = \"a\"\nshardz = 4\n");
  auto bad = cluster::read_cluster_options(f);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("c.toml:2"), std::string::npos) << bad.status().message();
  write_file(f, "node_id = \"a\"\nnats = [\"nats://x\"]\netcd = [\"http://y\"]\nnodes = [\"b\"]\n");
  bad = cluster::read_cluster_options(f);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("must list this node"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace ragd::test

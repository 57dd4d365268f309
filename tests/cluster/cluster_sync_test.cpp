// Sync sources and webhooks on a cluster (cluster/sync_target.h): three
// nodes share one [[source]] against a fake ServiceNow on loopback. One
// node runs its passes; their writes go through the log to every replica;
// the cursor lives in etcd, so the node that takes over when the first one
// dies goes on from it; a purged record stays purged; a webhook to any node
// writes through the log; pruning lists the source's documents over every
// shard, the peers' included. `ragd sync --cluster` runs a one-shot pass
// the same way from outside the nodes.
#include <atomic>
#include <cstdlib>
#include <fstream>

#include "auth/crypto.h"
#include "cluster/etcd.h"
#include "cluster/jetstream.h"
#include "sync/engine.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/sync/fake_vendors.h"

namespace ragd::test {
namespace {

namespace st = ragd::sync::testing;

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }

// Incident `n`: document "INC000<n>" with text_of(n, version)'s words.
Json incident(int n, int version, int64_t updated) {
  const std::string k = std::to_string(n);
  return {{"sys_id", "c0ffee" + k},
          {"number", "INC000" + k},
          {"short_description", text_of(n, version)},
          {"description", "Users cannot reach the printer queue."},
          {"close_notes", "Restarted the vpn tunnel."},
          {"state", "Closed"},
          {"sys_created_on", st::sn_time(updated - 100)},
          {"sys_updated_on", st::sn_time(updated)}};
}

std::string incident_id(int n) { return "INC000" + std::to_string(n); }

// The document a lexical search for `tok` through `port` ranks first; ""
// when none, "<HTTP n>" when the search failed.
std::string first_hit(uint16_t port, const std::string& tok) {
  HttpResult r = http_post(port, "/v1/search", Json{{"query", tok}, {"k", 3}, {"mode", "lexical"}}.dump());
  if (r.status != 200) return "<HTTP " + std::to_string(r.status) + ">";
  const Json hits = Json::parse(r.body)["hits"];
  return hits.empty() ? std::string() : hits[0]["doc_id"].get<std::string>();
}

// The document's text on the node at `port`, read from its shard's
// collection there; "" when that node holds the shard but not the document,
// nullopt when it does not hold the shard.
std::optional<std::string> text_on(uint16_t port, const std::string& id) {
  const uint32_t s = cluster::shard_of(id, kShards);
  HttpResult r = http_get(port, "/v1/collections/" + cluster::shard_collection(s) + "/documents/" + id);
  if (r.status == 404) {
    // The collection missing (not held) or the document missing (held).
    HttpResult c = http_get(port, "/v1/collections/" + cluster::shard_collection(s) + "/stats");
    if (c.status != 200) return std::nullopt;
    return std::string();
  }
  if (r.status != 200) return "<HTTP " + std::to_string(r.status) + ">";
  return Json::parse(r.body).value("text", "");
}

class ClusterSync : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    sn_ = std::make_unique<st::FakeServiceNow>("incident");
    t0_ = now_s() - 3600;
    for (int n = 1; n <= 3; ++n) sn_->put(incident(n, 0, t0_ + n));
    srv_ = std::make_unique<st::LoopbackServer>([this](const st::Request& r) {
      if (hold_.load()) {
        ++held_;
        while (hold_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return sn_->handle(r);
    });
    config_ = tmp_.path / "ragd.toml";
    std::ofstream(config_) << "[[source]]\nname = \"sn\"\ntype = \"servicenow\"\nurl = \"" << srv_->url()
                           << "\"\ninterval = \"1h\"\nprune_interval = \"0\"\npage_size = 4\n"
                           << "webhook_secret_env = \"RAGD_TEST_CLUSTER_SN_HOOK\"\n";
    setenv("RAGD_TEST_CLUSTER_SN_HOOK", "cluster-sn-secret", 1);
  }

  ServerProcess& sync_node(const std::string& id) {
    return node(id, {"a", "b", "c"}, 2, 20000, kShards, {"--config", config_.string()});
  }

  static Json sources(uint16_t port) {
    HttpResult r = http_get(port, "/v1/sources");
    if (r.status != 200) return Json();
    const Json list = Json::parse(r.body)["sources"];
    return list.empty() ? Json() : list[0];
  }

  // On every node of `ports` that holds the document's shard, its text is
  // `want` ("" = absent); and at least one holds it.
  static bool everywhere(const std::vector<uint16_t>& ports, const std::string& id, const std::string& want) {
    int held = 0;
    for (uint16_t p : ports) {
      auto t = text_on(p, id);
      if (!t) continue;
      ++held;
      if (*t != want) return false;
    }
    return held > 0;
  }

  // `ts`: the signed timestamp (0: now).
  HttpResult webhook(uint16_t port, const Json& body, int64_t ts_s = 0) {
    const std::string b = body.dump();
    const std::string ts = std::to_string(ts_s != 0 ? ts_s : now_s());
    // Signed as the vendor-neutral scheme of sync/webhook.h says (the
    // signing itself is tested in tests/sync/serve_sync_test.cpp).
    const std::string mac = auth::hex_encode(auth::hmac_sha256("cluster-sn-secret", ts + "." + b));
    return http_request(port, "POST", "/v1/webhooks/sn", b, "application/json",
                        {"X-Ragd-Timestamp: " + ts, "X-Ragd-Signature: sha256=" + mac});
  }

  // While set, the fake holds every request (counted in held_).
  std::atomic<bool> hold_{false};
  std::atomic<int> held_{0};
  std::unique_ptr<st::FakeServiceNow> sn_;
  std::unique_ptr<st::LoopbackServer> srv_;
  fs::path config_;
  int64_t t0_ = 0;
};

TEST_F(ClusterSync, ASourceSyncsThroughTheLogFromOneNodeAtATime) {
  std::map<std::string, ServerProcess*> nodes;
  for (const char* id : {"a", "b", "c"}) {
    nodes[id] = &sync_node(id);
    ASSERT_TRUE(nodes[id]->start(30)) << nodes[id]->log();
  }
  std::vector<uint16_t> ports;
  for (auto& [id, n] : nodes) ports.push_back(n->port());

  // One node runs the passes; the others say which.
  std::string owner;
  ASSERT_TRUE(wait_until([&] {
    int running_here = 0, elsewhere = 0;
    for (auto& [id, n] : nodes) {
      const Json s = sources(n->port());
      if (s.is_null()) return false;
      if (s.contains("synced_by")) {
        ++elsewhere;
      } else if (s.value("passes", 0) >= 1) {
        ++running_here;
        owner = id;
      }
    }
    return running_here == 1 && elsewhere == 2;
  }, 30000)) << sources(ports[0]).dump() << sources(ports[1]).dump() << sources(ports[2]).dump();
  const uint16_t own = nodes[owner]->port();
  const Json first = sources(own);
  EXPECT_EQ(first["last_pass"]["counts"]["fetched"], 3) << first.dump();
  EXPECT_EQ(first["last_pass"]["error"], nullptr) << first.dump();
  std::vector<ServerProcess*> others;
  for (auto& [id, n] : nodes) {
    if (id == owner) continue;
    others.push_back(n);
    const Json s = sources(n->port());
    EXPECT_EQ(s["synced_by"], owner) << s.dump();
    EXPECT_EQ(s["passes"], 0) << s.dump();
    // The cursor is the cluster's (etcd): the others read it at their next
    // look at the claim (every 10 s).
    EXPECT_TRUE(wait_until([&] { return sources(n->port())["cursor"] == first["cursor"]; }, 25000))
        << sources(n->port()).dump() << " vs " << first.dump();
    HttpResult t = http_post(n->port(), "/v1/sources/sn/sync", "");
    EXPECT_EQ(t.status, 409) << t.body;
    EXPECT_NE(t.body.find(owner), std::string::npos) << t.body;
  }
  EXPECT_FALSE(first["cursor"].is_null()) << first.dump();

  // Every record found through another node, the same on every replica.
  for (int n = 1; n <= 3; ++n) {
    EXPECT_TRUE(wait_until([&] { return first_hit(others[0]->port(), token(n, 0)) == incident_id(n); }, 20000))
        << incident_id(n) << ": " << http_post(others[0]->port(), "/v1/search",
                                               Json{{"query", token(n, 0)}, {"mode", "lexical"}}.dump()).body;
  }
  std::string text2;
  for (uint16_t p : ports) {
    if (auto t = text_on(p, incident_id(2)); t && !t->empty()) text2 = *t;
  }
  ASSERT_NE(text2.find(token(2, 0)), std::string::npos) << text2;
  EXPECT_TRUE(wait_until([&] { return everywhere(ports, incident_id(2), text2); }, 20000))
      << "every replica of the shard holds the same";

  // A purged record stays purged: INC0002 is purged through another node,
  // then changed at the source; the next pass brings INC0004 but not it.
  HttpResult p = http_post(others[0]->port(), "/v1/purge", Json{{"doc_id", incident_id(2)}}.dump());
  ASSERT_EQ(p.status, 200) << p.body;
  ASSERT_TRUE(wait_until([&] { return everywhere(ports, incident_id(2), ""); }, 20000));
  sn_->put(incident(2, 1, t0_ + 10));
  sn_->put(incident(4, 0, t0_ + 20));
  HttpResult go = http_post(own, "/v1/sources/sn/sync", "");
  ASSERT_EQ(go.status, 202) << go.body;
  ASSERT_TRUE(wait_until([&] { return sources(own).value("passes", 0) >= 2 && !sources(own).value("running", true); },
                         20000));
  EXPECT_EQ(sources(own)["last_pass"]["counts"]["fetched"], 2) << sources(own).dump();
  ASSERT_TRUE(wait_until([&] { return first_hit(others[1]->port(), token(4, 0)) == incident_id(4); }, 20000));
  EXPECT_EQ(sources(own)["last_pass"]["counts"]["tombstoned"], 1) << sources(own).dump();
  // A marker written after the pass to INC0002's shard: once every replica
  // of that shard holds it, they have applied all the pass published there.
  const uint32_t shard2 = cluster::shard_of(incident_id(2), kShards);
  int marker = 100;
  while (cluster::shard_of(doc_id(marker), kShards) != shard2) ++marker;
  ASSERT_EQ(post_docs(others[0]->port(), {marker}, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return everywhere(ports, doc_id(marker), text_of(marker, 0)); }, 20000));
  EXPECT_TRUE(everywhere(ports, incident_id(2), "")) << "a purged record came back through sync";
  EXPECT_NE(first_hit(others[1]->port(), token(2, 1)), incident_id(2));
  // And its new text never reached the log: the pass left it out before
  // publishing (the appliers' own check is only the backstop).
  {
    std::vector<std::string> urls;
    for (uint16_t port : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(port));
    auto js = cluster::JetStream::connect(urls, "ragd-test");
    ASSERT_TRUE(js.is_ok()) << js.status().to_string();
    const std::string stream = "t_S" + std::to_string(shard2);
    auto consumer = (*js)->consume(stream, "sync-purge-check", 1);
    ASSERT_TRUE(consumer.is_ok()) << consumer.status().to_string();
    size_t read = 0;
    for (int round = 0; round < 4; ++round) {
      auto got = (*consumer)->fetch(64, 300);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      for (const auto& m : *got) {
        ++read;
        EXPECT_EQ(m.data.find(token(2, 1)), std::string::npos) << "the purged record's new text is in the log";
      }
    }
    EXPECT_GT(read, 0u);
    ASSERT_TRUE((*js)->delete_consumer(stream, "sync-purge-check").is_ok());
  }

  // A webhook to a node that does not run the passes writes through the
  // log as well.
  const Json event{{"operation", "update"}, {"table", "incident"}, {"record", incident(5, 0, now_s())}};
  const int64_t signed_at = now_s();
  HttpResult hook = webhook(others[1]->port(), event, signed_at);
  ASSERT_EQ(hook.status, 200) << hook.body;
  EXPECT_EQ(Json::parse(hook.body)["action"], "upserted") << hook.body;
  // The same signed event replayed to another node is a replay there too.
  for (uint16_t p : {others[0]->port(), own}) {
    HttpResult again = webhook(p, event, signed_at);
    EXPECT_EQ(again.status, 401) << again.body;
  }
  EXPECT_TRUE(wait_until([&] { return first_hit(others[0]->port(), token(5, 0)) == incident_id(5); }, 20000));
  // The webhook's record is the source's as well: give it to the fake, so
  // that the prune below keeps it.
  sn_->put(incident(5, 0, t0_ + 30));

  // Pruning. More records first, all stored before the listing is asked.
  for (int n = 7; n <= 20; ++n) sn_->put(incident(n, 0, t0_ + 40 + n));
  ASSERT_EQ(http_post(own, "/v1/sources/sn/sync", "").status, 202);
  ASSERT_TRUE(wait_until([&] { return sources(own).value("passes", 0) >= 3 && !sources(own).value("running", true); },
                         20000));
  for (int n = 7; n <= 20; ++n) {
    ASSERT_TRUE(wait_until([&] { return first_hit(others[0]->port(), token(n, 0)) == incident_id(n); }, 20000))
        << incident_id(n);
  }
  // Then INC0001 and one record of each shard are deleted at the source
  // without a marker. Every node lacks a shard (3 nodes, 2 replicas of 4
  // shards), so the owner's listing of what the source stored must reach
  // its peers' shards too.
  std::set<int> gone{1};
  std::set<uint32_t> shards_hit;
  for (int n = 7; n <= 20; ++n) {
    if (shards_hit.insert(cluster::shard_of(incident_id(n), kShards)).second) gone.insert(n);
  }
  ASSERT_EQ(shards_hit.size(), static_cast<size_t>(kShards));
  for (int n : gone) sn_->erase("c0ffee" + std::to_string(n));
  HttpResult prune = http_post(own, "/v1/sources/sn/sync?prune=1", "");
  ASSERT_EQ(prune.status, 202) << prune.body;
  ASSERT_TRUE(wait_until([&] { return sources(own).value("passes", 0) >= 4 && !sources(own).value("running", true); },
                         20000));
  const Json pruned = sources(own);
  EXPECT_EQ(pruned["prune"]["error"], nullptr) << pruned.dump();
  EXPECT_EQ(pruned["prune"]["deleted"], gone.size()) << pruned.dump();
  for (int n : gone) EXPECT_TRUE(wait_until([&] { return everywhere(ports, incident_id(n), ""); }, 20000)) << n;
  for (int n : {3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}) {
    if (gone.count(n)) continue;
    EXPECT_TRUE(wait_until([&] { return first_hit(others[0]->port(), token(n, 0)) == incident_id(n); }, 20000))
        << incident_id(n) << " must survive the prune";
  }

  // The owner dies. Another node claims the source once its lease is gone
  // and goes on from the cursor in etcd: its first pass reads only what
  // changed since.
  nodes[owner]->kill_hard();
  sn_->put(incident(6, 0, t0_ + 100));
  std::string heir;
  ASSERT_TRUE(wait_until([&] {
    for (ServerProcess* n : others) {
      const Json s = sources(n->port());
      if (!s.is_null() && !s.contains("synced_by") && s.value("passes", 0) >= 1 && !s.value("running", true)) {
        heir = s.dump();
        return true;
      }
    }
    return false;
  }, 40000)) << sources(others[0]->port()).dump() << sources(others[1]->port()).dump();
  const Json taken = Json::parse(heir);
  EXPECT_EQ(taken["last_pass"]["counts"]["fetched"], 1) << "the heir went on from the cursor: " << heir;
  EXPECT_EQ(taken["last_pass"]["error"], nullptr) << heir;
  EXPECT_TRUE(wait_until([&] { return first_hit(others[0]->port(), token(6, 0)) == incident_id(6); }, 20000));

  // Fencing: the claim moves to another node in the middle of a pass (as
  // when the holder's lease lapsed and another node claimed the source).
  // The pass stops at its next page, and its cursor writes are refused.
  uint16_t heir_port = 0;
  for (ServerProcess* n : others) {
    if (!sources(n->port()).contains("synced_by")) heir_port = n->port();
  }
  ASSERT_NE(heir_port, 0);
  for (int n = 21; n <= 40; ++n) sn_->put(incident(n, 0, t0_ + 100 + n));
  const uint64_t passes_before = sources(heir_port).value("passes", 0);
  hold_ = true;  // the pass's first page waits until the claim has moved
  ASSERT_EQ(http_post(heir_port, "/v1/sources/sn/sync", "").status, 202);
  ASSERT_TRUE(wait_until([&] { return held_.load() > 0; }, 15000));
  std::vector<std::string> etcd_urls;
  for (uint16_t port : servers_.etcd_ports) etcd_urls.push_back("http://127.0.0.1:" + std::to_string(port));
  cluster::Etcd etcd(etcd_urls, 5);
  ASSERT_TRUE(etcd.put("/ragd/t/sync-claims/sn", "zz").is_ok());
  hold_ = false;
  ASSERT_TRUE(wait_until([&] { return sources(heir_port).value("passes", uint64_t{0}) > passes_before; }, 30000));
  const Json fenced = sources(heir_port);
  EXPECT_NE(fenced["last_pass"]["error"].dump().find("'zz'"), std::string::npos) << fenced.dump();
  EXPECT_LT(fenced["last_pass"]["counts"]["fetched"].get<int>(), 20) << "the pass went on without the claim";
  ASSERT_TRUE(etcd.remove("/ragd/t/sync-claims/sn").is_ok());
}

// `ragd sync --cluster FILE`: a one-shot pass from a process that is not a
// node. Its writes go through the log (each document counted once
// JetStream acknowledged it) and reach every replica; it opens no store;
// the cursor is the cluster's, in etcd, where the nodes' own passes keep
// it, so a second pass writes nothing; the claim is taken for the pass and
// let go after it; --prune lists the source's documents on the nodes. A
// source another node holds, a source that fails and an unreachable NATS
// are refused with a message and exit 1, publishing nothing.
TEST_F(ClusterSync, AOneShotSyncWritesThroughTheLogAndKeepsItsCursorInEtcd) {
  // The nodes have no [[source]]: only the one-shot passes write.
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  const std::vector<uint16_t> ports{a.port(), b.port()};
  const std::string cluster_file = (tmp_.path / "a.toml").string();
  const fs::path no_store = tmp_.path / "no-store";
  auto one_shot = [&](const fs::path& config, const std::string& file, std::string* out) {
    return run_ragd({"sync", "--config", config.string(), "--cluster", file, "--data", no_store.string(), "--quiet"},
                    out);
  };
  std::vector<std::string> urls;
  for (uint16_t port : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(port));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  // Every shard's last stream sequence: what the log holds.
  auto log_ends = [&] {
    std::vector<uint64_t> ends;
    for (uint32_t s = 0; s < kShards; ++s) {
      auto last = (*js)->last_sequence("t_S" + std::to_string(s));
      ends.push_back(last.is_ok() ? *last : ~uint64_t{0});
    }
    return ends;
  };
  std::vector<std::string> etcd_urls;
  for (uint16_t port : servers_.etcd_ports) etcd_urls.push_back("http://127.0.0.1:" + std::to_string(port));
  cluster::Etcd etcd(etcd_urls, 5);
  const std::string claim = "/ragd/t/sync-claims/sn";
  const std::vector<uint64_t> empty = log_ends();

  // Refused, nothing published: another node holds the source's claim.
  ASSERT_TRUE(etcd.put(claim, "b").is_ok());
  std::string out;
  EXPECT_EQ(one_shot(config_, cluster_file, &out), 1) << out;
  EXPECT_NE(out.find("source 'sn' is synced by cluster node 'b'"), std::string::npos) << out;
  ASSERT_TRUE(etcd.remove(claim).is_ok());
  // The source fails (401): the pass stops, nothing is published, no cursor.
  sn_->push_fault(st::Response{401, {}, R"({"error":"unauthorized"})"});
  EXPECT_EQ(one_shot(config_, cluster_file, &out), 1) << out;
  EXPECT_NE(out.find("STOPPED"), std::string::npos) << out;
  EXPECT_NE(out.find("unauthorized"), std::string::npos) << out;
  // NATS unreachable: a clear error before anything is claimed.
  const fs::path no_nats = tmp_.path / "no-nats.toml";
  {
    std::string text = read_file(cluster_file);
    const size_t from = text.find("nats = ["), to = text.find(']', from);
    ASSERT_NE(from, std::string::npos);
    text.replace(from, to + 1 - from, "nats = [\"nats://127.0.0.1:1\"]");
    write_file(no_nats, text);
  }
  EXPECT_EQ(one_shot(config_, no_nats.string(), &out), 1) << out;
  EXPECT_NE(out.find("connecting to the cluster"), std::string::npos) << out;
  // No sources at all.
  const fs::path no_sources = tmp_.path / "no-sources.toml";
  write_file(no_sources, "# nothing to sync\n");
  EXPECT_EQ(one_shot(no_sources, cluster_file, &out), 2) << out;
  EXPECT_NE(out.find("no [[source]] tables"), std::string::npos) << out;
  EXPECT_EQ(log_ends(), empty) << "a refused or failed pass published";
  auto cursor = etcd.get("/ragd/t/sync/" + sync::cursor_key("sn"));
  ASSERT_TRUE(cursor.is_ok());
  EXPECT_FALSE(cursor->has_value()) << (*cursor)->value;

  // The pass: every record acknowledged, the summary of a local pass.
  ASSERT_EQ(one_shot(config_, cluster_file, &out), 0) << out;
  EXPECT_NE(out.find("sn (servicenow): fetched 3, new 0, updated 3, unchanged 0, deleted 0, failed 0"),
            std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(no_store)) << "a one-shot pass on a cluster opened the data directory's store";
  const std::vector<uint64_t> after_first = log_ends();
  uint64_t published = 0;
  for (uint32_t s = 0; s < kShards; ++s) published += after_first[s] - empty[s];
  EXPECT_EQ(published, 3u);
  // Found through a node, the same text on every replica (both nodes hold
  // every shard).
  for (int n = 1; n <= 3; ++n) {
    EXPECT_TRUE(wait_until([&] { return first_hit(b.port(), token(n, 0)) == incident_id(n); }, 20000))
        << incident_id(n);
    std::string text;
    EXPECT_TRUE(wait_until([&] {
      auto on_a = text_on(a.port(), incident_id(n));
      auto on_b = text_on(b.port(), incident_id(n));
      if (!on_a || !on_b || on_a->empty() || *on_a != *on_b) return false;
      text = *on_a;
      return true;
    }, 20000)) << incident_id(n);
    EXPECT_NE(text.find(token(n, 0)), std::string::npos) << text;
  }
  // The cursor is in etcd, where the nodes' passes read it; the claim went
  // with the pass.
  cursor = etcd.get("/ragd/t/sync/" + sync::cursor_key("sn"));
  ASSERT_TRUE(cursor.is_ok());
  ASSERT_TRUE(cursor->has_value());
  EXPECT_FALSE((*cursor)->value.empty());
  auto held = etcd.get(claim);
  ASSERT_TRUE(held.is_ok());
  EXPECT_FALSE(held->has_value()) << "the claim outlived the pass: " << (*held)->value;

  // Again: nothing new at the source, nothing new in the log.
  ASSERT_EQ(one_shot(config_, cluster_file, &out), 0) << out;
  EXPECT_NE(out.find("sn (servicenow): fetched 0, new 0, updated 0"), std::string::npos) << out;
  EXPECT_EQ(log_ends(), after_first) << "a second pass published";
  // A record changed at the source: the next pass reads it alone.
  sn_->put(incident(2, 1, t0_ + 10));
  ASSERT_EQ(one_shot(config_, cluster_file, &out), 0) << out;
  EXPECT_NE(out.find("sn (servicenow): fetched 1, new 0, updated 1"), std::string::npos) << out;
  EXPECT_TRUE(wait_until([&] { return first_hit(a.port(), token(2, 1)) == incident_id(2); }, 20000));
  // --prune from outside the nodes: the source's documents are listed on
  // the nodes (the writer holds no shard), the one deleted at the source
  // goes from every replica, the others stay.
  sn_->erase("c0ffee3");
  ASSERT_EQ(run_ragd({"sync", "--config", config_.string(), "--cluster", cluster_file, "--prune", "--quiet"}, &out),
            0)
      << out;
  EXPECT_NE(out.find("sn: prune: listed 2 ids"), std::string::npos) << out;
  EXPECT_NE(out.find("deleted 1 ("), std::string::npos) << out;
  EXPECT_TRUE(wait_until(
      [&] { return text_on(a.port(), incident_id(3)) == "" && text_on(b.port(), incident_id(3)) == ""; }, 20000));
  for (int n : {1, 2}) EXPECT_EQ(first_hit(b.port(), token(n, n == 2 ? 1 : 0)), incident_id(n));
}

}  // namespace
}  // namespace ragd::test

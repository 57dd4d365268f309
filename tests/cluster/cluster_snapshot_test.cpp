// Peer snapshots (cluster/snapshot.h, cluster/README.md "Snapshots"): a
// wiped replica loads a live peer's copy of each shard and applies the
// stream after it; a corrupted or truncated transfer is refused and the
// next peer gives the snapshot; with no peer able to give one the replica
// replays. Real nats-server, etcd and ragd processes; the corrupting peer
// is a proxy in the test in front of a real node.
#include <gtest/gtest.h>

#include <atomic>

#include "auth/crypto.h"
#include "cluster/etcd.h"
#include "cluster/jetstream.h"
#include "cluster/options.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/sync/loopback_server.h"

namespace ragd::test {
namespace {

// Every shard the node at `port` applies has applied its stream's last
// sequence.
bool level(uint16_t port, cluster::JetStream& js) {
  HttpResult st = http_get(port, "/v1/stats");
  if (st.status != 200) return false;
  const Json body = Json::parse(st.body);
  if (body["cluster"]["applying"].size() != kShards) return false;
  for (const auto& sh : body["cluster"]["applying"]) {
    auto last = js.last_sequence("t_S" + std::to_string(sh["shard"].get<uint32_t>()));
    if (!last.is_ok() || sh["applied"].get<uint64_t>() != *last) return false;
  }
  return true;
}

// A digest of shard `s`'s store on the node at `port`: SHA-256 over the
// "id text" lines of documents doc-0..99 it holds, and its document count
// (a store holding others differs). "" when the node does not answer.
std::string shard_digest(uint16_t port, uint32_t s) {
  const std::string base = "/v1/collections/" + cluster::shard_collection(s);
  HttpResult st = http_get(port, base + "/stats");
  if (st.status != 200) return "";
  std::string lines = "documents " + std::to_string(Json::parse(st.body).value("documents", uint64_t{0})) + "\n";
  for (int i = 0; i < 100; ++i) {
    HttpResult r = http_get(port, base + "/documents/" + doc_id(i));
    if (r.status == 404) continue;
    if (r.status != 200) return "";
    lines += doc_id(i) + " " + Json::parse(r.body).value("text", "") + "\n";
  }
  return auth::hex_encode(auth::sha256(lines));
}

// Every shard's digest on the node at `b` equals the one at `a`, which
// answers.
void expect_same_shards(uint16_t a, uint16_t b) {
  for (uint32_t s = 0; s < kShards; ++s) {
    const std::string d = shard_digest(a, s);
    EXPECT_FALSE(d.empty()) << "shard " << s;
    EXPECT_EQ(shard_digest(b, s), d) << "shard " << s;
  }
}

// Entries of the node's collections directory starting with `prefix`.
size_t leftovers(const fs::path& data, const std::string& prefix) {
  size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(data / "collections", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(prefix)) ++n;
  }
  return n;
}

std::vector<int> range(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

TEST_F(ClusterTest, AWipedReplicaLoadsAPeersSnapshotAndAppliesTheStreamAfterIt) {
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  auto js = cluster::JetStream::connect(nats_urls(servers_), "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  ASSERT_EQ(post_docs(a.port(), range(0, 40), 0).status, 200);
  ASSERT_EQ(post_docs(a.port(), range(0, 10), 1).status, 200);
  ASSERT_EQ(http_request(a.port(), "DELETE", "/v1/documents/" + doc_id(39)).status, 200);
  ASSERT_TRUE(wait_until([&] { return level(a.port(), **js) && level(b.port(), **js); }, 20000));

  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port(), **js); }, 30000)) << b.log();
  // Every shard came from a's snapshot, at a's applied sequence: nothing
  // was replayed.
  const Json stats = Json::parse(http_get(b.port(), "/v1/stats").body);
  for (const auto& sh : stats["cluster"]["applying"]) {
    ASSERT_TRUE(sh.contains("snapshot")) << sh;
    EXPECT_EQ(sh["snapshot"]["from"], "a") << sh;
    auto last = (*js)->last_sequence("t_S" + std::to_string(sh["shard"].get<uint32_t>()));
    ASSERT_TRUE(last.is_ok());
    EXPECT_EQ(sh["snapshot"]["sequence"].get<uint64_t>(), *last) << sh;
    EXPECT_EQ(sh["snapshot_failures"], 0) << sh;
  }
  EXPECT_NE(b.log().find("loaded peer a's snapshot"), std::string::npos) << b.log();
  for (const auto& [labels, v] : series(b.port(), "ragd_cluster_shard_snapshot_sequence")) EXPECT_GT(v, 0) << labels;
  EXPECT_EQ(series(b.port(), "ragd_cluster_shard_snapshot_sequence").size(), static_cast<size_t>(kShards));
  EXPECT_EQ(total(series(a.port(), "ragd_cluster_shard_snapshot_sequence")), 0.0);
  expect_same_shards(a.port(), b.port());
  EXPECT_EQ(stored_text(b.port(), 3), text_of(3, 1));
  EXPECT_EQ(stored_text(b.port(), 20), text_of(20, 0));
  EXPECT_EQ(stored_text(b.port(), 39), "");

  // The stream after the snapshot: new, changed and deleted documents.
  ASSERT_EQ(post_docs(a.port(), range(40, 60), 0).status, 200);
  ASSERT_EQ(post_docs(a.port(), range(5, 15), 2).status, 200);
  ASSERT_EQ(http_request(a.port(), "DELETE", "/v1/documents/" + doc_id(20)).status, 200);
  ASSERT_TRUE(wait_until([&] { return level(a.port(), **js) && level(b.port(), **js); }, 20000));
  expect_same_shards(a.port(), b.port());
  EXPECT_EQ(stored_text(b.port(), 12), text_of(12, 2));
  EXPECT_EQ(stored_text(b.port(), 50), text_of(50, 0));
  EXPECT_EQ(stored_text(b.port(), 20), "");
  EXPECT_TRUE(finds(b.port(), 45));
  // The checkpoints a served are gone, and b kept no staging directory.
  EXPECT_TRUE(wait_until([&] { return leftovers(tmp_.path / "data-a", ".snapshot-") == 0; }, 5000));
  EXPECT_EQ(leftovers(tmp_.path / "data-b", ".incoming-"), 0u);
}

// A peer in front of node a that spoils every file piece it passes on:
// flipped bytes for even shards, half the bytes for odd ones.
class SpoilingPeer {
 public:
  explicit SpoilingPeer(uint16_t& target)
      : target_(target), server_([this](const sync::testing::Request& r) { return serve(r); }, true) {}
  std::string url() const { return server_.url(); }
  int spoiled() const { return spoiled_; }

 private:
  sync::testing::Response serve(const sync::testing::Request& r) {
    HttpResult up = http_request(target_, r.method, r.target, r.body, "application/json", {}, 3);
    sync::testing::Response out;
    out.status = up.status == 0 ? 502 : up.status;  // a down: a gateway's answer
    out.body = up.body;
    const Json req = Json::parse(r.body, nullptr, false);
    if (up.status != 200 || !req.is_object() || req.value("shard_phase", "") != "snapshot_read") return out;
    Json piece = Json::parse(up.body);
    auto bytes = auth::base64_decode(piece["data"].get<std::string>());
    if (!bytes.is_ok() || bytes->empty()) return out;
    const bool even = r.path.find("shard-0/") != std::string::npos || r.path.find("shard-2/") != std::string::npos;
    if (even) {
      (*bytes)[bytes->size() / 2] ^= 0x5a;
    } else {
      bytes->resize(bytes->size() / 2);
    }
    piece["data"] = auth::base64_encode(*bytes);
    out.body = piece.dump();
    ++spoiled_;
    return out;
  }
  uint16_t& target_;
  std::atomic<int> spoiled_{0};
  sync::testing::LoopbackServer server_;
};

TEST_F(ClusterTest, ACorruptedOrTruncatedSnapshotIsRefusedAndTheNextPeerGivesIt) {
  // The map lists the spoiling peer "f" first for every shard, so a
  // replica bootstrapping asks it before a; f is live in etcd under a
  // lease of the test's own.
  uint16_t a_port = 0;
  SpoilingPeer f(a_port);
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_NO_FATAL_FAILURE(put_first_in_map("f", f.url(), {"a", "b"}, "a"));

  ASSERT_TRUE(a.start(30)) << a.log();
  a_port = a.port();
  ASSERT_TRUE(b.start(30)) << b.log();
  auto js = cluster::JetStream::connect(nats_urls(servers_), "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  ASSERT_EQ(post_docs(a.port(), range(0, 40), 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return level(a.port(), **js) && level(b.port(), **js); }, 20000));

  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port(), **js); }, 30000)) << b.log();
  EXPECT_GE(f.spoiled(), static_cast<int>(kShards));
  const Json stats = Json::parse(http_get(b.port(), "/v1/stats").body);
  for (const auto& sh : stats["cluster"]["applying"]) {
    ASSERT_TRUE(sh.contains("snapshot")) << sh;
    EXPECT_EQ(sh["snapshot"]["from"], "a") << sh;  // f's was refused
    EXPECT_EQ(sh["snapshot_failures"], 1) << sh;
  }
  const std::string log = b.log();
  EXPECT_NE(log.find("another SHA-256 than its manifest's: refused"), std::string::npos) << log;
  EXPECT_NE(log.find("bytes: refused"), std::string::npos) << log;
  EXPECT_EQ(total(series(b.port(), "ragd_cluster_shard_snapshot_failures_total")), static_cast<double>(kShards));
  expect_same_shards(a.port(), b.port());
  EXPECT_EQ(leftovers(tmp_.path / "data-b", ".incoming-"), 0u);

  // With a down, only f answers, and spoils: b replays the streams.
  a.kill_hard();
  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port(), **js); }, 30000)) << b.log();
  const Json replayed = Json::parse(http_get(b.port(), "/v1/stats").body);
  for (const auto& sh : replayed["cluster"]["applying"]) EXPECT_FALSE(sh.contains("snapshot")) << sh;
  EXPECT_EQ(stored_documents(b.port()), 40u);
  EXPECT_EQ(stored_text(b.port(), 7), text_of(7, 0));
}

// A transfer that fails half way (f) leaves the files it verified in the
// staging directory; the next peer's (a's checkpoint of the same store
// shares its table files) keeps those whose size and SHA-256 its manifest
// gives, and fetches the rest.
TEST_F(ClusterTest, ASnapshotTransferThatFailedHalfWayKeepsItsVerifiedFilesForTheNextPeer) {
  uint16_t a_port = 0;
  // f: a peer in front of node a whose transfers fail half way: it passes
  // on every piece of the checkpoint's numbered files (tables, logs) and
  // answers 503 to the reads of CURRENT, which sorts after them.
  ProxyPeer f(a_port, [](const Json& req) {
    return req.value("shard_phase", "") == "snapshot_read" && req.value("file", "") == "CURRENT";
  });
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_NO_FATAL_FAILURE(put_first_in_map("f", f.url(), {"a", "b"}, "a"));

  ASSERT_TRUE(a.start(30)) << a.log();
  a_port = a.port();
  ASSERT_TRUE(b.start(30)) << b.log();
  auto js = cluster::JetStream::connect(nats_urls(servers_), "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  ASSERT_EQ(post_docs(a.port(), range(0, 40), 0).status, 200);
  ASSERT_EQ(post_docs(a.port(), range(0, 10), 1).status, 200);
  ASSERT_TRUE(wait_until([&] { return level(a.port(), **js) && level(b.port(), **js); }, 20000));

  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port(), **js); }, 30000)) << b.log();
  EXPECT_EQ(f.failed(), static_cast<int>(kShards));
  EXPECT_GE(f.passed("snapshot_read"), static_cast<int>(kShards));
  const Json stats = Json::parse(http_get(b.port(), "/v1/stats").body);
  for (const auto& sh : stats["cluster"]["applying"]) {
    ASSERT_TRUE(sh.contains("snapshot")) << sh;
    EXPECT_EQ(sh["snapshot"]["from"], "a") << sh;
    EXPECT_EQ(sh["snapshot_failures"], 1) << sh;  // f's
    EXPECT_GE(sh["snapshot"].value("kept_files", uint64_t{0}), 1u) << sh;
  }
  EXPECT_NE(b.log().find("kept from an earlier transfer"), std::string::npos) << b.log();
  expect_same_shards(a.port(), b.port());
  EXPECT_EQ(stored_text(b.port(), 4), text_of(4, 1));
  EXPECT_EQ(leftovers(tmp_.path / "data-b", ".incoming-"), 0u);
  // The copy applies the stream after the snapshot.
  ASSERT_EQ(post_docs(a.port(), range(40, 50), 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return level(b.port(), **js); }, 20000));
  expect_same_shards(a.port(), b.port());
}

// Every shard's stream has dropped every message (its first sequence is
// past its last).
bool all_dropped(cluster::JetStream& js) {
  for (uint32_t s = 0; s < kShards; ++s) {
    auto b = js.stream_bounds("t_S" + std::to_string(s));
    if (!b.is_ok() || b->first <= b->last) return false;
  }
  return true;
}

TEST_F(ClusterTest, AReplicaWhoseMessagesTheRetentionDroppedLoadsASnapshotOrSaysWhyNot) {
  servers_.cluster_file_extra = "stream_max_age_seconds = 2\n";
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  auto js = cluster::JetStream::connect(nats_urls(servers_), "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  ASSERT_EQ(post_docs(a.port(), range(0, 20), 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return level(a.port(), **js) && level(b.port(), **js); }, 20000));

  // b misses messages that the streams then drop: back, it cannot replay
  // them, and loads a's snapshot instead.
  b.kill_hard();
  ASSERT_EQ(post_docs(a.port(), range(20, 40), 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return level(a.port(), **js) && all_dropped(**js); }, 20000));
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port(), **js); }, 30000)) << b.log();
  Json stats = Json::parse(http_get(b.port(), "/v1/stats").body);
  for (const auto& sh : stats["cluster"]["applying"]) {
    ASSERT_TRUE(sh.contains("snapshot")) << sh;
    EXPECT_EQ(sh["snapshot"]["from"], "a") << sh;
    EXPECT_EQ(sh.value("gaps", uint64_t{9}), 0u) << sh;
  }
  expect_same_shards(a.port(), b.port());
  EXPECT_EQ(stored_text(b.port(), 33), text_of(33, 0));

  // Again, but with a down when b comes back: no peer can give a
  // snapshot, so b stops at the hole and says why; once a is back, b
  // loads a's snapshot on its own.
  b.kill_hard();
  ASSERT_EQ(post_docs(a.port(), range(40, 50), 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return level(a.port(), **js) && all_dropped(**js); }, 20000));
  a.kill_hard();
  ASSERT_TRUE(b.start(30)) << b.log();
  std::string seen;
  EXPECT_TRUE(wait_until([&] {
    HttpResult st = http_get(b.port(), "/v1/stats");
    if (st.status != 200) return false;
    size_t stopped = 0;
    const Json body = Json::parse(st.body);
    seen = body["cluster"].dump();
    for (const auto& sh : body["cluster"]["applying"]) stopped += sh.contains("gap") ? 1 : 0;
    return stopped == kShards;
  }, 30000)) << seen;
  EXPECT_NE(b.log().find("retention limits"), std::string::npos) << b.log();
  HttpResult health = http_get(b.port(), "/healthz");
  EXPECT_NE(health.body.find("stopped_at_gap"), std::string::npos) << health.body;
  EXPECT_EQ(stored_text(b.port(), 45), "");

  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port(), **js); }, 40000)) << b.log();
  stats = Json::parse(http_get(b.port(), "/v1/stats").body);
  for (const auto& sh : stats["cluster"]["applying"]) {
    EXPECT_FALSE(sh.contains("gap")) << sh;
    ASSERT_TRUE(sh.contains("snapshot")) << sh;
    EXPECT_EQ(sh["snapshot"]["from"], "a") << sh;
  }
  expect_same_shards(a.port(), b.port());
  EXPECT_EQ(stored_text(b.port(), 45), text_of(45, 0));
}

}  // namespace
}  // namespace ragd::test

// Crash safety: a child process writes documents with durable upserts and is
// killed with SIGKILL at random moments; after each kill the store must hold
// every acknowledged document whole, and its lexical and vector indexes must
// agree with RocksDB.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include "index/analyzer.h"
#include "index/store.h"
#include "test_util.h"

extern char** environ;

namespace ragd {
namespace {

using test::make_chunks;
using test::make_doc;
using test::random_vectors;
using test::TempDir;

constexpr int kDim = 16;

int chunk_count(int i, int gen) { return 1 + (i * 7 + gen) % 5; }

// The writer side; runs only inside the child process.
TEST(StoreCrashWriter, Run) {
  const char* dir = std::getenv("RAGD_INDEX_CRASH_DIR");
  if (!dir) GTEST_SKIP() << "child process of StoreCrashTest only";
  StoreOptions o;
  o.dir = std::string(dir) + "/store";
  o.sync_writes = true;
  o.snapshot_every_ops = 150;  // snapshots happen mid-run too
  auto store = Store::open(o);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  ASSERT_TRUE((*store)->bind_encoder("enc", kDim).is_ok());
  std::ofstream log(std::string(dir) + "/acked.log", std::ios::app);
  const int round = std::atoi(std::getenv("RAGD_INDEX_CRASH_ROUND"));
  for (int n = 0;; n += 4) {
    std::vector<Document> docs;
    std::vector<std::vector<Chunk>> chunks;
    std::vector<std::vector<float>> vecs;
    std::vector<std::pair<std::string, int>> what;
    for (int j = 0; j < 4; ++j) {
      int i = (n + j) % 97;  // ids repeat: later writes replace earlier ones
      int gen = round * 1000 + n + j;
      std::string id = "doc" + std::to_string(i);
      std::vector<std::string> texts;
      for (int c = 0; c < chunk_count(i, gen); ++c) {
        texts.push_back("uniq" + std::to_string(i) + " generation gen" + std::to_string(gen) + " part " + std::to_string(c));
      }
      docs.push_back(make_doc(id, "gen" + std::to_string(gen)));
      chunks.push_back(make_chunks(id, texts));
      vecs.push_back(random_vectors(texts.size(), kDim, static_cast<uint32_t>(gen)));
      what.emplace_back(id, gen);
    }
    std::vector<DocumentWrite> writes;
    for (size_t j = 0; j < docs.size(); ++j) writes.push_back({&docs[j], chunks[j], vecs[j]});
    for (const auto& [id, gen] : what) log << "begin " << id << " " << gen << "\n";
    log.flush();
    auto results = (*store)->upsert_batch(writes);
    for (size_t j = 0; j < results.size(); ++j) {
      ASSERT_TRUE(results[j].is_ok());
      log << "ack " << what[j].first << " " << what[j].second << "\n";
    }
    log.flush();
  }
}

// The acknowledgements in the writers' log so far (every round appends).
size_t ack_count(const std::filesystem::path& log_path) {
  std::ifstream log(log_path);
  std::string kind, id;
  int gen = 0;
  size_t n = 0;
  while (log >> kind >> id >> gen) n += kind == "ack";
  return n;
}

TEST(StoreCrashTest, KilledWriterLeavesWholeAcknowledgedDocuments) {
  TempDir dir("crash");
  std::mt19937 rng(2024);
  for (int round = 1; round <= 3; ++round) {
    std::string env_dir = "RAGD_INDEX_CRASH_DIR=" + dir.path().string();
    std::string env_round = "RAGD_INDEX_CRASH_ROUND=" + std::to_string(round);
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e) envp.push_back(*e);
    envp.push_back(env_dir.data());
    envp.push_back(env_round.data());
    envp.push_back(nullptr);
    std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    std::string filter = "--gtest_filter=StoreCrashWriter.Run";
    char* argv[] = {exe.data(), filter.data(), nullptr};
    pid_t pid = 0;
    const size_t acks_before = ack_count(dir.path() / "acked.log");
    ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data()), 0);
    // Kill at a random moment after the writer's first acknowledgement of
    // this round: on a loaded machine starting the child alone can take
    // longer than a fixed delay.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (ack_count(dir.path() / "acked.log") == acks_before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 800));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited early, status " << status;

    // Expected: for each id, the last acknowledged generation, or a later one
    // that was in flight when the kill came.
    std::map<std::string, int> acked;
    std::map<std::string, std::set<int>> begun;
    std::ifstream log(dir.path() / "acked.log");
    std::string kind, id;
    int gen = 0;
    while (log >> kind >> id >> gen) {
      if (kind == "ack") acked[id] = gen;
      if (kind == "begin") begun[id].insert(gen);
    }
    ASSERT_FALSE(acked.empty()) << "round " << round << ": nothing acknowledged";

    StoreOptions o;
    o.dir = dir.path() / "store";
    auto store = Store::open(o);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    auto& s = **store;
    for (const auto& [doc_id, acked_gen] : acked) {
      auto doc = s.get_document(doc_id);
      ASSERT_TRUE(doc.is_ok()) << doc_id << " acknowledged but missing";
      int stored_gen = std::atoi(doc->text.c_str() + 3);
      EXPECT_TRUE(stored_gen == acked_gen || (stored_gen > acked_gen && begun[doc_id].count(stored_gen)))
          << doc_id << ": stored gen " << stored_gen << ", acked " << acked_gen;
      int i = std::atoi(doc_id.c_str() + 3);
      const size_t want = static_cast<size_t>(chunk_count(i, stored_gen));
      auto chunks = test::chunks_of(s, doc_id);
      EXPECT_EQ(chunks.size(), want) << doc_id;
      // Lexical index agrees: exactly this version's chunks carry its token.
      std::vector<std::string> terms = {"gen" + std::to_string(stored_gen)};
      auto hits = s.search_lexical(terms, 100, nullptr);
      EXPECT_EQ(hits.size(), want) << doc_id;
      // Vector index agrees: each chunk's own vector finds it first.
      auto v = random_vectors(want, kDim, static_cast<uint32_t>(stored_gen));
      for (size_t c = 0; c < want; ++c) {
        auto vh = test::search_vector(s, std::span<const float>(v.data() + c * kDim, kDim), 1, nullptr);
        ASSERT_EQ(vh.size(), 1u);
        auto sc = test::chunk_or_none(s, vh[0].label);
        ASSERT_TRUE(sc.has_value());
        EXPECT_EQ(sc->chunk.doc_id, doc_id);
      }
    }
    // No orphans: chunk count equals the sum over documents.
    uint64_t total = 0;
    s.for_each_document([&](const std::string& d) { total += test::chunks_of(s, d).size(); });
    EXPECT_EQ(total, s.stats().chunks);
    std::printf("round %d: %zu documents acknowledged, ANN %s\n", round, acked.size(), s.stats().ann_state.c_str());
  }
}

}  // namespace
}  // namespace ragd

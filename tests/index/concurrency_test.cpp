// Readers that run while documents are replaced and removed must never get a
// chunk of a version whose upsert()/remove() had already returned.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "index/analyzer.h"
#include "index/store.h"
#include "test_util.h"

namespace ragd {
namespace {

using test::make_chunks;
using test::make_doc;
using test::options_for;
using test::random_vectors;
using test::TempDir;

std::string version_token(int doc, int gen) { return "ver" + std::to_string(doc) + "g" + std::to_string(gen); }

TEST(StoreConcurrencyTest, ReadersNeverSeeReplacedOrDeletedChunks) {
  TempDir dir("concurrent");
  auto opened = Store::open(options_for(dir.path()));
  ASSERT_TRUE(opened.is_ok());
  auto& store = **opened;
  const int dim = 16;
  const int docs = 60;
  ASSERT_TRUE(store.bind_encoder("enc", dim).is_ok());
  auto write = [&](int d, int gen) {
    std::string id = "D" + std::to_string(d);
    std::string tok = version_token(d, gen);
    auto chunks = make_chunks(id, {"shared words " + tok, "more shared words " + tok, "tail " + tok});
    auto vecs = random_vectors(3, dim, static_cast<uint32_t>(d * 1000 + gen));
    auto r = store.upsert(make_doc(id, tok), chunks, vecs);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  };
  std::vector<int> gen(docs, 0);
  for (int d = 0; d < docs; ++d) write(d, 0);

  std::mutex dead_mu;
  std::set<std::string> dead;  // version tokens whose replacement/removal has returned
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> checked{0};
  std::atomic<uint64_t> violations{0};
  auto reader = [&](uint32_t seed) {
    auto queries = random_vectors(64, dim, seed);
    const auto terms = analyze("shared words tail");
    for (int it = 0; !stop; ++it) {
      std::set<std::string> dead_before;
      {
        std::lock_guard g(dead_mu);
        dead_before = dead;
      }
      std::vector<ScoredChunk> hits = store.search_lexical(terms, 500, nullptr);
      auto v = test::search_vector(store, std::span<const float>(queries.data() + (it % 64) * dim, dim), 50, nullptr);
      hits.insert(hits.end(), v.begin(), v.end());
      for (const auto& h : hits) {
        auto c = test::chunk_or_none(store, h.label);
        if (!c) continue;  // died after the search: fine, it was not returned as live
        std::string tok = c->chunk.text.substr(c->chunk.text.rfind(' ') + 1);
        ++checked;
        if (dead_before.count(tok)) ++violations;
      }
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  std::mt19937 rng(42);
  // At least 400 writes, and on until the readers have checked 1000
  // chunks while writes go on (a loaded machine may run the 400 before the
  // readers get going), for at most 20 s.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int step = 0; step < 400 || (checked.load() <= 1000 && std::chrono::steady_clock::now() < give_up);
       ++step) {
    int d = static_cast<int>(rng() % docs);
    std::string old = version_token(d, gen[d]);
    if (step % 5 == 4) {
      auto r = store.remove("D" + std::to_string(d));
      ASSERT_TRUE(r.is_ok());
      gen[d] += 1;
      {
        std::lock_guard g(dead_mu);
        dead.insert(old);
      }
      write(d, gen[d]);
    } else {
      gen[d] += 1;
      write(d, gen[d]);
      std::lock_guard g(dead_mu);
      dead.insert(old);
    }
  }
  stop = true;
  r1.join();
  r2.join();
  EXPECT_GT(checked.load(), 1000u);
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_EQ(store.stats().chunks, static_cast<uint64_t>(docs * 3));
}

}  // namespace
}  // namespace ragd

// Background reindex at the store level: the old vectors keep serving while
// the new ones fill a shadow column family, writes during the run end up
// with new-encoder vectors, the switch is all or nothing, and a reindex that
// never reached its switch is discarded at open.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "index/store.h"
#include "ragd/chunk_text.h"
#include "tests/index/test_util.h"

namespace ragd {
namespace {

using test::make_chunks;
using test::make_doc;
using test::open_store;
using test::options_for;
using test::TempDir;

// A deterministic "encoder": a seeded random unit vector per text.
std::vector<float> encode(const std::string& text, int dim, uint32_t salt) {
  auto v = test::random_vectors(1, dim, static_cast<uint32_t>(std::hash<std::string>{}(text)) ^ salt);
  return v;
}

Store::EmbedFn encoder(int dim, uint32_t salt, std::atomic<int>* calls = nullptr) {
  return [dim, salt, calls](std::span<const std::string> texts) -> Result<std::vector<float>> {
    if (calls) ++*calls;
    std::vector<float> out;
    for (const auto& t : texts) {
      auto v = encode(t, dim, salt);
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
}

std::string text_of(int doc, int chunk) {
  return "document " + std::to_string(doc) + " chunk " + std::to_string(chunk) + " about printers and vpn";
}

// What ingest and a reindex embed for a chunk of document `id` (make_doc's
// title).
std::string embedded_text(const std::string& id, const Chunk& c) { return chunk_embed_text("Title of " + id, c); }

// Writes document `i` with two chunks embedded by (dim, salt).
void put_doc(Store& store, int i, int dim, uint32_t salt, const std::string& version = "") {
  std::string id = "D" + std::to_string(i);
  std::vector<std::string> texts = {text_of(i, 0) + version, text_of(i, 1) + version};
  std::vector<Chunk> chunks = make_chunks(id, texts);
  std::vector<float> vecs;
  for (const auto& c : chunks) {
    auto v = encode(embedded_text(id, c), dim, salt);
    vecs.insert(vecs.end(), v.begin(), v.end());
  }
  auto r = store.upsert(make_doc(id, texts[0] + " " + texts[1]), chunks, vecs);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
}

// Every live chunk's vector is exactly the (dim, salt) encoder's: no chunk
// kept an old vector and none is missing.
void expect_all_vectors_from(const Store& store, int dim, uint32_t salt, size_t want_chunks) {
  size_t seen = 0;
  store.for_each_document([&](const std::string& id) {
    for (const Chunk& c : test::chunks_of(store, id)) {
      auto hits = test::search_vector(store, encode(embedded_text(id, c), dim, salt), 1, nullptr);
      ASSERT_EQ(hits.size(), 1u) << c.id;
      EXPECT_NEAR(hits[0].score, 1.0f, 1e-4) << c.id;
      EXPECT_EQ(test::live_chunk(store, hits[0].label).chunk.id, c.id);
      ++seen;
    }
  });
  EXPECT_EQ(seen, want_chunks);
}

TEST(ReindexTest, OldIndexServesUntilTheSwitchAndWritesDuringTheRunAreCaughtUp) {
  TempDir dir("bg");
  auto store = open_store(options_for(dir.path()));
  ASSERT_TRUE(store->bind_encoder("enc:a", 8).is_ok());
  for (int i = 0; i < 40; ++i) put_doc(*store, i, 8, 1);

  ASSERT_TRUE(store->reindex_begin("enc:b", 16).is_ok());
  EXPECT_EQ(store->reindex_begin("enc:c", 4).code(), StatusCode::kFailedPrecondition);
  auto left = store->reindex_step(encoder(16, 2), 10);
  ASSERT_TRUE(left.is_ok()) << left.status().to_string();
  EXPECT_GT(*left, 0u);
  StoreStats st = store->stats();
  EXPECT_EQ(st.encoder, "enc:a");
  EXPECT_EQ(st.reindex.target, "enc:b");
  EXPECT_EQ(st.reindex.done, 10u);
  EXPECT_EQ(st.reindex.total, 80u);
  // Still the old space for searches and for writes.
  expect_all_vectors_from(*store, 8, 1, 80);
  EXPECT_TRUE(store->bind_encoder("enc:a", 8).is_ok());
  put_doc(*store, 100, 8, 1);           // new during the run
  put_doc(*store, 3, 8, 1, " edited");  // replaced after it was embedded
  ASSERT_TRUE(store->remove("D5").value());
  ASSERT_TRUE(store->remove("D30").value());  // removed before it was reached

  while (*left > 0) {
    left = store->reindex_step(encoder(16, 2), 10);
    ASSERT_TRUE(left.is_ok());
  }
  put_doc(*store, 101, 8, 1);  // after the last step: the commit embeds it
  EXPECT_EQ(store->stats().encoder, "enc:a");
  ASSERT_TRUE(store->reindex_commit(encoder(16, 2)).is_ok());
  st = store->stats();
  EXPECT_EQ(st.encoder, "enc:b");
  EXPECT_EQ(st.dim, 16);
  EXPECT_TRUE(st.reindex.target.empty());
  EXPECT_EQ(store->bind_encoder("enc:a", 8).code(), StatusCode::kFailedPrecondition);
  const size_t chunks = (40 - 2 + 2) * 2;
  expect_all_vectors_from(*store, 16, 2, chunks);
  EXPECT_TRUE(test::chunks_of(*store, "D5").empty());

  // Durable, and served from the other column family after reopening
  // (with and without the ANN snapshot).
  ASSERT_TRUE(store->snapshot().is_ok());
  store.reset();
  store = open_store(options_for(dir.path()));
  EXPECT_EQ(store->stats().encoder, "enc:b");
  expect_all_vectors_from(*store, 16, 2, chunks);
  store.reset();
  std::filesystem::remove(dir.path() / "ann.index");
  store = open_store(options_for(dir.path()));
  EXPECT_NE(store->stats().ann_state.find("rebuilt"), std::string::npos) << store->stats().ann_state;
  expect_all_vectors_from(*store, 16, 2, chunks);

  // A second reindex switches back to the first column family.
  ASSERT_TRUE(store->reindex("enc:c", 16, encoder(16, 3), {}).is_ok());
  store.reset();
  store = open_store(options_for(dir.path()));
  EXPECT_EQ(store->stats().encoder, "enc:c");
  expect_all_vectors_from(*store, 16, 3, chunks);
}

TEST(ReindexTest, UnfinishedReindexIsDiscardedAtOpen) {
  TempDir dir("interrupted");
  auto o = options_for(dir.path());
  o.sync_writes = true;
  {
    auto store = open_store(o);
    ASSERT_TRUE(store->bind_encoder("enc:a", 8).is_ok());
    for (int i = 0; i < 20; ++i) put_doc(*store, i, 8, 1);
    ASSERT_TRUE(store->reindex_begin("enc:b", 8).is_ok());
    ASSERT_TRUE(store->reindex_step(encoder(8, 2), 15).is_ok());
    EXPECT_EQ(store->stats().reindex.done, 15u);
  }  // closed without the switch, as a kill would leave it
  auto store = open_store(o);
  StoreStats st = store->stats();
  EXPECT_EQ(st.encoder, "enc:a");
  EXPECT_EQ(st.reindex_discarded, "enc:b");
  EXPECT_TRUE(st.reindex.target.empty());
  EXPECT_TRUE(store->bind_encoder("enc:a", 8).is_ok());
  expect_all_vectors_from(*store, 8, 1, 40);
  // Restartable.
  ASSERT_TRUE(store->reindex("enc:b", 8, encoder(8, 2), {}).is_ok());
  expect_all_vectors_from(*store, 8, 2, 40);
}

TEST(ReindexTest, FailingEncoderAbortsAndKeepsTheOldStore) {
  TempDir dir("fail");
  auto store = open_store(options_for(dir.path()));
  ASSERT_TRUE(store->bind_encoder("enc:a", 8).is_ok());
  for (int i = 0; i < 10; ++i) put_doc(*store, i, 8, 1);
  Status s = store->reindex("enc:b", 8,
                            [](std::span<const std::string> texts) -> Result<std::vector<float>> {
                              return std::vector<float>(texts.size() * 3, 1.0f);  // wrong size
                            },
                            {});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  EXPECT_EQ(store->stats().encoder, "enc:a");
  EXPECT_TRUE(store->stats().reindex.target.empty());
  expect_all_vectors_from(*store, 8, 1, 20);
  ASSERT_TRUE(store->reindex_begin("enc:b", 8).is_ok());  // nothing left running
  ASSERT_TRUE(store->reindex_abort().is_ok());
  EXPECT_EQ(store->reindex_step(encoder(8, 2), 4).status().code(), StatusCode::kFailedPrecondition);
}

// Writers and readers run all through a reindex; afterwards every live
// chunk's vector comes from the new encoder, before and after reopening.
TEST(ReindexTest, ConcurrentWritesAndSearchesDuringReindex) {
  TempDir dir("concurrent");
  auto store = open_store(options_for(dir.path()));
  ASSERT_TRUE(store->bind_encoder("enc:a", 8).is_ok());
  for (int i = 0; i < 200; ++i) put_doc(*store, i, 8, 1);
  ASSERT_TRUE(store->reindex_begin("enc:b", 8).is_ok());
  std::atomic<bool> stop{false}, stop_reading{false};
  std::atomic<int> searches{0}, bad{0};
  std::thread writer([&] {
    for (int round = 0; !stop; ++round) {
      put_doc(*store, 200 + round % 50, 8, 1, " v" + std::to_string(round));
      if (round % 3 == 0) (void)store->remove("D" + std::to_string(round % 200));
    }
  });
  std::thread reader([&] {
    while (!stop_reading) {
      const bool switched = store->stats().encoder == "enc:b";
      auto hits = test::search_vector(*store, encode(text_of(199, 1), 8, switched ? 2 : 1), 1, nullptr);
      if (hits.empty()) ++bad;
      ++searches;
    }
  });
  Result<uint64_t> left = uint64_t{1};
  while (left.is_ok() && *left > 0) left = store->reindex_step(encoder(8, 2), 16);
  ASSERT_TRUE(left.is_ok());
  // A writer embeds with the old encoder until the switch (the service holds
  // ingest at the switch for the same reason), so it stops first; what it
  // wrote after the last step is embedded by the commit.
  stop = true;
  writer.join();
  Status committed = store->reindex_commit(encoder(8, 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop_reading = true;
  reader.join();
  ASSERT_TRUE(committed.is_ok()) << committed.to_string();
  EXPECT_GT(searches.load(), 0);
  EXPECT_EQ(bad.load(), 0);
  const size_t chunks = store->stats().chunks;
  expect_all_vectors_from(*store, 8, 2, chunks);
  store.reset();
  store = open_store(options_for(dir.path()));
  EXPECT_EQ(store->stats().encoder, "enc:b");
  expect_all_vectors_from(*store, 8, 2, chunks);
}

}  // namespace
}  // namespace ragd

// StateWrite: a client's state key written in the same WriteBatch as a
// document change (a cluster applier's stream position, cluster/README.md).
// The two are durable together or not at all.
#include <gtest/gtest.h>

#include <atomic>

#include "index/store.h"
#include "test_util.h"

namespace ragd {
namespace {

using test::make_chunks;
using test::make_doc;
using test::open_store;
using test::options_for;
using test::random_vectors;
using test::TempDir;

TEST(StateWriteTest, StateGoesWithTheDocumentOrNotAtAll) {
  TempDir dir("statewrite");
  auto o = options_for(dir.path());
  o.sync_writes = true;
  std::atomic<bool> full{false};
  o.fault_no_space = [&] { return full.load(); };
  const Document d1 = make_doc("D1", "first");
  const Document d2 = make_doc("D2", "second");
  const auto c1 = make_chunks("D1", {"alpha"});
  const auto c2 = make_chunks("D2", {"beta"});
  const auto v1 = random_vectors(1, 8, 1);
  {
    auto store = open_store(o);
    ASSERT_TRUE(store->bind_encoder("test-enc", 8).is_ok());
    StateWrite s1{"applied", "1"};
    DocumentWrite w1{&d1, c1, v1, nullptr, &s1};
    auto r = store->upsert_batch(std::span<const DocumentWrite>(&w1, 1));
    ASSERT_TRUE(r[0].is_ok()) << r[0].status().to_string();
    EXPECT_EQ(*store->get_state("applied"), "1");

    // A write that cannot be made durable (the WAL write fails) moves
    // neither the document nor the state.
    full = true;
    StateWrite s2{"applied", "2"};
    DocumentWrite w2{&d2, c2, v1, nullptr, &s2};
    r = store->upsert_batch(std::span<const DocumentWrite>(&w2, 1));
    EXPECT_EQ(r[0].status().code(), StatusCode::kNoSpace) << r[0].status().to_string();
    EXPECT_FALSE(store->remove("D1", StateWrite{"applied", "2"}).is_ok());
    EXPECT_EQ(*store->get_state("applied"), "1");
    EXPECT_FALSE(store->get_document("D2").is_ok());
    // RocksDB 7.8 cannot resume after a failed WAL write in process
    // (index/README.md, "Disk full"): reopening is what recovers.
  }
  full = false;
  {
    auto store = open_store(o);
    EXPECT_EQ(*store->get_state("applied"), "1");
    EXPECT_FALSE(store->get_document("D2").is_ok());
    EXPECT_TRUE(store->get_document("D1").is_ok());

    // An unchanged document still moves the state.
    StateWrite s3{"applied", "3"};
    DocumentWrite w3{&d1, c1, v1, nullptr, &s3};
    auto r = store->upsert_batch(std::span<const DocumentWrite>(&w3, 1));
    ASSERT_TRUE(r[0].is_ok()) << r[0].status().to_string();
    EXPECT_FALSE(r[0]->changed);
    EXPECT_EQ(*store->get_state("applied"), "3");

    // A removal carries it, and so does the removal of an absent document.
    auto removed = store->remove("D1", StateWrite{"applied", "4"});
    ASSERT_TRUE(removed.is_ok());
    EXPECT_TRUE(*removed);
    removed = store->remove("D1", StateWrite{"applied", "5"});
    ASSERT_TRUE(removed.is_ok());
    EXPECT_FALSE(*removed);
    EXPECT_EQ(*store->get_state("applied"), "5");
    // A bad key fails before anything is written.
    StateWrite bad{"", "6"};
    DocumentWrite wb{&d2, c2, v1, nullptr, &bad};
    r = store->upsert_batch(std::span<const DocumentWrite>(&wb, 1));
    EXPECT_FALSE(r[0].is_ok());
    EXPECT_FALSE(store->get_document("D2").is_ok());
  }
  auto store = open_store(o);
  EXPECT_EQ(*store->get_state("applied"), "5");
  EXPECT_FALSE(store->get_document("D1").is_ok());
  EXPECT_EQ(store->stats().documents, 0u);
}

// Store::checkpoint (a cluster replica's peer snapshot): a copy holding the
// documents, their vectors and the state written with them as of one
// moment; writes after it are not in it; a store opened on it rebuilds its
// derived indexes and searches. The directory must be new.
TEST(StateWriteTest, ACheckpointHoldsTheDocumentsAndTheirStateAsOfOneMoment) {
  TempDir dir("checkpoint");
  auto o = options_for(dir.path() / "store");
  const Document d1 = make_doc("D1", "first");
  const Document d2 = make_doc("D2", "second");
  const auto c1 = make_chunks("D1", {"alpha words"});
  const auto c2 = make_chunks("D2", {"beta words"});
  const auto v = random_vectors(1, 8, 1);
  const std::filesystem::path copy = dir.path() / "copy";
  {
    auto store = open_store(o);
    ASSERT_TRUE(store->bind_encoder("test-enc", 8).is_ok());
    StateWrite s1{"applied", "1"};
    DocumentWrite w1{&d1, c1, v, nullptr, &s1};
    ASSERT_TRUE(store->upsert_batch(std::span<const DocumentWrite>(&w1, 1))[0].is_ok());
    ASSERT_TRUE(store->checkpoint(copy).is_ok());
    EXPECT_FALSE(store->checkpoint(copy).is_ok()) << "an existing directory is refused";
    StateWrite s2{"applied", "2"};
    DocumentWrite w2{&d2, c2, v, nullptr, &s2};
    ASSERT_TRUE(store->upsert_batch(std::span<const DocumentWrite>(&w2, 1))[0].is_ok());
    EXPECT_EQ(*store->get_state("applied"), "2");
  }
  auto o2 = options_for(copy);
  auto from_copy = open_store(o2);
  EXPECT_EQ(*from_copy->get_state("applied"), "1");
  EXPECT_TRUE(from_copy->get_document("D1").is_ok());
  EXPECT_FALSE(from_copy->get_document("D2").is_ok());
  EXPECT_EQ(from_copy->stats().documents, 1u);
  EXPECT_EQ(from_copy->stats().encoder, "test-enc");
  const std::vector<std::string> terms{"alpha"};
  EXPECT_EQ(from_copy->search_lexical(terms, 5, [](const DocInfo&) { return true; }).size(), 1u);
  auto vec = from_copy->search_vector(v, 5, [](const DocInfo&) { return true; });
  ASSERT_TRUE(vec.is_ok()) << vec.status().to_string();
  EXPECT_EQ(vec->size(), 1u);
}

// upsert_batch stops at its first failed write: no later group, and no
// unchanged document's state, is written after it (a position must never
// become durable ahead of a document that was not written: a cluster
// applier's runs, cluster/README.md "Apply path"). The failure is the
// store's own: its free-space reserve refuses a write that would not fit
// above it (check_reserve, before RocksDB sees it), and a write that fits
// goes through again right after, so nothing but the stop keeps the later
// writes out. The disk's free space is the test's (StoreOptions::
// fault_free_bytes): 1 MiB above the reserve, so the 4 MiB document alone
// is refused, whatever else writes to the disk.
TEST(StateWriteTest, ABatchStopsAtItsFirstFailedWrite) {
  const Document d1 = make_doc("D1", "first");
  const Document small = make_doc("D2", "second, small");
  Document big = make_doc("D2", "second");
  big.text.assign(4u << 20, 'x');
  const auto c1 = make_chunks("D1", {"alpha"});
  const auto c2 = make_chunks("D2", {"beta"});
  const auto v = random_vectors(1, 8, 1);
  TempDir dir("batchstop");
  auto o = options_for(dir.path());
  o.free_space_reserve = 64ull << 20;
  o.fault_free_bytes = [] { return (64ull << 20) + (1ull << 20); };
  auto store = open_store(o);
  ASSERT_TRUE(store->bind_encoder("test-enc", 8).is_ok());
  StateWrite s0{"applied", "0"};
  DocumentWrite w0{&d1, c1, v, nullptr, &s0};
  auto first = store->upsert_batch(std::span<const DocumentWrite>(&w0, 1));
  ASSERT_TRUE(first[0].is_ok()) << first[0].status().to_string();

  // D2 (4 MiB: refused), D2 again (small: a second group), D1 unchanged
  // (only its state to write).
  StateWrite s1{"applied", "1"}, s2{"applied", "2"}, s3{"applied", "3"};
  const DocumentWrite writes[] = {{&big, c2, v, nullptr, &s1},
                                  {&small, c2, v, nullptr, &s2},
                                  {&d1, c1, v, nullptr, &s3}};
  auto r = store->upsert_batch(writes);
  ASSERT_EQ(r.size(), 3u);
  ASSERT_FALSE(r[0].is_ok()) << "the reserve did not refuse the 4 MiB write";
  EXPECT_EQ(r[0].status().code(), StatusCode::kNoSpace) << r[0].status().to_string();
  for (size_t i = 1; i < 3; ++i) {
    ASSERT_FALSE(r[i].is_ok()) << "write " << i << " went through after a failed one";
    EXPECT_NE(r[i].status().message().find("not written after an earlier write failed"), std::string::npos)
        << r[i].status().to_string();
  }
  EXPECT_EQ(*store->get_state("applied"), "0");
  EXPECT_FALSE(store->get_document("D2").is_ok());

  // The refusal was this write's alone: the same small writes go through
  // now, in order.
  const DocumentWrite again[] = {{&small, c2, v, nullptr, &s2}, {&d1, c1, v, nullptr, &s3}};
  r = store->upsert_batch(again);
  ASSERT_TRUE(r[0].is_ok()) << r[0].status().to_string();
  ASSERT_TRUE(r[1].is_ok()) << r[1].status().to_string();
  EXPECT_FALSE(r[1]->changed);
  EXPECT_EQ(*store->get_state("applied"), "3");
  EXPECT_TRUE(store->get_document("D2").is_ok());
}

}  // namespace
}  // namespace ragd

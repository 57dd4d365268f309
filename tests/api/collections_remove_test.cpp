// Collections::remove (issue 11, item 4): a collection deleted while a
// request still holds it leaves service at once and goes from disk when the
// holder lets go; one deleted while idle goes at once; a crash's leftover
// is removed at the next start.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "service/collections.h"
#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

namespace fs = std::filesystem;

class CollectionsRemove : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("collections-remove");
    data_ = dir_->path / "data";
    fs::create_directories(data_);
    make_tiny_glove(dir_->path / "glove.bin", {"vpn tunnel restart client"});
    options_.store.dir = data_;
    options_.glove = dir_->path / "glove.bin";
    options_.embedder_load = EmbedderLoad::kRequired;
    auto svc = ServiceContext::open(options_);
    ASSERT_TRUE(svc.is_ok()) << svc.status().to_string();
    default_ = std::move(svc).value();
  }

  size_t leftovers() const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(data_ / "collections")) {
      if (e.path().filename().string().starts_with(".deleted-")) ++n;
    }
    return n;
  }

  std::unique_ptr<TempDir> dir_;
  fs::path data_;
  ServiceOptions options_;
  std::unique_ptr<ServiceContext> default_;
};

TEST_F(CollectionsRemove, HeldCollectionGoesWhenTheLastHolderLetsGo) {
  Collections c(*default_, options_);
  auto made = c.create("kb2");
  ASSERT_TRUE(made.is_ok()) << made.status().to_string();
  std::shared_ptr<ServiceContext> held = *made;
  Document doc;
  doc.id = "a";
  doc.title = "A";
  doc.text = "restart the vpn tunnel client";
  auto ingested = held->ingest({doc});
  ASSERT_TRUE(ingested.is_ok()) << ingested.status().to_string();
  made = Status::not_found("dropped");  // the test holds only `held`

  auto gone = c.remove("kb2");
  ASSERT_TRUE(gone.is_ok()) << gone.status().to_string();
  EXPECT_FALSE(*gone);  // still held
  EXPECT_TRUE(fs::exists(Collections::dir_of(data_, "kb2")));
  EXPECT_EQ(c.get("kb2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(c.create("kb2").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(c.names().empty());
  EXPECT_EQ(c.remove("kb2").status().code(), StatusCode::kNotFound);
  // The holder still reads what it had.
  SearchRequest sr;
  sr.query = "vpn tunnel";
  sr.k = 5;
  auto hits = held->search(sr);
  ASSERT_TRUE(hits.is_ok()) << hits.status().to_string();
  EXPECT_EQ(hits->size(), 1u);

  held.reset();
  EXPECT_FALSE(fs::exists(Collections::dir_of(data_, "kb2")));
  EXPECT_EQ(leftovers(), 0u);
  // The name is free again, and the new collection is empty.
  auto again = c.create("kb2");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  auto none = (*again)->search(sr);
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(CollectionsRemove, IdleCollectionGoesAtOnceAndTheDefaultStays) {
  {
    Collections c(*default_, options_);
    ASSERT_TRUE(c.create("kb2").is_ok());
    ASSERT_TRUE(Collections::create_on_disk(data_, "kb3").is_ok());  // never opened
    auto gone = c.remove("kb2");
    ASSERT_TRUE(gone.is_ok()) << gone.status().to_string();
    EXPECT_TRUE(*gone);
    gone = c.remove("kb3");
    ASSERT_TRUE(gone.is_ok()) << gone.status().to_string();
    EXPECT_TRUE(*gone);
    EXPECT_FALSE(fs::exists(Collections::dir_of(data_, "kb2")));
    EXPECT_FALSE(fs::exists(Collections::dir_of(data_, "kb3")));
    EXPECT_EQ(c.remove("default").status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.remove("").status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.remove("../data").status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.remove("nope").status().code(), StatusCode::kNotFound);
    EXPECT_TRUE(c.get("").is_ok());
  }
  // A deletion that a crash interrupted after the rename: gone at the next start.
  fs::create_directories(data_ / "collections" / ".deleted-kb4-1-0" / "store");
  std::ofstream(data_ / "collections" / ".deleted-kb4-1-0" / "store" / "000001.sst") << "x";
  Collections c(*default_, options_);
  EXPECT_EQ(leftovers(), 0u);
  EXPECT_TRUE(c.names().empty());
}

}  // namespace
}  // namespace ragd::test

// DocumentLimits: documents over a metadata or chunk limit fail alone with a
// clear kResourceExhausted error, quickly, and nothing of them is stored.
// Real connectors (CSV, JSONL) and a real Store (RocksDB in a temp dir).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "connectors/connector.h"
#include "index/store.h"
#include "ingest/pipeline.h"
#include "tests/sanitizer.h"

namespace ragd {
namespace {

// A constant unit vector per text: enough for the store, no model needed.
class UnitEmbedder : public Embedder {
 public:
  int dim() const override { return 8; }
  std::string fingerprint() const override { return "test-unit:v1"; }
  Status embed(std::span<const std::string> texts, EmbedRole, std::vector<float>& out) const override {
    for (size_t i = 0; i < texts.size(); ++i) {
      out.push_back(1.0f);
      out.insert(out.end(), 7, 0.0f);
    }
    return Status::ok();
  }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(std::random_device{}());
    dir_ = std::filesystem::temp_directory_path() / ("ragd-limits-" + std::to_string(rng()));
    StoreOptions o;
    o.dir = dir_;
    auto s = Store::open(o);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Parses `bytes` as `filename` and ingests every document; returns the
  // stats, with the connector's errors appended to stats.errors.
  IngestStats ingest(const std::string& bytes, const std::string& filename, IngestOptions options = {}) {
    Ingestor ing(*store_, embedder_, options);
    std::vector<std::string> fetch_errors;
    FetchSink sink{[&](Document&& d) { ing.add(std::move(d)); },
                   [&](const Status& s) { fetch_errors.push_back(s.to_string()); }};
    EXPECT_TRUE(fetch_buffer(bytes, filename, {}, sink).is_ok());
    ing.flush();
    IngestStats st = ing.stats();
    st.errors.insert(st.errors.end(), fetch_errors.begin(), fetch_errors.end());
    return st;
  }

  UnitEmbedder embedder_;
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(LimitsTest, CsvWith100kColumnsIsRejectedQuickly) {
  std::string header = "id,text", row = "wide,some text", narrow = "narrow,fine";
  for (int i = 0; i < 100000; ++i) {
    header += ",c" + std::to_string(i);
    row += ",v";
    narrow += ',';
  }
  std::string csv = header + "\n" + row + "\n" + narrow + "\n";
  // The narrow row has the same 100k columns, all empty: empty values are
  // not metadata, so it stays under the limit and is stored.
  auto t0 = std::chrono::steady_clock::now();
  IngestStats st = ingest(csv, "wide.csv");
  double took = seconds_since(t0);
  EXPECT_EQ(st.failed, 1u);
  EXPECT_EQ(st.ingested, 1u);
  ASSERT_EQ(st.errors.size(), 1u);
  EXPECT_NE(st.errors[0].find("resource exhausted: "), std::string::npos) << st.errors[0];
  EXPECT_NE(st.errors[0].find("wide.csv row 1"), std::string::npos) << st.errors[0];
  EXPECT_NE(st.errors[0].find("100000 metadata keys, more than the limit of 256"), std::string::npos)
      << st.errors[0];
  EXPECT_EQ(store_->stats().documents, 1u) << "only the narrow row is stored";
  EXPECT_FALSE(store_->get_document("wide").is_ok());
  if (!testing::kSanitized) {
    EXPECT_LT(took, 5.0) << "100k columns take " << took << " s";
  }
  std::printf("CSV with 100k columns: parsed and rejected in %.3f s\n", took);
}

TEST_F(LimitsTest, JsonlDocumentWith100kMetadataKeysIsRejectedQuickly) {
  std::string meta;
  for (int i = 0; i < 100000; ++i) meta += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":\"v\"";
  std::string jsonl = "{\"_id\":\"many\",\"text\":\"body\",\"metadata\":{" + meta + "}}\n" +
                      "{\"_id\":\"few\",\"text\":\"body\",\"metadata\":{\"team\":\"net\"}}\n";
  auto t0 = std::chrono::steady_clock::now();
  IngestStats st = ingest(jsonl, "corpus.jsonl");
  double took = seconds_since(t0);
  EXPECT_EQ(st.failed, 1u);
  EXPECT_EQ(st.ingested, 1u);
  ASSERT_EQ(st.errors.size(), 1u);
  EXPECT_NE(st.errors[0].find("corpus.jsonl line 1: document 'many' has 100000 metadata keys"), std::string::npos)
      << st.errors[0];
  EXPECT_EQ(store_->stats().documents, 1u);
  EXPECT_FALSE(store_->get_document("many").is_ok());
  EXPECT_TRUE(store_->get_document("few").is_ok());
  if (!testing::kSanitized) {
    EXPECT_LT(took, 5.0) << "100k metadata keys take " << took << " s";
  }
  std::printf("JSONL document with 100k metadata keys: parsed and rejected in %.3f s\n", took);
}

TEST_F(LimitsTest, KeyAndValueSizesAreCappedAndTheErrorStaysShort) {
  IngestOptions o;
  o.limits.max_metadata_keys = 3;
  o.limits.max_metadata_key_bytes = 16;
  o.limits.max_metadata_value_bytes = 32;
  const std::string long_key(100000, 'k');
  const std::string jsonl =
      "{\"_id\":\"at-limit\",\"text\":\"t\",\"metadata\":{\"a\":\"1\",\"b\":\"2\",\"" + std::string(16, 'c') +
      "\":\"" + std::string(32, 'v') + "\"}}\n" +
      "{\"_id\":\"four-keys\",\"text\":\"t\",\"metadata\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\"}}\n" +
      "{\"_id\":\"long-key\",\"text\":\"t\",\"metadata\":{\"" + long_key + "\":\"1\"}}\n" +
      "{\"_id\":\"long-value\",\"text\":\"t\",\"metadata\":{\"a\":\"" + std::string(33, 'v') + "\"}}\n";
  IngestStats st = ingest(jsonl, "limits.jsonl", o);
  EXPECT_EQ(st.ingested, 1u);
  EXPECT_EQ(st.failed, 3u);
  ASSERT_EQ(st.errors.size(), 3u);
  EXPECT_NE(st.errors[0].find("'four-keys' has 4 metadata keys, more than the limit of 3"), std::string::npos)
      << st.errors[0];
  EXPECT_NE(st.errors[1].find("is 100000 bytes, more than the limit of 16 (max_metadata_key_bytes)"),
            std::string::npos)
      << st.errors[1];
  EXPECT_LT(st.errors[1].size(), 300u) << "the error must not echo the 100 kB key";
  EXPECT_NE(st.errors[2].find("metadata 'a' is 33 bytes, more than the limit of 32"), std::string::npos)
      << st.errors[2];
  EXPECT_EQ(store_->stats().documents, 1u);
  EXPECT_TRUE(store_->get_document("at-limit").is_ok());
}

TEST_F(LimitsTest, ChunkCapRejectsADocumentThatSplitsIntoTooManyChunks) {
  IngestOptions o;
  o.limits.max_chunks = 5;
  o.chunker.max_tokens = 20;
  o.chunker.overlap_tokens = 0;
  std::string text;
  for (int i = 0; i < 400; ++i) text += "word" + std::to_string(i) + (i % 10 == 9 ? ".\n\n" : " ");
  Ingestor ing(*store_, embedder_, o);
  Document big;
  big.id = "big";
  big.text = text;
  Document small;
  small.id = "small";
  small.text = "A short note.";
  ing.add(big);
  ing.add(small);
  ing.flush();
  const IngestStats& st = ing.stats();
  EXPECT_EQ(st.ingested, 1u);
  EXPECT_EQ(st.failed, 1u);
  ASSERT_EQ(st.errors.size(), 1u);
  EXPECT_NE(st.errors[0].find("big: resource exhausted:"), std::string::npos) << st.errors[0];
  EXPECT_NE(st.errors[0].find("chunks, more than the limit of 5 per document"), std::string::npos) << st.errors[0];
  EXPECT_EQ(store_->stats().documents, 1u);
  EXPECT_FALSE(store_->get_document("big").is_ok());
}

}  // namespace
}  // namespace ragd

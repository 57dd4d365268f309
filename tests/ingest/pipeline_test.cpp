// Ingestor with a real Store (RocksDB in a temp dir) and a hashing embedder.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <random>

#include "connectors/connector.h"
#include "index/store.h"
#include "ingest/pipeline.h"
#include "ragd/chunk_text.h"

namespace ragd {
namespace {

// Feature hashing of lowercase words into `dim` buckets, L2-normalised.
// Fails on any text containing "POISON", to test per-document fallback.
class HashEmbedder : public Embedder {
 public:
  explicit HashEmbedder(std::string fp = "test-hash:v1") : fp_(std::move(fp)) {}
  int dim() const override { return 32; }
  std::string fingerprint() const override { return fp_; }
  Status embed(std::span<const std::string> texts, EmbedRole, std::vector<float>& out) const override {
    ++calls;
    for (const auto& t : texts)
      if (t.find("POISON") != std::string::npos) return Status::invalid_argument("poisoned text");
    for (const auto& t : texts) {
      std::vector<float> v(32, 0.0f);
      uint32_t h = 2166136261u;
      for (char c : t) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
          h = (h ^ static_cast<uint8_t>(std::tolower(static_cast<unsigned char>(c)))) * 16777619u;
        } else if (h != 2166136261u) {
          v[h % 32] += 1.0f;
          h = 2166136261u;
        }
      }
      if (h != 2166136261u) v[h % 32] += 1.0f;
      float n = 0;
      for (float x : v) n += x * x;
      n = std::sqrt(n);
      for (float x : v) out.push_back(n > 0 ? x / n : 0.0f);
    }
    texts_embedded += texts.size();
    return Status::ok();
  }
  mutable std::atomic<int> calls{0};
  mutable std::atomic<size_t> texts_embedded{0};

 private:
  std::string fp_;
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(std::random_device{}());
    dir_ = std::filesystem::temp_directory_path() / ("ragd-ingest-" + std::to_string(rng()));
    open();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void open() {
    store_.reset();
    StoreOptions o;
    o.dir = dir_;
    auto s = Store::open(o);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }
  static Document doc(const std::string& id, const std::string& text) {
    Document d;
    d.id = id;
    d.title = "Title of " + id;
    d.text = text;
    d.origin = "test " + id;
    return d;
  }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(PipelineTest, NormalisesChunksEmbedsOnceAndStores) {
  HashEmbedder emb;
  IngestOptions o;
  o.batch_documents = 64;
  Ingestor ing(*store_, emb, o);
  int progress_calls = 0;
  ing.on_progress = [&](const IngestStats&) { ++progress_calls; };
  ing.add(doc("runbooks/a.md", "# A\n\nFirst  section text.\r\n\n## B\n\nSecond section caf\xC3\xA9."));
  Document ticket = doc("INC1", "");
  ticket.kind = "ticket";
  ticket.blocks = {{{}, "problem", "INC1: disk full"}, {{}, "resolution", "Cleared /var/log."}};
  ing.add(ticket);
  ing.add(doc("title-only", ""));
  EXPECT_EQ(emb.calls.load(), 0) << "nothing is embedded before the batch fills or flush()";
  ing.flush();
  const IngestStats& s = ing.stats();
  EXPECT_EQ(s.seen, 3u);
  EXPECT_EQ(s.ingested, 3u);
  EXPECT_EQ(s.failed, 0u) << (s.errors.empty() ? "" : s.errors[0]);
  EXPECT_EQ(emb.calls.load(), 1) << "one embed call for the whole batch";
  EXPECT_EQ(s.chunks, emb.texts_embedded.load());
  EXPECT_EQ(progress_calls, 3);

  auto a_read = store_->chunks_of("runbooks/a.md");
  ASSERT_TRUE(a_read.is_ok()) << a_read.status().to_string();
  const std::vector<Chunk>& a = *a_read;
  ASSERT_EQ(a.size(), 1u);  // "A" is short and merges into its child "B"
  EXPECT_EQ(a[0].section_path, (std::vector<std::string>{"A", "B"}));
  EXPECT_TRUE(a[0].text.starts_with("First section text.")) << a[0].text;
  auto t_read = store_->chunks_of("INC1");
  ASSERT_TRUE(t_read.is_ok()) << t_read.status().to_string();
  const std::vector<Chunk>& t = *t_read;
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].role, "problem");
  EXPECT_EQ(t[1].role, "resolution");
  auto got = store_->get_document("INC1");
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->text, "INC1: disk full\n\nCleared /var/log.");
  EXPECT_EQ(store_->stats().documents, 3u);
  EXPECT_EQ(store_->stats().encoder, "test-hash:v1");
}

TEST_F(PipelineTest, UnchangedSkippedChangedReplaced) {
  HashEmbedder emb;
  {
    Ingestor ing(*store_, emb);
    ing.add(doc("a", "alpha text one."));
    ing.add(doc("b", "beta text."));
    ing.flush();
    ASSERT_EQ(ing.stats().ingested, 2u);
  }
  const int calls = emb.calls.load();
  Ingestor again(*store_, emb);
  again.add(doc("a", "alpha   text one."));  // same after normalisation
  again.add(doc("b", "beta text, now changed.\n\n" + std::string(3000, 'x') + " more words here."));
  again.flush();
  EXPECT_EQ(again.stats().unchanged, 1u);
  EXPECT_EQ(again.stats().ingested, 1u);
  EXPECT_EQ(emb.calls.load(), calls + 1);
  auto b_read = store_->chunks_of("b");
  ASSERT_TRUE(b_read.is_ok()) << b_read.status().to_string();
  const std::vector<Chunk>& b = *b_read;
  EXPECT_EQ(emb.texts_embedded.load(), 2u + b.size()) << "unchanged 'a' was not embedded";
  ASSERT_FALSE(b.empty());
  EXPECT_TRUE(b[0].text.starts_with("beta text, now changed."));
}

TEST_F(PipelineTest, OneBadDocumentNeverStopsTheBatch) {
  HashEmbedder emb;
  Ingestor ing(*store_, emb);
  ing.add(doc("good-1", "fine text."));
  ing.add(doc("", "no id"));
  ing.add(doc("poisoned", "this text is POISON to the embedder."));
  ing.add(doc("bad\x02id", "control char in id"));
  ing.add(doc("good-2", "also fine."));
  ing.flush();
  const IngestStats& s = ing.stats();
  EXPECT_EQ(s.seen, 5u);
  EXPECT_EQ(s.ingested, 2u);
  EXPECT_EQ(s.failed, 3u);
  ASSERT_EQ(s.errors.size(), 3u);
  EXPECT_NE(s.errors[0].find("test : document has no id"), std::string::npos) << s.errors[0];
  std::string all = s.errors[0] + s.errors[1] + s.errors[2];
  EXPECT_NE(all.find("poisoned: invalid argument: embedding: poisoned text"), std::string::npos) << all;
  EXPECT_TRUE(store_->get_document("good-1").is_ok());
  EXPECT_TRUE(store_->get_document("good-2").is_ok());
  EXPECT_FALSE(store_->get_document("poisoned").is_ok());
}

// add_all_with_state (a cluster node's applier): the documents embedded in
// one call and written with their states in one synced batch; a rejected
// document is skipped and the last state written all the same; a document
// the encoder fails stops them all, so no state moves past it.
TEST_F(PipelineTest, DocumentsAndTheirStatesGoTogetherOrNotAtAll) {
  HashEmbedder emb;
  Ingestor ing(*store_, emb);
  Document no_id;
  no_id.text = "a document without an id";
  std::vector<Document> docs{doc("a", "alpha text here"), doc("b", "beta text here"), doc("a", "alpha changed here"),
                             no_id};
  const std::vector<StateWrite> states{{"pos", "1"}, {"pos", "2"}, {"pos", "3"}, {"pos", "4"}};
  ASSERT_TRUE(ing.add_all_with_state(std::move(docs), states).is_ok());
  EXPECT_EQ(emb.calls, 1);
  EXPECT_EQ(ing.stats().failed, 1u);
  EXPECT_EQ(store_->get_state("pos").value(), "4");
  EXPECT_EQ(store_->get_document("a").value().text, "alpha changed here");
  EXPECT_TRUE(store_->get_document("b").is_ok());

  std::vector<Document> more{doc("c", "gamma text"), doc("d", "POISON text"), doc("e", "epsilon text")};
  const std::vector<StateWrite> later{{"pos", "5"}, {"pos", "6"}, {"pos", "7"}};
  EXPECT_FALSE(ing.add_all_with_state(std::move(more), later).is_ok());
  EXPECT_EQ(store_->get_state("pos").value(), "4");
  EXPECT_EQ(store_->get_document("c").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->get_document("e").status().code(), StatusCode::kNotFound);

  // One document, unchanged: its state alone.
  EXPECT_TRUE(ing.add_with_state(doc("b", "beta text here"), StateWrite{"pos", "8"}).is_ok());
  EXPECT_EQ(store_->get_state("pos").value(), "8");
}

TEST_F(PipelineTest, EncoderMismatchFailsEveryDocumentClearly) {
  HashEmbedder first("test-hash:v1"), second("test-hash:v2");
  {
    Ingestor ing(*store_, first);
    ing.add(doc("a", "text."));
    ing.flush();
  }
  Ingestor ing(*store_, second);
  ing.add(doc("b", "text."));
  ing.add(doc("c", "text."));
  ing.flush();
  EXPECT_EQ(ing.stats().failed, 2u);
  EXPECT_EQ(ing.stats().ingested, 0u);
  ASSERT_FALSE(ing.stats().errors.empty());
  EXPECT_NE(ing.stats().errors[0].find("reindex"), std::string::npos) << ing.stats().errors[0];
}

TEST_F(PipelineTest, SampleKnowledgeBaseEndToEnd) {
  const std::filesystem::path kb = std::filesystem::path(RAGD_SOURCE_DIR) / "examples" / "kb";
  if (!std::filesystem::exists(kb)) GTEST_SKIP() << "examples/kb is absent";
  HashEmbedder emb;
  Ingestor ing(*store_, emb);
  std::vector<std::string> fetch_errors;
  FetchSink sink{[&](Document&& d) { ing.add(std::move(d)); },
                 [&](const Status& s) { fetch_errors.push_back(s.to_string()); }};
  ASSERT_TRUE(fetch_path(kb, {}, sink).is_ok());
  ing.flush();
  EXPECT_TRUE(fetch_errors.empty()) << fetch_errors.front();
  EXPECT_EQ(ing.stats().failed, 0u) << (ing.stats().errors.empty() ? "" : ing.stats().errors[0]);
  EXPECT_GE(ing.stats().ingested, 60u);
  EXPECT_EQ(store_->stats().documents, ing.stats().ingested);
  EXPECT_EQ(store_->stats().chunks, ing.stats().chunks);
  // Restart: a second run over the same files writes nothing.
  open();
  Ingestor again(*store_, emb);
  FetchSink sink2{[&](Document&& d) { again.add(std::move(d)); }, [](const Status&) {}};
  ASSERT_TRUE(fetch_path(kb, {}, sink2).is_ok());
  again.flush();
  EXPECT_EQ(again.stats().ingested, 0u);
  EXPECT_EQ(again.stats().unchanged, ing.stats().ingested);
}

// Ingest and reindex embed the same text for a chunk (ragd/chunk_text.h):
// re-embedding a store with the same encoder under a new fingerprint gives
// every chunk exactly the vector ingest gave it. The documents have titles
// and section paths, so embedding the bare chunk text would differ.
TEST_F(PipelineTest, ReindexEmbedsWhatIngestEmbedded) {
  HashEmbedder emb;
  {
    Ingestor ing(*store_, emb);
    ing.add(doc("runbooks/vpn.md", "# VPN runbook\n\nConnect with the client.\n\n## Error 809\n\nOpen UDP 500 and 4500."));
    ing.add(doc("runbooks/mail.md", "# Mail\n\n## Quota\n\nArchive old mail to free space.\n\n## Spam\n\nReport it."));
    Document ticket = doc("INC7", "");
    ticket.blocks = {{{}, "problem", "Printer jams on tray 2"}, {{}, "resolution", "Replaced the roller."}};
    ing.add(ticket);
    ing.flush();
    ASSERT_EQ(ing.stats().failed, 0u) << ing.stats().errors[0];
  }
  // Every live chunk's vector, by chunk id (labels are small and dense here).
  auto vectors_by_chunk = [&] {
    std::map<std::string, std::vector<float>> out;
    for (uint64_t label = 0; label < 1000; ++label) {
      auto c = store_->chunk(label);
      EXPECT_TRUE(c.is_ok()) << c.status().to_string();
      if (!c.is_ok() || !c->has_value()) continue;
      auto v = store_->chunk_vector(label);
      EXPECT_TRUE(v.is_ok()) << v.status().to_string();
      if (v.is_ok()) out[(*c)->chunk.id] = *v;
    }
    return out;
  };
  const auto ingested = vectors_by_chunk();
  ASSERT_GE(ingested.size(), 3u);
  for (const auto& [id, v] : ingested) ASSERT_FALSE(v.empty()) << id;

  auto embed = [&emb](std::span<const std::string> texts) -> Result<std::vector<float>> {
    std::vector<float> out;
    RAGD_RETURN_IF_ERROR(emb.embed(texts, EmbedRole::kPassage, out));
    return out;
  };
  ASSERT_TRUE(store_->reindex("test-hash:v2", emb.dim(), embed, {}).is_ok());
  ASSERT_EQ(store_->stats().encoder, "test-hash:v2");
  const auto reindexed = vectors_by_chunk();
  ASSERT_EQ(reindexed.size(), ingested.size());
  for (const auto& [id, v] : ingested) {
    auto it = reindexed.find(id);
    ASSERT_NE(it, reindexed.end()) << id;
    EXPECT_EQ(it->second, v) << id << ": reindex embedded other text than ingest";
  }
}

}  // namespace
}  // namespace ragd

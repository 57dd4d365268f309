// Retriever on a real Store: modes, fusion, filters, ACL, near-duplicates.
#include "retrieve/retriever.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/retrieve/toy_store.h"

namespace ragd {
namespace {

using testing::make_doc;
using testing::ToyStore;

class RetrieverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kb_.ok());
    Document vpn = make_doc("INC0012345", "VPN tunnel drops", "ticket",
                            "The vpn tunnel drops after a network change. Error 0x80070005 on connection.");
    vpn.source = "servicenow";
    vpn.metadata = {{"priority", "2"}, {"assignment_group", "network"}};
    vpn.updated_at = 1700000000;
    kb_.add(vpn, {"The vpn tunnel drops after a network change.", "Error 0x80070005 on connection."},
            {{"Problem"}, {"Resolution"}});
    Document printer = make_doc("runbooks/printer.md", "Printer paper jam", "runbook",
                                "Clear the paper jam in the tray and restart the printer.");
    printer.updated_at = 1600000000;
    kb_.add(printer);
    Document db = make_doc("KB0010023", "Slow database query", "runbook",
                           "A slow oracle query needs a table index. ORA-00942 means the table is missing.");
    db.metadata = {{"priority", "3"}};
    db.updated_at = 1650000000;
    kb_.add(db);
    Document hr = make_doc("policies/passwords.md", "Password reset policy", "policy",
                           "A locked account needs a password reset by the service desk.");
    hr.acl = {"hr", "it-staff"};
    hr.updated_at = 1710000000;
    kb_.add(hr);
    retriever_ = std::make_unique<Retriever>(kb_.store(), &kb_.embedder());
  }

  std::vector<Hit> search(const std::string& q, SearchMode mode, int k = 10,
                          std::vector<std::string> groups = {}, SearchFilters f = {}) {
    SearchRequest r;
    r.query = q;
    r.mode = mode;
    r.k = k;
    r.groups = std::move(groups);
    r.filters = std::move(f);
    auto hits = retriever_->retrieve(r);
    EXPECT_TRUE(hits.is_ok()) << hits.status().to_string();
    return hits.is_ok() ? std::move(hits).value() : std::vector<Hit>{};
  }

  static std::vector<std::string> doc_ids(const std::vector<Hit>& hits) {
    std::vector<std::string> out;  // distinct, in rank order
    for (const auto& h : hits)
      if (std::find(out.begin(), out.end(), h.doc_id) == out.end()) out.push_back(h.doc_id);
    return out;
  }

  ToyStore kb_{"retriever_test"};
  std::unique_ptr<Retriever> retriever_;
};

TEST_F(RetrieverTest, ExactErrorCodeIsRankOneInEveryMode) {
  for (SearchMode m : {SearchMode::kLexical, SearchMode::kHybrid}) {
    auto hits = search("0x80070005", m);
    ASSERT_FALSE(hits.empty()) << search_mode_name(m);
    EXPECT_EQ(hits[0].doc_id, "INC0012345") << search_mode_name(m);
    EXPECT_EQ(hits[0].chunk_id, "INC0012345#1");
  }
  auto ora = search("ORA-00942 table", SearchMode::kHybrid);
  ASSERT_FALSE(ora.empty());
  EXPECT_EQ(ora[0].doc_id, "KB0010023");
}

TEST_F(RetrieverTest, HitCarriesEverything) {
  auto hits = search("vpn tunnel", SearchMode::kHybrid, 1);
  ASSERT_EQ(hits.size(), 1u);
  const Hit& h = hits[0];
  EXPECT_EQ(h.doc_id, "INC0012345");
  EXPECT_EQ(h.chunk_id, "INC0012345#0");
  EXPECT_EQ(h.title, "VPN tunnel drops");
  EXPECT_EQ(h.kind, "ticket");
  EXPECT_EQ(h.source, "servicenow");
  EXPECT_EQ(h.url, "https://kb.example.com/INC0012345");
  EXPECT_EQ(h.section_path, std::vector<std::string>{"Problem"});
  EXPECT_EQ(h.text, "The vpn tunnel drops after a network change.");
  EXPECT_EQ(h.metadata.at("assignment_group"), "network");
  EXPECT_GT(h.score_lexical, 0);
  EXPECT_GT(h.score_vector, 0.5);
  EXPECT_GT(h.score, 0);
}

TEST_F(RetrieverTest, VectorModeFindsSynonymsWithoutSharedWords) {
  // No query word occurs in any document; only the embedding links them.
  auto lex = search("wifi router disconnects", SearchMode::kLexical);
  EXPECT_TRUE(lex.empty());
  auto vec = search("wifi router disconnects", SearchMode::kVector);
  ASSERT_FALSE(vec.empty());
  EXPECT_EQ(vec[0].doc_id, "INC0012345");
  EXPECT_EQ(vec[0].score_lexical, 0);
  // Hybrid falls back to the vector half when the lexical half is empty.
  auto hyb = search("wifi router disconnects", SearchMode::kHybrid);
  ASSERT_FALSE(hyb.empty());
  EXPECT_EQ(hyb[0].doc_id, "INC0012345");
}

TEST_F(RetrieverTest, NoEncoderFallsBackToLexical) {
  Retriever lexical_only(kb_.store(), nullptr);
  SearchRequest r;
  r.query = "printer paper";
  r.mode = SearchMode::kVector;
  auto hits = lexical_only.retrieve(r);
  ASSERT_TRUE(hits.is_ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].doc_id, "runbooks/printer.md");
}

TEST_F(RetrieverTest, AclHidesDocumentsFromOtherGroups) {
  EXPECT_TRUE(search("password reset locked account", SearchMode::kLexical).empty());
  auto v = search("password reset locked account", SearchMode::kVector);
  for (const auto& h : v) EXPECT_NE(h.doc_id, "policies/passwords.md");
  EXPECT_TRUE(search("password reset", SearchMode::kHybrid, 10, {"sales"}).empty() ||
              doc_ids(search("password reset", SearchMode::kHybrid, 10, {"sales"}))[0] != "policies/passwords.md");
  auto hr = search("password reset", SearchMode::kHybrid, 10, {"sales", "hr"});
  ASSERT_FALSE(hr.empty());
  EXPECT_EQ(hr[0].doc_id, "policies/passwords.md");
  // Public documents stay visible to callers with groups.
  auto pub = search("printer", SearchMode::kLexical, 10, {"hr"});
  ASSERT_EQ(pub.size(), 1u);
}

TEST_F(RetrieverTest, FiltersOnKindSourceFieldsAndTime) {
  SearchFilters f;
  f.kinds = {"runbook"};
  for (const auto& h : search("table printer vpn", SearchMode::kHybrid, 10, {}, f)) EXPECT_EQ(h.kind, "runbook");
  EXPECT_EQ(search("table printer vpn", SearchMode::kLexical, 10, {}, f).size(), 2u);

  SearchFilters src;
  src.sources = {"servicenow"};
  EXPECT_EQ(doc_ids(search("table printer vpn", SearchMode::kLexical, 10, {}, src)),
            std::vector<std::string>{"INC0012345"});

  SearchFilters field;
  field.fields = {{"priority", "3"}};
  EXPECT_EQ(doc_ids(search("table printer vpn", SearchMode::kHybrid, 10, {}, field)),
            std::vector<std::string>{"KB0010023"});
  field.fields = {{"id", "runbooks/printer.md"}};
  EXPECT_EQ(doc_ids(search("table printer vpn", SearchMode::kHybrid, 10, {}, field)),
            std::vector<std::string>{"runbooks/printer.md"});
  field.fields = {{"priority", "9"}};
  EXPECT_TRUE(search("table printer vpn", SearchMode::kHybrid, 10, {}, field).empty());

  SearchFilters time;
  time.updated_after = 1640000000;
  time.updated_before = 1690000000;
  EXPECT_EQ(doc_ids(search("table printer vpn", SearchMode::kHybrid, 10, {}, time)),
            std::vector<std::string>{"KB0010023"});
}

TEST_F(RetrieverTest, NearDuplicatesAreDropped) {
  kb_.add(make_doc("INC0099999", "VPN tunnel drops again", "ticket",
                   "The vpn tunnel drops after a network change!"));
  SearchRequest r;
  r.query = "vpn tunnel drops network change";
  r.mode = SearchMode::kHybrid;
  auto with = retriever_->retrieve(r);
  r.dedup = false;
  auto without = retriever_->retrieve(r);
  ASSERT_TRUE(with.is_ok() && without.is_ok());
  auto count_dups = [](const std::vector<Hit>& hits) {
    int n = 0;
    for (const auto& h : hits)
      n += h.text.rfind("The vpn tunnel drops after a network change", 0) == 0;
    return n;
  };
  EXPECT_EQ(count_dups(*without), 2);
  EXPECT_EQ(count_dups(*with), 1);
  EXPECT_EQ(with->size() + 1, without->size());
}

TEST_F(RetrieverTest, DeletedDocumentsNeverComeBack) {
  ASSERT_FALSE(search("printer", SearchMode::kHybrid).empty());
  ASSERT_TRUE(kb_.store().remove("runbooks/printer.md").is_ok());
  for (SearchMode m : {SearchMode::kLexical, SearchMode::kVector, SearchMode::kHybrid})
    for (const auto& h : search("printer paper jam tray", m)) EXPECT_NE(h.doc_id, "runbooks/printer.md");
}

TEST_F(RetrieverTest, ReplacedDocumentsShowTheirNewChunks) {
  auto before = search("printer paper jam", SearchMode::kHybrid);  // fills the chunk cache
  ASSERT_FALSE(before.empty());
  ASSERT_EQ(before[0].doc_id, "runbooks/printer.md");
  Document printer = make_doc("runbooks/printer.md", "Printer toner low", "runbook",
                              "Replace the printer toner cartridge when the paper comes out pale.");
  printer.metadata = {{"owner", "facilities"}};
  kb_.add(printer);
  auto after = search("printer paper", SearchMode::kHybrid);
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after[0].doc_id, "runbooks/printer.md");
  EXPECT_EQ(after[0].title, "Printer toner low");
  EXPECT_NE(after[0].text.find("toner cartridge"), std::string::npos);
  EXPECT_EQ(after[0].metadata.at("owner"), "facilities");
  for (const auto& h : after) EXPECT_EQ(h.text.find("paper jam"), std::string::npos);
}

// The chunk cache changes no hit, with room for everything or for one chunk.
TEST_F(RetrieverTest, ChunkCacheGivesTheSameHits) {
  RetrieverOptions none, tiny;
  none.chunk_cache_entries = 0;
  tiny.chunk_cache_entries = 1;
  Retriever uncached(kb_.store(), &kb_.embedder(), none), small(kb_.store(), &kb_.embedder(), tiny);
  for (int round = 0; round < 2; ++round) {
    for (const char* q : {"vpn tunnel", "printer jam", "oracle table index", "password reset", "error 0x80070005"}) {
      for (SearchMode m : {SearchMode::kLexical, SearchMode::kVector, SearchMode::kHybrid}) {
        SearchRequest r;
        r.query = q;
        r.mode = m;
        r.groups = {"hr"};
        auto a = uncached.retrieve(r), b = retriever_->retrieve(r), c = small.retrieve(r);
        ASSERT_TRUE(a.is_ok() && b.is_ok() && c.is_ok());
        ASSERT_EQ(a->size(), b->size()) << q;
        ASSERT_EQ(a->size(), c->size()) << q;
        for (size_t i = 0; i < a->size(); ++i) {
          for (const auto* other : {&(*b)[i], &(*c)[i]}) {
            EXPECT_EQ((*a)[i].chunk_id, other->chunk_id);
            EXPECT_EQ((*a)[i].text, other->text);
            EXPECT_EQ((*a)[i].title, other->title);
            EXPECT_EQ((*a)[i].metadata, other->metadata);
            EXPECT_EQ((*a)[i].section_path, other->section_path);
            EXPECT_DOUBLE_EQ((*a)[i].score, other->score);
          }
        }
      }
    }
  }
}

TEST_F(RetrieverTest, BadRequestsAreInvalidArgument) {
  SearchRequest r;
  r.query = "   ";
  EXPECT_EQ(retriever_->retrieve(r).status().code(), StatusCode::kInvalidArgument);
  r.query = "vpn";
  r.k = 0;
  EXPECT_EQ(retriever_->retrieve(r).status().code(), StatusCode::kInvalidArgument);
  r.k = 1000000;
  EXPECT_EQ(retriever_->retrieve(r).status().code(), StatusCode::kInvalidArgument);
  // A query of stop words only is not an error: no hits lexically.
  r.k = 5;
  r.query = "the of and";
  r.mode = SearchMode::kLexical;
  auto hits = retriever_->retrieve(r);
  ASSERT_TRUE(hits.is_ok());
  EXPECT_TRUE(hits->empty());
}

// Fusion is a pure function of the candidate set.
CandidateSet hand_set() {
  CandidateSet s;
  s.lexical_searched = s.vector_searched = true;
  // label, bm25, cos, has_lex, has_vec
  s.items = {{1, 10.0, 0.10, true, true, 0},
             {2, 9.0, 0.90, true, true, 0},
             {3, 5.0, 0.50, true, true, 0},
             {4, 0.0, 0.95, false, true, 0}};
  return s;
}

std::vector<uint64_t> labels(const CandidateSet& s) {
  std::vector<uint64_t> out;
  for (const auto& c : s.items) out.push_back(c.label);
  return out;
}

TEST(Fusion, ConvexWeightsInterpolateBetweenHalves) {
  RetrieverOptions o;
  o.vector_weight = 0;
  CandidateSet s = hand_set();
  Retriever::fuse(s, SearchMode::kHybrid, o);
  EXPECT_EQ(labels(s), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_DOUBLE_EQ(s.items[0].score, 1.0);
  EXPECT_DOUBLE_EQ(s.items[1].score, 0.9);

  o.vector_weight = 1;
  s = hand_set();
  Retriever::fuse(s, SearchMode::kHybrid, o);
  EXPECT_EQ(labels(s), (std::vector<uint64_t>{4, 2, 3, 1}));

  // w = 0.3: label 2 = 0.7 * 0.9 + 0.3 * (0.9 - 0.1) / 0.85.
  o.vector_weight = 0.3;
  s = hand_set();
  Retriever::fuse(s, SearchMode::kHybrid, o);
  EXPECT_EQ(s.items[0].label, 2u);
  EXPECT_NEAR(s.items[0].score, 0.7 * 0.9 + 0.3 * 0.8 / 0.85, 1e-12);
  EXPECT_NEAR(s.items[1].score, 0.7, 1e-12);  // label 1: lexical max, vector min
}

TEST(Fusion, GateScalesDownAFlatVectorHalf) {
  RetrieverOptions o;
  o.vector_weight = 0.5;
  o.gate_spread = 10.0;  // the spread here is 0.85: weight becomes 0.5 * 0.085
  CandidateSet s = hand_set();
  Retriever::fuse(s, SearchMode::kHybrid, o);
  EXPECT_EQ(s.items[0].label, 1u);
  const double w = 0.5 * 0.085;
  EXPECT_NEAR(s.items[0].score, 1.0 - w, 1e-9);
}

TEST(Fusion, WeightedRrf) {
  RetrieverOptions o;
  o.fusion = FusionMethod::kRrf;
  o.vector_weight = 0.5;
  o.rrf_k = 60;
  CandidateSet s = hand_set();
  Retriever::fuse(s, SearchMode::kHybrid, o);
  // Label 2: lexical rank 2, vector rank 2.
  auto it = std::find_if(s.items.begin(), s.items.end(), [](const Candidate& c) { return c.label == 2; });
  EXPECT_NEAR(it->score, 0.5 / 62 + 0.5 / 62, 1e-12);
  // Label 4: vector rank 1 only.
  it = std::find_if(s.items.begin(), s.items.end(), [](const Candidate& c) { return c.label == 4; });
  EXPECT_NEAR(it->score, 0.5 / 61, 1e-12);
  EXPECT_EQ(s.items[0].label, 2u);
}

TEST(Fusion, SingleModesUseTheirOwnScore) {
  RetrieverOptions o;
  CandidateSet s = hand_set();
  Retriever::fuse(s, SearchMode::kLexical, o);
  EXPECT_EQ(labels(s), (std::vector<uint64_t>{1, 2, 3, 4}));
  s = hand_set();
  Retriever::fuse(s, SearchMode::kVector, o);
  EXPECT_EQ(labels(s), (std::vector<uint64_t>{4, 2, 3, 1}));
}

TEST(ShingleJaccard, Basics) {
  EXPECT_DOUBLE_EQ(shingle_jaccard("a b c d", "A B C D!"), 1.0);
  EXPECT_DOUBLE_EQ(shingle_jaccard("a b c d", "e f g h"), 0.0);
  EXPECT_NEAR(shingle_jaccard("a b c d", "a b c x"), 1.0 / 3.0, 1e-12);
}

}  // namespace
}  // namespace ragd

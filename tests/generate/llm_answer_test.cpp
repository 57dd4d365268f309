// End to end in process: a random-weight tiny llama model answering over a
// real Store must never come back as "verified"; audit records are written
// and queryable; cancellation and timeouts stop generation at once.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "generate/llm_answerer.h"
#include "model/generator.h"
#include "tests/generate/llm_test_support.h"
#include "tests/retrieve/toy_store.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;
using testing::make_doc;

class LlmAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<testing::ToyStore>("llm_answer");
    ASSERT_TRUE(store_->ok());
    const std::vector<std::string> texts = {
        "The VPN tunnel drops after the router restart. Restart the vpn connection and reset the router.",
        "The printer shows a paper jam in tray 2. Open the tray, remove the paper and print again.",
        "The oracle database query is slow. Rebuild the index on the table and restart the query.",
        "The account is locked after a failed login. Reset the password and unlock the account.",
    };
    const char* titles[] = {"VPN drops", "Printer jam", "Slow oracle query", "Locked account"};
    for (size_t i = 0; i < texts.size(); ++i) {
      store_->add(make_doc("D" + std::to_string(i), titles[i], "runbook", texts[i]));
    }
    std::vector<std::string> all = texts;
    for (const char* t : titles) all.emplace_back(t);
    all.emplace_back("You are an IT support assistant passages question answer cite");
    testing_llm::TinyLlmSpec spec;
    spec.words = testing_llm::words_of(all);
    model_path_ = testing_llm::write_tiny_llm(spec, "answer");
    auto model = DecoderModel::load(model_path_);
    ASSERT_TRUE(model.is_ok()) << model.status().to_string();
    auto tok = Tokenizer::from_gguf(model.value()->gguf());
    ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();
    generator_ = std::make_shared<Generator>(model.value(), std::shared_ptr<const Tokenizer>(std::move(tok).value()));
    auto lib = PromptLibrary::load(testing_llm::prompts_dir());
    ASSERT_TRUE(lib.is_ok()) << lib.status().to_string();
    prompts_ = std::make_unique<PromptLibrary>(std::move(lib).value());
    audit_path_ = store_->dir() / "audit" / "audit.jsonl";
    auto log = AuditLog::open(audit_path_);
    ASSERT_TRUE(log.is_ok()) << log.status().to_string();
    audit_ = std::move(log).value();
    retriever_ = std::make_unique<Retriever>(store_->store(), &store_->embedder());
    LlmAnswererOptions o;
    o.n_ctx = 1024;
    o.n_threads = 1;
    o.max_tokens = 48;
    answerer_ = std::make_unique<LlmAnswerer>(*retriever_, generator_, *prompts_, o, &store_->embedder(), audit_.get());
  }
  void TearDown() override {
    answerer_.reset();
    fs::remove(model_path_);
  }
  static LlmRequest request(std::string q) {
    LlmRequest r;
    r.search.query = std::move(q);
    r.search.k = 4;
    return r;
  }

  std::unique_ptr<testing::ToyStore> store_;
  std::string model_path_;
  std::shared_ptr<const Generator> generator_;
  std::unique_ptr<PromptLibrary> prompts_;
  fs::path audit_path_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Retriever> retriever_;
  std::unique_ptr<LlmAnswerer> answerer_;
};

TEST_F(LlmAnswerTest, RandomModelIsNeverVerifiedAndIsAudited) {
  const char* queries[] = {"vpn tunnel drops after router restart", "printer paper jam in tray",
                           "oracle query is slow", "account locked after login"};
  std::set<std::string> seen_ids;
  for (const char* q : queries) {
    SCOPED_TRACE(q);
    std::string streamed;
    LlmRequest req = request(q);
    req.caller = "tester";
    auto r = answerer_->answer(req, [&](std::string_view d) {
      streamed += d;
      return true;
    });
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const LlmAnswer& a = r.value();
    EXPECT_NE(a.answer.grounding, Grounding::kVerified) << "random text verified: " << a.raw_text;
    EXPECT_TRUE(a.answer.grounding == Grounding::kFallback || a.answer.grounding == Grounding::kRefused ||
                a.answer.grounding == Grounding::kPartial)
        << grounding_name(a.answer.grounding);
    EXPECT_EQ(streamed, a.raw_text);
    EXPECT_GT(a.completion_tokens, 0);
    EXPECT_LE(a.completion_tokens, 48);
    EXPECT_GT(a.prompt_tokens, 0);
    EXPECT_LE(a.prompt_tokens + 48, 1024);
    EXPECT_GT(a.passages, 0);
    EXPECT_EQ(a.answer.prompt_tokens, a.prompt_tokens);
    // Whatever is returned is grounded: every citation names a real chunk.
    for (const auto& c : a.answer.citations) EXPECT_FALSE(c.doc_id.empty());
    if (a.answer.grounding == Grounding::kFallback) {
      EXPECT_FALSE(a.answer.citations.empty());
      EXPECT_FALSE(a.answer.removed_sentences.empty() && !a.verification.sentences.empty());
    }
    seen_ids.insert(a.request_id);
  }
  EXPECT_EQ(seen_ids.size(), 4u);

  AuditQuery q;
  q.caller = "tester";
  auto recs = query_audit_log(audit_path_, q);
  ASSERT_TRUE(recs.is_ok());
  ASSERT_EQ(recs->size(), 4u);
  auto sha = sha256_file(model_path_);
  ASSERT_TRUE(sha.is_ok());
  for (const auto& rec : recs.value()) {
    EXPECT_TRUE(seen_ids.count(rec.request_id));
    EXPECT_EQ(rec.model_sha256, sha.value());
    EXPECT_EQ(rec.model_file, model_path_);
    EXPECT_FALSE(rec.retrieved_doc_ids.empty());
    EXPECT_GT(rec.prompt_tokens, 0);
    EXPECT_GT(rec.completion_tokens, 0);
    EXPECT_GT(rec.latency_ms, 0);
    EXPECT_EQ(rec.outcome, "ok");
    EXPECT_NE(rec.grounding, "verified");
  }
  EXPECT_EQ(recs->front().query, queries[0]);
  q = {};
  q.doc_id = "D1";
  auto by_doc = query_audit_log(audit_path_, q);
  ASSERT_TRUE(by_doc.is_ok());
  EXPECT_GE(by_doc->size(), 1u);
}

TEST_F(LlmAnswerTest, CallerRetrievedHitsAreAnsweredFrom) {
  // The service retrieves through its own search (rerun across an encoder
  // switch) and hands the hits down; the answer must be built from them.
  LlmRequest given = request("vpn tunnel drops after router restart");
  SearchRequest only = given.search;
  only.filters.fields["id"] = "D2";
  given.retrieved = retriever_->retrieve(only);
  auto a = answerer_->answer(given);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  ASSERT_FALSE(a->answer.hits.empty());
  for (const Hit& h : a->answer.hits) EXPECT_EQ(h.doc_id, "D2");
  // A failed retrieval is the answer's error.
  LlmRequest failed = request("vpn tunnel drops after router restart");
  failed.retrieved = Status::io_error("disk gone");
  auto f = answerer_->answer(failed);
  ASSERT_FALSE(f.is_ok());
  EXPECT_EQ(f.status().code(), StatusCode::kIoError);
  // Without them the same question is answered from the VPN runbook.
  auto plain = answerer_->answer(request("vpn tunnel drops after router restart"));
  ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
  ASSERT_FALSE(plain->answer.hits.empty());
  EXPECT_EQ(plain->answer.hits.front().doc_id, "D0");
}

// A request answered from another store (a collection's Retriever, or a
// cluster coordinator's KnowledgeReader) reads its documents' other
// sections there too: a fix question whose one hit is a runbook's symptoms
// gets the steps of that runbook's Resolution section, in the evidence
// order and in the extractive fallback (random weights are never verified,
// so the answer is the fallback, which refuses nothing here).
TEST_F(LlmAnswerTest, EvidenceAndFallbackReadTheRequestsStore) {
  testing::ToyStore other("llm_answer_other");
  ASSERT_TRUE(other.ok());
  const std::string title = "Printer offline";
  other.add(make_doc("R1", title, "runbook", ""),
            {"The printer queue shows offline after the driver update.",
             "1. Remove the printer and its driver from the laptop.\n2. Install the driver package again from the "
             "portal.\n3. Restart the print spooler service.\n4. Print a test page."},
            {{title, "Symptoms"}, {title, "Resolution"}});
  Retriever other_retriever(other.store(), &other.embedder());
  LlmAnswererOptions o;
  o.n_ctx = 1024;
  o.n_threads = 1;
  o.max_tokens = 1;
  o.extractive.refuse_below = 0;
  LlmAnswerer answerer(*retriever_, generator_, *prompts_, o, &store_->embedder(), nullptr);
  auto ask = [&](const Retriever* retriever, const KnowledgeReader* reader) {
    LlmRequest r = request("how do I fix the printer that shows offline");
    r.search.k = 1;
    r.retrieved = other_retriever.retrieve(r.search);
    r.retriever = retriever;
    r.reader = reader;
    return answerer.answer(r);
  };
  const std::string step = "Install the driver package again";
  auto through_retriever = ask(&other_retriever, nullptr);
  ASSERT_TRUE(through_retriever.is_ok()) << through_retriever.status().to_string();
  ASSERT_EQ(through_retriever->answer.grounding, Grounding::kFallback) << through_retriever->answer.text;
  EXPECT_NE(through_retriever->answer.text.find(step), std::string::npos) << through_retriever->answer.text;

  KnowledgeReader reader;
  reader.retrieve = [&](const SearchRequest& r) { return other_retriever.retrieve(r); };
  reader.chunks_of = [&](const SearchRequest&, const std::string& id) { return other.store().chunks_of(id); };
  auto through_reader = ask(nullptr, &reader);
  ASSERT_TRUE(through_reader.is_ok()) << through_reader.status().to_string();
  EXPECT_EQ(through_reader->answer.text, through_retriever->answer.text);
  EXPECT_EQ(through_reader->prompt_tokens, through_retriever->prompt_tokens);

  // The answerer's own store does not hold R1: its steps stay out of the
  // prompt (the evidence passage goes) and of the fallback.
  auto own_store = ask(nullptr, nullptr);
  ASSERT_TRUE(own_store.is_ok()) << own_store.status().to_string();
  EXPECT_EQ(own_store->answer.text.find(step), std::string::npos) << own_store->answer.text;
  EXPECT_LT(own_store->prompt_tokens, through_retriever->prompt_tokens);
}

TEST_F(LlmAnswerTest, CancellationStopsWithinOneToken) {
  // A run to learn how many checks the prompt takes (one per 64-token chunk
  // it evaluates; the prefix cache holds the rest after the first run, so
  // the probe runs twice and the second one counts).
  int probe_calls = 0;
  Result<LlmAnswer> full = Status::internal("not run");
  for (int run = 0; run < 2; ++run) {
    LlmRequest probe = request("printer paper jam in tray");
    probe.max_tokens = 12;
    probe_calls = 0;
    probe.is_cancelled = [&] { return ++probe_calls < 0; };
    full = answerer_->answer(probe);
    ASSERT_TRUE(full.is_ok()) << full.status().to_string();
  }
  ASSERT_GE(full->completion_tokens, 6) << "the random model ended early; pick another seed";
  // One check per prompt chunk evaluated, then one per generated token.
  const int prefill_checks = probe_calls - full->completion_tokens;
  ASSERT_GE(prefill_checks, 1);

  for (int k : {1, 3, 5}) {
    LlmRequest req = request("printer paper jam in tray");
    req.max_tokens = 12;
    req.request_id = "cancel-" + std::to_string(k);
    int calls = 0;
    req.is_cancelled = [&] { return ++calls > prefill_checks + k - 1; };
    auto r = answerer_->answer(req);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
    AuditQuery q;
    q.request_id = req.request_id;
    auto rec = query_audit_log(audit_path_, q);
    ASSERT_TRUE(rec.is_ok());
    ASSERT_EQ(rec->size(), 1u);
    EXPECT_EQ(rec->front().outcome, "cancelled");
    // Cancelled at the check after token k: exactly k tokens were generated.
    EXPECT_EQ(rec->front().completion_tokens, k);
  }

  // A stream consumer that goes away cancels too: no delta after it says no.
  // (A query whose prompt makes this random model print visible text at
  // once; with the evidence-first prompt, the printer question's first 12
  // tokens are whitespace.)
  LlmRequest req = request("vpn tunnel drops after router restart");
  req.max_tokens = 12;
  int deltas = 0;
  auto r = answerer_->answer(req, [&](std::string_view) { return ++deltas < 2; });
  ASSERT_FALSE(r.is_ok()) << "deltas " << deltas << " raw '" << r->raw_text << "'";
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(deltas, 2);
}

// A purge's clear() of the prefix cache while an answer runs (here at each
// cancellation check: after every prompt chunk and token): the answer
// stores nothing afterwards, since its prompt may hold the purged passages.
TEST_F(LlmAnswerTest, APurgeDuringAnAnswerKeepsItsPromptOutOfThePrefixCache) {
  PrefixCache* cache = answerer_->prefix_cache();
  ASSERT_NE(cache, nullptr);
  LlmRequest plain = request("printer paper jam in tray");
  plain.max_tokens = 4;
  ASSERT_TRUE(answerer_->answer(plain).is_ok());
  EXPECT_GE(cache->stats().entries, 1) << "an answer's prompt is stored";
  cache->clear();
  LlmRequest purged = request("printer paper jam in tray");
  purged.max_tokens = 4;
  int checks = 0;
  purged.is_cancelled = [&] {
    ++checks;
    cache->clear();
    return false;
  };
  ASSERT_TRUE(answerer_->answer(purged).is_ok());
  EXPECT_GT(checks, 0);
  EXPECT_EQ(cache->stats().entries, 0);
  EXPECT_EQ(cache->stats().bytes, 0);
}

// Passages the caller retrieved (the server's answer path): the epoch it
// read before retrieving rules, so a purge while it retrieved keeps the
// prompt out of the cache; without one, answer() reads the epoch after the
// purge and stores it.
TEST_F(LlmAnswerTest, APurgeWhileTheCallerRetrievedKeepsItsPromptOutOfThePrefixCache) {
  PrefixCache* cache = answerer_->prefix_cache();
  ASSERT_NE(cache, nullptr);
  cache->clear();
  LlmRequest r = request("printer paper jam in tray");
  r.max_tokens = 4;
  const uint64_t before = cache->epoch();
  r.retrieved = retriever_->retrieve(r.search);
  ASSERT_TRUE(r.retrieved->is_ok());
  cache->clear();  // a purge while the caller retrieved
  LlmRequest late = r;
  ASSERT_TRUE(answerer_->answer(late).is_ok());
  EXPECT_GE(cache->stats().entries, 1) << "read after the purge, the epoch lets the prompt in";
  cache->clear();
  r.cache_epoch = before;
  ASSERT_TRUE(answerer_->answer(r).is_ok());
  EXPECT_EQ(cache->stats().entries, 0);
  EXPECT_EQ(cache->stats().bytes, 0);
}

TEST_F(LlmAnswerTest, TimeoutAndLimits) {
  LlmRequest req = request("oracle query is slow");
  req.timeout = std::chrono::milliseconds(30);
  req.is_cancelled = [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return false;
  };
  auto r = answerer_->answer(req);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);

  LlmRequest big = request("oracle query is slow");
  big.max_tokens = 100000;
  auto too_many = answerer_->answer(big);
  ASSERT_FALSE(too_many.is_ok());
  EXPECT_EQ(too_many.status().code(), StatusCode::kInvalidArgument);

  LlmRequest fill = request("oracle query is slow");
  fill.max_tokens = 1020;  // leaves no room for the prompt in a 1024 context
  auto no_room = answerer_->answer(fill);
  ASSERT_FALSE(no_room.is_ok());
  EXPECT_EQ(no_room.status().code(), StatusCode::kResourceExhausted);

  LlmRequest small = request("oracle query is slow");
  small.max_tokens = 3;
  auto ok = answerer_->answer(small);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_LE(ok->completion_tokens, 3);
}

}  // namespace
}  // namespace ragd

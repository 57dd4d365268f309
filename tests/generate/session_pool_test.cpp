// The decoder session pool: idle sessions are reused up to the capacity and
// never beyond it, a reused session computes exactly what a fresh one does,
// and the LLM answerer takes its sessions from the pool (one session for
// many answers, the same answer before and after other questions).
#include "generate/session_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "generate/llm_answerer.h"
#include "tests/generate/llm_test_support.h"
#include "tests/retrieve/toy_store.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kTexts = {
    "The VPN tunnel drops after the router restart. Restart the vpn connection and reset the router.",
    "The printer shows a paper jam in tray 2. Open the tray, remove the paper and print again.",
    "The oracle database query is slow. Rebuild the index on the table and restart the query.",
};

class SessionPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> all = kTexts;
    all.emplace_back("You are an IT support assistant passages question answer cite");
    testing_llm::TinyLlmSpec spec;
    spec.words = testing_llm::words_of(all);
    spec.seed = 7;
    model_path_ = testing_llm::write_tiny_llm(spec, "session_pool");
    auto model = DecoderModel::load(model_path_);
    ASSERT_TRUE(model.is_ok()) << model.status().to_string();
    auto tok = Tokenizer::from_gguf(model.value()->gguf());
    ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();
    generator_ = std::make_shared<Generator>(model.value(), std::shared_ptr<const Tokenizer>(std::move(tok).value()));
  }
  void TearDown() override { fs::remove(model_path_); }

  SessionPoolOptions options(int capacity) const {
    SessionPoolOptions o;
    o.capacity = capacity;
    o.session.n_ctx = 256;
    o.session.n_threads = 1;
    return o;
  }

  std::string model_path_;
  std::shared_ptr<const Generator> generator_;
};

TEST_F(SessionPoolTest, ReusesIdleSessionsUpToTheCapacity) {
  SessionPool pool(generator_, options(2));
  std::set<const DecoderSession*> first;
  {
    SessionPool::Lease a = pool.acquire().value(), b = pool.acquire().value(), c = pool.acquire().value();
    first = {a.get(), b.get(), c.get()};
    EXPECT_EQ(first.size(), 3u);
    EXPECT_EQ(pool.created(), 3);
    EXPECT_EQ(pool.idle(), 0);
  }
  // Three came back; one was over the capacity and was freed.
  EXPECT_EQ(pool.idle(), 2);
  for (int round = 0; round < 5; ++round) {
    SessionPool::Lease a = pool.acquire().value(), b = pool.acquire().value();
    EXPECT_TRUE(first.count(a.get()) && first.count(b.get())) << "round " << round;
    EXPECT_EQ(a->n_past(), 0);
    std::vector<float> logits;
    ASSERT_TRUE(a->eval(std::vector<int32_t>{1, 300, 301}, &logits).is_ok());
    EXPECT_EQ(a->n_past(), 3);
  }
  EXPECT_EQ(pool.created(), 3) << "idle sessions were not reused";
  EXPECT_EQ(pool.idle(), 2);
  // Returned sessions come back empty.
  SessionPool::Lease again = pool.acquire().value();
  EXPECT_EQ(again->n_past(), 0);
}

TEST_F(SessionPoolTest, CapacityZeroKeepsNothing) {
  SessionPool pool(generator_, options(0));
  for (int i = 0; i < 3; ++i) {
    SessionPool::Lease s = pool.acquire().value();
    EXPECT_EQ(s->n_ctx(), 256);
  }
  EXPECT_EQ(pool.created(), 3);
  EXPECT_EQ(pool.idle(), 0);
}

TEST_F(SessionPoolTest, BoundHoldsUnderConcurrentUse) {
  SessionPool pool(generator_, options(2));
  std::atomic<int> over{0};
  std::vector<std::thread> th;
  for (int t = 0; t < 6; ++t) {
    th.emplace_back([&] {
      for (int i = 0; i < 40; ++i) {
        SessionPool::Lease s = pool.acquire().value();
        if (s->n_past() != 0) ++over;
        std::vector<float> logits;
        if (!s->eval(std::vector<int32_t>{1, 300}, &logits).is_ok()) ++over;
        if (pool.idle() > 2) ++over;
      }
    });
  }
  for (auto& x : th) x.join();
  EXPECT_EQ(over.load(), 0);
  EXPECT_LE(pool.idle(), 2);
  EXPECT_LE(pool.created(), 6) << "more sessions than threads that ever held one at once";
  EXPECT_GE(pool.created(), 1);
}

TEST_F(SessionPoolTest, ReusedSessionGivesTheSameOutputAsAFreshOne) {
  GenerateOptions go;
  go.max_tokens = 24;
  go.stop_at_eog = false;
  go.sampling.temperature = 0.0f;
  const std::string prompt = "<|im_start|>user\nThe printer shows a paper jam<|im_end|>\n<|im_start|>assistant\n";
  const std::string other = "The oracle database query is slow. Rebuild the index on the table and restart the query. "
                            "The VPN tunnel drops after the router restart.";

  auto fresh_session = generator_->new_session(options(1).session).value();
  auto fresh = generator_->generate(*fresh_session, prompt, go);
  ASSERT_TRUE(fresh.is_ok()) << fresh.status().to_string();
  ASSERT_EQ(fresh->tokens.size(), 24u);
  std::vector<float> fresh_logits;
  {
    auto s = generator_->new_session(options(1).session).value();
    ASSERT_TRUE(s->eval(std::vector<int32_t>{1, 300, 301, 302}, &fresh_logits).is_ok());
  }

  SessionPool pool(generator_, options(1));
  {
    // Fill the pooled session's cache with a longer, different context.
    SessionPool::Lease s = pool.acquire().value();
    auto g = generator_->generate(*s, other, go);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    ASSERT_GT(s->n_past(), 30);
  }
  SessionPool::Lease s = pool.acquire().value();
  ASSERT_EQ(pool.created(), 1);
  auto reused = generator_->generate(*s, prompt, go);
  ASSERT_TRUE(reused.is_ok()) << reused.status().to_string();
  EXPECT_EQ(reused->tokens, fresh->tokens);
  EXPECT_EQ(reused->text, fresh->text);
  s->reset();
  std::vector<float> reused_logits;
  ASSERT_TRUE(s->eval(std::vector<int32_t>{1, 300, 301, 302}, &reused_logits).is_ok());
  EXPECT_EQ(reused_logits, fresh_logits);  // bit for bit
}

// The answerer's sessions come from its pool: one session serves a series of
// answers, and an answer is the same whatever the session held before.
TEST(LlmAnswererSessions, AnswersReuseOneSessionAndRepeat) {
  auto store = std::make_unique<testing::ToyStore>("session_pool_answer");
  ASSERT_TRUE(store->ok());
  const char* titles[] = {"VPN drops", "Printer jam", "Slow oracle query"};
  for (size_t i = 0; i < kTexts.size(); ++i) {
    store->add(testing::make_doc("D" + std::to_string(i), titles[i], "runbook", kTexts[i]));
  }
  std::vector<std::string> all = kTexts;
  for (const char* t : titles) all.emplace_back(t);
  all.emplace_back("You are an IT support assistant passages question answer cite");
  testing_llm::TinyLlmSpec spec;
  spec.words = testing_llm::words_of(all);
  const std::string path = testing_llm::write_tiny_llm(spec, "session_pool_answer");
  auto model = DecoderModel::load(path);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  auto tok = Tokenizer::from_gguf(model.value()->gguf());
  ASSERT_TRUE(tok.is_ok());
  auto gen = std::make_shared<Generator>(model.value(), std::shared_ptr<const Tokenizer>(std::move(tok).value()));
  auto lib = PromptLibrary::load(testing_llm::prompts_dir());
  ASSERT_TRUE(lib.is_ok()) << lib.status().to_string();
  Retriever retriever(store->store(), &store->embedder());
  LlmAnswererOptions o;
  o.n_ctx = 1024;
  o.n_threads = 1;
  o.max_tokens = 24;
  o.sessions_kept = 1;
  LlmAnswerer answerer(retriever, gen, lib.value(), o, &store->embedder());
  auto ask = [&](const std::string& q) {
    LlmRequest r;
    r.search.query = q;
    r.search.k = 3;
    return answerer.answer(r);
  };
  auto first = ask("printer paper jam in tray 2");
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  ASSERT_GT(first->completion_tokens, 0);
  ASSERT_TRUE(ask("oracle database query is slow").is_ok());
  ASSERT_TRUE(ask("vpn tunnel drops after restart").is_ok());
  auto again = ask("printer paper jam in tray 2");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(again->raw_text, first->raw_text);
  EXPECT_EQ(again->prompt_tokens, first->prompt_tokens);
  EXPECT_EQ(answerer.sessions().created(), 1) << "each answer made a new session";
  EXPECT_EQ(answerer.sessions().idle(), 1);
  fs::remove(path);
}

}  // namespace
}  // namespace ragd

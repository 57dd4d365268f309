// Lookup decoding: drafts from the prompt's n-grams, verified in one pass,
// give exactly plain greedy decoding's tokens (and leave the session where
// plain decoding leaves it).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/batch_scheduler.h"
#include "model/generator.h"
#include "tests/model/golden_data.h"
#include "tests/model/tiny_models.h"

namespace ragd {
namespace {

TEST(LookupDraft, ProposesWhatFollowedTheLatestMatch) {
  std::vector<int32_t> d;
  const std::vector<int32_t> h = {1, 2, 3, 9, 9, 1, 2, 3, 7, 8, 5, 1, 2, 3};
  lookup_draft(h, 3, 4, &d);
  EXPECT_EQ(d, (std::vector<int32_t>{7, 8, 5, 1}));  // the latest "1 2 3" before the end
  lookup_draft(h, 3, 2, &d);
  EXPECT_EQ(d, (std::vector<int32_t>{7, 8}));
  const std::vector<int32_t> h2 = {4, 5, 6, 5};
  lookup_draft(h2, 3, 4, &d);  // only "5" recurs
  EXPECT_EQ(d, (std::vector<int32_t>{6, 5}));
  const std::vector<int32_t> h3 = {1, 2, 3};
  lookup_draft(h3, 3, 4, &d);
  EXPECT_TRUE(d.empty());
  lookup_draft(h, 3, 0, &d);
  EXPECT_TRUE(d.empty());
}

// Tokens a session already holds (a prefix restored from a cache) are
// passed as GenerateOptions::context: lookup drafts and the repetition
// penalty then read them as they read the whole prompt evaluated afresh.
// A 48-token vocabulary, so the generated tokens occur in the prefix.
TEST(GenerateContext, RestoredTokensCountAsPromptHistory) {
  testing_tiny::TinySpec spec;
  spec.ctx = 256;
  const std::string path = testing_tiny::write_tiny_decoder(spec, nullptr, "context");
  auto model = DecoderModel::load(path);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  Generator gen(*model, nullptr);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 140; ++i) prompt.push_back((i * 7 + i / 5) % 48);
  const size_t kept = 128;  // a multiple of the 64-token chunks: the same numbers
  DecoderSessionOptions so;
  so.n_ctx = 256;
  so.n_threads = 2;
  auto run = [&](const GenerateOptions& go, bool restored, bool context) {
    auto s = std::make_unique<DecoderSession>(*model, so);
    std::span<const int32_t> rest(prompt);
    if (restored) {
      std::vector<float> logits;
      for (size_t i = 0; i < kept; i += 64) {
        EXPECT_TRUE(s->eval(std::span<const int32_t>(prompt).subspan(i, 64), &logits).is_ok());
      }
      rest = rest.subspan(kept);
    }
    GenerateOptions o = go;
    if (context) o.context = std::span<const int32_t>(prompt).first(kept);
    auto g = gen.generate(*s, rest, o);
    EXPECT_TRUE(g.is_ok());
    return g.is_ok() ? std::move(g).value() : Generation{};
  };
  GenerateOptions base;
  base.max_tokens = 40;
  base.sampling.temperature = 0.0f;
  base.stop_at_eog = false;
  base.should_stop = [](int) { return Status::ok(); };
  base.prompt_chunk = 64;
  GenerateOptions penalty = base, lookup = base;
  penalty.sampling.repeat_penalty = 50.0f;
  penalty.sampling.repeat_last_n = 256;
  lookup.lookup_draft = 4;
  for (const GenerateOptions* go : {&penalty, &lookup}) {
    const Generation want = run(*go, false, false);
    const Generation got = run(*go, true, true);
    const Generation blind = run(*go, true, false);
    EXPECT_EQ(got.tokens, want.tokens);
    EXPECT_EQ(got.lookup_passes, want.lookup_passes);
    // Without the context the penalty rules out other tokens: another run.
    // (This tiny model repeats one token, so lookup finds its drafts in the
    // answer itself either way.)
    if (go == &penalty) {
      EXPECT_NE(blind.tokens, want.tokens);
    }
  }
}

struct Model {
  std::shared_ptr<const DecoderModel> model;
  std::shared_ptr<const Tokenizer> tok;
  std::vector<int32_t> prompt;
};

bool load(const char* file, Model* m) {
  const auto dir = testing::golden_models_dir() / "llama-mini";
  auto model = DecoderModel::load((dir / file).string());
  if (!model.is_ok()) return false;
  m->model = *model;
  auto tok = Tokenizer::from_gguf(m->model->gguf());
  if (!tok.is_ok()) return false;
  m->tok = std::shared_ptr<const Tokenizer>(std::move(tok).value());
  std::ifstream in(dir / "llama-mini-q8_0.kvf16.json");
  const auto base = nlohmann::json::parse(in)["prompt"]["token_ids"].get<std::vector<int32_t>>();
  // A "context" quoted twice, so n-grams recur as in a RAG prompt.
  m->prompt = base;
  m->prompt.insert(m->prompt.end(), base.begin(), base.end());
  return true;
}

GenerateOptions options(int lookup, int max_tokens) {
  GenerateOptions go;
  go.max_tokens = max_tokens;
  go.sampling.temperature = 0.0f;
  go.stop_at_eog = false;
  go.lookup_draft = lookup;
  return go;
}

class LookupDecoding : public ::testing::TestWithParam<const char*> {};

TEST_P(LookupDecoding, SameTokensAsPlainGreedy) {
  RAGD_NEED_TESTDATA(testing::golden_models_dir() / "llama-mini" / GetParam());
  Model m;
  ASSERT_TRUE(load(GetParam(), &m));
  Generator gen(m.model, m.tok);
  DecoderSessionOptions so;
  so.n_ctx = 512;
  so.n_threads = 2;
  for (int max_tokens : {1, 7, 96}) {
    DecoderSession a(m.model, so), b(m.model, so);
    auto plain = gen.generate(a, m.prompt, options(0, max_tokens));
    auto fast = gen.generate(b, m.prompt, options(8, max_tokens));
    ASSERT_TRUE(plain.is_ok() && fast.is_ok());
    EXPECT_EQ(fast->tokens, plain->tokens) << "max_tokens " << max_tokens;
    EXPECT_EQ(fast->text, plain->text);
    EXPECT_EQ(b.n_past(), a.n_past());
    if (max_tokens == 96) {
      std::printf("[lookup] %s: %d passes with drafts, %d drafts kept of %zu tokens\n", GetParam(),
                  fast->lookup_passes, fast->lookup_accepted, fast->tokens.size());
      EXPECT_GT(fast->lookup_passes, 0);
      EXPECT_EQ(plain->lookup_passes, 0);
    }
  }
}

TEST_P(LookupDecoding, StopStringsAndRepetitionPenaltyAsPlain) {
  RAGD_NEED_TESTDATA(testing::golden_models_dir() / "llama-mini" / GetParam());
  Model m;
  ASSERT_TRUE(load(GetParam(), &m));
  Generator gen(m.model, m.tok);
  DecoderSessionOptions so;
  so.n_ctx = 512;
  DecoderSession a(m.model, so), b(m.model, so);
  GenerateOptions go = options(0, 80);
  go.sampling.repeat_penalty = 1.3f;
  auto plain = gen.generate(a, m.prompt, go);
  ASSERT_TRUE(plain.is_ok());
  go.lookup_draft = 6;
  auto fast = gen.generate(b, m.prompt, go);
  ASSERT_TRUE(fast.is_ok());
  EXPECT_EQ(fast->tokens, plain->tokens);
  // A stop string taken from the middle of the plain answer.
  ASSERT_GT(plain->text.size(), 20u);
  GenerateOptions gs = options(0, 80);
  gs.stop = {plain->text.substr(plain->text.size() / 2, 4)};
  DecoderSession c(m.model, so), d(m.model, so);
  auto plain_stop = gen.generate(c, m.prompt, gs);
  gs.lookup_draft = 8;
  auto fast_stop = gen.generate(d, m.prompt, gs);
  ASSERT_TRUE(plain_stop.is_ok() && fast_stop.is_ok());
  EXPECT_EQ(fast_stop->text, plain_stop->text);
  EXPECT_EQ(fast_stop->finish, plain_stop->finish);
  EXPECT_EQ(d.n_past(), c.n_past());
}

TEST_P(LookupDecoding, ThroughTheBatchScheduler) {
  RAGD_NEED_TESTDATA(testing::golden_models_dir() / "llama-mini" / GetParam());
  Model m;
  ASSERT_TRUE(load(GetParam(), &m));
  Generator gen(m.model, m.tok);
  DecoderSessionOptions so;
  so.n_ctx = 512;
  so.n_threads = 2;
  DecoderSession a(m.model, so);
  auto plain = gen.generate(a, m.prompt, options(0, 64));
  ASSERT_TRUE(plain.is_ok());
  BatchScheduler sched(m.model, {});
  so.scheduler = &sched;
  DecoderSession b(m.model, so);
  auto fast = gen.generate(b, m.prompt, options(8, 64));
  ASSERT_TRUE(fast.is_ok());
  EXPECT_EQ(fast->tokens, plain->tokens);
}

INSTANTIATE_TEST_SUITE_P(Models, LookupDecoding,
                         ::testing::Values("llama-mini-q8_0.gguf", "llama-mini-f16.gguf", "llama-mini-f32.gguf"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return testing::golden_case_name(info.param);
                         });

}  // namespace
}  // namespace ragd

// The decoder, sessions, sampler and generator on tiny models written with
// GgufWriter, against a double-precision reference computed here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <latch>
#include <thread>

#include "model/chat_template.h"
#include "model/generator.h"
#include "model/llama.h"
#include "model/sampler.h"
#include "tests/model/tiny_models.h"

namespace ragd {
namespace {

using testing_tiny::TinySpec;
using testing_tiny::TinyWeights;

struct TypeCase {
  std::string arch;
  bool tied;
  bool bias;
  GgmlType type;
  double tol;  // relative to max|logit|
};

class TinyDecoder : public ::testing::TestWithParam<TypeCase> {};

TEST_P(TinyDecoder, LogitsMatchReferenceAtEveryPosition) {
  const TypeCase& c = GetParam();
  TinySpec s;
  s.arch = c.arch;
  s.tied = c.tied;
  s.qkv_bias = c.bias;
  s.wtype = c.type;
  s.seed = 11;
  TinyWeights W;
  const std::string path = testing_tiny::write_tiny_decoder(s, &W, c.arch + std::to_string(static_cast<int>(c.type)));
  auto model = DecoderModel::load(path);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  EXPECT_EQ((*model)->config().tied_output, c.tied);
  const std::vector<int32_t> ids = {1, 5, 9, 20, 33, 7, 7, 40, 2, 11};
  const auto ref = testing_tiny::reference_decoder(s, W, ids);
  for (KvType kv : {KvType::kF32, KvType::kF16}) {
    DecoderSessionOptions so;
    so.kv_type = kv;
    so.n_threads = 2;
    DecoderSession session(*model, so);
    std::vector<float> last, all;
    ASSERT_TRUE(session.eval(ids, &last, &all).is_ok());
    double L = 0, worst = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      for (int v = 0; v < s.vocab; ++v) {
        L = std::max(L, std::fabs(ref[i][v]));
        worst = std::max(worst, std::fabs(all[i * s.vocab + v] - ref[i][v]));
      }
    }
    const double tol = kv == KvType::kF16 ? std::max(c.tol, 2e-3) : c.tol;
    EXPECT_LE(worst, tol * L) << "kv " << (kv == KvType::kF16 ? "f16" : "f32");
    // Token-by-token evaluation through the cache gives the same last logits.
    DecoderSession inc(*model, so);
    std::vector<float> step;
    for (int32_t id : ids) ASSERT_TRUE(inc.eval(std::span<const int32_t>(&id, 1), &step).is_ok());
    for (int v = 0; v < s.vocab; ++v) EXPECT_NEAR(step[v], last[v], 1e-3 * L);
  }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Archs, TinyDecoder,
                         ::testing::Values(TypeCase{"llama", true, false, GgmlType::F32, 1e-5},
                                           TypeCase{"llama", false, false, GgmlType::F32, 1e-5},
                                           TypeCase{"qwen2", false, true, GgmlType::F32, 1e-5},
                                           TypeCase{"llama", true, false, GgmlType::F16, 5e-3},
                                           TypeCase{"qwen2", true, true, GgmlType::Q8_0, 4e-2}));

class TinyFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_.seed = 5;
    path_ = testing_tiny::write_tiny_decoder(spec_, nullptr, "gen");
    auto m = DecoderModel::load(path_);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = *m;
    auto t = Tokenizer::from_gguf(model_->gguf());
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    tok_ = std::shared_ptr<const Tokenizer>(std::move(t).value());
  }
  void TearDown() override { std::filesystem::remove(path_); }
  TinySpec spec_;
  std::string path_;
  std::shared_ptr<const DecoderModel> model_;
  std::shared_ptr<const Tokenizer> tok_;
};

TEST_F(TinyFixture, ErrorsForBadTokensAndFullContext) {
  DecoderSessionOptions so;
  so.n_ctx = 8;
  DecoderSession s(model_, so);
  std::vector<float> logits;
  const std::vector<int32_t> bad = {1, 999};
  EXPECT_EQ(s.eval(bad, &logits).code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> nine(9, 3);
  EXPECT_EQ(s.eval(nine, &logits).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.n_past(), 0);
  Generator gen(model_, tok_);
  GenerateOptions go;
  go.max_tokens = 100;
  go.sampling.temperature = 0;
  go.stop_at_eog = false;
  auto g = gen.generate(s, std::vector<int32_t>{1, 4, 5}, go);
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(g->finish, FinishReason::kContextFull);
  EXPECT_EQ(s.n_past(), 8);
}

TEST_F(TinyFixture, GreedyStopStringsStreamingAndLimits) {
  Generator gen(model_, tok_);
  GenerateOptions go;
  go.max_tokens = 12;
  go.sampling.temperature = 0;
  go.stop_at_eog = false;
  auto s1 = gen.new_session({}).value();
  std::string streamed;
  auto g = gen.generate(*s1, "the cat", go, [&](std::string_view p) {
    streamed += p;
    return true;
  });
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  EXPECT_EQ(g->finish, FinishReason::kMaxTokens);
  EXPECT_EQ(g->tokens.size(), 12u);
  EXPECT_EQ(streamed, g->text);
  ASSERT_GE(g->text.size(), 4u);
  // Stop at a string taken from the middle of the unconstrained output.
  const std::string stop = g->text.substr(g->text.size() / 2, 3);
  const size_t expect_len = g->text.find(stop);
  go.stop = {stop};
  auto s2 = gen.new_session({}).value();
  std::string streamed2;
  auto g2 = gen.generate(*s2, "the cat", go, [&](std::string_view p) {
    streamed2 += p;
    return true;
  });
  ASSERT_TRUE(g2.is_ok());
  EXPECT_EQ(g2->finish, FinishReason::kStopString);
  EXPECT_EQ(g2->text, g->text.substr(0, expect_len));
  EXPECT_EQ(streamed2, g2->text);
  // Cancelling from the callback.
  auto s3 = gen.new_session({}).value();
  go.stop.clear();
  int calls = 0;
  auto g3 = gen.generate(*s3, "the cat", go, [&](std::string_view) { return ++calls < 2; });
  ASSERT_TRUE(g3.is_ok());
  EXPECT_EQ(g3->finish, FinishReason::kCancelled);
  // A prompt longer than the context is a clear error.
  DecoderSessionOptions small;
  small.n_ctx = 4;
  auto s4 = gen.new_session(small).value();
  EXPECT_EQ(gen.generate(*s4, std::vector<int32_t>{1, 2, 3, 4, 5}, go).status().code(), StatusCode::kResourceExhausted);
}

// Sessions share the model's weights and oneDNN's cached primitives; a race
// on shared state shows as tokens that differ from the serial run. One round
// caught it about 3 times in 10 (issue 9), so the rounds repeat, each one
// released at once by a latch so that the sessions overlap.
TEST_F(TinyFixture, ConcurrentRequestsOverOneModel) {
  constexpr int kRounds = 50;
  Generator gen(model_, tok_);
  GenerateOptions go;
  go.max_tokens = 16;
  go.stop_at_eog = false;
  go.sampling.seed = 9;
  const DecoderSessionOptions so{.n_ctx = 64, .kv_type = KvType::kF16, .n_threads = 1, .n_batch = 512};
  const std::vector<std::vector<int32_t>> prompts = {{1, 6, 7}, {1, 9, 9, 12}, {1, 30}, {1, 4, 4, 4, 4}};
  std::vector<std::vector<int32_t>> seq(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto s = gen.new_session(so).value();
    auto g = gen.generate(*s, prompts[i], go);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    seq[i] = g->tokens;
  }
  EXPECT_NE(seq[0], seq[1]);
  int bad_rounds = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::vector<int32_t>> par(prompts.size());
    std::latch start(static_cast<std::ptrdiff_t>(prompts.size()));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < prompts.size(); ++i) {
      threads.emplace_back([&, i] {
        auto s = gen.new_session(so).value();
        start.arrive_and_wait();
        auto g = gen.generate(*s, prompts[i], go);
        if (g.is_ok()) par[i] = g->tokens;
      });
    }
    for (auto& t : threads) t.join();
    if (par != seq) ++bad_rounds;
  }
  EXPECT_EQ(bad_rounds, 0) << "of " << kRounds << " rounds of " << prompts.size() << " concurrent sessions";
}

TEST(Sampler, GreedyTopKSeedAndPenalty) {
  std::vector<float> logits = {1.0f, 3.0f, 2.9f, -1.0f, 0.5f};
  SamplerOptions o;
  o.temperature = 0;
  Sampler greedy(o);
  EXPECT_EQ(greedy.sample(logits, {}), 1);
  o.repeat_penalty = 2.0f;
  Sampler pen(o);
  const std::vector<int32_t> hist = {1};
  EXPECT_EQ(pen.sample(logits, hist), 2);  // 3.0/2 < 2.9
  // Equal largest logits: the first, with or without a penalty to apply.
  const std::vector<float> tied = {0.0f, 2.0f, 1.0f, 2.0f};
  EXPECT_EQ(greedy.sample(tied, {}), 1);
  const std::vector<int32_t> other = {2};
  EXPECT_EQ(pen.sample(tied, other), 1);
  o = SamplerOptions{};
  o.top_k = 1;
  o.temperature = 5.0f;
  Sampler k1(o);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.sample(logits, {}), 1);
  o = SamplerOptions{};
  o.temperature = 1.5f;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.seed = 123;
  Sampler a(o), b(o);
  std::vector<int32_t> ra, rb;
  std::vector<int> counts(5);
  for (int i = 0; i < 400; ++i) {
    ra.push_back(a.sample(logits, {}));
    rb.push_back(b.sample(logits, {}));
    ++counts[ra.back()];
  }
  EXPECT_EQ(ra, rb);
  for (int c : counts) EXPECT_GT(c, 0);  // every token reachable at high temperature
  o.min_p = 0.5f;  // keeps tokens with p >= 0.5 * p_max: ids 1 and 2 only
  Sampler mp(o);
  for (int i = 0; i < 100; ++i) {
    const int id = mp.sample(logits, {});
    EXPECT_TRUE(id == 1 || id == 2) << id;
  }
  o.min_p = 0.0f;
  o.top_p = 0.5f;  // the top token alone holds > 50%? no: 1 and 2 are close, so both
  Sampler tp(o);
  for (int i = 0; i < 100; ++i) {
    const int id = tp.sample(logits, {});
    EXPECT_TRUE(id == 1 || id == 2) << id;
  }
}

TEST(ChatTemplate, DetectsFamiliesAndNamesUnknown) {
  EXPECT_EQ(*detect_chat_template("{{'<|im_start|>' + message['role']}}"), ChatTemplateKind::kChatML);
  EXPECT_EQ(*detect_chat_template("<|start_header_id|>{{ role }}<|end_header_id|>"), ChatTemplateKind::kLlama3);
  EXPECT_EQ(*detect_chat_template("{{ bos_token + '[INST] ' + content + ' [/INST]' }}"), ChatTemplateKind::kLlama2);
  EXPECT_EQ(*detect_chat_template("<|user|>\n{{ c }}<|end|>\n<|assistant|>\n"), ChatTemplateKind::kPhi3);
  EXPECT_EQ(*detect_chat_template("<start_of_turn>user\n"), ChatTemplateKind::kGemma);
  auto bad = detect_chat_template("{% for m in messages %}### Human: {{ m }}{% endfor %}");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("### Human"), std::string::npos);
}

TEST(ChatTemplate, RendersLikeLlamaCpp) {
  const std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "VPN?"}};
  EXPECT_EQ(apply_chat_template(ChatTemplateKind::kChatML, msgs, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello"
            "<|im_end|>\n<|im_start|>user\nVPN?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(apply_chat_template(ChatTemplateKind::kLlama3, std::span(msgs).subspan(1, 1), true),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(apply_chat_template(ChatTemplateKind::kLlama2, msgs, true),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello</s><s>[INST] VPN? [/INST]");
  EXPECT_EQ(apply_chat_template(ChatTemplateKind::kPhi3, std::span(msgs).subspan(1, 1), true),
            "<|user|>\nHi<|end|>\n<|assistant|>\n");
  EXPECT_EQ(apply_chat_template(ChatTemplateKind::kGemma, std::span(msgs).subspan(0, 2), true),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
}

}  // namespace
}  // namespace ragd

// Context packing and prompt templates with a real tokenizer.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "generate/context_packer.h"
#include "generate/prompt_templates.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "tests/generate/llm_test_support.h"

namespace ragd {
namespace {

using testing_llm::prompts_dir;

std::vector<Hit> make_hits() {
  const char* texts[] = {
      "Error 809 means the L2TP packets are blocked by a NAT device. Restart the RasMan service. "
      "Set the VPN type to SSTP in the connection properties. Ask the network team to open UDP 500 and 4500.",
      "Replace the toner cartridge in tray 2. Clear the paper jam behind the rear door. "
      "Install the KB5005565 print spooler update on the print server.",
      "The Oracle listener on db-prod-03 was down. Run lsnrctl start LISTENER as the oracle user. "
      "Check the listener log for errors after the restart.",
      "Reset the password in the directory. Unlock the account after five failed logins. "
      "Tell the user to sign in again within ten minutes.",
  };
  std::vector<Hit> hits;
  for (int i = 0; i < 4; ++i) {
    Hit h;
    h.doc_id = "doc" + std::to_string(i);
    h.chunk_id = h.doc_id + "#0";
    h.title = "Title " + std::to_string(i);
    h.text = texts[i];
    h.score = 1.0 - 0.1 * i;
    hits.push_back(h);
  }
  std::swap(hits[0], hits[2]);  // relevance order must not depend on input order
  return hits;
}

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> texts;
    for (const auto& h : make_hits()) texts.push_back(h.text + " " + h.title);
    texts.push_back("passages question answer cite the you are an it support assistant");
    testing_llm::TinyLlmSpec spec;
    spec.words = testing_llm::words_of(texts);
    path_ = testing_llm::write_tiny_llm(spec, "pack");
    auto f = GgufFile::open(path_);
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    auto t = Tokenizer::from_gguf(*f.value());
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    tok_ = std::move(t).value();
    auto lib = PromptLibrary::load(prompts_dir());
    ASSERT_TRUE(lib.is_ok()) << lib.status().to_string();
    lib_ = std::make_unique<PromptLibrary>(std::move(lib).value());
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<PromptLibrary> lib_;
};

TEST_F(PackTest, RespectsTheBudgetExactlyAtEverySize) {
  const auto hits = make_hits();
  int full = 0;
  int prev_passages = -1;
  for (int n_ctx = 120; n_ctx <= 1400; n_ctx += 20) {
    PackOptions po;
    po.n_ctx = n_ctx;
    po.reserve_tokens = 64;
    po.min_passage_tokens = 8;
    ContextPacker packer(*tok_, ChatTemplateKind::kChatML, *lib_, po);
    auto r = packer.pack(PromptTask::kAnswer, "How do I fix VPN error 809?", hits, "NONE.");
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().to_string();
      continue;
    }
    const PackedContext& c = r.value();
    SCOPED_TRACE("n_ctx=" + std::to_string(n_ctx));
    EXPECT_EQ(c.budget, n_ctx - 64);
    EXPECT_LE(static_cast<int>(c.tokens.size()), c.budget);
    // The count is the model's exact tokenization of the prompt it sees.
    EXPECT_EQ(c.tokens, tok_->tokenize(c.prompt, true, true));
    EXPECT_EQ(c.tokens.front(), tok_->bos());
    // Numbered 1..n in relevance order, with titles, all in the prompt.
    for (size_t i = 0; i < c.passages.size(); ++i) {
      EXPECT_EQ(c.passages[i].n, static_cast<int>(i) + 1);
      if (i > 0) {
        EXPECT_GE(c.passages[i - 1].hit.score, c.passages[i].hit.score);
      }
      const std::string header = format_passage(static_cast<int>(i) + 1, c.passages[i].hit, "");
      EXPECT_NE(c.prompt.find(header.substr(0, header.size() - 2)), std::string::npos);
    }
    EXPECT_EQ(c.passages.size() + c.skipped, hits.size());
    EXPECT_GE(static_cast<int>(c.passages.size()), prev_passages - 1);  // roughly monotone in the budget
    prev_passages = static_cast<int>(c.passages.size());
    if (c.passages.size() == hits.size() && c.skipped == 0 &&
        std::none_of(c.passages.begin(), c.passages.end(), [](const PackedPassage& p) { return p.truncated; })) {
      ++full;
    }
  }
  EXPECT_GT(full, 0) << "a large budget should take every passage whole";
  EXPECT_GT(prev_passages, 0);
}

TEST_F(PackTest, TightBudgetCutsAtSentenceBoundaries) {
  const auto hits = make_hits();
  PackOptions po;
  po.reserve_tokens = 64;
  po.min_passage_tokens = 4;
  // Find the budget of the bare template, then allow a bit more than that.
  po.n_ctx = 4096;
  ContextPacker big(*tok_, ChatTemplateKind::kChatML, *lib_, po);
  auto bare = big.pack(PromptTask::kAnswer, "VPN error 809", {}, "NONE.");
  ASSERT_TRUE(bare.is_ok());
  const int base = static_cast<int>(bare->tokens.size());
  po.n_ctx = base + 64 + 60;
  ContextPacker packer(*tok_, ChatTemplateKind::kChatML, *lib_, po);
  auto r = packer.pack(PromptTask::kAnswer, "VPN error 809", hits, "NONE.");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_LE(static_cast<int>(r->tokens.size()), r->budget);
  EXPECT_LT(r->passages.size() + 0u, hits.size());
  ASSERT_FALSE(r->passages.empty());
  EXPECT_EQ(r->passages[0].hit.doc_id, "doc0");  // the most relevant one first
  for (const auto& p : r->passages) {
    if (!p.truncated) continue;
    EXPECT_EQ(p.hit.text.rfind(p.text, 0), 0u) << "a cut passage is a prefix of the chunk";
    EXPECT_EQ(p.text.back(), '.') << "cut at a sentence end: " << p.text;
  }

  po.n_ctx = base + 64 - 1;  // the template alone does not fit
  ContextPacker none(*tok_, ChatTemplateKind::kChatML, *lib_, po);
  auto fail = none.pack(PromptTask::kAnswer, "VPN error 809", hits, "NONE.");
  ASSERT_FALSE(fail.is_ok());
  EXPECT_EQ(fail.status().code(), StatusCode::kResourceExhausted);
}

TEST(PromptTemplatesTest, EveryTaskTemplateAsksForCitationsAndRefusal) {
  auto lib = PromptLibrary::load(prompts_dir());
  ASSERT_TRUE(lib.is_ok()) << lib.status().to_string();
  for (int i = 0; i < kPromptTaskCount; ++i) {
    const auto task = static_cast<PromptTask>(i);
    auto m = lib->render(task, "INPUT-TEXT", "[1] T\npassage\n", "REFUSAL-SENTENCE");
    const std::string all = m.system + "\n" + m.user;
    SCOPED_TRACE(prompt_task_name(task));
    EXPECT_NE(all.find("[n]"), std::string::npos);
    EXPECT_NE(all.find("REFUSAL-SENTENCE"), std::string::npos);
    EXPECT_NE(m.user.find("INPUT-TEXT"), std::string::npos);
    EXPECT_NE(m.user.find("[1] T\npassage"), std::string::npos);
    EXPECT_EQ(all.find("{{"), std::string::npos);
    EXPECT_EQ(parse_prompt_task(prompt_task_name(task)), task);
  }
}

TEST(PromptTemplatesTest, InputIsNotSubstitutedTwiceAndBadFilesFail) {
  auto t = PromptLibrary::parse("# c\n[system]\nS {{refusal}}\n[user]\n{{passages}}\nQ: {{question}}\n",
                                PromptTask::kAnswer, "x.txt");
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->system, "S {{refusal}}");
  auto no_ph = PromptLibrary::parse("[user]\n{{passages}}\n", PromptTask::kAnswer, "y.txt");
  ASSERT_FALSE(no_ph.is_ok());
  EXPECT_NE(no_ph.status().message().find("y.txt"), std::string::npos);
  EXPECT_NE(no_ph.status().message().find("{{question}}"), std::string::npos);
  EXPECT_FALSE(PromptLibrary::parse("junk\n[user]\n{{passages}} {{question}} {{refusal}}\n", PromptTask::kAnswer, "z")
                   .is_ok());
  EXPECT_FALSE(PromptLibrary::parse("[user]\n{{passages}} {{question}}\n", PromptTask::kAnswer, "z").is_ok());

  auto lib = PromptLibrary::load(prompts_dir());
  ASSERT_TRUE(lib.is_ok());
  auto m = lib->render(PromptTask::kAnswer, "what is {{passages}}?", "P {{question}}", "R");
  EXPECT_NE(m.user.find("what is {{passages}}?"), std::string::npos);
  EXPECT_NE(m.user.find("P {{question}}"), std::string::npos);

  auto missing = PromptLibrary::load(std::filesystem::temp_directory_path() / "ragd-no-such-prompts");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(PromptTemplatesTest, DirectoryOverrides) {
  EXPECT_EQ(default_prompts_dir("/explicit"), std::filesystem::path("/explicit"));
  ::setenv("RAGD_PROMPTS", "/from-env", 1);
  EXPECT_EQ(default_prompts_dir(), std::filesystem::path("/from-env"));
  ::unsetenv("RAGD_PROMPTS");
  EXPECT_TRUE(std::filesystem::exists(default_prompts_dir() / "answer.txt"));
}

}  // namespace
}  // namespace ragd

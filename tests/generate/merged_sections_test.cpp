// Knowledge articles whose Symptoms and Cause sections are a line each
// (the Microsoft KB shape: Symptoms, Cause, Resolution). The chunker merges
// sections too short to stand alone into the next one, so one chunk holds
// all three under the path "... > Resolution"; the headings it keeps in the
// text (ragd/chunk_text.h) let the answerer quote the fix steps alone for a
// fix question, and the cause for a cause question. Ingested through the
// real pipeline with the real GloVe vectors and the shipped options.
#include <gtest/gtest.h>

#include <fstream>

#include "generate/extractive.h"
#include "model/glove_sif.h"
#include "tests/support/scratch_store.h"
#include "tests/testdata.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;

constexpr const char* kArticle = R"(# Outlook cannot open the set of folders

## Symptoms

Outlook does not start.

## Cause

The OST file is damaged.

## Resolution

1. Close Outlook and open Control Panel > Mail > Show Profiles.
2. Add a new mail profile and set it as the default profile.
3. Start Outlook again; it downloads the mailbox into a new OST file.
)";

class MergedSections : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(default_glove_path())) RAGD_TESTDATA_MISSING("GloVe file " + default_glove_path().string());
    auto glove = open_glove();
    ASSERT_TRUE(glove.is_ok()) << glove.status().to_string();
    glove_ = std::move(glove).value();
    auto scratch = ScratchStore::open("merged-sections");
    ASSERT_TRUE(scratch.is_ok()) << scratch.status().to_string();
    scratch_ = std::make_unique<ScratchStore>(std::move(scratch).value());
    const fs::path docs = scratch_->dir() / "docs";
    fs::create_directories(docs);
    std::ofstream(docs / "outlook-set-of-folders.md") << kArticle;
    const std::vector<fs::path> roots{docs};
    auto st = ingest_paths(scratch_->store(), *glove_, roots);
    ASSERT_TRUE(st.is_ok()) << st.status().to_string();
    ASSERT_EQ(st->ingested, 1u);
    auto chunks = scratch_->store().chunks_of("outlook-set-of-folders.md");
    ASSERT_TRUE(chunks.is_ok());
    ASSERT_EQ(chunks->size(), 1u) << "the three sections share one chunk";
    EXPECT_EQ(chunks->front().section_path.back(), "Resolution");
    retriever_ = std::make_unique<Retriever>(scratch_->store(), glove_.get());
  }

  Answer ask(const std::string& q) {
    ExtractiveOptions o;
    o.word_ranks = glove_.get();
    SearchRequest r;
    r.query = q;
    auto a = ExtractiveAnswerer(*retriever_, o).answer(r);
    EXPECT_TRUE(a.is_ok()) << a.status().to_string();
    return a.is_ok() ? std::move(a).value() : Answer{};
  }

  std::unique_ptr<GloveSifEmbedder> glove_;
  std::unique_ptr<ScratchStore> scratch_;
  std::unique_ptr<Retriever> retriever_;
};

TEST_F(MergedSections, AFixQuestionGetsTheStepsAlone) {
  const Answer a = ask("How do I fix Outlook when it cannot open the set of folders?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_EQ(a.intent, "fix");
  EXPECT_NE(a.text.find("(Resolution)"), std::string::npos) << a.text;
  EXPECT_NE(a.text.find("Add a new mail profile"), std::string::npos) << a.text;
  EXPECT_NE(a.text.find("downloads the mailbox"), std::string::npos) << a.text;
  for (const char* foreign : {"Symptoms", "does not start", "Cause", "is damaged"}) {
    EXPECT_EQ(a.text.find(foreign), std::string::npos) << foreign << " in:\n" << a.text;
  }
}

TEST_F(MergedSections, ACauseQuestionGetsTheCause) {
  const Answer a = ask("Why can Outlook not open the set of folders?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_EQ(a.intent, "cause");
  EXPECT_NE(a.text.find("The OST file is damaged"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("mail profile"), std::string::npos) << a.text;
}

}  // namespace
}  // namespace ragd

// A few documents written to a scratch store's folder and ingested through
// the real pipeline with the real GloVe vectors, then asked with the
// shipped extractive options: the set-up the answerer's document tests
// share.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "generate/extractive.h"
#include "model/glove_sif.h"
#include "tests/support/scratch_store.h"
#include "tests/testdata.h"

namespace ragd {

class DocsFixture : public ::testing::Test {
 protected:
  // Writes each (file name, text) and ingests them all into a store named
  // after `name`; they must give `documents` documents (0: one per file; a
  // ticket export holds several). Call from SetUp() and return if
  // HasFatalFailure() or IsSkipped() after it.
  void load(const std::string& name, const std::vector<std::pair<std::string, std::string>>& files,
            size_t documents = 0) {
    namespace fs = std::filesystem;
    if (!fs::exists(default_glove_path())) RAGD_TESTDATA_MISSING("GloVe file " + default_glove_path().string());
    auto glove = open_glove();
    ASSERT_TRUE(glove.is_ok()) << glove.status().to_string();
    glove_ = std::move(glove).value();
    auto scratch = ScratchStore::open(name);
    ASSERT_TRUE(scratch.is_ok()) << scratch.status().to_string();
    scratch_ = std::make_unique<ScratchStore>(std::move(scratch).value());
    const fs::path docs = scratch_->dir() / "docs";
    fs::create_directories(docs);
    for (const auto& [file, text] : files) std::ofstream(docs / file) << text;
    const std::vector<fs::path> roots{docs};
    auto st = ingest_paths(scratch_->store(), *glove_, roots);
    ASSERT_TRUE(st.is_ok()) << st.status().to_string();
    ASSERT_EQ(st->ingested, documents > 0 ? documents : files.size());
    retriever_ = std::make_unique<Retriever>(scratch_->store(), glove_.get());
  }

  // The extractive answer to `q` with `o` and the GloVe word ranks the
  // service passes.
  Answer ask(const std::string& q, ExtractiveOptions o = {}) {
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

}  // namespace ragd

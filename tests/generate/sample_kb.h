// Test support: the sample knowledge base (examples/kb, and the generated
// office files when asked for and built) ingested with the real GloVe vectors
// into a scratch store, with the questions of examples/kb-eval. Shared by the
// suites that score answers and verifier thresholds on it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/calibration.h"
#include "index/store.h"
#include "tests/support/scratch_store.h"
#include "model/glove_sif.h"

namespace ragd::testing_kb {

struct SampleKb {
  std::vector<KbQuestion> questions;
  std::unique_ptr<GloveSifEmbedder> embedder;
  std::unique_ptr<ScratchStore> scratch;  // destroyed before the embedder
  IngestStats stats;
};

// Opens a scratch store named by `tag` and ingests the KB into it. Returns
// nullptr and sets *skip when the GloVe file or the questions are absent
// (the tests report it with RAGD_TESTDATA_MISSING, tests/testdata.h);
// other failures come back as a Status.
inline Result<std::unique_ptr<SampleKb>> open_sample_kb(const std::string& tag, bool with_office,
                                                        std::string* skip) {
  namespace fs = std::filesystem;
  const fs::path src = RAGD_SOURCE_DIR;
  if (!fs::exists(default_glove_path())) {
    *skip = "GloVe file " + default_glove_path().string() + " absent; run scripts/setup.sh";
    return std::unique_ptr<SampleKb>();
  }
  auto qs = load_kb_questions(src / "examples/kb-eval/questions.jsonl");
  if (!qs.is_ok()) {
    *skip = "questions: " + qs.status().to_string();
    return std::unique_ptr<SampleKb>();
  }
  auto kb = std::make_unique<SampleKb>();
  kb->questions = std::move(qs).value();
  RAGD_ASSIGN_OR_RETURN(kb->embedder, open_glove());
  RAGD_ASSIGN_OR_RETURN(auto scratch, ScratchStore::open(tag));
  kb->scratch = std::make_unique<ScratchStore>(std::move(scratch));
  std::vector<fs::path> roots = {src / "examples/kb"};
  const fs::path office = fs::path(RAGD_BINARY_DIR) / "examples/kb-office";
  if (with_office && fs::exists(office)) roots.push_back(office);
  RAGD_ASSIGN_OR_RETURN(kb->stats, ingest_paths(kb->scratch->store(), *kb->embedder, roots));
  return kb;
}

}  // namespace ragd::testing_kb

// llama.cpp's tokenizer test vectors (../shared/testdata/tokenizer): every
// .inp case tokenized with add_special=false, parse_special=false must give
// exactly the ids of the matching .out line. One test per vocabulary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/gguf.h"
#include "model/tokenizer.h"
#include "tests/testdata.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = testing::shared_testdata_dir() / "tokenizer";

const std::vector<std::string> kVocabs = {
    "baichuan", "bert-bge", "deepseek-coder", "deepseek-llm", "falcon",    "gpt-2",    "gpt-neox",
    "llama-spm", "mpt",     "phi-3",          "refact",       "smollm2",   "starcoder", "stories260k",
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_cases(const std::string& s) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t m = s.find(sep, pos);
    if (m == std::string::npos) break;  // the text after the last separator is no case
    out.push_back(s.substr(pos, m - pos));
    pos = m + sep.size();
  }
  return out;
}

std::vector<std::vector<int32_t>> read_out(const fs::path& p) {
  std::vector<std::vector<int32_t>> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<int32_t> ids;
    std::istringstream ls(line);
    long v;
    while (ls >> v) ids.push_back(static_cast<int32_t>(v));
    out.push_back(std::move(ids));
  }
  return out;
}

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s;
}

class TokenizerConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerConformance, MatchesLlamaCpp) {
  const fs::path gguf = kDir / ("ggml-vocab-" + GetParam() + ".gguf");
  RAGD_NEED_TESTDATA(gguf);
  auto file = GgufFile::open(gguf.string());
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  auto tok = Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();

  const auto cases = split_cases(read_all(gguf.string() + ".inp"));
  const auto expected = read_out(gguf.string() + ".out");
  ASSERT_FALSE(cases.empty());
  ASSERT_EQ(cases.size(), expected.size()) << "case count of .inp and .out differ";
  size_t failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<int32_t> got = (*tok)->tokenize(cases[i], false, false);
    if (got != expected[i]) {
      ++failures;
      ADD_FAILURE() << GetParam() << " case " << i << " text '" << cases[i] << "'\n  expected: " << join(expected[i])
                    << "\n  got:      " << join(got);
    }
  }
  EXPECT_EQ(failures, 0u) << failures << " of " << cases.size() << " cases differ";
}

INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerConformance, ::testing::ValuesIn(kVocabs),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// Every vocabulary in the folder is covered by the list above.
TEST(TokenizerConformanceFolder, EveryVocabIsTested) {
  RAGD_NEED_TESTDATA(kDir);
  for (const auto& e : fs::directory_iterator(kDir)) {
    std::string name = e.path().filename().string();
    if (name.rfind("ggml-vocab-", 0) != 0 || e.path().extension() != ".gguf") continue;
    std::string v = name.substr(11, name.size() - 11 - 5);
    EXPECT_NE(std::find(kVocabs.begin(), kVocabs.end(), v), kVocabs.end()) << "untested vocabulary " << name;
  }
}

}  // namespace
}  // namespace ragd

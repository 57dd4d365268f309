// `ragd model tokenize` and `ragd model info` through the real binary
// ($RAGD_BIN, set by ctest), on a vocabulary written here. Skips when the
// binary has not been built.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "model/gguf.h"
#include "model/tokenizer.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;
using V = GgufWriter::Value;

std::string run(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

class TokenizerCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("RAGD_BIN");
    if (!bin || !fs::exists(bin)) GTEST_SKIP() << "ragd binary not built (RAGD_BIN)";
    bin_ = bin;
    // One directory per test and process: ctest runs the tests of this
    // fixture in parallel, and TearDown removes the directory.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("ragd_tokenizer_cli_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    GgufWriter w;
    w.add_str("general.architecture", "llama");
    w.add_u32("llama.context_length", 256);
    w.add_str("tokenizer.ggml.model", "gpt2");
    w.add_str("tokenizer.ggml.pre", "gpt-2");
    std::vector<std::string> toks = {"a", "b", "\xc4\xa0", "ab", "\xc4\xa0" "ab", "<|im_end|>"};
    std::vector<int32_t> types = {1, 1, 1, 1, 1, 3};
    std::vector<std::string> merges = {"a b", "\xc4\xa0 ab"};
    w.add("tokenizer.ggml.tokens", V::array_str(toks));
    w.add("tokenizer.ggml.token_type", V::array_i32(types));
    w.add("tokenizer.ggml.merges", V::array_str(merges));
    w.add_str("tokenizer.chat_template", "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>\n{% endfor %}");
    std::vector<float> x(8, 1.0f);
    ASSERT_TRUE(w.add_tensor_f32("output_norm.weight", {8}, x).is_ok());
    model_ = (dir_ / "tiny.gguf").string();
    ASSERT_TRUE(w.write(model_).is_ok());
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string bin_, model_;
  fs::path dir_;
};

TEST_F(TokenizerCli, TokenizeFileWritesOneLinePerCase) {
  const std::string inp = (dir_ / "cases.inp").string();
  {
    std::ofstream out(inp, std::ios::binary);
    out << "ab ab\n__ggml_vocab_test__\n\n__ggml_vocab_test__\nba<|im_end|>\n__ggml_vocab_test__\n";
  }
  int rc = -1;
  std::string out = run(bin_ + " model tokenize --model " + model_ + " --file " + inp, &rc);
  EXPECT_EQ(rc, 0);
  // Case 3: parse_special is off, so "<|im_end|>" is not its control token
  // (its characters are not in this vocabulary and are dropped).
  EXPECT_EQ(out, "3 4\n\n1 0\n");

  out = run(bin_ + " model tokenize --model " + model_ + " --parse-special 'ab<|im_end|>'", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "3 5\n");
}

TEST_F(TokenizerCli, InfoAndErrors) {
  int rc = -1;
  std::string out = run(bin_ + " model info " + model_, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("architecture: llama"), std::string::npos) << out;
  EXPECT_NE(out.find("parameters: 8"), std::string::npos) << out;
  EXPECT_NE(out.find("f32 x1"), std::string::npos) << out;
  EXPECT_NE(out.find("6 tokens, model gpt2, pre gpt-2"), std::string::npos) << out;
  EXPECT_NE(out.find("context_length: 256"), std::string::npos) << out;
  EXPECT_NE(out.find("chat template: chatml"), std::string::npos) << out;

  // A truncated copy fails with the reader's message and a non-zero exit.
  auto bytes = GgufFile::open(model_);
  ASSERT_TRUE(bytes.is_ok());
  const std::string bad = (dir_ / "bad.gguf").string();
  {
    std::ifstream in(model_, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    std::ofstream o(bad, std::ios::binary);
    o << all.substr(0, all.size() - 4);
  }
  out = run(bin_ + " model info " + bad + " 2>&1", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("extends past end of file"), std::string::npos) << out;
}

}  // namespace
}  // namespace ragd

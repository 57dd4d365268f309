// Writes what the node-driven tests (openai_client.test.mjs,
// web_page.test.mjs) need before they start `ragd serve`: a small GloVe file
// over the sample KB's words and a random-weight llama model with a real
// vocabulary (tests/generate/llm_test_support.h). Fixed seeds.
//
//   ragd_api_node_fixture OUT_DIR KB_DIR   -> OUT_DIR/glove.bin, OUT_DIR/tiny-llm.gguf
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../../generate/llm_test_support.h"
#include "../test_support.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR KB_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1], kb = argv[2];
  std::error_code ec;
  fs::create_directories(out, ec);
  std::vector<std::string> texts;
  if (fs::is_directory(kb)) {
    for (const auto& f : ragd::test::list_files(kb)) texts.push_back(ragd::test::read_file(f));
  }
  if (texts.empty()) {
    std::fprintf(stderr, "no sample KB under %s\n", kb.c_str());
    return 1;
  }
  ragd::test::make_tiny_glove(out / "glove.bin", texts);
  ragd::testing_llm::TinyLlmSpec spec;
  spec.words = ragd::testing_llm::words_of(texts);
  if (spec.words.size() > 3000) spec.words.resize(3000);
  spec.ctx = 2048;
  const std::string model = ragd::testing_llm::write_tiny_llm(spec, "node_fixture");
  fs::rename(model, out / "tiny-llm.gguf", ec);
  if (ec) {
    fs::copy_file(model, out / "tiny-llm.gguf", fs::copy_options::overwrite_existing, ec);
    fs::remove(model);
  }
  if (ec) {
    std::fprintf(stderr, "cannot write %s: %s\n", (out / "tiny-llm.gguf").c_str(), ec.message().c_str());
    return 1;
  }
  std::printf("%s\n%s\n", (out / "glove.bin").c_str(), (out / "tiny-llm.gguf").c_str());
  return 0;
}

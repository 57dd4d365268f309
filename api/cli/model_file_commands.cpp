// `ragd model info FILE` and `ragd model tokenize --model FILE (--file INP | TEXT)`:
// look inside a GGUF file and run its tokenizer, without loading weights.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/cli/commands.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

namespace ragd::cli {

namespace {

[[noreturn]] void fail_with(const Status& s) {
  std::fprintf(stderr, "ragd: %s\n", s.to_string().c_str());
  throw CLI::RuntimeError(1);
}

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s;
}

struct TokenizeOptions {
  std::string model;
  std::string file;
  std::string text;
  bool add_special = false;
  bool parse_special = false;
};

void run_tokenize(const TokenizeOptions& o) {
  auto file = GgufFile::open(o.model);
  if (!file.is_ok()) fail_with(file.status());
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok.is_ok()) fail_with(tok.status());
  std::vector<std::string> cases;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) fail_with(Status::not_found("cannot open " + o.file));
    std::stringstream ss;
    ss << in.rdbuf();
    cases = split_vocab_test_cases(ss.str());
  } else {
    cases.push_back(o.text);
  }
  std::string out;
  for (const std::string& c : cases) {
    out += join_ids((*tok)->tokenize(c, o.add_special, o.parse_special));
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_model_file_commands(CLI::App& model) {
  auto path = std::make_shared<std::string>();
  auto* info = model.add_subcommand("info", "show a GGUF file's architecture, parameters, tensor types, "
                                            "vocabulary, context length and chat template");
  info->add_option("file", *path, "GGUF file")->required();
  info->callback([path] {
    auto file = GgufFile::open(*path);
    if (!file.is_ok()) fail_with(file.status());
    std::fputs(describe_gguf(**file).c_str(), stdout);
  });

  auto opts = std::make_shared<TokenizeOptions>();
  auto* tok = model.add_subcommand("tokenize", "print token ids: one line per case of an .inp file "
                                                "(cases end with \\n__ggml_vocab_test__\\n), or for one TEXT");
  tok->add_option("--model,-m", opts->model, "GGUF file with tokenizer.ggml.* metadata")->required();
  auto* file_opt = tok->add_option("--file,-f", opts->file, "llama.cpp tokenizer test input (.inp)");
  auto* text_opt = tok->add_option("text", opts->text, "text to tokenize");
  file_opt->excludes(text_opt);
  tok->add_flag("--add-special", opts->add_special, "add BOS/EOS (CLS/SEP) as the model asks. Default: off");
  tok->add_flag("--parse-special", opts->parse_special, "turn control-token text into its token. Default: off");
  tok->callback([opts, file_opt, text_opt] {
    if (file_opt->count() == 0 && text_opt->count() == 0) {
      std::fprintf(stderr, "ragd: model tokenize needs --file INP or TEXT\n");
      throw CLI::RuntimeError(2);
    }
    run_tokenize(*opts);
  });
}

}  // namespace ragd::cli

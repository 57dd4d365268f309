// The model registry: what `ragd models add` records from a GGUF file (the
// sha256 by OpenSSL, architecture, quantisation, size, licence), the role
// checks, activation (refused when the file changed), over the CLI and
// HTTP, and `ragd serve` loading the active LLM when --llm is not given.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "auth/crypto.h"
#include "govern/registry.h"
#include "model/gguf.h"
#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

// A GGUF header with the general.* keys and one quantised matrix: enough to
// register, not to run.
void write_model(const fs::path& path, const std::string& arch, const std::string& license) {
  GgufWriter w;
  w.add_str("general.architecture", arch);
  w.add_str("general.name", "Tiny " + arch);
  if (!license.empty()) w.add_str("general.license", license);
  w.add_u32("general.file_type", 7);
  std::vector<uint8_t> q8(4 * 34, 0);  // 4 rows of one Q8_0 block (32 values)
  ASSERT_TRUE(w.add_tensor("token_embd.weight", GgmlType::Q8_0, {32, 4}, q8).is_ok());
  std::vector<float> norm(32, 1.0f);
  ASSERT_TRUE(w.add_tensor_f32("output_norm.weight", {32}, norm).is_ok());
  ASSERT_TRUE(w.write(path.string()).is_ok());
}

TEST(ModelRegistry, InspectsTheFile) {
  TempDir dir("registry-inspect");
  const fs::path llm = dir.path / "tiny-llm.gguf";
  write_model(llm, "llama", "apache-2.0");
  auto e = govern::inspect_model("tiny", llm.string(), govern::ModelRole::kLlm);
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->architecture, "llama");
  EXPECT_EQ(e->quantisation, "Q8_0");
  EXPECT_EQ(e->file_type, 7u);
  EXPECT_EQ(e->license, "apache-2.0");
  EXPECT_EQ(e->model_name, "Tiny llama");
  EXPECT_EQ(e->size_bytes, fs::file_size(llm));
  EXPECT_EQ(e->sha256, auth::hex_encode(auth::sha256(read_file(llm))));
  EXPECT_EQ(e->sha256.size(), 64u);
  EXPECT_GT(e->added_ms, 0);
  auto back = govern::model_entry_from_json(govern::model_entry_to_json(*e));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->sha256, e->sha256);
  EXPECT_EQ(back->license, "apache-2.0");

  // Wrong role, bad name, missing file, not GGUF: clear errors.
  EXPECT_EQ(govern::inspect_model("tiny", llm.string(), govern::ModelRole::kEncoder).status().code(),
            StatusCode::kInvalidArgument);
  const fs::path bert = dir.path / "tiny-bert.gguf";
  write_model(bert, "bert", "");
  EXPECT_TRUE(govern::inspect_model("enc", bert.string(), govern::ModelRole::kEncoder).is_ok());
  EXPECT_FALSE(govern::inspect_model("enc", bert.string(), govern::ModelRole::kLlm).is_ok());
  EXPECT_EQ(govern::inspect_model("bad name", llm.string(), govern::ModelRole::kLlm).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(govern::inspect_model("x", (dir.path / "none.gguf").string(), govern::ModelRole::kLlm).status().code(),
            StatusCode::kNotFound);
  write_file(dir.path / "junk.gguf", "this is not a gguf file at all");
  auto junk = govern::inspect_model("x", (dir.path / "junk.gguf").string(), govern::ModelRole::kLlm);
  EXPECT_FALSE(junk.is_ok());
}

TEST(ModelRegistry, CliHttpAndServe) {
  TempDir dir("registry");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, {"vpn restart client"});
  const fs::path llm = dir.path / "tiny-llm.gguf", bert = dir.path / "tiny-bert.gguf";
  write_model(llm, "llama", "apache-2.0");
  write_model(bert, "bert", "mit");
  std::string out;
  auto ragd = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data.string(), "--glove", glove.string()});
    return run_ragd(args, &out);
  };
  ASSERT_EQ(ragd({"models", "add", "tiny", llm.string()}), 0) << out;
  EXPECT_NE(out.find("arch=llama"), std::string::npos) << out;
  EXPECT_NE(out.find("quant=Q8_0"), std::string::npos) << out;
  EXPECT_NE(out.find("license=apache-2.0"), std::string::npos) << out;
  ASSERT_EQ(ragd({"models", "add", "enc", bert.string(), "--role", "encoder"}), 0) << out;
  EXPECT_NE(ragd({"models", "add", "tiny", llm.string()}), 0);
  EXPECT_NE(out.find("already registered"), std::string::npos) << out;
  EXPECT_NE(ragd({"models", "add", "x", llm.string(), "--role", "painter"}), 0);
  EXPECT_NE(ragd({"models", "activate", "nobody"}), 0);
  ASSERT_EQ(ragd({"models", "activate", "enc"}), 0) << out;
  ASSERT_EQ(ragd({"models", "list", "--json"}), 0) << out;
  Json list = Json::parse(out);
  ASSERT_EQ(list.size(), 2u) << out;
  EXPECT_EQ(list[0]["name"], "enc");
  EXPECT_TRUE(list[0]["active"].get<bool>());
  EXPECT_FALSE(list[1]["active"].get<bool>());
  EXPECT_EQ(list[1]["sha256"], auth::hex_encode(auth::sha256(read_file(llm))));

  {
    ServerProcess server(data, glove);
    ASSERT_TRUE(server.start()) << server.log();
    HttpResult g = http_get(server.port(), "/v1/registry/models");
    ASSERT_EQ(g.status, 200) << g.body;
    EXPECT_EQ(Json::parse(g.body)["models"].size(), 2u);
    // The server loads an activated LLM at once; this one is a header
    // without weights: refused, the extractive answerer keeps serving and
    // the registry keeps no active LLM.
    HttpResult act = http_post(server.port(), "/v1/registry/models/tiny/activate", "");
    EXPECT_GE(act.status, 400) << act.body;
    EXPECT_NE(act.body.find("the extractive answerer keeps serving"), std::string::npos) << act.body;
    HttpResult after = http_get(server.port(), "/v1/registry/models");
    const Json listed = Json::parse(after.body);
    for (const auto& m : listed["models"]) EXPECT_EQ(m["active"].get<bool>(), m["name"] == "enc") << after.body;
    EXPECT_EQ(http_post(server.port(), "/v1/answer", R"({"query":"anything"})").status, 200);
    EXPECT_EQ(http_post(server.port(), "/v1/registry/models/nobody/activate", "").status, 404);
    EXPECT_EQ(http_post(server.port(), "/v1/registry/models/tiny/other", "").status, 404);
    EXPECT_EQ(server.stop(), 0);
  }
  // serve without --llm loads the active LLM: this one is a header without
  // weights, so the start fails naming the registered file.
  ASSERT_EQ(ragd({"models", "activate", "tiny"}), 0) << out;
  ServerProcess server(data, glove);
  EXPECT_FALSE(server.start(30));
  EXPECT_NE(server.log().find("registry's active LLM 'tiny'"), std::string::npos) << server.log();

  // A file changed after registration is not activated.
  write_model(llm, "llama", "gpl-3.0");
  EXPECT_NE(ragd({"models", "activate", "tiny"}), 0);
  EXPECT_NE(out.find("changed since it was registered"), std::string::npos) << out;
}

}  // namespace
}  // namespace ragd::test

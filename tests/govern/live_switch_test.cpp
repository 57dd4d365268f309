// Switching the served LLM without a restart: `ragd serve` answering with
// the registry's active LLM (a random-weight tiny model), another one
// registered, and POST /v1/registry/models/{name}/activate: the answers
// that follow name the new model's sha256, /v1/models its id, requests
// running across the switch all finish, and a file that fails to load
// leaves the old model serving; a purge empties the prompt-prefix cache; an
// encoder activation reindexes in the background.
// Nothing here judges answer quality.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include <nlohmann/json.hpp>

#include "../generate/llm_test_support.h"
#include "auth/crypto.h"
#include "model/gguf.h"
#include "tests/api/test_support.h"
#include "tests/api/tiny_bert.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

// The set-up of the LLM switch tests: a data directory, a GloVe file over
// two documents' words and a tiny-LLM spec of the same words.
struct LlmScene {
  explicit LlmScene(const std::string& tag) : dir(tag) {
    fs::create_directories(data);
    make_tiny_glove(glove, texts);
    spec.words = testing_llm::words_of(texts);
  }
  TempDir dir;
  const fs::path data = dir.path / "data";
  const fs::path glove = dir.path / "glove.bin";
  const std::vector<std::string> texts = {"To reset the VPN client remove the stale profile and reconnect.",
                                          "A printer paper jam is cleared by opening tray two.",
                                          "how do i reset the vpn client"};
  testing_llm::TinyLlmSpec spec;

  // The server's LLM flags.
  static std::vector<std::string> serve_flags() {
    return {"--prompts", testing_llm::prompts_dir(), "--llm-threads", "1", "--parallel", "1",
            "--max-concurrent", "2", "--max-tokens", "16", "--request-timeout", "60"};
  }
  // The two documents, over HTTP; the status.
  int post_documents(uint16_t port) const {
    Json docs = Json::array({Json{{"id", "vpn"}, {"title", "VPN"}, {"text", texts[0]}},
                             Json{{"id", "printer"}, {"title", "Printer"}, {"text", texts[1]}}});
    return http_post(port, "/v1/documents", Json{{"documents", docs}}.dump()).status;
  }
};

TEST(LiveSwitch, ActivateSwitchesTheServedLlm) {
  LlmScene scene("live-switch");
  const TempDir& dir = scene.dir;
  const fs::path& data = scene.data;
  const fs::path& glove = scene.glove;
  testing_llm::TinyLlmSpec& spec = scene.spec;
  const fs::path first = dir.path / "first-llm.gguf";
  const fs::path second = dir.path / "second-llm.gguf";
  fs::rename(testing_llm::write_tiny_llm(spec, "switch-a"), first);
  spec.seed = 12;  // other weights: another sha256
  fs::rename(testing_llm::write_tiny_llm(spec, "switch-b"), second);
  const std::string sha_first = auth::hex_encode(auth::sha256(read_file(first)));
  const std::string sha_second = auth::hex_encode(auth::sha256(read_file(second)));
  ASSERT_NE(sha_first, sha_second);
  std::string out;
  auto ragd = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data.string(), "--glove", glove.string()});
    return run_ragd(args, &out);
  };
  ASSERT_EQ(ragd({"models", "add", "first", first.string()}), 0) << out;
  ASSERT_EQ(ragd({"models", "add", "second", second.string()}), 0) << out;
  const fs::path broken = dir.path / "broken-llm.gguf";
  {
    // Registered as an LLM (a llama header), but without weights: it cannot load.
    GgufWriter w;
    w.add_str("general.architecture", "llama");
    std::vector<float> norm(32, 1.0f);
    ASSERT_TRUE(w.add_tensor_f32("output_norm.weight", {32}, norm).is_ok());
    ASSERT_TRUE(w.write(broken.string()).is_ok());
  }
  ASSERT_EQ(ragd({"models", "add", "broken", broken.string()}), 0) << out;
  ASSERT_EQ(ragd({"models", "activate", "first"}), 0) << out;

  ServerProcess server(data, glove, LlmScene::serve_flags());
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  ASSERT_EQ(scene.post_documents(port), 200);
  auto answer_sha = [&] {
    HttpResult r = http_post(port, "/v1/answer", R"({"query":"how do i reset the vpn client","max_tokens":8})");
    EXPECT_EQ(r.status, 200) << r.body;
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() ? j["provenance"].value("model_sha256", std::string()) : std::string();
  };
  EXPECT_EQ(answer_sha(), sha_first);
  EXPECT_NE(http_get(port, "/v1/models").body.find("first-llm"), std::string::npos);

  // Requests keep running while the model switches: every one finishes.
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> stop{false};
  std::thread load([&] {
    while (!stop) {
      HttpResult r = http_post(port, "/v1/answer", R"({"query":"printer paper jam","max_tokens":8})");
      (r.status == 200 ? ok : failed)++;
    }
  });
  HttpResult act = http_post(port, "/v1/registry/models/second/activate", "");
  ASSERT_EQ(act.status, 200) << act.body;
  EXPECT_EQ(Json::parse(act.body)["applies"], "now");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  load.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(answer_sha(), sha_second);
  EXPECT_NE(http_get(port, "/v1/models").body.find("second-llm"), std::string::npos);

  // A file that cannot load: an error, the second model keeps serving and
  // stays the registry's active one.
  HttpResult bad = http_post(port, "/v1/registry/models/broken/activate", "");
  EXPECT_GE(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("the previous model keeps serving"), std::string::npos) << bad.body;
  EXPECT_EQ(answer_sha(), sha_second);
  HttpResult list = http_get(port, "/v1/registry/models");
  const Json listed = Json::parse(list.body);  // held: a range-for over a temporary's element dangles
  for (const auto& m : listed["models"]) {
    EXPECT_EQ(m["active"].get<bool>(), m["name"] == "second") << list.body;
  }

  // A purge empties the prompt-prefix cache: its entries hold the prompts'
  // tokens, the passages of the purged document among them.
  auto cache_bytes = [&] {
    const std::string m = http_get(port, "/metrics").body;
    const std::string key = "\nragd_llm_prefix_cache_bytes ";
    const size_t at = m.find(key);
    return at == std::string::npos ? -1.0 : std::atof(m.c_str() + at + key.size());
  };
  EXPECT_GT(cache_bytes(), 0.0);
  ASSERT_EQ(http_post(port, "/v1/purge", R"({"doc_id":"printer"})").status, 200);
  EXPECT_EQ(cache_bytes(), 0.0);
  // So does deleting a collection: its passages may be in cached prompts.
  ASSERT_EQ(http_post(port, "/v1/collections", R"({"name":"going"})").status, 201);
  EXPECT_EQ(answer_sha(), sha_second);
  EXPECT_GT(cache_bytes(), 0.0);
  const HttpResult deleted = http_request(port, "DELETE", "/v1/collections/going");
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(cache_bytes(), 0.0);
  ASSERT_EQ(server.stop(), 0);
}

// A server started without an LLM answers extractively; activating one
// makes it the answerer at once (no restart): /v1/answer generates and
// streams, /v1/chat/completions and /v1/models open, and the generation
// metrics count it.
TEST(LiveSwitch, ActivatingAnLlmInAServerWithoutOne) {
  LlmScene scene("live-from-none");
  const TempDir& dir = scene.dir;
  const fs::path& data = scene.data;
  const fs::path& glove = scene.glove;
  testing_llm::TinyLlmSpec& spec = scene.spec;
  const fs::path model = dir.path / "late-llm.gguf";
  fs::rename(testing_llm::write_tiny_llm(spec, "late"), model);
  const std::string sha = auth::hex_encode(auth::sha256(read_file(model)));
  std::string out;
  ASSERT_EQ(run_ragd({"models", "add", "late", model.string(), "--data", data.string(), "--glove", glove.string()},
                     &out),
            0)
      << out;

  ServerProcess server(data, glove, LlmScene::serve_flags());
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  ASSERT_EQ(scene.post_documents(port), 200);
  const std::string question = R"({"query":"how do i reset the vpn client","max_tokens":8})";
  const std::string chat =
      R"({"model":"ragd","messages":[{"role":"user","content":"how do i reset the vpn client"}],"max_tokens":8})";
  const std::string streamed = R"({"query":"how do i reset the vpn client","max_tokens":8,"stream":true})";

  // Extractive: no model in the answer, no chat, no stream.
  HttpResult before = http_post(port, "/v1/answer", question);
  ASSERT_EQ(before.status, 200) << before.body;
  Json b = Json::parse(before.body);
  EXPECT_FALSE(b.contains("model")) << before.body;
  EXPECT_EQ(b["provenance"].value("model_sha256", std::string()), "") << before.body;
  EXPECT_EQ(http_post(port, "/v1/chat/completions", chat).status, 503);
  EXPECT_EQ(http_post(port, "/v1/answer", streamed).status, 501);
  EXPECT_EQ(http_get(port, "/v1/models").body.find("late-llm"), std::string::npos);

  HttpResult act = http_post(port, "/v1/registry/models/late/activate", "");
  ASSERT_EQ(act.status, 200) << act.body;
  EXPECT_EQ(Json::parse(act.body)["applies"], "now");

  HttpResult after = http_post(port, "/v1/answer", question);
  ASSERT_EQ(after.status, 200) << after.body;
  Json a = Json::parse(after.body);
  EXPECT_EQ(a["provenance"].value("model_sha256", std::string()), sha) << after.body;
  EXPECT_EQ(a.value("model", std::string()), "late-llm") << after.body;
  EXPECT_TRUE(a.contains("usage")) << after.body;
  HttpResult c = http_post(port, "/v1/chat/completions", chat);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(Json::parse(c.body)["object"], "chat.completion") << c.body;
  HttpResult s = http_post(port, "/v1/answer", streamed);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.headers["content-type"].rfind("text/event-stream", 0), 0u) << s.body;
  EXPECT_NE(s.body.find("event: done"), std::string::npos) << s.body;
  EXPECT_NE(http_get(port, "/v1/models").body.find("late-llm"), std::string::npos);
  // The answers and the chat above went through the generation queue.
  const std::string metrics = http_get(port, "/metrics").body;
  EXPECT_NE(metrics.find("ragd_llm_requests_total{route=\"answer\",outcome=\"ok\"} 2\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("ragd_llm_requests_total{route=\"chat\",outcome=\"ok\"} 1\n"), std::string::npos) << metrics;
  ASSERT_EQ(server.stop(), 0);

  // The next start loads the registry's active LLM.
  ServerProcess again(data, glove, {"--prompts", testing_llm::prompts_dir(), "--llm-threads", "1", "--parallel", "1"});
  ASSERT_TRUE(again.start()) << again.log();
  HttpResult restarted = http_post(again.port(), "/v1/answer", question);
  ASSERT_EQ(restarted.status, 200) << restarted.body;
  EXPECT_EQ(Json::parse(restarted.body)["provenance"].value("model_sha256", std::string()), sha);
  ASSERT_EQ(again.stop(), 0);
}

// Activating an encoder in a running server starts the background reindex
// of every collection (open or only on disk): the old encoder serves each
// until its switch, then its store is bound to the new one; search answers
// throughout, and collections made later start on the new encoder.
TEST(LiveSwitch, EncoderActivationReindexesInTheBackground) {
  TempDir dir("live-encoder");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  const std::vector<std::string> texts = {"To reset the VPN client remove the stale profile and reconnect.",
                                          "A printer paper jam is cleared by opening tray two.",
                                          "how do i reset the vpn client printer jam"};
  make_tiny_glove(glove, texts);
  const fs::path encoder = dir.path / "tiny-encoder.gguf";
  write_tiny_bert(encoder, tiny_bert_words(texts), TinyBertSpec{});
  std::string out;
  ASSERT_EQ(run_ragd({"models", "add", "enc", encoder.string(), "--role", "encoder", "--data", data.string()}, &out),
            0)
      << out;
  // Collection "kb3" exists on disk with documents, but no request opens it
  // before the activation; "kb2" is made and filled over HTTP.
  const fs::path kb3_file = dir.path / "kb3.md";
  write_file(kb3_file, "# Printer\n\n" + texts[1] + "\n");
  ASSERT_EQ(run_ragd({"collections", "create", "kb3", "--data", data.string(), "--glove", glove.string()}, &out), 0)
      << out;
  ASSERT_EQ(run_ragd({"ingest", kb3_file.string(), "--collection", "kb3", "--data", data.string(), "--glove",
                      glove.string()},
                     &out),
            0)
      << out;
  ServerProcess server(data, glove);
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  Json docs = Json::array();
  for (int i = 0; i < 40; ++i) {
    docs.push_back(Json{{"id", "d" + std::to_string(i)}, {"title", "Doc"}, {"text", texts[i % 2]}});
  }
  ASSERT_EQ(http_post(port, "/v1/documents", Json{{"documents", docs}}.dump()).status, 200);
  ASSERT_EQ(http_post(port, "/v1/collections", R"({"name":"kb2"})").status, 201);
  ASSERT_EQ(http_post(port, "/v1/collections/kb2/documents", Json{{"documents", docs}}.dump()).status, 200);
  const std::string before = Json::parse(http_get(port, "/v1/stats").body)["encoder"];
  HttpResult act = http_post(port, "/v1/registry/models/enc/activate", "");
  ASSERT_EQ(act.status, 200) << act.body;
  const Json activated = Json::parse(act.body);
  EXPECT_EQ(activated["applies"], "after the background reindex");
  EXPECT_EQ(activated["reindex"], (Json{{"default", "started"}, {"kb2", "started"}, {"kb3", "started"}})) << act.body;
  // Every collection reindexes; search answers throughout.
  for (const std::string prefix : {"", "/v1/collections/kb2", "/v1/collections/kb3"}) {
    const std::string stats_path = prefix.empty() ? "/v1/stats" : prefix + "/stats";
    Json stats;
    for (int i = 0; i < 300; ++i) {
      EXPECT_EQ(http_post(port, (prefix.empty() ? "/v1" : prefix) + "/search",
                          R"({"query":"reset the vpn client","k":3})")
                    .status,
                200);
      stats = Json::parse(http_get(port, stats_path).body);
      if (stats["reindex"]["state"] == "done") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(stats["reindex"]["state"], "done") << stats_path << " " << stats.dump();
    EXPECT_NE(stats["encoder"], before) << stats_path << " " << stats.dump();
    EXPECT_EQ(stats["encoder"], stats["reindex"]["target"]) << stats_path << " " << stats.dump();
    HttpResult hits = http_post(port, (prefix.empty() ? "/v1" : prefix) + "/search",
                                R"({"query":"printer paper jam","k":3,"mode":"vector"})");
    ASSERT_EQ(hits.status, 200) << hits.body;
    EXPECT_FALSE(Json::parse(hits.body)["hits"].empty()) << stats_path << " " << hits.body;
  }
  // A collection made after the activation starts on the new encoder.
  ASSERT_EQ(http_post(port, "/v1/collections", R"({"name":"kb4"})").status, 201);
  ASSERT_EQ(http_post(port, "/v1/collections/kb4/documents", Json{{"documents", docs}}.dump()).status, 200);
  const Json kb4 = Json::parse(http_get(port, "/v1/collections/kb4/stats").body);
  EXPECT_EQ(kb4["encoder"], Json::parse(http_get(port, "/v1/stats").body)["encoder"]) << kb4.dump();
  // Activating it again: already bound, nothing to do.
  HttpResult again = http_post(port, "/v1/registry/models/enc/activate", "");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Json::parse(again.body)["reindex"]["kb2"], "bound already") << again.body;
  ASSERT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace ragd::test

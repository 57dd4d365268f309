// The evaluation suite as a release gate: [[eval]] tables and their errors,
// the gate over stored results (a real RocksDB store), and end to end:
// `ragd eval suite` (retrieval on a BEIR corpus, answers on the data store)
// against the active configuration and a registered random-weight tiny LLM
// beside it, `ragd models activate` refusing a worse candidate unless
// --force (audited), and the server's POST /v1/evals/run, GET /v1/evals and
// /metrics. Nothing here claims answer quality: the tiny model is random.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include <nlohmann/json.hpp>

#include "../generate/llm_test_support.h"
#include "generate/audit_log.h"
#include "govern/eval_suite.h"
#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

TEST(EvalSuite, SpecsAndTheirErrors) {
  auto specs = govern::parse_eval_specs(
      "[[eval]]\nname = \"kb\"\nkind = \"retrieval\"\ncorpus = \"c.jsonl\"\nqueries = \"q.jsonl\"\nqrels = \"r.tsv\"\n"
      "\n[[eval]]\nname = \"answers\"\nkind = \"answers\"\nanswers = \"a.jsonl\"\nsplit = \"test\"\n"
      "\n[[eval]]\nname = \"triage\"\nkind = \"triage\"\nfield = \"category\"\n",
      "ragd.toml");
  ASSERT_TRUE(specs.is_ok()) << specs.status().to_string();
  ASSERT_EQ(specs->size(), 3u);
  EXPECT_EQ((*specs)[0].kind, govern::EvalKind::kRetrieval);
  EXPECT_EQ((*specs)[0].mode, "hybrid");
  EXPECT_EQ((*specs)[1].split, "test");
  EXPECT_EQ((*specs)[2].field, "category");
  EXPECT_EQ((*specs)[2].line, 14);
  for (const auto& [toml, expect] : std::vector<std::pair<std::string, std::string>>{
           {"[[eval]]\nkind = \"answers\"\nanswers = \"a\"\n", "ragd.toml:1: [[eval]] needs a name"},
           {"[[eval]]\nname = \"x\"\nkind = \"retrieval\"\ncorpus = \"c\"\n", "needs corpus, queries and qrels"},
           {"[[eval]]\nname = \"x\"\nkind = \"answers\"\n", "needs answers"},
           {"[[eval]]\nname = \"x\"\nkind = \"vibes\"\n", "ragd.toml:3: kind must be retrieval, answers or triage"},
           {"[[eval]]\nname = \"x y\"\n", "ragd.toml:2: name must be"},
           {"[[eval]]\nname = \"x\"\nkind = \"triage\"\nwhen = 1\n", "ragd.toml:4: unknown key 'when'"},
           {"[[eval]]\nname = \"x\"\nkind = \"triage\"\n[[eval]]\nname = \"x\"\nkind = \"triage\"\n",
            "a second [[eval]] named 'x'"}}) {
    auto r = govern::parse_eval_specs(toml, "ragd.toml");
    ASSERT_FALSE(r.is_ok()) << toml;
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
  }
}

govern::SuiteResult suite(const std::string& label, double ndcg, double hallucination, bool answers_failed = false) {
  govern::SuiteResult r;
  r.label = label;
  r.time_ms = 1000;
  r.versions.answerer = "extractive";
  r.versions.store_sequence = 7;
  govern::EvalResult kb;
  kb.name = "kb";
  kb.metrics = {{"ndcg@10", ndcg}, {"recall@100", 0.9}, {"queries", 10}};
  govern::EvalResult ans;
  ans.name = "answers";
  ans.kind = govern::EvalKind::kAnswers;
  if (answers_failed) {
    ans.error = "no such file";
  } else {
    ans.metrics = {{"accuracy", 0.8}, {"hallucination_rate", hallucination}};
  }
  r.evals = {kb, ans};
  return r;
}

TEST(EvalSuite, GateOnStoredResults) {
  TempDir dir("eval-gate");
  StoreOptions so;
  so.dir = dir.path / "store";
  so.sync_writes = false;
  auto store = Store::open(so);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  Store& s = **store;
  // No result of the active configuration: no gate.
  auto open = govern::activation_gate(s, "cand", 0.02);
  ASSERT_TRUE(open.is_ok());
  EXPECT_TRUE(open->pass);

  ASSERT_TRUE(govern::store_suite_result(s, suite("active", 0.70, 0.10)).is_ok());
  auto missing = govern::activation_gate(s, "cand", 0.02);
  ASSERT_TRUE(missing.is_ok());
  EXPECT_FALSE(missing->pass);
  EXPECT_NE(missing->reason.find("ragd eval suite --candidate cand"), std::string::npos) << missing->reason;

  // Within the tolerance: passes; the counts are not compared.
  ASSERT_TRUE(govern::store_suite_result(s, suite(govern::candidate_label("cand"), 0.69, 0.11)).is_ok());
  auto ok = govern::activation_gate(s, "cand", 0.02);
  ASSERT_TRUE(ok.is_ok());
  EXPECT_TRUE(ok->pass) << ok->reason;
  EXPECT_EQ(ok->deltas.size(), 4u);
  // nDCG 0.05 lower: worse beyond the tolerance.
  ASSERT_TRUE(govern::store_suite_result(s, suite(govern::candidate_label("cand"), 0.65, 0.10)).is_ok());
  auto worse = govern::activation_gate(s, "cand", 0.02);
  ASSERT_TRUE(worse.is_ok());
  EXPECT_FALSE(worse->pass);
  EXPECT_NE(worse->reason.find("kb ndcg@10: 0.7000 -> 0.6500"), std::string::npos) << worse->reason;
  EXPECT_TRUE(govern::activation_gate(s, "cand", 0.1)->pass);
  // A lower-is-better rate that rose is worse too.
  EXPECT_FALSE(govern::compare_suites(suite("active", 0.7, 0.10), suite("c", 0.7, 0.20), 0.02).pass);
  EXPECT_TRUE(govern::compare_suites(suite("active", 0.7, 0.10), suite("c", 0.7, 0.01), 0.02).pass);
  // An evaluation that ran for the active configuration but failed for the
  // candidate fails the gate; one that failed for the active one is skipped.
  EXPECT_FALSE(govern::compare_suites(suite("active", 0.7, 0.1), suite("c", 0.7, 0.1, true), 0.02).pass);
  EXPECT_TRUE(govern::compare_suites(suite("active", 0.7, 0.1, true), suite("c", 0.7, 0.1), 0.02).pass);

  // Results round-trip with their versions.
  auto back = govern::load_suite_result(s, "active");
  ASSERT_TRUE(back.is_ok());
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->versions.store_sequence, 7u);
  EXPECT_DOUBLE_EQ((*back)->find("kb")->metrics.at("ndcg@10"), 0.70);
  auto all = govern::list_suite_results(s);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->size(), 2u);
}

const std::vector<std::pair<std::string, std::string>> kDocs = {
    {"vpn-reset", "To reset the VPN client, open the network settings and remove the stale profile, then reconnect."},
    {"printer-jam", "A printer paper jam is cleared by opening tray two and pulling the sheet straight out."},
    {"password-expiry", "Passwords expire every ninety days; change yours in the self service portal."},
    {"email-quota", "When the mailbox quota is full, archive old messages to free space."},
};

// The BEIR files, an answers file and a config file naming them.
fs::path write_eval_files(const fs::path& dir) {
  std::string corpus, queries, qrels = "query-id\tcorpus-id\tscore\n";
  for (const auto& [id, text] : kDocs) corpus += Json{{"_id", id}, {"title", id}, {"text", text}}.dump() + "\n";
  const std::vector<std::pair<std::string, std::string>> qs = {{"q1", "reset the vpn client profile"},
                                                               {"q2", "printer paper jam tray"},
                                                               {"q3", "password expire ninety days"}};
  const std::vector<std::string> rel = {"vpn-reset", "printer-jam", "password-expiry"};
  for (size_t i = 0; i < qs.size(); ++i) {
    queries += Json{{"_id", qs[i].first}, {"text", qs[i].second}}.dump() + "\n";
    qrels += qs[i].first + "\t" + rel[i] + "\t1\n";
  }
  write_file(dir / "corpus.jsonl", corpus);
  write_file(dir / "queries.jsonl", queries);
  write_file(dir / "qrels.tsv", qrels);
  std::string answers;
  answers += Json{{"id", "a1"}, {"question", "How do I clear a printer paper jam?"}, {"answerable", true},
                  {"key_facts", {"tray two"}}, {"gold_doc_ids", {"printer-jam"}}, {"category", "howto"},
                  {"split", "test"}}.dump() + "\n";
  answers += Json{{"id", "a2"}, {"question", "How often do passwords expire?"}, {"answerable", true},
                  {"key_facts", {"ninety days"}}, {"gold_doc_ids", {"password-expiry"}}, {"category", "fact"},
                  {"split", "test"}}.dump() + "\n";
  answers += Json{{"id", "a3"}, {"question", "What is the cafeteria menu on Friday?"}, {"answerable", false},
                  {"key_facts", Json::array()}, {"gold_doc_ids", Json::array()}, {"category", "none"},
                  {"split", "test"}}.dump() + "\n";
  write_file(dir / "answers.jsonl", answers);
  const fs::path config = dir / "ragd.toml";
  // Relative paths: from the config file's folder.
  write_file(config,
             "[[eval]]\nname = \"kb\"\nkind = \"retrieval\"\ncorpus = \"corpus.jsonl\"\nqueries = \"queries.jsonl\"\n"
             "qrels = \"qrels.tsv\"\n\n[[eval]]\nname = \"answers\"\nkind = \"answers\"\nanswers = \"answers.jsonl\"\n");
  return config;
}

std::vector<std::string> all_texts() {
  std::vector<std::string> t;
  for (const auto& [id, text] : kDocs) t.push_back(id + " " + text);
  t.push_back("reset the vpn client profile printer paper jam tray password expire ninety days how do i clear often "
              "what is cafeteria menu friday");
  return t;
}

// The JSON document of a command's output (stderr's log lines come first).
Json json_of(const std::string& out) {
  if (out.rfind("{", 0) == 0) return Json::parse(out);
  const size_t at = out.find("\n{");
  return Json::parse(at == std::string::npos ? out : out.substr(at + 1));
}

TEST(EvalSuite, CliCandidateGateAndServer) {
  TempDir dir("eval-suite");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, all_texts());
  const fs::path config = write_eval_files(dir.path);
  {
    ServerProcess server(data, glove);
    ASSERT_TRUE(server.start()) << server.log();
    Json docs = Json::array();
    for (const auto& [id, text] : kDocs) docs.push_back(Json{{"id", id}, {"title", id}, {"text", text}});
    ASSERT_EQ(http_post(server.port(), "/v1/documents", Json{{"documents", docs}}.dump()).status, 200);
    ASSERT_EQ(server.stop(), 0);
  }
  std::string out;
  auto ragd = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data.string(), "--glove", glove.string()});
    return run_ragd(args, &out);
  };
  // The active configuration (extractive: no LLM is registered).
  ASSERT_EQ(ragd({"eval", "suite", "--config", config.string(), "--json"}), 0) << out;
  Json active = json_of(out)["active"];
  EXPECT_EQ(active["label"], "active");
  EXPECT_EQ(active["versions"]["answerer"], "extractive");
  EXPECT_GT(active["versions"]["store_sequence"].get<uint64_t>(), 0u);
  EXPECT_FALSE(active["versions"]["encoder"].get<std::string>().empty());
  ASSERT_EQ(active["evals"].size(), 2u) << out;
  EXPECT_FALSE(active["evals"][0].contains("error")) << out;
  EXPECT_GT(active["evals"][0]["metrics"]["ndcg@10"].get<double>(), 0.0) << out;
  EXPECT_EQ(active["evals"][1]["metrics"]["questions"].get<double>(), 3.0) << out;

  // A candidate LLM (random weights) beside it: both results and the deltas.
  testing_llm::TinyLlmSpec spec;
  spec.words = testing_llm::words_of(all_texts());
  const fs::path model = dir.path / "cand.gguf";
  fs::rename(testing_llm::write_tiny_llm(spec, "eval-suite"), model);
  ASSERT_EQ(ragd({"models", "add", "cand", model.string()}), 0) << out;
  // The exit status follows the gate's verdict: 0 on a pass, 3 on a fail
  // (random weights can go either way).
  const int cand_rc = ragd({"eval", "suite", "--config", config.string(), "--candidate", "cand", "--json", "--prompts",
                            testing_llm::prompts_dir(), "--llm-threads", "1", "--max-tokens", "24"});
  ASSERT_TRUE(cand_rc == 0 || cand_rc == 3) << out;
  Json both = json_of(out);
  ASSERT_TRUE(both.contains("pass")) << out;
  EXPECT_EQ(cand_rc, both["pass"].get<bool>() ? 0 : 3) << out;
  EXPECT_EQ(both["candidate"]["label"], "candidate/cand");
  EXPECT_EQ(both["candidate"]["versions"]["answerer"], "llm");
  EXPECT_EQ(both["candidate"]["versions"]["model_name"], "cand");
  EXPECT_EQ(both["candidate"]["versions"]["model_sha256"].get<std::string>().size(), 64u);
  EXPECT_FALSE(both["candidate"]["versions"]["prompt_version"].get<std::string>().empty());
  EXPECT_GE(both["deltas"].size(), 6u) << out;  // 2 retrieval + 4 answer quality metrics
  // Same encoder and corpus: retrieval is unchanged.
  for (const auto& d : both["deltas"]) {
    if (d["eval"] == "kb") {
      EXPECT_DOUBLE_EQ(d["delta"].get<double>(), 0.0) << d.dump();
    }
  }
  const int text_rc = ragd({"eval", "suite", "--config", config.string(), "--candidate", "cand", "--prompts",
                            testing_llm::prompts_dir(), "--llm-threads", "1", "--max-tokens", "24"});
  EXPECT_NE(out.find("candidate/cand: answerer=llm model=cand"), std::string::npos) << out;
  EXPECT_NE(out.find("gate (tolerance 0.0200)"), std::string::npos) << out;
  EXPECT_EQ(text_rc, out.find("gate (tolerance 0.0200): pass") != std::string::npos ? 0 : 3) << out;
  // A negative tolerance asks every metric to improve: retrieval is the
  // same for both (same encoder), so the gate fails, and the status says so.
  EXPECT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate", "cand", "--tolerance=-1", "--prompts",
                  testing_llm::prompts_dir(), "--llm-threads", "1", "--max-tokens", "24"}),
            3)
      << out;
  EXPECT_NE(out.find("gate (tolerance -1.0000): fail"), std::string::npos) << out;

  // Make the stored candidate result clearly worse (the tiny model's own
  // outcome is whatever random weights give): activation refuses it.
  {
    StoreOptions so;
    so.dir = data;
    auto store = Store::open(so);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    auto cand = govern::load_suite_result(**store, "candidate/cand");
    ASSERT_TRUE(cand.is_ok() && cand->has_value());
    govern::SuiteResult worse = **cand;
    for (auto& e : worse.evals) {
      if (e.name == "kb") e.metrics["ndcg@10"] -= 0.5;
    }
    ASSERT_TRUE(govern::store_suite_result(**store, worse).is_ok());
  }
  const fs::path audit = dir.path / "audit.jsonl";
  EXPECT_NE(ragd({"models", "activate", "cand", "--audit-log", audit.string()}), 0) << out;
  EXPECT_NE(out.find("refusing to activate 'cand'"), std::string::npos) << out;
  EXPECT_NE(out.find("kb ndcg@10"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(audit));
  ASSERT_EQ(ragd({"models", "activate", "cand", "--force", "--audit-log", audit.string()}), 0) << out;
  EXPECT_NE(out.find("forced past the evaluation gate"), std::string::npos) << out;
  auto records = query_audit_log(audit, {});
  ASSERT_TRUE(records.is_ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().task, "model_activation");
  EXPECT_EQ(records->front().outcome, "forced");
  EXPECT_EQ(records->front().model_sha256, both["candidate"]["versions"]["model_sha256"]);
  EXPECT_NE(records->front().finish_reason.find("kb ndcg@10"), std::string::npos);

  // The server: runs the suite on request (the active LLM is now the tiny
  // one), GET /v1/evals, /metrics, and the gate over HTTP.
  ServerProcess server(data, glove,
                       {"--config", config.string(), "--prompts", testing_llm::prompts_dir(), "--llm-threads", "1",
                        "--parallel", "1", "--max-tokens", "24", "--eval-interval", "1h"});
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  EXPECT_EQ(http_post(port, "/v1/evals/run", R"({"candidate": 5})").status, 400);
  EXPECT_EQ(http_post(port, "/v1/evals/run", R"({"when": "now"})").status, 400);
  HttpResult run = http_post(port, "/v1/evals/run", "");
  ASSERT_EQ(run.status, 202) << run.body;
  Json listed;
  for (int i = 0; i < 600; ++i) {
    HttpResult g = http_get(port, "/v1/evals");
    ASSERT_EQ(g.status, 200) << g.body;
    listed = Json::parse(g.body);
    if (listed["job"]["runs"].get<uint64_t>() >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(listed["job"]["runs"], 1) << listed.dump();
  EXPECT_TRUE(listed["job"]["last_error"].is_null()) << listed.dump();
  EXPECT_EQ(listed["job"]["interval_seconds"], 3600);
  bool found = false;
  for (const auto& r : listed["results"]) {
    if (r["label"] != "active") continue;
    found = true;
    EXPECT_EQ(r["versions"]["answerer"], "llm");
    EXPECT_EQ(r["versions"]["model_name"], "cand");
  }
  EXPECT_TRUE(found) << listed.dump();
  HttpResult m = http_get(port, "/metrics");
  EXPECT_NE(m.body.find("ragd_eval_metric{label=\"active\",eval=\"kb\",metric=\"ndcg@10\"}"), std::string::npos);
  EXPECT_NE(m.body.find("ragd_job_runs{job=\"evals\"} 1"), std::string::npos);
  HttpResult stats = http_get(port, "/v1/stats");
  EXPECT_EQ(Json::parse(stats.body)["evals"]["runs"], 1) << stats.body;
  ASSERT_EQ(server.stop(), 0);
  // Over HTTP: a candidate without a suite result is refused, "force" passes
  // (and is audited in the server's audit log).
  ASSERT_EQ(ragd({"models", "add", "cand2", model.string()}), 0) << out;
  ServerProcess again(data, glove, {"--prompts", testing_llm::prompts_dir(), "--llm-threads", "1", "--parallel", "1"});
  ASSERT_TRUE(again.start()) << again.log();
  HttpResult refused = http_post(again.port(), "/v1/registry/models/cand2/activate", "");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("ragd eval suite --candidate cand2"), std::string::npos) << refused.body;
  EXPECT_EQ(http_post(again.port(), "/v1/registry/models/cand2/activate", R"({"force": "yes"})").status, 400);
  HttpResult forced = http_post(again.port(), "/v1/registry/models/cand2/activate", R"({"force": true})");
  ASSERT_EQ(forced.status, 200) << forced.body;
  EXPECT_TRUE(Json::parse(forced.body)["forced"].get<bool>());
  ASSERT_EQ(again.stop(), 0);
  auto server_audit = query_audit_log(data / "audit.jsonl", {});
  ASSERT_TRUE(server_audit.is_ok());
  size_t activations = 0;
  for (const auto& r : *server_audit) activations += r.task == "model_activation" ? 1 : 0;
  EXPECT_EQ(activations, 1u);
}

// A folder of prompt templates as a candidate: evaluated with an LLM (the
// --candidate one here; without any LLM it is refused), stored under its
// answer template's version, beside the active result and gated the same
// way; over HTTP too. A folder that does not load is an error naming the file.
TEST(EvalSuite, PromptTemplateCandidate) {
  TempDir dir("eval-suite-prompts");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, all_texts());
  const fs::path config = write_eval_files(dir.path);
  std::string out;
  auto ragd = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data.string(), "--glove", glove.string()});
    return run_ragd(args, &out);
  };
  Json docs = Json::array();
  for (const auto& [id, text] : kDocs) docs.push_back(Json{{"id", id}, {"title", id}, {"text", text}});
  const fs::path docs_file = dir.path / "docs.jsonl";
  std::string lines;
  for (const auto& d : docs) lines += d.dump() + "\n";
  write_file(docs_file, lines);
  ASSERT_EQ(ragd({"ingest", docs_file.string()}), 0) << out;
  // The candidate folder: the shipped templates with the answer
  // template's system text changed.
  const fs::path candidate = dir.path / "prompts-v2";
  fs::copy(testing_llm::prompts_dir(), candidate);
  {
    std::ifstream in(candidate / "answer.txt");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find("[system]\n");
    ASSERT_NE(at, std::string::npos);
    text.insert(at + 9, "Prefer the passage that gives the fix over the one that describes the symptom.\n");
    write_file(candidate / "answer.txt", text);
  }
  const std::vector<std::string> llm_flags = {"--prompts", testing_llm::prompts_dir(), "--llm-threads", "1",
                                              "--max-tokens", "16"};
  auto with = [&](std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  // No LLM anywhere: nothing to answer with the templates.
  EXPECT_EQ(ragd(with({"eval", "suite", "--config", config.string(), "--candidate-prompts", candidate.string()},
                      llm_flags)),
            1)
      << out;
  EXPECT_NE(out.find("a prompt-template candidate needs an LLM"), std::string::npos) << out;

  testing_llm::TinyLlmSpec spec;
  spec.words = testing_llm::words_of(all_texts());
  const fs::path model = dir.path / "cand.gguf";
  fs::rename(testing_llm::write_tiny_llm(spec, "eval-suite-prompts"), model);
  ASSERT_EQ(ragd({"models", "add", "cand", model.string()}), 0) << out;
  // The model alone, then the model with the candidate templates: same
  // model, different answer template versions, each stored under its label.
  const int model_rc =
      ragd(with({"eval", "suite", "--config", config.string(), "--candidate", "cand", "--json"}, llm_flags));
  ASSERT_TRUE(model_rc == 0 || model_rc == 3) << out;
  const Json model_only = json_of(out)["candidate"];
  const std::string stock_version = model_only["versions"]["prompt_version"].get<std::string>();
  ASSERT_EQ(stock_version.rfind("answer.txt@", 0), 0u) << out;
  const int rc = ragd(with({"eval", "suite", "--config", config.string(), "--candidate", "cand",
                            "--candidate-prompts", candidate.string(), "--json"},
                           llm_flags));
  ASSERT_TRUE(rc == 0 || rc == 3) << out;
  const Json both = json_of(out);
  EXPECT_EQ(rc, both["pass"].get<bool>() ? 0 : 3) << out;
  const Json& cand = both["candidate"];
  const std::string cand_version = cand["versions"]["prompt_version"].get<std::string>();
  EXPECT_EQ(cand_version.rfind("answer.txt@", 0), 0u) << out;
  EXPECT_NE(cand_version, stock_version);
  EXPECT_EQ(cand["label"], "candidate/cand+prompts@" + cand_version);
  EXPECT_EQ(cand["versions"]["answerer"], "llm");
  EXPECT_EQ(cand["versions"]["model_name"], "cand");
  EXPECT_EQ(cand["versions"]["model_sha256"], model_only["versions"]["model_sha256"]);
  ASSERT_EQ(cand["evals"].size(), 2u) << out;
  EXPECT_EQ(cand["evals"][1]["metrics"]["questions"].get<double>(), 3.0) << out;
  // A folder without the templates: the error names the missing file, and
  // nothing is stored for it.
  const fs::path empty = dir.path / "no-prompts";
  fs::create_directories(empty);
  EXPECT_EQ(ragd(with({"eval", "suite", "--config", config.string(), "--candidate", "cand", "--candidate-prompts",
                       empty.string()},
                      llm_flags)),
            1)
      << out;
  EXPECT_NE(out.find("answer.txt"), std::string::npos) << out;
  EXPECT_NE(out.find("the candidate's prompts"), std::string::npos) << out;

  // Over HTTP: {"prompts": NAME}, a folder in <data>/prompts/, with the
  // candidate model; the stored results list it under the same label. A
  // path is refused: a client names a folder, it does not pick files.
  fs::create_directories(data / "prompts");
  fs::copy(candidate, data / "prompts" / "v2");
  fs::create_directories(data / "prompts" / "empty");
  ServerProcess server(data, glove,
                       {"--config", config.string(), "--prompts", testing_llm::prompts_dir(), "--llm-threads", "1",
                        "--parallel", "1", "--max-tokens", "16", "--eval-interval", "1h"});
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  EXPECT_EQ(http_post(port, "/v1/evals/run", R"({"prompts": 5})").status, 400);
  EXPECT_EQ(http_post(port, "/v1/evals/run", R"({"prompts": ""})").status, 400);
  EXPECT_EQ(http_post(port, "/v1/evals/run", R"({"prompts": ".."})").status, 400);
  EXPECT_EQ(http_post(port, "/v1/evals/run", Json{{"prompts", candidate.string()}}.dump()).status, 400);
  HttpResult run = http_post(port, "/v1/evals/run", R"({"candidate": "cand", "prompts": "empty"})");
  ASSERT_EQ(run.status, 202) << run.body;
  auto wait_runs = [&](uint64_t n) {
    Json listed;
    for (int i = 0; i < 600; ++i) {
      listed = Json::parse(http_get(port, "/v1/evals").body);
      if (listed["job"]["runs"].get<uint64_t>() >= n && !listed["job"]["running"].get<bool>()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return listed;
  };
  Json listed = wait_runs(1);
  ASSERT_EQ(listed["job"]["runs"], 1) << listed.dump();
  ASSERT_TRUE(listed["job"]["last_error"].is_string()) << listed.dump();
  EXPECT_NE(listed["job"]["last_error"].get<std::string>().find("answer.txt"), std::string::npos) << listed.dump();
  run = http_post(port, "/v1/evals/run", R"({"candidate": "cand", "prompts": "v2"})");
  ASSERT_EQ(run.status, 202) << run.body;
  EXPECT_EQ(Json::parse(run.body)["prompts"], "v2");
  listed = wait_runs(2);
  ASSERT_EQ(listed["job"]["runs"], 2) << listed.dump();
  EXPECT_TRUE(listed["job"]["last_error"].is_null()) << listed.dump();
  bool found = false;
  for (const auto& r : listed["results"]) {
    if (r["label"] != "candidate/cand+prompts@" + cand_version) continue;
    found = true;
    EXPECT_EQ(r["versions"]["prompt_version"], cand_version);
    EXPECT_GT(r["time_ms"].get<int64_t>(), cand["time_ms"].get<int64_t>());  // this run's, not the CLI's
  }
  EXPECT_TRUE(found) << listed.dump();
  ASSERT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace ragd::test

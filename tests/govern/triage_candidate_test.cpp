// A stored triage version as a candidate of the evaluation suite (issue 16):
// `ragd triage train --no-activate` stores one without serving it; `ragd
// eval suite --candidate-triage FIELD@VERSION` scores its recipe beside the
// active version's on the same held-out tickets (only the field's triage
// evaluations run); `ragd triage activate` serves it past the gate, or
// refuses (unless --force, audited); a damaged candidate fails its
// evaluation. Over HTTP: POST /v1/evals/run {"triage"}, POST
// /v1/triage/train {"activate": false} and POST /v1/triage/activate, after
// which ticket assist predicts with the activated version.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "generate/audit_log.h"
#include "govern/eval_suite.h"
#include "tests/api/test_support.h"
#include "tests/support/synthetic_tickets.h"
#include "triage/trainer.h"
#include "triage/triage.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

// The JSON document of a command's output (stderr's log lines come first).
Json json_of(const std::string& out) {
  if (out.rfind("{", 0) == 0) return Json::parse(out);
  const size_t at = out.find("\n{");
  return Json::parse(at == std::string::npos ? out : out.substr(at + 1));
}

// A retrieval evaluation beside the triage one: a triage candidate must not
// run it.
fs::path write_config(const fs::path& dir) {
  write_file(dir / "corpus.jsonl",
             Json{{"_id", "d1"}, {"title", "vpn"}, {"text", "reset the vpn client profile"}}.dump() + "\n" +
                 Json{{"_id", "d2"}, {"title", "printer"}, {"text", "clear the printer paper jam"}}.dump() + "\n");
  write_file(dir / "queries.jsonl", Json{{"_id", "q1"}, {"text", "vpn profile reset"}}.dump() + "\n");
  write_file(dir / "qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
  const fs::path config = dir / "ragd.toml";
  write_file(config,
             "[[eval]]\nname = \"kb\"\nkind = \"retrieval\"\ncorpus = \"corpus.jsonl\"\nqueries = \"queries.jsonl\"\n"
             "qrels = \"qrels.tsv\"\n\n[[eval]]\nname = \"routing\"\nkind = \"triage\"\nfield = \"assignment_group\"\n");
  return config;
}

const Json* find_eval(const Json& result, const std::string& name) {
  for (const auto& e : result["evals"])
    if (e["name"] == name) return &e;
  return nullptr;
}

TEST(TriageCandidate, StoredVersionEvaluatedGatedAndActivated) {
  TempDir dir("triage-candidate");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  triage::SyntheticOptions so;
  so.tickets = 500;
  so.groups = 6;
  so.signal = 0.7;
  so.label_noise = 0.1;
  const auto tickets = triage::generate_tickets(so);
  const fs::path csv = dir.path / "tickets.csv";
  write_file(csv, triage::tickets_csv(tickets));
  std::string words = "reset the vpn client profile clear printer paper jam";
  for (size_t i = 0; i < 50; ++i) words += " " + tickets[i].subject + " " + tickets[i].description;
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, {words});
  const fs::path config = write_config(dir.path);
  std::string out;
  auto ragd = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data.string(), "--glove", glove.string()});
    return run_ragd(args, &out);
  };
  ASSERT_EQ(ragd({"ingest", csv.string(), "--csv-map", triage::tickets_csv_map()}), 0) << out;

  // v000001 serves; v000002 (another target precision) and v000003 (the
  // same recipe as v000001) are stored as candidates only.
  ASSERT_EQ(ragd({"triage", "train"}), 0) << out;
  ASSERT_EQ(ragd({"triage", "train", "--no-activate", "--target-precision", "0.6"}), 0) << out;
  EXPECT_NE(out.find("stored as a candidate, not activated"), std::string::npos) << out;
  ASSERT_EQ(ragd({"triage", "train", "--no-activate"}), 0) << out;
  ASSERT_EQ(ragd({"triage", "list"}), 0) << out;
  EXPECT_NE(out.find("v000001 ACTIVE"), std::string::npos) << out;
  EXPECT_NE(out.find("v000002 -"), std::string::npos) << out;
  {
    StoreOptions opts;
    opts.dir = data;
    auto store = Store::open(opts);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    auto manifest = triage::version_manifest(**store, "assignment_group", "v000002");
    ASSERT_TRUE(manifest.is_ok());
    auto recipe = triage::stored_recipe(*manifest);
    ASSERT_TRUE(recipe.is_ok()) << recipe.status().to_string();
    EXPECT_DOUBLE_EQ(recipe->target_precision, 0.6);
    EXPECT_EQ(recipe->field, "assignment_group");
    EXPECT_EQ(*triage::active_version(**store, "assignment_group"), "v000001");
  }

  // The same recipe on the same tickets: every metric equal, the gate passes.
  ASSERT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate-triage", "assignment_group@v000003",
                  "--json"}),
            0)
      << out;
  Json same = json_of(out);
  EXPECT_EQ(same["candidate"]["label"], "candidate/triage:assignment_group@v000003");
  EXPECT_EQ(same["active"]["versions"]["triage"], "assignment_group=v000001");
  EXPECT_EQ(same["candidate"]["versions"]["triage"], "assignment_group=v000003");
  // The active side is the baseline measured in the same run; neither runs
  // anything but the field's triage evaluations.
  EXPECT_EQ(same["active"]["label"], "baseline/triage:assignment_group@v000003") << out;
  EXPECT_EQ(find_eval(same["active"], "kb"), nullptr) << out;
  EXPECT_EQ(find_eval(same["candidate"], "kb"), nullptr) << "a triage candidate runs only triage evaluations: " << out;
  ASSERT_NE(find_eval(same["candidate"], "routing"), nullptr) << out;
  EXPECT_GT((*find_eval(same["candidate"], "routing"))["metrics"]["accuracy"].get<double>(), 0.3) << out;
  ASSERT_GE(same["deltas"].size(), 4u) << out;
  for (const auto& d : same["deltas"]) {
    EXPECT_EQ(d["eval"], "routing") << d.dump();
    EXPECT_DOUBLE_EQ(d["delta"].get<double>(), 0.0) << d.dump();
  }
  EXPECT_TRUE(same["pass"].get<bool>()) << out;

  // Another target precision (0.6 against 0.9): same model, a lower
  // threshold, so accuracy is unchanged while more tickets are served at a
  // lower precision. The gate holds precision against the serving recipe's
  // and fails (exit status 3): the candidate's recipe was measured, not the
  // active one's twice.
  ASSERT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate-triage", "assignment_group@v000002",
                  "--json"}),
            3)
      << out;
  Json other = json_of(out);
  EXPECT_FALSE(other["pass"].get<bool>()) << out;
  EXPECT_NE(other["reason"].get<std::string>().find("routing precision"), std::string::npos) << out;
  const Json& a = (*find_eval(other["active"], "routing"))["metrics"];
  const Json& c = (*find_eval(other["candidate"], "routing"))["metrics"];
  EXPECT_DOUBLE_EQ(a["accuracy"].get<double>(), c["accuracy"].get<double>()) << out;
  EXPECT_GT(c["coverage"].get<double>(), a["coverage"].get<double>()) << out;
  EXPECT_LT(c["precision"].get<double>(), a["precision"].get<double>()) << out;

  // Bad candidates: unknown version, malformed name, combined with a model.
  EXPECT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate-triage", "assignment_group@v000099"}), 1);
  EXPECT_NE(out.find("not stored"), std::string::npos) << out;
  EXPECT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate-triage", "assignment_group"}), 2);
  EXPECT_NE(out.find("FIELD@VERSION"), std::string::npos) << out;
  EXPECT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate-triage", "assignment_group@v000002",
                  "--candidate", "m"}),
            2);
  EXPECT_NE(out.find("evaluated on its own"), std::string::npos) << out;
  ASSERT_EQ(ragd({"triage", "train", "--field", "category", "--no-activate"}), 0) << out;
  EXPECT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate-triage", "category@v000001"}), 2);
  EXPECT_NE(out.find("no [[eval]] of kind triage measures field 'category'"), std::string::npos) << out;
  EXPECT_EQ(ragd({"triage", "train", "--no-activate", "--force"}), 2) << out;
  // A version name that is not one never reaches a store key.
  EXPECT_EQ(ragd({"triage", "activate", "assignment_group", "v000001/part/0", "--force"}), 2) << out;
  EXPECT_NE(out.find("versions look like"), std::string::npos) << out;

  // The gate of `ragd triage activate`: v000003 passes and serves.
  ASSERT_EQ(ragd({"triage", "activate", "assignment_group", "v000003"}), 0) << out;
  EXPECT_NE(out.find("v000003 serves (was v000001)"), std::string::npos) << out;

  // A damaged candidate: its weights do not load, so its evaluation fails
  // and the gate with it.
  {
    StoreOptions opts;
    opts.dir = data;
    auto store = Store::open(opts);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    ASSERT_TRUE((*store)->put_state("triage/model/assignment_group/v000001/part/0", "not a model").is_ok());
  }
  EXPECT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate-triage", "assignment_group@v000001",
                  "--json"}),
            3)
      << out;
  Json damaged = json_of(out);
  EXPECT_EQ(damaged["active"]["versions"]["triage"], "assignment_group=v000003") << out;
  ASSERT_NE(find_eval(damaged["candidate"], "routing"), nullptr) << out;
  EXPECT_NE((*find_eval(damaged["candidate"], "routing"))["error"].get<std::string>().find("v000001"),
            std::string::npos)
      << out;
  EXPECT_NE(damaged["reason"].get<std::string>().find("failed for the candidate"), std::string::npos) << out;
  EXPECT_EQ(ragd({"triage", "activate", "assignment_group", "v000001"}), 1) << out;

  // v000002's results compared it with v000001, which no longer serves:
  // refused until it is evaluated again.
  EXPECT_EQ(ragd({"triage", "activate", "assignment_group", "v000002"}), 1) << out;
  EXPECT_NE(out.find("compared the candidate with v000001, but v000003 serves now"), std::string::npos) << out;
  EXPECT_EQ(ragd({"eval", "suite", "--config", config.string(), "--candidate-triage", "assignment_group@v000002"}),
            3)
      << out;
  // A candidate clearly worse (its stored result lowered further), and one never
  // evaluated: refused; --force passes and is audited.
  {
    StoreOptions opts;
    opts.dir = data;
    auto store = Store::open(opts);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    auto r = govern::load_suite_result(**store, govern::triage_candidate_label("assignment_group", "v000002"));
    ASSERT_TRUE(r.is_ok() && r->has_value());
    govern::SuiteResult worse = **r;
    for (auto& e : worse.evals) e.metrics["accuracy"] -= 0.3;
    ASSERT_TRUE(govern::store_suite_result(**store, worse).is_ok());
  }
  const fs::path audit = dir.path / "audit.jsonl";
  EXPECT_EQ(ragd({"triage", "activate", "assignment_group", "v000002", "--audit-log", audit.string()}), 1) << out;
  EXPECT_NE(out.find("refusing to activate triage assignment_group v000002"), std::string::npos) << out;
  EXPECT_NE(out.find("routing accuracy"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(audit));
  ASSERT_EQ(ragd({"triage", "activate", "assignment_group", "v000002", "--force", "--audit-log", audit.string()}), 0)
      << out;
  EXPECT_NE(out.find("forced past the evaluation gate"), std::string::npos) << out;
  auto records = query_audit_log(audit, {});
  ASSERT_TRUE(records.is_ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().task, "triage_activation");
  EXPECT_EQ(records->front().outcome, "forced");
  EXPECT_EQ(records->front().query, "activate triage assignment_group v000002");
  EXPECT_NE(records->front().finish_reason.find("routing accuracy"), std::string::npos);
  EXPECT_EQ(ragd({"triage", "activate", "assignment_group", "v000042"}), 1) << out;
  EXPECT_NE(out.find("not stored"), std::string::npos) << out;

  // Over HTTP: train a candidate without serving it, evaluate it in the
  // background, activate it; ticket assist then predicts with it.
  ServerProcess server(data, glove, {"--config", config.string()});
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  EXPECT_EQ(http_post(port, "/v1/triage/train", R"({"activate": "no"})").status, 400);
  ASSERT_EQ(http_post(port, "/v1/triage/train", R"({"activate": false})").status, 202);
  Json status;
  for (int i = 0; i < 600; ++i) {
    status = Json::parse(http_get(port, "/v1/triage").body);
    if (status["retrain"]["runs"].get<int>() >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(status["retrain"]["runs"], 1) << status.dump();
  const Json& trained = status["retrain"]["last"][0];
  EXPECT_EQ(trained["version"], "v000004") << status.dump();
  EXPECT_EQ(trained["activated"], false) << status.dump();
  EXPECT_EQ(status["served"][0]["version"], "v000002") << status.dump();

  EXPECT_EQ(http_post(port, "/v1/triage/train", R"({"activate": false, "force": true})").status, 400);
  EXPECT_EQ(http_post(port, "/v1/evals/run", R"({"triage": "assignment_group"})").status, 400);
  EXPECT_EQ(http_post(port, "/v1/evals/run", R"({"triage": "assignment_group@v000099"})").status, 404);
  EXPECT_EQ(http_post(port, "/v1/evals/run", R"({"triage": "assignment_group@v000004", "candidate": "m"})").status,
            400);
  EXPECT_EQ(http_post(port, "/v1/triage/activate", R"({"field": "assignment_group"})").status, 400);
  EXPECT_EQ(http_post(port, "/v1/triage/activate", R"({"field": "assignment_group", "version": "../x", "force": true})")
                .status,
            400);
  // Not evaluated yet: the gate refuses.
  HttpResult early = http_post(port, "/v1/triage/activate", R"({"field": "assignment_group", "version": "v000004"})");
  EXPECT_EQ(early.status, 409) << early.body;
  EXPECT_NE(early.body.find("--candidate-triage assignment_group@v000004"), std::string::npos) << early.body;
  ASSERT_EQ(http_post(port, "/v1/evals/run", R"({"triage": "assignment_group@v000004"})").status, 202);
  Json evals;
  for (int i = 0; i < 600; ++i) {
    evals = Json::parse(http_get(port, "/v1/evals").body);
    if (evals["job"]["runs"].get<int>() >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(evals["job"]["runs"], 1) << evals.dump();
  EXPECT_TRUE(evals["job"]["last_error"].is_null()) << evals.dump();
  std::set<std::string> labels;
  for (const auto& r : evals["results"]) labels.insert(r["label"].get<std::string>());
  EXPECT_TRUE(labels.count("candidate/triage:assignment_group@v000004")) << evals.dump();
  EXPECT_TRUE(labels.count("baseline/triage:assignment_group@v000004")) << evals.dump();
  // v000004 has the default recipe, v000002 (serving) a target precision of
  // 0.6: the candidate serves fewer tickets, so the gate refuses it; "force"
  // activates it anyway.
  HttpResult refused =
      http_post(port, "/v1/triage/activate", R"({"field": "assignment_group", "version": "v000004"})");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("routing coverage"), std::string::npos) << refused.body;
  HttpResult activated =
      http_post(port, "/v1/triage/activate", R"({"field": "assignment_group", "version": "v000004", "force": true})");
  ASSERT_EQ(activated.status, 200) << activated.body;
  EXPECT_EQ(Json::parse(activated.body)["previous"], "v000002") << activated.body;
  EXPECT_TRUE(Json::parse(activated.body)["forced"].get<bool>()) << activated.body;
  const auto& probe = tickets.back();
  HttpResult assist = http_post(port, "/v1/tickets/assist",
                                Json{{"subject", probe.subject}, {"description", probe.description}}.dump());
  ASSERT_EQ(assist.status, 200) << assist.body;
  EXPECT_EQ(Json::parse(assist.body)["triage"]["assignment_group"]["model_version"], "v000004") << assist.body;
  ASSERT_EQ(server.stop(), 0) << server.log();
}

}  // namespace
}  // namespace ragd::test

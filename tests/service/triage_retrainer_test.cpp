// Triage retraining inside the server (service/triage_retrainer.h): on
// request and on a schedule, over a real store, and the served models swap
// without a restart; a forced activation of a worse model is audited first,
// in the server and in `ragd triage train --force`.
#include <gtest/gtest.h>

#include <chrono>

#include "generate/audit_log.h"
#include "service/triage_retrainer.h"
#include "tests/api/test_support.h"
#include "tests/support/scratch_store.h"
#include "tests/support/synthetic_tickets.h"
#include "triage/triage.h"

namespace ragd {
namespace {

using triage::SyntheticOptions;

RetrainOptions quick(int64_t interval = 0) {
  RetrainOptions o;
  o.interval_seconds = interval;
  o.train.features.hash_bits = 16;
  o.train.learning_rates = {0.3f};
  o.train.linear.epochs = 4;
  o.train.knn_k = {5};
  o.train.blend_weights = {};
  return o;
}

std::vector<triage::SyntheticTicket> tickets(size_t n, uint64_t seed) {
  SyntheticOptions s;
  s.tickets = n;
  s.groups = 8;
  s.signal = 0.85;
  s.label_noise = 0.05;
  s.seed = seed;
  return triage::generate_tickets(s);
}

class RetrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ScratchStore::open("retrain");
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    scratch_ = std::make_unique<ScratchStore>(std::move(*s));
    ASSERT_TRUE(store().bind_encoder("test", 4).is_ok());
  }
  Store& store() { return scratch_->store(); }
  std::string active() {
    auto v = triage::active_version(store(), "assignment_group");
    EXPECT_TRUE(v.is_ok());
    return v.is_ok() ? *v : "";
  }
  std::unique_ptr<ScratchStore> scratch_;
};

TEST_F(RetrainerTest, OnRequestTrainsActivatesAndTheServerPredictsWithIt) {
  ASSERT_TRUE(triage::put_ticket_documents(store(), tickets(600, 3)).is_ok());
  auto served = StoredTriage::open(store());
  ASSERT_TRUE(served.is_ok()) << served.status().to_string();
  EXPECT_EQ((*served)->fields(), 0u);
  const auto probe = tickets(600, 3).back();
  EXPECT_TRUE((*served)->predict(probe.subject, probe.description, {}).empty());

  TriageRetrainer r(store(), **served, quick());
  r.start();
  // No field served yet and none configured: a run must name them.
  ASSERT_EQ(r.trigger({"assignment_group", "no_such_field"}, false), TriageRetrainer::Trigger::kStarted);
  ASSERT_TRUE(r.wait_runs(1, std::chrono::minutes(3)));
  const RetrainStatus st = r.status();
  EXPECT_FALSE(st.running);
  EXPECT_EQ(st.runs, 1u);
  EXPECT_EQ(st.next_run_ms, 0);  // no schedule
  ASSERT_EQ(st.last.size(), 2u);
  EXPECT_EQ(st.last[0].field, "assignment_group");
  EXPECT_EQ(st.last[0].error, "");
  EXPECT_TRUE(st.last[0].activated) << st.last[0].decision;
  EXPECT_EQ(st.last[0].version, "v000001");
  EXPECT_GT(st.last[0].examples, 300u);
  EXPECT_GT(st.last[0].accuracy, 0.3);
  EXPECT_NE(st.last[1].error, "");  // a field no ticket carries: reported, not fatal
  EXPECT_TRUE(st.last[1].version.empty());
  // Reloaded without a restart.
  EXPECT_EQ((*served)->fields(), 1u);
  auto p = (*served)->predict(probe.subject, probe.description, {});
  ASSERT_EQ(p.count("assignment_group"), 1u);
  EXPECT_FALSE(p["assignment_group"].value.empty());
  EXPECT_EQ(active(), "v000001");

  // A second run with no fields named retrains the served ones; forced, it
  // serves the new version.
  ASSERT_EQ(r.trigger({}, true), TriageRetrainer::Trigger::kStarted);
  ASSERT_TRUE(r.wait_runs(2, std::chrono::minutes(3)));
  ASSERT_EQ(r.status().last.size(), 1u);
  EXPECT_EQ(r.status().last[0].version, "v000002");
  EXPECT_EQ(r.status().last[0].previous, "v000001");
  EXPECT_TRUE(r.status().last[0].activated);
  EXPECT_EQ(active(), "v000002");
  ASSERT_EQ((*served)->served().size(), 1u);
  EXPECT_EQ((*served)->served()[0].version, "v000002");
}

TEST_F(RetrainerTest, OneRunAtATimeAndAScheduleRuns) {
  ASSERT_TRUE(triage::put_ticket_documents(store(), tickets(400, 5)).is_ok());
  auto served = StoredTriage::open(store());
  ASSERT_TRUE(served.is_ok());
  RetrainOptions o = quick(1);
  o.fields = {"assignment_group"};
  TriageRetrainer r(store(), **served, o);
  r.start();
  EXPECT_GT(r.status().next_run_ms, 0);
  ASSERT_EQ(r.trigger({}, false), TriageRetrainer::Trigger::kStarted);
  EXPECT_EQ(r.trigger({}, false), TriageRetrainer::Trigger::kAlreadyRunning);
  // The request, then at least one scheduled run a second after it.
  ASSERT_TRUE(r.wait_runs(2, std::chrono::minutes(3)));
  const RetrainStatus st = r.status();
  ASSERT_EQ(st.last.size(), 1u);
  EXPECT_EQ(st.last[0].error, "");
  EXPECT_GE(st.next_run_ms, st.last_end_ms + 1000);
  r.stop();
  // A stopped retrainer takes no more requests' runs.
  const uint64_t runs = r.status().runs;
  (void)r.trigger({}, false);
  EXPECT_FALSE(r.wait_runs(runs + 1, std::chrono::milliseconds(300)));
}

// With a negative tolerance every new model counts as worse than the
// active one, so the verdict does not depend on the data.
TEST_F(RetrainerTest, AForcedActivationOfAWorseModelIsAuditedFirst) {
  ASSERT_TRUE(triage::put_ticket_documents(store(), tickets(400, 7)).is_ok());
  auto served = StoredTriage::open(store());
  ASSERT_TRUE(served.is_ok());
  const std::filesystem::path audit_path = scratch_->dir().parent_path() /
                                           (scratch_->dir().filename().string() + "-audit.jsonl");
  auto audit = AuditLog::open(audit_path);
  ASSERT_TRUE(audit.is_ok()) << audit.status().to_string();
  RetrainOptions o = quick();
  o.fields = {"assignment_group"};
  o.train.activation_tolerance = -1;
  o.audit = audit->get();
  TriageRetrainer r(store(), **served, o);
  r.start();
  auto forced_records = [&] {
    auto got = query_audit_log(audit_path, {});
    EXPECT_TRUE(got.is_ok());
    std::vector<AuditRecord> out;
    for (const auto& rec : got.is_ok() ? *got : std::vector<AuditRecord>{}) {
      if (rec.task == "triage_activation") out.push_back(rec);
    }
    return out;
  };
  ASSERT_EQ(r.trigger({}, false), TriageRetrainer::Trigger::kStarted);  // nothing active yet: serves
  ASSERT_TRUE(r.wait_runs(1, std::chrono::minutes(3)));
  EXPECT_EQ(active(), "v000001");
  ASSERT_EQ(r.trigger({}, false), TriageRetrainer::Trigger::kStarted);  // worse: kept
  ASSERT_TRUE(r.wait_runs(2, std::chrono::minutes(3)));
  EXPECT_FALSE(r.status().last[0].activated);
  EXPECT_NE(r.status().last[0].decision.find("kept, not served (worse)"), std::string::npos);
  EXPECT_EQ(active(), "v000001");
  EXPECT_TRUE(forced_records().empty());
  ASSERT_EQ(r.trigger({}, true, "key:ops"), TriageRetrainer::Trigger::kStarted);  // forced: audited, serves
  ASSERT_TRUE(r.wait_runs(3, std::chrono::minutes(3)));
  EXPECT_TRUE(r.status().last[0].activated);
  EXPECT_NE(r.status().last[0].decision.find("activated (forced, worse)"), std::string::npos);
  EXPECT_EQ(active(), "v000003");
  const auto records = forced_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].caller, "key:ops");
  EXPECT_EQ(records[0].outcome, "forced");
  EXPECT_EQ(records[0].query, "activate triage assignment_group v000003");
  EXPECT_NE(records[0].finish_reason.find("of active v000001"), std::string::npos) << records[0].finish_reason;
  r.stop();

  // Without an audit log to record it, force does not put a worse model in.
  o.audit = nullptr;
  TriageRetrainer unaudited(store(), **served, o);
  unaudited.start();
  ASSERT_EQ(unaudited.trigger({}, true), TriageRetrainer::Trigger::kStarted);
  ASSERT_TRUE(unaudited.wait_runs(1, std::chrono::minutes(3)));
  EXPECT_FALSE(unaudited.status().last[0].activated);
  EXPECT_EQ(active(), "v000003");
  std::filesystem::remove(audit_path);
}

// The hook's error stops the activation: the version is stored, not served.
TEST_F(RetrainerTest, AFailedRecordStopsTheForcedActivation) {
  ASSERT_TRUE(triage::put_ticket_documents(store(), tickets(400, 9)).is_ok());
  triage::TrainOptions o = quick().train;
  ASSERT_TRUE(triage::train_field(store(), o).is_ok());
  EXPECT_EQ(active(), "v000001");
  o.activation_tolerance = -1;
  o.force = true;
  int calls = 0;
  o.before_forced_activation = [&](const std::string& field, const std::string& version, const std::string&) {
    ++calls;
    EXPECT_EQ(field, "assignment_group");
    EXPECT_EQ(version, "v000002");
    return Status::io_error("disk full");
  };
  auto rep = triage::train_field(store(), o);
  ASSERT_FALSE(rep.is_ok());
  EXPECT_NE(rep.status().message().find("disk full"), std::string::npos) << rep.status().to_string();
  EXPECT_NE(rep.status().message().find("v000002 (stored, not served)"), std::string::npos)
      << rep.status().to_string();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(active(), "v000001");
  auto versions = triage::list_versions(store(), "assignment_group");
  ASSERT_TRUE(versions.is_ok());
  EXPECT_EQ(versions->size(), 2u);
}

// `ragd triage train`: --tolerance, and --force past a worse verdict is
// recorded in --audit-log (caller cli:USER) before the version serves.
TEST(TriageTrainCli, ForceIsAudited) {
  test::TempDir dir("triage-force");
  const std::filesystem::path data = dir.path / "data";
  {
    StoreOptions so;
    so.dir = data;
    auto s = Store::open(so);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    ASSERT_TRUE((*s)->bind_encoder("test", 4).is_ok());
    Status put = triage::put_ticket_documents(**s, tickets(400, 11));
    ASSERT_TRUE(put.is_ok()) << put.to_string();
  }
  const std::filesystem::path audit = dir.path / "audit.jsonl";
  std::string out;
  auto train = [&](std::vector<std::string> more) {
    std::vector<std::string> args = {"triage", "train", "--data", data.string(), "--audit-log", audit.string()};
    args.insert(args.end(), more.begin(), more.end());
    return test::run_ragd(args, &out);
  };
  ASSERT_EQ(train({}), 0) << out;
  EXPECT_NE(out.find("stored assignment_group v000001"), std::string::npos) << out;
  ASSERT_EQ(train({"--tolerance=-1"}), 0) << out;
  EXPECT_NE(out.find("kept, not served (worse)"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(audit) && std::filesystem::file_size(audit) > 0);
  ASSERT_EQ(train({"--tolerance=-1", "--force"}), 0) << out;
  EXPECT_NE(out.find("activated (forced, worse)"), std::string::npos) << out;
  auto records = query_audit_log(audit, {});
  ASSERT_TRUE(records.is_ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().task, "triage_activation");
  EXPECT_EQ(records->front().query, "activate triage assignment_group v000003");
  EXPECT_EQ(records->front().caller.rfind("cli:", 0), 0u);
  ASSERT_EQ(test::run_ragd({"triage", "list", "--data", data.string()}, &out), 0) << out;
  EXPECT_NE(out.find("v000003 ACTIVE"), std::string::npos) << out;
}

}  // namespace
}  // namespace ragd

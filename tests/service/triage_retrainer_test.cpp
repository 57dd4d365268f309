// Triage retraining inside the server (service/triage_retrainer.h): on
// request and on a schedule, over a real store, and the served models swap
// without a restart.
#include <gtest/gtest.h>

#include <chrono>

#include "service/triage_retrainer.h"
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

}  // namespace
}  // namespace ragd

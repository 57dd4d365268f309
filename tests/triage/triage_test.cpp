// The triage models: learning, time split, calibration, storage, activation,
// serving and bad input. Real RocksDB stores in temporary directories.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "connectors/connector.h"
#include "index/store.h"
#include "tests/support/synthetic_tickets.h"
#include "triage/trainer.h"
#include "triage/triage.h"

namespace ragd::triage {
namespace {

class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("ragd-triage-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Small, quick settings: fewer hash slots, one learning rate.
TrainOptions quick_options(const std::string& field = "assignment_group") {
  TrainOptions o;
  o.field = field;
  o.features.hash_bits = 16;
  o.learning_rates = {0.3f};
  o.linear.epochs = 5;
  o.knn_k = {5, 20};
  return o;
}

SyntheticOptions easy_set(size_t n, uint64_t seed = 7) {
  SyntheticOptions s;
  s.tickets = n;
  s.groups = 10;
  s.signal = 0.85;
  s.label_noise = 0.05;
  s.seed = seed;
  return s;
}

const FamilyResult& family(const Evaluation& ev, const std::string& name) {
  for (const auto& f : ev.families)
    if (f.family == name) return f;
  ADD_FAILURE() << "no family " << name;
  return ev.families.front();
}

std::unique_ptr<Store> open_store(const std::filesystem::path& dir) {
  StoreOptions so;
  so.dir = dir;
  so.sync_writes = false;
  auto s = Store::open(so);
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  if (!s.is_ok()) return nullptr;
  EXPECT_TRUE((*s)->bind_encoder("test", 4).is_ok());
  return std::move(*s);
}

void put_tickets(Store& store, const std::vector<SyntheticTicket>& tickets) {
  Status st = put_ticket_documents(store, tickets);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
}

TEST(TriageLearnTest, LinearBeatsMajorityOnALearnableSignal) {
  auto examples = synthetic_examples(generate_tickets(easy_set(1500)));
  auto ev = evaluate_examples(examples, quick_options());
  ASSERT_TRUE(ev.is_ok()) << ev.status().to_string();
  const auto& maj = family(*ev, "majority");
  const auto& lin = family(*ev, "linear");
  const auto& knn = family(*ev, "knn");
  EXPECT_GT(lin.test.accuracy, maj.test.accuracy + 0.15) << lin.test.accuracy << " vs " << maj.test.accuracy;
  EXPECT_GT(lin.test.macro_f1, maj.test.macro_f1 + 0.2);
  EXPECT_GT(knn.test.accuracy, maj.test.accuracy);
  EXPECT_EQ(ev->chosen, "linear");
  EXPECT_EQ(ev->fit + ev->validation + ev->test, examples.size());
}

TEST(TriageLearnTest, NoSignalDoesNotBeatMajorityByMuch) {
  SyntheticOptions s = easy_set(800);
  s.signal = 0;          // topics never depend on the group
  s.label_noise = 1.0;   // and every label is random
  auto ev = evaluate_examples(synthetic_examples(generate_tickets(s)), quick_options());
  ASSERT_TRUE(ev.is_ok());
  EXPECT_LT(family(*ev, "linear").test.accuracy, family(*ev, "majority").test.accuracy + 0.08);
}

TEST(TriageLearnTest, DeterministicWithASeed) {
  auto a = generate_tickets(easy_set(600, 11));
  auto b = generate_tickets(easy_set(600, 11));
  auto c = generate_tickets(easy_set(600, 12));
  EXPECT_EQ(tickets_csv(a), tickets_csv(b));
  EXPECT_NE(tickets_csv(a), tickets_csv(c));
  auto ex = synthetic_examples(a);
  TrainOptions o = quick_options();
  auto e1 = evaluate_examples(ex, o);
  auto e2 = evaluate_examples(ex, o);
  ASSERT_TRUE(e1.is_ok() && e2.is_ok());
  EXPECT_EQ(family(*e1, "linear").test.accuracy, family(*e2, "linear").test.accuracy);
  EXPECT_EQ(e1->temperature, e2->temperature);
  auto m1 = fit_serving_model(ex, *e1, o);
  auto m2 = fit_serving_model(ex, *e2, o);
  ASSERT_TRUE(m1.is_ok() && m2.is_ok());
  EXPECT_EQ((*m1)->serialize(), (*m2)->serialize());
}

// The newest tickets are the test slice. A label that changed over time
// (printers moved from one team to another) shows it: trained only on the
// past, the model must still say the old team for the new tickets; had the
// split leaked future tickets into training, it would learn the new team.
TEST(TriageLearnTest, TimeOrderedSplitLeaksNoFutureTicket) {
  std::vector<LabeledTicket> ex;
  std::mt19937 rng(3);
  for (int i = 0; i < 400; ++i) {
    LabeledTicket t;
    t.id = "T" + std::to_string(1000 + i);
    bool printer = i % 2 == 0 || i >= 320;
    t.text.subject = printer ? "printer paper jam on floor " + std::to_string(rng() % 5) : "vpn tunnel drops";
    t.label = printer ? (i >= 320 ? "Print Team New" : "Print Team Old") : "Network";
    // Stored in shuffled order, with times: the loader sorts by time.
    t.time = 1700000000 + i * 60;
    ex.push_back(t);
  }
  std::shuffle(ex.begin(), ex.end(), rng);
  sort_by_time(ex);
  TrainOptions o = quick_options();
  TimeSplit split = time_split(ex.size(), o);
  EXPECT_EQ(split.test, 80u);
  for (size_t i = 1; i < ex.size(); ++i) ASSERT_LE(ex[i - 1].time, ex[i].time);
  auto ev = evaluate_examples(ex, o);
  ASSERT_TRUE(ev.is_ok()) << ev.status().to_string();
  // Every test ticket is "Print Team New", a label no training ticket has.
  EXPECT_EQ(family(*ev, "linear").test.accuracy, 0.0);
  EXPECT_EQ(family(*ev, "knn").test.accuracy, 0.0);
}

TEST(TriageLearnTest, CalibratedConfidenceMatchesAccuracyOnValidation) {
  auto examples = synthetic_examples(generate_tickets(easy_set(1500, 5)));
  auto ev = evaluate_examples(examples, quick_options());
  ASSERT_TRUE(ev.is_ok());
  const auto& lin = family(*ev, "linear");
  EXPECT_LT(lin.calibration_error, 0.1);
  // The served threshold reaches the precision target on validation and
  // about that on the held-out tickets.
  if (lin.validation.coverage > 0) {
    EXPECT_GE(lin.validation.precision, 0.9);
    EXPECT_GT(lin.test.precision, 0.8);
  }
}

TEST(TriageLearnTest, ThresholdIsTheSmallestConfidenceWithTargetPrecision) {
  // Confidences 0.9 .. 0.1; right for the top 8, then wrong.
  std::vector<Scored> p;
  std::vector<int> y;
  for (int i = 0; i < 10; ++i) {
    p.push_back({1, 0.95 - 0.1 * i});
    y.push_back(i < 8 || i == 9 ? 1 : 0);
  }
  EXPECT_DOUBLE_EQ(choose_threshold(p, y, 0.9, 1), p[9].confidence);  // 9 right of 10
  EXPECT_DOUBLE_EQ(choose_threshold(p, y, 0.95, 1), p[7].confidence);
  EXPECT_GT(choose_threshold(p, std::vector<int>(10, 0), 0.9, 1), 1.0);  // never precise: withhold all
}

TEST(TriageLearnTest, CoverageAtTargetUsesTheSlicesOwnThreshold) {
  // 20 predictions, confidences falling; the top 10 right, the rest wrong:
  // the top 11 still reach precision 0.9 (10 of 11), the top 12 do not.
  std::vector<Scored> p;
  std::vector<int> y;
  for (int i = 0; i < 20; ++i) {
    p.push_back({1, 0.99 - 0.04 * i});
    y.push_back(i < 10 ? 1 : 0);
  }
  Metrics m = evaluate(p, y, 2, 1.1, 0.9);
  EXPECT_DOUBLE_EQ(m.coverage, 0.0);  // the served threshold withholds all
  EXPECT_DOUBLE_EQ(m.coverage_at_target, 11.0 / 20);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);
}

TEST(TriageStoreTest, ModelRoundTripsThroughARealStore) {
  TempDir dir("roundtrip");
  // 40 groups and 2^18 slots: a model of more than one state value.
  SyntheticOptions so = easy_set(2000, 21);
  so.groups = 40;
  auto tickets = generate_tickets(so);
  TrainOptions o = quick_options();
  o.features.hash_bits = 18;
  std::vector<LabeledTicket> examples;
  std::vector<FieldPrediction> before;
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    put_tickets(*store, tickets);
    DatasetStats ds;
    auto loaded = load_examples(*store, "assignment_group", false, &ds);
    ASSERT_TRUE(loaded.is_ok());
    EXPECT_EQ(loaded->size(), synthetic_examples(tickets).size());
    EXPECT_GT(ds.skipped_open, 0u);
    examples = *loaded;
    auto rep = train_field(*store, o);
    ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
    EXPECT_TRUE(rep->activated);
    EXPECT_EQ(rep->version, "v000001");
    auto models = TriageModels::load(*store);
    ASSERT_TRUE(models.is_ok());
    for (size_t i = 0; i < 20; ++i) before.push_back(models->predict(examples[i].text)["assignment_group"]);
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto models = TriageModels::load(*store);
  ASSERT_TRUE(models.is_ok()) << models.status().to_string();
  ASSERT_EQ(models->served().size(), 1u);
  EXPECT_EQ(models->served()[0].version, "v000001");
  EXPECT_NE(models->served()[0].manifest_json.find("\"window\""), std::string::npos);
  for (size_t i = 0; i < before.size(); ++i) {
    auto p = models->predict(examples[i].text);
    ASSERT_EQ(p.count("assignment_group"), 1u);
    EXPECT_EQ(p["assignment_group"].value, before[i].value);
    EXPECT_DOUBLE_EQ(p["assignment_group"].confidence, before[i].confidence);
    EXPECT_LE(p["assignment_group"].alternatives.size(), 3u);
  }
  // The recipe is stored with the version and read back.
  auto stored = version_manifest(*store, "assignment_group", "v000001");
  ASSERT_TRUE(stored.is_ok()) << stored.status().to_string();
  auto recipe = stored_recipe(*stored);
  ASSERT_TRUE(recipe.is_ok()) << recipe.status().to_string();
  EXPECT_EQ(recipe->field, "assignment_group");
  EXPECT_EQ(recipe->features.hash_bits, 18u);
  EXPECT_DOUBLE_EQ(recipe->target_precision, o.target_precision);
  EXPECT_EQ(recipe->linear.l2, o.linear.l2);
  // A recipe stored before l2 was recorded was trained with 1e-6.
  {
    const std::string before_l2 =
        R"({"options": {"field": "f", "first_comment": false, "target_precision": 0.9, "holdout_fraction": 0.2, )"
        R"("validation_fraction": 0.2, "hash_bits": 18, "min_examples": 5)";
    auto old_recipe = stored_recipe(before_l2 + "}}");
    ASSERT_TRUE(old_recipe.is_ok()) << old_recipe.status().to_string();
    EXPECT_EQ(old_recipe->linear.l2, 1e-6f);
    auto with_l2 = stored_recipe(before_l2 + R"(, "l2": 0.0001}})");
    ASSERT_TRUE(with_l2.is_ok()) << with_l2.status().to_string();
    EXPECT_EQ(with_l2->linear.l2, 1e-4f);
    EXPECT_EQ(stored_recipe(before_l2 + R"(, "l2": -1}})").status().code(), StatusCode::kCorruption);
  }
  EXPECT_EQ(version_manifest(*store, "assignment_group", "v000002").status().code(), StatusCode::kNotFound);
  // A manifest without a recipe (an older version) and a damaged one.
  EXPECT_EQ(stored_recipe(R"({"field": "assignment_group"})").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(stored_recipe(R"({"options": {"field": "x"}})").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(stored_recipe("[").status().code(), StatusCode::kCorruption);
  // The model is larger than one state value (1 MiB), so it is split.
  auto versions = list_versions(*store, "assignment_group");
  ASSERT_TRUE(versions.is_ok());
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_TRUE((*versions)[0].active);
  const auto& manifest = (*versions)[0].manifest_json;
  auto parts_at = manifest.find("\"parts\":");
  ASSERT_NE(parts_at, std::string::npos) << manifest;
  EXPECT_GE(std::atoi(manifest.c_str() + parts_at + 8), 2) << manifest;
}

TEST(TriageStoreTest, ActivationRefusesAWorseModelAndFeedbackRelabels) {
  TempDir dir("activation");
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto tickets = generate_tickets(easy_set(700, 31));
  put_tickets(*store, tickets);
  auto first = train_field(*store, quick_options());
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  ASSERT_TRUE(first->activated);
  // Agents "correct" every ticket to a random group: the next model learns
  // noise, is worse on held-out tickets, and must not replace the first.
  std::mt19937 rng(5);
  const std::vector<std::string> groups = {"Network Operations", "Service Desk", "Messaging", "Telephony"};
  for (const auto& t : tickets) {
    std::string v = groups[rng() % groups.size()];
    ASSERT_TRUE(store->put_state("ticket_feedback/" + t.id,
                                 R"({"ticket_id":")" + t.id + R"(","field":"assignment_group","value":")" + v +
                                     R"(","ts":1})")
                    .is_ok());
  }
  DatasetStats ds;
  auto relabelled = load_examples(*store, "assignment_group", false, &ds);
  ASSERT_TRUE(relabelled.is_ok());
  EXPECT_GT(ds.feedback_applied, relabelled->size() / 2);
  auto second = train_field(*store, quick_options());
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_FALSE(second->activated) << second->decision;
  EXPECT_EQ(second->version, "v000002");
  EXPECT_NE(second->decision.find("kept, not served"), std::string::npos);
  auto active = active_version(*store, "assignment_group");
  ASSERT_TRUE(active.is_ok());
  EXPECT_EQ(*active, "v000001");
  auto versions = list_versions(*store);
  ASSERT_TRUE(versions.is_ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_TRUE((*versions)[0].active);
  EXPECT_FALSE((*versions)[1].active);
  // --force activates it anyway.
  TrainOptions forced = quick_options();
  forced.force = true;
  auto third = train_field(*store, forced);
  ASSERT_TRUE(third.is_ok());
  EXPECT_TRUE(third->activated);
}

TEST(TriageServeTest, WithheldBelowTheThreshold) {
  TempDir dir("withheld");
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto examples = synthetic_examples(generate_tickets(easy_set(600, 41)));
  TrainOptions o = quick_options();
  auto ev = evaluate_examples(examples, o);
  ASSERT_TRUE(ev.is_ok());
  auto model = fit_serving_model(examples, *ev, o);
  ASSERT_TRUE(model.is_ok());
  for (double threshold : {0.0, 0.5, 1.01}) {
    (*model)->threshold = threshold;
    auto v = store_model(*store, **model, "{}");
    ASSERT_TRUE(v.is_ok());
    ASSERT_TRUE(activate(*store, "assignment_group", *v).is_ok());
    auto models = TriageModels::load(*store);
    ASSERT_TRUE(models.is_ok());
    size_t withheld = 0;
    for (size_t i = 0; i < 100; ++i) {
      auto p = models->predict_field("assignment_group", examples[i].text);
      ASSERT_TRUE(p.is_ok());
      EXPECT_EQ(p->withheld, p->confidence < threshold);
      withheld += p->withheld;
      EXPECT_FALSE(p->value.empty());
    }
    if (threshold == 0.0) {
      EXPECT_EQ(withheld, 0u);
    }
    if (threshold > 1) {
      EXPECT_EQ(withheld, 100u);
    }
  }
  auto models = TriageModels::load(*store);
  ASSERT_TRUE(models.is_ok());
  EXPECT_EQ(models->predict_field("nope", examples[0].text).status().code(), StatusCode::kNotFound);
}

TEST(TriageBadInputTest, ClearErrors) {
  TrainOptions o = quick_options();
  auto examples = synthetic_examples(generate_tickets(easy_set(200)));
  o.field = "";
  EXPECT_EQ(evaluate_examples(examples, o).status().code(), StatusCode::kInvalidArgument);
  o = quick_options();
  for (auto& e : examples) e.label = "Service Desk";
  auto one = evaluate_examples(examples, o);
  EXPECT_EQ(one.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(one.status().message().find("same value"), std::string::npos) << one.status().message();
  examples.resize(10);
  EXPECT_NE(evaluate_examples(examples, o).status().message().find("at least"), std::string::npos);

  TempDir dir("empty");
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto empty = train_field(*store, o);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("0 closed tickets"), std::string::npos) << empty.status().message();
  auto none = TriageModels::load(*store);
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(none->predict({"vpn down", "", {}}).empty());
  o.field = "a/b";
  examples = synthetic_examples(generate_tickets(easy_set(200)));
  auto ev = evaluate_examples(examples, quick_options());
  ASSERT_TRUE(ev.is_ok());
  auto m = fit_serving_model(examples, *ev, quick_options());
  ASSERT_TRUE(m.is_ok());
  (*m)->field = "a/b";
  EXPECT_EQ(store_model(*store, **m, "{}").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(activate(*store, "assignment_group", "v000009").code(), StatusCode::kNotFound);
}

// A stored model cut short or with flipped bytes is an error, never a crash.
TEST(TriageBadInputTest, CorruptModelBytes) {
  // Enough tickets for a validation slice of at least min_points (50), so
  // the model carries a confidence map (TRF2).
  auto examples = synthetic_examples(generate_tickets(easy_set(500)));
  TrainOptions o = quick_options();
  o.features.hash_bits = 12;
  auto ev = evaluate_examples(examples, o);
  ASSERT_TRUE(ev.is_ok());
  auto m = fit_serving_model(examples, *ev, o);
  ASSERT_TRUE(m.is_ok());
  ASSERT_FALSE((*m)->calibration.empty());
  const std::string bytes = (*m)->serialize();
  ASSERT_EQ(bytes.substr(0, 4), "TRF2");
  ASSERT_TRUE(FieldModel::deserialize(bytes).is_ok());
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 3) {
    EXPECT_FALSE(FieldModel::deserialize(std::string_view(bytes).substr(0, cut)).is_ok()) << cut;
  }
  const TicketText probe{"vpn", "down", {}};
  // Header (magic, family, temperature, threshold: 21 bytes), the map (a
  // count and 8 bytes a breakpoint) and the start of the labels.
  const size_t header_and_map = 21 + 4 + 8 * (*m)->calibration.x().size();
  std::mt19937 rng(9);
  for (int i = 0; i < 600; ++i) {
    std::string b = bytes;
    const size_t at = rng() % std::min(bytes.size(), header_and_map + 64);
    b[at] ^= static_cast<char>(1 + rng() % 255);
    auto r = FieldModel::deserialize(b);
    if (r.is_ok()) (void)(*r)->probabilities(probe);
    // Flipped and truncated as well: whatever still loads must serve.
    auto t = FieldModel::deserialize(std::string_view(b).substr(0, b.size() - 1 - rng() % 16));
    if (t.is_ok()) (void)(*t)->probabilities(probe);
  }
  TempDir dir("corrupt");
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto v = store_model(*store, **m, "{}");
  ASSERT_TRUE(v.is_ok());
  ASSERT_TRUE(activate(*store, o.field, *v).is_ok());
  ASSERT_TRUE(store->put_state("triage/model/" + o.field + "/" + *v + "/part/0", "garbage").is_ok());
  auto bad = TriageModels::load(*store);
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find(*v), std::string::npos);
}

// The CSV connector reads the generated export with arbitrary column names
// mapped by --csv-map, metadata fields included.
TEST(TriageDataTest, GeneratedCsvIngestsWithCsvMap) {
  TempDir dir("csv");
  auto tickets = generate_tickets(easy_set(50));
  const auto file = dir.path() / "tickets.csv";
  std::ofstream(file) << tickets_csv(tickets);
  FetchOptions fo;
  std::string map = tickets_csv_map();
  for (size_t p = 0; p <= map.size();) {
    size_t c = std::min(map.find(',', p), map.size());
    std::string m = map.substr(p, c - p);
    fo.csv_columns[m.substr(0, m.find('='))] = m.substr(m.find('=') + 1);
    p = c + 1;
  }
  std::vector<Document> docs;
  std::vector<std::string> errors;
  FetchSink sink;
  sink.on_document = [&](Document&& d) { docs.push_back(std::move(d)); };
  sink.on_error = [&](const Status& e) { errors.push_back(e.message()); };
  ASSERT_TRUE(fetch_path(file, fo, sink).is_ok());
  EXPECT_TRUE(errors.empty()) << errors.front();
  ASSERT_EQ(docs.size(), tickets.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    Document want = ticket_document(tickets[i]);
    EXPECT_EQ(docs[i].id, want.id);
    EXPECT_EQ(docs[i].kind, "ticket");
    EXPECT_EQ(docs[i].metadata, want.metadata);
    EXPECT_EQ(docs[i].created_at, want.created_at);
    // The close notes are not mapped, so they never reach the features.
    EXPECT_EQ(docs[i].text.find("Resolved by"), std::string::npos);
  }
}

}  // namespace
}  // namespace ragd::triage

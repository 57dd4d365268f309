// Training and evaluation of one triage field (`ragd triage train|eval`).
//
// The examples, in time order, are split three ways: the newest
// holdout_fraction is the test slice; of the older part, the newest
// validation_fraction is the validation slice and the rest is "fit".
//   1. Each family is tuned on fit -> validation: kNN's k, the linear
//      model's epochs and class weighting; the linear model's temperature,
//      the linear and blend families' confidence maps (calibration.h) and
//      every family's served threshold come from the validation slice.
//   2. Each family is refit on fit+validation and measured on the test
//      slice with those settings: the held-out metrics reported side by side.
//   3. The family with the best validation accuracy among the servable ones
//      (majority, linear, blend = linear mixed with kNN votes) is chosen; train_field() refits it on all examples
//      for serving, keeping temperature, map and threshold from step 1.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "index/store.h"
#include "ragd/status.h"
#include "triage/dataset.h"
#include "triage/learners.h"
#include "triage/model.h"

namespace ragd::triage {

struct TrainOptions {
  // Metadata field to predict. Default: "assignment_group".
  std::string field = "assignment_group";
  // Newest share of the examples held out for the test metrics. Default: 0.2.
  double holdout_fraction = 0.2;
  // Newest share of the rest used to tune and calibrate. Default: 0.2.
  double validation_fraction = 0.2;
  // Precision the served threshold must reach on validation. Default: 0.9.
  double target_precision = 0.9;
  // Fewest examples to train on; fewer is an error. Default: 30.
  size_t min_examples = 30;
  // Append the first comment to the description. Default: false.
  bool first_comment = false;
  // Features of the linear model.
  FeatureOptions features;
  // Linear learner settings (epochs is the upper bound of the search).
  // Default: up to 8 epochs, L2 1e-4 (LinearOptions' own default is 1e-6;
  // on real ticket text 1e-4 gains accuracy and coverage at precision 0.9).
  LinearOptions linear = {.epochs = 8, .l2 = 1e-4f};
  // Adagrad base steps tried on validation. Default: {0.1, 0.4}.
  std::vector<float> learning_rates = {0.1f, 0.4f};
  // Class weightings tried on validation (LinearOptions::class_weighting).
  // Default: {0, 1, 2}.
  std::vector<int> class_weightings = {0, 1, 2};
  // k values tried for the kNN baseline. Default: 1, 3, 5, 10, 20, 40.
  std::vector<int> knn_k = {1, 3, 5, 10, 20, 40};
  // kNN weights tried for the blend family ((1 - w) * linear + w * kNN);
  // empty: no blend. Default: 0.2, 0.35, 0.5.
  std::vector<double> blend_weights = {0.2, 0.35, 0.5};
  // A new model is activated only if its test accuracy and macro-F1 are at
  // least the active model's minus this. Default: 0.
  double activation_tolerance = 0;
  // Activate even if worse. Default: false.
  bool force = false;
  // False: store the new version without activating it, a candidate for
  // `ragd eval suite --candidate-triage FIELD@VERSION` and `ragd triage
  // activate`. Default: true.
  bool activate = true;
  // Called before `force` activates a model that is worse than the active
  // one, with the field, the new version and the verdict, so the override is
  // on record before it serves (the audit log: service/triage_retrainer.h).
  // Its error stops the activation and is returned; the new version stays
  // stored, not served. Unset: nothing is called.
  std::function<Status(const std::string& field, const std::string& version, const std::string& verdict)>
      before_forced_activation;
};

struct FamilyResult {
  std::string family;      // "majority", "knn", "linear", "blend"
  std::string params;      // chosen settings, e.g. "k=10"
  Metrics validation;      // tuned on fit, measured on validation
  Metrics test;            // refit on fit+validation, measured on test
  double calibration_error = 0;  // ECE on validation (where the map was fitted)
  double test_calibration_error = 0;  // ECE on test (refit model, validation's map)
  bool servable = false;
};

struct Evaluation {
  std::string field;
  DatasetStats data;
  size_t examples = 0, fit = 0, validation = 0, test = 0;
  size_t classes = 0;
  std::vector<FamilyResult> families;
  std::string chosen;      // family name
  double seconds = 0;
  // Settings to refit the chosen family for serving.
  LinearOptions linear;
  double temperature = 1;
  ConfidenceMap calibration;        // linear family's, after the temperature
  ConfidenceMap blend_calibration;  // blend family's, after the mix
  double threshold = 1;       // of the chosen family
  double blend = 0;           // kNN weight of the blend family
  double blend_threshold = 1;
  int knn_k = 10;
};

// Sizes of the three time-ordered slices of n examples: [0, fit) is fit,
// [fit, fit + validation) validation, the rest test.
struct TimeSplit {
  size_t fit = 0, validation = 0, test = 0;
};
TimeSplit time_split(size_t n, const TrainOptions& o);

// Steps 1-2 on examples in time order (see above). kInvalidArgument when
// there are too few examples or only one label.
Result<Evaluation> evaluate_examples(const std::vector<LabeledTicket>& examples, const TrainOptions& o);

// Step 3: the chosen family refit on all examples.
Result<std::unique_ptr<FieldModel>> fit_serving_model(const std::vector<LabeledTicket>& examples,
                                                      const Evaluation& eval, const TrainOptions& o);

struct TrainReport {
  Evaluation eval;
  std::string version;          // stored version
  std::string previous;         // active version before, "" if none
  bool activated = false;
  std::string decision;         // why (not) activated
  double seconds = 0;           // whole run
};

// The manifest stored with a model (metrics, window, time, and the training
// settings under "options": recipe_json) as JSON.
std::string manifest_json(const Evaluation& eval, const FieldModel& model, int64_t trained_at,
                          const TrainOptions& o);

// A version's recipe: the settings it was trained with that a caller can
// set (field, first comment, target precision, the two slice fractions,
// hash bits, minimum examples) and the linear model's L2. The tuning grids
// are the trainer's own, so they are not part of it.
std::string recipe_json(const TrainOptions& o);
// The L2 a recipe without "l2" was trained with: the default before it was
// recorded (1e-6), not today's.
inline constexpr float kRecipeL2BeforeRecorded = 1e-6f;
// The recipe stored in a manifest, over default TrainOptions (but "l2"
// absent reads as kRecipeL2BeforeRecorded).
// kFailedPrecondition when the manifest holds none (a version trained before
// recipes were stored), kCorruption when it is not valid.
Result<TrainOptions> stored_recipe(std::string_view manifest_json);

// Loads the examples of o.field from the store, evaluates, refits, stores a
// new version and activates it when it is not worse than the active one.
Result<TrainReport> train_field(Store& store, const TrainOptions& o);
// Loads and evaluates only (nothing is stored).
Result<Evaluation> evaluate_field(const Store& store, const TrainOptions& o);

}  // namespace ragd::triage

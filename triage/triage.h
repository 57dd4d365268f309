// Triage: the assignment group, category, priority, ... of a new ticket,
// predicted by models learned from the organisation's ticket history
// (`ragd triage train`, triage/trainer.h) and stored in the Store.
//
// Serving API for /v1/tickets/assist:
//   auto models = TriageModels::load(store);      // the active model per field
//   auto preds = models->predict({subject, description, fields});
//   preds["assignment_group"].withheld ? "route manually" : preds[...].value
//
// Thread safety: a loaded TriageModels is immutable; predict() may run on
// many threads at once. reload() replaces the models in place: call it on an
// object no other thread uses (load a new one and swap a shared_ptr).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "index/store.h"
#include "ragd/status.h"
#include "triage/features.h"
#include "triage/model.h"

namespace ragd::triage {

struct FieldPrediction {
  // The most probable value; filled even when withheld (a hint to the agent).
  std::string value;
  // Calibrated probability that `value` is right.
  double confidence = 0;
  // True when confidence is below the model's served threshold: the ticket
  // should be routed manually.
  bool withheld = true;
  // The next most probable values (up to 3) and their probabilities.
  std::vector<std::pair<std::string, double>> alternatives;
  // The stored model version that made the prediction ("v000003").
  std::string model_version;
};

// What /v1/stats shows of a field's served model.
struct ServedModelInfo {
  std::string field;
  std::string version;
  std::string manifest_json;  // the stored manifest (metrics, window, time)
};

class TriageModels {
 public:
  // The active model of every trained field. No trained field: an empty set
  // (predict() returns an empty map), not an error. A stored model that
  // cannot be read is an error (kCorruption) naming field and version.
  static Result<TriageModels> load(const Store& store);
  // Re-reads the active models (after `ragd triage train`).
  Status reload(const Store& store);

  std::map<std::string, FieldPrediction> predict(const TicketText& ticket) const;
  // One field; kNotFound when no model serves it.
  Result<FieldPrediction> predict_field(const std::string& field, const TicketText& ticket) const;

  std::vector<ServedModelInfo> served() const;
  bool empty() const { return models_.empty(); }

 private:
  std::map<std::string, std::shared_ptr<const FieldModel>> models_;
  std::vector<ServedModelInfo> info_;
};

// Stored models (state keys, index/store.h list_state):
//   triage/active/<field>                      -> version serving the field
//   triage/model/<field>/<version>             -> manifest JSON
//   triage/model/<field>/<version>/part/<n>    -> model bytes, <= 1000000 each
//   triage/catalog/<field>/<version>           -> copy of the manifest, for listing
struct StoredVersion {
  std::string field;
  std::string version;
  bool active = false;
  std::string manifest_json;
};
Result<std::vector<StoredVersion>> list_versions(const Store& store, const std::string& field = "");
// The active version of every field with its manifest (cheap: no model parts
// are read), for /v1/stats.
Result<std::vector<StoredVersion>> served_versions(const Store& store);
// The active version of a field, "" when none.
Result<std::string> active_version(const Store& store, const std::string& field);
// Writes a model (its parts, then its manifest) under a new version number;
// returns the version. Does not activate it.
Result<std::string> store_model(Store& store, const FieldModel& model, const std::string& manifest_json);
Status activate(Store& store, const std::string& field, const std::string& version);
// A stored version's manifest; kNotFound when the version is not stored,
// kInvalidArgument for a field or version name that cannot be one.
Result<std::string> version_manifest(const Store& store, const std::string& field, const std::string& version);
Result<std::unique_ptr<FieldModel>> load_model(const Store& store, const std::string& field,
                                               const std::string& version);

}  // namespace ragd::triage

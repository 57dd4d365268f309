#include "triage/triage.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

namespace ragd::triage {
namespace {

constexpr size_t kPartBytes = 1000000;  // a state value is at most 1 MiB
const std::string kModelPrefix = "triage/model/";
const std::string kActivePrefix = "triage/active/";
// A copy of each manifest under its own prefix, so listing versions reads
// no model parts.
const std::string kCatalogPrefix = "triage/catalog/";

std::string model_key(const std::string& field, const std::string& version) {
  return kModelPrefix + field + "/" + version;
}

// FNV-1a 64 over the model bytes, kept in the manifest to check the parts.
uint64_t checksum(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Status check_field_name(const std::string& field) {
  if (field.empty() || field.size() > 128 || field.find('/') != std::string::npos) {
    return Status::invalid_argument("triage field name '" + field.substr(0, 128) +
                                    "': must be 1-128 characters without '/'");
  }
  return Status::ok();
}

// Versions are written as "v" and at least six digits (store_model).
Status check_version_name(const std::string& field, const std::string& version) {
  const bool ok = version.size() >= 7 && version.size() <= 12 && version[0] == 'v' &&
                  std::all_of(version.begin() + 1, version.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!ok) {
    return Status::invalid_argument("triage model version '" + version.substr(0, 64) + "' of '" + field.substr(0, 128) +
                                    "': versions look like v000012 (ragd triage list)");
  }
  return Status::ok();
}

}  // namespace

Result<std::string> active_version(const Store& store, const std::string& field) {
  auto v = store.get_state(kActivePrefix + field);
  if (!v.is_ok()) return v.status().with_context("reading the active triage model of '" + field + "'");
  return *v;
}

Result<std::vector<StoredVersion>> list_versions(const Store& store, const std::string& field) {
  auto recs = store.list_state(field.empty() ? kCatalogPrefix : kCatalogPrefix + field + "/", 100000);
  if (!recs.is_ok()) return recs.status().with_context("listing triage models");
  std::vector<StoredVersion> out;
  std::map<std::string, std::string> active;
  for (auto& [key, value] : *recs) {
    std::string rest = key.substr(kCatalogPrefix.size());
    auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    StoredVersion v;
    v.field = rest.substr(0, slash);
    v.version = rest.substr(slash + 1);
    v.manifest_json = value;
    if (!active.count(v.field)) {
      auto a = active_version(store, v.field);
      if (!a.is_ok()) return a.status();
      active[v.field] = *a;
    }
    v.active = active[v.field] == v.version;
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<StoredVersion>> served_versions(const Store& store) {
  auto actives = store.list_state(kActivePrefix, 10000);
  if (!actives.is_ok()) return actives.status().with_context("listing active triage models");
  std::vector<StoredVersion> out;
  for (const auto& [key, version] : *actives) {
    if (version.empty()) continue;
    StoredVersion v;
    v.field = key.substr(kActivePrefix.size());
    v.version = version;
    v.active = true;
    auto m = store.get_state(model_key(v.field, version));
    if (!m.is_ok()) return m.status().with_context("reading triage model " + v.field + " " + version);
    v.manifest_json = *m;
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::string> store_model(Store& store, const FieldModel& model, const std::string& manifest_json) {
  if (Status st = check_field_name(model.field); !st.is_ok()) return st;
  auto versions = list_versions(store, model.field);
  if (!versions.is_ok()) return versions.status();
  int last = 0;
  for (const auto& v : *versions) last = std::max(last, std::atoi(v.version.c_str() + 1));
  char name[16];
  std::snprintf(name, sizeof name, "v%06d", last + 1);
  const std::string version = name;
  const std::string bytes = model.serialize();
  const std::string key = model_key(model.field, version);
  size_t parts = 0;
  for (size_t off = 0; off < bytes.size(); off += kPartBytes, ++parts) {
    Status st = store.put_state(key + "/part/" + std::to_string(parts), bytes.substr(off, kPartBytes));
    if (!st.is_ok()) return st.with_context("storing triage model " + model.field + " " + version);
  }
  // The manifest goes last: a version without one (a crash mid-write) is
  // never listed, so never activated.
  auto manifest = nlohmann::json::parse(manifest_json, nullptr, false);
  if (!manifest.is_object()) manifest = nlohmann::json::object();
  manifest["version"] = version;
  manifest["parts"] = parts;
  manifest["bytes"] = bytes.size();
  manifest["checksum"] = std::to_string(checksum(bytes));
  Status st = store.put_state(key, manifest.dump());
  if (st.is_ok()) st = store.put_state(kCatalogPrefix + model.field + "/" + version, manifest.dump());
  if (!st.is_ok()) return st.with_context("storing triage model " + model.field + " " + version);
  return version;
}

Status activate(Store& store, const std::string& field, const std::string& version) {
  auto m = version_manifest(store, field, version);
  if (!m.is_ok()) return m.status();
  return store.put_state(kActivePrefix + field, version);
}

Result<std::string> version_manifest(const Store& store, const std::string& field, const std::string& version) {
  if (Status st = check_field_name(field); !st.is_ok()) return st;
  if (Status st = check_version_name(field, version); !st.is_ok()) return st;
  auto m = store.get_state(model_key(field, version));
  if (!m.is_ok()) return m.status();
  if (m->empty()) return Status::not_found("triage model " + field + " " + version + " is not stored");
  return std::move(*m);
}

Result<std::unique_ptr<FieldModel>> load_model(const Store& store, const std::string& field,
                                               const std::string& version) {
  const std::string key = model_key(field, version);
  const std::string where = "triage model " + field + " " + version;
  auto manifest = store.get_state(key);
  if (!manifest.is_ok()) return manifest.status().with_context(where);
  if (manifest->empty()) return Status::not_found(where + " is not stored");
  auto j = nlohmann::json::parse(*manifest, nullptr, false);
  if (!j.is_object()) return Status::corruption(where + ": manifest is not a JSON object");
  const long parts = j.value("parts", 0L);
  const std::string sum = j.value("checksum", std::string());
  if (parts <= 0 || parts > 10000) return Status::corruption(where + ": manifest names no parts");
  std::string bytes;
  for (long i = 0; i < parts; ++i) {
    auto p = store.get_state(key + "/part/" + std::to_string(i));
    if (!p.is_ok()) return p.status().with_context(where);
    if (p->empty()) return Status::corruption(where + ": part " + std::to_string(i) + " is missing");
    bytes += *p;
  }
  if (std::to_string(checksum(bytes)) != sum) return Status::corruption(where + ": checksum mismatch");
  auto m = FieldModel::deserialize(bytes);
  if (!m.is_ok()) return m.status().with_context(where);
  return m;
}

Result<TriageModels> TriageModels::load(const Store& store) {
  TriageModels t;
  Status st = t.reload(store);
  if (!st.is_ok()) return st;
  return t;
}

Status TriageModels::reload(const Store& store) {
  auto actives = store.list_state(kActivePrefix, 10000);
  if (!actives.is_ok()) return actives.status().with_context("listing active triage models");
  std::map<std::string, std::shared_ptr<const FieldModel>> models;
  std::vector<ServedModelInfo> info;
  for (const auto& [key, version] : *actives) {
    std::string field = key.substr(kActivePrefix.size());
    if (version.empty()) continue;
    auto m = load_model(store, field, version);
    if (!m.is_ok()) return m.status();
    models[field] = std::shared_ptr<const FieldModel>(std::move(*m));
    auto manifest = store.get_state(model_key(field, version));
    if (!manifest.is_ok()) return manifest.status();
    info.push_back({field, version, *manifest});
  }
  models_ = std::move(models);
  info_ = std::move(info);
  return Status::ok();
}

Result<FieldPrediction> TriageModels::predict_field(const std::string& field, const TicketText& ticket) const {
  auto it = models_.find(field);
  if (it == models_.end()) return Status::not_found("no triage model serves '" + field + "' (run `ragd triage train`)");
  const FieldModel& m = *it->second;
  std::vector<float> p = m.probabilities(ticket);
  std::vector<size_t> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  size_t top = std::min<size_t>(4, order.size());
  std::partial_sort(order.begin(), order.begin() + top, order.end(),
                    [&](size_t a, size_t b) { return p[a] != p[b] ? p[a] > p[b] : a < b; });
  FieldPrediction out;
  if (top == 0) return out;
  out.value = m.labels[order[0]];
  out.confidence = p[order[0]];
  out.withheld = out.confidence < m.threshold;
  for (size_t i = 1; i < top; ++i) out.alternatives.emplace_back(m.labels[order[i]], p[order[i]]);
  for (const auto& info : info_) {
    if (info.field == field) out.model_version = info.version;
  }
  return out;
}

std::map<std::string, FieldPrediction> TriageModels::predict(const TicketText& ticket) const {
  std::map<std::string, FieldPrediction> out;
  for (const auto& [field, m] : models_) {
    auto p = predict_field(field, ticket);
    if (p.is_ok()) out[field] = std::move(*p);
  }
  return out;
}

std::vector<ServedModelInfo> TriageModels::served() const { return info_; }

}  // namespace ragd::triage

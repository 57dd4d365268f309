#include "govern/registry.h"

#include <cctype>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "auth/crypto.h"
#include "model/gguf.h"
#include "ragd/clock.h"

namespace ragd::govern {
namespace {

using json = nlohmann::json;
constexpr const char* kEntryPrefix = "model_registry/";
constexpr const char* kActivePrefix = "model_registry_active/";

Status check_model_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return Status::invalid_argument("model name must be 1-64 characters");
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return Status::invalid_argument("model name '" + std::string(name) + "' may hold only letters, digits, . _ -");
    }
  }
  return Status::ok();
}

std::string str_or_empty(const GgufFile& f, std::string_view key) {
  auto v = f.get_str(key);
  return v.is_ok() ? std::string(*v) : std::string();
}

bool is_encoder_arch(const std::string& arch) {
  return arch == "bert" || arch == "nomic-bert" || arch == "jina-bert-v2" || arch == "roberta";
}

}  // namespace

const char* model_role_name(ModelRole r) { return r == ModelRole::kLlm ? "llm" : "encoder"; }

std::optional<ModelRole> parse_model_role(std::string_view name) {
  if (name == "llm") return ModelRole::kLlm;
  if (name == "encoder") return ModelRole::kEncoder;
  return std::nullopt;
}

Result<ModelEntry> inspect_model(const std::string& name, const std::string& file, ModelRole role) {
  RAGD_RETURN_IF_ERROR(check_model_name(name));
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(file, ec);
  if (ec || !std::filesystem::is_regular_file(abs, ec)) return Status::not_found("no such model file: " + file);
  auto gguf = GgufFile::open(abs.string());
  if (!gguf.is_ok()) return gguf.status().with_context("registering " + file);
  const GgufFile& g = **gguf;
  ModelEntry e;
  e.name = name;
  e.role = role;
  e.path = abs.string();
  e.size_bytes = g.file_size();
  e.architecture = str_or_empty(g, "general.architecture");
  if (e.architecture.empty()) return Status::corruption(file + ": no general.architecture: not a model GGUF file");
  if (role == ModelRole::kEncoder && !is_encoder_arch(e.architecture)) {
    return Status::invalid_argument(file + ": architecture '" + e.architecture +
                                    "' is not an encoder (BERT family); register it with --role llm");
  }
  if (role == ModelRole::kLlm && is_encoder_arch(e.architecture)) {
    return Status::invalid_argument(file + ": architecture '" + e.architecture +
                                    "' is an encoder; register it with --role encoder");
  }
  e.model_name = str_or_empty(g, "general.name");
  e.license = str_or_empty(g, "general.license");
  e.license_link = str_or_empty(g, "general.license.link");
  if (e.license_link.empty()) e.license_link = str_or_empty(g, "general.license.name");
  if (auto ft = g.get_u32("general.file_type"); ft.is_ok()) e.file_type = *ft;
  // The weights' type: the tensor type holding the most bytes among
  // matrices (norms and biases stay F32 in every quantisation).
  std::map<std::string, uint64_t> bytes_by_type;
  for (const auto& t : g.tensors()) {
    if (t.n_dims < 2) continue;
    std::string type = ggml_type_name(t.type);  // "q8_0": named "Q8_0" as quantisations usually are
    for (char& c : type) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    bytes_by_type[type] += t.n_bytes;
  }
  uint64_t best = 0;
  for (const auto& [type, n] : bytes_by_type) {
    if (n > best) {
      best = n;
      e.quantisation = type;
    }
  }
  if (e.quantisation.empty()) e.quantisation = "none";
  RAGD_ASSIGN_OR_RETURN(e.sha256, auth::sha256_file_hex(abs.string()));
  e.added_ms = unix_ms();
  return e;
}

std::string model_entry_to_json(const ModelEntry& e) {
  json j{{"name", e.name},
         {"role", model_role_name(e.role)},
         {"path", e.path},
         {"sha256", e.sha256},
         {"size_bytes", e.size_bytes},
         {"architecture", e.architecture},
         {"quantisation", e.quantisation},
         {"file_type", e.file_type},
         {"model_name", e.model_name},
         {"license", e.license},
         {"license_link", e.license_link},
         {"added_ms", e.added_ms}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ModelEntry> model_entry_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::corruption("model registry entry is not a JSON object");
  ModelEntry e;
  try {
    e.name = j.at("name").get<std::string>();
    auto role = parse_model_role(j.at("role").get<std::string>());
    if (!role) return Status::corruption("model registry entry '" + e.name + "': unknown role");
    e.role = *role;
    e.path = j.at("path").get<std::string>();
    e.sha256 = j.at("sha256").get<std::string>();
    e.size_bytes = j.value("size_bytes", uint64_t{0});
    e.architecture = j.value("architecture", "");
    e.quantisation = j.value("quantisation", "");
    e.file_type = j.value("file_type", uint32_t{0});
    e.model_name = j.value("model_name", "");
    e.license = j.value("license", "");
    e.license_link = j.value("license_link", "");
    e.added_ms = j.value("added_ms", int64_t{0});
  } catch (const json::exception& ex) {
    return Status::corruption(std::string("model registry entry: ") + ex.what());
  }
  return e;
}

Status add_model(Store& store, const ModelEntry& entry) {
  RAGD_RETURN_IF_ERROR(check_model_name(entry.name));
  RAGD_ASSIGN_OR_RETURN(std::string existing, store.get_state(kEntryPrefix + entry.name));
  if (!existing.empty()) {
    return Status::already_exists("model '" + entry.name + "' is already registered");
  }
  return store.put_state(kEntryPrefix + entry.name, model_entry_to_json(entry));
}

Result<std::vector<ModelEntry>> list_models(const Store& store) {
  RAGD_ASSIGN_OR_RETURN(auto rows, store.list_state(kEntryPrefix, SIZE_MAX));
  RAGD_ASSIGN_OR_RETURN(std::string active_llm, store.get_state(std::string(kActivePrefix) + "llm"));
  RAGD_ASSIGN_OR_RETURN(std::string active_encoder, store.get_state(std::string(kActivePrefix) + "encoder"));
  std::vector<ModelEntry> out;
  for (const auto& [key, value] : rows) {
    RAGD_ASSIGN_OR_RETURN(ModelEntry e, model_entry_from_json(value));
    e.active = e.name == (e.role == ModelRole::kLlm ? active_llm : active_encoder);
    out.push_back(std::move(e));
  }
  return out;
}

Result<ModelEntry> activate_model(Store& store, const std::string& name) {
  RAGD_RETURN_IF_ERROR(check_model_name(name));
  RAGD_ASSIGN_OR_RETURN(std::string value, store.get_state(kEntryPrefix + name));
  if (value.empty()) return Status::not_found("no model '" + name + "' in the registry (ragd models add)");
  RAGD_ASSIGN_OR_RETURN(ModelEntry e, model_entry_from_json(value));
  auto sha = auth::sha256_file_hex(e.path);
  if (!sha.is_ok()) return Status::failed_precondition("model '" + name + "': " + sha.status().message());
  if (*sha != e.sha256) {
    return Status::failed_precondition("model '" + name + "': " + e.path +
                                       " changed since it was registered (sha256 differs); register it again");
  }
  RAGD_RETURN_IF_ERROR(store.put_state(std::string(kActivePrefix) + model_role_name(e.role), e.name));
  e.active = true;
  return e;
}

Result<std::optional<ModelEntry>> active_model(const Store& store, ModelRole role) {
  RAGD_ASSIGN_OR_RETURN(std::string name, store.get_state(std::string(kActivePrefix) + model_role_name(role)));
  if (name.empty()) return std::optional<ModelEntry>();
  RAGD_ASSIGN_OR_RETURN(std::string value, store.get_state(kEntryPrefix + name));
  if (value.empty()) return std::optional<ModelEntry>();
  RAGD_ASSIGN_OR_RETURN(ModelEntry e, model_entry_from_json(value));
  e.active = true;
  return std::optional<ModelEntry>(std::move(e));
}

}  // namespace ragd::govern

// The model registry (issue 16, point 1): which GGUF files an operator has
// registered, with what they are, and which one of each role is active.
// Kept in the store's state keys (index/store.h), so it travels with the
// data directory and a server sees what `ragd models` wrote:
//
//   model_registry/<name>        the entry (JSON)
//   model_registry_active/<role> the active entry's name ("llm", "encoder")
//
//   inspect_model(name, file, role) -> ModelEntry   (sha256, GGUF metadata)
//   add_model(store, entry) / list_models(store) / activate_model(store, name)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "index/store.h"
#include "ragd/status.h"

namespace ragd::govern {

enum class ModelRole { kLlm, kEncoder };
const char* model_role_name(ModelRole r);  // "llm", "encoder"
std::optional<ModelRole> parse_model_role(std::string_view name);

struct ModelEntry {
  std::string name;          // 1-64 of a-z A-Z 0-9 . _ -
  ModelRole role = ModelRole::kLlm;
  std::string path;          // absolute path of the file when added
  std::string sha256;        // of the whole file, hex (OpenSSL)
  uint64_t size_bytes = 0;
  std::string architecture;  // general.architecture ("llama", "qwen2", "bert")
  std::string quantisation;  // the weights' dominant tensor type by bytes ("Q8_0", "F16")
  uint32_t file_type = 0;    // general.file_type when present, else 0
  std::string model_name;    // general.name, "" when absent
  std::string license;       // general.license, "" when absent
  std::string license_link;  // general.license.link / general.license.name, "" when absent
  int64_t added_ms = 0;      // unix ms
  bool active = false;       // filled by list_models()
};

// Reads the file's GGUF header and hashes it. Errors: kInvalidArgument for a
// bad name, kNotFound / kIoError for the file, kCorruption for a file that
// is not GGUF, kInvalidArgument when the architecture does not fit the role
// (an encoder must be a BERT-family model, an LLM must not be).
Result<ModelEntry> inspect_model(const std::string& name, const std::string& file, ModelRole role);

std::string model_entry_to_json(const ModelEntry& e);
Result<ModelEntry> model_entry_from_json(std::string_view text);

// Errors: kAlreadyExists when the name is taken (remove it first).
Status add_model(Store& store, const ModelEntry& entry);
// Every entry in name order, `active` set on the active one of each role.
Result<std::vector<ModelEntry>> list_models(const Store& store);
// Makes `name` the active model of its role. Errors: kNotFound. The file
// must still hash to the registered sha256 (kFailedPrecondition otherwise:
// the file changed since it was registered).
Result<ModelEntry> activate_model(Store& store, const std::string& name);
// The active entry of a role; nullopt when none is active.
Result<std::optional<ModelEntry>> active_model(const Store& store, ModelRole role);

}  // namespace ragd::govern

#include "ingest/limits.h"

#include <string>
#include <string_view>

namespace ragd {

namespace {

// A key or id as it may appear in an error: short, so that an error body
// never echoes a huge input.
std::string excerpt(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (char c : s.substr(0, kMax)) out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  if (s.size() > kMax) out += "...";
  return out;
}

std::string document_name(const Document& doc) {
  std::string name = "document '" + excerpt(doc.id) + "'";
  if (!doc.origin.empty()) name = doc.origin + ": " + name;
  return name;
}

}  // namespace

Status check_metadata_limits(const Document& doc, const DocumentLimits& limits) {
  if (doc.metadata.size() > limits.max_metadata_keys) {
    return Status::resource_exhausted(document_name(doc) + " has " + std::to_string(doc.metadata.size()) +
                                      " metadata keys, more than the limit of " +
                                      std::to_string(limits.max_metadata_keys) +
                                      " (map only the columns you need, or raise max_metadata_keys)");
  }
  for (const auto& [key, value] : doc.metadata) {
    if (key.size() > limits.max_metadata_key_bytes) {
      return Status::resource_exhausted(document_name(doc) + ": metadata key '" + excerpt(key) + "' is " +
                                        std::to_string(key.size()) + " bytes, more than the limit of " +
                                        std::to_string(limits.max_metadata_key_bytes) +
                                        " (max_metadata_key_bytes)");
    }
    if (value.size() > limits.max_metadata_value_bytes) {
      return Status::resource_exhausted(document_name(doc) + ": metadata '" + excerpt(key) + "' is " +
                                        std::to_string(value.size()) + " bytes, more than the limit of " +
                                        std::to_string(limits.max_metadata_value_bytes) +
                                        " (max_metadata_value_bytes)");
    }
  }
  return Status::ok();
}

}  // namespace ragd

// Typed access to fields of one JSON record, with errors that name the field.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "connectors/internal.h"

namespace ragd::connectors {

using json = nlohmann::json;

// Reads fields of one record. The first type error is kept; the caller
// rejects the record when error() is set.
class RecordReader {
 public:
  explicit RecordReader(const json& rec) : rec_(rec) {}

  // A scalar as text: strings as they are, numbers and booleans printed,
  // reference objects by display_value, name, displayName or value.
  // "" when absent or null; an error for other types.
  std::string str(const char* key, bool required = false) { return scalar(rec_, key, key, required); }
  // The same for a value already in hand (`what` names it in errors).
  std::string scalar(const json& parent, const char* key, const std::string& what, bool required);
  // A list of strings: an array of scalars or reference objects, or a
  // comma-separated string.
  std::vector<std::string> list(const char* key);
  // A timestamp field; 0 when absent; an error when present but unreadable.
  int64_t time(const char* key);
  // The object or array at key, or nullptr when absent/null; an error for
  // other types.
  const json* object(const char* key);
  const json* array(const char* key);

  void fail(std::string message) { if (error_.empty()) error_ = std::move(message); }
  const std::string& error() const { return error_; }

 private:
  const json& rec_;
  std::string error_;
};

// Text of a reference object ({display_value|name|displayName|value}); nullopt if none.
std::optional<std::string> ref_text(const json& obj);

// Plain text of an Atlassian Document Format tree (or a plain string).
std::string adf_to_text(const json& node);

// Emits the problem / resolution / comment blocks shared by the ticket mappers.
void add_ticket_blocks(Document& doc, const std::string& subject, const std::string& description,
                       const std::string& resolution, std::vector<std::string> comments);

// Record mappers (tickets.cpp, records.cpp). Type errors go to `r`.
void map_servicenow(const json& rec, RecordReader& r, Document& doc, const FileInput& in);
void map_generic(const json& rec, RecordReader& r, Document& doc, const FileInput& in,
                 const std::string& default_source);

}  // namespace ragd::connectors

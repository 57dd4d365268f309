#include "govern/retention.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ragd/clock.h"
#include "service/collections.h"
#include "sync/source.h"
#include "sync/toml_items.h"

namespace ragd::govern {
namespace {

using json = nlohmann::json;

bool rule_matches(const RetentionRule& r, const Document& d) {
  if (!r.kind.empty() && d.kind != r.kind) return false;
  if (!r.source.empty()) {
    auto it = d.metadata.find("sync_source");
    const bool by_sync = it != d.metadata.end() && it->second == r.source;
    if (d.source != r.source && !by_sync) return false;
  }
  return true;
}

}  // namespace

Result<PurgeResult> purge_document(Store& store, const std::string& doc_id) {
  if (doc_id.empty()) return Status::invalid_argument("purge needs a document id");
  PurgeResult out;
  // The tombstone goes in the removal's batch: a crash cannot keep one
  // without the other, so a later sync never brings the document back.
  const StateWrite tombstone{std::string(sync::kTombstonePrefix) + doc_id, json{{"purged_ms", unix_ms()}}.dump()};
  RAGD_ASSIGN_OR_RETURN(out.removed, store.purge(doc_id, tombstone));
  out.tombstoned = true;
  // The ANN snapshot on disk was written before the removal: write a new
  // one now so no file still holds the document's vectors.
  if (out.removed) RAGD_RETURN_IF_ERROR(store.snapshot());
  return out;
}

Result<std::string> tombstone_of(const Store& store, const std::string& doc_id) {
  return store.get_state(std::string(sync::kTombstonePrefix) + doc_id);
}

Result<std::vector<RetentionRule>> parse_retention_rules(std::string_view toml, const std::string& path) {
  auto set = [](RetentionRule& r, const sync::TomlItem& it, const std::string& where) {
    if (it.inputs.size() != 1) throw std::invalid_argument(where + ": '" + it.name + "' takes one value");
    const std::string& v = it.inputs.front();
    if (it.name == "source") {
      r.source = v;
    } else if (it.name == "kind") {
      r.kind = v;
    } else if (it.name == "collection") {
      if (v != "default" && !Collections::check_name(v).is_ok()) {
        throw std::invalid_argument(where + ": collection must be \"default\" or a collection name, got \"" + v + "\"");
      }
      r.collection = v;
    } else if (it.name == "max_age_days") {
      char* end = nullptr;
      errno = 0;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno != 0 || n < 1 || n > 36500) {
        throw std::invalid_argument(where + ": max_age_days must be a whole number from 1 to 36500, got \"" + v + "\"");
      }
      r.max_age_days = static_cast<int>(n);
    } else {
      throw std::invalid_argument(where + ": unknown key '" + it.name +
                                  "' in [[retention]] (source, kind, collection, max_age_days)");
    }
  };
  return sync::read_tables<RetentionRule>(toml, path, "retention", set, [](RetentionRule& r, const std::string& at) {
    if (r.max_age_days <= 0) throw std::invalid_argument(at + ": [[retention]] needs max_age_days");
  });
}

Result<std::vector<RetentionRule>> read_retention_rules(const std::string& path) {
  auto text = sync::read_config_file(path);
  if (!text.is_ok()) return text.status();
  return parse_retention_rules(*text, path);
}

std::vector<RetentionRule> rules_for_collection(const std::vector<RetentionRule>& rules, std::string_view name) {
  std::vector<RetentionRule> out;
  for (const auto& r : rules) {
    if (r.collection.empty() || r.collection == name) out.push_back(r);
  }
  return out;
}

Result<RetentionReport> apply_retention(Store& store, const std::vector<RetentionRule>& rules, int64_t now_unix,
                                        bool dry_run) {
  RetentionReport report;
  if (rules.empty()) return report;
  std::vector<std::string> ids;
  store.for_each_document([&ids](const std::string& id) { ids.push_back(id); });
  for (const auto& id : ids) {
    auto doc = store.get_document(id);
    if (!doc.is_ok()) {
      if (doc.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
      return doc.status();
    }
    ++report.examined;
    const int64_t t = doc->updated_at != 0 ? doc->updated_at : doc->created_at;
    if (t == 0) continue;  // age unknown: kept
    bool expired = false;
    for (const auto& r : rules) {
      if (rule_matches(r, *doc) && t < now_unix - static_cast<int64_t>(r.max_age_days) * 86400) expired = true;
    }
    if (!expired) continue;
    if (!dry_run) RAGD_RETURN_IF_ERROR(store.remove(id).status());
    report.deleted.push_back(id);
  }
  if (!dry_run && !report.deleted.empty()) RAGD_RETURN_IF_ERROR(store.snapshot());
  return report;
}

Result<AuditPruneReport> prune_audit_log(const std::filesystem::path& path, int64_t cutoff_ms) {
  AuditPruneReport report;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return report;
    return Status::io_error("reading audit log " + path.string());
  }
  std::string kept;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    const bool old = j.is_object() && j.contains("time_ms") && j["time_ms"].is_number_integer() &&
                     j["time_ms"].get<int64_t>() < cutoff_ms;
    if (old) {
      ++report.dropped;
    } else {
      kept += line + "\n";
      ++report.kept;
    }
  }
  if (in.bad()) return Status::io_error("reading audit log " + path.string());
  in.close();
  if (report.dropped == 0) return report;
  const std::filesystem::path tmp = path.string() + ".prune";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Status::io_error("writing " + tmp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < kept.size()) {
    const ssize_t n = ::write(fd, kept.data() + done, kept.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Status::io_error("writing " + tmp.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status::io_error("syncing " + tmp.string());
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::io_error("replacing " + path.string() + ": " + ec.message());
  return report;
}

}  // namespace ragd::govern

// Retention and the right to be forgotten (issue 16, point 6).
//
//   purge_document(store, id)     the document, its chunks, vectors and
//                                 postings (Store::remove), a tombstone so
//                                 sync never brings it back
//                                 (sync::kTombstonePrefix), and a fresh ANN
//                                 snapshot so no file on disk still holds
//                                 its vectors
//   [[retention]] tables          per source, kind and/or collection:
//                                 delete documents whose update time is
//                                 older than N days
//   prune_audit_log(path, days)   drops audit records older than N days
//                                 (rewritten beside and renamed over; a
//                                 running server's AuditLog reopens the new
//                                 file at its next append)
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "index/store.h"
#include "ragd/status.h"

namespace ragd::govern {

struct PurgeResult {
  bool removed = false;     // the store held it
  bool tombstoned = false;  // the tombstone was written
};

// Errors: the store's. Purging an absent document still writes the
// tombstone (a sync may bring it later).
Result<PurgeResult> purge_document(Store& store, const std::string& doc_id);
// The tombstone's value, "" when the document was not purged.
Result<std::string> tombstone_of(const Store& store, const std::string& doc_id);

// One [[retention]] table.
struct RetentionRule {
  // Match documents of this source (Document::source, or the sync source in
  // metadata "sync_source"); "" = any. Default: "".
  std::string source;
  // Match documents of this kind ("ticket", "runbook", ...); "" = any.
  std::string kind;
  // Match documents of this collection only ("default" is the default
  // collection); "" = every collection. Default: "".
  std::string collection;
  // Delete matching documents whose update time (created time when it has
  // none; a document with neither is kept) is older than this many days.
  // Required, 1-36500.
  int max_age_days = 0;
  int line = 0;
};

// Reads every [[retention]] table. Errors name the file and line.
Result<std::vector<RetentionRule>> parse_retention_rules(std::string_view toml, const std::string& path);
Result<std::vector<RetentionRule>> read_retention_rules(const std::string& path);

// The rules that apply to collection `name` ("default" for the default
// collection).
std::vector<RetentionRule> rules_for_collection(const std::vector<RetentionRule>& rules, std::string_view name);

struct RetentionReport {
  size_t examined = 0;
  std::vector<std::string> deleted;  // ids, in store order
};

// Deletes (or with dry_run only lists) the documents that some rule says
// are too old at `now_unix`.
Result<RetentionReport> apply_retention(Store& store, const std::vector<RetentionRule>& rules, int64_t now_unix,
                                        bool dry_run);

struct AuditPruneReport {
  size_t kept = 0;
  size_t dropped = 0;
};
// Keeps the records with time_ms >= cutoff_ms (and lines that cannot be
// read, so nothing unexplained disappears). A missing file is empty.
Result<AuditPruneReport> prune_audit_log(const std::filesystem::path& path, int64_t cutoff_ms);

}  // namespace ragd::govern

#include "cluster/sync_target.h"

#include <algorithm>

#include "sync/engine.h"
#include "sync/source.h"

namespace ragd::cluster {
namespace {

// A line of Node::write's errors that is the document's own fault (it
// would fail again): malformed, or over a limit. Anything else (out of
// memory, not acknowledged) means the page was not taken.
bool is_document_error(const std::string& line) {
  if (line.find(": invalid argument: ") != std::string::npos) return true;
  return line.find(": resource exhausted: ") != std::string::npos && line.find("out of memory") == std::string::npos;
}

}  // namespace

Result<std::string> LogSyncTarget::get_state(const std::string& key) { return node_.sync_state(key); }

Status LogSyncTarget::put_state(const std::string& source, const std::string& key, const std::string& value) {
  return node_.put_sync_state(source, key, value);
}

Status LogSyncTarget::write(std::vector<Document> docs, sync::SyncCounts& counts,
                            const std::function<void(std::string)>& refused) {
  // Purged documents are left out here, before anything is published: the
  // log must not carry their text again. Purged through the cluster (etcd),
  // or on this node before it joined one (its own store's tombstones).
  std::vector<std::string> ids;
  ids.reserve(docs.size());
  for (const Document& d : docs) ids.push_back(d.id);
  RAGD_ASSIGN_OR_RETURN(std::vector<bool> purged, node_.purged(ids));
  std::vector<Document> keep;
  keep.reserve(docs.size());
  int64_t newest = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    Document& d = docs[i];
    bool gone = purged[i];
    if (!gone && local_ != nullptr) {
      auto tomb = local_->get_state(std::string(sync::kTombstonePrefix) + d.id);
      if (!tomb.is_ok()) return tomb.status();
      gone = !tomb->empty();
    }
    if (gone) {
      ++counts.tombstoned;
      continue;
    }
    newest = std::max(newest, d.updated_at);
    keep.push_back(std::move(d));
  }
  if (keep.empty()) return Status::ok();
  IngestStats st = node_.write(std::move(keep), std::nullopt, /*skip_tombstoned=*/true);
  // A document not acknowledged means the log did not take the page: the
  // cursor must not move past it.
  if (!st.store_error.is_ok()) return st.store_error;
  for (const std::string& line : st.errors) {
    if (!is_document_error(line)) return Status::unavailable("the cluster did not take a page: " + line);
    refused(line);
  }
  counts.updated += st.ingested;
  if (st.ingested > 0) counts.newest_updated_at = std::max(counts.newest_updated_at, newest);
  return Status::ok();
}

Result<bool> LogSyncTarget::remove(const std::string& id) {
  auto removed = node_.remove(id);
  if (removed.is_ok()) return true;
  // An id no document can have (empty, too long): nothing to delete.
  if (removed.status().code() == StatusCode::kInvalidArgument) return false;
  return removed.status();
}

Result<std::vector<std::string>> LogSyncTarget::source_documents(const std::string& source) {
  return node_.documents_where(sync::kSourceMetadataKey, source);
}

Result<std::string> LogSyncTarget::claim(const std::string& source) { return node_.claim_source(source); }

Result<std::string> LogSyncTarget::holder(const std::string& source) { return node_.claim_holder(source); }

Result<bool> LogSyncTarget::first_sight(const std::string& key, int ttl_seconds) {
  return node_.first_sight(key, ttl_seconds);
}

void LogSyncTarget::forget_sight(const std::string& key) { node_.forget_sight(key); }

}  // namespace ragd::cluster

#include "cluster/sync_target.h"

#include "sync/engine.h"

namespace ragd::cluster {

Result<std::string> LogSyncTarget::get_state(const std::string& key) { return node_.sync_state(key); }

Status LogSyncTarget::put_state(const std::string& key, const std::string& value) {
  return node_.put_sync_state(key, value);
}

Status LogSyncTarget::write(std::vector<Document> docs, sync::SyncCounts& counts,
                         const std::function<void(std::string)>& refused) {
  IngestStats st = node_.write(std::move(docs), std::nullopt, /*skip_tombstoned=*/true);
  // A document the write path refuses (malformed, over a limit) is the
  // record's fault; one not acknowledged means the log did not take the
  // page, and the cursor must not move past it.
  if (!st.store_error.is_ok()) return st.store_error;
  for (const std::string& line : st.errors) refused(line);
  counts.updated += st.ingested;
  return Status::ok();
}

Result<bool> LogSyncTarget::remove(const std::string& id) {
  RAGD_RETURN_IF_ERROR(node_.remove(id).status());
  return true;
}

Result<std::vector<std::string>> LogSyncTarget::source_documents(const std::string& source) {
  return node_.documents_where(sync::kSourceMetadataKey, source);
}

Result<std::string> LogSyncTarget::claim(const std::string& source) { return node_.claim_source(source); }

}  // namespace ragd::cluster

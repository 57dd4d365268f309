#include "sync/target.h"

#include <algorithm>

#include "sync/engine.h"
#include "sync/source.h"

namespace ragd::sync {
namespace {

// An ingest error line is "<id>: <code name>: <message>"; invalid argument
// means the document itself was bad (skip it), anything else that the store
// could not take the page (stop, do not move the cursor).
bool is_document_error(const std::string& line) {
  return line.find(": invalid argument: ") != std::string::npos;
}

}  // namespace

StoreTarget::StoreTarget(Store& store, const Embedder& embedder, IngestOptions ingest)
    : store_(store), embedder_(embedder), ingest_(std::move(ingest)) {}

Result<std::string> StoreTarget::get_state(const std::string& key) { return store_.get_state(key); }

Status StoreTarget::put_state(const std::string& source, const std::string& key, const std::string& value) {
  (void)source;  // this process runs every source it has
  return store_.put_state(key, value);
}

Status StoreTarget::write(std::vector<Document> docs, SyncCounts& counts,
                          const std::function<void(std::string)>& refused) {
  // A fresh Ingestor per page: its counts are this page's, and flush()
  // makes the page durable before the cursor moves.
  Ingestor ingestor(store_, embedder_, ingest_);
  uint64_t fresh = 0;
  for (Document& d : docs) {
    auto tomb = store_.get_state(std::string(kTombstonePrefix) + d.id);
    if (!tomb.is_ok()) return tomb.status();
    if (!tomb->empty()) {
      ++counts.tombstoned;
      continue;
    }
    if (!store_.get_document(d.id).is_ok()) ++fresh;
    counts.newest_updated_at = std::max(counts.newest_updated_at, d.updated_at);
    ingestor.add(std::move(d));
  }
  ingestor.flush();
  const IngestStats& st = ingestor.stats();
  for (const std::string& line : st.errors) {
    if (!is_document_error(line)) return Status::io_error("the store did not take a page: " + line);
    refused(line);
  }
  if (st.failed > st.errors.size()) return Status::internal("ingest failures without error lines");
  const uint64_t added = std::min<uint64_t>(fresh, st.ingested);
  counts.added += added;
  counts.updated += st.ingested - added;
  counts.unchanged += st.unchanged;
  return Status::ok();
}

Result<bool> StoreTarget::remove(const std::string& id) { return store_.remove(id); }

Result<std::vector<std::string>> StoreTarget::source_documents(const std::string& source) {
  // The store's in-memory document info carries the metadata: no document
  // is read from RocksDB to find the source's ones.
  std::vector<std::string> out;
  store_.for_each_document_info([&](const DocInfo& doc) {
    auto it = doc.metadata.find(kSourceMetadataKey);
    if (it != doc.metadata.end() && it->second == source) out.push_back(doc.id);
  });
  return out;
}

}  // namespace ragd::sync

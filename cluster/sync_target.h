// Sync on a cluster node (cluster/README.md, "Sync"): the sync engine's
// writes go through the log like any other write, and what a source keeps
// lives in etcd, so that whichever node runs a source's passes carries its
// cursor on.
//
//   documents  Node::write, once the purged ones are left out (Node::
//              purged, and the node's own store's tombstones), marked
//              skip_tombstoned for the appliers' own check; durable once
//              JetStream acknowledged each
//   deletions  Node::remove
//   cursor     etcd <prefix>sync/<key>, written after the page's acks,
//              fenced by the claim (put only while this node holds it)
//   webhooks   a replay key seen once in the cluster (Node::first_sight)
//   pruning    Node::documents_where("sync_source", name) over every shard
//   passes     run by the one node whose claim stands (Node::claim_source,
//              under its lease); the others look again every
//              claim_retry_seconds and take over once it is gone
//
// Thread safety: as Node's.
#pragma once

#include <string>
#include <vector>

#include "cluster/node.h"
#include "sync/target.h"

namespace ragd::cluster {

class LogSyncTarget : public sync::SyncTarget {
 public:
  // `local`: the node's own default store, whose tombstones (documents
  // purged on this node before it joined a cluster) are honoured too; may
  // be null.
  LogSyncTarget(Node& node, const Store* local) : node_(node), local_(local) {}
  Result<std::string> get_state(const std::string& key) override;
  Status put_state(const std::string& source, const std::string& key, const std::string& value) override;
  // The log cannot tell a new document from a changed or unchanged one
  // without reading it back: every acknowledged document counts as
  // updated, and the appliers skip what did not change or was purged.
  Status write(std::vector<Document> docs, sync::SyncCounts& counts,
               const std::function<void(std::string)>& refused) override;
  Result<bool> remove(const std::string& id) override;
  Result<std::vector<std::string>> source_documents(const std::string& source) override;
  Result<std::string> claim(const std::string& source) override;
  Result<std::string> holder(const std::string& source) override;
  Result<bool> first_sight(const std::string& key, int ttl_seconds) override;
  void forget_sight(const std::string& key) override;

 private:
  Node& node_;
  const Store* local_;
};

}  // namespace ragd::cluster

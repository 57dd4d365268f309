// What a shard's stream carries: one write per message, a whole normalised
// Document (every field, so each replica computes the same content hash) or
// a delete by id. JSON, so a message can be read with `nats stream view`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/document.h"
#include "ragd/status.h"

namespace ragd::cluster {

struct WriteMessage {
  bool remove = false;  // true: delete `doc.id`; the other fields are empty
  // With `remove`: the right to be forgotten (POST /v1/purge), applied as
  // govern::purge_document (the files compacted, a tombstone written); the
  // document's earlier messages are purged from the stream.
  bool purge = false;
  Document doc;
  // A keyed caller's write carries the caller's groups: the applier makes
  // it only when they cover the ACL of the document it replaces or deletes
  // (cluster/README.md, "Keyed writes"). nullopt: an unrestricted writer
  // (an admin, or a node without keys).
  std::optional<std::vector<std::string>> writer_groups;
  // A sync source's write (sync/target.h): the applier skips it when the
  // document was purged (a tombstone in its store), as sync does on one
  // node, so a source does not bring back what was forgotten.
  bool skip_tombstoned = false;
};

std::string encode_message(const WriteMessage& m);
// kInvalidArgument for anything that is not a message encode_message() made.
Result<WriteMessage> decode_message(std::string_view bytes);

}  // namespace ragd::cluster

// Which shard a document lives in: a stable hash of its id, modulo the
// cluster's shard count. Stable across processes, machines and versions
// (FNV-1a 64, not std::hash), because every node must agree on it and the
// streams keep it forever.
#pragma once

#include <cstdint>
#include <string_view>

namespace ragd::cluster {

// REQUIRES: shards > 0.
uint32_t shard_of(std::string_view doc_id, uint32_t shards);

}  // namespace ragd::cluster

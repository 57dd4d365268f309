#include "cluster/shard.h"

#include <cassert>

namespace ragd::cluster {

uint32_t shard_of(std::string_view doc_id, uint32_t shards) {
  assert(shards > 0);
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : doc_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<uint32_t>(h % shards);
}

}  // namespace ragd::cluster

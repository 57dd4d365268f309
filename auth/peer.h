// Requests between the nodes of a cluster, signed with a secret the nodes
// share (the cluster file's `secret_file`, cluster/README.md "Between
// nodes"). A coordinator signs each request it sends a peer; the peer
// admits it without an API key and trusts the groups the coordinator bound,
// because only a holder of the secret can sign.
//
// The header: "X-Ragd-Peer: v1 <node id> <unix ms> <hex HMAC-SHA256>", the
// HMAC over "ragd-peer-v1\n<cluster>\n<node>\n<ms>\n<METHOD>\n<target>\n<hex
// SHA-256 of the body>". A signature binds the cluster (two clusters that
// share a secret file still refuse each other), the sender, the time, the
// route and the body: it cannot be moved to another request, and it
// expires after `max_skew_ms` either way of the verifier's clock. Within
// that window it can be replayed as it is, to any replica of the shard,
// which repeats the same read (the signed route is a search).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ragd/status.h"

namespace ragd::auth {

// The header's name, lower-cased as the HTTP layer stores it.
inline constexpr const char* kPeerHeader = "x-ragd-peer";

// A secret shorter than this is refused where it is read.
inline constexpr size_t kMinPeerSecretBytes = 32;

// The clock signatures carry: unix time in milliseconds.
int64_t peer_clock_ms();

// The header's value for this request.
std::string sign_peer_request(std::string_view secret, std::string_view cluster, std::string_view node_id,
                              int64_t unix_ms, std::string_view method, std::string_view target,
                              std::string_view body);

// The signing node's id when `header` is a valid signature of this request
// made within `max_skew_ms` of `now_unix_ms`; kUnauthenticated naming what
// is wrong (malformed, expired, bad signature) otherwise.
Result<std::string> verify_peer_request(std::string_view secret, std::string_view cluster, std::string_view header,
                                        int64_t now_unix_ms, std::string_view method, std::string_view target,
                                        std::string_view body, int64_t max_skew_ms = 60000);

}  // namespace ragd::auth

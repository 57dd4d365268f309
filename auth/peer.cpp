#include "auth/peer.h"

#include <charconv>
#include <chrono>
#include <vector>

#include "auth/crypto.h"
#include "auth/principal.h"

namespace ragd::auth {

namespace {

std::string signed_text(std::string_view cluster, std::string_view node_id, std::string_view ms,
                        std::string_view method, std::string_view target, std::string_view body) {
  std::string text = "ragd-peer-v1\n";
  for (std::string_view part : {cluster, node_id, ms, method, target}) text.append(part).append("\n");
  text.append(hex_encode(sha256(body)));
  return text;
}

// Node ids are 1-64 characters of [A-Za-z0-9_-] (cluster/options.cpp).
bool plain_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

int64_t peer_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sign_peer_request(std::string_view secret, std::string_view cluster, std::string_view node_id,
                              int64_t unix_ms, std::string_view method, std::string_view target,
                              std::string_view body) {
  const std::string ms = std::to_string(unix_ms);
  return "v1 " + std::string(node_id) + " " + ms + " " +
         hex_encode(hmac_sha256(secret, signed_text(cluster, node_id, ms, method, target, body)));
}

Result<std::string> verify_peer_request(std::string_view secret, std::string_view cluster, std::string_view header,
                                        int64_t now_unix_ms, std::string_view method, std::string_view target,
                                        std::string_view body, int64_t max_skew_ms) {
  std::vector<std::string_view> parts;
  while (!header.empty() && parts.size() < 5) {
    const size_t sp = header.find(' ');
    parts.push_back(header.substr(0, sp));
    header = sp == std::string_view::npos ? std::string_view() : header.substr(sp + 1);
  }
  if (parts.size() != 4 || parts[0] != "v1" || !plain_id(parts[1]) || parts[3].size() != 64) {
    return unauthenticated("malformed peer signature (X-Ragd-Peer: v1 NODE UNIX_MS HMAC)");
  }
  int64_t ms = 0;
  const auto [end, ec] = std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), ms);
  if (ec != std::errc() || end != parts[2].data() + parts[2].size() || ms <= 0) {
    return unauthenticated("malformed peer signature time");
  }
  const std::string expect =
      hex_encode(hmac_sha256(secret, signed_text(cluster, parts[1], parts[2], method, target, body)));
  if (!constant_time_equal(expect, parts[3])) {
    return unauthenticated("bad peer signature from '" + std::string(parts[1]) +
                           "' (another cluster or cluster secret, or a changed request)");
  }
  // Checked after the HMAC, so that an unsigned caller learns nothing about
  // the clock.
  if (ms < now_unix_ms - max_skew_ms || ms > now_unix_ms + max_skew_ms) {
    return unauthenticated("peer signature from '" + std::string(parts[1]) + "' is " +
                           std::to_string((now_unix_ms - ms) / 1000) +
                           " s from this node's clock (allowed: " + std::to_string(max_skew_ms / 1000) +
                           " s); check the nodes' clocks");
  }
  return std::string(parts[1]);
}

}  // namespace ragd::auth

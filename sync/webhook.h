// Signed webhooks (issue 12): each vendor's signature check, the replay
// window, and what an event asks for. The receiver (Scheduler::webhook)
// then upserts or deletes through the same mapping as the poller
// (vendor.h map_one_record / fetch_one_record and SyncEngine::apply).
//
//   zendesk     X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(secret,
//               X-Zendesk-Webhook-Signature-Timestamp + body))
//   jira        X-Hub-Signature = "sha256=" hex(HMAC-SHA256(secret, body));
//               the age from the body's "timestamp" (ms)
//   servicenow  X-Ragd-Timestamp (unix seconds) and X-Ragd-Signature =
//   (and -kb)   "sha256=" hex(HMAC-SHA256(secret, timestamp + "." + body)),
//               or the MAC in base64 (what generateMac returns)
//   confluence  X-Ragd-Webhook-Secret = the secret (a shared-secret header);
//               the age from the body's "timestamp" (ms)
//
// Thread safety: the functions are pure; ReplayCache is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ragd/status.h"
#include "sync/source.h"

namespace ragd::sync {

struct WebhookOptions {
  // Events whose timestamp is older (or further ahead) than this are refused
  // with 401, and the replay cache remembers signatures this long. Seconds.
  // Default: 300.
  int64_t max_age_seconds = 300;
  // Signatures remembered at most (the oldest are dropped first). Default: 100000.
  size_t replay_cache_entries = 100000;
};

using Headers = std::map<std::string, std::string>;  // names lower-cased

// Checks the event's signature and timestamp against `secret`. Returns the
// event's replay key (a digest of signature, timestamp and body) when both
// hold; kUnauthenticated when the signature or timestamp is missing or
// wrong, or the event is outside the window. The message never holds the
// secret or the expected signature.
Result<std::string> verify_webhook(const SourceConfig& source, std::string_view secret, const Headers& headers,
                                   std::string_view body, int64_t now_unix, const WebhookOptions& options);

// Remembers replay keys for the window: first_sight() is true once per key.
class ReplayCache {
 public:
  explicit ReplayCache(WebhookOptions options = {}) : options_(options) {}
  bool first_sight(const std::string& key, int64_t now_unix);
  // Forgets `key`: the event it marked was not applied, and its sender's
  // retry must be taken.
  void forget(const std::string& key);

 private:
  WebhookOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> seen_;  // key -> when; guarded by mu_
};

// What a verified event asks for.
struct WebhookEvent {
  enum class Kind {
    kUpsert,  // `record`: the record in its list API shape (map_one_record)
    kFetch,   // `vendor_id`: GET the record first (fetch_one_record); 404 deletes
    kDelete,  // `document_id`: remove it
    kIgnore,  // an event ragd does not act on (e.g. a comment-only Jira event)
  };
  Kind kind = Kind::kIgnore;
  std::string record;
  std::string vendor_id;
  std::string document_id;
  std::string event;  // the vendor's event name, for the response and logs
};

// Reads the vendor's event payload:
//   zendesk     {"type":"zen:event-type:ticket.…","detail":{"id":"123"}} (an
//               event webhook) or a trigger's {"ticket":{"id":123}} /
//               {"ticket_id":"123"}: fetch; "…deleted" types delete ZD-<id>
//   jira        {"webhookEvent":"jira:issue_updated"|"jira:issue_created",
//               "issue":{…}}: upsert; "jira:issue_deleted": delete the key
//   servicenow  {"operation":"insert"|"update"|"delete","table":"incident",
//               "record":{…}} (the Business Rule of sync/README.md): upsert,
//               or delete the number (sys_id when it has none)
//   confluence  {"event"|"webhookEvent":"page_…","page":{"id":…}}: fetch
//               (404 or trashed deletes); page_removed/page_trashed delete
// kInvalidArgument for a payload that is not one of these.
Result<WebhookEvent> parse_webhook_event(const SourceConfig& source, std::string_view body);

}  // namespace ragd::sync

#include "sync/webhook.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>

#include "auth/crypto.h"
#include "connectors/connector.h"
#include "sync/vendor.h"

namespace ragd::sync {
namespace {

using json = nlohmann::json;

std::string header(const Headers& h, const char* name) {
  auto it = h.find(name);
  return it == h.end() ? std::string() : it->second;
}

Status refuse(const std::string& why) { return Status::unauthenticated("webhook refused: " + why); }

// Decimal digits only, at most 13 (ms since 1970 fit).
std::optional<int64_t> parse_digits(std::string_view s) {
  if (s.empty() || s.size() > 13 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::strtoll(std::string(s).c_str(), nullptr, 10);
}

// The body's "timestamp" field in milliseconds (Jira, Confluence), in seconds.
std::optional<int64_t> body_timestamp(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto it = j.find("timestamp");
  if (it == j.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>() / 1000;
  if (it->is_string()) {
    if (auto v = parse_digits(it->get<std::string>())) return *v / 1000;
  }
  return std::nullopt;
}

// "sha256=<hex>" -> the hex, lower-cased; "" when malformed.
std::string sha256_hex(const std::string& value) {
  const std::string prefix = "sha256=";
  if (value.compare(0, prefix.size(), prefix) != 0) return "";
  std::string hex = value.substr(prefix.size());
  std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::tolower(c); });
  return hex;
}

}  // namespace

Result<std::string> verify_webhook(const SourceConfig& source, std::string_view secret, const Headers& headers,
                                   std::string_view body, int64_t now, const WebhookOptions& options) {
  if (secret.empty()) return refuse("the source has no webhook secret");
  std::optional<int64_t> when;
  std::string signature;  // what the sender sent, for the replay key
  bool valid = false;
  switch (source.type) {
    case SourceType::kZendesk: {
      signature = header(headers, "x-zendesk-webhook-signature");
      const std::string ts = header(headers, "x-zendesk-webhook-signature-timestamp");
      if (signature.empty() || ts.empty()) {
        return refuse("X-Zendesk-Webhook-Signature and X-Zendesk-Webhook-Signature-Timestamp are required");
      }
      when = connectors::parse_timestamp(ts);
      std::string data = ts;
      data.append(body);
      valid = auth::constant_time_equal(signature, auth::base64_encode(auth::hmac_sha256(secret, data)));
      signature += "|" + ts;
      break;
    }
    case SourceType::kJira: {
      signature = header(headers, "x-hub-signature");
      if (signature.empty()) return refuse("X-Hub-Signature is required");
      valid = auth::constant_time_equal(sha256_hex(signature), auth::hex_encode(auth::hmac_sha256(secret, body)));
      when = body_timestamp(body);
      break;
    }
    case SourceType::kServiceNow:
    case SourceType::kServiceNowKb: {
      signature = header(headers, "x-ragd-signature");
      const std::string ts = header(headers, "x-ragd-timestamp");
      if (signature.empty() || ts.empty()) return refuse("X-Ragd-Signature and X-Ragd-Timestamp are required");
      when = parse_digits(ts);
      std::string data = ts + ".";
      data.append(body);
      // Hex, or base64 as GlideCertificateEncryption.generateMac returns it.
      const std::string mac = auth::hmac_sha256(secret, data);
      const std::string given = signature.rfind("sha256=", 0) == 0 ? signature.substr(7) : std::string();
      valid = auth::constant_time_equal(sha256_hex(signature), auth::hex_encode(mac)) |
              auth::constant_time_equal(given, auth::base64_encode(mac));
      signature += "|" + ts;
      break;
    }
    case SourceType::kConfluence: {
      const std::string given = header(headers, "x-ragd-webhook-secret");
      if (given.empty()) return refuse("X-Ragd-Webhook-Secret is required");
      // Compared as digests: equal lengths, so the secret's length leaks neither.
      valid = auth::constant_time_equal(auth::sha256(given), auth::sha256(secret));
      when = body_timestamp(body);
      break;
    }
  }
  if (!valid) return refuse("bad signature");
  if (!when) return refuse("the event has no readable timestamp");
  if (*when < now - options.max_age_seconds || *when > now + options.max_age_seconds) {
    return refuse("the event's timestamp is outside the " + std::to_string(options.max_age_seconds) +
                  " s window (an old or replayed event, or a clock off)");
  }
  std::string key = source.name + "\n" + signature + "\n";
  key.append(body);
  return source.name + ":" + auth::hex_encode(auth::sha256(key));
}

void ReplayCache::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  seen_.erase(key);
}

bool ReplayCache::first_sight(const std::string& key, int64_t now) {
  std::lock_guard lock(mu_);
  const int64_t horizon = now - 2 * options_.max_age_seconds;
  if (seen_.size() >= options_.replay_cache_entries) {
    std::erase_if(seen_, [horizon](const auto& kv) { return kv.second < horizon; });
    while (seen_.size() >= options_.replay_cache_entries) {
      auto oldest = std::min_element(seen_.begin(), seen_.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
      seen_.erase(oldest);
    }
  }
  auto [it, inserted] = seen_.emplace(key, now);
  if (!inserted && it->second < horizon) {
    it->second = now;  // forgotten long ago; the timestamp check refuses it anyway
    return true;
  }
  return inserted;
}

Result<WebhookEvent> parse_webhook_event(const SourceConfig& source, std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::invalid_argument("webhook body is not a JSON object");
  WebhookEvent ev;
  switch (source.type) {
    case SourceType::kZendesk: {
      ev.event = field_text(j, "type");
      std::string id;
      if (auto d = j.find("detail"); d != j.end() && d->is_object()) id = field_text(*d, "id");
      if (auto t = j.find("ticket"); id.empty() && t != j.end() && t->is_object()) id = field_text(*t, "id");
      if (id.empty()) id = field_text(j, "ticket_id");
      if (id.empty() || !parse_digits(id)) {
        return Status::invalid_argument("Zendesk event without a numeric ticket id (detail.id, ticket.id or ticket_id)");
      }
      if (ev.event.find("deleted") != std::string::npos) {
        ev.kind = WebhookEvent::Kind::kDelete;
        ev.document_id = "ZD-" + id;
      } else {
        ev.kind = WebhookEvent::Kind::kFetch;
        ev.vendor_id = id;
      }
      return ev;
    }
    case SourceType::kJira: {
      ev.event = field_text(j, "webhookEvent");
      auto issue = j.find("issue");
      if (issue == j.end() || !issue->is_object() || field_text(*issue, "key").empty()) {
        if (ev.event.rfind("jira:issue_", 0) == 0) return Status::invalid_argument("Jira event without issue.key");
        return ev;  // not an issue event: ignored
      }
      if (ev.event == "jira:issue_deleted") {
        ev.kind = WebhookEvent::Kind::kDelete;
        ev.document_id = field_text(*issue, "key");
      } else if (ev.event == "jira:issue_created" || ev.event == "jira:issue_updated") {
        ev.kind = WebhookEvent::Kind::kUpsert;
        ev.record = issue->dump();
      }
      return ev;
    }
    case SourceType::kServiceNow:
    case SourceType::kServiceNowKb: {
      ev.event = field_text(j, "operation");
      auto rec = j.find("record");
      if (rec == j.end() || !rec->is_object()) return Status::invalid_argument("ServiceNow event without a record object");
      const std::string table = field_text(j, "table");
      if (!table.empty() && table != source.table) {
        return Status::invalid_argument("ServiceNow event for table '" + table.substr(0, 80) + "', the source reads '" +
                                        source.table + "'");
      }
      if (ev.event == "delete") {
        std::string id = field_text(*rec, "number");
        if (id.empty()) id = field_text(*rec, "sys_id");
        if (id.empty()) return Status::invalid_argument("ServiceNow delete event without record.number or sys_id");
        ev.kind = WebhookEvent::Kind::kDelete;
        ev.document_id = id;
      } else if (ev.event == "insert" || ev.event == "update") {
        ev.kind = WebhookEvent::Kind::kUpsert;
        ev.record = rec->dump();
      } else {
        return Status::invalid_argument("ServiceNow event operation must be insert, update or delete");
      }
      return ev;
    }
    case SourceType::kConfluence: {
      ev.event = field_text(j, "event");
      if (ev.event.empty()) ev.event = field_text(j, "webhookEvent");
      std::string id;
      if (auto p = j.find("page"); p != j.end() && p->is_object()) id = field_text(*p, "id");
      if (id.empty() || !parse_digits(id)) {
        if (ev.event.rfind("page_", 0) == 0 || ev.event.empty()) {
          return Status::invalid_argument("Confluence event without a numeric page.id");
        }
        return ev;  // not a page event: ignored
      }
      if (ev.event == "page_removed" || ev.event == "page_trashed") {
        ev.kind = WebhookEvent::Kind::kDelete;
        ev.document_id = "confluence-" + id;
      } else {
        ev.kind = WebhookEvent::Kind::kFetch;
        ev.vendor_id = id;
      }
      return ev;
    }
  }
  return Status::internal("unknown source type");
}

}  // namespace ragd::sync

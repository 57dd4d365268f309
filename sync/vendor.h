// One fetch client per vendor: it asks for the page after a cursor and
// turns the vendor's records into Documents (through the connectors/
// mappers where they exist), deletions and per-record errors.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/document.h"
#include "ragd/status.h"
#include "sync/http.h"
#include "sync/source.h"

namespace ragd::sync {

// Where a source stands. Stored as JSON in the store (Store::put_state, key
// "sync:<source name>") after the page it describes is durable.
struct Cursor {
  // ServiceNow: sys_updated_on (UTC, "YYYY-MM-DD hh:mm:ss") and sys_id of
  // the last record taken: the next page is everything after that pair.
  // Jira/Confluence: the lower bound of the running pass (JQL/CQL minutes,
  // "yyyy/MM/dd HH:mm", UTC). Zendesk: unused.
  std::string since;
  std::string last_id;
  // Jira nextPageToken / Confluence next link / Zendesk after_cursor.
  std::string token;
  // Jira/Confluence: the newest update seen in the running pass (unix
  // seconds); the next pass starts from its minute.
  int64_t pass_max = 0;

  std::string to_json() const;
  static Result<Cursor> from_json(const std::string& text);
  bool operator==(const Cursor&) const = default;
};

struct Page {
  std::vector<Document> documents;      // to upsert
  std::vector<std::string> deletions;   // document ids the vendor marked deleted/retired
  std::vector<std::string> seen_ids;    // every id on the page (for pruning)
  std::vector<std::string> errors;      // malformed records: "record <id>: <why>"
  uint64_t fetched = 0;                 // records on the page
  std::optional<uint64_t> total;        // the vendor's count of matches, when it gives one
  Cursor next;                          // the cursor after this page
  bool last = false;                    // nothing more right now
};

// One page of an id-only listing (pruning): the document ids of records the
// source holds now, whatever their update time.
struct IdPage {
  std::vector<std::string> ids;
  std::string next;   // the token of the page after this one ("" with `last`)
  bool last = false;
};

class VendorClient {
 public:
  virtual ~VendorClient() = default;
  // The page after `cursor`. A non-ok result means nothing of the page may
  // be stored (the cursor stays).
  virtual Result<Page> fetch(const Cursor& cursor) = 0;
  // One page of the id-only listing, from `token` ("" = the first page).
  // The order is one in which records do not move while the listing runs
  // (sys_id, issue key, creation time, Zendesk's cursor), so a record that
  // exists throughout is listed at least once. The source's `query` applies.
  virtual Result<IdPage> list_ids(const std::string& token) = 0;
};

// `http` must outlive the client.
std::unique_ptr<VendorClient> make_vendor_client(const SourceConfig& source, HttpClient& http);

// One record in the shape the vendor's list API gives it (a Table API row,
// a Jira issue, a Zendesk ticket, a Confluence content object), mapped
// exactly as fetch() maps it on a page: webhooks use it, so a pushed record
// and a polled one become the same document. `fetched` is 1; `next` is empty.
Page map_one_record(const SourceConfig& source, std::string_view record_json);

// One record from the vendor's single-record API, as map_one_record takes
// it: Zendesk GET /api/v2/tickets/{id}.json (its "ticket"), Confluence GET
// /rest/api/content/{id} with the search's expansions. kNotFound when the
// vendor answers 404 (deleted); kUnimplemented for the other types (their
// webhooks carry the record).
Result<std::string> fetch_one_record(const SourceConfig& source, HttpClient& http, const std::string& vendor_id);

// A record's field as text: a string, an integer, or ServiceNow's
// {"display_value","value"} object (its `value`, the raw, UTC form); "" when
// absent, null or of another type. The poller and the webhooks read fields
// with it.
std::string field_text(const nlohmann::json& obj, const char* key);

// "YYYY-MM-DD hh:mm:ss" (ServiceNow) and "yyyy/MM/dd HH:mm" (JQL, CQL), UTC.
std::string format_servicenow_time(int64_t unix_seconds);
std::string format_query_minute(int64_t unix_seconds);

}  // namespace ragd::sync

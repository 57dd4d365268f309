// JSON <-> ragd types for the HTTP API and `--json` CLI output. Parsers
// validate types and name the offending field in their error
// ("field 'filters.kinds[1]': expected a string, got number").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "index/store.h"
#include "service/periodic_job.h"
#include "ragd/answer.h"
#include "ragd/document.h"
#include "ragd/search.h"
#include "ragd/status.h"

namespace ragd::api {

using Json = nlohmann::json;

// Parses a request body; a syntax error names the byte offset.
Result<Json> parse_json_body(std::string_view body);
// The same for a route whose body is optional: an empty body is {}.
Result<Json> parse_optional_json_body(std::string_view body);

// Unix seconds from an integer or an ISO 8601 date/time string
// ("2024-03-01", "2024-03-01T12:30:00Z", "2024-03-01T12:30:00+02:00").
std::optional<int64_t> parse_time(std::string_view text);

// {"kind"|"kinds", "source"|"sources", "fields":{...}, "updated_after",
//  "updated_before", any other key: field equality}. `where` prefixes errors.
Result<SearchFilters> parse_filters(const Json& j, const std::string& where = "filters");

// {"query","k","mode","filters","groups","dedup"}; k must be in [1, max_k].
Result<SearchRequest> parse_search_request(const Json& j, int max_k = kMaxSearchK);

// Field `name` of `j` as an integer in [lo, hi]; 0 when absent or null.
Result<int> optional_int(const Json& j, const char* name, int lo, int hi);

// One document of POST /v1/documents; `where` is e.g. "documents[3]".
Result<Document> parse_document(const Json& j, const std::string& where);

Json hit_to_json(const Hit& h);
Json hits_to_json(const std::vector<Hit>& hits);
// The POST /v1/search body {"hits":[...],"mode","took_ms"}, written
// straight into a string: the same JSON as dumping hits_to_json() (keys
// sorted, invalid UTF-8 replaced by U+FFFD) at a fraction of the cost,
// since the search route is the hot path.
std::string search_response_body(const std::vector<Hit>& hits, std::string_view mode, double took_ms);
Json answer_to_json(const Answer& a);
Json document_to_json(const Document& d, const std::vector<Chunk>& chunks);
Json stats_to_json(const StoreStats& s);

// {"error":{"code":"not_found","message":"..."}}
Json error_to_json(const std::string& code, const std::string& message);
// Unix milliseconds as RFC 3339 UTC ("2026-12-04T18:30:00.123Z"); null for
// 0 or less (never).
Json time_json(int64_t ms);
// A background job's state (service/periodic_job.h) for /v1/stats and its
// own routes: running, interval, runs, failures, times, the last error.
Json job_status_json(const JobStatus& s);
// "invalid_argument", "not_found", ...
std::string status_code_slug(StatusCode code);

}  // namespace ragd::api

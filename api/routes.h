// The HTTP routes as pure functions of (Request, ServiceContext): no sockets,
// no Beast. server.cpp only moves bytes; everything the API means is here.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/http_types.h"
#include "api/service.h"
#include "generate/audit_log.h"
#include "ragd/status.h"

namespace ragd::api {

// The one mapping from ragd::Status to an HTTP status code.
int http_status(const Status& status);

// A JSON error response {"error":{"code","message"}} for a failed Status.
Response error_response(const Status& status);
// The same for errors that only HTTP knows (431, 405, 408).
Response error_response(int http_code, const std::string& code, const std::string& message);
// What a client is told about kCorruption / kIoError instead of the status's
// own message (which names files): short, no paths.
std::string storage_error_message(const Status& status);

struct RouteOptions {
  // Largest k accepted by /v1/search and /v1/answer. Default: 1000.
  int max_k = 1000;
  // Documents accepted in one POST /v1/documents. Default: 10000.
  size_t max_documents_per_request = 10000;
  // Where extractive answers are recorded (the LLM path keeps its own). Not
  // owned; must outlive the routes. Default: nullptr (not recorded).
  AuditLog* audit = nullptr;
};

// Dispatches a request to its route. Never throws: exceptions become 500s.
Response handle(const Request& req, ServiceContext& ctx, const RouteOptions& options = {});

// {"state","from","target","done","total","seconds"[,"error"]} for /v1/stats.
nlohmann::json reindex_to_json(const ReindexStatus& status);

// Individual routes (exposed for tests).
Response handle_healthz(const Request& req, ServiceContext& ctx);
Response handle_stats(const Request& req, ServiceContext& ctx);
Response handle_post_documents(const Request& req, ServiceContext& ctx, const RouteOptions& options);
Response handle_get_document(const std::string& id, ServiceContext& ctx);
Response handle_delete_document(const std::string& id, ServiceContext& ctx);
Response handle_search(const Request& req, ServiceContext& ctx, const RouteOptions& options);
Response handle_answer(const Request& req, ServiceContext& ctx, const RouteOptions& options);

}  // namespace ragd::api

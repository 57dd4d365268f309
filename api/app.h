// The whole HTTP API as one handler: the backbone routes (routes.h), the LLM
// routes (llm_service.h) when a model is loaded, POST /v1/embeddings,
// GET /metrics and the web page at GET /. The server (server.cpp) calls
// handle() for every request and reports each finished one to observe(), so
// the per-route request counts and latency histograms include streaming.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <memory>
#include <string>

#include "api/http_types.h"
#include "api/llm_service.h"
#include "api/metrics.h"
#include "api/routes.h"
#include "api/service.h"

namespace ragd::api {

class App {
 public:
  // `llm` may be null (the extractive answerer answers /v1/answer). All
  // references must outlive the App.
  App(ServiceContext& ctx, Registry& registry, LlmService* llm, RouteOptions routes = {});

  Response handle(const Request& req);
  // True for requests that wait for the model (run them off the route
  // workers so a long generation never stalls search).
  bool is_generation(const Request& req) const;
  // Called once a response has been sent (streams: once they end).
  void observe(const Request& req, int status, double seconds);

  // A low-cardinality label for a path: "/v1/documents/{id}", "other".
  static std::string route_label(const std::string& path);

  Registry& registry() { return registry_; }

 private:
  Response metrics_page();
  void count_ingest(const Response& resp);

  ServiceContext& ctx_;
  Registry& registry_;
  LlmService* llm_;
  RouteOptions routes_;
  CounterFamily& requests_;
  HistogramFamily& latency_;
  CounterFamily& ingest_docs_;
  Counter& ingest_chunks_;
  Gauge& index_documents_;
  Gauge& index_chunks_;
  Gauge& index_terms_;
  Gauge& reindex_running_;
  Gauge& reindex_done_;
  Gauge& reindex_total_;
  Gauge& in_flight_;
};

}  // namespace ragd::api

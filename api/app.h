// The whole HTTP API: the one route table (method, path, handler, whether it
// is a generation route, the auth::Action it needs), the Router that
// dispatches it, and the per-route metrics. The server (server.cpp) calls
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
#include "api/router.h"
#include "api/routes/routes.h"
#include "service/answerer.h"
#include "service/service.h"

namespace ragd::api {

class App {
 public:
  // `llm` may be null (no --llm); `auth` null = admit everything. All
  // references must outlive the App.
  // `collections` null = only the default collection (`ctx`).
  App(ServiceContext& ctx, const Answerer& answerer, Registry& registry, LlmService* llm, RouteOptions routes = {},
      const Authenticator* auth = nullptr, Collections* collections = nullptr);

  Response handle(Request& req);
  // True for requests that wait for the model (run them off the route
  // workers so a long generation never stalls search).
  bool is_generation(const Request& req) const { return router_.is_generation(req); }
  // Called once a response has been sent (streams: once they end).
  void observe(const Request& req, int status, double seconds);
  // The route's pattern ("/v1/documents/{id}"), "other" for unknown paths.
  std::string route_label(const Request& req) const { return router_.label(req); }

  const Router& router() const { return router_; }
  Registry& registry() { return registry_; }

 private:
  std::vector<Route> route_table();
  void count_ingest(const Response& resp);

  Api api_;
  Registry& registry_;
  Router router_;
  CounterFamily& requests_;
  HistogramFamily& latency_;
  CounterFamily& ingest_docs_;
  Counter& ingest_chunks_;
  Gauge& index_documents_;
  Gauge& index_chunks_;
  Gauge& index_terms_;
  Gauge& index_rebuilds_;
  Gauge& index_last_rebuild_;
  Gauge& store_disk_full_;
  Gauge& reindex_running_;
  Gauge& reindex_done_;
  Gauge& reindex_total_;
  Gauge& in_flight_;
};

}  // namespace ragd::api

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
#include "service/ticket_assist.h"

namespace ragd::api {

class App {
 public:
  // `llm` may be null (no LLM service: chat is 503, an LLM activation
  // "applies" at the next start); `auth` null = admit everything;
  // `triage` null = ticket assist answers "triage": {}; `sources` null = no
  // sync sources; `collections` null = only the default collection (`ctx`);
  // `retrainer` null = POST /v1/triage/train answers 501; `jobs`: the
  // evaluation suite and retention jobs (null members: not running).
  // All references must outlive the App.
  App(ServiceContext& ctx, const Answerer& answerer, Registry& registry, LlmService* llm, RouteOptions routes = {},
      const Authenticator* auth = nullptr, const TriagePredictor* triage = nullptr,
      sync::Scheduler* sources = nullptr, Collections* collections = nullptr, TriageRetrainer* retrainer = nullptr,
      BackgroundJobs jobs = {});

  Response handle(Request& req);
  // True for requests that wait for the model (run them off the route
  // workers so a long generation never stalls search): a generation route
  // while an LLM serves. Before one is activated, /v1/answer is extractive
  // and runs on the route workers like search.
  bool is_generation(const Request& req) const;
  // The server lane of the request's route (router.h). A search of a
  // cluster's shard replica (POST /v1/collections/shard-<s>/search, the
  // phases another node's searches ask) is Lane::kPeer: it never waits for
  // another node, while the searches coordinated here wait for their
  // peers' phases. On the route workers, two nodes whose searches wait for
  // each other's phases could hold every worker those phases need, and
  // each search would wait out its timeout.
  Lane lane(const Request& req) const;
  // Called once a response has been sent (streams: once they end).
  void observe(const Request& req, int status, double seconds);
  // The route's pattern ("/v1/documents/{id}"), "other" for unknown paths.
  std::string route_label(const Request& req) const { return router_.label(req); }

  // `serve --cluster`: the default collection's writes and searches go
  // through the cluster (api.cluster). Call before serving. Null: off.
  // Also adds the cluster's series to /metrics; the node must outlive the
  // server's use of the registry.
  void set_cluster(cluster::Node* node);

  const Router& router() const { return router_; }
  Registry& registry() { return registry_; }

 private:
  std::vector<Route> route_table();
  void count_ingest(const Response& resp);
  // Sets the per-collection gauges (called by the metrics collector).
  void collect_collections();

  // Before api_, which points at it.
  std::unique_ptr<TicketAssist> tickets_;
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
  // Per collection ("default" and every open one); set by the collector.
  CounterFamily& collection_requests_;
  GaugeFamily& collection_documents_;
  GaugeFamily& collection_chunks_;
  GaugeFamily& collection_disk_full_;
  GaugeFamily& collection_read_errors_;
  GaugeFamily& feedback_rated_;
  GaugeFamily& feedback_accepted_;
  GaugeFamily& feedback_rate_;
};

}  // namespace ragd::api

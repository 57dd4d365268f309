// The handlers of the route table (api/app.cpp), one file per resource:
//
//   admin.cpp      GET /healthz, GET /v1/stats, GET /metrics, GET / (web page)
//   documents.cpp  POST /v1/documents, GET|DELETE /v1/documents/{id}
//   search.cpp     POST /v1/search
//   answer.cpp     POST /v1/answer (extractive, or the LLM while one serves)
//   feedback.cpp   POST /v1/answers/{id}/feedback (govern/feedback.h)
//   registry.cpp   GET /v1/registry/models, POST /v1/registry/models/{name}/activate
//   purge.cpp      POST /v1/purge, POST /v1/retention/run (govern/retention.h)
//   evals.cpp      GET /v1/evals, POST /v1/evals/run (govern/eval_suite.h)
//   openai.cpp     POST /v1/chat/completions, GET /v1/models, POST /v1/embeddings
//   tickets.cpp    POST /v1/tickets/assist (+ /feedback), /v1/tickets/{summarize,resolution_note,kb_draft}
//   sources.cpp    GET /v1/sources, POST /v1/sources/{name}/sync, the sync metrics
//   webhooks.cpp   POST /v1/webhooks/{source-name}
//   collections.cpp GET|POST /v1/collections, and which collection a request
//                  works in (the routes above under /v1/collections/{name}/)
//
// Each is a function of (Request, Api) returning a Response: no sockets, no
// Beast. They parse the request, call service/ once, and encode the result.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>

#include <nlohmann/json_fwd.hpp>

#include "api/http_types.h"
#include "api/metrics.h"
#include "govern/eval_suite.h"
#include "service/answerer.h"
#include "service/periodic_job.h"
#include "service/service.h"
#include "service/ticket_assist.h"
#include "service/triage_retrainer.h"

namespace ragd::sync {
class Scheduler;
}

namespace ragd::cluster {
class Node;
}

namespace ragd {
class Collections;
}

namespace ragd::api {

class LlmService;

struct RouteOptions {
  // Largest k accepted by /v1/search, /v1/answer and the ragd extension of
  // /v1/chat/completions. Default: 1000.
  int max_k = kMaxSearchK;
  // Documents accepted in one POST /v1/documents. Default: 10000.
  size_t max_documents_per_request = 10000;
  // The answer audit log, where POST /v1/answers/{id}/feedback finds the
  // answer it judges. Default: empty (feedback answers 404).
  std::filesystem::path audit_log;
  // How much worse (absolute) a candidate's evaluation suite metric may be
  // than the active one's before POST /v1/registry/models/{name}/activate
  // refuses it without "force" (govern/eval_suite.h). Default: 0.02.
  double eval_tolerance = govern::kDefaultEvalTolerance;
};

// The governance jobs of `ragd serve` (service/periodic_job.h); null = not
// running: their routes answer 501 and /v1/stats shows null.
struct BackgroundJobs {
  // The evaluation suite; a run's request is "" (the active configuration)
  // or a registered model's name (a candidate beside it).
  PeriodicJob* evals = nullptr;
  // Retention ([[retention]] tables) on its schedule.
  PeriodicJob* retention = nullptr;
};

// What the handlers work with. Everything must outlive the routes.
struct Api {
  ServiceContext& service;
  // Answers POST /v1/answer: the extractive answerer, or the LLM one.
  const Answerer& answerer;
  // The LLM's admission queue, metrics and plain chat (its model may be
  // none yet: LlmService::path() null); null = no LLM service.
  LlmService* llm = nullptr;
  // /metrics; null = the route answers an empty exposition.
  Registry* registry = nullptr;
  RouteOptions options;
  // The ticket routes; null = they answer 501.
  TicketAssist* tickets = nullptr;
  // The sync scheduler of `serve` (sync/scheduler.h); null = no [[source]]
  // tables: /v1/sources lists none, webhooks are 404.
  sync::Scheduler* sources = nullptr;
  // The other collections (service/collections.h); null = only the default
  // one (`service`).
  Collections* collections = nullptr;
  // Retrains the triage models in the server (service/triage_retrainer.h);
  // null = POST /v1/triage/train answers 501.
  TriageRetrainer* retrainer = nullptr;
  BackgroundJobs jobs;
  // `serve --cluster`: the default collection's writes go to the cluster's
  // log and its searches fan out over the shards (cluster/node.h); null =
  // single node.
  cluster::Node* cluster = nullptr;
};

// The service of the request's collection (req.collection; "" = the
// default, api.service): kPermissionDenied when the caller's key is bound
// to another collection, kNotFound for an unknown one.
Result<std::shared_ptr<ServiceContext>> collection_service(const Request& req, const Api& api);
// Read-your-writes on a cluster node: the body's `consistency_token` (the
// one a write answered with) as shard -> stream sequence; empty without a
// token or off a cluster. kInvalidArgument for a malformed one.
Result<std::map<uint32_t, uint64_t>> consistency_positions(const nlohmann::json& body, const Api& api);
// On a cluster node the default collection is every shard: the reader an
// answer or a ticket assist reads through (the coordinator, from replicas
// that have applied the body's consistency_token). Null for any other
// collection, and off a cluster.
Result<std::shared_ptr<const KnowledgeReader>> cluster_reader(const Request& req, const nlohmann::json& body,
                                                              const Api& api);
Response handle_list_collections(const Request& req, Api& api);
Response handle_create_collection(const Request& req, Api& api);
Response handle_delete_collection(const Request& req, Api& api);

Response handle_healthz(const Request& req, Api& api);
Response handle_stats(const Request& req, Api& api);
Response handle_metrics(const Request& req, Api& api);
Response handle_web_page(const Request& req, Api& api);

Response handle_post_documents(const Request& req, Api& api);
Response handle_get_document(const Request& req, Api& api);
Response handle_delete_document(const Request& req, Api& api);

Response handle_search(const Request& req, Api& api);
Response handle_answer(const Request& req, Api& api);
Response handle_answer_feedback(const Request& req, Api& api);
Response handle_list_registry(const Request& req, Api& api);
Response handle_purge(const Request& req, Api& api);
Response handle_run_retention(const Request& req, Api& api);
Response handle_registry_action(const Request& req, Api& api);
Response handle_list_evals(const Request& req, Api& api);
Response handle_run_evals(const Request& req, Api& api);

Response handle_ticket_assist(const Request& req, Api& api);
Response handle_ticket_summarize(const Request& req, Api& api);
Response handle_ticket_resolution_note(const Request& req, Api& api);
Response handle_ticket_kb_draft(const Request& req, Api& api);
Response handle_ticket_feedback(const Request& req, Api& api);

Response handle_chat_completions(const Request& req, Api& api);
Response handle_models(const Request& req, Api& api);
Response handle_embeddings(const Request& req, Api& api);

Response handle_list_sources(const Request& req, Api& api);
Response handle_triage_status(const Request& req, Api& api);
Response handle_triage_train(const Request& req, Api& api);
Response handle_triage_activate(const Request& req, Api& api);
Response handle_source_action(const Request& req, Api& api);
Response handle_webhook(const Request& req, Api& api);
// Per-source counters and lag on /metrics, read from the scheduler at each
// scrape. Both must outlive each other's use (the scheduler the registry).
void register_sync_metrics(Registry& registry, sync::Scheduler& scheduler);
// The cluster node's series on /metrics (shard map revision, and per applied
// shard its sequence, the stream's, the lag and the failed attempts), read
// from the node at each scrape without any NATS or etcd call.
void register_cluster_metrics(Registry& registry, cluster::Node& node);

// The JSON error body of the OpenAI routes, with the HTTP code http_status()
// gives (and Retry-After on 503).
Response openai_error_response(const Status& status, int retry_after_s = 1);

}  // namespace ragd::api

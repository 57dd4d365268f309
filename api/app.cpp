#include "api/app.h"

#include <set>

#include <nlohmann/json.hpp>

#include "api/llm_service.h"
#include "api/process_memory.h"
#include "api/status_http.h"
#include "cluster/node.h"
#include "service/collections.h"

namespace ragd::api {

using auth::Action;

Lane App::lane(const Request& req) const {
  constexpr std::string_view kPrefix = "/v1/collections/";
  std::string_view path = req.path;
  if (api_.cluster != nullptr && req.method == "POST" && path.starts_with(kPrefix)) {
    path.remove_prefix(kPrefix.size());
    const size_t slash = path.find('/');
    if (slash != std::string_view::npos && cluster::is_shard_collection(path.substr(0, slash)) &&
        path.substr(slash) == "/search")
      return Lane::kPeer;
  }
  return router_.lane(req);
}

bool App::is_generation(const Request& req) const {
  return router_.is_generation(req) && api_.llm != nullptr && api_.llm->path() != nullptr;
}

std::vector<Route> App::route_table() {
  Api& api = api_;
  auto h = [&api](Response (*fn)(const Request&, Api&)) {
    return [&api, fn](const Request& req) { return fn(req, api); };
  };
  const bool llm = api.llm != nullptr;
  // method, pattern, handler, generation route, what the caller needs[, lane, body type]
  std::vector<Route> table = {
      {"GET",    "/healthz",             h(handle_healthz),          false, std::nullopt, Lane::kProbe},
      {"GET",    "/",                    h(handle_web_page),         false, std::nullopt},
      {"HEAD",   "/",                    h(handle_web_page),         false, std::nullopt},
      {"GET",    "/index.html",          h(handle_web_page),         false, std::nullopt},
      {"HEAD",   "/index.html",          h(handle_web_page),         false, std::nullopt},
      {"GET",    "/metrics",             h(handle_metrics),          false, Action::kStats, Lane::kProbe},
      {"GET",    "/v1/stats",            h(handle_stats),            false, Action::kStats},
      {"POST",   "/v1/documents",        h(handle_post_documents),   false, Action::kPostDocument,
       Lane::kIngest, BodyType::kJsonOrUpload},
      {"GET",    "/v1/documents/{id}",   h(handle_get_document),     false, Action::kGetDocument},
      {"DELETE", "/v1/documents/{id}",   h(handle_delete_document),  false, Action::kDeleteDocument},
      {"POST",   "/v1/search",           h(handle_search),           false, Action::kSearch},
      {"POST",   "/v1/answer",           h(handle_answer),           llm,   Action::kAnswer},
      {"POST",   "/v1/answers/{id}",     h(handle_answer_feedback),  false, Action::kAnswer},  // {id}/feedback
      {"GET",    "/v1/registry/models",  h(handle_list_registry),    false, Action::kStats},
      {"POST",   "/v1/purge",            h(handle_purge),            false, Action::kManageKeys},
      {"POST",   "/v1/retention/run",    h(handle_run_retention),    false, Action::kManageKeys},
      {"POST",   "/v1/registry/models/{name}", h(handle_registry_action), false, Action::kManageKeys},  // {name}/activate
      {"GET",    "/v1/evals",            h(handle_list_evals),       false, Action::kStats},
      {"POST",   "/v1/evals/run",        h(handle_run_evals),        false, Action::kManageKeys},
      {"POST",   "/v1/tickets/assist",   h(handle_ticket_assist),    false, Action::kAnswer},
      {"POST",   "/v1/tickets/assist/feedback", h(handle_ticket_feedback), false, Action::kAnswer},
      {"POST",   "/v1/tickets/summarize", h(handle_ticket_summarize), false, Action::kAnswer},
      {"POST",   "/v1/tickets/resolution_note", h(handle_ticket_resolution_note), false, Action::kAnswer},
      {"POST",   "/v1/tickets/kb_draft", h(handle_ticket_kb_draft),   false, Action::kAnswer},
      {"POST",   "/v1/chat/completions", h(handle_chat_completions), llm,   Action::kChat},
      {"GET",    "/v1/models",           h(handle_models),           false, Action::kChat},
      {"POST",   "/v1/embeddings",       h(handle_embeddings),       false, Action::kEmbed},
      {"GET",    "/v1/triage",           h(handle_triage_status),    false, Action::kStats},
      {"POST",   "/v1/triage/train",     h(handle_triage_train),     false, Action::kTrainTriage},
      {"POST",   "/v1/triage/activate",  h(handle_triage_activate),  false, Action::kTrainTriage},
      {"GET",    "/v1/sources",          h(handle_list_sources),     false, Action::kSync},
      {"POST",   "/v1/sources/{name}",   h(handle_source_action),    false, Action::kSync},  // {name}/sync
      // The vendor's signature authenticates a webhook, not an API key.
      {"POST",   "/v1/webhooks/{source}", h(handle_webhook),         false, std::nullopt},
      {"GET",    "/v1/collections",      h(handle_list_collections), false, Action::kSearch},
      {"POST",   "/v1/collections",      h(handle_create_collection), false, Action::kManageKeys},
      {"DELETE", "/v1/collections/{name}", h(handle_delete_collection), false, Action::kManageKeys},
  };
  // On a cluster node the collections "shard-<s>" are replicas written by
  // their appliers alone, from their streams: a write, delete or admin
  // operation through /v1/collections/shard-<s>/... would make this replica
  // differ from the others, behind the log's back. Reads stay open to
  // peers' coordinators, which search them over HTTP; with a cluster
  // secret to them alone (signed requests, Request::peer), and to an
  // admin's GETs: a replica's search phases, answers and BM25 scores are
  // computed over documents the caller may not read (cluster/README.md,
  // "Between nodes").
  for (Route& r : table) {
    const bool reads = r.method == "GET" || r.method == "HEAD" ||
                       (r.action && auth::required_role(*r.action) == auth::Role::kReader);
    if (reads) {
      r.handler = [&api, inner = std::move(r.handler)](const Request& req) {
        if (api.cluster != nullptr && !api.cluster->options().secret.empty() && req.peer.empty() &&
            cluster::is_shard_collection(req.collection) &&
            !((req.method == "GET" || req.method == "HEAD") && req.principal &&
              req.principal->role == auth::Role::kAdmin)) {
          return error_response(Status::permission_denied(
              "collection '" + req.collection + "' is a cluster shard's replica: with a cluster secret only the "
              "cluster's nodes search it; search through /v1/search"));
        }
        return inner(req);
      };
      continue;
    }
    r.handler = [&api, inner = std::move(r.handler)](const Request& req) {
      if (api.cluster != nullptr && cluster::is_shard_collection(req.collection)) {
        return error_response(Status::failed_precondition(
            "collection '" + req.collection + "' is a cluster shard's replica, written only from its stream: "
            "write and delete through /v1/documents"));
      }
      return inner(req);
    };
  }
  return table;
}

void App::set_cluster(cluster::Node* node) {
  api_.cluster = node;
  if (node != nullptr) register_cluster_metrics(registry_, *node);
}

App::App(ServiceContext& ctx, const Answerer& answerer, Registry& registry, LlmService* llm, RouteOptions routes,
         const Authenticator* auth, const TriagePredictor* triage, sync::Scheduler* sources,
         Collections* collections, TriageRetrainer* retrainer, BackgroundJobs jobs)
    : tickets_(std::make_unique<TicketAssist>(ctx, answerer, triage)),
      api_{ctx, answerer, llm, &registry, routes, tickets_.get(), sources, collections, retrainer, jobs},
      registry_(registry),
      router_(route_table(), auth),
      requests_(registry.counter("ragd_http_requests_total", "HTTP requests answered, by route and status code.",
                                 {"route", "code"})),
      latency_(registry.histogram("ragd_http_request_duration_seconds",
                                  "HTTP request duration (to the end of the response, streams included).", {"route"},
                                  latency_buckets_seconds())),
      ingest_docs_(registry.counter("ragd_ingest_documents_total", "Documents received for ingest, by result.",
                                    {"result"})),
      ingest_chunks_(registry.counter("ragd_ingest_chunks_total", "Chunks written by ingest.").get()),
      index_documents_(registry.gauge("ragd_index_documents", "Documents in the store.").get()),
      index_chunks_(registry.gauge("ragd_index_chunks", "Chunks in the store (and the vector index).").get()),
      index_terms_(registry.gauge("ragd_index_lexical_terms", "Distinct terms in the lexical index.").get()),
      index_rebuilds_(registry.gauge("ragd_index_rebuilds",
                                     "Rebuilds of the vector or inverted index from RocksDB since the store opened "
                                     "(a missing or damaged snapshot, or too many deleted vectors).").get()),
      index_last_rebuild_(registry.gauge("ragd_index_last_rebuild_seconds",
                                         "Duration of the last index rebuild from RocksDB (0 if none).").get()),
      store_disk_full_(registry.gauge("ragd_store_disk_full",
                                      "1 while the store's writes fail for lack of disk space, else 0.").get()),
      reindex_running_(registry.gauge("ragd_reindex_running",
                                      "1 while a background reindex to a new encoder runs, else 0.").get()),
      reindex_done_(registry.gauge("ragd_reindex_chunks_done",
                                   "Chunks embedded with the new encoder by the current or last reindex.").get()),
      reindex_total_(registry.gauge("ragd_reindex_chunks_to_do",
                                    "Chunks the current or last reindex has to embed.").get()),
      in_flight_(registry.gauge("ragd_http_requests_in_flight", "HTTP requests being handled.").get()),
      collection_requests_(registry.counter("ragd_collection_requests_total",
                                            "HTTP requests to a collection's routes answered below 400, by collection "
                                            "(\"default\" for the routes without /v1/collections/NAME/).",
                                            {"collection"})),
      collection_documents_(registry.gauge("ragd_collection_documents",
                                           "Documents in each open collection's store.", {"collection"})),
      collection_chunks_(registry.gauge("ragd_collection_chunks", "Chunks in each open collection's store.",
                                        {"collection"})),
      collection_disk_full_(registry.gauge("ragd_collection_disk_full",
                                           "1 while the collection's store writes fail for lack of disk space.",
                                           {"collection"})),
      collection_read_errors_(registry.gauge("ragd_collection_read_errors",
                                             "Corruption or I/O errors met reading the collection's store since it "
                                             "opened (the collection's /healthz-worthy faults).",
                                             {"collection"})),
      feedback_rated_(registry.gauge("ragd_ticket_feedback_rated",
                                     "Ticket assist feedback records that rate a part (stored, since the start of the "
                                     "store), by part: suggestion, similar, triage.",
                                     {"part"})),
      feedback_accepted_(registry.gauge("ragd_ticket_feedback_accepted",
                                        "Ticket assist feedback records that accepted a part (the suggestion helped, a "
                                        "similar ticket was used, the triage value was right), by part.",
                                        {"part"})),
      feedback_rate_(registry.gauge("ragd_ticket_acceptance_rate",
                                    "Accepted / rated ticket assist feedback, by part (0 when none rated).",
                                    {"part"})) {
  for (const char* r : {"ingested", "unchanged", "failed"}) ingest_docs_.with({r});
  register_process_memory_metrics(registry);
  if (sources != nullptr) register_sync_metrics(registry, *sources);
  registry.add_collector([this] {
    StoreStats s = api_.service.store().stats();
    index_documents_.set(static_cast<double>(s.documents));
    index_chunks_.set(static_cast<double>(s.chunks));
    index_terms_.set(static_cast<double>(s.lexical_terms));
    index_rebuilds_.set(static_cast<double>(s.index_rebuilds));
    index_last_rebuild_.set(s.last_rebuild_ms / 1000.0);
    store_disk_full_.set(s.disk_full ? 1 : 0);
    ReindexStatus r = api_.service.reindex_status();
    reindex_running_.set(r.active() ? 1 : 0);
    reindex_done_.set(static_cast<double>(r.done));
    reindex_total_.set(static_cast<double>(r.total));
    collect_collections();
    const FeedbackCounts f = tickets_->feedback_counts();
    const std::pair<const char*, std::pair<uint64_t, uint64_t>> parts[] = {
        {"suggestion", {f.suggestion_rated, f.suggestion_helpful}},
        {"similar", {f.similar_rated, f.similar_used}},
        {"triage", {f.triage_rated, f.triage_accepted}}};
    for (const auto& [part, ra] : parts) {
      feedback_rated_.with({part}).set(static_cast<double>(ra.first));
      feedback_accepted_.with({part}).set(static_cast<double>(ra.second));
      feedback_rate_.with({part}).set(ra.first ? static_cast<double>(ra.second) / static_cast<double>(ra.first) : 0);
    }
  });
}

void App::collect_collections() {
  std::set<std::string> open;
  auto set = [&](const std::string& name, const ServiceContext& ctx) {
    const StoreStats s = ctx.store().stats();
    collection_documents_.with({name}).set(static_cast<double>(s.documents));
    collection_chunks_.with({name}).set(static_cast<double>(s.chunks));
    collection_disk_full_.with({name}).set(s.disk_full ? 1 : 0);
    collection_read_errors_.with({name}).set(static_cast<double>(s.read_errors));
    open.insert(name);
  };
  if (api_.collections != nullptr) {
    api_.collections->for_each_open(set);
  } else {
    set("default", api_.service);
  }
  // A deleted collection's series go with it.
  auto is_open = [&](const LabelValues& v) { return open.count(v.at(0)) != 0; };
  for (GaugeFamily* g : {&collection_documents_, &collection_chunks_, &collection_disk_full_, &collection_read_errors_}) {
    g->retain(is_open);
  }
}

void App::observe(const Request& req, int status, double seconds) {
  const std::string route = router_.label(req);
  requests_.with({route, std::to_string(status)}).inc();
  // Answered requests only: an unknown collection's name (404) never becomes
  // a series, so a caller cannot grow /metrics without bound.
  if (status < 400 && route.starts_with("/v1/") && !route.starts_with("/v1/collections")) {
    collection_requests_.with({req.collection.empty() ? "default" : req.collection}).inc();
  }
  latency_.with({route}).observe(seconds);
}

void App::count_ingest(const Response& resp) {
  auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (!j.is_object()) return;
  for (const char* r : {"ingested", "unchanged", "failed"}) {
    if (j.contains(r) && j[r].is_number()) ingest_docs_.with({r}).inc(j[r].get<double>());
  }
  if (j.contains("chunks") && j["chunks"].is_number()) ingest_chunks_.inc(j["chunks"].get<double>());
}

Response App::handle(Request& req) {
  in_flight_.inc();
  struct Done {
    Gauge& g;
    ~Done() { g.dec(); }
  } done{in_flight_};
  Response r = router_.dispatch(req);
  if (req.method == "POST" && req.path == "/v1/documents" && r.status < 500) count_ingest(r);
  return r;
}

}  // namespace ragd::api

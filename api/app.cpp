#include "api/app.h"

#include <nlohmann/json.hpp>

#include "api/process_memory.h"
#include "api/web_assets.h"

namespace ragd::api {

namespace {

constexpr std::string_view kDocumentsPrefix = "/v1/documents/";

Response method_not_allowed(const Request& req, const char* allow) {
  Response r = error_response(405, "method_not_allowed",
                              req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace

App::App(ServiceContext& ctx, Registry& registry, LlmService* llm, RouteOptions routes)
    : ctx_(ctx),
      registry_(registry),
      llm_(llm),
      routes_(routes),
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
      reindex_running_(registry.gauge("ragd_reindex_running",
                                      "1 while a background reindex to a new encoder runs, else 0.").get()),
      reindex_done_(registry.gauge("ragd_reindex_chunks_done",
                                   "Chunks embedded with the new encoder by the current or last reindex.").get()),
      reindex_total_(registry.gauge("ragd_reindex_chunks_to_do",
                                    "Chunks the current or last reindex has to embed.").get()),
      in_flight_(registry.gauge("ragd_http_requests_in_flight", "HTTP requests being handled.").get()) {
  for (const char* r : {"ingested", "unchanged", "failed"}) ingest_docs_.with({r});
  register_process_memory_metrics(registry);
  registry.add_collector([this] {
    StoreStats s = ctx_.store().stats();
    index_documents_.set(static_cast<double>(s.documents));
    index_chunks_.set(static_cast<double>(s.chunks));
    index_terms_.set(static_cast<double>(s.lexical_terms));
    ReindexStatus r = ctx_.reindex_status();
    reindex_running_.set(r.state == "running" || r.state == "switching" ? 1 : 0);
    reindex_done_.set(static_cast<double>(r.done));
    reindex_total_.set(static_cast<double>(r.total));
  });
}

std::string App::route_label(const std::string& path) {
  static const char* const kFixed[] = {"/",         "/healthz",        "/metrics",       "/v1/stats",
                                       "/v1/search", "/v1/answer",      "/v1/documents",  "/v1/models",
                                       "/v1/embeddings", "/v1/chat/completions"};
  for (const char* f : kFixed) {
    if (path == f) return f;
  }
  if (path.size() > kDocumentsPrefix.size() && path.compare(0, kDocumentsPrefix.size(), kDocumentsPrefix) == 0) {
    return "/v1/documents/{id}";
  }
  return "other";
}

bool App::is_generation(const Request& req) const {
  return llm_ != nullptr && req.method == "POST" && (req.path == "/v1/answer" || req.path == "/v1/chat/completions");
}

void App::observe(const Request& req, int status, double seconds) {
  const std::string route = route_label(req.path);
  requests_.with({route, std::to_string(status)}).inc();
  latency_.with({route}).observe(seconds);
}

Response App::metrics_page() {
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = registry_.expose();
  return r;
}

void App::count_ingest(const Response& resp) {
  auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (!j.is_object()) return;
  for (const char* r : {"ingested", "unchanged", "failed"}) {
    if (j.contains(r) && j[r].is_number()) ingest_docs_.with({r}).inc(j[r].get<double>());
  }
  if (j.contains("chunks") && j["chunks"].is_number()) ingest_chunks_.inc(j["chunks"].get<double>());
}

Response App::handle(const Request& req) {
  in_flight_.inc();
  struct Done {
    Gauge& g;
    ~Done() { g.dec(); }
  } done{in_flight_};
  try {
    const std::string& p = req.path;
    const std::string& m = req.method;
    if (p == "/" || p == "/index.html") {
      if (m != "GET" && m != "HEAD") return method_not_allowed(req, "GET");
      Response r;
      r.content_type = "text/html; charset=utf-8";
      r.body = std::string(web_index_html());
      r.headers.emplace_back("Cache-Control", "no-cache");
      return r;
    }
    if (p == "/metrics") return m == "GET" ? metrics_page() : method_not_allowed(req, "GET");
    if (p == "/v1/embeddings") return m == "POST" ? handle_embeddings(req, ctx_) : method_not_allowed(req, "POST");
    if (p == "/v1/models") {
      if (m != "GET") return method_not_allowed(req, "GET");
      if (llm_) return llm_->models(req);
      Response r;
      nlohmann::json list = {{"object", "list"}, {"data", nlohmann::json::array()}};
      if (ctx_.embedder()) list["data"].push_back({{"id", "ragd-embed"}, {"object", "model"}, {"created", 0}, {"owned_by", "ragd"}});
      r.body = list.dump();
      return r;
    }
    if (p == "/v1/chat/completions") {
      if (m != "POST") return method_not_allowed(req, "POST");
      if (!llm_) return openai_error_response(Status::unavailable("no language model is loaded (start with --llm)"));
      return llm_->chat_completions(req, routes_);
    }
    if (p == "/v1/answer" && m == "POST" && llm_) return llm_->answer(req, routes_);
    Response r = api::handle(req, ctx_, routes_);
    if (p == "/v1/documents" && m == "POST" && r.status < 500) count_ingest(r);
    return r;
  } catch (const std::bad_alloc&) {
    return error_response(Status::resource_exhausted("out of memory while handling " + req.path));
  } catch (const std::exception& e) {
    return error_response(Status::internal(std::string("unexpected error: ") + e.what()));
  }
}

}  // namespace ragd::api

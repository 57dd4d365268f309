// `ragd serve --listen HOST:PORT [--llm MODEL.gguf ...]`: the HTTP API, with
// the LLM answer path, the OpenAI-compatible routes, /metrics and the web page
// (api/app.h).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "api/cli/cli.h"
#include "api/cli/config.h"
#include "api/app.h"
#include "api/auth_hook.h"
#include "api/llm_service.h"
#include "api/metrics.h"
#include "api/process_memory.h"
#include "api/request_log.h"
#include "api/server.h"
#include "govern/drift.h"
#include "api/cli/serve_jobs.h"
#include "govern/escalation.h"
#include "govern/registry.h"
#include "cluster/node.h"
#include "cluster/sync_target.h"
#include "service/collections.h"
#include "service/extractive_path.h"
#include "service/live_llm.h"
#include "service/llm_path.h"
#include "service/ticket_assist.h"
#include "service/triage_retrainer.h"
#include "auth/authenticator.h"
#include "sync/scheduler.h"

namespace ragd::cli {
namespace {

struct ServeArgs {
  CommonOptions common;
  std::string listen = "127.0.0.1:8080";
  int threads = 0;
  size_t max_body = 64u << 20;
  uint32_t max_header = 16u << 10;
  int read_timeout = 30;
  int max_inflight = 256;
  int max_connections = 1024;
  size_t max_inflight_body = 256u << 20;
  int max_ingest_inflight = 2;
  std::string port_file;
  // The LLM answer path (--llm).
  std::string llm, prompts, audit_log;
  int max_queue = 8, max_concurrent = 0, parallel = 4, max_tokens = 256, llm_threads = 0, llm_ctx = 0;
  double request_timeout = 120;
  // Background reindex (--reindex).
  bool reindex = false;
  std::string from_embed_model;
  size_t reindex_batch = 256;
  int reindex_pause_ms = 0;
  // Log lines: "text" or "json" (one object per line, one per request).
  std::string log_format = "text";
  // Authentication (auth/authenticator.h).
  bool insecure_no_auth = false;
  std::string metrics_token;
  std::string jwks, jwt_issuer, jwt_audience, jwt_groups_claim = "groups", jwt_role_claim;
  double rate_limit = 0, rate_burst = 20;
  std::vector<std::string> allow_origins;
  // TLS (api/server.h): PEM certificate chain and private key.
  std::string tls_cert, tls_key;
  // Triage retraining in the server (service/triage_retrainer.h).
  std::string triage_retrain;  // interval ("1d"), "" = only on request
  std::vector<std::string> triage_fields;
  // Governance jobs (api/cli/serve_jobs.h): intervals ("12h"), "" = only on request.
  std::string eval_interval, retention_interval;
  double eval_tolerance = govern::kDefaultEvalTolerance;
  // Cluster file (cluster/options.h): join a cluster; "" = single node.
  std::string cluster;
};

// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The credential checks of `serve`: API keys in <data>/keys.json (`ragd
// keys`), and OIDC tokens when --jwks is given.
Result<std::unique_ptr<auth::Authenticator>> open_authenticator(const ServeArgs& a) {
  std::error_code ec;
  std::filesystem::create_directories(a.common.data, ec);
  auto keys = auth::KeyStore::open(a.common.data);
  if (!keys.is_ok()) return keys.status().with_context("API keys");
  std::unique_ptr<auth::JwtVerifier> jwt;
  if (!a.jwks.empty()) {
    auth::JwtOptions jo;
    jo.issuer = a.jwt_issuer;
    jo.audience = a.jwt_audience;
    jo.groups_claim = a.jwt_groups_claim;
    jo.role_claim = a.jwt_role_claim;
    auto v = auth::JwtVerifier::load(a.jwks, jo);
    if (!v.is_ok()) return v.status().with_context("--jwks");
    jwt = std::move(v).value();
  }
  auth::AuthenticatorOptions ao;
  ao.metrics_token = a.metrics_token;
  if (a.rate_limit > 0) {
    auth::RateLimiterOptions rl;
    rl.rate_per_second = a.rate_limit;
    rl.burst = a.rate_burst;
    ao.rate_limit = rl;
  }
  return auth::Authenticator::make(std::move(keys).value(), std::move(jwt), std::move(ao));
}

// "HOST:PORT", "[::1]:PORT", "*:PORT" or ":PORT" (all interfaces).
Status parse_listen(const std::string& listen, std::string& host, uint16_t& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Status::invalid_argument("--listen: expected HOST:PORT, got '" + listen + "'");
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "*") host = "0.0.0.0";
  const std::string digits = listen.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(digits) > 65535) {
    return Status::invalid_argument("--listen: bad port in '" + listen + "'");
  }
  port = static_cast<uint16_t>(std::stoi(digits));
  return Status::ok();
}

// A start-up message: a plain line in text mode, a JSON log line in json mode
// (so that every line of a json log parses).
void note(const std::string& msg, bool warning = false) {
  if (api::log_format() == api::LogFormat::kJson) {
    if (warning) {
      spdlog::warn("{}", msg);
    } else {
      spdlog::info("{}", msg);
    }
    return;
  }
  std::fprintf(warning ? stderr : stdout, "ragd: %s%s\n", warning ? "warning: " : "", msg.c_str());
  std::fflush(warning ? stderr : stdout);
}

int run_serve(const ServeArgs& a) {
  api::set_log_format(a.log_format == "json" ? api::LogFormat::kJson : api::LogFormat::kText);
  // Before any thread starts: large per-request blocks go back to the kernel.
  api::fix_malloc_mmap_threshold();
  api::ServerOptions so;
  if (Status st = parse_listen(a.listen, so.host, so.port); !st.is_ok()) return fail(st);
  so.io_threads = a.threads;
  so.worker_threads = a.threads;
  so.max_body_bytes = a.max_body;
  so.max_header_bytes = a.max_header;
  so.read_timeout_s = a.read_timeout;
  so.max_inflight = a.max_inflight;
  so.max_connections = a.max_connections;
  so.max_inflight_body_bytes = a.max_inflight_body;
  so.max_ingest_inflight = a.max_ingest_inflight;
  so.port_file = a.port_file;
  so.tls_cert_file = a.tls_cert;
  so.tls_key_file = a.tls_key;

  auto authn = open_authenticator(a);
  if (!authn.is_ok()) return fail(authn.status());
  if (!(*authn)->required()) {
    if (!is_loopback(so.host) && !a.insecure_no_auth) {
      return fail(Status::failed_precondition(
          "refusing to listen on " + so.host + " without authentication: create a key with `ragd keys create "
          "--data " + a.common.data + " --name NAME --role admin`, give --jwks, or pass --insecure-no-auth"));
    }
    if (!is_loopback(so.host)) note("listening beyond loopback with no authentication (--insecure-no-auth)", true);
  }
  if (!is_loopback(so.host) && a.tls_cert.empty()) {
    note("listening on " + so.host + " without TLS: API keys and documents cross the network in clear text; "
         "give --tls-cert and --tls-key",
         true);
  }
  api::KeyAuth key_auth(**authn, a.allow_origins);

  ServiceOptions opts = service_options(a.common, EmbedderLoad::kOptional);
  opts.reindex.enabled = a.reindex;
  opts.reindex.previous.model = a.from_embed_model;
  opts.reindex.batch = a.reindex_batch;
  opts.reindex.pause_ms = a.reindex_pause_ms;
  auto svc = ServiceContext::open(std::move(opts));
  if (!svc.is_ok()) return fail(svc.status());
  if (ReindexStatus r = (*svc)->reindex_status(); r.state == ReindexState::kRunning) {
    note("reindexing in the background from " + r.from + " to " + r.target +
         "; serving with the old encoder until the switch");
  } else if (a.reindex) {
    note("--reindex: the store is already bound to this encoder; nothing to do");
  }
  if ((*svc)->embedder() == nullptr) {
    note("no GloVe file found; ingest is disabled and search is lexical only", true);
  }
  const std::filesystem::path audit_path =
      a.audit_log.empty() ? std::filesystem::path(a.common.data) / "audit.jsonl" : std::filesystem::path(a.audit_log);
  // The Answerer of POST /v1/answer: the LLM (--llm, or the registry's
  // active one), else the extractive answerer until an LLM is activated
  // (POST /v1/registry/models/{name}/activate switches it in live). Either
  // records its answers in the audit log.
  api::Registry registry;
  std::unique_ptr<AuditLog> audit;  // the extractive answers' and escalations' (an LLM opens its own)
  if (auto opened = AuditLog::open(audit_path); opened.is_ok()) {
    audit = std::move(opened).value();
  } else {
    return fail(opened.status());
  }
  ExtractiveAnswerPath extractive(**svc, audit.get());
  std::string llm_file = a.llm;
  // Without --llm, the registry's active LLM (`ragd models activate`).
  if (llm_file.empty()) {
    auto active = govern::active_model((*svc)->store(), govern::ModelRole::kLlm);
    if (!active.is_ok()) return fail(active.status());
    if (active->has_value()) {
      llm_file = (*active)->path;
      note("the registry's active LLM '" + (*active)->name + "' (" + (*active)->sha256.substr(0, 12) + ")");
    }
  }
  LlmPathOptions lo;
  lo.prompts = a.prompts;
  lo.audit_log = audit_path;
  lo.max_concurrent = a.max_concurrent > 0 ? a.max_concurrent : a.parallel;
  lo.parallel = a.parallel;
  lo.answerer.max_tokens = a.max_tokens;
  lo.answerer.n_threads = a.llm_threads;
  lo.answerer.n_ctx = a.llm_ctx;
  lo.answerer.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.request_timeout * 1000));
  std::shared_ptr<const LlmAnswerPath> first;
  if (!llm_file.empty()) {
    LlmPathOptions o = lo;
    o.model = llm_file;
    auto opened = LlmAnswerPath::open(**svc, o);
    if (!opened.is_ok()) return fail(opened.status());
    first = std::move(opened).value();
  }
  LiveLlm live(**svc, lo, std::move(first), extractive);
  api::LlmServiceOptions qo;
  qo.max_queue = a.max_queue;
  api::LlmService llm(live, qo, registry);
  if (live.current() != nullptr) {
    note("LLM " + llm_file + " loaded (models \"" + qo.rag_model_name + "\" and \"" + llm.model_id() +
         "\"), audit log " + lo.audit_log.string());
  }
  // Drift signals of the local answers (govern/drift.h) in /metrics: the
  // last window against the stored baseline window.
  govern::DriftMonitor drift(&(*svc)->store());
  {
    auto& best = registry.histogram("ragd_retrieval_best_score", "The best retrieval score (fused) per answered query.",
                                    {}, {0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0});
    drift.on_sample = [&best](const govern::DriftSample& s) { best.get().observe(s.best_score); };
    auto& refusal = registry.gauge("ragd_drift_refusal_rate", "Share of refused answers, by window (current, baseline).",
                                   {"window"});
    auto& oov = registry.gauge("ragd_drift_oov_share",
                               "Mean share of query terms outside the lexical index's vocabulary, by window.", {"window"});
    auto& score = registry.gauge("ragd_drift_best_score_mean", "Mean best retrieval score per answer, by window.",
                                 {"window"});
    auto& grounding = registry.gauge("ragd_drift_grounding_share",
                                     "Share of answers by citation outcome (grounding) and window.", {"grounding", "window"});
    auto& answers = registry.gauge("ragd_drift_window_answers", "Answers in the window.", {"window"});
    auto& shift = registry.gauge("ragd_drift_shift",
                                 "Current window minus baseline window, by signal (refusal_rate, oov_share, "
                                 "best_score_mean, grounding_<name>); 0 until a baseline exists.",
                                 {"signal"});
    registry.add_collector([&drift, &refusal, &oov, &score, &grounding, &answers, &shift] {
      const govern::DriftStats cur = drift.current();
      const std::optional<govern::DriftStats> base = drift.baseline();
      auto put = [&](const char* window, const govern::DriftStats& s) {
        refusal.with({window}).set(s.refusal_rate);
        oov.with({window}).set(s.oov_share);
        score.with({window}).set(s.best_score_mean);
        answers.with({window}).set(static_cast<double>(s.answers));
        for (const char* g : {"extractive", "verified", "partial", "fallback", "refused"}) {
          auto it = s.grounding_share.find(g);
          grounding.with({g, window}).set(it == s.grounding_share.end() ? 0.0 : it->second);
        }
      };
      put("current", cur);
      if (base) put("baseline", *base);
      auto share = [](const govern::DriftStats& s, const char* g) {
        auto it = s.grounding_share.find(g);
        return it == s.grounding_share.end() ? 0.0 : it->second;
      };
      const bool have = base.has_value() && base->answers > 0 && cur.answers > 0;
      shift.with({"refusal_rate"}).set(have ? cur.refusal_rate - base->refusal_rate : 0.0);
      shift.with({"oov_share"}).set(have ? cur.oov_share - base->oov_share : 0.0);
      shift.with({"best_score_mean"}).set(have ? cur.best_score_mean - base->best_score_mean : 0.0);
      for (const char* g : {"extractive", "verified", "partial", "fallback", "refused"}) {
        shift.with({std::string("grounding_") + g}).set(have ? share(cur, g) - share(*base, g) : 0.0);
      }
    });
  }
  govern::DriftAnswerer drift_answerer(live, **svc, drift);
  // The [[escalation]] tables: a refused or unverified answer may go to a
  // collection's larger model when the policy and the request allow it
  // (govern/escalation.h). Its records go to the same audit log.
  std::unique_ptr<govern::EscalatingAnswerer> escalating;
  if (const std::string& file = effective_config_file(); !file.empty()) {
    auto policies = govern::read_escalation_policies(file);
    if (!policies.is_ok()) return fail(policies.status());
    if (!policies->empty()) {
      size_t allowed = 0;
      for (const auto& p : *policies) allowed += p.allow ? 1 : 0;
      auto made = govern::EscalatingAnswerer::make(drift_answerer, **svc, std::move(policies).value(), audit.get());
      if (!made.is_ok()) return fail(made.status());
      escalating = std::move(made).value();
      auto& outcomes = registry.counter("ragd_escalations_total",
                                        "Answers whose request asked for escalation, by outcome", {"outcome"});
      for (std::string_view o : govern::kEscalationOutcomes) outcomes.with({std::string(o)});
      escalating->on_outcome = [&outcomes](std::string_view o) { outcomes.with({std::string(o)}).inc(); };
      note("escalation allowed for " + std::to_string(allowed) + " collection(s) (\"escalate\": true)");
    }
  }
  const Answerer& served = escalating ? static_cast<const Answerer&>(*escalating) : drift_answerer;
  // The triage models `ragd triage train` activated: /v1/tickets/assist's
  // "triage" (none trained: "triage": {}).
  auto triage = StoredTriage::open((*svc)->store());
  if (!triage.is_ok()) return fail(triage.status());
  if ((*triage)->fields() > 0) note("triage models serve " + std::to_string((*triage)->fields()) + " field(s)");
  // Retraining them in the server (the store is this process's): on a
  // schedule with --triage-retrain, and on POST /v1/triage/train.
  RetrainOptions ro;
  ro.fields = a.triage_fields;
  ro.audit = audit.get();  // a forced activation of a worse model is recorded there first
  if (!a.triage_retrain.empty()) {
    auto secs = sync::parse_interval(a.triage_retrain);
    if (!secs) {
      return fail(Status::invalid_argument("--triage-retrain must look like 30m, 12h or 7d, got '" + a.triage_retrain +
                                           "'"));
    }
    ro.interval_seconds = *secs;
  }
  TriageRetrainer retrainer((*svc)->store(), **triage, ro);
  // The other collections, at <data>/collections/NAME (service/collections.h).
  Collections collections(**svc, (*svc)->options());
  // The [[source]] tables of the config file: each syncs in the background
  // on its interval (sync/scheduler.h). Read (and checked) before joining
  // a cluster: a typo must not leave a half-started node behind.
  std::vector<sync::SourceConfig> sources;
  if (const std::string& file = effective_config_file(); !file.empty()) {
    auto read = sync::read_sources(file);
    if (!read.is_ok()) return fail(read.status());
    sources = std::move(read).value();
    for (const auto& s : sources) {
      if (!s.webhook_secret_env.empty() && std::getenv(s.webhook_secret_env.c_str()) == nullptr) {
        note("source '" + s.name + "': " + s.webhook_secret_env + " is not set; its webhooks are refused (404)", true);
      }
    }
  }
  // The evaluation suite and retention, on their schedules and on request.
  ServeJobsOptions jo;
  jo.config_file = effective_config_file();
  for (auto [flag, text, out] : {std::tuple{"--eval-interval", &a.eval_interval, &jo.eval_interval_seconds},
                                 std::tuple{"--retention-interval", &a.retention_interval, &jo.retention_interval_seconds}}) {
    if (text->empty()) continue;
    auto secs = sync::parse_interval(*text);
    if (!secs) return fail(Status::invalid_argument(std::string(flag) + " must look like 30m, 12h or 7d, got '" + *text + "'"));
    *out = *secs;
  }
  jo.skip_shard_collections = !a.cluster.empty();
  jo.suite.loaded_llm = &live;
  jo.suite.llm.prompts = a.prompts;
  jo.suite.llm.answerer.n_threads = a.llm_threads;
  jo.suite.llm.answerer.n_ctx = a.llm_ctx;
  jo.suite.llm.answerer.max_tokens = a.max_tokens;
  auto jobs = make_serve_jobs(**svc, collections, jo, registry);
  if (!jobs.is_ok()) return fail(jobs.status());
  // A cluster node: the default collection's writes go to the shards'
  // JetStream streams and its searches fan out (cluster/README.md).
  std::unique_ptr<cluster::Node> cluster_node;
  if (!a.cluster.empty()) {
    auto co = cluster::read_cluster_options(a.cluster);
    if (!co.is_ok()) return fail(co.status());
    if (Status st = cluster::read_cluster_secrets(*co, a.cluster); !st.is_ok()) return fail(st);
    if (!co->secret_file.empty()) {
      // The peers take this node's word for who the caller is: a node that
      // asks no key would let anyone read every shard's restricted documents.
      if (!(*authn)->required() && !a.insecure_no_auth) {
        return fail(Status::failed_precondition(
            "the cluster file has a secret_file, so the other nodes trust this node's callers, but this node "
            "requires no key: create one with `ragd keys create --data " + a.common.data +
            " --name NAME --role admin`, or pass --insecure-no-auth"));
      }
    }
    auto node = cluster::Node::start(std::move(co).value(), collections);
    if (!node.is_ok()) return fail(node.status().with_context("joining the cluster"));
    cluster_node = std::move(node).value();
    // A purge applied here, whichever node took it: cached prompts may hold
    // the document's passages.
    cluster_node->set_purge_listener([&llm](const std::string&) {
      if (auto path = llm.path()) path->clear_prefix_cache();
    });
    if (!cluster_node->options().secret.empty()) {
      key_auth.accept_peers(cluster_node->options().secret, cluster_node->options().name,
                            cluster_node->options().accepted_secrets);
    } else if ((*authn)->required()) {
      note("the cluster file has no secret_file: searches pass each caller's key on to the other nodes, so every "
           "node needs the same keys, and any key may ask a shard's statistics (cluster/README.md, \"Between "
           "nodes\")",
           true);
    }
    note("cluster node " + cluster_node->options().node_id + " of '" + cluster_node->options().name + "': " +
         std::to_string(cluster_node->options().shards) + " shards");
  }
  std::unique_ptr<cluster::LogSyncTarget> sync_log;
  std::unique_ptr<sync::Scheduler> scheduler;
  if (!sources.empty()) {
    sync::SchedulerOptions sched;
    sched.ingest = (*svc)->options().ingest;
    ServiceContext* ctx = svc->get();
    if (cluster_node) {
      // Through the log, the cursors in etcd, one node per source
      // (cluster/sync_target.h).
      sync_log = std::make_unique<cluster::LogSyncTarget>(*cluster_node, &ctx->store());
      sched.target = sync_log.get();
    }
    scheduler = std::make_unique<sync::Scheduler>(
        ctx->store(), [ctx] { return ctx->embedder(); }, std::move(sources), sched);
  }
  api::RouteOptions route_options;
  route_options.audit_log = audit_path;
  route_options.eval_tolerance = a.eval_tolerance;
  api::App app(**svc, served, registry, &llm, route_options, &key_auth, triage->get(), scheduler.get(), &collections,
               &retrainer, api::BackgroundJobs{(*jobs)->evals.get(), (*jobs)->retention.get()});
  if (cluster_node) app.set_cluster(cluster_node.get());
  // Queued generation requests wait without a thread (api/admission.h).
  so.generation_threads = std::max(2, (a.max_concurrent > 0 ? a.max_concurrent : a.parallel) + 1);
  int code = 0;
  {
    api::Server server(app, so);
    Status st = server.listen();
    if (!st.is_ok()) return fail(st);
    if (api::log_format() == api::LogFormat::kText) {
      std::printf("ragd listening on %s://%s:%u\n", a.tls_cert.empty() ? "http" : "https", so.host.c_str(),
                  static_cast<unsigned>(server.port()));
      std::fflush(stdout);
    }
    if (cluster_node && cluster_node->options().advertise.empty()) {
      // Peers reach this node where it listens (an explicit advertise in
      // the cluster file is for wildcard hosts and NAT).
      st = cluster_node->set_advertise((a.tls_cert.empty() ? "http://" : "https://") + so.host + ":" +
                                       std::to_string(server.port()));
      if (!st.is_ok()) return fail(st.with_context("registering in the cluster"));
    }
    retrainer.start();
    (*jobs)->start();
    if (jo.eval_interval_seconds > 0) note("the evaluation suite runs every " + a.eval_interval + " (GET /v1/evals)");
    if (jo.retention_interval_seconds > 0) note("retention runs every " + a.retention_interval + " (GET /v1/stats)");
    if (ro.interval_seconds > 0) note("triage models retrain every " + a.triage_retrain + " (GET /v1/triage)");
    if (scheduler) {
      scheduler->start();
      note("syncing " + std::to_string(scheduler->size()) + " source(s) in the background (GET /v1/sources)");
    }
    st = server.run();
    if (!st.is_ok()) code = fail(st);
  }
  if (scheduler) scheduler->stop();  // running passes end at their next page; cursors stay durable
  cluster_node.reset();  // appliers stop between messages: each applied one is durable with its sequence
  retrainer.stop();                  // a field in training finishes first: nothing half-stored
  (*jobs)->stop();                   // a running suite or retention pass finishes first
  Status closed = (*svc)->close();
  if (!closed.is_ok()) return fail(closed.with_context("closing the store"));
  return code;
}

// The options of `serve` (and of `config`, which prints what serve would use).
void add_serve_options(CLI::App& cmd_ref, ServeArgs& args) {
  CLI::App* cmd = &cmd_ref;
  ServeArgs* a = &args;
  add_common_options(*cmd, a->common);
  config_command(*cmd, ConfigScope::kAll);
  cmd->add_option("--listen", a->listen, "HOST:PORT (port 0 picks a free one)")
      ->check(CLI::Validator(
          [](std::string& v) {
            std::string host;
            uint16_t port = 0;
            return parse_listen(v, host, port).is_ok() ? std::string() : std::string("expected HOST:PORT, got " + v);
          },
          "HOST:PORT"))
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "I/O and worker threads each (0 = hardware threads)");
  cmd->add_option("--max-body", a->max_body, "largest request body in bytes (413 beyond)")->capture_default_str();
  cmd->add_option("--max-header", a->max_header, "largest request header block in bytes (431 beyond)")
      ->capture_default_str();
  cmd->add_option("--read-timeout", a->read_timeout, "seconds to receive a request's headers, and its body")
      ->capture_default_str();
  cmd->add_option("--max-inflight", a->max_inflight, "requests handled at once (503 beyond)")->capture_default_str();
  cmd->add_option("--max-connections", a->max_connections,
                  "open connections; more are closed at once (lowered to fit ulimit -n)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-inflight-body", a->max_inflight_body,
                  "bytes of request bodies held at once across connections (503 + Retry-After beyond)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-ingest-inflight", a->max_ingest_inflight,
                  "document ingests (POST /v1/documents, uploads) run at once; more wait, search never does")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--port-file", a->port_file, "write the bound port to this file");
  cmd->add_option("--llm", a->llm, "GGUF decoder (llama, qwen2): grounded LLM answers and /v1/chat/completions");
  cmd->add_option("--prompts", a->prompts, "task prompt templates (default: $RAGD_PROMPTS, then the built-in ones)");
  cmd->add_option("--audit-log", a->audit_log, "answer audit log (default: <data>/audit.jsonl)");
  cmd->add_option("--max-queue", a->max_queue, "generation requests waiting for the model (503 beyond)")
      ->capture_default_str();
  cmd->add_option("--max-concurrent", a->max_concurrent, "generations running at once (0 = --parallel)")
      ->capture_default_str();
  cmd->add_option("--parallel", a->parallel,
                  "generations that share each forward pass of the LLM (continuous batching; 1 = one pass each)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--request-timeout", a->request_timeout,
                  "seconds a generation request may take, queue included (0 = none)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "default new-token limit per answer")->capture_default_str();
  cmd->add_option("--llm-threads", a->llm_threads, "threads per generation (0 = all cores)")->capture_default_str();
  cmd->add_option("--llm-ctx", a->llm_ctx, "context positions per request (0 = the model's, at most 4096)")
      ->capture_default_str();
  cmd->add_option("--triage-retrain", a->triage_retrain,
                  "retrain the triage models on this interval (30m, 12h, 7d); a new version serves only when its "
                  "held-out metrics are not worse. Default: only on POST /v1/triage/train");
  cmd->add_option("--triage-fields", a->triage_fields,
                  "fields retrained by a scheduled run (default: those with an active model)")
      ->delimiter(',');
  cmd->add_option("--eval-interval", a->eval_interval,
                  "run the config file's [[eval]] tables on this interval (30m, 12h, 7d): GET /v1/evals and "
                  "/metrics. Default: only on POST /v1/evals/run");
  cmd->add_option("--eval-tolerance", a->eval_tolerance,
                  "how much worse (absolute) a candidate's suite metric may be before activation over HTTP refuses it")
      ->capture_default_str();
  cmd->add_option("--retention-interval", a->retention_interval,
                  "apply the config file's [[retention]] tables on this interval (30m, 12h, 7d). Default: only on "
                  "POST /v1/retention/run");
  cmd->add_flag("--reindex", a->reindex,
                "if the store is bound to another encoder than --embed-model/--glove, serve with the store's "
                "encoder and reindex to the new one in the background, then switch");
  cmd->add_option("--from-embed-model", a->from_embed_model,
                  "with --reindex: the store's current GGUF encoder (a GloVe-SIF store uses --glove)");
  cmd->add_option("--reindex-batch", a->reindex_batch, "with --reindex: chunks embedded per step")
      ->capture_default_str();
  cmd->add_option("--reindex-pause-ms", a->reindex_pause_ms,
                  "with --reindex: pause between steps, leaving CPU to requests")
      ->capture_default_str();
  cmd->add_option("--log-format", a->log_format,
                  "text: human-readable lines; json: one JSON object per line, with one line per request "
                  "(time, request_id, method, route, status, latency_ms, bytes_in, bytes_out, caller)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_flag("--insecure-no-auth", a->insecure_no_auth,
                "allow a non-loopback --listen, or a cluster node with a secret_file, with no API keys and no "
                "--jwks (anyone who reaches the port may read, write and delete)");
  cmd->add_option("--metrics-token", a->metrics_token,
                  "bearer token that GET /metrics accepts besides an admin key (for a Prometheus scraper); "
                  "prefer $RAGD_METRICS_TOKEN");
  cmd->add_option("--jwks", a->jwks, "JWKS file of an OIDC issuer: accept its RS256/ES256 bearer tokens");
  cmd->add_option("--jwt-issuer", a->jwt_issuer, "with --jwks: the required iss claim");
  cmd->add_option("--jwt-audience", a->jwt_audience, "with --jwks: a required member of the aud claim");
  cmd->add_option("--jwt-groups-claim", a->jwt_groups_claim, "with --jwks: the claim holding ACL groups")
      ->capture_default_str();
  cmd->add_option("--jwt-role-claim", a->jwt_role_claim,
                  "with --jwks: the claim holding reader|writer|admin (default: every token is a reader)");
  cmd->add_option("--rate-limit", a->rate_limit, "requests per second per key or token subject (0 = no limit)")
      ->capture_default_str();
  cmd->add_option("--rate-burst", a->rate_burst, "with --rate-limit: requests allowed at once after a quiet spell")
      ->capture_default_str();
  cmd->add_option("--allow-origin", a->allow_origins,
                  "another web origin (https://portal.example.com) allowed to POST/DELETE; by default browsers "
                  "may write only from the page ragd serves")
      ->delimiter(',');
  cmd->add_option("--tls-cert", a->tls_cert, "PEM certificate chain: serve HTTPS (TLS 1.2 or later) with --tls-key");
  cmd->add_option("--tls-key", a->tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--cluster", a->cluster, "cluster file (TOML): join a ragd cluster on NATS JetStream and etcd");
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "serve the HTTP API");
  add_serve_options(*cmd, *a);
  config_keys_from(*cmd);
  cmd->callback([a, &exit_code] { exit_code = run_serve(*a); });

  auto c = std::make_shared<ServeArgs>();
  CLI::App* config = app.add_subcommand(
      "config", "print the settings `serve` would use (same options) and where each comes from: "
                "default, file:line, env or flag");
  add_serve_options(*config, *c);
  config->callback([c, &exit_code] {
    std::fputs(format_settings(effective_settings(), effective_config_file()).c_str(), stdout);
    exit_code = 0;
  });
}

}  // namespace ragd::cli

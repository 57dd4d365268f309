// `ragd search QUERY` and `ragd ask QUESTION`.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "api/cli/cli.h"
#include "api/json_codec.h"
#include "generate/units.h"
#include "service/extractive_path.h"
#include "service/llm_path.h"

namespace ragd::cli {
namespace {

struct QueryArgs {
  CommonOptions common;
  std::string query;
  int k = 10;
  std::string mode = "hybrid";
  std::vector<std::string> kinds;
  std::vector<std::string> sources;
  std::vector<std::string> fields;  // key=value
  std::vector<std::string> groups;
  std::string updated_after;
  std::string updated_before;
  bool json = false;
  // ask only: answer with this GGUF decoder instead of extractively.
  std::string llm;
  std::string prompts;
  int max_tokens = 256;
  int llm_threads = 0;
};

Result<SearchRequest> build_request(const QueryArgs& a) {
  SearchRequest r;
  r.query = a.query;
  if (a.k < 1 || a.k > kMaxSearchK) {
    return Status::invalid_argument("--k: must be between 1 and " + std::to_string(kMaxSearchK));
  }
  r.k = a.k;
  auto mode = parse_search_mode(a.mode);
  if (!mode) return Status::invalid_argument("--mode: expected lexical, vector or hybrid, got '" + a.mode + "'");
  r.mode = *mode;
  r.filters.kinds = a.kinds;
  r.filters.sources = a.sources;
  for (const auto& f : a.fields) {
    auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0) return Status::invalid_argument("--field: expected key=value, got '" + f + "'");
    r.filters.fields[f.substr(0, eq)] = f.substr(eq + 1);
  }
  if (!a.updated_after.empty()) {
    auto t = api::parse_time(a.updated_after);
    if (!t) return Status::invalid_argument("--updated-after: not a date: '" + a.updated_after + "'");
    r.filters.updated_after = *t;
  }
  if (!a.updated_before.empty()) {
    auto t = api::parse_time(a.updated_before);
    if (!t) return Status::invalid_argument("--updated-before: not a date: '" + a.updated_before + "'");
    r.filters.updated_before = *t;
  }
  r.groups = a.groups;
  return r;
}

std::string one_line(const std::string& text, size_t max_chars) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

int run_search(const QueryArgs& a) {
  auto req = build_request(a);
  if (!req.is_ok()) return fail(req.status());
  auto svc = open_service(a.common, EmbedderLoad::kOptional, /*read_only=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  auto hits = (*svc)->retriever().retrieve(*req);
  if (!hits.is_ok()) return fail(hits.status());
  if (a.json) {
    std::printf("%s\n", api::Json{{"hits", api::hits_to_json(*hits)}}
                            .dump(2, ' ', false, api::Json::error_handler_t::replace)
                            .c_str());
    return 0;
  }
  if (hits->empty()) std::printf("no results\n");
  for (size_t i = 0; i < hits->size(); ++i) {
    const Hit& h = (*hits)[i];
    std::printf("%2zu. %.4f  %s  [%s] %s\n", i + 1, h.score, h.chunk_id.c_str(), h.kind.c_str(), h.title.c_str());
    if (!h.section_path.empty()) std::printf("      section: %s\n", join(h.section_path, " > ").c_str());
    if (!h.url.empty()) std::printf("      url: %s\n", h.url.c_str());
    std::printf("      %s\n", one_line(h.text, 240).c_str());
  }
  return 0;
}

// The same Answerer as POST /v1/answer (service/answerer.h): extractive, or
// the LLM path with --llm. Not recorded in the server's audit log: the CLI
// reads the store directly, as its owner.
int run_ask(const QueryArgs& a) {
  auto req = build_request(a);
  if (!req.is_ok()) return fail(req.status());
  auto svc = open_service(a.common, EmbedderLoad::kOptional, /*read_only=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  std::unique_ptr<Answerer> answerer;
  if (a.llm.empty()) {
    answerer = std::make_unique<ExtractiveAnswerPath>(**svc, nullptr);
  } else {
    LlmPathOptions lo;
    lo.model = a.llm;
    lo.prompts = a.prompts;
    lo.max_concurrent = 1;
    lo.answerer.max_tokens = a.max_tokens;
    lo.answerer.n_threads = a.llm_threads;
    auto opened = LlmAnswerPath::open(**svc, lo);
    if (!opened.is_ok()) return fail(opened.status());
    answerer = std::move(opened).value();
  }
  AnswerRequest request;
  request.search = std::move(req).value();
  request.caller = "cli";
  auto ans = answerer->answer(request, nullptr);
  if (!ans.is_ok()) return fail(ans.status());
  if (a.json) {
    std::printf("%s\n", api::answer_to_json(*ans).dump(2, ' ', false, api::Json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("%s\n", markdown_to_plain(ans->text).c_str());
  if (!ans->citations.empty()) {
    std::printf("\nSources:\n");
    for (const auto& c : ans->citations) {
      std::printf("  [%d] %s (%s)%s%s\n      \"%s\"\n", c.n, c.title.c_str(), c.doc_id.c_str(),
                  c.url.empty() ? "" : " ", c.url.c_str(), one_line(markdown_to_plain(c.quote), 300).c_str());
    }
  }
  return 0;
}

void add_query_options(CLI::App& cmd, QueryArgs& a, const char* what) {
  add_common_options(cmd, a.common);
  cmd.add_option(what, a.query, what)->required();
  cmd.add_option("--k,-k", a.k, "results to return")->capture_default_str();
  cmd.add_option("--mode", a.mode, "lexical, vector or hybrid")->capture_default_str();
  cmd.add_option("--kind", a.kinds, "only these kinds (ticket, runbook, policy, document)");
  cmd.add_option("--source", a.sources, "only these sources (servicenow, jira, zendesk, file, ...)");
  cmd.add_option("--field", a.fields, "metadata equality key=value");
  cmd.add_option("--group", a.groups, "caller's access groups");
  cmd.add_option("--updated-after", a.updated_after, "only documents updated at or after (ISO 8601 or unix s)");
  cmd.add_option("--updated-before", a.updated_before, "only documents updated at or before");
  cmd.add_flag("--json", a.json, "print JSON");
}

}  // namespace

void add_query_commands(CLI::App& app, int& exit_code) {
  auto search = std::make_shared<QueryArgs>();
  CLI::App* s = app.add_subcommand("search", "search the knowledge base");
  add_query_options(*s, *search, "query");
  s->callback([search, &exit_code] { exit_code = run_search(*search); });

  auto ask = std::make_shared<QueryArgs>();
  CLI::App* a = app.add_subcommand("ask", "answer a question with cited sentences from the knowledge base");
  add_query_options(*a, *ask, "question");
  a->add_option("--llm", ask->llm, "GGUF decoder (llama, qwen2): answer with the LLM path instead of extractively");
  a->add_option("--prompts", ask->prompts, "with --llm: task prompt templates (default: the built-in ones)");
  a->add_option("--max-tokens", ask->max_tokens, "with --llm: new tokens at most")->capture_default_str();
  a->add_option("--llm-threads", ask->llm_threads, "with --llm: threads (0 = all cores)")->capture_default_str();
  a->callback([ask, &exit_code] { exit_code = run_ask(*ask); });
}

}  // namespace ragd::cli

#include "service/llm_path.h"

#include <algorithm>
#include <optional>

namespace ragd {

using Clock = std::chrono::steady_clock;

LlmAnswerPath::LlmAnswerPath(const ServiceContext& ctx, LlmPathOptions options)
    : ctx_(ctx), options_(std::move(options)), threads_(std::max(1, options_.max_concurrent)) {}

LlmAnswerPath::~LlmAnswerPath() = default;

Result<std::unique_ptr<LlmAnswerPath>> LlmAnswerPath::open(const ServiceContext& ctx, LlmPathOptions options) {
  std::unique_ptr<LlmAnswerPath> s(new LlmAnswerPath(ctx, std::move(options)));
  const std::string path = s->options_.model.string();
  RAGD_ASSIGN_OR_RETURN(auto model, DecoderModel::load(path));
  auto tok = Tokenizer::from_gguf(model->gguf());
  if (!tok.is_ok()) return tok.status().with_context("--llm " + path);
  s->generator_ = std::make_shared<const Generator>(model, std::shared_ptr<const Tokenizer>(std::move(tok).value()));
  RAGD_ASSIGN_OR_RETURN(PromptLibrary lib, PromptLibrary::load(default_prompts_dir(s->options_.prompts)));
  s->prompts_ = std::make_unique<PromptLibrary>(std::move(lib));
  if (!s->options_.audit_log.empty()) {
    RAGD_ASSIGN_OR_RETURN(s->audit_, AuditLog::open(s->options_.audit_log));
  }
  LlmAnswererOptions ao = s->options_.answerer;
  // One reusable session per generation that may run at once, shared by
  // answers and plain chat.
  ao.sessions_kept = std::max(1, s->options_.max_concurrent);
  if (ao.model_file.empty()) ao.model_file = path;
  if (s->options_.parallel > 1) {
    BatchSchedulerOptions bo;
    bo.max_sequences = s->options_.parallel;
    bo.n_threads = ao.n_threads;
    bo.prefill_chunk = std::max(1, s->options_.prefill_chunk);
    bo.prefill_tokens = std::max(bo.prefill_chunk, s->options_.prefill_tokens_per_pass);
    s->scheduler_ = std::make_unique<BatchScheduler>(model, bo);
    ao.scheduler = s->scheduler_.get();
    // Prompts reach the scheduler in chunks it keeps whole.
    ao.prefill_chunk = bo.prefill_chunk;
  }
  if (ao.extractive.word_ranks == nullptr) ao.extractive.word_ranks = ctx.word_ranks();
  s->answerer_ = std::make_unique<LlmAnswerer>(ctx.retriever(), s->generator_, *s->prompts_, ao, ctx.embedder(),
                                               s->audit_.get());
  // One session now (kept for the first request): a context this machine
  // cannot hold fails the start, not every request.
  if (Result<SessionPool::Lease> first = s->answerer_->sessions().acquire(); !first.is_ok()) {
    return first.status().with_context("the context per request (ragd serve --llm-ctx)");
  }
  return s;
}

Result<Answer> LlmAnswerPath::answer(const AnswerRequest& request, AnswerSink* sink) const {
  LlmRequest lr;
  lr.search = request.search;
  lr.task = request.task;
  lr.input = request.input;
  lr.request_id = request.request_id;
  lr.caller = request.caller;
  lr.max_tokens = request.max_tokens;
  lr.sampling = request.sampling;
  if (request.deadline != Clock::time_point::max()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(request.deadline - Clock::now());
    lr.timeout = std::max(left, std::chrono::milliseconds(1));
  }
  DeltaCallback on_delta;
  if (sink != nullptr) {
    lr.is_cancelled = [sink] { return sink->cancelled(); };
    on_delta = [sink](std::string_view d) { return sink->on_delta(d); };
  }
  const ServiceContext& ctx = request.context != nullptr ? *request.context : ctx_;
  lr.retriever = &ctx.retriever();
  lr.reader = request.reader;
  std::optional<Result<LlmAnswer>> out;
  threads_.run([&] {
    // Before retrieving (unless the caller read it before gathering its
    // passages): a purge from here on keeps this prompt out of the prefix
    // cache (model/README.md, "Prefix cache").
    lr.cache_epoch = request.cache_epoch ? request.cache_epoch : prefix_cache_epoch();
    if (!request.passages.empty()) {
      lr.retrieved = request.passages;
    } else {
      lr.retrieved = request.reader != nullptr ? request.reader->retrieve(lr.search) : ctx.search(lr.search);
    }
    out.emplace(answerer_->answer(lr, on_delta));
  });
  RAGD_ASSIGN_OR_RETURN(LlmAnswer a, std::move(*out));
  Answer answer = std::move(a.answer);
  answer.request_id = std::move(a.request_id);
  answer.raw_text = std::move(a.raw_text);
  answer.finish = a.finish;
  answer.prompt_tokens = a.prompt_tokens;
  answer.completion_tokens = a.completion_tokens;
  answer.first_token_ms = a.first_token_ms;
  answer.prompt_ready_ms = a.prompt_ready_ms;
  return answer;
}

Result<Generation> LlmAnswerPath::chat(std::span<const ChatMessage> messages, const GenerateOptions& options,
                                       const StreamCallback& on_piece) const {
  std::string prompt = apply_chat_template(answerer_->chat_template(), messages, true);
  std::optional<Result<Generation>> out;
  threads_.run([&] {
    Result<SessionPool::Lease> leased = answerer_->sessions().acquire();
    if (!leased.is_ok()) {
      out.emplace(leased.status().with_context("the context per request (ragd serve --llm-ctx)"));
      return;
    }
    SessionPool::Lease session = std::move(leased).value();
    const Tokenizer* tok = generator_->tokenizer();
    std::vector<int32_t> ids = tok->tokenize(prompt, /*add_special=*/true, /*parse_special=*/true);
    PrefixCache* cache = answerer_->prefix_cache();
    const int reused = cache && !ids.empty() ? cache->restore(*session, ids) : 0;
    GenerateOptions go = options;
    if (go.lookup_draft == 0) go.lookup_draft = answerer_->options().lookup_draft;
    if (cache) go.on_prompt_evaluated = [&] { cache->store(*session, ids); };
    go.context = std::span<const int32_t>(ids).first(static_cast<size_t>(reused));
    out.emplace(generator_->generate(*session, std::span<const int32_t>(ids).subspan(static_cast<size_t>(reused)), go,
                                     on_piece));
    if (out->is_ok()) (*out)->prompt_tokens = static_cast<int>(ids.size());
    if (cache) cache->store(*session, ids);
  });
  return std::move(*out);
}

}  // namespace ragd

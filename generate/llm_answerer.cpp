#include "generate/llm_answerer.h"

#include <algorithm>
#include <random>
#include <set>

#include "generate/sentences.h"
#include "index/analyzer.h"
#include "ragd/clock.h"

namespace ragd {

std::string new_request_id() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 2; ++i) {
    uint64_t v = rng();
    for (int j = 0; j < 16; ++j, v >>= 4) id.push_back(kHex[v & 0xf]);
  }
  return id;
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct LoopState {
  std::vector<int32_t> tokens;
  std::string text;
  AnswerFinish finish = AnswerFinish::kNone;
  double first_token_ms = 0;
};

struct LoopParams {
  int max_tokens = 0;
  SamplerOptions sampling;
  std::optional<Clock::time_point> deadline;
  const std::function<bool()>* is_cancelled = nullptr;
  const DeltaCallback* on_delta = nullptr;
  int prefill_chunk = 64;
  int lookup_draft = 0;
  std::function<void()> on_prompt_evaluated;
  std::span<const int32_t> context;  // GenerateOptions::context
  Clock::time_point t0;
};

// Generation through Generator::generate(): its should_stop hook checks
// cancellation and the deadline before every forward pass (each prompt
// chunk, each new token); the stream callback drops the leading whitespace
// (SentencePiece's leading space is not part of the answer).
Status run_generation(const Generator& generator, DecoderSession& session, std::span<const int32_t> prompt,
                      const LoopParams& p, LoopState& st) {
  GenerateOptions go;
  go.max_tokens = p.max_tokens;
  go.sampling = p.sampling;
  go.stop_at_eog = true;
  go.prompt_chunk = std::max(1, p.prefill_chunk);
  go.lookup_draft = p.lookup_draft;
  go.on_prompt_evaluated = p.on_prompt_evaluated;
  go.context = p.context;
  go.should_stop = [&](int n_generated) -> Status {
    if (n_generated == 1 && st.first_token_ms == 0) st.first_token_ms = ms_since(p.t0);
    if (p.is_cancelled && *p.is_cancelled && (*p.is_cancelled)()) {
      return Status::cancelled("request cancelled after " + std::to_string(n_generated) + " tokens");
    }
    if (p.deadline && Clock::now() >= *p.deadline) {
      return Status::timeout("request timed out after " + std::to_string(n_generated) + " tokens");
    }
    return Status::ok();
  };
  bool started = false;  // a non-whitespace character was streamed
  bool consumer_gone = false;
  StreamCallback on_text = [&](std::string_view piece) {
    if (!started) {
      const size_t lead = piece.find_first_not_of(" \n");
      if (lead == std::string_view::npos) return true;
      piece.remove_prefix(lead);
      started = true;
    }
    if (p.on_delta && *p.on_delta && !(*p.on_delta)(piece)) {
      consumer_gone = true;
      return false;
    }
    return true;
  };
  auto g = generator.generate(session, prompt, go, on_text);
  if (!g.is_ok()) return g.status();
  Generation& gen = g.value();
  st.tokens = std::move(gen.tokens);
  const size_t lead = gen.text.find_first_not_of(" \n");
  st.text = lead == std::string::npos ? std::string() : gen.text.substr(lead);
  if (st.first_token_ms == 0 && !st.tokens.empty()) st.first_token_ms = ms_since(p.t0);
  if (!gen.stop_status.is_ok()) {
    st.finish = gen.stop_status.code() == StatusCode::kTimeout ? AnswerFinish::kTimeout : AnswerFinish::kCancelled;
    return gen.stop_status;
  }
  if (gen.finish == FinishReason::kCancelled || consumer_gone) {
    st.finish = AnswerFinish::kCancelled;
    return Status::cancelled("the stream consumer cancelled after " + std::to_string(st.tokens.size()) + " tokens");
  }
  st.finish = answer_finish_of(gen.finish);
  return Status::ok();
}

std::vector<std::string> distinct_doc_ids(const std::vector<Hit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) {
    if (std::find(out.begin(), out.end(), h.doc_id) == out.end()) out.push_back(h.doc_id);
  }
  return out;
}

// The passage sentence that shares most analysed terms with `answer_text`.
std::string best_quote(const std::string& passage, const std::string& answer_text) {
  const auto at = analyze(answer_text);
  const std::set<std::string> terms(at.begin(), at.end());
  std::string best;
  size_t best_hits = 0;
  for (const auto& s : split_sentences(passage)) {
    size_t hits = 0;
    for (const auto& t : analyze(s)) hits += terms.count(t);
    if (hits > best_hits) {
      best_hits = hits;
      best = s;
    }
  }
  return best;
}

// The answer names what produced it, as its audit record does.
void copy_provenance(const AuditRecord& rec, Answer& ans) {
  ans.answerer = rec.answerer;
  ans.model_file = rec.model_file;
  ans.model_sha256 = rec.model_sha256;
  ans.encoder = rec.encoder;
  ans.prompt_version = rec.prompt_version;
  ans.store_sequence = rec.store_sequence;
}

}  // namespace

AnswerFinish answer_finish_of(FinishReason r) {
  switch (r) {
    case FinishReason::kMaxTokens: return AnswerFinish::kLength;
    case FinishReason::kEndOfGeneration: return AnswerFinish::kStop;
    case FinishReason::kStopString: return AnswerFinish::kStopString;
    case FinishReason::kContextFull: return AnswerFinish::kContextFull;
    case FinishReason::kCancelled: return AnswerFinish::kCancelled;
  }
  return AnswerFinish::kStop;
}

LlmAnswerer::LlmAnswerer(const Retriever& retriever, std::shared_ptr<const Generator> generator,
                         const PromptLibrary& prompts, LlmAnswererOptions options, const Embedder* embedder,
                         AuditLog* audit)
    : retriever_(retriever),
      generator_(std::move(generator)),
      prompts_(prompts),
      options_(std::move(options)),
      embedder_(embedder),
      audit_(audit) {
  options_.verifier.refusal = kPassagesDoNotAnswer;
  sessions_ = std::make_unique<SessionPool>(
      generator_, SessionPoolOptions{.capacity = std::max(0, options_.sessions_kept),
                                     .session = DecoderSessionOptions{.n_ctx = options_.n_ctx,
                                                                      .kv_type = KvType::kF16,
                                                                      .n_threads = options_.n_threads,
                                                                      .n_batch = 512,
                                                                      .scheduler = options_.scheduler}});
  if (options_.prefix_cache_bytes > 0) {
    // Reuse at any token when the model's numbers do not depend on where a
    // prompt is cut; otherwise in whole prompt chunks (prefix_cache.h).
    const int block = generator_->model().chunk_invariant() ? 1 : std::max(1, options_.prefill_chunk);
    prefix_cache_ =
        std::make_unique<PrefixCache>(PrefixCacheOptions{.max_bytes = options_.prefix_cache_bytes, .block = block});
  }
  const GgufFile& file = generator_->model().gguf();
  if (!options_.chat_template.empty()) {
    if (auto k = detect_chat_template(options_.chat_template); k.is_ok()) chat_ = k.value();
  } else if (auto t = file.get_str("tokenizer.chat_template"); t.is_ok()) {
    if (auto k = detect_chat_template(t.value()); k.is_ok()) chat_ = k.value();
  }
  if (options_.model_file.empty()) options_.model_file = file.path();
  if (options_.model_sha256.empty() && !options_.model_file.empty()) {
    auto h = sha256_file(options_.model_file);
    options_.model_sha256 = h.is_ok() ? h.value() : "";
  }
}

Result<LlmAnswer> LlmAnswerer::answer(const LlmRequest& request, const DeltaCallback& on_delta) const {
  const auto t0 = Clock::now();
  const int64_t time_ms = unix_ms();
  const Tokenizer* tok = generator_->tokenizer();
  if (!tok) return Status::failed_precondition("the LLM answer path needs the model's tokenizer");
  const int max_tokens = request.max_tokens > 0 ? request.max_tokens : options_.max_tokens;
  if (max_tokens > options_.max_tokens_limit) {
    return Status::invalid_argument("max_tokens " + std::to_string(max_tokens) + " is above the limit " +
                                    std::to_string(options_.max_tokens_limit));
  }
  const std::string& input = request.input.empty() ? request.search.query : request.input;

  LlmAnswer out;
  out.request_id = request.request_id.empty() ? new_request_id() : request.request_id;
  AuditRecord rec;
  rec.request_id = out.request_id;
  rec.time_ms = time_ms;
  rec.caller = request.caller;
  rec.task = prompt_task_name(request.task);
  rec.query = input;
  rec.model_file = options_.model_file;
  rec.model_sha256 = options_.model_sha256;
  rec.answerer = "llm";
  rec.prompt_version = prompt_template_version(request.task, prompts_.get(request.task));
  const Retriever& retriever = request.retriever != nullptr ? *request.retriever : retriever_;
  // Through a reader (a cluster's coordinator) there is no one store.
  rec.store_sequence = request.reader != nullptr ? 0 : retriever.store().stats().sequence;
  if (const Embedder* e = retriever.embedder()) rec.encoder = e->fingerprint();
  // The extractive answerer over the same store: the evidence order and the
  // fallback.
  const ExtractiveAnswerer extractive(retriever, options_.extractive, request.reader);
  // Audits the outcome; an answer that cannot be audited is not returned.
  auto finish = [&](Status status) -> Status {
    rec.latency_ms = ms_since(t0);
    if (status.is_ok()) {
      rec.outcome = "ok";
    } else if (status.code() == StatusCode::kCancelled) {
      rec.outcome = "cancelled";
    } else if (status.code() == StatusCode::kTimeout) {
      rec.outcome = "timeout";
    } else {
      rec.outcome = "error";
    }
    if (audit_) {
      Status a = audit_->append(rec);
      if (!a.is_ok() && status.is_ok()) return a;
    }
    return status;
  };

  // A purge after this point clears the prefix cache: this prompt, which
  // may hold the purged passages, is then not stored.
  const uint64_t cache_epoch =
      request.cache_epoch ? *request.cache_epoch : prefix_cache_ ? prefix_cache_->epoch() : 0;
  // 1. Retrieve.
  auto hits = request.retrieved ? *request.retrieved : extractive.retrieve(request.search);
  if (!hits.is_ok()) return finish(hits.status());
  rec.retrieved_doc_ids = distinct_doc_ids(hits.value());
  // Questions: the extractive answerer's intent and evidence selection (the
  // fix section's steps, the record's resolution, the facts), read once:
  // it goes first in the prompt and makes the fallback.
  std::optional<Result<Evidence>> evidence;
  if (request.task == PromptTask::kAnswer) evidence.emplace(extractive.select_evidence(request.search, hits.value()));

  // 2. Pack into this request's window.
  Result<SessionPool::Lease> leased = sessions_->acquire();
  if (!leased.is_ok()) return finish(leased.status().with_context("the context per request (ragd serve --llm-ctx)"));
  SessionPool::Lease session = std::move(leased).value();
  PackOptions po = options_.pack;
  po.n_ctx = session->n_ctx();
  po.reserve_tokens = max_tokens;
  ContextPacker packer(*tok, chat_, prompts_, po);
  std::vector<Hit> passages = hits.value();
  if (evidence && evidence->is_ok() && !(*evidence)->items.empty()) passages = evidence_first(**evidence, hits.value());
  auto packed = packer.pack(request.task, input, passages, kPassagesDoNotAnswer);
  if (!packed.is_ok()) return finish(packed.status());
  const PackedContext& ctx = packed.value();
  out.passages = static_cast<int>(ctx.passages.size());
  for (const auto& p : ctx.passages) out.answer.hits.push_back(p.hit);

  Answer& ans = out.answer;
  copy_provenance(rec, ans);
  auto refuse = [&]() {
    ans.text = kRefusalText;
    ans.refused = true;
    ans.citations.clear();
    ans.grounding = Grounding::kRefused;
  };
  if (ctx.passages.empty()) {
    // Nothing to ground an answer in: do not ask the model.
    refuse();
    rec.grounding = grounding_name(ans.grounding);
    out.latency_ms = ms_since(t0);
    RAGD_RETURN_IF_ERROR(finish(Status::ok()));
    return out;
  }

  // 3. Generate.
  out.prompt_ready_ms = ms_since(t0);
  LoopParams lp;
  lp.max_tokens = max_tokens;
  lp.sampling = request.sampling.value_or(options_.sampling);
  const auto timeout = request.timeout.count() > 0 ? request.timeout : options_.timeout;
  if (timeout.count() > 0) lp.deadline = t0 + timeout;
  lp.is_cancelled = &request.is_cancelled;
  lp.on_delta = &on_delta;
  lp.prefill_chunk = options_.prefill_chunk;
  lp.lookup_draft = options_.lookup_draft;
  lp.t0 = t0;
  LoopState st;
  // The prompt's cached prefix (the template and system prompt, passages
  // another question shared) is shared with the session, read in place
  // (the session holds the cache's entry until the pool resets it); the
  // rest is evaluated.
  const int reused = prefix_cache_ ? prefix_cache_->restore(*session, ctx.tokens) : 0;
  if (prefix_cache_) lp.on_prompt_evaluated = [&] { prefix_cache_->store(*session, ctx.tokens, cache_epoch); };
  lp.context = std::span<const int32_t>(ctx.tokens).first(static_cast<size_t>(reused));
  Status gen = run_generation(*generator_, *session, std::span<const int32_t>(ctx.tokens).subspan(reused), lp, st);
  if (prefix_cache_) prefix_cache_->store(*session, ctx.tokens, cache_epoch);
  out.prompt_tokens = rec.prompt_tokens = static_cast<int>(ctx.tokens.size());
  out.completion_tokens = rec.completion_tokens = static_cast<int>(st.tokens.size());
  out.finish = st.finish;
  rec.finish_reason = std::string(answer_finish_name(st.finish));
  out.first_token_ms = rec.first_token_ms = st.first_token_ms;
  out.raw_text = st.text;
  if (!gen.is_ok()) return finish(gen);

  // 4. Verify.
  std::vector<std::string> passage_texts;
  for (const auto& p : ctx.passages) passage_texts.push_back(format_passage(p.n, p.hit, p.text));
  VerifierOptions vo = options_.verifier;
  Verifier verifier(embedder_, vo);
  out.verification = verifier.verify(st.text, passage_texts);
  const Verification& v = out.verification;
  ans.removed_sentences = v.removed;
  ans.prompt_tokens = out.prompt_tokens;
  ans.completion_tokens = out.completion_tokens;

  switch (v.grounding) {
    case Grounding::kVerified:
    case Grounding::kPartial: {
      ans.text = v.text;
      ans.grounding = v.grounding;
      ans.confidence = v.mean_support;
      for (int n : v.cited) {
        const PackedPassage& p = ctx.passages[static_cast<size_t>(n - 1)];
        std::string citing;
        for (const auto& s : v.sentences) {
          if (s.supported && std::find(s.cited.begin(), s.cited.end(), n) != s.cited.end()) citing += s.text + " ";
        }
        ans.citations.push_back(Citation{n, p.hit.doc_id, p.hit.chunk_id, p.hit.title, p.hit.url,
                                         best_quote(p.text, citing)});
      }
      break;
    }
    case Grounding::kRefused:
      refuse();
      break;
    case Grounding::kNone:
    case Grounding::kExtractive:  // not a verdict
    case Grounding::kFallback:
      if (options_.fallback_to_extractive) {
        // From the evidence read above, or the hits this answer retrieved
        // (no second search).
        Result<Evidence> ev =
            evidence ? std::move(*evidence) : extractive.select_evidence(request.search, hits.value());
        if (!ev.is_ok()) return finish(ev.status());
        Answer fb = extractive.answer_from_evidence(request.search, std::move(ev).value());
        fb.removed_sentences = v.removed;
        fb.prompt_tokens = out.prompt_tokens;
        fb.completion_tokens = out.completion_tokens;
        fb.grounding = fb.refused ? Grounding::kRefused : Grounding::kFallback;
        ans = std::move(fb);
      } else {
        refuse();
      }
      break;
  }
  rec.grounding = grounding_name(ans.grounding);
  // The fallback replaced the answer: its provenance is still this request's.
  copy_provenance(rec, ans);
  for (const auto& c : ans.citations) {
    if (std::find(rec.cited_doc_ids.begin(), rec.cited_doc_ids.end(), c.doc_id) == rec.cited_doc_ids.end()) {
      rec.cited_doc_ids.push_back(c.doc_id);
    }
  }
  out.latency_ms = ms_since(t0);
  RAGD_RETURN_IF_ERROR(finish(Status::ok()));
  return out;
}

}  // namespace ragd

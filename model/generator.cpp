#include "model/generator.h"

#include <algorithm>
#include <deque>

namespace ragd {

Generator::Generator(std::shared_ptr<const DecoderModel> model, std::shared_ptr<const Tokenizer> tokenizer)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)) {}

Result<std::unique_ptr<DecoderSession>> Generator::new_session(DecoderSessionOptions options) const {
  return DecoderSession::create(model_, options);
}

Result<Generation> Generator::generate(DecoderSession& session, std::string_view prompt,
                                       const GenerateOptions& options, const StreamCallback& on_text) const {
  if (!tokenizer_) return Status::failed_precondition("a text prompt needs the model's tokenizer");
  const bool add_bos = session.n_past() == 0;
  std::vector<int32_t> ids = tokenizer_->tokenize(prompt, add_bos, /*parse_special=*/true);
  return generate(session, ids, options, on_text);
}

namespace {
// Length of the longest suffix of `text` that is a proper prefix of a stop string.
size_t held_back(std::string_view text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k) {
      if (text.substr(text.size() - k) == std::string_view(s).substr(0, k)) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}
// Bytes at the end of `text` forming an incomplete UTF-8 sequence.
size_t incomplete_utf8(std::string_view text) {
  for (size_t back = 1; back <= std::min<size_t>(4, text.size()); ++back) {
    const auto c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return need > back ? back : 0;
  }
  return 0;
}
}  // namespace

Result<Generation> Generator::generate(DecoderSession& session, std::span<const int32_t> prompt,
                                       const GenerateOptions& options, const StreamCallback& on_text) const {
  // A batch scheduler need not wait for this session once it returns.
  struct PauseOnReturn {
    DecoderSession& s;
    ~PauseOnReturn() { s.pause(); }
  } pause_on_return{session};
  Generation g;
  g.prompt_tokens = static_cast<int>(prompt.size());
  if (prompt.empty() && session.n_past() == 0) return Status::invalid_argument("empty prompt");
  if (session.n_past() + static_cast<int64_t>(prompt.size()) >= session.n_ctx()) {
    return Status::resource_exhausted("prompt of " + std::to_string(prompt.size()) + " tokens (after " +
                                      std::to_string(session.n_past()) + " in the session) leaves no room in the " +
                                      std::to_string(session.n_ctx()) + "-token context");
  }
  if (prompt.empty()) return Status::invalid_argument("generate needs at least one new prompt token");
  std::vector<int32_t> history(options.context.begin(), options.context.end());
  history.insert(history.end(), prompt.begin(), prompt.end());
  std::vector<float> logits;
  // True (and g set up to return) when the hook asks to stop.
  auto stop_requested = [&]() {
    if (!options.should_stop) return false;
    Status s = options.should_stop(static_cast<int>(g.tokens.size()));
    if (s.is_ok()) return false;
    g.stop_status = std::move(s);
    g.finish = FinishReason::kCancelled;
    return true;
  };
  if (!options.should_stop) {
    RAGD_RETURN_IF_ERROR(session.eval(prompt, &logits));
  } else {
    const size_t chunk = static_cast<size_t>(std::max(1, options.prompt_chunk));
    for (size_t i = 0; i < prompt.size(); i += chunk) {
      if (stop_requested()) return g;
      RAGD_RETURN_IF_ERROR(session.eval(prompt.subspan(i, std::min(chunk, prompt.size() - i)), &logits));
    }
  }
  if (options.on_prompt_evaluated) options.on_prompt_evaluated();
  Sampler sampler(options.sampling);
  size_t emitted = 0;
  auto flush = [&](size_t upto) {
    if (upto > emitted && on_text) {
      if (!on_text(std::string_view(g.text).substr(emitted, upto - emitted))) return false;
    }
    emitted = std::max(emitted, upto);
    return true;
  };
  // Lookup decoding (greedy only): tokens verified ahead wait in `queued`;
  // all but the last of them are already in the cache. On return the cache
  // is cut back to what plain decoding leaves in it: the prompt and every
  // generated token but the last when that one was never evaluated.
  const bool lookup = options.lookup_draft > 0 && options.sampling.temperature <= 0.0f;
  const int base_past = session.n_past();
  std::deque<int32_t> queued;
  std::vector<float> logits_all;
  std::vector<int32_t> draft;
  auto done = [&](int last_unevaluated) {
    const int plain_past = base_past + static_cast<int>(g.tokens.size()) - last_unevaluated;
    if (session.n_past() > plain_past) session.truncate(plain_past);
    return g;
  };
  for (int step = 0;; ++step) {
    if (step >= options.max_tokens) {
      g.finish = FinishReason::kMaxTokens;
      break;
    }
    int32_t id = 0;
    bool in_cache = false;  // evaluated with the drafts already
    if (queued.empty()) {
      id = sampler.sample(logits, history);
    } else {
      id = queued.front();
      queued.pop_front();
      in_cache = !queued.empty();
    }
    if (options.stop_at_eog && tokenizer_ && tokenizer_->is_eog(id)) {
      g.finish = FinishReason::kEndOfGeneration;
      break;
    }
    g.tokens.push_back(id);
    history.push_back(id);
    bool stopped = false;
    if (tokenizer_) {
      const size_t search_from = g.text.size() > 64 ? g.text.size() - 64 : 0;
      g.text += tokenizer_->token_to_piece(id, /*special=*/false);
      size_t cut = std::string::npos;
      for (const auto& s : options.stop) {
        if (s.empty()) continue;
        const size_t at = g.text.find(s, search_from);
        if (at != std::string::npos) cut = std::min(cut, at);
      }
      if (cut != std::string::npos) {
        g.text.resize(cut);
        stopped = true;
      }
      const size_t safe = stopped ? g.text.size()
                                  : g.text.size() - std::max(held_back(g.text, options.stop), incomplete_utf8(g.text));
      if (!flush(safe)) {
        g.finish = FinishReason::kCancelled;
        return done(1);
      }
    } else if (on_text && !on_text("")) {
      g.finish = FinishReason::kCancelled;
      return done(1);
    }
    if (stopped) {
      g.finish = FinishReason::kStopString;
      return done(1);
    }
    if (base_past + static_cast<int>(g.tokens.size()) - 1 >= session.n_ctx()) {
      g.finish = FinishReason::kContextFull;
      return done(1);
    }
    if (stop_requested()) return done(1);
    if (in_cache) continue;
    if (lookup) {
      // Room for drafts: the context, and the tokens still allowed.
      const int room = std::min({options.lookup_draft, session.n_ctx() - session.n_past() - 1,
                                 options.max_tokens - step - 1});
      lookup_draft(history, options.lookup_ngram, room, &draft);
    }
    if (!lookup || draft.empty()) {
      RAGD_RETURN_IF_ERROR(session.eval(std::span<const int32_t>(&id, 1), &logits));
      continue;
    }
    // One pass over the token and its drafts; row j holds the logits after
    // draft j-1. A draft is kept while it is the token plain decoding would
    // pick there; the first pick that differs (or the one after the last
    // draft) comes next, and the rejected drafts leave the cache.
    std::vector<int32_t> pass{id};
    pass.insert(pass.end(), draft.begin(), draft.end());
    RAGD_RETURN_IF_ERROR(session.eval(pass, nullptr, &logits_all));
    const size_t V = logits_all.size() / pass.size();
    std::vector<int32_t> seen = history;
    size_t j = 0;
    for (;; ++j) {
      const int32_t pick = sampler.sample(std::span<const float>(logits_all).subspan(j * V, V), seen);
      queued.push_back(pick);
      if (j == draft.size() || pick != draft[j]) break;
      seen.push_back(pick);
    }
    ++g.lookup_passes;
    g.lookup_accepted += static_cast<int>(j);
    session.truncate(session.n_past() - static_cast<int>(draft.size() - j));
    logits.assign(logits_all.begin() + static_cast<std::ptrdiff_t>(j * V),
                  logits_all.begin() + static_cast<std::ptrdiff_t>((j + 1) * V));
  }
  if (!flush(g.text.size())) g.finish = FinishReason::kCancelled;
  return done(0);
}

void lookup_draft(std::span<const int32_t> history, int max_ngram, int max_draft, std::vector<int32_t>* draft) {
  draft->clear();
  if (max_draft <= 0) return;
  const int n = static_cast<int>(history.size());
  // The longest n-gram ending the history that occurred before; its latest
  // earlier occurrence proposes what followed it then.
  for (int len = std::min(max_ngram, n - 1); len >= 1; --len) {
    const int32_t* tail = history.data() + n - len;
    for (int at = n - len - 1; at >= 0; --at) {
      if (!std::equal(tail, tail + len, history.data() + at)) continue;
      const int from = at + len;
      for (int k = from; k < n && static_cast<int>(draft->size()) < max_draft; ++k) draft->push_back(history[static_cast<size_t>(k)]);
      return;
    }
  }
}

}  // namespace ragd

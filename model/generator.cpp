#include "model/generator.h"

#include <algorithm>

namespace ragd {

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kMaxTokens: return "length";
    case FinishReason::kEndOfGeneration: return "stop";
    case FinishReason::kStopString: return "stop_string";
    case FinishReason::kContextFull: return "context_full";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

Generator::Generator(std::shared_ptr<const DecoderModel> model, std::shared_ptr<const Tokenizer> tokenizer)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)) {}

std::unique_ptr<DecoderSession> Generator::new_session(DecoderSessionOptions options) const {
  return std::make_unique<DecoderSession>(model_, options);
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
  Generation g;
  g.prompt_tokens = static_cast<int>(prompt.size());
  if (prompt.empty() && session.n_past() == 0) return Status::invalid_argument("empty prompt");
  if (session.n_past() + static_cast<int64_t>(prompt.size()) >= session.n_ctx()) {
    return Status::resource_exhausted("prompt of " + std::to_string(prompt.size()) + " tokens (after " +
                                      std::to_string(session.n_past()) + " in the session) leaves no room in the " +
                                      std::to_string(session.n_ctx()) + "-token context");
  }
  if (prompt.empty()) return Status::invalid_argument("generate needs at least one new prompt token");
  std::vector<int32_t> history(prompt.begin(), prompt.end());
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
  Sampler sampler(options.sampling);
  size_t emitted = 0;
  auto flush = [&](size_t upto) {
    if (upto > emitted && on_text) {
      if (!on_text(std::string_view(g.text).substr(emitted, upto - emitted))) return false;
    }
    emitted = std::max(emitted, upto);
    return true;
  };
  for (int step = 0;; ++step) {
    if (step >= options.max_tokens) {
      g.finish = FinishReason::kMaxTokens;
      break;
    }
    const int32_t id = sampler.sample(logits, history);
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
        return g;
      }
    } else if (on_text && !on_text("")) {
      g.finish = FinishReason::kCancelled;
      return g;
    }
    if (stopped) {
      g.finish = FinishReason::kStopString;
      return g;
    }
    if (session.n_past() >= session.n_ctx()) {
      g.finish = FinishReason::kContextFull;
      break;
    }
    if (stop_requested()) return g;
    RAGD_RETURN_IF_ERROR(session.eval(std::span<const int32_t>(&id, 1), &logits));
  }
  if (!flush(g.text.size())) g.finish = FinishReason::kCancelled;
  return g;
}

}  // namespace ragd

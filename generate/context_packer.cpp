#include "generate/context_packer.h"

#include <algorithm>
#include <functional>
#include <numeric>

#include "generate/sentences.h"

namespace ragd {

std::string format_passage(int n, const Hit& hit, std::string_view text) {
  std::string s;
  s.reserve(text.size() + hit.title.size() + 32);
  s += '[';
  s += std::to_string(n);
  s += "] ";
  s += hit.title.empty() ? hit.doc_id : hit.title;
  if (!hit.section_path.empty()) {
    s += " \xE2\x80\x94 ";  // em dash
    for (size_t i = 0; i < hit.section_path.size(); ++i) {
      if (i) s += " > ";
      s += hit.section_path[i];
    }
  }
  s += "\n";
  s += text;
  s += "\n\n";
  return s;
}

ContextPacker::ContextPacker(const Tokenizer& tokenizer, ChatTemplateKind chat, const PromptLibrary& prompts,
                             PackOptions options)
    : tokenizer_(tokenizer), chat_(chat), prompts_(prompts), options_(options) {}

std::vector<int32_t> ContextPacker::tokenize_prompt(std::string_view prompt) const {
  // As Generator::generate(text) does for a fresh session: BOS as the model
  // asks, special tokens (chat markers) parsed.
  return tokenizer_.tokenize(prompt, /*add_special=*/true, /*parse_special=*/true);
}

int ContextPacker::count(std::string_view text) const {
  return static_cast<int>(tokenizer_.tokenize(text, /*add_special=*/false, /*parse_special=*/false).size());
}

std::string ContextPacker::render(PromptTask task, std::string_view input, const std::string& passages,
                                  std::string_view refusal, RenderedPrompt* messages) const {
  RenderedPrompt m = prompts_.render(task, input, passages, refusal);
  std::vector<ChatMessage> chat;
  if (!m.system.empty()) chat.push_back({"system", m.system});
  chat.push_back({"user", m.user});
  std::string prompt = apply_chat_template(chat_, chat, /*add_generation_prompt=*/true);
  if (messages) *messages = std::move(m);
  return prompt;
}

namespace {

// Ends of the sentences of `text` as byte offsets into it (so a cut keeps
// the original layout). Sentences the splitter rewrote are located loosely;
// the last end is always text.size().
std::vector<size_t> sentence_ends(const std::string& text) {
  std::vector<size_t> ends;
  size_t pos = 0;
  for (const std::string& s : split_sentences(text)) {
    const size_t at = text.find(s, pos);
    if (at == std::string::npos) continue;
    pos = at + s.size();
    ends.push_back(pos);
  }
  if (ends.empty() || ends.back() != text.size()) ends.push_back(text.size());
  return ends;
}

// Longest sentence-boundary prefix of `text` whose block fits in `limit`
// tokens; empty when not even the first sentence fits. A longer prefix never
// has fewer tokens, so the cut is found by binary search over the sentence
// ends: O(log sentences) tokenizations instead of one per sentence.
std::string cut_to_fit(const std::string& text, int limit, const std::function<int(const std::string&)>& cost) {
  const std::vector<size_t> ends = sentence_ends(text);
  size_t lo = 0, hi = ends.size();  // the answer is ends[lo - 1]; lo == 0: nothing fits
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (cost(text.substr(0, ends[mid])) <= limit) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo == 0 ? std::string() : text.substr(0, ends[lo - 1]);
}

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

Result<PackedContext> ContextPacker::pack(PromptTask task, std::string_view input, std::span<const Hit> hits,
                                          std::string_view refusal) const {
  return pack(task, input, hits, refusal, options_.reserve_tokens);
}

Result<PackedContext> ContextPacker::pack(PromptTask task, std::string_view input, std::span<const Hit> hits,
                                          std::string_view refusal, int reserve_tokens) const {
  PackedContext out;
  if (options_.n_ctx <= 0) return Status::invalid_argument("context packing: n_ctx must be positive");
  if (reserve_tokens < 0) return Status::invalid_argument("context packing: negative answer reserve");
  out.budget = options_.n_ctx - reserve_tokens;
  if (out.budget <= 0) {
    return Status::invalid_argument("context packing: max_tokens " + std::to_string(reserve_tokens) +
                                    " leaves no room for a prompt in a " + std::to_string(options_.n_ctx) +
                                    "-token context");
  }
  const int base = static_cast<int>(tokenize_prompt(render(task, input, "", refusal, nullptr)).size());
  if (base > out.budget) {
    return Status::resource_exhausted("the prompt template and input take " + std::to_string(base) +
                                      " tokens; the budget is " + std::to_string(out.budget) + " (context " +
                                      std::to_string(options_.n_ctx) + " minus " + std::to_string(reserve_tokens) +
                                      " for the answer)");
  }
  const int avail = out.budget - base;

  std::vector<size_t> order(hits.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return hits[a].score > hits[b].score; });

  int used = 0;
  for (size_t idx : order) {
    const Hit& hit = hits[idx];
    // Full, or too little room left for even a minimal passage: skip the
    // rest without tokenizing them (this is most of the packing time).
    if (static_cast<int>(out.passages.size()) >= options_.max_passages ||
        avail - used < std::max(1, options_.min_passage_tokens)) {
      ++out.skipped;
      continue;
    }
    const int n = static_cast<int>(out.passages.size()) + 1;
    auto block_cost = [&](const std::string& t) { return count(format_passage(n, hit, t)); };
    PackedPassage p;
    p.n = n;
    p.hit = hit;
    p.text = rtrim(hit.text);
    if (options_.max_passage_tokens > 0 && count(p.text) > options_.max_passage_tokens) {
      p.text = rtrim(cut_to_fit(p.text, options_.max_passage_tokens, [&](const std::string& t) { return count(t); }));
      p.truncated = true;
    }
    p.tokens = block_cost(p.text);
    if (used + p.tokens > avail) {
      std::string cut = rtrim(cut_to_fit(p.text, avail - used, block_cost));
      if (cut.empty() || count(cut) < options_.min_passage_tokens) {
        ++out.skipped;
        continue;
      }
      p.text = std::move(cut);
      p.truncated = true;
      p.tokens = block_cost(p.text);
    }
    if (p.text.empty()) {
      ++out.skipped;
      continue;
    }
    used += p.tokens;
    out.passages.push_back(std::move(p));
  }

  // Block counts are not exactly additive (merges across block boundaries),
  // so the whole prompt is counted and trimmed from the end until it fits.
  for (;;) {
    out.passages_text.clear();
    for (const auto& p : out.passages) out.passages_text += format_passage(p.n, p.hit, p.text);
    out.prompt = render(task, input, out.passages_text, refusal, &out.messages);
    out.tokens = tokenize_prompt(out.prompt);
    if (static_cast<int>(out.tokens.size()) <= out.budget) break;
    // REQUIRES: passages not empty here, since the bare template fits.
    // Cut the last passage by the overshoot (at least one sentence), then
    // count the whole prompt again.
    PackedPassage& last = out.passages.back();
    const int over = static_cast<int>(out.tokens.size()) - out.budget;
    auto last_cost = [&](const std::string& t) { return count(format_passage(last.n, last.hit, t)); };
    const auto ends = sentence_ends(last.text);
    std::string cut;
    if (ends.size() >= 2) {
      cut = rtrim(cut_to_fit(last.text, last.tokens - over, last_cost));
      // Always make progress: no longer than all but the last sentence.
      if (cut.size() > ends[ends.size() - 2]) cut = rtrim(last.text.substr(0, ends[ends.size() - 2]));
    }
    if (cut.empty() || count(cut) < options_.min_passage_tokens) {
      out.passages.pop_back();
      ++out.skipped;
    } else {
      last.text = std::move(cut);
      last.truncated = true;
      last.tokens = last_cost(last.text);
    }
  }
  return out;
}

}  // namespace ragd

#include "model/batch_scheduler.h"

#include <algorithm>

namespace ragd {

struct BatchScheduler::Request {
  DecoderSession* session = nullptr;
  std::span<const int32_t> tokens;
  size_t fed = 0;  // tokens evaluated so far
  std::vector<float>* logits_last = nullptr;
  std::vector<float>* logits_all = nullptr;
  Status status;
  bool done = false;  // guarded by mu_
};

BatchScheduler::BatchScheduler(std::shared_ptr<const DecoderModel> model, BatchSchedulerOptions options)
    : model_(std::move(model)), options_(options), batch_(model_, options.n_threads) {
  thread_ = std::thread([this] { loop(); });
}

BatchScheduler::~BatchScheduler() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

Status BatchScheduler::eval(DecoderSession& session, std::span<const int32_t> tokens,
                            std::vector<float>* logits_last, std::vector<float>* logits_all) {
  if (&session.model() != model_.get()) return Status::invalid_argument("session of another model");
  RAGD_RETURN_IF_ERROR(session.check_tokens(tokens));
  const size_t V = static_cast<size_t>(model_->config().n_vocab);
  if (logits_all) logits_all->assign(tokens.size() * V, 0.0f);
  if (logits_last) logits_last->assign(V, 0.0f);
  Request r;
  r.session = &session;
  r.tokens = tokens;
  r.logits_last = logits_last;
  r.logits_all = logits_all;
  std::unique_lock lock(mu_);
  if (stop_) return Status::unavailable("the model is shutting down");
  pending_.push_back(&r);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return r.done; });
  return r.status;
}

void BatchScheduler::pause(const DecoderSession& session) {
  std::lock_guard lock(mu_);
  if (auto r = std::find(running_.begin(), running_.end(), &session); r != running_.end()) running_.erase(r);
  auto it = std::find(expected_.begin(), expected_.end(), &session);
  if (it == expected_.end()) return;
  expected_.erase(it);
  work_cv_.notify_one();
}

BatchSchedulerStats BatchScheduler::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool BatchScheduler::all_expected_here() const {
  for (const DecoderSession* s : expected_) {
    const bool here =
        std::any_of(pending_.begin(), pending_.end(), [s](const Request* r) { return r->session == s; });
    if (!here) return false;
  }
  return true;
}

void BatchScheduler::loop() {
  const size_t V = static_cast<size_t>(model_->config().n_vocab);
  const size_t small = static_cast<size_t>(DecoderBatch::kSmallItemTokens);
  const size_t chunk = static_cast<size_t>(std::max(1, options_.prefill_chunk));
  const size_t max_seqs = static_cast<size_t>(std::max(1, options_.max_sequences));
  std::vector<DecodeItem> items;
  std::vector<Request*> reqs;
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left
    if (!stop_ && !all_expected_here()) {
      work_cv_.wait_for(lock, options_.gather_wait, [&] { return stop_ || all_expected_here(); });
    }
    // The pass: every generating sequence's step first (arrival order), then
    // prompt chunks while the prompt budget lasts. A prompt is always cut at
    // multiples of `chunk` from its start, whatever else runs, so a
    // request's numbers do not depend on the load.
    items.clear();
    reqs.clear();
    auto take = [&](Request* r, size_t n) {
      const bool last = r->fed + n == r->tokens.size();
      DecodeItem it;
      it.session = r->session;
      it.tokens = r->tokens.subspan(r->fed, n);
      it.logits_last = last && r->logits_last ? r->logits_last->data() : nullptr;
      it.logits_all = r->logits_all ? r->logits_all->data() + r->fed * V : nullptr;
      items.push_back(it);
      reqs.push_back(r);
    };
    // A step: a few tokens of a session already running (a token and its
    // drafts, or the short rest of its prompt), whether or not it made the
    // last pass. A new session's tokens are prompt and count against the
    // budget, however few: a burst of new requests with short prompts (their
    // prefix restored from the cache) is spread over passes in arrival
    // order, so the first get their first token early instead of all
    // waiting for one long pass.
    auto is_step = [&](const Request* r) {
      return r->tokens.size() - r->fed <= small &&
             std::find(running_.begin(), running_.end(), r->session) != running_.end();
    };
    for (Request* r : pending_) {
      if (items.size() < max_seqs && is_step(r)) take(r, r->tokens.size() - r->fed);
    }
    size_t prompt_tokens = 0;
    for (Request* r : pending_) {
      const size_t left = r->tokens.size() - r->fed;
      if (is_step(r) || items.size() >= max_seqs) continue;
      const size_t n = std::min(left, chunk - r->fed % chunk);
      if (prompt_tokens > 0 && prompt_tokens + n > static_cast<size_t>(std::max(1, options_.prefill_tokens))) break;
      take(r, n);
      prompt_tokens += n;
    }
    lock.unlock();
    const Status st = batch_.forward(items);
    lock.lock();
    ++stats_.passes;
    stats_.max_items = std::max<int64_t>(stats_.max_items, static_cast<int64_t>(items.size()));
    int64_t pass_rows = 0;
    for (const DecodeItem& it : items) pass_rows += static_cast<int64_t>(it.tokens.size());
    stats_.max_rows = std::max(stats_.max_rows, pass_rows);
    expected_.clear();
    for (size_t i = 0; i < items.size(); ++i) {
      Request* r = reqs[i];
      const size_t n = items[i].tokens.size();
      stats_.rows += static_cast<int64_t>(n);
      if (n <= small) stats_.decode_rows += static_cast<int64_t>(n);
      expected_.push_back(r->session);
      if (std::find(running_.begin(), running_.end(), r->session) == running_.end()) running_.push_back(r->session);
      if (!st.is_ok()) {
        r->status = st;
        r->done = true;
      } else {
        r->fed += n;
        r->done = r->fed == r->tokens.size();
      }
      if (r->done) pending_.erase(std::find(pending_.begin(), pending_.end(), r));
    }
    done_cv_.notify_all();
  }
}

}  // namespace ragd

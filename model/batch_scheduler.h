// Continuous batching: one thread owns the model's forward passes and runs
// the token evaluations of many sessions together (model/decoder_batch.h).
//
// Every request keeps its own thread, session and generation loop
// (Generator::generate(): sampling, stop strings, cancellation, deadlines,
// streaming); only DecoderSession::eval() changes. A session made with
// DecoderSessionOptions::scheduler hands its tokens to the scheduler and
// waits for the pass that evaluates them:
//
//   - each sequence that is generating adds its one new token (or a token
//     and its draft tokens) to every pass;
//   - a prompt is cut into chunks of at most `prefill_chunk` tokens, and a
//     pass takes at most `prefill_tokens` prompt tokens in all (at least one
//     chunk), so a long prompt that arrives never stalls the streams that
//     are running for more than one chunk's time, and a burst of arrivals
//     is prefilled over several passes, first come first served (a new
//     session's tokens count as prompt however few they are; a running
//     one's step never does, even when it missed the last pass);
//   - a pass waits up to `gather_wait` for the sessions of the previous pass
//     to come back with their next token (they are sampling), so the
//     sequences stay in step and share passes; a session whose generation
//     has ended says so (DecoderSession::pause(), which Generator::generate()
//     calls on return, reset() and the destructor) and is not waited for.
//
// A session's results are exactly those of eval() without the scheduler for
// the same chunks (DecoderBatch gives each row the numbers it gets alone).
//
// Thread safety: eval() and pause() may be called from many threads at
// once, each for its own session.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "model/decoder_batch.h"
#include "model/llama.h"
#include "ragd/status.h"

namespace ragd {

struct BatchSchedulerOptions {
  // Sequences evaluated in one pass at most (ragd serve --parallel); others
  // wait for the next pass. Default: 4.
  int max_sequences = 4;
  // Prompt tokens of one sequence per pass. Default: 64.
  int prefill_chunk = 64;
  // Prompt tokens of all sequences per pass (at least one chunk is always
  // taken). Default: 128.
  int prefill_tokens = 128;
  // Kernel threads of the passes (0 = all cores). Default: 0.
  int n_threads = 0;
  // How long a pass waits for the sessions of the previous pass to bring
  // their next tokens. Default: 2 ms.
  std::chrono::microseconds gather_wait{2000};
};

struct BatchSchedulerStats {
  int64_t passes = 0;        // forward passes run
  int64_t rows = 0;          // tokens evaluated (all passes)
  int64_t decode_rows = 0;   // of which in items of at most 16 tokens
  int64_t max_items = 0;     // most sequences in one pass
  int64_t max_rows = 0;      // most tokens in one pass
};

class BatchScheduler {
 public:
  BatchScheduler(std::shared_ptr<const DecoderModel> model, BatchSchedulerOptions options);
  // Finishes the evaluations already handed in, then stops the thread.
  ~BatchScheduler();
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  const BatchSchedulerOptions& options() const { return options_; }
  const DecoderModel& model() const { return *model_; }

  // What DecoderSession::eval() does, in the scheduler's passes; blocks
  // until every token is evaluated. `session` must be of this model.
  Status eval(DecoderSession& session, std::span<const int32_t> tokens, std::vector<float>* logits_last,
              std::vector<float>* logits_all);
  // `session` will not evaluate again soon: passes stop waiting for it.
  void pause(const DecoderSession& session);

  BatchSchedulerStats stats() const;

 private:
  struct Request;
  void loop();
  // REQUIRES: mu_ held. True when every session expected back has a request.
  bool all_expected_here() const;

  std::shared_ptr<const DecoderModel> model_;
  const BatchSchedulerOptions options_;
  DecoderBatch batch_;  // used by the loop thread only
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // a request arrived, a session paused, or stop
  std::condition_variable done_cv_;  // requests finished
  std::deque<Request*> pending_;                  // guarded by mu_
  std::vector<const DecoderSession*> expected_;   // guarded by mu_
  // Sessions taken into a pass and not paused since (their short requests
  // are steps, not prompt).
  std::vector<const DecoderSession*> running_;    // guarded by mu_
  bool stop_ = false;                             // guarded by mu_
  BatchSchedulerStats stats_;                     // guarded by mu_
  std::thread thread_;
};

}  // namespace ragd

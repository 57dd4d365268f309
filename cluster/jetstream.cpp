// libnats adapter: every natsStatus becomes a Status here.
#include "cluster/jetstream.h"

#include "auth/crypto.h"
#include "cluster/clock.h"
#include "cluster/log.h"

#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;

std::string nats_error(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string m = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') m += std::string(": ") + last;
  if (code != 0) m += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return m;
}

class NatsPullConsumer final : public PullConsumer {
 public:
  explicit NatsPullConsumer(natsSubscription* sub) : sub_(sub) {}
  ~NatsPullConsumer() override {
    natsMsgList_Destroy(&list_);
    // Unsubscribing would delete the durable consumer; only let go of it.
    natsSubscription_Destroy(sub_);
  }

  Result<std::vector<StreamMessage>> fetch(int max, int64_t timeout_ms) override {
    natsMsgList_Destroy(&list_);
    list_ = natsMsgList{};
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = natsSubscription_Fetch(&list_, sub_, max, timeout_ms, &code);
    std::vector<StreamMessage> out;
    if (s == NATS_TIMEOUT) return out;
    if (s != NATS_OK) return Status::unavailable("fetching from JetStream: " + nats_error(s, code));
    for (int i = 0; i < list_.Count; ++i) {
      natsMsg* m = list_.Msgs[i];
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, m) != NATS_OK) continue;  // not a stream message (a status)
      StreamMessage sm;
      sm.stream_seq = meta->Sequence.Stream;
      sm.data.assign(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m)));
      sm.index = static_cast<size_t>(i);
      jsMsgMetaData_Destroy(meta);
      out.push_back(std::move(sm));
    }
    return out;
  }

  Status ack(const StreamMessage& m) override {
    if (m.index >= static_cast<size_t>(list_.Count)) return Status::invalid_argument("ack of a message not fetched");
    natsStatus s = natsMsg_Ack(list_.Msgs[m.index], nullptr);
    if (s != NATS_OK) return Status::unavailable("acknowledging to JetStream: " + nats_error(s));
    return Status::ok();
  }

 private:
  natsSubscription* sub_;
  natsMsgList list_{};
};

// JetStream's answer to a publish whose Nats-Expected-Last-Subject-Sequence
// does not hold ("wrong last sequence"); libnats 3.4 names no constant.
constexpr int kWrongLastSequence = 10071;
// The header that makes a publish a creation (OutgoingMessage).
constexpr const char* kExpectedLastSubjectSeq = "Nats-Expected-Last-Subject-Sequence";

Status created_already(const std::string& why) {
  return Status::already_exists("another write of this document reached the log first, so it exists now and "
                                "this write, made as its creation, was refused (" + why +
                                "); read the document and write again");
}

// The acknowledgements of one publish_all(): filled by the async publish
// callback (libnats' thread) by message id, read by the publisher.
struct AsyncBatch {
  std::mutex mu;
  std::unordered_map<std::string, size_t> index;  // Nats-Msg-Id -> position
  std::vector<Result<uint64_t>>* out = nullptr;   // guarded by mu
  std::vector<bool> answered;                     // guarded by mu
  bool heard = false;  // guarded by mu: the server answered one (not a message refused here)
  std::atomic<int64_t>* last_answer = nullptr;  // the connection's (ConnectionState::last_answer)
};

void on_async_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) noexcept {
  auto* batch = static_cast<AsyncBatch*>(closure);
  const char* id = nullptr;
  try {
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) {
      std::lock_guard lock(batch->mu);
      if (auto it = batch->index.find(id); it != batch->index.end()) {
        if (pa != nullptr) {
          (*batch->out)[it->second] = pa->Sequence;
        } else {
          std::string why = pae != nullptr && pae->ErrText != nullptr ? pae->ErrText : "no acknowledgement";
          if (pae != nullptr && pae->ErrCode != 0) why += " (JetStream error " + std::to_string(pae->ErrCode) + ")";
          (*batch->out)[it->second] = pae != nullptr && static_cast<int>(pae->ErrCode) == kWrongLastSequence
                                          ? created_already(why)
                                          : Status::unavailable("JetStream did not acknowledge the write: " + why);
        }
        batch->answered[it->second] = true;
        batch->heard = true;
        if (pa != nullptr || (pae != nullptr && pae->ErrCode != 0)) batch->last_answer->store(steady_ms());
      }
    }
  } catch (...) {
    // Out of memory on libnats' thread: the message stays "not
    // acknowledged", and the publisher resends it.
  }
  natsMsg_Destroy(msg);
}

// Owns a publish_all() context: on every way out, takes back what is still
// unanswered (their late acks are dropped), waits for the callbacks already
// running (they hold the batch), and destroys it.
struct AsyncContext {
  jsCtx* js = nullptr;
  // A message was taken by the library. Before the first, libnats may have
  // no pending map, which js_PublishAsyncGetPendingList reads unchecked.
  bool sent = false;
  AsyncContext() = default;
  AsyncContext(const AsyncContext&) = delete;
  AsyncContext& operator=(const AsyncContext&) = delete;
  ~AsyncContext() { close(); }
  void close() {
    if (js == nullptr) return;
    if (sent) {
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) natsMsgList_Destroy(&pending);
      (void)js_PublishAsyncComplete(js, nullptr);
    }
    jsCtx_Destroy(js);
    js = nullptr;
  }
};

// What the connection's callbacks write. libnats calls them on its own
// thread, even after natsConnection_Destroy: the owner closes the
// connection and waits for the closed callback (queued after the others)
// before it lets this go.
struct ConnectionState {
  std::atomic<int64_t> down_since{0};  // steady_ms when the connection went; 0 while up
  // steady_ms since when the server the connection is on has not answered:
  // a publish went unacknowledged and a PING then got no PONG either
  // (NatsJetStream::note_unanswered). 0 while it answers; cleared by a PONG
  // or a reconnect.
  std::atomic<int64_t> silent_since{0};
  // steady_ms when the last PING to a silent server ended
  // (NatsJetStream::kPingInFlight while one is in flight).
  std::atomic<int64_t> silent_checked{0};
  // steady_ms of the server's last answer on this connection (an
  // acknowledgement, a JetStream error, a PONG), whichever request had it.
  std::atomic<int64_t> last_answer{0};
  std::atomic<uint64_t> reconnects{0};     // reconnections so far
  // The server's max_payload, read at each (re)connect:
  // natsConnection_GetMaxPayload takes the connection's lock, which a
  // reconnect attempt to a silent server holds for the connect timeout.
  std::atomic<int64_t> max_payload{0};
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;  // guarded by mu
};

void on_disconnected(natsConnection*, void* state) {
  static_cast<ConnectionState*>(state)->down_since.store(std::max<int64_t>(1, steady_ms()));
}
void on_reconnected(natsConnection* nc, void* state) {
  auto* st = static_cast<ConnectionState*>(state);
  st->max_payload.store(natsConnection_GetMaxPayload(nc));
  st->silent_since.store(0);
  st->reconnects.fetch_add(1);
  st->down_since.store(0);
}
void on_closed(natsConnection*, void* state) {
  auto* st = static_cast<ConnectionState*>(state);
  std::lock_guard lock(st->mu);
  st->closed = true;
  st->cv.notify_all();
}

// Closes `nc`, waits (a few seconds at most) for its last callback, and
// destroys it: `state` may go after this.
void close_connection(natsConnection* nc, ConnectionState& state) {
  natsConnection_Close(nc);
  {
    std::unique_lock lock(state.mu);
    state.cv.wait_for(lock, std::chrono::seconds(5), [&] { return state.closed; });
  }
  natsConnection_Destroy(nc);
}

class NatsJetStream final : public JetStream {
 public:
  NatsJetStream(natsConnection* nc, jsCtx* js, const NatsSilence& silence, std::unique_ptr<ConnectionState> state)
      : nc_(nc), js_(js), silence_(silence), state_(std::move(state)) {}
  ~NatsJetStream() override {
    {
      std::lock_guard lock(prober_mu_);
      prober_stop_ = true;
    }
    prober_cv_.notify_all();
    // A PING the prober is waiting on returns at once when the connection
    // closes: the join does not wait out silent_after_ms.
    natsConnection_Close(nc_);
    if (prober_.joinable()) prober_.join();
    jsCtx_Destroy(js_);
    close_connection(nc_, *state_);
  }

  // Starts the prober's thread (probe_loop). Apart from the constructor so
  // that a system out of threads is a Status for connect(), and the
  // destructor (which needs no prober) still closes the connection.
  Status start_prober() {
    try {
      prober_ = std::thread([this] { probe_loop(); });
    } catch (const std::system_error& e) {
      return Status::unavailable(std::string("starting the NATS connection's silence probe thread: ") + e.what() +
                                 "; the system is out of threads (raise the process's thread limit)");
    }
    return Status::ok();
  }

  // From the connection's callbacks: natsConnection_Status would wait for
  // the connection's lock, which a reconnect attempt holds for its timeout.
  // A silent server counts as down from when its silence was confirmed.
  int64_t down_for_ms() const override {
    const int64_t down = state_->down_since.load(), silent = state_->silent_since.load();
    const int64_t since = down == 0 ? silent : silent == 0 ? down : std::min(down, silent);
    return since == 0 ? 0 : std::max<int64_t>(1, steady_ms() - since);
  }

  bool silent() const override { return state_->silent_since.load() != 0 && state_->down_since.load() == 0; }

  void recheck_silence() override {
    if (silent()) (void)check_silence(silence_.silent_after_ms);
  }

  Status ensure_stream(const std::string& stream, const std::string& subject, int replicas,
                       const StreamLimits& limits) override {
    const std::string below = subject + ".*";
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, &code);
    if (s == NATS_OK) {
      Status st = update_config(si, below, limits);
      jsStreamInfo_Destroy(si);
      return st.with_context("stream " + stream);
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {subject.c_str(), below.c_str()};
    cfg.Name = stream.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 2;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas;
    cfg.MaxAge = max_age_ns(limits);
    cfg.MaxBytes = max_bytes(limits);
    s = js_AddStream(&si, js_, &cfg, nullptr, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return Status::ok();
    }
    // Another node may have created it meanwhile.
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return Status::ok();
    }
    return Status::unavailable("creating JetStream stream " + stream + " (" + std::to_string(replicas) +
                               " replicas; that many NATS servers must run with -js): " + nats_error(s, code));
  }

  Result<uint64_t> publish(const std::string& subject, const std::string& msg_id, std::string_view data,
                           int64_t timeout_ms, bool expect_new_subject) override {
    // A message over the servers' max_payload can never be stored: it
    // fails now rather than being retried until the timeout.
    const int64_t max = state_->max_payload.load();
    if (max > 0 && static_cast<int64_t>(data.size()) > max) return too_big(data.size(), max);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string last;
    // The first wait is short (first_ack_ms): a silent server is told at
    // once by the PING that follows. Once the server answered a PING (it
    // is there, JetStream is slow), a resend waits longer; when the PING
    // was skipped for another request's answer meanwhile, silent_after_ms,
    // so that the next timeout asks it.
    int64_t wait_ms = silence_.first_ack_ms;
    for (;;) {
      const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                               deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      if (state_->down_since.load() != 0) {
        // Reconnecting: a publish now would wait behind the connection's
        // lock, which a connect attempt to a silent server holds for its
        // timeout; wait for the reconnect (or the deadline) instead.
        last = "no connection to NATS";
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(50, left)));
        continue;
      }
      // A server known to be silent: fail now rather than at the deadline.
      RAGD_RETURN_IF_ERROR(check_silence(left));
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = msg_id.c_str();
      po.MaxWait = std::min<int64_t>(left, wait_ms);
      jsPubAck* pa = nullptr;
      jsErrCode code = static_cast<jsErrCode>(0);
      // The header by hand: jsPubOptions' ExpectLastSubjectSeq takes 0 for
      // "not set".
      natsMsg* msg = nullptr;
      natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
      if (s == NATS_OK && expect_new_subject) s = natsMsgHeader_Set(msg, kExpectedLastSubjectSeq, "0");
      const int64_t sent_ms = steady_ms();
      if (s == NATS_OK) s = js_PublishMsg(&pa, js_, msg, &po, &code);
      natsMsg_Destroy(msg);
      if (s == NATS_OK || code != 0) note_answer();
      if (s == NATS_OK) {
        const uint64_t seq = pa->Sequence;
        jsPubAck_Destroy(pa);
        return seq;
      }
      if (s == NATS_MAX_PAYLOAD) return too_big(data.size(), state_->max_payload.load());
      if (static_cast<int>(code) == kWrongLastSequence) return created_already(nats_error(s, code));
      last = nats_error(s, code);
      // No acknowledgement in time: is the server there at all?
      if (s == NATS_TIMEOUT) {
        const bool heard_meanwhile = answered_since(sent_ms);
        RAGD_RETURN_IF_ERROR(note_unanswered(sent_ms));
        wait_ms = heard_meanwhile ? silence_.silent_after_ms : std::max<int64_t>(2000, silence_.first_ack_ms);
      }
      // No responders / not connected: the stream's leader is being elected
      // or the connection is reconnecting. Retry with the same id.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(100, std::max<int64_t>(left, 1))));
    }
    return Status::unavailable("JetStream did not acknowledge the write within " + std::to_string(timeout_ms) +
                               " ms (" + last + "); check the NATS servers");
  }

  std::vector<Result<uint64_t>> publish_all(const std::vector<OutgoingMessage>& msgs, int64_t timeout_ms) override {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 1));
    auto left_ms = [&] {
      return std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()).count());
    };
    auto unanswered = [&] {
      if (state_->silent_since.load() != 0 && state_->down_since.load() == 0) return silent_error();
      return Status::unavailable(
          "JetStream did not acknowledge the write within " + std::to_string(timeout_ms) + " ms (" +
          (state_->down_since.load() != 0 ? std::string("no connection to NATS") : std::string("no answer")) +
          "); check the NATS servers");
    };
    std::vector<Result<uint64_t>> out(msgs.size(), Status::unavailable("not sent"));
    AsyncBatch batch;
    batch.out = &out;
    batch.answered.assign(msgs.size(), false);
    batch.last_answer = &state_->last_answer;
    // Those no answer came for say so, as it stands when this returns.
    auto finish = [&] {
      const Status none = unanswered();
      for (size_t i = 0; i < out.size(); ++i) {
        if (!batch.answered[i]) out[i] = none;
      }
      return std::move(out);
    };
    // Reconnecting: a publish would wait behind the connection's lock. The
    // caller's resends (publish()) wait for the reconnect instead.
    if (msgs.empty() || state_->down_since.load() != 0) return finish();
    // A server known to be silent: none would be answered.
    if (!check_silence(left_ms()).is_ok()) return finish();
    const int64_t max = state_->max_payload.load();
    const int64_t batch_sent_ms = steady_ms();
    for (size_t i = 0; i < msgs.size(); ++i) batch.index.emplace(msgs[i].msg_id, i);
    // A context of its own: its callback writes this batch's results, and
    // waiting for it waits for this batch alone. At most kMaxInFlight
    // unanswered: beyond, a publish waits for a slot, then fails.
    constexpr int kMaxInFlight = 1024;
    jsOptions o;
    jsOptions_Init(&o);
    o.PublishAsync.AckHandler = on_async_ack;
    o.PublishAsync.AckHandlerClosure = &batch;
    o.PublishAsync.MaxPending = kMaxInFlight;
    o.PublishAsync.StallWait = std::min<int64_t>(2000, std::max<int64_t>(left_ms(), 1));
    AsyncContext ctx;  // declared after `batch`: drained before it goes
    if (natsStatus s = natsConnection_JetStream(&ctx.js, nc_, &o); s != NATS_OK) {
      ctx.js = nullptr;
      return finish();
    }
    for (size_t i = 0; i < msgs.size(); ++i) {
      const OutgoingMessage& m = msgs[i];
      if (max > 0 && static_cast<int64_t>(m.data.size()) > max) {
        std::lock_guard lock(batch.mu);
        out[i] = too_big(m.data.size(), max);
        batch.answered[i] = true;
        continue;
      }
      // Out of time, or the connection stalled (no slot freed): the rest
      // stay unanswered, for the caller to resend.
      if (left_ms() == 0) break;
      natsMsg* msg = nullptr;
      natsStatus s = natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.data.data(), static_cast<int>(m.data.size()));
      if (s == NATS_OK && m.expect_new_subject) s = natsMsgHeader_Set(msg, kExpectedLastSubjectSeq, "0");
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = m.msg_id.c_str();
      if (s == NATS_OK) s = js_PublishMsgAsync(ctx.js, &msg, &po);
      if (s == NATS_OK) ctx.sent = true;
      natsMsg_Destroy(msg);  // no-op once the library took it
      if (s == NATS_MAX_PAYLOAD) {
        // The headers count against max_payload too.
        std::lock_guard lock(batch.mu);
        out[i] = too_big(m.data.size(), max);
        batch.answered[i] = true;
        continue;
      }
      if (s != NATS_OK) break;
    }
    // The acknowledgements: a short wait, not the whole budget, so that the
    // caller has time to resend what got none (a lost ack, a leader change).
    // None within first_ack_ms: is the server there at all? A silent one
    // ends the wait (note_unanswered).
    const auto ack_deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::min<int64_t>(left_ms(), 2000));
    auto wait_acks = [&](int64_t ms) {
      jsPubOptions wait;
      jsPubOptions_Init(&wait);
      wait.MaxWait = std::max<int64_t>(1, ms);
      return js_PublishAsyncComplete(ctx.js, &wait) == NATS_OK;
    };
    const bool all_answered = !ctx.sent || wait_acks(std::min<int64_t>(left_ms(), silence_.first_ack_ms));
    // Some acknowledged already: the server answers (a large batch still
    // on its way), so no PING, which would queue behind that batch.
    auto heard = [&] {
      std::lock_guard lock(batch.mu);
      return batch.heard;
    };
    if (!all_answered && (heard() || note_unanswered(batch_sent_ms).is_ok())) {
      (void)wait_acks(std::chrono::duration_cast<std::chrono::milliseconds>(
                          ack_deadline - std::chrono::steady_clock::now()).count());
    }
    ctx.close();  // no callback runs after this: `out` is final
    return finish();
  }

  Result<std::unique_ptr<PullConsumer>> consume(const std::string& stream, const std::string& durable,
                                                uint64_t start_seq) override {
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_DeleteConsumer(js_, stream.c_str(), durable.c_str(), nullptr, &code);
    if (s != NATS_OK && code != JSConsumerNotFoundErr && s != NATS_NOT_FOUND) {
      return Status::unavailable("resetting consumer " + durable + " of " + stream + ": " + nats_error(s, code));
    }
    // Created without a filter subject (every subject of the stream: one
    // per document, and the shard's own of an earlier ragd), then bound.
    jsConsumerConfig cfg;
    jsConsumerConfig_Init(&cfg);
    cfg.Durable = durable.c_str();
    cfg.AckPolicy = js_AckExplicit;
    cfg.DeliverPolicy = start_seq <= 1 ? js_DeliverAll : js_DeliverByStartSequence;
    cfg.OptStartSeq = start_seq <= 1 ? 0 : start_seq;
    jsConsumerInfo* ci = nullptr;
    code = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&ci, js_, stream.c_str(), &cfg, nullptr, &code);
    if (s != NATS_OK) {
      return Status::unavailable("creating consumer " + durable + " of " + stream + ": " + nats_error(s, code));
    }
    jsConsumerInfo_Destroy(ci);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Consumer = durable.c_str();
    so.ManualAck = true;
    natsSubscription* sub = nullptr;
    code = static_cast<jsErrCode>(0);
    s = js_PullSubscribe(&sub, js_, nullptr, durable.c_str(), nullptr, &so, &code);
    if (s != NATS_OK) {
      return Status::unavailable("subscribing " + durable + " to " + stream + ": " + nats_error(s, code));
    }
    return std::unique_ptr<PullConsumer>(std::make_unique<NatsPullConsumer>(sub));
  }

  Result<std::optional<StreamMessage>> last_message(const std::string& stream, const std::string& subject) override {
    natsMsg* msg = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetLastMsg(&msg, js_, stream.c_str(), subject.c_str(), nullptr, &code);
    if (code == JSNoMessageFoundErr) return std::optional<StreamMessage>();
    if (s != NATS_OK) {
      return Status::unavailable("reading the last message of " + subject + " in " + stream + ": " +
                                 nats_error(s, code));
    }
    StreamMessage m;
    m.stream_seq = natsMsg_GetSequence(msg);
    m.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
    return std::optional<StreamMessage>(std::move(m));
  }

  Status delete_consumer(const std::string& stream, const std::string& durable) override {
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_DeleteConsumer(js_, stream.c_str(), durable.c_str(), nullptr, &code);
    if (s == NATS_NOT_FOUND || code == JSConsumerNotFoundErr) return Status::ok();
    if (s != NATS_OK) return Status::unavailable("deleting consumer " + durable + " of " + stream + ": " + nats_error(s, code));
    return Status::ok();
  }

  Result<std::vector<std::string>> consumer_names(const std::string& stream) override {
    jsConsumerNamesList* list = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_ConsumerNames(&list, js_, stream.c_str(), nullptr, &code);
    std::vector<std::string> out;
    if (s == NATS_NOT_FOUND) return out;  // none
    if (s != NATS_OK) return Status::unavailable("listing the consumers of " + stream + ": " + nats_error(s, code));
    for (int i = 0; i < list->Count; ++i) out.emplace_back(list->List[i]);
    jsConsumerNamesList_Destroy(list);
    return out;
  }

  Result<uint64_t> last_sequence(const std::string& stream) override {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, &code);
    if (s != NATS_OK) return Status::unavailable("reading stream " + stream + ": " + nats_error(s, code));
    const uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return last;
  }

  Result<StreamBounds> stream_bounds(const std::string& stream) override {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, &code);
    if (s != NATS_OK) return Status::unavailable("reading stream " + stream + ": " + nats_error(s, code));
    const StreamBounds b{si->State.FirstSeq, si->State.LastSeq};
    jsStreamInfo_Destroy(si);
    return b;
  }

  Result<StreamHealth> stream_health(const std::string& stream) override {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, &code);
    if (s != NATS_OK) return Status::unavailable("reading stream " + stream + ": " + nats_error(s, code));
    StreamHealth h;
    h.last_seq = si->State.LastSeq;
    const jsClusterInfo* c = si->Cluster;
    if (c == nullptr || c->Name == nullptr || *c->Name == '\0') {
      h.leader = "(one server)";  // JetStream not clustered: no Raft group, the server takes the writes
    } else {
      if (c->Leader != nullptr) h.leader = c->Leader;
      for (int i = 0; i < c->ReplicasLen; ++i) {
        const jsPeerInfo* p = c->Replicas[i];
        if (p == nullptr) continue;
        h.replicas.push_back({p->Name != nullptr ? p->Name : "", p->Current, p->Offline, p->Lag});
      }
    }
    jsStreamInfo_Destroy(si);
    return h;
  }

  Result<int64_t> stream_created(const std::string& stream) override {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, &code);
    if (s != NATS_OK) return Status::unavailable("reading stream " + stream + ": " + nats_error(s, code));
    const int64_t created = si->Created;
    jsStreamInfo_Destroy(si);
    return created;
  }

  Result<std::optional<StreamMessage>> next_message(const std::string& stream, const std::string& subject,
                                                    uint64_t from_seq) override {
    // STREAM.MSG.GET with next_by_subj, which libnats' js_GetMsg cannot ask.
    const std::string api = "$JS.API.STREAM.MSG.GET." + stream;
    const std::string req =
        Json{{"seq", std::max<uint64_t>(from_seq, 1)}, {"next_by_subj", subject}}.dump();
    natsMsg* reply = nullptr;
    natsStatus s = natsConnection_Request(&reply, nc_, api.c_str(), req.data(), static_cast<int>(req.size()), 5000);
    if (s != NATS_OK) return Status::unavailable("reading " + subject + " in " + stream + ": " + nats_error(s));
    const Json j = Json::parse(std::string_view(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply))),
                               nullptr, false);
    natsMsg_Destroy(reply);
    if (j.is_discarded() || !j.is_object()) return Status::unavailable("reading " + subject + ": not a JetStream answer");
    try {
      if (auto e = j.find("error"); e != j.end()) {
        if (e->is_object() && e->value("err_code", 0) == JSNoMessageFoundErr) return std::optional<StreamMessage>();
        return Status::unavailable("reading " + subject + " in " + stream + ": " + e->dump());
      }
      auto m = j.find("message");
      if (m == j.end() || !m->is_object()) return Status::unavailable("reading " + subject + ": no message in the answer");
      StreamMessage out;
      out.stream_seq = m->at("seq").get<uint64_t>();
      if (out.stream_seq == 0) return Status::unavailable("reading " + subject + ": a message without a sequence");
      auto data = auth::base64_decode(m->value("data", std::string()));
      if (!data.is_ok()) return Status::unavailable("reading " + subject + ": " + data.status().message());
      out.data = std::move(data).value();
      return std::optional<StreamMessage>(std::move(out));
    } catch (const Json::exception& e) {
      return Status::unavailable("reading " + subject + ": a malformed JetStream answer (" + e.what() + ")");
    }
  }

  Status erase_message(const std::string& stream, uint64_t seq) override {
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_EraseMsg(js_, stream.c_str(), seq, nullptr, &code);
    if (s == NATS_OK || code == JSNoMessageFoundErr || code == JSSequenceNotFoundErr) return Status::ok();
    const std::string why = nats_error(s, code);
    // nats-server 2.9 answers a message already gone with the generic
    // deletion error and this description.
    if (code == JSStreamMsgDeleteFailed && why.find("no message found") != std::string::npos) return Status::ok();
    return Status::unavailable("erasing message " + std::to_string(seq) + " of " + stream + ": " + why);
  }

  Status delete_stream(const std::string& stream) override {
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_DeleteStream(js_, stream.c_str(), nullptr, &code);
    if (s != NATS_OK) return Status::unavailable("deleting stream " + stream + ": " + nats_error(s, code));
    return Status::ok();
  }

 private:
  // Whether the server answers a PING within `ms`: NATS_OK for a PONG,
  // NATS_TIMEOUT for none in time (silence), anything else (the connection
  // dropped meanwhile, or is reconnecting) says nothing about silence. Not
  // while reconnecting: natsConnection_FlushTimeout would wait behind the
  // connection's lock.
  natsStatus ping(int64_t ms) {
    if (state_->down_since.load() != 0) return NATS_CONNECTION_DISCONNECTED;
    const natsStatus s = natsConnection_FlushTimeout(nc_, std::max<int64_t>(ms, 1));
    if (s == NATS_OK) note_answer();
    return s;
  }

  // The server answered (an acknowledgement, a JetStream error, a PONG).
  void note_answer() { state_->last_answer.store(steady_ms()); }
  bool answered_since(int64_t ms) const { return state_->last_answer.load() >= ms; }

  Status silent_error() const {
    const int64_t since = state_->silent_since.load();
    return Status::unavailable(
        "the NATS server this node is connected to has not answered for " +
        std::to_string(since == 0 ? 0 : steady_ms() - since) +
        " ms (no acknowledgement, no PONG): the write was not acknowledged; the client leaves the server for "
        "another of the cluster once its pings go unanswered; check the NATS servers and the network to them");
  }

  // A publish got no acknowledgement in time on a connection that is up:
  // a PING tells a slow JetStream (a leader election, a quorum catching
  // up: the server answers) from a server that stopped answering (a cut
  // network, a hung process: libnats notices only after two unanswered
  // pings of its own, 4-6 s). Silent: recorded (down_for_ms counts it)
  // and kUnavailable.
  // `sent_ms`: when the unanswered publish was sent.
  Status note_unanswered(int64_t sent_ms) {
    if (state_->silent_since.load() != 0) return silent_error();
    // Something of this connection's was answered since (another request's
    // acknowledgement): the server answers, and a PING would only queue
    // behind what it is busy with. (An answer from before the send says
    // nothing about the server now.)
    if (answered_since(sent_ms)) return Status::ok();
    const uint64_t reconnects = state_->reconnects.load();
    if (state_->down_since.load() != 0) return Status::ok();
    // Only a PING that timed out is silence: one the connection dropped
    // under (NATS_CONNECTION_DISCONNECTED, before on_disconnected ran)
    // leaves the caller to wait for the reconnect, on down_since.
    if (ping(silence_.silent_after_ms) != NATS_TIMEOUT) return Status::ok();
    // Given up meanwhile (reconnecting), or already on another server: not
    // that server's silence to record.
    if (state_->down_since.load() != 0 || state_->reconnects.load() != reconnects) return Status::ok();
    const int64_t now = steady_ms();
    state_->silent_checked.store(now);
    int64_t none = 0;
    if (state_->silent_since.compare_exchange_strong(none, std::max<int64_t>(1, now - silence_.silent_after_ms))) {
      cluster_log().warn("the NATS server this node is connected to stopped answering (a publish got no "
                         "acknowledgement, a PING no PONG within {} ms): writes are refused until it answers "
                         "or the client moves to another server",
                         silence_.silent_after_ms);
    }
    return silent_error();
  }

  // kUnavailable at once while the server is known to be silent; a caller
  // silent_recheck_ms after the last PING ended asks it again (a PING of at
  // most min(silent_after_ms, `left_ms`)), and a PONG clears the silence.
  // One PING at a time: the caller that claims silent_checked (kPingInFlight)
  // sends it, and every other caller meanwhile fails at once instead of
  // stacking a PING of its own and waiting silent_after_ms behind it.
  Status check_silence(int64_t left_ms) {
    if (state_->silent_since.load() == 0) return Status::ok();
    int64_t checked = state_->silent_checked.load();
    if (steady_ms() - checked < silence_.silent_recheck_ms) return silent_error();
    if (!state_->silent_checked.compare_exchange_strong(checked, kPingInFlight)) return silent_error();
    const natsStatus s = ping(std::min(silence_.silent_after_ms, left_ms));
    state_->silent_checked.store(steady_ms());
    if (s == NATS_OK) {
      if (state_->silent_since.exchange(0) != 0) {
        cluster_log().info("the NATS server this node is connected to answers again");
      }
      return Status::ok();
    }
    return silent_error();
  }
  // silent_checked while a caller's PING is in flight: later than any
  // steady_ms, so every other caller finds the recheck not due.
  static constexpr int64_t kPingInFlight = std::numeric_limits<int64_t>::max();

  static Status too_big(size_t bytes, int64_t max) {
    return Status::resource_exhausted("its cluster message is " + std::to_string(bytes) +
                                      " bytes, more than the NATS servers' max_payload of " +
                                      (max > 0 ? std::to_string(max) + " bytes" : std::string("this connection")) +
                                      " (split the document, or raise max_payload in nats-server's configuration)");
  }

  // Adds `subject` to the stream `si` describes unless it has it.
  // JetStream's values for "no limit": MaxAge 0, MaxBytes -1.
  static int64_t max_age_ns(const StreamLimits& l) { return l.max_age_seconds * 1'000'000'000LL; }
  static int64_t max_bytes(const StreamLimits& l) { return l.max_bytes > 0 ? l.max_bytes : -1; }

  // Adds `subject` to an existing stream and sets its retention, when
  // either differs (no update otherwise).
  Status update_config(const jsStreamInfo* si, const std::string& subject, const StreamLimits& limits) {
    const jsStreamConfig* have = si->Config;
    if (have == nullptr) return Status::unavailable("JetStream gave no stream configuration");
    std::vector<const char*> subjects;
    bool has_subject = false;
    for (int i = 0; i < have->SubjectsLen; ++i) {
      if (subject == have->Subjects[i]) has_subject = true;
      subjects.push_back(have->Subjects[i]);
    }
    if (!has_subject) subjects.push_back(subject.c_str());
    const bool same_limits = have->MaxAge == max_age_ns(limits) &&
                             (have->MaxBytes == max_bytes(limits) || (have->MaxBytes <= 0 && max_bytes(limits) <= 0));
    if (has_subject && same_limits) return Status::ok();
    jsStreamConfig cfg = *have;  // shallow: its strings stay si's while we call
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = static_cast<int>(subjects.size());
    cfg.MaxAge = max_age_ns(limits);
    cfg.MaxBytes = max_bytes(limits);
    // JetStream refuses a duplicate window longer than the age limit (a
    // new stream gets the shorter of its default and the limit).
    if (cfg.MaxAge > 0 && cfg.Duplicates > cfg.MaxAge) cfg.Duplicates = cfg.MaxAge;
    jsStreamInfo* updated = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_UpdateStream(&updated, js_, &cfg, nullptr, &code);
    if (s != NATS_OK) {
      return Status::unavailable("updating its subjects and retention (" + subject + ", max age " +
                                 std::to_string(limits.max_age_seconds) + " s, max bytes " +
                                 std::to_string(limits.max_bytes) + "): " + nats_error(s, code));
    }
    jsStreamInfo_Destroy(updated);
    return Status::ok();
  }

  // The prober's thread: while the server is silent, asks it again
  // (recheck_silence, looked for every 50 ms: a PING silent_recheck_ms
  // after the last one ended), so that a silence ends with the server's
  // first PONG even when no write comes.
  // On a thread of its own: a PING may wait silent_after_ms, and no other
  // work of the node (its etcd lease renewal) may wait behind it.
  // What throws in a round (std::bad_alloc building an error) is logged
  // and the next round goes on: an exception out of a thread would end the
  // process.
  void probe_loop() {
    std::unique_lock lock(prober_mu_);
    while (!prober_cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return prober_stop_; })) {
      lock.unlock();
      try {
        recheck_silence();
      } catch (const std::exception& e) {
        cluster_log().error("the NATS silence probe failed a round (it goes on): {}", e.what());
      }
      lock.lock();
    }
  }

  natsConnection* nc_;
  jsCtx* js_;
  const NatsSilence silence_;
  std::unique_ptr<ConnectionState> state_;  // the callbacks'; outlives nc_ (see close_connection)
  std::mutex prober_mu_;
  std::condition_variable prober_cv_;
  bool prober_stop_ = false;  // guarded by prober_mu_
  // Runs probe_loop() from start_prober(). The destructor stops it, closes
  // the connection (which ends a PING in flight), then joins it, before it
  // lets nc_ and js_ go.
  std::thread prober_;
};

}  // namespace

namespace {

// Which credentials the node sent, for an error: the options' names only.
std::string credentials_named(const NatsCredentials& a) {
  if (!a.token_file.empty()) return "the token in nats_token_file " + a.token_file.string();
  if (!a.user.empty()) return "user '" + a.user + "' with the password in nats_password_file " + a.password_file.string();
  if (!a.creds_file.empty()) return "the credentials in nats_creds_file " + a.creds_file.string();
  if (!a.nkey.empty()) return "nkey " + a.nkey + " with its seed in nats_nkey_seed_file " + a.nkey_seed_file.string();
  return "";
}

}  // namespace

Result<std::unique_ptr<JetStream>> JetStream::connect(const std::vector<std::string>& urls,
                                                      const std::string& client_name, const TlsFiles& tls,
                                                      const NatsCredentials& auth, const NatsSilence& silence) {
  natsOptions* opts = nullptr;
  if (natsOptions_Create(&opts) != NATS_OK) return Status::internal("natsOptions_Create failed");
  std::vector<const char*> servers;
  for (const auto& u : urls) servers.push_back(u.c_str());
  natsStatus s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, client_name.c_str());
  // A node outlives NATS restarts: reconnect for ever, quickly.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
  // A server that stops answering without closing the connection (a
  // partition) is given up on after two unanswered pings (libnats' default
  // is two minutes apart; NatsSilence::ping_interval_ms): down_for_ms()
  // then says so.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, silence.ping_interval_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
  // A write to a server that stopped reading (its socket buffer full) gives
  // up after 2 s instead of blocking the connection, and every publish.
  if (s == NATS_OK) s = natsOptions_SetWriteDeadline(opts, 2000);
  // TLS: tls:// URLs (check_cluster_options allows no mix).
  const bool secure = !urls.empty() && urls.front().rfind("tls://", 0) == 0;
  if (s == NATS_OK && secure) {
    s = natsOptions_SetSecure(opts, true);
    auto loaded = [&](natsStatus st, const std::string& what) {
      if (st != NATS_OK) {
        natsOptions_Destroy(opts);
        return Status::invalid_argument("NATS TLS: cannot load " + what + ": " + nats_error(st));
      }
      return Status::ok();
    };
    if (s == NATS_OK && !tls.ca_file.empty()) {
      RAGD_RETURN_IF_ERROR(loaded(natsOptions_LoadCATrustedCertificates(opts, tls.ca_file.c_str()),
                                  "tls_ca_file " + tls.ca_file.string()));
    }
    if (s == NATS_OK && !tls.cert_file.empty()) {
      RAGD_RETURN_IF_ERROR(loaded(natsOptions_LoadCertificatesChain(opts, tls.cert_file.c_str(), tls.key_file.c_str()),
                                  "tls_cert_file " + tls.cert_file.string() + " with tls_key_file " +
                                      tls.key_file.string()));
    }
  }
  // Credentials: at most one way (check_cluster_options). The token and
  // password are copied by libnats; the creds and seed files it reads again
  // on each connect.
  if (s == NATS_OK) {
    natsStatus c = NATS_OK;
    std::string what;
    if (!auth.token.empty()) {
      c = natsOptions_SetToken(opts, auth.token.c_str());
      what = "nats_token_file";
    } else if (!auth.user.empty()) {
      c = natsOptions_SetUserInfo(opts, auth.user.c_str(), auth.password.c_str());
      what = "nats_user";
    } else if (!auth.creds_file.empty()) {
      c = natsOptions_SetUserCredentialsFromFiles(opts, auth.creds_file.c_str(), nullptr);
      what = "nats_creds_file " + auth.creds_file.string();
    } else if (!auth.nkey.empty()) {
      c = natsOptions_SetNKeyFromSeed(opts, auth.nkey.c_str(), auth.nkey_seed_file.c_str());
      what = "nats_nkey_seed_file " + auth.nkey_seed_file.string();
    }
    if (c != NATS_OK) {
      natsOptions_Destroy(opts);
      return Status::invalid_argument("NATS credentials: cannot use " + what + ": " + natsStatus_GetText(c));
    }
  }
  auto state = std::make_unique<ConnectionState>();
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, state.get());
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, state.get());
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, on_closed, state.get());
  natsConnection* nc = nullptr;
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED) {
    // The server's own words ("Authorization Violation") hold no secret.
    const std::string sent = credentials_named(auth);
    return Status::unauthenticated(
        "connecting to NATS: " + nats_error(s) + "; " +
        (sent.empty() ? "the servers require credentials: set nats_token_file, nats_user with nats_password_file, "
                        "nats_creds_file, or nats_nkey with nats_nkey_seed_file"
                      : "the servers refused " + sent + ": check it against their authorization"));
  }
  if (s != NATS_OK) {
    std::string hint = "; check the nats URLs (tls:// when the servers require TLS)";
    if (secure) {
      hint = "; check the nats URLs";
      if (tls.ca_file.empty()) hint += ", set tls_ca_file to the authority that signed the servers' certificates";
      if (tls.cert_file.empty()) hint += ", set tls_cert_file and tls_key_file when the servers verify clients";
      if (!tls.ca_file.empty() && !tls.cert_file.empty()) {
        hint += ", that tls_ca_file signed the servers' certificates and they name their hosts, and that the "
                "servers accept the authority of tls_cert_file";
      }
    }
    return Status::unavailable("connecting to NATS: " + nats_error(s) + hint);
  }
  state->max_payload.store(natsConnection_GetMaxPayload(nc));
  jsCtx* js = nullptr;
  s = natsConnection_JetStream(&js, nc, nullptr);
  if (s != NATS_OK) {
    close_connection(nc, *state);
    return Status::unavailable("JetStream context: " + nats_error(s));
  }
  std::unique_ptr<NatsJetStream> out;
  try {
    out = std::make_unique<NatsJetStream>(nc, js, silence, std::move(state));
  } catch (const std::bad_alloc&) {
    // Thrown by the allocation, before the constructor took `state`.
    jsCtx_Destroy(js);
    close_connection(nc, *state);
    return Status::resource_exhausted("connecting to NATS: out of memory");
  }
  // On failure `out` closes the connection as it goes.
  RAGD_RETURN_IF_ERROR(out->start_prober());
  return std::unique_ptr<JetStream>(std::move(out));
}

}  // namespace ragd::cluster

#include "sync/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "ragd/clock.h"
#include "sync/vendor.h"

namespace ragd::sync {
namespace {

using Clock = std::chrono::system_clock;

void add_counts(SyncCounts& total, const SyncCounts& c) {
  total.fetched += c.fetched;
  total.added += c.added;
  total.updated += c.updated;
  total.unchanged += c.unchanged;
  total.deleted += c.deleted;
  total.tombstoned += c.tombstoned;
  total.failed += c.failed;
  total.pages += c.pages;
  total.retries += c.retries;
  total.newest_updated_at = std::max(total.newest_updated_at, c.newest_updated_at);
}

constexpr size_t kStatusRecordErrors = 20;

}  // namespace

Scheduler::Scheduler(Store& store, EmbedderFn embedder, std::vector<SourceConfig> sources, SchedulerOptions options)
    : store_(store), embedder_(std::move(embedder)), options_(std::move(options)), replay_(options_.webhook) {
  for (SourceConfig& s : sources) {
    auto slot = std::make_unique<Slot>();
    if (!s.webhook_secret_env.empty()) {
      const char* v = std::getenv(s.webhook_secret_env.c_str());
      if (v != nullptr) slot->webhook_secret = v;
    }
    slot->state.name = s.name;
    slot->state.type = source_type_name(s.type);
    slot->state.url = s.url;
    slot->state.interval_seconds = s.interval_seconds;
    slot->state.webhook = !slot->webhook_secret.empty();
    slot->config = std::move(s);
    slots_.push_back(std::move(slot));
  }
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  // Read before the lock (etcd on a cluster node may be slow to answer).
  std::vector<Result<std::string>> last_prunes;
  for (auto& slot : slots_) {
    last_prunes.push_back(options_.target != nullptr ? options_.target->get_state(prune_key(slot->config.name))
                                                     : store_.get_state(prune_key(slot->config.name)));
  }
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  const int64_t now = unix_ms();
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto& slot = slots_[i];
    slot->state.next_run_ms = options_.run_at_start ? now : now + slot->config.interval_seconds * 1000;
    // The first prune is due one prune_interval after the last one stored,
    // or after start when none is.
    const auto& last = last_prunes[i];
    if (last.is_ok() && !last->empty()) {
      try {
        slot->state.last_prune_ms = std::stoll(*last);
      } catch (const std::exception&) {
        slot->state.last_prune_ms = 0;
      }
    }
    if (slot->config.prune_interval_seconds > 0) {
      slot->state.next_prune_ms =
          (slot->state.last_prune_ms > 0 ? slot->state.last_prune_ms : now) + slot->config.prune_interval_seconds * 1000;
    }
    Slot* s = slot.get();
    slot->thread = std::thread([this, s] { loop(*s); });
  }
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& slot : slots_) {
      if (slot->engine != nullptr) slot->engine->stop = true;
    }
  }
  cv_.notify_all();
  for (auto& slot : slots_) {
    if (slot->thread.joinable()) slot->thread.join();
  }
}

Scheduler::Trigger Scheduler::trigger(const std::string& name, PassKind kind, std::string* holder) {
  std::lock_guard lock(mu_);
  Slot* slot = find(name);
  if (slot == nullptr) return Trigger::kUnknown;
  if (!slot->state.synced_by.empty()) {
    if (holder != nullptr) *holder = slot->state.synced_by;
    return Trigger::kElsewhere;
  }
  if (slot->running || slot->requested) return Trigger::kAlreadyRunning;
  slot->requested = true;
  slot->requested_kind = kind;
  slot->state.running_full = kind == PassKind::kFull;
  cv_.notify_all();
  return Trigger::kStarted;
}

Scheduler::Slot* Scheduler::find(const std::string& name) {
  for (auto& s : slots_) {
    if (s->config.name == name) return s.get();
  }
  return nullptr;
}

const Scheduler::Slot* Scheduler::find(const std::string& name) const {
  for (const auto& s : slots_) {
    if (s->config.name == name) return s.get();
  }
  return nullptr;
}

void Scheduler::loop(Slot& slot) {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto next = Clock::time_point(std::chrono::milliseconds(slot.state.next_run_ms));
    cv_.wait_until(lock, next, [&] { return stopping_ || slot.requested || Clock::now() >= next; });
    if (stopping_) break;
    // On a cluster node, one node runs a source's passes: the one whose
    // claim stands (sync/target.h). The others look again after a while,
    // and keep the cluster's cursor for GET /v1/sources.
    if (options_.target != nullptr) {
      lock.unlock();
      auto holder = options_.target->claim(slot.config.name);
      std::optional<std::string> cursor;
      if (holder.is_ok() && !holder->empty()) {
        auto c = options_.target->get_state(cursor_key(slot.config.name));
        if (c.is_ok()) cursor = *c;
      }
      lock.lock();
      if (stopping_) break;
      if (!holder.is_ok() || !holder->empty()) {
        if (holder.is_ok()) {
          slot.state.synced_by = *holder;
          slot.state.last_error.clear();
          if (cursor) slot.state.cursor = *cursor;
        } else {
          // Not knowing who holds it, this node does not run it either.
          slot.state.last_error = "source '" + slot.config.name + "': who runs its passes cannot be read: " +
                                  holder.status().message();
        }
        // A pass asked for meanwhile is not run here (the holder runs them).
        slot.requested = false;
        slot.requested_kind = PassKind::kIncremental;
        slot.state.running_full = false;
        slot.state.next_run_ms =
            unix_ms() + std::min(slot.config.interval_seconds, options_.claim_retry_seconds) * 1000;
        cv_.notify_all();
        continue;
      }
      slot.state.synced_by.clear();
    }
    const PassKind kind = slot.requested ? slot.requested_kind : PassKind::kIncremental;
    const bool full = kind == PassKind::kFull;
    slot.requested = false;
    slot.requested_kind = PassKind::kIncremental;
    slot.running = true;
    slot.state.running = true;
    slot.state.running_full = full;
    slot.state.last_start_ms = unix_ms();

    const Embedder* embedder = embedder_();
    const bool prune_due = kind == PassKind::kPrune ||
                           (slot.state.next_prune_ms > 0 && slot.state.last_start_ms >= slot.state.next_prune_ms);
    SyncResult result;
    std::optional<SyncResult> pruned;  // the id-only prune after the pass, when one ran
    if (embedder == nullptr && options_.target == nullptr) {
      result.status = Status::failed_precondition("source '" + slot.config.name +
                                                  "': no encoder loaded (give --glove or --embed-model)");
    } else {
      std::unique_ptr<SyncTarget> own;
      SyncEngine engine(target_for(embedder, own), options_.http);
      slot.engine = &engine;
      lock.unlock();
      SyncRunOptions run;
      run.full = full;
      result = engine.run(slot.config, run);
      // Prune after a pass that finished, so the listing compares with a
      // store that holds everything the source had when the pass ended.
      if (!full && prune_due && result.status.is_ok() && !engine.stop.load()) pruned = engine.prune(slot.config);
      lock.lock();
      slot.engine = nullptr;
    }
    const int64_t end = unix_ms();
    SourceStatus& st = slot.state;
    if (pruned) {
      st.last_prune_deleted = pruned->counts.deleted;
      st.last_prune_error = pruned->status.is_ok() ? "" : pruned->status.message();
      if (pruned->status.is_ok()) st.last_prune_ms = end;
      // The pass's counts (and so the totals and /metrics) include what the
      // prune removed; `fetched` stays the records the pass read.
      result.counts.deleted += pruned->counts.deleted;
      result.counts.retries += pruned->counts.retries;
    } else if (full && result.status.is_ok()) {
      st.last_prune_ms = end;
      st.last_prune_deleted = result.counts.deleted;
      st.last_prune_error.clear();
    }
    // A failed prune is tried again at the next pass, not a whole interval later.
    if (slot.config.prune_interval_seconds > 0 && (full || pruned) && st.last_prune_error.empty()) {
      st.next_prune_ms = st.last_prune_ms + slot.config.prune_interval_seconds * 1000;
    }
    st.last_end_ms = end;
    if (!result.cursor.empty()) st.cursor = result.cursor;
    st.last_counts = result.counts;
    add_counts(st.totals, result.counts);
    st.newest_record_at = std::max(st.newest_record_at, result.counts.newest_updated_at);
    st.last_record_errors.assign(result.errors.begin(),
                                 result.errors.begin() + std::min(result.errors.size(), kStatusRecordErrors));
    ++st.passes;
    if (result.status.is_ok()) {
      st.last_error.clear();
      st.last_success_ms = end;
    } else if (result.status.code() != StatusCode::kCancelled || !stopping_) {
      st.last_error = result.status.message();
      ++st.errors;
    }
    st.next_run_ms = end + slot.config.interval_seconds * 1000;
    if (options_.target != nullptr && result.status.code() == StatusCode::kFailedPrecondition) {
      // Stopped because the claim moved (or a fenced write was refused):
      // look at the claim again soon, not an interval later.
      st.next_run_ms = end + std::min(slot.config.interval_seconds, options_.claim_retry_seconds) * 1000;
    }
    slot.running = false;
    st.running = false;
    st.running_full = slot.requested && slot.requested_kind == PassKind::kFull;
    cv_.notify_all();
  }
}

std::vector<SourceStatus> Scheduler::status() const {
  std::vector<SourceStatus> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : slots_) out.push_back(s->state);
  }
  // One store: its cursor now. Another target (a cluster's etcd): the one
  // kept at the last pass or claim look; a scrape makes no call.
  if (options_.target == nullptr) {
    for (SourceStatus& st : out) {
      auto cursor = store_.get_state(cursor_key(st.name));
      if (cursor.is_ok()) st.cursor = *cursor;
    }
  }
  return out;
}

bool Scheduler::wait_passes(const std::string& name, uint64_t passes, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  const Slot* slot = find(name);
  if (slot == nullptr) return false;
  return cv_.wait_for(lock, timeout, [&] { return slot->state.passes >= passes; });
}

SyncTarget& Scheduler::target_for(const Embedder* embedder, std::unique_ptr<SyncTarget>& own) {
  if (options_.target != nullptr) return *options_.target;
  own = std::make_unique<StoreTarget>(store_, *embedder, options_.ingest);
  return *own;
}

Result<WebhookOutcome> Scheduler::webhook(const std::string& name, const Headers& headers, const std::string& body) {
  Slot* slot = find(name);  // slots_ never changes after construction
  if (slot == nullptr) return Status::not_found("no source named '" + name.substr(0, 100) + "'");
  if (slot->webhook_secret.empty()) {
    return Status::not_found("source '" + name + "' takes no webhooks (no webhook_secret_env, or it is not set)");
  }
  const SourceConfig& src = slot->config;
  auto count_refused = [&] {
    std::lock_guard lock(mu_);
    ++slot->state.webhooks_refused;
  };
  const int64_t now_s = unix_seconds();
  auto key = verify_webhook(src, slot->webhook_secret, headers, body, now_s, options_.webhook);
  if (!key.is_ok()) {
    count_refused();
    return key.status();
  }
  if (!replay_.first_sight(*key, now_s)) {
    count_refused();
    return Status::unauthenticated("webhook refused: this event was already received (a replay)");
  }
  // Until the event is applied, a failure forgets its key again: the
  // sender's retry of an event that was not applied is not a replay.
  bool applied = false, cluster_seen = false;
  struct Forget {
    std::function<void()> fn;
    ~Forget() { fn(); }
  } forget{[&] {
    if (applied) return;
    replay_.forget(*key);
    if (cluster_seen) options_.target->forget_sight(*key);
  }};
  if (options_.target != nullptr) {
    // The other nodes of a cluster write to the same documents: an event
    // replayed to another node is a replay as well.
    auto first = options_.target->first_sight(*key, static_cast<int>(options_.webhook.max_age_seconds) * 2 + 60);
    if (!first.is_ok()) return Status::unavailable(first.status().message()).with_context("webhook replay check");
    if (!*first) {
      applied = true;  // someone else's: not ours to forget
      count_refused();
      return Status::unauthenticated("webhook refused: this event was already received by another node (a replay)");
    }
    cluster_seen = true;
  }
  auto event = parse_webhook_event(src, body);
  if (!event.is_ok()) return event.status().with_context("source '" + name + "'");
  WebhookOutcome out;
  out.event = event->event;
  out.action = "ignored";
  Page page;
  switch (event->kind) {
    case WebhookEvent::Kind::kIgnore: return out;
    case WebhookEvent::Kind::kDelete:
      page.deletions.push_back(event->document_id);
      out.id = event->document_id;
      break;
    case WebhookEvent::Kind::kUpsert: page = map_one_record(src, event->record); break;
    case WebhookEvent::Kind::kFetch: {
      HttpOptions ho = options_.http;
      ho.max_attempts = std::min(ho.max_attempts, 3);  // the sender waits for the answer
      HttpClient http(ho);
      auto secret = load_secret(src);
      if (!secret.is_ok()) return secret.status();
      if (src.auth == AuthKind::kBasic) http.set_basic_auth(src.user, *secret);
      if (src.auth == AuthKind::kBearer) http.set_bearer(*secret);
      auto record = fetch_one_record(src, http, event->vendor_id);
      if (record.is_ok()) {
        page = map_one_record(src, *record);
      } else if (record.status().code() == StatusCode::kNotFound) {
        // Gone at the source: the same document id the mapping would give.
        page.deletions.push_back((src.type == SourceType::kZendesk ? "ZD-" : "confluence-") + event->vendor_id);
      } else {
        return Status::unavailable(record.status().message()).with_context("source '" + name + "': fetching the record");
      }
      break;
    }
  }
  if (out.id.empty()) {
    if (!page.seen_ids.empty()) out.id = page.seen_ids.front();
    else if (!page.deletions.empty()) out.id = page.deletions.front();
  }
  for (const std::string& e : page.errors) out.errors.push_back(name + ": " + e);
  out.counts.failed += page.errors.size();
  const Embedder* embedder = embedder_();
  if (embedder == nullptr && options_.target == nullptr) {
    return Status::failed_precondition("no encoder loaded (give --glove or --embed-model)");
  }
  out.action = !page.deletions.empty() ? "deleted" : (!page.documents.empty() ? "upserted" : "ignored");
  if (!page.documents.empty() || !page.deletions.empty()) {
    std::unique_ptr<SyncTarget> own;
    SyncEngine engine(target_for(embedder, own), options_.http);
    if (Status st = engine.apply(src, page, out.counts, out.errors); !st.is_ok()) return st;
  }
  applied = true;
  std::lock_guard lock(mu_);
  add_counts(slot->state.totals, out.counts);
  slot->state.totals.fetched += page.fetched;
  slot->state.newest_record_at = std::max(slot->state.newest_record_at, out.counts.newest_updated_at);
  ++slot->state.webhooks_applied;
  return out;
}

}  // namespace ragd::sync

#include "sync/engine.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "ragd/clock.h"

namespace ragd::sync {
namespace {

constexpr size_t kMaxErrorLines = 1000;

}  // namespace

std::string cursor_key(const std::string& source_name) { return "sync:" + source_name; }
std::string prune_key(const std::string& source_name) { return "sync-prune:" + source_name; }

SyncEngine::SyncEngine(SyncTarget& target, HttpOptions http) : target_(target), http_(http) {}

SyncEngine::SyncEngine(Store& store, const Embedder& embedder, IngestOptions ingest, HttpOptions http)
    : own_target_(std::make_unique<StoreTarget>(store, embedder, std::move(ingest))), target_(*own_target_),
      http_(http) {}

Status SyncEngine::apply(const SourceConfig& source, Page& page, SyncCounts& counts,
                         std::vector<std::string>& errors) {
  auto note = [&](std::string line) {
    ++counts.failed;
    if (errors.size() < kMaxErrorLines) errors.push_back(source.name + ": " + std::move(line));
  };
  for (Document& d : page.documents) {
    d.acl.insert(d.acl.end(), source.acl_groups.begin(), source.acl_groups.end());
    d.metadata[kSourceMetadataKey] = source.name;
  }
  if (!page.documents.empty()) {
    Status st = target_.write(std::move(page.documents), counts, note);
    page.documents.clear();
    if (!st.is_ok()) return st.with_context("source '" + source.name + "'");
  }
  for (const std::string& id : page.deletions) {
    auto removed = target_.remove(id);
    if (!removed.is_ok()) return removed.status().with_context("source '" + source.name + "': deleting " + id);
    if (*removed) ++counts.deleted;
  }
  return Status::ok();
}

Status SyncEngine::still_claimed(const SourceConfig& source) {
  RAGD_ASSIGN_OR_RETURN(std::string holder, target_.holder(source.name));
  if (holder.empty()) return Status::ok();
  return Status::failed_precondition("source '" + source.name + "' is synced by cluster node '" + holder +
                                     "' now: this pass stops");
}

Status SyncEngine::connect(const SourceConfig& source, HttpClient& http, const std::atomic<bool>& halt) {
  http.sleep = [this, &halt, sleep_fn = sleep_override](int64_t ms) {
    if (sleep_fn) return halt.load() ? false : sleep_fn(ms);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
      if (stop.load() || halt.load()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(
          50, std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count() + 1)));
    }
    return true;
  };
  auto secret = load_secret(source);
  if (!secret.is_ok()) return secret.status();
  if (source.auth == AuthKind::kBasic) http.set_basic_auth(source.user, *secret);
  if (source.auth == AuthKind::kBearer) http.set_bearer(*secret);
  return Status::ok();
}

Status SyncEngine::remove_unlisted(const SourceConfig& source, const std::set<std::string>& listed,
                                   double max_fraction, SyncCounts& counts) {
  RAGD_ASSIGN_OR_RETURN(std::vector<std::string> stored_ids, target_.source_documents(source.name));
  std::vector<std::string> stale;
  const uint64_t stored = stored_ids.size();
  for (std::string& id : stored_ids) {
    if (listed.count(id) == 0) stale.push_back(std::move(id));
  }
  if (!stale.empty() && static_cast<double>(stale.size()) > max_fraction * static_cast<double>(stored)) {
    return Status::failed_precondition(
        "source '" + source.name + "': the listing leaves out " + std::to_string(stale.size()) + " of the " +
        std::to_string(stored) + " stored documents, more than prune_max_fraction (" + std::to_string(max_fraction) +
        "); nothing removed. Check the source's query and permissions, then raise prune_max_fraction or run "
        "`ragd sync --full`");
  }
  // Still this process's source (a cluster node may have lost its claim
  // during the listing): another node's newer records must not be pruned
  // against this node's older listing.
  RAGD_RETURN_IF_ERROR(still_claimed(source));
  size_t n = 0;
  for (const std::string& id : stale) {
    if (++n % 100 == 0) RAGD_RETURN_IF_ERROR(still_claimed(source));
    auto removed = target_.remove(id);
    if (!removed.is_ok()) return removed.status().with_context("source '" + source.name + "': pruning " + id);
    if (*removed) ++counts.deleted;
  }
  const int64_t now = unix_ms();
  return target_.put_state(source.name, prune_key(source.name), std::to_string(now))
      .with_context("source '" + source.name + "': saving the prune time");
}

SyncResult SyncEngine::prune(const SourceConfig& source) {
  SyncResult out;
  HttpClient http(http_);
  const std::atomic<bool> no_halt{false};
  if (Status st = connect(source, http, no_halt); !st.is_ok()) {
    out.status = st;
    return out;
  }
  std::unique_ptr<VendorClient> client = make_vendor_client(source, http);
  std::set<std::string> listed;
  std::string token;
  // A listing that repeats a token would never end; more pages than this
  // many ids could fill is the same failure.
  std::set<std::string> tokens;
  while (true) {
    if (stop.load()) {
      out.status = Status::cancelled("source '" + source.name + "': prune stopped; nothing removed");
      return out;
    }
    auto page = client->list_ids(token);
    out.counts.retries = http.retries();
    if (!page.is_ok()) {
      out.status = page.status().with_context("source '" + source.name + "': id listing; nothing removed");
      return out;
    }
    ++out.counts.pages;
    out.counts.fetched += page->ids.size();
    listed.insert(page->ids.begin(), page->ids.end());
    if (page->last) break;
    if (page->next.empty() || !tokens.insert(page->next).second) {
      out.status = Status::corruption("source '" + source.name + "': the id listing repeated a page; nothing removed");
      return out;
    }
    token = page->next;
  }
  out.status = remove_unlisted(source, listed, source.prune_max_fraction, out.counts);
  return out;
}

SyncResult SyncEngine::run(const SourceConfig& source, const SyncRunOptions& options) {
  SyncResult out;
  auto note = [&out](std::string line) {
    ++out.counts.failed;
    if (out.errors.size() < kMaxErrorLines) out.errors.push_back(std::move(line));
  };
  const std::string key = cursor_key(source.name);
  Cursor cursor;
  if (!options.full) {
    auto stored = target_.get_state(key);
    if (!stored.is_ok()) {
      out.status = stored.status();
      return out;
    }
    if (!stored->empty()) {
      auto c = Cursor::from_json(*stored);
      if (!c.is_ok()) {
        out.status = c.status().with_context("source '" + source.name + "': run with --full to start over");
        return out;
      }
      cursor = *c;
    }
  }
  out.cursor = cursor.to_json();

  HttpClient http(http_);
  // `halt` stops a fetch running ahead when this pass ends early.
  std::atomic<bool> halt{false};
  if (Status st = connect(source, http, halt); !st.is_ok()) {
    out.status = st;
    return out;
  }
  std::unique_ptr<VendorClient> client = make_vendor_client(source, http);

  // The next page is fetched and mapped (HTTP, JSON, connectors) on a second
  // thread while this one ingests the current page; the cursor still moves
  // one durable page at a time, in order.
  std::future<Result<Page>> ahead;
  auto fetch_ahead = [&client, &ahead](Cursor c) {
    ahead = std::async(std::launch::async, [&client, c = std::move(c)] { return client->fetch(c); });
  };
  struct Halt {
    std::atomic<bool>& flag;
    std::future<Result<Page>>& pending;
    ~Halt() {
      flag = true;
      if (pending.valid()) pending.wait();  // before `client` and `http` go
    }
  } halt_guard{halt, ahead};

  std::set<std::string> seen;
  bool complete = false;
  if (!stop.load()) fetch_ahead(cursor);
  while (!stop.load() && ahead.valid()) {
    auto fetched = ahead.get();
    out.counts.retries = http.retries();
    if (!fetched.is_ok()) {
      out.status = fetched.status().with_context("source '" + source.name + "'");
      return out;
    }
    Page& page = *fetched;
    const bool page_limit = options.max_pages > 0 && out.counts.pages + 1 >= options.max_pages;
    if (!page.last && !page_limit && !(page.fetched == 0 && page.next == cursor)) fetch_ahead(page.next);
    out.counts.fetched += page.fetched;
    for (auto& e : page.errors) note(source.name + ": " + e);
    if (options.full) seen.insert(page.seen_ids.begin(), page.seen_ids.end());

    if (Status st = still_claimed(source); !st.is_ok()) {
      out.status = st;
      return out;
    }
    if (Status st = apply(source, page, out.counts, out.errors); !st.is_ok()) {
      out.status = st;
      return out;
    }
    Status put = target_.put_state(source.name, key, page.next.to_json());
    if (!put.is_ok()) {
      out.status = put.with_context("source '" + source.name + "': saving the cursor");
      return out;
    }
    const Cursor cursor_before = cursor;
    cursor = page.next;
    out.cursor = cursor.to_json();
    ++out.counts.pages;
    if (on_page) on_page(source, out.counts, page.total);
    if (page.last) {
      complete = true;
      break;
    }
    if (page.fetched == 0 && page.next == cursor_before) {
      out.status = Status::corruption("source '" + source.name + "': the server returned an empty page that is not "
                                      "the last without moving its cursor; stopping instead of looping");
      return out;
    }
  }
  if (options.full && complete && !stop.load()) {
    // Pruning: what the source no longer lists leaves the index. The pass
    // read every record, so no share of them is too large to remove.
    if (Status st = remove_unlisted(source, seen, 1.0, out.counts); !st.is_ok()) {
      out.status = st;
      return out;
    }
  }
  if (stop.load() && !complete) out.status = Status::cancelled("source '" + source.name + "': stopped");
  return out;
}

}  // namespace ragd::sync

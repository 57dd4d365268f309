// The read path: one search over every shard, answered as one store holding
// all their documents would answer it (cluster/README.md, "Read path").
//
//   live replicas        etcd (cached 0.5 s); one replica per shard
//   1. stats             each shard's BM25 statistics for the query terms,
//                        summed here
//   2. candidates        each shard gathers both halves with the sums; the
//                        best `depth` of each half over all shards are kept
//                        and fused (Retriever::fuse)
//   3. fetch             the fused list walked in batches: each shard's
//                        chunks (and vectors) read from it, near-duplicates
//                        dropped (NearDuplicates), until k hits
#include <algorithm>
#include <cassert>
#include <chrono>
#include <map>
#include <optional>
#include <tuple>

#include "auth/authenticator.h"
#include "auth/peer.h"
#include "cluster/clock.h"
#include "cluster/etcd.h"
#include "cluster/fan_out.h"
#include "cluster/http_pool.h"
#include "cluster/shard.h"
#include "cluster/log.h"
#include "cluster/node.h"
#include "cluster/shard_search.h"
#include "cluster/stats_cache.h"
#include "index/analyzer.h"
#include "sync/http.h"

namespace ragd::cluster {
namespace {

// How long the live-node list is reused before a search asks etcd itself,
// ms (the keepalive thread reads it at every lease renewal too).
constexpr int64_t kLiveCacheMs = 500;
// After a read that failed, how long searches keep to the last list
// without asking etcd again (a hung etcd holds each call for its timeout),
// ms.
constexpr int64_t kLiveRetryMs = 5000;

// A 401 or 403 from the peer at `url`: it refused this node (sync/'s hint
// about a source's user and secret is not the one that helps here).
Status refused_by_peer(const std::string& url, bool signed_request) {
  return Status::unavailable(
      url + " refused this node's request (401 or 403): " +
      (signed_request ? "the nodes' secret_file, cluster name or clocks (more than 60 s apart) differ, or it has no "
                        "secret_file"
                      : "the caller's key is not valid there (without a secret_file every node needs the same keys), "
                        "or it has a secret_file and this node has none"));
}

// A peer's failure as a search reports it: a 401 or 403 says what to check.
Status peer_failure(const std::string& url, const Status& failure, bool signed_request) {
  return failure.code() == StatusCode::kFailedPrecondition ? refused_by_peer(url, signed_request) : failure;
}

// What Node::load_of adds for a peer that a hedge beat lately.
constexpr int64_t kBeatenLoad = 1000000;

// The replica that answers one shard for the whole of a search: labels are
// a store's own, so the fetch goes where the candidates came from.
//
// Which one: the first that is level with its shard's stream (behind == 0
// in shard_search.h's ShardPosition), the one held here first, then the
// peers; when none is, the least behind. A replica still replaying its
// shard (just added, wiped, or back from a long stop) would otherwise
// answer without documents every other replica has. The choice is made by
// the first phase that reaches a replica (phase 1, or phase 2 when the
// statistics were cached) and kept after that, except that a replica that
// fails in phases 1 and 2 is left for the next.
struct Replica {
  uint32_t shard = 0;
  std::shared_ptr<ServiceContext> local;  // held here: searched in process
  uint64_t local_behind = 0;              // how far behind the one held here is
  std::vector<std::string> urls;          // the live peers holding it, least loaded first
  size_t at = 0;                          // the peer chosen, when not local
  bool chosen = false;                    // a phase has picked local or urls[at]
  CandidateSet candidates;
};

}  // namespace

// What a search's requests to its peers need of the node (Node::peer_link),
// and the one multi handle every phase of the search runs its requests in
// (its connections stay in the owner's cache, which the node's pool keeps).
struct PeerLink {
  std::function<HttpClientPool::Handle()> client;  // from the node's pool, readied for the caller
  std::function<int64_t(const std::string&)> load;  // Node::load_of
  std::function<void(const std::string&, int)> in_flight;  // this node's requests to a peer now, +1 / -1
  std::function<void(const std::vector<std::string>&)> beaten;  // a hedge answered before them
  std::atomic<uint64_t>* hedges_sent = nullptr;
  std::atomic<uint64_t>* hedges_won = nullptr;
  std::atomic<uint64_t>* requests = nullptr;
  int64_t hedge_ms = 0;  // ClusterOptions::hedge_after_ms
  bool signed_requests = false;

  sync::ParallelPosts& posts() {
    if (!posts_) {
      owner_.emplace(client());
      posts_ = std::make_unique<sync::ParallelPosts>(**owner_);
    }
    return *posts_;
  }

 private:
  std::optional<HttpClientPool::Handle> owner_;  // declared first: posts_ goes before it
  std::unique_ptr<sync::ParallelPosts> posts_;
};

namespace {

// One phase's requests to the peers. The shards a phase asks of peers go
// in as few requests as their replicas allow: each request goes to the
// peer that holds the most of the shards still to ask and names all of
// them, so a search costs one request per peer and phase instead of one
// per shard. A peer a hedge recently beat (Node::load_of) is asked only
// for shards no other peer holds; among equals, the least loaded first.
// The requests run side by side in the search's multi handle (PeerLink),
// on the caller's thread.
//
// Each shard then takes the first level answer (or, once a replica was
// chosen, that replica's), else the least behind one. When a peer fails
// for a shard or answers behind, the shard's next peer is asked at once.
// Hedging: when no answer came for a shard within hedge_ms of the wait's
// start or of the last requests started, its next peer is asked as well
// (the shards hedged at one time grouped the same way), the first answer
// wins, and the peers asked before that hedge are asked last for a while
// (PeerLink::beaten). The requests still running when every shard has its
// answer are abandoned.
template <class T>
class PeerPhase {
 public:
  using Body = std::function<std::string(const std::vector<uint32_t>& shards)>;
  using Read = std::function<Result<ShardAnswers<T>>(const std::string& answer, size_t shards)>;
  using Behind = std::function<uint64_t(const T&)>;
  // True for an answer that is exact only with every other shard of its
  // request (CandidatesAnswer::cut): those replace answers taken before.
  using Whole = std::function<bool(const T&)>;

  PeerPhase(PeerLink& link, std::vector<Replica>& replicas, Body body, Read read, Behind behind, Whole whole = {})
      : link_(link),
        replicas_(replicas),
        body_(std::move(body)),
        read_(std::move(read)),
        behind_(std::move(behind)),
        whole_(std::move(whole)) {}
  ~PeerPhase() { abandon(); }
  PeerPhase(const PeerPhase&) = delete;
  PeerPhase& operator=(const PeerPhase&) = delete;

  // Shard `s` is to be asked of its peers: a chosen replica first (with
  // `only_chosen`, only it: the fetch), else any. send() starts it.
  void add(uint32_t s, bool only_chosen = false) {
    const Replica& r = replicas_[s];
    Shard& p = shards_[s];
    p.tried.assign(r.urls.size(), false);
    if (r.chosen && r.at < r.urls.size()) {
      p.forced = true;
      for (size_t i = 0; i < r.urls.size(); ++i) p.tried[i] = i < r.at || (only_chosen && i != r.at);
    } else if (r.chosen || only_chosen) {
      p.tried.assign(r.urls.size(), true);  // chosen here, or past every peer
    }
    to_send_.push_back(s);
  }

  // Starts the requests of the shards added since, and sends what can be
  // sent at once: the caller searches the shards held here meanwhile.
  void send() {
    if (to_send_.empty()) return;
    start(to_send_, false);
    to_send_.clear();
    if (!requests_.empty()) link_.posts().pump();
  }

  const Behind& behind() const { return behind_; }

  // Waits until every shard added is answered or out of peers. Not ok: a
  // request was malformed (kInvalidArgument: every replica would say so).
  Status wait() {
    hedge_at_ = Clock::now() + std::chrono::milliseconds(link_.hedge_ms);
    Status out = wait_all();
    abandon();
    return out;
  }

  // Shard `s`'s answer after wait(), its replica's index in
  // replicas[s].at; or why none came.
  Result<T> take(uint32_t s) {
    Shard& p = shards_[s];
    assert(p.done && p.result);
    return std::move(*p.result);
  }
  // The shards added.
  std::vector<uint32_t> shards() const {
    std::vector<uint32_t> out;
    for (const auto& [s, p] : shards_) out.push_back(s);
    return out;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Shard {
    std::vector<bool> tried;  // per replicas[s].urls: asked already (or not to be)
    bool forced = false;      // a replica was chosen: its answer is taken even when behind
    int in_flight = 0;
    bool done = false;
    int64_t whole_from = -1;  // the request whose whole answer it was taken from
    std::optional<Result<T>> result;
    std::optional<T> best;  // the least behind answer so far
    size_t best_at = 0;
    Status last = Status::unavailable("no live replica");
  };
  struct Request {
    std::string url;  // the peer's
    std::vector<uint32_t> shards;
    std::vector<size_t> at;  // per shard: the peer's index in its urls
    bool by_timer = false;
    bool running = false;
    std::optional<HttpClientPool::Handle> client;
  };

  Status wait_all() {
    for (;;) {
      finish_out_of_peers();
      if (!fatal_.is_ok()) return fatal_;
      std::vector<uint32_t> waiting, idle;
      for (auto& [s, p] : shards_) {
        if (p.done) continue;
        (p.in_flight > 0 ? waiting : idle).push_back(s);
      }
      if (waiting.empty() && idle.empty()) return Status::ok();
      if (!idle.empty()) {  // a start failed: their next peers now
        start(idle, false);
        continue;
      }
      std::vector<uint32_t> hedgeable;
      for (uint32_t s : waiting) {
        if (has_next(shards_[s])) hedgeable.push_back(s);
      }
      const bool hedging = link_.hedge_ms > 0 && !hedgeable.empty();
      auto got = link_.posts().next(hedging ? hedge_at_ : Clock::now() + std::chrono::hours(1));
      if (!got) {
        if (hedging && Clock::now() >= hedge_at_) {
          start(hedgeable, true);
          hedge_at_ = Clock::now() + std::chrono::milliseconds(link_.hedge_ms);
        }
        continue;
      }
      std::vector<uint32_t> next = on_answer(got->tag, std::move(got->response));
      if (!next.empty()) {
        start(next, false);
        hedge_at_ = Clock::now() + std::chrono::milliseconds(link_.hedge_ms);
      }
    }
  }

  // The requests still running are given up (their peers' load with them).
  void abandon() {
    bool any = false;
    for (Request& q : requests_) {
      if (!q.running) continue;
      q.running = false;
      link_.in_flight(q.url, -1);
      any = true;
    }
    if (any) link_.posts().abandon_all();
  }

  bool has_next(const Shard& p) const { return std::find(p.tried.begin(), p.tried.end(), false) != p.tried.end(); }

  // Asks the next peer of each shard of `shards` that has one, grouped (see
  // the class comment).
  void start(std::vector<uint32_t> shards, bool by_timer) {
    std::erase_if(shards, [&](uint32_t s) { return !has_next(shards_[s]); });
    while (!shards.empty()) {
      std::vector<std::string> order;
      std::map<std::string, size_t> count;
      for (uint32_t s : shards) {
        const Shard& p = shards_[s];
        for (size_t i = 0; i < p.tried.size(); ++i) {
          if (p.tried[i]) continue;
          if (count[replicas_[s].urls[i]]++ == 0) order.push_back(replicas_[s].urls[i]);
          if (p.forced) break;  // the chosen one before any other
        }
      }
      // Not beaten lately first, then the most shards, then the least load.
      auto rank = [&](const std::string& u) {
        const int64_t load = link_.load(u);
        return std::make_tuple(load >= kBeatenLoad, -static_cast<int64_t>(count[u]), load);
      };
      std::string url = order.front();
      auto url_rank = rank(url);
      for (const std::string& u : order) {
        const auto r = rank(u);
        if (r < url_rank) {
          url = u;
          url_rank = r;
        }
      }
      // A shard joins the request when the peer is one it may ask now.
      // Leaving a beaten peer for its shards' other peers is not the
      // choice of any one shard: a shard whose other peers are all beaten
      // too (or tried) asks it.
      Request q;
      q.url = url;
      q.by_timer = by_timer;
      std::vector<uint32_t> rest;
      for (uint32_t s : shards) {
        Shard& p = shards_[s];
        const auto& urls = replicas_[s].urls;
        size_t i = 0;
        while (i < urls.size() && (p.tried[i] || urls[i] != url)) ++i;
        const size_t first = static_cast<size_t>(std::find(p.tried.begin(), p.tried.end(), false) - p.tried.begin());
        if (i == urls.size() || (p.forced && i != first)) {
          rest.push_back(s);
          continue;
        }
        p.tried[i] = true;
        q.shards.push_back(s);
        q.at.push_back(i);
      }
      // A request that cannot start leaves its shards idle: wait() asks
      // their next peers.
      launch(std::move(q));
      shards = std::move(rest);
    }
  }

  void launch(Request q) {
    q.client.emplace(link_.client());
    const std::string target = q.url + "/v1/collections/" + shard_collection(q.shards.front()) + "/search";
    const size_t tag = requests_.size();
    requests_.push_back(std::move(q));
    Request& r = requests_.back();
    Status st = link_.posts().start(**r.client, target, body_(r.shards), tag);
    if (!st.is_ok()) {
      for (uint32_t s : r.shards) shards_[s].last = st;
      return;
    }
    r.running = true;
    for (uint32_t s : r.shards) ++shards_[s].in_flight;
    link_.in_flight(r.url, +1);
    link_.requests->fetch_add(1, std::memory_order_relaxed);
    if (r.by_timer) link_.hedges_sent->fetch_add(1, std::memory_order_relaxed);
  }

  // Reads request `tag`'s answer into its shards; returns those whose next
  // peer is to be asked now (this one failed them or is behind).
  std::vector<uint32_t> on_answer(size_t tag, Result<sync::HttpResponse> response) {
    Request& q = requests_[tag];
    q.running = false;
    link_.in_flight(q.url, -1);
    Result<ShardAnswers<T>> answers = Status::internal("unread");
    if (!response.is_ok()) {
      if (response.status().code() == StatusCode::kInvalidArgument) fatal_ = response.status();
      answers = peer_failure(q.url, response.status(), link_.signed_requests);
    } else {
      answers = read_(response->body, q.shards.size());
    }
    // An answer exact only with the rest of its request's: all of them
    // replace what other replicas answered for those shards, unless one of
    // those came with another such answer (each was cut against its own
    // shards): then this one is dropped, as if the peer had failed.
    bool whole = answers.is_ok() && whole_ && !answers->empty();
    for (size_t j = 0; whole && j < answers->size(); ++j) whole = (*answers)[j].is_ok() && whole_(*(*answers)[j]);
    if (whole) {
      for (uint32_t s : q.shards) {
        if (shards_[s].whole_from >= 0) {
          answers = Status::unavailable(q.url + " answered shards cut against others than another replica's");
          whole = false;
          break;
        }
      }
    }
    std::vector<std::string> beaten;
    bool won = false;
    std::vector<uint32_t> next;
    for (size_t j = 0; j < q.shards.size(); ++j) {
      const uint32_t s = q.shards[j];
      Shard& p = shards_[s];
      --p.in_flight;
      if (p.done && !whole) continue;
      Result<T> got = answers.is_ok() ? std::move((*answers)[j]) : Result<T>(answers.status());
      if (!got.is_ok()) {
        p.last = got.status();
      } else if (whole || behind_(*got) == 0 || (p.forced && q.at[j] == replicas_[s].at)) {
        const bool first = !p.done;
        p.done = true;
        p.result = std::move(got);
        replicas_[s].at = q.at[j];
        if (whole) p.whole_from = static_cast<int64_t>(tag);
        if (q.by_timer && first) {
          won = true;
          // The peers asked for this shard before the hedge were slower.
          for (size_t other = 0; other < tag; ++other) {
            const Request& o = requests_[other];
            if (o.running && std::find(o.shards.begin(), o.shards.end(), s) != o.shards.end())
              beaten.push_back(o.url);
          }
        }
        continue;
      } else if (!p.best || behind_(*got) < behind_(*p.best)) {
        p.best = std::move(got).value();
        p.best_at = q.at[j];
      }
      if (has_next(p)) next.push_back(s);
    }
    if (won) {
      link_.hedges_won->fetch_add(1, std::memory_order_relaxed);
      link_.beaten(beaten);
    }
    if (!fatal_.is_ok()) return {};  // the search ends: no more requests
    return next;
  }

  // A shard with no request running and no peer left: the least behind
  // answer, else why none came.
  void finish_out_of_peers() {
    for (auto& [s, p] : shards_) {
      if (p.done || p.in_flight > 0 || has_next(p)) continue;
      p.done = true;
      if (p.best) {
        replicas_[s].at = p.best_at;
        p.result = std::move(*p.best);
      } else {
        replicas_[s].at = replicas_[s].urls.size();  // past every peer
        p.result = Status::unavailable("shard " + std::to_string(s) + ": no replica answered (" + p.last.message() +
                                       ")");
      }
    }
  }

  PeerLink& link_;
  std::vector<Replica>& replicas_;
  Body body_;
  Read read_;
  Behind behind_;
  Whole whole_;
  std::map<uint32_t, Shard> shards_;
  std::vector<uint32_t> to_send_;
  Clock::time_point hedge_at_{};
  Status fatal_;
  std::vector<Request> requests_;  // index = tag; their clients run in link_.posts()
};

// One phase over the shards `need`: those a replica held here answers
// (`here`, on the node's threads, while the peers' requests run), the
// others asked of their peers. A replica held here that is behind keeps
// its shard when no peer does better; one that fails leaves it to the
// peers, except in the fetch (`fixed`: only the replica chosen has the
// labels asked for).
template <class T>
Status run_phase(std::vector<Replica>& replicas, const std::vector<uint32_t>& need, FanOut& fan_out,
                 PeerPhase<T>& peers, const std::function<Result<T>(uint32_t)>& here, bool fixed,
                 std::vector<std::optional<T>>& out) {
  // `here` for each of `shards`, side by side.
  auto search_here = [&](const std::vector<uint32_t>& shards) {
    std::vector<Result<T>> got(shards.size(), Status::internal("not searched"));
    fan_out.run(shards.size(), [&](size_t i) {
      try {
        got[i] = here(shards[i]);
      } catch (...) {  // std::bad_alloc, a dependency's throw
        got[i] = Status::internal("searching shard " + std::to_string(shards[i]) + " failed with an exception");
      }
    });
    return got;
  };
  std::vector<uint32_t> local;
  for (uint32_t s : need) {
    const Replica& r = replicas[s];
    if (r.local && (r.chosen || r.local_behind == 0 || r.urls.empty())) {
      local.push_back(s);
    } else {
      peers.add(s, fixed);
    }
  }
  peers.send();
  std::vector<Result<T>> got_here = search_here(local);
  for (size_t i = 0; i < local.size(); ++i) {
    const uint32_t s = local[i];
    Replica& r = replicas[s];
    r.chosen = true;
    if (got_here[i].is_ok()) {
      out[s] = std::move(got_here[i]).value();
      continue;
    }
    if (fixed || got_here[i].status().code() == StatusCode::kInvalidArgument) return got_here[i].status();
    r.local.reset();  // the peers are the fallback
    r.chosen = false;
    peers.add(s);
  }
  peers.send();
  RAGD_RETURN_IF_ERROR(peers.wait());
  std::vector<uint32_t> behind_here;  // held here but behind, and no peer did better
  for (uint32_t s : peers.shards()) {
    Replica& r = replicas[s];
    Result<T> got = peers.take(s);
    r.chosen = true;
    if (r.local) {
      if (!got.is_ok() || peers.behind()(*got) >= r.local_behind) {
        r.at = 0;
        behind_here.push_back(s);
        continue;
      }
      r.local.reset();
    }
    if (!got.is_ok()) return got.status();
    out[s] = std::move(got).value();
  }
  std::vector<Result<T>> got_behind = search_here(behind_here);
  for (size_t i = 0; i < behind_here.size(); ++i) {
    if (!got_behind[i].is_ok()) return got_behind[i].status();
    out[behind_here[i]] = std::move(got_behind[i]).value();
  }
  return Status::ok();
}

struct Ref {
  uint32_t shard;
  uint64_t label;
};

// The shards' candidates as one store's: the best `depth` of each half
// over all shards (ties by shard and label), the rest dropped, each kept
// candidate scored as one store would have scored it. Candidate::label
// becomes an index into `refs`.
CandidateSet merge_candidates(std::vector<Replica>& replicas, size_t depth, std::vector<Ref>& refs) {
  CandidateSet set;
  std::vector<uint32_t> shards;
  std::vector<CandidateSet*> sets;
  for (Replica& r : replicas) {
    set.lexical_searched |= r.candidates.lexical_searched;
    set.vector_searched |= r.candidates.vector_searched;
    shards.push_back(r.shard);
    sets.push_back(&r.candidates);
  }
  const BestOfHalves best = best_of_halves(shards, sets, depth);
  std::vector<Candidate> all;
  for (const auto& [i, k] : best.from) {
    refs.push_back({shards[i], sets[i]->items[k].label});
    all.push_back(sets[i]->items[k]);
    all.back().label = all.size() - 1;
  }
  const std::vector<bool>& lexical = best.lexical;
  const std::vector<bool>& vector = best.vector;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!lexical[i] && !vector[i]) continue;
    Candidate c = all[i];
    if (!lexical[i]) {
      c.has_lexical = false;
      c.lexical = 0;
    } else if (c.vector_hit && !vector[i]) {
      // Its shard's vector half returned it, the cluster's does not: one
      // store scores it as a lexical candidate, with the exact cosine.
      c.vector = c.exact_vector;
    }
    c.vector_hit = vector[i];
    set.items.push_back(c);
  }
  return set;
}

}  // namespace

std::map<std::string, std::string> Node::live_nodes() {
  {
    std::lock_guard lock(live_mu_);
    const int64_t now = steady_ms();
    // Read recently, or failed recently (etcd away: each call would wait for
    // its timeout), with a list or none.
    if ((live_read_ms_ > 0 && now - live_read_ms_ < kLiveCacheMs) ||
        (live_failed_ms_ > 0 && now - live_failed_ms_ < kLiveRetryMs))
      return live_;
  }
  auto fresh = refresh_live_nodes();
  if (fresh.is_ok()) return *fresh;
  // etcd away: the last list read, however old, or none. A node that died
  // since fails its request and the next replica is asked; searches must not
  // stop because membership cannot be read (/healthz says it cannot): the
  // replicas held here answer without it.
  std::lock_guard lock(live_mu_);
  return live_;
}

Result<std::map<std::string, std::string>> Node::refresh_live_nodes() {
  auto out = read_live_nodes(*etcd_, options_);
  std::lock_guard lock(live_mu_);
  live_etcd_ok_ = out.is_ok();
  if (!out.is_ok()) {
    live_failed_ms_ = steady_ms();
    return out.status();
  }
  live_ = *out;
  live_read_ms_ = steady_ms();
  return out;
}

Node::LiveView Node::live_view() const {
  std::lock_guard lock(live_mu_);
  return {live_.size(), live_etcd_ok_};
}

void Node::authorise(sync::HttpClient& http, const std::string& authorization) const {
  if (options_.secret.empty()) {
    http.request_header = nullptr;
    http.set_bearer(std::string(auth::bearer_token(authorization).value_or("")));
    return;
  }
  http.set_bearer("");
  http.request_header = [this](const std::string& method, const std::string& url, const std::string& body) {
    // The route's path, from "/v1/collections/" on: an advertised URL's own
    // path (a proxy's prefix that it strips) is not part of what the peer
    // sees.
    const size_t path = url.rfind("/v1/collections/");
    const std::string target = path == std::string::npos ? "/" : url.substr(path);
    return std::string("X-Ragd-Peer: ") + auth::sign_peer_request(options_.secret, options_.name, options_.node_id,
                                                                  auth::peer_clock_ms(), method, target, body);
  };
}

int64_t Node::load_of(const std::string& url) const {
  std::lock_guard lock(load_mu_);
  int64_t load = 0;
  if (auto it = slow_until_.find(url); it != slow_until_.end() && it->second > steady_ms()) load += kBeatenLoad;
  if (auto it = in_flight_.find(url); it != in_flight_.end()) load += it->second;
  return load;
}

Status Node::for_each_shard(const std::function<Status(uint32_t)>& fn) {
  std::vector<Status> out(options_.shards);
  fan_out_->run(options_.shards, [&](size_t s) {
    try {
      out[s] = fn(static_cast<uint32_t>(s));
    } catch (...) {  // std::bad_alloc, a dependency's throw
      out[s] = Status::internal("searching shard " + std::to_string(s) + " failed with an exception");
    }
  });
  for (Status& st : out) {
    if (!st.is_ok()) return st;
  }
  return Status::ok();
}

PeerLink Node::peer_link(const std::string& authorization) {
  PeerLink link;
  link.client = [this, authorization] {
    HttpClientPool::Handle h = peers_->take();
    authorise(*h, authorization);
    return h;
  };
  link.load = [this](const std::string& url) { return load_of(url); };
  link.in_flight = [this](const std::string& url, int d) {
    std::lock_guard lock(load_mu_);
    if ((in_flight_[url] += d) == 0) in_flight_.erase(url);
  };
  link.beaten = [this](const std::vector<std::string>& urls) {
    std::lock_guard lock(load_mu_);
    const int64_t now = steady_ms();
    for (const auto& url : urls) slow_until_[url] = now + 5000;
    std::erase_if(slow_until_, [&](const auto& e) { return e.second < now; });
  };
  link.hedges_sent = &hedges_sent_;
  link.hedges_won = &hedges_won_;
  link.requests = &peer_requests_;
  link.hedge_ms = options_.hedge_after_ms;
  link.signed_requests = !options_.secret.empty();
  return link;
}

ShardAccess Node::shard_access(const StreamPositions& after) {
  ShardAccess access;
  access.shards = options_.shards;
  access.open = [this, after](uint32_t s) -> Result<std::shared_ptr<ServiceContext>> {
    if (auto pos = after.find(s); pos != after.end()) {
      Status st = wait_applied(s, pos->second, std::chrono::milliseconds(options_.consistency_wait_ms));
      if (st.code() == StatusCode::kFailedPrecondition) return Status::not_found(st.message());
      RAGD_RETURN_IF_ERROR(st);
    }
    if (collections_ == nullptr) return Status::not_found("a writer holds no shard");
    auto svc = collections_->get(shard_collection(s));
    if (!svc.is_ok()) {
      return Status::not_found("node " + options_.node_id + " holds no copy of shard " + std::to_string(s));
    }
    return *svc;
  };
  access.position = [this](uint32_t s) { return position(s); };
  access.run = [this](size_t n, const std::function<void(size_t)>& fn) { fan_out_->run(n, fn); };
  return access;
}

Result<std::vector<Hit>> Node::search(const SearchRequest& request, const std::string& authorization,
                                      const StreamPositions& after) {
  const auto began = std::chrono::steady_clock::now();
  bool fetch_failed = false;
  Result<std::vector<Hit>> hits = search_once(request, authorization, after, &fetch_failed);
  if (hits.is_ok() || !fetch_failed || hits.status().code() != StatusCode::kUnavailable ||
      std::chrono::steady_clock::now() - began > std::chrono::milliseconds(options_.search_retry_within_ms)) {
    return hits;
  }
  search_retries_.fetch_add(1, std::memory_order_relaxed);
  return search_once(request, authorization, after, nullptr);
}

Result<std::vector<Hit>> Node::search_once(const SearchRequest& request, const std::string& authorization,
                                           const StreamPositions& after, bool* fetch_failed) {
  const std::string body = search_body(request, format_consistency_token(after));
  if (collections_ == nullptr) return Status::failed_precondition("a writer (Node::start_writer) does not search");
  const auto live = live_nodes();
  RAGD_ASSIGN_OR_RETURN(auto coordinator, collections_->get(""));
  const Retriever& retriever = coordinator->retriever();
  const uint32_t shards = options_.shards;
  const ShardMap map = shard_map();  // this search keeps the map it began with
  PeerLink link = peer_link(authorization);

  std::vector<Replica> replicas(shards);
  std::vector<uint32_t> every(shards);
  for (uint32_t s = 0; s < shards; ++s) {
    every[s] = s;
    Replica& r = replicas[s];
    r.shard = s;
    bool held = false;
    for (const auto& n : map.replicas[s]) {
      if (n == options_.node_id) {
        held = true;
      } else if (auto it = live.find(n); it != live.end()) {
        r.urls.push_back(it->second);
      }
    }
    if (held) {
      auto svc = collections_->get(shard_collection(s));
      if (svc.is_ok()) r.local = *svc;
      r.local_behind = position(s).behind;
    }
    // The least loaded peer first (load_of), the map's order among equals.
    std::vector<std::pair<int64_t, std::string>> by_load;
    for (auto& u : r.urls) by_load.emplace_back(load_of(u), std::move(u));
    std::stable_sort(by_load.begin(), by_load.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < by_load.size(); ++i) r.urls[i] = std::move(by_load[i].second);
  }

  // Read-your-writes: this node's replica only once it has applied the
  // token's position (a peer waits the same way, reading the token from
  // `body`; one still behind answers that shard with an error and the
  // next replica is asked).
  // Only the shards the token names (waking the threads for none cost a
  // search without a token a tenth of a millisecond).
  std::vector<std::pair<uint32_t, uint64_t>> wait_for;
  for (const auto& [s, sequence] : after) {
    if (s < shards && replicas[s].local) wait_for.emplace_back(s, sequence);
  }
  fan_out_->run(wait_for.size(), [&](size_t i) {
    const auto [s, sequence] = wait_for[i];
    if (!wait_applied(s, sequence, std::chrono::milliseconds(options_.consistency_wait_ms)).is_ok()) {
      replicas[s].local.reset();
    }
  });

  // The statistics are about the query's distinct analysed terms.
  std::vector<std::string> terms = analyze(request.query);
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  auto behind = [](const auto& answer) { return answer.at.behind; };
  // The sequence each shard's statistics hold: a replica that answers phase
  // 2 at another one has applied messages since (or is another replica), so
  // its statistics are read again and phase 2 runs again, once.
  std::vector<uint64_t> stats_at(shards, 0);
  const size_t depth = static_cast<size_t>(retriever.depth(request.k));
  for (int attempt = 0;; ++attempt) {
    // 1. Statistics: from the cache (stats_cache.h), else from the replica.
    std::vector<LexicalStats> stats(shards);
    std::vector<uint32_t> unread;
    for (uint32_t s = 0; s < shards; ++s) {
      if (auto hit = stats_cache_->get(s, terms)) {
        stats[s] = std::move(hit->stats);
        stats_at[s] = hit->applied;
        stats_cached_.fetch_add(1, std::memory_order_relaxed);
      } else {
        unread.push_back(s);
      }
    }
    // Cached only when no message was applied while they were read (the
    // applier writes the store before it moves its sequence).
    auto stats_here = [&](uint32_t s) -> Result<StatsAnswer> {
      StatsAnswer a;
      a.at = position(s);
      a.stats = shard_stats(*replicas[s].local, request);
      a.steady = applied_sequence(s) == a.at.applied;
      return a;
    };
    PeerPhase<StatsAnswer> stats_peers(
        link, replicas, [&](const std::vector<uint32_t>& ss) { return stats_request(body, ss); }, read_stats,
        behind);
    std::vector<std::optional<StatsAnswer>> read(shards);
    RAGD_RETURN_IF_ERROR(run_phase<StatsAnswer>(replicas, unread, *fan_out_, stats_peers, stats_here, false, read));
    for (uint32_t s : unread) {
      stats[s] = std::move(read[s]->stats);
      stats_at[s] = read[s]->at.applied;
      if (read[s]->steady) stats_cache_->put(s, stats_at[s], stats[s]);
      stats_reads_.fetch_add(1, std::memory_order_relaxed);
    }
    LexicalStats corpus;
    for (const LexicalStats& one : stats) {
      corpus.chunks += one.chunks;
      corpus.total_length += one.total_length;
      for (const auto& [term, n] : one.df) corpus.df[term] += n;
    }

    // 2. Candidates, scored with the cluster's statistics.
    auto candidates_here = [&](uint32_t s) -> Result<CandidatesAnswer> {
      CandidatesAnswer a;
      a.at = position(s);
      RAGD_ASSIGN_OR_RETURN(a.set, shard_candidates(*replicas[s].local, request, corpus));
      return a;
    };
    PeerPhase<CandidatesAnswer> candidates_peers(
        link, replicas,
        [&](const std::vector<uint32_t>& ss) { return candidates_request(body, corpus, ss, depth); },
        read_candidates, behind, [](const CandidatesAnswer& a) { return a.cut; });
    std::vector<std::optional<CandidatesAnswer>> got(shards);
    RAGD_RETURN_IF_ERROR(
        run_phase<CandidatesAnswer>(replicas, every, *fan_out_, candidates_peers, candidates_here, false, got));
    // A second time still stale: the shards are being written; the search
    // stands (its statistics lag the writes by the messages in between).
    bool stale = false;
    for (uint32_t s = 0; s < shards; ++s) {
      replicas[s].candidates = std::move(got[s]->set);
      if (attempt > 0 || got[s]->at.applied == stats_at[s]) continue;
      stats_cache_->drop(s);
      stats_stale_.fetch_add(1, std::memory_order_relaxed);
      stale = true;
    }
    if (!stale) break;
  }
  std::vector<Ref> refs;
  CandidateSet set = merge_candidates(replicas, depth, refs);
  Retriever::fuse(set, request.mode, retriever.options());

  // 3. Walk the fused list as Retriever::retrieve does, fetching the chunks
  // in batches, each shard's from the replica that gave its candidates.
  const bool vectors = request.dedup && set.vector_searched;
  NearDuplicates dups(retriever.options());
  std::vector<Hit> hits;
  const size_t k = static_cast<size_t>(request.k);
  for (size_t pos = 0; hits.size() < k && pos < set.items.size();) {
    const size_t end = std::min(set.items.size(), pos + std::max<size_t>(2 * (k - hits.size()), 16));
    std::vector<std::vector<uint64_t>> labels(shards);
    for (size_t i = pos; i < end; ++i) {
      const Ref& ref = refs[set.items[i].label];
      labels[ref.shard].push_back(ref.label);
    }
    std::vector<uint32_t> asked;
    for (uint32_t s = 0; s < shards; ++s) {
      if (!labels[s].empty()) asked.push_back(s);
    }
    auto fetch_here = [&](uint32_t s) { return shard_fetch(*replicas[s].local, request, labels[s], vectors); };
    PeerPhase<std::vector<FetchedChunk>> fetch_peers(
        link, replicas,
        [&](const std::vector<uint32_t>& ss) {
          std::vector<std::vector<uint64_t>> of;
          for (uint32_t s : ss) of.push_back(labels[s]);
          return fetch_request(body, ss, of, vectors);
        },
        read_fetched, [](const std::vector<FetchedChunk>&) { return uint64_t{0}; });
    std::vector<std::optional<std::vector<FetchedChunk>>> fetched(shards);
    // Who is asked for each shard's chunks: the replica its candidates came
    // from (a failed request moves `at` on).
    std::vector<std::string> fetched_from(shards);
    for (uint32_t s : asked) {
      if (!replicas[s].local && replicas[s].at < replicas[s].urls.size())
        fetched_from[s] = replicas[s].urls[replicas[s].at];
    }
    if (Status st =
            run_phase<std::vector<FetchedChunk>>(replicas, asked, *fan_out_, fetch_peers, fetch_here, true, fetched);
        !st.is_ok()) {
      // The peers that did not give their shards' chunks are passed over
      // for 5 s (Node::load_of), so that search() running again asks
      // their shards' other replicas.
      std::vector<std::string> failed;
      for (uint32_t s : asked) {
        if (!fetched[s] && !fetched_from[s].empty() &&
            std::find(failed.begin(), failed.end(), fetched_from[s]) == failed.end())
          failed.push_back(fetched_from[s]);
      }
      link.beaten(failed);
      std::string names;
      for (const auto& u : failed) names += (names.empty() ? "" : ", ") + u;
      cluster_log().warn("node {}: a search's fetch failed ({}); passing over {} for 5 s", options_.node_id, st.to_string(),
                 names.empty() ? "no peer" : names);
      if (fetch_failed != nullptr) *fetch_failed = true;
      return st;
    }
    for (uint32_t s : asked) {
      if (fetched[s]->size() != labels[s].size())
        return Status::unavailable("shard " + std::to_string(s) + " answered for another number of chunks");
    }
    std::vector<size_t> next(shards, 0);
    for (size_t i = pos; i < end && hits.size() < k; ++i) {
      const Candidate& c = set.items[i];
      FetchedChunk& f = (*fetched[refs[c.label].shard])[next[refs[c.label].shard]++];
      if (!f.hit) continue;  // deleted since phase 2
      if (vectors && dups.near_vector(f.vector)) continue;
      if (request.dedup &&
          !dups.keep(std::make_shared<const std::vector<uint64_t>>(word_shingles(f.hit->text)), std::move(f.vector)))
        continue;
      Hit h = std::move(*f.hit);
      h.score = c.score;
      h.score_lexical = c.lexical;
      h.score_vector = c.vector;
      hits.push_back(std::move(h));
    }
    pos = end;
  }
  return hits;
}

// Shard `s` asked `local` (a replica held here) or, failing that, `remote`
// with one of its live peers' answers, asked in turn.
template <class T>
Result<T> Node::from_shard(uint32_t s, const std::string& authorization, const StreamPositions& after,
                           const std::function<Result<T>(const ServiceContext&)>& local,
                           const std::function<std::string(const std::string&)>& request_body,
                           const std::function<Result<T>(const std::string&)>& remote) {
  const std::vector<std::string> holders = shard_map().replicas[s];
  // Read-your-writes as for a search: the replica held here only once it
  // has applied the token's position for this shard, a peer the same way
  // (the token travels in the body; one still behind answers 503).
  StreamPositions mine;
  if (auto pos = after.find(s); pos != after.end()) mine[s] = pos->second;
  const bool level = mine.empty() || wait_applied(s, mine[s],
                                                  std::chrono::milliseconds(options_.consistency_wait_ms)).is_ok();
  if (level && std::find(holders.begin(), holders.end(), options_.node_id) != holders.end()) {
    auto svc = collections_->get(shard_collection(s));
    if (svc.is_ok()) {
      auto here = local(**svc);
      if (here.is_ok()) return here;
    }
  }
  const auto live = live_nodes();
  HttpClientPool::Handle http = peers_->take();
  authorise(*http, authorization);
  const std::string body = request_body(format_consistency_token(mine));
  Status last = Status::unavailable("no live replica");
  for (const auto& n : holders) {
    auto it = live.find(n);
    if (n == options_.node_id || it == live.end()) continue;
    auto r = http->post_json(it->second + "/v1/collections/" + shard_collection(s) + "/search", body);
    if (r.is_ok()) return remote(r->body);
    if (r.status().code() == StatusCode::kInvalidArgument) return r.status();
    last = peer_failure(it->second, r.status(), bool(http->request_header));
  }
  return Status::unavailable("shard " + std::to_string(s) + ": no replica answered (" + last.message() + ")");
}

Result<std::vector<Chunk>> Node::chunks_of(const SearchRequest& request, const std::string& doc_id,
                                           const std::string& authorization, const StreamPositions& after) {
  return from_shard<std::vector<Chunk>>(
      shard_of(doc_id, options_.shards), authorization, after,
      [&](const ServiceContext& shard) { return shard_chunks(shard, request, doc_id); },
      [&](const std::string& token) { return chunks_request(search_body(request, token), doc_id); }, read_chunks);
}

Result<std::optional<Document>> Node::document_of(const SearchRequest& request, const std::string& doc_id,
                                                  const std::string& authorization, const StreamPositions& after) {
  // The peer's route reads the body as a search, which needs a query: a
  // read by id alone (ticket assist's stored ticket) carries a placeholder.
  SearchRequest as_search = request;
  if (as_search.query.empty()) as_search.query = "document";
  return from_shard<std::optional<Document>>(
      shard_of(doc_id, options_.shards), authorization, after,
      [&](const ServiceContext& shard) { return shard_document(shard, request, doc_id); },
      [&](const std::string& token) { return document_request(search_body(as_search, token), doc_id); },
      read_document);
}

Result<std::vector<std::string>> Node::documents_where(const std::string& key, const std::string& value) {
  // Asked as this node itself: signed with the cluster secret, or with no
  // key (a cluster whose nodes require keys and share no secret cannot
  // list; the peers answer 401).
  SearchRequest request;
  request.query = "documents";
  const std::string body = search_body(request, "");
  std::vector<std::vector<std::string>> ids(options_.shards);
  RAGD_RETURN_IF_ERROR(for_each_shard([&](uint32_t s) -> Status {
    RAGD_ASSIGN_OR_RETURN(
        ids[s], from_shard<std::vector<std::string>>(
                    s, "", {},
                    [&](const ServiceContext& shard) -> Result<std::vector<std::string>> {
                      return shard_documents_where(shard, key, value);
                    },
                    [&](const std::string&) { return documents_where_request(body, key, value); }, read_ids));
    return Status::ok();
  }));
  std::vector<std::string> out;
  for (auto& v : ids) out.insert(out.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  return out;
}

KnowledgeReader Node::reader(const std::string& authorization, const StreamPositions& after) {
  KnowledgeReader out;
  out.retrieve = [this, authorization, after](const SearchRequest& r) { return search(r, authorization, after); };
  out.chunks_of = [this, authorization, after](const SearchRequest& r, const std::string& doc_id) {
    return chunks_of(r, doc_id, authorization, after);
  };
  out.document = [this, authorization, after](const SearchRequest& r, const std::string& doc_id) {
    return document_of(r, doc_id, authorization, after);
  };
  return out;
}

}  // namespace ragd::cluster

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
#include <chrono>
#include <optional>

#include "auth/authenticator.h"
#include "auth/peer.h"
#include "cluster/clock.h"
#include "cluster/etcd.h"
#include "cluster/fan_out.h"
#include "cluster/http_pool.h"
#include "cluster/shard.h"
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

// The replica that answers one shard for the whole of a search: labels are
// a store's own, so the fetch goes where the candidates came from.
//
// Which one: the first that is level with its shard's stream (behind == 0
// in shard_search.h's ShardPosition), the one held here first, then the
// peers in the map's order; when none is, the least behind. A replica
// still replaying its shard (just added, wiped, or back from a long stop)
// would otherwise answer without documents every other replica has. The
// choice is made by the first phase that reaches a replica (phase 1, or
// phase 2 when the statistics were cached) and kept after that, except
// that a replica that fails in phases 1 and 2 is left for the next.
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

struct Replica {
  uint32_t shard = 0;
  std::shared_ptr<ServiceContext> local;  // held here: searched in process
  uint64_t local_behind = 0;              // how far behind the one held here is
  std::vector<std::string> urls;          // the live peers holding it, in the map's order
  size_t at = 0;                          // the peer asked now, when not local
  bool chosen = false;                    // a phase has picked local or urls[at]
  std::optional<HttpClientPool::Handle> http;  // taken from the node's pool for this search
  CandidateSet candidates;
  // Phases 1 and 2 (Node::race): the peers urls[i] for i in `which`, in
  // that order, hedged; the index of the one that answered in `won`.
  // Unset: ask() one at a time.
  std::function<Result<std::string>(const std::vector<size_t>& which, const std::string& body, size_t& won)> race;

  // Phase 1 or 2 of this shard: `in_process` on the replica held here, or
  // the peers asked with `body` and their answers read with `read`, picking
  // the replica as above. T carries a ShardPosition `at`.
  template <class T>
  Result<T> answer(const std::function<Result<T>()>& in_process, const std::string& body,
                   const std::function<Result<T>(const std::string&)>& read) {
    if (local && (chosen || local_behind == 0 || urls.empty())) {
      chosen = true;
      auto got = in_process();
      if (got.is_ok() || got.status().code() == StatusCode::kInvalidArgument) return got;
      local.reset();  // the peers are the fallback
    }
    auto got = ask_level(body, read);
    if (local) {  // held here but behind: kept when no peer does better
      chosen = true;
      if (!got.is_ok() || got->at.behind >= local_behind) {
        at = 0;
        return in_process();
      }
      local.reset();
    }
    chosen = true;
    return got;
  }

  // The peers from `at` on: the first level one's answer, else the least
  // behind one's (`at` is left on the peer that answered).
  template <class T>
  Result<T> ask_level(const std::string& body, const std::function<Result<T>(const std::string&)>& read) {
    std::optional<T> best;
    size_t best_at = 0;
    Status last = Status::unavailable("no live replica");
    if (!race) {
      for (; at < urls.size(); ++at) {
        auto answer = ask(body, false);
        if (!answer.is_ok()) {
          if (answer.status().code() == StatusCode::kInvalidArgument) return answer.status();
          last = answer.status();
          continue;
        }
        auto got = read(*answer);
        if (!got.is_ok()) {
          last = got.status();
          continue;
        }
        if (got->at.behind == 0 || chosen) return got;
        if (!best || got->at.behind < best->at.behind) {
          best = std::move(got).value();
          best_at = at;
        }
      }
    } else {
      // Hedged: the peers from `at` on race; a level answer ends it (or,
      // once a replica was chosen, that replica's answer). A behind one is
      // kept as the fallback while the others (the slow ones included)
      // race again.
      const size_t chosen_at = at;
      std::vector<size_t> pending;
      for (size_t i = at; i < urls.size(); ++i) pending.push_back(i);
      while (!pending.empty()) {
        size_t won = pending.front();
        auto answer = race(pending, body, won);
        if (!answer.is_ok()) {
          if (answer.status().code() == StatusCode::kInvalidArgument) return answer.status();
          last = answer.status();
          break;  // every pending peer failed
        }
        pending.erase(std::find(pending.begin(), pending.end(), won));
        auto got = read(*answer);
        if (!got.is_ok()) {
          last = got.status();
          continue;
        }
        if (got->at.behind == 0 || (chosen && won == chosen_at)) {
          at = won;
          return got;
        }
        if (!best || got->at.behind < best->at.behind) {
          best = std::move(got).value();
          best_at = won;
        }
      }
    }
    if (best) {
      at = best_at;
      return std::move(*best);
    }
    at = urls.size();  // past every peer
    return Status::unavailable("shard " + std::to_string(shard) + ": no replica answered (" + last.message() + ")");
  }

  // POSTs a phase's body to the current peer. With `may_move`, a peer that
  // fails is left for the next one; a 4xx is the request's fault (every
  // replica would say the same) and ends the search.
  Result<std::string> ask(const std::string& body, bool may_move) {
    Status last = Status::unavailable("no live replica");
    while (at < urls.size()) {
      auto r = (*http)->post_json(urls[at] + "/v1/collections/" + shard_collection(shard) + "/search", body);
      if (r.is_ok()) return std::move(r->body);
      if (r.status().code() == StatusCode::kInvalidArgument) return r.status();
      last = r.status();
      if (last.code() == StatusCode::kFailedPrecondition) last = refused_by_peer(urls[at], bool((*http)->request_header));
      if (!may_move) break;
      ++at;
    }
    return Status::unavailable("shard " + std::to_string(shard) + ": no replica answered (" + last.message() + ")");
  }
};

struct Ref {
  uint32_t shard;
  uint64_t label;
};

// The shards' candidates as one store's: the best `depth` of each half
// over all shards (ties by shard and label), the rest dropped, each kept
// candidate scored as one store would have scored it. Candidate::label
// becomes an index into `refs`.
CandidateSet merge_candidates(std::vector<Replica>& replicas, size_t depth, std::vector<Ref>& refs) {
  std::vector<Candidate> all;
  CandidateSet set;
  for (Replica& r : replicas) {
    set.lexical_searched |= r.candidates.lexical_searched;
    set.vector_searched |= r.candidates.vector_searched;
    std::vector<Candidate>& items = r.candidates.items;
    std::sort(items.begin(), items.end(), [](const Candidate& a, const Candidate& b) { return a.label < b.label; });
    for (const Candidate& c : items) {
      refs.push_back({r.shard, c.label});
      all.push_back(c);
      all.back().label = all.size() - 1;
    }
  }
  auto best = [&](bool Candidate::*in, double Candidate::*score) {
    std::vector<size_t> order;
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].*in) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (all[a].*score != all[b].*score) return all[a].*score > all[b].*score;
      return a < b;
    });
    if (order.size() > depth) order.resize(depth);
    std::vector<bool> kept(all.size(), false);
    for (size_t i : order) kept[i] = true;
    return kept;
  };
  const std::vector<bool> lexical = best(&Candidate::has_lexical, &Candidate::lexical);
  const std::vector<bool> vector = best(&Candidate::vector_hit, &Candidate::vector);
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

Result<std::map<std::string, std::string>> Node::live_nodes() {
  {
    std::lock_guard lock(live_mu_);
    const int64_t now = steady_ms();
    if (!live_.empty() && (now - live_read_ms_ < kLiveCacheMs || now - live_failed_ms_ < kLiveRetryMs)) return live_;
  }
  auto fresh = refresh_live_nodes();
  if (fresh.is_ok()) return fresh;
  // etcd away: the last list read, however old. A node that died since
  // fails its request and the next replica is asked; searches must not stop
  // because membership cannot be read (/healthz says it cannot).
  std::lock_guard lock(live_mu_);
  if (!live_.empty()) return live_;
  return fresh.status();
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
  if (auto it = slow_until_.find(url); it != slow_until_.end() && it->second > steady_ms()) load += 1000000;
  if (auto it = in_flight_.find(url); it != in_flight_.end()) load += it->second;
  return load;
}

Result<std::string> Node::race(uint32_t shard, const std::vector<std::string>& urls, const std::vector<size_t>& which,
                               sync::HttpClient& first, const std::string& authorization, const std::string& body,
                               size_t& won) {
  std::vector<std::string> targets;
  for (size_t i : which) targets.push_back(urls[i] + "/v1/collections/" + shard_collection(shard) + "/search");
  std::vector<HttpClientPool::Handle> others;
  others.reserve(targets.size());
  std::vector<std::string> started;
  auto load = [this](const std::string& url, int d) {
    std::lock_guard lock(load_mu_);
    if ((in_flight_[url] += d) == 0) in_flight_.erase(url);
  };
  struct Done {
    std::function<void()> fn;
    ~Done() { fn(); }
  } done{[&] {
    for (const auto& u : started) load(u, -1);
  }};
  auto client_for = [&](size_t i) -> sync::HttpClient* {
    started.push_back(urls[which[i]]);
    load(started.back(), +1);
    if (i == 0) return &first;
    others.push_back(peers_->take());
    authorise(*others.back(), authorization);
    return &*others.back();
  };
  auto got = sync::HttpClient::post_json_hedged(client_for, targets, body, options_.hedge_after_ms);
  if (!got.is_ok()) {
    if (got.status().code() == StatusCode::kFailedPrecondition) {
      return refused_by_peer(started.empty() ? urls[which.front()] : started.back(), bool(first.request_header));
    }
    if (got.status().code() == StatusCode::kInvalidArgument) return got.status();
    return Status::unavailable("shard " + std::to_string(shard) + ": no replica answered (" + got.status().message() +
                               ")");
  }
  hedges_sent_.fetch_add(got->hedges, std::memory_order_relaxed);
  if (got->hedge_won) {
    hedges_won_.fetch_add(1, std::memory_order_relaxed);
    // The peers started before the winner were slower: asked last for a while.
    std::lock_guard lock(load_mu_);
    const int64_t until = steady_ms() + 5000;
    for (size_t i = 0; i < got->index && i < started.size(); ++i) slow_until_[started[i]] = until;
    for (auto it = slow_until_.begin(); it != slow_until_.end();) {
      it = it->second < steady_ms() ? slow_until_.erase(it) : std::next(it);
    }
  }
  won = which[got->index];
  return std::move(got->response.body);
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

Result<std::vector<Hit>> Node::search(const SearchRequest& request, const std::string& authorization,
                                      const StreamPositions& after) {
  const std::string body = search_body(request, format_consistency_token(after));
  RAGD_ASSIGN_OR_RETURN(auto live, live_nodes());
  RAGD_ASSIGN_OR_RETURN(auto coordinator, collections_.get(""));
  const Retriever& retriever = coordinator->retriever();
  const uint32_t shards = options_.shards;
  const ShardMap map = shard_map();  // this search keeps the map it began with

  std::vector<Replica> replicas(shards);
  for (uint32_t s = 0; s < shards; ++s) {
    Replica& r = replicas[s];
    r.shard = s;
    r.http.emplace(peers_->take());
    authorise(**r.http, authorization);
    bool held = false;
    for (const auto& n : map.replicas[s]) {
      if (n == options_.node_id) {
        held = true;
      } else if (auto it = live.find(n); it != live.end()) {
        r.urls.push_back(it->second);
      }
    }
    if (held) {
      auto svc = collections_.get(shard_collection(s));
      if (svc.is_ok()) r.local = *svc;
      r.local_behind = position(s).behind;
    }
    // The least loaded peer first (load_of), the map's order among equals.
    std::vector<std::pair<int64_t, std::string>> by_load;
    for (auto& u : r.urls) by_load.emplace_back(load_of(u), std::move(u));
    std::stable_sort(by_load.begin(), by_load.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < by_load.size(); ++i) r.urls[i] = std::move(by_load[i].second);
    r.race = [this, &r, &authorization](const std::vector<size_t>& which, const std::string& b, size_t& won) {
      return race(r.shard, r.urls, which, **r.http, authorization, b, won);
    };
  }

  // Read-your-writes: this node's replica only once it has applied the
  // token's position (a peer waits the same way, reading the token from
  // `body`; one still behind answers 503 and the next is asked).
  RAGD_RETURN_IF_ERROR(for_each_shard([&](uint32_t s) -> Status {
    const auto pos = after.find(s);
    if (replicas[s].local && pos != after.end() &&
        !wait_applied(s, pos->second, std::chrono::milliseconds(options_.consistency_wait_ms)).is_ok()) {
      replicas[s].local.reset();
    }
    return Status::ok();
  }));

  // The statistics are about the query's distinct analysed terms.
  std::vector<std::string> terms = analyze(request.query);
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  // The sequence each shard's statistics hold: a replica that answers phase
  // 2 at another one has applied messages since (or is another replica), so
  // its statistics are read again and phase 2 runs again, once.
  std::vector<uint64_t> stats_at(shards, 0);
  for (int attempt = 0;; ++attempt) {
    // 1. Statistics: from the cache (stats_cache.h), else from the replica.
    std::vector<LexicalStats> stats(shards);
    RAGD_RETURN_IF_ERROR(for_each_shard([&](uint32_t s) -> Status {
      Replica& r = replicas[s];
      if (auto hit = stats_cache_->get(s, terms)) {
        stats[s] = std::move(hit->stats);
        stats_at[s] = hit->applied;
        stats_cached_.fetch_add(1, std::memory_order_relaxed);
        return Status::ok();
      }
      // Cached only when no message was applied while they were read (the
      // applier writes the store before it moves its sequence).
      auto here = [&]() -> Result<StatsAnswer> {
        StatsAnswer a;
        a.at = position(s);
        a.stats = shard_stats(*r.local, request);
        a.steady = applied_sequence(s) == a.at.applied;
        return a;
      };
      RAGD_ASSIGN_OR_RETURN(StatsAnswer got, r.answer<StatsAnswer>(here, stats_request(body), read_stats));
      stats[s] = std::move(got.stats);
      stats_at[s] = got.at.applied;
      if (got.steady) stats_cache_->put(s, stats_at[s], stats[s]);
      stats_reads_.fetch_add(1, std::memory_order_relaxed);
      return Status::ok();
    }));
    LexicalStats corpus;
    for (const LexicalStats& one : stats) {
      corpus.chunks += one.chunks;
      corpus.total_length += one.total_length;
      for (const auto& [term, n] : one.df) corpus.df[term] += n;
    }

    // 2. Candidates, scored with the cluster's statistics.
    const std::string candidates_body = candidates_request(body, corpus);
    std::vector<uint64_t> searched_at(shards, 0);
    RAGD_RETURN_IF_ERROR(for_each_shard([&](uint32_t s) -> Status {
      Replica& r = replicas[s];
      auto here = [&]() -> Result<CandidatesAnswer> {
        CandidatesAnswer a;
        a.at = position(s);
        RAGD_ASSIGN_OR_RETURN(a.set, shard_candidates(*r.local, request, corpus));
        return a;
      };
      RAGD_ASSIGN_OR_RETURN(CandidatesAnswer got, r.answer<CandidatesAnswer>(here, candidates_body, read_candidates));
      r.candidates = std::move(got.set);
      searched_at[s] = got.at.applied;
      return Status::ok();
    }));
    // A second time still stale: the shards are being written; the search
    // stands (its statistics lag the writes by the messages in between).
    bool stale = false;
    for (uint32_t s = 0; s < shards && attempt == 0; ++s) {
      if (searched_at[s] == stats_at[s]) continue;
      stats_cache_->drop(s);
      stats_stale_.fetch_add(1, std::memory_order_relaxed);
      stale = true;
    }
    if (!stale) break;
  }
  std::vector<Ref> refs;
  CandidateSet set = merge_candidates(replicas, static_cast<size_t>(retriever.depth(request.k)), refs);
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
    std::vector<std::vector<FetchedChunk>> fetched(shards);
    RAGD_RETURN_IF_ERROR(for_each_shard([&](uint32_t s) -> Status {
      if (labels[s].empty()) return Status::ok();
      Replica& r = replicas[s];
      if (r.local) {
        RAGD_ASSIGN_OR_RETURN(fetched[s], shard_fetch(*r.local, request, labels[s], vectors));
      } else {
        RAGD_ASSIGN_OR_RETURN(std::string answer, r.ask(fetch_request(body, labels[s], vectors), false));
        RAGD_ASSIGN_OR_RETURN(fetched[s], read_fetched(answer));
      }
      if (fetched[s].size() != labels[s].size())
        return Status::unavailable("shard " + std::to_string(s) + " answered for another number of chunks");
      return Status::ok();
    }));
    std::vector<size_t> next(shards, 0);
    for (size_t i = pos; i < end && hits.size() < k; ++i) {
      const Candidate& c = set.items[i];
      FetchedChunk& f = fetched[refs[c.label].shard][next[refs[c.label].shard]++];
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
// with one of its live peers' answers.
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
    auto svc = collections_.get(shard_collection(s));
    if (svc.is_ok()) {
      auto here = local(**svc);
      if (here.is_ok()) return here;
    }
  }
  RAGD_ASSIGN_OR_RETURN(auto live, live_nodes());
  Replica r;
  r.shard = s;
  for (const auto& n : holders) {
    if (n == options_.node_id) continue;
    if (auto it = live.find(n); it != live.end()) r.urls.push_back(it->second);
  }
  r.http.emplace(peers_->take());
  authorise(**r.http, authorization);
  RAGD_ASSIGN_OR_RETURN(std::string answer, r.ask(request_body(format_consistency_token(mine)), true));
  return remote(answer);
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

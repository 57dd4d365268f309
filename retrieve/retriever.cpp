#include "retrieve/retriever.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <list>
#include <mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "index/analyzer.h"

namespace ragd {

std::vector<uint64_t> word_shingles(const std::string& text) {
  std::vector<uint64_t> words;
  uint64_t h = 1469598103934665603ull;
  bool in_word = false;
  for (unsigned char c : text) {
    bool word_char = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
    if (word_char) {
      if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
      h = (h ^ c) * 1099511628211ull;
      in_word = true;
    } else if (in_word) {
      words.push_back(h);
      h = 1469598103934665603ull;
      in_word = false;
    }
  }
  if (in_word) words.push_back(h);
  std::vector<uint64_t> out;
  if (words.size() < 3) {
    out = words;
  } else {
    out.reserve(words.size() - 2);
    for (size_t i = 0; i + 2 < words.size(); ++i)
      out.push_back(words[i] * 0x9E3779B97F4A7C15ull ^ (words[i + 1] * 31 + words[i + 2]));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {



double jaccard_sorted(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() && b.empty()) return 1.0;
  size_t i = 0, j = 0, inter = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) {
      ++inter, ++i, ++j;
    } else if (a[i] < b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
}

double dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

void sort_by_score(std::vector<Candidate>& items) {
  std::sort(items.begin(), items.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.label < b.label;
  });
}

}  // namespace

// A stored chunk as hits need it, with its shingles computed once.
struct CachedChunk {
  StoredChunk stored;
  std::shared_ptr<const std::vector<uint64_t>> shingles;
};

namespace {

Hit hit_of(const StoredChunk& sc) {
  Hit h;
  h.doc_id = sc.doc->id;
  h.chunk_id = sc.chunk.id;
  h.title = sc.doc->title;
  h.kind = sc.doc->kind;
  h.source = sc.doc->source;
  h.url = sc.doc->url;
  h.section_path = sc.chunk.section_path;
  h.role = sc.chunk.role;
  h.text = sc.chunk.text;
  h.metadata = sc.doc->metadata;
  return h;
}

}  // namespace

// Label -> CachedChunk, LRU per shard; a shard's mutex is held only for the
// map lookup and the list splice, never while reading the store.
class ChunkCache {
 public:
  explicit ChunkCache(size_t capacity) : per_shard_(std::max<size_t>(1, capacity / kShards)) {}

  std::shared_ptr<const CachedChunk> get(uint64_t label) {
    Shard& s = shard(label);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(label);
    if (it == s.map.end()) return nullptr;
    s.order.splice(s.order.begin(), s.order, it->second.second);
    return it->second.first;
  }

  void put(uint64_t label, std::shared_ptr<const CachedChunk> c) {
    Shard& s = shard(label);
    std::lock_guard lock(s.mu);
    if (s.map.count(label)) return;
    s.order.push_front(label);
    s.map.emplace(label, std::make_pair(std::move(c), s.order.begin()));
    while (s.map.size() > per_shard_) {
      s.map.erase(s.order.back());
      s.order.pop_back();
    }
  }

  void clear() {
    for (Shard& s : shards_) {
      std::lock_guard lock(s.mu);
      s.map.clear();
      s.order.clear();
    }
  }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::list<uint64_t> order;  // most recently used first; GUARDED_BY(mu)
    std::unordered_map<uint64_t, std::pair<std::shared_ptr<const CachedChunk>, std::list<uint64_t>::iterator>>
        map;  // GUARDED_BY(mu)
  };
  Shard& shard(uint64_t label) { return shards_[(label * 0x9E3779B97F4A7C15ull) >> 60]; }

  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

double shingle_jaccard(const std::string& a, const std::string& b) {
  return jaccard_sorted(word_shingles(a), word_shingles(b));
}

bool NearDuplicates::near_vector(const std::vector<float>& vec) const {
  if (vec.empty()) return false;
  return std::any_of(kept_.begin(), kept_.end(), [&](const Kept& o) {
    return o.vec.size() == vec.size() && dot(vec, o.vec) >= similarity_;
  });
}

bool NearDuplicates::keep(std::shared_ptr<const std::vector<uint64_t>> shingles, std::vector<float> vec) {
  if (std::any_of(kept_.begin(), kept_.end(),
                  [&](const Kept& o) { return jaccard_sorted(*shingles, *o.shingles) >= jaccard_; }))
    return false;
  kept_.push_back({std::move(shingles), std::move(vec)});
  return true;
}

DocPredicate make_doc_predicate(const SearchFilters& filters, const std::vector<std::string>& groups) {
  const bool open = filters.kinds.empty() && filters.sources.empty() && filters.fields.empty() &&
                    !filters.updated_after && !filters.updated_before;
  std::unordered_set<std::string> caller(groups.begin(), groups.end());
  return [filters, caller = std::move(caller), open](const DocInfo& d) {
    if (!d.acl.empty()) {
      bool shared = false;
      for (const auto& g : d.acl) {
        if (caller.count(g)) {
          shared = true;
          break;
        }
      }
      if (!shared) return false;
    }
    if (open) return true;
    if (!filters.kinds.empty() &&
        std::find(filters.kinds.begin(), filters.kinds.end(), d.kind) == filters.kinds.end())
      return false;
    if (!filters.sources.empty() &&
        std::find(filters.sources.begin(), filters.sources.end(), d.source) == filters.sources.end())
      return false;
    for (const auto& [field, want] : filters.fields) {
      const std::string* have = nullptr;
      if (field == "id") have = &d.id;
      else if (field == "title") have = &d.title;
      else if (field == "url") have = &d.url;
      else if (field == "kind") have = &d.kind;
      else if (field == "source") have = &d.source;
      else if (auto it = d.metadata.find(field); it != d.metadata.end()) have = &it->second;
      if (!have || *have != want) return false;
    }
    if (filters.updated_after && d.updated_at < *filters.updated_after) return false;
    if (filters.updated_before && d.updated_at > *filters.updated_before) return false;
    return true;
  };
}

Retriever::Retriever(const Store& store, const Embedder* embedder, RetrieverOptions options)
    : store_(store),
      embedder_(embedder),
      options_(options),
      cache_(options.chunk_cache_entries > 0 ? std::make_unique<ChunkCache>(options.chunk_cache_entries) : nullptr) {}

Retriever::~Retriever() = default;

void Retriever::clear_chunk_cache() const {
  if (cache_) cache_->clear();
}

int Retriever::depth(int k) const {
  // Extra depth so that dropped duplicates and deleted chunks leave k hits.
  return std::max(options_.candidates, k + std::min(k, 50));
}

Result<CandidateSet> Retriever::gather(const SearchRequest& request, int depth, const LexicalStats* corpus) const {
  CandidateSet set;
  bool blank = std::all_of(request.query.begin(), request.query.end(),
                           [](unsigned char c) { return std::isspace(c); });
  if (blank) return Status::invalid_argument("search: query is empty");
  if (request.k < 1 || request.k > kMaxSearchK)
    return Status::invalid_argument("search: k must be in 1.." + std::to_string(kMaxSearchK) + ", got " +
                                    std::to_string(request.k));
  const size_t n = static_cast<size_t>(std::max({depth, request.k, 1}));
  const DocPredicate allow = make_doc_predicate(request.filters, request.groups);

  std::vector<float> qvec;
  if (embedder_ && request.mode != SearchMode::kLexical) {
    std::vector<std::string> texts{request.query};
    RAGD_RETURN_IF_ERROR(embedder_->embed(texts, EmbedRole::kQuery, qvec).with_context("embedding the query"));
    if (std::all_of(qvec.begin(), qvec.end(), [](float v) { return v == 0.0f; })) qvec.clear();
  }
  const bool want_vector = !qvec.empty();
  const bool want_lexical = request.mode != SearchMode::kVector || !want_vector;

  std::unordered_map<uint64_t, size_t> at;
  if (want_lexical) {
    std::vector<std::string> terms = analyze(request.query);
    std::unordered_set<std::string> distinct(terms.begin(), terms.end());
    set.query_terms = distinct.size();
    set.lexical_searched = true;
    if (!terms.empty()) {
      for (const ScoredChunk& sc : store_.search_lexical(terms, n, allow, corpus)) {
        at.emplace(sc.label, set.items.size());
        set.items.push_back({sc.label, sc.score, 0, true, false, false, 0, 0});
      }
    }
  }
  if (want_vector) {
    set.vector_searched = true;
    RAGD_ASSIGN_OR_RETURN(std::vector<ScoredChunk> vector_hits, store_.search_vector(qvec, n, allow));
    for (const ScoredChunk& sc : vector_hits) {
      auto [it, inserted] = at.emplace(sc.label, set.items.size());
      if (inserted) set.items.push_back({sc.label, 0, sc.score, false, true, true, 0, 0});
      else {
        set.items[it->second].vector = sc.score;
        set.items[it->second].has_vector = true;
        set.items[it->second].vector_hit = true;
      }
    }
    // Exact cosine for lexical candidates the ANN search did not return
    // (and, for a coordinator, for those it did).
    for (Candidate& c : set.items) {
      if (c.has_vector && !(corpus && c.has_lexical)) continue;
      RAGD_ASSIGN_OR_RETURN(std::vector<float> v, store_.chunk_vector(c.label));
      if (v.size() != qvec.size()) continue;
      if (c.has_vector) {
        c.exact_vector = dot(v, qvec);
        continue;
      }
      c.vector = c.exact_vector = dot(v, qvec);
      c.has_vector = true;
    }
  }
  return set;
}

void Retriever::fuse(CandidateSet& set, SearchMode mode, const RetrieverOptions& options) {
  auto& items = set.items;
  if (items.empty()) return;
  bool any_lex = false;
  for (const Candidate& c : items) any_lex |= c.has_lexical;
  const bool use_vec = set.vector_searched;
  if (mode == SearchMode::kLexical || !use_vec) {
    for (Candidate& c : items) c.score = c.lexical;
  } else if (mode == SearchMode::kVector || !any_lex) {
    for (Candidate& c : items) c.score = c.has_vector ? c.vector : -1.0;
  } else if (options.fusion == FusionMethod::kRrf) {
    std::vector<Candidate*> by_lex, by_vec;
    for (Candidate& c : items) {
      if (c.has_lexical) by_lex.push_back(&c);
      if (c.has_vector) by_vec.push_back(&c);
      c.score = 0;
    }
    auto rank = [&](std::vector<Candidate*>& v, double Candidate::*field, double w) {
      std::sort(v.begin(), v.end(), [&](const Candidate* a, const Candidate* b) {
        if (a->*field != b->*field) return a->*field > b->*field;
        return a->label < b->label;
      });
      for (size_t r = 0; r < v.size(); ++r) v[r]->score += w / (options.rrf_k + static_cast<double>(r + 1));
    };
    rank(by_lex, &Candidate::lexical, 1.0 - options.vector_weight);
    rank(by_vec, &Candidate::vector, options.vector_weight);
  } else {
    double max_lex = 0, min_cos = 1e9, max_cos = -1e9;
    for (const Candidate& c : items) {
      if (c.has_lexical) max_lex = std::max(max_lex, c.lexical);
      if (c.has_vector) {
        min_cos = std::min(min_cos, c.vector);
        max_cos = std::max(max_cos, c.vector);
      }
    }
    const double spread = max_cos > min_cos ? max_cos - min_cos : 0.0;
    double w = std::clamp(options.vector_weight, 0.0, 1.0);
    if (options.gate_spread > 0) w *= std::min(1.0, spread / options.gate_spread);
    for (Candidate& c : items) {
      double lex = (c.has_lexical && max_lex > 0) ? c.lexical / max_lex : 0.0;
      double vec = (c.has_vector && spread > 0) ? (c.vector - min_cos) / spread : 0.0;
      c.score = (1.0 - w) * lex + w * vec;
    }
  }
  sort_by_score(items);
}

namespace {

// Reads a live chunk through the cache; nullptr when it is gone (deleted
// since the search).
Result<std::shared_ptr<const CachedChunk>> cached_chunk(const Store& store, ChunkCache* cache, uint64_t label) {
  std::shared_ptr<const CachedChunk> cc = cache ? cache->get(label) : nullptr;
  if (cc) return cc;
  // A read error fails the search: a hit must not vanish silently.
  RAGD_ASSIGN_OR_RETURN(std::optional<StoredChunk> sc, store.chunk(label));
  if (!sc || !sc->doc) return std::shared_ptr<const CachedChunk>();
  auto fresh = std::make_shared<CachedChunk>();
  fresh->stored = std::move(*sc);
  fresh->shingles = std::make_shared<const std::vector<uint64_t>>(word_shingles(fresh->stored.chunk.text));
  if (cache) cache->put(label, fresh);
  return std::shared_ptr<const CachedChunk>(std::move(fresh));
}

}  // namespace

Result<std::optional<Hit>> Retriever::hit(uint64_t label, const DocPredicate& allow) const {
  RAGD_ASSIGN_OR_RETURN(auto cc, cached_chunk(store_, cache_.get(), label));
  if (!cc || (allow && !allow(*cc->stored.doc))) return std::optional<Hit>();
  return std::optional<Hit>(hit_of(cc->stored));
}

Result<std::vector<Hit>> Retriever::materialise(const CandidateSet& set, const SearchRequest& request) const {
  std::vector<Hit> hits;
  NearDuplicates dups(options_);
  const size_t k = static_cast<size_t>(request.k);
  for (const Candidate& c : set.items) {
    if (hits.size() >= k) break;
    // The vector test first: vectors are in memory, while a chunk's text may
    // be a disk read, and where near-duplicates abound most candidates end
    // here.
    std::vector<float> vec;
    if (request.dedup && set.vector_searched) {
      RAGD_ASSIGN_OR_RETURN(vec, store_.chunk_vector(c.label));
      if (dups.near_vector(vec)) continue;
    }
    RAGD_ASSIGN_OR_RETURN(auto cc, cached_chunk(store_, cache_.get(), c.label));
    if (!cc) continue;  // deleted since the search
    if (request.dedup && !dups.keep(cc->shingles, std::move(vec))) continue;
    Hit h = hit_of(cc->stored);
    h.score = c.score;
    h.score_lexical = c.lexical;
    h.score_vector = c.vector;
    hits.push_back(std::move(h));
  }
  return hits;
}

Result<std::vector<Hit>> Retriever::retrieve(const SearchRequest& request) const {
  RAGD_ASSIGN_OR_RETURN(CandidateSet set, gather(request, depth(request.k)));
  fuse(set, request.mode, options_);
  return materialise(set, request);
}

}  // namespace ragd

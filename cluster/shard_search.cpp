#include "cluster/shard_search.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cluster/message.h"
#include "index/analyzer.h"
#include "sync/target.h"

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;

// Candidate flags on the wire.
constexpr int kHasLexical = 1, kHasVector = 2, kVectorHit = 4;

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Result<Json> parse(const std::string& text, const char* what) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::invalid_argument(std::string(what) + ": not a JSON object");
  return j;
}

// The caller's body with the phase's fields added.
std::string with_fields(const std::string& body, const Json& fields) {
  Json j = Json::parse(body, nullptr, false);
  if (!j.is_object()) j = Json::object();
  for (const auto& [key, value] : fields.items()) j[key] = value;
  return dump(j);
}

Json stats_to_json(const LexicalStats& s) {
  Json df = Json::object();
  for (const auto& [term, n] : s.df) df[term] = n;
  return Json{{"chunks", s.chunks}, {"total_length", s.total_length}, {"df", df}};
}

Result<LexicalStats> stats_from_json(const Json& j) {
  auto bad = [] { return Status::invalid_argument("shard search: 'corpus' must be {chunks, total_length, df}"); };
  if (!j.is_object()) return bad();
  auto chunks = j.find("chunks"), total = j.find("total_length"), df = j.find("df");
  if (chunks == j.end() || total == j.end() || df == j.end() || !chunks->is_number_unsigned() ||
      !total->is_number_unsigned() || !df->is_object())
    return bad();
  if (df->size() > kMaxCorpusTerms) {
    return Status::invalid_argument("shard search: 'corpus.df' names more than " + std::to_string(kMaxCorpusTerms) +
                                    " terms");
  }
  LexicalStats s;
  s.chunks = chunks->get<uint64_t>();
  s.total_length = total->get<uint64_t>();
  if (s.total_length < s.chunks) return bad();  // every live chunk has a length of at least 1
  for (const auto& [term, n] : df->items()) {
    if (!n.is_number_unsigned()) return bad();
    s.df[term] = n.get<uint64_t>();
  }
  return s;
}

Json hit_to_json(const Hit& h) {
  return Json{{"doc_id", h.doc_id}, {"chunk_id", h.chunk_id}, {"title", h.title},
              {"kind", h.kind},     {"source", h.source},     {"url", h.url},
              {"section_path", h.section_path}, {"role", h.role}, {"text", h.text},
              {"metadata", h.metadata}};
}

Result<Hit> hit_from_json(const Json& j) {
  Hit h;
  try {
    h.doc_id = j.at("doc_id").get<std::string>();
    h.chunk_id = j.at("chunk_id").get<std::string>();
    h.title = j.at("title").get<std::string>();
    h.kind = j.at("kind").get<std::string>();
    h.source = j.at("source").get<std::string>();
    h.url = j.at("url").get<std::string>();
    h.section_path = j.at("section_path").get<std::vector<std::string>>();
    h.role = j.at("role").get<std::string>();
    h.text = j.at("text").get<std::string>();
    h.metadata = j.at("metadata").get<std::map<std::string, std::string>>();
  } catch (const Json::exception& e) {
    return Status::unavailable(std::string("a malformed chunk in a shard's answer: ") + e.what());
  }
  return h;
}

}  // namespace

LexicalStats shard_stats(const ServiceContext& shard, const SearchRequest& request) {
  return shard.store().lexical_stats(analyze(request.query));
}

Result<CandidateSet> shard_candidates(const ServiceContext& shard, const SearchRequest& request,
                                      const LexicalStats& corpus) {
  return shard.gather(request, &corpus);
}

namespace {

// Which of `all` are among the best `depth` of one half: those with `in`
// set, by `score` (highest first), ties to the earlier in `all`.
std::vector<bool> best_of_half(const std::vector<Candidate>& all, bool Candidate::*in, double Candidate::*score,
                               size_t depth) {
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
}

}  // namespace

BestOfHalves best_of_halves(std::span<const uint32_t> shards, std::span<CandidateSet* const> sets, size_t depth) {
  std::vector<size_t> order(shards.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return shards[a] < shards[b]; });
  BestOfHalves out;
  std::vector<Candidate> all;
  for (size_t i : order) {
    auto& items = sets[i]->items;
    std::sort(items.begin(), items.end(), [](const Candidate& a, const Candidate& b) { return a.label < b.label; });
    for (size_t k = 0; k < items.size(); ++k) {
      all.push_back(items[k]);
      out.from.emplace_back(i, k);
    }
  }
  out.lexical = best_of_half(all, &Candidate::has_lexical, &Candidate::lexical, depth);
  out.vector = best_of_half(all, &Candidate::vector_hit, &Candidate::vector, depth);
  return out;
}

Result<std::vector<FetchedChunk>> shard_fetch(const ServiceContext& shard, const SearchRequest& request,
                                              std::span<const uint64_t> labels, bool vectors) {
  const DocPredicate allow = make_doc_predicate(request.filters, request.groups);
  std::vector<FetchedChunk> out;
  out.reserve(labels.size());
  for (uint64_t label : labels) {
    FetchedChunk f;
    RAGD_ASSIGN_OR_RETURN(f.hit, shard.retriever().hit(label, allow));
    if (f.hit && vectors) {
      RAGD_ASSIGN_OR_RETURN(f.vector, shard.store().chunk_vector(label));
    }
    out.push_back(std::move(f));
  }
  return out;
}

// The stored document `doc_id` when the caller's groups alone let it
// through (it was met in a hit of this request, or is named by the
// question); nullopt when it is not here or they do not.
Result<std::optional<Document>> visible_document(const ServiceContext& shard, const SearchRequest& request,
                                                 const std::string& doc_id) {
  const DocPredicate allow = make_doc_predicate({}, request.groups);
  auto doc = shard.store().get_document(doc_id);
  if (!doc.is_ok()) {
    if (doc.status().code() == StatusCode::kNotFound) return std::optional<Document>();
    return doc.status();
  }
  DocInfo info;
  info.id = doc->id;
  info.acl = doc->acl;
  if (!allow(info)) return std::optional<Document>();
  return std::optional<Document>(std::move(doc).value());
}

Result<std::vector<Chunk>> shard_chunks(const ServiceContext& shard, const SearchRequest& request,
                                        const std::string& doc_id) {
  RAGD_ASSIGN_OR_RETURN(auto doc, visible_document(shard, request, doc_id));
  if (!doc) return std::vector<Chunk>();
  return shard.store().chunks_of(doc_id);
}

Result<std::optional<Document>> shard_document(const ServiceContext& shard, const SearchRequest& request,
                                               const std::string& doc_id) {
  return visible_document(shard, request, doc_id);
}

std::string search_body(const SearchRequest& request, const std::string& consistency_token) {
  Json filters = Json::object();
  if (!request.filters.kinds.empty()) filters["kinds"] = request.filters.kinds;
  if (!request.filters.sources.empty()) filters["sources"] = request.filters.sources;
  if (!request.filters.fields.empty()) filters["fields"] = request.filters.fields;
  if (request.filters.updated_after) filters["updated_after"] = *request.filters.updated_after;
  if (request.filters.updated_before) filters["updated_before"] = *request.filters.updated_before;
  Json j{{"query", request.query},
         {"k", request.k},
         {"mode", search_mode_name(request.mode)},
         {"dedup", request.dedup},
         {"groups", request.groups},
         {"filters", filters}};
  if (!consistency_token.empty()) j["consistency_token"] = consistency_token;
  return dump(j);
}

std::string stats_request(const std::string& body, std::span<const uint32_t> shards) {
  return with_fields(body, Json{{"shard_phase", "stats"}, {"shards", shards}});
}

std::string candidates_request(const std::string& body, const LexicalStats& corpus, std::span<const uint32_t> shards,
                               size_t depth) {
  return with_fields(body, Json{{"shard_phase", "candidates"},
                                {"corpus", stats_to_json(corpus)},
                                {"shards", shards},
                                {"depth", depth}});
}

std::string fetch_request(const std::string& body, std::span<const uint32_t> shards,
                          std::span<const std::vector<uint64_t>> labels, bool vectors) {
  return with_fields(body, Json{{"shard_phase", "fetch"}, {"shards", shards}, {"labels", labels}, {"vectors", vectors}});
}

std::string chunks_request(const std::string& body, const std::string& doc_id) {
  return with_fields(body, Json{{"shard_phase", "chunks"}, {"doc_id", doc_id}});
}

std::string document_request(const std::string& body, const std::string& doc_id) {
  return with_fields(body, Json{{"shard_phase", "document"}, {"doc_id", doc_id}});
}

std::string documents_where_request(const std::string& body, const std::string& key, const std::string& value) {
  return with_fields(body, Json{{"shard_phase", kDocumentsWherePhase}, {"key", key}, {"value", value}});
}

std::vector<std::string> shard_documents_where(const ServiceContext& shard, const std::string& key,
                                               const std::string& value) {
  std::vector<std::string> out;
  shard.store().for_each_document_info([&](const DocInfo& doc) {
    auto it = doc.metadata.find(key);
    if (it != doc.metadata.end() && it->second == value) out.push_back(doc.id);
  });
  return out;
}

Result<std::vector<std::string>> read_ids(const std::string& answer) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse(answer, "a shard's document ids"));
  auto ids = j.find("ids");
  if (ids == j.end() || !ids->is_array()) return Status::unavailable("a malformed id list from a shard");
  std::vector<std::string> out;
  for (const auto& id : *ids) {
    if (!id.is_string()) return Status::unavailable("a malformed id list from a shard");
    out.push_back(id.get<std::string>());
  }
  return out;
}

// The document travels as the stream's put message carries it (message.h):
// every field, so the coordinator reads what the replica holds.
Result<std::optional<Document>> read_document(const std::string& answer) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse(answer, "a shard's document"));
  auto doc = j.find("document");
  if (doc == j.end()) return Status::unavailable("a malformed document answer from a shard");
  if (doc->is_null()) return std::optional<Document>();
  auto m = decode_message(doc->dump());
  if (!m.is_ok() || m->remove) return Status::unavailable("a malformed document answer from a shard");
  return std::optional<Document>(std::move(m->doc));
}

Result<std::vector<Chunk>> read_chunks(const std::string& answer) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse(answer, "a shard's document chunks"));
  auto chunks = j.find("chunks");
  if (chunks == j.end() || !chunks->is_array()) return Status::unavailable("a malformed chunks answer from a shard");
  std::vector<Chunk> out;
  try {
    for (const auto& c : *chunks) {
      Chunk k;
      k.id = c.at("id").get<std::string>();
      k.doc_id = c.at("doc_id").get<std::string>();
      k.ordinal = c.at("ordinal").get<uint32_t>();
      k.role = c.at("role").get<std::string>();
      k.section_path = c.at("section_path").get<std::vector<std::string>>();
      k.text = c.at("text").get<std::string>();
      k.n_tokens = c.at("n_tokens").get<uint32_t>();
      out.push_back(std::move(k));
    }
  } catch (const Json::exception& e) {
    return Status::unavailable(std::string("a malformed chunk in a shard's answer: ") + e.what());
  }
  return out;
}

namespace {

// The "applied" and "behind" fields of a phase answer ("behind" is absent
// in the answers of a node from before it was added: level).
std::optional<ShardPosition> position_of(const Json& j) {
  auto a = j.find("applied"), b = j.find("behind");
  if (a == j.end() || !a->is_number_unsigned()) return std::nullopt;
  ShardPosition p;
  p.applied = a->get<uint64_t>();
  if (b != j.end()) {
    if (!b->is_number_unsigned()) return std::nullopt;
    p.behind = b->get<uint64_t>();
  }
  return p;
}

Result<StatsAnswer> stats_answer(const Json& j) {
  auto s = stats_from_json(j);
  auto at = position_of(j);
  auto after = j.find("applied_after");
  if (!s.is_ok() || !at || after == j.end() || !after->is_number_unsigned())
    return Status::unavailable("a malformed statistics answer from a shard");
  return StatsAnswer{std::move(s).value(), *at, after->get<uint64_t>() == at->applied};
}

Result<CandidatesAnswer> candidates_answer(const Json& j) {
  auto bad = [] { return Status::unavailable("a malformed candidates answer from a shard"); };
  auto at = position_of(j);
  if (!at) return bad();
  CandidateSet set;
  auto items = j.find("candidates");
  if (items == j.end() || !items->is_array()) return bad();
  set.lexical_searched = j.value("lexical_searched", false);
  set.vector_searched = j.value("vector_searched", false);
  auto cut = j.find("cut");
  if (cut != j.end() && !cut->is_boolean()) return bad();
  const bool was_cut = cut != j.end() && cut->get<bool>();
  for (const auto& c : *items) {
    if (!c.is_array() || c.size() != 5 || !c[0].is_number_unsigned() || !c[1].is_number() || !c[2].is_number() ||
        !c[3].is_number() || !c[4].is_number_unsigned())
      return bad();
    const int flags = c[4].get<int>();
    set.items.push_back({c[0].get<uint64_t>(), c[1].get<double>(), c[2].get<double>(), (flags & kHasLexical) != 0,
                         (flags & kHasVector) != 0, (flags & kVectorHit) != 0, c[3].get<double>(), 0});
  }
  return CandidatesAnswer{std::move(set), *at, was_cut};
}

Result<std::vector<FetchedChunk>> fetched_answer(const Json& j) {
  auto chunks = j.find("chunks");
  if (chunks == j.end() || !chunks->is_array()) return Status::unavailable("a malformed chunks answer from a shard");
  std::vector<FetchedChunk> out;
  out.reserve(chunks->size());
  for (const auto& c : *chunks) {
    FetchedChunk f;
    if (!c.is_null()) {
      RAGD_ASSIGN_OR_RETURN(Hit h, hit_from_json(c));
      f.hit = std::move(h);
      if (auto v = c.find("vector"); v != c.end()) {
        if (!v->is_array()) return Status::unavailable("a malformed vector in a shard's answer");
        f.vector.reserve(v->size());
        for (const auto& x : *v) {
          if (!x.is_number()) return Status::unavailable("a malformed vector in a shard's answer");
          f.vector.push_back(x.get<float>());
        }
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

// Each entry of a batched answer read by `one`, or the replica's reason for
// having none.
template <class T>
Result<ShardAnswers<T>> read_batch(const std::string& answer, size_t shards, Result<T> (*one)(const Json&)) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse(answer, "a shard phase's answer"));
  auto entries = j.find("shards");
  if (entries == j.end() || !entries->is_array() || entries->size() != shards)
    return Status::unavailable("a shard phase's answer without one entry per shard asked");
  ShardAnswers<T> out;
  out.reserve(shards);
  for (const Json& e : *entries) {
    if (!e.is_object()) {
      out.push_back(Status::unavailable("a malformed entry in a shard phase's answer"));
    } else if (auto error = e.find("error"); error != e.end()) {
      out.push_back(Status::unavailable(error->is_string() ? error->get<std::string>() : "a shard failed"));
    } else {
      out.push_back(one(e));
    }
  }
  return out;
}

}  // namespace

Result<ShardAnswers<StatsAnswer>> read_stats(const std::string& answer, size_t shards) {
  return read_batch(answer, shards, &stats_answer);
}

Result<ShardAnswers<CandidatesAnswer>> read_candidates(const std::string& answer, size_t shards) {
  return read_batch(answer, shards, &candidates_answer);
}

Result<ShardAnswers<std::vector<FetchedChunk>>> read_fetched(const std::string& answer, size_t shards) {
  return read_batch(answer, shards, &fetched_answer);
}

namespace {

// The shards a phase's body lists ("shards"; absent: the path's alone, in
// the same batched answer).
Result<std::vector<uint32_t>> listed_shards(const Json& j, uint32_t path_shard, uint32_t shards) {
  auto list = j.find("shards");
  if (list == j.end()) return std::vector<uint32_t>{path_shard};
  auto bad = [&] {
    return Status::invalid_argument("shard search: 'shards' must list distinct shard numbers below " +
                                    std::to_string(shards) + ", the path's first");
  };
  if (!list->is_array() || list->empty() || list->size() > shards) return bad();
  std::vector<uint32_t> out;
  for (const Json& n : *list) {
    if (!n.is_number_unsigned() || n.get<uint64_t>() >= shards) return bad();
    out.push_back(n.get<uint32_t>());
  }
  std::vector<uint32_t> sorted = out;
  std::sort(sorted.begin(), sorted.end());
  if (out.front() != path_shard || std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) return bad();
  return out;
}

// A fetch's labels, one list per shard.
Result<std::vector<std::vector<uint64_t>>> fetch_labels(const Json& j, size_t shards) {
  auto bad = [] {
    return Status::invalid_argument("shard search: 'labels' must hold one array of chunk labels per shard, at most " +
                                    std::to_string(kMaxFetchLabels) + " in all, each named once");
  };
  auto labels = j.find("labels");
  if (labels == j.end() || !labels->is_array() || labels->size() != shards) return bad();
  std::vector<std::vector<uint64_t>> out;
  size_t total = 0;
  for (const Json& list : *labels) {
    if (!list.is_array() || (total += list.size()) > kMaxFetchLabels) return bad();
    std::vector<uint64_t> want;
    want.reserve(list.size());
    for (const auto& l : list) {
      if (!l.is_number_unsigned()) return bad();
      want.push_back(l.get<uint64_t>());
    }
    std::vector<uint64_t> sorted = want;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) return bad();
    out.push_back(std::move(want));
  }
  return out;
}

// Phase 1 on one shard.
std::string stats_of(const ServiceContext& shard, const SearchRequest& request,
                     const std::function<ShardPosition()>& position) {
  const ShardPosition before = position();
  Json out = stats_to_json(shard_stats(shard, request));
  out["applied"] = before.applied;
  out["behind"] = before.behind;
  out["applied_after"] = position().applied;
  return dump(out);
}

// Phase 3 on one shard.
Result<std::string> fetch_of(const ServiceContext& shard, const SearchRequest& request,
                             std::span<const uint64_t> labels, bool vectors) {
  RAGD_ASSIGN_OR_RETURN(auto fetched, shard_fetch(shard, request, labels, vectors));
  Json chunks = Json::array();
  for (auto& f : fetched) {
    if (!f.hit) {
      chunks.push_back(nullptr);
      continue;
    }
    Json c = hit_to_json(*f.hit);
    if (!f.vector.empty()) c["vector"] = f.vector;
    chunks.push_back(std::move(c));
  }
  return dump(Json{{"chunks", std::move(chunks)}});
}

// fn(i, shard, position) for each listed shard, side by side: its status,
// or why this replica cannot answer it.
std::vector<Status> for_each_listed(const std::vector<uint32_t>& shards, const ShardAccess& access,
                                    const std::function<Status(size_t, const ServiceContext&,
                                                               const std::function<ShardPosition()>&)>& fn) {
  std::vector<Status> out(shards.size());
  access.run(shards.size(), [&](size_t i) {
    try {
      auto shard = access.open(shards[i]);
      out[i] = shard.is_ok() ? fn(i, **shard, [&] { return access.position(shards[i]); }) : shard.status();
    } catch (...) {  // std::bad_alloc, a dependency's throw
      out[i] = Status::internal("shard " + std::to_string(shards[i]) + " failed with an exception");
    }
  });
  return out;
}

// {"shards": [...]}: each shard's answer, or an error entry. A malformed
// request fails as a whole.
Result<std::string> gather(const std::vector<Status>& status, std::vector<std::string>& answers) {
  std::string out = "{\"shards\":[";
  for (size_t i = 0; i < status.size(); ++i) {
    if (i) out += ',';
    if (status[i].is_ok()) {
      out += answers[i];
    } else if (status[i].code() == StatusCode::kInvalidArgument) {
      return status[i];
    } else {
      out += dump(Json{{"error", status[i].message()}});
    }
  }
  return out + "]}";
}

// Phases 1 and 3: `one(i, shard, position)` for each listed shard.
Result<std::string> answer_each(const std::vector<uint32_t>& shards, const ShardAccess& access,
                                const std::function<Result<std::string>(size_t, const ServiceContext&,
                                                                        const std::function<ShardPosition()>&)>& one) {
  std::vector<std::string> answers(shards.size());
  auto status = for_each_listed(shards, access, [&](size_t i, const ServiceContext& s, const auto& position) {
    RAGD_ASSIGN_OR_RETURN(answers[i], one(i, s, position));
    return Status::ok();
  });
  return gather(status, answers);
}

// Phase 2: each shard's candidates; with `depth`, only those among the best
// `depth` of a half over all the listed shards (best_of_halves): the
// coordinator keeps no other. Only when every shard answered and is level
// with its stream (else the coordinator would take another replica's
// answer for the one that is not, and the others must not have been cut
// against it); such answers say "cut", and the coordinator takes all of
// them or none.
Result<std::string> answer_candidates(const std::vector<uint32_t>& shards, const ShardAccess& access,
                                      const SearchRequest& request, const LexicalStats& corpus,
                                      std::optional<size_t> depth) {
  std::vector<CandidateSet> sets(shards.size());
  std::vector<ShardPosition> at(shards.size());
  auto status = for_each_listed(shards, access, [&](size_t i, const ServiceContext& s, const auto& position) {
    at[i] = position();
    RAGD_ASSIGN_OR_RETURN(sets[i], shard_candidates(s, request, corpus));
    return Status::ok();
  });
  const bool all_level = std::all_of(status.begin(), status.end(), [](const Status& st) { return st.is_ok(); }) &&
                         std::all_of(at.begin(), at.end(), [](const ShardPosition& p) { return p.behind == 0; });
  const bool cut = depth && shards.size() > 1 && all_level;
  if (cut) {
    std::vector<CandidateSet*> of;
    for (auto& set : sets) of.push_back(&set);
    const BestOfHalves best = best_of_halves(shards, of, *depth);
    std::vector<std::vector<bool>> keep(shards.size());
    for (size_t i = 0; i < shards.size(); ++i) keep[i].assign(sets[i].items.size(), false);
    for (size_t a = 0; a < best.from.size(); ++a) {
      keep[best.from[a].first][best.from[a].second] = best.lexical[a] || best.vector[a];
    }
    for (size_t i = 0; i < shards.size(); ++i) {
      size_t k = 0;
      std::erase_if(sets[i].items, [&](const Candidate&) { return !keep[i][k++]; });
    }
  }
  std::vector<std::string> answers(shards.size());
  for (size_t i = 0; i < shards.size(); ++i) {
    if (!status[i].is_ok()) continue;
    Json items = Json::array();
    for (const Candidate& c : sets[i].items) {
      const int flags =
          (c.has_lexical ? kHasLexical : 0) | (c.has_vector ? kHasVector : 0) | (c.vector_hit ? kVectorHit : 0);
      items.push_back(Json::array({c.label, c.lexical, c.vector, c.exact_vector, flags}));
    }
    Json answer{{"applied", at[i].applied},
                {"behind", at[i].behind},
                {"lexical_searched", sets[i].lexical_searched},
                {"vector_searched", sets[i].vector_searched},
                {"candidates", std::move(items)}};
    if (cut) answer["cut"] = true;
    answers[i] = dump(answer);
  }
  return gather(status, answers);
}

}  // namespace

std::optional<Result<std::string>> answer_shard_phase(const std::string& body, uint32_t shard,
                                                      const SearchRequest& request, const ShardAccess& access) {
  Json j = Json::parse(body, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto phase = j.find("shard_phase");
  if (phase == j.end() || phase->is_null()) return std::nullopt;
  const std::string name = phase->is_string() ? phase->get<std::string>() : "";
  if (name == "stats" || name == "candidates" || name == "fetch") {
    auto shards = listed_shards(j, shard, access.shards);
    if (!shards.is_ok()) return Result<std::string>(shards.status());
    if (name == "stats") {
      return answer_each(*shards, access, [&](size_t, const ServiceContext& s, const auto& position) {
        return Result<std::string>(stats_of(s, request, position));
      });
    }
    if (name == "candidates") {
      auto corpus = stats_from_json(j.value("corpus", Json()));
      if (!corpus.is_ok()) return Result<std::string>(corpus.status());
      std::optional<size_t> depth;
      if (auto d = j.find("depth"); d != j.end()) {
        if (!d->is_number_unsigned() || d->get<uint64_t>() < 1 || d->get<uint64_t>() > kMaxCandidateDepth)
          return Result<std::string>(Status::invalid_argument("shard search: 'depth' must be 1 to " +
                                                              std::to_string(kMaxCandidateDepth)));
        depth = d->get<size_t>();
      }
      return answer_candidates(*shards, access, request, *corpus, depth);
    }
    auto labels = fetch_labels(j, shards->size());
    if (!labels.is_ok()) return Result<std::string>(labels.status());
    auto vectors = j.find("vectors");
    if (vectors != j.end() && !vectors->is_boolean())
      return Result<std::string>(Status::invalid_argument("shard search: 'vectors' must be true or false"));
    const bool with_vectors = vectors != j.end() && vectors->get<bool>();
    return answer_each(*shards, access, [&](size_t i, const ServiceContext& s, const auto&) {
      return fetch_of(s, request, (*labels)[i], with_vectors);
    });
  }
  // The other phases name one document of the path's shard.
  auto doc_id = [&]() -> Result<std::string> {
    auto id = j.find("doc_id");
    if (id == j.end() || !id->is_string()) return Status::invalid_argument("shard search: 'doc_id' must be a string");
    return id->get<std::string>();
  };
  auto here = [&]() -> Result<std::shared_ptr<ServiceContext>> { return access.open(shard); };
  if (name == "chunks") {
    auto id = doc_id();
    if (!id.is_ok()) return Result<std::string>(id.status());
    auto svc = here();
    if (!svc.is_ok()) return Result<std::string>(svc.status());
    auto chunks = shard_chunks(**svc, request, *id);
    if (!chunks.is_ok()) return Result<std::string>(chunks.status());
    Json out = Json::array();
    for (const Chunk& c : *chunks) {
      out.push_back({{"id", c.id},
                     {"doc_id", c.doc_id},
                     {"ordinal", c.ordinal},
                     {"role", c.role},
                     {"section_path", c.section_path},
                     {"text", c.text},
                     {"n_tokens", c.n_tokens}});
    }
    return dump(Json{{"chunks", std::move(out)}});
  }
  if (name == "document") {
    auto id = doc_id();
    if (!id.is_ok()) return Result<std::string>(id.status());
    auto svc = here();
    if (!svc.is_ok()) return Result<std::string>(svc.status());
    auto doc = shard_document(**svc, request, *id);
    if (!doc.is_ok()) return Result<std::string>(doc.status());
    if (!*doc) return dump(Json{{"document", nullptr}});
    WriteMessage m;
    m.doc = std::move(**doc);
    return dump(Json{{"document", Json::parse(encode_message(m))}});
  }
  if (name == kDocumentsWherePhase) {
    auto key = j.find("key"), value = j.find("value");
    if (key == j.end() || !key->is_string() || value == j.end() || !value->is_string())
      return Result<std::string>(Status::invalid_argument("shard search: 'key' and 'value' must be strings"));
    // What it is for, and no more: the documents of one sync source.
    if (*key != sync::kSourceMetadataKey)
      return Result<std::string>(Status::invalid_argument(std::string("shard search: 'key' must be \"") +
                                                          sync::kSourceMetadataKey + "\""));
    auto svc = here();
    if (!svc.is_ok()) return Result<std::string>(svc.status());
    return dump(Json{{"ids", shard_documents_where(**svc, key->get<std::string>(), value->get<std::string>())}});
  }
  return Result<std::string>(Status::invalid_argument(
      "shard search: 'shard_phase' must be \"stats\", \"candidates\", \"fetch\", \"chunks\", \"document\" or "
      "\"documents_where\""));
}

}  // namespace ragd::cluster

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

std::string stats_request(const std::string& body) { return with_fields(body, Json{{"shard_phase", "stats"}}); }

std::string candidates_request(const std::string& body, const LexicalStats& corpus) {
  return with_fields(body, Json{{"shard_phase", "candidates"}, {"corpus", stats_to_json(corpus)}});
}

std::string fetch_request(const std::string& body, std::span<const uint64_t> labels, bool vectors) {
  return with_fields(body, Json{{"shard_phase", "fetch"},
                                {"labels", std::vector<uint64_t>(labels.begin(), labels.end())},
                                {"vectors", vectors}});
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

}  // namespace

Result<StatsAnswer> read_stats(const std::string& answer) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse(answer, "a shard's statistics"));
  auto s = stats_from_json(j);
  auto at = position_of(j);
  auto after = j.find("applied_after");
  if (!s.is_ok() || !at || after == j.end() || !after->is_number_unsigned())
    return Status::unavailable("a malformed statistics answer from a shard");
  return StatsAnswer{std::move(s).value(), *at, after->get<uint64_t>() == at->applied};
}

Result<CandidatesAnswer> read_candidates(const std::string& answer) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse(answer, "a shard's candidates"));
  auto bad = [] { return Status::unavailable("a malformed candidates answer from a shard"); };
  auto at = position_of(j);
  if (!at) return bad();
  CandidateSet set;
  auto items = j.find("candidates");
  if (items == j.end() || !items->is_array()) return bad();
  set.lexical_searched = j.value("lexical_searched", false);
  set.vector_searched = j.value("vector_searched", false);
  for (const auto& c : *items) {
    if (!c.is_array() || c.size() != 5 || !c[0].is_number_unsigned() || !c[1].is_number() || !c[2].is_number() ||
        !c[3].is_number() || !c[4].is_number_unsigned())
      return bad();
    const int flags = c[4].get<int>();
    set.items.push_back({c[0].get<uint64_t>(), c[1].get<double>(), c[2].get<double>(), (flags & kHasLexical) != 0,
                         (flags & kHasVector) != 0, (flags & kVectorHit) != 0, c[3].get<double>(), 0});
  }
  return CandidatesAnswer{std::move(set), *at};
}

Result<std::vector<FetchedChunk>> read_fetched(const std::string& answer) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse(answer, "a shard's chunks"));
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

std::optional<Result<std::string>> answer_shard_phase(const std::string& body, const ServiceContext& shard,
                                                      const SearchRequest& request,
                                                      const std::function<ShardPosition()>& position) {
  Json j = Json::parse(body, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto phase = j.find("shard_phase");
  if (phase == j.end() || phase->is_null()) return std::nullopt;
  const std::string name = phase->is_string() ? phase->get<std::string>() : "";
  if (name == "stats") {
    const ShardPosition before = position();
    Json out = stats_to_json(shard_stats(shard, request));
    out["applied"] = before.applied;
    out["behind"] = before.behind;
    out["applied_after"] = position().applied;
    return dump(out);
  }
  if (name == "candidates") {
    const ShardPosition before = position();
    auto corpus = stats_from_json(j.value("corpus", Json()));
    if (!corpus.is_ok()) return Result<std::string>(corpus.status());
    auto set = shard_candidates(shard, request, *corpus);
    if (!set.is_ok()) return Result<std::string>(set.status());
    Json items = Json::array();
    for (const Candidate& c : set->items) {
      const int flags = (c.has_lexical ? kHasLexical : 0) | (c.has_vector ? kHasVector : 0) |
                        (c.vector_hit ? kVectorHit : 0);
      items.push_back(Json::array({c.label, c.lexical, c.vector, c.exact_vector, flags}));
    }
    return dump(Json{{"applied", before.applied},
                     {"behind", before.behind},
                     {"lexical_searched", set->lexical_searched},
                     {"vector_searched", set->vector_searched},
                     {"candidates", std::move(items)}});
  }
  if (name == "fetch") {
    auto labels = j.find("labels");
    if (labels == j.end() || !labels->is_array() || labels->size() > kMaxFetchLabels)
      return Result<std::string>(Status::invalid_argument(
          "shard search: 'labels' must be an array of at most " + std::to_string(kMaxFetchLabels) + " chunk labels"));
    std::vector<uint64_t> want;
    want.reserve(labels->size());
    for (const auto& l : *labels) {
      if (!l.is_number_unsigned())
        return Result<std::string>(Status::invalid_argument("shard search: a chunk label is a non-negative integer"));
      want.push_back(l.get<uint64_t>());
    }
    std::vector<uint64_t> sorted = want;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      return Result<std::string>(Status::invalid_argument("shard search: 'labels' names a chunk twice"));
    auto vectors = j.find("vectors");
    if (vectors != j.end() && !vectors->is_boolean())
      return Result<std::string>(Status::invalid_argument("shard search: 'vectors' must be true or false"));
    auto fetched = shard_fetch(shard, request, want, vectors != j.end() && vectors->get<bool>());
    if (!fetched.is_ok()) return Result<std::string>(fetched.status());
    Json chunks = Json::array();
    for (auto& f : *fetched) {
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
  // The "chunks" and "document" phases name one document.
  auto doc_id = [&]() -> Result<std::string> {
    auto id = j.find("doc_id");
    if (id == j.end() || !id->is_string()) return Status::invalid_argument("shard search: 'doc_id' must be a string");
    return id->get<std::string>();
  };
  if (name == "chunks") {
    auto id = doc_id();
    if (!id.is_ok()) return Result<std::string>(id.status());
    auto chunks = shard_chunks(shard, request, *id);
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
    auto doc = shard_document(shard, request, *id);
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
    return dump(Json{{"ids", shard_documents_where(shard, key->get<std::string>(), value->get<std::string>())}});
  }
  return Result<std::string>(Status::invalid_argument(
      "shard search: 'shard_phase' must be \"stats\", \"candidates\", \"fetch\", \"chunks\", \"document\" or "
      "\"documents_where\""));
}

}  // namespace ragd::cluster

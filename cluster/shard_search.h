// A shard replica's part of a coordinated search, and its wire format.
//
// The coordinator (coordinator.cpp) runs one search in three phases over
// one replica per shard, so that a sharded store answers as a single store
// with the same documents would (cluster/README.md, "Read path"):
//   1. stats:      BM25's statistics of the query's terms on each shard,
//                  summed by the coordinator;
//   2. candidates: each shard gathers both halves' candidates to the
//                  retriever's full depth, BM25 scored with the sums;
//                  the coordinator keeps the best of each half over all
//                  shards and fuses them (Retriever::fuse);
//   3. fetch:      the chunks the coordinator walks in fused order, with
//                  their vectors, for near-duplicate removal and the hits.
// A shard held by the coordinator's node answers in process through these
// functions; a peer's answers through POST /v1/collections/shard-<s>/search
// with "shard_phase" in the body (the caller's request, with its filters,
// and the caller's key, whose groups the peer binds itself).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "index/store.h"
#include "ragd/search.h"
#include "ragd/status.h"
#include "retrieve/retriever.h"
#include "service/service.h"

namespace ragd::cluster {

// Phase 1: the shard's statistics for the request's analysed query terms.
LexicalStats shard_stats(const ServiceContext& shard, const SearchRequest& request);

// Phase 2: the shard's candidates, BM25 scored with `corpus`.
Result<CandidateSet> shard_candidates(const ServiceContext& shard, const SearchRequest& request,
                                      const LexicalStats& corpus);

// Several shards' candidates as one store holding all their chunks picks
// the best `depth` of each half: `sets[i]` holds shard `shards[i]`'s
// (their items are sorted by label here). Ties in a half go to the lower
// shard, then the lower label. Returns, for each candidate in that order
// (`from`: its set, and its index there), whether it is among the best of
// the lexical half and of the vector half. The coordinator keeps these
// over all shards; a peer answering several shards first drops those of
// its candidates that are in neither half's best over its own shards: they
// cannot be among the best over all.
struct BestOfHalves {
  std::vector<std::pair<size_t, size_t>> from;
  std::vector<bool> lexical, vector;
};
BestOfHalves best_of_halves(std::span<const uint32_t> shards, std::span<CandidateSet* const> sets, size_t depth);

// Phase 3: one chunk the coordinator walks; `hit` is empty when the chunk is
// gone (deleted since phase 2) or the request's filters and groups do not
// let its document through (checked again here, not trusted to the caller).
struct FetchedChunk {
  std::optional<Hit> hit;
  std::vector<float> vector;  // only when asked for, and stored
};
Result<std::vector<FetchedChunk>> shard_fetch(const ServiceContext& shard, const SearchRequest& request,
                                              std::span<const uint64_t> labels, bool vectors);

// A document's chunks for an answer (KnowledgeReader::chunks_of): empty
// when it is not in this shard or the caller's groups do not let its
// document through.
Result<std::vector<Chunk>> shard_chunks(const ServiceContext& shard, const SearchRequest& request,
                                        const std::string& doc_id);

// A document as stored (KnowledgeReader::document): nullopt when it is not
// in this shard or the caller's groups do not let it through.
Result<std::optional<Document>> shard_document(const ServiceContext& shard, const SearchRequest& request,
                                               const std::string& doc_id);

// What a sync source stored (Node::documents_where): the ids of this
// shard's documents with metadata `key` = `value`, whatever their ACL. A
// peer answers it only to another node or an admin (api/routes/search.cpp),
// and only for key "sync_source".
std::vector<std::string> shard_documents_where(const ServiceContext& shard, const std::string& key,
                                               const std::string& value);
inline constexpr const char* kDocumentsWherePhase = "documents_where";
// A peer snapshot of the shard's store (cluster/snapshot.h): made, read in
// pieces, closed. Like documents_where, only for the cluster's nodes (with
// a secret_file) and admin keys: a snapshot holds every document whatever
// its ACL. Node::answer_snapshot_phase answers them.
inline constexpr const char* kSnapshotPhase = "snapshot";
inline constexpr const char* kSnapshotReadPhase = "snapshot_read";
inline constexpr const char* kSnapshotClosePhase = "snapshot_close";
inline bool is_snapshot_phase(std::string_view name) {
  return name == kSnapshotPhase || name == kSnapshotReadPhase || name == kSnapshotClosePhase;
}

// The largest number of labels one fetch may name (a coordinator asks for
// at most twice the hits still missing), and of terms in a corpus.
inline constexpr size_t kMaxFetchLabels = 2 * kMaxSearchK;
inline constexpr size_t kMaxCorpusTerms = 4096;
// The largest depth a candidates request may name.
inline constexpr size_t kMaxCandidateDepth = 100000;

// The wire format. The request side adds fields to the caller's /v1/search
// body; the answer side is the body a peer answers with.
// The body of a /v1/search request as the api/ route parses it
// (api/json_codec.h), with the caller's groups and `consistency_token`
// ("" = none): what every phase's request starts from.
std::string search_body(const SearchRequest& request, const std::string& consistency_token);
// Phases 1 to 3 ask a peer for every shard of the search it is asked for
// in one request: the body's "shards" lists them, the shard of the route's
// path first ("shards" absent: that one alone), and a fetch's "labels"
// holds one list per shard. Its answer, {"shards": [...]}, holds one entry
// per shard in that order: the shard's answer, or {"error": why} when this
// replica cannot give it (it holds no copy, or has not applied the
// caller's consistency token in time).
std::string stats_request(const std::string& body, std::span<const uint32_t> shards);
// `depth`: the retriever's, the candidates of each half the coordinator
// keeps over all shards (a peer sends no others, best_of_halves).
std::string candidates_request(const std::string& body, const LexicalStats& corpus, std::span<const uint32_t> shards,
                               size_t depth);
std::string fetch_request(const std::string& body, std::span<const uint32_t> shards,
                          std::span<const std::vector<uint64_t>> labels, bool vectors);
std::string chunks_request(const std::string& body, const std::string& doc_id);
std::string document_request(const std::string& body, const std::string& doc_id);
std::string documents_where_request(const std::string& body, const std::string& key, const std::string& value);
// Where a replica stood when it answered: the stream sequence it had
// applied (read before it searched), and how far behind its stream it was:
// the stream's last sequence as its applier last read it (about once a
// second) minus that, 0 when level or not known yet. A healthy replica
// applies a message within milliseconds, so `behind` > 0 means it has not
// applied what the stream held a second ago: it is replaying or stuck.
struct ShardPosition {
  uint64_t applied = 0;
  uint64_t behind = 0;
};
struct StatsAnswer {
  LexicalStats stats;
  ShardPosition at;
  bool steady = false;  // `applied` did not move while the statistics were read
};
struct CandidatesAnswer {
  CandidateSet set;
  ShardPosition at;
  // The peer dropped candidates that are not among the best over the
  // shards of its answer (best_of_halves): exact only when the coordinator
  // takes every shard of that answer from it.
  bool cut = false;
};
// A batched answer to a request for `shards` shards: each shard's answer,
// or why it has none. kUnavailable when an answer (or the whole of it) is
// malformed: the next replica may do better.
template <class T>
using ShardAnswers = std::vector<Result<T>>;
Result<ShardAnswers<StatsAnswer>> read_stats(const std::string& answer, size_t shards);
Result<ShardAnswers<CandidatesAnswer>> read_candidates(const std::string& answer, size_t shards);
Result<ShardAnswers<std::vector<FetchedChunk>>> read_fetched(const std::string& answer, size_t shards);
Result<std::vector<Chunk>> read_chunks(const std::string& answer);
Result<std::optional<Document>> read_document(const std::string& answer);
Result<std::vector<std::string>> read_ids(const std::string& answer);

// What a node gives the peer's side for each shard a request names.
struct ShardAccess {
  // The cluster's number of shards: a request naming others is malformed.
  uint32_t shards = 0;
  // The shard's copy here, once it has applied the caller's consistency
  // token: kNotFound when this node holds none, kUnavailable
  // while it is behind the token.
  std::function<Result<std::shared_ptr<ServiceContext>>(uint32_t)> open;
  // Where the copy stands (applied, behind).
  std::function<ShardPosition(uint32_t)> position;
  // Runs fn(0), ..., fn(n - 1) side by side and returns when all have.
  std::function<void(size_t n, const std::function<void(size_t)>& fn)> run;
};

// The peer's side: when the body of a shard collection's search names a
// "shard_phase", answers it (phases 1 to 3 above for every shard the body
// lists, "chunks", "document" or "documents_where" for `shard`, the
// path's) and returns the answer's body; nullopt when the body names none
// (an ordinary search). A malformed phase request is kInvalidArgument.
// The statistics and candidates answers carry where each replica stands
// (read before the shard is searched, and for statistics the applied
// sequence after as well).
std::optional<Result<std::string>> answer_shard_phase(const std::string& body, uint32_t shard,
                                                      const SearchRequest& request, const ShardAccess& access);

}  // namespace ragd::cluster

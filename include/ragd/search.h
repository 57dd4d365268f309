// Search requests and hits: what retrieve/ takes and returns.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ragd/document.h"
#include "ragd/status.h"

namespace ragd {

enum class SearchMode { kLexical, kVector, kHybrid };

const char* search_mode_name(SearchMode mode);
// Parses "lexical", "vector" or "hybrid"; nullopt otherwise.
std::optional<SearchMode> parse_search_mode(const std::string& name);

struct SearchFilters {
  std::vector<std::string> kinds;    // any of; empty = all
  std::vector<std::string> sources;  // any of; empty = all
  // Exact equality on Document::metadata (and "id", "title", "url").
  std::map<std::string, std::string> fields;
  std::optional<int64_t> updated_after;   // unix seconds, inclusive
  std::optional<int64_t> updated_before;  // unix seconds, inclusive
};

// The most results one search may ask for (k), on every route and command.
inline constexpr int kMaxSearchK = 1000;

struct SearchRequest {
  std::string query;
  int k = 10;
  SearchMode mode = SearchMode::kHybrid;
  SearchFilters filters;
  // Caller's groups. A document with an ACL is visible only when it shares a
  // group with these; a document without ACL is public.
  std::vector<std::string> groups;
  // Drops near-duplicate chunks from the hits. Default: true.
  bool dedup = true;
};

struct Hit {
  std::string doc_id;
  std::string chunk_id;
  double score = 0;          // fused score, higher is better
  double score_lexical = 0;  // BM25 (0 if not matched lexically)
  double score_vector = 0;   // cosine similarity (0 if not scored)
  std::string title;
  std::string kind;
  std::string source;
  std::string url;
  std::vector<std::string> section_path;
  std::string role;
  std::string text;
  std::map<std::string, std::string> metadata;
};

inline const char* search_mode_name(SearchMode mode) {
  switch (mode) {
    case SearchMode::kLexical: return "lexical";
    case SearchMode::kVector: return "vector";
    case SearchMode::kHybrid: return "hybrid";
  }
  return "hybrid";
}

inline std::optional<SearchMode> parse_search_mode(const std::string& name) {
  if (name == "lexical" || name == "bm25") return SearchMode::kLexical;
  if (name == "vector" || name == "dense") return SearchMode::kVector;
  if (name == "hybrid") return SearchMode::kHybrid;
  return std::nullopt;
}

// Where an answerer reads when not from its own store: a cluster's
// coordinator, which answers for every shard as one store (cluster/). Both
// get the caller's request with its groups bound; chunks_of is asked only
// about documents the caller has met in a hit, and answers empty when the
// document is gone or the caller may not see it.
struct KnowledgeReader {
  std::function<Result<std::vector<Hit>>(const SearchRequest&)> retrieve;
  std::function<Result<std::vector<Chunk>>(const SearchRequest&, const std::string& doc_id)> chunks_of;
  // A document as stored (ticket assist reads the tickets its hits name);
  // nullopt when it is gone or the caller's groups do not let it through.
  std::function<Result<std::optional<Document>>(const SearchRequest&, const std::string& doc_id)> document;
};

}  // namespace ragd

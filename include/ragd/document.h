// Document and Chunk: what connectors produce, ingest normalises and chunks,
// and the index stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ragd {

// A structural piece of a document, as the connector parsed it. The chunker
// never merges blocks with different section paths or roles.
struct Block {
  // Heading path, outermost first: {"VPN", "Troubleshooting", "Error 809"}.
  std::vector<std::string> section_path;
  // "body" for prose; for tickets "problem", "resolution" or "comment".
  std::string role = "body";
  std::string text;
};

// The longest document id, in bytes (ingest and the store both refuse longer).
inline constexpr size_t kMaxDocumentIdBytes = 512;

// One document: a ticket, a runbook, a policy or any other text.
struct Document {
  std::string id;      // stable, unique: "INC0012345", "runbooks/vpn.md"
  std::string title;
  std::string kind;    // "ticket", "runbook", "policy" or "document"
  std::string source;  // connector: "servicenow", "jira", "zendesk", "csv", "jsonl", "file", "api"
  std::string url;
  // Filterable fields (category, assignment_group, priority, state, ...).
  std::map<std::string, std::string> metadata;
  // Groups allowed to read it. Empty: public.
  std::vector<std::string> acl;
  int64_t created_at = 0;  // unix seconds, 0 = unknown
  int64_t updated_at = 0;  // unix seconds, 0 = unknown
  // Plain text of the whole document (after normalisation). When `blocks` is
  // empty the chunker derives structure from `text` (Markdown headings).
  std::string text;
  std::vector<Block> blocks;
  // Where it came from, for error messages: "kb/export.json record 3".
  std::string origin;
};

struct Chunk {
  std::string id;      // "<doc_id>#<ordinal>"
  std::string doc_id;
  uint32_t ordinal = 0;
  std::string role = "body";  // as Block::role
  std::vector<std::string> section_path;
  std::string text;
  uint32_t n_tokens = 0;  // by the chunker's token count
};

}  // namespace ragd

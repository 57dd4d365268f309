// The store's RocksDB records and how they are encoded. Column families:
//   documents  doc id -> DocRecord (content hash, DocInfo, chunk labels)
//   doc_text   doc id -> the document's text, blocks and origin
//   chunks     label  -> Chunk
//   chunkinfo  label  -> ChunkInfo (doc id, length, term counts)
//   vectors    label  -> dim float32, L2-normalised
//   postings   (unused since layout 2: the in-memory inverted index is built
//              from chunkinfo's term lists; old stores have it emptied)
//   meta       name   -> value (encoder, dim, index type, counters)
//   oplog      op     -> OpRecord (vector adds/removes since the ANN snapshot)
// Labels and op numbers are 8-byte big-endian keys.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "index/lexical_index.h"
#include "index/store.h"
#include "ragd/document.h"

namespace ragd {

struct DocRecord {
  std::string hash;
  DocInfo info;
  int64_t created_at = 0;
  std::vector<uint64_t> labels;
  bool has_vectors = false;
};

struct ChunkInfo {
  std::string doc_id;
  uint32_t length = 0;  // analysed tokens (BM25 document length)
  std::vector<TermFreq> terms;
};

enum class OpType : uint8_t { kAdd = 1, kRemove = 2 };

std::string encode_doc_record(const DocRecord& r);
bool decode_doc_record(std::string_view in, DocRecord& r);

std::string encode_doc_text(const Document& d);
bool decode_doc_text(std::string_view in, Document& d);

std::string encode_chunk(const Chunk& c);
bool decode_chunk(std::string_view in, Chunk& c);

std::string encode_chunk_info(const ChunkInfo& c);
// The same without building a ChunkInfo (no copy of the terms).
std::string encode_chunk_info(std::string_view doc_id, uint32_t length, std::span<const TermFreq> terms);
bool decode_chunk_info(std::string_view in, ChunkInfo& c);

// Decodes a chunkinfo record's length and term counts without copying the
// terms: they point into `in`. `terms` is cleared first.
bool decode_chunk_info_terms(std::string_view in, uint32_t& length,
                             std::vector<std::pair<std::string_view, uint32_t>>& terms);

std::string encode_op(OpType type, uint64_t label);
bool decode_op(std::string_view in, OpType& type, uint64_t& label);


}  // namespace ragd

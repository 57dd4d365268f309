// Encoding of the store's RocksDB records; see index/records.h.
#include "index/records.h"

#include "index/codec.h"

namespace ragd {

namespace {
constexpr uint64_t kVersion = 1;
}

std::string encode_doc_record(const DocRecord& r) {
  std::string out;
  codec::Writer w(out);
  w.u64(kVersion);
  w.str(r.hash);
  w.str(r.info.id);
  w.str(r.info.title);
  w.str(r.info.kind);
  w.str(r.info.source);
  w.str(r.info.url);
  w.map(r.info.metadata);
  w.strs(r.info.acl);
  w.i64(r.info.updated_at);
  w.i64(r.created_at);
  w.u64(r.labels.size());
  for (uint64_t l : r.labels) w.u64(l);
  w.u64(r.has_vectors ? 1 : 0);
  return out;
}

bool decode_doc_record(std::string_view in, DocRecord& r) {
  codec::Reader rd(in);
  if (rd.u64() != kVersion) return false;
  r.hash = rd.str();
  r.info.id = rd.str();
  r.info.title = rd.str();
  r.info.kind = rd.str();
  r.info.source = rd.str();
  r.info.url = rd.str();
  r.info.metadata = rd.map();
  r.info.acl = rd.strs();
  r.info.updated_at = rd.i64();
  r.created_at = rd.i64();
  uint64_t n = rd.u64();
  if (!rd.ok() || n > in.size()) return false;
  r.labels.resize(n);
  for (auto& l : r.labels) l = rd.u64();
  r.has_vectors = rd.u64() != 0;
  return rd.ok();
}

std::string encode_doc_text(const Document& d) {
  std::string out;
  codec::Writer w(out);
  w.u64(kVersion);
  w.str(d.text);
  w.u64(d.blocks.size());
  for (const auto& b : d.blocks) {
    w.strs(b.section_path);
    w.str(b.role);
    w.str(b.text);
  }
  w.str(d.origin);
  return out;
}

bool decode_doc_text(std::string_view in, Document& d) {
  codec::Reader rd(in);
  if (rd.u64() != kVersion) return false;
  d.text = rd.str();
  uint64_t n = rd.u64();
  if (!rd.ok() || n > in.size()) return false;
  d.blocks.resize(n);
  for (auto& b : d.blocks) {
    b.section_path = rd.strs();
    b.role = rd.str();
    b.text = rd.str();
  }
  d.origin = rd.str();
  return rd.ok();
}

std::string encode_chunk(const Chunk& c) {
  std::string out;
  codec::Writer w(out);
  w.u64(kVersion);
  w.str(c.id);
  w.str(c.doc_id);
  w.u64(c.ordinal);
  w.str(c.role);
  w.strs(c.section_path);
  w.str(c.text);
  w.u64(c.n_tokens);
  return out;
}

bool decode_chunk(std::string_view in, Chunk& c) {
  codec::Reader rd(in);
  if (rd.u64() != kVersion) return false;
  c.id = rd.str();
  c.doc_id = rd.str();
  c.ordinal = static_cast<uint32_t>(rd.u64());
  c.role = rd.str();
  c.section_path = rd.strs();
  c.text = rd.str();
  c.n_tokens = static_cast<uint32_t>(rd.u64());
  return rd.ok();
}

std::string encode_chunk_info(const ChunkInfo& c) { return encode_chunk_info(c.doc_id, c.length, c.terms); }

std::string encode_chunk_info(std::string_view doc_id, uint32_t length, std::span<const TermFreq> terms) {
  std::string out;
  size_t bytes = doc_id.size() + 16;
  for (const auto& t : terms) bytes += t.term.size() + 3;
  out.reserve(bytes);
  codec::Writer w(out);
  w.u64(kVersion);
  w.str(doc_id);
  w.u64(length);
  w.u64(terms.size());
  for (const auto& t : terms) {
    w.str(t.term);
    w.u64(t.tf);
  }
  return out;
}

bool decode_chunk_info(std::string_view in, ChunkInfo& c) {
  codec::Reader rd(in);
  if (rd.u64() != kVersion) return false;
  c.doc_id = rd.str();
  c.length = static_cast<uint32_t>(rd.u64());
  uint64_t n = rd.u64();
  if (!rd.ok() || n > in.size()) return false;
  c.terms.resize(n);
  for (auto& t : c.terms) {
    t.term = rd.str();
    t.tf = static_cast<uint32_t>(rd.u64());
  }
  return rd.ok();
}

bool decode_chunk_info_terms(std::string_view in, uint32_t& length,
                             std::vector<std::pair<std::string_view, uint32_t>>& terms) {
  terms.clear();
  codec::Reader rd(in);
  if (rd.u64() != kVersion) return false;
  (void)rd.view();  // doc id
  length = static_cast<uint32_t>(rd.u64());
  uint64_t n = rd.u64();
  if (!rd.ok() || n > in.size()) return false;
  terms.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view t = rd.view();
    auto tf = static_cast<uint32_t>(rd.u64());
    terms.emplace_back(t, tf);
  }
  return rd.ok();
}

std::string encode_op(OpType type, uint64_t label) {
  std::string out;
  codec::Writer w(out);
  w.u64(static_cast<uint64_t>(type));
  w.u64(label);
  return out;
}

bool decode_op(std::string_view in, OpType& type, uint64_t& label) {
  codec::Reader rd(in);
  uint64_t t = rd.u64();
  label = rd.u64();
  if (!rd.ok() || (t != 1 && t != 2)) return false;
  type = static_cast<OpType>(t);
  return true;
}

}  // namespace ragd

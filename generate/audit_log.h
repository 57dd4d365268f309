// The answer audit log: one JSON line per answer, appended and fsynced
// before the answer is returned, never rewritten. `ragd audit` reads it with
// query_audit_log().
//
// Crash tolerance: a torn last line (a crash mid-write) is skipped on read,
// and open() starts the next record on a fresh line so it is not glued to
// the torn one. A malformed line elsewhere is skipped and counted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ragd/status.h"

namespace ragd {

struct AuditRecord {
  std::string request_id;
  int64_t time_ms = 0;            // unix milliseconds when the request started
  std::string caller;             // API key name / user, "" when unknown
  std::string task;               // "answer", "summarize_ticket", "suggest_resolution", "chat"
  std::string query;
  std::vector<std::string> retrieved_doc_ids;  // in rank order, distinct
  std::vector<std::string> cited_doc_ids;      // documents the final answer cites, distinct
  std::string grounding;          // "verified", "partial", "fallback", "refused"
  std::string outcome = "ok";     // "ok", "cancelled", "timeout", "error"
  std::string finish_reason;      // the generator's ("stop", "length", ...)
  std::string model_file;
  std::string model_sha256;
  // Provenance beside the model: the answerer ("llm", "extractive"), the
  // encoder fingerprint, the prompt template version and the store's write
  // sequence when the request started. Empty/0 in records written before
  // these fields existed.
  std::string answerer;
  std::string encoder;
  std::string prompt_version;
  uint64_t store_sequence = 0;
  // Escalation records (task "escalation", govern/escalation.h): the
  // upstream's URL, the outcome (Answer::escalation), and the exact request
  // body that left the box (already redacted); error: why it failed. Empty
  // in other records.
  std::string escalation_url;
  std::string escalation_outcome;
  std::string escalation_sent;
  std::string escalation_error;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double latency_ms = 0;          // request start to answer
  double first_token_ms = 0;      // request start to the first generated token, 0 if none
};

std::string audit_record_to_json(const AuditRecord& record);
// Errors: kCorruption naming what is wrong.
Result<AuditRecord> audit_record_from_json(std::string_view line);

struct AuditLogOptions {
  // fsync (fdatasync) after every record, so an acknowledged answer is
  // durably logged. Default: true.
  bool sync = true;
};

// Thread-safe: append() serialises writers with a mutex; each record is one
// write() on an O_APPEND descriptor.
class AuditLog {
 public:
  // Creates the file (and its directory) if needed.
  static Result<std::unique_ptr<AuditLog>> open(const std::filesystem::path& path, AuditLogOptions options = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  Status append(const AuditRecord& record);
  const std::filesystem::path& path() const { return path_; }

 private:
  AuditLog(std::filesystem::path path, int fd, AuditLogOptions options)
      : path_(std::move(path)), fd_(fd), options_(options) {}
  std::filesystem::path path_;
  int fd_ = -1;
  AuditLogOptions options_;
  std::mutex mu_;  // guards writes to fd_
};

struct AuditQuery {
  std::optional<int64_t> from_ms;  // time_ms >= from_ms
  std::optional<int64_t> to_ms;    // time_ms <= to_ms
  std::string caller;              // exact; "" = any
  std::string doc_id;              // retrieved or cited; "" = any
  std::string request_id;          // exact; "" = any
  size_t limit = 0;                // newest `limit` matches; 0 = all
};

struct AuditReadStats {
  size_t lines = 0;        // non-empty lines read
  size_t bad_lines = 0;    // malformed lines skipped (not counting a torn tail)
  bool torn_tail = false;  // the last line was incomplete and skipped
};

// Matching records in file (time) order. A missing file is an empty log.
Result<std::vector<AuditRecord>> query_audit_log(const std::filesystem::path& path, const AuditQuery& query,
                                                 AuditReadStats* stats = nullptr);

// SHA-256 of a file as 64 lowercase hex digits (the model hash in records).
Result<std::string> sha256_file(const std::filesystem::path& path);
// SHA-256 of bytes, hex.
std::string sha256_hex(std::string_view bytes);

}  // namespace ragd

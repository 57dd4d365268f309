#include "generate/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

namespace ragd {

using json = nlohmann::json;

std::string audit_record_to_json(const AuditRecord& r) {
  json j = {
      {"request_id", r.request_id},
      {"time_ms", r.time_ms},
      {"caller", r.caller},
      {"task", r.task},
      {"query", r.query},
      {"retrieved_doc_ids", r.retrieved_doc_ids},
      {"cited_doc_ids", r.cited_doc_ids},
      {"grounding", r.grounding},
      {"outcome", r.outcome},
      {"finish_reason", r.finish_reason},
      {"model_file", r.model_file},
      {"model_sha256", r.model_sha256},
      {"answerer", r.answerer},
      {"encoder", r.encoder},
      {"prompt_version", r.prompt_version},
      {"store_sequence", r.store_sequence},
      {"prompt_tokens", r.prompt_tokens},
      {"completion_tokens", r.completion_tokens},
      {"latency_ms", r.latency_ms},
      {"first_token_ms", r.first_token_ms},
  };
  if (!r.escalation_url.empty() || !r.escalation_outcome.empty()) {
    j["escalation_url"] = r.escalation_url;
    j["escalation_outcome"] = r.escalation_outcome;
    j["escalation_sent"] = r.escalation_sent;
    j["escalation_error"] = r.escalation_error;
  }
  // Invalid UTF-8 in a query must not make the record unwritable.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<AuditRecord> audit_record_from_json(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::corruption("audit record is not a JSON object");
  AuditRecord r;
  try {
    r.request_id = j.at("request_id").get<std::string>();
    r.time_ms = j.at("time_ms").get<int64_t>();
    r.caller = j.value("caller", "");
    r.task = j.value("task", "");
    r.query = j.value("query", "");
    r.retrieved_doc_ids = j.value("retrieved_doc_ids", std::vector<std::string>{});
    r.cited_doc_ids = j.value("cited_doc_ids", std::vector<std::string>{});
    r.grounding = j.value("grounding", "");
    r.outcome = j.value("outcome", "ok");
    r.finish_reason = j.value("finish_reason", "");
    r.model_file = j.value("model_file", "");
    r.model_sha256 = j.value("model_sha256", "");
    r.answerer = j.value("answerer", "");
    r.encoder = j.value("encoder", "");
    r.prompt_version = j.value("prompt_version", "");
    r.store_sequence = j.value("store_sequence", uint64_t{0});
    r.escalation_url = j.value("escalation_url", "");
    r.escalation_outcome = j.value("escalation_outcome", "");
    r.escalation_sent = j.value("escalation_sent", "");
    r.escalation_error = j.value("escalation_error", "");
    r.prompt_tokens = j.value("prompt_tokens", 0);
    r.completion_tokens = j.value("completion_tokens", 0);
    r.latency_ms = j.value("latency_ms", 0.0);
    r.first_token_ms = j.value("first_token_ms", 0.0);
  } catch (const json::exception& e) {
    return Status::corruption(std::string("audit record: ") + e.what());
  }
  return r;
}

namespace {

Status write_all(int fd, const std::string& data, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io_error("writing audit log " + path.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::filesystem::path& path, AuditLogOptions options) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Status::io_error("opening audit log " + path.string() + ": " + std::strerror(errno));
  std::unique_ptr<AuditLog> log(new AuditLog(path, fd, options));
  // A torn last record (crash mid-write) must not swallow the next one.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    const int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char last = '\n';
    if (rfd >= 0) {
      if (::pread(rfd, &last, 1, st.st_size - 1) != 1) last = '\n';
      ::close(rfd);
    }
    if (last != '\n') RAGD_RETURN_IF_ERROR(write_all(fd, "\n", path));
  }
  return log;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status AuditLog::append(const AuditRecord& record) {
  const std::string line = audit_record_to_json(record) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  // Retention (`ragd audit --prune-days`) renames a rewritten file over the
  // path: write to the file now at the path, not to the replaced one.
  struct stat at_path {}, open_file {};
  if (::stat(path_.c_str(), &at_path) != 0 || ::fstat(fd_, &open_file) != 0 || at_path.st_ino != open_file.st_ino ||
      at_path.st_dev != open_file.st_dev) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return Status::io_error("reopening audit log " + path_.string() + ": " + std::strerror(errno));
    ::close(fd_);
    fd_ = fd;
  }
  RAGD_RETURN_IF_ERROR(write_all(fd_, line, path_));
  if (options_.sync && ::fdatasync(fd_) != 0) {
    return Status::io_error("syncing audit log " + path_.string() + ": " + std::strerror(errno));
  }
  return Status::ok();
}

Result<std::vector<AuditRecord>> query_audit_log(const std::filesystem::path& path, const AuditQuery& q,
                                                 AuditReadStats* stats) {
  AuditReadStats local;
  AuditReadStats& s = stats ? *stats : local;
  s = AuditReadStats{};
  std::vector<AuditRecord> out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return out;
    return Status::io_error("reading audit log " + path.string());
  }
  std::string line;
  while (std::getline(in, line)) {
    const bool complete = !in.eof();  // getline hit '\n'
    if (line.empty()) continue;
    ++s.lines;
    auto r = audit_record_from_json(line);
    if (!r.is_ok()) {
      if (complete) ++s.bad_lines;
      else s.torn_tail = true;
      continue;
    }
    const AuditRecord& rec = r.value();
    if (q.from_ms && rec.time_ms < *q.from_ms) continue;
    if (q.to_ms && rec.time_ms > *q.to_ms) continue;
    if (!q.caller.empty() && rec.caller != q.caller) continue;
    if (!q.request_id.empty() && rec.request_id != q.request_id) continue;
    if (!q.doc_id.empty()) {
      auto has = [&](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), q.doc_id) != v.end(); };
      if (!has(rec.retrieved_doc_ids) && !has(rec.cited_doc_ids)) continue;
    }
    out.push_back(std::move(r).value());
  }
  if (in.bad()) return Status::io_error("reading audit log " + path.string());
  if (q.limit > 0 && out.size() > q.limit) out.erase(out.begin(), out.end() - static_cast<ptrdiff_t>(q.limit));
  return out;
}

// ---- SHA-256 (FIPS 180-4) ----

namespace {

constexpr std::array<uint32_t, 64> kK = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

class Sha256 {
 public:
  void update(const uint8_t* p, size_t n) {
    total_ += n;
    while (n > 0) {
      const size_t take = std::min(n, size_t{64} - fill_);
      std::memcpy(buf_ + fill_, p, take);
      fill_ += take;
      p += take;
      n -= take;
      if (fill_ == 64) {
        block(buf_);
        fill_ = 0;
      }
    }
  }
  std::string hex() {
    const uint64_t bits = total_ * 8;
    const uint8_t pad = 0x80;
    update(&pad, 1);
    const uint8_t zero = 0;
    while (fill_ != 56) update(&zero, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    update(len, 8);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (uint32_t v : h_) {
      for (int i = 28; i >= 0; i -= 4) out.push_back(kHex[(v >> i) & 0xf]);
    }
    return out;
  }

 private:
  static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void block(const uint8_t* p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (uint32_t{p[4 * i]} << 24) | (uint32_t{p[4 * i + 1]} << 16) | (uint32_t{p[4 * i + 2]} << 8) |
             uint32_t{p[4 * i + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a; h_[1] += b; h_[2] += c; h_[3] += d;
    h_[4] += e; h_[5] += f; h_[6] += g; h_[7] += h;
  }

  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t buf_[64] = {};
  size_t fill_ = 0;
  uint64_t total_ = 0;
};

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return h.hex();
}

Result<std::string> sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("hashing " + path.string() + ": cannot open the file");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n > 0) h.update(reinterpret_cast<const uint8_t*>(buf.data()), static_cast<size_t>(n));
  }
  if (in.bad()) return Status::io_error("hashing " + path.string() + ": read error");
  return h.hex();
}

}  // namespace ragd

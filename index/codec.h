// Binary encoding of the store's RocksDB records: varints, length-prefixed
// strings, big-endian keys (so labels and op numbers sort numerically).
// A Reader never reads past its input; a short or garbled record turns ok()
// false and the caller reports kCorruption naming the key.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ragd::codec {

inline std::string key_u64(uint64_t v) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return k;
}

inline uint64_t parse_key_u64(std::string_view k) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < k.size(); ++i) v = (v << 8) | static_cast<uint8_t>(k[i]);
  return v;
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void u64(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void str(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  void strs(const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) str(s);
  }
  void map(const std::map<std::string, std::string>& m) {
    u64(m.size());
    for (const auto& [k, v] : m) {
      str(k);
      str(v);
    }
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  uint64_t u64() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return fail();
      auto b = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return fail();
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  // Like str(), borrowing from the input instead of copying.
  std::string_view view() {
    uint64_t n = u64();
    if (!ok_ || n > in_.size()) return fail(), std::string_view();
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  std::string str() {
    uint64_t n = u64();
    if (!ok_ || n > in_.size()) return fail(), std::string();
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  std::vector<std::string> strs() {
    uint64_t n = u64();
    std::vector<std::string> v;
    if (!ok_ || n > in_.size()) return fail(), v;
    for (uint64_t i = 0; i < n && ok_; ++i) v.push_back(str());
    return v;
  }
  std::map<std::string, std::string> map() {
    uint64_t n = u64();
    std::map<std::string, std::string> m;
    if (!ok_ || n > in_.size()) return fail(), m;
    for (uint64_t i = 0; i < n && ok_; ++i) {
      std::string k = str();
      m[std::move(k)] = str();
    }
    return m;
  }

 private:
  uint64_t fail() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

// 64-bit hash over bytes, 8 at a time (FNV-style mixing with a strong
// finaliser). For checksums and content hashes, not for security.
class Hasher {
 public:
  explicit Hasher(uint64_t seed = 0x9e3779b97f4a7c15ULL) : h_(seed ^ 0xcbf29ce484222325ULL) {}
  void bytes(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (n >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      mix(w);
      p += 8;
      n -= 8;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p, n);
    mix(tail ^ (static_cast<uint64_t>(n) << 56));
    len_ += n;
  }
  void str(std::string_view s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  void u64(uint64_t v) { mix(v); }
  uint64_t digest() const {
    uint64_t h = h_ ^ len_;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
  }

 private:
  void mix(uint64_t w) {
    h_ ^= w;
    h_ *= 0x100000001b3ULL;
    h_ = (h_ << 31) | (h_ >> 33);
    h_ *= 0x9e3779b97f4a7c15ULL;
  }
  uint64_t h_;
  uint64_t len_ = 0;
};

}  // namespace ragd::codec

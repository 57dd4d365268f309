#include "auth/key_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <nlohmann/json.hpp>

#include "auth/crypto.h"
#include "ragd/clock.h"

namespace ragd::auth {

namespace {

using Json = nlohmann::json;

constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretChars = 43;  // base64url of 32 bytes, unpadded
constexpr size_t kSaltBytes = 16;
constexpr size_t kMaxNameChars = 64;
constexpr size_t kMaxGroupChars = 256;
constexpr size_t kMaxCollectionChars = 128;
constexpr int kFileVersion = 1;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// An flock on <file>.lock, held for one change, so that two processes never
// interleave their read-modify-write of the key file.
class FileLock {
 public:
  static Result<FileLock> take(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Status::io_error(errno_text("opening the key lock file"));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        Status s = Status::io_error(errno_text("locking the key file"));
        ::close(fd);
        return s;
      }
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameChars) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool is_base64url_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

Status check_groups(const std::vector<std::string>& groups, size_t max_groups) {
  if (groups.size() > max_groups) {
    return Status::invalid_argument("a key has at most " + std::to_string(max_groups) + " groups");
  }
  for (const auto& g : groups) {
    if (g.empty() || g.size() > kMaxGroupChars) {
      return Status::invalid_argument("a group name has 1-" + std::to_string(kMaxGroupChars) + " characters");
    }
  }
  return Status::ok();
}

Json to_json(const KeyRecord& r) {
  return Json{{"name", r.name},
              {"id", r.id},
              {"role", role_name(r.role)},
              {"groups", r.groups},
              {"collection", r.collection},
              {"expires", r.expires},
              {"created", r.created},
              {"salt", base64url_encode(r.salt)},
              {"hash", base64url_encode(r.hash)}};
}

Result<KeyRecord> from_json(const Json& j, size_t max_groups) {
  if (!j.is_object()) return Status::corruption("a key is not an object");
  auto str = [&](const char* f) -> Result<std::string> {
    auto it = j.find(f);
    if (it == j.end() || !it->is_string()) return Status::corruption(std::string("missing string '") + f + "'");
    return it->get<std::string>();
  };
  auto num = [&](const char* f) -> Result<int64_t> {
    auto it = j.find(f);
    if (it == j.end() || !it->is_number_integer()) {
      return Status::corruption(std::string("missing integer '") + f + "'");
    }
    return it->get<int64_t>();
  };
  KeyRecord r;
  RAGD_ASSIGN_OR_RETURN(r.name, str("name"));
  if (!valid_name(r.name)) return Status::corruption("bad key name");
  auto ctx = "key '" + r.name + "'";
  RAGD_ASSIGN_OR_RETURN(r.id, str("id"));
  if (r.id.size() != kKeyIdChars || !std::all_of(r.id.begin(), r.id.end(), is_base64url_char)) {
    return Status::corruption(ctx + ": bad id");
  }
  RAGD_ASSIGN_OR_RETURN(std::string role, str("role"));
  auto parsed = parse_role(role);
  if (!parsed) return Status::corruption(ctx + ": bad role");
  r.role = *parsed;
  auto groups = j.find("groups");
  if (groups == j.end() || !groups->is_array()) return Status::corruption(ctx + ": missing array 'groups'");
  for (const auto& g : *groups) {
    if (!g.is_string()) return Status::corruption(ctx + ": a group is not a string");
    r.groups.push_back(g.get<std::string>());
  }
  if (!check_groups(r.groups, max_groups)) return Status::corruption(ctx + ": bad groups");
  RAGD_ASSIGN_OR_RETURN(r.collection, str("collection"));
  RAGD_ASSIGN_OR_RETURN(r.expires, num("expires"));
  RAGD_ASSIGN_OR_RETURN(r.created, num("created"));
  RAGD_ASSIGN_OR_RETURN(std::string salt, str("salt"));
  RAGD_ASSIGN_OR_RETURN(std::string hash, str("hash"));
  auto salt_raw = base64url_decode(salt);
  auto hash_raw = base64url_decode(hash);
  if (!salt_raw || salt_raw->size() != kSaltBytes) return Status::corruption(ctx + ": bad salt");
  if (!hash_raw || hash_raw->size() != 32) return Status::corruption(ctx + ": bad hash");
  r.salt = std::move(salt_raw).value();
  r.hash = std::move(hash_raw).value();
  return r;
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io_error(errno_text("writing the key file"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

Status fsync_fd(int fd, const char* what) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return Status::io_error(errno_text(what));
  }
  return Status::ok();
}

}  // namespace

Principal KeyRecord::principal() const {
  return Principal{name, role, groups, collection, Via::kKey};
}

KeyStore::KeyStore(std::string dir, KeyStoreOptions options)
    : dir_(std::move(dir)), path_(dir_ + "/" + options.file_name), options_(std::move(options)),
      table_(std::make_shared<Table>()) {}

int64_t KeyStore::now() const {
  if (options_.now) return options_.now();
  return unix_seconds();
}

Result<std::unique_ptr<KeyStore>> KeyStore::open(const std::string& data_dir, KeyStoreOptions options) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::invalid_argument("the data directory for keys does not exist: create it first");
  }
  if (!valid_name(options.file_name)) return Status::invalid_argument("bad key file name");
  std::unique_ptr<KeyStore> store(new KeyStore(data_dir, std::move(options)));
  std::lock_guard<std::mutex> w(store->write_mu_);
  {
    // A temporary left by a killed writer is garbage; remove it under the
    // lock so that no live writer is mid-way through it.
    RAGD_ASSIGN_OR_RETURN(FileLock lock, FileLock::take(store->path_ + ".lock"));
    if (::unlink((store->path_ + ".tmp").c_str()) != 0 && errno != ENOENT) {
      return Status::io_error(errno_text("removing a stale key file temporary"));
    }
  }
  RAGD_ASSIGN_OR_RETURN(Table table, store->read_file(&store->stamp_));
  store->table_ = std::make_shared<const Table>(std::move(table));
  return store;
}

Result<KeyStore::Table> KeyStore::read_file(FileStamp* stamp) const {
  *stamp = FileStamp{};
  Table table;
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return table;
    return Status::io_error(errno_text("opening the key file"));
  }
  struct stat st {};
  std::string data;
  if (::fstat(fd, &st) == 0) {
    stamp->exists = true;
    stamp->ino = st.st_ino;
    stamp->size = static_cast<uint64_t>(st.st_size);
    stamp->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::io_error(errno_text("reading the key file"));
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);

  const std::string where = options_.file_name + ": ";
  Json j = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::corruption(where + "not a JSON object");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || version->get<int64_t>() != kFileVersion) {
    return Status::corruption(where + "unknown version (expected 1)");
  }
  auto keys = j.find("keys");
  if (keys == j.end() || !keys->is_array()) return Status::corruption(where + "missing array 'keys'");
  if (keys->size() > options_.max_keys) return Status::corruption(where + "more keys than max_keys");
  for (size_t i = 0; i < keys->size(); ++i) {
    auto rec = from_json((*keys)[i], options_.max_groups);
    if (!rec) return rec.status().with_context(where + "key " + std::to_string(i));
    if (table.id_by_name.count(rec->name) || table.by_id.count(rec->id)) {
      return Status::corruption(where + "key " + std::to_string(i) + ": duplicate name or id");
    }
    table.id_by_name.emplace(rec->name, rec->id);
    std::string id = rec->id;
    table.by_id.emplace(std::move(id), std::move(rec).value());
  }
  return table;
}

Status KeyStore::write_file(const Table& table) {
  std::vector<const KeyRecord*> recs;
  for (const auto& [id, r] : table.by_id) recs.push_back(&r);
  std::sort(recs.begin(), recs.end(), [](auto* a, auto* b) { return a->name < b->name; });
  Json keys = Json::array();
  for (const auto* r : recs) keys.push_back(to_json(*r));
  std::string data = Json{{"version", kFileVersion}, {"keys", std::move(keys)}}.dump(1) + "\n";

  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io_error(errno_text("creating the key file"));
  Status s = write_all(fd, data);
  if (s) s = fsync_fd(fd, "syncing the key file");
  if (::close(fd) != 0 && s) s = Status::io_error(errno_text("closing the key file"));
  if (s && ::rename(tmp.c_str(), path_.c_str()) != 0) s = Status::io_error(errno_text("replacing the key file"));
  if (!s) {
    ::unlink(tmp.c_str());
    return s;
  }
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::io_error(errno_text("opening the data directory"));
  s = fsync_fd(dfd, "syncing the data directory");
  ::close(dfd);
  return s;
}

Status KeyStore::modify(const std::function<Status(Table&)>& change) {
  std::lock_guard<std::mutex> w(write_mu_);
  RAGD_ASSIGN_OR_RETURN(FileLock lock, FileLock::take(path_ + ".lock"));
  FileStamp stamp;
  RAGD_ASSIGN_OR_RETURN(Table table, read_file(&stamp));
  RAGD_RETURN_IF_ERROR(change(table));
  RAGD_RETURN_IF_ERROR(write_file(table));
  // The stamp of what we just wrote, so reload() does not re-read it.
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    stamp_ = FileStamp{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                       static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, true};
  }
  auto next = std::make_shared<const Table>(std::move(table));
  std::unique_lock<std::shared_mutex> l(mu_);
  table_ = std::move(next);
  return Status::ok();
}

Result<CreatedKey> KeyStore::create(const std::string& name, Role role, std::vector<std::string> groups,
                                    std::string collection, int64_t expires) {
  if (!valid_name(name)) {
    return Status::invalid_argument("a key name has 1-64 characters of A-Z a-z 0-9 . _ -");
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  RAGD_RETURN_IF_ERROR(check_groups(groups, options_.max_groups));
  if (collection.size() > kMaxCollectionChars) {
    return Status::invalid_argument("a collection name has at most " + std::to_string(kMaxCollectionChars) +
                                    " characters");
  }
  const int64_t t = now();
  if (expires < 0 || (expires != 0 && expires <= t)) {
    return Status::invalid_argument("the expiry date of key '" + name + "' is in the past");
  }
  CreatedKey out;
  Status s = modify([&](Table& table) -> Status {
    if (table.id_by_name.count(name)) return Status::already_exists("a key named '" + name + "' exists");
    if (table.by_id.size() >= options_.max_keys) {
      return Status::resource_exhausted("the key file holds max_keys keys: revoke unused ones first");
    }
    // Ids carry 72 random bits; a clash is a sign of a broken RNG, but a
    // retry costs nothing.
    for (int attempt = 0;; ++attempt) {
      if (attempt == 8) return Status::internal("could not draw a unique key id");
      RAGD_ASSIGN_OR_RETURN(std::string raw, random_bytes(kSecretBytes));
      std::string secret = std::string(kKeyPrefix) + base64url_encode(raw);
      std::string id = secret.substr(kKeyPrefix.size(), kKeyIdChars);
      if (table.by_id.count(id)) continue;
      RAGD_ASSIGN_OR_RETURN(std::string salt, random_bytes(kSaltBytes));
      KeyRecord r{name, id, role, groups, collection, expires, t, salt, salted_sha256(salt, secret)};
      out = CreatedKey{r, std::move(secret)};
      table.id_by_name.emplace(name, id);
      table.by_id.emplace(id, std::move(r));
      return Status::ok();
    }
  });
  if (!s) return s.with_context("creating key '" + name + "'");
  out.record.salt.clear();
  out.record.hash.clear();
  return out;
}

Status KeyStore::revoke(const std::string& name) {
  Status s = modify([&](Table& table) -> Status {
    auto it = table.id_by_name.find(name);
    if (it == table.id_by_name.end()) return Status::not_found("no key named '" + name + "'");
    table.by_id.erase(it->second);
    table.id_by_name.erase(it);
    return Status::ok();
  });
  return s.with_context("revoking key '" + name + "'");
}

Status KeyStore::reload() {
  std::lock_guard<std::mutex> w(write_mu_);
  struct stat st {};
  FileStamp now_stamp;
  if (::stat(path_.c_str(), &st) == 0) {
    now_stamp = FileStamp{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, true};
  }
  if (now_stamp == stamp_) return Status::ok();
  if (stamp_.exists && !now_stamp.exists) {
    // Losing the file must not silently turn authentication off.
    return Status::not_found("the key file has disappeared; keeping the keys loaded (revoke keys with `ragd keys revoke`)");
  }
  FileStamp stamp;
  RAGD_ASSIGN_OR_RETURN(Table table, read_file(&stamp));
  stamp_ = stamp;
  auto next = std::make_shared<const Table>(std::move(table));
  std::unique_lock<std::shared_mutex> l(mu_);
  table_ = std::move(next);
  return Status::ok();
}

Result<KeyRecord> KeyStore::verify(std::string_view secret) const {
  if (secret.size() != kKeyPrefix.size() + kSecretChars || secret.substr(0, kKeyPrefix.size()) != kKeyPrefix ||
      !std::all_of(secret.begin() + kKeyPrefix.size(), secret.end(), is_base64url_char)) {
    return unauthenticated("malformed API key (expected ragd_ and 43 base64url characters)");
  }
  std::string id(secret.substr(kKeyPrefix.size(), kKeyIdChars));
  std::shared_ptr<const Table> table;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    table = table_;
  }
  auto it = table->by_id.find(id);
  // The same answer for an unknown id and a wrong secret: the id is public,
  // but there is no reason to say which half failed.
  if (it == table->by_id.end()) return unauthenticated("unknown or revoked API key");
  const KeyRecord& r = it->second;
  if (!constant_time_equal(salted_sha256(r.salt, secret), r.hash)) return unauthenticated("unknown or revoked API key");
  if (r.expires != 0 && now() >= r.expires) return unauthenticated("API key '" + r.name + "' has expired");
  KeyRecord out = r;
  out.salt.clear();
  out.hash.clear();
  return out;
}

std::vector<KeyRecord> KeyStore::list() const {
  std::shared_ptr<const Table> table;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    table = table_;
  }
  std::vector<KeyRecord> out;
  out.reserve(table->by_id.size());
  for (const auto& [id, r] : table->by_id) {
    out.push_back(r);
    out.back().salt.clear();
    out.back().hash.clear();
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

size_t KeyStore::size() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return table_->by_id.size();
}

}  // namespace ragd::auth

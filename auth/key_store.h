// API keys: created once, stored as salted hashes in one JSON file under the
// data directory, verified in O(1) per request.
//
// A secret looks like "ragd_" + base64url(32 random bytes) (48 characters).
// Its first kKeyIdChars characters after "ragd_" are the key's public id,
// which `list()` shows and `verify()` uses to find the record without trying
// every hash. Only SHA-256(salt || secret) is stored: the secret carries 256
// random bits, so nobody can guess it from the hash, and a slow KDF (PBKDF2,
// scrypt) would only add per-request CPU; those exist to stretch low-entropy
// passwords, which these are not.
//
// Durability: every change writes the whole file to a temporary, fsyncs it,
// renames it over the old one and fsyncs the directory, all under an flock,
// before the call returns. A kill -9 at any point leaves either the old or
// the new file, so a revocation that returned ok stays revoked after a
// restart. Changes re-read the file under the lock first, so the `ragd keys`
// CLI and a running server can both change keys without losing each other's
// changes; a server sees the CLI's changes when it calls reload().
//
// Thread safety: every method may be called from any thread. verify(), list()
// and get() take a shared lock; create(), revoke() and reload() serialise on
// a writer mutex and hold the exclusive lock only to swap in the new table.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/principal.h"
#include "ragd/status.h"

namespace ragd::auth {

inline constexpr std::string_view kKeyPrefix = "ragd_";
// Characters of the secret (after the prefix) that form the public key id.
inline constexpr size_t kKeyIdChars = 12;

struct KeyRecord {
  // Unique, 1-64 characters of [A-Za-z0-9._-].
  std::string name;
  // The public id: the first kKeyIdChars characters after "ragd_".
  std::string id;
  Role role = Role::kReader;
  std::vector<std::string> groups;
  // "" = every collection.
  std::string collection;
  // Unix seconds after which the key fails; 0 = never.
  int64_t expires = 0;
  // Unix seconds when the key was made.
  int64_t created = 0;
  // 16 random bytes and SHA-256(salt || secret), raw. list() clears both.
  std::string salt;
  std::string hash;

  // The principal this key authenticates.
  Principal principal() const;
};

struct KeyStoreOptions {
  // File name inside the data directory. Default: "keys.json".
  std::string file_name = "keys.json";
  // Upper bound on keys in the file. Default: 10000.
  size_t max_keys = 10000;
  // Upper bound on groups per key. Default: 256.
  size_t max_groups = 256;
  // Unix seconds "now", for expiry and `created`. Default (empty): the system clock.
  std::function<int64_t()> now;
};

// The secret exists only in this struct: it is never stored or logged.
struct CreatedKey {
  KeyRecord record;
  std::string secret;
};

class KeyStore {
 public:
  // Opens (or starts empty, without creating the file until the first
  // change) the key file in `data_dir`, which must exist. A file that fails
  // to parse is kCorruption: the server must not start with keys missing.
  static Result<std::unique_ptr<KeyStore>> open(const std::string& data_dir, KeyStoreOptions options = {});

  // Makes a key and returns its secret, which cannot be recovered later.
  // `expires` is Unix seconds, 0 = never; a time already past is an error.
  Result<CreatedKey> create(const std::string& name, Role role, std::vector<std::string> groups,
                            std::string collection, int64_t expires);

  // The record for a secret, or an unauthenticated() Status for a
  // malformed, unknown, revoked or expired one. Never echoes the secret.
  Result<KeyRecord> verify(std::string_view secret) const;

  // Every key, sorted by name, with salt and hash cleared.
  std::vector<KeyRecord> list() const;
  size_t size() const;
  bool empty() const { return size() == 0; }

  // Deletes the key for good; kNotFound if there is none by that name.
  Status revoke(const std::string& name);

  // Re-reads the file if another process changed it (inode, size or mtime).
  // A file that has vanished or no longer parses is an error, and the keys
  // already loaded stay in force.
  Status reload();

  const std::string& path() const { return path_; }

 private:
  struct Table {
    std::unordered_map<std::string, KeyRecord> by_id;
    std::unordered_map<std::string, std::string> id_by_name;
  };
  struct FileStamp {
    uint64_t ino = 0, size = 0;
    int64_t mtime_ns = 0;
    bool exists = false;
    bool operator==(const FileStamp&) const = default;
  };

  KeyStore(std::string dir, KeyStoreOptions options);
  int64_t now() const;
  // Reads path_ into a table; a missing file is an empty table.
  Result<Table> read_file(FileStamp* stamp) const;
  // REQUIRES: write_mu_ held and the file lock taken.
  Status write_file(const Table& table);
  // Runs `change` on the newest table under the file lock, persists the
  // result and swaps it in. REQUIRES: write_mu_ not held.
  Status modify(const std::function<Status(Table&)>& change);

  std::string dir_;
  std::string path_;
  KeyStoreOptions options_;
  std::mutex write_mu_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<const Table> table_;  // GUARDED_BY(mu_)
  FileStamp stamp_;                      // GUARDED_BY(write_mu_)
};

}  // namespace ragd::auth

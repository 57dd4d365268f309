// Store::get_state / put_state: small durable key/values of the store's
// clients (sync cursors), beside the store's own meta keys.
#include <rocksdb/db.h>

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "index/store_impl.h"

namespace ragd {
namespace {

constexpr size_t kMaxStateKey = 512;
constexpr size_t kMaxStateValue = 1u << 20;

}  // namespace

std::string StoreImpl::state_record_key(const std::string& key) { return "state:" + key; }

Status StoreImpl::check_state(const std::string& key, const std::string& value) {
  if (key.empty() || key.size() > kMaxStateKey) return Status::invalid_argument("state key must be 1-512 bytes");
  if (value.size() > kMaxStateValue) return Status::invalid_argument("state value over 1 MiB");
  return Status::ok();
}

Status StoreImpl::put_state_locked(const std::string& key, const std::string& value) {
  RAGD_RETURN_IF_ERROR(after_write(before_write()));
  return after_write(from_rocks(db_->Put(sync_options(), cf(Cf::kMeta), state_record_key(key), value),
                                "writing state '" + key + "'"));
}

Result<std::string> StoreImpl::get_state(const std::string& key) const {
  if (key.empty() || key.size() > kMaxStateKey) return Status::invalid_argument("state key must be 1-512 bytes");
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), state_record_key(key), &v);
  if (s.IsNotFound()) return std::string();
  RAGD_RETURN_IF_ERROR(from_rocks(s, "reading state '" + key + "'"));
  return v;
}

Status StoreImpl::put_state(const std::string& key, const std::string& value) {
  RAGD_RETURN_IF_ERROR(check_state(key, value));
  if (options_.read_only) return Status::failed_precondition("the store is open read-only");
  std::lock_guard w(write_mu_);
  return put_state_locked(key, value);
}

Result<std::vector<std::pair<std::string, std::string>>> StoreImpl::list_state(const std::string& prefix,
                                                                               size_t limit) const {
  if (prefix.size() > kMaxStateKey) return Status::invalid_argument("state prefix over 512 bytes");
  const std::string start = state_record_key(prefix);
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kMeta)));
  for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
    rocksdb::Slice k = it->key();
    if (!k.starts_with(start)) break;
    out.emplace_back(k.ToString().substr(state_record_key("").size()), it->value().ToString());
  }
  RAGD_RETURN_IF_ERROR(from_rocks(it->status(), "listing state '" + prefix + "'"));
  return out;
}

Status StoreImpl::delete_state(const std::string& key) {
  if (key.empty() || key.size() > kMaxStateKey) return Status::invalid_argument("state key must be 1-512 bytes");
  if (options_.read_only) return Status::failed_precondition("the store is open read-only");
  std::lock_guard w(write_mu_);
  RAGD_RETURN_IF_ERROR(after_write(before_write()));
  return after_write(
      from_rocks(db_->Delete(sync_options(), cf(Cf::kMeta), state_record_key(key)), "deleting state '" + key + "'"));
}

}  // namespace ragd

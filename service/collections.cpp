#include "service/collections.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include <spdlog/spdlog.h>

namespace ragd {
namespace {

constexpr std::string_view kDeletedPrefix = ".deleted-";
// A store being received (staging_dir) and a checkpoint being served
// (snapshot_dir): what a crash leaves of them is removed at the next start.
constexpr std::string_view kIncomingPrefix = ".incoming-";
constexpr std::string_view kSnapshotPrefix = ".snapshot-";

// Renames the collection's directory out of the way (one atomic step), then
// deletes it; a leftover of a crash in between is removed at the next start.
Status delete_dir(const std::filesystem::path& data, std::string_view name) {
  static std::atomic<uint64_t> seq{0};
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  const std::filesystem::path from = Collections::dir_of(data, name);
  const std::filesystem::path to = data / "collections" /
                                   (std::string(kDeletedPrefix) + std::string(name) + "-" + std::to_string(stamp) +
                                    "-" + std::to_string(seq.fetch_add(1)));
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) return Status::io_error("deleting collection '" + std::string(name) + "': " + ec.message());
  std::filesystem::remove_all(to, ec);
  if (ec) {
    return Status::io_error("collection '" + std::string(name) + "' is deleted, but its files could not all be "
                            "removed (they go at the next start): " + ec.message());
  }
  return Status::ok();
}

// The leftovers of deletions that a crash interrupted.
void remove_deleted_leftovers(const std::filesystem::path& data) {
  std::error_code ec;
  std::vector<std::filesystem::path> leftovers;
  for (std::filesystem::directory_iterator it(data / "collections", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.starts_with(kDeletedPrefix) || n.starts_with(kIncomingPrefix) || n.starts_with(kSnapshotPrefix)) {
      leftovers.push_back(it->path());
    }
  }
  for (const auto& p : leftovers) {
    std::error_code rm_ec;
    std::filesystem::remove_all(p, rm_ec);
    if (rm_ec) spdlog::warn("could not remove {}: {}", p.string(), rm_ec.message());
  }
}

}  // namespace

std::shared_ptr<ServiceContext> unowned_service(ServiceContext& ctx) {
  return std::shared_ptr<ServiceContext>(std::shared_ptr<ServiceContext>(), &ctx);
}

bool Collections::Deleting::contains(std::string_view name) {
  std::lock_guard lock(mu);
  return names.find(name) != names.end();
}

Collections::Collections(ServiceContext& default_ctx, ServiceOptions options)
    : default_(default_ctx), options_(std::move(options)), data_(options_.store.dir) {
  // One GloVe encoder for all: a collection does not load the file again.
  if (options_.encoder.model.empty() && !options_.shared_glove) options_.shared_glove = default_.shared_word_ranks();
  // A collection's store is bound to the encoder it first sees, like the
  // default one; it reindexes only after the registry's encoder activation
  // (reindex_to), not at open.
  options_.reindex.enabled = false;
  remove_deleted_leftovers(data_);
}

Collections::~Collections() = default;

Status Collections::check_name(std::string_view name) {
  const bool ok = !name.empty() && name.size() <= 64 && name != "default" &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
                  }) &&
                  name.front() != '_' && name.front() != '-';
  if (ok) return Status::ok();
  return Status::invalid_argument("collection name '" + std::string(name.substr(0, 80)) +
                                  "': use 1-64 characters of a-z, 0-9, '_' and '-', starting with a letter or "
                                  "digit ('default' is reserved)");
}

std::filesystem::path Collections::dir_of(const std::filesystem::path& data, std::string_view name) {
  return data / "collections" / std::string(name);
}

Status Collections::create_on_disk(const std::filesystem::path& data, std::string_view name) {
  RAGD_RETURN_IF_ERROR(check_name(name));
  const std::filesystem::path dir = dir_of(data, name);
  std::error_code ec;
  std::filesystem::create_directories(dir.parent_path(), ec);
  if (ec) return Status::io_error("creating the collections directory: " + ec.message());
  // create_directory is false when it already exists: the one atomic test.
  if (!std::filesystem::create_directory(dir, ec)) {
    if (ec) return Status::io_error("creating collection '" + std::string(name) + "': " + ec.message());
    return Status::already_exists("collection '" + std::string(name) + "' already exists");
  }
  return Status::ok();
}

Status Collections::remove_on_disk(const std::filesystem::path& data, std::string_view name) {
  RAGD_RETURN_IF_ERROR(check_name(name));
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_of(data, name), ec)) {
    return Status::not_found("no collection '" + std::string(name) + "'");
  }
  return delete_dir(data, name);
}

Result<std::shared_ptr<ServiceContext>> Collections::get(std::string_view name) {
  if (name.empty()) return unowned_service(default_);
  RAGD_RETURN_IF_ERROR(check_name(name));
  std::lock_guard lock(mu_);
  if (auto it = open_.find(name); it != open_.end()) return it->second;
  std::error_code ec;
  if (deleting_->contains(name) || !std::filesystem::is_directory(dir_of(data_, name), ec)) {
    return Status::not_found("no collection '" + std::string(name) + "' (create it with POST /v1/collections)");
  }
  return open_locked(std::string(name));
}

Result<std::shared_ptr<ServiceContext>> Collections::create(const std::string& name) {
  RAGD_RETURN_IF_ERROR(check_name(name));
  std::lock_guard lock(mu_);
  if (deleting_->contains(name)) {
    return Status::failed_precondition("collection '" + name +
                                       "' is still being deleted (requests to it are running); try again shortly");
  }
  RAGD_RETURN_IF_ERROR(create_on_disk(data_, name));
  auto opened = open_locked(name);
  if (!opened.is_ok()) {
    // Leave no half-made collection that later requests would trip on.
    std::error_code ec;
    std::filesystem::remove_all(dir_of(data_, name), ec);
  }
  return opened;
}

Result<std::shared_ptr<ServiceContext>> Collections::open_locked(const std::string& name) {
  ServiceOptions o = options_;
  o.store.dir = dir_of(data_, name);
  auto svc = ServiceContext::open(std::move(o));
  if (!svc.is_ok()) return svc.status().with_context("opening collection '" + name + "'");
  // Closes the store when the last holder lets go; if the collection was
  // deleted meanwhile, its directory goes too.
  auto deleter = [deleting = deleting_, data = data_, name](ServiceContext* ctx) {
    delete ctx;
    if (!deleting->contains(name)) return;
    if (Status s = delete_dir(data, name); !s.is_ok()) spdlog::warn("{}", s.message());
    std::lock_guard lock(deleting->mu);
    deleting->names.erase(name);
  };
  std::shared_ptr<ServiceContext> shared(svc->release(), std::move(deleter));
  open_.emplace(name, shared);
  return shared;
}

Result<bool> Collections::remove(std::string_view name) {
  if (name.empty() || name == "default") {
    return Status::invalid_argument("the default collection cannot be deleted (delete its documents instead)");
  }
  RAGD_RETURN_IF_ERROR(check_name(name));
  std::shared_ptr<ServiceContext> held;
  {
    std::lock_guard lock(mu_);
    std::error_code ec;
    if (deleting_->contains(name) || !std::filesystem::is_directory(dir_of(data_, name), ec)) {
      return Status::not_found("no collection '" + std::string(name) + "'");
    }
    auto it = open_.find(name);
    if (it == open_.end()) {
      RAGD_RETURN_IF_ERROR(delete_dir(data_, name));
      return true;
    }
    {
      std::lock_guard d(deleting_->mu);
      deleting_->names.emplace(name);
    }
    held = std::move(it->second);
    open_.erase(it);
  }
  spdlog::info("collection '{}' deleted", name);
  // Outside mu_: when this is the last holder, the deleter closes the store
  // and deletes the directory here and now.
  std::weak_ptr<ServiceContext> watch = held;
  held.reset();
  return watch.expired() && !deleting_->contains(name);
}

Result<std::filesystem::path> Collections::staging_dir(std::string_view name) {
  RAGD_RETURN_IF_ERROR(check_name(name));
  static std::atomic<uint64_t> seq{0};
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  const std::filesystem::path dir = data_ / "collections" /
                                    (std::string(kIncomingPrefix) + std::string(name) + "-" + std::to_string(stamp) +
                                     "-" + std::to_string(seq.fetch_add(1)));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io_error("creating a directory for collection '" + std::string(name) + "': " + ec.message());
  return dir;
}

std::filesystem::path Collections::snapshot_dir(std::string_view name, std::string_view tag) const {
  return data_ / "collections" / (std::string(kSnapshotPrefix) + std::string(name) + "-" + std::string(tag));
}

Result<std::shared_ptr<ServiceContext>> Collections::adopt(const std::string& name,
                                                           const std::filesystem::path& staged) {
  RAGD_RETURN_IF_ERROR(check_name(name));
  std::lock_guard lock(mu_);
  if (deleting_->contains(name)) {
    return Status::failed_precondition("collection '" + name +
                                       "' is still being deleted (requests to it are running); try again shortly");
  }
  const std::filesystem::path dir = dir_of(data_, name);
  std::error_code ec;
  if (open_.count(name) || std::filesystem::exists(dir, ec)) {
    return Status::already_exists("collection '" + name + "' already exists");
  }
  std::filesystem::rename(staged, dir, ec);
  if (ec) return Status::io_error("installing collection '" + name + "': " + ec.message());
  auto opened = open_locked(name);
  if (!opened.is_ok()) {
    std::error_code rm_ec;
    std::filesystem::remove_all(dir, rm_ec);
  }
  return opened;
}

std::vector<std::string> Collections::names() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(data_ / "collections", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dir_ec;
    const std::string n = it->path().filename().string();
    if (it->is_directory(dir_ec) && check_name(n).is_ok() && !deleting_->contains(n)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<std::pair<std::string, Status>>> Collections::reindex_to(const std::filesystem::path& model) {
  // Already bound: the others may still need it (an earlier activation
  // that one of them failed).
  Status first = default_.reindex_to(model);
  if (!first.is_ok() && first.code() != StatusCode::kAlreadyExists) return first;
  std::vector<std::pair<std::string, Status>> out = {{"default", first}};
  std::vector<std::pair<std::string, std::shared_ptr<ServiceContext>>> open;
  std::vector<std::string> closed;
  {
    std::lock_guard lock(mu_);
    // From now on a collection opens on `model`; one still bound to another
    // encoder re-embeds in the background from its open, served meanwhile by
    // the encoder before this activation (GloVe when that was none).
    if (options_.encoder.model != model) {
      options_.reindex.previous = options_.encoder;
      options_.encoder.model = model;
    }
    options_.reindex.enabled = true;
    for (const auto& [name, ctx] : open_) open.emplace_back(name, ctx);
    for (const std::string& name : names()) {
      if (open_.count(name) == 0) closed.push_back(name);
    }
  }
  // Outside the lock: each loads the encoder file, and requests to the
  // other collections go on.
  for (const auto& [name, ctx] : open) out.emplace_back(name, ctx->reindex_to(model));
  for (const std::string& name : closed) {
    auto got = get(name);  // the reindex starts at open (ServiceOptions::reindex)
    if (!got.is_ok()) {
      out.emplace_back(name, got.status());
    } else if ((*got)->reindex_status().state == ReindexState::kIdle) {
      out.emplace_back(name, Status::already_exists("the store is already bound to this encoder"));
    } else {
      out.emplace_back(name, Status::ok());
    }
  }
  std::sort(out.begin() + 1, out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void Collections::for_each_open(const std::function<void(const std::string&, const ServiceContext&)>& f) const {
  f("default", default_);
  std::lock_guard lock(mu_);
  for (const auto& [name, ctx] : open_) f(name, *ctx);
}

}  // namespace ragd

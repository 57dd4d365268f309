#include "service/collections.h"

#include <algorithm>

namespace ragd {

Collections::Collections(ServiceContext& default_ctx, ServiceOptions options)
    : default_(default_ctx), options_(std::move(options)), data_(options_.store.dir) {
  // One GloVe encoder for all: a collection does not load the file again.
  if (options_.encoder.model.empty() && !options_.shared_glove) options_.shared_glove = default_.shared_word_ranks();
  // A collection's store is bound to the encoder it first sees, like the
  // default one; the background reindex stays the default's business.
  options_.reindex.enabled = false;
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

Result<ServiceContext*> Collections::get(std::string_view name) {
  if (name.empty()) return &default_;
  RAGD_RETURN_IF_ERROR(check_name(name));
  std::lock_guard lock(mu_);
  if (auto it = open_.find(name); it != open_.end()) return it->second.get();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_of(data_, name), ec)) {
    return Status::not_found("no collection '" + std::string(name) + "' (create it with POST /v1/collections)");
  }
  return open_locked(std::string(name));
}

Result<ServiceContext*> Collections::create(const std::string& name) {
  RAGD_RETURN_IF_ERROR(check_name(name));
  std::lock_guard lock(mu_);
  RAGD_RETURN_IF_ERROR(create_on_disk(data_, name));
  auto opened = open_locked(name);
  if (!opened.is_ok()) {
    // Leave no half-made collection that later requests would trip on.
    std::error_code ec;
    std::filesystem::remove_all(dir_of(data_, name), ec);
  }
  return opened;
}

Result<ServiceContext*> Collections::open_locked(const std::string& name) {
  ServiceOptions o = options_;
  o.store.dir = dir_of(data_, name);
  auto svc = ServiceContext::open(std::move(o));
  if (!svc.is_ok()) return svc.status().with_context("opening collection '" + name + "'");
  ServiceContext* raw = svc->get();
  open_.emplace(name, std::move(svc).value());
  return raw;
}

std::vector<std::string> Collections::names() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(data_ / "collections", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dir_ec;
    const std::string n = it->path().filename().string();
    if (it->is_directory(dir_ec) && check_name(n).is_ok()) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ragd

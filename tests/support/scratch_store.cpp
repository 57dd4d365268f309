#include "tests/support/scratch_store.h"

#include <unistd.h>

#include <atomic>
#include <system_error>

#include "connectors/connector.h"

namespace ragd {

namespace fs = std::filesystem;

Result<ScratchStore> ScratchStore::open(const std::string& tag, StoreOptions base) {
  static std::atomic<unsigned> counter{0};
  ScratchStore s;
  s.dir_ = fs::temp_directory_path() /
           ("ragd-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::error_code ec;
  fs::remove_all(s.dir_, ec);
  base.dir = s.dir_;
  base.sync_writes = false;
  auto opened = Store::open(base);
  if (!opened.is_ok()) {
    fs::remove_all(s.dir_, ec);
    return opened.status().with_context("scratch store " + s.dir_.string());
  }
  s.store_ = std::move(opened).value();
  return s;
}

void ScratchStore::release() {
  store_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

ScratchStore::ScratchStore(ScratchStore&& other) noexcept
    : dir_(std::move(other.dir_)), store_(std::move(other.store_)) {
  other.dir_.clear();
}

ScratchStore& ScratchStore::operator=(ScratchStore&& other) noexcept {
  if (this != &other) {
    release();
    dir_ = std::move(other.dir_);
    store_ = std::move(other.store_);
    other.dir_.clear();
  }
  return *this;
}

ScratchStore::~ScratchStore() { release(); }

Result<IngestStats> ingest_paths(Store& store, const Embedder& embedder, std::span<const fs::path> roots,
                                 const std::function<void(const Status&)>& on_skip, const IngestOptions& options) {
  Ingestor ing(store, embedder, options);
  FetchSink sink{[&](Document&& d) { ing.add(std::move(d)); },
                 [&](const Status& st) {
                   if (on_skip) on_skip(st);
                 }};
  for (const fs::path& root : roots) {
    RAGD_RETURN_IF_ERROR(fetch_path(root, {}, sink));
  }
  ing.flush();
  return ing.stats();
}

}  // namespace ragd

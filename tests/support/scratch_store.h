// A throwaway store for evaluation runs, calibration, tests and benchmarks:
// a fresh temporary directory, writes not synced, removed when it goes; and
// one call that fills a store from files on disk.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "index/store.h"
#include "ingest/pipeline.h"
#include "ragd/embedder.h"
#include "ragd/status.h"

namespace ragd {

class ScratchStore {
 public:
  // Opens a new store in <temp>/ragd-<tag>-<pid>-<n>. `base` supplies the
  // index options; its dir is replaced and sync_writes turned off (nothing
  // here needs to survive a crash).
  static Result<ScratchStore> open(const std::string& tag, StoreOptions base = {});

  ScratchStore(ScratchStore&& other) noexcept;
  ScratchStore& operator=(ScratchStore&&) noexcept;
  ~ScratchStore();  // closes the store, then removes the directory

  Store& store() const { return *store_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  ScratchStore() = default;
  void release();
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

// Crawls each root (a file or a directory, as `ragd ingest` does) into
// `store`; durable when it returns. Files the connectors reject go to
// on_skip and do not stop the rest. Fails when a root cannot be read.
Result<IngestStats> ingest_paths(Store& store, const Embedder& embedder,
                                 std::span<const std::filesystem::path> roots,
                                 const std::function<void(const Status&)>& on_skip = {},
                                 const IngestOptions& options = {});

}  // namespace ragd

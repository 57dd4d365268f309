// Collections: separate knowledge bases in one server (issue 11, item 4).
//
// The default collection ("") is the ServiceContext at the data directory
// itself, so existing data keeps working. Collection NAME is a
// ServiceContext of its own at <data>/collections/NAME/: its own RocksDB
// store, ANN and BM25 indexes and snapshots. Collections share no store, so
// a search, a GET by id or an answer can never mix them, and the same
// document id can live in two of them with different text. They share the
// loaded GloVe encoder (ServiceOptions::shared_glove), so a collection costs
// a RocksDB instance, not another copy of the vectors file.
//
// Names: 1-64 characters of [a-z0-9_-], starting with a letter or a digit
// (they are directory names and path segments; "default" is reserved).
//
// Thread safety: every method may be called from many threads at once. A
// collection, once opened, stays open until the Collections is destroyed,
// so a returned ServiceContext* stays valid that long.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/status.h"
#include "service/service.h"

namespace ragd {

class Collections {
 public:
  // `default_ctx` serves the default collection and must outlive this;
  // `options` are the default's options (its store.dir is the data
  // directory), used for every other collection with store.dir replaced.
  Collections(ServiceContext& default_ctx, ServiceOptions options);
  ~Collections();
  Collections(const Collections&) = delete;
  Collections& operator=(const Collections&) = delete;

  // kInvalidArgument with the rule when `name` is not a valid name.
  static Status check_name(std::string_view name);
  // <data>/collections/<name>.
  static std::filesystem::path dir_of(const std::filesystem::path& data, std::string_view name);
  // Creates the collection's directory and store (`ragd collections
  // create`, POST /v1/collections). kAlreadyExists when it exists.
  static Status create_on_disk(const std::filesystem::path& data, std::string_view name);

  // The collection's service: "" is the default; another name is opened on
  // first use (it may have been created by the CLI meanwhile). kNotFound
  // when there is no such collection.
  Result<ServiceContext*> get(std::string_view name);
  // Creates and opens a collection. kAlreadyExists when it exists.
  Result<ServiceContext*> create(const std::string& name);
  // Every collection on disk, sorted, without the default.
  std::vector<std::string> names() const;

 private:
  Result<ServiceContext*> open_locked(const std::string& name);  // REQUIRES: mu_ held

  ServiceContext& default_;
  ServiceOptions options_;
  std::filesystem::path data_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<ServiceContext>, std::less<>> open_;  // guarded by mu_
};

}  // namespace ragd

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
// Deletion: remove() takes the collection out of service at once (new
// requests get kNotFound); the requests already running keep it alive through
// the shared_ptr they hold, and the last one to finish closes its store and
// deletes its directory (renamed to collections/.deleted-NAME-N first, so a
// crash half way leaves only a leftover that the next start removes).
//
// Thread safety: every method may be called from many threads at once. A
// returned ServiceContext stays valid as long as the caller holds it.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/status.h"
#include "service/service.h"

namespace ragd {

// A pointer to `ctx` that does not own it: the default collection, which
// the server owns, handed out where collections are held by shared_ptr.
std::shared_ptr<ServiceContext> unowned_service(ServiceContext& ctx);

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

  // Deletes the directory of collection `name` (renamed first, as above).
  // REQUIRES: no process has it open (`ragd collections delete` opens it
  // first, which fails while a server holds its store). kNotFound when
  // there is none.
  static Status remove_on_disk(const std::filesystem::path& data, std::string_view name);

  // The collection's service: "" is the default (held by the caller of the
  // constructor, not by the returned pointer); another name is opened on
  // first use (it may have been created by the CLI meanwhile). kNotFound
  // when there is no such collection or it is being deleted.
  Result<std::shared_ptr<ServiceContext>> get(std::string_view name);
  // Creates and opens a collection. kAlreadyExists when it exists,
  // kFailedPrecondition while one of that name is still being deleted.
  Result<std::shared_ptr<ServiceContext>> create(const std::string& name);
  // Takes collection `name` out of service and deletes it with all its data
  // (see "Deletion" above). True when it is gone when this returns, false
  // when running requests still hold it (it goes when the last one ends).
  // kNotFound when there is no such collection; the default cannot be
  // deleted (kInvalidArgument).
  Result<bool> remove(std::string_view name);
  // A fresh directory beside the collections for a store to be built and
  // then adopted as collection `name` (a cluster replica's snapshot from a
  // peer, cluster/README.md "Snapshots"): <data>/collections/.incoming-<name>-<n>,
  // on the same file system, so adopt() is one rename. Removed at the next
  // start if left behind. The caller removes it when it gives up.
  Result<std::filesystem::path> staging_dir(std::string_view name);
  // A directory beside the collections for a store's checkpoint (a snapshot
  // served to a peer): <data>/collections/.snapshot-<name>-<tag>, not created.
  // Removed at the next start if left behind.
  std::filesystem::path snapshot_dir(std::string_view name, std::string_view tag) const;
  // Makes the complete store directory `staged` (from staging_dir()) the
  // collection `name` and opens it. kAlreadyExists when the collection
  // exists, kFailedPrecondition while one of that name is still being
  // deleted (requests still hold it); `staged` is left where it was then.
  // A store that does not open is removed again (the collection stays
  // absent).
  Result<std::shared_ptr<ServiceContext>> adopt(const std::string& name, const std::filesystem::path& staged);
  // Every collection on disk, sorted, without the default and without the
  // ones being deleted.
  std::vector<std::string> names() const;
  // The registry's encoder activation in a running server: starts the
  // background reindex (ServiceContext::reindex_to) of the default
  // collection to the GGUF encoder `model`, then of every other one, and
  // makes collections opened or created from now on use `model`: one on
  // disk that is not open yet (or is made by the CLI later) re-embeds in the
  // background from its open (ServiceOptions::reindex), served meanwhile by
  // the encoder before this activation. Each collection loads the encoder
  // for itself; the lock is not held while they do. The default's error is
  // returned (nothing else starts then); otherwise every outcome, by name
  // ("default" first, then sorted; kAlreadyExists = bound to `model`
  // already). A collection that fails keeps serving on its old encoder, and
  // activating `model` again retries it.
  Result<std::vector<std::pair<std::string, Status>>> reindex_to(const std::filesystem::path& model);
  // Calls f(name, service) for the default ("default") and every open
  // collection, in name order. REQUIRES: f does not call back into this.
  void for_each_open(const std::function<void(const std::string&, const ServiceContext&)>& f) const;

 private:
  // Names whose deletion waits for running requests; shared with the
  // deleters of the open collections, which may outlive a call to remove().
  struct Deleting {
    std::mutex mu;
    std::set<std::string, std::less<>> names;  // guarded by mu
    bool contains(std::string_view name);
  };
  Result<std::shared_ptr<ServiceContext>> open_locked(const std::string& name);  // REQUIRES: mu_ held

  ServiceContext& default_;
  ServiceOptions options_;  // guarded by mu_ (reindex_to changes the encoder)
  std::filesystem::path data_;
  std::shared_ptr<Deleting> deleting_ = std::make_shared<Deleting>();
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<ServiceContext>, std::less<>> open_;  // guarded by mu_
};

}  // namespace ragd

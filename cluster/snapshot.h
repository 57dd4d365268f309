// Peer snapshots of a shard's store (cluster/README.md, "Snapshots"): a new
// or wiped replica, or one whose messages the stream dropped, loads a live
// peer replica's copy of shard-<S> instead of replaying the stream from
// sequence 1, then applies the stream from the copy's applied sequence + 1.
//
// The copy is a RocksDB checkpoint (Store::checkpoint) taken between two of
// the peer's applied batches, so it holds the documents and the applied
// sequence written with them, nothing half applied. It travels over the
// peers' shard route (POST /v1/collections/shard-<S>/search with a
// "shard_phase", signed with the cluster secret like the search phases) in
// pieces of at most kSnapshotChunkBytes: "snapshot" makes the checkpoint
// and answers its manifest (every file's size and SHA-256, the applied
// sequence, the stream's identity), "snapshot_read" answers one piece of one
// file, "snapshot_close" deletes the checkpoint. The receiver writes each
// piece to its file as it comes, so neither side holds the shard in memory,
// and checks every file's size and SHA-256 against the manifest before it
// adopts the directory as its collection.
//
// Thread safety: SnapshotServer's methods may be called from many threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/shard_search.h"
#include "ragd/status.h"

namespace ragd::sync {
class HttpClient;
}  // namespace ragd::sync

namespace ragd::cluster {

// The state keys of a shard's store (Store::get_state): the applied stream
// sequence, written in the batch of each applied message, and the creation
// time of the stream it was applied from (JetStream::stream_created).
inline constexpr const char* kAppliedKey = "cluster:applied";
inline constexpr const char* kStreamEpochKey = "cluster:stream_epoch";

// The largest piece of a file one "snapshot_read" answers (base64 in JSON).
inline constexpr uint64_t kSnapshotChunkBytes = uint64_t{1} << 20;
// Checkpoints a node serves at once; one more is refused (503) until one
// is closed or idle for kSnapshotIdle.
inline constexpr size_t kMaxSnapshotsServed = 4;
inline constexpr std::chrono::seconds kSnapshotIdle{120};

struct SnapshotFile {
  std::string name;  // a file of the checkpoint directory (no directories)
  uint64_t size = 0;
  std::string sha256;  // hex
};

struct SnapshotManifest {
  std::string id;  // names the checkpoint to snapshot_read and snapshot_close
  uint32_t shard = 0;
  uint64_t applied = 0;          // the stream sequence the copy has applied
  std::string stream_epoch;      // kStreamEpochKey of the copy
  ShardPosition at;              // where the serving replica stood
  std::vector<SnapshotFile> files;
  // SHA-256 over the files' "name size sha256" lines in order: what the
  // receiver checks the listing itself with.
  std::string digest;
  uint64_t bytes() const;
};
std::string manifest_digest(const std::vector<SnapshotFile>& files);
std::string manifest_to_json(const SnapshotManifest& m);
// kUnavailable when malformed (another peer may do better), or when the
// digest does not match the listing.
Result<SnapshotManifest> manifest_from_json(const std::string& text);

// The serving side: the checkpoints handed out and not yet closed.
class SnapshotServer {
 public:
  SnapshotServer() = default;
  // Deletes every checkpoint still held.
  ~SnapshotServer();
  SnapshotServer(const SnapshotServer&) = delete;
  SnapshotServer& operator=(const SnapshotServer&) = delete;

  // Drops the checkpoints idle for kSnapshotIdle; false when, after that,
  // kMaxSnapshotsServed are still held (the caller refuses a new one).
  bool make_room();
  // Lists and hashes the checkpoint directory `dir` (made by the caller)
  // into `m`'s files and digest and holds it under m.id. The directory is
  // deleted on failure.
  Result<SnapshotManifest> add(SnapshotManifest m, const std::filesystem::path& dir);
  // Up to `length` (at most kSnapshotChunkBytes) bytes of `file` from
  // `offset`. kNotFound for an unknown id or a file not in its manifest.
  Result<std::string> read(const std::string& id, const std::string& file, uint64_t offset, uint64_t length);
  // Deletes the checkpoint (an unknown id is no error).
  void close(const std::string& id);

 private:
  struct Held {
    std::filesystem::path dir;
    SnapshotManifest manifest;
    std::chrono::steady_clock::time_point used;
  };
  std::mutex mu_;
  std::map<std::string, Held> held_;  // guarded by mu_
};

// The bodies of the three phases' requests (search_body() placeholders
// added by the caller: the route reads them as searches).
std::string snapshot_open_request(const std::string& body);
std::string snapshot_read_request(const std::string& body, const std::string& id, const std::string& file,
                                  uint64_t offset, uint64_t length);
std::string snapshot_close_request(const std::string& body, const std::string& id);

// What fetch_snapshot() did not have to fetch: files of an earlier,
// failed transfer into the same directory that match the manifest.
struct SnapshotKept {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// The receiving side: asks `shard_url` (<peer>/v1/collections/shard-<S>/search)
// for a snapshot with `http` (signed by the caller), lets `accept` judge
// its manifest (an error refuses it), writes its files into the directory
// `dir` piece by piece and checks each file's size and SHA-256. A file
// already in `dir` (left by an earlier transfer that failed, from this
// peer or another) whose size and SHA-256 are the manifest's is kept, not
// fetched again (counted in `kept`); any other is written afresh, and
// entries the manifest does not name are deleted. The checkpoint is closed
// on the peer in any case. kCorruption when a file does not match the
// manifest (a corrupted or truncated transfer); kCancelled when `stopping`
// turns true; the peer's errors otherwise. On any error `dir` may hold
// partial files besides verified ones: the caller deletes it, or passes it
// to the next peer's fetch_snapshot.
Result<SnapshotManifest> fetch_snapshot(sync::HttpClient& http, const std::string& shard_url,
                                        const std::string& placeholder_body,
                                        const std::function<Status(const SnapshotManifest&)>& accept,
                                        const std::filesystem::path& dir, const std::function<bool()>& stopping,
                                        SnapshotKept* kept = nullptr);

}  // namespace ragd::cluster

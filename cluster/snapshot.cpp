// Peer snapshots (snapshot.h): the checkpoints a replica serves, their
// transfer, and a node's two sides of it (Node::answer_snapshot_phase,
// Node::bootstrap_from_peer).
#include "cluster/snapshot.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <nlohmann/json.hpp>

#include "auth/crypto.h"
#include "cluster/http_pool.h"
#include "cluster/jetstream.h"
#include "cluster/log.h"
#include "cluster/node.h"
#include "index/store.h"
#include "sync/http.h"

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

spdlog::logger& log() { return cluster_log(); }

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string with_fields(const std::string& body, const Json& fields) {
  Json j = Json::parse(body, nullptr, false);
  if (!j.is_object()) j = Json::object();
  for (const auto& [key, value] : fields.items()) j[key] = value;
  return dump(j);
}

// A checkpoint holds plain files with RocksDB's names: nothing that could
// leave the directory it is written into.
bool safe_file_name(const std::string& n) {
  return !n.empty() && n.size() <= 255 && n != "." && n != ".." &&
         std::all_of(n.begin(), n.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
         });
}

// fsync of a file or a directory.
bool sync_path(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

void remove_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) log().warn("could not remove {}: {}", dir.string(), ec.message());
}

}  // namespace

uint64_t SnapshotManifest::bytes() const {
  uint64_t n = 0;
  for (const auto& f : files) n += f.size;
  return n;
}

std::string manifest_digest(const std::vector<SnapshotFile>& files) {
  std::string lines;
  for (const auto& f : files) lines += f.name + " " + std::to_string(f.size) + " " + f.sha256 + "\n";
  return auth::hex_encode(auth::sha256(lines));
}

std::string manifest_to_json(const SnapshotManifest& m) {
  Json files = Json::array();
  for (const auto& f : m.files) files.push_back({{"name", f.name}, {"size", f.size}, {"sha256", f.sha256}});
  return dump(Json{{"snapshot", m.id},
                   {"shard", m.shard},
                   {"applied", m.applied},
                   {"stream_epoch", m.stream_epoch},
                   {"behind", m.at.behind},
                   {"files", std::move(files)},
                   {"digest", m.digest}});
}

Result<SnapshotManifest> manifest_from_json(const std::string& text) {
  const Json j = Json::parse(text, nullptr, false);
  auto bad = [](const std::string& why) { return Status::unavailable("a malformed snapshot manifest: " + why); };
  if (!j.is_object()) return bad("not a JSON object");
  SnapshotManifest m;
  try {
    m.id = j.at("snapshot").get<std::string>();
    m.shard = j.at("shard").get<uint32_t>();
    m.applied = j.at("applied").get<uint64_t>();
    m.stream_epoch = j.at("stream_epoch").get<std::string>();
    m.at.applied = m.applied;
    m.at.behind = j.at("behind").get<uint64_t>();
    m.digest = j.at("digest").get<std::string>();
    for (const auto& f : j.at("files")) {
      SnapshotFile file{f.at("name").get<std::string>(), f.at("size").get<uint64_t>(),
                        f.at("sha256").get<std::string>()};
      if (!safe_file_name(file.name)) return bad("file name '" + file.name.substr(0, 80) + "'");
      m.files.push_back(std::move(file));
    }
  } catch (const std::exception& e) {
    return bad(e.what());
  }
  if (!safe_file_name(m.id)) return bad("its id");
  if (manifest_digest(m.files) != m.digest) return bad("its digest does not match its files");
  return m;
}

SnapshotServer::~SnapshotServer() {
  for (const auto& [id, h] : held_) remove_dir(h.dir);
}

bool SnapshotServer::make_room() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::filesystem::path> gone;
  bool room = false;
  {
    std::lock_guard lock(mu_);
    for (auto it = held_.begin(); it != held_.end();) {
      if (now - it->second.used > kSnapshotIdle) {
        gone.push_back(it->second.dir);
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
    room = held_.size() < kMaxSnapshotsServed;
  }
  for (const auto& d : gone) remove_dir(d);
  return room;
}

Result<SnapshotManifest> SnapshotServer::add(SnapshotManifest m, const std::filesystem::path& dir) {
  m.files.clear();
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(type_ec) || !safe_file_name(name)) {
      remove_dir(dir);
      return Status::internal("snapshot of shard " + std::to_string(m.shard) + ": unexpected entry " + name +
                              " in the checkpoint");
    }
    SnapshotFile f;
    f.name = name;
    f.size = it->file_size(type_ec);
    auto sum = auth::sha256_file_hex(it->path().string());
    if (type_ec || !sum.is_ok()) {
      remove_dir(dir);
      return Status::io_error("snapshot of shard " + std::to_string(m.shard) + ": reading the checkpoint's file " +
                              name);
    }
    f.sha256 = *sum;
    m.files.push_back(std::move(f));
  }
  if (ec) {
    remove_dir(dir);
    return Status::io_error("snapshot of shard " + std::to_string(m.shard) + ": listing the checkpoint: " +
                            ec.message());
  }
  std::sort(m.files.begin(), m.files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  m.digest = manifest_digest(m.files);
  std::lock_guard lock(mu_);
  held_[m.id] = Held{dir, m, std::chrono::steady_clock::now()};
  return m;
}

Result<std::string> SnapshotServer::read(const std::string& id, const std::string& file, uint64_t offset,
                                         uint64_t length) {
  std::filesystem::path path;
  uint64_t size = 0;
  {
    std::lock_guard lock(mu_);
    auto it = held_.find(id);
    if (it == held_.end()) return Status::not_found("no snapshot '" + id.substr(0, 40) + "' here (closed or expired)");
    const auto& files = it->second.manifest.files;
    auto f = std::find_if(files.begin(), files.end(), [&](const SnapshotFile& x) { return x.name == file; });
    if (f == files.end()) return Status::not_found("snapshot '" + id + "' has no file '" + file.substr(0, 80) + "'");
    it->second.used = std::chrono::steady_clock::now();
    path = it->second.dir / f->name;
    size = f->size;
  }
  if (length > kSnapshotChunkBytes) return Status::invalid_argument("snapshot_read: 'length' over 1 MiB");
  if (offset > size) return Status::invalid_argument("snapshot_read: 'offset' past the file's end");
  std::string out(static_cast<size_t>(std::min(length, size - offset)), '\0');
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  if (!in) return Status::io_error("snapshot '" + id + "': reading " + file);
  return out;
}

void SnapshotServer::close(const std::string& id) {
  std::filesystem::path dir;
  {
    std::lock_guard lock(mu_);
    auto it = held_.find(id);
    if (it == held_.end()) return;
    dir = it->second.dir;
    held_.erase(it);
  }
  remove_dir(dir);
}

std::string snapshot_open_request(const std::string& body) {
  return with_fields(body, Json{{"shard_phase", kSnapshotPhase}});
}

std::string snapshot_read_request(const std::string& body, const std::string& id, const std::string& file,
                                  uint64_t offset, uint64_t length) {
  return with_fields(body, Json{{"shard_phase", kSnapshotReadPhase},
                                {"snapshot", id},
                                {"file", file},
                                {"offset", offset},
                                {"length", length}});
}

std::string snapshot_close_request(const std::string& body, const std::string& id) {
  return with_fields(body, Json{{"shard_phase", kSnapshotClosePhase}, {"snapshot", id}});
}

Result<SnapshotManifest> fetch_snapshot(sync::HttpClient& http, const std::string& shard_url,
                                        const std::string& placeholder_body,
                                        const std::function<Status(const SnapshotManifest&)>& accept,
                                        const std::filesystem::path& dir, const std::function<bool()>& stopping,
                                        SnapshotKept* kept) {
  RAGD_ASSIGN_OR_RETURN(sync::HttpResponse opened, http.post_json(shard_url, snapshot_open_request(placeholder_body)));
  RAGD_ASSIGN_OR_RETURN(SnapshotManifest m, manifest_from_json(opened.body));
  // Closed on the peer however this ends (it would expire anyway).
  struct Close {
    sync::HttpClient& http;
    const std::string& url;
    const std::string& body;
    const std::string id;
    ~Close() { (void)http.post_json(url, snapshot_close_request(body, id)); }
  } close{http, shard_url, placeholder_body, m.id};
  RAGD_RETURN_IF_ERROR(accept(m));
  // What an earlier transfer left that this snapshot does not name (another
  // peer's MANIFEST, a file since compacted away) must not reach the store.
  {
    std::error_code ec;
    std::vector<std::filesystem::path> extra;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (std::none_of(m.files.begin(), m.files.end(), [&](const SnapshotFile& f) { return f.name == name; })) {
        extra.push_back(it->path());
      }
    }
    if (ec) return Status::io_error("snapshot: listing its directory under the data directory: " + ec.message());
    for (const auto& p : extra) {
      if (std::filesystem::remove_all(p, ec); ec) {
        return Status::io_error("snapshot: removing an earlier transfer's file " + p.filename().string());
      }
    }
  }
  for (const SnapshotFile& f : m.files) {
    const std::filesystem::path path = dir / f.name;
    {
      // Verified in an earlier transfer (a checkpoint of the same store
      // shares its table files with the next one): kept. The check is the
      // one every fetched file passes below, so a partial or spoiled file
      // never passes for a kept one.
      std::error_code ec;
      if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == f.size && !ec) {
        auto sum = auth::sha256_file_hex(path.string());
        if (sum.is_ok() && *sum == f.sha256) {
          if (!sync_path(path)) return Status::io_error("snapshot: syncing " + f.name + " under the data directory");
          if (kept != nullptr) {
            ++kept->files;
            kept->bytes += f.size;
          }
          continue;
        }
      }
    }
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      if (!out) return Status::io_error("snapshot: cannot write " + f.name + " under the data directory");
      uint64_t offset = 0;
      while (offset < f.size) {
        if (stopping()) return Status::cancelled("snapshot: stopped");
        const uint64_t want = std::min<uint64_t>(kSnapshotChunkBytes, f.size - offset);
        RAGD_ASSIGN_OR_RETURN(
            sync::HttpResponse piece,
            http.post_json(shard_url, snapshot_read_request(placeholder_body, m.id, f.name, offset, want)));
        const Json j = Json::parse(piece.body, nullptr, false);
        auto data = j.is_object() ? j.find("data") : j.end();
        if (data == j.end() || !data->is_string()) {
          return Status::corruption("snapshot: a malformed piece of " + f.name + " at offset " +
                                    std::to_string(offset));
        }
        auto bytes = auth::base64_decode(data->get<std::string>());
        if (!bytes.is_ok()) {
          return Status::corruption("snapshot: a piece of " + f.name + " at offset " + std::to_string(offset) +
                                    " is not base64");
        }
        // A short piece before the end is a truncated transfer; it is not
        // asked again here: the file's check below refuses it.
        if (bytes->empty()) break;
        out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
        if (!out) return Status::io_error("snapshot: writing " + f.name + " under the data directory");
        offset += bytes->size();
        if (bytes->size() < want) break;
      }
      out.flush();
      if (!out) return Status::io_error("snapshot: writing " + f.name + " under the data directory");
    }
    std::error_code ec;
    const uint64_t got = std::filesystem::file_size(path, ec);
    auto sum = auth::sha256_file_hex(path.string());
    if (ec || got != f.size || !sum.is_ok() || *sum != f.sha256) {
      return Status::corruption("snapshot " + m.id + " of shard " + std::to_string(m.shard) + ": file " + f.name +
                                " arrived with " + std::to_string(ec ? 0 : got) + " of " + std::to_string(f.size) +
                                " bytes" + (got == f.size ? " and another SHA-256 than its manifest's" : "") +
                                ": refused");
    }
    // On disk before the directory is adopted as the shard's store.
    if (!sync_path(path)) return Status::io_error("snapshot: syncing " + f.name + " under the data directory");
  }
  if (!sync_path(dir)) return Status::io_error("snapshot: syncing its directory under the data directory");
  return m;
}

}  // namespace ragd::cluster

// A node's two sides. (Node's other members are in node.cpp and
// coordinator.cpp.)
namespace ragd::cluster {

std::shared_ptr<std::mutex> Node::batch_mutex(uint32_t shard) {
  std::lock_guard lock(status_mu_);
  auto& mu = batch_mu_[shard];
  if (!mu) mu = std::make_shared<std::mutex>();
  return mu;
}

Result<std::string> Node::answer_snapshot_phase(uint32_t shard, const std::string& body) {
  const Json j = Json::parse(body, nullptr, false);
  if (!j.is_object()) return Status::invalid_argument("snapshot: the body is not a JSON object");
  const std::string phase = j.value("shard_phase", std::string());
  const std::string where = "shard " + std::to_string(shard) + " on node " + options_.node_id;
  if (collections_ == nullptr) return Status::failed_precondition("a writer holds no shard");
  auto text_field = [&](const char* name) -> Result<std::string> {
    auto f = j.find(name);
    if (f == j.end() || !f->is_string()) {
      return Status::invalid_argument(std::string("snapshot: '") + name + "' must be a string");
    }
    return f->get<std::string>();
  };
  if (phase == kSnapshotReadPhase) {
    RAGD_ASSIGN_OR_RETURN(std::string id, text_field("snapshot"));
    RAGD_ASSIGN_OR_RETURN(std::string file, text_field("file"));
    auto offset = j.find("offset"), length = j.find("length");
    if (offset == j.end() || !offset->is_number_unsigned() || length == j.end() || !length->is_number_unsigned()) {
      return Status::invalid_argument("snapshot_read: 'offset' and 'length' must be numbers of bytes");
    }
    RAGD_ASSIGN_OR_RETURN(std::string data,
                          snapshots_->read(id, file, offset->get<uint64_t>(), length->get<uint64_t>()));
    return dump(Json{{"data", auth::base64_encode(data)}});
  }
  if (phase == kSnapshotClosePhase) {
    RAGD_ASSIGN_OR_RETURN(std::string id, text_field("snapshot"));
    snapshots_->close(id);
    return dump(Json{{"closed", id}});
  }
  if (phase != kSnapshotPhase) return Status::invalid_argument("snapshot: unknown phase '" + phase.substr(0, 40) + "'");
  {
    std::lock_guard lock(status_mu_);
    if (!status_.count(shard)) return Status::not_found(where + ": no copy here");
  }
  const ShardPosition at = position(shard);
  if (at.applied == 0) return Status::unavailable(where + ": its copy has applied nothing yet");
  if (!snapshots_->make_room()) {
    return Status::unavailable(where + ": " + std::to_string(kMaxSnapshotsServed) +
                               " snapshots are being served already; ask another replica");
  }
  RAGD_ASSIGN_OR_RETURN(std::shared_ptr<ServiceContext> svc, collections_->get(shard_collection(shard)));
  RAGD_ASSIGN_OR_RETURN(std::string raw, auth::random_bytes(8));
  SnapshotManifest m;
  m.id = auth::hex_encode(raw);
  m.shard = shard;
  m.at = at;
  const std::filesystem::path dir = collections_->snapshot_dir(shard_collection(shard), m.id);
  {
    // Between two of the applier's batches: the applied sequence read here
    // is the one written with the checkpoint's last document.
    const std::shared_ptr<std::mutex> mu = batch_mutex(shard);
    std::lock_guard batch(*mu);
    RAGD_ASSIGN_OR_RETURN(std::string applied, svc->store().get_state(kAppliedKey));
    RAGD_ASSIGN_OR_RETURN(m.stream_epoch, svc->store().get_state(kStreamEpochKey));
    if (std::from_chars(applied.data(), applied.data() + applied.size(), m.applied).ec != std::errc() ||
        m.applied == 0) {
      return Status::unavailable(where + ": its copy has applied nothing yet");
    }
    if (Status made = svc->store().checkpoint(dir); !made.is_ok()) {
      remove_dir(dir);
      return made.with_context(where + ": making a snapshot");
    }
  }
  m.at.applied = m.applied;
  RAGD_ASSIGN_OR_RETURN(m, snapshots_->add(std::move(m), dir));
  log().info("shard {}: serving snapshot {} at sequence {} ({} files, {} bytes)", shard, m.id, m.applied,
             m.files.size(), m.bytes());
  return manifest_to_json(m);
}

bool Node::bootstrap_from_peer(uint32_t shard, const std::function<bool()>& stopping) {
  if (!options_.snapshot_bootstrap) return false;
  const std::string name = shard_collection(shard);
  const std::string stream = stream_name(options_, shard);
  uint64_t applied = 0;
  {
    auto svc = collections_->get(name);
    if (!svc.is_ok()) return false;
    auto a = (*svc)->store().get_state(kAppliedKey);
    if (!a.is_ok()) return false;
    if (!a->empty() && std::from_chars(a->data(), a->data() + a->size(), applied).ec != std::errc()) return false;
  }
  auto bounds = js_->stream_bounds(stream);
  auto created = js_->stream_created(stream);
  if (!bounds.is_ok() || !created.is_ok()) return false;  // the applier meets NATS's trouble itself
  // A new or wiped copy while the stream holds messages, or one whose next
  // message the stream has dropped (its retention limits).
  const bool fresh = applied == 0 && bounds->last > 0;
  const bool dropped = bounds->first > applied + 1 && bounds->last > applied;
  if (!fresh && !dropped) return false;
  const std::string why = fresh ? "its copy has applied nothing"
                                : "the stream no longer holds its next message (" + std::to_string(applied + 1) +
                                      "; it begins at " + std::to_string(bounds->first) + ")";
  const ShardMap m = shard_map();
  auto live = refresh_live_nodes();
  std::vector<std::pair<std::string, std::string>> peers;  // id, URL
  if (live.is_ok() && shard < m.replicas.size()) {
    for (const std::string& n : m.replicas[shard]) {
      auto it = live->find(n);
      if (n != options_.node_id && it != live->end()) peers.emplace_back(n, it->second);
    }
  }
  if (peers.empty()) {
    log().info("shard {}: {}, and no live peer replica can give a snapshot: replaying the stream", shard, why);
    return false;
  }
  std::lock_guard one_at_a_time(bootstrap_mu_);
  sync::HttpOptions ho;
  ho.timeout_seconds = std::max<long>(60, options_.search_timeout_seconds);  // a checkpoint of a large shard
  ho.connect_timeout_seconds = 2;
  ho.max_attempts = 1;
  ho.tls_ca_file = options_.tls.ca_file.string();
  sync::HttpClient http(ho);
  authorise(http, "");
  SearchRequest placeholder;  // the peer's route reads the body as a search
  placeholder.query = "snapshot";
  const std::string body = search_body(placeholder, "");
  auto accept = [&](const SnapshotManifest& sm) -> Status {
    if (sm.shard != shard) return Status::unavailable("it is of shard " + std::to_string(sm.shard));
    if (sm.at.behind != 0) return Status::unavailable("the peer is behind the stream");
    if (sm.stream_epoch != std::to_string(*created)) return Status::unavailable("the peer applied another stream");
    if (sm.applied <= applied) return Status::unavailable("it holds no more than this copy");
    if (sm.applied + 1 < bounds->first) return Status::unavailable("the stream no longer holds what follows it");
    return Status::ok();
  };
  // One staging directory for every peer asked: a transfer that fails half
  // way leaves the files it verified, and the next peer's transfer keeps
  // those its manifest names with the same size and SHA-256 (fetch_snapshot).
  // Deleted however this ends (once adopted, it is the collection's).
  auto staged = collections_->staging_dir(name);
  if (!staged.is_ok()) {
    log().error("shard {}: {}", shard, staged.status().to_string());
    return false;
  }
  struct Staging {
    std::filesystem::path dir;
    ~Staging() { remove_dir(dir); }
  } staging{*staged};
  for (const auto& [peer, url] : peers) {
    if (stopping()) return false;
    log().info("shard {}: {}: asking peer {} for a snapshot", shard, why, peer);
    const auto t0 = std::chrono::steady_clock::now();
    SnapshotKept kept;
    auto got =
        fetch_snapshot(http, url + "/v1/collections/" + name + "/search", body, accept, *staged, stopping, &kept);
    if (!got.is_ok()) {
      // A peer's 401 or 403 (HttpClient's kFailedPrecondition) is no fault
      // of the peer's copy: this node's request was not admitted, and every
      // peer will say the same until the operator sets what it lacks.
      const bool refused = got.status().code() == StatusCode::kFailedPrecondition;
      const std::string error =
          !refused ? "peer " + peer + ": " + got.status().message()
          : options_.secret.empty()
              ? "peer " + peer + " refused this node's snapshot request (HTTP 401/403): the nodes require API "
                                 "keys, and without a cluster secret a node's own request carries none; set the "
                                 "same secret_file on every node (cluster/README.md, \"Between nodes\") so that "
                                 "they sign their requests. Until then the replica replays the stream"
              : "peer " + peer + " refused this node's signed snapshot request (HTTP 401/403): check that the "
                                 "nodes share the secret_file (or accept each other's, accept_secret_files), the "
                                 "cluster name, and clocks within 60 s. Until then the replica replays the stream";
      {
        std::lock_guard lock(status_mu_);
        ShardStatus& st = status_[shard];
        ++st.snapshot_failures;
        st.snapshot_error = error;
      }
      if (refused) {
        log().error("shard {}: no snapshot: {}", shard, error);
      } else {
        log().warn("shard {}: no snapshot from peer {}: {}", shard, peer, got.status().to_string());
      }
      continue;
    }
    // The copy here (empty, or stale past the stream's start) gives way:
    // searches still holding it finish first.
    auto removed = collections_->remove(name);
    if (!removed.is_ok() && removed.status().code() != StatusCode::kNotFound) {
      log().error("shard {}: replacing its copy with peer {}'s snapshot: {}", shard, peer,
                  removed.status().to_string());
      return false;
    }
    Result<std::shared_ptr<ServiceContext>> adopted = Status::internal("not tried");
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      adopted = collections_->adopt(name, *staged);
      if (adopted.is_ok() || adopted.status().code() != StatusCode::kFailedPrecondition || stopping() ||
          std::chrono::steady_clock::now() >= give_up) {
        break;
      }
      std::this_thread::sleep_for(100ms);
    }
    if (!adopted.is_ok()) {
      {
        std::lock_guard lock(status_mu_);
        ShardStatus& st = status_[shard];
        ++st.snapshot_failures;
        st.snapshot_error = "peer " + peer + "'s snapshot could not be opened here (see the log)";
      }
      log().error("shard {}: peer {}'s snapshot could not be opened here ({}): replaying the stream", shard, peer,
                  adopted.status().to_string());
      return false;  // the applier starts an empty copy
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard lock(status_mu_);
      ShardStatus& st = status_[shard];
      st.applied = got->applied;
      st.gap_first = st.gap_last = 0;  // a hole the snapshot filled
      st.snapshot_from = peer;
      st.snapshot_sequence = got->applied;
      st.snapshot_kept_files = kept.files;
      st.snapshot_error.clear();
    }
    applied_cv_.notify_all();
    log().info("shard {}: loaded peer {}'s snapshot at sequence {} ({} files, {} bytes, {} files of {} bytes kept "
               "from an earlier transfer, {:.2f} s, digest {}); applying the stream from {}",
               shard, peer, got->applied, got->files.size(), got->bytes(), kept.files, kept.bytes, seconds,
               got->digest.substr(0, 16), got->applied + 1);
    return true;
  }
  log().warn("shard {}: {}, and no peer gave a snapshot: replaying the stream", shard, why);
  return false;
}

}  // namespace ragd::cluster

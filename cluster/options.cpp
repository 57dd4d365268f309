// The --cluster file: top-level keys only, read with sync/'s TOML reader so
// errors carry "file:line".
#include <cctype>
#include <stdexcept>
#include <string>

#include "auth/peer.h"
#include "cluster/options.h"
#include "sync/toml_items.h"

namespace ragd::cluster {
namespace {

// The shortest absence_watch_seconds the file takes: the watch's lease is
// renewed at each look of a rebalancer (every 2 s): a few looks.
constexpr int kMinAbsenceWatchSeconds = 5;

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

long to_long(const sync::TomlItem& it, const std::string& where, long lo, long hi) {
  if (it.inputs.size() != 1) throw std::invalid_argument(where + ": '" + it.name + "' expects one number");
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(it.inputs[0], &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != it.inputs[0].size() || v < lo || v > hi) {
    throw std::invalid_argument(where + ": '" + it.name + "' must be a whole number from " + std::to_string(lo) +
                                " to " + std::to_string(hi) + ", got '" + it.inputs[0] + "'");
  }
  return v;
}

bool to_bool(const sync::TomlItem& it, const std::string& where) {
  const std::string v = it.inputs.size() == 1 ? it.inputs[0] : "";
  if (v == "true") return true;
  if (v == "false") return false;
  throw std::invalid_argument(where + ": " + it.name + " must be true or false");
}

std::string to_string(const sync::TomlItem& it, const std::string& where) {
  if (it.inputs.size() != 1) throw std::invalid_argument(where + ": '" + it.name + "' expects one string");
  return it.inputs[0];
}

// The contents of a credential file (`key` names the option in errors): a
// regular file only its owner may read. The message never holds the
// contents.
Result<std::string> read_owner_only(const std::filesystem::path& file, const std::string& key) {
  std::error_code ec;
  const auto st = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::is_regular_file(st)) return Status::not_found(key + " " + file.string() + ": no such file");
  using std::filesystem::perms;
  if ((st.permissions() & (perms::group_all | perms::others_all)) != perms::none) {
    return Status::failed_precondition(key + " " + file.string() + ": readable by others than its owner (chmod 600 it)");
  }
  auto read = sync::read_config_file(file.string());
  if (!read.is_ok()) return Status::not_found(key + " " + file.string() + ": cannot be read");
  return std::move(read).value();
}

// A credential's secret file (read_owner_only), holding one line (trailing
// whitespace dropped).
Result<std::string> read_secret_line(const std::filesystem::path& file, const std::string& key) {
  RAGD_ASSIGN_OR_RETURN(std::string v, read_owner_only(file, key));
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  if (v.empty()) return Status::invalid_argument(key + " " + file.string() + ": the file is empty");
  if (v.find_first_of("\r\n") != std::string::npos) {
    return Status::invalid_argument(key + " " + file.string() + ": more than one line (the file holds the secret alone)");
  }
  return v;
}

// Checks what libnats will read itself: a creds file, or an nkey seed file.
Status check_nats_key_file(const std::filesystem::path& file, const std::string& key, bool creds) {
  RAGD_ASSIGN_OR_RETURN(const std::string text, read_owner_only(file, key));
  if (creds) {
    if (text.find("-----BEGIN NATS USER JWT-----") == std::string::npos ||
        text.find("-----BEGIN USER NKEY SEED-----") == std::string::npos) {
      return Status::invalid_argument(key + " " + file.string() +
                                      ": not a NATS credentials file (it needs the user JWT and the user nkey seed "
                                      "blocks that `nsc generate creds` writes)");
    }
    return Status::ok();
  }
  size_t b = 0;
  while (b < text.size() && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  if (text.compare(b, 2, "SU") != 0) {
    return Status::invalid_argument(key + " " + file.string() + ": not a user nkey seed (one that starts with SU)");
  }
  return Status::ok();
}

}  // namespace

Status check_cluster_options(const ClusterOptions& o) {
  if (!valid_name(o.name)) return Status::invalid_argument("cluster name must be 1-64 characters of [A-Za-z0-9_-]");
  if (!valid_name(o.node_id)) return Status::invalid_argument("node_id must be 1-64 characters of [A-Za-z0-9_-]");
  if (!o.advertise.empty() && o.advertise.rfind("http://", 0) != 0 && o.advertise.rfind("https://", 0) != 0) {
    return Status::invalid_argument("advertise must be the node's http:// or https:// base URL");
  }
  if (o.nats.empty()) return Status::invalid_argument("nats: name at least one NATS server URL");
  // A URL's scheme ("" when it names none: host:port, as libnats and
  // libcurl take it).
  auto scheme = [](const std::string& url) {
    const size_t sep = url.find("://");
    return sep == std::string::npos ? std::string() : url.substr(0, sep);
  };
  size_t tls_urls = 0;
  for (const auto& u : o.nats) {
    const std::string sc = scheme(u);
    if (sc == "tls") {
      ++tls_urls;
    } else if (!sc.empty() && sc != "nats") {
      return Status::invalid_argument("nats: '" + u + "' is not a nats:// or tls:// URL");
    }
  }
  if (tls_urls != 0 && tls_urls != o.nats.size()) {
    return Status::invalid_argument("nats: all URLs tls:// (TLS) or none, not a mix");
  }
  for (const auto& u : o.etcd) {
    const std::string sc = scheme(u);
    if (!sc.empty() && sc != "http" && sc != "https")
      return Status::invalid_argument("etcd: '" + u + "' is not an http:// or https:// URL");
  }
  if (o.tls.cert_file.empty() != o.tls.key_file.empty()) {
    return Status::invalid_argument("tls_cert_file and tls_key_file: both or neither (a client certificate and its "
                                    "private key)");
  }
  const NatsCredentials& na = o.nats_auth;
  if (na.user.empty() != na.password_file.empty()) {
    return Status::invalid_argument("nats_user and nats_password_file: both or neither");
  }
  if (na.nkey.empty() != na.nkey_seed_file.empty()) {
    return Status::invalid_argument("nats_nkey and nats_nkey_seed_file: both or neither (the user's public nkey "
                                    "and the file holding its seed)");
  }
  if (!na.nkey.empty() && (na.nkey.size() != 56 || na.nkey[0] != 'U')) {
    return Status::invalid_argument("nats_nkey: a user's public nkey is 56 characters starting with U");
  }
  if (int(!na.token_file.empty()) + int(!na.user.empty()) + int(!na.creds_file.empty()) + int(!na.nkey.empty()) > 1) {
    return Status::invalid_argument("NATS credentials: set one of nats_token_file, nats_user (with "
                                    "nats_password_file), nats_creds_file or nats_nkey (with nats_nkey_seed_file)");
  }
  if (o.etcd_auth.user.empty() != o.etcd_auth.password_file.empty()) {
    return Status::invalid_argument("etcd_user and etcd_password_file: both or neither");
  }
  if (!o.accept_secret_files.empty() && o.secret_file.empty()) {
    return Status::invalid_argument("accept_secret_files: needs a secret_file (the secret this node signs with)");
  }
  if (o.etcd.empty()) return Status::invalid_argument("etcd: name at least one etcd client URL");
  // `nodes` deals the first shard map; a node added later lists itself
  // (the map in etcd, changed by `ragd cluster rebalance`, is what counts).
  bool listed = false;
  for (const auto& n : o.nodes) {
    if (!valid_name(n)) return Status::invalid_argument("nodes: '" + n + "' is not a valid node id");
    listed = listed || n == o.node_id;
  }
  if (!listed) return Status::invalid_argument("nodes: must list this node's id '" + o.node_id + "'");
  if (o.shards == 0 || o.shards > 4096) return Status::invalid_argument("shards must be 1-4096");
  if (o.shard_replicas == 0) return Status::invalid_argument("shard_replicas must be at least 1");
  if (o.stream_replicas != 1 && o.stream_replicas != 3 && o.stream_replicas != 5) {
    return Status::invalid_argument("stream_replicas must be 1, 3 or 5");
  }
  if (o.auto_rebalance && o.dead_after_seconds <= o.lease_ttl_seconds) {
    return Status::invalid_argument("dead_after_seconds must exceed lease_ttl_seconds (" +
                                    std::to_string(o.lease_ttl_seconds) +
                                    "): a node whose lease merely lapsed would be replaced");
  }
  if (o.auto_rebalance && o.absence_watch_seconds >= o.dead_after_seconds) {
    // absence_watch_seconds cannot go below kMinAbsenceWatchSeconds: at or
    // under it, only a longer dead_after_seconds helps.
    const std::string fix =
        o.dead_after_seconds <= kMinAbsenceWatchSeconds
            ? "raise dead_after_seconds to at least " + std::to_string(kMinAbsenceWatchSeconds + 1) +
                  " (absence_watch_seconds is at least " + std::to_string(kMinAbsenceWatchSeconds) + ")"
            : "lower absence_watch_seconds (at least " + std::to_string(kMinAbsenceWatchSeconds) +
                  ") or raise dead_after_seconds";
    return Status::invalid_argument(
        "absence_watch_seconds (" + std::to_string(o.absence_watch_seconds) + ") must be below dead_after_seconds (" +
        std::to_string(o.dead_after_seconds) +
        "): after a stop of every node longer than dead_after_seconds but shorter than the watch, the first node "
        "back would call the others dead at once; " + fix);
  }
  const NatsSilence& ns = o.nats_silence;
  if (ns.first_ack_ms + ns.silent_after_ms >= 2 * ns.ping_interval_ms) {
    return Status::invalid_argument(
        "nats_first_ack_ms + nats_silent_after_ms (" + std::to_string(ns.first_ack_ms) + " + " +
        std::to_string(ns.silent_after_ms) + " ms) must be below twice nats_ping_interval_ms (" +
        std::to_string(ns.ping_interval_ms) +
        " ms): the NATS client gives a silent server up after two unanswered pings, before the node's PING could "
        "tell the silence; lower the first two or raise nats_ping_interval_ms");
  }
  return Status::ok();
}

Result<ClusterOptions> read_cluster_options(const std::filesystem::path& file) {
  RAGD_ASSIGN_OR_RETURN(std::string text, sync::read_config_file(file.string()));
  RAGD_ASSIGN_OR_RETURN(auto items, sync::read_toml_items(text, file.string()));
  ClusterOptions o;
  try {
    for (const auto& it : items) {
      const std::string where = file.string() + ":" + std::to_string(it.line);
      if (!it.parents.empty()) throw std::invalid_argument(where + ": the cluster file has no tables");
      if (it.name == "name") o.name = to_string(it, where);
      else if (it.name == "node_id") o.node_id = to_string(it, where);
      else if (it.name == "advertise") o.advertise = to_string(it, where);
      else if (it.name == "nats") o.nats = it.inputs;
      else if (it.name == "etcd") o.etcd = it.inputs;
      else if (it.name == "nodes") o.nodes = it.inputs;
      else if (it.name == "shards") o.shards = static_cast<uint32_t>(to_long(it, where, 1, 4096));
      else if (it.name == "shard_replicas") o.shard_replicas = static_cast<uint32_t>(to_long(it, where, 1, 64));
      else if (it.name == "stream_replicas") o.stream_replicas = static_cast<int>(to_long(it, where, 1, 5));
      else if (it.name == "lease_ttl_seconds") o.lease_ttl_seconds = static_cast<int>(to_long(it, where, 2, 600));
      else if (it.name == "publish_timeout_ms") o.publish_timeout_ms = to_long(it, where, 100, 600000);
      else if (it.name == "nats_silent_after_ms") o.nats_silence.silent_after_ms = to_long(it, where, 10, 600000);
      else if (it.name == "nats_silent_recheck_ms") o.nats_silence.silent_recheck_ms = to_long(it, where, 10, 600000);
      else if (it.name == "nats_first_ack_ms") o.nats_silence.first_ack_ms = to_long(it, where, 10, 600000);
      else if (it.name == "nats_ping_interval_ms") o.nats_silence.ping_interval_ms = to_long(it, where, 100, 600000);
      else if (it.name == "join_timeout_seconds") o.join_timeout_seconds = static_cast<int>(to_long(it, where, 1, 3600));
      else if (it.name == "search_timeout_seconds") o.search_timeout_seconds = to_long(it, where, 1, 600);
      else if (it.name == "hedge_after_ms") o.hedge_after_ms = to_long(it, where, 0, 600000);
      else if (it.name == "search_retry_within_ms") o.search_retry_within_ms = to_long(it, where, 0, 600000);
      else if (it.name == "consistency_wait_ms") o.consistency_wait_ms = to_long(it, where, 0, 600000);
      else if (it.name == "stream_max_age_seconds")
        o.stream_max_age_seconds = to_long(it, where, 0, 100LL * 365 * 86400);
      else if (it.name == "stream_max_bytes") o.stream_max_bytes = to_long(it, where, 0, 1LL << 50);
      else if (it.name == "snapshot_bootstrap") o.snapshot_bootstrap = to_bool(it, where);
      else if (it.name == "retire_grace_seconds") o.retire_grace_seconds = static_cast<int>(to_long(it, where, 1, 86400));
      else if (it.name == "auto_rebalance") o.auto_rebalance = to_bool(it, where);
      else if (it.name == "absence_watch_seconds")
        o.absence_watch_seconds = static_cast<int>(to_long(it, where, kMinAbsenceWatchSeconds, 3600));
      else if (it.name == "dead_after_seconds") o.dead_after_seconds = static_cast<int>(to_long(it, where, 1, 86400 * 30));
      else if (it.name == "secret_file") o.secret_file = to_string(it, where);
      else if (it.name == "accept_secret_files") o.accept_secret_files.assign(it.inputs.begin(), it.inputs.end());
      else if (it.name == "tls_ca_file") o.tls.ca_file = to_string(it, where);
      else if (it.name == "tls_cert_file") o.tls.cert_file = to_string(it, where);
      else if (it.name == "tls_key_file") o.tls.key_file = to_string(it, where);
      else if (it.name == "nats_token_file") o.nats_auth.token_file = to_string(it, where);
      else if (it.name == "nats_user") o.nats_auth.user = to_string(it, where);
      else if (it.name == "nats_password_file") o.nats_auth.password_file = to_string(it, where);
      else if (it.name == "nats_creds_file") o.nats_auth.creds_file = to_string(it, where);
      else if (it.name == "nats_nkey") o.nats_auth.nkey = to_string(it, where);
      else if (it.name == "nats_nkey_seed_file") o.nats_auth.nkey_seed_file = to_string(it, where);
      else if (it.name == "etcd_user") o.etcd_auth.user = to_string(it, where);
      else if (it.name == "etcd_password_file") o.etcd_auth.password_file = to_string(it, where);
      else throw std::invalid_argument(where + ": unknown key '" + it.name + "'");
    }
  } catch (const std::invalid_argument& e) {
    return Status::invalid_argument(e.what());
  }
  RAGD_RETURN_IF_ERROR(check_cluster_options(o).with_context(file.string()));
  if (!o.secret_file.empty() && o.secret_file.is_relative()) o.secret_file = file.parent_path() / o.secret_file;
  for (auto& f : o.accept_secret_files) {
    if (f.is_relative()) f = file.parent_path() / f;
  }
  for (auto* f : {&o.tls.ca_file, &o.tls.cert_file, &o.tls.key_file}) {
    if (f->empty()) continue;
    // Absolute: libcurl reads them again for each new connection.
    if (f->is_relative()) *f = std::filesystem::absolute(file.parent_path() / *f);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*f, ec)) {
      return Status::not_found(file.string() + ": TLS file " + f->string() + ": no such file");
    }
  }
  // The credentials: every node, and `ragd cluster status` and `rebalance`,
  // need them to reach NATS and etcd.
  NatsCredentials& na = o.nats_auth;
  for (auto* f : {&na.token_file, &na.password_file, &na.creds_file, &na.nkey_seed_file,
                  &o.etcd_auth.password_file}) {
    // Absolute: libnats reads the creds and seed files again on each connect.
    if (!f->empty() && f->is_relative()) *f = std::filesystem::absolute(file.parent_path() / *f);
  }
  auto secret = [&](const std::filesystem::path& f, const std::string& key, std::string& into) -> Status {
    if (f.empty()) return Status::ok();
    auto v = read_secret_line(f, key);
    if (!v.is_ok()) return v.status().with_context(file.string());
    into = std::move(v).value();
    return Status::ok();
  };
  RAGD_RETURN_IF_ERROR(secret(na.token_file, "nats_token_file", na.token));
  RAGD_RETURN_IF_ERROR(secret(na.password_file, "nats_password_file", na.password));
  RAGD_RETURN_IF_ERROR(secret(o.etcd_auth.password_file, "etcd_password_file", o.etcd_auth.password));
  if (!na.creds_file.empty()) {
    RAGD_RETURN_IF_ERROR(check_nats_key_file(na.creds_file, "nats_creds_file", true).with_context(file.string()));
  }
  if (!na.nkey_seed_file.empty()) {
    RAGD_RETURN_IF_ERROR(
        check_nats_key_file(na.nkey_seed_file, "nats_nkey_seed_file", false).with_context(file.string()));
  }
  return o;
}

Result<std::string> read_cluster_secret(const std::filesystem::path& file) {
  std::error_code ec;
  const auto st = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::is_regular_file(st)) {
    return Status::not_found("secret_file " + file.string() + ": no such file");
  }
  using std::filesystem::perms;
  if ((st.permissions() & (perms::group_all | perms::others_all)) != perms::none) {
    return Status::failed_precondition("secret_file " + file.string() +
                                       ": readable by others than its owner (chmod 600 it)");
  }
  auto read = sync::read_config_file(file.string());
  if (!read.is_ok()) return Status::not_found("secret_file " + file.string() + ": cannot be read");
  std::string secret = std::move(read).value();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  if (secret.size() < auth::kMinPeerSecretBytes) {
    return Status::invalid_argument("secret_file " + file.string() + ": the secret must be at least " +
                                    std::to_string(auth::kMinPeerSecretBytes) + " bytes (e.g. `openssl rand -hex 32`)");
  }
  return secret;
}

Status read_cluster_secrets(ClusterOptions& o, const std::filesystem::path& file) {
  if (o.secret_file.empty()) return Status::ok();
  auto secret = read_cluster_secret(o.secret_file);
  if (!secret.is_ok()) return secret.status().with_context(file.string());
  o.secret = std::move(secret).value();
  o.accepted_secrets.clear();
  for (const auto& f : o.accept_secret_files) {
    auto also = read_cluster_secret(f);
    if (!also.is_ok()) return also.status().with_context(file.string() + ": accept_secret_files");
    o.accepted_secrets.push_back(std::move(also).value());
  }
  return Status::ok();
}

}  // namespace ragd::cluster

// Disk full on a real 16 MiB tmpfs, over HTTP: `ragd serve` with its data
// directory on the tmpfs is fed documents until the disk is full. Then:
//   - ingest answers 507 with a message that names no server path; a DELETE
//     (small, it frees space) is taken or refused, and either answer is true;
//   - /healthz says "degraded" (still 200) while writes fail;
//   - every acknowledged document is still there and whole;
//   - once space is freed (a ballast file the test wrote first), /healthz
//     says "ok" again and ingest works, without a restart;
//   - filled again and stopped, the server leaves no temporary file and
//     starts again on the full disk with every acknowledged document.
// Needs root and a kernel that lets it mount (it runs in its own mount
// namespace when it can); otherwise it is skipped with a message. The same
// faults without root: tests/index/disk_full_test.cpp.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

// A document of ~6 KB of seeded random words, with a marker of its own.
std::string doc_text(std::mt19937_64& rng, int i) {
  static const std::vector<std::string> words = {"printer", "spooler", "restart", "service", "queue", "driver",
                                                 "network", "vpn",     "tunnel",  "client",  "timeout", "reset",
                                                 "password", "account", "locked",  "ticket",  "escalate", "disk"};
  std::string t = "Marker qz" + std::to_string(100000 + i) + "x. ";
  while (t.size() < 6000) {
    t += words[rng() % words.size()];
    t += (rng() % 12 == 0) ? ". " : " ";
  }
  return t;
}

class DiskFullHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "disk-full tmpfs test needs root (mount -t tmpfs); skipped";
    dir_ = std::make_unique<TempDir>("diskfull");
    mnt_ = dir_->path / "data";
    fs::create_directories(mnt_);
    // Our own mount namespace, when allowed: the mount then vanishes with
    // the test process whatever happens.
    if (::unshare(CLONE_NEWNS) == 0) (void)::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
    if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=16m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                   << "): the disk-full fault is covered by tests/index/disk_full_test.cpp instead";
    }
    mounted_ = true;
  }
  void TearDown() override {
    server_.reset();
    if (mounted_) (void)::umount2(mnt_.c_str(), MNT_DETACH);
  }

  // Posts documents of 20 until one request is refused; returns its response.
  // Every id of a 200 response goes into acknowledged_.
  HttpResult fill_until_refused(uint16_t port, std::mt19937_64& rng) {
    for (int round = 0; round < 400; ++round) {
      Json docs = Json::array();
      std::vector<std::string> ids;
      for (int k = 0; k < 20; ++k) {
        const int i = next_++;
        ids.push_back("kb/doc-" + std::to_string(i) + ".md");
        docs.push_back(Json{{"id", ids.back()}, {"title", "Doc " + std::to_string(i)}, {"text", doc_text(rng, i)}});
      }
      HttpResult r = http_post(port, "/v1/documents", Json{{"documents", docs}}.dump());
      if (r.status != 200) return r;
      Json j = Json::parse(r.body, nullptr, false);
      EXPECT_EQ(j.value("ingested", 0), 20) << r.body;
      acknowledged_.insert(acknowledged_.end(), ids.begin(), ids.end());
    }
    ADD_FAILURE() << "a 16 MiB tmpfs never filled";
    return {};
  }

  void expect_no_path(const HttpResult& r) {
    EXPECT_EQ(r.body.find(mnt_.string()), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("/tmp"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(".log"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(".sst"), std::string::npos) << r.body;
  }

  void expect_all_acknowledged(uint16_t port) {
    size_t missing = 0;
    for (const auto& id : acknowledged_) {
      HttpResult g = http_get(port, "/v1/documents/" + id);
      if (g.status != 200) {
        if (++missing <= 3) ADD_FAILURE() << id << ": " << g.status << " " << g.body;
        continue;
      }
      Json j = Json::parse(g.body, nullptr, false);
      EXPECT_EQ(j.value("id", ""), id);
    }
    EXPECT_EQ(missing, 0u) << "of " << acknowledged_.size() << " acknowledged documents";
  }

  std::vector<std::string> temp_files() const {
    std::vector<std::string> out;
    for (const auto& p : list_files(mnt_)) {
      if (p.extension() == ".tmp") out.push_back(p.string());
    }
    return out;
  }

  std::unique_ptr<TempDir> dir_;
  fs::path mnt_;
  bool mounted_ = false;
  std::unique_ptr<ServerProcess> server_;
  std::vector<std::string> acknowledged_;
  int next_ = 0;
};

// The server keeps 2 MiB free (--min-free-space 2): RocksDB never meets
// ENOSPC from ragd's own writes (after a failed WAL write, Debian's
// librocksdb 7.8, built with assertions, aborts on the next sync).
TEST_F(DiskFullHttp, FullDiskAnswers507DegradesHealthAndRecovers) {
  const fs::path glove = dir_->path / "glove.bin";
  make_tiny_glove(glove, {"printer spooler restart service queue driver network vpn tunnel client timeout"});
  // Ballast: freed later to give the store room again.
  const fs::path ballast = mnt_ / "ballast.bin";
  write_file(ballast, std::string(3 << 20, 'b'));
  std::mt19937_64 rng(20261204);

  server_ = std::make_unique<ServerProcess>(mnt_, glove, std::vector<std::string>{"--min-free-space", "2"});
  ASSERT_TRUE(server_->start()) << server_->log();
  uint16_t port = server_->port();

  HttpResult refused = fill_until_refused(port, rng);
  std::cout << "[ diskfull ] " << acknowledged_.size() << " documents acknowledged before " << refused.status
            << "\n";
  ASSERT_EQ(refused.status, 507) << refused.body << refused.error << "\n" << server_->log().substr(0, 4000);
  ASSERT_GT(acknowledged_.size(), 0u);
  expect_no_path(refused);
  Json err = Json::parse(refused.body, nullptr, false);
  EXPECT_EQ(err["error"].value("code", ""), "no_space") << refused.body;
  EXPECT_NE(err["error"].value("message", "").find("disk full"), std::string::npos) << refused.body;

  HttpResult health = http_get(port, "/healthz");
  EXPECT_EQ(health.status, 200);
  Json h = Json::parse(health.body, nullptr, false);
  EXPECT_EQ(h.value("status", ""), "degraded") << health.body;
  EXPECT_TRUE(h.value("disk_full", false)) << health.body;
  expect_no_path(health);

  // A DELETE is a small write: it may still fit above the reserve (and
  // frees space), or be refused with 507. Either way the answer must be
  // the truth: 200 = gone for good, 507 = still there.
  const std::string victim = acknowledged_.front();
  HttpResult del = http_request(port, "DELETE", "/v1/documents/" + victim);
  ASSERT_TRUE(del.status == 200 || del.status == 507) << del.status << " " << del.body;
  expect_no_path(del);
  if (del.status == 200) acknowledged_.erase(acknowledged_.begin());
  EXPECT_EQ(http_get(port, "/v1/documents/" + victim).status, del.status == 200 ? 404 : 200);
  std::cout << "[ diskfull ] DELETE while full: " << del.status << "\n";

  // Reads keep working, and nothing acknowledged is lost.
  expect_all_acknowledged(port);

  // Space is back: health recovers without a write (RocksDB's own
  // recovery polls for free space every few seconds), then writes work.
  fs::remove(ballast);
  const auto freed = std::chrono::steady_clock::now();
  for (int i = 0; i < 300; ++i) {
    health = http_get(port, "/healthz");
    h = Json::parse(health.body, nullptr, false);
    if (h.value("status", "") == "ok") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(h.value("status", ""), "ok") << health.body;
  std::cout << "[ diskfull ] healthz ok again "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - freed).count()
            << " s after space was freed\n";
  HttpResult after = http_post(port, "/v1/documents",
                               R"({"documents":[{"id":"after-free.md","text":"printer queue restart after free"}]})");
  EXPECT_EQ(after.status, 200) << after.body;
  if (after.status == 200) acknowledged_.push_back("after-free.md");
  HttpResult del2 = http_request(port, "DELETE", "/v1/documents/" + acknowledged_.front());
  EXPECT_EQ(del2.status, 200) << del2.body;
  if (del2.status == 200) acknowledged_.erase(acknowledged_.begin());

  // Full again, then a clean stop (its snapshot and flush fail for lack of
  // space) and a restart on the full disk.
  refused = fill_until_refused(port, rng);
  EXPECT_EQ(refused.status, 507) << refused.body;
  EXPECT_EQ(server_->stop(), 0) << server_->log();
  EXPECT_TRUE(temp_files().empty()) << temp_files().front();
  server_ = std::make_unique<ServerProcess>(mnt_, glove, std::vector<std::string>{"--min-free-space", "2"});
  ASSERT_TRUE(server_->start()) << server_->log();
  port = server_->port();
  expect_all_acknowledged(port);
  HttpResult search = http_post(port, "/v1/search", R"({"query":"qz100000x","k":3})");
  EXPECT_EQ(search.status, 200) << search.body;
  EXPECT_TRUE(temp_files().empty());
  std::cout << "[ diskfull ] " << acknowledged_.size() << " acknowledged documents all readable after restart\n";
}

}  // namespace
}  // namespace ragd::test

// The Prometheus registry: values, label escaping, histogram buckets, the
// text format, and concurrent updates.
#include "api/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace ragd::api {
namespace {

TEST(MetricsTest, CounterGaugeAndTextFormat) {
  Registry r;
  auto& req = r.counter("ragd_http_requests_total", "HTTP requests.", {"route", "code"});
  auto& depth = r.gauge("ragd_queue_depth", "Requests waiting.\nSecond line \\ here");
  req.with({"/v1/search", "200"}).inc();
  req.with({"/v1/search", "200"}).inc(2);
  req.with({"/v1/x\"y\\z\n", "503"}).inc();
  depth.get().set(3);
  depth.get().dec();
  std::string text = r.expose();
  EXPECT_NE(text.find("# HELP ragd_http_requests_total HTTP requests.\n# TYPE ragd_http_requests_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("ragd_http_requests_total{route=\"/v1/search\",code=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ragd_http_requests_total{route=\"/v1/x\\\"y\\\\z\\n\",code=\"503\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("# HELP ragd_queue_depth Requests waiting.\\nSecond line \\\\ here\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ragd_queue_depth 2\n"), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.histogram("ragd_latency_seconds", "Latency.", {"route"}, {0.01, 0.1, 1});
  for (double v : {0.005, 0.01, 0.05, 0.5, 2.0, 3.0}) h.with({"a"}).observe(v);
  std::string text = r.expose();
  EXPECT_NE(text.find("ragd_latency_seconds_bucket{route=\"a\",le=\"0.01\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ragd_latency_seconds_bucket{route=\"a\",le=\"0.1\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("ragd_latency_seconds_bucket{route=\"a\",le=\"1\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ragd_latency_seconds_bucket{route=\"a\",le=\"+Inf\"} 6\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ragd_latency_seconds_count{route=\"a\"} 6\n"), std::string::npos) << text;
  EXPECT_NEAR(h.with({"a"}).sum(), 5.565, 1e-12);
  EXPECT_NE(text.find("ragd_latency_seconds_sum{route=\"a\"} " + prometheus_value(h.with({"a"}).sum()) + "\n"),
            std::string::npos)
      << text;
}

TEST(MetricsTest, Values) {
  EXPECT_EQ(prometheus_value(0), "0");
  EXPECT_EQ(prometheus_value(42), "42");
  EXPECT_EQ(prometheus_value(0.5), "0.5");
  EXPECT_EQ(prometheus_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(prometheus_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(prometheus_value(0.0 / 0.0), "NaN");
}

TEST(MetricsTest, DuplicateAndBadNamesAreRefused) {
  Registry r;
  r.counter("a_total", "x");
  EXPECT_THROW(r.counter("a_total", "x"), std::invalid_argument);
  EXPECT_THROW(r.gauge("1bad", "x"), std::invalid_argument);
  EXPECT_THROW(r.gauge("bad-name", "x"), std::invalid_argument);
}

TEST(MetricsTest, CollectorsRunAtScrape) {
  Registry r;
  auto& g = r.gauge("ragd_index_chunks", "Chunks.");
  int calls = 0;
  r.add_collector([&] { g.get().set(++calls * 10); });
  EXPECT_NE(r.expose().find("ragd_index_chunks 10\n"), std::string::npos);
  EXPECT_NE(r.expose().find("ragd_index_chunks 20\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.counter("c_total", "c", {"t"});
  auto& h = r.histogram("h_seconds", "h", {}, {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        c.with({std::to_string(i % 3)}).inc();
        h.get().observe(t % 2 ? 0.25 : 1.0);
      }
      (void)t;
    });
  }
  std::thread scraper([&] {
    for (int i = 0; i < 50; ++i) (void)r.expose();
  });
  for (auto& th : threads) th.join();
  scraper.join();
  double total = 0;
  c.for_each([&](const LabelValues&, const Counter& x) { total += x.value(); });
  EXPECT_EQ(total, 80000);
  EXPECT_EQ(h.get().count(), 80000u);
  EXPECT_EQ(h.get().bucket_count(0), 40000u);
  EXPECT_DOUBLE_EQ(h.get().sum(), 40000 * 0.25 + 40000 * 1.0);
}

TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  Registry r;
  auto& req = r.counter("ragd_http_requests_total", "HTTP requests.", {"route", "code"});
  auto& lat = r.histogram("ragd_http_request_duration_seconds", "Latency.", {"route"}, latency_buckets_seconds());
  r.gauge("ragd_llm_tokens_per_second", "Decode speed.").get().set(12.5);
  r.gauge("ragd_empty_family", "A family with no children yet.", {"x"});
  req.with({"/v1/x\"q\"", "200"}).inc();
  lat.with({"/v1/search"}).observe(0.003);
  const auto dir = std::filesystem::temp_directory_path();
  const auto file = dir / ("ragd-metrics-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(file) << r.expose();
  const std::string out = file.string() + ".out";
  int rc = std::system(("promtool check metrics < '" + file.string() + "' > '" + out + "' 2>&1").c_str());
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  std::filesystem::remove(file);
  std::filesystem::remove(out);
  ASSERT_NE(rc, -1);
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "promtool check metrics (Debian package prometheus, scripts/install-deps.sh):\n"
                                << ss.str();
}

}  // namespace
}  // namespace ragd::api

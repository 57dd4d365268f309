#include "api/request_log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "generate/llm_answerer.h"

namespace ragd::api {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};

std::string dump(const nlohmann::json& j) {
  // Invalid UTF-8 in a message becomes U+FFFD instead of an exception.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// %* in the json pattern: the message as a JSON string.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string s = dump(std::string(msg.payload.data(), msg.payload.size()));
    dest.append(s.data(), s.data() + s.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

// The request records in json mode: already whole JSON lines. Its own
// stdout sink shares spdlog's console mutex with the default logger, so
// lines never interleave.
std::shared_ptr<spdlog::logger> access_logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("ragd.access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::info);
    return l;
  }();
  return logger;
}

std::string iso8601_utc(std::chrono::system_clock::time_point at) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(at.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

void set_log_format(LogFormat format) {
  g_format = format;
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stdout_color_sink_mt>()));
  if (format == LogFormat::kJson) {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonMessage>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":%*})");
    spdlog::set_formatter(std::move(f));
    // Every line is flushed, so a log collector reading a pipe sees it at once.
    spdlog::flush_on(spdlog::level::info);
  } else {
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>());
  }
}

LogFormat log_format() { return g_format.load(); }

std::string accept_request_id(std::string_view given) {
  bool ok = !given.empty() && given.size() <= kMaxRequestIdBytes;
  for (char c : given) {
    if (!ok) break;
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
  }
  return ok ? std::string(given) : ragd::new_request_id();
}

std::string request_log_json(const RequestRecord& r, std::chrono::system_clock::time_point at) {
  nlohmann::ordered_json j;
  j["time"] = iso8601_utc(at);
  j["level"] = "info";
  j["event"] = "request";
  j["request_id"] = r.request_id;
  j["method"] = r.method;
  j["route"] = r.route;
  j["status"] = r.status;
  j["latency_ms"] = static_cast<double>(static_cast<int64_t>(r.latency_ms * 1000.0 + 0.5)) / 1000.0;
  j["bytes_in"] = r.bytes_in;
  j["bytes_out"] = r.bytes_out;
  j["caller"] = r.caller;
  j["remote"] = r.remote;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void log_request(const RequestRecord& r) {
  if (g_format.load() == LogFormat::kJson) {
    const std::string line = request_log_json(r, std::chrono::system_clock::now());
    access_logger()->log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size()));
  } else {
    spdlog::debug("{} {} {} -> {} in {:.1f} ms, {} B in, {} B out, request {}", r.remote, r.method, r.route, r.status,
                  r.latency_ms, r.bytes_in, r.bytes_out, r.request_id);
  }
}

}  // namespace ragd::api

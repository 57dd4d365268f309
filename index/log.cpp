#include "index/log.h"

#include <spdlog/spdlog.h>

namespace ragd {

spdlog::logger& index_log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("ragd.index")) return existing;
    auto l = spdlog::default_logger()->clone("ragd.index");
    spdlog::register_logger(l);
    return l;
  }();
  return *logger;
}

}  // namespace ragd

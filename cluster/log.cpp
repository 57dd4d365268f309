#include "cluster/log.h"

#include <spdlog/spdlog.h>

namespace ragd::cluster {

spdlog::logger& cluster_log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("ragd.cluster")) return existing;
    auto l = spdlog::default_logger()->clone("ragd.cluster");
    spdlog::register_logger(l);
    return l;
  }();
  return *logger;
}

}  // namespace ragd::cluster

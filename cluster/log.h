// The cluster module's logger ("ragd.cluster", spdlog). Private to cluster/.
#pragma once

#include <spdlog/logger.h>

namespace ragd::cluster {

// Registered with spdlog on first use, with the default logger's sinks, so
// spdlog::set_formatter / set_level (api/request_log.cpp) apply to it too.
spdlog::logger& cluster_log();

}  // namespace ragd::cluster

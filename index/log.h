// The index module's logger ("ragd.index", spdlog). Private to index/: the
// store logs what it finds (corruption, I/O errors) where it finds it, once.
#pragma once

#include <spdlog/logger.h>

namespace ragd {

// Registered with spdlog on first use, with the default logger's sinks, so
// spdlog::set_formatter / set_level (api/request_log.cpp) apply to it too.
spdlog::logger& index_log();

}  // namespace ragd

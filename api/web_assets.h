// The web page served at GET / (api/web/index.html: one self-contained file
// with its CSS and JavaScript inline, no build step, no external assets),
// compiled into the binary by api/CMakeLists.txt (web/embed.cmake).
#pragma once

#include <string_view>

namespace ragd::api {

// The page's bytes (HTML, UTF-8).
std::string_view web_index_html();

}  // namespace ragd::api

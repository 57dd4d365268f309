#include "api/web_assets.h"

namespace ragd::api {

namespace {
#if __has_include("web_index_html.inc")
const char kIndexHtml[] = {
#include "web_index_html.inc"
};
constexpr size_t kIndexHtmlSize = sizeof kIndexHtml;
#else
// Built without the generated file (api/CMakeLists.txt makes it).
const char kIndexHtml[] = "<!doctype html><title>ragd</title><p>The web page was not built into this binary.";
constexpr size_t kIndexHtmlSize = sizeof kIndexHtml - 1;
#endif
}  // namespace

std::string_view web_index_html() { return std::string_view(kIndexHtml, kIndexHtmlSize); }

}  // namespace ragd::api

#include "api/sse.h"

namespace ragd::api {

namespace {

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

}  // namespace

std::string sse_event(std::string_view data, std::string_view event, std::string_view id) {
  std::string out;
  out.reserve(data.size() + 32);
  if (!event.empty() && !has_line_break(event)) {
    out += "event: ";
    out += event;
    out += '\n';
  }
  if (!id.empty() && !has_line_break(id)) {
    out += "id: ";
    out += id;
    out += '\n';
  }
  size_t start = 0;
  while (true) {
    size_t nl = data.find_first_of("\r\n", start);
    out += "data: ";
    out += data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    out += '\n';
    if (nl == std::string_view::npos) break;
    start = nl + 1;
    if (data[nl] == '\r' && start < data.size() && data[start] == '\n') ++start;  // CRLF is one break
  }
  out += '\n';
  return out;
}

std::string sse_comment(std::string_view text) {
  std::string out = ": ";
  for (char c : text) out += (c == '\n' || c == '\r') ? ' ' : c;
  out += "\n\n";
  return out;
}

void SseParser::feed(std::string_view bytes) {
  buffer_.append(bytes);
  size_t start = 0;
  while (true) {
    size_t nl = buffer_.find_first_of("\r\n", start);
    if (nl == std::string::npos) break;
    // A '\r' at the very end may be the first half of CRLF: wait for more.
    if (buffer_[nl] == '\r' && nl + 1 == buffer_.size()) break;
    line(std::string_view(buffer_).substr(start, nl - start));
    start = nl + 1;
    if (buffer_[nl] == '\r' && buffer_[start] == '\n') ++start;
  }
  buffer_.erase(0, start);
}

void SseParser::line(std::string_view l) {
  if (l.empty()) {  // dispatch
    if (has_data_) done_.push_back(std::move(current_));
    current_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (l[0] == ':') return;
  size_t colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data += value;
    has_data_ = true;
  } else if (field == "event") {
    current_.event = std::string(value);
  } else if (field == "id") {
    current_.id = std::string(value);
  }
}

std::vector<SseEvent> SseParser::take() {
  std::vector<SseEvent> out;
  out.swap(done_);
  return out;
}

}  // namespace ragd::api

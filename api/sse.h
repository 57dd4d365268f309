// Server-Sent Events framing (the WHATWG "text/event-stream" format).
//
// An event is optional "event:" and "id:" lines, one "data:" line per line
// of the payload, and a blank line. A line starting with ':' is a comment
// (used as a keep-alive). SseParser reads the same framing back, for tests
// and clients.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragd::api {

// Content type of an SSE response.
inline constexpr const char* kSseContentType = "text/event-stream";

// One event. A payload with newlines becomes several data lines; '\r' is
// treated as a line break too, so no payload can break the framing.
// `event` and `id` must not contain line breaks (they are dropped if they do).
std::string sse_event(std::string_view data, std::string_view event = {}, std::string_view id = {});
// A comment line, ignored by clients: ": text\n\n".
std::string sse_comment(std::string_view text);

struct SseEvent {
  std::string event;  // "" = the default "message"
  std::string data;   // data lines joined with '\n'
  std::string id;
};

// Incremental parser: feed bytes as they arrive, take the finished events.
class SseParser {
 public:
  void feed(std::string_view bytes);
  // Events completed so far (and clears them).
  std::vector<SseEvent> take();
  // Bytes not yet making a complete line.
  size_t pending() const { return buffer_.size(); }

 private:
  void line(std::string_view l);
  std::string buffer_;
  SseEvent current_;
  bool has_data_ = false;
  std::vector<SseEvent> done_;
};

}  // namespace ragd::api

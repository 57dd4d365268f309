// The LLM routes over real sockets: `ragd serve --llm` with a random-weight
// tiny model (tests/generate/llm_test_support.h) on loopback.
//   - grounding end to end: random weights never come back `verified`;
//   - streaming /v1/answer: deltas, then a final event with citations;
//   - a client that disconnects mid-stream cancels its generation;
//   - a full queue answers 503 with Retry-After;
//   - per-request timeouts answer 408;
//   - /metrics passes `promtool check metrics`;
//   - GET / serves the web page;
//   - with --parallel 4, concurrent streams share forward passes (continuous
//     batching) and each gets the text it gets alone.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "../generate/llm_test_support.h"
#include "api/sse.h"
#include "test_support.h"
#include "tests/sanitizer.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const fs::path kKbDir = RAGD_SOURCE_DIR "/examples/kb";

// A streaming request on its own socket; read() returns SSE events as they
// arrive (chunk framing stripped).
class StreamClient {
 public:
  StreamClient(uint16_t port, const std::string& path, const std::string& body) {
    fd_ = connect_loopback(port, 60);
    std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    ok_ = fd_ >= 0 && send_all(fd_, req);
  }
  ~StreamClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool ok() const { return ok_; }
  int status() const { return status_; }
  const std::string& head() const { return head_; }

  // Reads until at least one new event arrives, EOF, or the timeout.
  std::vector<api::SseEvent> read(int timeout_ms = 30000) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (fd_ >= 0 && Clock::now() < deadline) {
      auto events = parser_.take();
      if (!events.empty()) return events;
      pollfd p{fd_, POLLIN, 0};
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      if (::poll(&p, 1, std::max(left, 1)) <= 0) break;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      raw_.append(buf, static_cast<size_t>(n));
      pump();
    }
    return parser_.take();
  }
  bool eof() const { return eof_; }

 private:
  void pump() {
    if (status_ == 0) {
      size_t end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head_ = raw_.substr(0, end);
      status_ = std::atoi(head_.c_str() + 9);
      chunked_ = head_.find("chunked") != std::string::npos;
      raw_.erase(0, end + 4);
    }
    if (!chunked_) {
      parser_.feed(raw_);
      raw_.clear();
      return;
    }
    for (;;) {
      size_t eol = raw_.find("\r\n");
      if (eol == std::string::npos) return;
      size_t n = std::stoul(raw_.substr(0, eol), nullptr, 16);
      if (raw_.size() < eol + 2 + n + 2) return;
      parser_.feed(std::string_view(raw_).substr(eol + 2, n));
      raw_.erase(0, eol + 2 + n + 2);
      if (n == 0) return;
    }
  }
  int fd_ = -1;
  bool ok_ = false, eof_ = false, chunked_ = false;
  int status_ = 0;
  std::string raw_, head_;
  api::SseParser parser_;
};

double metric(const std::string& text, const std::string& series) {
  size_t p = text.find("\n" + series + " ");
  if (p == std::string::npos) return -1;
  return std::atof(text.c_str() + p + series.size() + 2);
}

class LlmHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::is_directory(kKbDir)) return;
    dir_ = new TempDir("llm");
    std::vector<std::string> texts;
    for (const auto& f : list_files(kKbDir)) texts.push_back(read_file(f));
    glove_ = dir_->path / "glove.bin";
    make_tiny_glove(glove_, texts);
    // Big enough that a long generation takes seconds (so the queue and
    // cancellation can be watched), small enough to load at once.
    testing_llm::TinyLlmSpec spec;
    spec.embd = 256;
    spec.layers = 4;
    spec.heads = 8;
    spec.heads_kv = 4;
    spec.ff = 768;
    spec.ctx = 4096;
    spec.words = testing_llm::words_of(texts);
    if (spec.words.size() > 2000) spec.words.resize(2000);
    model_ = dir_->path / "tiny-llm.gguf";
    fs::rename(testing_llm::write_tiny_llm(spec, "http"), model_);
    data_ = dir_->path / "data";
    std::string out;
    ingest_rc_ = run_ragd({"ingest", kKbDir.string(), "--data", data_.string(), "--glove", glove_.string(), "--quiet"},
                          &out);
    audit_ = dir_->path / "audit.jsonl";
    server_ = new ServerProcess(data_, glove_,
                                {"--llm", model_.string(), "--audit-log", audit_.string(), "--max-queue", "1",
                                 "--request-timeout", "30", "--llm-threads", "1", "--parallel", "1"});
    started_ = ingest_rc_ == 0 && server_->start();
    if (!started_) std::cerr << "ingest: " << out << "\nserver log:\n" << server_->log() << "\n";
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    server_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!fs::is_directory(kKbDir)) GTEST_SKIP() << "sample KB not found at " << kKbDir;
    ASSERT_TRUE(started_) << "ragd serve --llm did not start";
  }
  uint16_t port() const { return server_->port(); }
  std::string metrics() const { return http_get(port(), "/metrics").body; }
  // Waits until no generation runs (after a cancelled or finished one).
  bool wait_idle(int timeout_ms, double* waited_ms = nullptr) const {
    auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::milliseconds(timeout_ms)) {
      std::string m = metrics();
      if (metric(m, "ragd_llm_queue_running") == 0 && metric(m, "ragd_llm_queue_waiting") == 0) {
        if (waited_ms) *waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  // Opens a long plain-chat stream and waits for its first content delta.
  std::unique_ptr<StreamClient> long_stream() const {
    Json body{{"model", "tiny"}, {"stream", true}, {"max_tokens", 2000},
              {"messages", Json::array({Json{{"role", "user"}, {"content", "Tell me everything about VPN tokens."}}})}};
    auto s = std::make_unique<StreamClient>(port(), "/v1/chat/completions", body.dump());
    for (int i = 0; i < 100 && !s->eof(); ++i) {
      for (const auto& e : s->read(10000)) {
        if (e.data == "[DONE]") return s;
        Json c = Json::parse(e.data, nullptr, false);
        if (c.is_object() && c.contains("choices") && !c["choices"].empty() &&
            c["choices"][0]["delta"].contains("content") && !c["choices"][0]["delta"]["content"].get<std::string>().empty()) {
          return s;
        }
      }
    }
    return s;
  }

  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline fs::path glove_, model_, data_, audit_;
  static inline int ingest_rc_ = -1;
  static inline bool started_ = false;
};

TEST_F(LlmHttpTest, RandomWeightsAreNeverVerified) {
  Json q{{"query", "How do I fix VPN error 809?"}, {"max_tokens", 48}, {"include_hits", true}};
  HttpResult r = http_post(port(), "/v1/answer", q.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Json a = Json::parse(r.body);
  EXPECT_NE(a["grounding"], "verified") << a.dump(2);
  EXPECT_TRUE(a["grounding"] == "partial" || a["grounding"] == "fallback" || a["grounding"] == "refused") << a["grounding"];
  EXPECT_GT(a["usage"]["prompt_tokens"].get<int>(), 20);
  EXPECT_GE(a["usage"]["completion_tokens"].get<int>(), 1);
  EXPECT_LE(a["usage"]["completion_tokens"].get<int>(), 48);
  EXPECT_FALSE(a["request_id"].get<std::string>().empty());
  for (const auto& c : a["citations"]) EXPECT_FALSE(c["doc_id"].get<std::string>().empty());
  // The audit log has it, with the model's hash.
  std::string log = read_file(audit_);
  EXPECT_NE(log.find(a["request_id"].get<std::string>()), std::string::npos);
  EXPECT_NE(log.find("\"model_sha256\":\""), std::string::npos);
  // `ragd audit` finds it by request id, and by a document it retrieved.
  std::string out;
  const std::string id = a["request_id"];
  ASSERT_EQ(run_ragd({"audit", "--audit-log", audit_.string(), "--request-id", id, "--json"}, &out), 0) << out;
  Json rec = Json::parse(out.substr(0, out.find('\n')), nullptr, false);
  ASSERT_TRUE(rec.is_object()) << out;
  EXPECT_EQ(rec["request_id"], id);
  EXPECT_EQ(rec["grounding"], a["grounding"]);
  EXPECT_EQ(rec["completion_tokens"], a["usage"]["completion_tokens"]);
  ASSERT_FALSE(rec["retrieved_doc_ids"].empty());
  const std::string doc = rec["retrieved_doc_ids"][0];
  ASSERT_EQ(run_ragd({"audit", "--audit-log", audit_.string(), "--doc", doc, "--since", "1h"}, &out), 0) << out;
  EXPECT_NE(out.find(id), std::string::npos) << out;
  ASSERT_EQ(run_ragd({"audit", "--audit-log", audit_.string(), "--caller", "nobody-asked", "--json"}, &out), 0);
  EXPECT_EQ(out.find(id), std::string::npos);
  EXPECT_NE(run_ragd({"audit", "--audit-log", audit_.string(), "--since", "yesterday-ish"}, &out), 0);
}

// The ticket tasks go through the model with the ticket's parts as its
// passages; random weights are never verified, so the task falls back to
// the extractive version and says why. The audit log has the generation.
TEST_F(LlmHttpTest, TicketTaskRunsTheModelAndFallsBackWhenUnverified) {
  Json t{{"id", "INC4242"},
         {"subject", "Backup job failed"},
         {"description", "The nightly backup job failed with 'Failed to create VM snapshot'."},
         {"comments", Json::array({"Checked the job log, the snapshot step fails.",
                                   "Orphaned snapshots were left on the VM. Consolidated the disks."})}};
  HttpResult r = http_request(port(), "POST", "/v1/tickets/resolution_note", t.dump(), "application/json",
                              {"X-Request-Id: task-note-1"});
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  EXPECT_EQ(j["generated_by"], "extractive") << j.dump(2);
  EXPECT_FALSE(j.value("llm_fallback", "").empty()) << j.dump(2);
  ASSERT_TRUE(j["sections"].is_object());
  EXPECT_FALSE(j["sections"].empty()) << j.dump(2);
  const std::string log = read_file(audit_);
  const size_t at = log.find("\"task\":\"resolution_note\"");
  ASSERT_NE(at, std::string::npos) << "the model ran for the task";
  const size_t line = log.rfind('\n', at) + 1;
  const Json rec = Json::parse(log.substr(line, log.find('\n', at) - line), nullptr, false);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec["request_id"], "task-note-1");
  EXPECT_GE(rec["completion_tokens"].get<int>(), 1);
  EXPECT_EQ(rec["retrieved_doc_ids"], Json::array({"INC4242"})) << "the passages are the ticket's, not a search";
}

// An answer in a named collection reads that collection's documents, not
// the default store's: the evidence order and the extractive fallback take
// a fix question's steps from the Resolution section of the one document
// retrieved (k 1: the section itself is not a hit), which only the
// collection holds under this id. The random weights' few tokens are never
// verified, so the answer is the fallback, built from those steps.
TEST_F(LlmHttpTest, AnAnswerInACollectionReadsTheCollectionsDocuments) {
  HttpResult made = http_post(port(), "/v1/collections", R"({"name":"llmkb"})");
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string runbook =
      "# Spooler zq7 stalls\n\n## Symptoms\n\nThe spooler zq7 stalls every morning and the print queue stays "
      "empty. Jobs sent from any laptop wait without an error, and the printers at the site show no job at "
      "all.\n\n## Resolution\n\n1. Stop the print service on the server.\n2. Delete the stale files in "
      "the queue folder.\n3. Start the service again and print a test page.\n";
  HttpResult put = http_request(port(), "POST", "/v1/collections/llmkb/documents?filename=zq7.md", runbook,
                                "text/markdown");
  ASSERT_EQ(put.status, 200) << put.body;
  const Json q{{"query", "How do I fix the spooler zq7 stalls?"}, {"k", 1}, {"max_tokens", 2}, {"include_hits", true}};
  HttpResult r = http_post(port(), "/v1/collections/llmkb/answer", q.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json a = Json::parse(r.body);
  ASSERT_EQ(a["grounding"], "fallback") << a.dump(2);
  // The steps are not in the one hit: they were read from the collection.
  ASSERT_EQ(a["hits"].size(), 1u) << a.dump(2);
  EXPECT_EQ(a["hits"][0]["section_path"].back(), "Symptoms") << a.dump(2);
  EXPECT_NE(a["answer"].get<std::string>().find("Delete the stale files"), std::string::npos) << a.dump(2);
  ASSERT_FALSE(a["citations"].empty()) << a.dump(2);
  for (const auto& c : a["citations"]) EXPECT_EQ(c["doc_id"], "zq7.md") << a.dump(2);
}

// The client's X-Request-Id is the answer's request_id and the audit
// record's; a stream's headers carry the id its final event names.
TEST_F(LlmHttpTest, RequestIdReachesTheAuditLog) {
  Json q{{"query", "How do I fix VPN error 809?"}, {"max_tokens", 8}};
  HttpResult r = http_request(port(), "POST", "/v1/answer", q.dump(), "application/json",
                              {"X-Request-Id: audit-check-7"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-request-id"], "audit-check-7");
  EXPECT_EQ(Json::parse(r.body)["request_id"], "audit-check-7");
  std::string out;
  ASSERT_EQ(run_ragd({"audit", "--audit-log", audit_.string(), "--request-id", "audit-check-7", "--json"}, &out), 0)
      << out;
  Json rec = Json::parse(out.substr(0, out.find('\n')), nullptr, false);
  ASSERT_TRUE(rec.is_object()) << out;
  EXPECT_EQ(rec["request_id"], "audit-check-7");

  Json sq{{"query", "Outlook keeps asking for my password"}, {"max_tokens", 8}, {"stream", true}};
  StreamClient s(port(), "/v1/answer", sq.dump());
  ASSERT_TRUE(s.ok());
  Json done;
  while (!s.eof() && done.is_null()) {
    auto events = s.read(60000);
    if (events.empty()) break;
    for (const auto& e : events) {
      if (e.event == "done") done = Json::parse(e.data);
    }
  }
  ASSERT_TRUE(done.is_object()) << "no final event";
  const std::string id = done["request_id"];
  EXPECT_NE(s.head().find("X-Request-Id: " + id + "\r"), std::string::npos) << s.head();
  EXPECT_NE(read_file(audit_).find("\"request_id\":\"" + id + "\""), std::string::npos);
}

TEST_F(LlmHttpTest, StreamingAnswerSendsDeltasThenCitationsAndGrounding) {
  Json q{{"query", "Outlook keeps asking for my password"}, {"max_tokens", 32}, {"stream", true}};
  StreamClient s(port(), "/v1/answer", q.dump());
  ASSERT_TRUE(s.ok());
  std::string deltas;
  Json done;
  int n_delta = 0;
  while (!s.eof() && done.is_null()) {
    auto events = s.read(60000);
    if (events.empty()) break;
    for (const auto& e : events) {
      if (e.event == "delta") {
        deltas += Json::parse(e.data)["text"].get<std::string>();
        ++n_delta;
      } else if (e.event == "done") {
        done = Json::parse(e.data);
      } else {
        FAIL() << "unexpected event '" << e.event << "': " << e.data;
      }
    }
  }
  EXPECT_EQ(s.status(), 200);
  EXPECT_NE(s.head().find("text/event-stream"), std::string::npos) << s.head();
  ASSERT_TRUE(done.is_object()) << "no final event";
  EXPECT_GE(n_delta, 1);
  EXPECT_EQ(deltas, done["raw_text"].get<std::string>()) << "the deltas are the model's text";
  EXPECT_NE(done["grounding"], "verified");
  EXPECT_TRUE(done["citations"].is_array());
  EXPECT_GT(done["first_token_ms"].get<double>(), 0);
}

TEST_F(LlmHttpTest, ClientDisconnectCancelsGeneration) {
  ASSERT_TRUE(wait_idle(30000));
  std::string before = metrics();
  double cancelled0 = std::max(0.0, metric(before, "ragd_llm_requests_total{route=\"chat\",outcome=\"cancelled\"}"));
  auto s = long_stream();
  ASSERT_FALSE(s->eof()) << "the generation ended before the test could cancel it";
  ASSERT_EQ(metric(metrics(), "ragd_llm_queue_running"), 1);
  double tokens0 = metric(metrics(), "ragd_llm_completion_tokens_total");
  s->close();
  double waited = 0;
  ASSERT_TRUE(wait_idle(5000, &waited)) << "the generation kept running after the client left";
  std::string after = metrics();
  EXPECT_EQ(metric(after, "ragd_llm_requests_total{route=\"chat\",outcome=\"cancelled\"}"), cancelled0 + 1) << after;
  EXPECT_EQ(metric(after, "ragd_llm_completion_tokens_total"), tokens0) << "a cancelled generation is not counted as done";
  EXPECT_LT(waited, 1000) << "cancellation took " << waited << " ms";
  std::cout << "[ figure ] slot free " << waited << " ms after the client closed (polling every 5 ms)\n";
}

TEST_F(LlmHttpTest, FullQueueAnswers503WithRetryAfter) {
  ASSERT_TRUE(wait_idle(30000));
  auto running = long_stream();  // takes the one generation slot
  ASSERT_FALSE(running->eof());
  // The queue holds one more (--max-queue 1): this one waits.
  Json w{{"model", "tiny"}, {"stream", true}, {"max_tokens", 4},
         {"messages", Json::array({Json{{"role", "user"}, {"content", "hi"}}})}};
  StreamClient waiting(port(), "/v1/chat/completions", w.dump());
  auto t0 = Clock::now();
  while (metric(metrics(), "ragd_llm_queue_waiting") != 1 && Clock::now() - t0 < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(metric(metrics(), "ragd_llm_queue_waiting"), 1);
  // A third is refused at once, on both routes.
  Json c{{"model", "tiny"}, {"messages", Json::array({Json{{"role", "user"}, {"content", "hi"}}})}};
  HttpResult r = http_post(port(), "/v1/chat/completions", c.dump());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(Json::parse(r.body)["error"]["code"], "unavailable") << r.body;
  HttpResult a = http_post(port(), "/v1/answer", Json{{"query", "vpn"}}.dump());
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_EQ(a.headers["retry-after"], "1");
  // Search is not behind the model queue.
  EXPECT_EQ(http_post(port(), "/v1/search", Json{{"query", "vpn"}}.dump()).status, 200);
  running->close();
  // The waiting request then runs to the end.
  bool got_done = false;
  for (int i = 0; i < 200 && !got_done && !waiting.eof(); ++i) {
    for (const auto& e : waiting.read(30000)) got_done = got_done || e.data == "[DONE]";
  }
  EXPECT_TRUE(got_done);
  EXPECT_GE(metric(metrics(), "ragd_llm_requests_total{route=\"chat\",outcome=\"rejected\"}"), 1);
}

TEST_F(LlmHttpTest, PerRequestTimeoutAnswers408) {
  ASSERT_TRUE(wait_idle(30000));
  Json c{{"model", "tiny"}, {"max_tokens", 2000}, {"ragd", Json{{"timeout_ms", 200}}},
         {"messages", Json::array({Json{{"role", "user"}, {"content", "Tell me everything about VPN tokens."}}})}};
  auto t0 = Clock::now();
  HttpResult r = http_post(port(), "/v1/chat/completions", c.dump());
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (r.status == 200) {
    GTEST_SKIP() << "the model stopped by itself before the timeout (" << ms << " ms)";
  }
  EXPECT_EQ(r.status, 408) << r.body;
  EXPECT_EQ(Json::parse(r.body)["error"]["code"], "timeout");
  EXPECT_LT(ms, 2000);
  HttpResult a = http_post(port(), "/v1/answer", Json{{"query", "vpn token"}, {"max_tokens", 2000}, {"timeout_ms", 1}}.dump());
  EXPECT_EQ(a.status, 408) << a.body;
  ASSERT_TRUE(wait_idle(5000));
  // Timed-out answers are audited with their outcome.
  EXPECT_NE(read_file(audit_).find("\"outcome\":\"timeout\""), std::string::npos);
}

TEST_F(LlmHttpTest, MetricsPassPromtool) {
  // Some traffic on several routes first.
  (void)http_post(port(), "/v1/search", Json{{"query", "printer"}}.dump());
  (void)http_get(port(), "/v1/stats");
  (void)http_get(port(), "/v1/documents/nope");
  HttpResult r = http_get(port(), "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["content-type"].find("text/plain; version=0.0.4"), std::string::npos) << r.headers["content-type"];
  const std::string& m = r.body;
  for (const char* name : {"ragd_http_requests_total{", "ragd_http_request_duration_seconds_bucket{",
                           "ragd_llm_queue_waiting ", "ragd_llm_completion_tokens_total ", "ragd_llm_prompt_tokens_total ",
                           "ragd_llm_tokens_per_second ", "ragd_index_chunks ", "ragd_index_documents ",
                           "ragd_ingest_documents_total{"}) {
    EXPECT_NE(m.find(std::string("\n") + name), std::string::npos) << name << " missing:\n" << m;
  }
  EXPECT_GT(metric(m, "ragd_index_chunks"), 50);
  EXPECT_NE(m.find("route=\"/v1/documents/{id}\""), std::string::npos) << "document ids must not become labels";
  const fs::path file = dir_->path / "metrics.txt";
  write_file(file, m);
  std::string cmd = "promtool check metrics < '" + file.string() + "' > '" + file.string() + ".out' 2>&1";
  int rc = std::system(cmd.c_str());
  ASSERT_NE(rc, -1);
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "promtool check metrics (install: scripts/install-deps.sh):\n"
                                << read_file(file.string() + ".out");
}

TEST_F(LlmHttpTest, ServesTheWebPage) {
  HttpResult r = http_get(port(), "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["content-type"].find("text/html"), std::string::npos);
  EXPECT_NE(r.body.find("<title>ragd</title>"), std::string::npos);
  EXPECT_EQ(r.body.find("http://"), std::string::npos) << "no external assets";
  EXPECT_EQ(r.body.find("https://"), std::string::npos) << "no external assets";
  HttpResult models = http_get(port(), "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(Json::parse(models.body)["data"][0]["id"], "ragd");
}

// Continuous batching: a second server with --parallel 4 and the same model.
// Four greedy streams at once all start before any ends, and each streams
// exactly the text its request gets alone.
TEST_F(LlmHttpTest, ParallelStreamsShareThePassesAndMatchAlone) {
  // A store of its own (the first server holds the other one's lock).
  const fs::path data2 = dir_->path / "data-batch";
  std::string out;
  ASSERT_EQ(run_ragd({"ingest", kKbDir.string(), "--data", data2.string(), "--glove", glove_.string(), "--quiet"},
                     &out),
            0)
      << out;
  ServerProcess batched(data2, glove_,
                        {"--llm", model_.string(), "--audit-log", (dir_->path / "audit-batch.jsonl").string(),
                         "--max-queue", "8", "--request-timeout", "60", "--llm-threads", "2", "--parallel", "4"});
  ASSERT_TRUE(batched.start()) << batched.log();
  const char* questions[] = {"How do I reset my VPN token?", "Outlook keeps asking for my password",
                             "The printer on floor 3 is offline", "How long are backups kept?"};
  auto body = [&](int i) {
    return Json{{"model", "tiny"}, {"stream", true}, {"max_tokens", 40}, {"temperature", 0},
                {"messages", Json::array({Json{{"role", "user"}, {"content", questions[i]}}})}}
        .dump();
  };
  struct Outcome {
    std::string text;
    bool done = false;
    Clock::time_point first, last;
  };
  auto drain = [](StreamClient& s, Outcome* o) {
    while (!s.eof() && !o->done) {
      auto events = s.read(60000);
      if (events.empty()) break;
      for (const auto& e : events) {
        if (e.data == "[DONE]") {
          o->done = true;
          o->last = Clock::now();
          continue;
        }
        Json c = Json::parse(e.data, nullptr, false);
        if (!c.is_object() || !c.contains("choices") || c["choices"].empty()) continue;
        const Json& d = c["choices"][0]["delta"];
        if (d.contains("content") && !d["content"].get<std::string>().empty()) {
          if (o->text.empty()) o->first = Clock::now();
          o->text += d["content"].get<std::string>();
        }
      }
    }
  };
  std::vector<Outcome> alone(4), together(4);
  for (int i = 0; i < 4; ++i) {
    StreamClient s(batched.port(), "/v1/chat/completions", body(i));
    ASSERT_TRUE(s.ok());
    drain(s, &alone[static_cast<size_t>(i)]);
    ASSERT_TRUE(alone[static_cast<size_t>(i)].done) << "stream " << i << " did not finish";
  }
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      StreamClient s(batched.port(), "/v1/chat/completions", body(i));
      if (s.ok()) drain(s, &together[static_cast<size_t>(i)]);
    });
  }
  for (auto& t : clients) t.join();
  Clock::time_point last_first = Clock::time_point::min(), first_last = Clock::time_point::max();
  for (int i = 0; i < 4; ++i) {
    const Outcome& o = together[static_cast<size_t>(i)];
    ASSERT_TRUE(o.done) << "stream " << i << " did not finish";
    EXPECT_FALSE(o.text.empty());
    EXPECT_EQ(o.text, alone[static_cast<size_t>(i)].text) << "stream " << i;
    last_first = std::max(last_first, o.first);
    first_last = std::min(first_last, o.last);
  }
  // Under a sanitizer (5-15 times slower) a stream can end before the last
  // client's request is even read: the overlap is timing, checked in plain
  // builds; the texts above are checked in every build.
  if (!ragd::testing::kSanitized) {
    EXPECT_LT(last_first, first_last) << "every stream had its first token before any stream ended";
  }
  // The scheduler's counters in /metrics: passes ran and some were shared.
  const std::string m = http_get(batched.port(), "/metrics").body;
  auto value = [&m](const std::string& name) {
    const size_t at = m.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::atof(m.c_str() + at + name.size() + 2);
  };
  EXPECT_GT(value("ragd_llm_batch_passes_total"), 0) << m;
  EXPECT_GE(value("ragd_llm_batch_rows_total"), value("ragd_llm_batch_passes_total")) << m;
  EXPECT_GE(value("ragd_llm_batch_max_sequences"), 2) << m;
}

// A session whose KV cache the kernel refuses to map (memory or address
// space exhausted) is an error naming --llm-ctx, for a plain request (503)
// and a stream (an error event, then [DONE]), and the server goes on. The
// server's address space is capped (prlimit) at what it uses plus 48 MB,
// so that a second session's 205 MB cache (--llm-ctx 100000) cannot be
// mapped while the first, made at start, holds a long stream.
TEST_F(LlmHttpTest, AKvCacheTheKernelRefusesIsAnErrorOnBothPaths) {
  if (ragd::testing::kSanitized) GTEST_SKIP() << "a sanitizer's shadow memory needs the address space";
  const fs::path data = dir_->path / "data-kv";
  ServerProcess srv(data, glove_,
                    {"--llm", model_.string(), "--llm-ctx", "100000", "--max-concurrent", "2", "--parallel", "1",
                     "--llm-threads", "1", "--max-queue", "4", "--request-timeout", "60"});
  ASSERT_TRUE(srv.start()) << srv.log();
  long vm_kb = 0;
  {
    std::ifstream st("/proc/" + std::to_string(srv.pid()) + "/status");
    for (std::string line; std::getline(st, line);) {
      if (line.rfind("VmSize:", 0) == 0) vm_kb = std::atol(line.c_str() + 7);
    }
  }
  ASSERT_GT(vm_kb, 0);
  const rlimit cap{static_cast<rlim_t>(vm_kb + 48 * 1024) * 1024, RLIM_INFINITY};
  ASSERT_EQ(::prlimit(srv.pid(), RLIMIT_AS, &cap, nullptr), 0) << std::strerror(errno);
  // The session made at start serves a long stream...
  Json long_body{{"model", "tiny"}, {"stream", true}, {"max_tokens", 2000},
                 {"messages", Json::array({Json{{"role", "user"}, {"content", "Tell me everything about VPN tokens."}}})}};
  StreamClient holder(srv.port(), "/v1/chat/completions", long_body.dump());
  ASSERT_TRUE(holder.ok());
  bool generating = false;  // its first text came: it holds the session
  for (int i = 0; i < 100 && !generating && !holder.eof(); ++i) {
    for (const auto& e : holder.read(10000)) {
      ASSERT_NE(e.data, "[DONE]") << "the long stream ended before the test";
      const Json c = Json::parse(e.data, nullptr, false);
      generating = generating || (c.is_object() && c.contains("choices") && !c["choices"].empty() &&
                                  c["choices"][0]["delta"].contains("content") &&
                                  !c["choices"][0]["delta"]["content"].get<std::string>().empty());
    }
  }
  ASSERT_TRUE(generating) << srv.log();
  // ...so the next request needs a new one, whose cache cannot be mapped.
  Json body{{"model", "tiny"}, {"max_tokens", 4},
            {"messages", Json::array({Json{{"role", "user"}, {"content", "How do I reset my VPN token?"}}})}};
  const HttpResult plain = http_post(srv.port(), "/v1/chat/completions", body.dump());
  EXPECT_EQ(plain.status, 503) << plain.body;
  EXPECT_NE(plain.body.find("--llm-ctx"), std::string::npos) << plain.body;
  EXPECT_NE(plain.body.find("could not be mapped"), std::string::npos) << plain.body;
  body["stream"] = true;
  StreamClient stream(srv.port(), "/v1/chat/completions", body.dump());
  std::string error;
  bool done = false;
  for (int i = 0; i < 50 && !done && !stream.eof(); ++i) {
    for (const auto& e : stream.read(10000)) {
      if (e.data == "[DONE]") done = true;
      const Json c = Json::parse(e.data, nullptr, false);
      if (c.is_object() && c.contains("error")) error = c["error"].dump();
    }
  }
  EXPECT_TRUE(done) << "the stream ended without [DONE]";
  EXPECT_NE(error.find("--llm-ctx"), std::string::npos) << "error event: " << error;
  // The server goes on.
  holder.close();
  EXPECT_EQ(http_get(srv.port(), "/healthz").status, 200);
}

}  // namespace
}  // namespace ragd::test

// Ticket assist (service/ticket_assist.h, api/routes/tickets.cpp) on the
// sample KB with the real GloVe vectors: similar tickets (never itself,
// identifiers weigh, siblings of examples/kb-eval/ticket_siblings.jsonl in
// the top 3), runbooks, the suggestion, duplicates in the time window, the
// ACL, triage's JSON shape, tasks, feedback (durable, in /metrics), and the
// ITSM round trip over loopback HTTP: a relay plays each tool's outbound
// rule and a local server plays its work-note API.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/app.h"
#include "api/server.h"
#include "connectors/connector.h"
#include "model/glove_sif.h"
#include "service/extractive_path.h"
#include "service/ticket_assist.h"
#include "test_support.h"

namespace ragd::api {
namespace {

using Json = nlohmann::json;
using ragd::test::TempDir;
namespace fs = std::filesystem;

const fs::path kSrc = RAGD_SOURCE_DIR;

Request make_request(const std::string& method, const std::string& path, const std::string& body) {
  Request r;
  r.method = method;
  r.target = path;
  r.path = path;
  r.body = body;
  r.headers["content-type"] = "application/json";
  return r;
}

std::vector<Document> read_kb_tickets_and_docs() {
  std::vector<Document> docs;
  FetchSink sink{[&](Document&& d) { docs.push_back(std::move(d)); }, [](const Status&) {}};
  EXPECT_TRUE(fetch_path(kSrc / "examples/kb", FetchOptions{}, sink).is_ok());
  return docs;
}

// A predictor with fixed answers: enough to check the JSON shape.
class FixedTriage final : public TriagePredictor {
 public:
  std::map<std::string, FieldPrediction> predict(std::string_view subject, std::string_view,
                                                 const std::map<std::string, std::string>&) const override {
    FieldPrediction g{"Network", 0.83, false, {{"Network", 0.83}, {"Service Desk", 0.1}, {"Security", 0.04}, {"x", 0.01}}, "v000007"};
    FieldPrediction p{"2", 0.41, true, {{"2", 0.41}, {"3", 0.39}}, "v000002"};
    if (subject.find("VPN") == std::string_view::npos) g.value = "Service Desk";
    return {{"assignment_group", g}, {"priority", p}};
  }
};

// The sample KB ingested once for the suite.
class TicketAssistKb : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(default_glove_path())) return;
    dir_ = new TempDir("tickets");
    ServiceOptions so;
    so.store.dir = dir_->path / "data";
    so.glove = default_glove_path();
    so.embedder_load = EmbedderLoad::kRequired;
    auto svc = ServiceContext::open(so);
    ASSERT_TRUE(svc.is_ok()) << svc.status().to_string();
    svc_ = std::move(svc).value().release();
    auto stats = svc_->ingest(read_kb_tickets_and_docs());
    ASSERT_TRUE(stats.is_ok()) << stats.status().to_string();
    answerer_ = new ExtractiveAnswerPath(*svc_, nullptr);
    assist_ = new TicketAssist(*svc_, *answerer_, nullptr);
  }
  static void TearDownTestSuite() {
    delete assist_;
    delete answerer_;
    if (svc_) {
      EXPECT_TRUE(svc_->close().is_ok());
    }
    delete svc_;
    delete dir_;
    assist_ = nullptr, answerer_ = nullptr, svc_ = nullptr, dir_ = nullptr;
  }
  void SetUp() override {
    if (!svc_) GTEST_SKIP() << "GloVe file " << default_glove_path() << " absent; run scripts/setup.sh";
  }
  static AssistRequest stored(const std::string& id) {
    auto doc = svc_->store().get_document(id);
    EXPECT_TRUE(doc.is_ok()) << id;
    AssistRequest r;
    if (doc.is_ok()) r.ticket = ticket_from_document(*doc);
    // A new ticket carries no close notes and no thread yet.
    r.ticket.resolution.clear();
    r.ticket.comments.clear();
    return r;
  }

  static TempDir* dir_;
  static ServiceContext* svc_;
  static ExtractiveAnswerPath* answerer_;
  static TicketAssist* assist_;
};
TempDir* TicketAssistKb::dir_ = nullptr;
ServiceContext* TicketAssistKb::svc_ = nullptr;
ExtractiveAnswerPath* TicketAssistKb::answerer_ = nullptr;
TicketAssist* TicketAssistKb::assist_ = nullptr;

TEST(TicketIdentifiers, ErrorCodesHostsAndNotDates) {
  auto ids = extract_identifiers(
      "Outlook error 0x80070005 on db-prod-03.corp.example.com (ORA-12541) at 10:20 on 2024-03-02, "
      "ports 500/4500, see KB0010023. It is v2 of 2024.");
  auto has = [&](const std::string& id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
  EXPECT_TRUE(has("0x80070005"));
  EXPECT_TRUE(has("db-prod-03.corp.example.com"));
  EXPECT_TRUE(has("db-prod-03"));
  EXPECT_TRUE(has("ora-12541"));
  EXPECT_TRUE(has("4500"));
  EXPECT_TRUE(has("500"));
  EXPECT_TRUE(has("kb0010023"));
  EXPECT_FALSE(has("10:20"));
  EXPECT_FALSE(has("2024-03-02"));
  EXPECT_FALSE(has("2024"));
  EXPECT_FALSE(has("v2"));
  EXPECT_TRUE(extract_identifiers("no codes here at all").empty());
}

TEST_F(TicketAssistKb, SimilarNeverItselfAndIdentifiersCount) {
  AssistRequest r = stored("INC0012402");
  auto a = assist_->assist(r);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  ASSERT_FALSE(a->similar.empty());
  for (const auto& s : a->similar) EXPECT_NE(s.id, "INC0012402");
  // Its duplicate, and the other ORA-12541 ticket on the same host, lead.
  std::vector<std::string> top;
  for (size_t i = 0; i < 3 && i < a->similar.size(); ++i) top.push_back(a->similar[i].id);
  EXPECT_NE(std::find(top.begin(), top.end(), "INC0011876"), top.end()) << testing::PrintToString(top);
  EXPECT_FALSE(a->similar.front().shared_identifiers.empty());
  EXPECT_TRUE(a->similar.front().resolved);
  EXPECT_FALSE(a->similar.front().resolution.empty());
  // The same record by its source id (sys_id) alone is itself too.
  AssistRequest by_sys = r;
  by_sys.ticket.id = "new";
  auto b = assist_->assist(by_sys);
  ASSERT_TRUE(b.is_ok());
  for (const auto& s : b->similar) EXPECT_NE(s.id, "INC0012402");
}

TEST_F(TicketAssistKb, RunbookWithSectionAndGroundedSuggestion) {
  AssistRequest r;
  r.ticket.subject = "ORA-12541: TNS:no listener on db-prod-03";
  r.ticket.description = "The ERP cannot connect to the database since this morning.";
  r.ticket.fields["cmdb_ci"] = "db-prod-03.corp.example.com";
  auto a = assist_->assist(r);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  ASSERT_FALSE(a->runbooks.empty());
  EXPECT_EQ(a->runbooks.front().id, "runbooks/oracle-ora-12541-no-listener.md");
  EXPECT_FALSE(a->runbooks.front().text.empty());
  for (const auto& rb : a->runbooks) EXPECT_NE(rb.kind, "ticket");
  EXPECT_TRUE(a->suggestion.grounded);
  EXPECT_FALSE(a->suggestion.citations.empty());
  EXPECT_TRUE(a->triage.empty());

  AssistRequest nothing;
  nothing.ticket.subject = "zqxw blorft vrumple";
  nothing.ticket.description = "grzlk pfnord";
  auto n = assist_->assist(nothing);
  ASSERT_TRUE(n.is_ok());
  EXPECT_FALSE(n->suggestion.grounded);
  EXPECT_EQ(n->suggestion.text, "no grounded suggestion");
}

// examples/kb-eval/ticket_siblings.jsonl: for each resolved ticket with a
// known sibling (same root cause), a sibling is among the top 3 similar
// tickets when the ticket is asked about as new (subject and description).
TEST_F(TicketAssistKb, SiblingInTopThree) {
  std::ifstream in(kSrc / "examples/kb-eval/ticket_siblings.jsonl");
  ASSERT_TRUE(in) << "ticket_siblings.jsonl missing";
  std::string line;
  int total = 0, found = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json j = Json::parse(line);
    const std::string id = j["ticket"];
    auto sibs = j["siblings"].get<std::vector<std::string>>();
    auto a = assist_->assist(stored(id));
    ASSERT_TRUE(a.is_ok()) << id << ": " << a.status().to_string();
    ++total;
    bool ok = false;
    std::string got;
    for (size_t i = 0; i < 3 && i < a->similar.size(); ++i) {
      got += a->similar[i].id + " ";
      if (std::find(sibs.begin(), sibs.end(), a->similar[i].id) != sibs.end()) ok = true;
    }
    found += ok;
    if (!ok) std::cout << "  miss " << id << ": top 3 " << got << std::endl;
  }
  ASSERT_GT(total, 0);
  const double share = static_cast<double>(found) / total;
  std::cout << "sibling in top 3: " << found << "/" << total << " = " << share << std::endl;
  EXPECT_GE(share, 0.9);
}

TEST_F(TicketAssistKb, Tasks) {
  AssistRequest r;
  r.ticket.id = "INC9";
  r.ticket.subject = "Backup job FS01-Daily failed";
  r.ticket.description = "The nightly backup job failed with 'Failed to create VM snapshot'. Finance needs the backup.";
  r.ticket.comments = {
      "2024-05-02 08:00:00 - Ann Agent (Work notes)\nChecked the Veeam job log, the snapshot step fails after 30 seconds.",
      "2024-05-02 09:10:00 - Ann Agent (Work notes)\nRetried the job manually, same error on the quiescing step.",
      "2024-05-02 10:30:00 - Bob Admin (Work notes)\nThe snapshot failed because orphaned snapshots were left on the VM. "
      "Consolidated the disks and restarted the VSS writer. The job ran green at 10:25."};
  for (const char* task : {"summarize", "resolution_note", "kb_draft"}) {
    auto t = assist_->run_task(task, r);
    ASSERT_TRUE(t.is_ok()) << task;
    int sentences = 0;
    for (const auto& sec : t->sections) {
      for (const auto& s : sec.sentences) {
        ++sentences;
        EXPECT_FALSE(s.cite.empty()) << task << ": " << s.text;
        // A quoted sentence is the ticket's or a cited document's, word for word.
        bool own = r.ticket.description.find(s.text) != std::string::npos || r.ticket.subject == s.text;
        for (const auto& c : r.ticket.comments) own |= c.find(s.text) != std::string::npos;
        if (s.cite.find("comment") == 0 || s.cite == "description") {
          EXPECT_TRUE(own) << s.text;
        }
        EXPECT_EQ(s.text.find("Ann Agent"), std::string::npos);
      }
    }
    EXPECT_GT(sentences, 1) << task;
  }
  auto note = assist_->run_task("resolution_note", r);
  ASSERT_TRUE(note.is_ok());
  ASSERT_EQ(note->sections.front().name, "cause");
  ASSERT_FALSE(note->sections.front().sentences.empty());
  EXPECT_NE(note->sections.front().sentences.front().text.find("orphaned snapshots"), std::string::npos);
  EXPECT_EQ(note->sections.front().sentences.front().cite, "comment 3");
  auto summary = assist_->run_task("summarize", r);
  ASSERT_TRUE(summary.is_ok());
  EXPECT_EQ(summary->sections[1].name, "tried");
  EXPECT_EQ(summary->sections[1].sentences.size(), 2u);
  EXPECT_EQ(summary->sections[2].sentences.front().cite, "comment 3");
  EXPECT_FALSE(assist_->run_task("poem", r).is_ok());
}

// Stands in for the LLM answer path in the task tests: it answers with a
// script in which "{doc#part}" becomes the [n] of the passage it was given
// for that part, as a model that cites the passages would, so the tests
// see which passages a task sends and how verified text becomes sections.
// The real model path (random weights, never verified) is in
// llm_http_test.cpp.
class ScriptedLlm final : public Answerer {
 public:
  std::string script;
  Grounding grounding = Grounding::kVerified;
  mutable AnswerRequest seen;

  Result<Answer> answer(const AnswerRequest& r, AnswerSink*) const override {
    seen = r;
    Answer a;
    a.answerer = "llm";
    a.model_file = "scripted.gguf";
    a.prompt_version = std::string(prompt_task_name(r.task)) + ".txt@00000000";
    a.grounding = grounding;
    a.refused = grounding == Grounding::kRefused;
    a.text = script;
    for (size_t i = 0; i < r.passages.size(); ++i) {
      const std::string key = "{" + r.passages[i].doc_id + "#" + r.passages[i].chunk_id + "}";
      const std::string n = "[" + std::to_string(i + 1) + "]";
      bool used = false;
      for (size_t at; (at = a.text.find(key)) != std::string::npos; used = true) a.text.replace(at, key.size(), n);
      if (!used) continue;
      Citation c;
      c.n = static_cast<int>(i + 1);
      c.doc_id = r.passages[i].doc_id;
      c.chunk_id = r.passages[i].chunk_id;
      a.citations.push_back(c);
    }
    return a;
  }
  bool generates() const override { return true; }
  // Every read returns a later epoch, as if a purge followed each one.
  mutable uint64_t epoch = 7;
  std::optional<uint64_t> prefix_cache_epoch() const override { return epoch++; }
};

AssistRequest backup_ticket() {
  AssistRequest r;
  r.ticket.id = "INC9";
  r.ticket.subject = "Backup job FS01-Daily failed";
  r.ticket.description = "The nightly backup job failed with 'Failed to create VM snapshot'.";
  r.ticket.comments = {
      "2024-05-02 08:00:00 - Ann Agent (Work notes)\nChecked the Veeam job log, the snapshot step fails.",
      "2024-05-02 10:30:00 - Bob Admin (Work notes)\nOrphaned snapshots were left on the VM. "
      "Consolidated the disks and restarted the VSS writer."};
  return r;
}

TEST_F(TicketAssistKb, LlmTasksReadTheTicketsPartsAndKeepTheirCitations) {
  ScriptedLlm llm;
  TicketAssist assist(*svc_, llm, nullptr);
  AssistRequest r = backup_ticket();
  llm.script =
      "Cause: Orphaned snapshots were left on the VM {INC9#comment 2}. Resolution: Consolidated the disks "
      "{INC9#comment 2}. The job had failed to create a VM snapshot {INC9#description}{INC9#comment 2}. "
      "An uncited sentence is dropped.";
  auto note = assist.run_task("resolution_note", r);
  ASSERT_TRUE(note.is_ok()) << note.status().to_string();
  EXPECT_EQ(llm.seen.task, PromptTask::kResolutionNote);
  // The passages are the ticket's own parts, not a search of the store.
  ASSERT_EQ(llm.seen.passages.size(), 3u);
  EXPECT_EQ(llm.seen.passages[0].chunk_id, "description");
  EXPECT_EQ(llm.seen.passages[2].chunk_id, "comment 2");
  EXPECT_EQ(llm.seen.passages[2].text.find("Bob Admin"), std::string::npos) << "entry headers are not passages";
  EXPECT_EQ(note->generated_by, "llm");
  EXPECT_EQ(note->grounding, "verified");
  EXPECT_EQ(note->model_file, "scripted.gguf");
  EXPECT_TRUE(note->llm_fallback.empty());
  ASSERT_EQ(note->sections.size(), 2u);
  EXPECT_EQ(note->sections[0].name, "cause");
  ASSERT_EQ(note->sections[0].sentences.size(), 1u);
  EXPECT_EQ(note->sections[0].sentences[0].text, "Orphaned snapshots were left on the VM.");
  EXPECT_EQ(note->sections[0].sentences[0].cite, "comment 2");
  EXPECT_EQ(note->sections[1].name, "resolution");
  ASSERT_EQ(note->sections[1].sentences.size(), 2u);
  EXPECT_EQ(note->sections[1].sentences[1].cite, "description, comment 2");

  // kb_draft also reads the siblings' close notes; its parts are cited by document.
  llm.script = "Symptoms: The backup fails {INC9#description}.";
  auto kb = assist.run_task("kb_draft", r);
  ASSERT_TRUE(kb.is_ok()) << kb.status().to_string();
  EXPECT_EQ(llm.seen.task, PromptTask::kKbDraft);
  ASSERT_GE(llm.seen.passages.size(), 3u);
  EXPECT_EQ(kb->sections.at(0).name, "symptoms");
  for (const auto& p : llm.seen.passages) {
    if (p.doc_id != "INC9") {
      EXPECT_EQ(p.chunk_id, "resolution") << p.doc_id;
    }
  }

  llm.script = "The backup failed {INC9#description}. The disks were consolidated {INC9#comment 2}.";
  auto sum = assist.run_task("summarize", r);
  ASSERT_TRUE(sum.is_ok());
  EXPECT_EQ(llm.seen.task, PromptTask::kSummarizeTicket);
  ASSERT_EQ(sum->sections.size(), 1u);
  EXPECT_EQ(sum->sections[0].name, "summary");
  EXPECT_EQ(sum->sections[0].sentences.size(), 2u);
}

// A task's prompt quotes the similar tickets found before it runs: it
// carries the prefix cache's epoch read before they were found, so a purge
// in between keeps the prompt out of the cache (the path alone would read
// the epoch only when the answer starts).
TEST_F(TicketAssistKb, ATasksPromptCarriesTheCacheEpochReadBeforeItsSimilarTicketsWereFound) {
  ScriptedLlm llm;
  TicketAssist assist(*svc_, llm, nullptr);
  AssistRequest r = backup_ticket();
  r.tasks = {"kb_draft"};
  llm.script = "Symptoms: The backup fails {INC9#description}.";
  auto all = assist.assist(r);
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_EQ(llm.seen.task, PromptTask::kKbDraft);
  EXPECT_EQ(llm.seen.cache_epoch, std::optional<uint64_t>(7)) << "the first read, before the similar tickets";
  EXPECT_EQ(llm.epoch, 8u) << "read once";

  auto one = assist.run_task("kb_draft", r);
  ASSERT_TRUE(one.is_ok()) << one.status().to_string();
  EXPECT_EQ(llm.seen.cache_epoch, std::optional<uint64_t>(8));

  // A task on a stored ticket: the route reads the epoch before it reads
  // the ticket, whose text the prompt quotes, and assist reads none itself.
  Registry registry;
  App app(*svc_, llm, registry, nullptr, RouteOptions{}, nullptr, nullptr);
  Request summarize = make_request("POST", "/v1/tickets/summarize", Json{{"id", "INC0012345"}}.dump());
  Response by_id = app.handle(summarize);
  EXPECT_EQ(by_id.status, 200) << by_id.body;
  EXPECT_EQ(llm.seen.task, PromptTask::kSummarizeTicket);
  EXPECT_EQ(llm.seen.cache_epoch, std::optional<uint64_t>(9));
  EXPECT_EQ(llm.epoch, 10u) << "read once";
}

TEST_F(TicketAssistKb, LlmTaskFallsBackToExtractiveWhenNothingIsVerified) {
  ScriptedLlm llm;
  TicketAssist assist(*svc_, llm, nullptr);
  AssistRequest r = backup_ticket();
  auto extractive = assist_->run_task("resolution_note", r);
  ASSERT_TRUE(extractive.is_ok());
  for (Grounding g : {Grounding::kNone, Grounding::kRefused, Grounding::kFallback}) {
    llm.grounding = g;
    llm.script = "Cause: The moon was in the wrong phase {INC9#comment 2}.";
    auto t = assist.run_task("resolution_note", r);
    ASSERT_TRUE(t.is_ok());
    EXPECT_EQ(t->generated_by, "extractive") << grounding_name(g);
    EXPECT_FALSE(t->llm_fallback.empty()) << grounding_name(g);
    ASSERT_EQ(t->sections.size(), extractive->sections.size());
    for (size_t i = 0; i < t->sections.size(); ++i) {
      ASSERT_EQ(t->sections[i].sentences.size(), extractive->sections[i].sentences.size());
      for (size_t k = 0; k < t->sections[i].sentences.size(); ++k) {
        EXPECT_EQ(t->sections[i].sentences[k].text, extractive->sections[i].sentences[k].text);
        EXPECT_EQ(t->sections[i].sentences[k].text.find("moon"), std::string::npos);
      }
    }
  }
  // Verified, but with no citation left: nothing to keep either.
  llm.grounding = Grounding::kVerified;
  llm.script = "Cause: unknown.";
  auto bare = assist.run_task("resolution_note", r);
  ASSERT_TRUE(bare.is_ok());
  EXPECT_EQ(bare->generated_by, "extractive");
  EXPECT_FALSE(bare->llm_fallback.empty());
}

// Duplicates and the ACL on a small store of their own.
TEST(TicketAssistDuplicates, SameErrorSameCiInWindowAndAclApplies) {
  if (!fs::exists(default_glove_path())) GTEST_SKIP() << "GloVe file absent";
  TempDir dir("tickets-dup");
  ServiceOptions so;
  so.store.dir = dir.path / "data";
  so.glove = default_glove_path();
  so.embedder_load = EmbedderLoad::kRequired;
  auto svc = ServiceContext::open(so);
  ASSERT_TRUE(svc.is_ok());
  const int64_t t0 = 1'717'000'000;
  auto ticket = [&](const std::string& id, const std::string& subject, const std::string& ci, const std::string& state,
                    int64_t opened, std::vector<std::string> acl = {}) {
    Document d;
    d.id = id;
    d.title = id + ": " + subject;
    d.kind = "ticket";
    d.source = "api";
    d.metadata = {{"cmdb_ci", ci}, {"state", state}};
    d.acl = std::move(acl);
    d.created_at = d.updated_at = opened;
    d.blocks = {Block{{}, "problem", d.title + "\n\nUsers report the error since the change this morning."}};
    if (state == "Resolved") d.blocks.push_back(Block{{}, "resolution", "Restarted the listener service."});
    return d;
  };
  std::vector<Document> docs = {
      ticket("INC1", "ERR-4711 on payroll portal", "pay-app-01", "New", t0 + 600),
      ticket("INC2", "ERR-4711 on payroll portal", "hr-app-07", "New", t0 + 900),
      ticket("INC3", "ERR-4711 on payroll portal", "pay-app-01", "New", t0 - 3 * 86400),
      ticket("INC4", "ERR-4711 on payroll portal", "pay-app-01", "Resolved", t0 - 10 * 86400),
      ticket("INC5", "ERR-4711 on payroll portal", "pay-app-01", "In Progress", t0 + 1200, {"secops"}),
  };
  ASSERT_TRUE((*svc)->ingest(docs).is_ok());
  ExtractiveAnswerPath answerer(**svc, nullptr);
  TicketAssistOptions opt;
  opt.duplicate_score = 99;  // only the identifier rule
  TicketAssist assist(**svc, answerer, nullptr, opt);
  AssistRequest r;
  r.ticket.id = "INC0";
  r.ticket.subject = "Payroll portal shows ERR-4711";
  r.ticket.description = "Cannot open payslips.";
  r.ticket.fields["cmdb_ci"] = "pay-app-01";
  r.ticket.opened_at = t0;
  auto ids = [](const auto& list) {
    std::vector<std::string> out;
    for (const auto& x : list) out.push_back(x.id);
    return out;
  };
  auto a = assist.assist(r);
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(ids(a->duplicates), std::vector<std::string>{"INC1"});
  ASSERT_FALSE(a->similar.empty());
  EXPECT_EQ(a->similar.front().id, "INC4");  // resolved ranks above open
  for (const auto& s : a->similar) EXPECT_NE(s.id, "INC5");
  r.groups = {"secops"};
  auto b = assist.assist(r);
  ASSERT_TRUE(b.is_ok());
  auto dups = ids(b->duplicates);
  std::sort(dups.begin(), dups.end());
  EXPECT_EQ(dups, (std::vector<std::string>{"INC1", "INC5"}));
  // A narrower window drops INC5 (20 minutes after) but keeps INC1 (10).
  opt.duplicate_window_s = 900;
  TicketAssist narrow(**svc, answerer, nullptr, opt);
  auto c = narrow.assist(r);
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(ids(c->duplicates), std::vector<std::string>{"INC1"});
  EXPECT_TRUE((*svc)->close().is_ok());
}

// ---------------------------------------------------------------- routes

class TicketRoutes : public TicketAssistKb {
 protected:
  void SetUp() override {
    TicketAssistKb::SetUp();
    if (IsSkipped()) return;
    registry_ = std::make_unique<Registry>();
    app_ = std::make_unique<App>(*svc_, *answerer_, *registry_, nullptr, RouteOptions{}, nullptr, &triage_);
  }
  Response call(const std::string& path, const Json& body) {
    Request req = make_request("POST", path, body.dump());
    return app_->handle(req);
  }
  FixedTriage triage_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<App> app_;
};

TEST_F(TicketRoutes, AssistJsonShapeWithTriageAndTasks) {
  Response r = call("/v1/tickets/assist",
                    Json{{"id", "NEW-1"},
                         {"subject", "VPN error 809 in the hotel"},
                         {"description", "Cannot connect to the VPN from the hotel Wi-Fi, error 809."},
                         {"fields", {{"cmdb_ci", {{"display_value", "vpn-gw-01.corp.example.com"}, {"value", "abc"}}},
                                     {"priority", 3}}},
                         {"tasks", {"summarize"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  for (const char* k : {"similar", "runbooks", "suggestion", "triage", "duplicates", "tasks", "note", "took_ms"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  ASSERT_FALSE(j["similar"].empty());
  for (const char* k : {"id", "title", "score", "resolution", "closed_at", "state", "close_code", "url"}) {
    EXPECT_TRUE(j["similar"][0].contains(k)) << k;
  }
  EXPECT_EQ(j["runbooks"][0]["id"], "runbooks/vpn-error-809.md");
  EXPECT_TRUE(j["runbooks"][0]["section"].contains("heading"));
  EXPECT_TRUE(j["suggestion"]["grounded"].get<bool>());
  EXPECT_EQ(j["suggestion"]["provenance"]["answerer"], "extractive") << j["suggestion"].dump();
  EXPECT_NE(j["provenance"]["encoder"].get<std::string>().find("glove"), std::string::npos) << j["provenance"].dump();
  EXPECT_GT(j["provenance"]["store_sequence"].get<uint64_t>(), 0u);
  const Json& g = j["triage"]["assignment_group"];
  EXPECT_EQ(g["value"], "Network");
  EXPECT_DOUBLE_EQ(g["confidence"].get<double>(), 0.83);
  EXPECT_EQ(g["model_version"], "v000007");
  EXPECT_FALSE(g["withheld"].get<bool>());
  ASSERT_EQ(g["alternatives"].size(), 3u);  // the top 3 only
  EXPECT_EQ(g["alternatives"][1]["value"], "Service Desk");
  EXPECT_TRUE(j["triage"]["priority"]["withheld"].get<bool>());
  EXPECT_TRUE(j["tasks"].contains("summarize"));
  EXPECT_NE(j["note"].get<std::string>().find("Triage"), std::string::npos);
}

TEST_F(TicketRoutes, RawVendorRecordsAreMappedByTheConnectors) {
  Json sn = Json::parse(test::read_file(kSrc / "examples/kb/tickets/servicenow/incidents_table_api.json"));
  Json rec;
  for (const auto& x : sn["result"]) {
    if (x["number"] == "INC0012388") rec = x;
  }
  ASSERT_TRUE(rec.is_object());
  Response r = call("/v1/tickets/assist", Json{{"record", rec}, {"format", "servicenow"}});
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  EXPECT_EQ(j["ticket_id"], "INC0012388");
  bool sibling = false;
  for (const auto& s : j["similar"]) {
    EXPECT_NE(s["id"], "INC0012388");
    sibling |= s["id"] == "INC0012345" || s["id"] == "ZD-4101";
  }
  EXPECT_TRUE(sibling) << r.body.substr(0, 600);

  Json zd = Json::parse(test::read_file(kSrc / "examples/kb/tickets/zendesk/tickets.json"));
  Response z = call("/v1/tickets/assist", Json{{"record", zd["tickets"][9]}, {"format", "zendesk"}});
  ASSERT_EQ(z.status, 200) << z.body;
  EXPECT_EQ(Json::parse(z.body)["ticket_id"], "ZD-4110");

  // Bad input: a clear 400, never a crash.
  for (const Json& bad : {Json{{"record", 5}, {"format", "servicenow"}}, Json{{"record", rec}, {"format", "remedy"}},
                          Json{{"record", Json::object()}, {"format", "jira"}}, Json{{"subject", 7}},
                          Json{{"fields", "x"}, {"subject", "a"}}, Json::object(), Json::array(),
                          Json{{"subject", "a"}, {"tasks", {"poem"}}}, Json{{"subject", "a"}, {"opened_at", "soon"}}}) {
    Response b = call("/v1/tickets/assist", bad);
    EXPECT_EQ(b.status, 400) << bad.dump() << " -> " << b.body;
  }
  EXPECT_EQ(call("/v1/tickets/assist", Json{{"id", "INC-NOPE"}}).status, 404);
}

TEST_F(TicketRoutes, TaskRoutesByStoredId) {
  Response r = call("/v1/tickets/kb_draft", Json{{"id", "INC0012345"}});
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  EXPECT_EQ(j["task"], "kb_draft");
  for (const char* s : {"symptoms", "cause", "resolution"}) EXPECT_TRUE(j["sections"].contains(s)) << s;
  EXPECT_FALSE(j["sections"]["resolution"].empty());
  for (const auto& sec : j["sections"]) {
    for (const auto& s : sec) EXPECT_FALSE(s["cite"].get<std::string>().empty());
  }
  EXPECT_EQ(call("/v1/tickets/summarize", Json{{"id", "ITSM-2201"}}).status, 200);
  EXPECT_EQ(call("/v1/tickets/resolution_note", Json{{"id", "ITSM-2201"}}).status, 200);
}

TEST_F(TicketRoutes, FeedbackIsDurableAndCountedInMetrics) {
  auto before = svc_->store().list_state("ticket_feedback/", 1000);
  ASSERT_TRUE(before.is_ok());
  const size_t n0 = before->size();
  EXPECT_EQ(call("/v1/tickets/assist/feedback",
                 Json{{"ticket_id", "INC1"}, {"field", "assignment_group"}, {"value", "Network"},
                      {"predicted", "Network"}, {"suggestion_helpful", true}, {"similar_used", "INC0012345"}})
                .status,
            200);
  EXPECT_EQ(call("/v1/tickets/assist/feedback",
                 Json{{"ticket_id", "INC2"}, {"field", "assignment_group"}, {"value", "Database"},
                      {"predicted", "Network"}, {"suggestion_helpful", false}})
                .status,
            200);
  EXPECT_EQ(call("/v1/tickets/assist/feedback", Json{{"field", "x"}}).status, 400);
  EXPECT_EQ(call("/v1/tickets/assist/feedback", Json{{"ticket_id", "INC3"}, {"suggestion_helpful", "yes"}}).status, 400);
  auto after = svc_->store().list_state("ticket_feedback/", 1000);
  ASSERT_TRUE(after.is_ok());
  ASSERT_EQ(after->size(), n0 + 2);
  Json last = Json::parse(after->back().second);
  for (const char* k : {"ticket_id", "field", "value", "ts"}) EXPECT_TRUE(last.contains(k)) << k;
  EXPECT_EQ(last["ticket_id"], "INC2");
  EXPECT_EQ(last["value"], "Database");
  EXPECT_EQ(after->back().first.rfind("ticket_feedback/", 0), 0u);

  auto metric = [&](App& app, const std::string& series) {
    Request m = make_request("GET", "/metrics", "");
    Response resp = app.handle(m);
    size_t p = resp.body.find(series + " ");
    return p == std::string::npos ? -1.0 : std::stod(resp.body.substr(p + series.size() + 1));
  };
  EXPECT_DOUBLE_EQ(metric(*app_, "ragd_ticket_acceptance_rate{part=\"triage\"}"), 0.5);
  EXPECT_DOUBLE_EQ(metric(*app_, "ragd_ticket_feedback_rated{part=\"suggestion\"}"), 2);
  // A new App (a restart) loads the counters from the store.
  Registry again;
  App reopened(*svc_, *answerer_, again, nullptr);
  EXPECT_DOUBLE_EQ(metric(reopened, "ragd_ticket_feedback_accepted{part=\"similar\"}"), 1);
  EXPECT_DOUBLE_EQ(metric(reopened, "ragd_ticket_acceptance_rate{part=\"suggestion\"}"), 0.5);
}

// ---------------------------------------------------------------- ITSM round trip

// The ITSM side: a loopback server that records the write-backs it gets.
class FakeItsm {
 public:
  FakeItsm() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeItsm() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  struct Call {
    std::string method, path, body;
  };
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string raw;
      char buf[8192];
      size_t need = std::string::npos;
      while (true) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<size_t>(n));
        size_t he = raw.find("\r\n\r\n");
        if (he != std::string::npos && need == std::string::npos) {
          std::string head = raw.substr(0, he);
          std::transform(head.begin(), head.end(), head.begin(), [](unsigned char ch) { return std::tolower(ch); });
          size_t cl = head.find("content-length:");
          need = he + 4 + (cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15)));
        }
        if (need != std::string::npos && raw.size() >= need) break;
      }
      Call call;
      std::istringstream first(raw.substr(0, raw.find("\r\n")));
      first >> call.method >> call.path;
      size_t he = raw.find("\r\n\r\n");
      if (he != std::string::npos) call.body = raw.substr(he + 4);
      {
        std::lock_guard<std::mutex> l(mu_);
        calls_.push_back(call);
      }
      const std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
      test::send_all(c, resp);
      ::close(c);
    }
  }
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Call> calls_;
};

// What each tool's outbound rule does (service/TICKETS.md): send the record
// to ragd, then write the result's note back through the tool's own API.
TEST_F(TicketRoutes, ItsmRulesWriteTheNoteBackOverLoopbackHttp) {
  ServerOptions so;
  so.port = 0;
  so.io_threads = 1;
  so.worker_threads = 2;
  Server server(*app_, so);
  ASSERT_TRUE(server.listen().is_ok());
  std::thread runner([&] { (void)server.run(); });
  const uint16_t ragd = server.port();
  FakeItsm itsm;

  auto assist = [&](const Json& body) {
    test::HttpResult r = test::http_post(ragd, "/v1/tickets/assist", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body, nullptr, false);
  };
  // ServiceNow: Business Rule (after insert) -> Outbound REST Message ->
  // PATCH /api/now/table/incident/{sys_id} {"work_notes": note}.
  Json sn = Json::parse(test::read_file(kSrc / "examples/kb/tickets/servicenow/incidents_table_api.json"));
  Json incident = sn["result"][0];
  Json a = assist(Json{{"record", incident}, {"format", "servicenow"}});
  const std::string sys_id = incident["sys_id"];
  auto w = test::http_request(itsm.port(), "PATCH", "/api/now/table/incident/" + sys_id,
                              Json{{"work_notes", a["note"]}}.dump());
  EXPECT_EQ(w.status, 200);
  // Jira: Automation "Send web request" (issue created) -> add comment with
  // {{webResponse.body.note}}, i.e. POST /rest/api/3/issue/{key}/comment.
  Json jira = Json::parse(test::read_file(kSrc / "examples/kb/tickets/jira/search_results.json"));
  Json issue = jira["issues"][0];
  Json b = assist(Json{{"record", issue}, {"format", "jira"}});
  Json adf{{"type", "doc"},
           {"version", 1},
           {"content", {{{"type", "paragraph"}, {"content", {{{"type", "text"}, {"text", b["note"]}}}}}}}};
  w = test::http_request(itsm.port(), "POST", "/rest/api/3/issue/" + issue["key"].get<std::string>() + "/comment",
                         Json{{"body", adf}}.dump());
  EXPECT_EQ(w.status, 200);
  // Zendesk: trigger (ticket created) -> webhook to ragd; the write-back is
  // PUT /api/v2/tickets/{id}.json with a private comment.
  Json zd = Json::parse(test::read_file(kSrc / "examples/kb/tickets/zendesk/tickets.json"));
  Json t = zd["tickets"][0];
  Json c = assist(Json{{"id", std::to_string(t["id"].get<int>())},
                       {"subject", t["subject"]},
                       {"description", t["description"]}});
  w = test::http_request(itsm.port(), "PUT", "/api/v2/tickets/" + std::to_string(t["id"].get<int>()) + ".json",
                         Json{{"ticket", {{"comment", {{"body", c["note"]}, {"public", false}}}}}}.dump());
  EXPECT_EQ(w.status, 200);

  auto calls = itsm.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].method, "PATCH");
  Json note0 = Json::parse(calls[0].body);
  // The ServiceNow note names the sibling VPN 809 ticket and the runbook.
  const std::string n0 = note0["work_notes"];
  EXPECT_NE(n0.find("INC0012388"), std::string::npos) << n0;
  EXPECT_NE(n0.find("VPN"), std::string::npos);
  EXPECT_EQ(n0.find("- INC0012345 ("), std::string::npos);  // never itself
  EXPECT_EQ(calls[1].path, "/rest/api/3/issue/ITSM-2201/comment");
  Json jb = Json::parse(calls[1].body);
  EXPECT_NE(jb["body"]["content"][0]["content"][0]["text"].get<std::string>().find("ZD-4108"), std::string::npos);
  EXPECT_EQ(calls[2].path, "/api/v2/tickets/4101.json");
  Json zb = Json::parse(calls[2].body);
  EXPECT_FALSE(zb["ticket"]["comment"]["public"].get<bool>());
  EXPECT_NE(zb["ticket"]["comment"]["body"].get<std::string>().find("809"), std::string::npos);
  server.stop();
  runner.join();
}

}  // namespace
}  // namespace ragd::api

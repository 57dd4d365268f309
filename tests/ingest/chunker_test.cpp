#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "ingest/chunker.h"
#include "ragd/chunk_text.h"
#include "tests/sanitizer.h"

namespace ragd {
namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

Document markdown_doc(std::string text) {
  Document d;
  d.id = "runbooks/vpn.md";
  d.title = "VPN runbook";
  d.text = normalize_text(text);
  return d;
}

// Fixed-seed prose: sentences of 6-14 words, paragraphs of 2-6 sentences.
std::string prose(int paragraphs, uint32_t seed) {
  static const char* words[] = {"vpn", "gateway", "certificate", "user", "laptop", "error", "restart", "service",
                                "policy", "password", "network", "ticket", "server", "disk", "backup", "login"};
  std::mt19937 rng(seed);
  std::string out;
  int sentence_no = 0;
  for (int p = 0; p < paragraphs; ++p) {
    if (p) out += "\n\n";
    int sentences = 2 + static_cast<int>(rng() % 5);
    for (int s = 0; s < sentences; ++s) {
      if (s) out += ' ';
      out += 'S';
      out += std::to_string(sentence_no++);
      int n = 6 + static_cast<int>(rng() % 9);
      for (int w = 0; w < n; ++w) {
        out += ' ';
        out += words[rng() % 16];
      }
      out += '.';
    }
  }
  return out;
}

TEST(CountTokens, WordsAndPunctuation) {
  EXPECT_EQ(count_tokens("Hello, world!"), 4u);
  EXPECT_EQ(count_tokens("INC0012345 failed."), 3u);
  EXPECT_EQ(count_tokens("caf\xC3\xA9 au lait"), 3u);
  EXPECT_EQ(count_tokens("ORA-00942"), 3u);
  EXPECT_EQ(count_tokens("   "), 0u);
}

TEST(Chunker, MarkdownHeadingPathsAndFencedCode) {
  Document d = markdown_doc(
      "# VPN runbook\n\nThis runbook covers the corporate VPN and the errors users report most often when "
      "travelling.\n\n"
      "## Error 809\n\nThe hotel network blocks IKEv2 on UDP 500 and 4500, so the tunnel never comes up.\n\n"
      "### Fix\n\nSwitch the profile to SSTP, which runs over TCP 443 and passes most hotel firewalls.\n\n"
      "```powershell\nSet-VpnConnection -Name NW-VPN\n\n# not a heading\nGet-VpnConnection\n```\n\n"
      "## Error 691\n\nThe password was rejected; check that the account is not locked in Active Directory "
      "before you reset anything else.\n");
  ChunkerOptions o;
  o.min_tokens = 5;
  auto chunks = Chunker(o).split(d);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].section_path, (std::vector<std::string>{"VPN runbook"}));
  EXPECT_EQ(chunks[1].section_path, (std::vector<std::string>{"VPN runbook", "Error 809"}));
  EXPECT_EQ(chunks[2].section_path, (std::vector<std::string>{"VPN runbook", "Error 809", "Fix"}));
  EXPECT_TRUE(contains(chunks[2].text, "```powershell\nSet-VpnConnection -Name NW-VPN\n\n# not a heading\n"
                                       "Get-VpnConnection\n```"))
      << chunks[2].text;
  EXPECT_EQ(chunks[3].section_path, (std::vector<std::string>{"VPN runbook", "Error 691"}));
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].id, "runbooks/vpn.md#" + std::to_string(i));
    EXPECT_EQ(chunks[i].doc_id, "runbooks/vpn.md");
    EXPECT_EQ(chunks[i].ordinal, i);
    EXPECT_EQ(chunks[i].role, "body");
    EXPECT_EQ(chunks[i].n_tokens, count_tokens(chunks[i].text));
    EXPECT_FALSE(contains(chunks[i].text, "## ")) << "heading lines are not chunk text";
  }
  EXPECT_EQ(chunk_embed_text(d.title, chunks[2]), "VPN runbook > Error 809 > Fix\n" + chunks[2].text);
}

// A short section goes into the next one; siblings that share a chunk keep
// their heading lines (the chunk's path names only the last), a parent's
// short intro goes into its child as it is.
TEST(Chunker, ShortSectionsMergeIntoTheirSuccessor) {
  Document d = markdown_doc("# Guide\n\n## Scope\n\nAll laptops.\n\n## Steps\n\n" + prose(1, 3));
  auto chunks = Chunker().split(d);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].section_path, (std::vector<std::string>{"Guide", "Steps"}));
  EXPECT_TRUE(chunks[0].text.starts_with("## Scope\n\nAll laptops.\n\n## Steps\n\nS0 ")) << chunks[0].text;

  d = markdown_doc("# KB\n\n## Symptoms\n\nError 42.\n\n## Cause\n\nA stale lock.\n\n## Resolution\n\n" +
                   prose(1, 3));
  chunks = Chunker().split(d);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].section_path, (std::vector<std::string>{"KB", "Resolution"}));
  EXPECT_TRUE(chunks[0].text.starts_with(
      "## Symptoms\n\nError 42.\n\n## Cause\n\nA stale lock.\n\n## Resolution\n\nS0 "))
      << chunks[0].text;

  // A sibling merged into a section that then goes into its child.
  d = markdown_doc("# KB\n\n## A\n\nShort a.\n\n## B\n\nShort b.\n\n### B1\n\n" + prose(1, 3));
  chunks = Chunker().split(d);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].section_path, (std::vector<std::string>{"KB", "B", "B1"}));
  EXPECT_TRUE(chunks[0].text.starts_with("## A\n\nShort a.\n\n## B\n\nShort b.\n\n### B1\n\nS0 "))
      << chunks[0].text;

  d = markdown_doc("# Fix\n\nTry in order.\n\n## First\n\n" + prose(1, 3));
  chunks = Chunker().split(d);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].section_path, (std::vector<std::string>{"Fix", "First"}));
  EXPECT_TRUE(chunks[0].text.starts_with("Try in order.\n\nS0 ")) << chunks[0].text;
}

TEST(Chunker, TokenBudgetOverlapAndSentenceBoundaries) {
  Document d = markdown_doc("# Long\n\n" + prose(40, 11));
  ChunkerOptions o;
  o.max_tokens = 120;
  o.overlap_tokens = 25;
  auto chunks = Chunker(o).split(d);
  ASSERT_GT(chunks.size(), 5u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(chunks[i].n_tokens, o.max_tokens);
    EXPECT_TRUE(chunks[i].text.ends_with(".")) << "chunk " << i << " ends mid-sentence: " << chunks[i].text;
    EXPECT_TRUE(chunks[i].text.starts_with("S")) << "chunk " << i << " starts mid-sentence: " << chunks[i].text;
    if (i == 0) continue;
    // The next chunk opens with the previous chunk's last sentence(s), up to the overlap.
    const std::string& prev = chunks[i - 1].text;
    std::string first_sentence = chunks[i].text.substr(0, chunks[i].text.find('.') + 1);
    EXPECT_TRUE(contains(prev, first_sentence)) << "no overlap at chunk " << i;
    EXPECT_FALSE(prev.starts_with(first_sentence));
  }
  // Nothing is lost: every sentence marker appears in some chunk.
  std::string all;
  for (const auto& c : chunks) all += c.text + "\n";
  for (int s = 0; s < 100; ++s) {
    std::string marker = "S" + std::to_string(s) + " ";
    if (!contains(d.text, marker)) break;
    EXPECT_TRUE(contains(all, marker)) << marker;
  }
}

TEST(Chunker, LongTablesRepeatTheirHeaderInEveryChunk) {
  std::string md = "# Policy\n\n## Schedule\n\n| Record type | Retention |\n|---|---|\n";
  for (int i = 0; i < 40; ++i) md += "| Record kind " + std::to_string(i) + " | " + std::to_string(i + 1) + " days |\n";
  md += "\nAfter the table.\n";
  ChunkerOptions o;
  o.max_tokens = 60;
  o.overlap_tokens = 10;
  auto chunks = Chunker(o).split(markdown_doc(md));
  int rows_seen = 0, table_chunks = 0;
  for (const auto& c : chunks) {
    EXPECT_LE(c.n_tokens, o.max_tokens) << c.text;
    if (c.text.find("| Record kind") == std::string::npos) continue;
    ++table_chunks;
    EXPECT_EQ(c.text.rfind("| Record type | Retention |\n|---|---|\n| Record kind", 0), 0u) << c.text;
    size_t pos = 0;
    while ((pos = c.text.find("| Record kind ", pos)) != std::string::npos) { ++rows_seen; ++pos; }
  }
  EXPECT_GT(table_chunks, 2);
  EXPECT_EQ(rows_seen, 40);  // every row once: no overlap repeats rows without their header
}

TEST(Chunker, RunOnTextIsCutIntoWindows) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "word" + std::to_string(i) + " ";
  Document d;
  d.id = "x";
  d.text = normalize_text(text);
  ChunkerOptions o;
  o.max_tokens = 100;
  o.overlap_tokens = 10;
  auto chunks = Chunker(o).split(d);
  ASSERT_GE(chunks.size(), 10u);
  for (const auto& c : chunks) EXPECT_LE(c.n_tokens, 100u);
  EXPECT_TRUE(contains(chunks.back().text, "word999"));
  EXPECT_TRUE(contains(chunks[1].text, "word95 ")) << "overlap of 10 tokens expected";
}

TEST(Chunker, TicketRolesStaySeparate) {
  Document d;
  d.id = "INC0012345";
  d.title = "INC0012345: VPN error 809";
  d.blocks = {{{}, "problem", "INC0012345: VPN error 809\n\nHotel Wi-Fi blocks the VPN."},
              {{}, "resolution", "Switched to SSTP."},
              {{}, "comment", "2024-03-02 10:11:12 - Jane (Work notes)\nAsked for logs."},
              {{}, "comment", "2024-03-02 10:15:00 - Anna (Comments)\nStill broken."}};
  auto chunks = Chunker().split(d);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].role, "problem");
  EXPECT_EQ(chunks[1].role, "resolution");
  EXPECT_EQ(chunks[1].text, "Switched to SSTP.");
  EXPECT_EQ(chunks[2].role, "comment");  // short comments share a chunk
  EXPECT_TRUE(contains(chunks[2].text, "Asked for logs.\n\n2024-03-02 10:15:00 - Anna")) << chunks[2].text;
}

TEST(Chunker, BlocksWithDifferentPathsAreNotMerged) {
  Document d;
  d.id = "p.html";
  d.title = "Policy";
  d.blocks = {{{"Policy", "Scope"}, "body", prose(1, 1)}, {{"Other", "Part"}, "body", prose(1, 2)}};
  auto chunks = Chunker().split(d);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].section_path, (std::vector<std::string>{"Policy", "Scope"}));
  EXPECT_EQ(chunks[1].section_path, (std::vector<std::string>{"Other", "Part"}));
  EXPECT_EQ(chunk_embed_text(d.title, chunks[0]), "Policy > Scope\n" + chunks[0].text);
}

// A fenced code block in a block document (an HTML <pre>) is one paragraph:
// its blank lines do not let a chunk end inside it, wherever it falls.
TEST(Chunker, FencedCodeInBlocksIsNeverCut) {
  std::string code = "```\n";
  for (int i = 0; i < 12; ++i) code += "step " + std::to_string(i) + " of the restore script\n\n";
  code += "```";
  for (int before = 0; before < 14; ++before) {
    Document d;
    d.id = "guide.html";
    d.title = "Guide";
    const std::string text = (before ? prose(before, 7) + "\n\n" : "") + code + "\n\n" + prose(2, 8);
    d.blocks = {{{"Guide", "Restore"}, "body", text}};
    const auto chunks = Chunker().split(d);
    // (The next chunk's overlap may repeat the block's last lines.)
    bool whole = false;
    for (const Chunk& c : chunks) whole |= contains(c.text, code);
    EXPECT_TRUE(whole) << "prose paragraphs before: " << before;
  }
}

// A fence closes only at a line of its own character at least as long
// (CommonMark): a "````" block that shows a "```" fence (the connectors
// write one for code holding backticks) is one code paragraph, in a
// Markdown text and in a block, and the "#" lines in it are no headings.
TEST(Chunker, ALongerFenceHoldsAShorterOne) {
  const std::string code =
      "````markdown\n```sh\n# list the pods\n\nkubectl get pods\n```\n\n## Not a heading\n\n  indented: true\n````";
  Document d = markdown_doc("# Guide\n\n## Quoting code\n\n" + prose(1, 4) + "\n\n" + code + "\n\n" + prose(1, 5));
  auto chunks = Chunker().split(d);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].section_path, (std::vector<std::string>{"Guide", "Quoting code"}));
  EXPECT_TRUE(contains(chunks[0].text, "\n\n" + code + "\n\n")) << chunks[0].text;

  Document b;
  b.id = "guide.html";
  b.title = "Guide";
  b.blocks = {{{"Guide"}, "body", normalize_text(code + "\n\n" + prose(3, 6))}};
  ChunkerOptions o;
  o.max_tokens = 60;
  o.overlap_tokens = 0;
  chunks = Chunker(o).split(b);
  ASSERT_GE(chunks.size(), 2u);
  EXPECT_TRUE(chunks[0].text.starts_with(code + "\n\n")) << chunks[0].text;
}

// A code block longer than a chunk is cut at its lines, and every chunk
// holding part of it opens and closes it with the block's fence, so that
// the part still reads as code (its "#" comments as no headings, its
// indentation as YAML's); chunks stay within max_tokens.
TEST(Chunker, ACodeBlockTooLongForAChunkIsFencedInEveryChunk) {
  std::string yaml = "```yaml\n";
  for (int i = 0; i < 40; ++i) {
    yaml += "# service " + std::to_string(i) + "\nsvc" + std::to_string(i) + ":\n  image: nginx\n  ports:\n" +
            "    - \"80" + std::to_string(i % 10) + ":80\"\n\n";
  }
  yaml += "```";
  Document d = markdown_doc("# Deploy\n\n## Compose file\n\nThe services:\n\n" + yaml + "\n\nThen run it.\n");
  ChunkerOptions o;
  o.max_tokens = 60;
  o.overlap_tokens = 10;
  const auto chunks = Chunker(o).split(d);
  ASSERT_GE(chunks.size(), 5u);
  size_t code_chunks = 0;
  for (const Chunk& c : chunks) {
    EXPECT_EQ(c.n_tokens, count_tokens(c.text)) << c.text;
    EXPECT_LE(c.n_tokens, o.max_tokens) << c.text;
    if (!contains(c.text, "image: nginx")) continue;
    ++code_chunks;
    const size_t open = c.text.find("```yaml\n");
    ASSERT_NE(open, std::string::npos) << c.text;
    const std::string after = c.text.substr(open);
    EXPECT_TRUE(after.ends_with("\n```") || contains(after, "\n```\n")) << c.text;
    EXPECT_TRUE(contains(c.text, "\n  ports:\n    - \"80")) << c.text;
    EXPECT_FALSE(contains(c.text, "```yaml\n```")) << "an empty block:\n" << c.text;
  }
  EXPECT_GE(code_chunks, 4u);
  EXPECT_TRUE(contains(chunks.back().text, "Then run it.")) << chunks.back().text;
}

// Hostile fences: a line of 10 MB of backticks, a fence left open over
// 2 MB of code, 3,000 nested fences. Nothing crashes, every chunk stays
// within max_tokens, and it takes seconds, not minutes. The open fence runs
// to the end (CommonMark), so every chunk of it is code.
TEST(Chunker, HostileFencesStayBoundedAndFast) {
  const auto start = std::chrono::steady_clock::now();
  std::string open_code = "```python\n";
  while (open_code.size() < (2 << 20)) open_code += "    if x:  return  y\n";
  std::string nested;
  for (int i = 3000; i >= 3; --i) nested += std::string(static_cast<size_t>(i), '`') + "\n  line\n";
  const std::string ticks(10 << 20, '`');
  auto bounded = [](const std::string& text) {
    const auto chunks = Chunker().split(markdown_doc(text));
    EXPECT_FALSE(chunks.empty());
    for (const Chunk& c : chunks) EXPECT_LE(c.n_tokens, ChunkerOptions().max_tokens);
    return chunks;
  };
  for (const std::string& text : {ticks, ticks + "\nx\n", nested}) bounded(text);
  const auto chunks = bounded(open_code);
  EXPECT_GT(chunks.size(), 1000u);
  for (const Chunk& c : chunks) ASSERT_TRUE(c.text.starts_with("```python\n    if x:  return  y\n")) << c.text;
  if (!testing::kSanitized) {
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  }
}

TEST(Chunker, TitleOnlyDocumentGetsOneChunk) {
  Document d;
  d.id = "t";
  d.title = "Only a title";
  auto chunks = Chunker().split(d);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "Only a title");
  Document empty;
  empty.id = "e";
  EXPECT_TRUE(Chunker().split(empty).empty());
}

TEST(Chunker, DegenerateOptionsStillTerminate) {
  Document d = markdown_doc(prose(5, 5));
  ChunkerOptions o;
  o.max_tokens = 1;
  o.overlap_tokens = 5;
  auto chunks = Chunker(o).split(d);
  ASSERT_FALSE(chunks.empty());
  for (const auto& c : chunks) EXPECT_LE(c.n_tokens, 1u);
}

}  // namespace
}  // namespace ragd

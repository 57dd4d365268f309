// Directory crawler and single-document files: Markdown, HTML, text, PDF, DOCX.
#include <gtest/gtest.h>

#include <random>

#include "connectors/connector.h"
#include "tests/connectors/test_files.h"

namespace ragd {
namespace {

using testing::Collected;
using testing::TempDir;

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string all_text(const Document& d) {
  std::string out = d.text;
  for (const auto& b : d.blocks) out += "\n" + b.text;
  return out;
}

TEST(Crawler, MarkdownFrontMatterBecomesFields) {
  TempDir dir;
  dir.write("runbooks/vpn.md",
            "---\n"
            "title: \"VPN error 809\"\n"
            "kind: howto\n"
            "tags: [vpn, network]\n"
            "acl:\n"
            "  - it-staff\n"
            "  - helpdesk\n"
            "owner: network-team\n"
            "updated: 2024-03-02T10:00:00Z\n"
            "---\n"
            "# VPN error 809\n\nIntro.\n\n## Fix\n\nUse SSTP.\n");
  Collected c;
  ASSERT_TRUE(fetch_path(dir.path(), {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  EXPECT_EQ(d.id, "runbooks/vpn.md");
  EXPECT_EQ(d.title, "VPN error 809");
  EXPECT_EQ(d.kind, "howto");  // front matter beats the folder
  EXPECT_EQ(d.source, "file");
  EXPECT_EQ(d.acl, (std::vector<std::string>{"it-staff", "helpdesk"}));
  EXPECT_EQ(d.metadata.at("tags"), "vpn,network");
  EXPECT_EQ(d.metadata.at("owner"), "network-team");
  EXPECT_EQ(d.updated_at, 1709373600);
  EXPECT_TRUE(d.text.starts_with("# VPN error 809")) << d.text;
  EXPECT_FALSE(contains(d.text, "owner:"));
}

TEST(Crawler, KindFromFolderIdsRelativeAndHiddenSkipped) {
  TempDir dir;
  dir.write("policies/sub/pw.md", "Passwords are 14 characters.");
  dir.write("tickets/notes.txt", "Ticket notes\nline two");
  dir.write("misc/readme.md", "Just a readme.");
  dir.write(".git/config.md", "hidden");
  dir.write("runbooks/.draft.md", "hidden");
  Collected c;
  FetchOptions opts;
  ASSERT_TRUE(fetch_path(dir.path(), opts, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 3u) << c.error_text();
  ASSERT_NE(c.find("policies/sub/pw.md"), nullptr);
  EXPECT_EQ(c.find("policies/sub/pw.md")->kind, "policy");
  EXPECT_EQ(c.find("tickets/notes.txt")->kind, "ticket");
  EXPECT_EQ(c.find("tickets/notes.txt")->title, "Ticket notes");
  EXPECT_EQ(c.find("misc/readme.md")->kind, "document");
  EXPECT_GT(c.find("misc/readme.md")->updated_at, 1600000000);  // file mtime
  EXPECT_TRUE(c.errors.empty()) << c.error_text();
}

TEST(Crawler, MissingPathIsAnError) {
  Collected c;
  Status s = fetch_path(std::filesystem::temp_directory_path() / "ragd-no-such-dir-xyz", {}, c.sink());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

TEST(Crawler, BinaryOversizedAndUnknownFilesAreReportedNotFatal) {
  TempDir dir;
  std::mt19937 rng(42);
  std::string garbage(4096, '\0');
  for (auto& ch : garbage) ch = static_cast<char>(rng());
  dir.write("a/garbage.txt", garbage);
  dir.write("a/big.md", std::string(5000, 'x'));
  dir.write("a/logo.png", "\x89PNG\r\n");
  dir.write("a/good.md", "# Good\n\nFine text.");
  Collected c;
  FetchOptions opts;
  opts.max_file_bytes = 4500;
  ASSERT_TRUE(fetch_path(dir.path(), opts, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u);
  EXPECT_EQ(c.docs[0].id, "a/good.md");
  ASSERT_EQ(c.errors.size(), 3u) << c.error_text();
  std::string errs = c.error_text();
  EXPECT_TRUE(contains(errs, "a/garbage.txt: binary")) << errs;
  EXPECT_TRUE(contains(errs, "a/big.md: file is 5000 bytes")) << errs;
  EXPECT_TRUE(contains(errs, "a/logo.png: unsupported file type")) << errs;
}

TEST(Crawler, InvalidUtf8TextIsKeptForTheNormalizer) {
  Collected c;
  ASSERT_TRUE(fetch_buffer("caf\xE9 au lait \xFF\xFE ok", "notes.txt", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  EXPECT_TRUE(contains(c.docs[0].text, "au lait"));
}

TEST(Html, HeadingsBecomeSectionPathsAndFurnitureIsDropped) {
  const std::string html =
      "<html><head><title>Wi-Fi EAP-TLS</title><meta name=\"kind\" content=\"runbook\">"
      "<style>p{color:red}</style><script>var secret=1;</script></head><body>"
      "<nav><a href='/'>Home</a> menu</nav>"
      "<h1>Wi-Fi EAP-TLS</h1><p>Intro text.</p>"
      "<h2>Symptoms</h2><p>Error <b>0x80090325</b> on connect.</p><ul><li>one</li><li>two</li></ul>"
      "<h3>Logs</h3><pre>line 1\nline 2</pre>"
      "<h2>Fix</h2><table><tr><th>Step</th><th>Action</th></tr><tr><td>1</td><td>Renew cert</td></tr></table>"
      "<footer>Copyright</footer></body></html>";
  Collected c;
  ASSERT_TRUE(fetch_buffer(html, "wifi.html", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  EXPECT_EQ(d.title, "Wi-Fi EAP-TLS");
  EXPECT_EQ(d.kind, "runbook");
  ASSERT_EQ(d.blocks.size(), 4u);
  EXPECT_EQ(d.blocks[0].section_path, (std::vector<std::string>{"Wi-Fi EAP-TLS"}));
  EXPECT_EQ(d.blocks[1].section_path, (std::vector<std::string>{"Wi-Fi EAP-TLS", "Symptoms"}));
  EXPECT_TRUE(contains(d.blocks[1].text, "Error 0x80090325 on connect.")) << d.blocks[1].text;
  EXPECT_TRUE(contains(d.blocks[1].text, "- one\n- two")) << d.blocks[1].text;
  EXPECT_EQ(d.blocks[2].section_path, (std::vector<std::string>{"Wi-Fi EAP-TLS", "Symptoms", "Logs"}));
  EXPECT_TRUE(contains(d.blocks[2].text, "line 1\nline 2"));
  EXPECT_EQ(d.blocks[3].section_path, (std::vector<std::string>{"Wi-Fi EAP-TLS", "Fix"}));
  EXPECT_TRUE(contains(d.blocks[3].text, "1 | Renew cert")) << d.blocks[3].text;
  std::string all = all_text(d);
  for (const char* dropped : {"secret", "color", "Home", "menu", "Copyright"})
    EXPECT_FALSE(contains(all, dropped)) << dropped;
}

// A document's blocks, each with its section path, for failure messages.
std::string dump_blocks(const Document& d) {
  std::string all;
  for (const auto& b : d.blocks) {
    all += "[";
    for (const auto& p : b.section_path) all += p + " / ";
    all += "]\n" + b.text + "\n---\n";
  }
  return all;
}

// The one document a PDF's bytes parse to.
Document parse_pdf_bytes(const std::string& pdf) {
  Collected c;
  EXPECT_TRUE(fetch_buffer(pdf, "doc.pdf", {}, c.sink()).is_ok());
  EXPECT_EQ(c.docs.size(), 1u) << c.error_text();
  return c.docs.empty() ? Document{} : std::move(c.docs[0]);
}

TEST(Pdf, TextNumberedHeadingsAndTitleFromInfo) {
  std::string pdf = testing::make_pdf(
      {{"Information Security Policy", "All laptops use BitLocker encryption and the disks of every",
        "server are encrypted as well, with keys held in the vault."},
       {"4. Access and authentication", "Passwords have at least 14 characters.", "4.1 Privileged accounts",
        "Admins use separate accounts."}},
      "Information Security Policy");
  Collected c;
  ASSERT_TRUE(fetch_buffer(pdf, "policies/infosec.pdf", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  EXPECT_EQ(d.title, "Information Security Policy");
  ASSERT_EQ(d.blocks.size(), 3u);
  EXPECT_TRUE(d.blocks[0].section_path.empty());
  EXPECT_TRUE(contains(d.blocks[0].text, "encryption and the disks of every server are")) << d.blocks[0].text;
  EXPECT_EQ(d.blocks[1].section_path, std::vector<std::string>{"4. Access and authentication"});
  EXPECT_TRUE(contains(d.blocks[1].text, "14 characters")) << d.blocks[1].text;
  EXPECT_EQ(d.blocks[2].section_path,
            (std::vector<std::string>{"4. Access and authentication", "4.1 Privileged accounts"}));
  EXPECT_EQ(d.metadata.at("pages"), "2");
}

// Page furniture goes: a running header and footer (the same on every
// page, digits aside) and page numbers. A line at the top of one page only
// is text.
TEST(Pdf, RunningHeadersFootersAndPageNumbersAreDropped) {
  std::vector<std::vector<std::string>> pages;
  for (int p = 1; p <= 4; ++p) {
    pages.push_back({"Backup Runbook - Confidential", p == 2 ? "Restores are tested every quarter." : "Body text.",
                     "Copies go offsite on Fridays.", "Printed copy " + std::to_string(p) + " of 4",
                     "Page " + std::to_string(p)});
  }
  pages[0][1] = "Backups run nightly at 01:00.";
  const std::string pdf = testing::make_pdf(pages, "Backup Runbook");
  Collected c;
  ASSERT_TRUE(fetch_buffer(pdf, "runbooks/backup.pdf", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  std::string all;
  for (const auto& b : c.docs[0].blocks) all += b.text + "\n";
  EXPECT_FALSE(contains(all, "Confidential")) << all;
  EXPECT_FALSE(contains(all, "Printed copy")) << all;
  EXPECT_FALSE(contains(all, "Page ")) << all;
  EXPECT_TRUE(contains(all, "Backups run nightly at 01:00.")) << all;
  EXPECT_TRUE(contains(all, "Restores are tested every quarter.")) << all;
  EXPECT_TRUE(contains(all, "Copies go offsite on Fridays.")) << all;

  // Two pages are too few to tell a running header from text; their page
  // numbers still go.
  const std::string two = testing::make_pdf({{"Runbook header", "First page text.", "1"},
                                             {"Runbook header", "Second page text.", "2"}},
                                            "Two");
  Collected c2;
  ASSERT_TRUE(fetch_buffer(two, "two.pdf", {}, c2.sink()).is_ok());
  ASSERT_EQ(c2.docs.size(), 1u) << c2.error_text();
  std::string text;
  for (const auto& b : c2.docs[0].blocks) text += b.text + "\n";
  EXPECT_TRUE(contains(text, "Runbook header")) << text;
  EXPECT_FALSE(contains(text, "text. 1")) << text;
  EXPECT_FALSE(contains(text, "\n2")) << text;
}

// A bullet glyph opens a list item, also when the PDF draws it on a line of
// its own; a dash that a wrapped sentence starts its line with is text. A
// table of contents' lines (dot leaders, a page number) are dropped and
// open no section.
TEST(Pdf, BulletsBecomeListItemsAndContentsLinesGo) {
  const std::string pdf = testing::make_pdf(
      {{"Contents", "1. Scope ........................ 2", "2. Steps . . . . . . . . . . . . 3"},
       {"1. Scope", "The VPN client is used on every laptop and it reconnects", "- which is the default - on wake.",
        "\xB7", "Install the client from the portal.", "\xB7 Sign in with your badge number.",
        "- Restart the laptop."}},
      "VPN guide");
  Collected c;
  ASSERT_TRUE(fetch_buffer(pdf, "vpn.pdf", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  std::string all;
  for (const auto& b : d.blocks) {
    for (const auto& p : b.section_path) all += "[" + p + "] ";
    all += b.text + "\n";
  }
  EXPECT_FALSE(contains(all, "....")) << all;
  EXPECT_FALSE(contains(all, "[2. Steps")) << all;
  EXPECT_TRUE(contains(all, "reconnects - which is the default - on wake.")) << all;
  EXPECT_TRUE(contains(all, "\n\n- Install the client from the portal.")) << all;
  EXPECT_TRUE(contains(all, "\n\n- Sign in with your badge number.")) << all;
  EXPECT_TRUE(contains(all, "\n\n- Restart the laptop.")) << all;
}

// Layout read from the words' faces and places: the title is the first
// page's largest line; lines set larger than the body, or all bold and
// alone, are headings (by the rank of their size, a wrapped one continued);
// monospaced lines are a code block with their indentation; a gap above a
// line, or a short line that ends a sentence, ends a paragraph.
TEST(Pdf, LayoutGivesTitleHeadingsCodeAndParagraphs) {
  using L = testing::PdfLine;
  const std::string pdf = testing::make_styled_pdf({{
      L{"Patch Runbook", 'B', 22},
      L{"Applying the monthly patches", 'B', 16, 14},
      L{"Every server is patched in its maintenance window, which the CMDB records for each", 'R', 11, 8},
      L{"host. The window is four hours long.", 'R', 11},
      L{"A second paragraph starts after a gap and keeps going over the end of its line", 'R', 11, 12},
      L{"into the next one.", 'R', 11},
      L{"Rolling back a patch that breaks a service", 'B', 13, 14},
      L{"in production", 'B', 13},
      L{"Uninstall the update with the package manager:", 'R', 11, 8},
      L{"apt-get install \\", 'M', 10, 4},
      L{"pkg=1.2-3", 'M', 10, 1, 96},
      L{"Reboot checklist", 'B', 11, 14},
      L{"Check the service and close the change.", 'R', 11, 8},
  }});
  Collected c;
  ASSERT_TRUE(fetch_buffer(pdf, "runbooks/patching.pdf", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  const std::string all = dump_blocks(d);
  EXPECT_EQ(d.title, "Patch Runbook") << all;
  ASSERT_EQ(d.blocks.size(), 3u) << all;
  EXPECT_EQ(d.blocks[0].section_path, std::vector<std::string>{"Applying the monthly patches"}) << all;
  EXPECT_EQ(d.blocks[0].text,
            "Every server is patched in its maintenance window, which the CMDB records for each host. The window is "
            "four hours long.\n\nA second paragraph starts after a gap and keeps going over the end of its line "
            "into the next one.")
      << all;
  EXPECT_EQ(d.blocks[1].section_path,
            (std::vector<std::string>{"Applying the monthly patches", "Rolling back a patch that breaks a service in production"}))
      << all;
  EXPECT_NE(d.blocks[1].text.find("Uninstall the update with the package manager:\n\n```\napt-get install \\\n    pkg=1.2-3\n```"),
            std::string::npos)
      << all;
  EXPECT_EQ(d.blocks[2].section_path.back(), "Reboot checklist") << all;
  EXPECT_EQ(d.blocks[2].text, "Check the service and close the change.") << all;
}

// texinfo draws the underscores of its headings as rules, not glyphs: the
// heading "asn1 check version" is the identifier its text spells,
// asn1_check_version. A heading whose words its text joins only as part of
// a longer identifier, or not at all, stays as it is.
TEST(Pdf, AHeadingWithoutItsUnderscoresIsTheIdentifierItsTextSpells) {
  using L = testing::PdfLine;
  const std::string pdf = testing::make_styled_pdf({{
      L{"Library Manual", 'B', 22},
      L{"asn1 check version", 'B', 14, 14},
      L{"const char * asn1_check_version (const char * req_version)", 'R', 11, 8},
      L{"Checks that the version of the library is at least the requested one.", 'R', 11, 8},
      L{"Freeing memory", 'B', 14, 14},
      L{"Call free_memory when done; freeing memory twice is an error.", 'R', 11, 8},
      L{"check version", 'B', 14, 14},
      L{"See asn1_check_version above.", 'R', 11, 8},
  }});
  Collected c;
  ASSERT_TRUE(fetch_buffer(pdf, "manual.pdf", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  const std::string all = dump_blocks(d);
  ASSERT_EQ(d.blocks.size(), 3u) << all;
  EXPECT_EQ(d.blocks[0].section_path.back(), "asn1_check_version") << all;
  EXPECT_EQ(d.blocks[1].section_path.back(), "Freeing memory") << all;
  EXPECT_EQ(d.blocks[2].section_path.back(), "check version") << all;
}

// A title that the pages repeat as their running header is still the
// title; only the headers go.
TEST(Pdf, ATitleRepeatedAsTheRunningHeaderStaysTheTitle) {
  using L = testing::PdfLine;
  const std::string pdf = testing::make_styled_pdf({
      {L{"Backup Policy", 'B', 20}, L{"Scope", 'B', 14, 12}, L{"Every server is backed up nightly.", 'R', 11, 6},
       L{"An intermediate line so that the heading is not at the bottom edge.", 'R', 11}},
      {L{"Backup Policy", 'R', 9}, L{"Copies are kept for thirty days.", 'R', 11, 12},
       L{"A second line of the second page.", 'R', 11}},
      {L{"Backup Policy", 'R', 9}, L{"Restores are tested every quarter.", 'R', 11, 12},
       L{"A second line of the third page.", 'R', 11}},
      {L{"Backup Policy", 'R', 9}, L{"Tapes go offsite on Fridays.", 'R', 11, 12},
       L{"A second line of the fourth page.", 'R', 11}},
  });
  Collected c;
  ASSERT_TRUE(fetch_buffer(pdf, "policies/backup.pdf", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  EXPECT_EQ(c.docs[0].title, "Backup Policy");
  std::string all;
  for (const auto& b : c.docs[0].blocks) all += b.text + "\n";
  EXPECT_FALSE(contains(all, "Backup Policy")) << all;
  EXPECT_TRUE(contains(all, "Copies are kept for thirty days.")) << all;
}


// What is text stays text: a line that starts three of sixteen pages (no
// running header: not a quarter of the pages, no page number in it); in a
// document with styled headings, numbered steps in body type are list
// items and a bold opening line that goes on in lower case is a sentence.
TEST(Pdf, TextAtPageEdgesNumberedStepsAndBoldOpeningsStayText) {
  using L = testing::PdfLine;
  std::vector<std::vector<L>> pages;
  for (int p = 0; p < 16; ++p) {
    pages.push_back({L{p % 5 == 1 ? "Restart the service:" : "Page body " + std::string(1, static_cast<char>('a' + p)),
                       'R', 11},
                     L{"More text on this page.", 'R', 11}, L{"And its last line.", 'R', 11}});
  }
  pages[0] = {L{"Mapping a drive", 'B', 16}, L{"1. Open the File Explorer", 'R', 11, 8},
              L{"2. Select This PC", 'R', 11}, L{"3. Choose Map network drive", 'R', 11},
              L{"Never restore over a live database", 'B', 11, 8},
              L{"without stopping the application first.", 'R', 11}, L{"Last line.", 'R', 11}};
  const Document d = parse_pdf_bytes(testing::make_styled_pdf(pages));
  const std::string all = dump_blocks(d);
  size_t restarts = 0;
  for (size_t at = all.find("Restart the service:"); at != std::string::npos; at = all.find("Restart the service:", at + 1))
    ++restarts;
  EXPECT_EQ(restarts, 3u) << all;
  EXPECT_TRUE(contains(all, "\n1. Open the File Explorer\n\n2. Select This PC\n\n3. Choose Map network drive\n")) << all;
  EXPECT_TRUE(contains(all, "Never restore over a live database without stopping the application first.")) << all;
  EXPECT_EQ(d.title, "Mapping a drive") << all;
}

// A title the file names keeps the page's largest line as text unless it
// is that title; a drop cap is no title; a document set wholly in a
// monospaced face (a printed text file) is prose, not one code block.
TEST(Pdf, TitleRulesAndMonospacedDocuments) {
  using L = testing::PdfLine;
  const std::string mono = testing::make_styled_pdf(
      {{L{"RFC 9999 Example Protocol", 'M', 10}, L{"This memo describes an example protocol for tests.", 'M', 10},
        L{"It has no code in it at all.", 'M', 10}}});
  const Document m = parse_pdf_bytes(mono);
  EXPECT_FALSE(contains(dump_blocks(m), "```")) << dump_blocks(m);
  EXPECT_FALSE(contains(m.title, "```")) << m.title;
  const std::string drop_cap = testing::make_styled_pdf(
      {{L{"T", 'R', 40}, L{"he quick brown fox jumps over the lazy dog on every page of this note.", 'R', 11, 4},
        L{"A second line of the note.", 'R', 11}}});
  const Document dc = parse_pdf_bytes(drop_cap);
  EXPECT_NE(dc.title, "T") << dump_blocks(dc);
}

// Hostile layout: sixty sizes, each larger than the one after it, nest no
// deeper than six levels.
TEST(Pdf, HeadingLevelsAreBounded) {
  using L = testing::PdfLine;
  std::vector<std::vector<L>> pages;
  for (int p = 0; p < 20; ++p) {
    std::vector<L> lines;
    for (int h = 0; h < 3; ++h) {
      lines.push_back(L{"Heading " + std::to_string(p * 3 + h), 'R', 40.0 - (p * 3 + h) * 0.5, 2});
      lines.push_back(L{"Body text under the heading, long enough to set the body size.", 'R', 8, 2});
      lines.push_back(L{"More body text under the heading, to be sure of it.", 'R', 8, 2});
    }
    pages.push_back(std::move(lines));
  }
  const Document d = parse_pdf_bytes(testing::make_styled_pdf(pages));
  size_t deepest = 0;
  for (const auto& b : d.blocks) deepest = std::max(deepest, b.section_path.size());
  EXPECT_GE(deepest, 2u);
  EXPECT_LE(deepest, 6u);
}

TEST(Pdf, TruncatedAndGarbagePdfsGiveClearErrors) {
  std::string pdf = testing::make_pdf({{"Page one text here."}, {"Page two text."}}, "T");
  for (const std::string& bytes : {pdf.substr(0, pdf.size() / 2), std::string("%PDF-1.4\n garbage \x01\x02"),
                                   std::string("not a pdf at all")}) {
    Collected c;
    ASSERT_TRUE(fetch_buffer(bytes, "bad.pdf", {}, c.sink()).is_ok());
    // Either poppler recovers some text or the file is reported; never both, never a crash.
    EXPECT_EQ(c.docs.size() + c.errors.size(), 1u);
    if (!c.errors.empty()) {
      EXPECT_TRUE(contains(c.errors[0].message(), "bad.pdf: ")) << c.errors[0].message();
      EXPECT_TRUE(contains(c.errors[0].message(), "PDF")) << c.errors[0].message();
    }
  }
}

// Word lists: numbered steps ("1.", "2." per list, a deeper level indented
// and counted apart), bullets from the numbering part or a "List Bullet"
// style; a short paragraph all in bold is a heading one level below the last
// styled heading.
TEST(Docx, ListsAndBoldHeadings) {
  const std::string ns = "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"";
  auto para = [](const std::string& text, const std::string& ppr = "", bool bold = false) {
    return "<w:p>" + (ppr.empty() ? std::string() : "<w:pPr>" + ppr + "</w:pPr>") + "<w:r>" +
           (bold ? "<w:rPr><w:b/></w:rPr>" : "") + "<w:t xml:space=\"preserve\">" + text + "</w:t></w:r></w:p>";
  };
  auto num = [](int id, int ilvl) {
    return "<w:numPr><w:ilvl w:val=\"" + std::to_string(ilvl) + "\"/><w:numId w:val=\"" + std::to_string(id) +
           "\"/></w:numPr>";
  };
  const std::string body =
      para("Reset a VPN token", "<w:pStyle w:val=\"Heading1\"/>") + para("Before you start", "", true) +
      para("The user must be on the phone.") + para("Steps", "", true) + para("Open the admin console.", num(1, 0)) +
      para("Find the user.", num(1, 0)) + para("Search by e-mail.", num(1, 1)) + para("Or by badge.", num(1, 1)) +
      para("Click Reset token.", num(1, 0)) + para("Send the new QR code.", num(1, 1)) +
      para("Check that the token works.", num(2, 0)) + para("Close the ticket.", "<w:pStyle w:val=\"ListBullet\"/>") +
      para("Not a heading: this bold sentence ends with a period.", "", true);
  const std::string document = "<?xml version=\"1.0\"?><w:document " + ns + "><w:body>" + body + "</w:body></w:document>";
  const std::string styles = "<?xml version=\"1.0\"?><w:styles " + ns +
                             "><w:style w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/></w:style>"
                             "<w:style w:styleId=\"ListBullet\"><w:name w:val=\"List Bullet\"/></w:style></w:styles>";
  const std::string numbering =
      "<?xml version=\"1.0\"?><w:numbering " + ns +
      "><w:abstractNum w:abstractNumId=\"10\"><w:lvl w:ilvl=\"0\"><w:numFmt w:val=\"decimal\"/></w:lvl>"
      "<w:lvl w:ilvl=\"1\"><w:numFmt w:val=\"lowerLetter\"/></w:lvl></w:abstractNum>"
      "<w:abstractNum w:abstractNumId=\"11\"><w:lvl w:ilvl=\"0\"><w:numFmt w:val=\"bullet\"/></w:lvl></w:abstractNum>"
      "<w:num w:numId=\"1\"><w:abstractNumId w:val=\"10\"/></w:num>"
      "<w:num w:numId=\"2\"><w:abstractNumId w:val=\"11\"/></w:num></w:numbering>";
  const std::string docx = testing::make_zip({{"word/document.xml", document},
                                              {"word/styles.xml", styles},
                                              {"word/numbering.xml", numbering}});
  Collected c;
  ASSERT_TRUE(fetch_buffer(docx, "runbooks/vpn-token.docx", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  const std::string all = dump_blocks(d);
  ASSERT_EQ(d.blocks.size(), 2u) << all;
  EXPECT_EQ(d.blocks[0].section_path, (std::vector<std::string>{"Reset a VPN token", "Before you start"})) << all;
  EXPECT_EQ(d.blocks[1].section_path, (std::vector<std::string>{"Reset a VPN token", "Steps"})) << all;
  EXPECT_EQ(d.blocks[1].text,
            "1. Open the admin console.\n\n2. Find the user.\n\n   1. Search by e-mail.\n\n   2. Or by badge.\n\n"
            "3. Click Reset token.\n\n   1. Send the new QR code.\n\n- Check that the token works.\n\n"
            "- Close the ticket.\n\nNot a heading: this bold sentence ends with a period.")
      << all;
}

TEST(Docx, HeadingsTablesAndCoreTitle) {
  std::string docx = testing::make_docx({{"Title", "Mobile Device Policy"},
                                         {"", "Applies to all staff."},
                                         {"Heading1", "Enrollment"},
                                         {"", "Phones enroll in Intune."},
                                         {"Berschrift2", "Lost devices"},  // localised style id, named "heading 2"
                                         {"", "Report within 24 hours &amp; wipe."}},
                                        {{"Device", "Owner"}, {"iPhone", "Staff"}}, "Mobile Device Policy v2");
  Collected c;
  ASSERT_TRUE(fetch_buffer(docx, "policies/mobile.docx", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  EXPECT_EQ(d.title, "Mobile Device Policy v2");
  EXPECT_EQ(d.updated_at, 1714564800);
  ASSERT_EQ(d.blocks.size(), 3u);
  EXPECT_TRUE(d.blocks[0].section_path.empty());
  EXPECT_EQ(d.blocks[0].text, "Applies to all staff.");
  EXPECT_EQ(d.blocks[1].section_path, (std::vector<std::string>{"Enrollment"}));
  EXPECT_EQ(d.blocks[2].section_path, (std::vector<std::string>{"Enrollment", "Lost devices"}));
  EXPECT_TRUE(contains(d.blocks[2].text, "Report within 24 hours & wipe.")) << d.blocks[2].text;
  EXPECT_TRUE(contains(d.blocks[2].text, "iPhone | Staff")) << d.blocks[2].text;
}

TEST(Docx, ZipThatIsNotADocxAndGarbageAreReported) {
  std::string zip = testing::make_zip({{"readme.txt", "hello"}});
  std::mt19937 rng(7);
  std::string garbage(2000, '\0');
  for (auto& ch : garbage) ch = static_cast<char>(rng());
  std::string bad_xml = testing::make_zip({{"word/document.xml", "<w:document><w:body><w:p>"}});
  struct Case { std::string bytes; const char* expect; };
  for (const Case& k : {Case{zip, "without word/document.xml"}, Case{garbage, "not a readable zip"},
                        Case{bad_xml, "not well-formed"}}) {
    Collected c;
    ASSERT_TRUE(fetch_buffer(k.bytes, "x.docx", {}, c.sink()).is_ok());
    EXPECT_TRUE(c.docs.empty());
    ASSERT_EQ(c.errors.size(), 1u);
    EXPECT_TRUE(contains(c.errors[0].message(), "x.docx: ")) << c.errors[0].message();
    EXPECT_TRUE(contains(c.errors[0].message(), k.expect)) << c.errors[0].message();
  }
}

TEST(Crawler, SampleKnowledgeBase) {
  const std::filesystem::path kb = std::filesystem::path(RAGD_SOURCE_DIR) / "examples" / "kb";
  if (!std::filesystem::exists(kb)) GTEST_SKIP() << "examples/kb is absent";
  Collected c;
  ASSERT_TRUE(fetch_path(kb, {}, c.sink()).is_ok());
  EXPECT_TRUE(c.errors.empty()) << c.error_text();
  size_t tickets = 0, runbooks = 0, policies = 0;
  for (const auto& d : c.docs) {
    tickets += d.kind == "ticket";
    runbooks += d.kind == "runbook";
    policies += d.kind == "policy";
    EXPECT_FALSE(d.id.empty());
    EXPECT_FALSE(d.title.empty()) << d.id;
  }
  EXPECT_GE(tickets, 40u);
  EXPECT_GE(runbooks, 12u);
  EXPECT_GE(policies, 6u);
  const std::filesystem::path office = std::filesystem::path(RAGD_BINARY_DIR) / "examples" / "kb-office";
  if (std::filesystem::exists(office)) {
    Collected o;
    ASSERT_TRUE(fetch_path(office, {}, o.sink()).is_ok());
    EXPECT_TRUE(o.errors.empty()) << o.error_text();
    EXPECT_GE(o.docs.size(), 2u);
  }
}

}  // namespace
}  // namespace ragd

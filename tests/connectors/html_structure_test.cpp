// HTML documentation keeps its structure: <pre> as code fences, reference
// definition lists as sections named after their terms, inline code as code
// spans. The pages are small, written in the shape of PostgreSQL's DocBook
// manual and of Sphinx's output.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connectors/connector.h"
#include "tests/connectors/test_files.h"

namespace ragd {
namespace {

using testing::Collected;
using Path = std::vector<std::string>;

Document parse(const std::string& html) {
  Collected c;
  EXPECT_TRUE(fetch_buffer(html, "page.html", {}, c.sink()).is_ok());
  EXPECT_EQ(c.docs.size(), 1u) << c.error_text();
  return c.docs.empty() ? Document{} : std::move(c.docs[0]);
}

std::string dump(const Document& d) {
  std::string out;
  for (const auto& b : d.blocks) {
    out += "[";
    for (const auto& p : b.section_path) out += p + " / ";
    out += "]\n" + b.text + "\n---\n";
  }
  return out;
}

// Navigation bars are no text: DocBook's navheader/navfooter, a bar with
// the ARIA role "navigation" (Sphinx's related bar) and breadcrumbs.
TEST(HtmlStructure, NavigationBarsAreDropped) {
  const Document d = parse(
      "<html><head><title>pg_isready</title></head><body>"
      "<div class=\"navheader\"><table><tr><th>pg_isready</th></tr><tr><td><a href=\"a.html\">Prev</a></td>"
      "<td><a href=\"b.html\">Up</a></td><td>PostgreSQL Client Applications</td>"
      "<td><a href=\"c.html\">Next</a></td></tr></table><hr></div>"
      "<div class=\"related\" role=\"navigation\"><ul><li><a href=\"index.html\">Docs home</a></li></ul></div>"
      "<ul class=\"breadcrumbs\"><li>Client</li><li>pg_isready</li></ul>"
      "<h1>pg_isready</h1><p>pg_isready checks the connection status of a server.</p>"
      "<div class=\"navfooter\"><table><tr><td>Prev</td><td>Home</td><td>Next</td></tr></table></div>"
      "</body></html>");
  ASSERT_EQ(d.blocks.size(), 1u) << dump(d);
  EXPECT_EQ(d.blocks[0].text, "pg_isready checks the connection status of a server.") << dump(d);
}

// A note box's title heads its own text, not a section: what follows
// DocBook's <div class="note"><h3>Note</h3> stays under "Variables", and
// the box's text starts on the title's line. Sphinx's admonition-title the
// same; a box that starts with a code block gets its fence on a line of its
// own.
TEST(HtmlStructure, AdmonitionTitlesAreNoSections) {
  const Document d = parse(
      "<html><head><title>psql</title></head><body><h1>psql</h1>\n"
      "<h2>Variables</h2>\n<p>psql provides variable substitution.</p>\n"
      "<div class=\"note\">\n  <h3 class=\"title\">Note</h3>\n  <p>Variable names are case-sensitive.</p>\n</div>\n"
      "<dl class=\"variablelist\"><dt><code>HISTSIZE</code></dt>"
      "<dd><p>The maximum number of commands to store in the command history (default 500).</p></dd>"
      "<dt><code>HOST</code></dt><dd><p>The database server host you are currently connected to.</p></dd></dl>\n"
      "<div class=\"admonition warning\">\n<p class=\"admonition-title\">Warning</p>\n"
      "<p>Do not set HOST by hand.</p></div>\n"
      "<div class=\"tip\"><h3>Tip</h3><pre>\\set HOST x</pre></div>\n"
      "<p>Text after the box.</p></body></html>");
  const std::string all = dump(d);
  EXPECT_NE(all.find("Note: Variable names are case-sensitive."), std::string::npos) << all;
  EXPECT_NE(all.find("Warning: Do not set HOST by hand."), std::string::npos) << all;
  EXPECT_NE(all.find("Tip:\n\n```\n\\set HOST x\n```"), std::string::npos) << all;
  bool histsize = false;
  for (const auto& b : d.blocks) {
    for (const auto& p : b.section_path) EXPECT_NE(p, "Note") << all;
    if (b.text.find("(default 500)") != std::string::npos) {
      histsize = true;
      EXPECT_EQ(b.section_path, (Path{"psql", "Variables"})) << all;
    }
  }
  EXPECT_TRUE(histsize) << all;
}

// Only a box's first element is its title. A heading further in, or after
// a box that is never closed (gumbo nests the rest of the page in it),
// opens a section as anywhere else; a box in a box keeps both titles.
TEST(HtmlStructure, OnlyABoxsFirstHeadingIsItsTitle) {
  const Document d = parse(
      "<html><head><title>Guide</title></head><body><h1>Guide</h1>"
      "<div class=\"note\"><h3>Note</h3><div class=\"warning\"><h4>Careful</h4><p>Nested text.</p></div>"
      "<p>Outer text.</p>"
      "<h2>Setup</h2><p>Setup text.</p>"
      "<h2>Removal</h2><p>Removal text.</p>"
      "</body></html>");
  const std::string all = dump(d);
  EXPECT_NE(all.find("Note: Careful: Nested text."), std::string::npos) << all;
  bool setup = false, removal = false;
  for (const auto& b : d.blocks) {
    if (b.text.find("Setup text.") != std::string::npos) {
      setup = true;
      EXPECT_EQ(b.section_path, (Path{"Guide", "Setup"})) << all;
    }
    if (b.text.find("Removal text.") != std::string::npos) {
      removal = true;
      EXPECT_EQ(b.section_path, (Path{"Guide", "Removal"})) << all;
    }
  }
  EXPECT_TRUE(setup && removal) << all;
}

// The pilcrow or hash link after a heading (Apache's class="permalink",
// Hugo's anchors) is no part of the heading.
TEST(HtmlStructure, PermalinkSymbolsLeaveHeadings) {
  const Document d = parse(
      "<html><head><title>Stopping</title></head><body><h1>Stopping</h1>"
      "<h2><a name=\"graceful\">Graceful Restart</a> <a class=\"permalink\" href=\"#graceful\">&para;</a></h2>"
      "<p>The USR1 signal causes a graceful restart.</p>"
      "<h2 id=\"stop\">Graceful Stop<a href=\"#stop\">#</a></h2><p>The WINCH signal stops gracefully.</p>"
      "</body></html>");
  ASSERT_EQ(d.blocks.size(), 2u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, (Path{"Stopping", "Graceful Restart"})) << dump(d);
  EXPECT_EQ(d.blocks[1].section_path, (Path{"Stopping", "Graceful Stop"})) << dump(d);
}

TEST(HtmlStructure, PreBecomesAFencedCodeBlockWithItsWhiteSpace) {
  const Document d = parse(
      "<html><head><title>25.1. SQL Dump</title></head><body><div class=\"sect1\">"
      "<h2 class=\"title\">25.1. SQL Dump</h2>"
      "<p>The basic usage of this command is:</p><pre class=\"synopsis\">\n"
      "pg_dump <em class=\"replaceable\"><code>dbname</code></em> &gt; "
      "<em class=\"replaceable\"><code>dumpfile</code></em>\n</pre>"
      "<p>A script:</p><pre class=\"programlisting\">\n"
      "if true; then\n    echo \"a  b\"\n\n\tdone\nfi\n</pre>"
      "<p>As you see, it writes to standard output.</p></div></body></html>");
  ASSERT_EQ(d.blocks.size(), 1u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, Path{"25.1. SQL Dump"});
  EXPECT_EQ(d.blocks[0].text,
            "The basic usage of this command is:\n\n"
            "```\npg_dump dbname > dumpfile\n```\n\n"
            "A script:\n\n"
            "```\nif true; then\n    echo \"a  b\"\n\n\tdone\nfi\n```\n\n"
            "As you see, it writes to standard output.");
}

TEST(HtmlStructure, AFenceInsidePreDoesNotBreakOut) {
  const Document d = parse(
      "<h1>Markdown</h1><p>Write code like this:</p>"
      "<pre>Some text\n```sh\nls -l\n```\n  ````\n</pre><p>After.</p>");
  ASSERT_EQ(d.blocks.size(), 1u) << dump(d);
  EXPECT_EQ(d.blocks[0].text,
            "Write code like this:\n\n"
            "`````\nSome text\n```sh\nls -l\n```\n  ````\n`````\n\n"
            "After.");
}

TEST(HtmlStructure, InlineCodeBecomesCodeSpansButNotInsidePre) {
  const Document d = parse(
      "<h1>Keys</h1><p>Set <code class=\"varname\">port</code> and press <kbd>Ctrl</kbd>+<kbd>C</kbd>; "
      "the server prints <samp>ready</samp>, <tt>old</tt> style, "
      "<code class=\"docutils literal notranslate\"><span class=\"pre\">shell=True</span></code>, "
      "<code>a`b</code> and <code>`x</code> and <code>\n  two\n  words </code>.</p>"
      "<pre><code>int  x = 1;</code>  <kbd>q</kbd></pre>");
  ASSERT_EQ(d.blocks.size(), 1u) << dump(d);
  EXPECT_EQ(d.blocks[0].text,
            "Set `port` and press `Ctrl`+`C`; the server prints `ready`, `old` style, `shell=True`, "
            "``a`b`` and `` `x `` and `two words`.\n\n"
            "```\nint  x = 1;  q\n```");
}

// PostgreSQL's configuration parameters: <dl class="variablelist">, each
// <dt> a parameter and its type, each <dd> paragraphs.
TEST(HtmlStructure, VariableListEntriesBecomeSectionsAndTextAfterGoesBack) {
  const Document d = parse(
      "<html><head><title>20.3. Connections and Authentication</title></head><body>"
      "<div class=\"sect1\"><h2 class=\"title\">20.3. Connections and Authentication</h2>"
      "<div class=\"sect2\"><h3 class=\"title\">20.3.1. Connection Settings</h3>"
      "<div class=\"variablelist\"><dl class=\"variablelist\">"
      "<dt id=\"GUC-LISTEN-ADDRESSES\"><span class=\"term\"><code class=\"varname\">listen_addresses</code> "
      "(<code class=\"type\">string</code>)\n      <a id=\"id-1\" class=\"indexterm\"></a>\n      </span></dt>"
      "<dd><p>\n        Specifies the TCP/IP address(es) on which the server is to listen for\n"
      "        connections from client applications.\n       </p></dd>"
      "<dt id=\"GUC-PORT\"><span class=\"term\"><code class=\"varname\">port</code> "
      "(<code class=\"type\">integer</code>)</span></dt>"
      "<dd><p>The TCP port the server listens on; 5432 by default. Note that the same port number is used "
      "for all IP addresses the server listens on.</p>"
      "<p>This parameter can only be set at server start.</p></dd>"
      "</dl></div>"
      "<p>See also <code class=\"varname\">unix_socket_directories</code>.</p></div>"
      "<div class=\"sect2\"><h3 class=\"title\">20.3.2. TCP Settings</h3><p>Keepalives.</p></div>"
      "</div></body></html>");
  const Path top{"20.3. Connections and Authentication", "20.3.1. Connection Settings"};
  ASSERT_EQ(d.blocks.size(), 4u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, (Path{top[0], top[1], "listen_addresses (string)"}));
  EXPECT_EQ(d.blocks[0].text,
            "Specifies the TCP/IP address(es) on which the server is to listen for\n"
            "        connections from client applications.");
  EXPECT_EQ(d.blocks[1].section_path, (Path{top[0], top[1], "port (integer)"}));
  EXPECT_EQ(d.blocks[1].text,
            "The TCP port the server listens on; 5432 by default. Note that the same port number is used for "
            "all IP addresses the server listens on.\n\nThis parameter can only be set at server start.");
  EXPECT_EQ(d.blocks[2].section_path, top);
  EXPECT_EQ(d.blocks[2].text, "See also `unix_socket_directories`.");
  EXPECT_EQ(d.blocks[3].section_path, (Path{top[0], "20.3.2. TCP Settings"}));
  EXPECT_EQ(d.blocks[3].text, "Keepalives.");
  EXPECT_EQ(d.title, "20.3. Connections and Authentication");
}

// A command's options: several terms for one entry, a nested list of
// values inside an entry, and text of the entry after the nested list.
TEST(HtmlStructure, NestedListsAndSharedTermsFollowTheirSections) {
  const Document d = parse(
      "<h1>pg_dump</h1><h2>Options</h2><dl class=\"variablelist\">"
      "<dt><span class=\"term\"><code class=\"option\">-F <em>format</em></code><br /></span></dt>"
      "<dt><span class=\"term\"><code class=\"option\">--format=<em>format</em></code></span></dt>"
      "<dd><p>Selects the format of the output. <em>format</em> can be one of the following:</p>"
      "<div class=\"variablelist\"><dl class=\"variablelist\">"
      "<dt><span class=\"term\"><code>p</code></span></dt>"
      "<dd><p>Output a plain-text SQL script file (the default). It can be restored with psql, and read "
      "and edited by people.</p></dd>"
      "<dt><span class=\"term\"><code>c</code></span></dt><dd><p>Output a custom-format archive.</p></dd>"
      "</dl></div><p>The format is picked from the file name otherwise.</p></dd>"
      "<dt><span class=\"term\"><code class=\"option\">-v</code><br /></span>"
      "<span class=\"term\"><code class=\"option\">--verbose</code></span></dt>"
      "<dd><p>Specifies verbose mode.</p></dd></dl><p>Exit status is zero on success.</p>");
  ASSERT_EQ(d.blocks.size(), 6u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, (Path{"pg_dump", "Options", "-F format, --format=format"}));
  EXPECT_EQ(d.blocks[0].text, "Selects the format of the output. format can be one of the following:");
  EXPECT_EQ(d.blocks[1].section_path, (Path{"pg_dump", "Options", "-F format, --format=format", "p"}));
  EXPECT_EQ(d.blocks[2].section_path, (Path{"pg_dump", "Options", "-F format, --format=format", "c"}));
  EXPECT_EQ(d.blocks[2].text, "Output a custom-format archive.");
  EXPECT_EQ(d.blocks[3].section_path, (Path{"pg_dump", "Options", "-F format, --format=format"}));
  EXPECT_EQ(d.blocks[3].text, "The format is picked from the file name otherwise.");
  EXPECT_EQ(d.blocks[4].section_path, (Path{"pg_dump", "Options", "-v, --verbose"}));
  EXPECT_EQ(d.blocks[5].section_path, (Path{"pg_dump", "Options"}));
  EXPECT_EQ(d.blocks[5].text, "Exit status is zero on success.");
}

// Sphinx: a function's signature in <dt>, its description and example in
// <dd>; "¶" links dropped.
TEST(HtmlStructure, SphinxObjectDescriptionBecomesASection) {
  const Document d = parse(
      "<html><head><title>subprocess — Subprocess management</title></head><body>"
      "<section id=\"module-subprocess\"><h1>subprocess — Subprocess management"
      "<a class=\"headerlink\" href=\"#module-subprocess\" title=\"Permalink to this heading\">¶</a></h1>"
      "<section id=\"using\"><h2>Using the subprocess Module"
      "<a class=\"headerlink\" href=\"#using\" title=\"Permalink to this heading\">¶</a></h2>\n"
      "<p>Use the <a class=\"reference internal\" href=\"#subprocess.run\"><code class=\"xref py py-func docutils "
      "literal notranslate\"><span class=\"pre\">run()</span></code></a> function.</p>\n"
      "<dl class=\"py function\">\n<dt class=\"sig sig-object py\" id=\"subprocess.run\">\n"
      "<span class=\"sig-prename descclassname\"><span class=\"pre\">subprocess.</span></span>"
      "<span class=\"sig-name descname\"><span class=\"pre\">run</span></span><span class=\"sig-paren\">(</span>"
      "<em class=\"sig-param\"><span class=\"n\"><span class=\"pre\">args</span></span></em>, "
      "<em class=\"sig-param\"><span class=\"n\"><span class=\"pre\">check</span></span>"
      "<span class=\"o\"><span class=\"pre\">=</span></span><span class=\"default_value\"><span class=\"pre\">"
      "False</span></span></em><span class=\"sig-paren\">)</span>"
      "<a class=\"headerlink\" href=\"#subprocess.run\" title=\"Permalink to this definition\">¶</a></dt>\n"
      "<dd><p>Run the command described by <em>args</em>. Wait for command to complete, then return a "
      "<code class=\"xref py py-class docutils literal notranslate\"><span class=\"pre\">CompletedProcess"
      "</span></code> instance.</p>\n"
      "<div class=\"highlight-python3 notranslate\"><div class=\"highlight\"><pre><span></span>"
      "<span class=\"gp\">&gt;&gt;&gt; </span><span class=\"n\">subprocess</span><span class=\"o\">.</span>"
      "<span class=\"n\">run</span><span class=\"p\">([</span><span class=\"s2\">&quot;ls&quot;</span>"
      "<span class=\"p\">])</span>\n</pre></div>\n</div>\n</dd></dl>\n"
      "<p>Popen is the underlying interface.</p></section></section></body></html>");
  const std::string h1 = "subprocess — Subprocess management";
  ASSERT_EQ(d.blocks.size(), 3u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, (Path{h1, "Using the subprocess Module"}));
  EXPECT_EQ(d.blocks[0].text, "Use the `run()` function.");
  EXPECT_EQ(d.blocks[1].section_path, (Path{h1, "Using the subprocess Module", "subprocess.run(args, check=False)"}));
  EXPECT_EQ(d.blocks[1].text,
            "Run the command described by args. Wait for command to complete, then return a `CompletedProcess` "
            "instance.\n\n```\n>>> subprocess.run([\"ls\"])\n```");
  EXPECT_EQ(d.blocks[2].section_path, (Path{h1, "Using the subprocess Module"}));
  EXPECT_EQ(d.blocks[2].text, "Popen is the underlying interface.");
}

TEST(HtmlStructure, GlossaryOfOneLineDefinitionsStaysTermColonDefinition) {
  const Document d = parse(
      "<h1>Acronyms</h1><dl><dt>ACL</dt><dd>Access <b>control</b>\n  list.</dd>"
      "<dt><code>WAL</code></dt><dd><p>Write-ahead log.</p></dd>"
      "<dt>Notes:</dt><dd>See the manual.</dd>"
      "<dt>MVCC</dt><dt>Lone term</dt><dd>Lone definition</dd></dl><p>After.</p>");
  ASSERT_EQ(d.blocks.size(), 1u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, Path{"Acronyms"});
  EXPECT_EQ(d.blocks[0].text,
            "ACL: Access control list.\n`WAL`: Write-ahead log.\nNotes: See the manual.\nMVCC\nLone term: "
            "Lone definition\n\nAfter.");
}

// PostgreSQL's table of contents: terms that are links, each <dd> a nested
// list of links. It reads as it always did: one line per entry.
TEST(HtmlStructure, TableOfContentsStaysLines) {
  const Document d = parse(
      "<h2 class=\"title\">Chapter 20. Server Configuration</h2><div class=\"toc\">"
      "<p><strong>Table of Contents</strong></p><dl class=\"toc\">"
      "<dt><span class=\"sect1\"><a href=\"config-setting.html\">20.1. Setting Parameters</a></span></dt>"
      "<dd><dl><dt><span class=\"sect2\"><a href=\"config-setting.html#A\">20.1.1. Parameter Names and "
      "Values</a></span></dt><dt><span class=\"sect2\"><a href=\"config-setting.html#B\">20.1.2. Parameter "
      "Interaction via the Configuration File</a></span></dt></dl></dd>"
      "<dt><span class=\"sect1\"><a href=\"runtime-config-file-locations.html\">20.2. File Locations</a>"
      "</span></dt></dl></div><p>There are many configuration parameters.</p>");
  ASSERT_EQ(d.blocks.size(), 1u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, Path{"Chapter 20. Server Configuration"});
  EXPECT_EQ(d.blocks[0].text,
            "Table of Contents\n\n20.1. Setting Parameters\n\n20.1.1. Parameter Names and Values\n"
            "20.1.2. Parameter Interaction via the Configuration File\n20.2. File Locations\n\n"
            "There are many configuration parameters.");
}

TEST(HtmlStructure, ATermIsNeverTheTitleAndListsAtTheTopCloseBack) {
  const std::string long_text(120, 'x');
  const Document d = parse("<dl><dt>first</dt><dd><p>" + long_text + "</p></dd></dl><p>Closing words.</p>");
  ASSERT_EQ(d.blocks.size(), 2u) << dump(d);
  EXPECT_NE(d.title, "first");
  EXPECT_EQ(d.blocks[0].section_path, Path{"first"});
  EXPECT_EQ(d.blocks[1].section_path, Path{});
  EXPECT_EQ(d.blocks[1].text, "Closing words.");
}

// ---- bad input ----

TEST(HtmlStructure, UnclosedPreEndsAtTheEndOfThePage) {
  const Document d = parse("<h1>T</h1><p>Run:</p><pre>make  all\n<b>make install");
  ASSERT_EQ(d.blocks.size(), 1u) << dump(d);
  EXPECT_EQ(d.blocks[0].text, "Run:\n\n```\nmake  all\nmake install\n```");
}

TEST(HtmlStructure, HugePreAndLongBacktickRunsAreKept) {
  std::string pre;
  for (int i = 0; i < 200000; ++i) pre += "line " + std::to_string(i) + "\n";
  const std::string ticks(5000, '`');
  const Document d = parse("<h1>T</h1><pre>" + ticks + "\n" + pre + "</pre><p><code>" + ticks + "</code></p>");
  ASSERT_EQ(d.blocks.size(), 1u);
  const std::string& t = d.blocks[0].text;
  const std::string fence(5001, '`');
  EXPECT_TRUE(t.starts_with(fence + "\n" + ticks + "\nline 0\n")) << t.substr(0, 100);
  EXPECT_NE(t.find("line 199999\n" + fence + "\n\n"), std::string::npos);
  EXPECT_TRUE(t.ends_with(fence + " " + ticks + " " + fence));
}

TEST(HtmlStructure, DeeplyNestedDefinitionListsStayBounded) {
  const std::string para = "<p>" + std::string(120, 'd') + "</p>";
  std::string html = "<h1>Deep</h1>";
  for (int i = 0; i < 1000; ++i) html += "<dl><dt>term " + std::to_string(i) + "</dt><dd>" + para;
  html += "<p>innermost</p>";
  for (int i = 0; i < 1000; ++i) html += "</dd></dl>";
  html += "<p>after all</p>";
  const Document d = parse(html);
  ASSERT_FALSE(d.blocks.empty());
  for (const auto& b : d.blocks) EXPECT_LE(b.section_path.size(), 6u);
  EXPECT_EQ(d.blocks[0].section_path, (Path{"Deep", "term 0"}));
  EXPECT_EQ(d.blocks.back().section_path, Path{"Deep"});
  EXPECT_EQ(d.blocks.back().text, "after all");

  std::string code;
  for (int i = 0; i < 5000; ++i) code += "<code><kbd><pre><dt><dd>";
  EXPECT_FALSE(parse("<p>x</p>" + code + "y").blocks.empty());
}

// Sphinx writes an empty <dd> for an undocumented member: its signature
// stays, as its section's text.
TEST(HtmlStructure, ATermWithAnEmptyDefinitionKeepsItsName) {
  const std::string long_text(150, 'z');
  const Document d =
      parse("<h1>Api</h1><dl><dt>f()</dt><dd></dd><dt>g()</dt><dd><p>" + long_text + "</p></dd></dl>");
  ASSERT_EQ(d.blocks.size(), 2u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, (Path{"Api", "f()"}));
  EXPECT_EQ(d.blocks[0].text, "f()");
  EXPECT_EQ(d.blocks[1].section_path, (Path{"Api", "g()"}));
  EXPECT_EQ(d.blocks[1].text, long_text);
}

TEST(HtmlStructure, TermsAndDefinitionsOutOfPlace) {
  const std::string long_text(150, 'z');
  // A <dt> without its <dd>, a <dd> without a <dt>, both outside any <dl>.
  const Document d = parse(
      "<h1>Odd</h1><dl><dd><p>" + long_text + "</p></dd><dt>orphan term</dt></dl><p>back</p>"
      "<dt>loose term</dt><dd>loose definition</dd><dl></dl><dl><dt></dt><dd></dd></dl>");
  // The orphan term keeps its name as its section's text: nothing is lost.
  ASSERT_EQ(d.blocks.size(), 3u) << dump(d);
  EXPECT_EQ(d.blocks[0].section_path, Path{"Odd"});
  EXPECT_EQ(d.blocks[0].text, long_text);
  EXPECT_EQ(d.blocks[1].section_path, (Path{"Odd", "orphan term"}));
  EXPECT_EQ(d.blocks[1].text, "orphan term");
  EXPECT_EQ(d.blocks[2].section_path, Path{"Odd"});
  EXPECT_EQ(d.blocks[2].text, "back\n\nloose term\nloose definition");

  // A <dt> left open around the page's text is not a section's name.
  const std::string page(500, 'p');
  const Document open_term = parse("<h1>Open</h1><dl><dt>term <div>" + page + "</div><dd><p>" + long_text + "</p>");
  ASSERT_EQ(open_term.blocks.size(), 1u) << dump(open_term);
  EXPECT_EQ(open_term.blocks[0].section_path, Path{"Open"});
  EXPECT_EQ(open_term.blocks[0].text, "term\n\n" + page + "\n\n" + long_text);
}

}  // namespace
}  // namespace ragd

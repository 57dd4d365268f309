// Documentation markup as plain Markdown: MyST, MkDocs and Docusaurus
// dialects in Markdown files, and reStructuredText files.
#include <gtest/gtest.h>

#include <chrono>

#include "connectors/connector.h"
#include "connectors/internal.h"
#include "ragd/chunk_text.h"
#include "tests/connectors/test_files.h"
#include "tests/sanitizer.h"

namespace ragd {
namespace {

using connectors::normalize_markdown_dialects;
using testing::Collected;

std::string rst(std::string_view text) { return connectors::rst_to_markdown(text, nullptr); }

// What the chunker reads from Markdown: a section per heading (its path
// joined by " > "), with the paragraphs under it; fences read as the
// chunker reads them (ragd/chunk_text.h), and headings inside code do not
// count.
struct Section {
  std::string path;
  std::string text;
};

std::vector<Section> sections_of(std::string_view md) {
  std::vector<Section> out(1);
  std::vector<std::pair<int, std::string>> stack;
  CodeFenceReader fences;
  size_t pos = 0;
  while (pos < md.size()) {
    size_t nl = md.find('\n', pos);
    if (nl == std::string_view::npos) nl = md.size();
    std::string_view line = md.substr(pos, nl - pos);
    pos = nl + 1;
    const bool prose = fences.next(line) == CodeFenceReader::Line::kProse;
    std::string_view heading;
    if (int level = prose ? markdown_heading(line, heading) : 0) {
      while (!stack.empty() && stack.back().first >= level) stack.pop_back();
      stack.emplace_back(level, std::string(heading));
      std::string path;
      for (const auto& [l, t] : stack) path += (path.empty() ? "" : " > ") + t;
      out.push_back({path, ""});
      continue;
    }
    out.back().text += std::string(line) + "\n";
  }
  if (out.front().text.find_first_not_of('\n') == std::string::npos) out.erase(out.begin());
  return out;
}

// ---- Markdown dialects ----

TEST(MarkdownDialects, PlainCommonMarkIsUnchangedByteForByte) {
  const std::string inputs[] = {
      "# Title\n\nText with `code {x}` and {braces} and a (paren)=.\n\n```python\nd = {'a': 1}\n```\n",
      "No final newline: {not a role} `x`\n```\n{ref}`kept`\n```",
      "Windows lines\r\n\r\n- item {x}\r\n",
      "::: {.callout}\nPandoc div\n:::\n",
      "    indented code {note}\n\n> quote ??? what !!! wow\n",
      "",
  };
  for (const std::string& in : inputs) EXPECT_EQ(normalize_markdown_dialects(in), in);
}

TEST(MarkdownDialects, MystAdmonitionsBecomeProse) {
  EXPECT_EQ(normalize_markdown_dialects("Intro.\n\n```{note}\nThe cache is shared.\n```\n\nAfter.\n"),
            "Intro.\n\nNote: The cache is shared.\n\nAfter.\n");
  EXPECT_EQ(normalize_markdown_dialects("```{warning}\n:class: strong\n\nDo not run as root.\n```\n"),
            "Warning: Do not run as root.\n");
  EXPECT_EQ(normalize_markdown_dialects("```{versionadded} 6.0\n```\n"), "New in version 6.0.\n");
  EXPECT_EQ(normalize_markdown_dialects("```{versionchanged} 22.1 The default is now on.\n```\n"),
            "Changed in version 22.1: The default is now on.\n");
  EXPECT_EQ(normalize_markdown_dialects("```{admonition} Example\nTo pin {pypi}`requests`:\n```\n"),
            "Example: To pin requests:\n");
  EXPECT_EQ(normalize_markdown_dialects("```{seealso}\n- {doc}`caching`\n```\n"), "See also:\n\n- caching\n");
}

TEST(MarkdownDialects, TabsKeepNestedCodeFences) {
  const std::string in =
      "````{tab} Unix\n```console\n$ python -m pip install x\n```\n\nThen {command}`pip list`.\n````\n"
      "````{tab} Windows\n```\nC:> py -m pip install x\n```\n````\n";
  EXPECT_EQ(normalize_markdown_dialects(in),
            "Unix:\n\n```console\n$ python -m pip install x\n```\n\nThen `pip list`.\n\n"
            "Windows:\n\n```\nC:> py -m pip install x\n```\n");
}

// A tab's label stands on its own line even when its content opens with
// prose: "Unix:" above "Global: ...", not "Unix: Global".
TEST(MarkdownDialects, ATabsLabelIsALineOfItsOwn) {
  EXPECT_EQ(normalize_markdown_dialects("```{tab} Unix\nThe file is read first.\n```\n"),
            "Unix:\n\nThe file is read first.\n");
  EXPECT_EQ(normalize_markdown_dialects("```{note}\nThe file is read first.\n```\n"), "Note: The file is read first.\n");
}

// Definition lists (MyST, Pandoc, PHP Markdown Extra): "term" then
// ": definition" lines read as "term: definition", roles converted.
TEST(MarkdownDialects, DefinitionListsKeepTheTermWithItsDefinition) {
  EXPECT_EQ(normalize_markdown_dialects("Global\n: {file}`/etc/pip.conf`\n\nUser\n: {file}`~/.config/pip/pip.conf`, or\n"
                                        "  the legacy file.\n"),
            "Global: `/etc/pip.conf`\n\nUser: `~/.config/pip/pip.conf`, or\nthe legacy file.\n");
  EXPECT_EQ(normalize_markdown_dialects("Timeout\n: 60 seconds.\n: Set it per command.\n"),
            "Timeout: 60 seconds.\nTimeout: Set it per command.\n");
  // A line continuing a definition stays in it, not the next one's term.
  EXPECT_EQ(normalize_markdown_dialects("Term\n: one\n  more\n: two\n"), "Term: one\nmore\nTerm: two\n");
  // Pandoc's indented definition with a second paragraph, and a code block.
  EXPECT_EQ(normalize_markdown_dialects("Port\n:   The TCP port.\n\n    Set it per server.\n\nAfter.\n"),
            "Port: The TCP port.\n\nSet it per server.\n\nAfter.\n");
  EXPECT_EQ(normalize_markdown_dialects("Example\n: ```\n  run it\n  ```\n"), "Example:\n\n```\nrun it\n```\n");
  // A heading or a list item is no term.
  for (const char* same : {"# Title\n: x\n", "- item\n: x\n"}) {
    EXPECT_EQ(normalize_markdown_dialects(same), same) << same;
  }
  // A definition ends where an unindented block starts or the next term
  // does; a fence indented under it is taken whole, whatever its lines say.
  EXPECT_EQ(normalize_markdown_dialects("Alpha\n: first\nBeta\n: second\n"), "Alpha: first\nBeta: second\n");
  EXPECT_EQ(normalize_markdown_dialects("Term\n: Run:\n```\na\n\nb\n```\n\nOther\n: {file}`/etc/x`\n"),
            "Term: Run:\n```\na\n\nb\n```\n\nOther: `/etc/x`\n");
  EXPECT_EQ(normalize_markdown_dialects("Term\n: Example:\n\n  ```\n  : not a definition\n\n x\n  ```\nAfter.\n"),
            "Term: Example:\n\n```\n: not a definition\n\nx\n```\nAfter.\n");
  EXPECT_EQ(normalize_markdown_dialects("Term\n: text\n# Heading\n- item\n"), "Term: text\n# Heading\n- item\n");
  // Not a definition: a colon line after a blank line, indented code, and
  // anything in a code fence.
  for (const char* same : {"Text\n\n: not a definition\n", "    code\n: x\n", "```\nterm\n: inside code\n```\n"}) {
    EXPECT_EQ(normalize_markdown_dialects(same), same) << same;
  }
}

TEST(MarkdownDialects, CodeDirectivesToctreeAndUnknownDirectives) {
  EXPECT_EQ(normalize_markdown_dialects("```{code-block} python\n:caption: setup.py\n\nimport os\n```\n"),
            "```python\nimport os\n```\n");
  EXPECT_EQ(normalize_markdown_dialects("Pages:\n\n```{toctree}\n:maxdepth: 2\n\ninstall\nusage\n```\n\nEnd.\n"),
            "Pages:\n\nEnd.\n");
  // pip's {pip-cli} holds a console session: code, as any unknown directive.
  EXPECT_EQ(normalize_markdown_dialects("```{pip-cli}\n$ pip install tea\n[...]\n```\n"),
            "```\n$ pip install tea\n[...]\n```\n");
}

TEST(MarkdownDialects, ColonFencesAndDocusaurus) {
  EXPECT_EQ(normalize_markdown_dialects(":::{tip}\nUse a virtual environment.\n:::\n"),
            "Tip: Use a virtual environment.\n");
  EXPECT_EQ(normalize_markdown_dialects(":::note\nSaved every *5 minutes*.\n:::\n"), "Note: Saved every *5 minutes*.\n");
  EXPECT_EQ(normalize_markdown_dialects(":::danger[Data loss]\nBack up first.\n:::\n"), "Data loss: Back up first.\n");
  // A colon fence of the same length nests; a code fence inside is skipped.
  EXPECT_EQ(normalize_markdown_dialects(":::{note}\nOuter.\n:::{warning}\nInner.\n:::\n```\n:::\n```\n:::\nAfter.\n"),
            "Note: Outer.\n\nWarning: Inner.\n\n```\n:::\n```\n\nAfter.\n");
}

TEST(MarkdownDialects, MkDocsAdmonitions) {
  EXPECT_EQ(normalize_markdown_dialects("!!! note \"Proxy settings\"\n    Set `HTTPS_PROXY`.\n\n    Then retry.\n\nNext.\n"),
            "Proxy settings: Set `HTTPS_PROXY`.\n\nThen retry.\n\nNext.\n");
  EXPECT_EQ(normalize_markdown_dialects("??? tip\n    Collapsed text.\n"), "Tip: Collapsed text.\n");
  EXPECT_EQ(normalize_markdown_dialects("!!! warning \"\"\n    No title.\n"), "No title.\n");
}

TEST(MarkdownDialects, RolesAndTargets) {
  EXPECT_EQ(normalize_markdown_dialects("(install-ref)=\n## Install\n"), "## Install\n");
  EXPECT_EQ(normalize_markdown_dialects(
                "See {ref}`the cache <cache-dir>` and {ref}`cache-dir`; edit {file}`~/.pip/pip.conf`, set "
                "{envvar}`PIP_INDEX_URL`, press {kbd}`Ctrl-C`; read {pep}`517` and {pypi}`keyring`; "
                "call {py:func}`~pkg.mod.run`."),
            "See the cache and cache-dir; edit `~/.pip/pip.conf`, set `PIP_INDEX_URL`, press `Ctrl-C`; read PEP 517 "
            "and keyring; call run.");
  // Inline code and fences keep roles as they are.
  EXPECT_EQ(normalize_markdown_dialects("Write `` {ref}`x` `` and {ref}`y`.\n```md\n{ref}`z`\n```\n"),
            "Write `` {ref}`x` `` and y.\n```md\n{ref}`z`\n```\n");
}

TEST(MarkdownDialects, IndentedDirectiveStaysInItsListItem) {
  EXPECT_EQ(normalize_markdown_dialects("- Install:\n\n  ```{note}\n  Needs root.\n  ```\n- Next\n"),
            "- Install:\n\n  Note: Needs root.\n\n- Next\n");
}

TEST(MarkdownDialects, MarkdownFileGoesThroughIt) {
  Collected c;
  ASSERT_TRUE(fetch_buffer("# Caching\n\n```{note}\nWheels are cached.\n```\n", "topics/caching.md", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  EXPECT_EQ(c.docs[0].title, "Caching");
  EXPECT_EQ(c.docs[0].text, "# Caching\n\nNote: Wheels are cached.\n");
}

// ---- reStructuredText ----

TEST(Rst, SectionLevelsFollowFirstAppearance) {
  EXPECT_EQ(rst("=====\nGuide\n=====\n\nIntro.\n\nInstall\n=======\n\nText.\n\nUnix\n----\n\nMore.\n\n"
                "Usage\n=======\n\nEnd.\n"),
            "# Guide\n\nIntro.\n\n## Install\n\nText.\n\n### Unix\n\nMore.\n\n## Usage\n\nEnd.\n");
  // '-' first seen: it is the top level, whatever the character.
  EXPECT_EQ(rst("Top\n---\n\nSub\n~~~\n"), "# Top\n\n## Sub\n");
}

TEST(Rst, ShortUnderlineIsNotATitle) {
  EXPECT_EQ(rst("Installation\n=====\n\nText.\n"), "Installation\n\nText.\n");
}

TEST(Rst, LiteralBlocksAndTheDoubleColon) {
  EXPECT_EQ(rst("Run this::\n\n    pip install x\n      --user\n\nDone.\n"),
            "Run this:\n\n```\npip install x\n  --user\n```\n\nDone.\n");
  EXPECT_EQ(rst("Run this ::\n\n    a\n"), "Run this\n\n```\na\n```\n");
  EXPECT_EQ(rst("Text.\n\n::\n\n    a\n"), "Text.\n\n```\na\n```\n");
  EXPECT_EQ(rst(">>> 1 + 1\n2\n"), "```pycon\n>>> 1 + 1\n2\n```\n");
}

TEST(Rst, CodeBlockDirectives) {
  EXPECT_EQ(rst(".. code-block:: shell\n   :caption: Unix\n\n   python -m pip install x\n"),
            "```shell\npython -m pip install x\n```\n");
  EXPECT_EQ(rst(".. highlight:: ini\n\nConfig::\n\n    [global]\n"), "Config:\n\n```ini\n[global]\n```\n");
  EXPECT_EQ(rst(".. sourcecode::\n\n   x = 1\n"), "```\nx = 1\n```\n");
}

TEST(Rst, AdmonitionsAndDroppedDirectives) {
  EXPECT_EQ(rst(".. note:: The cache is\n   shared.\n\n.. warning::\n\n   Do not run as root.\n"),
            "Note: The cache is\nshared.\n\nWarning: Do not run as root.\n");
  EXPECT_EQ(rst(".. versionadded:: 23.1\n\n   The ``--report`` option.\n"),
            "New in version 23.1: The `--report` option.\n");
  EXPECT_EQ(rst(".. toctree::\n   :maxdepth: 2\n\n   install\n\n.. image:: logo.png\n\n.. _install:\n\n"
                ".. |pip| replace:: the pip tool\n\n.. A comment\n\n   that goes on.\n\nUse |pip|.\n"),
            "Use the pip tool.\n");
  EXPECT_EQ(rst(".. tab:: Windows\n\n   .. code-block:: shell\n\n      py -m pip\n"),
            "Windows:\n\n```shell\npy -m pip\n```\n");
  EXPECT_EQ(rst(".. pip-command-usage:: install\n\n.. custom:: arg\n\n   raw body\n"), "```\nraw body\n```\n");
  // A tab holding only something dropped says nothing.
  EXPECT_EQ(rst(".. tab:: Unix\n\n   .. pip-command-usage:: install\n\nText.\n"), "Text.\n");
}

TEST(Rst, InlineMarkup) {
  EXPECT_EQ(rst("Use ``pip`` from `PyPI <https://pypi.org>`_ or `the index`__, see :ref:`Requirement\n"
                "Specifiers` and :ref:`files <req-files>`, :pep:`440`, :envvar:`PIP_NO_CACHE`, "
                ":py:class:`~pip.Finder`, PyPI_ and *emphasis* **strong** [1]_ ``x``\\ s.\n"),
            "Use `pip` from PyPI or the index, see Requirement\nSpecifiers and files, PEP 440, `PIP_NO_CACHE`, "
            "Finder, PyPI and *emphasis* **strong** [1] `x`s.\n");
  EXPECT_EQ(rst("Keep __init__ and snake_case and `default role`.\n"),
            "Keep __init__ and snake_case and `default role`.\n");
}

TEST(Rst, ListsDefinitionsFieldsAndTables) {
  EXPECT_EQ(rst("* one\n  continued\n* two\n\n  .. note:: Nested.\n\n#. first\n#. second\n\n(a) alpha\n"),
            "- one\n  continued\n\n- two\n\n  Note: Nested.\n\n1. first\n2. second\n\n- (a) alpha\n");
  EXPECT_EQ(rst("Intro.\n\n``--no-deps``\n    Don't install dependencies.\n\n:Default: off\n:Since: 1.0\n"),
            "Intro.\n\n`--no-deps`: Don't install dependencies.\n\nDefault: off\n\nSince: 1.0\n");
  EXPECT_EQ(rst("T.\n\n=====  =====\nName   Value\n=====  =====\nA      1\nB      2\n       more\n=====  =====\n"),
            "T.\n\n| Name | Value |\n| --- | --- |\n| A | 1 |\n| B | 2 more |\n");
  EXPECT_EQ(rst("T.\n\n+------+-------+\n| Name | Value |\n+======+=======+\n| A    | one   |\n|      | two   |\n"
                "+------+-------+\n"),
            "T.\n\n| Name | Value |\n| --- | --- |\n| A | one two |\n");
}

TEST(Rst, DocinfoFillsTitleAndMetadata) {
  Collected c;
  ASSERT_TRUE(fetch_buffer(":orphan:\n:Title: Proxy guide\n:Author: Net team\n:Date: 2024-03-02\n\nProxy\n=====\n\nText.\n",
                           "proxy.rst", {}, c.sink())
                  .is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  EXPECT_EQ(d.title, "Proxy guide");
  EXPECT_EQ(d.metadata.at("author"), "Net team");
  EXPECT_EQ(d.updated_at, 1709337600);
  EXPECT_EQ(d.metadata.count("orphan"), 0u);
  EXPECT_EQ(d.text, "# Proxy\n\nText.\n");
}

// A Sphinx page as real documentation writes it; the sections the chunker
// sees, and where code ends up.
const char kUserGuide[] = R"rst(.. _user-guide:

==========
User Guide
==========

.. This page is being split into topic guides;
   keep additions short.

Running the tool
================

The tool is a command line program. When installed, a ``tool`` command is
added to your system::

    tool <arguments>

.. tab:: Unix/macOS

   .. code-block:: shell

      python -m tool --version

.. tab:: Windows

   .. code-block:: shell

      py -m tool --version

Using a Proxy Server
====================

When fetching from `the index <https://example.org>`_, the tool needs network
access through an outbound proxy:

* using the ``--proxy`` command-line option, in the form
  ``scheme://[user:passwd@]proxy.server:port``
* using ``proxy`` in a :ref:`config-file`

.. note::

   Proxies that rewrite TLS need :ref:`their certificate <certs>`.

Environment variables
---------------------

:envvar:`HTTPS_PROXY`
    The proxy for HTTPS requests.

.. versionchanged:: 2.3
   ``NO_PROXY`` is honoured.
)rst";

TEST(Rst, RealisticPageGivesSectionsAndCode) {
  Collected c;
  ASSERT_TRUE(fetch_buffer(kUserGuide, "user_guide.rst", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  const Document& d = c.docs[0];
  EXPECT_EQ(d.title, "User Guide");
  std::vector<Section> s = sections_of(d.text);
  ASSERT_EQ(s.size(), 4u) << d.text;
  EXPECT_EQ(s[0].path, "User Guide");
  EXPECT_EQ(s[0].text, "\n");  // the comment is gone
  EXPECT_EQ(s[1].path, "User Guide > Running the tool");
  EXPECT_EQ(s[1].text,
            "\nThe tool is a command line program. When installed, a `tool` command is\nadded to your system:\n\n"
            "```\ntool <arguments>\n```\n\nUnix/macOS:\n\n```shell\npython -m tool --version\n```\n\n"
            "Windows:\n\n```shell\npy -m tool --version\n```\n\n");
  EXPECT_EQ(s[2].path, "User Guide > Using a Proxy Server");
  EXPECT_EQ(s[2].text,
            "\nWhen fetching from the index, the tool needs network\naccess through an outbound proxy:\n\n"
            "- using the `--proxy` command-line option, in the form\n  `scheme://[user:passwd@]proxy.server:port`\n"
            "- using `proxy` in a config-file\n\nNote: Proxies that rewrite TLS need their certificate.\n\n");
  EXPECT_EQ(s[3].path, "User Guide > Using a Proxy Server > Environment variables");
  EXPECT_EQ(s[3].text, "\n`HTTPS_PROXY`: The proxy for HTTPS requests.\n\nChanged in version 2.3: `NO_PROXY` is honoured.\n");
}

// A Markdown file's title is its first "# " line outside code; a "````"
// block that shows a "```" block holds all of it.
TEST(MarkdownDialects, TheTitleIsNoLineOfALongerFence) {
  Collected c;
  ASSERT_TRUE(fetch_buffer("````md\n```sh\n# not the title\n```\n````\n\n# Proxy settings\n\nText.\n", "x.md", {},
                           c.sink())
                  .is_ok());
  ASSERT_EQ(c.docs.size(), 1u);
  EXPECT_EQ(c.docs[0].title, "Proxy settings");
}

// ---- bad input ----

TEST(MarkupBadInput, UnterminatedFencesRunToTheEnd) {
  EXPECT_EQ(normalize_markdown_dialects("```{note}\nNever closed.\n"), "Note: Never closed.\n");
  EXPECT_EQ(normalize_markdown_dialects("```\n{ref}`x`\n"), "```\n{ref}`x`\n");
  EXPECT_EQ(normalize_markdown_dialects(":::{tip}\n:::{tip}\nx\n"), "Tip: Tip: x\n");
  EXPECT_EQ(rst("Run::\n"), "Run:\n");
  EXPECT_EQ(rst(".. code-block:: python\n"), "");
  EXPECT_EQ(rst("``open literal and `open role and :ref:`x\n"), "``open literal and `open role and :ref:`x\n");
}

TEST(MarkupBadInput, BinaryRstIsAClearError) {
  Collected c;
  ASSERT_TRUE(fetch_buffer(std::string("Title\n=====\n\0\x01\x02", 15), "bin.rst", {}, c.sink()).is_ok());
  EXPECT_TRUE(c.docs.empty());
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.errors[0].message().find("bin.rst"), std::string::npos) << c.errors[0].message();
  EXPECT_NE(c.errors[0].message().find("binary content in a reStructuredText file"), std::string::npos);
}

TEST(MarkupBadInput, DeepNestingLongLinesAndManyFencesFinishQuickly) {
  const auto start = std::chrono::steady_clock::now();
  std::string deep_rst, deep_md, deep_colon;
  for (int i = 0; i < 3000; ++i) {
    deep_rst += std::string(static_cast<size_t>(i), ' ') + "* item\n" + std::string(static_cast<size_t>(i), ' ') +
                ".. note::\n\n";
    deep_md += std::string(static_cast<size_t>(3000 - i) + 3, '`') + "{note}\n";
    deep_colon += ":::{note}\n";
  }
  const std::string long_line = std::string(1 << 20, 'x') + "\n";
  std::string noisy(1 << 20, ' ');
  for (size_t i = 0; i < noisy.size(); ++i) noisy[i] = "`:|_{}[]<>*\\x"[(i * 7919) % 13];
  std::string backticks;
  for (size_t n = 1; backticks.size() < (1 << 20); ++n) backticks += std::string(n % 1500 + 1, '`') + "{r}";
  for (const std::string& in : {deep_rst, deep_md, deep_colon, long_line, noisy, backticks}) {
    for (const char* name : {"x.rst", "x.md"}) {
      Collected c;
      ASSERT_TRUE(fetch_buffer(in, name, {}, c.sink()).is_ok());
      EXPECT_EQ(c.docs.size() + c.errors.size(), 1u) << name;
    }
  }
  EXPECT_EQ(rst(long_line), long_line);
  EXPECT_EQ(rst("Title\n" + std::string(1 << 20, '=') + "\n"), "# Title\n");
  // Instrumented builds run several times slower: the bound says nothing there.
  if (!testing::kSanitized) {
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  }
}

TEST(MarkupBadInput, MutatedMarkupNeverCrashes) {
  std::mt19937 rng(20240612);
  const std::string seeds[] = {kUserGuide,
                               "# T\n\n````{tab} A\n```{note}\nx {ref}`y <z>`\n```\n````\n!!! tip\n    t\n:::note\nn\n:::\n"};
  for (int i = 0; i < 600; ++i) {
    std::string s = seeds[i % 2];
    for (int k = 0, n = 1 + static_cast<int>(rng() % 6); k < n && !s.empty(); ++k) {
      static const char kChars[] = "`:{}<>|_*-=.\n \t\\#!?";
      const size_t at = rng() % s.size();
      if (rng() % 2) s.insert(s.begin() + static_cast<long>(at), kChars[rng() % (sizeof kChars - 1)]);
      else s.erase(at, rng() % 8);
    }
    Collected c;
    ASSERT_TRUE(fetch_buffer(s, i % 2 ? "m.md" : "m.rst", {}, c.sink()).is_ok());
    for (const auto& d : c.docs) EXPECT_FALSE(d.id.empty());
  }
}

}  // namespace
}  // namespace ragd

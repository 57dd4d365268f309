// Documentation markup as plain Markdown: MyST, MkDocs and Docusaurus
// dialects in Markdown files.
#include <gtest/gtest.h>

#include <chrono>

#include "connectors/connector.h"
#include "connectors/internal.h"
#include "tests/connectors/test_files.h"

namespace ragd {
namespace {

using connectors::normalize_markdown_dialects;
using testing::Collected;

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

// ---- bad input ----

TEST(MarkupBadInput, UnterminatedFencesRunToTheEnd) {
  EXPECT_EQ(normalize_markdown_dialects("```{note}\nNever closed.\n"), "Note: Never closed.\n");
  EXPECT_EQ(normalize_markdown_dialects("```\n{ref}`x`\n"), "```\n{ref}`x`\n");
  EXPECT_EQ(normalize_markdown_dialects(":::{tip}\n:::{tip}\nx\n"), "Tip: Tip: x\n");
}

TEST(MarkupBadInput, DeepNestingLongLinesAndManyFencesFinishQuickly) {
  const auto start = std::chrono::steady_clock::now();
  std::string deep_md, deep_colon;
  for (int i = 0; i < 3000; ++i) {
    deep_md += std::string(static_cast<size_t>(3000 - i) + 3, '`') + "{note}\n";
    deep_colon += ":::{note}\n";
  }
  const std::string long_line = std::string(1 << 20, 'x') + "\n";
  std::string noisy(1 << 20, ' ');
  for (size_t i = 0; i < noisy.size(); ++i) noisy[i] = "`:|_{}[]<>*\\x"[(i * 7919) % 13];
  std::string backticks;
  for (size_t n = 1; backticks.size() < (1 << 20); ++n) backticks += std::string(n % 1500 + 1, '`') + "{r}";
  for (const std::string& in : {deep_md, deep_colon, long_line, noisy, backticks}) {
    Collected c;
    ASSERT_TRUE(fetch_buffer(in, "x.md", {}, c.sink()).is_ok());
    EXPECT_EQ(c.docs.size() + c.errors.size(), 1u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

}  // namespace
}  // namespace ragd

// Code in documents, from the file to the answer that quotes it: a YAML
// manifest in Markdown, a Python helper in an RST code-block, and a
// Markdown example fenced with four backticks around a "```" block.
// Indentation is YAML's and Python's syntax, so it must survive
// normalisation, chunking and the answer units; a longer fence must hold a
// shorter one at every stage. Ingested through the real pipeline with the
// real GloVe vectors and the shipped options.
#include <gtest/gtest.h>

#include "tests/generate/docs_fixture.h"

namespace ragd {
namespace {

constexpr const char* kGuide = R"(# Web deployment guide

## Resource limits

The web pod gets its memory and CPU limits  from  the deployment manifest, not from the namespace quota. Set the
limits in the manifest like this:

```yaml
spec:
  containers:
    - name: web
      resources:
        limits:
          memory:  "512Mi"
          cpu: "1"
```

Apply the manifest again after every change; the pods restart one at a time.

## Writing runbooks

A runbook shows a shell command in a fenced block. To show what such a block looks like in Markdown, fence it
with four backticks:

````markdown
```sh
# restart the web pods
kubectl rollout restart deployment/web
```
````

Keep one command per line.
)";

constexpr const char* kRetry = R"(Retrying flaky calls
====================

The payment gateway drops about one call in a thousand. Wrap each call to the gateway in the retry helper below,
which waits a little longer after every failure:

.. code-block:: python

    def with_retry(call, attempts=3):
        for attempt in range(attempts):
            try:
                return call()
            except GatewayTimeout:
                time.sleep(2 ** attempt)
        raise GatewayDown()

Never retry a call that already charged the card.
)";

constexpr const char* kManifest =
    "spec:\n  containers:\n    - name: web\n      resources:\n        limits:\n          memory:  \"512Mi\"\n"
    "          cpu: \"1\"";
constexpr const char* kHelper =
    "def with_retry(call, attempts=3):\n    for attempt in range(attempts):\n        try:\n"
    "            return call()\n        except GatewayTimeout:\n            time.sleep(2 ** attempt)\n"
    "    raise GatewayDown()";
constexpr const char* kExample = "```sh\n# restart the web pods\nkubectl rollout restart deployment/web\n```";

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

class CodeBlocks : public DocsFixture {
 protected:
  void SetUp() override { load("code-blocks", {{"deploy-guide.md", kGuide}, {"retry.rst", kRetry}}); }

  std::string stored_text(const std::string& doc_id) {
    auto chunks = scratch_->store().chunks_of(doc_id);
    EXPECT_TRUE(chunks.is_ok());
    std::string all;
    if (chunks.is_ok())
      for (const Chunk& c : *chunks) all += c.text + "\n\n";
    return all;
  }
};

// The stored chunks hold the code as written; the prose around it is
// collapsed as before.
TEST_F(CodeBlocks, StoredChunksKeepTheIndentation) {
  const std::string guide = stored_text("deploy-guide.md");
  EXPECT_TRUE(contains(guide, std::string("```yaml\n") + kManifest + "\n```")) << guide;
  EXPECT_TRUE(contains(guide, std::string("````markdown\n") + kExample + "\n````")) << guide;
  EXPECT_TRUE(contains(guide, "CPU limits from the deployment manifest")) << guide;
  const std::string retry = stored_text("retry.rst");
  EXPECT_TRUE(contains(retry, std::string("```python\n") + kHelper + "\n```")) << retry;
}

// An answer that quotes the code quotes it with its indentation, in a
// fence of its own.
TEST_F(CodeBlocks, AnAnswerQuotesYamlAndPythonAsWritten) {
  const Answer yaml = ask("How do I set the memory limit of the web pod?");
  ASSERT_FALSE(yaml.refused) << yaml.text << " conf=" << yaml.confidence;
  EXPECT_TRUE(contains(yaml.text, std::string("```\n") + kManifest + "\n```")) << yaml.text;
  const Answer python = ask("How do I retry a flaky call to the payment gateway?");
  ASSERT_FALSE(python.refused) << python.text << " conf=" << python.confidence;
  EXPECT_TRUE(contains(python.text, std::string("```\n") + kHelper + "\n```")) << python.text;
}

// A four-backtick block holding a "```" block is one code block: its "#"
// line is no heading that would cut the section, and the answer quotes it
// in a fence long enough to hold the inner one.
TEST_F(CodeBlocks, ALongerFenceHoldsAShorterOneIntoTheAnswer) {
  const Answer a = ask("How should a runbook show a Markdown code block?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_TRUE(contains(a.text, std::string("````\n") + kExample + "\n````")) << a.text;
  EXPECT_TRUE(contains(a.text, "Keep one command per line")) << a.text;
}

}  // namespace
}  // namespace ragd

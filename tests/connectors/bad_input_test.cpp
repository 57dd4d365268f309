// Bad input never crashes: mutated exports, documents and archives, and
// hostile nesting. Every emitted document still has an id.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "connectors/connector.h"
#include "tests/connectors/test_files.h"

namespace ragd {
namespace {

using testing::Collected;

struct Seed {
  std::string name;
  std::string bytes;
};

std::vector<Seed> seeds() {
  return {
      {"sn.json", R"js({"result":[{"number":"INC1","short_description":"VPN 809","description":"d",
        "comments":"2024-03-02 10:11:12 - Jane Doe (Additional comments)\nhello",
        "assignment_group":{"display_value":"Net","value":"x"},"sys_updated_on":"2024-03-02 10:11:12"}]})js"},
      {"jira.json", R"js({"issues":[{"key":"A-1","fields":{"summary":"s","description":{"type":"doc","content":[
        {"type":"paragraph","content":[{"type":"text","text":"hi"},{"type":"hardBreak"}]}]},
        "comment":{"comments":[{"author":{"displayName":"B"},"body":"c","created":"2024-01-01T00:00:00.000+0000"}]},
        "labels":["x"],"components":[{"name":"y"}],"status":{"name":"Done"}}}]})js"},
      {"zd.json", R"js({"tickets":[{"id":1,"subject":"s","description":"d","tags":["a"],
        "comments":[{"author_id":2,"body":"b","public":true,"created_at":"2024-01-01T00:00:00Z"}]}]})js"},
      {"c.csv", "id,title,text\n1,\"a, b\",\"multi\nline \"\"q\"\"\"\n2,t,x\n"},
      {"c.jsonl", "{\"_id\":\"1\",\"title\":\"t\",\"text\":\"x\",\"metadata\":{\"a\":1}}\n{\"id\":2,\"text\":\"y\"}\n"},
      {"p.html", "<html><head><title>T</title></head><body><h1>A</h1><p>x <b>y</b></p><h2>B</h2><ul><li>z</li>"
                 "</ul><table><tr><td>1</td></tr></table></body></html>"},
      {"r.md", "---\ntitle: T\nacl: [a, b]\n---\n# A\n\ntext\n\n```\ncode\n```\n"},
      {"m.md", "# A\n\n````{tab} Unix\n```{note}\nx {ref}`y <z>`\n```\n````\n!!! tip\n    t\n"},
      {"g.rst", "=====\nTitle\n=====\n\n.. note::\n\n   x ``y``::\n\n      code\n\n* a\n* :ref:`b <c>`\n\n"
                "=== ===\na   b\n=== ===\n"},
      {"p.pdf", testing::make_pdf({{"Title line", "Body text here."}, {"2. Section", "More text."}}, "T")},
      {"d.docx", testing::make_docx({{"Heading1", "H"}, {"", "para"}}, {{"a", "b"}}, "T")},
  };
}

std::string mutate(const std::string& in, std::mt19937& rng) {
  std::string s = in;
  switch (rng() % 4) {
    case 0:  // truncate
      s.resize(rng() % (s.size() + 1));
      break;
    case 1:  // flip bytes
      for (int i = 0, n = 1 + static_cast<int>(rng() % 8); i < n && !s.empty(); ++i)
        s[rng() % s.size()] = static_cast<char>(rng());
      break;
    case 2:  // insert structural characters
      for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i) {
        static const char kChars[] = "{}[]\",:\\\n<>&\x00\xff";
        s.insert(s.begin() + static_cast<long>(rng() % (s.size() + 1)), kChars[rng() % (sizeof kChars - 1)]);
      }
      break;
    default:  // delete a span
      if (!s.empty()) {
        size_t a = rng() % s.size();
        s.erase(a, rng() % 16);
      }
      break;
  }
  return s;
}

TEST(BadInput, MutatedFilesNeverCrash) {
  std::mt19937 rng(20240521);
  size_t docs = 0, errors = 0;
  for (const Seed& seed : seeds()) {
    {  // the seed itself parses cleanly
      Collected c;
      ASSERT_TRUE(fetch_buffer(seed.bytes, seed.name, {}, c.sink()).is_ok());
      EXPECT_TRUE(c.errors.empty()) << seed.name << ": " << c.error_text();
      EXPECT_FALSE(c.docs.empty()) << seed.name;
    }
    for (int i = 0; i < 150; ++i) {
      Collected c;
      std::string bytes = mutate(seed.bytes, rng);
      Status s = fetch_buffer(bytes, seed.name, {}, c.sink());
      EXPECT_TRUE(s.is_ok()) << s.to_string();
      for (const auto& d : c.docs) EXPECT_FALSE(d.id.empty()) << seed.name << " mutation " << i;
      for (const auto& e : c.errors) EXPECT_TRUE(e.message().starts_with(seed.name)) << e.message();
      docs += c.docs.size();
      errors += c.errors.size();
    }
  }
  EXPECT_GT(errors, 100u);  // mutations were caught
  EXPECT_GT(docs, 100u);    // and many still parsed
}

TEST(BadInput, HostileNestingIsHandled) {
  const int depth = 100000;
  std::string arrays = std::string(depth, '[') + std::string(depth, ']');
  Collected a;
  ASSERT_TRUE(fetch_buffer(arrays, "deep.json", {}, a.sink()).is_ok());
  EXPECT_EQ(a.docs.size() + a.errors.size(), 1u);

  std::string adf;
  for (int i = 0; i < 5000; ++i) adf += R"({"type":"paragraph","content":[)";
  adf += R"({"type":"text","text":"deep"})";
  for (int i = 0; i < 5000; ++i) adf += "]}";
  std::string jira = R"({"issues":[{"key":"D-1","fields":{"summary":"s","description":)" + adf + "}}]}";
  Collected j;
  ASSERT_TRUE(fetch_buffer(jira, "deep-jira.json", {}, j.sink()).is_ok());
  ASSERT_EQ(j.docs.size(), 1u) << j.error_text();
  EXPECT_EQ(j.docs[0].id, "D-1");

  std::string html;
  for (int i = 0; i < 20000; ++i) html += "<div>";
  html += "deep text";
  Collected h;
  ASSERT_TRUE(fetch_buffer(html, "deep.html", {}, h.sink()).is_ok());
  EXPECT_EQ(h.docs.size() + h.errors.size(), 1u);
}

TEST(BadInput, ParsersAreSafeOnManyThreads) {
  const std::vector<Seed> all = seeds();
  std::atomic<size_t> docs{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        for (const Seed& seed : all) {
          Collected c;
          if (!fetch_buffer(seed.bytes, seed.name, {}, c.sink()).is_ok()) ++errors;
          docs += c.docs.size();
          errors += c.errors.size();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_GE(docs.load(), 4u * 20u * all.size());
}

}  // namespace
}  // namespace ragd

// The DOCX decompression budget (FetchOptions::max_decompressed_bytes and
// max_compression_ratio): a zip bomb is rejected from the sizes in the zip
// directory, before anything is decompressed, while ordinary DOCX files of a
// few MB still parse. The archives are built here with libzip.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "connectors/connector.h"
#include "tests/connectors/test_files.h"
#include "tests/sanitizer.h"

namespace ragd {
namespace {

struct Fetched {
  std::vector<Document> docs;
  std::vector<Status> errors;
  double seconds = 0;
};

Fetched fetch(const std::string& bytes, const FetchOptions& options = {}) {
  Fetched f;
  FetchSink sink{[&](Document&& d) { f.docs.push_back(std::move(d)); },
                 [&](const Status& s) { f.errors.push_back(s); }};
  auto t0 = std::chrono::steady_clock::now();
  Status st = fetch_buffer(bytes, "upload.docx", options, sink);
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return f;
}

// About 28 MB of one repeated paragraph: libzip's deflate packs it into
// about 100 KB, the shape of the 97 KB bomb that cost 13.7 s and 64,765
// chunks.
std::string zip_bomb() {
  const std::string para = "<w:p><w:r><w:t>All work and no play makes Jack a dull boy.</w:t></w:r></w:p>";
  std::string body;
  body.reserve(28u << 20);
  while (body.size() < (28u << 20)) body += para;
  const std::string document =
      "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"
      "<w:body>" + body + "</w:body></w:document>";
  return testing::make_zip({{"word/document.xml", document}});
}

TEST(DocxBudget, ZipBombIsRejectedBeforeDecompression) {
  const std::string bomb = zip_bomb();
  ASSERT_LT(bomb.size(), 150u << 10) << "the test archive should be a bomb";
  Fetched f = fetch(bomb);
  EXPECT_TRUE(f.docs.empty());
  ASSERT_EQ(f.errors.size(), 1u);
  const Status& e = f.errors[0];
  EXPECT_EQ(e.code(), StatusCode::kResourceExhausted) << e.to_string();
  EXPECT_NE(e.message().find("upload.docx"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("word/document.xml would expand the DOCX from " + std::to_string(bomb.size())),
            std::string::npos)
      << e.message();
  EXPECT_NE(e.message().find("(max_compression_ratio); skipped as a possible zip bomb"), std::string::npos)
      << e.message();
  if (!testing::kSanitized) {
    EXPECT_LT(f.seconds, 0.5) << "rejecting the bomb took " << f.seconds << " s";
  }
  std::printf("zip bomb: %zu bytes (28 MiB of XML) rejected in %.4f s\n", bomb.size(), f.seconds);
}

TEST(DocxBudget, TotalDecompressedBytesAreCapped) {
  const std::string docx = testing::make_docx({{"Heading1", "Access"}, {"", "Rotate passwords."}}, {}, "Policy");
  FetchOptions o;
  o.max_decompressed_bytes = 200;  // document.xml alone is larger
  Fetched f = fetch(docx, o);
  EXPECT_TRUE(f.docs.empty());
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].code(), StatusCode::kResourceExhausted);
  EXPECT_NE(f.errors[0].message().find("over the limit of 200 (max_decompressed_bytes)"), std::string::npos)
      << f.errors[0].message();

  o.max_decompressed_bytes = 64u << 20;
  Fetched ok = fetch(docx, o);
  ASSERT_EQ(ok.docs.size(), 1u);
  EXPECT_TRUE(ok.errors.empty());
  EXPECT_EQ(ok.docs[0].title, "Policy");
}

TEST(DocxBudget, OrdinaryMultiMegabyteDocxStillParses) {
  // 3 MB of varied words: about 3:1 compressed, far from the ratio limit.
  std::mt19937 rng(11);
  const char* words[] = {"server", "restart", "password", "rotate", "ticket", "policy", "access",
                         "network", "vpn",    "disk",     "backup", "audit",  "token",  "group"};
  std::vector<std::pair<std::string, std::string>> paras;
  size_t bytes = 0;
  while (bytes < (3u << 20)) {
    std::string p;
    for (int w = 0; w < 40; ++w) p += std::string(words[rng() % 14]) + std::to_string(rng() % 1000) + " ";
    bytes += p.size();
    paras.push_back({paras.size() % 50 == 0 ? "Heading1" : "", p});
  }
  const std::string docx = testing::make_docx(paras, {}, "Big manual");
  Fetched f = fetch(docx);
  ASSERT_TRUE(f.errors.empty()) << f.errors[0].to_string();
  ASSERT_EQ(f.docs.size(), 1u);
  EXPECT_EQ(f.docs[0].title, "Big manual");
  EXPECT_GT(f.docs[0].blocks.size(), 50u);
}

}  // namespace
}  // namespace ragd

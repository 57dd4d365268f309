// GloVe-SIF: file round trip, tokenisation, SIF weighting, corrupt files,
// and (when the imported vectors are present) speed and sanity on real data.
#include "model/glove_sif.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "tests/sanitizer.h"
#include "tests/testdata.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;

class GloveSifTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ragd_glove_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    path_ = dir_ / "tiny.bin";
    // 6 words, dim 4. Rank order: "the" is the most frequent.
    words_ = {"the", "server", "restart", "vpn", "x-ray", "café"};
    vectors_ = {
        1.0f, 1.0f, 0.0f, 0.0f,   // the
        0.0f, 1.0f, 0.5f, 0.0f,   // server
        0.0f, 0.0f, 1.0f, 0.25f,  // restart
        0.5f, 0.0f, 0.0f, 1.0f,   // vpn
        0.0f, 0.5f, 0.5f, 0.5f,   // x-ray
        -1.0f, 0.0f, 0.25f, 0.0f, // café
    };
    ASSERT_TRUE(write_glove_file(words_, vectors_, 4, path_).is_ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<float> embed_one(const Embedder& e, const std::string& text) {
    std::vector<float> out;
    std::vector<std::string> texts{text};
    EXPECT_TRUE(e.embed(texts, EmbedRole::kPassage, out).is_ok());
    return out;
  }

  fs::path dir_, path_;
  std::vector<std::string> words_;
  std::vector<float> vectors_;
};

TEST_F(GloveSifTest, RoundTripLookupAndVectors) {
  auto e = GloveSifEmbedder::open(path_);
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ((*e)->dim(), 4);
  EXPECT_EQ((*e)->vocabulary_size(), 6u);
  for (size_t r = 0; r < words_.size(); ++r) {
    ASSERT_EQ((*e)->lookup(words_[r]), static_cast<int64_t>(r)) << words_[r];
    float v[4];
    (*e)->word_vector(static_cast<int64_t>(r), v);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(v[i], vectors_[r * 4 + i], 1e-3);
  }
  EXPECT_EQ((*e)->lookup("nope"), -1);
  EXPECT_EQ((*e)->lookup(""), -1);
  // Rare words weigh more than frequent ones.
  EXPECT_LT((*e)->word_weight(0), (*e)->word_weight(5));
}

TEST_F(GloveSifTest, FingerprintNamesDimAndChangesWithContentAndOptions) {
  auto a = GloveSifEmbedder::open(path_);
  ASSERT_TRUE(a.is_ok());
  const std::string fp = (*a)->fingerprint();
  EXPECT_EQ(fp.rfind("glove-sif:", 0), 0u) << fp;
  EXPECT_EQ(fp.substr(fp.size() - 2), ":4");
  GloveSifOptions other;
  other.sif_a = 1e-2;
  auto b = GloveSifEmbedder::open(path_, other);
  ASSERT_TRUE(b.is_ok());
  EXPECT_NE((*b)->fingerprint(), fp);
  vectors_[0] = 0.75f;
  fs::path p2 = dir_ / "other.bin";
  ASSERT_TRUE(write_glove_file(words_, vectors_, 4, p2).is_ok());
  auto c = GloveSifEmbedder::open(p2);
  ASSERT_TRUE(c.is_ok());
  EXPECT_NE((*c)->fingerprint(), fp);
}

TEST_F(GloveSifTest, EmbedIsUnitLengthSkipsUnknownWordsAndZeroWhenNothingKnown) {
  GloveSifOptions opt;
  opt.remove_common_component = false;
  auto e = GloveSifEmbedder::open(path_, opt);
  ASSERT_TRUE(e.is_ok());
  std::vector<float> a = embed_one(**e, "Restart the VPN server");
  std::vector<float> b = embed_one(**e, "restart THE vpn qwertyuiop server!!");
  ASSERT_EQ(a.size(), 4u);
  double norm = 0;
  for (int i = 0; i < 4; ++i) {
    norm += a[i] * a[i];
    EXPECT_NEAR(a[i], b[i], 1e-6);
  }
  EXPECT_NEAR(norm, 1.0, 1e-5);
  // Expected: SIF-weighted sum of the four known rows, normalised.
  float expect[4] = {0, 0, 0, 0};
  for (const char* w : {"restart", "the", "vpn", "server"}) {
    int64_t r = (*e)->lookup(w);
    float v[4];
    (*e)->word_vector(r, v);
    for (int i = 0; i < 4; ++i) expect[i] += (*e)->word_weight(r) * v[i];
  }
  double en = 0;
  for (float x : expect) en += x * x;
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(a[i], expect[i] / std::sqrt(en), 1e-3);
  std::vector<float> z = embed_one(**e, "qwerty asdf 🙂");
  for (float x : z) EXPECT_EQ(x, 0.0f);
}

TEST_F(GloveSifTest, CommonComponentIsProjectedOut) {
  auto e = GloveSifEmbedder::open(path_);
  ASSERT_TRUE(e.is_ok());
  GloveSifOptions off;
  off.remove_common_component = false;
  auto raw = GloveSifEmbedder::open(path_, off);
  ASSERT_TRUE(raw.is_ok());
  std::vector<float> with = embed_one(**e, "server restart vpn");
  std::vector<float> without = embed_one(**raw, "server restart vpn");
  double diff = 0;
  for (int i = 0; i < 4; ++i) diff += std::fabs(with[i] - without[i]);
  EXPECT_GT(diff, 1e-3);
}

TEST_F(GloveSifTest, BatchEqualsSingleAndAppends) {
  auto e = GloveSifEmbedder::open(path_);
  ASSERT_TRUE(e.is_ok());
  std::vector<std::string> texts{"vpn server", "café x-ray", "nothing known"};
  std::vector<float> out{42.0f};
  ASSERT_TRUE((*e)->embed(texts, EmbedRole::kQuery, out).is_ok());
  ASSERT_EQ(out.size(), 1u + 3 * 4);
  EXPECT_EQ(out[0], 42.0f);
  for (size_t t = 0; t < texts.size(); ++t) {
    std::vector<float> one = embed_one(**e, texts[t]);
    for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out[1 + t * 4 + i], one[i]);
  }
}

TEST_F(GloveSifTest, ConcurrentEmbedGivesSameVectors) {
  auto e = GloveSifEmbedder::open(path_);
  ASSERT_TRUE(e.is_ok());
  std::vector<float> ref = embed_one(**e, "restart the vpn server café");
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        std::vector<float> out;
        std::vector<std::string> texts{"restart the vpn server café"};
        if (!(*e)->embed(texts, EmbedRole::kPassage, out).is_ok() || out != ref) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(GloveTokenize, LowercasesSplitsAndKeepsCompounds) {
  EXPECT_EQ(glove_tokenize("Restart the VPN-Server, now!"),
            (std::vector<std::string>{"restart", "the", "vpn-server", "now"}));
  EXPECT_EQ(glove_tokenize("CAFÉ Übung"), (std::vector<std::string>{"café", "übung"}));
  EXPECT_EQ(glove_tokenize("version 2.4.1 costs 1,000 -- ok."),
            (std::vector<std::string>{"version", "2.4.1", "costs", "1,000", "ok"}));
  EXPECT_EQ(glove_tokenize("don’t x-ray- 'quoted'"),
            (std::vector<std::string>{"don't", "x-ray", "quoted"}));
  EXPECT_TRUE(glove_tokenize("  ... !!! ").empty());
  EXPECT_TRUE(glove_tokenize("").empty());
  // Invalid UTF-8 is a separator, never a crash.
  EXPECT_EQ(glove_tokenize(std::string("ab\xff\xfe" "cd")), (std::vector<std::string>{"ab", "cd"}));
}

TEST_F(GloveSifTest, UnknownCompoundFallsBackToParts) {
  auto e = GloveSifEmbedder::open(path_);
  ASSERT_TRUE(e.is_ok());
  // "vpn-server" is unknown; its parts are known.
  EXPECT_EQ(embed_one(**e, "vpn-server"), embed_one(**e, "vpn server"));
  // "x-ray" is known whole: not the same as its parts (which are unknown).
  std::vector<float> xr = embed_one(**e, "x-ray");
  EXPECT_NE(xr, std::vector<float>(4, 0.0f));
}

TEST_F(GloveSifTest, WriterRejectsBadInput) {
  std::vector<std::string> dup{"a", "a"};
  std::vector<float> v(8, 1.0f);
  EXPECT_FALSE(write_glove_file(dup, v, 4, dir_ / "d.bin").is_ok());
  std::vector<std::string> two{"a", "b"};
  std::vector<float> short_v(7, 1.0f);
  EXPECT_FALSE(write_glove_file(two, short_v, 4, dir_ / "s.bin").is_ok());
  v[3] = NAN;
  EXPECT_FALSE(write_glove_file(two, v, 4, dir_ / "n.bin").is_ok());
  std::vector<std::string> empty_word{"a", ""};
  EXPECT_FALSE(write_glove_file(empty_word, std::vector<float>(8, 1.0f), 4, dir_ / "e.bin").is_ok());
}

TEST_F(GloveSifTest, MissingFileSaysHowToGetIt) {
  auto e = GloveSifEmbedder::open(dir_ / "absent.bin");
  ASSERT_FALSE(e.is_ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_NE(e.status().message().find("scripts/setup.sh"), std::string::npos);
  EXPECT_NE(e.status().message().find("--glove"), std::string::npos);
}

TEST_F(GloveSifTest, CorruptFilesAreRejectedNotCrashing) {
  std::ifstream in(path_, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& data) {
    fs::path p = dir_ / "bad.bin";
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
    return GloveSifEmbedder::open(p);
  };
  EXPECT_EQ(write("").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(write(bytes.substr(0, bytes.size() / 2)).status().code(), StatusCode::kCorruption);
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  EXPECT_EQ(write(bad_magic).status().code(), StatusCode::kCorruption);
  // Random byte flips never crash: each open either fails cleanly or works.
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string b = bytes;
    for (int f = 0; f < 4; ++f) b[rng() % 104] = static_cast<char>(rng());
    auto e = write(b);
    if (e.is_ok()) {
      std::vector<float> out;
      std::vector<std::string> t{"the server restart vpn"};
      EXPECT_TRUE((*e)->embed(t, EmbedRole::kQuery, out).is_ok());
    }
  }
}

TEST(GloveImport, StreamsWinkJsonIntoBinaryFile) {
  fs::path dir = fs::temp_directory_path() / ("ragd_glove_import_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // The wink shape, words listed by rank; vectors given out of order.
  std::ofstream(dir / "w.json") << R"({"precision":8,"l2NormIndex":3,"wordIndex":4,"size":3,"dimensions":3,)"
                                << R"("words":["the","vpn","error"],)"
                                << R"("vectors":{"error":[0.5,-1,2e-1,1.1,2],"the":[1,0,0,1,0],)"
                                << R"("vpn":[0,1,0,1,1]},"unkVector":[0,0,0,0,-1]})";
  ASSERT_TRUE(import_wink_glove(dir / "w.json", dir / "w.bin").is_ok());
  auto e = GloveSifEmbedder::open(dir / "w.bin");
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ((*e)->dim(), 3);
  EXPECT_EQ((*e)->lookup("the"), 0);
  EXPECT_EQ((*e)->lookup("vpn"), 1);
  EXPECT_EQ((*e)->lookup("error"), 2);
  float v[3];
  (*e)->word_vector(2, v);
  EXPECT_NEAR(v[0], 0.5f, 1e-3);
  EXPECT_NEAR(v[1], -1.0f, 1e-3);
  EXPECT_NEAR(v[2], 0.2f, 1e-3);
  // Malformed JSON and wrong vector lengths are clear errors.
  std::ofstream(dir / "bad.json") << R"({"dimensions":3,"vectors":{"a":[1,2,3,4,0],"b":[1,2]}})";
  Status st = import_wink_glove(dir / "bad.json", dir / "bad.bin");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("'b'"), std::string::npos) << st.message();
  std::ofstream(dir / "trunc.json") << R"({"dimensions":3,"vectors":{"a":[1,2,3,)";
  EXPECT_FALSE(import_wink_glove(dir / "trunc.json", dir / "t.bin").is_ok());
  EXPECT_EQ(import_wink_glove(dir / "absent.json", dir / "x.bin").code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

// On the real imported vectors (skipped when setup has not imported them,
// failed then with RAGD_REQUIRE_TESTDATA=1).
TEST(GloveReal, SemanticsAndSpeed) {
  fs::path p = default_glove_path();
  RAGD_NEED_TESTDATA(p);
  auto t0 = std::chrono::steady_clock::now();
  auto e = open_glove(p);
  double open_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  if (!testing::kSanitized) {
    EXPECT_LT(open_s, 1.0);
  }
  EXPECT_EQ((*e)->dim(), 100);
  auto cos = [&](const std::string& a, const std::string& b) {
    std::vector<float> out;
    std::vector<std::string> t{a, b};
    EXPECT_TRUE((*e)->embed(t, EmbedRole::kPassage, out).is_ok());
    double d = 0;
    for (int i = 0; i < 100; ++i) d += out[i] * out[100 + i];
    return d;
  };
  EXPECT_GT(cos("the vpn connection drops", "vpn tunnel disconnects"),
            cos("the vpn connection drops", "quarterly budget approval policy"));
  EXPECT_GT(cos("printer out of paper", "the printer has no paper"),
            cos("printer out of paper", "database index rebuild"));
  // Speed: chunks of ~200 words on one core.
  std::string chunk;
  const char* words[] = {"the", "server", "failed", "to", "restart", "after", "patching", "and", "users",
                         "reported", "vpn", "errors", "on", "windows", "laptops", "while", "connecting"};
  std::mt19937 rng(1);
  for (int i = 0; i < 200; ++i) chunk += std::string(words[rng() % 17]) + " ";
  std::vector<std::string> batch(1000, chunk);
  std::vector<float> out;
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*e)->embed(batch, EmbedRole::kPassage, out).is_ok());
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double per_s = 1000 / s;
  std::printf("GloVe-SIF: open %.1f ms, %.0f chunks/s (200 words each)\n", open_s * 1e3, per_s);
  if (!testing::kSanitized) {
    EXPECT_GT(per_s, 10000.0);
  }
}

}  // namespace
}  // namespace ragd

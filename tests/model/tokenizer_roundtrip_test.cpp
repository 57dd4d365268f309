// Tokenizers on tiny vocabularies made here with GgufWriter (no ../shared):
// SentencePiece with byte fallback, byte-level BPE with merges, WordPiece.
// Expected ids are worked out by hand from the vocabularies below.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "model/gguf.h"
#include "model/tokenizer.h"
#include "model/unicode.h"

namespace ragd {
namespace {

using V = GgufWriter::Value;
using Ids = std::vector<int32_t>;
const std::string kSp = "\xe2\x96\x81";  // ▁

std::unique_ptr<Tokenizer> load(const GgufWriter& w) {
  auto f = GgufFile::from_bytes(w.to_bytes(), "tiny");
  EXPECT_TRUE(f.is_ok()) << f.status().to_string();
  if (!f.is_ok()) return nullptr;
  auto t = Tokenizer::from_gguf(**f);
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return t.is_ok() ? std::move(t).value() : nullptr;
}

// ids 0-2 <unk> <s> </s>; 3-258 bytes; then pieces with descending scores.
GgufWriter spm_vocab(const std::vector<std::string>& pieces, bool add_control = true) {
  std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    toks.push_back(buf);
    scores.push_back(0);
    types.push_back(6);
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    toks.push_back(pieces[i]);
    scores.push_back(-static_cast<float>(i));
    types.push_back(1);
  }
  if (add_control) {
    toks.push_back("<|im_end|>");
    scores.push_back(0);
    types.push_back(3);
  }
  GgufWriter w;
  w.add_str("tokenizer.ggml.model", "llama");
  w.add("tokenizer.ggml.tokens", V::array_str(toks));
  w.add("tokenizer.ggml.scores", V::array_f32(scores));
  w.add("tokenizer.ggml.token_type", V::array_i32(types));
  w.add_u32("tokenizer.ggml.bos_token_id", 1);
  w.add_u32("tokenizer.ggml.eos_token_id", 2);
  w.add_u32("tokenizer.ggml.unknown_token_id", 0);
  return w;
}

TEST(TokenizerSpm, MergesByScoreAndFallsBackToBytes) {
  // 259 ▁, 260 h, 261 i, 262 ▁h, 263 hi, 264 ▁hi
  auto tok = load(spm_vocab({kSp, "h", "i", kSp + "h", "hi", kSp + "hi"}));
  ASSERT_TRUE(tok);
  // "hi" -> "▁hi": the best-scored pair first ("▁h" -4... scores -3,-4,-5), yet
  // "▁hi" is reachable from "▁h"+"i".
  EXPECT_EQ(tok->tokenize("hi", false, false), (Ids{264}));
  // "é" has no piece: its two UTF-8 bytes become <0xC3> <0xA9>.
  EXPECT_EQ(tok->tokenize("é", false, false), (Ids{259, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok->tokenize("hi hi", false, false), (Ids{264, 264}));
  EXPECT_EQ(tok->tokenize("", false, false), Ids{});
  // BOS added by default for SPM; EOS not.
  EXPECT_EQ(tok->tokenize("hi", true, false), (Ids{1, 264}));
  EXPECT_TRUE(tok->add_bos());
  EXPECT_FALSE(tok->add_eos());
}

TEST(TokenizerSpm, SpecialTokensOnlyWhenParsed) {
  auto tok = load(spm_vocab({kSp, "h", "i", kSp + "h", "hi", kSp + "hi"}));
  ASSERT_TRUE(tok);
  const int32_t im_end = tok->find_token("<|im_end|>");
  ASSERT_GE(im_end, 0);
  Ids parsed = tok->tokenize("hi<|im_end|>hi", false, true);
  EXPECT_EQ(parsed, (Ids{264, im_end, 264}));  // text after a special token gets the ▁ prefix again
  Ids plain = tok->tokenize("hi<|im_end|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), im_end), 0);
  EXPECT_TRUE(tok->is_eog(im_end));
  EXPECT_TRUE(tok->is_eog(tok->eos()));
}

TEST(TokenizerSpm, DecodeRoundTripsRandomText) {
  auto tok = load(spm_vocab({kSp, "h", "i", kSp + "h", "hi", kSp + "hi", "e", "l", "o", "he", "ll", "llo", "hello"}));
  ASSERT_TRUE(tok);
  std::mt19937 rng(42);
  const std::vector<std::string> alphabet = {"h", "i", "e", "l", "o", " ", "x", "\xc3\xa9", "\xe4\xb8\xad", "\n", "!"};
  for (int n = 0; n < 300; ++n) {
    std::string s;
    size_t len = 1 + rng() % 20;
    for (size_t i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
    if (s[0] == ' ') s = "a" + s;  // the leading space is SentencePiece's and is removed again
    Ids ids = tok->tokenize(s, false, false);
    EXPECT_EQ(tok->decode(ids), s) << "text '" << s << "'";
  }
}

// Byte-level BPE: "Ġ" is the byte-level form of a space.
GgufWriter bpe_vocab(const std::string& pre) {
  const std::string G = "\xc4\xa0";
  // 0 a, 1 b, 2 c, 3 Ġ, 4 ab, 5 Ġab, 6 abc, 7 1, 8 2, 9 3, 10 <|endoftext|>, 11 !
  std::vector<std::string> toks = {"a", "b", "c", G, "ab", G + "ab", "abc", "1", "2", "3", "<|endoftext|>", "!"};
  std::vector<int32_t> types(toks.size(), 1);
  types[10] = 3;
  std::vector<std::string> merges = {"a b", G + " ab", "ab c"};
  GgufWriter w;
  w.add_str("tokenizer.ggml.model", "gpt2");
  if (!pre.empty()) w.add_str("tokenizer.ggml.pre", pre);
  w.add("tokenizer.ggml.tokens", V::array_str(toks));
  w.add("tokenizer.ggml.token_type", V::array_i32(types));
  w.add("tokenizer.ggml.merges", V::array_str(merges));
  w.add_u32("tokenizer.ggml.bos_token_id", 10);
  w.add_u32("tokenizer.ggml.eos_token_id", 10);
  return w;
}

TEST(TokenizerBpe, MergesInRankOrder) {
  auto tok = load(bpe_vocab("gpt-2"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->tokenize("ab", false, false), (Ids{4}));
  EXPECT_EQ(tok->tokenize("abc", false, false), (Ids{6}));
  EXPECT_EQ(tok->tokenize("ab ab", false, false), (Ids{4, 5}));
  EXPECT_EQ(tok->tokenize("ba", false, false), (Ids{1, 0}));
  EXPECT_EQ(tok->tokenize("ab!", false, false), (Ids{4, 11}));
  EXPECT_FALSE(tok->add_bos());
  EXPECT_EQ(tok->tokenize("ab", true, false), (Ids{4}));
  EXPECT_EQ(tok->tokenize("ab<|endoftext|>", false, true), (Ids{4, 10}));
}

TEST(TokenizerBpe, PreTokenizersSplitDigitsDifferently) {
  // gpt-2 keeps "123" as one word; starcoder splits every digit; the
  // vocabulary has only single digits, so the ids are the same but the
  // pre-tokenizer must not merge across "ab1" either.
  for (const char* pre : {"gpt-2", "starcoder", "smollm", "refact", "qwen2", "llama-bpe", "falcon", "mpt",
                          "deepseek-llm", "deepseek-coder", ""}) {
    auto tok = load(bpe_vocab(pre));
    ASSERT_TRUE(tok) << pre;
    EXPECT_EQ(tok->tokenize("ab123", false, false), (Ids{4, 7, 8, 9})) << pre;
    EXPECT_EQ(tok->decode(tok->tokenize("ab 123 abc!", false, false)), "ab 123 abc!") << pre;
  }
}

TEST(TokenizerBpe, UnknownPreTokenizerIsAnError) {
  auto f = GgufFile::from_bytes(bpe_vocab("no-such-pre").to_bytes());
  ASSERT_TRUE(f.is_ok());
  auto t = Tokenizer::from_gguf(**f);
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("no-such-pre"), std::string::npos) << t.status().message();
}

TEST(TokenizerWpm, LowercasesStripsAccentsAndSplitsPunctuation) {
  // 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 ▁hello 5 ▁world 6 ing 7 ▁play 8 ▁, 9 ▁!
  std::vector<std::string> toks = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", kSp + "hello", kSp + "world",
                                   "ing",   kSp + "play", kSp + ",", kSp + "!"};
  std::vector<int32_t> types(toks.size(), 1);
  for (int i = 0; i < 4; ++i) types[i] = 3;
  GgufWriter w;
  w.add_str("tokenizer.ggml.model", "bert");
  w.add("tokenizer.ggml.tokens", V::array_str(toks));
  w.add("tokenizer.ggml.token_type", V::array_i32(types));
  w.add_u32("tokenizer.ggml.unknown_token_id", 1);
  w.add_u32("tokenizer.ggml.bos_token_id", 2);
  w.add_u32("tokenizer.ggml.seperator_token_id", 3);
  w.add_u32("tokenizer.ggml.padding_token_id", 0);
  auto tok = load(w);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->tokenize("Hello, WORLD!", false, false), (Ids{4, 8, 5, 9}));
  EXPECT_EQ(tok->tokenize("héllo playing", true, false), (Ids{2, 4, 7, 6, 3}));
  EXPECT_EQ(tok->tokenize("xyz hello", false, false), (Ids{1, 4}));
  // Word pieces carry their "▁" as a space; the clean-up joins punctuation.
  EXPECT_EQ(tok->decode(tok->tokenize("hello, world!", false, false)), " hello, world!");
  EXPECT_EQ(tok->cls(), 2);
  EXPECT_EQ(tok->sep(), 3);
}

TEST(Tokenizer, SharedAcrossThreads) {
  auto tok = load(bpe_vocab("llama-bpe"));
  ASSERT_TRUE(tok);
  const Ids want = tok->tokenize("ab abc ab 12 ab", false, false);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (tok->tokenize("ab abc ab 12 ab", false, false) != want) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Tokenizer, BadMetadataGivesStatus) {
  GgufWriter w = spm_vocab({kSp});
  w.add("tokenizer.ggml.scores", V::array_f32(std::vector<float>{1.0f}));  // duplicate key -> reader error
  EXPECT_FALSE(GgufFile::from_bytes(w.to_bytes()).is_ok());

  GgufWriter w2;
  w2.add_str("tokenizer.ggml.model", "llama");
  std::vector<std::string> toks = {"a", "b"};
  w2.add("tokenizer.ggml.tokens", V::array_str(toks));
  w2.add("tokenizer.ggml.scores", V::array_f32(std::vector<float>{1.0f}));  // one score for two tokens
  auto f = GgufFile::from_bytes(w2.to_bytes());
  ASSERT_TRUE(f.is_ok());
  auto t = Tokenizer::from_gguf(**f);
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("tokenizer.ggml.scores"), std::string::npos) << t.status().message();

  GgufWriter w3;
  w3.add_str("tokenizer.ggml.model", "gpt2");
  w3.add("tokenizer.ggml.tokens", V::array_str(toks));  // no merges
  auto f3 = GgufFile::from_bytes(w3.to_bytes());
  ASSERT_TRUE(f3.is_ok());
  EXPECT_FALSE(Tokenizer::from_gguf(**f3).is_ok());
}

TEST(Tokenizer, RandomBytesGiveValidIds) {
  // Invalid UTF-8, NULs and stray continuation bytes: every id is in range.
  auto spm = load(spm_vocab({kSp, "h", "i", kSp + "h", "hi"}));
  auto bpe = load(bpe_vocab("llama-bpe"));
  ASSERT_TRUE(spm && bpe);
  std::mt19937 rng(7);
  for (int n = 0; n < 500; ++n) {
    std::string s(1 + rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    for (const Tokenizer* t : {spm.get(), bpe.get()}) {
      for (bool special : {false, true}) {
        for (int32_t id : t->tokenize(s, special, special)) {
          ASSERT_GE(id, 0);
          ASSERT_LT(static_cast<size_t>(id), t->n_vocab());
        }
      }
    }
  }
  // Random valid UTF-8 (any plane, no surrogates): byte fallback restores it.
  for (int n = 0; n < 500; ++n) {
    std::string s = "x";
    for (int i = 0; i < 20; ++i) {
      uint32_t c = (rng() % 4 == 0) ? ' ' : rng() % 0x110000;
      if (c >= 0xD800 && c <= 0xDFFF) c = 'h';
      unicode::append_utf8(s, c);
    }
    EXPECT_EQ(spm->decode(spm->tokenize(s, false, false)), s);
  }
}

TEST(Tokenizer, SplitVocabTestCases) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  auto cases = split_vocab_test_cases("a" + sep + sep + " b\n" + sep);
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0], "a");
  EXPECT_EQ(cases[1], "");
  EXPECT_EQ(cases[2], " b\n");
}

}  // namespace
}  // namespace ragd

// PrefixCache: a restored prompt prefix gives the same tokens as evaluating
// the whole prompt; whole blocks only; LRU within the byte bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "model/decoder_batch.h"
#include "model/generator.h"
#include "model/prefix_cache.h"
#include "tests/model/golden_data.h"

namespace ragd {
namespace {

const std::filesystem::path kDir = testing::golden_models_dir() / "llama-mini";

std::vector<int32_t> base_prompt() {
  std::ifstream in(kDir / "llama-mini-q8_0.kvf16.json");
  return nlohmann::json::parse(in)["prompt"]["token_ids"].get<std::vector<int32_t>>();
}

// A 300-token shared start, then a question of its own.
std::vector<int32_t> prompt_with(const std::vector<int32_t>& base, int question) {
  std::vector<int32_t> p;
  for (size_t i = 0; p.size() < 300; ++i) p.push_back(base[i % base.size()]);
  for (int i = 0; i < 20; ++i) p.push_back(base[static_cast<size_t>(question * 7 + i * 3) % base.size()]);
  return p;
}

GenerateOptions greedy() {
  GenerateOptions go;
  go.max_tokens = 24;
  go.sampling.temperature = 0.0f;
  go.stop_at_eog = false;
  go.should_stop = [](int) { return Status::ok(); };  // 64-token prompt chunks
  go.prompt_chunk = 64;
  return go;
}

TEST(PrefixCache, RestoredPrefixGivesTheSameTokens) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  auto model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(model.is_ok());
  Generator gen(*model, nullptr);
  const auto base = base_prompt();
  DecoderSessionOptions so;
  so.n_ctx = 512;
  so.n_threads = 2;
  PrefixCache cache({});
  // First request: a miss; its prefix is stored.
  const auto p1 = prompt_with(base, 1);
  DecoderSession s1(*model, so);
  EXPECT_EQ(cache.restore(s1, p1), 0);
  ASSERT_TRUE(gen.generate(s1, p1, greedy()).is_ok());
  cache.store(s1, p1);
  EXPECT_EQ(cache.stats().entries, 1);
  // Second request, same 300-token start: 256 positions (whole blocks) reused.
  const auto p2 = prompt_with(base, 2);
  DecoderSession plain(*model, so), cached(*model, so);
  auto want = gen.generate(plain, p2, greedy());
  ASSERT_TRUE(want.is_ok());
  const int reused = cache.restore(cached, p2);
  EXPECT_EQ(reused, 256);
  EXPECT_EQ(cached.n_past(), 256);
  auto got = gen.generate(cached, std::span<const int32_t>(p2).subspan(static_cast<size_t>(reused)), greedy());
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->tokens, want->tokens);
  EXPECT_EQ(cached.n_past(), plain.n_past());
  const PrefixCacheStats st = cache.stats();
  EXPECT_EQ(st.hits, 1);
  EXPECT_EQ(st.misses, 1);
  EXPECT_EQ(st.tokens_reused, 256);
  // The last prompt token is always evaluated: an identical prompt reuses
  // at most size - 1, in whole blocks.
  DecoderSession again(*model, so);
  EXPECT_EQ(cache.restore(again, std::span<const int32_t>(p1).first(257)), 256);
  DecoderSession exact(*model, so);
  EXPECT_EQ(cache.restore(exact, std::span<const int32_t>(p1).first(256)), 192);
  // A prompt differing in its first block: a miss.
  auto other = p1;
  other[3] = other[3] + 1;
  DecoderSession s3(*model, so);
  EXPECT_EQ(cache.restore(s3, other), 0);
}

// Logits after evaluating `prompt` from the session's position in pieces of
// `chunk` tokens (the first piece `first` tokens when given).
std::vector<float> eval_in_pieces(DecoderSession& s, std::span<const int32_t> prompt, size_t chunk,
                                  size_t first = 0) {
  std::vector<float> logits;
  for (size_t i = 0; i < prompt.size();) {
    const size_t n = std::min(i == 0 && first > 0 ? first : chunk, prompt.size() - i);
    EXPECT_TRUE(s.eval(prompt.subspan(i, n), &logits).is_ok());
    i += n;
  }
  return logits;
}

// llama-mini in Q8_0 with the int8 kernel at every size (chunk-invariant on
// any CPU).
std::shared_ptr<const DecoderModel> exact_q8_0_mini() {
  DecoderLoadOptions exact;
  exact.exact_q8_0 = true;
  auto model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string(), exact);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  return model.is_ok() ? *model : nullptr;
}

// Q8_0 weights through the int8 kernels: a prompt cut anywhere, into pieces
// of 1, 7, 64 or 320 tokens (decode-sized and prompt-sized calls mixed),
// gives the same logits and the same keys and values, bit for bit. F16
// weights are multiplied by other kernels at other sizes: not invariant.
TEST(DecoderChunks, Q8_0PromptCutAnywhereGivesTheSameNumbers) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  const auto model = exact_q8_0_mini();
  ASSERT_TRUE(model);
  EXPECT_TRUE(model->chunk_invariant());
  auto f16 = DecoderModel::load((kDir / "llama-mini-f16.gguf").string());
  ASSERT_TRUE(f16.is_ok());
  EXPECT_FALSE((*f16)->chunk_invariant());
  auto plain = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(plain.is_ok());
  std::vector<std::shared_ptr<const DecoderModel>> models = {model};
  if ((*plain)->chunk_invariant()) models.push_back(*plain);  // AVX-512 VNNI builds
  const auto p = prompt_with(base_prompt(), 1);
  for (KvType kv : {KvType::kF16, KvType::kF32}) {
    for (const auto& m : models) {
      DecoderSessionOptions so;
      so.n_ctx = 512;
      so.n_threads = 2;
      so.kv_type = kv;
      DecoderSession whole(m, so), sevens(m, so), mixed(m, so), ones(m, so), forty(m, so);
      const auto want = eval_in_pieces(whole, p, 320);
      EXPECT_EQ(eval_in_pieces(sevens, p, 7), want);
      EXPECT_EQ(eval_in_pieces(mixed, p, 64, 21), want);
      EXPECT_EQ(eval_in_pieces(ones, std::span<const int32_t>(p).first(40), 1),
                eval_in_pieces(forty, std::span<const int32_t>(p).first(40), 40));
      EXPECT_EQ(sevens.export_kv(static_cast<int>(p.size())), mixed.export_kv(static_cast<int>(p.size())));
    }
  }
}

// With such a model a prompt reuses a cached prefix up to its first token
// that differs (blocks of one token), and the rest evaluated from there
// gives the logits and greedy tokens of the whole prompt evaluated afresh.
TEST(PrefixCache, AChunkInvariantModelReusesUpToTheFirstDifferingToken) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  const auto model = exact_q8_0_mini();
  ASSERT_TRUE(model);
  Generator gen(model, nullptr);
  DecoderSessionOptions so;
  so.n_ctx = 512;
  so.n_threads = 2;
  PrefixCache cache({.block = 1});
  const auto base = base_prompt();
  const auto p1 = prompt_with(base, 1), p2 = prompt_with(base, 2);
  size_t common = 0;
  while (p1[common] == p2[common]) ++common;
  ASSERT_GE(common, 300u);
  ASSERT_NE(common % 64, 0u) << "the prompts should part inside a 64-token chunk";
  DecoderSession s1(model, so);
  ASSERT_TRUE(gen.generate(s1, p1, greedy()).is_ok());
  cache.store(s1, p1);
  DecoderSession fresh(model, so), cached(model, so);
  const auto want = eval_in_pieces(fresh, p2, 64);
  EXPECT_EQ(cache.restore(cached, p2), static_cast<int>(common));
  EXPECT_EQ(eval_in_pieces(cached, std::span<const int32_t>(p2).subspan(common), 64), want);
  DecoderSession plain_gen(model, so), cached_gen(model, so);
  auto want_tokens = gen.generate(plain_gen, p2, greedy());
  const int reused = cache.restore(cached_gen, p2);
  auto got_tokens = gen.generate(cached_gen, std::span<const int32_t>(p2).subspan(static_cast<size_t>(reused)), greedy());
  ASSERT_TRUE(want_tokens.is_ok() && got_tokens.is_ok());
  EXPECT_EQ(got_tokens->tokens, want_tokens->tokens);
}

TEST(PrefixCache, EvictsLeastRecentlyUsedWithinTheBound) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  auto model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(model.is_ok());
  DecoderSessionOptions so;
  so.n_ctx = 256;
  const auto base = base_prompt();
  // One 128-token entry: 4 layers x 2 x 128 x 64 f16 = 128 KiB (+ tokens).
  PrefixCache cache({.max_bytes = 300 << 10, .block = 64});
  auto prompt_n = [&](int k) {
    std::vector<int32_t> p;
    for (int i = 0; i < 130; ++i) p.push_back(base[static_cast<size_t>(i * (k + 1) + k) % base.size()]);
    return p;
  };
  std::vector<float> logits;
  for (int k = 0; k < 3; ++k) {
    DecoderSession s(*model, so);
    const auto p = prompt_n(k);
    ASSERT_TRUE(s.eval(p, &logits).is_ok());
    cache.store(s, p);
    if (k == 1) {  // touch entry 0, so entry 1 is the oldest when 2 arrives
      DecoderSession t(*model, so);
      EXPECT_EQ(cache.restore(t, prompt_n(0)), 128);
    }
  }
  const PrefixCacheStats st = cache.stats();
  EXPECT_EQ(st.entries, 2);
  EXPECT_EQ(st.evictions, 1);
  EXPECT_LE(st.bytes, 300 << 10);
  DecoderSession a(*model, so), b(*model, so), c(*model, so);
  EXPECT_EQ(cache.restore(a, prompt_n(0)), 128);
  EXPECT_EQ(cache.restore(b, prompt_n(1)), 0) << "the least recently used entry was evicted";
  EXPECT_EQ(cache.restore(c, prompt_n(2)), 128);
}

// Two prompts after the same 300 tokens keep those positions once: the
// second entry holds only its own positions after its parent's, a restore
// copies the chain bit for bit, and a parent is evicted only after the
// entries that extend it.
TEST(PrefixCache, SharedPrefixesAreKeptOnce) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  auto model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(model.is_ok());
  DecoderSessionOptions so;
  so.n_ctx = 512;
  so.n_threads = 2;
  const auto base = base_prompt();
  const auto p1 = prompt_with(base, 1), p2 = prompt_with(base, 2);  // 320 tokens, 300 shared
  std::vector<float> logits;
  DecoderSession s1(*model, so), s2(*model, so);
  eval_in_pieces(s1, p1, 64);
  eval_in_pieces(s2, p2, 64);
  const int64_t per_pos = static_cast<int64_t>(s1.export_kv(0, 1).size());
  const int64_t tokens_bytes = 320 * static_cast<int64_t>(sizeof(int32_t));
  PrefixCache cache({.block = 64});
  cache.store(s1, p1);
  cache.store(s2, p2);
  PrefixCacheStats st = cache.stats();
  EXPECT_EQ(st.entries, 2);
  // p1: 320 positions; p2: the 64 after the 256 (whole blocks) it shares.
  EXPECT_EQ(st.bytes, 320 * per_pos + tokens_bytes + 64 * per_pos + tokens_bytes);

  // p2 and 70 more tokens: 256 positions from p1's entry, 64 from p2's.
  auto longer = p2;
  for (int i = 0; i < 70; ++i) longer.push_back(base[static_cast<size_t>(i * 11 + 5) % base.size()]);
  DecoderSession plain(*model, so), cached(*model, so);
  const auto want = eval_in_pieces(plain, longer, 64);
  EXPECT_EQ(cache.restore(cached, longer), 320);
  EXPECT_EQ(cached.export_kv(320), plain.export_kv(320));
  EXPECT_EQ(eval_in_pieces(cached, std::span<const int32_t>(longer).subspan(320), 64), want);

  // A third, unrelated entry over the bound: p2's entry goes (p1's has a
  // child, so it stays although it is the least recently used).
  std::vector<int32_t> p3;
  for (int i = 0; i < 130; ++i) p3.push_back(base[static_cast<size_t>(i * 3 + 1) % base.size()]);
  ASSERT_NE(p3[0], p1[0]);
  DecoderSession s3(*model, so);
  ASSERT_TRUE(s3.eval(p3, &logits).is_ok());
  const int64_t p3_bytes = 128 * per_pos + 128 * static_cast<int64_t>(sizeof(int32_t));
  PrefixCache bounded({.max_bytes = static_cast<size_t>(st.bytes + p3_bytes - 1), .block = 64});
  bounded.store(s1, p1);
  bounded.store(s2, p2);
  DecoderSession touch(*model, so);
  EXPECT_EQ(bounded.restore(touch, longer), 320);  // p2's entry is now the most recent
  bounded.store(s3, p3);
  st = bounded.stats();
  EXPECT_EQ(st.entries, 2);
  EXPECT_EQ(st.evictions, 1);
  EXPECT_EQ(st.bytes, 320 * per_pos + tokens_bytes + p3_bytes);
  DecoderSession a(*model, so), b(*model, so);
  EXPECT_EQ(bounded.restore(a, longer), 256) << "p1's entry stays, p2's went";
  EXPECT_EQ(bounded.restore(b, p3), 128);
}

// A restore whose match ends within an entry's parent (a tie: the newest
// entry is found first) reads the parent's rows only, and holds only the
// parent: after a clear() the child (another request's tokens and rows) is
// freed at once, and held_bytes counts the parent's bytes until the session
// resets.
TEST(PrefixCache, ASessionHoldsOnlyTheEntriesItReads) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  auto model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(model.is_ok());
  DecoderSessionOptions so;
  so.n_ctx = 512;
  so.n_threads = 2;
  const auto base = base_prompt();
  const auto p1 = prompt_with(base, 1), p2 = prompt_with(base, 2), p3 = prompt_with(base, 3);
  DecoderSession s1(*model, so), s2(*model, so);
  eval_in_pieces(s1, p1, 64);
  eval_in_pieces(s2, p2, 64);
  const int64_t per_pos = static_cast<int64_t>(s1.export_kv(0, 1).size());
  const int64_t tokens_bytes = 320 * static_cast<int64_t>(sizeof(int32_t));
  PrefixCache cache({.block = 64});
  cache.store(s1, p1);
  cache.store(s2, p2);  // p1's first 256 positions, 64 of its own
  DecoderSession d(*model, so);
  ASSERT_EQ(cache.restore(d, p3), 256) << "p3 shares 300 tokens with both";
  EXPECT_EQ(d.shared_n(), 256);
  EXPECT_EQ(cache.stats().held_bytes, 0);
  cache.clear();
  EXPECT_EQ(cache.stats().held_bytes, 320 * per_pos + tokens_bytes) << "p1's entry only";
  DecoderSession plain(*model, so);
  EXPECT_EQ(eval_in_pieces(d, std::span<const int32_t>(p3).subspan(256), 64), eval_in_pieces(plain, p3, 64));
  d.reset();
  EXPECT_EQ(cache.stats().held_bytes, 0);
}

// A purge's clear() between a request's restore() and its store(): the
// store keeps nothing (the prompt may hold the purged passages), shared
// or copied, hit or miss. A store from before any clear() is kept.
TEST(PrefixCache, AClearBetweenRestoreAndStoreKeepsNothing) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  auto model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(model.is_ok());
  DecoderSessionOptions so;
  so.n_ctx = 512;
  so.n_threads = 2;
  const auto base = base_prompt();
  const auto p1 = prompt_with(base, 1), p2 = prompt_with(base, 2);
  for (const bool share : {true, false}) {
    SCOPED_TRACE(share ? "shared" : "copied");
    PrefixCache cache({.block = 64, .share = share});
    // A miss, cleared before its store.
    DecoderSession s1(*model, so);
    uint64_t since = cache.epoch();
    EXPECT_EQ(cache.restore(s1, p1), 0);
    eval_in_pieces(s1, p1, 64);
    cache.clear();
    cache.store(s1, p1, since);
    EXPECT_EQ(cache.stats().entries, 0);
    // Stored within its epoch: kept.
    since = cache.epoch();
    cache.store(s1, p1, since);
    EXPECT_EQ(cache.stats().entries, 1);
    // A hit, cleared before its store: the purged prefix is not re-inserted
    // from the rows the session still reads.
    DecoderSession s2(*model, so);
    since = cache.epoch();
    ASSERT_EQ(cache.restore(s2, p2), 256);
    eval_in_pieces(s2, std::span<const int32_t>(p2).subspan(256), 64);
    cache.clear();
    cache.store(s2, p2, since);
    const PrefixCacheStats st = cache.stats();
    EXPECT_EQ(st.entries, 0);
    EXPECT_EQ(st.bytes, 0);
    DecoderSession s3(*model, so);
    EXPECT_EQ(cache.restore(s3, p2), 0);
    // An epoch read from another cache (an old model's, before a switch)
    // is never this one's, cleared or not.
    PrefixCache other({.block = 64, .share = share});
    EXPECT_NE(other.epoch(), cache.epoch());
    cache.store(s1, p1, other.epoch());
    EXPECT_EQ(cache.stats().entries, 0);
  }
}

// Several threads restoring, storing and evicting entries that share
// prefixes at three depths (256 tokens common to all, 64 more to a group,
// then each prompt's own), with a bound that keeps about two thirds of
// them, and one thread clearing the cache now and then: every restore
// copies the chain bit for bit (the positions a session gets are the ones
// evaluating the prompt gives), the bound holds, and nothing races (run
// under TSan by scripts/sanitize.sh). The sessions are filled from the
// reference caches instead of evaluated, so the threads spend their time in
// the cache.
TEST(PrefixCache, ConcurrentChainsStayExact) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  auto model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(model.is_ok());
  const auto base = base_prompt();
  constexpr int kGroups = 3, kPerGroup = 3;
  std::vector<std::vector<int32_t>> prompts;
  for (int g = 0; g < kGroups; ++g) {
    for (int k = 0; k < kPerGroup; ++k) {
      std::vector<int32_t> p;
      for (int i = 0; i < 256; ++i) p.push_back(base[static_cast<size_t>(i) % base.size()]);
      for (int i = 0; i < 64; ++i) p.push_back(base[static_cast<size_t>(g * 13 + i * 5 + 1) % base.size()]);
      for (int i = 0; i < 74; ++i) p.push_back(base[static_cast<size_t>((g * kPerGroup + k) * 17 + i * 3 + 2) % base.size()]);
      prompts.push_back(std::move(p));
    }
  }
  DecoderSessionOptions so;
  so.n_ctx = 512;
  so.n_threads = 1;
  std::vector<std::unique_ptr<DecoderSession>> refs;
  for (const auto& p : prompts) {
    refs.push_back(std::make_unique<DecoderSession>(*model, so));
    eval_in_pieces(*refs.back(), p, 64);
  }
  const size_t per_pos = refs[0]->export_kv(0, 1).size();
  // All nine prompts' entries hold 384 + 2 x 64 + 2 x (128 + 2 x 64) = 1,024
  // positions (each entry's own after its parent's): the bound keeps 640.
  const size_t bound = 640 * (per_pos + sizeof(int32_t));
  PrefixCache cache({.max_bytes = bound, .block = 64});
  std::atomic<int> wrong{0}, restored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(100 + t));
      DecoderSession s(*model, so);
      for (int it = 0; it < 40; ++it) {
        if (t == 3 && it % 10 == 9) {
          cache.clear();
          continue;
        }
        const size_t k = rng() % prompts.size();
        const auto& p = prompts[k];
        s.reset();
        const int n = cache.restore(s, p);
        if (n % 64 != 0 || n >= static_cast<int>(p.size()) || s.n_past() != n) ++wrong;
        if (n > 0) {
          ++restored;
          if (s.export_kv(n) != refs[k]->export_kv(n)) ++wrong;
        }
        const int len = static_cast<int>(p.size());
        if (!s.append_kv(refs[k]->export_kv(n, len), len - n, len - n).is_ok()) ++wrong;
        cache.store(s, p);
        const PrefixCacheStats st = cache.stats();
        if (st.bytes > static_cast<int64_t>(bound) || st.bytes < 0) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(restored.load(), 0) << "no restore hit: the test did not exercise the chains";
  const PrefixCacheStats st = cache.stats();
  EXPECT_GT(st.evictions, 0) << "the bound never evicted";
  EXPECT_LE(st.bytes, static_cast<int64_t>(bound));
}

// A restore that shares the cached rows (the default) gives bit for bit the
// numbers of one that copies them: a prefix of two segments (an entry and
// its parent), the rest evaluated in 64-token chunks by eval() and in
// DecoderBatch passes beside a session holding a copy (prompt chunks and
// one-token steps), for the default and the chunk-invariant Q8_0 model and
// f16 and f32 caches (an f32 cache's session gets a copy: shared, its
// attention would gather the rows on every call). Other prompts then fill
// the cache past its bound (a few hundred KB) while the sessions read its
// entries, which are evicted: their rows stay alive (ASan would see a read
// of freed rows), counted in held_bytes until the sessions reset.
TEST(PrefixCache, ASharedPrefixGivesTheCopysNumbers) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  auto plain_model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(plain_model.is_ok());
  const auto base = base_prompt();
  const auto p1 = prompt_with(base, 1), p2 = prompt_with(base, 2);
  auto longer = p2;
  for (int i = 0; i < 70; ++i) longer.push_back(base[static_cast<size_t>(i * 11 + 5) % base.size()]);
  const auto rest = std::span<const int32_t>(longer).subspan(320);
  for (const auto& model : {*plain_model, exact_q8_0_mini()}) {
    ASSERT_NE(model, nullptr);
    for (const KvType kv : {KvType::kF16, KvType::kF32}) {
      SCOPED_TRACE(std::string(model->chunk_invariant() ? "chunk-invariant" : "default") +
                   (kv == KvType::kF16 ? " f16" : " f32"));
      DecoderSessionOptions so;
      so.n_ctx = 512;
      so.n_threads = 2;
      so.kv_type = kv;
      DecoderSession s1(model, so), s2(model, so);
      eval_in_pieces(s1, p1, 64);
      eval_in_pieces(s2, p2, 64);
      // Room for p1's and p2's entries (320 + 64 positions, 2 x 320 tokens)
      // and no more.
      const size_t per_pos = s1.export_kv(0, 1).size();
      const size_t bound = 384 * per_pos + 640 * sizeof(int32_t);
      PrefixCache shared({.max_bytes = bound, .block = 64}), copied({.block = 64, .share = false});
      for (PrefixCache* c : {&shared, &copied}) {
        c->store(s1, p1);
        c->store(s2, p2);  // 256 positions from p1's entry, 64 of its own
      }
      ASSERT_EQ(shared.stats().entries, 2);
      DecoderSession a(model, so), b(model, so), alone(model, so);
      ASSERT_EQ(shared.restore(a, longer), 320);
      ASSERT_EQ(copied.restore(b, longer), 320);
      ASSERT_EQ(copied.restore(alone, longer), 320);
      EXPECT_EQ(a.shared_n(), kv == KvType::kF16 ? 320 : 0);
      EXPECT_EQ(b.shared_n(), 0);
      EXPECT_EQ(a.export_kv(320), b.export_kv(320));
      EXPECT_EQ(a.export_kv(250, 300), b.export_kv(250, 300)) << "across the segments' seam";
      // Every entry the sessions read is evicted by other prompts' (128
      // positions each): p2's first, then p1's.
      std::vector<float> logits;
      for (int k = 3; k < 9; ++k) {
        DecoderSession t(model, so);
        const auto p = prompt_with(base, k * 5);
        std::vector<int32_t> other(p.rbegin(), p.rend());
        ASSERT_TRUE(t.eval(std::span<const int32_t>(other).first(130), &logits).is_ok());
        shared.store(t, std::span<const int32_t>(other).first(130));
      }
      const PrefixCacheStats evicted = shared.stats();
      EXPECT_GE(evicted.evictions, 2);
      EXPECT_LE(evicted.bytes, static_cast<int64_t>(bound));
      // Read by `a` (f16): both entries, the chain it holds.
      EXPECT_EQ(evicted.held_bytes, kv == KvType::kF16 ? static_cast<int64_t>(bound) : 0);
      DecoderSession fresh(model, so);
      EXPECT_EQ(shared.restore(fresh, longer), 0) << "p1's and p2's entries are gone";
      // The rest: eval() for `alone`, DecoderBatch passes for a and b.
      const auto want = eval_in_pieces(alone, rest, 64);
      DecoderBatch batch(model, 2);
      const size_t V = static_cast<size_t>(model->config().n_vocab);
      std::vector<float> la(V), lb(V);
      for (size_t i = 0; i < rest.size(); i += 64) {
        const auto chunk = rest.subspan(i, std::min<size_t>(64, rest.size() - i));
        const DecodeItem items[] = {{&a, chunk, la.data(), nullptr}, {&b, chunk, lb.data(), nullptr}};
        ASSERT_TRUE(batch.forward(items).is_ok());
      }
      EXPECT_EQ(la, want);
      EXPECT_EQ(lb, want);
      // Greedy steps together.
      for (int step = 0; step < 8; ++step) {
        const int32_t next =
            static_cast<int32_t>((std::max_element(want.begin(), want.end()) - want.begin() + step) % V);
        const DecodeItem items[] = {{&a, std::span<const int32_t>(&next, 1), la.data(), nullptr},
                                    {&b, std::span<const int32_t>(&next, 1), lb.data(), nullptr}};
        ASSERT_TRUE(batch.forward(items).is_ok());
        std::vector<float> lc;
        ASSERT_TRUE(alone.eval(std::span<const int32_t>(&next, 1), &lc).is_ok());
        EXPECT_EQ(la, lc) << "step " << step;
        EXPECT_EQ(lb, lc) << "step " << step;
      }
      EXPECT_EQ(a.export_kv(a.n_past()), alone.export_kv(alone.n_past()));
      a.reset();
      EXPECT_EQ(shared.stats().held_bytes, 0) << "the last reader let go of the evicted entries";
    }
  }
}

// DecoderSession::share_kv(): the session holds the rows' owner while it
// reads them, and lets go once no shared position is left (truncate(0), a
// reset()); a truncate() into the shared positions keeps reading the rest
// of them (and the owner), and
// evaluation from there gives the numbers of a session that evaluated all;
// bad parts are refused with nothing shared.
TEST(PrefixCache, ASessionHoldsSharedRowsWhileItReadsThem) {
  RAGD_NEED_TESTDATA(kDir / "llama-mini-q8_0.gguf");
  auto model = DecoderModel::load((kDir / "llama-mini-q8_0.gguf").string());
  ASSERT_TRUE(model.is_ok());
  DecoderSessionOptions so;
  so.n_ctx = 256;
  so.n_threads = 2;
  const auto p = prompt_with(base_prompt(), 1);
  const auto first = std::span<const int32_t>(p).first(128);
  DecoderSession full(*model, so);
  const auto want = eval_in_pieces(full, first, 64);
  auto rows = std::make_shared<const std::vector<uint8_t>>(full.export_kv(0, 128));
  const std::weak_ptr<const std::vector<uint8_t>> watch = rows;
  // Two parts: [0, 64) and [64, 128) of the same rows' second half.
  auto tail = std::make_shared<const std::vector<uint8_t>>(full.export_kv(64, 128));
  const SharedKvRows parts[] = {{*rows, 128, 0, 64}, {*tail, 64, 64, 128}};
  DecoderSession d(*model, so);
  struct Both {
    std::shared_ptr<const std::vector<uint8_t>> a, b;
  };
  ASSERT_TRUE(d.share_kv(std::make_shared<Both>(Both{rows, tail}), parts).is_ok());
  rows.reset();
  tail.reset();
  EXPECT_EQ(d.n_past(), 128);
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(d.export_kv(128), full.export_kv(128));
  // Back into the first part: evaluate [64, 128) again.
  d.truncate(64);
  EXPECT_EQ(d.shared_n(), 64);
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(eval_in_pieces(d, first.subspan(64), 64), want);
  EXPECT_EQ(d.export_kv(128), full.export_kv(128));
  d.truncate(0);
  EXPECT_EQ(d.shared_n(), 0);
  EXPECT_TRUE(watch.expired()) << "the owner is released once no shared position is left";

  // Refused: a session that is not empty, parts not from position 0, rows
  // of another size.
  auto again = std::make_shared<const std::vector<uint8_t>>(full.export_kv(0, 128));
  const SharedKvRows whole[] = {{*again, 128, 0, 128}};
  EXPECT_EQ(full.share_kv(again, whole).code(), StatusCode::kInvalidArgument);
  const SharedKvRows late[] = {{*again, 128, 1, 129}};
  DecoderSession e(*model, so);
  EXPECT_EQ(e.share_kv(again, late).code(), StatusCode::kInvalidArgument);
  const SharedKvRows wrong[] = {{*again, 127, 0, 127}};
  const Status refused = e.share_kv(again, wrong);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message().rfind("share_kv: ", 0), 0u) << refused.message();
  EXPECT_EQ(e.n_past(), 0);
  EXPECT_EQ(e.shared_n(), 0);
  ASSERT_TRUE(e.share_kv(again, whole).is_ok());
  e.reset();
  EXPECT_EQ(e.shared_n(), 0);
  again.reset();
  // The last owner went with the reset: nothing of it is read afterwards.
  EXPECT_EQ(eval_in_pieces(e, first, 64), want);
}

}  // namespace
}  // namespace ragd

// Oracle tests: LexicalIndex's pruned (block-max MaxScore) search against
// exhaustive BM25 over the same chunks, after adds, removals, upserts, list
// compaction and a snapshot round trip, with and without filters.
#include "index/lexical_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ragd {
namespace {

struct Chunk {
  std::vector<TermFreq> terms;
  uint32_t length = 0;
  bool live = false;
};

struct Corpus {
  double n = 0;
  double avgdl = 0;
  std::map<std::string, double> df;
};

Corpus corpus_stats(const std::vector<Chunk>& chunks) {
  Corpus c;
  double total = 0;
  for (const auto& ch : chunks) {
    if (!ch.live) continue;
    c.n += 1;
    total += std::max<uint32_t>(ch.length, 1);
    for (const auto& t : ch.terms) c.df[t.term] += 1;
  }
  c.avgdl = total / c.n;
  return c;
}

std::vector<LexicalHit> exhaustive(const std::vector<Chunk>& chunks, const Corpus& corpus,
                                   const std::vector<std::string>& query, size_t k, Bm25Params p,
                                   const std::function<bool(uint32_t)>& accept) {
  const double n = corpus.n;
  const double avgdl = corpus.avgdl;
  std::set<std::string> q(query.begin(), query.end());
  std::vector<LexicalHit> all;
  for (uint32_t label = 0; label < chunks.size(); ++label) {
    const Chunk& c = chunks[label];
    if (!c.live || (accept && !accept(label))) continue;
    double s = 0;
    bool matched = false;
    for (const auto& t : c.terms) {
      if (!q.count(t.term)) continue;
      matched = true;
      const double df = corpus.df.at(t.term);
      double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
      double norm = p.k1 * (1 - p.b + p.b * std::max<uint32_t>(c.length, 1) / avgdl);
      s += idf * (p.k1 + 1) * t.tf / (t.tf + norm);
    }
    if (matched) all.push_back({label, static_cast<float>(s)});
  }
  std::sort(all.begin(), all.end(), [](const LexicalHit& a, const LexicalHit& b) {
    return a.score != b.score ? a.score > b.score : a.label < b.label;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

// count_terms against a std::map count: sorted by bytes, one entry per term,
// with terms that share their first 8 bytes, are prefixes of one another or
// hold bytes >= 0x80 (which sort after ASCII).
TEST(LexicalIndexTest, CountTermsMatchesMapCount) {
  const std::vector<std::string> pool = {"a",        "ab",        "abcdefgh",  "abcdefghi", "abcdefgha",
                                         "abcdefg",  "zz",        "\xc3\xa9t\xc3\xa9", "e",  "inc0012345",
                                         "inc00123", "inc001234", "",          "0",         "~"};
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::string> tokens;
    const size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) tokens.push_back(pool[rng() % pool.size()]);
    std::map<std::string, uint32_t> expect;
    for (const auto& t : tokens) ++expect[t];
    auto got = count_terms(tokens);
    ASSERT_EQ(got.size(), expect.size());
    size_t i = 0;
    for (const auto& [term, tf] : expect) {
      EXPECT_EQ(got[i].term, term);
      EXPECT_EQ(got[i].tf, tf);
      ++i;
    }
  }
}

TEST(LexicalIndexTest, PrunedSearchMatchesExhaustiveBm25) {
  std::mt19937 rng(12345);
  const int vocab = 400;
  auto term = [](int i) {
    std::string t = std::to_string(i);
    t.insert(t.begin(), 't');
    return t;
  };
  // Zipf-like: term i drawn with weight 1 / (i + 1).
  std::vector<double> w(vocab);
  for (int i = 0; i < vocab; ++i) w[i] = 1.0 / (i + 1);
  std::discrete_distribution<int> zipf(w.begin(), w.end());

  LexicalIndex index;
  std::vector<Chunk> chunks;
  auto add_chunk = [&] {
    const auto label = static_cast<uint32_t>(chunks.size());
    std::map<std::string, uint32_t> counts;
    uint32_t len = 1 + rng() % 80;
    for (uint32_t i = 0; i < len; ++i) ++counts[term(zipf(rng))];
    Chunk c;
    for (const auto& [t, tf] : counts) c.terms.push_back({t, tf});
    c.length = len;
    c.live = true;
    index.add(label, c.terms, c.length);
    chunks.push_back(std::move(c));
  };
  for (int i = 0; i < 3000; ++i) add_chunk();
  // Remove about 60% so that lists of common terms get compacted, then add more.
  for (uint32_t label = 0; label < chunks.size(); ++label) {
    if (rng() % 10 < 6) {
      index.remove(label, chunks[label].terms);
      chunks[label].live = false;
    }
  }
  for (int i = 0; i < 1000; ++i) add_chunk();
  // A second removal of the same label is a no-op.
  for (uint32_t label = 0; label < 50; ++label) {
    if (!chunks[label].live) index.remove(label, chunks[label].terms);
  }

  size_t live = 0;
  for (const auto& c : chunks) live += c.live;
  EXPECT_EQ(index.chunks(), live);

  const Corpus corpus = corpus_stats(chunks);
  const Bm25Params params{0.9f, 0.4f};
  const std::function<bool(uint32_t)> odd = [](uint32_t l) { return l % 3 != 0; };
  size_t compared = 0;
  for (int qi = 0; qi < 200; ++qi) {
    std::vector<std::string> query;
    int len = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < len; ++i) query.push_back(term(rng() % 3 == 0 ? static_cast<int>(rng() % vocab) : zipf(rng)));
    if (qi % 7 == 0) query.push_back("unknown-term");
    if (qi % 5 == 0) query.push_back(query.front());  // a repeated term counts once
    for (size_t k : {1u, 10u, 50u}) {
      for (const auto* accept : {static_cast<const std::function<bool(uint32_t)>*>(nullptr), &odd}) {
        const std::function<bool(uint32_t)> a = accept ? *accept : nullptr;
        auto got = index.search(query, k, params, a);
        auto want = exhaustive(chunks, corpus, query, k, params, a);
        ASSERT_EQ(got.size(), want.size()) << "query " << qi << " k " << k;
        for (size_t i = 0; i < got.size(); ++i) {
          // Scores agree position by position; labels agree unless two
          // chunks tie to float precision.
          ASSERT_NEAR(got[i].score, want[i].score, 1e-4 * std::max(1.0f, want[i].score))
              << "query " << qi << " k " << k << " rank " << i;
          const bool apart_above = i == 0 || want[i - 1].score - want[i].score > 1e-4f;
          const bool apart_below = i + 1 == want.size() || want[i].score - want[i + 1].score > 1e-4f;
          if (apart_above && apart_below) {
            EXPECT_EQ(got[i].label, want[i].label) << "query " << qi << " k " << k << " rank " << i;
          }
          ASSERT_TRUE(chunks[got[i].label].live) << "removed chunk " << got[i].label << " returned";
          if (a) {
            ASSERT_TRUE(a(got[i].label));
          }
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 10000u);
}

// The exhaustive scorer with the index's float arithmetic: BM25 with idf
// log(1 + (n - df + 0.5) / (df + 0.5)), lengths of at least 1, summed in the
// order of the query's (distinct) terms. The pruned search must return the
// same scores bit for bit and the same order, ties by lower label.
struct ExactCorpus {
  double n = 0;
  uint64_t total = 0;
  std::map<std::string, std::vector<std::pair<uint32_t, uint32_t>>> postings;  // term -> (label, tf), live only
};

ExactCorpus exact_corpus(const std::vector<Chunk>& chunks) {
  ExactCorpus c;
  for (uint32_t label = 0; label < chunks.size(); ++label) {
    if (!chunks[label].live) continue;
    c.n += 1;
    c.total += std::max<uint32_t>(chunks[label].length, 1);
    for (const auto& t : chunks[label].terms) c.postings[t.term].push_back({label, t.tf});
  }
  return c;
}

std::vector<LexicalHit> exact_bm25(const std::vector<Chunk>& chunks, const ExactCorpus& corpus,
                                   const std::vector<std::string>& query, size_t k, Bm25Params p,
                                   const std::function<bool(uint32_t)>& accept) {
  std::vector<LexicalHit> all;
  const double n = corpus.n;
  if (n == 0) return all;
  const float avgdl = static_cast<float>(static_cast<double>(corpus.total) / n);
  std::vector<float> score(chunks.size(), 0.0f);
  std::vector<bool> matched(chunks.size(), false);
  std::vector<std::string> distinct;
  for (const auto& q : query) {
    auto it = corpus.postings.find(q);
    if (it == corpus.postings.end() || std::find(distinct.begin(), distinct.end(), q) != distinct.end()) continue;
    distinct.push_back(q);
    const auto df = static_cast<double>(it->second.size());
    const auto idf = static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)));
    const float weight = idf * (p.k1 + 1.0f);
    for (const auto& [label, tf_count] : it->second) {
      const uint32_t len = std::max<uint32_t>(chunks[label].length, 1);
      const float norm = p.k1 * (1.0f - p.b + p.b * static_cast<float>(len) / avgdl);
      const auto tf = static_cast<float>(tf_count);
      score[label] += weight * tf / (tf + norm);
      matched[label] = true;
    }
  }
  for (uint32_t label = 0; label < chunks.size(); ++label) {
    if (matched[label] && (!accept || accept(label))) all.push_back({label, score[label]});
  }
  std::sort(all.begin(), all.end(), [](const LexicalHit& a, const LexicalHit& b) {
    return a.score != b.score ? a.score > b.score : a.label < b.label;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

// Long lists (thousands of postings, so dozens of blocks), chunk lengths
// from 1 to 300 and tf skewed within a chunk, so block bounds differ; then
// removals (lazy, and compactions), upserts under fresh labels like the
// store's, and a snapshot round trip, which rebuilds the blocks.
TEST(LexicalIndexTest, BlockMaxSearchEqualsExhaustiveBm25Exactly) {
  std::mt19937 rng(2026);
  const int vocab = 1500;
  auto term = [](int i) { return "w" + std::to_string(i); };
  std::vector<double> w(vocab);
  for (int i = 0; i < vocab; ++i) w[i] = 1.0 / std::pow(i + 1, 0.9);
  std::discrete_distribution<int> zipf(w.begin(), w.end());

  LexicalIndex index;
  std::vector<Chunk> chunks;
  auto make = [&] {
    std::map<std::string, uint32_t> counts;
    uint32_t len = rng() % 10 == 0 ? 1 + rng() % 4 : 5 + rng() % 300;
    for (uint32_t i = 0; i < len; ++i) ++counts[term(zipf(rng))];
    if (rng() % 20 == 0) counts[term(static_cast<int>(rng() % 50))] += 1 + rng() % 30;  // a term repeated
    // A term in nearly every chunk, its tf spread wide: the blocks' (tf,
    // length) frontiers fill up and merge.
    counts["dense"] += 1 + rng() % (rng() % 8 == 0 ? 60 : 6);
    // Beyond 16 bits, where the blocks round: a tf and a length.
    if (rng() % 3000 == 0) counts[term(2)] += 70000;
    if (rng() % 3000 == 0) len += 70000;
    Chunk c;
    for (const auto& [t, tf] : counts) c.terms.push_back({t, tf});
    c.length = len;
    c.live = true;
    return c;
  };
  auto add = [&](Chunk c) {
    index.add(static_cast<uint32_t>(chunks.size()), c.terms, c.length);
    chunks.push_back(std::move(c));
  };
  const std::function<bool(uint32_t)> most = [](uint32_t l) { return l % 3 != 0; };
  const std::function<bool(uint32_t)> rare = [](uint32_t l) { return l % 97 == 5; };
  size_t compared = 0;
  auto check = [&](const LexicalIndex& idx, const std::string& stage) {
    const ExactCorpus corpus = exact_corpus(chunks);
    for (int qi = 0; qi < 60; ++qi) {
      std::vector<std::string> query;
      const int len = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < len; ++i) query.push_back(term(rng() % 4 == 0 ? static_cast<int>(rng() % vocab) : zipf(rng)));
      if (qi % 9 == 0) query.push_back("never-seen");
      if (qi % 4 == 0) query.push_back(query.front());
      if (qi % 3 == 0) query.push_back("dense");
      for (size_t k : {1u, 10u, 100u}) {
        for (const auto* f : {static_cast<const std::function<bool(uint32_t)>*>(nullptr), &most, &rare}) {
          const std::function<bool(uint32_t)> a = f ? *f : nullptr;
          auto got = idx.search(query, k, Bm25Params{0.9f, 0.4f}, a);
          auto want = exact_bm25(chunks, corpus, query, k, Bm25Params{0.9f, 0.4f}, a);
          ASSERT_EQ(got.size(), want.size()) << stage << " query " << qi << " k " << k;
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(got[i].label, want[i].label) << stage << " query " << qi << " k " << k << " rank " << i;
            ASSERT_EQ(got[i].score, want[i].score) << stage << " query " << qi << " k " << k << " rank " << i;
            ++compared;
          }
          // Split at a random label (as the store does with a spare core):
          // the best k of each part, merged, are the best k overall.
          const auto cut = static_cast<uint32_t>(rng() % (chunks.size() + 1));
          auto parts = idx.search(query, k, Bm25Params{0.9f, 0.4f}, a, {0, cut});
          const auto upper = idx.search(query, k, Bm25Params{0.9f, 0.4f}, a, {cut, UINT32_MAX});
          for (const auto& h : parts) ASSERT_LT(h.label, cut) << stage;
          for (const auto& h : upper) ASSERT_GE(h.label, cut) << stage;
          parts.insert(parts.end(), upper.begin(), upper.end());
          std::sort(parts.begin(), parts.end(), [](const LexicalHit& x, const LexicalHit& y) {
            return x.score != y.score ? x.score > y.score : x.label < y.label;
          });
          if (parts.size() > k) parts.resize(k);
          ASSERT_EQ(parts.size(), want.size()) << stage << " query " << qi << " k " << k << " cut " << cut;
          for (size_t i = 0; i < parts.size(); ++i) {
            ASSERT_EQ(parts[i].label, want[i].label) << stage << " split, query " << qi << " k " << k << " rank " << i;
            ASSERT_EQ(parts[i].score, want[i].score) << stage << " split, query " << qi << " k " << k << " rank " << i;
          }
        }
      }
    }
  };

  for (int i = 0; i < 12000; ++i) add(make());
  check(index, "fresh");
  // Lazy deletes: 30% of the chunks, too few for most lists to compact.
  for (uint32_t label = 0; label < chunks.size(); ++label) {
    if (rng() % 10 < 3) {
      index.remove(label, chunks[label].terms);
      chunks[label].live = false;
    }
  }
  check(index, "after removals");
  // Upserts: a chunk replaced by a new version under a fresh label, and more
  // removals, so that lists compact (more than half dead).
  for (int i = 0; i < 4000; ++i) {
    const auto old = static_cast<uint32_t>(rng() % chunks.size());
    if (chunks[old].live) {
      index.remove(old, chunks[old].terms);
      chunks[old].live = false;
    }
    add(make());
  }
  for (uint32_t label = 0; label < chunks.size(); ++label) {
    if (chunks[label].live && rng() % 10 < 4) {
      index.remove(label, chunks[label].terms);
      chunks[label].live = false;
    }
  }
  check(index, "after upserts");

  const auto file = std::filesystem::temp_directory_path() / ("ragd-lex-blockmax-" + std::to_string(::getpid()));
  ASSERT_TRUE(index.save(file, chunks.size()).is_ok());
  LexicalIndex loaded;
  auto tag = loaded.load(file);
  ASSERT_TRUE(tag.is_ok()) << tag.status().to_string();
  EXPECT_EQ(*tag, chunks.size());
  check(loaded, "loaded");

  // The loaded lists live in the load's arena: growing them (they move to
  // the heap), emptying them and compacting them must keep the index exact,
  // and so must moving the index (the arena goes with it).
  {
    LexicalIndex moved(std::move(loaded));
    loaded = std::move(moved);
  }
  auto add_loaded = [&](Chunk c) {
    loaded.add(static_cast<uint32_t>(chunks.size()), c.terms, c.length);
    chunks.push_back(std::move(c));
  };
  for (int i = 0; i < 3000; ++i) {
    const auto old = static_cast<uint32_t>(rng() % chunks.size());
    if (chunks[old].live && rng() % 2 == 0) {
      loaded.remove(old, chunks[old].terms);
      chunks[old].live = false;
    }
    add_loaded(make());
  }
  check(loaded, "loaded, then upserts");
  // Most of the old chunks go: lists compact or empty out entirely.
  for (uint32_t label = 0; label < 12000; ++label) {
    if (chunks[label].live && rng() % 10 < 8) {
      loaded.remove(label, chunks[label].terms);
      chunks[label].live = false;
    }
  }
  check(loaded, "loaded, then most removed");
  // A snapshot with postings overwritten (most of the file is postings, so
  // the damage shows while a list is being read): refused, and the index is
  // empty and usable (the list being read is released first).
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(file) / 2));
    const std::string junk(4096, '\xff');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  LexicalIndex damaged;
  auto refused = damaged.load(file);
  std::filesystem::remove(file);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << refused.status().to_string();
  EXPECT_EQ(damaged.chunks(), 0u);
  std::vector<TermFreq> one{{"printer", 1}};
  damaged.add(0, one, 1);
  std::vector<std::string> q{"printer"};
  EXPECT_EQ(damaged.search(q, 10, {}, nullptr).size(), 1u);
  EXPECT_GT(compared, 50000u);
}

TEST(LexicalIndexTest, RemovedChunksNeverReturnAndTermsCount) {
  LexicalIndex index;
  std::vector<TermFreq> a{{"printer", 2}, {"toner", 1}};
  std::vector<TermFreq> b{{"printer", 1}};
  index.add(0, a, 3);
  index.add(1, b, 1);
  EXPECT_EQ(index.terms(), 2u);
  std::vector<std::string> q{"toner"};
  ASSERT_EQ(index.search(q, 10, {}, nullptr).size(), 1u);
  index.remove(0, a);
  EXPECT_TRUE(index.search(q, 10, {}, nullptr).empty());
  EXPECT_EQ(index.terms(), 1u);
  std::vector<std::string> q2{"printer"};
  auto hits = index.search(q2, 10, {}, nullptr);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].label, 1u);
  // The filter is honoured and k = 0 returns nothing.
  EXPECT_TRUE(index.search(q2, 10, {}, [](uint32_t) { return false; }).empty());
  EXPECT_TRUE(index.search(q2, 0, {}, nullptr).empty());
}

// Lists are packed per block of 128 postings (a label's distance from the
// block's first, at the block's width): labels far apart in one block, tfs
// and labels beyond 16 bits, and a partial last block survive a snapshot. A
// snapshot of the earlier, unpacked format is refused as such (the store
// then rebuilds the index from RocksDB).
TEST(LexicalIndexTest, PackedBlocksKeepWideLabelsAndTfsAndFormatOneIsRefused) {
  LexicalIndex index;
  std::vector<uint32_t> labels;
  for (uint32_t i = 0; i < 300; ++i) labels.push_back(i < 200 ? i : 200000 + (i - 200) * 4000);
  for (uint32_t label : labels) {
    const uint32_t tf = label == 150 ? 100000 : 1 + label % 3;
    std::vector<TermFreq> terms{{"printer", tf}};
    index.add(label, terms, 10 + label % 7);
  }
  const std::vector<std::string> q{"printer"};
  const auto before = index.search(q, 300, {}, nullptr);
  ASSERT_EQ(before.size(), 300u);
  EXPECT_EQ(before[0].label, 150u);  // the tf of 100000
  std::set<uint32_t> got;
  for (const auto& h : before) got.insert(h.label);
  EXPECT_EQ(got, std::set<uint32_t>(labels.begin(), labels.end()));

  const auto file = std::filesystem::temp_directory_path() / ("ragd-lex-packed-" + std::to_string(::getpid()));
  ASSERT_TRUE(index.save(file, labels.back() + 1).is_ok());
  LexicalIndex loaded;
  ASSERT_TRUE(loaded.load(file).is_ok());
  const auto after = loaded.search(q, 300, {}, nullptr);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].label, before[i].label);
    EXPECT_EQ(after[i].score, before[i].score);
  }
  // A search over a range that starts and ends inside packed blocks.
  const auto part = loaded.search(q, 300, {}, nullptr, {100, 228000});
  ASSERT_EQ(part.size(), 100u + 7u);
  for (const auto& h : part) EXPECT_TRUE(h.label >= 100 && h.label < 228000) << h.label;

  {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    const std::string magic = "RAGD-LEX-SNAPSHOT-1";
    const uint64_t len = magic.size();
    f.write(reinterpret_cast<const char*>(&len), sizeof len);
    f.write(magic.data(), static_cast<std::streamsize>(magic.size()));
    const std::string rest(64, '\0');
    f.write(rest.data(), static_cast<std::streamsize>(rest.size()));
  }
  LexicalIndex old;
  auto refused = old.load(file);
  std::filesystem::remove(file);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status().message().find("earlier format"), std::string::npos) << refused.status().to_string();
}

// A cluster's shards (cluster/coordinator.cpp): chunks spread over three
// indexes, each searched with the three's summed statistics, merged, give
// the labels and the float scores of one index holding them all; with each
// index's own statistics they do not.
TEST(LexicalIndexTest, ShardsScoredWithSummedStatisticsEqualOneIndex) {
  std::mt19937 rng(15);
  const int vocab = 800;
  auto term = [](int i) { return "w" + std::to_string(i); };
  std::vector<double> w(vocab);
  for (int i = 0; i < vocab; ++i) w[i] = 1.0 / std::pow(i + 1, 0.9);
  std::discrete_distribution<int> zipf(w.begin(), w.end());
  LexicalIndex whole;
  std::array<LexicalIndex, 3> shards;
  std::vector<std::vector<TermFreq>> terms;
  for (uint32_t label = 0; label < 6000; ++label) {
    std::map<std::string, uint32_t> counts;
    // Skewed shards: one holds chunks about twice as long as the others.
    const size_t s = (label * 2654435761u) % 3;
    const uint32_t len = 5 + rng() % (s == 0 ? 400 : 200);
    for (uint32_t i = 0; i < len; ++i) ++counts[term(zipf(rng))];
    std::vector<TermFreq> t;
    for (const auto& [name, tf] : counts) t.push_back({name, tf});
    whole.add(label, t, len);
    shards[s].add(label, t, len);
    terms.push_back(std::move(t));
  }
  for (uint32_t label = 0; label < terms.size(); label += 5) {  // removals count too
    whole.remove(label, terms[label]);
    shards[(label * 2654435761u) % 3].remove(label, terms[label]);
  }
  const Bm25Params p{0.9f, 0.4f};
  auto better = [](const LexicalHit& x, const LexicalHit& y) {
    return x.score != y.score ? x.score > y.score : x.label < y.label;
  };
  size_t compared = 0, differ_alone = 0;
  for (int qi = 0; qi < 80; ++qi) {
    std::vector<std::string> query;
    for (int i = 0, n = 1 + static_cast<int>(rng() % 5); i < n; ++i) query.push_back(term(zipf(rng)));
    if (qi % 7 == 0) query.push_back("never-seen");
    LexicalStats sum;
    for (const auto& s : shards) {
      const LexicalStats one = s.stats(query);
      sum.chunks += one.chunks;
      sum.total_length += one.total_length;
      for (const auto& [t, df] : one.df) sum.df[t] += df;
    }
    EXPECT_EQ(sum.chunks, whole.chunks());
    for (size_t k : {10u, 100u}) {
      const auto want = whole.search(query, k, p, nullptr);
      const std::array<const LexicalStats*, 2> ways{&sum, nullptr};
      for (const LexicalStats* stats : ways) {
        std::vector<LexicalHit> got;
        for (const auto& s : shards) {
          const auto part = s.search(query, k, p, nullptr, {}, stats);
          got.insert(got.end(), part.begin(), part.end());
        }
        std::sort(got.begin(), got.end(), better);
        if (got.size() > k) got.resize(k);
        bool same = got.size() == want.size();
        for (size_t i = 0; same && i < got.size(); ++i) {
          same = got[i].label == want[i].label && got[i].score == want[i].score;
        }
        if (stats == nullptr) {
          differ_alone += !same;
          continue;
        }
        ASSERT_TRUE(same) << "query " << qi << " k " << k;
        compared += got.size();
      }
    }
  }
  EXPECT_GT(compared, 5000u);
  EXPECT_GT(differ_alone, 80u) << "each index's own statistics should give other scores";
}

}  // namespace
}  // namespace ragd

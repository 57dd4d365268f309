// Text features of a ticket for the triage learners: hashed word uni- and
// bigrams and character n-grams, weighted by TF-IDF (sublinear tf) and
// L2-normalised. Pure functions of the text and the fitted IDF table, so a
// fitted Vectorizer is immutable and shareable between threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ragd::triage {

// A ticket as the triage models see it: what a new ticket has when it
// arrives (never its resolution or close notes).
struct TicketText {
  std::string subject;
  std::string description;
  // Categorical fields (category, priority, cmdb_ci, ...). Those named in
  // FeatureOptions::field_tokens become tokens "f:<name>=<value>".
  std::map<std::string, std::string> fields;
};

struct FeatureOptions {
  // log2 of the hashed feature space. Default: 18 (262,144 slots).
  uint32_t hash_bits = 18;
  // Word bigrams beside unigrams. Default: true.
  bool word_bigrams = true;
  // Character n-grams within word boundaries, lengths char_min..char_max;
  // char_max 0 turns them off. Default: 3..5.
  int char_min = 3;
  int char_max = 5;
  // 1 + log(tf) instead of tf. Default: true.
  bool sublinear_tf = true;
  // Metadata fields used as tokens when present (the predicted field itself
  // is always left out). "*" means every field except those that are only
  // known once the ticket was worked on or that name the answer
  // (kLeakyFields: state, resolution, close code, assignee, ...).
  // Default: {"*"}.
  std::vector<std::string> field_tokens = {"*"};
};

// Fields never used as tokens under "*": set while or after the ticket is
// worked on, so a new ticket does not have them, or they give the answer.
extern const char* const kLeakyFields[];

// A sparse vector: sorted unique indexes and their values.
struct SparseVec {
  std::vector<uint32_t> idx;
  std::vector<float> val;
};

// A seeded 64-bit hash of `s`, the same on every machine (the features'
// slots; a bench's seeded choices).
uint64_t text_hash(std::string_view s, uint64_t seed);

// Lower-cased word tokens: letters and digits, keeping inner '.', '-', '_'
// so hosts, error codes and versions stay whole ("0x80070005", "srv-db01").
std::vector<std::string> word_tokens(std::string_view text);

// Raw hashed term counts (not weighted) of a text.
SparseVec hashed_counts(std::string_view text, const FeatureOptions& o);

// Raw hashed counts of a ticket: its subject and description, plus one token
// per field of FeatureOptions::field_tokens present in `t.fields`, except
// `exclude_field` (the field being predicted).
SparseVec ticket_counts(const TicketText& t, const FeatureOptions& o, const std::string& exclude_field);

// TF-IDF over hashed features. fit() learns document frequencies;
// transform() weights and L2-normalises.
class Vectorizer {
 public:
  Vectorizer() = default;
  explicit Vectorizer(FeatureOptions o) : opts_(std::move(o)) {}
  void fit(const std::vector<SparseVec>& counts);
  SparseVec transform(const SparseVec& counts) const;
  const FeatureOptions& options() const { return opts_; }
  uint32_t dim() const { return 1u << opts_.hash_bits; }
  // The IDF table (dim() entries; 0 for features never seen in fit()).
  const std::vector<float>& idf() const { return idf_; }
  void set_idf(std::vector<float> idf) { idf_ = std::move(idf); }

 private:
  FeatureOptions opts_;
  std::vector<float> idf_;
};

// Dot product of two sparse vectors.
float sparse_dot(const SparseVec& a, const SparseVec& b);

}  // namespace ragd::triage

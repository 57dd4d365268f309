// Tokenizer: splits special tokens out of the text, runs the family's
// tokenizer on the text between them, adds BOS/EOS, and decodes back.
#include "model/tokenizer.h"

#include <cctype>

#include "model/tokenizer_session.h"
#include "model/vocab.h"

namespace ragd {

namespace {

// A run of plain text [off, off+len) or a special token.
struct Fragment {
  int32_t token;  // kNullToken for text
  size_t off;
  size_t len;
};

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Splits every text fragment on each special token in turn (longest first).
// Control and unknown tokens only count when parse_special is set; user-defined
// tokens always do.
std::vector<Fragment> partition(const Vocab& v, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags = {{kNullToken, 0, text.size()}};
  for (int32_t id : v.special_tokens) {
    const uint32_t attr = v.attr[id];
    if (!parse_special && (attr & (token_attr::kControl | token_attr::kUnknown))) continue;
    const std::string& tok = v.text[id];
    std::vector<Fragment> next;
    next.reserve(frags.size());
    bool changed = false;
    for (const Fragment& f : frags) {
      if (f.token != kNullToken) {
        next.push_back(f);
        continue;
      }
      size_t off = f.off;
      size_t end = f.off + f.len;
      while (off < end) {
        size_t m = text.substr(0, end).find(tok, off);
        if (m == std::string_view::npos) break;
        changed = true;
        size_t left_len = m - off;
        if (attr & token_attr::kLstrip) {
          while (left_len > 0 && is_space(text[off + left_len - 1])) --left_len;
        }
        if (left_len > 0) next.push_back({kNullToken, off, left_len});
        next.push_back({id, m, tok.size()});
        off = m + tok.size();
        if (attr & token_attr::kRstrip) {
          while (off < end && is_space(text[off])) ++off;
        }
      }
      if (off < end) next.push_back({kNullToken, off, end - off});
    }
    if (changed) frags = std::move(next);
  }
  return frags;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Vocab> vocab) : vocab_(std::move(vocab)) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& file) {
  auto v = load_vocab(file);
  if (!v.is_ok()) return v.status().with_context("error loading model vocabulary from " + file.path());
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::make_unique<Vocab>(std::move(v).value())));
}

std::vector<int32_t> Tokenizer::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  const Vocab& v = *vocab_;
  std::vector<int32_t> out;
  std::vector<Fragment> frags;
  if (!text.empty()) frags = partition(v, text, parse_special);

  switch (v.type) {
    case VocabType::kSpm: {
      bool prev_special = true;  // SentencePiece adds a space before the first word
      if (add_special && v.add_bos) out.push_back(v.bos);
      for (const Fragment& f : frags) {
        if (f.token != kNullToken) {
          out.push_back(f.token);
          prev_special = true;
          continue;
        }
        std::string s;
        if (v.add_space_prefix && prev_special) s = "\xe2\x96\x81";
        for (char c : text.substr(f.off, f.len)) {
          if (c == ' ') {
            s += "\xe2\x96\x81";
          } else {
            s.push_back(c);
          }
        }
        tokenize_spm(v, s, out);
        prev_special = false;
      }
      if (add_special && v.add_eos) out.push_back(v.eos);
      break;
    }
    case VocabType::kBpe: {
      if (add_special && v.add_bos) out.push_back(v.bos);
      for (const Fragment& f : frags) {
        if (f.token != kNullToken) {
          out.push_back(f.token);
        } else {
          tokenize_bpe(v, text.substr(f.off, f.len), out);
        }
      }
      if (add_special && v.add_eos) out.push_back(v.eos);
      break;
    }
    case VocabType::kWpm: {
      if (add_special && v.bos != kNullToken) out.push_back(v.bos);
      for (const Fragment& f : frags) {
        if (f.token != kNullToken) {
          out.push_back(f.token);
        } else {
          tokenize_wpm(v, text.substr(f.off, f.len), out);
        }
      }
      if (add_special && v.sep != kNullToken) out.push_back(v.sep);
      break;
    }
  }
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool special) const {
  const Vocab& v = *vocab_;
  if (!v.valid(id)) return {};
  if (!special && (v.attr[id] & (token_attr::kUnknown | token_attr::kControl))) return {};
  return v.piece[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool special, bool remove_special) const {
  const Vocab& v = *vocab_;
  bool remove_space = v.add_space_prefix;
  if (remove_special && v.add_bos && !ids.empty() && ids.front() == v.bos) {
    remove_space = false;
    ids = ids.subspan(1);
  }
  if (remove_special && v.add_eos && !ids.empty() && ids.back() == v.eos) ids = ids.first(ids.size() - 1);

  std::string text;
  for (int32_t id : ids) {
    std::string p = token_to_piece(id, special);
    if (remove_space && !p.empty() && p[0] == ' ') p.erase(0, 1);
    remove_space = false;
    text += p;
  }
  if (!v.clean_spaces || text.empty()) return text;

  // The clean-up passes of HF's clean_up_tokenization_spaces, as llama.cpp
  // applies them: " ?" " !" " ." " ," lose their space, " ' " loses both, and
  // " 's" " 'm" " 're" " 've" lose the space.
  std::string a(1, text[0]);
  for (size_t i = 1; i < text.size(); ++i) {
    char x = text[i];
    if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) a.pop_back();
    a.push_back(x);
  }
  std::string b(1, a[0]);
  for (size_t i = 1; i < a.size(); ++i) {
    char x = a[i];
    if (x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
      b.pop_back();
      b.push_back(x);
      a[++i] = '\0';  // drop the next space; it no longer counts as one
      continue;
    }
    b.push_back(x);
  }
  std::string c(1, b[0]);
  for (size_t i = 1; i < b.size(); ++i) {
    char x = b[i];
    if (b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
      char x1 = b[i + 1];
      if (x1 == 's' || x1 == 'm') {
        c.pop_back();
      } else if (i + 2 < b.size()) {
        char x2 = b[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) c.pop_back();
      }
    }
    c.push_back(x);
  }
  return c;
}

size_t Tokenizer::n_vocab() const { return vocab_->n_tokens(); }

const std::string& Tokenizer::token_text(int32_t id) const {
  static const std::string kEmpty;
  return vocab_->valid(id) ? vocab_->text[id] : kEmpty;
}

float Tokenizer::token_score(int32_t id) const { return vocab_->valid(id) ? vocab_->score[id] : 0.0f; }
int32_t Tokenizer::find_token(std::string_view text) const { return vocab_->find(text); }
int32_t Tokenizer::bos() const { return vocab_->bos; }
int32_t Tokenizer::eos() const { return vocab_->eos; }
int32_t Tokenizer::eot() const { return vocab_->eot; }
int32_t Tokenizer::unk() const { return vocab_->unk; }
int32_t Tokenizer::sep() const { return vocab_->sep; }
int32_t Tokenizer::pad() const { return vocab_->pad; }
bool Tokenizer::add_bos() const { return vocab_->add_bos; }
bool Tokenizer::add_eos() const { return vocab_->add_eos; }
bool Tokenizer::is_eog(int32_t id) const { return vocab_->eog.count(id) != 0; }
bool Tokenizer::is_control(int32_t id) const {
  return vocab_->valid(id) && (vocab_->attr[id] & token_attr::kControl) != 0;
}
const std::string& Tokenizer::model() const { return vocab_->model; }
const std::string& Tokenizer::pre() const { return vocab_->pre; }

std::vector<std::string> split_vocab_test_cases(std::string_view text) {
  constexpr std::string_view kSep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t m = text.find(kSep, pos);
    if (m == std::string_view::npos) break;
    out.emplace_back(text.substr(pos, m - pos));
    pos = m + kSep.size();
  }
  return out;
}

}  // namespace ragd

#include "generate/intent.h"

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "generate/sentences.h"

namespace ragd {
namespace {

std::vector<std::string> lower_words(std::string_view q) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : q) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '\'' || c >= 0x80) {
      cur += static_cast<char>(std::tolower(c));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  for (auto& w : out) {
    // "can't" -> "cant", "won't" -> "wont": one form for the checks below;
    // "what's" -> "what".
    std::string t;
    for (char c : w) if (c != '\'') t += c;
    if (t == "whats" || t == "wheres" || t == "hows" || t == "whos" || t == "whens" || t == "whys") t.pop_back();
    w = std::move(t);
  }
  return out;
}

bool is_id_shaped(std::string_view tok) {
  // Letters (at least 2) then digits (at least 3), optionally with '-'
  // between groups; or a letter group, '-', digits.
  size_t i = 0, letters = 0, digits = 0;
  while (i < tok.size() && std::isalpha(static_cast<unsigned char>(tok[i]))) ++i, ++letters;
  if (letters < 2 || letters > 12) return false;
  for (size_t k = 0; k < letters; ++k)
    if (!std::isupper(static_cast<unsigned char>(tok[k]))) return false;
  for (; i < tok.size(); ++i) {
    char c = tok[i];
    if (std::isdigit(static_cast<unsigned char>(c))) ++digits;
    else if (c != '-') return false;
  }
  return digits >= 2 && tok.back() != '-';
}

// Repair and procedure verbs: the question asks what to do.
const std::unordered_set<std::string>& fix_verbs() {
  static const std::unordered_set<std::string> k = {
      "fix", "fixed", "fixing", "resolve", "resolved", "resolving", "solve", "solved", "repair", "troubleshoot",
      "workaround", "recover", "restore", "reset", "unlock", "unblock", "remediate", "mitigate", "handle",
      "deal", "enable", "disable", "configure", "setup", "install", "reinstall", "renew", "request", "get",
      "make", "stop", "connect", "reconnect", "remove", "add", "change", "update", "patch", "clear", "free",
      "restart", "rollback", "roll", "switch", "migrate", "enroll", "enrol", "register", "apply", "grant",
      "give", "send", "recover", "retrieve", "find", "open", "access", "regain", "undo", "start"};
  return k;
}

// Words of a complaint: a statement of a symptom asks for its fix.
const std::unordered_set<std::string>& symptom_words() {
  static const std::unordered_set<std::string> k = {
      "cant", "cannot", "wont", "doesnt", "isnt", "arent", "didnt", "unable", "fails", "failing", "failed",
      "failure", "broken", "error", "errors", "stuck", "keeps", "crash", "crashes", "crashing", "down",
      "denied", "locked", "lockout", "slow", "timeout", "missing", "lost", "forgot", "forgotten", "expired",
      "not", "no", "refuses", "hangs", "blocked", "problem", "issue", "trouble"};
  return k;
}

const std::unordered_set<std::string>& cause_words() {
  static const std::unordered_set<std::string> k = {"why", "cause", "causes", "caused", "causing", "reason",
                                                    "reasons"};
  return k;
}

// "What was the problem?", "what turned out to be the issue", "what's the
// usual culprit?", "what went wrong": a cause asked for without its word.
bool asks_what_went_wrong(const std::vector<std::string>& w) {
  static const std::unordered_set<std::string> kFault = {"problem", "issue", "culprit", "fault", "trouble"};
  static const std::unordered_set<std::string> kBetween = {"was", "is", "turned", "turns", "out",
                                                           "to", "be", "the", "actual", "real", "usual",
                                                           "underlying", "likely", "probable"};
  static const std::unordered_set<std::string> kAfter = {"with", "last", "this", "that", "here", "there", "in",
                                                         "on", "at", "for", "when", "after", "then", "so"};
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] != "what" && w[i] != "whats") continue;
    if (i + 1 < w.size() && w[i + 1] == "went" && i + 2 < w.size() && w[i + 2] == "wrong") return true;
    for (size_t j = i + 1; j < w.size() && j <= i + 6; ++j) {
      // "... the issue number": the fault word names a thing.
      if (kFault.count(w[j])) return j > i + 1 && (j + 1 == w.size() || kAfter.count(w[j + 1]));
      if (!kBetween.count(w[j])) break;
    }
  }
  return false;
}

// "which" or "what" at w[i] that opens the question or follows a
// preposition ("In which file ..."), not a relative "which" ("a warning
// which says ...").
bool opens_question_word(const std::vector<std::string>& w, size_t i) {
  static const std::unordered_set<std::string> kBefore = {"in", "on", "for", "with", "to", "of", "by", "from",
                                                          "under", "and", "so"};
  if (w[i] != "which" && w[i] != "what") return false;
  return i == 0 || kBefore.count(w[i - 1]) > 0;
}

// "Which (configure) option ...", "what SSI directive ...", "which signal
// do I send": "which"/"what" then, within three words, a noun of a thing
// that documentation writes as code.
bool asks_for_a_name(const std::vector<std::string>& w) {
  static const std::unordered_set<std::string> kNamed = {
      "option",    "options", "flag",     "flags",    "switch",   "parameter", "parameters", "setting",
      "directive", "directives", "variable", "variables", "command", "commands", "function", "functions",
      "keyword",   "field",   "header",   "module",   "signal",   "property",  "argument"};
  // The question word (opens_question_word), then the noun, at most one
  // word after it that is no verb or determiner ("which configure option",
  // not "what are my options").
  static const std::unordered_set<std::string> kNotBetween = {"is", "are", "was", "were", "my", "our", "your",
                                                              "the", "a", "an", "do", "does", "did", "can"};
  for (size_t i = 0; i < w.size(); ++i) {
    if (!opens_question_word(w, i)) continue;
    if (i + 1 < w.size() && kNamed.count(w[i + 1])) return true;
    if (i + 2 < w.size() && !kNotBetween.count(w[i + 1]) && kNamed.count(w[i + 2])) return true;
  }
  return false;
}

// "What character encoding does ...", "which library do ...": "what" or
// "which" opening the question or after a preposition, one to three words
// that are no auxiliary, determiner or pronoun, then an auxiliary verb. The
// last of the words is the noun asked for.
std::string focus_noun(const std::vector<std::string>& w) {
  static const std::unordered_set<std::string> kAux = {"do",    "does",  "did",    "is",   "are",  "was",
                                                       "were",  "can",   "could",  "should", "will", "would",
                                                       "must",  "may",   "might",  "has",  "have", "had", "shall"};
  static const std::unordered_set<std::string> kNotInPhrase = {
      "the", "a",    "an",   "my",    "our",   "your",  "their", "his",  "her", "its",  "of",   "to",
      "in",  "on",   "for",  "i",     "we",    "you",   "it",    "they", "he",  "she",  "this", "that",
      "these", "those", "one", "ones", "kind", "type", "sort", "way",  "else", "exactly", "s",
      "happens", "happened", "happen", "about", "all", "if", "when"};
  for (size_t i = 0; i < w.size(); ++i) {
    if (!opens_question_word(w, i)) continue;
    size_t j = i + 1;
    while (j < w.size() && j <= i + 3 && !kAux.count(w[j]) && !kNotInPhrase.count(w[j])) ++j;
    if (j > i + 1 && j < w.size() && kAux.count(w[j])) return w[j - 1];
    return {};
  }
  return {};
}

// "how" followed by one of these asks for a quantity, not a procedure.
const std::unordered_set<std::string>& how_quantity() {
  static const std::unordered_set<std::string> k = {"many", "much", "long", "often", "soon", "old", "far",
                                                    "big", "large", "quickly", "fast", "frequently", "early",
                                                    "late", "strong", "short"};
  return k;
}

const std::unordered_set<std::string>& fact_openers() {
  static const std::unordered_set<std::string> k = {"who", "whom", "whose", "when", "which", "where",
                                                    "may", "am", "is", "are", "must", "does", "do",
                                                    "will", "was", "were", "should", "shall", "has", "have"};
  return k;
}

}  // namespace

const char* intent_name(Intent intent) {
  switch (intent) {
    case Intent::kFix: return "fix";
    case Intent::kCause: return "cause";
    case Intent::kFact: return "fact";
    case Intent::kGeneral: return "general";
  }
  return "general";
}

std::string asking_sentence(std::string_view question) {
  // split_sentences keeps abbreviations ("e.g.", "U.S."), versions and
  // inline code whole.
  const std::vector<std::string> sentences = split_sentences(question);
  // The trailing run of sentences ending in '?' ("How long are backups
  // kept? And where?"), from the last one that is followed by none.
  size_t last = sentences.size();
  while (last > 0 && !sentences[last - 1].ends_with('?')) --last;
  if (last == 0) return std::string(question);
  size_t first = last - 1;
  while (first > 0 && sentences[first - 1].ends_with('?')) --first;
  if (first == 0 && last == sentences.size()) return std::string(question);
  std::string ask;
  for (size_t i = first; i < last; ++i) ask += (ask.empty() ? "" : " ") + sentences[i];
  return ask;
}

namespace {

// The kind of one sentence's question (classify_question reads the asking
// sentence of a longer one).
QuestionIntent classify_sentence(std::string_view question) {
  QuestionIntent out;
  for (const std::string& x : lower_words(question)) out.asks_default |= x == "default" || x == "defaults";
  // Named ids: whitespace/punctuation-separated tokens kept with their case.
  std::string tok;
  auto flush = [&] {
    while (!tok.empty() && (tok.back() == '-' || tok.back() == '.')) tok.pop_back();
    if (is_id_shaped(tok)) out.named_ids.push_back(tok);
    tok.clear();
  };
  for (char c : question) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') tok += c;
    else flush();
  }
  flush();

  const std::vector<std::string> w = lower_words(question);
  if (w.empty()) return out;
  out.asks_name = asks_for_a_name(w);
  out.focus = focus_noun(w);
  auto has = [&](const std::unordered_set<std::string>& set) {
    for (const auto& x : w) if (set.count(x)) return true;
    return false;
  };
  auto at = [&](size_t i) -> const std::string& {
    static const std::string kEmpty;
    return i < w.size() ? w[i] : kEmpty;
  };
  // Opening question word, skipping politeness ("please", "hi").
  size_t s = 0;
  while (s < w.size() && (w[s] == "please" || w[s] == "hi" || w[s] == "hello" || w[s] == "so" || w[s] == "ok"))
    ++s;
  const std::string& first = at(s);

  // ("What's the problem with my VPN and how do I fix it?" asks for the fix.)
  const bool fix_asked = std::find(w.begin(), w.end(), "how") != w.end() || has(fix_verbs());
  if (has(cause_words()) || (asks_what_went_wrong(w) && !fix_asked)) {
    out.kind = Intent::kCause;
    return out;
  }
  if (first == "how") {
    const std::string& next = at(s + 1);
    if (how_quantity().count(next)) {
      out.kind = Intent::kFact;
      out.asks_quantity = true;
      return out;
    }
    // "how was X resolved", "how do I ...", "how to ...", "how can we ...".
    out.kind = Intent::kFix;
    return out;
  }
  // "what should I do", "what do I do", "what can I do", "what fixed ...",
  // "what is the fix / workaround / procedure".
  bool fix_verb = false;
  for (const auto& x : w) fix_verb |= fix_verbs().count(x) > 0;
  bool what_to_do = false;
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    what_to_do |= (w[i] == "what" || w[i] == "steps") && (w[i + 1] == "do" || w[i + 1] == "should" || w[i + 1] == "to");
    what_to_do |= w[i] == "what" && (w[i + 1] == "can" || w[i + 1] == "could" || w[i + 1] == "would") &&
                  (at(i + 2) == "i" || at(i + 2) == "we" || at(i + 2) == "you") && at(i + 3) == "do";
  }
  // "what am I missing", "what did we forget": the step left out is what
  // to do.
  static const std::unordered_set<std::string> kLeftOut = {"missing", "miss", "missed", "forget", "forgot",
                                                           "forgotten", "overlooking", "overlook", "overlooked"};
  for (size_t i = 0; i + 3 < w.size(); ++i)
    what_to_do |= w[i] == "what" && (w[i + 2] == "i" || w[i + 2] == "we") && kLeftOut.count(w[i + 3]) > 0;
  bool fix_noun = false;
  for (const auto& x : w)
    fix_noun |= x == "fix" || x == "fixed" || x == "resolution" || x == "workaround" || x == "solution" ||
                x == "steps" || x == "procedure" || x == "resolved" || x == "solved";
  // "What shutdown mode does pg_ctl stop use?": a noun after "what" asks for
  // a fact, whatever verb follows; "what fixed ..." and "what resolves ..."
  // ask for a fix.
  if (first == "what" && !what_to_do && !fix_noun) fix_verb = fix_verbs().count(at(s + 1)) > 0;
  // "What's the proper way to get rid of him?", "what is the best method
  // to ...": a procedure asked for by its noun.
  static const std::unordered_set<std::string> kMeans = {"way", "ways", "method", "methods", "procedure",
                                                         "approach"};
  // ("What methods to authenticate are supported?" asks which there are.)
  for (size_t i = s + 2; i + 1 < w.size() && i <= s + 4; ++i)
    what_to_do |= (first == "what" || first == "which") && kMeans.count(w[i]) && w[i + 1] == "to" &&
                  (w[i - 1] == "the" || w[i - 1] == "a" || w[i - 2] == "the" || w[i - 2] == "a");
  fix_verb |= what_to_do || fix_noun;
  // "what is the target resolution time", "which retention period": a
  // value is asked for, whatever verb of repair the noun phrase holds.
  static const std::unordered_set<std::string> kValueNouns = {
      "time", "times", "period", "periods", "deadline", "duration", "minimum", "maximum", "limit", "limits",
      "length", "number", "amount", "age", "size", "rto", "rpo", "sla", "frequency", "interval", "version",
      "default"};
  // "last time", "this time": when, not a value asked for.
  static const std::unordered_set<std::string> kOccasion = {"last", "next", "first", "this", "that", "same", "every",
                                                            "each", "any"};
  bool value_noun = false;
  for (size_t i = 0; i < w.size(); ++i)
    value_noun |= kValueNouns.count(w[i]) && !(w[i].starts_with("time") && i > 0 && kOccasion.count(w[i - 1]));
  // "Is there a max line length ...?", "are there any limits on ...": a
  // limit's value, or that there is none ("is there a way to raise the
  // limit?" asks for a procedure, below; "is there a version for Mac?" for
  // no value).
  static const std::unordered_set<std::string> kLimits = {"limit", "limits", "maximum", "minimum",
                                                          "max",   "min",    "quota",   "cap"};
  static const std::unordered_set<std::string> kWays = {"way", "ways", "fix", "workaround", "solution",
                                                        "procedure", "method", "option"};
  const bool a_way = kWays.count(at(s + 2)) || kWays.count(at(s + 3));
  const bool is_there = (first == "is" || first == "are") && at(s + 1) == "there";
  const bool limit_asked = is_there && !a_way && has(kLimits);
  if (((first == "what" || first == "which") && value_noun) || limit_asked) {
    out.kind = Intent::kFact;
    out.asks_quantity = true;
    return out;
  }
  // "what does <an error or a log line> mean": a definition, whatever verbs
  // the quoted text holds ("apply entries took too long"); unless a fix is
  // asked for after it ("... mean and how do I fix it?").
  static const std::unordered_set<std::string> kMeaning = {"mean", "means", "meant", "meaning"};
  if (first == "what") {
    size_t m = s;
    while (m < w.size() && !kMeaning.count(w[m])) ++m;
    // A second question joined by "and"/"or"/"then" that asks for a fix:
    // "how do/can/should I ...", "what should/do I do", or a verb of repair.
    bool fix_after = false;
    for (size_t c = m + 1; c < w.size(); ++c) {
      if (w[c] != "and" && w[c] != "or" && w[c] != "then") continue;
      const std::string& a = at(c + 1);
      const std::string& b = at(c + 2);
      fix_after |= a == "how" && (b == "do" || b == "can" || b == "should" || b == "to" || b == "would");
      fix_after |= a == "what" && (b == "do" || b == "should" || b == "can");
      for (size_t i = c + 1; i < w.size() && i <= c + 3; ++i) fix_after |= fix_verbs().count(w[i]) > 0;
    }
    if (m < w.size() && !fix_after) { out.kind = Intent::kFact; return out; }
  }
  const bool wh = first == "what" || first == "who" || first == "when" || first == "which" || first == "where" ||
                  fact_openers().count(first) > 0;
  if (fix_verb && (first == "what" || !wh)) { out.kind = Intent::kFix; return out; }
  // "is there a way to install ...", "is there a fix for ...": a procedure
  // ("is there a limit on ..." asks for a fact).
  if (is_there && a_way) {
    out.kind = Intent::kFix;
    return out;
  }
  if (first == "can" || first == "could") {
    // "can I use X?" asks for a permission (a fact); "can you reset ..." or
    // "can I fix ..." asks for a procedure.
    out.kind = fix_verb ? Intent::kFix : Intent::kFact;
    return out;
  }
  if (wh) { out.kind = Intent::kFact; return out; }
  // A statement: a complaint ("Outlook won't send as the shared mailbox",
  // "ORA-12541 on db-prod-03") asks for its fix.
  bool code = !out.named_ids.empty();
  for (const auto& x : w) code |= x.size() > 3 && x[0] == '0' && x[1] == 'x';
  if (has(symptom_words()) || fix_verb || code) { out.kind = Intent::kFix; return out; }
  out.kind = Intent::kGeneral;
  return out;
}

// The question after a leading subordinate clause or phrase: "If I don't
// give it a label, what label ends up on the backup?", "By default, how
// often ...": the part after the first ", " that opens with a question
// word. A statement before the comma ("Someone needs to send as the group,
// what permission is missing?") is the question's situation, read whole.
std::string_view main_clause(std::string_view sentence) {
  static const std::unordered_set<std::string> kLeads = {
      "if", "when", "whenever", "after", "before", "once", "since", "while", "unless", "because", "although",
      "by", "for", "in", "on", "with", "without", "during", "as", "given", "assuming", "besides", "apart"};
  const std::vector<std::string> opening = lower_words(sentence.substr(0, sentence.find(' ')));
  if (opening.empty() || !kLeads.count(opening[0])) return sentence;
  static const std::unordered_set<std::string> kOpeners = {"how", "what", "which", "who", "where", "when", "why",
                                                           "can", "could", "is", "are", "does", "do", "should",
                                                           "will", "may"};
  for (size_t comma = sentence.find(", "); comma != std::string_view::npos; comma = sentence.find(", ", comma + 1)) {
    const std::string_view rest = sentence.substr(comma + 2);
    const std::vector<std::string> words = lower_words(rest.substr(0, rest.find(' ')));
    if (!words.empty() && kOpeners.count(words[0])) return rest;
  }
  return sentence;
}

}  // namespace

QuestionIntent classify_question(std::string_view question) {
  const std::string asked = asking_sentence(question);
  const std::string_view ask = main_clause(asked);
  // An asking sentence of a few words ("Any idea?", "Can you help?",
  // "Why?") asks nothing of its own: the whole question says what it is.
  if (ask.size() == question.size() || lower_words(ask).size() <= 3) return classify_sentence(question);
  const QuestionIntent whole = classify_sentence(question);
  QuestionIntent out = classify_sentence(ask);
  out.named_ids = whole.named_ids;
  out.asks_default = whole.asks_default;
  return out;
}

}  // namespace ragd

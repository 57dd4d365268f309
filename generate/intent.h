// Question intent: what kind of answer a question asks for, read from the
// question's general structure (question words, verbs of repair, named
// record ids), never from one knowledge base's wording. The intent decides
// where the answer lives: a fix in a resolution section or a ticket's
// resolution notes, a cause in a cause section, a fact in the sentence or
// table row holding the value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragd {

enum class Intent {
  kFix,      // how do I fix / resolve / reset / set up ...; a symptom stated as a complaint
  kCause,    // why ...; what causes ...; root cause
  kFact,     // how many / how long / who / when / which / may I ...; "what is the minimum ..."
  kGeneral,  // anything else
};

const char* intent_name(Intent intent);

struct QuestionIntent {
  Intent kind = Intent::kGeneral;
  // Tokens shaped like record ids (INC0012402, KB0010023, ABC-123, ZD-4101,
  // HD-2023-1010): letters then digits, optionally joined by '-'. Whether
  // one names a document is for the store to say (ORA-12541 is shaped the
  // same way and names an error, not a record).
  std::vector<std::string> named_ids;
  // "how much/many/long/often ...", "what is the minimum/default ...": the
  // answer is a number.
  bool asks_quantity = false;
  // The question names a default ("What is the default port?", "which mode
  // does it use by default?"): the answer says what the default is.
  bool asks_default = false;
  // "Which configure option sets ...?", "what directive prints ...": the
  // answer names a thing written as code (an option, a directive, a
  // command), as a reference entry's heading or a code span does.
  bool asks_name = false;
  // The noun a "what"/"which" question asks for, when an auxiliary verb
  // closes its noun phrase ("What character encoding does pip assume ...?"
  // -> "encoding", "Which library does ... build on?" -> "library"): the
  // answer names a thing of that kind, and usually says the noun. Lower
  // case, as written; empty when the question has no such phrase.
  std::string focus;
};

// The sentences that ask: the last run of sentences ending in '?' of a
// question that first describes the situation ("pip install times out
// behind our proxy. How do I tell pip to use it?"); the whole question
// otherwise.
std::string asking_sentence(std::string_view question);

// A question that first describes the situation ("pip install times out
// behind our proxy. How do I tell pip to use it?") is read from its last
// sentence ending in '?'; record ids from all of it.
QuestionIntent classify_question(std::string_view question);

}  // namespace ragd

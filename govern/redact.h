// Redaction of what leaves the box (escalation.h): e-mail addresses, IP
// addresses, host names, people's names and configured patterns are replaced
// by a marker ("[EMAIL]", "[IP]", "[HOST]", "[NAME]", "[REDACTED]") before a
// question or a passage is sent to an outside model.
//
//   Redactor::make(patterns) -> Redactor;  redact(text, names) -> text
//
// Host names are the two shapes IT text uses: fully qualified names of three
// or more labels ending in a letters-only label ("vpn.corp.acme.com", also
// inside URLs), and internal names in lower case of three or more hyphenated
// parts ending in a number
// ("db-prod-03", "vpn-gw-1"). Upper-case codes such as "ORA-12541" or
// "INC0012402" are not host names and stay. Names are matched whole and
// case-insensitively; a name of fewer than three characters is ignored (it
// would match inside words).
//
// Thread safety: a Redactor is immutable after make(); redact() is const.
#pragma once

#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/status.h"

namespace ragd::govern {

struct RedactionCounts {
  int emails = 0;
  int ips = 0;
  int hosts = 0;
  int names = 0;
  int patterns = 0;
  int total() const { return emails + ips + hosts + names + patterns; }
};

class Redactor {
 public:
  // `patterns`: ECMAScript regular expressions replaced by "[REDACTED]"
  // after the built-in kinds. Errors: kInvalidArgument naming the pattern.
  static Result<Redactor> make(const std::vector<std::string>& patterns);

  // `names`: literal strings (requesters, assignees) replaced by "[NAME]".
  // `counts` (may be null) is increased by what was replaced.
  std::string redact(std::string_view text, const std::vector<std::string>& names,
                     RedactionCounts* counts = nullptr) const;

 private:
  Redactor() = default;
  std::vector<std::regex> patterns_;
};

}  // namespace ragd::govern

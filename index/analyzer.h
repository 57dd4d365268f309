// Lexical analysis for BM25, shared by indexing and querying.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragd {

// Lowercase, Unicode-aware word split, English stop words dropped, Snowball
// (libstemmer) English stems. Identifiers stay whole tokens and also yield
// their parts: INC0012345, KB0010023, JIRA-4411, 0x80070005, ORA-00942,
// CVE-2024-3094, host names, IPs, file paths. Thread-safe.
std::vector<std::string> analyze(std::string_view text);

// The same without stop-word removal and stemming (for sentence overlap).
std::vector<std::string> analyze_words(std::string_view text);

}  // namespace ragd

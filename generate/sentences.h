// Sentence splitting for extractive answers, tuned for IT text: it does not
// split inside abbreviations (e.g., i.e., No.), initials, version numbers,
// IP addresses, file paths, host names or `inline code`, and every line of a
// fenced code block or list is its own unit.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragd {

// Sentences in text order, trimmed, with Markdown list/heading/quote markers
// removed from the start of lines. Empty input gives no sentences.
std::vector<std::string> split_sentences(std::string_view text);

}  // namespace ragd

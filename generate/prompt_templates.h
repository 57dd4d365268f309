// Task prompts for the LLM answer path, kept as text files in
// generate/prompts/ (not C++ literals) so they can be edited without a build.
//
// A template file has a [system] and a [user] section; '#' lines before the
// first section are comments. The user section holds {{passages}} and the
// task's input placeholder ({{question}} or {{ticket}}); {{refusal}} (either
// section) becomes the sentence the verifier recognises as "the passages do
// not answer this".
//
// Where the files are found: an explicit directory (ragd's --prompts), else
// $RAGD_PROMPTS, else the build's RAGD_PROMPTS_DIR (the source tree's
// generate/prompts).
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ragd/status.h"

namespace ragd {

enum class PromptTask {
  kAnswer,             // answer a question                     (answer.txt)
  kSummarizeTicket,    // summarise a ticket thread              (summarize_ticket.txt)
  kSuggestResolution,  // suggest a fix for a new ticket         (suggest_resolution.txt)
  kResolutionNote,     // draft a ticket's close note            (resolution_note.txt)
  kKbDraft,            // draft a KB article from resolved tickets (kb_draft.txt)
};
inline constexpr int kPromptTaskCount = 5;

// "answer", "summarize_ticket", "suggest_resolution", "resolution_note",
// "kb_draft".
const char* prompt_task_name(PromptTask task);
// Accepts the names above (and "summarize"/"summarise", "suggest"); nullopt otherwise.
std::optional<PromptTask> parse_prompt_task(std::string_view name);
// The template's file name, e.g. "answer.txt".
std::string prompt_task_file(PromptTask task);

struct PromptTemplate {
  std::string system;  // with placeholders
  std::string user;    // with placeholders
  std::string input_placeholder;  // "{{question}}" or "{{ticket}}"
  std::string path;    // the file it came from (for errors)
};

// A template's version for provenance: "<file>@<8 hex digits of FNV-1a over
// its system and user text>", so an edit to the prompt shows in answers
// and the audit log.
std::string prompt_template_version(PromptTask task, const PromptTemplate& t);

// The rendered messages for one request.
struct RenderedPrompt {
  std::string system;
  std::string user;
};

// Immutable after load(); share freely between threads.
class PromptLibrary {
 public:
  // Reads every task's file from `dir`. Errors name the file: kNotFound for a
  // missing file, kInvalidArgument for a missing section or placeholder.
  static Result<PromptLibrary> load(const std::filesystem::path& dir);
  // Parses one template's text (tests, tools). `name` appears in errors.
  static Result<PromptTemplate> parse(std::string_view text, PromptTask task, const std::string& name);

  const PromptTemplate& get(PromptTask task) const { return templates_[static_cast<size_t>(task)]; }
  const std::filesystem::path& dir() const { return dir_; }

  // Fills the placeholders. `passages` is the packed, numbered context.
  RenderedPrompt render(PromptTask task, std::string_view input, std::string_view passages,
                        std::string_view refusal) const;

 private:
  std::filesystem::path dir_;
  std::array<PromptTemplate, kPromptTaskCount> templates_;
};

// `explicit_dir` if not empty, else $RAGD_PROMPTS if set, else RAGD_PROMPTS_DIR.
std::filesystem::path default_prompts_dir(const std::filesystem::path& explicit_dir = {});

}  // namespace ragd

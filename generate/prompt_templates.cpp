#include "generate/prompt_templates.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#ifndef RAGD_PROMPTS_DIR
#define RAGD_PROMPTS_DIR "generate/prompts"
#endif

namespace ragd {

const char* prompt_task_name(PromptTask task) {
  switch (task) {
    case PromptTask::kAnswer: return "answer";
    case PromptTask::kSummarizeTicket: return "summarize_ticket";
    case PromptTask::kSuggestResolution: return "suggest_resolution";
    case PromptTask::kResolutionNote: return "resolution_note";
    case PromptTask::kKbDraft: return "kb_draft";
  }
  return "answer";
}

std::optional<PromptTask> parse_prompt_task(std::string_view name) {
  if (name == "answer" || name == "qa") return PromptTask::kAnswer;
  if (name == "summarize_ticket" || name == "summarize" || name == "summarise") return PromptTask::kSummarizeTicket;
  if (name == "suggest_resolution" || name == "suggest" || name == "resolve") return PromptTask::kSuggestResolution;
  if (name == "resolution_note" || name == "close_note") return PromptTask::kResolutionNote;
  if (name == "kb_draft") return PromptTask::kKbDraft;
  return std::nullopt;
}

std::string prompt_task_file(PromptTask task) { return std::string(prompt_task_name(task)) + ".txt"; }

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\n' || s[b] == '\r' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\r' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

const char* input_placeholder(PromptTask task) {
  return task == PromptTask::kAnswer ? "{{question}}" : "{{ticket}}";
}

}  // namespace

Result<PromptTemplate> PromptLibrary::parse(std::string_view text, PromptTask task, const std::string& name) {
  PromptTemplate t;
  t.path = name;
  t.input_placeholder = input_placeholder(task);
  std::string* section = nullptr;
  bool seen_system = false, seen_user = false;
  size_t line_no = 0;
  for (size_t pos = 0; pos <= text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_no;
    pos = nl + 1;
    if (line == "[system]") {
      if (seen_system) return Status::invalid_argument(name + ": line " + std::to_string(line_no) + ": second [system]");
      seen_system = true;
      section = &t.system;
      continue;
    }
    if (line == "[user]") {
      if (seen_user) return Status::invalid_argument(name + ": line " + std::to_string(line_no) + ": second [user]");
      seen_user = true;
      section = &t.user;
      continue;
    }
    if (!section) {
      if (trim(line).empty() || line.front() == '#') continue;
      return Status::invalid_argument(name + ": line " + std::to_string(line_no) +
                                      ": text before the first [system] or [user] section");
    }
    section->append(line);
    section->push_back('\n');
  }
  t.system = trim(t.system);
  t.user = trim(t.user);
  if (!seen_user || t.user.empty()) return Status::invalid_argument(name + ": missing or empty [user] section");
  for (const char* ph : {"{{passages}}", input_placeholder(task)}) {
    if (t.user.find(ph) == std::string::npos) {
      return Status::invalid_argument(name + ": the [user] section lacks the placeholder " + ph);
    }
  }
  if (t.system.find("{{refusal}}") == std::string::npos && t.user.find("{{refusal}}") == std::string::npos) {
    return Status::invalid_argument(name + ": no {{refusal}} placeholder: the template must say what to reply "
                                           "when the passages do not contain the answer");
  }
  return t;
}

Result<PromptLibrary> PromptLibrary::load(const std::filesystem::path& dir) {
  PromptLibrary lib;
  lib.dir_ = dir;
  for (int i = 0; i < kPromptTaskCount; ++i) {
    const auto task = static_cast<PromptTask>(i);
    const auto path = dir / prompt_task_file(task);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return Status::not_found("prompt template " + path.string() +
                               " not found (set --prompts or RAGD_PROMPTS to the prompts directory)");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return Status::io_error("reading prompt template " + path.string());
    RAGD_ASSIGN_OR_RETURN(lib.templates_[static_cast<size_t>(i)], parse(ss.str(), task, path.string()));
  }
  return lib;
}

RenderedPrompt PromptLibrary::render(PromptTask task, std::string_view input, std::string_view passages,
                                     std::string_view refusal) const {
  const PromptTemplate& t = get(task);
  // One pass over the template: text inside the passages or the input that
  // looks like a placeholder is never substituted again.
  auto fill = [&](const std::string& tmpl) {
    std::string out;
    out.reserve(tmpl.size() + passages.size() + input.size());
    size_t pos = 0;
    while (pos < tmpl.size()) {
      const size_t open = tmpl.find("{{", pos);
      if (open == std::string::npos) break;
      const size_t close = tmpl.find("}}", open + 2);
      if (close == std::string::npos) break;
      out.append(tmpl, pos, open - pos);
      const std::string_view ph = std::string_view(tmpl).substr(open, close + 2 - open);
      if (ph == "{{passages}}") out.append(passages);
      else if (ph == "{{refusal}}") out.append(refusal);
      else if (ph == t.input_placeholder) out.append(input);
      else out.append(ph);  // not ours: kept as written
      pos = close + 2;
    }
    out.append(tmpl, pos, std::string::npos);
    return out;
  };
  return RenderedPrompt{fill(t.system), fill(t.user)};
}

std::filesystem::path default_prompts_dir(const std::filesystem::path& explicit_dir) {
  if (!explicit_dir.empty()) return explicit_dir;
  if (const char* env = std::getenv("RAGD_PROMPTS"); env && *env) return env;
  return RAGD_PROMPTS_DIR;
}

std::string prompt_template_version(PromptTask task, const PromptTemplate& t) {
  uint32_t h = 2166136261u;
  for (const std::string* part : {&t.system, &t.user}) {
    for (char c : *part) {
      h ^= static_cast<unsigned char>(c);
      h *= 16777619u;
    }
    h ^= 0xff;
    h *= 16777619u;
  }
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", h);
  return prompt_task_file(task) + "@" + hex;
}

}  // namespace ragd

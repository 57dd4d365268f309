#include "model/chat_template.h"

namespace ragd {

namespace {
bool has(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }
std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\n\r");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\n\r");
  return std::string(s.substr(b, e - b + 1));
}
}  // namespace

std::string_view chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatML: return "chatml";
    case ChatTemplateKind::kLlama3: return "llama3";
    case ChatTemplateKind::kLlama2: return "llama2";
    case ChatTemplateKind::kPhi3: return "phi3";
    case ChatTemplateKind::kGemma: return "gemma";
  }
  return "?";
}

Result<ChatTemplateKind> detect_chat_template(std::string_view t) {
  for (auto k : {ChatTemplateKind::kChatML, ChatTemplateKind::kLlama3, ChatTemplateKind::kLlama2,
                 ChatTemplateKind::kPhi3, ChatTemplateKind::kGemma}) {
    if (t == chat_template_name(k)) return k;
  }
  if (has(t, "<|im_start|>")) return ChatTemplateKind::kChatML;
  if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) return ChatTemplateKind::kLlama3;
  if (has(t, "<|assistant|>") && has(t, "<|end|>")) return ChatTemplateKind::kPhi3;
  if (has(t, "<start_of_turn>")) return ChatTemplateKind::kGemma;
  if (has(t, "[INST]")) return ChatTemplateKind::kLlama2;
  std::string head(t.substr(0, 80));
  if (t.size() > 80) head += "...";
  if (t.empty()) return Status::unimplemented("the model has no chat template (tokenizer.chat_template is empty)");
  return Status::unimplemented("unknown chat template \"" + head +
                               "\" (supported: chatml, llama3, llama2, phi3, gemma)");
}

std::string apply_chat_template(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                                bool add_generation_prompt) {
  std::string s;
  switch (kind) {
    case ChatTemplateKind::kChatML:
      for (const auto& m : messages) s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) s += "<|im_start|>assistant\n";
      break;
    case ChatTemplateKind::kLlama3:
      for (const auto& m : messages) {
        s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
      }
      if (add_generation_prompt) s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatTemplateKind::kLlama2: {
      bool inside_turn = true;  // the first [INST] follows the tokenizer's BOS
      s += "[INST] ";
      for (const auto& m : messages) {
        if (!inside_turn) {
          inside_turn = true;
          s += "<s>[INST] ";
        }
        if (m.role == "system") {
          s += "<<SYS>>\n" + m.content + "\n<</SYS>>\n\n";
        } else if (m.role == "user") {
          s += m.content + " [/INST]";
        } else {
          s += m.content + "</s>";
          inside_turn = false;
        }
      }
      break;
    }
    case ChatTemplateKind::kPhi3:
      for (const auto& m : messages) s += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
      if (add_generation_prompt) s += "<|assistant|>\n";
      break;
    case ChatTemplateKind::kGemma: {
      std::string system;
      for (const auto& m : messages) {
        if (m.role == "system") {
          system = trim(m.content);
          continue;
        }
        const std::string role = m.role == "assistant" ? "model" : m.role;
        s += "<start_of_turn>" + role + "\n";
        if (!system.empty() && role != "model") {
          s += system + "\n\n";
          system.clear();
        }
        s += trim(m.content) + "<end_of_turn>\n";
      }
      if (add_generation_prompt) s += "<start_of_turn>model\n";
      break;
    }
  }
  return s;
}

}  // namespace ragd

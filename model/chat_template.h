// Chat templates, recognised from the file's `tokenizer.chat_template` (a
// Jinja string we do not execute) by the markers each family uses, and
// rendered the way llama.cpp's built-in templates render them.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "ragd/status.h"

namespace ragd {

enum class ChatTemplateKind { kChatML, kLlama3, kLlama2, kPhi3, kGemma };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

std::string_view chat_template_name(ChatTemplateKind kind);

// Recognises a template; an unknown one gives kUnimplemented quoting the
// start of the template. `name` may also be a family name ("chatml").
Result<ChatTemplateKind> detect_chat_template(std::string_view jinja_or_name);

// Renders the conversation; add_generation_prompt opens the assistant turn.
// BOS is not included (the tokenizer adds it when the model asks).
std::string apply_chat_template(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                                bool add_generation_prompt);

}  // namespace ragd

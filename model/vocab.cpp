// Reads tokenizer.ggml.* into a Vocab with llama.cpp's defaults and rules
// (special ids, add_bos/add_eos, end-of-generation detection, per-model token
// attributes), validating every array length and id against the vocabulary.
#include "model/vocab.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "model/unicode.h"

namespace ragd {

int32_t Vocab::find_bpe_rank(std::string_view left, std::string_view right) const {
  std::string key;
  key.reserve(left.size() + right.size() + 1);
  key.append(left);
  key.push_back('\0');
  key.append(right);
  auto it = bpe_rank.find(key);
  return it == bpe_rank.end() ? -1 : it->second;
}

int32_t Vocab::byte_to_token(uint8_t byte) const {
  static const char* hex = "0123456789ABCDEF";
  const char buf[6] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>'};
  int32_t id = find(std::string_view(buf, 6));
  if (id != kNullToken) return id;
  const char one = static_cast<char>(byte);
  id = find(std::string_view(&one, byte ? 1 : 0));
  return id != kNullToken ? id : unk;
}

namespace {

std::string decode_byte_level(const std::string& text) {
  std::string out;
  for (uint32_t cpt : unicode::utf8_to_cpts(text)) {
    int b = unicode::utf8_to_byte(cpt);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      // Not a byte-level code point (as llama.cpp prints it).
      std::string utf8 = unicode::cpt_to_utf8(cpt);
      out += "[UNK_BYTE_0x";
      for (unsigned char c : utf8) {
        char h[3];
        std::snprintf(h, sizeof h, "%02x", c);
        out += h;
      }
      out += text + "]";
    }
  }
  return out;
}

std::string make_piece(const Vocab& v, int32_t id) {
  using namespace token_attr;
  const uint32_t a = v.attr[id];
  const std::string& t = v.text[id];
  if (a & (kUnknown | kControl | kUserDefined)) return t;
  if (v.type == VocabType::kBpe) {
    if (a & kNormal) return decode_byte_level(t);
    return {};
  }
  if (a & kNormal) {
    std::string out;
    for (size_t i = 0; i < t.size();) {
      if (t.compare(i, 3, "\xe2\x96\x81") == 0) {
        out.push_back(' ');
        i += 3;
      } else {
        out.push_back(t[i++]);
      }
    }
    return out;
  }
  if ((a & kByte) && t.size() == 6 && t.compare(0, 3, "<0x") == 0) {
    return std::string(1, static_cast<char>(std::strtol(t.substr(3, 2).c_str(), nullptr, 16)));
  }
  return {};
}

Result<PreTokenizer> pre_tokenizer_for(const std::string& pre, Vocab& v) {
  auto any = [&](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (pre == n) return true;
    }
    return false;
  };
  if (pre.empty() || pre == "default") return PreTokenizer::kDefault;
  if (any({"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe"})) {
    if (any({"llama3", "llama-v3", "llama-bpe", "falcon3"})) {
      v.ignore_merges = true;
      v.add_bos = true;
    }
    return PreTokenizer::kLlama3;
  }
  if (pre == "deepseek-llm") {
    v.clean_spaces = false;
    return PreTokenizer::kDeepseekLlm;
  }
  if (pre == "deepseek-coder") {
    v.clean_spaces = false;
    return PreTokenizer::kDeepseekCoder;
  }
  if (pre == "falcon") return PreTokenizer::kFalcon;
  if (any({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
           "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais"})) {
    return PreTokenizer::kGpt2;
  }
  if (any({"starcoder", "refact", "codeshell", "exaone", "minerva-7b"})) return PreTokenizer::kStarcoder;
  if (any({"smollm", "command-r"})) {
    v.clean_spaces = false;
    return PreTokenizer::kStarcoder;
  }
  if (any({"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"})) {
    if (pre != "stablelm2" && pre != "megrez") v.clean_spaces = false;
    return PreTokenizer::kQwen2;
  }
  return Status::unimplemented("unknown pre-tokenizer type '" + pre + "' (tokenizer.ggml.pre)");
}

// Reads an optional token id; out-of-range ids keep the default (as llama.cpp does).
Status read_id(const GgufFile& f, const char* key, size_t n, int32_t& id) {
  const GgufValue* val = f.find(key);
  if (!val) return Status::ok();
  auto u = val->as_uint();
  if (!u) {
    return Status::invalid_argument(std::string(key) + " has type " + gguf_type_name(val->type()) +
                                    ", expected an unsigned integer");
  }
  if (*u < n) id = static_cast<int32_t>(*u);
  return Status::ok();
}

void mark_control(Vocab& v, int32_t id) { v.attr[id] = token_attr::kControl; }

}  // namespace

Result<Vocab> load_vocab(const GgufFile& f) {
  using namespace token_attr;
  Vocab v;
  RAGD_ASSIGN_OR_RETURN(std::string_view model, f.get_str("tokenizer.ggml.model"));
  v.model = std::string(model);
  if (const GgufValue* p = f.find("tokenizer.ggml.pre")) {
    auto s = p->as_string();
    if (!s) return Status::invalid_argument("tokenizer.ggml.pre is not a string");
    v.pre = std::string(*s);
  }

  if (v.model == "llama") {
    v.type = VocabType::kSpm;
    v.bos = 1, v.eos = 2, v.unk = 0;
    v.add_space_prefix = true;
    v.add_bos = true;
  } else if (v.model == "bert") {
    v.type = VocabType::kWpm;
    v.bos = 101, v.unk = 100, v.sep = 102, v.pad = 0, v.mask = 103;
    v.clean_spaces = true;
    v.add_bos = true;
  } else if (v.model == "gpt2") {
    v.type = VocabType::kBpe;
    v.bos = 11, v.eos = 11;
    v.clean_spaces = true;
    RAGD_ASSIGN_OR_RETURN(v.pre_type, pre_tokenizer_for(v.pre, v));
  } else {
    return Status::unimplemented("unsupported tokenizer model '" + v.model + "' (tokenizer.ggml.model)");
  }

  RAGD_ASSIGN_OR_RETURN(auto add_prefix, f.get_bool_or("tokenizer.ggml.add_space_prefix", v.add_space_prefix));
  v.add_space_prefix = add_prefix;

  RAGD_ASSIGN_OR_RETURN(const GgufValue* tokens, f.get_arr("tokenizer.ggml.tokens", GgufType::kString));
  const size_t n = tokens->array_size();
  if (n == 0) return Status::invalid_argument("tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return Status::invalid_argument("tokenizer.ggml.tokens is too large");

  const GgufValue* scores = f.find("tokenizer.ggml.scores");
  if (scores) {
    if (!scores->is_array() || scores->array_type() != GgufType::kFloat32 || scores->array_size() != n) {
      return Status::invalid_argument("tokenizer.ggml.scores must be an f32 array with one entry per token (" +
                                      std::to_string(n) + ")");
    }
  }
  const GgufValue* types = f.find("tokenizer.ggml.token_type");
  if (types) {
    if (!types->is_array() || types->array_type() != GgufType::kInt32 || types->array_size() != n) {
      return Status::invalid_argument("tokenizer.ggml.token_type must be an i32 array with one entry per token (" +
                                      std::to_string(n) + ")");
    }
  }

  v.text.resize(n);
  v.score.assign(n, 0.0f);
  v.attr.assign(n, kNormal);
  v.to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string word(tokens->array_string(i));
    if (word.empty()) word = "[EMPTY_" + std::to_string(i) + "]";
    v.to_id[word] = static_cast<int32_t>(i);
    v.max_token_len = std::max(v.max_token_len, word.size());
    v.text[i] = std::move(word);
    if (scores) v.score[i] = static_cast<float>(scores->array_float(i));
    if (types) {
      switch (types->array_int(i)) {
        case 1: v.attr[i] = kNormal; break;
        case 2: v.attr[i] = kUnknown; break;
        case 3: v.attr[i] = kControl; break;
        case 4: v.attr[i] = kUserDefined; break;
        case 5: v.attr[i] = kUnused; break;
        case 6: v.attr[i] = kByte; break;
        default: v.attr[i] = kUndefined; break;
      }
    }
  }

  if (v.type == VocabType::kBpe) {
    RAGD_ASSIGN_OR_RETURN(const GgufValue* merges, f.get_arr("tokenizer.ggml.merges", GgufType::kString));
    v.bpe_rank.reserve(merges->array_size());
    for (size_t i = 0; i < merges->array_size(); ++i) {
      std::string_view m = merges->array_string(i);
      size_t pos = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
      std::string key;
      if (pos != std::string_view::npos) {
        key.append(m.substr(0, pos));
        key.push_back('\0');
        key.append(m.substr(pos + 1));
      } else {
        key.push_back('\0');
      }
      v.bpe_rank.emplace(std::move(key), static_cast<int32_t>(std::min<size_t>(i, INT32_MAX)));
    }
  }

  // Default ids that do not exist in a small vocabulary become null.
  for (int32_t* id : {&v.bos, &v.eos, &v.unk, &v.sep, &v.pad, &v.mask}) {
    if (!v.valid(*id)) *id = kNullToken;
  }
  const struct {
    const char* key;
    int32_t* id;
  } ids[] = {
      {"tokenizer.ggml.bos_token_id", &v.bos},         {"tokenizer.ggml.eos_token_id", &v.eos},
      {"tokenizer.ggml.eot_token_id", &v.eot},         {"tokenizer.ggml.eom_token_id", &v.eom},
      {"tokenizer.ggml.unknown_token_id", &v.unk},     {"tokenizer.ggml.seperator_token_id", &v.sep},
      {"tokenizer.ggml.padding_token_id", &v.pad},     {"tokenizer.ggml.mask_token_id", &v.mask},
      {"tokenizer.ggml.fim_pre_token_id", &v.fim_pre}, {"tokenizer.ggml.fim_suf_token_id", &v.fim_suf},
      {"tokenizer.ggml.fim_mid_token_id", &v.fim_mid}, {"tokenizer.ggml.fim_pad_token_id", &v.fim_pad},
      {"tokenizer.ggml.fim_rep_token_id", &v.fim_rep}, {"tokenizer.ggml.fim_sep_token_id", &v.fim_sep},
      {"tokenizer.ggml.prefix_token_id", &v.fim_pre},  {"tokenizer.ggml.suffix_token_id", &v.fim_suf},
      {"tokenizer.ggml.middle_token_id", &v.fim_mid},
  };
  for (const auto& [key, id] : ids) RAGD_RETURN_IF_ERROR(read_id(f, key, n, *id));

  RAGD_ASSIGN_OR_RETURN(auto add_bos, f.get_bool_or("tokenizer.ggml.add_bos_token", v.add_bos));
  RAGD_ASSIGN_OR_RETURN(auto add_eos, f.get_bool_or("tokenizer.ggml.add_eos_token", v.add_eos));
  v.add_bos = add_bos && v.bos != kNullToken;
  v.add_eos = add_eos && v.eos != kNullToken;

  // Special tokens recognised by their text, forced to CONTROL (llama.cpp's rule).
  auto detect = [&](int32_t& slot, std::initializer_list<const char*> names) {
    if (slot != kNullToken) return;
    for (const char* name : names) {
      int32_t id = v.find(name);
      if (id != kNullToken) {
        slot = id;
        mark_control(v, id);
        return;
      }
    }
  };
  detect(v.eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
                 "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"});
  detect(v.eom, {"<|eom_id|>"});
  detect(v.fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>"});
  detect(v.fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>", "<SUF>"});
  detect(v.fim_mid, {"<|fim_middle|>", "<fim-middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>"});
  detect(v.fim_pad, {"<|fim_pad|>", "<fim-pad>", "<PAD>"});
  detect(v.fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"});
  detect(v.fim_sep, {"<|file_sep|>"});

  for (int32_t id : {v.fim_pad, v.fim_rep, v.fim_sep, v.eos, v.eot, v.eom}) {
    if (id != kNullToken) v.eog.insert(id);
  }
  for (const char* name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                           "<EOT>"}) {
    int32_t id = v.find(name);
    if (id != kNullToken) {
      v.eog.insert(id);
      mark_control(v, id);
    }
  }

  for (size_t i = 0; i < n; ++i) {
    if (v.attr[i] & (kControl | kUserDefined | kUnknown)) v.special_tokens.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(),
                   [&](int32_t a, int32_t b) { return v.text[a].size() > v.text[b].size(); });

  // Per-model attributes that GGUF does not carry.
  std::string name;
  if (const GgufValue* g = f.find("general.name")) {
    if (auto s = g->as_string()) name = std::string(*s);
  }
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  auto set_attr = [&](const char* text, uint32_t bit, bool on) {
    int32_t id = v.find(text);
    if (id == kNullToken) return;
    v.attr[id] = on ? (v.attr[id] | bit) : (v.attr[id] & ~bit);
  };
  if (v.pre.find("jina-v2-") != std::string::npos) {
    set_attr("<mask>", kLstrip, true);
  } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : v.special_tokens) v.attr[id] |= kRstrip;
    set_attr("</s>", kRstrip, true);
    for (const char* t : {"<unk>", "<s>", "<|endoftext|>"}) set_attr(t, kRstrip, false);
  }

  v.piece.resize(n);
  for (size_t i = 0; i < n; ++i) v.piece[i] = make_piece(v, static_cast<int32_t>(i));
  return v;
}

}  // namespace ragd

// `ragd model generate | logits | embed | chat`: the model runtime from the
// command line. `info` and `tokenize` come from model_file_commands.cpp.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/cli/commands.h"
#include "model/bert_embedder.h"
#include "model/chat_template.h"
#include "model/generator.h"

namespace ragd::cli {

namespace {

[[noreturn]] void fail_with(const Status& s) {
  std::fprintf(stderr, "ragd: %s\n", s.to_string().c_str());
  throw CLI::RuntimeError(1);
}

Result<std::vector<int32_t>> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    try {
      size_t used = 0;
      const long v = std::stol(word, &used);
      if (used != word.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(word);
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      return Status::invalid_argument("--prompt-ids: '" + word + "' is not a token id");
    }
  }
  if (ids.empty()) return Status::invalid_argument("--prompt-ids is empty");
  return ids;
}

Result<KvType> parse_kv(const std::string& s) {
  if (s == "f16") return KvType::kF16;
  if (s == "f32") return KvType::kF32;
  return Status::invalid_argument("--kv must be f16 or f32, not '" + s + "'");
}

struct DecoderArgs {
  std::string model;
  std::string kv = "f16";
  int threads = 0;
  int ctx = 0;
  bool int8_prompts = false;
};

void add_decoder_args(CLI::App& cmd, DecoderArgs& a) {
  cmd.add_option("--model,-m", a.model, "GGUF decoder model (llama, qwen2)")->required();
  cmd.add_option("--kv", a.kv, "KV cache type: f16 (llama.cpp's default) or f32")->capture_default_str();
  cmd.add_option("--threads,-t", a.threads, "threads (0 = all cores)")->capture_default_str();
  cmd.add_option("--ctx,-c", a.ctx, "context length (0 = min(model, 4096))")->capture_default_str();
  cmd.add_flag("--int8-prompts", a.int8_prompts,
               "quantised weights at prompt sizes through oneDNN int8 (faster, less exact; see model/README.md)");
}

struct Loaded {
  std::unique_ptr<Generator> gen;
  DecoderSessionOptions session;
};

Loaded load_decoder(const DecoderArgs& a, bool need_tokenizer) {
  DecoderLoadOptions lo;
  lo.int8_prompts = a.int8_prompts;
  auto model = DecoderModel::load(a.model, lo);
  if (!model.is_ok()) fail_with(model.status());
  std::shared_ptr<const Tokenizer> tok;
  auto t = Tokenizer::from_gguf((*model)->gguf());
  if (t.is_ok()) {
    tok = std::shared_ptr<const Tokenizer>(std::move(t).value());
  } else if (need_tokenizer) {
    fail_with(t.status().with_context("loading the vocabulary of " + a.model));
  }
  auto kv = parse_kv(a.kv);
  if (!kv.is_ok()) fail_with(kv.status());
  Loaded l;
  l.gen = std::make_unique<Generator>(*model, tok);
  l.session.kv_type = *kv;
  l.session.n_threads = a.threads;
  l.session.n_ctx = a.ctx;
  return l;
}

void add_generate(CLI::App& model) {
  auto* cmd = model.add_subcommand("generate", "generate text from a prompt");
  static DecoderArgs a;
  static std::string prompt, prompt_ids;
  static int n = 64;
  static float temp = 0.8f, top_p = 0.95f, min_p = 0.05f, repeat_penalty = 1.0f;
  static int top_k = 40;
  static uint64_t seed = 42;
  static bool ids_only = false;
  static std::vector<std::string> stops;
  add_decoder_args(*cmd, a);
  auto* p1 = cmd->add_option("--prompt,-p", prompt, "prompt text (special tokens are parsed)");
  auto* p2 = cmd->add_option("--prompt-ids", prompt_ids, "prompt as token ids, e.g. \"1 2 3\"");
  p1->excludes(p2);
  cmd->add_option("-n,--n-predict", n, "tokens to generate")->capture_default_str();
  cmd->add_option("--temp", temp, "temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--top-k", top_k, "top-k (0 = off)")->capture_default_str();
  cmd->add_option("--top-p", top_p, "top-p (1 = off)")->capture_default_str();
  cmd->add_option("--min-p", min_p, "min-p (0 = off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", repeat_penalty, "repetition penalty (1 = off)")->capture_default_str();
  cmd->add_option("--seed", seed, "sampling seed")->capture_default_str();
  cmd->add_option("--stop", stops, "stop string (repeatable)");
  cmd->add_flag("--ids", ids_only, "print only the generated ids, space-separated");
  cmd->callback([] {
    if (prompt.empty() && prompt_ids.empty()) fail_with(Status::invalid_argument("give --prompt or --prompt-ids"));
    Loaded l = load_decoder(a, !prompt.empty());
    GenerateOptions go;
    go.max_tokens = n;
    go.sampling.temperature = temp;
    go.sampling.top_k = top_k;
    go.sampling.top_p = top_p;
    go.sampling.min_p = min_p;
    go.sampling.repeat_penalty = repeat_penalty;
    go.sampling.seed = seed;
    go.stop = stops;
    // --ids reproduces llama.cpp's fixed-length runs: no stop at EOG.
    go.stop_at_eog = !ids_only;
    auto made = l.gen->new_session(l.session);
    if (!made.is_ok()) fail_with(made.status());
    auto session = std::move(made).value();
    StreamCallback stream;
    if (!ids_only) {
      stream = [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
      };
    }
    Result<Generation> g = Status::internal("unset");
    if (!prompt_ids.empty()) {
      auto ids = parse_ids(prompt_ids);
      if (!ids.is_ok()) fail_with(ids.status());
      g = l.gen->generate(*session, *ids, go, stream);
    } else {
      g = l.gen->generate(*session, prompt, go, stream);
    }
    if (!g.is_ok()) fail_with(g.status());
    if (ids_only) {
      for (size_t i = 0; i < g->tokens.size(); ++i) std::printf("%s%d", i ? " " : "", g->tokens[i]);
    }
    std::printf("\n");
  });
}

void add_logits(CLI::App& model) {
  auto* cmd = model.add_subcommand("logits", "write the last-position logits (little-endian float32)");
  static DecoderArgs a;
  static std::string prompt_ids, out;
  add_decoder_args(*cmd, a);
  cmd->add_option("--prompt-ids", prompt_ids, "prompt token ids, e.g. \"1 2 3\"")->required();
  cmd->add_option("--out,-o", out, "output file (.f32)")->required();
  cmd->callback([] {
    Loaded l = load_decoder(a, false);
    auto ids = parse_ids(prompt_ids);
    if (!ids.is_ok()) fail_with(ids.status());
    auto made = l.gen->new_session(l.session);
    if (!made.is_ok()) fail_with(made.status());
    auto session = std::move(made).value();
    std::vector<float> logits;
    Status st = session->eval(*ids, &logits);
    if (!st.is_ok()) fail_with(st);
    std::ofstream f(out, std::ios::binary);
    // x86-64 is little-endian, so the floats are written as they are.
    f.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * 4));
    if (!f) fail_with(Status::io_error("cannot write " + out));
  });
}

void add_embed(CLI::App& model) {
  auto* cmd = model.add_subcommand("embed", "embed texts with a GGUF BERT encoder");
  static std::string path, pooling;
  static bool json = false;
  static int threads = 0;
  static std::vector<std::string> texts;
  cmd->add_option("--model,-m", path, "GGUF BERT model")->required();
  cmd->add_option("--pooling", pooling, "cls or mean (default: the model's)");
  cmd->add_option("--threads,-t", threads, "threads (0 = all cores)");
  cmd->add_flag("--json", json, "print a JSON array of vectors");
  cmd->add_option("texts", texts, "texts to embed")->required();
  cmd->callback([] {
    BertEmbedderOptions o;
    o.n_threads = threads;
    if (pooling == "cls") {
      o.pooling = PoolingType::kCls;
    } else if (pooling == "mean") {
      o.pooling = PoolingType::kMean;
    } else if (!pooling.empty()) {
      fail_with(Status::invalid_argument("--pooling must be cls or mean, not '" + pooling + "'"));
    }
    auto e = BertEmbedder::load(path, o);
    if (!e.is_ok()) fail_with(e.status());
    std::vector<float> out;
    Status st = (*e)->embed(texts, EmbedRole::kPassage, out);
    if (!st.is_ok()) fail_with(st);
    const int d = (*e)->dim();
    if (json) {
      nlohmann::json arr = nlohmann::json::array();
      for (size_t i = 0; i < texts.size(); ++i) {
        arr.push_back(std::vector<float>(out.begin() + static_cast<std::ptrdiff_t>(i * d),
                                         out.begin() + static_cast<std::ptrdiff_t>((i + 1) * d)));
      }
      std::printf("%s\n", arr.dump().c_str());
    } else {
      for (size_t i = 0; i < texts.size(); ++i) {
        for (int k = 0; k < d; ++k) std::printf("%s%.9g", k ? " " : "", out[i * d + k]);
        std::printf("\n");
      }
    }
  });
}

void add_chat(CLI::App& model) {
  auto* cmd = model.add_subcommand("chat", "chat with a decoder model (reads lines from stdin)");
  static DecoderArgs a;
  static std::string system, tmpl;
  static int n = 256;
  static float temp = 0.7f;
  static uint64_t seed = 42;
  add_decoder_args(*cmd, a);
  cmd->add_option("--system", system, "system message");
  cmd->add_option("--template", tmpl, "chat template name (chatml, llama3, llama2, phi3, gemma)");
  cmd->add_option("-n,--n-predict", n, "max tokens per reply")->capture_default_str();
  cmd->add_option("--temp", temp, "temperature")->capture_default_str();
  cmd->add_option("--seed", seed, "sampling seed")->capture_default_str();
  cmd->callback([] {
    Loaded l = load_decoder(a, true);
    std::string source = tmpl;
    if (source.empty()) {
      auto t = l.gen->model().gguf().get_str("tokenizer.chat_template");
      source = t.is_ok() ? std::string(*t) : "";
    }
    auto kind = detect_chat_template(source);
    if (!kind.is_ok()) fail_with(kind.status());
    std::vector<ChatMessage> msgs;
    if (!system.empty()) msgs.push_back({"system", system});
    auto made = l.gen->new_session(l.session);
    if (!made.is_ok()) fail_with(made.status());
    auto session = std::move(made).value();
    std::vector<int32_t> in_cache;  // tokens the session holds
    GenerateOptions go;
    go.max_tokens = n;
    go.sampling.temperature = temp;
    go.sampling.seed = seed;
    std::string line;
    std::fprintf(stderr, "[%s template; empty line or EOF quits]\n", std::string(chat_template_name(*kind)).c_str());
    while (std::fprintf(stderr, "> "), std::getline(std::cin, line) && !line.empty()) {
      msgs.push_back({"user", line});
      const std::string text = apply_chat_template(*kind, msgs, true);
      const auto* tok = l.gen->tokenizer();
      std::vector<int32_t> ids = tok->tokenize(text, tok->add_bos(), true);
      // Re-use the cached prefix; feed only what changed.
      size_t common = 0;
      while (common < in_cache.size() && common < ids.size() && in_cache[common] == ids[common]) ++common;
      if (common == ids.size()) --common;
      session->truncate(static_cast<int>(common));
      std::vector<int32_t> fresh(ids.begin() + static_cast<std::ptrdiff_t>(common), ids.end());
      auto g = l.gen->generate(*session, fresh, go, [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
      });
      std::printf("\n");
      if (!g.is_ok()) fail_with(g.status());
      in_cache = ids;
      in_cache.insert(in_cache.end(), g->tokens.begin(), g->tokens.end());
      // The last sampled token was not evaluated; the next turn re-feeds it.
      in_cache.resize(static_cast<size_t>(session->n_past()));
      msgs.push_back({"assistant", g->text});
    }
  });
}

}  // namespace

void add_model_commands(CLI::App& app) {
  auto* model = app.add_subcommand("model", "run GGUF models: generate, logits, embed, chat, info, tokenize");
  model->require_subcommand(1);
  add_generate(*model);
  add_logits(*model);
  add_embed(*model);
  add_chat(*model);
  add_model_file_commands(*model);
}

}  // namespace ragd::cli

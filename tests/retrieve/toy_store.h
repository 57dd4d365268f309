// A real Store in a temporary directory with a toy GloVe file whose words
// fall into a few topics, so vector search has something to find. Shared by
// the retrieve and generate tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "index/store.h"
#include "model/glove_sif.h"

namespace ragd::testing {

namespace fs = std::filesystem;

class ToyStore {
 public:
  explicit ToyStore(const std::string& name) {
    dir_ = fs::temp_directory_path() / ("ragd_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write_vocab();
    auto e = GloveSifEmbedder::open(dir_ / "toy.bin");
    EXPECT_TRUE(e.is_ok()) << e.status().to_string();
    if (e.is_ok()) embedder_ = std::move(e).value();
    StoreOptions so;
    so.dir = dir_ / "data";
    so.sync_writes = false;
    auto s = Store::open(so);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    if (s.is_ok()) store_ = std::move(s).value();
    if (store_ && embedder_) {
      EXPECT_TRUE(store_->bind_encoder(embedder_->fingerprint(), embedder_->dim()).is_ok());
    }
  }
  ~ToyStore() {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ok() const { return store_ && embedder_; }

  // Stores `doc` with one chunk per entry of `chunk_texts` (the document's
  // text when empty), embedded with the toy encoder.
  void add(Document doc, std::vector<std::string> chunk_texts = {},
           std::vector<std::vector<std::string>> sections = {}) {
    if (chunk_texts.empty()) chunk_texts.push_back(doc.text);
    if (doc.text.empty()) {
      for (const auto& t : chunk_texts) doc.text += t + "\n\n";
    }
    std::vector<Chunk> chunks;
    for (size_t i = 0; i < chunk_texts.size(); ++i) {
      Chunk c;
      c.id = doc.id + "#" + std::to_string(i);
      c.doc_id = doc.id;
      c.ordinal = static_cast<uint32_t>(i);
      c.text = chunk_texts[i];
      if (i < sections.size()) c.section_path = sections[i];
      chunks.push_back(std::move(c));
    }
    std::vector<float> vecs;
    EXPECT_TRUE(embedder_->embed(chunk_texts, EmbedRole::kPassage, vecs).is_ok());
    auto r = store_->upsert(doc, chunks, vecs);
    EXPECT_TRUE(r.is_ok()) << doc.id << ": " << r.status().to_string();
  }

  Store& store() { return *store_; }
  const GloveSifEmbedder& embedder() const { return *embedder_; }
  const fs::path& dir() const { return dir_; }

 private:
  // 12 dims: 0-2 network, 3-5 printing, 6-8 database, 9-10 access, 11 shared
  // by frequent function words.
  void write_vocab() {
    struct W {
      const char* word;
      int topic;  // dim block start, or -1 for function words
      float jitter;
    };
    const W words[] = {
        {"the", -1, 0.1f},       {"a", -1, 0.2f},          {"to", -1, 0.3f},        {"is", -1, 0.4f},
        {"after", -1, 0.5f},     {"and", -1, 0.6f},        {"on", -1, 0.7f},        {"of", -1, 0.8f},
        {"network", 0, 0.1f},    {"connection", 0, 0.2f},  {"vpn", 0, 0.3f},        {"tunnel", 0, 0.4f},
        {"disconnects", 0, 0.5f},{"drops", 0, 0.6f},       {"wifi", 0, 0.7f},       {"router", 0, 0.8f},
        {"printer", 3, 0.1f},    {"paper", 3, 0.2f},       {"toner", 3, 0.3f},      {"print", 3, 0.4f},
        {"jam", 3, 0.5f},        {"tray", 3, 0.6f},        {"database", 6, 0.1f},   {"oracle", 6, 0.2f},
        {"table", 6, 0.3f},      {"query", 6, 0.4f},       {"index", 6, 0.5f},      {"slow", 6, 0.6f},
        {"password", 9, 0.1f},   {"reset", 9, 0.2f},       {"account", 9, 0.3f},    {"locked", 9, 0.4f},
        {"login", 9, 0.5f},      {"error", -1, 0.9f},      {"restart", -1, 0.95f},  {"users", -1, 0.85f},
    };
    std::vector<std::string> names;
    std::vector<float> vecs;
    for (const W& w : words) {
      names.push_back(w.word);
      std::vector<float> v(12, 0.0f);
      if (w.topic < 0) {
        v[11] = 1.0f;
        v[static_cast<size_t>(w.jitter * 10) % 11] = 0.2f;
      } else {
        v[w.topic] = 1.0f;
        v[w.topic + 1] = w.jitter;
        v[w.topic + 2] = 1.0f - w.jitter;
        v[11] = 0.3f;
      }
      vecs.insert(vecs.end(), v.begin(), v.end());
    }
    EXPECT_TRUE(write_glove_file(names, vecs, 12, dir_ / "toy.bin").is_ok());
  }

  fs::path dir_;
  std::unique_ptr<GloveSifEmbedder> embedder_;
  std::unique_ptr<Store> store_;
};

inline Document make_doc(std::string id, std::string title, std::string kind, std::string text) {
  Document d;
  d.id = std::move(id);
  d.title = std::move(title);
  d.kind = std::move(kind);
  d.source = "api";
  d.url = "https://kb.example.com/" + d.id;
  d.text = std::move(text);
  return d;
}

}  // namespace ragd::testing

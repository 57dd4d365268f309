// Ingest, one batch at a time: normalise -> skip unchanged -> chunk ->
// embed (one call for the whole batch) -> analyse for BM25 -> write (one
// synced batch). The write of batch N (RocksDB, fsync, HNSW inserts) overlaps
// the preparation, embedding and analysis of batch N+1 on the caller's
// thread.
#include "ingest/pipeline.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <future>
#include <span>

#include "ragd/chunk_text.h"

namespace ragd {

namespace {

constexpr size_t kMaxErrorLines = 1000;  // the count goes on; the lines stop

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Work {
  Document doc;
  const StateWrite* state = nullptr;  // written with the document (add_all_with_state)
  std::vector<Chunk> chunks;
  std::shared_ptr<const ChunkAnalysis> analysis;  // BM25 terms, made here, off the writer's lock
  size_t first_vector = 0;  // index of its first chunk's vector in the batch
  bool failed = false;
};

}  // namespace

// A batch whose store write runs on the writer thread. The documents, chunks
// and vectors live here until the write has returned.
struct Ingestor::InFlight {
  std::vector<Work> work;
  std::vector<float> vectors;
  std::vector<const Work*> written;
  std::chrono::steady_clock::time_point started;
  std::future<std::vector<Result<UpsertResult>>> results;
};

Ingestor::Ingestor(Store& store, const Embedder& embedder, IngestOptions options)
    : store_(store), embedder_(embedder), options_(options) {
  if (options_.batch_documents == 0) options_.batch_documents = 1;
}

Ingestor::~Ingestor() {
  if (in_flight_ && in_flight_->results.valid()) in_flight_->results.wait();
}

void Ingestor::add(Document doc) {
  ++stats_.seen;
  // Over a metadata limit: fails here, before it is queued, normalised or
  // stored. The message names the document.
  if (Status s = check_metadata_limits(doc, options_.limits); !s.is_ok()) {
    ++stats_.failed;
    if (stats_.errors.size() < kMaxErrorLines) stats_.errors.push_back(s.to_string());
    if (on_progress) on_progress(stats_);
    return;
  }
  pending_.push_back(std::move(doc));
  if (pending_.size() >= options_.batch_documents) flush_batch(false);
}

void Ingestor::flush() { flush_batch(true); }

Status Ingestor::add_with_state(Document doc, const StateWrite& state) {
  std::vector<Document> one;
  one.push_back(std::move(doc));
  return add_all_with_state(std::move(one), std::span<const StateWrite>(&state, 1));
}

Status Ingestor::add_all_with_state(std::vector<Document> docs, std::span<const StateWrite> states) {
  assert(docs.size() == states.size() && !docs.empty());
  flush();
  // A throw (std::bad_alloc) must leave no pointer into the caller's
  // states, nor its documents queued for the next flush().
  struct Reset {
    Ingestor& in;
    ~Reset() {
      in.pending_.clear();
      in.pending_states_.clear();
      in.write_state_ = nullptr;
    }
  } reset{*this};
  write_state_ = &states.back();
  state_written_ = false;
  state_error_ = Status::ok();
  // Queued here rather than by add(), which would start a write at
  // batch_documents: these go in one write.
  for (size_t i = 0; i < docs.size(); ++i) {
    ++stats_.seen;
    if (Status s = check_metadata_limits(docs[i], options_.limits); !s.is_ok()) {
      ++stats_.failed;
      if (stats_.errors.size() < kMaxErrorLines) stats_.errors.push_back(s.to_string());
      if (on_progress) on_progress(stats_);
      continue;
    }
    pending_.push_back(std::move(docs[i]));
    pending_states_.push_back(&states[i]);
  }
  flush_batch(true);
  pending_states_.clear();
  const StateWrite& last = *write_state_;
  write_state_ = nullptr;
  if (state_written_) return Status::ok();
  if (!state_error_.is_ok()) return state_error_;
  return store_.put_state(last.key, last.value);
}

void Ingestor::flush_batch(bool durable) {
  if (pending_.empty()) {
    if (durable) finish_write();
    return;
  }
  std::vector<Document> batch = std::move(pending_);
  pending_.clear();
  std::vector<const StateWrite*> states = std::move(pending_states_);
  pending_states_.clear();
  auto fail = [&](const std::string& what, const Status& s) {
    ++stats_.failed;
    if (stats_.errors.size() < kMaxErrorLines) stats_.errors.push_back(what + ": " + s.to_string());
    if (on_progress) on_progress(stats_);
  };
  auto name = [](const Document& d) { return d.id.empty() ? (d.origin.empty() ? "document" : d.origin) : d.id; };

  if (!encoder_bound_) {
    Status s = store_.bind_encoder(embedder_.fingerprint(), embedder_.dim());
    if (!s.is_ok()) {
      if (write_state_) state_error_ = s;  // not the document's fault: retry it
      for (const auto& d : batch) fail(name(d), s);
      if (durable) finish_write();
      return;
    }
    encoder_bound_ = true;
  }

  // 1-3. Normalise, skip what the store already has, chunk.
  auto t0 = std::chrono::steady_clock::now();
  const Chunker chunker(options_.chunker);
  std::vector<Work> work;
  std::vector<std::string> texts;
  work.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    Document& doc = batch[i];
    Status s = normalize_document(doc);
    if (!s.is_ok()) { fail(name(doc), s); continue; }
    if (store_.is_current(doc.id, Store::content_hash(doc))) {
      ++stats_.unchanged;
      if (on_progress) on_progress(stats_);
      continue;
    }
    Work w;
    try {
      w.chunks = chunker.split(doc);
    } catch (const std::bad_alloc&) {
      fail(name(doc), Status::resource_exhausted("out of memory while chunking"));
      continue;
    }
    if (w.chunks.size() > options_.limits.max_chunks) {
      fail(name(doc), Status::resource_exhausted(std::to_string(w.chunks.size()) + " chunks, more than the limit of " +
                                                 std::to_string(options_.limits.max_chunks) +
                                                 " per document (split the file, or raise max_chunks)"));
      continue;
    }
    w.first_vector = texts.size();
    for (const auto& c : w.chunks) texts.push_back(chunk_embed_text(doc.title, c));
    w.doc = std::move(doc);
    w.state = i < states.size() ? states[i] : nullptr;
    work.push_back(std::move(w));
  }
  stats_.seconds_prepare += seconds_since(t0);
  if (work.empty()) {
    if (durable) finish_write();
    return;
  }

  // 4. Embed every chunk of the batch in one call; if that fails, embed
  // document by document so one bad document fails alone.
  t0 = std::chrono::steady_clock::now();
  const size_t dim = static_cast<size_t>(embedder_.dim());
  std::vector<float> vectors;
  vectors.reserve(texts.size() * dim);
  Status es = embedder_.embed(texts, EmbedRole::kPassage, vectors);
  if (!es.is_ok() || vectors.size() != texts.size() * dim) {
    vectors.assign(texts.size() * dim, 0.0f);
    for (auto& w : work) {
      std::vector<float> one;
      std::span<const std::string> mine(texts.data() + w.first_vector, w.chunks.size());
      Status s = embedder_.embed(mine, EmbedRole::kPassage, one);
      if (s.is_ok() && one.size() != mine.size() * dim)
        s = Status::internal("embedder returned " + std::to_string(one.size()) + " floats for " +
                             std::to_string(mine.size()) + " texts of dim " + std::to_string(dim));
      if (!s.is_ok()) {
        w.failed = true;
        if (write_state_) state_error_ = s.with_context("embedding");  // the encoder's fault: retry it
        fail(w.doc.id, s.with_context("embedding"));
        continue;
      }
      std::copy(one.begin(), one.end(), vectors.begin() + static_cast<ptrdiff_t>(w.first_vector * dim));
    }
  }

  stats_.seconds_embed += seconds_since(t0);
  // A document the encoder failed is to be retried, so no state may move
  // past it: none of these is written.
  if (write_state_ && !state_error_.is_ok()) {
    if (durable) finish_write();
    return;
  }

  // 5. Analyse the chunks for BM25 here rather than in the store's write,
  // which is the longer stage of the two.
  t0 = std::chrono::steady_clock::now();
  for (auto& w : work) {
    if (!w.failed) w.analysis = Store::analyze_chunks(w.doc, w.chunks);
  }
  stats_.seconds_analyze += seconds_since(t0);

  // 6. Write: one synced batch; each document still all-or-nothing. Only
  // one write is in flight: the previous one is accounted for first, so
  // documents are written in the order they came.
  finish_write();
  auto f = std::make_unique<InFlight>();
  f->work = std::move(work);
  f->vectors = std::move(vectors);
  std::vector<DocumentWrite> writes;
  for (const auto& w : f->work) {
    if (w.failed) continue;
    DocumentWrite dw;
    dw.doc = &w.doc;
    dw.chunks = w.chunks;
    dw.vectors = std::span<const float>(f->vectors.data() + w.first_vector * dim, w.chunks.size() * dim);
    dw.analysis = w.analysis;
    dw.state = w.state;
    writes.push_back(dw);
    f->written.push_back(&w);
  }
  f->started = std::chrono::steady_clock::now();
  Store& store = store_;
  f->results = store_writer_.submit([&store, writes = std::move(writes)] { return store.upsert_batch(writes); });
  in_flight_ = std::move(f);
  if (durable) finish_write();
}

void Ingestor::finish_write() {
  if (!in_flight_) return;
  std::unique_ptr<InFlight> f = std::move(in_flight_);
  std::vector<Result<UpsertResult>> results = f->results.get();
  // Time from starting the write to having its results: it overlaps the
  // next batch's preparation and embedding.
  stats_.seconds_write += seconds_since(f->started);
  auto fail = [&](const std::string& what, const Status& s) {
    ++stats_.failed;
    if (stats_.errors.size() < kMaxErrorLines) stats_.errors.push_back(what + ": " + s.to_string());
    if (on_progress) on_progress(stats_);
  };
  const auto& written = f->written;
  for (size_t i = 0; i < written.size(); ++i) {
    const Document& d = written[i]->doc;
    if (i >= results.size()) { fail(d.id, Status::internal("store returned too few results")); continue; }
    const auto& r = results[i];
    if (!r.is_ok()) {
      const StatusCode c = r.status().code();
      if (stats_.store_error.is_ok() &&
          (c == StatusCode::kNoSpace || c == StatusCode::kIoError || c == StatusCode::kCorruption)) {
        stats_.store_error = r.status();
      }
      if (write_state_ && (c == StatusCode::kNoSpace || c == StatusCode::kIoError || c == StatusCode::kCorruption)) {
        state_error_ = r.status();
      }
      fail(d.id, r.status());
      continue;
    }
    if (write_state_ && written[i]->state == write_state_) state_written_ = true;
    if (r->changed) {
      ++stats_.ingested;
      stats_.chunks += r->chunks;
    } else {
      ++stats_.unchanged;
    }
    if (on_progress) on_progress(stats_);
  }
}

}  // namespace ragd

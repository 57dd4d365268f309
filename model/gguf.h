// GGUF v3 (and v2) files: a validating, memory-mapped reader and a writer.
//
// The reader checks every length, count, type id, shape and offset against the
// size of the file before it touches the bytes, so a truncated or hostile file
// gives a Status ("error loading model <path>: tensor 'x' extends past end of
// file ...") and never a crash or an out-of-bounds read. After open() a
// GgufFile is immutable: share it between threads freely. Its string_views and
// data() pointers stay valid for the lifetime of the GgufFile.
//
// The writer (GgufWriter) builds a file in memory with any metadata value type
// (nested arrays included) and tensors of any ggml type, aligned as the format
// asks; tests use it to make small models with chosen weights.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ragd/status.h"

namespace ragd {

// ggml tensor types, with ggml's numbering (ids 4, 5, 31-33, 36-38 were removed
// upstream and are rejected).
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35,
};
inline constexpr uint32_t kGgmlTypeCount = 39;

struct GgmlTypeTraits {
  const char* name;    // "q8_0"
  int64_t block_size;  // elements per block (1 for plain types)
  size_t type_size;    // bytes per block
};

// nullptr for an unknown or removed type id.
const GgmlTypeTraits* ggml_type_traits(uint32_t type);
const char* ggml_type_name(GgmlType type);  // "?" when unknown
// Bytes of a row of `ne` elements; ne must be a multiple of the block size.
size_t ggml_row_size(GgmlType type, int64_t ne);

// Metadata value types, with GGUF's numbering.
enum class GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
  kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11,
  kFloat64 = 12,
};
const char* gguf_type_name(GgufType type);
// Size of a fixed-size scalar type; 0 for string and array.
size_t gguf_type_size(GgufType type);

// One metadata value: a scalar, a string or an array (of scalars, strings or
// arrays). Strings and numeric array payloads point into the file's bytes.
class GgufValue {
 public:
  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::kArray; }

  // Scalars. Integer accessors accept every integer type (and bool) whose
  // value fits; as_float accepts float32/float64 and integers.
  std::optional<uint64_t> as_uint() const;
  std::optional<int64_t> as_int() const;
  std::optional<double> as_float() const;
  std::optional<bool> as_bool() const;
  std::optional<std::string_view> as_string() const;

  // Arrays. array_type() is the element type (kArray for arrays of arrays).
  GgufType array_type() const { return elem_type_; }
  size_t array_size() const { return count_; }
  // Element i of a numeric/bool array as int64/double (REQUIRES: i < size).
  int64_t array_int(size_t i) const;
  double array_float(size_t i) const;
  // Element i of a string array (REQUIRES: string array, i < size).
  std::string_view array_string(size_t i) const { return strings_[i]; }
  const std::vector<std::string_view>& array_strings() const { return strings_; }
  // Element i of an array of arrays (REQUIRES: array of arrays, i < size).
  const GgufValue& array_value(size_t i) const { return arrays_[i]; }
  // Raw little-endian payload of a numeric array (count * element size bytes).
  const uint8_t* array_data() const { return raw_; }

  // Short human-readable rendering ("[32000 strings]", "1e-05", "\"llama\"").
  std::string to_display_string(size_t max_len = 80) const;

 private:
  friend class GgufParser;
  GgufType type_ = GgufType::kUint8;
  uint64_t u_ = 0;     // unsigned scalars and bool
  int64_t i_ = 0;      // signed scalars
  double f_ = 0;       // float scalars
  std::string_view str_;
  GgufType elem_type_ = GgufType::kUint8;
  size_t count_ = 0;
  const uint8_t* raw_ = nullptr;
  std::vector<std::string_view> strings_;
  std::vector<GgufValue> arrays_;
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  int n_dims = 0;
  // Shape in ggml order: ne[0] is the row length (input features); unused
  // dimensions are 1.
  std::array<int64_t, 4> ne = {1, 1, 1, 1};
  uint64_t offset = 0;   // from the start of the data section
  uint64_t n_bytes = 0;  // validated to lie inside the file
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Maps and validates a file. Errors: kNotFound / kIoError for the file,
  // kCorruption for malformed content.
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Parses a copy of `bytes` (fuzzing, tests). `name` appears in errors.
  static Result<std::unique_ptr<GgufFile>> from_bytes(std::span<const uint8_t> bytes,
                                                      std::string name = "<memory>");
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t file_size() const { return size_; }
  size_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }

  // Metadata in file order.
  const std::vector<GgufKv>& kvs() const { return kvs_; }
  const GgufValue* find(std::string_view key) const;

  // Typed getters: kNotFound when absent, kInvalidArgument when the type does
  // not fit (the message names the key).
  Result<uint32_t> get_u32(std::string_view key) const;
  Result<int32_t> get_i32(std::string_view key) const;
  Result<uint64_t> get_u64(std::string_view key) const;
  Result<float> get_f32(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::string_view> get_str(std::string_view key) const;
  // An array; when elem_type is given the array must have that element type.
  Result<const GgufValue*> get_arr(std::string_view key,
                                   std::optional<GgufType> elem_type = std::nullopt) const;
  // Same, with a default when the key is absent (a wrong type is still an error).
  Result<uint32_t> get_u32_or(std::string_view key, uint32_t def) const;
  Result<float> get_f32_or(std::string_view key, float def) const;
  Result<bool> get_bool_or(std::string_view key, bool def) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* tensor(std::string_view name) const;
  // Start of a tensor's bytes (n_bytes long, inside the mapping).
  const uint8_t* data(const GgufTensorInfo& info) const { return base_ + data_offset_ + info.offset; }

 private:
  friend class GgufParser;
  GgufFile() = default;

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;              // mmap'ed region, or nullptr
  std::vector<uint8_t> owned_;       // from_bytes copy
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::unordered_map<std::string_view, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

// A human-readable summary for `ragd model info`: architecture, parameter
// count, tensor types, vocabulary, context length and chat template.
std::string describe_gguf(const GgufFile& file);

// Builds a GGUF v3 file. Keys and tensors are written in insertion order;
// tensor data are aligned to `alignment` (general.alignment is written when it
// is not the default 32).
class GgufWriter {
 public:
  // A metadata value, already encoded (type + payload). Build with the
  // factories; arrays may nest.
  struct Value {
    GgufType type = GgufType::kUint8;
    std::string payload;  // little-endian encoding without the type id

    static Value u8(uint8_t v);
    static Value i8(int8_t v);
    static Value u16(uint16_t v);
    static Value i16(int16_t v);
    static Value u32(uint32_t v);
    static Value i32(int32_t v);
    static Value u64(uint64_t v);
    static Value i64(int64_t v);
    static Value f32(float v);
    static Value f64(double v);
    static Value boolean(bool v);
    static Value str(std::string_view v);
    // A numeric array: `count` elements of scalar type `elem` at `data`.
    static Value numeric_array(GgufType elem, const void* data, size_t count);
    static Value array_u32(std::span<const uint32_t> v) { return numeric_array(GgufType::kUint32, v.data(), v.size()); }
    static Value array_i32(std::span<const int32_t> v) { return numeric_array(GgufType::kInt32, v.data(), v.size()); }
    static Value array_f32(std::span<const float> v) { return numeric_array(GgufType::kFloat32, v.data(), v.size()); }
    static Value array_str(std::span<const std::string> v);
    // An array of values of one type (strings, scalars or arrays); `elem` is
    // used when `items` is empty.
    static Value array(std::span<const Value> items, GgufType elem = GgufType::kUint8);
  };

  void set_alignment(uint32_t alignment);  // power of two; Default: 32
  void add(std::string key, Value value);
  void add_u32(std::string key, uint32_t v) { add(std::move(key), Value::u32(v)); }
  void add_i32(std::string key, int32_t v) { add(std::move(key), Value::i32(v)); }
  void add_u64(std::string key, uint64_t v) { add(std::move(key), Value::u64(v)); }
  void add_f32(std::string key, float v) { add(std::move(key), Value::f32(v)); }
  void add_bool(std::string key, bool v) { add(std::move(key), Value::boolean(v)); }
  void add_str(std::string key, std::string_view v) { add(std::move(key), Value::str(v)); }

  // Adds a tensor. `ne` is in ggml order (ne[0] = row length), 1 to 4 dims;
  // `bytes` must be exactly the tensor's size for `type`.
  Status add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                    std::span<const uint8_t> bytes);
  Status add_tensor_f32(std::string name, std::vector<int64_t> ne, std::span<const float> values);

  std::vector<uint8_t> to_bytes() const;
  Status write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> bytes;
  };
  uint32_t alignment_ = 32;
  std::vector<std::pair<std::string, Value>> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace ragd

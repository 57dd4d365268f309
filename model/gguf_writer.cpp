// GGUF writer: builds the whole file in memory, then writes it at once.
#include <cstdio>
#include <cstring>
#include <fstream>

#include "model/gguf.h"

namespace ragd {

namespace {

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}


void put_str(std::string& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.append(s);
}

template <class T>
GgufWriter::Value scalar(GgufType t, T v) {
  GgufWriter::Value val;
  val.type = t;
  put(val.payload, v);
  return val;
}

}  // namespace

using Value = GgufWriter::Value;

Value Value::u8(uint8_t v) { return scalar(GgufType::kUint8, v); }
Value Value::i8(int8_t v) { return scalar(GgufType::kInt8, v); }
Value Value::u16(uint16_t v) { return scalar(GgufType::kUint16, v); }
Value Value::i16(int16_t v) { return scalar(GgufType::kInt16, v); }
Value Value::u32(uint32_t v) { return scalar(GgufType::kUint32, v); }
Value Value::i32(int32_t v) { return scalar(GgufType::kInt32, v); }
Value Value::u64(uint64_t v) { return scalar(GgufType::kUint64, v); }
Value Value::i64(int64_t v) { return scalar(GgufType::kInt64, v); }
Value Value::f32(float v) { return scalar(GgufType::kFloat32, v); }
Value Value::f64(double v) { return scalar(GgufType::kFloat64, v); }
Value Value::boolean(bool v) { return scalar(GgufType::kBool, static_cast<uint8_t>(v ? 1 : 0)); }

Value Value::str(std::string_view v) {
  Value val;
  val.type = GgufType::kString;
  put_str(val.payload, v);
  return val;
}

Value Value::numeric_array(GgufType elem, const void* data, size_t count) {
  const size_t es = gguf_type_size(elem);
  assert(es != 0 && "numeric_array needs a fixed-size element type");
  Value val;
  val.type = GgufType::kArray;
  put<uint32_t>(val.payload, static_cast<uint32_t>(elem));
  put<uint64_t>(val.payload, count);
  if (count) val.payload.append(static_cast<const char*>(data), count * es);
  return val;
}

Value Value::array_str(std::span<const std::string> v) {
  Value val;
  val.type = GgufType::kArray;
  put<uint32_t>(val.payload, static_cast<uint32_t>(GgufType::kString));
  put<uint64_t>(val.payload, v.size());
  for (const std::string& s : v) put_str(val.payload, s);
  return val;
}

Value Value::array(std::span<const Value> items, GgufType elem) {
  if (!items.empty()) elem = items[0].type;
  Value val;
  val.type = GgufType::kArray;
  put<uint32_t>(val.payload, static_cast<uint32_t>(elem));
  put<uint64_t>(val.payload, items.size());
  for (const Value& it : items) {
    assert(it.type == elem && "array elements must share one type");
    val.payload += it.payload;
  }
  return val;
}

void GgufWriter::set_alignment(uint32_t alignment) {
  assert(alignment != 0 && (alignment & (alignment - 1)) == 0);
  alignment_ = alignment;
}

void GgufWriter::add(std::string key, Value value) { kvs_.emplace_back(std::move(key), std::move(value)); }

Status GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                              std::span<const uint8_t> bytes) {
  const GgmlTypeTraits* tr = ggml_type_traits(static_cast<uint32_t>(type));
  if (!tr) return Status::invalid_argument("tensor '" + name + "': unknown ggml type");
  if (ne.empty() || ne.size() > 4) return Status::invalid_argument("tensor '" + name + "': needs 1 to 4 dims");
  int64_t n = 1;
  for (int64_t d : ne) {
    if (d < 0) return Status::invalid_argument("tensor '" + name + "': negative dimension");
    n *= d;
  }
  if (ne[0] % tr->block_size != 0) {
    return Status::invalid_argument("tensor '" + name + "': row length not a multiple of the block size");
  }
  const size_t want = static_cast<size_t>(n / tr->block_size) * tr->type_size;
  if (bytes.size() != want) {
    return Status::invalid_argument("tensor '" + name + "': got " + std::to_string(bytes.size()) +
                                    " bytes, shape and type need " + std::to_string(want));
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) return Status::already_exists("tensor '" + name + "' added twice");
  }
  tensors_.push_back({std::move(name), type, std::move(ne), std::vector<uint8_t>(bytes.begin(), bytes.end())});
  return Status::ok();
}

Status GgufWriter::add_tensor_f32(std::string name, std::vector<int64_t> ne, std::span<const float> values) {
  return add_tensor(std::move(name), GgmlType::F32, std::move(ne),
                    std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values.data()), values.size() * 4));
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::string out = "GGUF";
  auto pad = [&] { out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, '\0'); };
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  bool write_alignment = alignment_ != 32;
  for (const auto& [k, v] : kvs_) {
    if (k == "general.alignment") write_alignment = false;  // the caller wrote it
  }
  put<uint64_t>(out, kvs_.size() + (write_alignment ? 1 : 0));
  for (const auto& [k, v] : kvs_) {
    put_str(out, k);
    put<uint32_t>(out, static_cast<uint32_t>(v.type));
    out += v.payload;
  }
  if (write_alignment) {
    put_str(out, "general.alignment");
    put<uint32_t>(out, static_cast<uint32_t>(GgufType::kUint32));
    put<uint32_t>(out, alignment_);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_str(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(out, static_cast<uint64_t>(d));
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset += (t.bytes.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  pad();
  for (const Tensor& t : tensors_) {
    out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    pad();
  }
  return std::vector<uint8_t>(out.begin(), out.end());
}

Status GgufWriter::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status::io_error("cannot create " + path + ": " + std::strerror(errno));
  size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
  int rc = std::fclose(f);
  if (n != bytes.size() || rc != 0) return Status::io_error("cannot write " + path);
  return Status::ok();
}

}  // namespace ragd

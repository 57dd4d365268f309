// GgufWriter -> GgufFile round trips: every value type, nested arrays, tensors
// of several ggml types, alignment, and the mmap path through a real file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "model/gguf.h"

namespace ragd {
namespace {

using V = GgufWriter::Value;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

TEST(GgufRoundtrip, EveryScalarType) {
  GgufWriter w;
  w.add("u8", V::u8(200));
  w.add("i8", V::i8(-100));
  w.add("u16", V::u16(60000));
  w.add("i16", V::i16(-30000));
  w.add("u32", V::u32(4000000000u));
  w.add("i32", V::i32(-2000000000));
  w.add("u64", V::u64(1ull << 60));
  w.add("i64", V::i64(-(1ll << 60)));
  w.add("f32", V::f32(1.5e-5f));
  w.add("f64", V::f64(-2.25));
  w.add("bool", V::boolean(true));
  w.add("str", V::str("héllo\nworld"));
  w.add("empty", V::str(""));
  auto bytes = w.to_bytes();
  auto r = GgufFile::from_bytes(bytes, "scalars");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const GgufFile& f = **r;
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.kvs().size(), 13u);
  EXPECT_EQ(f.kvs()[0].key, "u8");
  EXPECT_EQ(*f.find("u8")->as_uint(), 200u);
  EXPECT_EQ(*f.find("i8")->as_int(), -100);
  EXPECT_EQ(*f.find("u16")->as_uint(), 60000u);
  EXPECT_EQ(*f.find("i16")->as_int(), -30000);
  EXPECT_EQ(*f.get_u32("u32"), 4000000000u);
  EXPECT_EQ(*f.get_i32("i32"), -2000000000);
  EXPECT_EQ(*f.get_u64("u64"), 1ull << 60);
  EXPECT_EQ(*f.find("i64")->as_int(), -(1ll << 60));
  EXPECT_FLOAT_EQ(*f.get_f32("f32"), 1.5e-5f);
  EXPECT_DOUBLE_EQ(*f.find("f64")->as_float(), -2.25);
  EXPECT_TRUE(*f.get_bool("bool"));
  EXPECT_EQ(*f.get_str("str"), "héllo\nworld");
  EXPECT_EQ(*f.get_str("empty"), "");
  EXPECT_EQ(f.find("u8")->type(), GgufType::kUint8);
  EXPECT_EQ(f.find("f64")->type(), GgufType::kFloat64);

  // Typed getters name the key on a mismatch or absence.
  auto bad = f.get_str("u32");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("'u32'"), std::string::npos) << bad.status().message();
  EXPECT_EQ(f.get_u32("nope").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(f.get_u32("i32").is_ok());  // negative does not fit
  EXPECT_EQ(*f.get_u32_or("nope", 7), 7u);
}

TEST(GgufRoundtrip, ArraysIncludingNested) {
  GgufWriter w;
  std::vector<std::string> strs = {"a", "", "▁the", std::string("x\0y", 3)};
  std::vector<float> fl = {1.f, -2.5f, 3.25f};
  std::vector<int32_t> in = {-1, 0, 7};
  std::vector<uint32_t> un = {1, 2, 3, 4};
  w.add("strs", V::array_str(strs));
  w.add("fl", V::array_f32(fl));
  w.add("in", V::array_i32(in));
  w.add("un", V::array_u32(un));
  std::vector<V> inner1 = {V::u16(1), V::u16(2)};
  std::vector<V> inner2 = {V::u16(3)};
  std::vector<V> outer = {V::array(inner1), V::array(inner2), V::array({}, GgufType::kUint16)};
  w.add("nested", V::array(outer));
  std::vector<V> sv = {V::array_str(strs), V::array_str({})};
  w.add("nested_str", V::array(sv));
  w.add("empty", V::array({}, GgufType::kFloat64));
  std::vector<V> bools = {V::boolean(true), V::boolean(false)};
  w.add("bools", V::array(bools));

  auto r = GgufFile::from_bytes(w.to_bytes());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const GgufFile& f = **r;
  auto a = f.get_arr("strs", GgufType::kString);
  ASSERT_TRUE(a.is_ok());
  ASSERT_EQ((*a)->array_size(), 4u);
  for (size_t i = 0; i < strs.size(); ++i) EXPECT_EQ((*a)->array_string(i), strs[i]);
  EXPECT_FALSE(f.get_arr("strs", GgufType::kFloat32).is_ok());
  auto af = *f.get_arr("fl", GgufType::kFloat32);
  for (size_t i = 0; i < fl.size(); ++i) EXPECT_EQ(af->array_float(i), fl[i]);
  auto ai = *f.get_arr("in", GgufType::kInt32);
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(ai->array_int(i), in[i]);
  auto au = *f.get_arr("un");
  EXPECT_EQ(au->array_type(), GgufType::kUint32);
  EXPECT_EQ(au->array_int(3), 4);
  auto n = *f.get_arr("nested", GgufType::kArray);
  ASSERT_EQ(n->array_size(), 3u);
  EXPECT_EQ(n->array_value(0).array_type(), GgufType::kUint16);
  ASSERT_EQ(n->array_value(0).array_size(), 2u);
  EXPECT_EQ(n->array_value(0).array_int(1), 2);
  EXPECT_EQ(n->array_value(1).array_int(0), 3);
  EXPECT_EQ(n->array_value(2).array_size(), 0u);
  auto ns = *f.get_arr("nested_str");
  EXPECT_EQ(ns->array_value(0).array_string(2), "▁the");
  EXPECT_EQ(ns->array_value(1).array_size(), 0u);
  EXPECT_EQ((*f.get_arr("empty"))->array_size(), 0u);
  auto b = *f.get_arr("bools", GgufType::kBool);
  EXPECT_EQ(b->array_int(0), 1);
  EXPECT_EQ(b->array_int(1), 0);
}

TEST(GgufRoundtrip, TensorsThroughFileWithAlignment) {
  for (uint32_t alignment : {32u, 64u, 4096u}) {
    GgufWriter w;
    w.set_alignment(alignment);
    w.add_str("general.architecture", "llama");
    std::vector<float> a(3 * 5);
    for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i));
    ASSERT_TRUE(w.add_tensor_f32("a", {5, 3}, a).is_ok());
    auto q8 = random_bytes(2 * 34 * 2, 7);  // 64 x 2 in Q8_0
    ASSERT_TRUE(w.add_tensor("b.q8", GgmlType::Q8_0, {64, 2}, q8).is_ok());
    auto q4k = random_bytes(144, 8);  // 256 in Q4_K
    ASSERT_TRUE(w.add_tensor("c", GgmlType::Q4_K, {256}, q4k).is_ok());
    auto f16 = random_bytes(2 * 3 * 2 * 2 * 2, 9);
    ASSERT_TRUE(w.add_tensor("d", GgmlType::F16, {3, 2, 2, 2}, f16).is_ok());
    EXPECT_FALSE(w.add_tensor("e", GgmlType::Q8_0, {33}, q8).is_ok());  // not a block multiple
    EXPECT_FALSE(w.add_tensor("a", GgmlType::F32, {1}, random_bytes(4, 1)).is_ok());  // duplicate

    auto path = (std::filesystem::temp_directory_path() / ("ragd_gguf_rt_" + std::to_string(alignment) + ".gguf")).string();
    ASSERT_TRUE(w.write(path).is_ok());
    auto r = GgufFile::open(path);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const GgufFile& f = **r;
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), 4u);
    const GgufTensorInfo* ta = f.tensor("a");
    ASSERT_NE(ta, nullptr);
    EXPECT_EQ(ta->type, GgmlType::F32);
    EXPECT_EQ(ta->n_dims, 2);
    EXPECT_EQ(ta->ne[0], 5);
    EXPECT_EQ(ta->ne[1], 3);
    EXPECT_EQ(ta->n_bytes, a.size() * 4);
    EXPECT_EQ(std::memcmp(f.data(*ta), a.data(), ta->n_bytes), 0);
    const GgufTensorInfo* tb = f.tensor("b.q8");
    ASSERT_NE(tb, nullptr);
    EXPECT_EQ(tb->n_bytes, q8.size());
    EXPECT_EQ(std::memcmp(f.data(*tb), q8.data(), q8.size()), 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data(*tb)) % alignment, 0u);
    const GgufTensorInfo* tc = f.tensor("c");
    EXPECT_EQ(std::memcmp(f.data(*tc), q4k.data(), q4k.size()), 0);
    const GgufTensorInfo* td = f.tensor("d");
    EXPECT_EQ(td->n_dims, 4);
    EXPECT_EQ(td->n_elements(), 24);
    EXPECT_EQ(std::memcmp(f.data(*td), f16.data(), f16.size()), 0);
    EXPECT_EQ(f.tensor("zz"), nullptr);
    std::filesystem::remove(path);
  }
}

TEST(GgufRoundtrip, TypeTraits) {
  EXPECT_EQ(ggml_row_size(GgmlType::Q8_0, 64), 68u);
  EXPECT_EQ(ggml_row_size(GgmlType::Q4_K, 512), 288u);
  EXPECT_EQ(ggml_row_size(GgmlType::Q6_K, 256), 210u);
  EXPECT_EQ(ggml_row_size(GgmlType::BF16, 3), 6u);
  EXPECT_EQ(ggml_type_traits(4), nullptr);
  EXPECT_EQ(ggml_type_traits(39), nullptr);
  EXPECT_STREQ(ggml_type_name(GgmlType::Q4_K), "q4_K");
}

TEST(GgufRoundtrip, MissingFileIsNotFound) {
  auto r = GgufFile::open((std::filesystem::temp_directory_path() / "ragd_no_such_file.gguf").string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace ragd

// The confidence map (calibration.h): the isotonic fit, its use at predict
// time, and models stored before it existed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "index/store.h"
#include "triage/calibration.h"
#include "triage/model.h"
#include "triage/triage.h"

namespace ragd::triage {
namespace {

// n predictions at confidence c of which `right` are right (label 1 of truth 1).
void add(std::vector<Scored>& p, std::vector<int>& y, size_t n, double c, size_t right) {
  for (size_t i = 0; i < n; ++i) {
    p.push_back({1, c});
    y.push_back(i < right ? 1 : 0);
  }
}

CalibrationOptions small(size_t min_points = 10, size_t min_bin = 10) {
  CalibrationOptions o;
  o.min_points = min_points;
  o.min_bin = min_bin;
  o.max_bins = 1000;
  return o;
}

TEST(TriageCalibrationTest, PoolsAdjacentViolators) {
  // Three bins: 0.2 right half the time, 0.5 less often (30%), 0.8 90%.
  // The middle one violates the order and pools with the first:
  // (0.35, 0.4) and (0.8, 0.9).
  std::vector<Scored> p;
  std::vector<int> y;
  add(p, y, 10, 0.2, 5);
  add(p, y, 10, 0.5, 3);
  add(p, y, 10, 0.8, 9);
  ConfidenceMap m = fit_confidence_map(p, y, small());
  ASSERT_EQ(m.x().size(), 2u);
  EXPECT_NEAR(m.x()[0], 0.35, 1e-6);
  EXPECT_NEAR(m.y()[0], 0.4, 1e-6);
  EXPECT_NEAR(m.x()[1], 0.8, 1e-6);
  EXPECT_NEAR(m.y()[1], 0.9, 1e-6);
  const double k = ConfidenceMap::kRankKeep;
  auto expect = [&](double c, double v) { EXPECT_NEAR(m.apply(c), (1 - k) * v + k * c, 1e-6) << c; };
  // Linear between breakpoints, the end values beyond them.
  expect(0.575, 0.65);
  expect(0.35, 0.4);
  expect(0.1, 0.4);
  expect(0.8, 0.9);
  expect(0.99, 0.9);
}

TEST(TriageCalibrationTest, MonotoneOnNoisyData) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Scored> p;
  std::vector<int> y;
  // Over-confident and noisy: right with probability c^2 (enough points
  // that the 50 bins of 100 hold the binomial noise to about +-0.05).
  for (int i = 0; i < 5000; ++i) {
    double c = 0.2 + 0.8 * u(rng);
    p.push_back({1, c});
    y.push_back(u(rng) < c * c ? 1 : 0);
  }
  ConfidenceMap m = fit_confidence_map(p, y);
  ASSERT_GE(m.x().size(), 3u);
  for (size_t i = 1; i < m.x().size(); ++i) {
    EXPECT_GT(m.x()[i], m.x()[i - 1]);
    EXPECT_GT(m.y()[i], m.y()[i - 1]);  // pooling leaves strictly rising values
  }
  double last = -1;
  for (int i = 0; i <= 1000; ++i) {
    double v = m.apply(i / 1000.0);
    EXPECT_GT(v, last) << i;  // strictly: ties of the map keep their order
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 1);
    last = v;
  }
  // It corrects the over-confidence: a 0.9 is right about 0.81 of the time.
  EXPECT_NEAR(m.apply(0.9), 0.81, 0.08);
  // And calibrates where it was fitted: ECE far below the raw one.
  EXPECT_LT(calibration_error(apply_map(m, p), y), 0.5 * calibration_error(p, y));
}

TEST(TriageCalibrationTest, IdentityWhenTooFewOrEqualConfidencesStayTogether) {
  std::vector<Scored> p;
  std::vector<int> y;
  add(p, y, 49, 0.7, 10);
  ConfidenceMap few = fit_confidence_map(p, y);  // min_points 50
  EXPECT_TRUE(few.empty());
  EXPECT_DOUBLE_EQ(few.apply(0.7), 0.7);
  std::vector<float> q = {0.2f, 0.7f, 0.1f};
  few.apply_top1(q);
  EXPECT_EQ(q, (std::vector<float>{0.2f, 0.7f, 0.1f}));
  // 60 equal confidences are one bin, whatever the bin size: one breakpoint.
  std::vector<Scored> tie;
  std::vector<int> ty;
  add(tie, ty, 60, 0.7, 30);
  ConfidenceMap one = fit_confidence_map(tie, ty);
  ASSERT_EQ(one.x().size(), 1u);
  EXPECT_NEAR(one.y()[0], 0.5, 1e-6);
}

TEST(TriageCalibrationTest, AlternativesKeepTheirOrderBelowTheTopAndTheTotalAtMostOne) {
  std::vector<Scored> p;
  std::vector<int> y;
  add(p, y, 20, 0.3, 18);  // under-confident low, over-confident high
  add(p, y, 20, 0.9, 10);
  ConfidenceMap m = fit_confidence_map(p, y, small());
  for (std::vector<float> q : {std::vector<float>{0.3f, 0.25f, 0.25f, 0.2f}, std::vector<float>{0.05f, 0.9f, 0.05f},
                               std::vector<float>{0.5f, 0.45f, 0.05f}}) {
    const size_t top = std::max_element(q.begin(), q.end()) - q.begin();
    const double c = q[top];
    std::vector<float> r = q;
    m.apply_top1(r);
    EXPECT_NEAR(r[top], m.apply(c), 1e-6);
    double total = 0;
    for (size_t i = 0; i < r.size(); ++i) {
      total += r[i];
      if (i != top) {
        EXPECT_LE(r[i], r[top]);
      }
      for (size_t j = 0; j < r.size(); ++j) {
        if (q[i] > q[j]) {
          EXPECT_GE(r[i], r[j]);
        }
      }
    }
    EXPECT_LE(total, 1 + 1e-5);
  }
}

TEST(TriageCalibrationTest, SerializedMapIsCheckedOnParse) {
  ConfidenceMap m({0.2f, 0.5f, 0.9f}, {0.1f, 0.5f, 0.95f});
  std::string b;
  m.serialize(b);
  b += "tail";
  ConfidenceMap r;
  size_t used = 0;
  ASSERT_TRUE(ConfidenceMap::parse(b, used, r));
  EXPECT_EQ(used, b.size() - 4);
  EXPECT_EQ(r.x(), m.x());
  EXPECT_EQ(r.y(), m.y());
  auto bad = [](std::vector<float> x, std::vector<float> y) {
    std::string s;
    uint32_t n = static_cast<uint32_t>(x.size());
    s.append(reinterpret_cast<const char*>(&n), 4);
    for (size_t i = 0; i < x.size(); ++i) {
      s.append(reinterpret_cast<const char*>(&x[i]), 4);
      s.append(reinterpret_cast<const char*>(&y[i]), 4);
    }
    ConfidenceMap out;
    size_t u = 0;
    return !ConfidenceMap::parse(s, u, out);
  };
  EXPECT_TRUE(bad({0.5f, 0.4f}, {0.1f, 0.2f}));    // x not rising
  EXPECT_TRUE(bad({0.4f, 0.5f}, {0.3f, 0.2f}));    // y falling
  EXPECT_TRUE(bad({0.4f, 1.5f}, {0.3f, 0.4f}));    // outside [0, 1]
  EXPECT_TRUE(bad({0.4f, NAN}, {0.3f, 0.4f}));
  EXPECT_FALSE(ConfidenceMap::parse(std::string_view(b).substr(0, 10), used, r));  // cut short
}

// A linear model of 3 labels serialized by the version before confidence
// maps (main at 86283be, format "TRF1": temperature 1.3, threshold 0.5,
// hash_bits 8, words only), with the probabilities that version served for
// the six tickets below.
constexpr unsigned char kOldModel[] = {
    0x54, 0x52, 0x46, 0x31, 0x00, 0xcd, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xf4, 0x3f, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xe0, 0x3f, 0x10, 0x00, 0x00, 0x00, 0x61, 0x73, 0x73, 0x69, 0x67, 0x6e, 0x6d,
    0x65, 0x6e, 0x74, 0x5f, 0x67, 0x72, 0x6f, 0x75, 0x70, 0x03, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00,
    0x00, 0x4e, 0x65, 0x74, 0x77, 0x6f, 0x72, 0x6b, 0x0c, 0x00, 0x00, 0x00, 0x53, 0x65, 0x72, 0x76,
    0x69, 0x63, 0x65, 0x20, 0x44, 0x65, 0x73, 0x6b, 0x09, 0x00, 0x00, 0x00, 0x4d, 0x65, 0x73, 0x73,
    0x61, 0x67, 0x69, 0x6e, 0x67, 0x08, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2a, 0x1c, 0x00, 0x00, 0x00,
    0x05, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0x0f, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0x1d, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0x24, 0x00, 0x00, 0x00, 0x42, 0x74, 0xec, 0x3f,
    0x2a, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0x45, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0x46, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0x56, 0x00, 0x00, 0x00, 0x42, 0x74, 0xec, 0x3f,
    0x5e, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0x63, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0x77, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0x7e, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0x8e, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0x98, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0xaa, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0xb1, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0xba, 0x00, 0x00, 0x00, 0x42, 0x74, 0xec, 0x3f, 0xbc, 0x00, 0x00, 0x00, 0x42, 0x74, 0xec, 0x3f,
    0xbf, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0xc5, 0x00, 0x00, 0x00, 0x42, 0x74, 0xec, 0x3f,
    0xd6, 0x00, 0x00, 0x00, 0x42, 0x74, 0xec, 0x3f, 0xdd, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0xe4, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0xee, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0xef, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0xf0, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0xf7, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40, 0xfc, 0x00, 0x00, 0x00, 0x45, 0x2d, 0x10, 0x40,
    0x03, 0x00, 0x00, 0x00, 0xab, 0xaa, 0xaa, 0x3e, 0xab, 0xaa, 0xaa, 0x3e, 0xab, 0xaa, 0xaa, 0x3e,
    0x54, 0x52, 0x4c, 0x31, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x08, 0xe6, 0xbe, 0xbe,
    0xf4, 0x47, 0x5d, 0xbd, 0x74, 0x26, 0x71, 0xbe, 0x1c, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
    0xdc, 0xed, 0x0d, 0x3c, 0x97, 0x81, 0x6f, 0x0f, 0x00, 0x00, 0x00, 0xd3, 0x9a, 0x2f, 0x3c, 0x9c,
    0x71, 0x81, 0x1d, 0x00, 0x00, 0x00, 0x9c, 0xe3, 0xe5, 0x3b, 0x7b, 0x81, 0x89, 0x24, 0x00, 0x00,
    0x00, 0x9c, 0xb7, 0x3e, 0x3c, 0x7c, 0x89, 0x81, 0x2a, 0x00, 0x00, 0x00, 0xa7, 0xec, 0xff, 0x3b,
    0x8a, 0x7a, 0x81, 0x45, 0x00, 0x00, 0x00, 0x9c, 0xe3, 0xe5, 0x3b, 0x7b, 0x81, 0x89, 0x46, 0x00,
    0x00, 0x00, 0xdc, 0xed, 0x0d, 0x3c, 0x97, 0x81, 0x6f, 0x56, 0x00, 0x00, 0x00, 0x6e, 0xda, 0x42,
    0x3c, 0x81, 0x36, 0xfe, 0x5e, 0x00, 0x00, 0x00, 0x9c, 0xe3, 0xe5, 0x3b, 0x7b, 0x81, 0x89, 0x63,
    0x00, 0x00, 0x00, 0xdc, 0xed, 0x0d, 0x3c, 0x97, 0x81, 0x6f, 0x77, 0x00, 0x00, 0x00, 0x19, 0x3d,
    0x0c, 0x3c, 0x85, 0x81, 0x7e, 0x7e, 0x00, 0x00, 0x00, 0xa7, 0xec, 0xff, 0x3b, 0x8a, 0x7a, 0x81,
    0x8e, 0x00, 0x00, 0x00, 0x19, 0x3d, 0x0c, 0x3c, 0x85, 0x81, 0x7e, 0x98, 0x00, 0x00, 0x00, 0xa7,
    0xec, 0xff, 0x3b, 0x8a, 0x7a, 0x81, 0xaa, 0x00, 0x00, 0x00, 0x9d, 0x5e, 0x0a, 0x3c, 0x7f, 0x81,
    0x81, 0xb1, 0x00, 0x00, 0x00, 0xa7, 0xec, 0xff, 0x3b, 0x8a, 0x7a, 0x81, 0xba, 0x00, 0x00, 0x00,
    0xc1, 0x68, 0x58, 0x3c, 0xfb, 0x81, 0x27, 0xbc, 0x00, 0x00, 0x00, 0x9c, 0xb7, 0x3e, 0x3c, 0x7c,
    0x89, 0x81, 0xbf, 0x00, 0x00, 0x00, 0xd3, 0x9a, 0x2f, 0x3c, 0x9c, 0x71, 0x81, 0xc5, 0x00, 0x00,
    0x00, 0x8d, 0xab, 0x60, 0x3c, 0xa1, 0x81, 0x72, 0xd6, 0x00, 0x00, 0x00, 0x9c, 0xb7, 0x3e, 0x3c,
    0x7c, 0x89, 0x81, 0xdd, 0x00, 0x00, 0x00, 0xd3, 0x9a, 0x2f, 0x3c, 0x9c, 0x71, 0x81, 0xe4, 0x00,
    0x00, 0x00, 0xdc, 0xed, 0x0d, 0x3c, 0x97, 0x81, 0x6f, 0xee, 0x00, 0x00, 0x00, 0x19, 0x3d, 0x0c,
    0x3c, 0x85, 0x81, 0x7e, 0xef, 0x00, 0x00, 0x00, 0x19, 0x3d, 0x0c, 0x3c, 0x85, 0x81, 0x7e, 0xf0,
    0x00, 0x00, 0x00, 0x9d, 0x5e, 0x0a, 0x3c, 0x7f, 0x81, 0x81, 0xf7, 0x00, 0x00, 0x00, 0xa7, 0xec,
    0xff, 0x3b, 0x8a, 0x7a, 0x81, 0xfc, 0x00, 0x00, 0x00, 0xa7, 0xec, 0xff, 0x3b, 0x8a, 0x7a, 0x81,

};

const std::vector<TicketText> kOldTickets = {{"vpn down", "tunnel drops", {}},   {"password reset", "locked out", {}},
                                             {"mail bounce", "outlook queue", {}}, {"vpn slow", "tunnel latency", {}},
                                             {"printer jam", "paper", {}},         {"mailbox full", "outlook quota", {}}};
const std::vector<std::vector<double>> kOldProbs = {
    {0.965619445, 0.0185663644, 0.0158141665}, {0.0218991842, 0.956780553, 0.0213202741},
    {0.0278450083, 0.0157819372, 0.956373036}, {0.964297175, 0.0141765177, 0.0215263292},
    {0.0233394429, 0.946796894, 0.0298636723}, {0.0153574841, 0.0299306381, 0.954711854}};

TEST(TriageCalibrationTest, AModelStoredWithoutAMapLoadsAndServesAsBefore) {
  const std::string bytes(reinterpret_cast<const char*>(kOldModel), sizeof kOldModel);
  auto m = FieldModel::deserialize(bytes);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_TRUE((*m)->calibration.empty());
  EXPECT_EQ((*m)->serialize(), bytes);  // written back in the same format
  for (size_t i = 0; i < kOldTickets.size(); ++i) {
    auto p = (*m)->probabilities(kOldTickets[i]);
    ASSERT_EQ(p.size(), 3u);
    for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(p[c], kOldProbs[i][c], 1e-6) << i;
  }
  // Through a real store, with a manifest of that version (no map in it).
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ragd-triage-oldformat-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  {
    StoreOptions so;
    so.dir = dir;
    so.sync_writes = false;
    auto store = Store::open(so);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    auto v = store_model(**store, **m, R"({"field":"assignment_group","temperature":1.3,"threshold":0.5})");
    ASSERT_TRUE(v.is_ok()) << v.status().to_string();
    ASSERT_TRUE(activate(**store, "assignment_group", *v).is_ok());
    auto models = TriageModels::load(**store);
    ASSERT_TRUE(models.is_ok()) << models.status().to_string();
    for (size_t i = 0; i < kOldTickets.size(); ++i) {
      auto p = models->predict_field("assignment_group", kOldTickets[i]);
      ASSERT_TRUE(p.is_ok());
      const auto& want = kOldProbs[i];
      const size_t top = std::max_element(want.begin(), want.end()) - want.begin();
      EXPECT_EQ(p->value, (*m)->labels[top]);
      EXPECT_NEAR(p->confidence, want[top], 1e-6);
      EXPECT_FALSE(p->withheld);  // threshold 0.5
      ASSERT_EQ(p->alternatives.size(), 2u);
      for (const auto& [label, prob] : p->alternatives) {
        const size_t c = std::find((*m)->labels.begin(), (*m)->labels.end(), label) - (*m)->labels.begin();
        EXPECT_NEAR(prob, want[c], 1e-6);
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(TriageCalibrationTest, AMappedModelRoundTripsAndServesTheMappedConfidence) {
  auto old = FieldModel::deserialize(std::string(reinterpret_cast<const char*>(kOldModel), sizeof kOldModel));
  ASSERT_TRUE(old.is_ok());
  FieldModel& m = **old;
  m.calibration = ConfidenceMap({0.5f, 0.95f}, {0.3f, 0.6f});
  const std::string b = m.serialize();
  EXPECT_EQ(b.substr(0, 4), "TRF2");
  auto back = FieldModel::deserialize(b);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ((*back)->calibration.x(), m.calibration.x());
  EXPECT_EQ((*back)->calibration.y(), m.calibration.y());
  for (size_t i = 0; i < kOldTickets.size(); ++i) {
    auto p = (*back)->probabilities(kOldTickets[i]);
    const double top = *std::max_element(kOldProbs[i].begin(), kOldProbs[i].end());
    EXPECT_NEAR(*std::max_element(p.begin(), p.end()), m.calibration.apply(top), 1e-6);
  }
  for (size_t cut = 0; cut < b.size(); cut += 7) EXPECT_FALSE(FieldModel::deserialize(b.substr(0, cut)).is_ok());
}

// Inputs that used to reach past the breakpoints: NaN, and a double just
// below the last breakpoint that rounds up to it as a float.
TEST(TriageCalibrationTest, ApplyStaysInBoundsOnNanAndRoundingInputs) {
  const ConfidenceMap m({0.2f, 0.5f, 0.9f}, {0.1f, 0.4f, 0.8f});
  EXPECT_TRUE(std::isnan(m.apply(std::nan(""))));
  const double below = std::nextafter(static_cast<double>(0.9f), 0.0);
  ASSERT_EQ(static_cast<float>(below), 0.9f);
  const double v = m.apply(below);
  EXPECT_GE(v, 0.0);
  EXPECT_LE(v, 1.0);
  EXPECT_NEAR(v, (1 - ConfidenceMap::kRankKeep) * 0.8 + ConfidenceMap::kRankKeep * below, 1e-6);
  const double mid = std::nextafter(static_cast<double>(0.5f), 1.0);
  EXPECT_NEAR(m.apply(mid), (1 - ConfidenceMap::kRankKeep) * 0.4 + ConfidenceMap::kRankKeep * mid, 1e-6);
}

// Non-finite confidences are left out of the fit (sorting them is UB).
TEST(TriageCalibrationTest, FitSkipsNonFiniteConfidences) {
  std::vector<Scored> p;
  std::vector<int> y;
  add(p, y, 20, 0.3, 6);
  add(p, y, 5, std::nan(""), 5);
  add(p, y, 20, 0.8, 18);
  add(p, y, 5, INFINITY, 0);
  const ConfidenceMap m = fit_confidence_map(p, y, small());
  ASSERT_EQ(m.x().size(), 2u);
  EXPECT_NEAR(m.x()[0], 0.3, 1e-6);
  EXPECT_NEAR(m.y()[0], 0.3, 1e-6);
  EXPECT_NEAR(m.x()[1], 0.8, 1e-6);
  EXPECT_NEAR(m.y()[1], 0.9, 1e-6);
  // Too few finite ones: the identity.
  std::vector<Scored> q(30, Scored{1, std::nan("")});
  EXPECT_TRUE(fit_confidence_map(q, std::vector<int>(30, 1), small()).empty());
}

// Training chooses the threshold on exactly the confidence serving compares
// with it (the calibrated top-1 as a float): a validation ticket at the
// threshold is served, through the store and TriageModels::predict_field.
TEST(TriageCalibrationTest, ATicketExactlyAtTheChosenThresholdIsServed) {
  auto old = FieldModel::deserialize(std::string(reinterpret_cast<const char*>(kOldModel), sizeof kOldModel));
  ASSERT_TRUE(old.is_ok());
  FieldModel& m = **old;
  // Uncalibrated validation predictions, as the trainer scores them.
  std::vector<Scored> raw;
  for (const auto& t : kOldTickets) raw.push_back(top1(m.probabilities(t)));
  m.calibration = ConfidenceMap({0.5f, 0.95f, 0.96f}, {0.3f, 0.61f, 0.77f});
  const std::vector<Scored> pv = apply_map(m.calibration, raw);
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ragd-triage-atthreshold-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  size_t doubles_above = 0;  // tickets the double-valued threshold withheld
  for (size_t i = 0; i < kOldTickets.size(); ++i) {
    // The threshold choose_threshold picks when ticket i is the least
    // confident one precision allows (all right above it, wrong below).
    std::vector<int> truth(pv.size());
    for (size_t k = 0; k < pv.size(); ++k) truth[k] = pv[k].confidence >= pv[i].confidence ? pv[k].label : -1;
    m.threshold = choose_threshold(pv, truth, 0.99, 1);
    ASSERT_EQ(m.threshold, pv[i].confidence) << i;
    doubles_above += m.calibration.apply(raw[i].confidence) > pv[i].confidence;
    std::filesystem::remove_all(dir);
    StoreOptions so;
    so.dir = dir;
    so.sync_writes = false;
    auto store = Store::open(so);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    auto v = store_model(**store, m, R"({"field":"assignment_group"})");
    ASSERT_TRUE(v.is_ok()) << v.status().to_string();
    ASSERT_TRUE(activate(**store, "assignment_group", *v).is_ok());
    auto models = TriageModels::load(**store);
    ASSERT_TRUE(models.is_ok()) << models.status().to_string();
    auto p = models->predict_field("assignment_group", kOldTickets[i]);
    ASSERT_TRUE(p.is_ok());
    EXPECT_EQ(p->confidence, m.threshold) << i;
    EXPECT_FALSE(p->withheld) << i;
  }
  // The map was picked so that the check bites: for some ticket the double
  // the trainer used to keep lies above the float served.
  EXPECT_GT(doubles_above, 0u);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// A TRF2 map of no breakpoints, a non-finite threshold or a non-finite bias
// is rejected; a threshold above 1 (withhold everything) is not.
TEST(TriageCalibrationTest, NonFiniteThresholdOrBiasAndAnEmptyMapAreRejected) {
  auto old = FieldModel::deserialize(std::string(reinterpret_cast<const char*>(kOldModel), sizeof kOldModel));
  ASSERT_TRUE(old.is_ok());
  FieldModel& m = **old;
  m.threshold = 1.0 + 1e-9;
  EXPECT_TRUE(FieldModel::deserialize(m.serialize()).is_ok());
  m.threshold = std::nan("");
  EXPECT_FALSE(FieldModel::deserialize(m.serialize()).is_ok());
  m.threshold = INFINITY;
  EXPECT_FALSE(FieldModel::deserialize(m.serialize()).is_ok());
  m.threshold = 0.5;
  std::string b = m.serialize();
  const std::string lin = m.linear.serialize();
  ASSERT_EQ(b.substr(b.size() - lin.size()), lin);
  const float nan = std::nanf("");
  b.replace(b.size() - lin.size() + 12, sizeof nan, reinterpret_cast<const char*>(&nan), sizeof nan);  // bias 0
  auto bad = FieldModel::deserialize(b);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("bias"), std::string::npos) << bad.status().to_string();
  // A TRF2 map with n == 0, and one whose count outruns the bytes.
  m.calibration = ConfidenceMap({0.5f}, {0.5f});
  std::string mapped = m.serialize();
  ASSERT_EQ(mapped.substr(0, 4), "TRF2");
  const size_t count_at = 4 + 1 + 8 + 8;
  uint32_t n = 0;
  mapped.replace(count_at, 4, reinterpret_cast<const char*>(&n), 4);
  EXPECT_FALSE(FieldModel::deserialize(mapped).is_ok());
  size_t used = 0;
  ConfidenceMap out;
  std::string big;
  n = 99999;
  big.append(reinterpret_cast<const char*>(&n), 4);
  big.append(16, '\0');
  EXPECT_FALSE(ConfidenceMap::parse(big, used, out));
}

}  // namespace
}  // namespace ragd::triage

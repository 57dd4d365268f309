// A small Prometheus registry: counters, gauges and histograms with labels,
// exposed in the text format 0.0.4 (what `GET /metrics` returns).
//
// Families are created once at start-up; a labelled child is looked up (or
// created) under a shared lock, and every update afterwards is a relaxed
// atomic, so the hot path takes no exclusive lock. Callers on the hot path
// may keep the child reference: children are never removed.
//
// Collectors run at scrape time for values that are cheaper to read than to
// keep up to date (index sizes, queue depth).
//
// Thread safety: everything is safe from many threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ragd::api {

// Label values in the order of the family's label names.
using LabelValues = std::vector<std::string>;

// A double updated with compare-and-swap (std::atomic<double>::fetch_add is
// C++20 but not lock-free everywhere; this is).
class AtomicDouble {
 public:
  void add(double v);
  void set(double v) { bits_.store(to_bits(v), std::memory_order_relaxed); }
  double get() const { return from_bits(bits_.load(std::memory_order_relaxed)); }

 private:
  static uint64_t to_bits(double v);
  static double from_bits(uint64_t b);
  std::atomic<uint64_t> bits_{0};
};

class Counter {
 public:
  // REQUIRES: v >= 0 (counters only go up).
  void inc(double v = 1);
  double value() const { return v_.get(); }

 private:
  AtomicDouble v_;
};

class Gauge {
 public:
  void set(double v) { v_.set(v); }
  void inc(double v = 1) { v_.add(v); }
  void dec(double v = 1) { v_.add(-v); }
  double value() const { return v_.get(); }

 private:
  AtomicDouble v_;
};

class Histogram {
 public:
  // `bounds` are the upper bounds, ascending, without +Inf.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == bounds().size() is +Inf).
  uint64_t bucket_count(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.get(); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  AtomicDouble sum_;
};

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric name with its help text, label names and labelled children.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), make_(std::move(make)) {}

  // The child for these label values (created on first use).
  // REQUIRES: values.size() == label_names().size().
  T& with(const LabelValues& values);
  // The child of a family without labels.
  T& get() { return with({}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls f(values, child) for every child, in label order.
  void for_each(const std::function<void(const LabelValues&, const T&)>& f) const;
  // Drops the children for which keep(values) is false (a collection that
  // was deleted). REQUIRES: nobody keeps a reference to those children, as
  // for gauges that only a collector sets.
  void retain(const std::function<bool(const LabelValues&)>& keep);

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<T>()> make_;
  mutable std::shared_mutex mu_;
  std::map<LabelValues, std::unique_ptr<T>> children_;  // guarded by mu_
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Latency buckets in seconds, 0.5 ms to 60 s.
std::vector<double> latency_buckets_seconds();

class Registry {
 public:
  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and be unique; counters
  // should end in _total (promtool's lint). Registering is not for the hot
  // path. The returned family lives as long as the registry.
  CounterFamily& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                             std::vector<double> bounds);

  // Runs before every expose(), e.g. to copy index sizes into gauges.
  void add_collector(std::function<void()> collector);

  // The text exposition format 0.0.4, families in registration order.
  std::string expose() const;

 private:
  struct Entry {
    MetricType type;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
  };
  void check_new_name(const std::string& name) const;  // REQUIRES: mu_ held
  mutable std::mutex mu_;                               // guards entries_ and collectors_
  std::vector<Entry> entries_;
  std::vector<std::function<void()>> collectors_;
};

// Text-format helpers (exposed for tests).
std::string prometheus_escape_help(std::string_view s);
std::string prometheus_escape_label(std::string_view s);
// Go-style float: integers without a fraction, "+Inf", "-Inf", "NaN".
std::string prometheus_value(double v);

// ---- template implementation ----

template <typename T>
T& Family<T>::with(const LabelValues& values) {
  {
    std::shared_lock lock(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = children_[values];
  if (!slot) slot = make_();
  return *slot;
}

template <typename T>
void Family<T>::for_each(const std::function<void(const LabelValues&, const T&)>& f) const {
  std::shared_lock lock(mu_);
  for (const auto& [values, child] : children_) f(values, *child);
}

template <typename T>
void Family<T>::retain(const std::function<bool(const LabelValues&)>& keep) {
  std::unique_lock lock(mu_);
  std::erase_if(children_, [&](const auto& child) { return !keep(child.first); });
}

}  // namespace ragd::api

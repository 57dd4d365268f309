#include "api/metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace ragd::api {

uint64_t AtomicDouble::to_bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

double AtomicDouble::from_bits(uint64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

void AtomicDouble::add(double v) {
  uint64_t old = bits_.load(std::memory_order_relaxed);
  while (!bits_.compare_exchange_weak(old, to_bits(from_bits(old) + v), std::memory_order_relaxed)) {
  }
}

void Counter::inc(double v) {
  assert(v >= 0);
  v_.add(v);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  assert(std::is_sorted(bounds_.begin(), bounds_.end()));
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();  // le: v <= bound
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.add(v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<double> latency_buckets_seconds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

namespace {

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void append_labels(std::string& out, const std::vector<std::string>& names, const LabelValues& values,
                   const char* extra_name = nullptr, const std::string& extra_value = {}) {
  if (names.empty() && !extra_name) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += prometheus_escape_label(values[i]);
    out += '"';
  }
  if (extra_name) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void append_header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + prometheus_escape_help(help) + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string prometheus_escape_help(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string prometheus_escape_label(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

std::string prometheus_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form, like Go's 'g', -1
  (void)ec;
  return std::string(buf, end);
}

void Registry::check_new_name(const std::string& name) const {
  if (!valid_name(name)) throw std::invalid_argument("bad metric name '" + name + "'");
  for (const auto& e : entries_) {
    const std::string& n = e.counter ? e.counter->name() : e.gauge ? e.gauge->name() : e.histogram->name();
    if (n == name) throw std::invalid_argument("metric '" + name + "' registered twice");
  }
}

CounterFamily& Registry::counter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  check_new_name(name);
  Entry e{MetricType::kCounter, {}, {}, {}};
  e.counter = std::make_unique<CounterFamily>(name, help, std::move(labels), [] { return std::make_unique<Counter>(); });
  entries_.push_back(std::move(e));
  return *entries_.back().counter;
}

GaugeFamily& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  check_new_name(name);
  Entry e{MetricType::kGauge, {}, {}, {}};
  e.gauge = std::make_unique<GaugeFamily>(name, help, std::move(labels), [] { return std::make_unique<Gauge>(); });
  entries_.push_back(std::move(e));
  return *entries_.back().gauge;
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                                     std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  check_new_name(name);
  Entry e{MetricType::kHistogram, {}, {}, {}};
  e.histogram = std::make_unique<HistogramFamily>(name, help, std::move(labels),
                                                  [bounds] { return std::make_unique<Histogram>(bounds); });
  entries_.push_back(std::move(e));
  return *entries_.back().histogram;
}

void Registry::add_collector(std::function<void()> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::expose() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();

  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& e : entries_) {
    switch (e.type) {
      case MetricType::kCounter: {
        const auto& f = *e.counter;
        append_header(out, f.name(), f.help(), "counter");
        f.for_each([&](const LabelValues& v, const Counter& c) {
          out += f.name();
          append_labels(out, f.label_names(), v);
          out += ' ' + prometheus_value(c.value()) + '\n';
        });
        break;
      }
      case MetricType::kGauge: {
        const auto& f = *e.gauge;
        append_header(out, f.name(), f.help(), "gauge");
        f.for_each([&](const LabelValues& v, const Gauge& g) {
          out += f.name();
          append_labels(out, f.label_names(), v);
          out += ' ' + prometheus_value(g.value()) + '\n';
        });
        break;
      }
      case MetricType::kHistogram: {
        const auto& f = *e.histogram;
        append_header(out, f.name(), f.help(), "histogram");
        f.for_each([&](const LabelValues& v, const Histogram& h) {
          // Read the buckets first and derive count from them, so that the
          // +Inf bucket equals _count even while observations race.
          uint64_t cumulative = 0;
          for (size_t i = 0; i <= h.bounds().size(); ++i) {
            cumulative += h.bucket_count(i);
            out += f.name() + "_bucket";
            append_labels(out, f.label_names(), v, "le",
                          i < h.bounds().size() ? prometheus_value(h.bounds()[i]) : std::string("+Inf"));
            out += ' ' + prometheus_value(static_cast<double>(cumulative)) + '\n';
          }
          out += f.name() + "_sum";
          append_labels(out, f.label_names(), v);
          out += ' ' + prometheus_value(h.sum()) + '\n';
          out += f.name() + "_count";
          append_labels(out, f.label_names(), v);
          out += ' ' + prometheus_value(static_cast<double>(cumulative)) + '\n';
        });
        break;
      }
    }
  }
  return out;
}

}  // namespace ragd::api

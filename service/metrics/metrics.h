// A Prometheus metrics registry that renders the text exposition format 0.0.4.
//
// Families (counter, gauge, histogram) are registered once, usually at start-up, and their
// children (one per combination of label values) are looked up with `WithLabels`. The reference
// a child lookup returns is stable for the registry's lifetime, so hot paths look a child up once,
// cache the reference, and then update it with a lock-free atomic operation:
//
//   metrics::Registry registry;
//   metrics::Counter& allowed = registry
//       .AddCounter("arbiter_decisions_total", "Decisions made.", {"kind", "effect"})
//       .WithLabels({"access", "allow"});
//   allowed.Increment();                // any thread, no lock
//   std::string text = registry.Render();  // the /metrics handler
//
// Registration mistakes (an invalid or duplicate metric name, invalid label names, unsorted
// histogram buckets, the wrong number of label values) are programming errors in constant
// start-up code: they abort the process with a message on stderr rather than returning a status
// that every call site would have to thread through.
//
// This module knows nothing of policies or transports.
#ifndef ARBITER_SERVICE_METRICS_METRICS_H_
#define ARBITER_SERVICE_METRICS_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace arbiter::metrics {

namespace internal {

// Counters and histograms are updated in one of kStripes cells, the one of the updating
// thread (threads are dealt cells in turn): threads recording at once then rarely share a
// cache line, where one atomic that every thread updated moved between the cores on each
// decision (and an atomic double's add retried). Reads sum the cells.
inline constexpr size_t kStripes = 8;
size_t ThreadStripe();

struct alignas(64) StripeCell {
  std::atomic<double> value{0};
};

}  // namespace internal

// A monotonically increasing value. Thread-safe and lock-free.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `amount`. Counters only go up: a negative or NaN amount is ignored.
  void Increment(double amount = 1);
  // The current value.
  double Value() const;

 private:
  std::array<internal::StripeCell, internal::kStripes> cells_;
};

// A value that can go up and down. Thread-safe and lock-free.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // Replaces the value.
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  // Adds `delta`, which may be negative.
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into fixed buckets and tracks their sum. Thread-safe and lock-free.
// A scrape that races with `Observe` may see the sum and the buckets of slightly different
// moments; `_count` always equals the `+Inf` bucket.
class Histogram {
 public:
  // `upper_bounds` must be strictly increasing and finite; `+Inf` is implicit.
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Records one observation. A NaN observation is ignored.
  void Observe(double value);

  // A consistent-enough copy of the state, for rendering and tests.
  struct Snapshot {
    std::vector<double> upper_bounds;         // without +Inf
    std::vector<uint64_t> cumulative_counts;  // one per bound, plus the +Inf bucket last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  // Eight bucket counts, one cache line.
  struct alignas(64) Line {
    std::atomic<uint64_t> counts[8];
  };

  const std::vector<double> upper_bounds_;
  // Per stripe, lines_per_stripe_ lines of non-cumulative counts (upper_bounds_.size() + 1 of
  // them, the last the +Inf bucket), then the next stripe's.
  const size_t lines_per_stripe_;
  std::unique_ptr<Line[]> lines_;
  std::array<internal::StripeCell, internal::kStripes> sums_;
};

namespace internal {

// What every family has in common; not for direct use.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  // Appends this family's HELP, TYPE and sample lines to `out`.
  virtual void Render(std::string& out) const = 0;

 protected:
  // Aborts unless `values` has one entry per label name.
  void CheckArity(const std::vector<std::string>& values) const;
  // Appends `{a="x",b="y"}` (or nothing when there are no labels), plus an optional extra
  // label such as `le`.
  void AppendLabels(std::string& out, const std::vector<std::string>& values,
                    absl::string_view extra_name = {}, absl::string_view extra_value = {}) const;
  void AppendHeader(std::string& out, absl::string_view type) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
};

// A family whose children are of type T, kept sorted by label values.
template <typename T>
class Family : public FamilyBase {
 public:
  using FamilyBase::FamilyBase;

  // The child for `values` (one per label name, in the order the names were registered),
  // created on first use. The reference stays valid for the registry's lifetime, so callers
  // may cache it. Thread-safe; takes a mutex, so cache the result on hot paths.
  T& WithLabels(const std::vector<std::string>& values) {
    CheckArity(values);
    absl::MutexLock lock(&mu_);
    auto it = children_.find(values);
    if (it == children_.end()) {
      it = children_.emplace(values, NewChild()).first;
    }
    return *it->second;
  }

 protected:
  virtual std::unique_ptr<T> NewChild() const = 0;

  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal

// A family of counters sharing a name and label names. See Family::WithLabels.
class CounterFamily : public internal::Family<Counter> {
 public:
  using Family::Family;
  void Render(std::string& out) const override;

 protected:
  std::unique_ptr<Counter> NewChild() const override { return std::make_unique<Counter>(); }
};

// A family of gauges sharing a name and label names. See Family::WithLabels.
class GaugeFamily : public internal::Family<Gauge> {
 public:
  using Family::Family;
  void Render(std::string& out) const override;

 protected:
  std::unique_ptr<Gauge> NewChild() const override { return std::make_unique<Gauge>(); }
};

// A family of histograms sharing a name, label names and bucket bounds.
class HistogramFamily : public internal::Family<Histogram> {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds)
      : Family(std::move(name), std::move(help), std::move(label_names)),
        upper_bounds_(std::move(upper_bounds)) {}
  void Render(std::string& out) const override;

 protected:
  std::unique_ptr<Histogram> NewChild() const override {
    return std::make_unique<Histogram>(upper_bounds_);
  }

 private:
  const std::vector<double> upper_bounds_;
};

// The default histogram buckets of the Prometheus client libraries (seconds: 5ms .. 10s).
std::vector<double> DefaultBuckets();

// One sample of a labelled callback gauge: label values (one per label name) and its value.
struct LabelledValue {
  std::vector<std::string> labels;
  double value = 0;
};

// Owns metric families and renders them. Families render in registration order; children of a
// family render sorted by their label values.
//
// Thread-safe: registration, lookups and Render may run concurrently from any thread. Family
// and child references stay valid until the registry is destroyed.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a counter family. By Prometheus convention counter names end in `_total`.
  // A family without labels renders its single child (value 0) before any use.
  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  // Registers a gauge family.
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  // Registers a histogram family. `bucket_upper_bounds` must be strictly increasing; a trailing
  // +Inf is accepted and dropped (it is always implicit); empty means DefaultBuckets(). The label
  // name `le` is reserved.
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::vector<double> bucket_upper_bounds);
  // Registers an unlabelled gauge whose value `fn` computes at every Render (a queue depth, a
  // bundle age). `fn` runs on the scraping thread while the registry is locked: it must be
  // thread-safe, must not call back into this registry, and must stay callable (with everything
  // it captures alive) for the registry's lifetime.
  void AddGaugeCallback(std::string name, std::string help, std::function<double()> fn);
  // Registers a labelled gauge family whose samples `fn` computes at every Render (one per label
  // combination it returns; none renders only HELP and TYPE). Same rules for `fn` as above.
  void AddLabelledGaugeCallback(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::function<std::vector<LabelledValue>()> fn);
  // Registers an unlabelled counter computed at every Render, for a count a component already
  // keeps (dropped log lines): rendered with
  // TYPE counter; the name must end in `_total`. Same rules for `fn` as AddGaugeCallback.
  void AddCounterCallback(std::string name, std::string help, std::function<double()> fn);

  // The text exposition format 0.0.4 (content type `text/plain; version=0.0.4`).
  std::string Render() const;

 private:
  // Takes ownership of `family` after checking its names; aborts on a duplicate.
  internal::FamilyBase& Register(std::unique_ptr<internal::FamilyBase> family,
                                 const std::vector<std::string>& label_names, bool is_histogram);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<internal::FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
};

// Formats a sample value or bucket bound as Prometheus expects: the shortest decimal that reads
// back as the same double, and `+Inf`, `-Inf`, `NaN`.
std::string FormatValue(double value);

// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabelValue(absl::string_view value);

// The standard process metrics of the Prometheus client libraries, read from /proc/self at
// scrape time: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds.
// Linux only; a value that cannot be read renders as NaN.
void RegisterProcessMetrics(Registry& registry);

}  // namespace arbiter::metrics

#endif  // ARBITER_SERVICE_METRICS_METRICS_H_

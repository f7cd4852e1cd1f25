#include "service/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace arbiter::metrics {
namespace {

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "arbiter metrics: %s\n", message.c_str());
  std::abort();
}

bool IsValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
                    (allow_colon && c == ':') ||
                    (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// An unlabelled gauge (or counter) computed at scrape time.
class GaugeCallbackFamily : public internal::FamilyBase {
 public:
  GaugeCallbackFamily(std::string name, std::string help, std::function<double()> fn,
                      absl::string_view type = "gauge")
      : FamilyBase(std::move(name), std::move(help), {}), fn_(std::move(fn)), type_(type) {}

  void Render(std::string& out) const override {
    AppendHeader(out, type_);
    absl::StrAppend(&out, name_, " ", FormatValue(fn_()), "\n");
  }

 private:
  const std::function<double()> fn_;
  const absl::string_view type_;
};

// A labelled gauge family whose samples are computed at scrape time, so that a sample whose
// subject is gone (a waiver removed by a reload) disappears instead of lingering.
class LabelledGaugeCallbackFamily : public internal::FamilyBase {
 public:
  LabelledGaugeCallbackFamily(std::string name, std::string help, std::vector<std::string> labels,
                              std::function<std::vector<LabelledValue>()> fn)
      : FamilyBase(std::move(name), std::move(help), std::move(labels)), fn_(std::move(fn)) {}

  void Render(std::string& out) const override {
    AppendHeader(out, "gauge");
    std::vector<LabelledValue> samples = fn_();
    std::sort(samples.begin(), samples.end(),
              [](const LabelledValue& a, const LabelledValue& b) { return a.labels < b.labels; });
    for (const LabelledValue& s : samples) {
      CheckArity(s.labels);
      out += name_;
      AppendLabels(out, s.labels);
      absl::StrAppend(&out, " ", FormatValue(s.value), "\n");
    }
  }

 private:
  const std::function<std::vector<LabelledValue>()> fn_;
};

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Shortest %g precision that round-trips, so 0.1 prints as "0.1", not "0.10000000000000001".
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> DefaultBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

namespace internal {

size_t ThreadStripe() {
  static std::atomic<size_t> next{0};
  thread_local const size_t stripe = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return stripe;
}

}  // namespace internal

void Counter::Increment(double amount) {
  if (!(amount >= 0)) return;  // also rejects NaN
  cells_[internal::ThreadStripe()].value.fetch_add(amount, std::memory_order_relaxed);
}

double Counter::Value() const {
  double sum = 0;
  for (const internal::StripeCell& c : cells_) sum += c.value.load(std::memory_order_relaxed);
  return sum;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      lines_per_stripe_((upper_bounds_.size() + 1 + 7) / 8),
      lines_(new Line[internal::kStripes * lines_per_stripe_]) {
  for (size_t i = 0; i < internal::kStripes * lines_per_stripe_; ++i) {
    for (std::atomic<uint64_t>& c : lines_[i].counts) c.store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // Buckets are inclusive upper bounds (`le`): the first bound >= value.
  const size_t index =
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin();
  const size_t stripe = internal::ThreadStripe();
  lines_[stripe * lines_per_stripe_ + index / 8].counts[index % 8].fetch_add(
      1, std::memory_order_relaxed);
  sums_[stripe].value.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  s.cumulative_counts.reserve(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    for (size_t stripe = 0; stripe < internal::kStripes; ++stripe) {
      running +=
          lines_[stripe * lines_per_stripe_ + i / 8].counts[i % 8].load(std::memory_order_relaxed);
    }
    s.cumulative_counts.push_back(running);
  }
  s.count = running;
  for (const internal::StripeCell& c : sums_) s.sum += c.value.load(std::memory_order_relaxed);
  return s;
}

namespace internal {

void FamilyBase::CheckArity(const std::vector<std::string>& values) const {
  if (values.size() != label_names_.size()) {
    Fatal(absl::StrCat("metric ", name_, " has ", label_names_.size(), " labels but ",
                       values.size(), " values were given"));
  }
}

void FamilyBase::AppendLabels(std::string& out, const std::vector<std::string>& values,
                              absl::string_view extra_name, absl::string_view extra_value) const {
  if (label_names_.empty() && extra_name.empty()) return;
  out += '{';
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, label_names_[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    if (!label_names_.empty()) out += ',';
    absl::StrAppend(&out, extra_name, "=\"", EscapeLabelValue(extra_value), "\"");
  }
  out += '}';
}

void FamilyBase::AppendHeader(std::string& out, absl::string_view type) const {
  absl::StrAppend(&out, "# HELP ", name_, " ", EscapeHelp(help_), "\n# TYPE ", name_, " ", type,
                  "\n");
}

}  // namespace internal

void CounterFamily::Render(std::string& out) const {
  AppendHeader(out, "counter");
  absl::MutexLock lock(&mu_);
  for (const auto& [values, child] : children_) {
    out += name_;
    AppendLabels(out, values);
    absl::StrAppend(&out, " ", FormatValue(child->Value()), "\n");
  }
}

void GaugeFamily::Render(std::string& out) const {
  AppendHeader(out, "gauge");
  absl::MutexLock lock(&mu_);
  for (const auto& [values, child] : children_) {
    out += name_;
    AppendLabels(out, values);
    absl::StrAppend(&out, " ", FormatValue(child->Value()), "\n");
  }
}

void HistogramFamily::Render(std::string& out) const {
  AppendHeader(out, "histogram");
  absl::MutexLock lock(&mu_);
  for (const auto& [values, child] : children_) {
    const Histogram::Snapshot s = child->Read();
    for (size_t i = 0; i < s.cumulative_counts.size(); ++i) {
      const std::string le =
          i < s.upper_bounds.size() ? FormatValue(s.upper_bounds[i]) : std::string("+Inf");
      absl::StrAppend(&out, name_, "_bucket");
      AppendLabels(out, values, "le", le);
      absl::StrAppend(&out, " ", s.cumulative_counts[i], "\n");
    }
    absl::StrAppend(&out, name_, "_sum");
    AppendLabels(out, values);
    absl::StrAppend(&out, " ", FormatValue(s.sum), "\n");
    absl::StrAppend(&out, name_, "_count");
    AppendLabels(out, values);
    absl::StrAppend(&out, " ", s.count, "\n");
  }
}

internal::FamilyBase& Registry::Register(std::unique_ptr<internal::FamilyBase> family,
                                         const std::vector<std::string>& label_names,
                                         bool is_histogram) {
  const std::string& name = family->name();
  if (!IsValidName(name, /*allow_colon=*/true)) {
    Fatal(absl::StrCat("invalid metric name \"", name, "\""));
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsValidName(label, /*allow_colon=*/false) || absl::StartsWith(label, "__")) {
      Fatal(absl::StrCat("metric ", name, ": invalid label name \"", label, "\""));
    }
    if (is_histogram && label == "le") {
      Fatal(absl::StrCat("metric ", name, ": label name \"le\" is reserved for histograms"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == label) {
        Fatal(absl::StrCat("metric ", name, ": duplicate label name \"", label, "\""));
      }
    }
  }
  absl::MutexLock lock(&mu_);
  for (const auto& existing : families_) {
    if (existing->name() == name) {
      Fatal(absl::StrCat("metric ", name, " registered twice"));
    }
  }
  families_.push_back(std::move(family));
  return *families_.back();
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  auto family = std::make_unique<CounterFamily>(std::move(name), std::move(help), label_names);
  auto& registered = static_cast<CounterFamily&>(Register(std::move(family), label_names, false));
  // An unlabelled family has exactly one child; render it as 0 from the start.
  if (label_names.empty()) registered.WithLabels({});
  return registered;
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  auto family = std::make_unique<GaugeFamily>(std::move(name), std::move(help), label_names);
  auto& registered = static_cast<GaugeFamily&>(Register(std::move(family), label_names, false));
  if (label_names.empty()) registered.WithLabels({});
  return registered;
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bucket_upper_bounds) {
  if (bucket_upper_bounds.empty()) bucket_upper_bounds = DefaultBuckets();
  if (std::isinf(bucket_upper_bounds.back()) && bucket_upper_bounds.back() > 0) {
    bucket_upper_bounds.pop_back();
  }
  for (size_t i = 0; i < bucket_upper_bounds.size(); ++i) {
    const double b = bucket_upper_bounds[i];
    if (!std::isfinite(b) || (i > 0 && !(bucket_upper_bounds[i - 1] < b))) {
      Fatal(absl::StrCat("histogram ", name,
                         ": bucket bounds must be finite and strictly increasing"));
    }
  }
  auto family = std::make_unique<HistogramFamily>(std::move(name), std::move(help), label_names,
                                                  std::move(bucket_upper_bounds));
  auto& registered = static_cast<HistogramFamily&>(Register(std::move(family), label_names, true));
  if (label_names.empty()) registered.WithLabels({});
  return registered;
}

void Registry::AddGaugeCallback(std::string name, std::string help, std::function<double()> fn) {
  if (!fn) Fatal(absl::StrCat("gauge callback ", name, " is empty"));
  Register(std::make_unique<GaugeCallbackFamily>(std::move(name), std::move(help), std::move(fn)),
           {}, false);
}

void Registry::AddLabelledGaugeCallback(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::function<std::vector<LabelledValue>()> fn) {
  if (!fn) Fatal(absl::StrCat("gauge callback ", name, " is empty"));
  std::vector<std::string> labels = label_names;
  Register(std::make_unique<LabelledGaugeCallbackFamily>(std::move(name), std::move(help),
                                                         std::move(label_names), std::move(fn)),
           labels, false);
}

void Registry::AddCounterCallback(std::string name, std::string help, std::function<double()> fn) {
  if (!fn) Fatal(absl::StrCat("counter callback ", name, " is empty"));
  if (!absl::EndsWith(name, "_total")) Fatal(absl::StrCat("counter ", name, " must end in _total"));
  Register(std::make_unique<GaugeCallbackFamily>(std::move(name), std::move(help), std::move(fn),
                                                 "counter"),
           {}, false);
}

std::string Registry::Render() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& family : families_) family->Render(out);
  return out;
}

}  // namespace arbiter::metrics

#include "service/metrics/metrics.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace arbiter::metrics {
namespace {

TEST(MetricsTest, RendersExactExpositionFormat) {
  Registry registry;
  CounterFamily& decisions =
      registry.AddCounter("arbiter_decisions_total", "Decisions made.", {"kind", "effect"});
  decisions.WithLabels({"product", "deny"}).Increment(2);
  decisions.WithLabels({"access", "deny"}).Increment();
  decisions.WithLabels({"access", "allow"}).Increment(3);
  registry.AddGauge("arbiter_bundle_loaded", "Whether a bundle is loaded.").WithLabels({}).Set(1);
  HistogramFamily& latency = registry.AddHistogram("arbiter_latency_seconds", "Decision latency.",
                                                   {"kind"}, {0.001, 0.01, 0.1});
  Histogram& access = latency.WithLabels({"access"});
  access.Observe(0.0005);
  access.Observe(0.001);  // `le` is inclusive
  access.Observe(0.05);
  access.Observe(2);
  registry.AddGaugeCallback("arbiter_queue_depth", "Lines waiting.\nSecond \\ line.",
                            [] { return 7.5; });
  registry.AddCounter("arbiter_reloads_total", "Bundle reloads.");

  EXPECT_EQ(registry.Render(),
            "# HELP arbiter_decisions_total Decisions made.\n"
            "# TYPE arbiter_decisions_total counter\n"
            "arbiter_decisions_total{kind=\"access\",effect=\"allow\"} 3\n"
            "arbiter_decisions_total{kind=\"access\",effect=\"deny\"} 1\n"
            "arbiter_decisions_total{kind=\"product\",effect=\"deny\"} 2\n"
            "# HELP arbiter_bundle_loaded Whether a bundle is loaded.\n"
            "# TYPE arbiter_bundle_loaded gauge\n"
            "arbiter_bundle_loaded 1\n"
            "# HELP arbiter_latency_seconds Decision latency.\n"
            "# TYPE arbiter_latency_seconds histogram\n"
            "arbiter_latency_seconds_bucket{kind=\"access\",le=\"0.001\"} 2\n"
            "arbiter_latency_seconds_bucket{kind=\"access\",le=\"0.01\"} 2\n"
            "arbiter_latency_seconds_bucket{kind=\"access\",le=\"0.1\"} 3\n"
            "arbiter_latency_seconds_bucket{kind=\"access\",le=\"+Inf\"} 4\n"
            "arbiter_latency_seconds_sum{kind=\"access\"} 2.0515\n"
            "arbiter_latency_seconds_count{kind=\"access\"} 4\n"
            "# HELP arbiter_queue_depth Lines waiting.\\nSecond \\\\ line.\n"
            "# TYPE arbiter_queue_depth gauge\n"
            "arbiter_queue_depth 7.5\n"
            "# HELP arbiter_reloads_total Bundle reloads.\n"
            "# TYPE arbiter_reloads_total counter\n"
            "arbiter_reloads_total 0\n");
}

TEST(MetricsTest, EscapesLabelValues) {
  Registry registry;
  registry.AddGauge("g", "h", {"v"}).WithLabels({"a\\b\"c\nd"}).Set(-2);
  EXPECT_EQ(registry.Render(),
            "# HELP g h\n# TYPE g gauge\n"
            "g{v=\"a\\\\b\\\"c\\nd\"} -2\n");
}

TEST(MetricsTest, UnlabelledHistogramAndGaugeArithmetic) {
  Registry registry;
  Histogram& h =
      registry.AddHistogram("h", "x", {}, {1, 2.5, std::numeric_limits<double>::infinity()})
          .WithLabels({});
  h.Observe(3);
  Gauge& g = registry.AddGauge("g", "y").WithLabels({});
  g.Set(10);
  g.Add(-2.5);
  EXPECT_EQ(registry.Render(),
            "# HELP h x\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\n"
            "h_bucket{le=\"2.5\"} 0\n"
            "h_bucket{le=\"+Inf\"} 1\n"
            "h_sum 3\n"
            "h_count 1\n"
            "# HELP g y\n# TYPE g gauge\n"
            "g 7.5\n");
}

TEST(MetricsTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(123456789), "123456789");
  EXPECT_EQ(FormatValue(1e-9), "1e-09");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(MetricsTest, CountersIgnoreNegativeIncrements) {
  Registry registry;
  Counter& c = registry.AddCounter("c_total", "c").WithLabels({});
  c.Increment(2);
  c.Increment(-5);
  EXPECT_EQ(c.Value(), 2);
}

TEST(MetricsTest, ChildReferencesAreStable) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("c_total", "c", {"k"});
  Counter& first = family.WithLabels({"a"});
  for (int i = 0; i < 100; ++i) family.WithLabels({std::to_string(i)});
  EXPECT_EQ(&first, &family.WithLabels({"a"}));
}

TEST(MetricsTest, ConcurrentUpdatesSumCorrectly) {
  Registry registry;
  CounterFamily& counters = registry.AddCounter("c_total", "c", {"k"});
  Gauge& gauge = registry.AddGauge("g", "g").WithLabels({});
  // More buckets than one cache line of counts holds (8), and more threads than there are
  // stripes (internal::kStripes): some threads share a stripe.
  Histogram& histogram = registry.AddHistogram("h", "h", {}, DefaultBuckets()).WithLabels({});
  constexpr int kThreads = 12;
  static_assert(kThreads > internal::kStripes);
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads look the child up every time, racing child creation with updates.
      Counter& cached = counters.WithLabels({"shared"});
      for (int i = 0; i < kIterations; ++i) {
        if (t % 2 == 0) {
          cached.Increment();
        } else {
          counters.WithLabels({"shared"}).Increment();
        }
        gauge.Add(1);
        histogram.Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counters.WithLabels({"shared"}).Value(), kThreads * kIterations);
  EXPECT_EQ(gauge.Value(), kThreads * kIterations);
  const Histogram::Snapshot s = histogram.Read();
  EXPECT_EQ(s.count, static_cast<uint64_t>(kThreads * kIterations));
  ASSERT_EQ(s.cumulative_counts.size(), 12u);
  EXPECT_EQ(s.cumulative_counts[4], 0u);                                                 // le 0.1
  EXPECT_EQ(s.cumulative_counts[5], static_cast<uint64_t>(kThreads * kIterations / 2));  // 0.25
  EXPECT_EQ(s.cumulative_counts[6], static_cast<uint64_t>(kThreads * kIterations / 2));  // 0.5
  EXPECT_EQ(s.cumulative_counts[7], static_cast<uint64_t>(kThreads * kIterations));      // 1
  EXPECT_EQ(s.cumulative_counts[11], static_cast<uint64_t>(kThreads * kIterations));     // +Inf
  EXPECT_DOUBLE_EQ(s.sum, kThreads * kIterations / 2 * 1.25);
}

TEST(MetricsDeathTest, RegistrationMistakesAbort) {
  Registry registry;
  registry.AddCounter("dup_total", "x");
  EXPECT_DEATH(registry.AddCounter("dup_total", "x"), "registered twice");
  EXPECT_DEATH(registry.AddGauge("bad-name", "x"), "invalid metric name");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {"le"}, {1}), "reserved");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {2, 1}), "strictly increasing");
  CounterFamily& family = registry.AddCounter("l_total", "x", {"a", "b"});
  EXPECT_DEATH(family.WithLabels({"only-one"}), "2 labels but 1 values");
}

}  // namespace
}  // namespace arbiter::metrics

namespace arbiter::metrics {
namespace {

TEST(ProcessMetricsTest, RendersTheStandardProcessFamilies) {
  Registry r;
  RegisterProcessMetrics(r);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos) << text;
  for (const char* name :
       {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ",
        "process_max_fds ", "process_start_time_seconds ", "process_virtual_memory_bytes "}) {
    size_t at = text.find(absl::StrCat("\n", name));
    ASSERT_NE(at, std::string::npos) << name << "\n" << text;
    size_t end = text.find('\n', at + 1);
    double v = std::strtod(text.substr(at + 1 + strlen(name), end - at).c_str(), nullptr);
    // A running process has all of them above 0, but a young one may not have a CPU tick yet.
    if (std::strcmp(name, "process_cpu_seconds_total ") == 0) {
      EXPECT_GE(v, 0) << text;
    } else {
      EXPECT_GT(v, 0) << name << "\n" << text;
    }
  }
}

TEST(CounterCallbackTest, RendersAsACounter) {
  Registry r;
  r.AddCounterCallback("things_dropped_total", "Things dropped.", [] { return 3.0; });
  EXPECT_NE(r.Render().find("# TYPE things_dropped_total counter\nthings_dropped_total 3\n"),
            std::string::npos)
      << r.Render();
}

}  // namespace
}  // namespace arbiter::metrics

#include "service/server/decider.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "service/decision_json/decision_json.h"
#include "service/server/cpu_budget.h"

namespace arbiter {
namespace {

std::vector<double> LatencyBuckets() {
  return {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
          0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   1};
}

const char* CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
      return "invalid_argument";
    case absl::StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case absl::StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case absl::StatusCode::kResourceExhausted:
      return "resource_exhausted";
    default:
      return "internal";
  }
}

// A decision log line's bytes as this thread's last ones had them (lines of one server are much
// alike): a Lines buffer gets room for its lines ahead, so that writing them grows nothing (a
// buffer grown midway is copied and doubled, and keeps its spare room while the log holds its
// lines). At most 4 KiB a line: one big deployment's line must not make every later buffer big.
// The average of the thread's last buffer, not the last line that a line's own room follows
// (decision_json's LogLine): after a long line, a chunk of Trino's shorter ones got too much room
// and was shrunk (filter-tables 43.6k -> 44.2k instructions an item).
thread_local size_t log_line_bytes = 1536;

// A line's writer asks for its own room as the size of the thread's last line and 64 bytes
// (decision_json's LogLine): that is all one line gets. A chunk's lines differ (allowed and
// denied tables), so it gets one line's room more, which its last line's request fits in.
size_t LogBytesFor(size_t lines) { return (lines == 1 ? 1 : lines + 1) * (log_line_bytes + 64); }

void NoteLogBytes(const DecisionLog::Lines& lines) {
  if (!lines.empty()) log_line_bytes = std::min<size_t>(lines.bytes() / lines.size(), 4096);
}

}  // namespace

ServerMetrics::ServerMetrics(metrics::Registry& r)
    : decisions(r.AddCounter("arbiter_decisions_total",
                             "Decisions by kind, effect, owning domain (\"\" when none) and "
                             "transport (grpc, http).",
                             {"kind", "effect", "domain", "transport"})),
      errors(r.AddCounter("arbiter_decision_errors_total",
                          "Requests that could not be decided, by kind and status.",
                          {"kind", "code"})),
      latency(r.AddHistogram("arbiter_decision_latency_seconds", "Evaluation latency per decision.",
                             {"kind"}, LatencyBuckets())),
      policy_faults(r.AddCounter("arbiter_policy_faults_total",
                                 "Policies that failed closed (error, budget, memory, malformed).",
                                 {"policy", "type"})),
      reloads(r.AddCounter("arbiter_bundle_reloads_total", "Bundle load attempts by outcome.",
                           {"outcome"})),
      bundle_info(r.AddGauge("arbiter_bundle_info",
                             "1 for the active bundle: its revision and the SHA-256 of its files.",
                             {"revision", "digest"})),
      last_reload_ok(r.AddGauge("arbiter_bundle_last_reload_success",
                                "1 when the last bundle load attempt succeeded.")),
      last_reload_success_time(
          r.AddGauge("arbiter_bundle_last_reload_success_timestamp_seconds",
                     "When a bundle was last loaded and activated (unix seconds).")),
      last_reload_failure_time(
          r.AddGauge("arbiter_bundle_last_reload_failure_timestamp_seconds",
                     "When a bundle load attempt last failed (unix seconds; 0: never).")),
      rejected_calls(r.AddCounter("arbiter_rejected_calls_total",
                                  "Calls refused before evaluation (overload, size, draining).",
                                  {"reason"})),
      authz_denied(r.AddCounter("arbiter_authz_denied_total",
                                "Calls refused by authorization, by method and reason.",
                                {"method", "reason"})),
      build_info(r.AddGauge("arbiter_build_info", "1, labelled with the version of arbiterd.",
                            {"version"})) {
  InitDomain("");
  for (Kind kind : {Kind::kAccess, Kind::kProduct, Kind::kDeployment}) {
    std::string k(KindName(kind));
    for (absl::StatusCode code :
         {absl::StatusCode::kInvalidArgument, absl::StatusCode::kDeadlineExceeded,
          absl::StatusCode::kFailedPrecondition, absl::StatusCode::kResourceExhausted,
          absl::StatusCode::kInternal}) {
      errors.WithLabels({k, CodeName(code)});
    }
    latency.WithLabels({k});
  }
  for (const char* outcome : {"success", "failure"}) reloads.WithLabels({outcome});
  for (const char* reason : {"draining", "overload"}) rejected_calls.WithLabels({reason});
  last_reload_ok.WithLabels({});
  last_reload_success_time.WithLabels({});
  last_reload_failure_time.WithLabels({});
#ifdef ARBITER_VERSION
  build_info.WithLabels({ARBITER_VERSION}).Set(1);
#else
  build_info.WithLabels({"unknown"}).Set(1);
#endif
}

void ServerMetrics::InitDomain(const std::string& domain) {
  for (Kind kind : {Kind::kAccess, Kind::kProduct, Kind::kDeployment}) {
    for (Effect effect : {Effect::kAllow, Effect::kDeny}) {
      for (const char* transport : {"grpc", "http"}) {
        decisions.WithLabels(
            {std::string(KindName(kind)), std::string(EffectName(effect)), domain, transport});
      }
    }
  }
}

Decider::Decider(BundleManager* bundles, DecisionLog* log, ServerMetrics* metrics,
                 redact::Redactor redactor, int batch_helpers)
    : bundles_(bundles),
      log_(log),
      metrics_(metrics),
      redactor_(std::move(redactor)),
      id_prefix_(std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32)),
      fan_out_(batch_helpers >= 0 ? batch_helpers : CpuBudget() - 1) {
  for (Kind kind : {Kind::kAccess, Kind::kProduct, Kind::kDeployment}) {
    latency_[static_cast<size_t>(kind)] =
        &metrics_->latency.WithLabels({std::string(KindName(kind))});
  }
}

std::string Decider::DecisionId(uint64_t n) const {
  // "%016x-%08x" of the prefix and the counter, written by hand: absl::StrFormat's parsing and
  // dispatch took ~1.3k instructions per decision.
  static constexpr char kHex[] = "0123456789abcdef";
  int counter_digits = 8;
  while (counter_digits < 16 && (n >> (4 * counter_digits)) != 0) ++counter_digits;
  std::string id(17 + counter_digits, '-');
  for (int i = 0; i < 16; ++i) id[i] = kHex[(id_prefix_ >> (4 * (15 - i))) & 0xf];
  for (int i = 0; i < counter_digits; ++i) {
    id[17 + i] = kHex[(n >> (4 * (counter_digits - 1 - i))) & 0xf];
  }
  return id;
}

metrics::Counter& Decider::DecisionCounter(Kind kind, Effect effect, const std::string& domain,
                                           const std::string& transport) {
  const int t = transport == "grpc" ? 0 : transport == "http" ? 1 : -1;
  if (t < 0) {
    return metrics_->decisions.WithLabels(
        {std::string(KindName(kind)), std::string(EffectName(effect)), domain, transport});
  }
  const size_t slot = (static_cast<size_t>(kind) * 2 + (effect == Effect::kAllow ? 0 : 1)) * 2 +
                      static_cast<size_t>(t);
  // This thread's copy of the counters it used, by domain: the map below is shared by every
  // thread, and its reader lock moved one cache line between the cores twice per decision (a
  // batch's checks alternate between a few domains, so one cached domain was not enough).
  struct Cache {
    uint64_t decider = 0;
    absl::flat_hash_map<std::string, std::array<metrics::Counter*, 12>> by_domain;
  };
  thread_local Cache cache;
  if (cache.decider != instance_) {
    cache.decider = instance_;
    cache.by_domain.clear();
  }
  auto it = cache.by_domain.find(domain);
  if (it == cache.by_domain.end()) it = cache.by_domain.try_emplace(domain).first;
  metrics::Counter*& cached = it->second[slot];
  if (cached == nullptr) cached = &DecisionCounterSlow(slot, kind, effect, domain, transport);
  return *cached;
}

uint64_t Decider::NextInstance() {
  static std::atomic<uint64_t> next{0};
  return next.fetch_add(1) + 1;
}

metrics::Counter& Decider::DecisionCounterSlow(size_t slot, Kind kind, Effect effect,
                                               const std::string& domain,
                                               const std::string& transport) {
  {
    absl::ReaderMutexLock lock(&counters_mu_);
    auto it = counters_.find(domain);
    if (it != counters_.end() && slot < it->second.size() && it->second[slot] != nullptr) {
      return *it->second[slot];
    }
  }
  metrics::Counter& c = metrics_->decisions.WithLabels(
      {std::string(KindName(kind)), std::string(EffectName(effect)), domain, transport});
  absl::MutexLock lock(&counters_mu_);
  auto& slots = counters_[domain];
  if (slot < slots.size()) slots[slot] = &c;
  return c;
}

void Decider::SetImpactSource(std::string log_path, int max_files, impact::Options options) {
  impact_path_ = std::move(log_path);
  impact_max_files_ = max_files;
  impact_options_ = options;
}

absl::StatusOr<Decision> Decider::Decide(const Request& request, absl::Time deadline,
                                         const CallerInfo& caller) {
  std::shared_ptr<const Bundle> bundle = bundles_->Current();
  if (bundle == nullptr) return absl::FailedPreconditionError("no policy bundle is loaded");
  return DecideOn(*bundle, request, deadline, caller);
}

std::vector<absl::StatusOr<Decision>> Decider::DecideBatch(
    std::vector<AccessRequest> requests, absl::Time deadline, const CallerInfo& caller,
    std::string* revision, const SharedPrincipal* principal, const KeepFn& keep) {
  std::vector<absl::StatusOr<Decision>> out;
  std::shared_ptr<const Bundle> bundle = bundles_->Current();
  if (bundle == nullptr) {
    out.assign(requests.size(), absl::FailedPreconditionError("no policy bundle is loaded"));
    return out;
  }
  *revision = bundle->revision();
  return DecideBatchOn(*bundle, std::move(requests), deadline, caller, principal, keep);
}

std::vector<absl::StatusOr<Decision>> Decider::DecideBatchOn(
    const Bundle& bundle, std::vector<AccessRequest> requests, absl::Time deadline,
    const CallerInfo& caller, const SharedPrincipal* principal, const KeepFn& keep) {
  // The check before is freed here, on the core that decided it.
  const MakeFn take_request = [&requests](size_t i, AccessRequest& check) {
    check = std::move(requests[i]);
  };
  std::vector<absl::StatusOr<Decision>> out(requests.size());
  const KeepFn take_decision = [&](size_t i, Decision& d) {
    if (keep) keep(i, d);
    out[i] = std::move(d);
  };
  const std::vector<absl::Status> decided = DecideBatchInto(
      bundle, requests.size(), take_request, take_decision, deadline, caller, principal);
  out.resize(decided.size());
  for (size_t i = 0; i < decided.size(); ++i) {
    if (!decided[i].ok()) out[i] = decided[i];
  }
  return out;
}

std::vector<absl::Status> Decider::DecideBatchInto(const Bundle& bundle, size_t count,
                                                   const MakeFn& make, const KeepFn& take,
                                                   absl::Time deadline, const CallerInfo& caller,
                                                   const SharedPrincipal* principal) {
  // Undecided checks start with a status that has no message: one with a message shares one
  // heap copy, whose reference count every check's decision would update from every core.
  // Those still undecided at the end get the message.
  const absl::Status undecided(absl::StatusCode::kDeadlineExceeded, "");
  std::vector<absl::Status> out(count, undecided);
  fan_out_.Run(count, kBatchChunk, [&](size_t begin, size_t end) {
    Chunk chunk(bundle);
    chunk.next_id = id_counter_.value.fetch_add(end - begin) + 1;
    if (log_ != nullptr) chunk.log_lines.Reserve(end - begin, LogBytesFor(end - begin));
    AccessRequest& check = std::get<AccessRequest>(chunk.check);
    bool go_on = true;
    for (size_t i = begin; i < end && go_on; ++i) {
      make(i, check);
      absl::StatusOr<Decision> d =
          DecideOn(bundle, chunk.check, deadline, caller, principal, &chunk);
      if (d.ok()) {
        out[i] = absl::OkStatus();
        take(i, *d);
      } else {
        out[i] = d.status();
      }
      go_on = d.ok() || d.status().code() != absl::StatusCode::kDeadlineExceeded;
    }
    // Every decision made is logged, those before an expired check too.
    if (log_ != nullptr && !chunk.log_lines.empty()) {
      NoteLogBytes(chunk.log_lines);
      log_->AppendAll(std::move(chunk.log_lines));
    }
    return go_on;
  });
  // Past the deadline the caller fails the whole batch: the answer ends at the first check that
  // expired (checks after it that other threads decided in time are logged, like any decision).
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].code() == absl::StatusCode::kDeadlineExceeded) {
      if (out[i].message().empty()) {
        out[i] = absl::DeadlineExceededError("deadline exceeded before this check was decided");
      }
      out.resize(i + 1);
      break;
    }
  }
  return out;
}

absl::StatusOr<Decision> Decider::DecideOn(const Bundle& bundle, const Request& request,
                                           absl::Time deadline, const CallerInfo& caller,
                                           const SharedPrincipal* principal, Chunk* chunk) {
  Kind kind = KindOf(request);
  absl::Time start = absl::Now();
  EvalOptions options;
  options.now = start;
  options.deadline = deadline;
  options.decision_id = chunk != nullptr ? DecisionId(chunk->next_id++) : NextDecisionId();
  options.principal = principal;
  if (kind == Kind::kDeployment) {
    // Called by the engine only when a breaking change names a served column.
    options.deployment_impact = [&](const DeploymentRequest& dep, const Value& change) {
      impact::Source source;
      if (log_ != nullptr) {
        log_->Flush();  // decisions made until now count
        if (!impact_path_.empty() && impact_path_ != "-") {
          source.files = impact::RotatedFiles(impact_path_, impact_max_files_);
          source.rotation_order = true;
          source.name = absl::StrCat("decision log ", impact_path_);
        } else {
          source.lines = log_->Recent(SIZE_MAX, start - impact_options_.window);
          source.name = "recent decisions (in memory)";
        }
      }
      impact::Options o = impact_options_;
      o.now = start;
      o.deadline = deadline;
      absl::MutexLock scan(&impact_mu_);
      return impact::Compute(dep.product, dep.previous ? &*dep.previous : nullptr, dep.contracts,
                             dep.previous_contracts, change, o, source);
    };
  }
  options.trace = caller.explain;
  absl::StatusOr<Decision> d = chunk != nullptr ? chunk->session.Evaluate(request, options)
                                                : bundle.Evaluate(request, options);
  absl::Duration latency = absl::Now() - start;
  if (!d.ok()) {
    metrics_->errors.WithLabels({std::string(KindName(kind)), CodeName(d.status().code())})
        .Increment();
    return d;
  }
  DecisionCounter(kind, d->effect, d->domain, caller.transport).Increment();
  latency_[static_cast<size_t>(kind)]->Observe(absl::ToDoubleSeconds(latency));
  for (const PolicyFault& f : d->faults) {
    metrics_->policy_faults.WithLabels({f.policy_id, std::string(PolicyFaultTypeName(f.type))})
        .Increment();
  }
  if (log_ != nullptr) {
    json::Caller who{caller.peer, caller.identity, caller.role, caller.claimed, caller.transport};
    const Principal* shown = principal != nullptr ? &principal->principal() : nullptr;
    DecisionLog::Lines own;
    DecisionLog::Lines& lines = chunk != nullptr ? chunk->log_lines : own;
    if (chunk == nullptr) own.Reserve(1, LogBytesFor(1));
    if (redactor_.empty()) {
      lines.Add(start, [&](std::string& out) {
        json::AppendDecisionLogLine(out, *d, request, start, latency, who, shown);
      });
    } else {
      // Redaction works on the request as the log shows it; only configured servers pay for it.
      std::string request_json;
      json::AppendRequest(request_json, request, shown);
      const std::string redacted = redactor_.ApplyToJson(request_json);
      lines.Add(start, [&](std::string& out) {
        json::AppendDecisionLogLine(out, *d, KindOf(request), redacted, start, latency, who);
      });
    }
    if (chunk == nullptr) {
      NoteLogBytes(own);
      log_->AppendAll(std::move(own));
    }
  }
  return d;
}

}  // namespace arbiter

#include "service/dryrun/dry_run.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/timestamp.pb.h"
#include "service/convert/convert.h"
#include "service/descriptor/descriptor.h"
#include "service/value/parse.h"

namespace arbiter {

static_assert([] {
  for (size_t i = 0; i < std::size(kChangeOutcomes); ++i) {
    if (static_cast<size_t>(kChangeOutcomes[i].outcome) != i) return false;
  }
  return true;
}());

absl::string_view ChangeOutcomeName(ChangeOutcome outcome) {
  return kChangeOutcomes[static_cast<size_t>(outcome)].name;
}

std::optional<ChangeOutcome> ParseChangeOutcome(absl::string_view name) {
  for (const ChangeOutcomeInfo& o : kChangeOutcomes) {
    if (o.name == name) return o.outcome;
  }
  return std::nullopt;
}
namespace {

constexpr char kDefaultsKey[] = "(bundle defaults)";
constexpr char kNoDomain[] = "(none)";
constexpr int kDefaultExamples = 5;

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

absl::string_view CaseKind(const v1::DryRunCase& c) {
  switch (c.request_case()) {
    case v1::DryRunCase::kAccess:
      return KindName(Kind::kAccess);
    case v1::DryRunCase::kProduct:
      return KindName(Kind::kProduct);
    case v1::DryRunCase::kDeployment:
      return KindName(Kind::kDeployment);
    default:
      return "";
  }
}

// What identifies a finding when two decisions are compared. The detail is left out on purpose:
// it may name values (a principal, a region) without the outcome being any different.
struct FindingKey {
  std::string policy_id;
  std::string text;  // "policy_id: message", with "(warning)" for findings that never deny

  bool operator<(const FindingKey& o) const {
    return std::tie(policy_id, text) < std::tie(o.policy_id, o.text);
  }
  bool operator==(const FindingKey& o) const { return policy_id == o.policy_id && text == o.text; }
};

std::vector<FindingKey> Findings(const Decision& d) {
  std::vector<FindingKey> out;
  out.reserve(d.reasons.size());
  for (const Reason& r : d.reasons) {
    // The closed default's reason only lists what ran: not a finding of any policy, and it
    // would make every defaulted decision look changed when a candidate adds a policy.
    if (r.policy_id == kDefaultReasonId) continue;
    // The engine's own notes are not findings: they follow from what is compared already.
    if (r.severity == Severity::kInfo) continue;
    absl::string_view tag = r.severity == Severity::kWarning ? " (warning)"
                            : r.effect == Effect::kAllow     ? " (allow)"
                                                             : "";
    out.push_back({r.policy_id, absl::StrCat(r.policy_id, tag, ": ", r.message)});
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Minus(const std::vector<FindingKey>& a, const std::vector<FindingKey>& b) {
  std::vector<FindingKey> diff;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(diff));
  std::vector<std::string> out;
  for (FindingKey& k : diff) out.push_back(std::move(k.text));
  return out;
}

// Policies whose (sorted) findings differ between the two decisions.
std::vector<std::string> ChangedPolicies(const std::vector<FindingKey>& a,
                                         const std::vector<FindingKey>& b) {
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> per_policy;
  for (const FindingKey& k : a) per_policy[k.policy_id].first.push_back(k.text);
  for (const FindingKey& k : b) per_policy[k.policy_id].second.push_back(k.text);
  std::vector<std::string> out;
  for (const auto& [id, both] : per_policy) {
    if (both.first != both.second) out.push_back(id);
  }
  return out;
}

bool SameObligations(const Obligations& a, const Obligations& b) {
  auto masks = [](const Obligations& o) {
    std::vector<std::pair<std::string, std::string>> m;
    for (const ColumnMask& c : o.column_masks) m.emplace_back(c.column, c.expression);
    std::sort(m.begin(), m.end());
    return m;
  };
  auto filters = [](const Obligations& o) {
    std::vector<std::string> f = o.row_filters;
    std::sort(f.begin(), f.end());
    return f;
  };
  return masks(a) == masks(b) && filters(a) == filters(b);
}

// Counts of flips under one breakdown key.
struct Flips {
  int allow_to_deny = 0;
  int deny_to_allow = 0;
};

void Count(std::map<std::string, Flips>& counts, const std::string& key, bool to_deny) {
  Flips& f = counts[key];
  (to_deny ? f.allow_to_deny : f.deny_to_allow)++;
}

// Most flips first, then by key, so the table a reviewer reads starts with what matters most.
void AddFlipCounts(const std::map<std::string, Flips>& counts,
                   google::protobuf::RepeatedPtrField<v1::FlipCount>* out) {
  std::vector<std::pair<std::string, Flips>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.allow_to_deny + a.second.deny_to_allow >
           b.second.allow_to_deny + b.second.deny_to_allow;
  });
  for (const auto& [key, f] : sorted) {
    v1::FlipCount* c = out->Add();
    c->set_key(key);
    c->set_allow_to_deny(f.allow_to_deny);
    c->set_deny_to_allow(f.deny_to_allow);
  }
}

void AddByFrequency(const std::map<std::string, int>& counts,
                    google::protobuf::RepeatedPtrField<std::string>* out) {
  std::vector<std::pair<std::string, int>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [text, n] : sorted) out->Add(std::string(text));
}

std::string JoinPrincipal(const v1::Principal& p) {
  std::vector<std::string> parts;
  if (p.roles_size() > 0) parts.push_back(absl::StrCat("roles ", absl::StrJoin(p.roles(), ",")));
  if (p.groups_size() > 0) {
    parts.push_back(absl::StrCat("groups ", absl::StrJoin(p.groups(), ",")));
  }
  if (!p.domain().empty()) parts.push_back(absl::StrCat("domain ", p.domain()));
  std::map<std::string, std::string> attributes(p.attributes().begin(), p.attributes().end());
  for (const auto& [k, v] : attributes) parts.push_back(absl::StrCat(k, "=", v));
  std::string id = p.id().empty() ? "(no principal)" : p.id();
  if (parts.empty()) return id;
  return absl::StrCat(id, " (", absl::StrJoin(parts, "; "), ")");
}

// "customer-360 2.1.0" from a descriptor document, or what is known of it.
std::string DescribeDocument(const v1::Document& doc) {
  absl::StatusOr<Value> tree = DocumentToValue(doc, "product");
  if (!tree.ok() || !tree->is_map()) return "(unreadable descriptor)";
  std::string out = DescriptorName(*tree);
  if (out.empty()) out = "(unnamed)";
  if (std::string version = DescriptorVersion(*tree); !version.empty()) {
    absl::StrAppend(&out, " ", version);
  }
  return out;
}

std::string DocumentVersion(const v1::Document& doc) {
  absl::StatusOr<Value> tree = DocumentToValue(doc, "previous");
  if (!tree.ok()) return "";
  return DescriptorVersion(*tree);
}

std::string ErrorLine(absl::string_view who, const absl::Status& s) {
  return absl::StrCat(who, ": ", s.message());
}

}  // namespace

std::string SummarizeRequest(const v1::DryRunCase& request) {
  switch (request.request_case()) {
    case v1::DryRunCase::kAccess: {
      const v1::AccessRequest& a = request.access();
      const v1::ResourceRef& r = a.resource();
      std::string resource = !r.table().empty()     ? r.table()
                             : !r.product().empty() ? absl::StrCat("product ", r.product())
                                                    : "(no resource)";
      if (!r.domain().empty() && r.table().empty()) {
        resource = absl::StrCat(r.domain(), "/", r.product());
      }
      std::string out =
          absl::StrCat(JoinPrincipal(a.principal()), " ",
                       a.action().empty() ? "(no action)" : a.action(), " ", resource);
      if (r.columns_size() > 0) absl::StrAppend(&out, " [", absl::StrJoin(r.columns(), ", "), "]");
      return out;
    }
    case v1::DryRunCase::kProduct: {
      const v1::ProductRequest& p = request.product();
      std::string out = absl::StrCat(p.operation().empty() ? "register" : p.operation(), " ",
                                     DescribeDocument(p.product()));
      if (!p.requester().id().empty()) absl::StrAppend(&out, " by ", p.requester().id());
      return out;
    }
    case v1::DryRunCase::kDeployment: {
      const v1::DeploymentRequest& d = request.deployment();
      std::string out = absl::StrCat("deploy ", DescribeDocument(d.product()));
      if (d.has_previous()) {
        std::string from = DocumentVersion(d.previous());
        if (!from.empty()) absl::StrAppend(&out, " (from ", from, ")");
      } else {
        absl::StrAppend(&out, " (first deployment)");
      }
      absl::StrAppend(&out, " to ", d.environment().empty() ? "(no environment)" : d.environment());
      if (d.contracts_size() > 0)
        absl::StrAppend(&out, " with ", d.contracts_size(), " contract(s)");
      return out;
    }
    default:
      return "(empty request)";
  }
}

absl::StatusOr<v1::DryRunCase> ParseCaseLine(absl::string_view line) {
  absl::StatusOr<Value> tree = ParseJson(line, "line");
  if (!tree.ok()) return tree.status();
  if (!tree->is_map()) {
    return absl::InvalidArgumentError("expected a JSON object with `kind` and `request`");
  }
  const Value* kind_value = tree->Find("kind");
  if (kind_value == nullptr || !kind_value->is_string()) {
    return absl::InvalidArgumentError("kind: required (access, product or deployment)");
  }
  absl::StatusOr<Kind> kind = ParseKind(kind_value->as_string());
  if (!kind.ok())
    return absl::InvalidArgumentError(absl::StrCat("kind: ", kind.status().message()));
  const Value* request = tree->Find("request");
  if (request == nullptr || !request->is_map()) {
    return absl::InvalidArgumentError("request: required (an object)");
  }
  absl::StatusOr<v1::DryRunCase> c = CaseFromJson(*kind, request->ToJson());
  if (!c.ok()) return c.status();
  if (const Value* id = tree->Find("decision_id"); id != nullptr && id->is_string()) {
    c->set_source_decision_id(id->as_string());
  }
  if (const Value* time = tree->Find("time"); time != nullptr && !time->is_null()) {
    absl::Time t;
    std::string err;
    if (!time->is_string() || !absl::ParseTime(absl::RFC3339_full, time->as_string(), &t, &err)) {
      return absl::InvalidArgumentError(
          absl::StrCat("time: expected an RFC 3339 timestamp", err.empty() ? "" : ": ", err));
    }
    ToTimestamp(t, c->mutable_recorded_at());
  }
  return c;
}

absl::StatusOr<std::vector<DryRunInput>> ParseCaseLines(absl::string_view content,
                                                        absl::string_view source, bool lenient) {
  std::vector<DryRunInput> out;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    absl::StatusOr<v1::DryRunCase> c = ParseCaseLine(line);
    if (c.ok()) {
      out.push_back({*std::move(c), ""});
      continue;
    }
    std::string error = absl::StrCat(source, ":", line_number, ": ", c.status().message());
    if (!lenient) return absl::InvalidArgumentError(error);
    out.push_back({v1::DryRunCase(), std::move(error)});
  }
  return out;
}

namespace {

std::set<std::string> WaiversApplied(const Decision& d) {
  std::set<std::string> out;
  for (const Reason& r : d.reasons) {
    if (!r.waiver.empty()) out.insert(r.waiver);
  }
  return out;
}

// Waivers that waive a finding of one decision and not of the other, and why (dry_run.h).
std::vector<std::string> WaiverChanges(const Decision& active, const Decision& cand,
                                       const Bundle& candidate, absl::Time candidate_now) {
  std::set<std::string> a = WaiversApplied(active), c = WaiversApplied(cand);
  std::vector<std::string> out;
  for (const std::string& id : a) {
    if (c.contains(id)) continue;
    const Waiver* w = nullptr;
    for (const Waiver& x : candidate.waivers()) {
      if (x.id == id) w = &x;
    }
    out.push_back(absl::StrCat(id, w == nullptr                  ? " removed"
                                   : !w->ActiveAt(candidate_now) ? " expired"
                                                                 : " no longer matches"));
  }
  for (const std::string& id : c) {
    if (!a.contains(id)) out.push_back(absl::StrCat(id, " added"));
  }
  return out;
}

}  // namespace

CandidateLoad LoadCandidate(const BundleFiles& files, const LoadOptions& options) {
  CandidateLoad out;
  absl::StatusOr<std::shared_ptr<const Bundle>> bundle = Bundle::Load(files, options);
  if (bundle.ok()) {
    out.bundle = *std::move(bundle);
    return out;
  }
  out.errors = absl::StrSplit(bundle.status().message(), '\n', absl::SkipWhitespace());
  // Bundle::Load puts a summary line ("bundle X has N errors:") above the file:line lines.
  if (out.errors.size() > 1 && absl::StartsWith(out.errors[0], "bundle")) {
    out.errors.erase(out.errors.begin());
  }
  for (std::string& e : out.errors) e = std::string(absl::StripAsciiWhitespace(e));
  return out;
}

absl::StatusOr<v1::DryRunResponse> CompareBundles(const Bundle& active, const Bundle& candidate,
                                                  const std::vector<DryRunInput>& inputs,
                                                  const DryRunOptions& options) {
  if (options.max_examples < 0 || options.max_examples > kMaxDryRunExamples) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_examples: expected 0 to ", kMaxDryRunExamples, ", got ", options.max_examples));
  }
  v1::DryRunResponse response;
  response.set_active_revision(active.revision());
  response.set_candidate_revision(candidate.revision());
  v1::DryRunSummary& summary = *response.mutable_summary();
  std::map<std::string, Flips> by_kind, by_domain, by_policy, by_waiver;
  std::map<std::string, int> added, removed;

  for (size_t i = 0; i < inputs.size(); ++i) {
    const DryRunInput& input = inputs[i];
    v1::DryRunResult& r = *response.add_results();
    r.set_index(static_cast<int>(i));
    summary.set_total(summary.total() + 1);
    auto fail = [&](std::string error) {
      r.set_change(std::string(ChangeOutcomeName(ChangeOutcome::kFailed)));
      r.set_error(std::move(error));
      summary.set_failed(summary.failed() + 1);
      if (summary.failed_examples_size() < options.max_examples) {
        summary.add_failed_examples(r.index());
      }
    };
    if (!input.error.empty()) {
      fail(input.error);
      continue;
    }
    r.set_kind(std::string(CaseKind(input.request)));
    r.set_source_decision_id(input.request.source_decision_id());
    r.set_request_summary(SummarizeRequest(input.request));

    absl::StatusOr<Request> request = FromProto(input.request);
    if (!request.ok()) {
      fail(ErrorLine("request", request.status()));
      continue;
    }
    EvalOptions eval;
    eval.now =
        input.request.has_recorded_at() ? FromTimestamp(input.request.recorded_at()) : options.now;
    eval.deadline = options.deadline;
    absl::StatusOr<Decision> a = active.Evaluate(*request, eval);
    EvalOptions candidate_eval = eval;
    if (options.candidate_at.has_value()) candidate_eval.now = *options.candidate_at;
    absl::StatusOr<Decision> c = candidate.Evaluate(*request, candidate_eval);
    for (const absl::Status& s : {a.status(), c.status()}) {
      if (s.code() == absl::StatusCode::kDeadlineExceeded && absl::Now() >= options.deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("dry-run deadline passed after ", i, " of ", inputs.size(),
                         " requests; replay fewer (recent/since) or allow more time"));
      }
    }
    if (a.ok()) ToProto(*a, r.mutable_active());
    if (c.ok()) ToProto(*c, r.mutable_candidate());
    std::string domain = c.ok() ? c->domain : a.ok() ? a->domain : "";
    r.set_domain(domain);
    if (!a.ok() || !c.ok()) {
      std::vector<std::string> errors;
      if (!a.ok() && !c.ok() && a.status().message() == c.status().message()) {
        errors.push_back(ErrorLine("both bundles", a.status()));
      } else {
        if (!a.ok()) errors.push_back(ErrorLine("active", a.status()));
        if (!c.ok()) errors.push_back(ErrorLine("candidate", c.status()));
      }
      fail(absl::StrJoin(errors, "; "));
      continue;
    }

    std::vector<FindingKey> before = Findings(*a);
    std::vector<FindingKey> after = Findings(*c);
    for (std::string& s : Minus(after, before)) r.add_reasons_added(std::move(s));
    for (std::string& s : Minus(before, after)) r.add_reasons_removed(std::move(s));
    std::vector<std::string> policies = ChangedPolicies(before, after);
    for (const std::string& p : policies) r.add_changed_policies(p);
    std::vector<std::string> waiver_changes = WaiverChanges(*a, *c, candidate, candidate_eval.now);
    for (const std::string& w : waiver_changes) r.add_waiver_changes(w);

    if (a->effect == c->effect) {
      bool same = before == after && SameObligations(a->obligations, c->obligations);
      r.set_change(std::string(
          ChangeOutcomeName(same ? ChangeOutcome::kUnchanged : ChangeOutcome::kReasonsChanged)));
      if (!same) summary.set_changed(summary.changed() + 1);
    } else {
      bool to_deny = c->effect == Effect::kDeny;
      r.set_change(std::string(
          ChangeOutcomeName(to_deny ? ChangeOutcome::kAllowToDeny : ChangeOutcome::kDenyToAllow)));
      summary.set_changed(summary.changed() + 1);
      if (to_deny) {
        summary.set_allow_to_deny(summary.allow_to_deny() + 1);
        if (summary.allow_to_deny_examples_size() < options.max_examples) {
          summary.add_allow_to_deny_examples(r.index());
        }
      } else {
        summary.set_deny_to_allow(summary.deny_to_allow() + 1);
        if (summary.deny_to_allow_examples_size() < options.max_examples) {
          summary.add_deny_to_allow_examples(r.index());
        }
      }
      Count(by_kind, r.kind(), to_deny);
      Count(by_domain, domain.empty() ? kNoDomain : domain, to_deny);
      if (policies.empty()) Count(by_policy, kDefaultsKey, to_deny);
      for (const std::string& p : policies) Count(by_policy, p, to_deny);
      for (const std::string& w : waiver_changes) Count(by_waiver, w, to_deny);
    }
    for (const std::string& s : r.reasons_added()) added[s]++;
    for (const std::string& s : r.reasons_removed()) removed[s]++;
  }
  AddFlipCounts(by_kind, summary.mutable_by_kind());
  AddFlipCounts(by_domain, summary.mutable_by_domain());
  AddFlipCounts(by_policy, summary.mutable_by_policy());
  AddFlipCounts(by_waiver, summary.mutable_by_waiver());
  AddByFrequency(added, summary.mutable_reasons_added());
  AddByFrequency(removed, summary.mutable_reasons_removed());
  return response;
}

namespace {

// The `domain` a decision-log line records, or "" when the line does not say (or is torn).
std::string RecordedDomain(absl::string_view line) {
  absl::StatusOr<Value> tree = ParseJson(line, "line");
  if (!tree.ok() || !tree->is_map()) return "";
  return tree->GetString("domain");
}

}  // namespace

absl::StatusOr<v1::DryRunResponse> RunDryRun(const v1::DryRunRequest& request, const Bundle& active,
                                             const DecisionLog* log, absl::Time deadline,
                                             const DryRunAccess& access) {
  DryRunOptions options;
  options.deadline = deadline;
  options.max_examples = request.max_examples() == 0 ? kDefaultExamples : request.max_examples();
  if (options.max_examples < 0 || options.max_examples > kMaxDryRunExamples) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_examples: expected 0 to ", kMaxDryRunExamples, ", got ", request.max_examples()));
  }
  if (request.recent() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("recent: expected a positive count, got ", request.recent()));
  }
  bool replay = request.cases_size() == 0;
  if (replay && request.recent() == 0 && !request.has_since()) {
    return absl::InvalidArgumentError(
        "cases: required, or `recent` and/or `since` to replay the server's decision log");
  }
  if (replay && log == nullptr) {
    return absl::FailedPreconditionError(
        "cannot replay recent decisions: this server runs with decision logging off "
        "(set decision_log.path in its config); send the cases instead");
  }

  BundleFiles files;
  switch (request.candidate_source_case()) {
    case v1::DryRunRequest::kCandidate:
      for (const auto& [path, content] : request.candidate().files()) files.files[path] = content;
      break;
    case v1::DryRunRequest::kCandidatePath: {
      std::string dir = request.candidate_path();
      if (access.resolve_path) {
        absl::StatusOr<std::string> resolved = access.resolve_path(dir);
        if (!resolved.ok()) return resolved.status();
        dir = *std::move(resolved);
      }
      absl::StatusOr<BundleFiles> read = ReadBundleDir(dir);
      if (!read.ok()) {
        v1::DryRunResponse response;
        response.set_active_revision(active.revision());
        response.mutable_summary();  // all zero: nothing was evaluated
        response.add_candidate_errors(ErrorLine("candidate_path", read.status()));
        return response;
      }
      files = *std::move(read);
      break;
    }
    default:
      return absl::InvalidArgumentError(
          "candidate_source: required (candidate inline files or candidate_path)");
  }
  if (access.check_candidate) {
    if (absl::Status s = access.check_candidate(files); !s.ok()) return s;
  }
  LoadOptions load = access.load;
  load.deadline = std::min(load.deadline, deadline);
  CandidateLoad candidate = LoadCandidate(files, load);
  if (absl::Now() > deadline) {
    return absl::DeadlineExceededError("deadline exceeded while loading the candidate bundle");
  }
  if (candidate.bundle == nullptr) {
    v1::DryRunResponse response;
    response.set_active_revision(active.revision());
    response.mutable_summary();  // all zero: nothing was evaluated
    for (std::string& e : candidate.errors) response.add_candidate_errors(std::move(e));
    return response;
  }

  std::vector<DryRunInput> inputs;
  if (!replay) {
    inputs.reserve(request.cases_size());
    for (const v1::DryRunCase& c : request.cases()) inputs.push_back({c, ""});
  } else {
    size_t max_lines = request.recent() > 0 ? static_cast<size_t>(request.recent())
                                            : std::numeric_limits<size_t>::max();
    absl::Time since = request.has_since() ? FromTimestamp(request.since()) : absl::InfinitePast();
    for (const std::string& line : log->Recent(max_lines, since)) {
      if (!access.replay_domain.empty() && RecordedDomain(line) != access.replay_domain) continue;
      absl::StatusOr<v1::DryRunCase> c = ParseCaseLine(line);
      if (c.ok()) {
        inputs.push_back({*std::move(c), ""});
      } else {
        inputs.push_back({v1::DryRunCase(), ErrorLine("decision log", c.status())});
      }
    }
  }
  if (request.has_candidate_at()) options.candidate_at = FromTimestamp(request.candidate_at());
  return CompareBundles(active, *candidate.bundle, inputs, options);
}

std::function<absl::StatusOr<v1::DryRunResponse>(const v1::DryRunRequest&, absl::Time,
                                                 const DryRunAccess&)>
MakeDryRunHandler(std::function<std::shared_ptr<const Bundle>()> active, const DecisionLog* log) {
  return [active = std::move(active), log](
             const v1::DryRunRequest& request, absl::Time deadline,
             const DryRunAccess& access) -> absl::StatusOr<v1::DryRunResponse> {
    // One snapshot for the whole run: a reload in the middle must not mix two active bundles.
    std::shared_ptr<const Bundle> bundle = active();
    if (bundle == nullptr) return absl::FailedPreconditionError("no policy bundle is loaded");
    DryRunAccess scoped = access;
    // A candidate never gets more than the active bundle allows.
    scoped.load.max_limits = &bundle->limits();
    return RunDryRun(request, *bundle, log, deadline, scoped);
  };
}

}  // namespace arbiter

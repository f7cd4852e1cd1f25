#include "service/explain/explain.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace arbiter {

std::string DecidingLayer(const Decision& d, Kind kind) {
  auto ids = [&](auto pred) {
    std::vector<std::string> out;
    for (const Reason& r : d.reasons) {
      if (pred(r) && std::find(out.begin(), out.end(), r.policy_id) == out.end()) {
        out.push_back(r.policy_id);
      }
    }
    return absl::StrJoin(out, ", ");
  };
  auto error_deny = [](const Reason& r) {
    return r.effect == Effect::kDeny && r.severity == Severity::kError;
  };
  auto grant = [](const Reason& r) {
    return r.effect == Effect::kAllow && !r.obligation && r.severity == Severity::kNone;
  };
  if (d.defaulted) {
    return absl::StrCat("step 6, the bundle default for ", KindName(kind), " (",
                        EffectName(d.effect), "): no policy allowed or denied with severity error");
  }
  if (std::string m =
          ids([&](const Reason& r) { return error_deny(r) && r.mode == PolicyMode::kMandatory; });
      !m.empty()) {
    return absl::StrCat("step 2, a mandatory deny (final): ", m);
  }
  if (d.effect == Effect::kAllow) {
    if (std::string m =
            ids([&](const Reason& r) { return grant(r) && r.mode == PolicyMode::kMandatory; });
        !m.empty()) {
      return absl::StrCat("step 3, a mandatory allow (final, no domain can take it away): ", m);
    }
    return absl::StrCat("step 5, an allow with no error deny: ", ids(grant));
  }
  return absl::StrCat("step 4, a deny of severity error: ", ids(error_deny));
}

std::string FormatExplain(const Decision& d, Kind kind) {
  std::string out = "explain:\n";
  absl::StrAppend(&out, "  decided by ", DecidingLayer(d, kind), "\n");
  if (!d.overridden_policies.empty()) {
    absl::StrAppend(&out, "  not run (overridden by domain ", d.domain,
                    "): ", absl::StrJoin(d.overridden_policies, ", "), "\n");
  }
  if (d.trace == nullptr) return out;
  int n = 0;
  for (const PolicyTrace& p : d.trace->policies) {
    char time[32];
    std::snprintf(time, sizeof time, "%.3f ms", absl::ToDoubleMilliseconds(p.time));
    absl::StrAppend(&out, "  ", ++n, ". ", p.policy_id, " [", p.origin, ", ",
                    PolicyModeName(p.mode), "]  ", time, ", ",
                    p.instructions < 1000 ? "<1000" : absl::StrCat("~", p.instructions),
                    " instructions\n");
    if (!p.fault.empty()) absl::StrAppend(&out, "       could not decide: ", p.fault, "\n");
    if (p.findings.empty() && p.fault.empty()) absl::StrAppend(&out, "       no finding\n");
    for (const std::string& f : p.findings) absl::StrAppend(&out, "       ", f, "\n");
    for (const std::string& line : p.prints) absl::StrAppend(&out, "       print: ", line, "\n");
  }
  return out;
}

std::string FormatChecksExplain(absl::string_view header, const std::vector<AccessRequest>& checks,
                                const std::vector<absl::StatusOr<Decision>>& decisions) {
  std::string out = absl::StrCat(header, ", ", checks.size(), " checks\n");
  for (size_t i = 0; i < checks.size() && i < decisions.size(); ++i) {
    const AccessRequest& check = checks[i];
    absl::StrAppend(&out, "check ", i, ": ", check.action, " ",
                    check.resource.table.empty() ? check.resource.product : check.resource.table);
    if (!decisions[i].ok()) {
      absl::StrAppend(&out, " -> could not decide: ", decisions[i].status().message(), "\n");
      continue;
    }
    absl::StrAppend(&out, " -> ", EffectName(decisions[i]->effect), "\n",
                    FormatExplain(*decisions[i], Kind::kAccess));
  }
  return out;
}

bool QueryAsksExplain(absl::string_view raw_query) {
  for (absl::string_view part : absl::StrSplit(raw_query, '&')) {
    if (part == "explain" || part == "explain=true" || part == "explain=1") return true;
  }
  return false;
}

}  // namespace arbiter

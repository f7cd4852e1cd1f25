#include "clients/cli/decision_output.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/convert/convert.h"
#include "service/engine/types.h"

namespace arbiter::cli {

std::string FormatDecisionText(const v1::Decision& d, const std::string& kind) {
  std::string out = absl::StrCat(d.effect() == v1::EFFECT_ALLOW ? "ALLOW" : "DENY", "  ", kind,
                                 "  revision ", d.bundle_revision());
  if (!d.domain().empty()) absl::StrAppend(&out, "  domain ", d.domain());
  if (d.defaulted()) absl::StrAppend(&out, "  (no policy decided: bundle default)");
  absl::StrAppend(&out, "\n");
  for (const v1::Reason& r : d.reasons()) {
    if (r.severity() == v1::SEVERITY_INFO) {
      absl::StrAppend(&out, "  i ", r.message(), "\n");
      if (!r.detail().empty()) absl::StrAppend(&out, "      detail: ", r.detail(), "\n");
      continue;
    }
    const char* mark = r.severity() == v1::SEVERITY_WARNING ? "!"
                       : r.obligation()                     ? "~"
                       : r.effect() == v1::EFFECT_ALLOW     ? "+"
                                                            : "x";
    Severity severity = SeverityFromProto(r.severity());
    absl::string_view sev = severity == Severity::kWarning || severity == Severity::kError
                                ? SeverityName(severity)
                            : r.obligation() ? "obligation"
                                             : "allow";
    absl::StrAppend(&out, "  ", mark, " ", r.policy_id(), " [", r.origin(), ", ", r.mode(), "] ",
                    sev, ": ", r.message(), "\n");
    if (!r.detail().empty()) absl::StrAppend(&out, "      detail: ", r.detail(), "\n");
  }
  for (const auto& m : d.obligations().column_masks()) {
    absl::StrAppend(&out, "  mask ", m.column(), " => ", m.expression(), "\n");
  }
  for (const auto& f : d.obligations().row_filters()) {
    absl::StrAppend(&out, "  row filter: ", f.expression(), "\n");
  }
  absl::StrAppend(
      &out, "  evaluated: ",
      d.evaluated_policies().empty() ? "(none)" : absl::StrJoin(d.evaluated_policies(), ", "),
      "\n");
  if (!d.overridden_policies().empty()) {
    absl::StrAppend(
        &out, "  overridden by the domain: ", absl::StrJoin(d.overridden_policies(), ", "), "\n");
  }
  return out;
}

int ExitCodeFor(const v1::Decision& d) { return d.effect() == v1::EFFECT_ALLOW ? 0 : 1; }

}  // namespace arbiter::cli

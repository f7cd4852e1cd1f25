// DESIGN §1's combining algorithm, as a pure function: layered deny-overrides with the
// mandatory layer first. Kept apart from Lua so that it can be tested table-driven.
#ifndef ARBITER_SERVICE_ENGINE_COMBINE_H_
#define ARBITER_SERVICE_ENGINE_COMBINE_H_

#include <vector>

#include "service/engine/bundle.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/types.h"

namespace arbiter {

// One finding of one policy that ran.
struct PolicyFinding {
  const PolicyInfo* policy;  // not owned
  Finding finding;
  // A waiver in force for this deny finding (waivers.h): reported as a warning naming it.
  const Waiver* waiver = nullptr;
};

// Combines findings into the decision's effect, reasons, obligations and `defaulted`:
//   1. a deny of severity error from a mandatory policy: DENY, final;
//   2. else an allow from a mandatory policy: ALLOW, final;
//   3. else any deny of severity error: DENY;
//   4. else any allow: ALLOW;
//   5. else `default_effect`.
// warn() findings, denies of severity-warning policies and every finding of an advisory policy
// are reported with severity WARNING and never change the effect; so are waived denies, whose
// reason names the waiver. obligate() findings add
// masks and row filters to an ALLOW and never grant. When the effect is ALLOW, the masks and
// filters of every allow and obligate finding are merged; for a column masked twice the
// mandatory policy's mask wins, then the first in evaluation order.
void Combine(const std::vector<PolicyFinding>& findings, Effect default_effect, Decision& out);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_COMBINE_H_

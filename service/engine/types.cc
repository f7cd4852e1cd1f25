#include "service/engine/types.h"

#include "absl/strings/str_cat.h"

namespace arbiter {

absl::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kAccess:
      return "access";
    case Kind::kProduct:
      return "product";
    case Kind::kDeployment:
      return "deployment";
  }
  return "access";
}

absl::StatusOr<Kind> ParseKind(absl::string_view name) {
  if (name == "access") return Kind::kAccess;
  if (name == "product") return Kind::kProduct;
  if (name == "deployment") return Kind::kDeployment;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown kind \"", name, "\" (expected access, product or deployment)"));
}

Kind KindOf(const Request& request) {
  switch (request.index()) {
    case 0:
      return Kind::kAccess;
    case 1:
      return Kind::kProduct;
    default:
      return Kind::kDeployment;
  }
}

absl::string_view EffectName(Effect effect) { return effect == Effect::kAllow ? "allow" : "deny"; }

absl::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kInfo:
      return "info";
    default:
      return "";
  }
}

absl::string_view PolicyFaultTypeName(PolicyFault::Type type) {
  switch (type) {
    case PolicyFault::Type::kError:
      return "error";
    case PolicyFault::Type::kBudget:
      return "budget";
    case PolicyFault::Type::kMemory:
      return "memory";
    case PolicyFault::Type::kMalformed:
      return "malformed";
  }
  return "error";
}

}  // namespace arbiter

// Invariants the request and policy fuzzers check on every outcome, beyond "no crash": a rejected
// request is INVALID_ARGUMENT; an evaluation is a decision or INVALID_ARGUMENT (never INTERNAL,
// and never DEADLINE_EXCEEDED: the fuzzers set no request deadline); a decision obeys DESIGN §1's
// combining rules and SANDBOX.md #16 (reason text capped, free of control characters).
#ifndef ARBITER_FUZZ_FUZZ_CHECKS_H_
#define ARBITER_FUZZ_FUZZ_CHECKS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/engine/bundle.h"
#include "service/engine/types.h"
#include "service/value/value.h"

namespace arbiter::fuzz {

[[noreturn]] inline void Fail(absl::string_view what) {
  std::fprintf(stderr, "invariant violated: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), as JSON parsers
// require.
inline bool IsUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Every string and map key of `v` is UTF-8 (JSON, protobuf strings and Lua consumers need it).
inline bool AllStringsUtf8(const Value& v) {
  switch (v.type()) {
    case Value::Type::kString:
      return IsUtf8(v.as_string());
    case Value::Type::kList:
      for (const Value& e : v.as_list()) {
        if (!AllStringsUtf8(e)) return false;
      }
      return true;
    case Value::Type::kMap:
      for (const auto& [k, e] : v.as_map()) {
        if (!IsUtf8(k) || !AllStringsUtf8(e)) return false;
      }
      return true;
    default:
      return true;
  }
}

// Whether `v` holds a NaN or an infinity (ToJson renders them as null).
inline bool HasNonFinite(const Value& v) {
  switch (v.type()) {
    case Value::Type::kDouble:
      return !std::isfinite(v.as_double());
    case Value::Type::kList:
      for (const Value& e : v.as_list()) {
        if (HasNonFinite(e)) return true;
      }
      return false;
    case Value::Type::kMap:
      for (const auto& [k, e] : v.as_map()) {
        if (HasNonFinite(e)) return true;
      }
      return false;
    default:
      return false;
  }
}

// A policy id or other identifier that is safe in messages, logs and protos: printable ASCII.
inline bool CleanIdentifier(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    unsigned char c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7F;
  });
}

inline void CheckRejection(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    Fail("a rejected request must be INVALID_ARGUMENT, got " + status.ToString());
  }
  if (status.message().empty()) Fail("a rejection must say why");
}

inline bool CleanReasonText(absl::string_view s, size_t cap) {
  // The engine may prefix a policy's capped text with a short explanation of its own.
  if (s.size() > cap + 512) return false;
  return std::none_of(s.begin(), s.end(), [](char ch) {
    unsigned char c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7F;
  });
}

inline void CheckDecision(const Bundle& bundle, const Request& request,
                          const absl::StatusOr<Decision>& result) {
  if (!result.ok()) {
    CheckRejection(result.status());
    return;
  }
  const Decision& d = *result;
  if (d.bundle_revision != bundle.revision()) Fail("decision names another bundle revision");
  bool error_deny = false, grant = false;
  for (const std::string& id : d.evaluated_policies) {
    if (!CleanIdentifier(id)) Fail("policy id with control or non-ASCII bytes");
  }
  for (const Reason& r : d.reasons) {
    if (r.policy_id.empty()) Fail("reason without a policy id");
    // The engine's own reasons: the closed default's, and the note on an uncatalogued resource
    // (whose owner is nobody: no domain policy may have run).
    if (r.policy_id == kDefaultReasonId) {
      if (!d.defaulted || d.effect != Effect::kDeny) Fail("bundle.default on a decided decision");
      continue;
    }
    if (r.policy_id == kUncataloguedReasonId) {
      if (r.severity != Severity::kInfo || !d.domain.empty()) Fail("bundle.catalog misplaced");
      for (const std::string& id : d.evaluated_policies) {
        if (id.rfind("global.", 0) != 0) Fail("domain policy " + id + " ran for no owner");
      }
      continue;
    }
    if (std::find(d.evaluated_policies.begin(), d.evaluated_policies.end(), r.policy_id) ==
        d.evaluated_policies.end()) {
      Fail("reason from policy " + r.policy_id + " that did not run");
    }
    if (r.origin != "global" && r.origin.rfind("domain:", 0) != 0) {
      Fail("reason origin \"" + r.origin + "\"");
    }
    if (!r.origin.empty() && r.origin != "global" && r.origin != "domain:" + d.domain) {
      Fail("policy of domain " + r.origin + " ran for a resource of domain " + d.domain);
    }
    if (!CleanReasonText(r.message, bundle.limits().max_message_bytes) ||
        !CleanReasonText(r.detail, bundle.limits().max_message_bytes)) {
      Fail("reason text of " + r.policy_id + " is too long or has control characters");
    }
    if (r.effect == Effect::kDeny && r.severity == Severity::kError) error_deny = true;
    if (r.effect == Effect::kAllow && !r.obligation && r.severity != Severity::kWarning) {
      grant = true;
    }
    if (r.obligation && r.effect != Effect::kAllow) Fail("an obligation that is not an allow");
  }
  if (d.effect == Effect::kAllow && error_deny) {
    // Only a mandatory allow (not an obligation) beats a deny, and only a non-mandatory one.
    bool mandatory_allow = false, mandatory_deny = false;
    for (const Reason& r : d.reasons) {
      if (r.mode != PolicyMode::kMandatory) continue;
      if (r.effect == Effect::kAllow && !r.obligation) mandatory_allow = true;
      if (r.effect == Effect::kDeny && r.severity == Severity::kError) mandatory_deny = true;
    }
    if (!mandatory_allow || mandatory_deny) Fail("ALLOW despite a deny of severity error");
  }
  if (d.effect == Effect::kDeny && !error_deny) {
    if (!d.defaulted) Fail("DENY without a deny finding and not defaulted");
    if (KindOf(request) != Kind::kAccess) Fail("non-access request denied by default");
  }
  if (d.effect == Effect::kAllow && !grant && !d.defaulted) Fail("ALLOW without a grant");
  if (d.defaulted && (error_deny || grant)) Fail("defaulted although a policy decided");
  if (d.effect == Effect::kDeny && !d.obligations.empty()) Fail("obligations on a DENY");
  if (KindOf(request) != Kind::kDeployment && !d.change.is_null()) {
    Fail("req.change on a request that is not a deployment");
  }
}

}  // namespace arbiter::fuzz

#endif  // ARBITER_FUZZ_FUZZ_CHECKS_H_

#include "service/authz/authz.h"

#include <climits>
#include <cstdlib>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "service/descriptor/descriptor.h"
#include "service/value/parse.h"

namespace arbiter::authz {
namespace {

bool ValidDomainName(absl::string_view d) {
  if (d.empty() || d.size() > 63) return false;
  for (char c : d) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' && c != '_') return false;
  }
  return true;
}

// '*' matches any run of characters, everything else itself. Iterative with one backtrack point,
// so linear in practice and never recursive on hostile input.
bool GlobMatch(absl::string_view pattern, absl::string_view s) {
  size_t p = 0, i = 0, star = absl::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pattern.size() && pattern[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// The roles that may perform each operation: the whole authorization table.
bool Allowed(const Role& role, Operation op) {
  switch (op) {
    case Operation::kDecide:
    case Operation::kHealth:
    case Operation::kReflection:
    case Operation::kGetStatus:
    case Operation::kListPolicies:
      return true;
    case Operation::kValidateBundle:
    case Operation::kDryRun:
      return role.kind != Role::Kind::kEngine;
    case Operation::kReload:
    case Operation::kExplain:
      return role.kind == Role::Kind::kGovernance;
  }
  return false;
}

const char* NeededRoles(Operation op) {
  switch (op) {
    case Operation::kValidateBundle:
    case Operation::kDryRun:
      return "governance or domain:<D>";
    case Operation::kReload:
    case Operation::kExplain:
      return "governance";
    default:
      return "any role";
  }
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

// The domain of a product descriptor (DescriptorDomain, as the catalog reads it), or "" when it
// does not parse or has none.
std::string DomainOfText(const std::string& text) {
  absl::StatusOr<Value> v = ParseYaml(text, "candidate");
  if (!v.ok()) return "";
  return DescriptorDomain(*v);
}

}  // namespace

std::string Role::Name() const {
  switch (kind) {
    case Kind::kGovernance:
      return "governance";
    case Kind::kEngine:
      return "engine";
    case Kind::kDomain:
      return absl::StrCat("domain:", domain);
  }
  return "";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  Role r;
  if (name == "governance") {
    r.kind = Role::Kind::kGovernance;
  } else if (name == "engine") {
    r.kind = Role::Kind::kEngine;
  } else if (absl::ConsumePrefix(&name, "domain:") && ValidDomainName(name)) {
    r.kind = Role::Kind::kDomain;
    r.domain = std::string(name);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown role \"", name, "\" (expected governance, engine or domain:<D>)"));
  }
  return r;
}

absl::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kDecide:
      return "decide";
    case Operation::kHealth:
      return "health";
    case Operation::kReflection:
      return "reflection";
    case Operation::kGetStatus:
      return "GetStatus";
    case Operation::kListPolicies:
      return "ListPolicies";
    case Operation::kValidateBundle:
      return "ValidateBundle";
    case Operation::kDryRun:
      return "DryRun";
    case Operation::kReload:
      return "Reload";
    case Operation::kExplain:
      return "explain";
  }
  return "";
}

absl::Status AuthzConfig::Validate() const {
  std::vector<std::string> errors;
  for (size_t i = 0; i < identities.size(); ++i) {
    if (identities[i].match.empty()) {
      errors.push_back(absl::StrCat("authz.identities[", i, "].match: required"));
    }
    if (auto r = ParseRole(identities[i].role); !r.ok()) {
      errors.push_back(absl::StrCat("authz.identities[", i, "].role: ", r.status().message()));
    }
  }
  if (anonymous_role != "none") {
    if (auto r = ParseRole(anonymous_role); !r.ok()) {
      errors.push_back(absl::StrCat("authz.anonymous_role: ", r.status().message(),
                                    "; or none to refuse anonymous callers"));
    }
  }
  for (size_t i = 0; i < bundle_roots.size(); ++i) {
    if (bundle_roots[i].empty() || bundle_roots[i][0] != '/') {
      errors.push_back(absl::StrCat("authz.bundle_roots[", i, "]: must be an absolute path"));
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

absl::StatusOr<Authorizer> Authorizer::Create(const AuthzConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  Authorizer a;
  for (const IdentityRule& r : config.identities) a.rules_.push_back({r.match, *ParseRole(r.role)});
  if (config.anonymous_role != "none") a.anonymous_ = *ParseRole(config.anonymous_role);
  for (const std::string& root : config.bundle_roots) {
    // A root that does not exist (yet) admits nothing; it is not an error at startup.
    std::string real = RealPath(root);
    if (!real.empty()) a.roots_.push_back(real);
  }
  return a;
}

Caller Authorizer::Identify(absl::string_view identity, bool authenticated) const {
  Caller c;
  c.authenticated = authenticated && !identity.empty();
  c.identity = c.authenticated ? std::string(identity) : std::string(kAnonymous);
  if (!c.authenticated) {
    c.role = anonymous_;
    return c;
  }
  for (const Rule& r : rules_) {
    if (GlobMatch(r.match, c.identity)) {
      c.role = r.role;
      break;
    }
  }
  return c;
}

absl::Status Authorizer::Authorize(const Caller& caller, Operation op) const {
  if (!caller.role.has_value()) {
    return absl::PermissionDeniedError(
        absl::StrCat("caller \"", caller.identity, "\" has no role",
                     caller.authenticated ? " (no authz.identities rule matches it)"
                                          : " (authz.anonymous_role is none)",
                     "; ", OperationName(op), " needs ", NeededRoles(op)));
  }
  if (Allowed(*caller.role, op)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("caller \"", caller.identity, "\" (role ", caller.role->Name(), ") may not ",
                   OperationName(op), ": it needs role ", NeededRoles(op)));
}

absl::Status Authorizer::AuthorizeRoleName(absl::string_view identity, absl::string_view role,
                                           Operation op) {
  Caller caller;
  caller.identity = std::string(identity);
  caller.authenticated = identity != kAnonymous;
  if (!role.empty()) {
    absl::StatusOr<Role> parsed = ParseRole(role);
    if (parsed.ok()) caller.role = *parsed;
  }
  // Authorize reads nothing of the authorizer's own state.
  return Authorizer().Authorize(caller, op);
}

absl::StatusOr<std::string> Authorizer::ResolveBundlePath(const std::string& path) const {
  std::string real = path.empty() ? "" : RealPath(path);
  if (!real.empty()) {
    for (const std::string& root : roots_) {
      if (real == root || absl::StartsWith(real, root == "/" ? root : root + "/")) return real;
    }
  }
  return absl::PermissionDeniedError(
      absl::StrCat("path \"", path, "\" is not inside a directory listed in authz.bundle_roots"));
}

std::string ChooseCertificateIdentity(const std::vector<std::string>& uri_sans,
                                      const std::vector<std::string>& dns_sans,
                                      const std::string& common_name) {
  for (const std::string& u : uri_sans) {
    if (absl::StartsWithIgnoreCase(u, "spiffe://")) return u;
  }
  for (const std::string& d : dns_sans) {
    if (!d.empty()) return d;
  }
  return common_name;
}

std::string SanitizeClaim(absl::string_view raw) {
  std::string out(raw.substr(0, 256));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

absl::Status CheckCandidateScope(const BundleFiles& active, const BundleFiles& candidate,
                                 const std::string& domain) {
  std::set<std::string> changed;
  for (const auto& [path, content] : candidate.files) {
    auto it = active.files.find(path);
    if (it == active.files.end() || it->second != content) changed.insert(path);
  }
  for (const auto& [path, content] : active.files) {
    if (!candidate.files.contains(path)) changed.insert(path);
  }
  std::string own = absl::StrCat("domains/", domain, "/");
  std::vector<std::string> outside;
  for (const std::string& path : changed) {
    if (absl::StartsWith(path, own)) continue;
    if (absl::StartsWith(path, "catalog/products/")) {
      auto before = active.files.find(path);
      auto after = candidate.files.find(path);
      bool ok = (before == active.files.end() || DomainOfText(before->second) == domain) &&
                (after == candidate.files.end() || DomainOfText(after->second) == domain);
      if (ok) continue;
    }
    outside.push_back(path);
  }
  if (outside.empty()) return absl::OkStatus();
  size_t shown = std::min<size_t>(outside.size(), 5);
  return absl::PermissionDeniedError(absl::StrCat(
      "role domain:", domain, " may only change domains/", domain, "/ and the catalog entries of ",
      domain, "'s own products; the candidate also changes ",
      absl::StrJoin(outside.begin(), outside.begin() + static_cast<long>(shown), ", "),
      outside.size() > shown ? absl::StrCat(" and ", outside.size() - shown, " more") : ""));
}

}  // namespace arbiter::authz

// Who may do what on arbiterd: the one place that maps a caller's identity to a role and a role
// and an operation to allow or deny (default deny), plus the two scope rules that need more than
// the role: which server directories a path may name, and which parts of a bundle a domain may
// change in a candidate it validates or dry-runs.
//
//   absl::StatusOr<Authorizer> a = Authorizer::Create(config);   // config.Validate() first
//   Caller c = a->Identify("spiffe://mesh.example/ns/sales/sa/ci", /*authenticated=*/true);
//   absl::Status ok = a->Authorize(c, Operation::kDryRun);       // PERMISSION_DENIED if not
//
// Identities come from the transport (service/server for gRPC, service/http for the side port):
// the verified client certificate's SPIFFE URI SAN, else its first DNS SAN, else its subject CN
// (ChooseCertificateIdentity); a plaintext caller is "anonymous". A header never sets them.
//
// This module knows nothing of gRPC or HTTP. Thread-safe: an Authorizer is immutable.
#ifndef ARBITER_SERVICE_AUTHZ_AUTHZ_H_
#define ARBITER_SERVICE_AUTHZ_AUTHZ_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/engine/bundle.h"

namespace arbiter::authz {

// The identity of every plaintext caller, and of TLS callers that presented no certificate
// (client_auth: request).
inline constexpr absl::string_view kAnonymous = "anonymous";

// A caller's role. `governance` may do everything; `engine` may ask for decisions and read the
// server's status; `domain:<D>` may also validate and dry-run candidates confined to D.
struct Role {
  enum class Kind { kGovernance, kEngine, kDomain };
  Kind kind = Kind::kEngine;
  std::string domain;  // kDomain only

  // "governance", "engine" or "domain:<D>".
  std::string Name() const;
};

// Parses a role name; INVALID_ARGUMENT for anything else (a domain name is lower-case letters,
// digits and '-', like the bundle's domains/<D>/ folders).
absl::StatusOr<Role> ParseRole(absl::string_view name);

// What a call does, for authorization. One table (operations.cc) says which roles may do each.
enum class Operation {
  kDecide,          // CheckAccess/Product/Deployment/Batch, Trino, Envoy, AuthZEN
  kHealth,          // grpc.health.v1, /healthz, /readyz, /metrics
  kReflection,      // gRPC server reflection
  kGetStatus,       // PolicyService.GetStatus
  kListPolicies,    // PolicyService.ListPolicies
  kValidateBundle,  // PolicyService.ValidateBundle (domain: own files only)
  kDryRun,          // PolicyService.DryRun (domain: own files and own decisions only)
  kReload,          // PolicyService.Reload
  kExplain,         // `explain` on a decision call: the evaluation's trace (governance only)
};
absl::string_view OperationName(Operation op);

// One rule of the identity map: the first rule whose `match` matches wins. `match` is an exact
// identity or a glob where '*' matches any run of characters (including '/').
struct IdentityRule {
  std::string match;
  std::string role;
};

// The `authz:` section of the server config.
struct AuthzConfig {
  std::vector<IdentityRule> identities;
  // The role of anonymous callers (plaintext, or TLS without a certificate); "none" refuses them.
  std::string anonymous_role = "engine";
  // Server directories that ValidateBundle.path and DryRun.candidate_path may name; empty: none.
  std::vector<std::string> bundle_roots;

  // INVALID_ARGUMENT naming every bad rule ("authz.identities[2].role: ...").
  absl::Status Validate() const;
};

// A caller as the server knows it after the transport has spoken.
struct Caller {
  std::string identity;        // from the certificate, or "anonymous"
  bool authenticated = false;  // true when `identity` comes from a verified certificate
  std::optional<Role> role;    // none: the identity maps to no role
  std::string claimed;         // a client-set x-arbiter-caller, recorded only
};

class Authorizer {
 public:
  // INVALID_ARGUMENT when the config does not validate.
  static absl::StatusOr<Authorizer> Create(const AuthzConfig& config);

  // The caller for an identity: its role from the first matching rule, or the anonymous role.
  Caller Identify(absl::string_view identity, bool authenticated) const;

  // OK, or PERMISSION_DENIED whose message names the caller and the role it lacks.
  absl::Status Authorize(const Caller& caller, Operation op) const;
  // The same for a caller a transport already identified and knows by its role's name only
  // ("" = no role), as CallerInfo and the HTTP side port carry it.
  static absl::Status AuthorizeRoleName(absl::string_view identity, absl::string_view role,
                                        Operation op);

  // The real path (symlinks followed) of `path` when it lies inside one of the bundle roots;
  // otherwise PERMISSION_DENIED with one message whether or not the path exists, so that the
  // answer reveals nothing about the server's file system.
  absl::StatusOr<std::string> ResolveBundlePath(const std::string& path) const;

 private:
  struct Rule {
    std::string match;
    Role role;
  };
  std::vector<Rule> rules_;
  std::optional<Role> anonymous_;
  std::vector<std::string> roots_;  // real paths
};

// The identity a verified certificate stands for: its first spiffe:// URI SAN, else its first
// DNS SAN, else its subject common name; "" when it has none of them.
std::string ChooseCertificateIdentity(const std::vector<std::string>& uri_sans,
                                      const std::vector<std::string>& dns_sans,
                                      const std::string& common_name);

// A client-set claimed name (x-arbiter-caller) as it may be recorded: at most 256 bytes, control
// characters replaced, so that it can neither forge log structure nor grow a log line.
std::string SanitizeClaim(absl::string_view raw);

// Whether a domain-scoped caller may submit `candidate`: it may differ from `active` only in
// files under domains/<domain>/ and in catalog/products/*.yaml descriptors owned by `domain`
// (metadata.domain) both before and after the change. PERMISSION_DENIED naming the first few
// files outside the scope otherwise.
absl::Status CheckCandidateScope(const BundleFiles& active, const BundleFiles& candidate,
                                 const std::string& domain);

}  // namespace arbiter::authz

#endif  // ARBITER_SERVICE_AUTHZ_AUTHZ_H_

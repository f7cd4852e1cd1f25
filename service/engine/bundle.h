// A policy bundle, compiled: the immutable snapshot every decision is evaluated on.
//
//   auto files = ReadBundleDir("policies");            // or BundleFiles from a request
//   absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(*files);
//   absl::StatusOr<Decision> d = (*b)->Evaluate(request, options);
//
// Load() validates everything (bundle.yaml, every policy compiled and run once in a scratch
// sandbox, the catalog) and reports every problem at once as "file:line: message" lines in one
// INVALID_ARGUMENT status; a bundle with any error is rejected whole. A reload builds a new
// Bundle and swaps the shared_ptr; nothing in a Bundle changes after Load().
//
// Thread-safety: Evaluate() is const and thread-safe. Each concurrent evaluation borrows a set
// of Lua states from the bundle's pool (one state for global policies and one per domain, so a
// domain's policies only ever see that domain's requests); the pool grows to the number of
// threads that evaluate at once.
#ifndef ARBITER_SERVICE_ENGINE_BUNDLE_H_
#define ARBITER_SERVICE_ENGINE_BUNDLE_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/engine/catalog.h"
#include "service/engine/policy_lint.h"
#include "service/engine/types.h"
#include "service/engine/waivers.h"

namespace arbiter {

// The files of a bundle: path relative to the bundle root ("global/pii.lua") -> content.
struct BundleFiles {
  std::map<std::string, std::string> files;
  // Where the files were read from, for messages; empty for inline bundles.
  std::string root;
};

// Bounds on reading a bundle, before bundle.yaml is known.
struct BundleReadLimits {
  size_t max_file_bytes = 1 << 20;
  size_t max_total_bytes = 32 << 20;
  size_t max_files = 5000;
};

// Reads every regular file under `dir` (skipping hidden files). NOT_FOUND when `dir` is not a
// directory; INVALID_ARGUMENT when a limit is exceeded.
absl::StatusOr<BundleFiles> ReadBundleDir(const std::string& dir,
                                          const BundleReadLimits& limits = {});

// Engine limits, from bundle.yaml's `limits:` section. Defaults are safe for untrusted code.
struct EngineLimits {
  // Lua VM instructions one policy may execute per check (and at load).
  int64_t instruction_budget = 1'000'000;
  // Wall-clock time one policy may take per check; catches slow C calls like string.rep.
  absl::Duration policy_timeout = absl::Milliseconds(50);
  // Memory ceiling of each Lua state (one per domain per worker).
  size_t memory_limit_bytes = 32 << 20;
  // Source size caps.
  size_t max_policy_bytes = 256 << 10;
  size_t max_bundle_policy_bytes = 8 << 20;
  // Reason messages and details are truncated to this many bytes.
  size_t max_message_bytes = 1024;
  // Subject length cap for Lua's own pattern functions (string.find/match/gmatch/gsub), which
  // backtrack in C where no hook reaches. RE2 (re.*) has no such cap: it is linear time.
  size_t max_pattern_subject_bytes = 16 << 10;
  // Cap on string.rep results.
  size_t max_string_bytes = 1 << 20;
};

// Default decision per kind, from bundle.yaml's `defaults:`. Access is closed by default.
struct KindDefaults {
  Effect access = Effect::kDeny;
  Effect product = Effect::kAllow;
  Effect deployment = Effect::kAllow;
};

struct PolicyInfo {
  std::string id;
  std::string description;
  std::vector<Kind> kinds;
  // Access actions the policy is about (its `actions` key); empty: every action. The engine
  // does not run the policy for access requests with another action.
  std::vector<std::string> actions;
  // Global: kMandatory, kDefault or kAdvisory. Domain: kDomain.
  PolicyMode mode = PolicyMode::kMandatory;
  Severity severity = Severity::kError;
  std::string overrides;  // domain policies only
  // Whether waivers (waivers.h) may apply: a mandatory policy only when it declares
  // `waivable = true`; any other policy unless it declares `waivable = false`.
  bool waivable = true;
  std::string domain;  // empty for global policies
  std::string file;    // path inside the bundle
  std::string origin() const { return domain.empty() ? "global" : "domain:" + domain; }
};

// The policy id of the reason a closed-default deny carries ("no policy allowed this; policies
// that ran: ..."): no policy file can have it (ids start with "global." or a domain).
inline constexpr absl::string_view kDefaultReasonId = "bundle.default";
// The policy id of the info reason on an access decision about a resource the catalog does not
// know ("resource not in the catalog: domain policies not applied").
inline constexpr absl::string_view kUncataloguedReasonId = "bundle.catalog";

// How a bundle is loaded: the server loads candidates (ValidateBundle, DryRun) from callers it
// trusts less than its own bundle directory.
struct LoadOptions {
  // A ceiling on every limit bundle.yaml sets: a candidate never gets more than the active
  // bundle allows. Null: the bundle's own limits.
  const EngineLimits* max_limits = nullptr;
  // The whole load (every policy's top level included) ends with DEADLINE_EXCEEDED after this.
  absl::Time deadline = absl::InfiniteFuture();
  // What waivers' `expires` is judged against (at most waivers.max_days ahead of it).
  absl::Time now = absl::Now();
};

class Bundle {
 public:
  // Compiles and validates `files`. INVALID_ARGUMENT listing every problem otherwise;
  // DEADLINE_EXCEEDED when options.deadline passes first.
  static absl::StatusOr<std::shared_ptr<const Bundle>> Load(const BundleFiles& files,
                                                            const LoadOptions& options = {});

  ~Bundle();
  Bundle(const Bundle&) = delete;
  Bundle& operator=(const Bundle&) = delete;

  // Evaluates one request on this snapshot. An OK result is a decision (including "a policy
  // failed, so deny"). Errors: INVALID_ARGUMENT for a malformed request (naming the field),
  // NOT_FOUND-free: an unknown table is resolved to no product and judged by policies;
  // DEADLINE_EXCEEDED when options.deadline passes; INTERNAL if the engine itself fails.
  absl::StatusOr<Decision> Evaluate(const Request& request, const EvalOptions& options) const;

  // The checks of one batch, evaluated one after another by one thread: the Lua states the
  // first evaluation borrows (a worker set) are kept for the next instead of being returned to
  // the pool that every thread shares and borrowed again (a lock, and its cache line moving
  // between cores, twice per decision). Each Evaluate is Bundle::Evaluate's, with the same
  // results; the set goes back to the pool with the session. Thread-compatible; must not
  // outlive the bundle.
  class Session {
   public:
    explicit Session(const Bundle& bundle);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    absl::StatusOr<Decision> Evaluate(const Request& request, const EvalOptions& options);

   private:
    struct Held;
    const Bundle& bundle_;
    std::unique_ptr<Held> held_;  // the set borrowed; null before the first evaluation
  };

  const std::string& revision() const;
  const std::vector<PolicyInfo>& policies() const;
  const Catalog& catalog() const;
  const EngineLimits& limits() const;
  const KindDefaults& defaults() const;
  // Static checks of every policy's source (policy_lint.h): undefined globals, assignments to
  // globals, unreachable code. For `arbiter validate`; loading does not depend on them.
  std::vector<LintFinding> Lint() const;
  // Per policy file, the lines `arbiter test --coverage` counts (policy_lint.h).
  std::map<std::string, std::set<int>> CoverableLines() const;
  // The bundle's waivers (waivers/*.yaml), in file order, expired ones included.
  const std::vector<Waiver>& waivers() const;
  // The bundle's test files ("tests/*.yaml"), path -> content.
  const std::map<std::string, std::string>& test_files() const;

  struct Impl;

 private:
  explicit Bundle(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_BUNDLE_H_

#include "service/authz/authz.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace arbiter::authz {
namespace {

Authorizer Make(AuthzConfig c) {
  auto a = Authorizer::Create(c);
  EXPECT_TRUE(a.ok()) << a.status();
  return *std::move(a);
}

AuthzConfig MeshConfig() {
  AuthzConfig c;
  c.identities = {{"spiffe://mesh.example/ns/governance/*", "governance"},
                  {"spiffe://mesh.example/ns/sales/*", "domain:sales"},
                  {"spiffe://mesh.example/ns/trino/*", "engine"},
                  {"ci.example.com", "domain:marketing"}};
  return c;
}

TEST(AuthzTest, FirstMatchingRuleGivesTheRole) {
  Authorizer a = Make(MeshConfig());
  Caller c = a.Identify("spiffe://mesh.example/ns/sales/sa/ci", true);
  ASSERT_TRUE(c.role.has_value());
  EXPECT_EQ(c.role->Name(), "domain:sales");
  EXPECT_EQ(a.Identify("ci.example.com", true).role->Name(), "domain:marketing");
  // Exact rules do not match longer identities; globs are anchored at both ends.
  EXPECT_FALSE(a.Identify("ci.example.com.evil", true).role.has_value());
  EXPECT_FALSE(a.Identify("spiffe://mesh.example/ns/salesX", true).role.has_value());
  EXPECT_FALSE(a.Identify("xspiffe://mesh.example/ns/sales/a", true).role.has_value());
}

TEST(AuthzTest, UnmappedIdentityIsDeniedEverythingWithTheMissingRoleNamed) {
  Authorizer a = Make(MeshConfig());
  Caller c = a.Identify("spiffe://other.example/x", true);
  for (Operation op :
       {Operation::kDecide, Operation::kHealth, Operation::kGetStatus, Operation::kReload}) {
    absl::Status s = a.Authorize(c, op);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(absl::StrContains(s.message(), "has no role")) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "spiffe://other.example/x")) << s;
  }
}

TEST(AuthzTest, TheRoleTableIsDefaultDeny) {
  Authorizer a = Make(MeshConfig());
  Caller gov = a.Identify("spiffe://mesh.example/ns/governance/admin", true);
  Caller sales = a.Identify("spiffe://mesh.example/ns/sales/ci", true);
  Caller trino = a.Identify("spiffe://mesh.example/ns/trino/coordinator", true);
  for (Operation op : {Operation::kDecide, Operation::kHealth, Operation::kReflection,
                       Operation::kGetStatus, Operation::kListPolicies, Operation::kValidateBundle,
                       Operation::kDryRun, Operation::kReload}) {
    EXPECT_TRUE(a.Authorize(gov, op).ok()) << OperationName(op);
  }
  EXPECT_TRUE(a.Authorize(sales, Operation::kDryRun).ok());
  EXPECT_TRUE(a.Authorize(sales, Operation::kValidateBundle).ok());
  absl::Status reload = a.Authorize(sales, Operation::kReload);
  EXPECT_EQ(reload.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(reload.message(), "needs role governance")) << reload;
  EXPECT_TRUE(a.Authorize(trino, Operation::kDecide).ok());
  EXPECT_EQ(a.Authorize(trino, Operation::kDryRun).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(a.Authorize(trino, Operation::kValidateBundle).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthzTest, AnonymousCallersGetTheAnonymousRoleOrNothing) {
  AuthzConfig c = MeshConfig();
  Authorizer engine = Make(c);
  Caller anon = engine.Identify("", false);
  EXPECT_EQ(anon.identity, "anonymous");
  ASSERT_TRUE(anon.role.has_value());
  EXPECT_EQ(anon.role->Name(), "engine");
  // A certificate-less caller never borrows a mapped identity's role, whatever it claims.
  EXPECT_EQ(engine.Identify("spiffe://mesh.example/ns/governance/x", false).role->Name(), "engine");
  c.anonymous_role = "none";
  Authorizer none = Make(c);
  EXPECT_EQ(none.Authorize(none.Identify("", false), Operation::kDecide).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthzTest, ConfigErrorsNameTheField) {
  AuthzConfig c;
  c.identities = {{"a", "admin"}, {"", "engine"}};
  c.anonymous_role = "root";
  c.bundle_roots = {"relative/dir"};
  absl::Status s = c.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  for (const char* field : {"authz.identities[0].role", "authz.identities[1].match",
                            "authz.anonymous_role", "authz.bundle_roots[0]"}) {
    EXPECT_TRUE(absl::StrContains(s.message(), field)) << field << "\n" << s;
  }
}

TEST(AuthzTest, BundlePathsMustResolveInsideARootAndFailTheSameWayOtherwise) {
  namespace fs = std::filesystem;
  std::string base = fs::temp_directory_path() / ("authz-test-" + std::to_string(getpid()));
  fs::create_directories(base + "/roots/a/bundle");
  fs::create_directories(base + "/outside/bundle");
  fs::create_symlink(base + "/outside/bundle", base + "/roots/a/escape");
  AuthzConfig c;
  c.bundle_roots = {base + "/roots/a"};
  Authorizer a = Make(c);
  auto inside = a.ResolveBundlePath(base + "/roots/a/bundle");
  ASSERT_TRUE(inside.ok()) << inside.status();
  EXPECT_TRUE(a.ResolveBundlePath(base + "/roots/a/../a/bundle").ok());
  auto exists = a.ResolveBundlePath(base + "/outside/bundle");
  auto missing = a.ResolveBundlePath(base + "/outside/nothing-here");
  auto escape = a.ResolveBundlePath(base + "/roots/a/escape");
  auto dotdot = a.ResolveBundlePath(base + "/roots/a/../../outside/bundle");
  auto prefix = a.ResolveBundlePath(base + "/roots/ab");
  for (const auto* r : {&exists, &missing, &escape, &dotdot, &prefix}) {
    ASSERT_FALSE(r->ok());
    EXPECT_EQ(r->status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(absl::StrContains(r->status().message(), "is not inside a directory listed"));
    EXPECT_FALSE(absl::StrContains(r->status().message(), "exist")) << r->status();
  }
  fs::remove_all(base);
}

TEST(AuthzTest, CertificateIdentityPrefersSpiffeThenDnsThenCn) {
  EXPECT_EQ(ChooseCertificateIdentity({"https://x", "spiffe://mesh/ns/a"}, {"a.example"}, "cn"),
            "spiffe://mesh/ns/a");
  EXPECT_EQ(ChooseCertificateIdentity({"https://x"}, {"a.example", "b.example"}, "cn"),
            "a.example");
  EXPECT_EQ(ChooseCertificateIdentity({}, {}, "cn"), "cn");
}

TEST(AuthzTest, ClaimedNamesAreBoundedAndPrintable) {
  EXPECT_EQ(SanitizeClaim("ci-bot"), "ci-bot");
  EXPECT_EQ(SanitizeClaim("a\nb\x01"
                          "c\x7f"),
            "a?b?c?");
  EXPECT_EQ(SanitizeClaim(std::string(1000, 'x')).size(), 256u);
}

TEST(AuthzTest, DomainCandidatesMayOnlyChangeTheirOwnFiles) {
  BundleFiles active;
  active.files = {{"bundle.yaml", "revision: 1\n"},
                  {"global/pii.lua", "G"},
                  {"domains/sales/a.lua", "A"},
                  {"domains/marketing/m.lua", "M"},
                  {"catalog/products/orders.yaml", "metadata: {name: orders, domain: sales}\n"},
                  {"catalog/products/leads.yaml", "metadata: {name: leads, domain: marketing}\n"}};
  BundleFiles own = active;
  own.files["domains/sales/a.lua"] = "A2";
  own.files["domains/sales/new.lua"] = "N";
  own.files["catalog/products/orders.yaml"] = "metadata: {name: orders, domain: sales}\n# v2\n";
  own.files["catalog/products/quotes.yaml"] = "metadata: {name: quotes, domain: sales}\n";
  EXPECT_TRUE(CheckCandidateScope(active, own, "sales").ok());

  auto denied = [&](const std::function<void(BundleFiles&)>& change, const std::string& path) {
    BundleFiles c = active;
    change(c);
    absl::Status s = CheckCandidateScope(active, c, "sales");
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << path;
    EXPECT_TRUE(absl::StrContains(s.message(), path)) << s;
  };
  denied([](BundleFiles& c) { c.files["domains/marketing/m.lua"] = "mine now"; },
         "domains/marketing/m.lua");
  denied([](BundleFiles& c) { c.files.erase("global/pii.lua"); }, "global/pii.lua");
  denied([](BundleFiles& c) { c.files["bundle.yaml"] = "revision: 2\n"; }, "bundle.yaml");
  denied([](BundleFiles& c) { c.files["domains/salesx/a.lua"] = "A"; }, "domains/salesx/a.lua");
  // Taking another domain's product, or giving one's own away, is a change to theirs.
  denied(
      [](BundleFiles& c) {
        c.files["catalog/products/leads.yaml"] = "metadata: {name: leads, domain: sales}\n";
      },
      "catalog/products/leads.yaml");
  denied(
      [](BundleFiles& c) {
        c.files["catalog/products/orders.yaml"] = "metadata: {name: orders, domain: marketing}\n";
      },
      "catalog/products/orders.yaml");
  denied([](BundleFiles& c) { c.files["catalog/contracts/x.yaml"] = "id: x\n"; },
         "catalog/contracts/x.yaml");
}

}  // namespace
}  // namespace arbiter::authz

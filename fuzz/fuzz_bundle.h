// The small fixed bundle the request and policy fuzzers evaluate on: tight engine limits, a few
// global policies covering the three kinds and every helper family, one domain override, and a
// catalog of two products and a contract. Kept in memory so that the fuzzers read no files.
#ifndef ARBITER_FUZZ_FUZZ_BUNDLE_H_
#define ARBITER_FUZZ_FUZZ_BUNDLE_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "service/engine/bundle.h"
#include "service/engine/types.h"
#include "service/value/parse.h"

namespace arbiter::fuzz {

// Small parse limits for fuzzed documents: deep or huge trees are rejected early.
inline ParseLimits SmallParseLimits() {
  ParseLimits limits;
  limits.max_bytes = 64 << 10;
  limits.max_depth = 24;
  limits.max_nodes = 5000;
  return limits;
}

// Where the fuzzed domain policy goes in policy_load_fuzz.
inline constexpr char kFuzzedPolicyPath[] = "domains/sales/fuzzed.lua";

inline BundleFiles FuzzBundleFiles() {
  BundleFiles b;
  b.root = "fuzz-bundle";
  b.files["bundle.yaml"] = R"YAML(revision: "fuzz-1"
defaults: {access: deny, product: allow, deployment: allow}
limits: {instruction_budget: 100000, policy_timeout_ms: 20, memory_limit_mb: 8}
)YAML";
  b.files["global/access-grants.lua"] = R"LUA(
local function get(t, path)
  for key in string.gmatch(path, "[^.]+") do
    if type(t) ~= "userdata" and type(t) ~= "table" then return nil end
    t = t[key]
  end
  return t
end
return {
  id = "global.access-grants",
  description = "Roles in the product's accessControl grant their permissions.",
  kinds = {"access"},
  mode = "default",
  check = function(req, ctx)
    local acl = get(req.product, "spec.governance.accessControl")
    if acl == nil then return end
    for _, entry in ipairs(acl) do
      local role = get(entry, "role")
      if type(role) == "string" and has_role(req.principal, role)
          and list.contains(get(entry, "permissions"), req.action) then
        return allow("Granted by the product's access control.", {detail = "role " .. role})
      end
    end
  end,
}
)LUA";
  b.files["global/audit-read.lua"] = R"LUA(
return {
  id = "global.audit-read",
  description = "Auditors read everything.",
  kinds = {"access"},
  mode = "mandatory",
  check = function(req, ctx)
    if req.action == "read" and (has_any_role(req.principal, {"auditor"})
        or in_group(req.principal, "audit")) then
      return allow("Auditors may read every data product.")
    end
    if req.action == "admin" and req.principal.attributes.clearance ~= "high" then
      return deny("Admin needs clearance.", {detail = tostring(req.principal.id)})
    end
  end,
}
)LUA";
  b.files["global/pii-masking.lua"] = R"LUA(
return {
  id = "global.pii-masking",
  description = "PII columns are masked for readers without pii-reader.",
  kinds = {"access"},
  mode = "mandatory",
  check = function(req, ctx)
    if req.action ~= "read" or req.table == nil or has_role(req.principal, "pii-reader") then
      return
    end
    local masks, names = {}, {}
    for _, c in ipairs(req.table.columns or {}) do
      if c.pii == true then
        local t = tostring(c.type or "")
        masks[c.name] = re.match([[(?i)(var)?char(\(\d+\))?|string]], t) and "'***'" or "NULL"
        names[#names + 1] = c.name
      end
    end
    if #names == 0 then return end
    return obligate("Personal data is masked.",
      {masks = masks, row_filters = {"region = '" .. tostring(req.principal.attributes.region) .. "'"},
       detail = table.concat(names, ", ")})
  end,
}
)LUA";
  b.files["global/interoperability.lua"] = R"LUA(
return {
  id = "global.interoperability",
  description = "Naming, versions and SLOs of data product descriptors.",
  kinds = {"product", "deployment"},
  mode = "default",
  check = function(req, ctx)
    local p = req.product
    local out = {}
    local md = p.metadata
    if md == nil then return deny("metadata is required") end
    if not re.match("[a-z][a-z0-9-]{2,62}", tostring(md.name)) then
      out[#out + 1] = deny("bad name", {detail = tostring(md.name)})
    end
    if not semver.valid(md.version) then
      out[#out + 1] = deny("version must be a semantic version")
    else
      local v = semver.parse(md.version)
      if v ~= nil and v.major == 0 then out[#out + 1] = warn("pre-1.0 product") end
    end
    local slos = p.spec and p.spec.slos
    if slos ~= nil then
      local f = slos.freshness and duration(slos.freshness.target)
      if f ~= nil and f > 86400 then out[#out + 1] = warn("freshness above a day") end
      local a = slos.availability and percent(slos.availability.target)
      if a ~= nil and a < 99 then out[#out + 1] = deny(string.format("availability %.2f%%", a)) end
    end
    if #out > 0 then return out end
  end,
}
)LUA";
  b.files["global/breaking-changes.lua"] = R"LUA(
return {
  id = "global.breaking-changes",
  description = "Breaking changes need a major version bump.",
  kinds = {"deployment"},
  mode = "mandatory",
  check = function(req, ctx)
    local change = req.change
    if change == nil or change.first_deployment then return end
    local breaking = change.breaking
    if breaking == nil or #breaking == 0 then return end
    local bump = change.version and change.version.bump
    if bump ~= "major" then
      local parts = {}
      for i, c in ipairs(breaking) do
        if i > 5 then break end
        parts[#parts + 1] = tostring(c.rule) .. " " .. tostring(c.path)
      end
      return deny("Breaking changes need a major version.",
        {detail = tostring(bump) .. ": " .. table.concat(parts, "; ")})
    end
    for name, v in pairs(change.contract_versions or {}) do
      if semver.compare(v.from or "0.0.0", v.to or "0.0.0") == 1 then
        return warn("contract " .. name .. " goes backwards")
      end
    end
  end,
}
)LUA";
  b.files["domains/sales/access-grants.lua"] = R"LUA(
return {
  id = "sales.access-grants",
  description = "Sales shares with marketing analysts in the EU.",
  kinds = {"access"},
  overrides = "global.access-grants",
  check = function(req, ctx)
    local p = req.principal
    if req.action == "read" and p.domain == "marketing" and p.attributes.region == "eu" then
      return allow("Shared with marketing.", {masks = {customer_id = "'***'"}})
    end
    if p.domain ~= "sales" then return deny("Sales data is for sales.") end
    if list.intersects(p.roles, {"sales-analysts", "sales-data-team"}) then
      return allow("sales role")
    end
  end,
}
)LUA";
  b.files["domains/marketing/window.lua"] = R"LUA(
return {
  id = "marketing.window",
  description = "Marketing deploys to production on weekdays.",
  kinds = {"deployment"},
  severity = "warning",
  check = function(req, ctx)
    local weekday = (ctx.now // 86400 + 4) % 7
    if req.environment == "production" and (weekday == 0 or weekday == 6) then
      return deny("weekend deployment", {detail = req.pipeline.commit})
    end
  end,
}
)LUA";
  b.files["catalog/products/orders.yaml"] = R"YAML(apiVersion: datamesh/v1
kind: DataProduct
metadata: {name: orders, domain: sales, owner: sales-data-team, version: 1.2.0}
spec:
  description: Orders.
  classification: {type: source-aligned, tier: silver, pii: true}
  contracts: [orders-contract]
  outputPorts:
    - name: sql-access
      type: sql
      catalog: sales_analytics
      schema: orders
      tables:
        - name: orders
          columns:
            - {name: order_id, type: varchar}
            - {name: customer_id, type: varchar, pii: true}
            - {name: email, type: "varchar(255)", pii: true}
            - {name: amount, type: "decimal(10,2)"}
            - {name: birth_date, type: date, pii: true}
  slos:
    freshness: {target: 15m}
    availability: {target: 99.9%}
  governance:
    accessControl:
      - {role: sales-analysts, permissions: [read]}
      - {role: sales-data-team, permissions: [read, write, admin]}
      - {role: data-scientists, permissions: [read]}
)YAML";
  b.files["catalog/products/campaigns.yaml"] = R"YAML(apiVersion: datamesh/v1
kind: DataProduct
metadata: {name: campaigns, domain: marketing, owner: marketing-team, version: 0.3.1}
spec:
  outputPorts:
    - name: sql-access
      type: sql
      catalog: marketing
      schema: campaigns
      tables:
        - name: performance
          columns:
            - {name: campaign_id, type: varchar}
            - {name: spend, type: double}
  governance:
    accessControl:
      - {role: marketing-analytics, permissions: [read]}
)YAML";
  b.files["catalog/contracts/orders-contract.yaml"] = R"YAML(apiVersion: datacontract/v1
kind: DataContract
metadata: {name: orders-contract, version: 1.0.0, owner: sales-data-team}
producer: {domain: sales, dataProduct: orders}
models:
  orders:
    description: One row per order
    fields:
      order_id: {type: string, required: true, unique: true, primaryKey: true}
      customer_id: {type: string, required: true, pii: true}
      amount: {type: decimal, required: true}
)YAML";
  return b;
}

// A freshly loaded fixed bundle; aborts if it does not load (a broken harness, not a finding).
// The request fuzzers load one per input rather than keeping one: a kept bundle's pooled Lua
// states carry garbage from one input to the next, so nearly every input ends with more mallocs
// than frees and libFuzzer's -detect_leaks=1 then re-runs it under a full LeakSanitizer scan
// (measured: ~2.4x fewer executions per second than without leak detection; a fresh bundle per
// input costs less than that). State reuse across requests is exercised by policy_load_fuzz,
// which evaluates every request twice on the same bundle.
inline std::shared_ptr<const Bundle> LoadFuzzBundle() {
  static const BundleFiles files = FuzzBundleFiles();
  absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(files);
  if (!b.ok()) {
    std::fprintf(stderr, "fuzz bundle does not load: %s\n",
                 std::string(b.status().message()).c_str());
    std::abort();
  }
  return *std::move(b);
}

// Deterministic evaluation options: a fixed clock (a Saturday noon), no request deadline (each
// policy's own wall-clock budget from bundle.yaml still applies).
inline EvalOptions FuzzEvalOptions() {
  EvalOptions options;
  options.now = absl::FromUnixSeconds(1795262400);  // 2026-11-21T12:00:00Z
  options.decision_id = "fuzz";
  return options;
}

}  // namespace arbiter::fuzz

#endif  // ARBITER_FUZZ_FUZZ_BUNDLE_H_

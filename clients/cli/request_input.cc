#include "clients/cli/request_input.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "service/convert/convert.h"
#include "service/value/parse.h"

namespace arbiter::cli {
namespace {

std::vector<std::string> SplitList(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& v : values) {
    for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      out.emplace_back(part);
    }
  }
  return out;
}

void FillPrincipal(const Args& args, const std::string& prefix, v1::Principal* p) {
  p->set_id(args.Get(prefix));
  for (const auto& r : SplitList(args.GetAll("roles"))) p->add_roles(r);
  for (const auto& g : SplitList(args.GetAll("groups"))) p->add_groups(g);
  p->set_domain(args.Get("principal-domain"));
  for (const auto& kv : args.GetAll("attr")) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) (*p->mutable_attributes())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
}

}  // namespace

const std::set<std::string>& RequestFlags() {
  static const std::set<std::string> kFlags = {"request",
                                               "principal",
                                               "roles",
                                               "groups",
                                               "principal-domain",
                                               "attr",
                                               "action",
                                               "table",
                                               "columns",
                                               "product",
                                               "domain",
                                               "previous",
                                               "contract",
                                               "previous-contract",
                                               "env",
                                               "operation",
                                               "requester",
                                               "pipeline"};
  return kFlags;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<v1::Document> DocumentFromFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Value> parsed = ParseYaml(*text, path);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_map()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":1: expected a YAML map"));
  }
  v1::Document doc;
  doc.set_yaml(*std::move(text));
  doc.set_source(path);
  return doc;
}

absl::Status CheckRequestFlags(Kind kind, const Args& args) {
  auto present = [&](std::initializer_list<const char*> names) {
    std::vector<std::string> out;
    for (const char* n : names) {
      if (args.Has(n)) out.push_back(absl::StrCat("--", n));
    }
    return out;
  };
  if (args.Has("request")) {
    std::vector<std::string> fields;
    for (const std::string& f : RequestFlags()) {
      if (f != "request" && args.Has(f)) fields.push_back(absl::StrCat("--", f));
    }
    if (!fields.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--request FILE gives the whole request; ", absl::StrJoin(fields, ", "),
                       " would be ignored: put them in the file or drop --request"));
    }
    return absl::OkStatus();
  }
  std::string kind_name(KindName(kind));
  auto only = [&](std::vector<std::string> flags, absl::string_view applies_to) {
    if (flags.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(absl::StrJoin(flags, ", "), flags.size() == 1 ? " applies" : " apply", " to ",
                     applies_to, " requests, not ", kind_name, " ones"));
  };
  if (kind != Kind::kAccess) {
    if (auto s = only(present({"principal", "action", "table", "columns", "domain"}), "access");
        !s.ok()) {
      return s;
    }
  } else if (auto s = only(present({"requester", "operation", "previous", "contract",
                                    "previous-contract", "env", "pipeline"}),
                           "product or deployment");
             !s.ok()) {
    return s;
  }
  if (kind == Kind::kProduct) {
    if (auto s = only(present({"previous", "contract", "previous-contract", "env", "pipeline"}),
                      "deployment");
        !s.ok()) {
      return s;
    }
  }
  if (kind == Kind::kDeployment) {
    if (auto s = only(present({"operation"}), "product"); !s.ok()) return s;
    if (args.Has("previous-contract") && !args.Has("previous")) {
      // Without the previous product the deployment is judged as a first one: the previous
      // contracts would be ignored and breaking changes could pass.
      return absl::InvalidArgumentError(
          "--previous-contract needs --previous FILE (the product version deployed now); "
          "without it the deployment would be judged as a first one and the contracts not "
          "compared");
    }
  }
  if (kind == Kind::kAccess && !args.Has("principal")) {
    std::vector<std::string> p = present({"roles", "groups", "attr", "principal-domain"});
    if (!p.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          absl::StrJoin(p, ", "), " describe the principal: --principal ID is required"));
    }
  }
  if (args.Has("columns") && !args.Has("table") && !args.Has("product")) {
    return absl::InvalidArgumentError("--columns needs --table (or --product)");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::DryRunCase> BuildRequest(Kind kind, const Args& args) {
  if (absl::Status s = CheckRequestFlags(kind, args); !s.ok()) return s;
  if (args.Has("request")) {
    std::string path = args.Get("request");
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return text.status();
    // YAML is a superset of JSON: accept either, then decode through the proto3 JSON mapping.
    absl::StatusOr<Value> tree = ParseYaml(*text, path);
    if (!tree.ok()) return tree.status();
    absl::StatusOr<v1::DryRunCase> c = CaseFromJson(kind, tree->ToJson());
    if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", c.status().message()));
    return c;
  }
  v1::DryRunCase c;
  switch (kind) {
    case Kind::kAccess: {
      auto* r = c.mutable_access();
      FillPrincipal(args, "principal", r->mutable_principal());
      r->set_action(args.Get("action"));
      r->mutable_resource()->set_table(args.Get("table"));
      r->mutable_resource()->set_product(args.Get("product"));
      r->mutable_resource()->set_domain(args.Get("domain"));
      for (const auto& col : SplitList(args.GetAll("columns"))) {
        r->mutable_resource()->add_columns(col);
      }
      break;
    }
    case Kind::kProduct: {
      auto* r = c.mutable_product();
      if (!args.Has("product")) return absl::InvalidArgumentError("--product FILE: required");
      auto doc = DocumentFromFile(args.Get("product"));
      if (!doc.ok()) return doc.status();
      *r->mutable_product() = *std::move(doc);
      r->set_operation(args.Get("operation"));
      FillPrincipal(args, "requester", r->mutable_requester());
      break;
    }
    case Kind::kDeployment: {
      auto* r = c.mutable_deployment();
      if (!args.Has("product")) return absl::InvalidArgumentError("--product FILE: required");
      auto doc = DocumentFromFile(args.Get("product"));
      if (!doc.ok()) return doc.status();
      *r->mutable_product() = *std::move(doc);
      if (args.Has("previous")) {
        auto prev = DocumentFromFile(args.Get("previous"));
        if (!prev.ok()) return prev.status();
        *r->mutable_previous() = *std::move(prev);
      }
      for (const auto& path : args.GetAll("contract")) {
        auto d = DocumentFromFile(path);
        if (!d.ok()) return d.status();
        *r->add_contracts() = *std::move(d);
      }
      for (const auto& path : args.GetAll("previous-contract")) {
        auto d = DocumentFromFile(path);
        if (!d.ok()) return d.status();
        *r->add_previous_contracts() = *std::move(d);
      }
      r->set_environment(args.Get("env"));
      for (const auto& kv : args.GetAll("pipeline")) {
        auto eq = kv.find('=');
        if (eq != std::string::npos) (*r->mutable_pipeline())[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      FillPrincipal(args, "requester", r->mutable_requester());
      break;
    }
  }
  return c;
}

}  // namespace arbiter::cli

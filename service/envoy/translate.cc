#include "service/envoy/translate.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "service/value/parse.h"

namespace arbiter::ext_authz {
namespace {

using ::envoy::config::core::v3::HeaderValueOption;
using ::envoy::service::auth::v3::AttributeContext;
using ::envoy::service::auth::v3::CheckRequest;
using ::envoy::service::auth::v3::CheckResponse;

constexpr int kCodeOk = 0;
constexpr int kCodeInvalidArgument = 3;
constexpr int kCodePermissionDenied = 7;

// A JWT payload is small; these bounds keep a hostile header from costing more than a decision.
ParseLimits JwtParseLimits() {
  ParseLimits l;
  l.max_bytes = 64 << 10;
  l.max_depth = 16;
  l.max_nodes = 4096;
  return l;
}

// The value of the header `name` (lower case), from the merged map or the raw header list.
const std::string* FindHeader(const AttributeContext::HttpRequest& http, const std::string& name) {
  if (auto it = http.headers().find(name); it != http.headers().end()) return &it->second;
  for (const auto& h : http.header_map().headers()) {
    if (absl::AsciiStrToLower(h.key()) == name)
      return h.value().empty() ? &h.raw_value() : &h.value();
  }
  return nullptr;
}

// A claim that lists names: a JSON array of strings, or one string of space- or comma-separated
// names (the shape of OAuth's `scope`).
absl::Status ClaimList(const Value& claims, const std::string& name,
                       std::vector<std::string>& out) {
  const Value* v = claims.Find(name);
  if (v == nullptr || v->is_null()) return absl::OkStatus();
  if (v->is_string()) {
    for (absl::string_view s :
         absl::StrSplit(v->as_string(), absl::ByAnyChar(" ,"), absl::SkipEmpty())) {
      out.emplace_back(s);
    }
    return absl::OkStatus();
  }
  if (v->is_list()) {
    for (const Value& e : v->as_list()) {
      if (!e.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("x-jwt-payload: claim \"", name, "\": expected a list of strings"));
      }
      out.push_back(e.as_string());
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("x-jwt-payload: claim \"", name, "\": expected a string or a list of strings"));
}

absl::StatusOr<Principal> PrincipalFromJwt(const std::string& header_value,
                                           const EnvoyDoorConfig& config) {
  const std::string field = config.jwt_payload_header;
  std::string json;
  std::string encoded(absl::StripAsciiWhitespace(header_value));
  if (!absl::WebSafeBase64Unescape(encoded, &json)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not base64url"));
  }
  absl::StatusOr<Value> claims = ParseJson(json, field, JwtParseLimits());
  if (!claims.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": not a JSON object: ", claims.status().message()));
  }
  if (!claims->is_map()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not a JSON object"));
  }
  Principal p;
  const Value* id = claims->Find(config.id_claim);
  if (id == nullptr || !id->is_string() || id->as_string().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": claim \"", config.id_claim,
                                                   "\" (the principal's id): required string"));
  }
  p.id = id->as_string();
  if (auto s = ClaimList(*claims, config.roles_claim, p.roles); !s.ok()) return s;
  if (auto s = ClaimList(*claims, config.groups_claim, p.groups); !s.ok()) return s;
  if (const Value* d = claims->Find(config.domain_claim); d != nullptr && !d->is_null()) {
    if (!d->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": claim \"", config.domain_claim, "\": expected a string"));
    }
    p.domain = d->as_string();
  }
  for (const auto& [name, v] : claims->as_map()) {
    if (name == config.id_claim || name == config.roles_claim || name == config.groups_claim ||
        name == config.domain_claim) {
      continue;
    }
    switch (v.type()) {
      case Value::Type::kString:
        p.attributes[name] = v.as_string();
        break;
      case Value::Type::kBool:
        p.attributes[name] = v.as_bool() ? "true" : "false";
        break;
      case Value::Type::kInt:
      case Value::Type::kDouble:
        p.attributes[name] = v.ToJson();
        break;
      default:  // lists, maps and nulls have no attribute form
        break;
    }
  }
  return p;
}

// The path without query or fragment.
absl::string_view PathOnly(absl::string_view target) {
  size_t end = target.find_first_of("?#");
  return end == absl::string_view::npos ? target : target.substr(0, end);
}

bool RouteMatches(absl::string_view path, absl::string_view prefix) {
  if (!absl::StartsWith(path, prefix)) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

absl::Status ResolveResource(const CheckRequest& check, absl::string_view path,
                             const EnvoyDoorConfig& config, ResourceRef& out) {
  const auto& ext = check.attributes().context_extensions();
  auto get = [&ext](const char* key) -> std::string {
    auto it = ext.find(key);
    return it == ext.end() ? "" : std::string(absl::StripAsciiWhitespace(it->second));
  };
  out.product = get("product");
  out.table = get("table");
  if (!out.product.empty() || !out.table.empty()) {
    out.domain = get("domain");
    for (absl::string_view c : absl::StrSplit(get("columns"), ',', absl::SkipWhitespace())) {
      out.columns.emplace_back(absl::StripAsciiWhitespace(c));
    }
    return absl::OkStatus();
  }
  const EnvoyRoute* best = nullptr;
  for (const EnvoyRoute& r : config.routes) {
    if (RouteMatches(path, r.path_prefix) &&
        (best == nullptr || r.path_prefix.size() > best->path_prefix.size())) {
      best = &r;
    }
  }
  if (best == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attributes.request.http.path: no data product is mapped to \"", path,
        "\" (set context_extensions product or table on the Envoy route, or add an envoy.routes "
        "entry)"));
  }
  out.product = best->product;
  out.table = best->table;
  out.domain = best->domain;
  out.columns = best->columns;
  return absl::OkStatus();
}

HeaderValueOption SetHeader(absl::string_view key, absl::string_view value) {
  HeaderValueOption h;
  h.mutable_header()->set_key(std::string(key));
  h.mutable_header()->set_value(std::string(value));
  // Replace, never append: a client must not be able to add obligations or a decision id of its
  // own to what the upstream sees.
  h.mutable_append()->set_value(false);
  return h;
}

// JSON on one line with non-ASCII escaped: header values must be visible ASCII.
std::string HeaderJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::string BodyJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

absl::StatusOr<AccessRequest> TranslateCheck(const CheckRequest& check,
                                             const EnvoyDoorConfig& config) {
  const AttributeContext& attrs = check.attributes();
  const AttributeContext::HttpRequest& http = attrs.request().http();
  AccessRequest req;
  absl::string_view path = PathOnly(http.path());
  if (auto s = ResolveResource(check, path, config, req.resource); !s.ok()) return s;

  const std::string& source = attrs.source().principal();
  if (const std::string* jwt = FindHeader(http, config.jwt_payload_header); jwt != nullptr) {
    absl::StatusOr<Principal> p = PrincipalFromJwt(*jwt, config);
    if (!p.ok()) return p.status();
    req.principal = *std::move(p);
  } else if (!source.empty()) {
    req.principal.id = source;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("principal: the request carries no ", config.jwt_payload_header,
                     " header and attributes.source.principal is empty"));
  }

  std::string method = absl::AsciiStrToUpper(http.method());
  auto action = config.method_actions.find(method);
  req.action = action == config.method_actions.end() ? "unknown" : action->second;

  req.context["method"] = method;
  req.context["path"] = std::string(path);
  req.context["host"] = http.host();
  if (!http.id().empty()) req.context["request_id"] = http.id();
  if (!source.empty()) req.context["source_principal"] = source;
  return req;
}

CheckResponse ShapeDecision(const Decision& decision) {
  CheckResponse out;
  if (decision.effect == Effect::kAllow) {
    out.mutable_status()->set_code(kCodeOk);
    auto* ok = out.mutable_ok_response();
    *ok->add_headers() = SetHeader(kDecisionIdHeader, decision.decision_id);
    if (!decision.obligations.row_filters.empty()) {
      *ok->add_headers() =
          SetHeader(kRowFiltersHeader, HeaderJson(decision.obligations.row_filters));
    } else {
      ok->add_headers_to_remove(kRowFiltersHeader);
    }
    if (!decision.obligations.column_masks.empty()) {
      nlohmann::json masks = nlohmann::json::object();
      for (const ColumnMask& m : decision.obligations.column_masks) masks[m.column] = m.expression;
      *ok->add_headers() = SetHeader(kColumnMasksHeader, HeaderJson(masks));
    } else {
      ok->add_headers_to_remove(kColumnMasksHeader);
    }
    return out;
  }
  nlohmann::json reasons = nlohmann::json::array();
  for (const Reason& r : decision.reasons) {
    if (r.effect == Effect::kDeny && r.severity == Severity::kError && !r.message.empty()) {
      reasons.push_back(r.message);
    }
  }
  std::string message =
      reasons.empty() ? "No policy allows this request." : reasons.front().get<std::string>();
  out.mutable_status()->set_code(kCodePermissionDenied);
  out.mutable_status()->set_message(message);
  auto* denied = out.mutable_denied_response();
  denied->mutable_status()->set_code(::envoy::type::v3::Forbidden);
  *denied->add_headers() = SetHeader("content-type", "application/json");
  *denied->add_headers() = SetHeader(kDecisionIdHeader, decision.decision_id);
  denied->set_body(BodyJson(
      {{"decision_id", decision.decision_id}, {"message", message}, {"reasons", reasons}}));
  return out;
}

CheckResponse ShapeInvalid(const absl::Status& status) {
  CheckResponse out;
  out.mutable_status()->set_code(kCodeInvalidArgument);
  out.mutable_status()->set_message(std::string(status.message()));
  auto* denied = out.mutable_denied_response();
  denied->mutable_status()->set_code(::envoy::type::v3::Forbidden);
  *denied->add_headers() = SetHeader("content-type", "application/json");
  denied->set_body(BodyJson({{"message", std::string(status.message())}}));
  return out;
}

}  // namespace arbiter::ext_authz

#include "service/convert/convert.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace arbiter {

Value ProtoValueToValue(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kBoolValue:
      return Value(v.bool_value());
    case google::protobuf::Value::kNumberValue: {
      double d = v.number_value();
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0) {
        return Value(static_cast<int64_t>(d));
      }
      return Value(d);
    }
    case google::protobuf::Value::kStringValue:
      return Value(v.string_value());
    case google::protobuf::Value::kStructValue:
      return StructToValue(v.struct_value());
    case google::protobuf::Value::kListValue: {
      Value::List list;
      list.reserve(v.list_value().values_size());
      for (const auto& e : v.list_value().values()) list.push_back(ProtoValueToValue(e));
      return Value(std::move(list));
    }
    default:
      return Value();
  }
}

Value StructToValue(const google::protobuf::Struct& s) {
  // protobuf's Map has no stable order; sort keys so that policies and diffs are deterministic.
  std::vector<const std::string*> keys;
  keys.reserve(s.fields_size());
  for (const auto& [k, v] : s.fields()) keys.push_back(&k);
  std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
  Value out = Value::EmptyMap();
  for (const std::string* k : keys) {
    out.mutable_map().emplace_back(*k, ProtoValueToValue(s.fields().at(*k)));
  }
  return out;
}

void ValueToProtoValue(const Value& v, google::protobuf::Value* out) {
  switch (v.type()) {
    case Value::Type::kNull:
      out->set_null_value(google::protobuf::NULL_VALUE);
      break;
    case Value::Type::kBool:
      out->set_bool_value(v.as_bool());
      break;
    case Value::Type::kInt:
    case Value::Type::kDouble:
      out->set_number_value(v.as_double());
      break;
    case Value::Type::kString:
      out->set_string_value(v.as_string());
      break;
    case Value::Type::kList: {
      auto* list = out->mutable_list_value();
      for (const Value& e : v.as_list()) ValueToProtoValue(e, list->add_values());
      break;
    }
    case Value::Type::kMap:
      ValueToStruct(v, out->mutable_struct_value());
      break;
  }
}

void ValueToStruct(const Value& v, google::protobuf::Struct* out) {
  out->Clear();
  if (!v.is_map()) return;
  auto& fields = *out->mutable_fields();
  for (const auto& [k, e] : v.as_map()) ValueToProtoValue(e, &fields[k]);
}

absl::StatusOr<Value> DocumentToValue(const v1::Document& doc, absl::string_view field,
                                      const ParseLimits& limits) {
  switch (doc.content_case()) {
    case v1::Document::kYaml: {
      std::string source = doc.source().empty() ? std::string(field) : doc.source();
      absl::StatusOr<Value> v = ParseYaml(doc.yaml(), source, limits);
      if (!v.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": ", v.status().message()));
      }
      if (!v->is_map()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": expected a YAML document with a map at its root"));
      }
      return v;
    }
    case v1::Document::kStruct:
      return StructToValue(doc.struct_());
    default:
      return absl::InvalidArgumentError(absl::StrCat(field, ": required (yaml or struct)"));
  }
}

namespace {

// `out` = the struct's Value, or null without one (a null left as it is).
void SetStruct(const google::protobuf::Struct* s, Value& out) {
  if (s != nullptr) {
    out = StructToValue(*s);
  } else if (!out.is_null()) {
    out = Value();
  }
}

// Every field of `out` written (an access request's own, in place: no move of it).
void FillPrincipal(const v1::Principal& p, Principal& out) {
  out.id = p.id();
  out.roles.assign(p.roles().begin(), p.roles().end());
  out.groups.assign(p.groups().begin(), p.groups().end());
  out.domain = p.domain();
  out.attributes.clear();
  for (const auto& [k, v] : p.attributes()) out.attributes.emplace(k, v);
  out.type = p.type();
  SetStruct(p.has_properties() ? &p.properties() : nullptr, out.properties);
}

}  // namespace

Principal FromProto(const v1::Principal& p) {
  Principal out;
  FillPrincipal(p, out);
  return out;
}

AccessRequest FromProto(const v1::AccessRequest& r) {
  AccessRequest out;
  FromProto(r, out);
  return out;
}

// The per-request path of every access check: maps are filled by emplace (a protobuf map's keys
// are unique) rather than default-constructed and assigned.
void FromProto(const v1::AccessRequest& r, AccessRequest& out) {
  FillPrincipal(r.principal(), out.principal);
  out.action = r.action();
  out.resource.domain = r.resource().domain();
  out.resource.product = r.resource().product();
  out.resource.table = r.resource().table();
  out.resource.columns.assign(r.resource().columns().begin(), r.resource().columns().end());
  out.resource.type = r.resource().type();
  out.resource.id = r.resource().id();
  SetStruct(r.resource().has_properties() ? &r.resource().properties() : nullptr,
            out.resource.properties);
  out.context.clear();
  out.shared_context = nullptr;
  for (const auto& [k, v] : r.context()) out.context.emplace(k, v);
  SetStruct(r.has_action_properties() ? &r.action_properties() : nullptr, out.action_properties);
  SetStruct(r.has_context_values() ? &r.context_values() : nullptr, out.context_values);
}

void ToProto(const AccessRequest& r, v1::AccessRequest* out) {
  ToProto(r.principal, out->mutable_principal());
  out->set_action(r.action);
  v1::ResourceRef* res = out->mutable_resource();
  res->set_domain(r.resource.domain);
  res->set_product(r.resource.product);
  res->set_table(r.resource.table);
  for (const std::string& c : r.resource.columns) res->add_columns(c);
  res->set_type(r.resource.type);
  res->set_id(r.resource.id);
  if (r.resource.properties.is_map())
    ValueToStruct(r.resource.properties, res->mutable_properties());
  ForEachContextEntry(
      r, [out](const std::string& k, const std::string& v) { (*out->mutable_context())[k] = v; });
  if (r.action_properties.is_map())
    ValueToStruct(r.action_properties, out->mutable_action_properties());
  if (r.context_values.is_map()) ValueToStruct(r.context_values, out->mutable_context_values());
}

absl::StatusOr<ProductRequest> FromProto(const v1::ProductRequest& r, const ParseLimits& limits) {
  ProductRequest out;
  absl::StatusOr<Value> product = DocumentToValue(r.product(), "product", limits);
  if (!product.ok()) return product.status();
  out.product = *std::move(product);
  out.operation = r.operation();
  out.requester = FromProto(r.requester());
  return out;
}

absl::StatusOr<DeploymentRequest> FromProto(const v1::DeploymentRequest& r,
                                            const ParseLimits& limits) {
  DeploymentRequest out;
  // YAML documents keep their positions, which give schema changes their `line`.
  absl::StatusOr<Value> product = DocumentToValue(r.product(), "product", limits);
  if (!product.ok()) return product.status();
  out.product = *std::move(product);
  if (r.has_previous()) {
    absl::StatusOr<Value> prev = DocumentToValue(r.previous(), "previous", limits);
    if (!prev.ok()) return prev.status();
    out.previous = *std::move(prev);
  }
  for (int i = 0; i < r.contracts_size(); ++i) {
    absl::StatusOr<Value> c =
        DocumentToValue(r.contracts(i), absl::StrCat("contracts[", i, "]"), limits);
    if (!c.ok()) return c.status();
    out.contracts.push_back(*std::move(c));
  }
  for (int i = 0; i < r.previous_contracts_size(); ++i) {
    absl::StatusOr<Value> c = DocumentToValue(r.previous_contracts(i),
                                              absl::StrCat("previous_contracts[", i, "]"), limits);
    if (!c.ok()) return c.status();
    out.previous_contracts.push_back(*std::move(c));
  }
  out.environment = r.environment();
  for (const auto& [k, v] : r.pipeline()) out.pipeline[k] = v;
  out.requester = FromProto(r.requester());
  return out;
}

void ToProto(const Principal& p, v1::Principal* out) {
  out->set_id(p.id);
  for (const auto& r : p.roles) out->add_roles(r);
  for (const auto& g : p.groups) out->add_groups(g);
  out->set_domain(p.domain);
  for (const auto& [k, v] : p.attributes) (*out->mutable_attributes())[k] = v;
  out->set_type(p.type);
  if (p.properties.is_map()) ValueToStruct(p.properties, out->mutable_properties());
}

v1::Severity SeverityToProto(Severity severity) {
  switch (severity) {
    case Severity::kError:
      return v1::SEVERITY_ERROR;
    case Severity::kWarning:
      return v1::SEVERITY_WARNING;
    case Severity::kInfo:
      return v1::SEVERITY_INFO;
    case Severity::kNone:
      break;
  }
  return v1::SEVERITY_UNSPECIFIED;
}

Severity SeverityFromProto(v1::Severity severity) {
  switch (severity) {
    case v1::SEVERITY_ERROR:
      return Severity::kError;
    case v1::SEVERITY_WARNING:
      return Severity::kWarning;
    case v1::SEVERITY_INFO:
      return Severity::kInfo;
    default:
      return Severity::kNone;
  }
}

void ToProto(const Decision& d, v1::Decision* out) {
  out->set_decision_id(d.decision_id);
  out->set_effect(d.effect == Effect::kAllow ? v1::EFFECT_ALLOW : v1::EFFECT_DENY);
  for (const Reason& r : d.reasons) {
    v1::Reason* pr = out->add_reasons();
    pr->set_policy_id(r.policy_id);
    pr->set_origin(r.origin);
    pr->set_effect(r.effect == Effect::kAllow ? v1::EFFECT_ALLOW : v1::EFFECT_DENY);
    pr->set_severity(SeverityToProto(r.severity));
    pr->set_message(r.message);
    pr->set_detail(r.detail);
    pr->set_mode(std::string(PolicyModeName(r.mode)));
    pr->set_obligation(r.obligation);
    pr->set_waiver(r.waiver);
  }
  for (const ColumnMask& m : d.obligations.column_masks) {
    auto* pm = out->mutable_obligations()->add_column_masks();
    pm->set_column(m.column);
    pm->set_expression(m.expression);
  }
  for (const std::string& f : d.obligations.row_filters) {
    out->mutable_obligations()->add_row_filters()->set_expression(f);
  }
  out->set_bundle_revision(d.bundle_revision);
  for (const auto& p : d.evaluated_policies) out->add_evaluated_policies(p);
  for (const auto& p : d.overridden_policies) out->add_overridden_policies(p);
  out->set_domain(d.domain);
  if (d.change.is_map()) ValueToStruct(d.change, out->mutable_change());
  out->set_defaulted(d.defaulted);
}

Decision FromProto(const v1::Decision& d) {
  Decision out;
  out.decision_id = d.decision_id();
  out.effect = d.effect() == v1::EFFECT_ALLOW ? Effect::kAllow : Effect::kDeny;
  for (const v1::Reason& pr : d.reasons()) {
    Reason r;
    r.policy_id = pr.policy_id();
    r.origin = pr.origin();
    r.effect = pr.effect() == v1::EFFECT_ALLOW ? Effect::kAllow : Effect::kDeny;
    r.severity = SeverityFromProto(pr.severity());
    r.message = pr.message();
    r.detail = pr.detail();
    r.mode = ParsePolicyMode(pr.mode()).value_or(PolicyMode::kNone);
    r.obligation = pr.obligation();
    out.reasons.push_back(std::move(r));
  }
  for (const auto& m : d.obligations().column_masks()) {
    out.obligations.column_masks.push_back({m.column(), m.expression()});
  }
  for (const auto& f : d.obligations().row_filters()) {
    out.obligations.row_filters.push_back(f.expression());
  }
  out.bundle_revision = d.bundle_revision();
  out.evaluated_policies = PolicyIdList(
      std::vector<std::string>(d.evaluated_policies().begin(), d.evaluated_policies().end()));
  out.overridden_policies = PolicyIdList(
      std::vector<std::string>(d.overridden_policies().begin(), d.overridden_policies().end()));
  out.domain = d.domain();
  if (d.has_change()) out.change = StructToValue(d.change());
  out.defaulted = d.defaulted();
  return out;
}

absl::StatusOr<Request> FromProto(const v1::DryRunCase& c, const ParseLimits& limits) {
  switch (c.request_case()) {
    case v1::DryRunCase::kAccess:
      return Request(FromProto(c.access()));
    case v1::DryRunCase::kProduct: {
      auto r = FromProto(c.product(), limits);
      if (!r.ok()) return r.status();
      return Request(*std::move(r));
    }
    case v1::DryRunCase::kDeployment: {
      auto r = FromProto(c.deployment(), limits);
      if (!r.ok()) return r.status();
      return Request(*std::move(r));
    }
    default:
      return absl::InvalidArgumentError("request: required (access, product or deployment)");
  }
}

absl::StatusOr<v1::DryRunCase> CaseFromJson(Kind kind, absl::string_view json) {
  v1::DryRunCase c;
  google::protobuf::Message* target;
  switch (kind) {
    case Kind::kAccess:
      target = c.mutable_access();
      break;
    case Kind::kProduct:
      target = c.mutable_product();
      break;
    default:
      target = c.mutable_deployment();
      break;
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), target, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("request: ", status.message().as_string()));
  }
  return c;
}

absl::StatusOr<Request> RequestFromJson(Kind kind, absl::string_view json,
                                        const ParseLimits& limits) {
  absl::StatusOr<v1::DryRunCase> c = CaseFromJson(kind, json);
  if (!c.ok()) return c.status();
  return FromProto(*c, limits);
}

std::string ToJson(const google::protobuf::Message& message, bool pretty) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.preserve_proto_field_names = false;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace arbiter

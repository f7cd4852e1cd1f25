#include "service/decision_json/decision_json.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace arbiter::json {
namespace {

// 0: copy as is; 1: escape.
void AppendStringList(std::string& out, const std::vector<std::string>& list) {
  out.push_back('[');
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, list[i]);
  }
  out.push_back(']');
}

void AppendStringMap(std::string& out, const std::map<std::string, std::string>& m) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, k);
    out.push_back(':');
    AppendJsonString(out, v);
  }
  out.push_back('}');
}

// Writes `,"name":` (or `"name":` for the first field of an object), tracking `first`.
void Key(std::string& out, bool& first, absl::string_view name) {
  if (!first) out.push_back(',');
  first = false;
  out.push_back('"');
  out.append(name.data(), name.size());
  out.append("\":", 2);
}

// proto3 JSON leaves default values out.
void StringField(std::string& out, bool& first, absl::string_view name, absl::string_view v) {
  if (v.empty()) return;
  Key(out, first, name);
  AppendJsonString(out, v);
}

void ListField(std::string& out, bool& first, absl::string_view name,
               const std::vector<std::string>& v) {
  if (v.empty()) return;
  Key(out, first, name);
  AppendStringList(out, v);
}

void MapField(std::string& out, bool& first, absl::string_view name,
              const std::map<std::string, std::string>& v) {
  if (v.empty()) return;
  Key(out, first, name);
  AppendStringMap(out, v);
}

bool EmptyPrincipal(const Principal& p) {
  return p.id.empty() && p.roles.empty() && p.groups.empty() && p.domain.empty() &&
         p.attributes.empty() && p.type.empty() && p.properties.is_null();
}

// A google.protobuf.Struct field: the object as JSON; absent when null.
void StructField(std::string& out, bool& first, absl::string_view name, const Value& v) {
  if (!v.is_map()) return;
  Key(out, first, name);
  AppendJson(out, v);
}

void PrincipalField(std::string& out, bool& first, absl::string_view name, const Principal& p) {
  if (EmptyPrincipal(p)) return;
  Key(out, first, name);
  out.push_back('{');
  bool f = true;
  StringField(out, f, "id", p.id);
  ListField(out, f, "roles", p.roles);
  ListField(out, f, "groups", p.groups);
  StringField(out, f, "domain", p.domain);
  MapField(out, f, "attributes", p.attributes);
  StringField(out, f, "type", p.type);
  StructField(out, f, "properties", p.properties);
  out.push_back('}');
}

// A Document message holding the tree as a google.protobuf.Struct (a JSON object). Trees that
// are not maps cannot reach an evaluated request (the engine refuses them), but are written as
// their JSON anyway rather than dropped.
void AppendDocument(std::string& out, const Value& v) {
  out.append("{\"struct\":", 10);
  AppendJson(out, v);
  out.push_back('}');
}

}  // namespace

std::string Quote(absl::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

void AppendRequest(std::string& out, const Request& request, const Principal* principal) {
  out.push_back('{');
  bool first = true;
  if (const auto* a = std::get_if<AccessRequest>(&request)) {
    PrincipalField(out, first, "principal", principal != nullptr ? *principal : a->principal);
    StringField(out, first, "action", a->action);
    const ResourceRef& r = a->resource;
    if (!r.domain.empty() || !r.product.empty() || !r.table.empty() || !r.columns.empty() ||
        !r.type.empty() || !r.id.empty() || r.properties.is_map()) {
      Key(out, first, "resource");
      out.push_back('{');
      bool f = true;
      StringField(out, f, "domain", r.domain);
      StringField(out, f, "product", r.product);
      StringField(out, f, "table", r.table);
      ListField(out, f, "columns", r.columns);
      StringField(out, f, "type", r.type);
      StringField(out, f, "id", r.id);
      StructField(out, f, "properties", r.properties);
      out.push_back('}');
    }
    MapField(out, first, "context", a->context);
    StructField(out, first, "actionProperties", a->action_properties);
    StructField(out, first, "contextValues", a->context_values);
  } else if (const auto* p = std::get_if<ProductRequest>(&request)) {
    Key(out, first, "product");
    AppendDocument(out, p->product);
    StringField(out, first, "operation", p->operation);
    PrincipalField(out, first, "requester", p->requester);
  } else {
    const auto& d = std::get<DeploymentRequest>(request);
    Key(out, first, "product");
    AppendDocument(out, d.product);
    if (d.previous.has_value()) {
      Key(out, first, "previous");
      AppendDocument(out, *d.previous);
    }
    for (const auto& [name, docs] :
         {std::pair<absl::string_view, const std::vector<Value>*>{"contracts", &d.contracts},
          {"previousContracts", &d.previous_contracts}}) {
      if (docs->empty()) continue;
      Key(out, first, name);
      out.push_back('[');
      for (size_t i = 0; i < docs->size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendDocument(out, (*docs)[i]);
      }
      out.push_back(']');
    }
    StringField(out, first, "environment", d.environment);
    MapField(out, first, "pipeline", d.pipeline);
    PrincipalField(out, first, "requester", d.requester);
  }
  out.push_back('}');
}

void AppendTime(std::string& out, absl::Time t) {
  // Formatting the calendar part is the expensive bit and changes once a second: cache it.
  struct Cache {
    int64_t second = INT64_MIN;
    char text[32];
    size_t len = 0;
  };
  thread_local Cache cache;
  int64_t second = absl::ToUnixSeconds(t);
  if (t < absl::FromUnixSeconds(second)) --second;  // floor for times before 1970
  if (second != cache.second) {
    absl::CivilSecond cs = absl::ToCivilSecond(absl::FromUnixSeconds(second), absl::UTCTimeZone());
    int n = std::snprintf(cache.text, sizeof cache.text, "%04lld-%02d-%02dT%02d:%02d:%02d",
                          static_cast<long long>(cs.year()), cs.month(), cs.day(), cs.hour(),
                          cs.minute(), cs.second());
    cache.len = n > 0 ? static_cast<size_t>(n) : 0;
    cache.second = second;
  }
  out.append(cache.text, cache.len);
  int64_t nanos = absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(second));
  if (nanos > 0) {
    char frac[11];
    frac[0] = '.';
    for (int i = 9; i >= 1; --i) {
      frac[i] = static_cast<char>('0' + nanos % 10);
      nanos /= 10;
    }
    size_t len = 10;
    while (frac[len - 1] == '0') --len;
    out.append(frac, len);
  }
  out.append("+00:00", 6);
}

namespace {

// The fields every decision object has, from ,"effect" to "faults" (see the header): shared by
// the log line and DecisionJson, so that the two cannot drift apart.
void AppendDecisionFields(std::string& out, const Decision& d) {
  absl::StrAppend(&out, ",\"effect\":\"", EffectName(d.effect), "\",\"reasons\":[");
  for (size_t i = 0; i < d.reasons.size(); ++i) {
    const Reason& r = d.reasons[i];
    if (i > 0) out.push_back(',');
    out.append("{\"policy_id\":");
    AppendJsonString(out, r.policy_id);
    out.append(",\"origin\":");
    AppendJsonString(out, r.origin);
    absl::StrAppend(&out, ",\"effect\":\"", EffectName(r.effect), "\",\"severity\":\"",
                    SeverityName(r.severity), "\",\"message\":");
    AppendJsonString(out, r.message);
    out.append(",\"detail\":");
    AppendJsonString(out, r.detail);
    if (!r.waiver.empty()) {  // only on waived denies, so other lines keep their shape
      out.append(",\"waiver\":");
      AppendJsonString(out, r.waiver);
    }
    out.push_back('}');
  }
  out.append("],\"obligations\":{\"column_masks\":[");
  for (size_t i = 0; i < d.obligations.column_masks.size(); ++i) {
    const ColumnMask& m = d.obligations.column_masks[i];
    if (i > 0) out.push_back(',');
    out.append("{\"column\":");
    AppendJsonString(out, m.column);
    out.append(",\"expression\":");
    AppendJsonString(out, m.expression);
    out.push_back('}');
  }
  out.append("],\"row_filters\":");
  AppendStringList(out, d.obligations.row_filters);
  out.append("},\"bundle_revision\":");
  AppendJsonString(out, d.bundle_revision);
  out.append(",\"domain\":");
  AppendJsonString(out, d.domain);
  out.append(",\"evaluated_policies\":");
  AppendStringList(out, d.evaluated_policies);
  out.append(",\"overridden_policies\":");
  AppendStringList(out, d.overridden_policies);
  out.append(",\"faults\":[");
  for (size_t i = 0; i < d.faults.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append("{\"policy_id\":");
    AppendJsonString(out, d.faults[i].policy_id);
    absl::StrAppend(&out, ",\"type\":\"", PolicyFaultTypeName(d.faults[i].type), "\"}");
  }
  out.push_back(']');
}

// The log line, with the request written by `write_request` (the request itself, or its
// redacted JSON).
template <typename WriteRequest>
void AppendLine(std::string& out, const Decision& d, Kind request_kind,
                WriteRequest&& write_request, absl::Time time, absl::Duration latency,
                const Caller& caller) {
  out.append("{\"decision_id\":");
  AppendJsonString(out, d.decision_id);
  out.append(",\"time\":\"");
  AppendTime(out, time);
  out.append("\",\"kind\":\"");
  absl::string_view kind = KindName(request_kind);
  out.append(kind.data(), kind.size());
  out.append("\",\"request\":");
  write_request(out);
  AppendDecisionFields(out, d);
  absl::StrAppend(&out, ",\"latency_us\":", absl::ToInt64Microseconds(latency),
                  ",\"caller\":{\"peer\":");
  AppendJsonString(out, caller.peer);
  out.append(",\"identity\":");
  AppendJsonString(out, caller.identity);
  out.append(",\"role\":");
  AppendJsonString(out, caller.role);
  out.append(",\"claimed\":");
  AppendJsonString(out, caller.claimed);
  out.append(",\"transport\":");
  AppendJsonString(out, caller.transport);
  out.append("}}");
}

}  // namespace

void AppendDecisionLogLine(std::string& out, const Decision& d, const Request& request,
                           absl::Time time, absl::Duration latency, const Caller& caller,
                           const Principal* principal) {
  AppendLine(
      out, d, KindOf(request), [&](std::string& o) { AppendRequest(o, request, principal); }, time,
      latency, caller);
}

std::string DecisionLogLine(const Decision& d, const Request& request, absl::Time time,
                            absl::Duration latency, const Caller& caller,
                            const Principal* principal) {
  std::string out;
  out.reserve(1536);
  AppendDecisionLogLine(out, d, request, time, latency, caller, principal);
  return out;
}

std::string DecisionLogLine(const Decision& d, Kind kind, absl::string_view request_json,
                            absl::Time time, absl::Duration latency, const Caller& caller) {
  std::string out;
  out.reserve(1536 + request_json.size());
  AppendLine(
      out, d, kind, [&](std::string& o) { o.append(request_json.data(), request_json.size()); },
      time, latency, caller);
  return out;
}

void AppendDecision(std::string& out, const Decision& d, Kind kind) {
  out.append("{\"decision_id\":");
  AppendJsonString(out, d.decision_id);
  absl::StrAppend(&out, ",\"kind\":\"", KindName(kind), "\"");
  AppendDecisionFields(out, d);
  absl::StrAppend(&out, ",\"defaulted\":", d.defaulted ? "true" : "false");
  if (d.change.is_map()) {
    out.append(",\"change\":");
    AppendJson(out, d.change);
  }
  out.push_back('}');
}

std::string DecisionJson(const Decision& d, Kind kind) {
  std::string out;
  AppendDecision(out, d, kind);
  return out;
}

}  // namespace arbiter::json

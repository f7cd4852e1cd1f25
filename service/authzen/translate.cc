#include "service/authzen/translate.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace arbiter::authzen {
namespace {

using Json = nlohmann::ordered_json;

absl::Status Invalid(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// The member `key` of `obj`, or null when absent or JSON null.
const Value* Member(const Value& obj, absl::string_view key) {
  const Value* v = obj.Find(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

absl::StatusOr<std::string> RequiredString(const Value& obj, absl::string_view where,
                                           absl::string_view key) {
  const Value* v = Member(obj, key);
  if (v == nullptr || !v->is_string() || v->as_string().empty()) {
    return Invalid(absl::StrCat(where, ".", key), "required string");
  }
  return v->as_string();
}

// properties: absent, or an object (kept whole).
absl::StatusOr<Value> Properties(const Value& obj, absl::string_view where) {
  const Value* v = Member(obj, "properties");
  if (v == nullptr) return Value();
  if (!v->is_map()) return Invalid(absl::StrCat(where, ".properties"), "expected an object");
  return *v;
}

// A list of names: an array of strings, or one string of space- or comma-separated names.
absl::Status Names(const Value& props, absl::string_view where, absl::string_view key,
                   std::vector<std::string>& out) {
  const Value* v = Member(props, key);
  if (v == nullptr) return absl::OkStatus();
  if (v->is_string()) {
    for (absl::string_view s :
         absl::StrSplit(v->as_string(), absl::ByAnyChar(" ,"), absl::SkipEmpty())) {
      out.emplace_back(s);
    }
    return absl::OkStatus();
  }
  if (v->is_list()) {
    for (const Value& e : v->as_list()) {
      if (!e.is_string()) return Invalid(absl::StrCat(where, ".", key), "expected strings");
      out.push_back(e.as_string());
    }
    return absl::OkStatus();
  }
  return Invalid(absl::StrCat(where, ".", key), "expected a list of strings or a string");
}

absl::Status Subject(const Value& v, absl::string_view where, Principal& out) {
  if (!v.is_map()) return Invalid(where, "expected an object");
  auto type = RequiredString(v, where, "type");
  if (!type.ok()) return type.status();
  auto id = RequiredString(v, where, "id");
  if (!id.ok()) return id.status();
  auto props = Properties(v, where);
  if (!props.ok()) return props.status();
  out.type = *std::move(type);
  out.id = *std::move(id);
  out.properties = *std::move(props);
  if (!out.properties.is_map()) return absl::OkStatus();
  std::string pw = absl::StrCat(where, ".properties");
  if (auto s = Names(out.properties, pw, "roles", out.roles); !s.ok()) return s;
  if (auto s = Names(out.properties, pw, "groups", out.groups); !s.ok()) return s;
  if (const Value* d = Member(out.properties, "domain"); d != nullptr) {
    if (!d->is_string()) return Invalid(absl::StrCat(pw, ".domain"), "expected a string");
    out.domain = d->as_string();
  }
  for (const auto& [k, e] : out.properties.as_map()) {
    if (k == "roles" || k == "groups" || k == "domain") continue;
    if (e.is_string()) {
      out.attributes[k] = e.as_string();
    } else if (e.is_bool()) {
      out.attributes[k] = e.as_bool() ? "true" : "false";
    } else if (e.is_number()) {
      out.attributes[k] = e.ToJson();
    }
  }
  return absl::OkStatus();
}

absl::Status Action(const Value& v, absl::string_view where, AccessRequest& out) {
  if (!v.is_map()) return Invalid(where, "expected an object");
  auto name = RequiredString(v, where, "name");
  if (!name.ok()) return name.status();
  auto props = Properties(v, where);
  if (!props.ok()) return props.status();
  out.action = *std::move(name);
  out.action_properties = *std::move(props);
  return absl::OkStatus();
}

absl::Status Resource(const Value& v, absl::string_view where, ResourceRef& out) {
  if (!v.is_map()) return Invalid(where, "expected an object");
  auto type = RequiredString(v, where, "type");
  if (!type.ok()) return type.status();
  auto id = RequiredString(v, where, "id");
  if (!id.ok()) return id.status();
  auto props = Properties(v, where);
  if (!props.ok()) return props.status();
  out.type = *std::move(type);
  out.id = *std::move(id);
  out.properties = *std::move(props);
  if (out.type == "table") out.table = out.id;
  if (out.type == "product") out.product = out.id;
  if ((out.type == "table" || out.type == "product") && out.properties.is_map()) {
    if (const Value* cols = Member(out.properties, "columns"); cols != nullptr) {
      std::string cw = absl::StrCat(where, ".properties.columns");
      if (!cols->is_list()) return Invalid(cw, "expected a list of column names");
      for (const Value& c : cols->as_list()) {
        if (!c.is_string()) return Invalid(cw, "expected a list of column names");
        out.columns.push_back(c.as_string());
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Context(const Value& v, absl::string_view where, AccessRequest& out) {
  if (!v.is_map()) return Invalid(where, "expected an object");
  out.context_values = v;
  return absl::OkStatus();
}

// One evaluation from `item` with `defaults` (the top level) filling what it lacks. `prefix` names
// the item in messages ("" for the top level itself).
absl::StatusOr<AccessRequest> Evaluation(const Value& item, const Value* defaults,
                                         absl::string_view prefix) {
  AccessRequest r;
  auto pick = [&](absl::string_view key, std::string& where) -> const Value* {
    if (const Value* v = Member(item, key); v != nullptr) {
      where = absl::StrCat(prefix, key);
      return v;
    }
    where = std::string(key);
    return defaults == nullptr ? nullptr : Member(*defaults, key);
  };
  std::string where;
  const Value* subject = pick("subject", where);
  if (subject == nullptr) {
    return Invalid(absl::StrCat(prefix, "subject"),
                   defaults == nullptr ? "required" : "required (here or at the top level)");
  }
  if (auto s = Subject(*subject, where, r.principal); !s.ok()) return s;
  const Value* action = pick("action", where);
  if (action == nullptr) {
    return Invalid(absl::StrCat(prefix, "action"),
                   defaults == nullptr ? "required" : "required (here or at the top level)");
  }
  if (auto s = Action(*action, where, r); !s.ok()) return s;
  const Value* resource = pick("resource", where);
  if (resource == nullptr) {
    return Invalid(absl::StrCat(prefix, "resource"),
                   defaults == nullptr ? "required" : "required (here or at the top level)");
  }
  if (auto s = Resource(*resource, where, r.resource); !s.ok()) return s;
  if (const Value* context = pick("context", where); context != nullptr) {
    if (auto s = Context(*context, where, r); !s.ok()) return s;
  }
  return r;
}

absl::StatusOr<Value> ParseBody(absl::string_view body, const ParseLimits& limits) {
  absl::StatusOr<Value> root = ParseJson(body, "body", limits);
  if (!root.ok()) return absl::InvalidArgumentError(root.status().message());
  if (!root->is_map()) return absl::InvalidArgumentError("body: expected a JSON object");
  return root;
}

Json ReasonsJson(const Decision& d) {
  Json reasons = Json::array();
  for (const Reason& r : d.reasons) {
    if (r.message.empty()) continue;
    Json j = {{"effect", std::string(EffectName(r.effect))}};
    if (r.severity != Severity::kNone) j["severity"] = std::string(SeverityName(r.severity));
    j["message"] = r.message;
    reasons.push_back(std::move(j));
  }
  return reasons;
}

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

ParseLimits DefaultParseLimits() {
  ParseLimits l;
  l.max_depth = 32;
  return l;
}

absl::StatusOr<AccessRequest> ParseEvaluation(absl::string_view body, const ParseLimits& limits) {
  absl::StatusOr<Value> root = ParseBody(body, limits);
  if (!root.ok()) return root.status();
  return Evaluation(*root, nullptr, "");
}

absl::StatusOr<Evaluations> ParseEvaluations(absl::string_view body, size_t max_items,
                                             const ParseLimits& limits) {
  absl::StatusOr<Value> root = ParseBody(body, limits);
  if (!root.ok()) return root.status();
  Evaluations out;
  if (const Value* options = Member(*root, "options"); options != nullptr) {
    if (!options->is_map()) return Invalid("options", "expected an object");
    if (const Value* sem = Member(*options, "evaluations_semantic"); sem != nullptr) {
      std::string s = sem->is_string() ? sem->as_string() : "";
      if (s == "execute_all") {
        out.semantic = Semantic::kExecuteAll;
      } else if (s == "deny_on_first_deny") {
        out.semantic = Semantic::kDenyOnFirstDeny;
      } else if (s == "permit_on_first_permit") {
        out.semantic = Semantic::kPermitOnFirstPermit;
      } else {
        return Invalid("options.evaluations_semantic",
                       "expected execute_all, deny_on_first_deny or permit_on_first_permit");
      }
    }
  }
  const Value* items = Member(*root, "evaluations");
  if (items != nullptr && !items->is_list()) return Invalid("evaluations", "expected an array");
  if (items == nullptr || items->as_list().empty()) {
    absl::StatusOr<AccessRequest> r = Evaluation(*root, nullptr, "");
    if (!r.ok()) return r.status();
    out.items.push_back(*std::move(r));
    out.single = true;
    return out;
  }
  if (items->as_list().size() > max_items) {
    return Invalid("evaluations",
                   absl::StrCat(items->as_list().size(), " items, over the limit of ", max_items));
  }
  out.items.reserve(items->as_list().size());
  for (size_t i = 0; i < items->as_list().size(); ++i) {
    const Value& item = items->as_list()[i];
    std::string prefix = absl::StrCat("evaluations[", i, "].");
    if (!item.is_map()) return Invalid(absl::StrCat("evaluations[", i, "]"), "expected an object");
    absl::StatusOr<AccessRequest> r = Evaluation(item, &*root, prefix);
    if (!r.ok()) return r.status();
    out.items.push_back(*std::move(r));
  }
  return out;
}

std::string DecisionJson(const Decision& d, absl::string_view explain) {
  Json context = {{"decision_id", d.decision_id}, {"reasons", ReasonsJson(d)}};
  if (!explain.empty()) context["explain"] = std::string(explain);
  if (!d.obligations.empty()) {
    Json obligations = Json::object();
    if (!d.obligations.row_filters.empty()) obligations["row_filters"] = d.obligations.row_filters;
    if (!d.obligations.column_masks.empty()) {
      Json masks = Json::array();
      for (const ColumnMask& m : d.obligations.column_masks) {
        masks.push_back({{"column", m.column}, {"expression", m.expression}});
      }
      obligations["column_masks"] = std::move(masks);
    }
    context["obligations"] = std::move(obligations);
  }
  return Dump({{"decision", d.effect == Effect::kAllow}, {"context", std::move(context)}});
}

std::string EvaluationErrorJson(const absl::Status& status) {
  return Dump(
      {{"decision", false},
       {"context", {{"error", {{"status", 400}, {"message", std::string(status.message())}}}}}});
}

}  // namespace arbiter::authzen

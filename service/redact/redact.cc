#include "service/redact/redact.h"

#include <gnutls/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "service/decision_json/decision_json.h"
#include "service/value/parse.h"
#include "service/value/value.h"

namespace arbiter::redact {
namespace {

// "previous_contracts" -> "previousContracts": the log writes proto3 JSON names, people may
// write the proto field names they know from the API.
std::string JsonName(absl::string_view segment) {
  std::string out;
  bool upper = false;
  for (char c : segment) {
    if (c == '_') {
      upper = true;
    } else {
      out.push_back(upper ? absl::ascii_toupper(c) : c);
      upper = false;
    }
  }
  return out;
}

void Act(Value& v, Rule::Action action) {
  if (v.is_string()) {
    v = Value(Digest(v.as_string()));
    return;
  }
  std::string json;
  AppendJson(json, v);
  v = Value(Digest(json));
}

void Walk(Value& v, const std::vector<std::string>& segments, size_t i, Rule::Action action) {
  if (v.is_list()) {
    for (Value& e : v.mutable_list()) Walk(e, segments, i, action);
    return;
  }
  if (!v.is_map()) return;
  const std::string& segment = segments[i];
  Value::Map& map = v.mutable_map();
  bool last = i + 1 == segments.size();
  for (auto it = map.begin(); it != map.end();) {
    if (segment != "*" && it->first != segment) {
      ++it;
      continue;
    }
    if (last && action == Rule::Action::kDrop) {
      it = map.erase(it);
      continue;
    }
    if (last) {
      Act(it->second, action);
    } else {
      Walk(it->second, segments, i + 1, action);
    }
    ++it;
  }
}

}  // namespace

std::string Digest(absl::string_view bytes) {
  unsigned char out[32];
  gnutls_hash_fast(GNUTLS_DIG_SHA256, bytes.data(), bytes.size(), out);
  return absl::StrCat("sha256:",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(out), 32)));
}

absl::Status Redactor::Validate(const std::vector<Rule>& rules) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < rules.size(); ++i) {
    std::vector<absl::string_view> segments = absl::StrSplit(rules[i].path, '.');
    bool ok = !rules[i].path.empty();
    for (absl::string_view s : segments) ok = ok && !s.empty();
    if (!ok) {
      errors.push_back(absl::StrCat("decision_log.redact[", i, "]: \"", rules[i].path,
                                    "\" is not a dotted path of request fields"));
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

Redactor::Redactor(std::vector<Rule> rules) {
  for (const Rule& r : rules) {
    Compiled c;
    c.action = r.action;
    for (absl::string_view s : absl::StrSplit(r.path, '.')) c.segments.push_back(JsonName(s));
    rules_.push_back(std::move(c));
  }
}

void Redactor::Apply(Value& tree) const {
  for (const Compiled& c : rules_) {
    if (!c.segments.empty()) Walk(tree, c.segments, 0, c.action);
  }
}

std::string Redactor::ApplyToJson(absl::string_view json) const {
  ParseLimits limits;
  limits.max_bytes = json.size() + 1;
  limits.max_depth = 128;  // the request was bounded on the way in; its JSON adds a few levels
  absl::StatusOr<Value> tree = ParseJson(json, "request", limits);
  if (!tree.ok()) return json::Quote(Digest(json));
  Apply(*tree);
  std::string out;
  out.reserve(json.size());
  AppendJson(out, *tree);
  return out;
}

}  // namespace arbiter::redact

#include "service/bundle_test/policy_tests.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "re2/re2.h"
#include "service/convert/convert.h"
#include "service/impact/impact.h"
#include "service/trino/replay.h"
#include "service/trino/translate.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

// The default ctx.now of a case, fixed so that results never depend on the day tests run.
constexpr char kDefaultNow[] = "2026-01-01T00:00:00Z";

// Applies `set` (value null = remove) to the dotted `path` in `doc`.
absl::Status SetPath(Value& doc, absl::string_view path, const Value* value) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  Value* cur = &doc;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    bool last = i + 1 == parts.size();
    if (cur->is_list()) {
      size_t index;
      if (!absl::SimpleAtoi(part, &index) || index >= cur->size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("set/unset ", path, ": no list element ", part));
      }
      Value::List& list = cur->mutable_list();
      if (last) {
        if (value == nullptr || value->is_null()) {
          list.erase(list.begin() + static_cast<long>(index));
        } else {
          list[index] = *value;
        }
        return absl::OkStatus();
      }
      cur = &list[index];
      continue;
    }
    if (cur->is_null()) *cur = Value::EmptyMap();
    if (!cur->is_map()) {
      return absl::InvalidArgumentError(
          absl::StrCat("set/unset ", path, ": ", part, " is inside a scalar"));
    }
    Value::Map& map = cur->mutable_map();
    auto it =
        std::find_if(map.begin(), map.end(), [&](const auto& kv) { return kv.first == part; });
    if (last) {
      if (value == nullptr || value->is_null()) {
        if (it != map.end()) map.erase(it);
      } else if (it != map.end()) {
        it->second = *value;
      } else {
        map.emplace_back(part, *value);
      }
      return absl::OkStatus();
    }
    if (it == map.end()) {
      if (value == nullptr) return absl::OkStatus();  // unset of something absent
      map.emplace_back(part, Value::EmptyMap());
      it = map.end() - 1;
    }
    cur = &it->second;
  }
  return absl::OkStatus();
}

absl::Status ExpandDocument(const BundleFiles& files, Value& doc, absl::string_view field) {
  if (!doc.is_map()) return absl::OkStatus();
  const Value* file = doc.Find("file");
  if (file == nullptr) return absl::OkStatus();
  if (!file->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".file: expected a path"));
  }
  auto it = files.files.find(file->as_string());
  if (it == files.files.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".file: ", file->as_string(), " is not in the bundle"));
  }
  absl::StatusOr<Value> tree = ParseYaml(it->second, it->first);
  if (!tree.ok()) return tree.status();
  if (const Value* set = doc.Find("set"); set != nullptr && set->is_map()) {
    for (const auto& [path, v] : set->as_map()) {
      if (auto s = SetPath(*tree, path, &v); !s.ok()) return s;
    }
  }
  if (const Value* unset = doc.Find("unset"); unset != nullptr && unset->is_list()) {
    for (const Value& path : unset->as_list()) {
      if (!path.is_string()) continue;
      if (auto s = SetPath(*tree, path.as_string(), nullptr); !s.ok()) return s;
    }
  }
  Value replaced = Value::EmptyMap();
  replaced.Set("struct", *std::move(tree));
  replaced.Set("source", file->as_string());
  doc = std::move(replaced);
  return absl::OkStatus();
}

std::vector<std::string> StringList(const Value* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (v->is_string()) out.push_back(v->as_string());
  if (v->is_list()) {
    for (const Value& e : v->as_list()) {
      if (e.is_string()) out.push_back(e.as_string());
    }
  }
  return out;
}

std::string DescribeReasons(const Decision& d) {
  std::vector<std::string> parts;
  for (const Reason& r : d.reasons) {
    parts.push_back(absl::StrCat(r.policy_id, " (", EffectName(r.effect),
                                 r.severity == Severity::kNone ? "" : "/", SeverityName(r.severity),
                                 "): ", r.message,
                                 r.detail.empty() ? "" : absl::StrCat(" [", r.detail, "]")));
  }
  return parts.empty() ? "no reasons" : absl::StrJoin(parts, "; ");
}

void Check(const Value& expect, const Decision& d, std::vector<std::string>& failures) {
  if (const Value* effect = expect.Find("effect")) {
    std::string want = effect->is_string() ? effect->as_string() : "?";
    if (want != EffectName(d.effect)) {
      failures.push_back(absl::StrCat("effect: expected ", want, ", got ", EffectName(d.effect),
                                      " — ", DescribeReasons(d)));
    }
  }
  auto has_reason = [&](const std::string& id, bool warning_only) {
    return std::any_of(d.reasons.begin(), d.reasons.end(), [&](const Reason& r) {
      return r.policy_id == id && (!warning_only || r.severity == Severity::kWarning);
    });
  };
  for (const std::string& id : StringList(expect.Find("reasons"))) {
    if (!has_reason(id, false)) {
      failures.push_back(
          absl::StrCat("reasons: expected ", id, " among them, got ", DescribeReasons(d)));
    }
  }
  for (const std::string& id : StringList(expect.Find("not_reasons"))) {
    if (has_reason(id, false)) {
      failures.push_back(
          absl::StrCat("not_reasons: ", id, " should not be among ", DescribeReasons(d)));
    }
  }
  for (const std::string& id : StringList(expect.Find("warnings"))) {
    if (!has_reason(id, true)) {
      failures.push_back(
          absl::StrCat("warnings: expected a warning from ", id, ", got ", DescribeReasons(d)));
    }
  }
  // Waiver ids (waivers/*.yaml) that must have turned a deny into a warning.
  for (const std::string& id : StringList(expect.Find("waivers"))) {
    if (std::none_of(d.reasons.begin(), d.reasons.end(),
                     [&](const Reason& r) { return r.waiver == id; })) {
      failures.push_back(
          absl::StrCat("waivers: expected a finding waived by ", id, ", got ", DescribeReasons(d)));
    }
  }
  if (const Value* masks = expect.Find("masks"); masks != nullptr) {
    std::map<std::string, std::string> want, got;
    if (masks->is_map()) {
      for (const auto& [k, v] : masks->as_map())
        want[k] = v.is_string() ? v.as_string() : v.ToJson();
    }
    for (const ColumnMask& m : d.obligations.column_masks) got[m.column] = m.expression;
    if (want != got) {
      auto render = [](const std::map<std::string, std::string>& m) {
        std::vector<std::string> parts;
        for (const auto& [k, v] : m) parts.push_back(absl::StrCat(k, " => ", v));
        return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
      };
      failures.push_back(absl::StrCat("masks: expected ", render(want), ", got ", render(got)));
    }
  }
  if (const Value* filters = expect.Find("row_filters"); filters != nullptr) {
    std::vector<std::string> want_list = StringList(filters);
    std::set<std::string> want(want_list.begin(), want_list.end());
    std::set<std::string> got(d.obligations.row_filters.begin(), d.obligations.row_filters.end());
    if (want != got) {
      failures.push_back(absl::StrCat("row_filters: expected [", absl::StrJoin(want, ", "),
                                      "], got [", absl::StrJoin(got, ", "), "]"));
    }
  }
}

}  // namespace

// Escapes text for XML; `attribute` also encodes newlines and tabs, which attribute value
// normalisation would otherwise turn into spaces.
std::string XmlEscape(absl::string_view s, bool attribute) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\n':
        out += attribute ? "&#10;" : "\n";
        break;
      case '\t':
        out += attribute ? "&#9;" : "\t";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        // Other control characters are not allowed in XML 1.0 at all.
        if (c < 0x20) {
          out += '?';
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

absl::Status ExpandDocuments(Kind kind, const BundleFiles& files, Value& request) {
  if (kind == Kind::kAccess || !request.is_map()) return absl::OkStatus();
  for (auto& [key, v] : request.mutable_map()) {
    if (key == "product" || key == "previous") {
      if (auto s = ExpandDocument(files, v, key); !s.ok()) return s;
    } else if ((key == "contracts" || key == "previousContracts" || key == "previous_contracts") &&
               v.is_list()) {
      for (size_t i = 0; i < v.size(); ++i) {
        if (auto s = ExpandDocument(files, v.mutable_list()[i], absl::StrCat(key, "[", i, "]"));
            !s.ok()) {
          return s;
        }
      }
    }
  }
  return absl::OkStatus();
}

namespace {

// One case of a test file, checked against the schema and ready to run.
struct ParsedCase {
  std::string file;
  std::string name;
  int line = 1;
  Kind kind = Kind::kAccess;
  Value request;  // documents expanded
  Value expect;
  std::optional<absl::Time> now;
  // Trino-shaped cases (`trino:`): the body as Trino POSTs it, the endpoint it goes to and the
  // group mapping (the file's `group_roles`, or the case's own).
  bool trino = false;
  trino::Endpoint endpoint = trino::Endpoint::kAllow;
  std::string trino_body;
  std::map<std::string, std::string> group_roles;
  // Deployment cases: the decision log lines req.change.impact is computed from (`decisions:`,
  // each a decision log entry as a map, written back as one JSON line).
  std::vector<std::string> decisions;
};

// Reports a problem at a node of a test file (its line is the parser's).
using ErrorAt = std::function<void(const Value&, std::string)>;

// `group_roles:` (a file's or a case's): group -> grants, as arbiterd's trino.group_roles.
std::map<std::string, std::string> ParseGroupRoles(const Value& v, const ErrorAt& err) {
  std::map<std::string, std::string> out;
  if (!v.is_map()) {
    err(v, "group_roles: expected a map of Trino group -> grants (as trino.group_roles)");
    return out;
  }
  for (const auto& [group, grants] : v.as_map()) {
    if (!grants.is_string()) {
      err(grants, absl::StrCat("group_roles.", group,
                               ": expected a string of grants such as \"analysts, domain:sales\""));
      continue;
    }
    out[group] = grants.as_string();
  }
  return out;
}

// Equality of JSON trees where the order of a map's keys does not matter.
bool SameJson(const Value& a, const Value& b) {
  if (a.is_map() && b.is_map()) {
    if (a.size() != b.size()) return false;
    for (const auto& [k, v] : a.as_map()) {
      const Value* other = b.Find(k);
      if (other == nullptr || !SameJson(v, *other)) return false;
    }
    return true;
  }
  if (a.is_list() && b.is_list()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!SameJson(a.as_list()[i], b.as_list()[i])) return false;
    }
    return true;
  }
  return a == b;
}

std::string Keys(std::initializer_list<absl::string_view> keys) {
  return absl::StrJoin(keys, ", ");
}

// Reports every key of map `v` that is not in `allowed`.
void CheckKeys(const Value& v, std::initializer_list<absl::string_view> allowed,
               absl::string_view what, const ErrorAt& err) {
  if (!v.is_map()) return;
  for (const auto& [k, entry] : v.as_map()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      err(entry,
          absl::StrCat("unknown key \"", k, "\" in ", what, " (allowed: ", Keys(allowed), ")"));
    }
  }
}

// Checks that `v` is a string or a list of strings naming policies of the bundle.
void CheckPolicyIds(const Value& v, absl::string_view key,
                    const absl::flat_hash_set<std::string>& ids, const ErrorAt& err) {
  std::vector<const Value*> items;
  if (v.is_string()) {
    items.push_back(&v);
  } else if (v.is_list()) {
    for (const Value& e : v.as_list()) items.push_back(&e);
  } else {
    err(v, absl::StrCat("expect.", key, ": expected a list of policy ids"));
    return;
  }
  for (const Value* item : items) {
    if (!item->is_string()) {
      err(*item, absl::StrCat("expect.", key, ": expected a policy id, got ", item->ToJson()));
    } else if (!ids.contains(item->as_string())) {
      err(*item, absl::StrCat("expect.", key, ": no policy ", item->as_string(), " in the bundle"));
    }
  }
}

// Parses and checks every test file of the bundle; problems go to `problems` as
// "file:line: message", every one of them.
std::vector<ParsedCase> ParseTestFiles(const Bundle& bundle, const BundleFiles& files,
                                       std::vector<std::string>& problems) {
  std::vector<ParsedCase> out;
  absl::flat_hash_set<std::string> ids;
  for (const PolicyInfo& p : bundle.policies()) ids.insert(p.id);
  ids.insert(std::string(kDefaultReasonId));
  ids.insert(std::string(kUncataloguedReasonId));
  for (const auto& [file, content] : bundle.test_files()) {
    absl::StatusOr<Value> doc = ParseYaml(content, file);
    if (!doc.ok()) {
      problems.emplace_back(doc.status().message());
      continue;
    }
    // A message about a node, on the line the parser gave it (a map entry's: its key's).
    auto err = [&, file = file](const Value& at, std::string msg) {
      problems.push_back(absl::StrCat(file, ":", std::max(at.line(), 1), ": ", msg));
    };
    if (!doc->is_map()) {
      err(*doc, "expected a map with a `cases:` list");
      continue;
    }
    CheckKeys(*doc, {"cases", "group_roles"}, "a test file", err);
    std::map<std::string, std::string> file_group_roles;
    if (const Value* g = doc->Find("group_roles")) {
      file_group_roles = ParseGroupRoles(*g, err);
    }
    const Value* cases = doc->Find("cases");
    if (cases == nullptr || !cases->is_list()) {
      err(cases != nullptr ? *cases : *doc, "expected a `cases:` list");
      continue;
    }
    for (size_t i = 0; i < cases->size(); ++i) {
      const Value& c = cases->as_list()[i];
      size_t before = problems.size();
      ParsedCase pc;
      pc.file = file;
      pc.line = std::max(c.line(), 1);
      if (!c.is_map()) {
        err(c, "a case is a map with name, kind, request and expect");
        continue;
      }
      CheckKeys(c,
                {"name", "kind", "now", "request", "expect", "trino", "endpoint", "group_roles",
                 "decisions"},
                "a case", err);
      const Value* name = c.Find("name");
      if (name != nullptr && !name->is_string()) err(*name, "name: expected a string");
      pc.name = c.GetString("name", absl::StrCat("case ", i + 1));
      const Value* trino_input = c.Find("trino");
      pc.trino = trino_input != nullptr;
      absl::StatusOr<Kind> kind = ParseKind(c.GetString("kind"));
      if (pc.trino) {
        // A Trino request is always access checks; `kind:` may say so, or be left out.
        if (const Value* k = c.Find("kind"); k != nullptr && k->ToJson() != "\"trino\"") {
          err(*k, "kind: a case with `trino:` is kind trino (or leaves kind out)");
        }
        if (c.Find("request") != nullptr) {
          err(*c.Find("request"), "request: a case has either request or trino, not both");
        }
      } else {
        for (absl::string_view key : {"endpoint", "group_roles"}) {
          if (const Value* v = c.Find(key)) {
            err(*v, absl::StrCat(key, ": only for Trino-shaped cases (with `trino:`)"));
          }
        }
      }
      if (pc.trino) {
        pc.kind = Kind::kAccess;
      } else if (c.Find("kind") == nullptr) {
        err(c, "kind: required (access, product, deployment or trino)");
      } else if (!kind.ok()) {
        err(*c.Find("kind"), absl::StrCat("kind: ", kind.status().message()));
      } else {
        pc.kind = *kind;
      }
      if (const Value* d = c.Find("decisions")) {
        if (!d->is_list()) {
          err(*d, "decisions: expected a list of decision log entries (the impact's recorded log)");
        } else {
          for (const Value& line : d->as_list()) pc.decisions.push_back(line.ToJson());
        }
      }
      if (const Value* now = c.Find("now")) {
        absl::Time t;
        std::string perr;
        if (!now->is_string() ||
            !absl::ParseTime(absl::RFC3339_full, now->as_string(), &t, &perr)) {
          err(*now, absl::StrCat("now: expected an RFC 3339 time such as \"", kDefaultNow,
                                 "\", got ", now->ToJson()));
        } else {
          pc.now = t;
        }
      }
      if (pc.trino) {
        if (trino_input->is_string()) {
          pc.trino_body = trino_input->as_string();  // the JSON text, as captured
        } else if (trino_input->is_map()) {
          pc.trino_body = trino_input->ToJson();
        } else {
          err(*trino_input,
              "trino: expected the body Trino POSTs ({input: {context, action}}), as YAML or as "
              "a JSON string");
        }
        pc.endpoint = trino::InferEndpoint(pc.trino_body);
        if (const Value* e = c.Find("endpoint")) {
          absl::StatusOr<trino::Endpoint> endpoint =
              trino::ParseEndpoint(e->is_string() ? e->as_string() : "");
          if (!e->is_string() || !endpoint.ok()) {
            err(*e, absl::StrCat("endpoint: ", e->is_string() ? endpoint.status().message()
                                                              : "expected an endpoint name"));
          } else {
            pc.endpoint = *endpoint;
          }
        }
        pc.group_roles = file_group_roles;
        if (const Value* g = c.Find("group_roles")) {
          pc.group_roles = ParseGroupRoles(*g, err);
        }
      }
      const Value* expect = c.Find("expect");
      if (expect == nullptr) {
        err(c, "expect: required");
      } else if (!expect->is_map() || expect->size() == 0) {
        err(*expect,
            "expect: expected a map of effect, reasons, not_reasons, warnings, waivers, "
            "masks, row_filters or error");
      } else {
        if (pc.trino) {
          CheckKeys(*expect,
                    {"effect", "allowed", "result", "reasons", "not_reasons", "warnings", "waivers",
                     "masks", "row_filters", "error"},
                    "expect", err);
          // Each expectation where the endpoint's answer has it.
          const bool batch = pc.endpoint == trino::Endpoint::kBatch ||
                             pc.endpoint == trino::Endpoint::kBatchColumnMask;
          const bool masks = pc.endpoint == trino::Endpoint::kColumnMask ||
                             pc.endpoint == trino::Endpoint::kBatchColumnMask;
          auto only = [&](absl::string_view key, bool ok, absl::string_view where) {
            if (const Value* v = expect->Find(key); !ok && v != nullptr) {
              err(*v, absl::StrCat("expect.", key, ": only for ", where, " (this case goes to ",
                                   trino::EndpointName(pc.endpoint), ")"));
            }
          };
          only("effect", !batch, "allow, rowFilters and columnMask; use `allowed:` for a batch");
          only("allowed", batch, "batch and batchColumnMask");
          only("masks", masks, "columnMask and batchColumnMask");
          only("row_filters", pc.endpoint == trino::Endpoint::kRowFilters, "rowFilters");
          if (const Value* a = expect->Find("allowed")) {
            bool ok = a->is_list();
            for (size_t j = 0; ok && j < a->size(); ++j) ok = a->as_list()[j].is_int();
            if (!ok) {
              err(*a, "expect.allowed: expected the list of allowed item indexes, e.g. [0, 2]");
            }
          }
        } else {
          CheckKeys(*expect,
                    {"effect", "reasons", "not_reasons", "warnings", "waivers", "masks",
                     "row_filters", "error"},
                    "expect", err);
        }
        if (const Value* e = expect->Find("effect");
            e != nullptr &&
            !(e->is_string() && (e->as_string() == "allow" || e->as_string() == "deny"))) {
          err(*e, absl::StrCat("expect.effect: ", e->ToJson(), " is not allow or deny"));
        }
        for (absl::string_view key : {"reasons", "not_reasons", "warnings"}) {
          if (const Value* v = expect->Find(key)) {
            CheckPolicyIds(*v, key, ids, err);
          }
        }
        if (const Value* wv = expect->Find("waivers")) {
          bool ok = wv->is_list() && wv->size() > 0;
          for (size_t j = 0; ok && j < wv->size(); ++j) {
            const Value& e = wv->as_list()[j];
            ok = e.is_string() &&
                 std::any_of(bundle.waivers().begin(), bundle.waivers().end(),
                             [&](const Waiver& w) { return w.id == e.as_string(); });
          }
          if (!ok) {
            err(*wv, "expect.waivers: expected a list of the bundle's waiver ids (waivers/*.yaml)");
          }
        }
        if (const Value* m = expect->Find("masks")) {
          if (!m->is_map()) {
            err(*m, "expect.masks: expected a map of column to SQL expression");
          } else {
            for (const auto& [col, e] : m->as_map()) {
              if (!e.is_string()) {
                err(e, absl::StrCat("expect.masks.", col, ": expected an SQL expression string"));
              }
            }
          }
        }
        if (const Value* r = expect->Find("row_filters")) {
          bool ok = r->is_list();
          for (size_t j = 0; ok && j < r->size(); ++j) ok = r->as_list()[j].is_string();
          if (!ok) err(*r, "expect.row_filters: expected a list of strings");
        }
        if (const Value* e = expect->Find("error"); e != nullptr && !e->is_string()) {
          err(*e, "expect.error: expected the text the error contains");
        }
        pc.expect = *expect;
      }
      const Value* request = c.Find("request");
      if (pc.trino) {
        // A body the endpoint would refuse is a mistake in the test (unless expected).
        bool expects_error =
            expect != nullptr && expect->is_map() && expect->Find("error") != nullptr;
        absl::StatusOr<trino::Plan> plan =
            trino::Translate(pc.endpoint, pc.trino_body, trino::IdentityMapper(pc.group_roles),
                             trino::ProductLocator());
        if (!plan.ok() && !expects_error && !pc.trino_body.empty()) {
          err(*trino_input, absl::StrCat("trino: ", plan.status().message()));
        }
      } else if (request == nullptr) {
        err(c, "request: required");
      } else if (!request->is_map()) {
        err(*request, "request: expected a map (the request message's JSON mapping)");
      } else if (kind.ok()) {
        pc.request = *request;
        bool expects_error =
            expect != nullptr && expect->is_map() && expect->Find("error") != nullptr;
        if (auto s = ExpandDocuments(*kind, files, pc.request); !s.ok()) {
          err(*request, absl::StrCat("request: ", s.message()));
        } else if (!expects_error) {
          // A malformed request is a mistake in the test, not an outcome to compare (unless the
          // case expects the error).
          absl::StatusOr<Request> req = RequestFromJson(*kind, pc.request.ToJson());
          if (!req.ok()) err(*request, std::string(req.status().message()));
        }
      }
      if (problems.size() == before) out.push_back(std::move(pc));
    }
  }
  return out;
}

// Runs a Trino-shaped case: the body through the Trino endpoint's own translation and shaping
// (service/trino), every check on `bundle`, and the expectations on the answer.
void RunTrinoCase(const Bundle& bundle, const ParsedCase& c, const EvalOptions& options,
                  std::vector<std::string>& failures) {
  trino::Replay replay = trino::ReplayRequest(bundle, c.endpoint, c.trino_body,
                                              trino::IdentityMapper(c.group_roles), options);
  const std::string endpoint(trino::EndpointName(c.endpoint));
  if (const Value* want = c.expect.Find("error")) {
    if (replay.answer.status == 200) {
      failures.push_back(absl::StrCat("expected an error containing \"", want->as_string(),
                                      "\", got ", replay.answer.body));
    } else if (!absl::StrContains(replay.answer.body, want->as_string())) {
      failures.push_back(absl::StrCat("error: expected \"", want->as_string(), "\" in HTTP ",
                                      replay.answer.status, " ", replay.answer.body));
    }
    return;
  }
  if (replay.answer.status != 200) {
    failures.push_back(
        absl::StrCat(endpoint, " answered HTTP ", replay.answer.status, " ", replay.answer.body));
    return;
  }
  absl::StatusOr<Value> answer = ParseJson(replay.answer.body, "answer");
  if (!answer.ok()) {
    failures.push_back(absl::StrCat("answer is not JSON: ", replay.answer.body));
    return;
  }
  const Value* result = answer->Find("result");
  const Value null_result;
  if (result == nullptr) result = &null_result;  // columnMask's "{}": no mask
  // Whether answer item i is allowed: any of its checks is (translate.h).
  std::vector<bool> allowed;
  for (const auto& [begin, end] : replay.plan.items) {
    bool any = false;
    for (size_t i = begin; i < end; ++i) {
      any = any || (replay.decisions[i].ok() && replay.decisions[i]->effect == Effect::kAllow);
    }
    allowed.push_back(any);
  }
  // Every check's reasons, for reasons/not_reasons/warnings.
  Decision all;
  for (const auto& d : replay.decisions) {
    if (d.ok()) all.reasons.insert(all.reasons.end(), d->reasons.begin(), d->reasons.end());
  }
  if (const Value* want = c.expect.Find("result"); want != nullptr && !SameJson(*want, *result)) {
    failures.push_back(
        absl::StrCat("result: expected ", want->ToJson(), ", got ", result->ToJson()));
  }
  if (const Value* want = c.expect.Find("effect")) {
    const bool got = !allowed.empty() && allowed[0];
    if (want->as_string() != (got ? "allow" : "deny")) {
      failures.push_back(absl::StrCat("effect: expected ", want->as_string(), ", got ",
                                      got ? "allow" : "deny", " (", replay.answer.body, ") — ",
                                      DescribeReasons(all)));
    }
  }
  if (const Value* want = c.expect.Find("allowed")) {
    std::vector<int64_t> want_list, got_list;
    for (const Value& v : want->as_list()) want_list.push_back(v.as_int());
    for (size_t i = 0; i < allowed.size(); ++i) {
      if (allowed[i]) got_list.push_back(static_cast<int64_t>(i));
    }
    if (want_list != got_list) {
      failures.push_back(absl::StrCat("allowed: expected [", absl::StrJoin(want_list, ", "),
                                      "], got [", absl::StrJoin(got_list, ", "), "] — ",
                                      DescribeReasons(all)));
    }
  }
  if (const Value* want = c.expect.Find("masks")) {
    // The masks of the answer by column name (the plan knows each item's column).
    std::map<std::string, std::string> want_masks, got_masks;
    for (const auto& [k, v] : want->as_map()) want_masks[k] = v.as_string();
    if (c.endpoint == trino::Endpoint::kColumnMask) {
      if (result->is_map() && !replay.plan.mask_columns.empty()) {
        got_masks[replay.plan.mask_columns[0]] = result->GetString("expression");
      }
    } else if (result->is_list()) {
      for (const Value& item : result->as_list()) {
        const Value* index = item.Find("index");
        const Value* expression = item.FindPath({"viewExpression", "expression"});
        if (index == nullptr || !index->is_int() || expression == nullptr || index->as_int() < 0 ||
            static_cast<size_t>(index->as_int()) >= replay.plan.mask_columns.size()) {
          continue;
        }
        got_masks[replay.plan.mask_columns[static_cast<size_t>(index->as_int())]] =
            expression->is_string() ? expression->as_string() : expression->ToJson();
      }
    }
    if (want_masks != got_masks) {
      auto render = [](const std::map<std::string, std::string>& m) {
        std::vector<std::string> parts;
        for (const auto& [k, v] : m) parts.push_back(absl::StrCat(k, " => ", v));
        return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
      };
      failures.push_back(
          absl::StrCat("masks: expected ", render(want_masks), ", got ", render(got_masks)));
    }
  }
  if (const Value* want = c.expect.Find("row_filters")) {
    std::vector<std::string> want_list = StringList(want), got_list;
    if (result->is_list()) {
      for (const Value& f : result->as_list()) got_list.push_back(f.GetString("expression"));
    }
    std::sort(want_list.begin(), want_list.end());
    std::sort(got_list.begin(), got_list.end());
    if (want_list != got_list) {
      failures.push_back(absl::StrCat("row_filters: expected [", absl::StrJoin(want_list, ", "),
                                      "], got [", absl::StrJoin(got_list, ", "), "]"));
    }
  }
  Value reasons_only = Value::EmptyMap();
  for (absl::string_view key : {"reasons", "not_reasons", "warnings"}) {
    if (const Value* v = c.expect.Find(key)) reasons_only.Set(std::string(key), *v);
  }
  Check(reasons_only, all, failures);
}

}  // namespace

absl::Status ValidateTestFiles(const Bundle& bundle, const BundleFiles& files, int* cases) {
  std::vector<std::string> problems;
  std::vector<ParsedCase> parsed = ParseTestFiles(bundle, files, problems);
  if (cases != nullptr) *cases = static_cast<int>(parsed.size());
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("test files have ", problems.size(),
                                                 problems.size() == 1 ? " problem" : " problems",
                                                 ":\n", absl::StrJoin(problems, "\n")));
}

absl::StatusOr<TestReport> RunBundleTests(const Bundle& bundle, const BundleFiles& files,
                                          const TestOptions& test_options) {
  TestReport report;
  absl::Time default_now;
  std::string parse_err;
  absl::ParseTime(absl::RFC3339_full, kDefaultNow, &default_now, &parse_err);
  std::vector<std::string> problems;
  std::vector<ParsedCase> cases = ParseTestFiles(bundle, files, problems);
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("test files have ", problems.size(),
                                                   problems.size() == 1 ? " problem" : " problems",
                                                   ":\n", absl::StrJoin(problems, "\n")));
  }
  std::optional<RE2> run;
  if (!test_options.run.empty()) {
    run.emplace(test_options.run, RE2::Quiet);
    if (!run->ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--run: ", run->error()));
    }
  }
  int index = 0;
  for (const ParsedCase& c : cases) {
    ++index;
    if (run && !RE2::PartialMatch(absl::StrCat(c.file, ": ", c.name), *run)) continue;
    TestCaseResult result;
    result.file = c.file;
    result.name = c.name;
    result.line = c.line;
    EvalOptions options;
    options.now = c.now.value_or(default_now);
    options.decision_id = absl::StrCat("test-", index);
    options.coverage = test_options.coverage;
    auto start = std::chrono::steady_clock::now();
    const Value* want_error = c.expect.Find("error");
    absl::StatusOr<Request> req = c.trino ? absl::StatusOr<Request>(Request(AccessRequest()))
                                          : RequestFromJson(c.kind, c.request.ToJson());
    // Deployments see the blast radius as the offline gate computes it: from the case's
    // recorded decision log (`decisions:`), else the declared consumers only.
    impact::Source impact_source;
    if (!c.decisions.empty()) {
      impact_source.lines = c.decisions;
      impact_source.name = "test case decisions";
    }
    options.deployment_impact = [&](const DeploymentRequest& dep, const Value& change) {
      impact::Options o;
      o.now = options.now;
      return impact::Compute(dep.product, dep.previous ? &*dep.previous : nullptr, dep.contracts,
                             dep.previous_contracts, change, o, impact_source);
    };
    if (c.trino) {
      RunTrinoCase(bundle, c, options, result.failures);
      result.passed = result.failures.empty();
    } else if (!req.ok()) {
      // A case may expect the request to be rejected.
      if (want_error != nullptr &&
          absl::StrContains(req.status().message(), want_error->as_string())) {
        result.passed = true;
      } else {
        result.failures.push_back(absl::StrCat("request rejected: ", req.status().message()));
      }
    } else {
      absl::StatusOr<Decision> d = bundle.Evaluate(*req, options);
      if (!d.ok()) {
        if (want_error != nullptr &&
            absl::StrContains(d.status().message(), want_error->as_string())) {
          result.passed = true;
        } else {
          result.failures.push_back(absl::StrCat("evaluation failed: ", d.status().ToString()));
        }
      } else {
        if (want_error != nullptr) {
          result.failures.push_back(absl::StrCat("expected an error containing \"",
                                                 want_error->as_string(), "\", got a decision"));
        }
        Check(c.expect, *d, result.failures);
        result.passed = result.failures.empty();
      }
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    (result.passed ? report.passed : report.failed)++;
    report.cases.push_back(std::move(result));
  }
  return report;
}

CoverageReport BuildCoverage(const Bundle& bundle, const LineCoverage& lines) {
  CoverageReport out;
  for (const auto& [file, coverable] : bundle.CoverableLines()) {
    CoverageReport::File f;
    f.file = file;
    auto it = lines.find(file);
    for (int line : coverable) {
      bool hit = it != lines.end() && it->second.count(line) > 0;
      (hit ? f.hit : f.missed).push_back(line);
    }
    out.hit += f.hit.size();
    out.total += f.hit.size() + f.missed.size();
    out.files.push_back(std::move(f));
  }
  return out;
}

std::string FormatCoverageText(const CoverageReport& report) {
  std::string out = "coverage of policy lines by the test cases:\n";
  for (const CoverageReport::File& f : report.files) {
    size_t total = f.hit.size() + f.missed.size();
    double pct = total == 0 ? 100.0 : 100.0 * f.hit.size() / total;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%6.1f%%", pct);
    absl::StrAppend(&out, "  ", buf, "  ", f.file, " (", f.hit.size(), "/", total, ")");
    if (!f.missed.empty()) absl::StrAppend(&out, "  missed lines ", absl::StrJoin(f.missed, ","));
    absl::StrAppend(&out, "\n");
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", report.percent());
  absl::StrAppend(&out, "total: ", buf, " of ", report.total, " policy lines (", report.hit,
                  " hit)\n");
  return out;
}

std::string FormatCoverageLcov(const CoverageReport& report, const LineCoverage& lines,
                               const std::string& root) {
  std::string out;
  for (const CoverageReport::File& f : report.files) {
    absl::StrAppend(&out, "TN:\nSF:", root.empty() ? "" : absl::StrCat(root, "/"), f.file, "\n");
    std::map<int, int64_t> counts;
    auto it = lines.find(f.file);
    for (int l : f.hit) counts[l] = it != lines.end() ? it->second.at(l) : 1;
    for (int l : f.missed) counts[l] = 0;
    for (const auto& [l, n] : counts) absl::StrAppend(&out, "DA:", l, ",", n, "\n");
    absl::StrAppend(&out, "LF:", counts.size(), "\nLH:", f.hit.size(), "\nend_of_record\n");
  }
  return out;
}

std::string FormatTestText(const TestReport& report, bool verbose) {
  std::string out;
  for (const TestCaseResult& c : report.cases) {
    if (c.passed) {
      if (verbose) absl::StrAppend(&out, "PASS  ", c.file, ": ", c.name, "\n");
      continue;
    }
    absl::StrAppend(&out, "FAIL  ", c.file, ":", c.line, ": ", c.name, "\n");
    for (const std::string& f : c.failures) absl::StrAppend(&out, "      ", f, "\n");
  }
  absl::StrAppend(&out, report.failed == 0 ? "PASS" : "FAIL", ": ", report.passed, " passed, ",
                  report.failed, " failed, ", report.cases.size(), " cases\n");
  return out;
}

std::string FormatTestJunit(const TestReport& report) {
  std::map<std::string, std::vector<const TestCaseResult*>> by_file;
  for (const TestCaseResult& c : report.cases) by_file[c.file].push_back(&c);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  absl::StrAppend(&out, "<testsuites name=\"arbiter policy tests\" tests=\"", report.cases.size(),
                  "\" failures=\"", report.failed, "\">\n");
  for (const auto& [file, cases] : by_file) {
    int failures = 0;
    double seconds = 0;
    for (const auto* c : cases) {
      failures += c->passed ? 0 : 1;
      seconds += c->seconds;
    }
    absl::StrAppend(&out, "  <testsuite name=\"", XmlEscape(file), "\" tests=\"", cases.size(),
                    "\" failures=\"", failures, "\" time=\"", seconds, "\">\n");
    for (const auto* c : cases) {
      absl::StrAppend(&out, "    <testcase classname=\"", XmlEscape(file), "\" name=\"",
                      XmlEscape(c->name), "\" time=\"", c->seconds, "\"");
      if (c->passed) {
        absl::StrAppend(&out, "/>\n");
        continue;
      }
      absl::StrAppend(&out, ">\n      <failure message=\"", XmlEscape(c->failures.front()), "\">",
                      XmlEscape(absl::StrJoin(c->failures, "\n"), false),
                      "</failure>\n    </testcase>\n");
    }
    absl::StrAppend(&out, "  </testsuite>\n");
  }
  absl::StrAppend(&out, "</testsuites>\n");
  return out;
}

}  // namespace arbiter

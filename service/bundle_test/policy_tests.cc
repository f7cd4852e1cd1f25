#include "service/bundle_test/policy_tests.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "service/convert/convert.h"
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

absl::StatusOr<TestReport> RunBundleTests(const Bundle& bundle, const BundleFiles& files) {
  TestReport report;
  absl::Time default_now;
  std::string parse_err;
  absl::ParseTime(absl::RFC3339_full, kDefaultNow, &default_now, &parse_err);
  for (const auto& [file, content] : bundle.test_files()) {
    absl::StatusOr<Value> doc = ParseYaml(content, file);
    if (!doc.ok()) return doc.status();
    const Value* cases = doc->Find("cases");
    if (cases == nullptr || !cases->is_list()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ":1: expected a `cases:` list"));
    }
    for (size_t i = 0; i < cases->size(); ++i) {
      const Value& c = cases->as_list()[i];
      TestCaseResult result;
      result.file = file;
      result.name = c.GetString("name", absl::StrCat("case ", i + 1));
      std::string where = absl::StrCat(file, ": case \"", result.name, "\": ");
      absl::StatusOr<Kind> kind = ParseKind(c.GetString("kind"));
      if (!kind.ok())
        return absl::InvalidArgumentError(absl::StrCat(where, kind.status().message()));
      const Value* request = c.Find("request");
      const Value* expect = c.Find("expect");
      if (request == nullptr || !request->is_map()) {
        return absl::InvalidArgumentError(absl::StrCat(where, "request: required"));
      }
      if (expect == nullptr || !expect->is_map() || expect->size() == 0) {
        return absl::InvalidArgumentError(absl::StrCat(where, "expect: required"));
      }
      Value expanded = *request;
      if (auto s = ExpandDocuments(*kind, files, expanded); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, s.message()));
      }
      absl::StatusOr<Request> req = RequestFromJson(*kind, expanded.ToJson());
      EvalOptions options;
      options.now = default_now;
      if (std::string now = c.GetString("now"); !now.empty()) {
        if (!absl::ParseTime(absl::RFC3339_full, now, &options.now, &parse_err)) {
          return absl::InvalidArgumentError(absl::StrCat(where, "now: ", parse_err));
        }
      }
      options.decision_id = absl::StrCat("test-", i + 1);
      auto start = std::chrono::steady_clock::now();
      if (!req.ok()) {
        // A case may expect the request to be rejected.
        const Value* want_error = expect->Find("error");
        if (want_error != nullptr && want_error->is_string() &&
            absl::StrContains(req.status().message(), want_error->as_string())) {
          result.passed = true;
        } else {
          result.failures.push_back(absl::StrCat("request rejected: ", req.status().message()));
        }
      } else {
        absl::StatusOr<Decision> d = bundle.Evaluate(*req, options);
        const Value* want_error = expect->Find("error");
        if (!d.ok()) {
          if (want_error != nullptr && want_error->is_string() &&
              absl::StrContains(d.status().message(), want_error->as_string())) {
            result.passed = true;
          } else {
            result.failures.push_back(absl::StrCat("evaluation failed: ", d.status().ToString()));
          }
        } else {
          if (want_error != nullptr) {
            result.failures.push_back(absl::StrCat("expected an error containing \"",
                                                   want_error->ToJson(), "\", got a decision"));
          }
          Check(*expect, *d, result.failures);
          result.passed = result.failures.empty();
        }
      }
      result.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      (result.passed ? report.passed : report.failed)++;
      report.cases.push_back(std::move(result));
    }
  }
  return report;
}

std::string FormatTestText(const TestReport& report, bool verbose) {
  std::string out;
  for (const TestCaseResult& c : report.cases) {
    if (c.passed) {
      if (verbose) absl::StrAppend(&out, "PASS  ", c.file, ": ", c.name, "\n");
      continue;
    }
    absl::StrAppend(&out, "FAIL  ", c.file, ": ", c.name, "\n");
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

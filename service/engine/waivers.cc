#include "service/engine/waivers.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"
#include "service/engine/bundle.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

constexpr const char* kKeys = "id, policy, scope, reason, approved_by, expires, ticket";
constexpr const char* kScopeKeys = "domain, product, principal, environment, kind";
// Waiver files are small; a bound keeps a hostile bundle from making loading slow.
constexpr size_t kMaxWaiversPerFile = 1000;
constexpr size_t kMaxFieldBytes = 1024;

// Ids reach decisions, logs and metrics labels: a short token, no free text.
bool ValidWaiverId(absl::string_view s) {
  static const RE2* re = new RE2("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  return RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
}

// An RFC 3339 full date ("2027-03-01", read as 00:00 UTC that day) or date-time.
std::optional<absl::Time> ParseExpiry(const std::string& s) {
  static const RE2* date = new RE2(R"(\d{4}-\d{2}-\d{2})");
  static const RE2* date_time =
      new RE2(R"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))");
  absl::Time t;
  std::string err;
  if (RE2::FullMatch(s, *date)) {
    if (absl::ParseTime("%Y-%m-%d", s, absl::UTCTimeZone(), &t, &err)) return t;
  } else if (RE2::FullMatch(s, *date_time)) {
    if (absl::ParseTime(absl::RFC3339_full, s, &t, &err)) return t;
  }
  return std::nullopt;
}

std::string Printable(absl::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  return out;
}

// Lines of a waiver file's nodes by slash path ("/0/scope/domain"), from the parser's positions
// (Value::pos); a missing path gives its deepest ancestor's line, then 1.
class SourceLines {
 public:
  explicit SourceLines(const Value* root) : root_(root) {}
  int Line(absl::string_view path) const {
    const Value* at = root_;
    int line = root_ != nullptr && root_->line() > 0 ? root_->line() : 1;
    for (absl::string_view seg : absl::StrSplit(path, '/', absl::SkipEmpty())) {
      const Value* next = nullptr;
      size_t i = 0;
      if (at->is_map()) {
        next = at->Find(seg);
      } else if (at->is_list() && absl::SimpleAtoi(seg, &i) && i < at->size()) {
        next = &at->as_list()[i];
      }
      if (next == nullptr) break;
      at = next;
      if (at->line() > 0) line = at->line();
    }
    return line;
  }
  static std::string Child(absl::string_view path, absl::string_view key) {
    return absl::StrCat(path, "/", key);
  }
  static std::string Child(absl::string_view path, size_t index) {
    return absl::StrCat(path, "/", index);
  }

 private:
  const Value* root_;
};

void ParseOne(const Value& doc, const std::string& at, absl::string_view path,
              const SourceLines& lines, const WaiverSettings& settings, absl::Time load_time,
              std::vector<Waiver>& out, std::vector<std::string>& errors) {
  auto err = [&](const std::string& where, absl::string_view msg) {
    errors.push_back(absl::StrCat(path, ":", lines.Line(where), ": ", msg));
  };
  if (!doc.is_map()) {
    err(at, "a waiver is a map of id, policy, scope, reason, approved_by, expires");
    return;
  }
  Waiver w;
  w.file = std::string(path);
  w.line = lines.Line(at);
  size_t before = errors.size();
  auto string_field = [&](absl::string_view key, std::string& dest, bool required) {
    const Value* v = doc.Find(key);
    std::string where = SourceLines::Child(at, key);
    if (v == nullptr || v->is_null()) {
      if (required) err(at, absl::StrCat(key, ": required"));
      return;
    }
    if (!v->is_string() || v->as_string().empty()) {
      err(where, absl::StrCat(key, ": expected a non-empty string, got ", v->ToJson()));
      return;
    }
    if (v->as_string().size() > kMaxFieldBytes) {
      err(where, absl::StrCat(key, ": longer than ", kMaxFieldBytes, " bytes"));
      return;
    }
    dest = v->as_string();
  };
  for (const auto& [key, v] : doc.as_map()) {
    if (key != "id" && key != "policy" && key != "scope" && key != "reason" &&
        key != "approved_by" && key != "expires" && key != "ticket") {
      err(SourceLines::Child(at, key),
          absl::StrCat("unknown key \"", Printable(key), "\" (allowed: ", kKeys, ")"));
    }
  }
  string_field("id", w.id, true);
  if (!w.id.empty() && !ValidWaiverId(w.id)) {
    err(SourceLines::Child(at, "id"),
        absl::StrCat("id \"", Printable(w.id),
                     "\" must be letters, digits, '.', '-' and '_' (at most 64), such as W-12"));
  }
  string_field("policy", w.policy, true);
  string_field("reason", w.reason, true);
  string_field("approved_by", w.approved_by, true);
  string_field("ticket", w.ticket, false);
  string_field("expires", w.expires_text, true);
  if (!w.expires_text.empty()) {
    std::string where = SourceLines::Child(at, "expires");
    std::optional<absl::Time> t = ParseExpiry(w.expires_text);
    if (!t.has_value()) {
      err(where, absl::StrCat("expires: \"", Printable(w.expires_text),
                              "\" is not an RFC 3339 date (2027-03-01) or date-time "
                              "(2027-03-01T12:00:00Z)"));
    } else if (*t > load_time + absl::Hours(24) * settings.max_days) {
      err(where, absl::StrCat("expires: ", w.expires_text, " is more than ", settings.max_days,
                              " days ahead (bundle.yaml waivers.max_days)"));
    } else {
      w.expires = *t;
    }
  }
  const Value* scope = doc.Find("scope");
  std::string scope_at = SourceLines::Child(at, "scope");
  if (scope == nullptr || scope->is_null()) {
    // A waiver for everyone is an edit of the policy, and should be reviewed as one.
    err(at, absl::StrCat("scope: required (any of ", kScopeKeys, ")"));
  } else if (!scope->is_map() || scope->size() == 0) {
    err(scope_at, absl::StrCat("scope: expected a map with any of ", kScopeKeys));
  } else {
    for (const auto& [key, v] : scope->as_map()) {
      std::string where = SourceLines::Child(scope_at, key);
      std::string* dest = key == "domain"        ? &w.scope.domain
                          : key == "product"     ? &w.scope.product
                          : key == "principal"   ? &w.scope.principal
                          : key == "environment" ? &w.scope.environment
                          : key == "kind"        ? &w.scope.kind
                                                 : nullptr;
      if (dest == nullptr) {
        err(where, absl::StrCat("scope: unknown key \"", Printable(key),
                                "\" (allowed: ", kScopeKeys, ")"));
      } else if (!v.is_string() || v.as_string().empty()) {
        err(where, absl::StrCat("scope.", key, ": expected a non-empty string, got ", v.ToJson()));
      } else {
        *dest = v.as_string();
      }
    }
    if (!w.scope.kind.empty() && w.scope.kind != "access" && w.scope.kind != "product" &&
        w.scope.kind != "deployment") {
      err(SourceLines::Child(scope_at, "kind"),
          absl::StrCat("scope.kind: \"", Printable(w.scope.kind),
                       "\" is not one of access, product, deployment"));
    }
  }
  if (errors.size() == before) out.push_back(std::move(w));
}

}  // namespace

std::string Waiver::Note() const {
  return absl::StrCat("waived by ", id, ", approved by ", approved_by, ", until ", expires_text,
                      ": ", reason);
}

std::optional<std::string> ParseWaiverSettings(const Value& v, WaiverSettings& out) {
  if (!v.is_map()) return "waivers must be a map (max_days)";
  for (const auto& [key, e] : v.as_map()) {
    if (key != "max_days") {
      return absl::StrCat("waivers: unknown key \"", Printable(key), "\" (allowed: max_days)");
    }
    if (!e.is_int() || e.as_int() <= 0 || e.as_int() > 3660) {
      return "waivers.max_days: expected a number of days from 1 to 3660";
    }
    out.max_days = static_cast<int>(e.as_int());
  }
  return std::nullopt;
}

void ParseWaiverFile(absl::string_view path, absl::string_view content,
                     const WaiverSettings& settings, absl::Time load_time, std::vector<Waiver>& out,
                     std::vector<std::string>& errors) {
  absl::StatusOr<Value> doc = ParseYaml(content, path);
  if (!doc.ok()) {
    errors.push_back(std::string(doc.status().message()));
    return;
  }
  const SourceLines lines(&*doc);
  if (doc->is_list()) {
    if (doc->size() > kMaxWaiversPerFile) {
      errors.push_back(
          absl::StrCat(path, ":1: more than ", kMaxWaiversPerFile, " waivers in one file"));
      return;
    }
    for (size_t i = 0; i < doc->size(); ++i) {
      ParseOne(doc->as_list()[i], SourceLines::Child("", i), path, lines, settings, load_time, out,
               errors);
    }
  } else if (doc->is_map()) {
    ParseOne(*doc, "", path, lines, settings, load_time, out, errors);
  } else {
    errors.push_back(absl::StrCat(path, ":1: expected a waiver (a map) or a list of waivers"));
  }
}

void CheckWaivers(const std::vector<Waiver>& waivers, const std::vector<PolicyInfo>& policies,
                  std::vector<std::string>& errors) {
  absl::flat_hash_map<std::string, const PolicyInfo*> by_id;
  for (const PolicyInfo& p : policies) {
    if (!p.id.empty()) by_id.emplace(p.id, &p);
  }
  absl::flat_hash_map<std::string, const Waiver*> ids;
  for (const Waiver& w : waivers) {
    auto err = [&](absl::string_view msg) {
      errors.push_back(absl::StrCat(w.file, ":", w.line, ": waiver ", w.id, ": ", msg));
    };
    if (auto [it, inserted] = ids.emplace(w.id, &w); !inserted) {
      err(absl::StrCat("duplicate waiver id (also in ", it->second->file, ":", it->second->line,
                       ")"));
    }
    auto p = by_id.find(w.policy);
    if (p == by_id.end()) {
      err(absl::StrCat("policy ", Printable(w.policy), ": no such policy in the bundle"));
      continue;
    }
    const PolicyInfo& policy = *p->second;
    if (!policy.waivable) {
      err(policy.mode == PolicyMode::kMandatory
              ? absl::StrCat("policy ", policy.id, " is mandatory and not waivable (it would need ",
                             "`waivable = true` in its policy table)")
              : absl::StrCat("policy ", policy.id, " declares waivable = false"));
    }
    if (!policy.domain.empty() && w.scope.domain != policy.domain) {
      err(absl::StrCat("policy ", policy.id, " belongs to domain ", policy.domain,
                       ": its waivers must name it in scope (scope: {domain: ", policy.domain,
                       "})"));
    }
  }
}

WaiverIndex::WaiverIndex(std::vector<Waiver> waivers) : waivers_(std::move(waivers)) {
  for (size_t i = 0; i < waivers_.size(); ++i) by_policy_[waivers_[i].policy].push_back(i);
}

const Waiver* WaiverIndex::Find(absl::string_view policy_id, const WaiverSubject& subject,
                                absl::Time now) const {
  auto it = by_policy_.find(policy_id);
  if (it == by_policy_.end()) return nullptr;
  for (size_t i : it->second) {
    const Waiver& w = waivers_[i];
    if (!w.ActiveAt(now)) continue;
    const WaiverScope& s = w.scope;
    if (!s.domain.empty() && s.domain != subject.domain) continue;
    if (!s.product.empty() && s.product != subject.product) continue;
    if (!s.principal.empty() && s.principal != subject.principal) continue;
    if (!s.environment.empty() && s.environment != subject.environment) continue;
    if (!s.kind.empty() && s.kind != subject.kind) continue;
    return &w;
  }
  return nullptr;
}

}  // namespace arbiter

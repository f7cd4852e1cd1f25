#include "clients/cli/gate_output.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "service/bundle_test/policy_tests.h"
#include "service/convert/convert.h"
#include "service/decision_json/decision_json.h"
#include "service/diff/diff_rules.h"
#include "service/diff/semver.h"
#include "service/value/parse.h"

namespace arbiter::cli {
namespace {

using google::protobuf::Struct;
using PValue = google::protobuf::Value;

// ---- the `change` struct -------------------------------------------------------------------

struct ChangeEntry {
  ChangeClass cls;  // which list of req.change it came from
  std::string document, path, rule, old_text, new_text;
  int line = 0;  // the diff's `line` of the key in the new document, 0 when it gave none
};

std::string ValueText(const PValue& v) {
  switch (v.kind_case()) {
    case PValue::kStringValue:
      return v.string_value();
    case PValue::kNumberValue: {
      double n = v.number_value();
      if (std::floor(n) == n && std::fabs(n) < 9e15) return absl::StrCat(static_cast<int64_t>(n));
      return absl::StrCat(n);
    }
    case PValue::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case PValue::kStructValue:
    case PValue::kListValue:
      // Struct fields are a map without order; sorted keys keep the output reproducible.
      return nlohmann::json::parse(ToJson(v)).dump();
    default:
      return "";
  }
}

const PValue* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

std::string FieldText(const Struct& s, const std::string& name) {
  const PValue* v = Field(s, name);
  return v == nullptr ? "" : ValueText(*v);
}

std::vector<ChangeEntry> Changes(const v1::Decision& d) {
  std::vector<ChangeEntry> out;
  for (const ChangeClassInfo& info : kChangeClasses) {
    const ChangeClass cls = info.cls;
    const PValue* list = Field(d.change(), std::string(info.list_key));
    if (list == nullptr || !list->has_list_value()) continue;
    for (const PValue& item : list->list_value().values()) {
      if (!item.has_struct_value()) continue;
      const Struct& s = item.struct_value();
      const PValue* line = Field(s, "line");
      out.push_back({cls, FieldText(s, "document"), FieldText(s, "path"), FieldText(s, "rule"),
                     FieldText(s, "old"), FieldText(s, "new"),
                     line != nullptr && line->has_number_value()
                         ? static_cast<int>(line->number_value())
                         : 0});
    }
  }
  return out;
}

struct VersionLine {
  std::string what;  // "product customer-transactions" / "contract x"
  std::string from, to, bump;
};

std::vector<VersionLine> Versions(const GateInputs& in, const v1::Decision& d) {
  std::vector<VersionLine> out;
  if (const PValue* v = Field(d.change(), "version"); v != nullptr && v->has_struct_value()) {
    const Struct& s = v->struct_value();
    out.push_back({absl::StrCat("product ", in.product.name), FieldText(s, "from"),
                   FieldText(s, "to"), FieldText(s, "bump")});
  }
  if (const PValue* cv = Field(d.change(), "contract_versions");
      cv != nullptr && cv->has_struct_value()) {
    std::vector<std::string> names;
    for (const auto& [name, _] : cv->struct_value().fields()) names.push_back(name);
    std::sort(names.begin(), names.end());  // Struct fields are a map with no order
    for (const std::string& name : names) {
      const PValue& v = cv->struct_value().fields().at(name);
      if (!v.has_struct_value()) continue;
      const Struct& s = v.struct_value();
      out.push_back({absl::StrCat("contract ", name), FieldText(s, "from"), FieldText(s, "to"),
                     FieldText(s, "bump")});
    }
  }
  return out;
}

std::string VersionDeltaText(const VersionLine& v) {
  std::optional<Bump> bump = ParseBump(v.bump);
  if (bump == Bump::kInitial)
    return absl::StrCat(v.to.empty() ? "(no version)" : v.to, " (initial)");
  if (bump == Bump::kRemoved) return absl::StrCat(v.from, " -> (removed)");
  return absl::StrCat(v.from.empty() ? "?" : v.from, " -> ", v.to.empty() ? "?" : v.to, " (",
                      v.bump, ")");
}

// The file a change's document ("contract:<name>", "product:<name>") was read from.
const GateFile* FileOfDocument(const GateInputs& in, const std::string& document) {
  if (absl::StartsWith(document, "contract:")) {
    std::string name = document.substr(9);
    for (const GateFile& c : in.contracts) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
  return &in.product;
}

// ---- the blast radius: change.impact (service/impact) ------------------------------------

int64_t NumberField(const Struct& s, const std::string& name) {
  const PValue* v = Field(s, name);
  return v != nullptr && v->has_number_value() ? static_cast<int64_t>(v->number_value()) : 0;
}

struct ImpactReader {
  std::string id, domain;
  int64_t decisions = 0;
  int64_t last_seen = 0;  // unix seconds; 0: never seen (a declared consumer only)
  bool consumer = false;
  bool producer = false;  // the product's own domain
};

struct ImpactEntry {
  std::string document, path, rule;
  int line = 0;
  std::vector<std::string> columns;
  std::vector<std::string> consumers;  // "domain (team: use case)"
  int64_t decisions = 0, other_principals = 0;
  std::vector<ImpactReader> domains, principals;
};

struct ImpactView {
  bool present = false;
  std::string source, limit;
  bool complete = true;
  int64_t window_seconds = 0, files = 0, lines = 0, bytes = 0, skipped = 0, matched = 0;
  std::vector<std::string> errors;
  std::vector<ImpactEntry> entries;
  std::vector<ImpactReader> domains;
};

std::vector<ImpactReader> Readers(const Struct& s, const std::string& name) {
  std::vector<ImpactReader> out;
  const PValue* list = Field(s, name);
  if (list == nullptr || !list->has_list_value()) return out;
  for (const PValue& v : list->list_value().values()) {
    if (!v.has_struct_value()) continue;
    const Struct& r = v.struct_value();
    const PValue* consumer = Field(r, "consumer");
    const PValue* producer = Field(r, "producer");
    out.push_back({FieldText(r, "id"), FieldText(r, "domain"), NumberField(r, "decisions"),
                   NumberField(r, "last_seen"), consumer != nullptr && consumer->bool_value(),
                   producer != nullptr && producer->bool_value()});
  }
  return out;
}

ImpactView ImpactOf(const v1::Decision& d) {
  ImpactView view;
  const PValue* impact = Field(d.change(), "impact");
  if (impact == nullptr || !impact->has_struct_value()) return view;
  const Struct& s = impact->struct_value();
  view.present = true;
  view.source = FieldText(s, "source");
  view.limit = FieldText(s, "limit");
  const PValue* complete = Field(s, "complete");
  view.complete = complete == nullptr || complete->bool_value();
  view.window_seconds = NumberField(s, "window_seconds");
  if (const PValue* sc = Field(s, "scanned"); sc != nullptr && sc->has_struct_value()) {
    const Struct& c = sc->struct_value();
    view.files = NumberField(c, "files");
    view.lines = NumberField(c, "lines");
    view.bytes = NumberField(c, "bytes");
    view.skipped = NumberField(c, "skipped");
    view.matched = NumberField(c, "matched");
  }
  if (const PValue* e = Field(s, "errors"); e != nullptr && e->has_list_value()) {
    for (const PValue& v : e->list_value().values()) view.errors.push_back(ValueText(v));
  }
  view.domains = Readers(s, "domains");
  const PValue* entries = Field(s, "entries");
  if (entries == nullptr || !entries->has_list_value()) return view;
  for (const PValue& v : entries->list_value().values()) {
    if (!v.has_struct_value()) continue;
    const Struct& e = v.struct_value();
    ImpactEntry entry;
    entry.document = FieldText(e, "document");
    entry.path = FieldText(e, "path");
    entry.rule = FieldText(e, "rule");
    entry.line = static_cast<int>(NumberField(e, "line"));
    if (const PValue* c = Field(e, "columns"); c != nullptr && c->has_list_value()) {
      for (const PValue& col : c->list_value().values()) entry.columns.push_back(ValueText(col));
    }
    if (const PValue* c = Field(e, "consumers"); c != nullptr && c->has_list_value()) {
      for (const PValue& cv : c->list_value().values()) {
        if (!cv.has_struct_value()) continue;
        const Struct& cs = cv.struct_value();
        std::string team = FieldText(cs, "team"), use = FieldText(cs, "use_case");
        std::string text = FieldText(cs, "domain");
        if (!team.empty() || !use.empty()) {
          absl::StrAppend(&text, " (", team, !team.empty() && !use.empty() ? ": " : "", use, ")");
        }
        entry.consumers.push_back(std::move(text));
      }
    }
    entry.decisions = NumberField(e, "decisions");
    entry.other_principals = NumberField(e, "other_principals");
    entry.domains = Readers(e, "domains");
    entry.principals = Readers(e, "principals");
    view.entries.push_back(std::move(entry));
  }
  return view;
}

std::string SeenText(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%MZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

std::string WindowText(int64_t seconds) {
  if (seconds > 0 && seconds % 86400 == 0) return absl::StrCat(seconds / 86400, " days");
  if (seconds > 0 && seconds % 3600 == 0) return absl::StrCat(seconds / 3600, " hours");
  return absl::StrCat(seconds, " seconds");
}

std::string NameOr(const std::string& s, const char* fallback) { return s.empty() ? fallback : s; }

// "marketing 2 (last 2026-11-29T00:01Z)" for a domain that read; declared consumers that did not
// read say so; readers that are not declared consumers say that.
std::string DomainText(const ImpactReader& r) {
  std::string out = NameOr(r.domain, "(no domain)");
  if (r.decisions == 0) return absl::StrCat(out, " (declared consumer, no reads in the log)");
  absl::StrAppend(&out, " ", r.decisions, r.decisions == 1 ? " read" : " reads", ", last ",
                  SeenText(r.last_seen));
  if (r.producer) {
    absl::StrAppend(&out, " (the producing domain)");
  } else if (!r.consumer) {
    absl::StrAppend(&out, ", not a declared consumer");
  }
  return out;
}

std::string PrincipalText(const ImpactReader& r) {
  return absl::StrCat(NameOr(r.id, "(redacted)"), " (", NameOr(r.domain, "no domain"), ") ",
                      r.decisions, ", last ", SeenText(r.last_seen));
}

// One line about where the readers came from.
std::string ImpactSourceText(const ImpactView& v) {
  if (v.source == "none") {
    return "no decision log read (arbiter gate --decisions FILE...): declared consumers only";
  }
  std::string out = absl::StrCat(v.source, ", last ", WindowText(v.window_seconds), ": ", v.matched,
                                 " of ", v.lines, " decisions read a changed column");
  if (v.skipped > 0) absl::StrAppend(&out, ", ", v.skipped, " lines skipped (unreadable)");
  if (!v.limit.empty()) {
    absl::StrAppend(&out, "; INCOMPLETE: the scan stopped at its ", v.limit, " limit after ",
                    v.bytes, " bytes (older decisions not counted)");
  }
  for (const std::string& e : v.errors) absl::StrAppend(&out, "; not read: ", e);
  return out;
}

constexpr size_t kListedPrincipals = 10;

// ---- YAML locations ------------------------------------------------------------------------

// Walks a document parsed with positions (ParseYaml's Value::pos); the text between a node and
// its next sibling bounds the search inside embedded JSON.
class PathWalker {
 public:
  PathWalker(const std::string& text, std::vector<std::string> segs)
      : text_(text), segs_(std::move(segs)) {
    line_starts_.push_back(0);
    for (size_t k = 0; k < text_.size(); ++k) {
      if (text_[k] == '\n') line_starts_.push_back(k + 1);
    }
  }

  YamlLocation Run() {
    absl::StatusOr<Value> root = ParseYaml(text_, "gate");
    // Malformed YAML was rejected before the request was sent; no line is the safe answer.
    if (root.ok()) Walk(*root, 0, text_.size());
    best_.complete = best_.matched == segs_.size() && !segs_.empty();
    return best_;
  }

 private:
  void Record(size_t matched, int line) {
    if (matched > best_.matched) {
      best_.matched = matched;
      best_.line = line;
    }
  }

  // The byte offset of a node's position (libyaml counts columns in characters).
  size_t Offset(const Value& node) const {
    SourcePos p = node.pos();
    if (p.line <= 0 || static_cast<size_t>(p.line) > line_starts_.size()) return text_.size();
    size_t at = line_starts_[p.line - 1];
    for (int c = 1; c < p.column && at < text_.size(); ++c) {
      ++at;  // past one character: a lead byte and its continuation bytes
      while (at < text_.size() && (static_cast<unsigned char>(text_[at]) & 0xC0) == 0x80) ++at;
    }
    return at;
  }

  static bool IsScalar(const Value& v) { return !v.is_null() && !v.is_list() && !v.is_map(); }
  static std::string ScalarText(const Value& v) {
    return v.is_string() ? v.as_string() : v.ToJson();
  }

  static bool NameIs(const Value& entry, const std::string& name) {
    if (!entry.is_map()) return false;
    const Value* n = entry.Find("name");
    return n != nullptr && IsScalar(*n) && ScalarText(*n) == name;
  }

  // Tries `node` as the container of segment i: a map key or a named list entry. Returns true
  // when found (and walked further).
  bool Step(const Value& node, size_t i, size_t end) {
    if (node.is_map()) {
      const Value::Map& m = node.as_map();
      for (size_t k = 0; k < m.size(); ++k) {
        if (m[k].first != segs_[i]) continue;
        size_t child_end = k + 1 < m.size() ? Offset(m[k + 1].second) : end;
        Record(i + 1, m[k].second.line());
        Walk(m[k].second, i + 1, child_end);
        return true;
      }
    } else if (node.is_list()) {
      const Value::List& l = node.as_list();
      for (size_t k = 0; k < l.size(); ++k) {
        const Value& entry = l[k];
        if (NameIs(entry, segs_[i]) || segs_[i] == std::to_string(k)) {
          size_t child_end = k + 1 < l.size() ? Offset(l[k + 1]) : end;
          Record(i + 1, entry.line());
          Walk(entry, i + 1, child_end);
          return true;
        }
      }
    }
    return false;
  }

  void Walk(const Value& node, size_t i, size_t end) {
    if (i >= segs_.size()) return;
    if (IsScalar(node)) {
      SearchText(Offset(node), end, i);
      return;
    }
    if (Step(node, i, end)) return;
    if (!node.is_map()) return;
    // Not a key here: the segment may name an entry of one of this map's children (a model's
    // `fields`, an ODCS table's `properties`), or sit in embedded JSON (an Avro specification).
    const Value::Map& m = node.as_map();
    for (size_t k = 0; k < m.size(); ++k) {
      size_t child_end = k + 1 < m.size() ? Offset(m[k + 1].second) : end;
      const Value& child = m[k].second;
      if ((child.is_map() || child.is_list()) && Step(child, i, child_end)) return;
    }
    for (size_t k = 0; k < m.size(); ++k) {
      size_t child_end = k + 1 < m.size() ? Offset(m[k + 1].second) : end;
      const Value& child = m[k].second;
      if (IsScalar(child)) {
        std::string s = std::string(absl::StripLeadingAsciiWhitespace(ScalarText(child)));
        if (!s.empty() && (s[0] == '{' || s[0] == '[')) {
          SearchText(Offset(child), child_end, i);
          return;
        }
      }
    }
  }

  void SearchText(size_t from, size_t end, size_t i) {
    end = std::min(end, text_.size());
    for (; i < segs_.size() && from < end; ++i) {
      std::string quoted = absl::StrCat("\"", segs_[i], "\"");
      size_t at = text_.find(quoted, from);
      if (at == std::string::npos || at >= end) return;
      Record(i + 1, 1 + static_cast<int>(std::count(text_.begin(), text_.begin() + at, '\n')));
      from = at + quoted.size();
    }
  }

  const std::string& text_;
  std::vector<std::string> segs_;
  std::vector<size_t> line_starts_;
  YamlLocation best_;
};

// Dotted words in a message ("quality.rules", "metadata.version"), trailing punctuation off.
std::vector<std::string> DottedTokens(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view word : absl::StrSplit(text, absl::ByAnyChar(" \t\n()[]{},;'\""))) {
    while (!word.empty() && (word.back() == '.' || word.back() == ':')) word.remove_suffix(1);
    if (word.find('.') == absl::string_view::npos || word.find("://") != absl::string_view::npos) {
      continue;
    }
    if (!absl::ascii_isalpha(static_cast<unsigned char>(word.front()))) continue;
    out.emplace_back(word);
  }
  return out;
}

std::string EscapeData(const std::string& s) {
  return absl::StrReplaceAll(s, {{"%", "%25"}, {"\r", "%0D"}, {"\n", "%0A"}});
}

std::string EscapeProperty(const std::string& s) {
  return absl::StrReplaceAll(
      s, {{"%", "%25"}, {"\r", "%0D"}, {"\n", "%0A"}, {":", "%3A"}, {",", "%2C"}});
}

std::string SeverityWord(const v1::Reason& r) {
  if (Severity s = SeverityFromProto(r.severity()); s != Severity::kNone) {
    return std::string(SeverityName(s));
  }
  return r.effect() == v1::EFFECT_ALLOW ? "allow" : "error";
}

bool IsError(const v1::Reason& r) {
  return r.effect() == v1::EFFECT_DENY && r.severity() != v1::SEVERITY_WARNING &&
         r.severity() != v1::SEVERITY_INFO;
}
bool IsWarning(const v1::Reason& r) { return r.severity() == v1::SEVERITY_WARNING; }

std::string Outcome(const GateOutcome& o) {
  if (!o.allowed) return "DENIED";
  if (o.warnings > 0) return o.fail_on_warn ? "FAILED ON WARNINGS" : "ALLOWED WITH WARNINGS";
  return "ALLOWED";
}

std::string Summary(const GateInputs& in, const GateOutcome& o) {
  return absl::StrCat(
      Outcome(o), ": deploy ", in.product.name.empty() ? in.product.path : in.product.name,
      in.product.version.empty() ? "" : absl::StrCat(" ", in.product.version), " to ",
      in.environment, " (", o.errors, o.errors == 1 ? " error, " : " errors, ", o.warnings,
      o.warnings == 1 ? " warning)" : " warnings)");
}

std::string ChangeLine(const GateInputs& in, const ChangeEntry& c) {
  std::string out = absl::StrCat(c.rule, "  ", c.document, "  ", c.path);
  if (!c.old_text.empty() || !c.new_text.empty()) {
    absl::StrAppend(&out, "  (", c.old_text.empty() ? "-" : c.old_text, " -> ",
                    c.new_text.empty() ? "-" : c.new_text, ")");
  }
  const GateFile* f = FileOfDocument(in, c.document);
  if (f != nullptr && !f->text.empty()) {
    int line = c.line > 0 ? c.line : LocateYamlPath(f->text, c.path).line;
    absl::StrAppend(&out, "  at ", f->path, line > 0 ? absl::StrCat(":", line) : "");
  }
  return out;
}

// The policies that took part: every evaluated policy, then any that found something without
// being listed (a policy that failed), in order.
std::vector<std::string> PoliciesThatRan(const v1::Decision& d) {
  std::vector<std::string> ids(d.evaluated_policies().begin(), d.evaluated_policies().end());
  std::set<std::string> seen(ids.begin(), ids.end());
  for (const v1::Reason& r : d.reasons()) {
    if (seen.insert(r.policy_id()).second) ids.push_back(r.policy_id());
  }
  return ids;
}

}  // namespace

GateOutcome OutcomeOf(const v1::Decision& d, bool fail_on_warn) {
  GateOutcome o;
  o.allowed = d.effect() == v1::EFFECT_ALLOW;
  o.fail_on_warn = fail_on_warn;
  for (const v1::Reason& r : d.reasons()) {
    if (IsWarning(r))
      ++o.warnings;
    else if (IsError(r))
      ++o.errors;
  }
  return o;
}

YamlLocation LocateYamlPath(const std::string& yaml_text, const std::string& dotted_path) {
  std::vector<std::string> segs = absl::StrSplit(dotted_path, '.', absl::SkipEmpty());
  return PathWalker(yaml_text, std::move(segs)).Run();
}

std::vector<Annotation> GateAnnotations(const GateInputs& in, const v1::Decision& d) {
  std::vector<Annotation> out;
  for (const v1::Reason& r : d.reasons()) {
    if (!IsError(r) && !IsWarning(r)) continue;
    // The file: a contract the message names (longest name first, so "x-contract-v2" beats
    // "x-contract"), else the descriptor.
    const GateFile* file = &in.product;
    size_t best = 0;
    for (const GateFile& c : in.contracts) {
      if (!c.name.empty() && c.name.size() > best && absl::StrContains(r.message(), c.name)) {
        file = &c;
        best = c.name.size();
      }
    }
    Annotation a{IsError(r) ? "error" : "warning", file->path, 0, r.policy_id(), r.message()};
    for (const std::string& text : {r.message(), r.detail()}) {
      for (const std::string& token : DottedTokens(text)) {
        YamlLocation loc = LocateYamlPath(file->text, token);
        if (loc.complete) {
          a.line = loc.line;
          break;
        }
      }
      if (a.line > 0) break;
    }
    if (a.line == 0 && absl::StrContains(absl::AsciiStrToLower(r.message()), "version")) {
      a.line = LocateYamlPath(file->text, "metadata.version").line;
    }
    out.push_back(std::move(a));
  }
  for (const ChangeEntry& c : Changes(d)) {
    if (c.cls == ChangeClass::kInfo) continue;
    const GateFile* f = FileOfDocument(in, c.document);
    Annotation a{
        "notice", f != nullptr ? f->path : in.product.path, 0,
        absl::StrCat(c.cls == ChangeClass::kBreaking ? "breaking change: " : "schema change: ",
                     c.rule),
        absl::StrCat(c.document, " ", c.path)};
    if (!c.old_text.empty() || !c.new_text.empty()) {
      absl::StrAppend(&a.message, " (", c.old_text.empty() ? "-" : c.old_text, " -> ",
                      c.new_text.empty() ? "-" : c.new_text, ")");
    }
    if (f != nullptr) a.line = c.line > 0 ? c.line : LocateYamlPath(f->text, c.path).line;
    out.push_back(std::move(a));
  }
  // The blast radius, on the changed field: who read it, and who declared they consume it.
  ImpactView impact = ImpactOf(d);
  for (const ImpactEntry& e : impact.entries) {
    const GateFile* f = FileOfDocument(in, e.document);
    std::vector<std::string> readers;
    for (const ImpactReader& r : e.domains) {
      if (r.decisions > 0) {
        readers.push_back(absl::StrCat(NameOr(r.domain, "(no domain)"), " ", r.decisions, " (last ",
                                       SeenText(r.last_seen), ")"));
      }
    }
    std::string message =
        readers.empty()
            ? std::string(impact.source == "none" ? "readers unknown (no decision log read)"
                                                  : "no reads in the decision log")
            : absl::StrCat("read by ", absl::StrJoin(readers, ", "));
    if (impact.source != "none") {
      absl::StrAppend(&message, " in the last ", WindowText(impact.window_seconds));
      if (!impact.complete) absl::StrAppend(&message, " (incomplete scan)");
    }
    absl::StrAppend(&message, "; declared consumers: ",
                    e.consumers.empty() ? "none" : absl::StrJoin(e.consumers, ", "), "; columns ",
                    absl::StrJoin(e.columns, ", "));
    Annotation a{e.decisions > 0 ? "warning" : "notice", f != nullptr ? f->path : in.product.path,
                 0, absl::StrCat("blast radius: ", e.rule), std::move(message)};
    if (f != nullptr) a.line = e.line > 0 ? e.line : LocateYamlPath(f->text, e.path).line;
    out.push_back(std::move(a));
  }
  return out;
}

std::string FormatAnnotation(const Annotation& a) {
  std::string out = absl::StrCat("::", a.level, " file=", EscapeProperty(a.file));
  if (a.line > 0) absl::StrAppend(&out, ",line=", a.line);
  absl::StrAppend(&out, ",title=", EscapeProperty(a.title), "::", EscapeData(a.message));
  return out;
}

std::string FormatGateText(const GateInputs& in, const v1::Decision& d, const GateOutcome& o) {
  std::string out = absl::StrCat(Summary(in, o), "\n");
  absl::StrAppend(&out, "  descriptor  ", in.product.path, "\n");
  for (const GateFile& c : in.contracts) absl::StrAppend(&out, "  contract    ", c.path, "\n");
  absl::StrAppend(&out, "  previous    ", in.previous_source, "\n");
  absl::StrAppend(&out, "  decision    ", d.decision_id(), "  bundle revision ",
                  d.bundle_revision(), d.domain().empty() ? "" : "  domain " + d.domain(), "\n");
  if (!in.pipeline.empty()) {
    std::vector<std::string> kv;
    for (const auto& [k, v] : in.pipeline) kv.push_back(absl::StrCat(k, "=", v));
    absl::StrAppend(&out, "  pipeline    ", absl::StrJoin(kv, " "), "\n");
  }
  auto group = [&](const char* title, auto pred) {
    std::vector<const v1::Reason*> rs;
    for (const v1::Reason& r : d.reasons()) {
      if (pred(r)) rs.push_back(&r);
    }
    if (rs.empty()) return;
    absl::StrAppend(&out, "\n", title, " (", rs.size(), "):\n");
    for (const v1::Reason* r : rs) {
      absl::StrAppend(&out, "  ", r->policy_id(), " [", r->origin(),
                      r->mode().empty() ? "" : ", " + r->mode(), "]: ", r->message(), "\n");
      if (!r->detail().empty()) absl::StrAppend(&out, "      detail: ", r->detail(), "\n");
    }
  };
  group("Errors", IsError);
  group("Warnings", IsWarning);
  group("Allowed by", [](const v1::Reason& r) { return r.effect() == v1::EFFECT_ALLOW; });

  absl::StrAppend(&out, "\nVersions:\n");
  for (const VersionLine& v : Versions(in, d)) {
    absl::StrAppend(&out, "  ", v.what, ": ", VersionDeltaText(v), "\n");
  }
  std::vector<ChangeEntry> changes = Changes(d);
  absl::StrAppend(&out, "\nSchema changes",
                  changes.empty() ? ": none\n" : absl::StrCat(" (", changes.size(), "):\n"));
  for (const ChangeClassInfo& cls : kChangeClasses) {
    for (const ChangeEntry& c : changes) {
      if (c.cls == cls.cls) {
        absl::StrAppend(&out, "  ", cls.list_key, "  ", ChangeLine(in, c), "\n");
      }
    }
  }
  ImpactView impact = ImpactOf(d);
  if (impact.present) {
    absl::StrAppend(&out, "\nBlast radius (", impact.entries.size(),
                    impact.entries.size() == 1 ? " breaking change" : " breaking changes",
                    " on served columns):\n  source      ", ImpactSourceText(impact), "\n");
    for (const ImpactEntry& e : impact.entries) {
      absl::StrAppend(&out, "  ", e.rule, "  ", e.document, "  ", e.path, "\n");
      absl::StrAppend(&out, "    columns     ", absl::StrJoin(e.columns, ", "), "\n");
      absl::StrAppend(&out, "    consumers   ",
                      e.consumers.empty() ? "(none declared)" : absl::StrJoin(e.consumers, ", "),
                      "\n");
      if (impact.source == "none") {
        absl::StrAppend(&out, "    readers     unknown (no decision log read)\n");
        continue;
      }
      std::vector<std::string> domains;
      for (const ImpactReader& r : e.domains) domains.push_back(DomainText(r));
      absl::StrAppend(&out, "    readers     ", e.decisions, e.decisions == 1 ? " read" : " reads",
                      domains.empty() ? "" : ": ", absl::StrJoin(domains, "; "), "\n");
      for (size_t i = 0; i < e.principals.size() && i < kListedPrincipals; ++i) {
        absl::StrAppend(&out, i == 0 ? "    principals  " : "                ",
                        PrincipalText(e.principals[i]), "\n");
      }
      size_t more =
          e.principals.size() > kListedPrincipals ? e.principals.size() - kListedPrincipals : 0;
      if (more > 0 || e.other_principals > 0) {
        absl::StrAppend(&out, "                ... ", more, " more principals",
                        e.other_principals > 0
                            ? absl::StrCat(" (and ", e.other_principals,
                                           " reads by principals past the tracking cap)")
                            : "",
                        "\n");
      }
    }
  }
  absl::StrAppend(
      &out, "\nPolicies evaluated: ",
      d.evaluated_policies().empty() ? "(none)" : absl::StrJoin(d.evaluated_policies(), ", "),
      "\n");
  return out;
}

std::string FormatGateJson(const GateInputs& in, const v1::Decision& d, const GateOutcome& o) {
  nlohmann::ordered_json j;
  j["outcome"] = o.allowed ? (o.warnings > 0 ? "allowed_with_warnings" : "allowed") : "denied";
  j["exit_code"] = o.ExitCode();
  j["allowed"] = o.allowed;
  j["errors"] = o.errors;
  j["warnings"] = o.warnings;
  nlohmann::ordered_json req;
  req["environment"] = in.environment;
  req["product"] = {
      {"path", in.product.path}, {"name", in.product.name}, {"version", in.product.version}};
  req["contracts"] = nlohmann::ordered_json::array();
  for (const GateFile& c : in.contracts) {
    req["contracts"].push_back({{"path", c.path}, {"name", c.name}, {"version", c.version}});
  }
  req["previous_source"] = in.previous_source;
  if (in.previous.has_value()) {
    req["previous"] = {{"path", in.previous->path},
                       {"name", in.previous->name},
                       {"version", in.previous->version}};
  }
  req["previous_contracts"] = nlohmann::ordered_json::array();
  for (const GateFile& c : in.previous_contracts) {
    req["previous_contracts"].push_back(
        {{"path", c.path}, {"name", c.name}, {"version", c.version}});
  }
  req["pipeline"] = in.pipeline;
  if (!in.requester.empty()) req["requester"] = in.requester;
  j["request"] = std::move(req);
  // The one decision shape (docs/decision-json.md), as the decision log writes it.
  j["decision"] =
      nlohmann::ordered_json::parse(json::DecisionJson(FromProto(d), Kind::kDeployment));
  return j.dump(2) + "\n";
}

std::string FormatGateJunit(const GateInputs& in, const v1::Decision& d, const GateOutcome& o) {
  std::vector<std::string> ids = PoliciesThatRan(d);
  int failures = 0;
  std::string cases;
  for (const std::string& id : ids) {
    std::vector<const v1::Reason*> errors, warnings;
    for (const v1::Reason& r : d.reasons()) {
      if (r.policy_id() != id) continue;
      if (IsError(r)) errors.push_back(&r);
      if (IsWarning(r)) warnings.push_back(&r);
    }
    const std::vector<const v1::Reason*>& failing =
        !errors.empty() ? errors : (o.fail_on_warn ? warnings : errors);
    std::string origin = absl::StartsWith(id, "global.") ? "global" : "domain";
    absl::StrAppend(&cases, "    <testcase classname=\"arbiter.gate.", origin, "\" name=\"",
                    XmlEscape(id), "\" time=\"0\">\n");
    if (!failing.empty()) {
      ++failures;
      std::vector<std::string> messages, bodies;
      for (const v1::Reason* r : failing) {
        messages.push_back(r->message());
        bodies.push_back(absl::StrCat(SeverityWord(*r), ": ", r->message(),
                                      r->detail().empty() ? "" : "\ndetail: " + r->detail()));
      }
      absl::StrAppend(&cases, "      <failure type=\"", errors.empty() ? "warning" : "deny",
                      "\" message=\"", XmlEscape(absl::StrJoin(messages, " / ")), "\">",
                      XmlEscape(absl::StrJoin(bodies, "\n\n"), false), "</failure>\n");
    }
    if (!warnings.empty() && &failing != &warnings) {
      std::vector<std::string> bodies;
      for (const v1::Reason* r : warnings) {
        bodies.push_back(absl::StrCat("warning: ", r->message(),
                                      r->detail().empty() ? "" : " (" + r->detail() + ")"));
      }
      absl::StrAppend(&cases, "      <system-out>", XmlEscape(absl::StrJoin(bodies, "\n"), false),
                      "</system-out>\n");
    }
    absl::StrAppend(&cases, "    </testcase>\n");
  }
  std::string suite_name = absl::StrCat("arbiter gate ", in.product.name, " to ", in.environment);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  absl::StrAppend(&out, "<testsuites name=\"arbiter gate\" tests=\"", ids.size(), "\" failures=\"",
                  failures, "\" errors=\"0\">\n");
  absl::StrAppend(&out, "  <testsuite name=\"", XmlEscape(suite_name), "\" tests=\"", ids.size(),
                  "\" failures=\"", failures, "\" errors=\"0\" skipped=\"0\" time=\"0\">\n");
  absl::StrAppend(&out, "    <properties>\n");
  auto prop = [&out](const std::string& k, const std::string& v) {
    absl::StrAppend(&out, "      <property name=\"", XmlEscape(k), "\" value=\"", XmlEscape(v),
                    "\"/>\n");
  };
  prop("outcome", Outcome(o));
  prop("decision_id", d.decision_id());
  prop("bundle_revision", d.bundle_revision());
  prop("environment", in.environment);
  prop("product", in.product.path);
  for (const auto& [k, v] : in.pipeline) prop("pipeline." + k, v);
  absl::StrAppend(&out, "    </properties>\n", cases);
  // The schema diff, so that a report viewer shows what changed even when everything passed.
  std::string diff;
  for (const VersionLine& v : Versions(in, d)) {
    absl::StrAppend(&diff, v.what, ": ", VersionDeltaText(v), "\n");
  }
  for (const ChangeEntry& c : Changes(d)) {
    absl::StrAppend(&diff, ChangeClassListKey(c.cls), "  ", ChangeLine(in, c), "\n");
  }
  absl::StrAppend(&out, "    <system-out>", XmlEscape(diff, false), "</system-out>\n");
  absl::StrAppend(&out, "  </testsuite>\n</testsuites>\n");
  return out;
}

std::string FormatGateGithub(const GateInputs& in, const v1::Decision& d, const GateOutcome& o) {
  std::string out;
  for (const Annotation& a : GateAnnotations(in, d))
    absl::StrAppend(&out, FormatAnnotation(a), "\n");
  // Plain lines after the commands: the job log keeps the whole story for a reviewer.
  absl::StrAppend(&out, FormatGateText(in, d, o));
  return out;
}

std::string FormatGateMarkdown(const GateInputs& in, const v1::Decision& d, const GateOutcome& o) {
  // Table cells: pipes and newlines would break the table.
  auto cell = [](const std::string& text) {
    return absl::StrReplaceAll(text, {{"|", "\\|"}, {"\n", " "}, {"\r", " "}});
  };
  std::string out = absl::StrCat("### Arbiter deployment gate: ", Summary(in, o), "\n\n");
  absl::StrAppend(&out, "Decision `", d.decision_id(), "`, bundle revision `", d.bundle_revision(),
                  "`", d.domain().empty() ? "" : absl::StrCat(", domain `", d.domain(), "`"),
                  ", previous version: ", in.previous_source, ".\n");
  std::vector<const v1::Reason*> findings;
  for (const v1::Reason& r : d.reasons()) {
    if (IsError(r) || IsWarning(r)) findings.push_back(&r);
  }
  if (!findings.empty()) {
    absl::StrAppend(&out, "\n| | policy | message | detail |\n| --- | --- | --- | --- |\n");
    for (const v1::Reason* r : findings) {
      absl::StrAppend(&out, "| ", IsError(*r) ? "error" : "warning", " | `", r->policy_id(), "` | ",
                      cell(r->message()), " | ", cell(r->detail()), " |\n");
    }
  }
  std::vector<VersionLine> versions = Versions(in, d);
  if (!versions.empty()) {
    absl::StrAppend(&out, "\n**Versions:** ");
    std::vector<std::string> parts;
    for (const VersionLine& v : versions) {
      parts.push_back(absl::StrCat(v.what, " ", VersionDeltaText(v)));
    }
    absl::StrAppend(&out, cell(absl::StrJoin(parts, "; ")), "\n");
  }
  std::vector<ChangeEntry> changes = Changes(d);
  if (!changes.empty()) {
    absl::StrAppend(&out, "\n| class | rule | document | path | old -> new |\n",
                    "| --- | --- | --- | --- | --- |\n");
    for (const ChangeEntry& c : changes) {
      if (c.cls == ChangeClass::kInfo) continue;
      absl::StrAppend(&out, "| ", ChangeClassListKey(c.cls), " | `", c.rule, "` | ",
                      cell(c.document), " | `", cell(c.path), "` | ",
                      cell(c.old_text.empty() ? "-" : c.old_text), " -> ",
                      cell(c.new_text.empty() ? "-" : c.new_text), " |\n");
    }
  }
  ImpactView impact = ImpactOf(d);
  if (impact.present) {
    absl::StrAppend(&out, "\n#### Blast radius\n\n", cell(ImpactSourceText(impact)), "\n\n");
    absl::StrAppend(&out,
                    "| change | columns | declared consumers | read by (domain, reads, last) |\n",
                    "| --- | --- | --- | --- |\n");
    for (const ImpactEntry& e : impact.entries) {
      std::vector<std::string> domains;
      for (const ImpactReader& r : e.domains) domains.push_back(DomainText(r));
      if (impact.source == "none") domains = {"unknown (no decision log read)"};
      absl::StrAppend(&out, "| `", e.rule, "` `", cell(e.path), "` | ",
                      cell(absl::StrJoin(e.columns, ", ")), " | ",
                      cell(e.consumers.empty() ? "none" : absl::StrJoin(e.consumers, ", ")), " | ",
                      cell(domains.empty() ? "-" : absl::StrJoin(domains, "; ")), " |\n");
    }
    // Principals over all entries, in a collapsed block: useful to the council, noisy otherwise.
    const Struct& s = Field(d.change(), "impact")->struct_value();
    std::vector<ImpactReader> principals = Readers(s, "principals");
    if (!principals.empty()) {
      absl::StrAppend(&out, "\n<details><summary>", principals.size(),
                      principals.size() == 1 ? " principal" : " principals",
                      " read the changed columns</summary>\n\n| principal | domain | reads | "
                      "last |\n| --- | --- | --- | --- |\n");
      for (const ImpactReader& r : principals) {
        absl::StrAppend(&out, "| ", cell(NameOr(r.id, "(redacted)")), " | ",
                        cell(NameOr(r.domain, "-")), " | ", r.decisions, " | ",
                        SeenText(r.last_seen), " |\n");
      }
      absl::StrAppend(&out, "\n</details>\n");
    }
  }
  return out;
}

}  // namespace arbiter::cli

#include "service/diff/schema_diff.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "service/descriptor/descriptor.h"
#include "service/diff/semver.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

// Values built from protobuf Structs are not bounded by the parsers' limits; this keeps the
// normalisers' recursion (nesting and `$ref` chains) bounded on their own.
constexpr int kMaxNesting = 64;

// ---------------------------------------------------------------------------------------------
// Small helpers over Values.

Value OrNull(const Value* v) { return v == nullptr ? Value() : *v; }

// Flags written as YAML booleans or, carelessly, as strings.
bool Truthy(const Value* v) {
  if (v == nullptr) return false;
  if (v->is_bool()) return v->as_bool();
  if (v->is_string()) {
    std::string s = absl::AsciiStrToLower(v->as_string());
    return s == "true" || s == "yes";
  }
  return false;
}

// Text for identifiers and short scalars: strings as they are, anything else as JSON.
std::string ScalarText(const Value& v) { return v.is_string() ? v.as_string() : v.ToJson(); }

std::string JoinPath(absl::string_view base, absl::string_view key) {
  if (base.empty()) return std::string(key);
  return absl::StrCat(base, ".", key);
}

// A dotted key path such as "logicalTypeOptions.minLength".
const Value* FindDotted(const Value& v, absl::string_view dotted) {
  const Value* at = &v;
  for (absl::string_view key : absl::StrSplit(dotted, '.')) {
    at = at->Find(key);
    if (at == nullptr) return nullptr;
  }
  return at;
}

// The first of several places a document may keep something, e.g. a quality rule's column
// (`column`, `field` or `property`). A document's own name, version and domain are
// service/descriptor's.
const Value* FirstOf(const Value& doc,
                     std::initializer_list<std::initializer_list<absl::string_view>> paths) {
  for (auto path : paths) {
    if (const Value* v = doc.FindPath(path); v != nullptr && !v->is_null()) return v;
  }
  return nullptr;
}

// A name goes into every change it yields; only scalars qualify, so that a name written as a
// large map cannot multiply into every change.
std::string NameText(const Value* v) {
  if (v == nullptr || !(v->is_string() || v->is_number() || v->is_bool())) return "";
  return ScalarText(*v);
}

// A contract's or product's version node (DescriptorVersion's), or null.
const Value* VersionOf(const Value& doc) {
  return FindDescriptorField(doc, DescriptorFact::kVersion).value;
}

using Problems = std::vector<std::pair<std::string, std::string>>;  // path, message

// A list of maps keyed by `key` (usually "name"), or a map from name to entry: both spellings
// occur for output ports, SLOs, models and fields. Entries that cannot be named are reported and
// skipped; a repeated name keeps its first entry.
std::vector<std::pair<std::string, const Value*>> NamedEntries(const Value* v,
                                                               const std::string& path,
                                                               absl::string_view what,
                                                               Problems* problems,
                                                               absl::string_view key = "name") {
  std::vector<std::pair<std::string, const Value*>> out;
  if (v == nullptr || v->is_null()) return out;
  std::map<std::string, bool> seen;
  auto add = [&](std::string name, const Value* entry) {
    if (!seen.emplace(name, true).second) {
      problems->emplace_back(JoinPath(path, name),
                             absl::StrCat("duplicate name \"", name, "\"; the first is compared"));
      return;
    }
    out.emplace_back(std::move(name), entry);
  };
  if (v->is_map()) {
    for (const auto& [k, e] : v->as_map()) add(k, &e);
  } else if (v->is_list()) {
    const Value::List& list = v->as_list();
    for (size_t i = 0; i < list.size(); ++i) {
      const Value* name = list[i].is_map() ? list[i].Find(key) : nullptr;
      if (name == nullptr || !(name->is_string() || name->is_number())) {
        problems->emplace_back(absl::StrCat(path, "[", i, "]"),
                               absl::StrCat("one of the ", what, " is not a map with a ", key));
        continue;
      }
      add(ScalarText(*name), &list[i]);
    }
  } else {
    problems->emplace_back(path, absl::StrCat(what, " are neither a list nor a map"));
  }
  return out;
}

std::map<std::string, const Value*> IndexOf(
    const std::vector<std::pair<std::string, const Value*>>& entries) {
  std::map<std::string, const Value*> index;
  for (const auto& [name, v] : entries) index.emplace(name, v);
  return index;
}

// ---------------------------------------------------------------------------------------------
// Recording changes.

DiffRule Next(DiffRule r, int n) { return static_cast<DiffRule>(static_cast<int>(r) + n); }

class Recorder {
 public:
  Recorder(std::string document, const DiffRuleClasses& classes, ChangeSet* out)
      : document_(std::move(document)), classes_(classes), out_(out) {}

  void Add(DiffRule rule, std::string path, Value old_value, Value new_value) {
    Change c{document_, std::move(path), std::string(RuleInfo(rule).name), std::move(old_value),
             std::move(new_value)};
    out_->of(classes_[static_cast<size_t>(rule)]).push_back(std::move(c));
  }

  void Unparseable(std::string path, std::string message) {
    Add(DiffRule::kUnparseableSchema, std::move(path), Value(), Value(std::move(message)));
  }

  void Report(const Problems& problems, absl::string_view prefix) {
    for (const auto& [path, message] : problems) Unparseable(path, absl::StrCat(prefix, message));
  }

  // A value that must not change at all (a port's endpoint, the domain): equal or `rule`.
  void IfDiffers(DiffRule rule, std::string path, const Value* old_value, const Value* new_value) {
    Value o = OrNull(old_value);
    Value n = OrNull(new_value);
    if (!(o == n)) Add(rule, std::move(path), std::move(o), std::move(n));
  }

  // An attribute with three rules in a row: `added` (absent before), `added`+1 (absent now),
  // `added`+2 (both present, different). Lists compare without order when `unordered`.
  void Compare(DiffRule added, const std::string& path, const Value& o, const Value& n,
               bool unordered = false) {
    if (o.is_null() && n.is_null()) return;
    if (o.is_null()) {
      Add(added, path, o, n);
    } else if (n.is_null()) {
      Add(Next(added, 1), path, o, n);
    } else if (!(unordered ? SortedEqual(o, n) : o == n)) {
      Add(Next(added, 2), path, o, n);
    }
  }

  const DiffRuleClasses& classes() const { return classes_; }

 private:
  static bool SortedEqual(const Value& a, const Value& b) {
    if (!a.is_list() || !b.is_list()) return a == b;
    auto sorted = [](const Value& v) {
      std::vector<std::string> out;
      for (const Value& e : v.as_list()) out.push_back(e.ToJson());
      std::sort(out.begin(), out.end());
      return out;
    };
    return sorted(a) == sorted(b);
  }

  std::string document_;
  const DiffRuleClasses& classes_;
  ChangeSet* out_;
};

void SortChanges(std::vector<Change>& changes) {
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    if (a.document != b.document) return a.document < b.document;
    return a.path < b.path;
  });
}

void SortChangeSet(ChangeSet& set) {
  for (const ChangeClassInfo& c : kChangeClasses) SortChanges(set.of(c.cls));
}

void Merge(ChangeSet& into, ChangeSet&& from) {
  auto move_all = [](std::vector<Change>& dst, std::vector<Change>& src) {
    dst.insert(dst.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
  };
  for (const ChangeClassInfo& c : kChangeClasses) move_all(into.of(c.cls), from.of(c.cls));
}

// ---------------------------------------------------------------------------------------------
// Contract schemas, normalised: models → fields with attributes, whatever the shape.

// Field attributes compared value against value (after `$ref` resolution), each with its three
// rules and the keys the shapes keep it under, first found wins.
enum Attr {
  kAttrType,
  kAttrPhysicalType,
  kAttrTitle,
  kAttrFormat,
  kAttrReferences,
  kAttrRef,
  kAttrDescription,
  kAttrPii,
  kAttrClassification,
  kAttrPattern,
  kAttrMinLength,
  kAttrMaxLength,
  kAttrMinimum,
  kAttrExclusiveMinimum,
  kAttrMaximum,
  kAttrExclusiveMaximum,
  kAttrEnum,
  kAttrTags,
  kAttrExample,
  kAttrCount
};

struct AttrSpec {
  DiffRule added;  // then removed, updated
  std::array<absl::string_view, 2> keys;
  bool unordered;  // a list whose order carries no meaning
};

// Type is read by the shapes' own type readers; the keys here name it in paths.
constexpr std::array<AttrSpec, kAttrCount> kAttrs = {{
    {DiffRule::kFieldTypeAdded, {"type", "logicalType"}, false},
    {DiffRule::kFieldPhysicalTypeAdded, {"physicalType", ""}, false},
    {DiffRule::kFieldTitleAdded, {"title", "businessName"}, false},
    {DiffRule::kFieldFormatAdded, {"format", "logicalTypeOptions.format"}, false},
    {DiffRule::kFieldReferencesAdded, {"references", ""}, false},
    {DiffRule::kFieldRefAdded, {"$ref", ""}, false},
    {DiffRule::kFieldDescriptionAdded, {"description", ""}, false},
    {DiffRule::kFieldPiiAdded, {"pii", ""}, false},
    {DiffRule::kFieldClassificationAdded, {"classification", ""}, false},
    {DiffRule::kFieldPatternAdded, {"pattern", "logicalTypeOptions.pattern"}, false},
    {DiffRule::kFieldMinLengthAdded, {"minLength", "logicalTypeOptions.minLength"}, false},
    {DiffRule::kFieldMaxLengthAdded, {"maxLength", "logicalTypeOptions.maxLength"}, false},
    {DiffRule::kFieldMinimumAdded, {"minimum", "logicalTypeOptions.minimum"}, false},
    {DiffRule::kFieldExclusiveMinimumAdded,
     {"exclusiveMinimum", "logicalTypeOptions.exclusiveMinimum"},
     false},
    {DiffRule::kFieldMaximumAdded, {"maximum", "logicalTypeOptions.maximum"}, false},
    {DiffRule::kFieldExclusiveMaximumAdded,
     {"exclusiveMaximum", "logicalTypeOptions.exclusiveMaximum"},
     false},
    {DiffRule::kFieldEnumAdded, {"enum", ""}, true},
    {DiffRule::kFieldTagsAdded, {"tags", ""}, true},
    {DiffRule::kFieldExampleAdded, {"examples", "example"}, false},
}};

struct Field {
  std::string name;
  std::array<Value, kAttrCount> attrs;             // null when absent
  std::array<absl::string_view, kAttrCount> keys;  // where each was found, for paths
  bool required = false;
  bool unique = false;
  bool primary_key = false;
  bool has_default = false;
  Value quality;                // a field's own list of quality rules
  std::vector<Field> children;  // nested record / object fields
  std::vector<Field> items;     // an array's item (datacontract.com, ODCS): zero or one
};

struct Model {
  std::string name;
  Value description;
  Value type;
  absl::string_view type_key = "type";
  Value quality;
  std::vector<Field> fields;
};

struct Schema {
  bool present = false;     // the contract has a schema at all
  bool comparable = false;  // `models` can be diffed field by field
  std::string prefix = "schema";
  Value type;  // schema.type as written ("avro"), null when none
  Value spec;  // the specification of a schema type we cannot read
  std::vector<Model> models;
  Problems problems;
};

// An empty list says nothing more than an absent one (datacontract-cli reads both alike).
Value Present(const Value* v) {
  if (v == nullptr || v->is_null()) return Value();
  if (v->is_list() && v->as_list().empty()) return Value();
  return *v;
}

// Every attribute but the type (and, for Avro, the description and enum, which Avro spells
// `doc` and `symbols`), from the keys every shape uses.
void ReadAttributes(const Value& m, bool avro, Field* f) {
  for (int a = kAttrPhysicalType; a < kAttrCount; ++a) {
    if (avro && (a == kAttrDescription || a == kAttrEnum)) continue;
    f->keys[a] = kAttrs[a].keys[0];
    for (absl::string_view key : kAttrs[a].keys) {
      if (key.empty()) continue;
      Value v = Present(FindDotted(m, key));
      if (v.is_null()) continue;
      f->attrs[a] = std::move(v);
      f->keys[a] = key;
      break;
    }
  }
  f->required = f->required || Truthy(m.Find("required"));
  f->unique = Truthy(m.Find("unique"));
  f->primary_key = Truthy(m.Find("primaryKey")) || Truthy(m.Find("primary"));
  f->has_default = m.Find("default") != nullptr;
}

// The logical type a map carries, as a suffix of its physical type: "[timestamp-millis]",
// "[decimal(10,2)]". Precision and scale are part of the type: changing them breaks readers.
std::string LogicalSuffix(const Value& m) {
  const Value* lt = m.Find("logicalType");
  if (lt == nullptr || !lt->is_string()) return "";
  if (lt->as_string() == "decimal") {
    const Value* precision = m.Find("precision");
    const Value* scale = m.Find("scale");
    return absl::StrCat("[decimal(", precision ? ScalarText(*precision) : "?", ",",
                        scale ? ScalarText(*scale) : "0", ")]");
  }
  return absl::StrCat("[", lt->as_string(), "]");
}

struct AvroType {
  std::string text;
  bool nullable = false;
  bool has_symbols = false;
  std::vector<std::string> symbols;
  std::vector<Field> children;
};

void ReadAvroFields(const Value& fields, const std::string& path, int depth,
                    std::vector<Field>* out, Problems* problems);

// Reduces an Avro type to comparable text, pulling nullability out of unions (it is what
// "required" means in Avro) and enum symbols and record fields out of nested types, so that
// those are diffed one by one rather than as one opaque type change.
void ReadAvroType(const Value& t, const std::string& path, int depth, AvroType* out,
                  Problems* problems) {
  if (depth > kMaxNesting) {
    problems->emplace_back(path, "types nested too deeply");
    out->text = "?";
    return;
  }
  switch (t.type()) {
    case Value::Type::kString:
      out->text = t.as_string();
      out->nullable = out->text == "null";
      return;
    case Value::Type::kList: {
      std::vector<AvroType> branches;
      bool has_null = false;
      for (const Value& b : t.as_list()) {
        AvroType bt;
        ReadAvroType(b, path, depth + 1, &bt, problems);
        if (bt.text == "null") {
          has_null = true;
        } else {
          branches.push_back(std::move(bt));
        }
      }
      if (branches.size() == 1) {
        *out = std::move(branches[0]);
      } else if (branches.empty()) {
        out->text = "null";
      } else {
        // Reordering a union's branches is compatible; sorting keeps it from showing.
        std::vector<std::string> texts;
        for (const AvroType& b : branches) {
          texts.push_back(absl::StrCat(b.text, b.nullable ? "?" : ""));
        }
        std::sort(texts.begin(), texts.end());
        out->text = absl::StrCat("union<", absl::StrJoin(texts, ","), ">");
      }
      out->nullable = out->nullable || has_null;
      return;
    }
    case Value::Type::kMap:
      break;
    default:
      problems->emplace_back(path, absl::StrCat("type is not a string, list or map: ", t.ToJson()));
      out->text = "?";
      return;
  }
  const Value* inner = t.Find("type");
  if (inner == nullptr) {
    problems->emplace_back(path, "type map has no \"type\"");
    out->text = "?";
    return;
  }
  if (!inner->is_string()) {
    ReadAvroType(*inner, path, depth + 1, out, problems);
    return;
  }
  const std::string& kind = inner->as_string();
  if (kind == "record" || kind == "error") {
    out->text = "record";
    const Value* fields = t.Find("fields");
    if (fields == nullptr) {
      problems->emplace_back(path, "record has no fields");
    } else {
      ReadAvroFields(*fields, path, depth + 1, &out->children, problems);
    }
  } else if (kind == "enum") {
    out->text = "enum";
    out->has_symbols = true;
    const Value* symbols = t.Find("symbols");
    if (symbols == nullptr || !symbols->is_list()) {
      problems->emplace_back(path, "enum symbols are not a list");
    } else {
      for (const Value& s : symbols->as_list()) out->symbols.push_back(ScalarText(s));
    }
  } else if (kind == "array" || kind == "map") {
    const Value* items = t.Find(kind == "array" ? "items" : "values");
    AvroType it;
    if (items == nullptr) {
      problems->emplace_back(path,
                             absl::StrCat(kind, " has no ", kind == "array" ? "items" : "values"));
      it.text = "?";
    } else {
      ReadAvroType(*items, path, depth + 1, &it, problems);
    }
    out->text = absl::StrCat(kind, "<", it.text, it.nullable ? "?" : "", ">");
    out->has_symbols = it.has_symbols;
    out->symbols = std::move(it.symbols);
    out->children = std::move(it.children);
  } else if (kind == "fixed") {
    const Value* size = t.Find("size");
    out->text = absl::StrCat("fixed(", size ? ScalarText(*size) : "?", ")", LogicalSuffix(t));
  } else {
    out->text = absl::StrCat(kind, LogicalSuffix(t));
  }
}

void ReadAvroFields(const Value& fields, const std::string& path, int depth,
                    std::vector<Field>* out, Problems* problems) {
  for (const auto& [name, entry] : NamedEntries(&fields, path, "fields", problems)) {
    std::string fpath = JoinPath(path, name);
    Field f;
    f.name = name;
    AvroType at;
    if (const Value* t = entry->Find("type"); t != nullptr) {
      ReadAvroType(*t, fpath, depth + 1, &at, problems);
    } else {
      problems->emplace_back(fpath, "field has no type");
    }
    // The seed writes logicalType beside the field's type rather than inside it.
    if (!at.text.empty() && at.text.find('[') == std::string::npos) {
      at.text += LogicalSuffix(*entry);
    }
    if (!at.text.empty()) f.attrs[kAttrType] = Value(at.text);
    f.keys[kAttrType] = "type";
    f.required = !at.nullable;
    if (entry->is_map()) ReadAttributes(*entry, /*avro=*/true, &f);
    f.attrs[kAttrDescription] = OrNull(entry->Find("doc"));
    f.keys[kAttrDescription] = "doc";
    f.keys[kAttrEnum] = "symbols";
    if (at.has_symbols) {
      Value symbols = Value::EmptyList();
      for (std::string& s : at.symbols) symbols.Append(std::move(s));
      f.attrs[kAttrEnum] = std::move(symbols);
    }
    f.children = std::move(at.children);
    out->push_back(std::move(f));
  }
}

void ReadAvroSpec(const Value& spec, Schema* schema) {
  std::vector<const Value*> records;
  if (spec.is_list()) {
    for (const Value& r : spec.as_list()) records.push_back(&r);
  } else {
    records.push_back(&spec);
  }
  for (size_t i = 0; i < records.size(); ++i) {
    const Value& r = *records[i];
    std::string where = absl::StrCat("schema.specification[", i, "]");
    if (!r.is_map() || r.GetString("type") != "record") {
      schema->problems.emplace_back(where, "the Avro schema is not a record");
      continue;
    }
    std::string name = r.GetString("name");
    if (name.empty()) {
      schema->problems.emplace_back(where, "the Avro record has no name");
      continue;
    }
    // Models are named as people say them: "CustomerTransaction", not "com.company.sales.…".
    if (size_t dot = name.rfind('.'); dot != std::string::npos) name = name.substr(dot + 1);
    Model m;
    m.name = name;
    m.description = OrNull(r.Find("doc"));
    const Value* fields = r.Find("fields");
    std::string path = JoinPath(schema->prefix, name);
    if (fields == nullptr) {
      schema->problems.emplace_back(path, "the Avro record has no fields");
    } else {
      ReadAvroFields(*fields, path, 1, &m.fields, &schema->problems);
    }
    schema->models.push_back(std::move(m));
  }
}

// `$ref` copies a definition into every field that uses it, and definitions may use others, so
// a small document can stand for an exponentially large one. Reading a schema stops after this
// much work: one unit per field read, and per node (or 64 bytes of text) a `$ref` copies — as
// much as the largest document the parser accepts, far more than any contract people write.
constexpr size_t kMaxReadWork = 200000;

// What reading datacontract.com and ODCS fields needs besides the field itself.
struct FieldContext {
  const Value* definitions = nullptr;  // datacontract.com `definitions`, for `$ref`
  Problems* problems = nullptr;
  size_t* work = nullptr;  // shared by the whole schema, against kMaxReadWork
};

// What copying `v` costs: its nodes, and its text in 64-byte units.
size_t Weight(const Value& v, int depth) {
  if (depth > kMaxNesting) return 1;
  size_t w = 1;
  if (v.is_string()) {
    w += v.as_string().size() / 64;
  } else if (v.is_list()) {
    for (const Value& e : v.as_list()) w += Weight(e, depth + 1);
  } else if (v.is_map()) {
    for (const auto& [k, e] : v.as_map()) w += k.size() / 64 + Weight(e, depth + 1);
  }
  return w;
}

// Spends `units` of the schema's work; false (and, the first time, a problem at `path`) once
// the budget is gone.
bool Spend(const FieldContext& ctx, size_t units, const std::string& path) {
  bool was_over = *ctx.work > kMaxReadWork;
  *ctx.work = units > kMaxReadWork ? kMaxReadWork + 1 : *ctx.work + units;
  if (*ctx.work <= kMaxReadWork) return true;
  if (!was_over) {
    ctx.problems->emplace_back(
        path, absl::StrCat("the schema is too large once $ref is expanded (more than ",
                           kMaxReadWork, " fields and copied nodes); the rest is not compared"));
  }
  return false;
}

// A field with a local `$ref` ("#/definitions/<name>") resolved: the definition's attributes,
// the field's own on top; nullopt when there is nothing to resolve. A reference elsewhere
// (another file, a URL) stays unresolved: only the `$ref` text is compared.
std::optional<Value> ResolveRef(const Value& p, const std::string& path, int depth,
                                const FieldContext& ctx) {
  const Value* ref = p.Find("$ref");
  if (ref == nullptr || !ref->is_string()) return std::nullopt;
  absl::string_view target = ref->as_string();
  if (!absl::ConsumePrefix(&target, "#/definitions/")) return std::nullopt;
  const Value* def = ctx.definitions == nullptr ? nullptr : ctx.definitions->Find(target);
  if (def == nullptr || !def->is_map()) {
    ctx.problems->emplace_back(JoinPath(path, "$ref"),
                               absl::StrCat("no definition \"", target, "\" for $ref"));
    return std::nullopt;
  }
  if (depth > kMaxNesting) {
    ctx.problems->emplace_back(path, "$ref chain too long (or circular)");
    return std::nullopt;
  }
  if (*ctx.work > kMaxReadWork || !Spend(ctx, Weight(*def, 0), path)) return std::nullopt;
  std::optional<Value> inner = ResolveRef(*def, path, depth + 1, ctx);
  const Value& resolved = inner.has_value() ? *inner : *def;
  absl::flat_hash_set<absl::string_view> own;
  for (const auto& [k, v] : p.as_map()) own.insert(k);
  Value::Map merged;
  for (const auto& [k, v] : resolved.as_map()) {
    // A definition's own name and domain say what it is, not what the field is.
    if (k != "name" && k != "domain" && !own.contains(k)) merged.emplace_back(k, v);
  }
  for (const auto& [k, v] : p.as_map()) merged.emplace_back(k, v);
  return Value(std::move(merged));
}

void ReadProperties(const Value* props, const std::string& path, int depth, const FieldContext& ctx,
                    std::vector<Field>* out);

// One ODCS property or datacontract.com field.
Field ReadProperty(const std::string& name, const Value& raw, const std::string& path, int depth,
                   const FieldContext& ctx) {
  Field f;
  f.name = name;
  f.keys[kAttrType] = "type";
  if (!raw.is_map()) {
    ctx.problems->emplace_back(path, "field is not a map");
    return f;
  }
  if (depth > kMaxNesting) {
    ctx.problems->emplace_back(path, "fields nested too deeply");
    return f;
  }
  if (!Spend(ctx, 1, path)) return f;
  std::optional<Value> resolved = ResolveRef(raw, path, 1, ctx);
  const Value& p = resolved.has_value() ? *resolved : raw;
  ReadAttributes(p, /*avro=*/false, &f);
  const Value* type = p.Find("logicalType");
  f.keys[kAttrType] = "logicalType";
  if (type == nullptr || !type->is_string()) {
    type = p.Find("type");
    f.keys[kAttrType] = "type";
  }
  if (type != nullptr && type->is_string()) f.attrs[kAttrType] = *type;
  if (const Value* e = p.Find("enum"); e != nullptr && !e->is_null() && !e->is_list()) {
    ctx.problems->emplace_back(JoinPath(path, "enum"), "enum is not a list");
    f.attrs[kAttrEnum] = Value();
  }
  f.quality = Present(p.Find("quality"));
  const Value* children = p.Find("properties");
  if (children == nullptr) children = p.Find("fields");
  ReadProperties(children, path, depth + 1, ctx, &f.children);
  if (const Value* items = p.Find("items"); items != nullptr && !items->is_null()) {
    f.items.push_back(ReadProperty("items", *items, JoinPath(path, "items"), depth + 1, ctx));
  }
  return f;
}

void ReadProperties(const Value* props, const std::string& path, int depth, const FieldContext& ctx,
                    std::vector<Field>* out) {
  for (const auto& [name, entry] : NamedEntries(props, path, "fields", ctx.problems)) {
    out->push_back(ReadProperty(name, *entry, JoinPath(path, name), depth, ctx));
  }
}

void ReadModels(const Value& models, const Value* definitions, bool odcs, Schema* schema) {
  size_t work = 0;
  FieldContext ctx{definitions, &schema->problems, &work};
  for (const auto& [name, entry] :
       NamedEntries(&models, schema->prefix, "models", &schema->problems)) {
    std::string path = JoinPath(schema->prefix, name);
    Model m;
    m.name = name;
    if (!entry->is_map()) {
      schema->problems.emplace_back(path, "model is not a map");
      continue;
    }
    m.description = OrNull(entry->Find("description"));
    // An ODCS schema object is `logicalType: object`; what kind of thing it is (table, view,
    // topic) is its physicalType. A datacontract.com model says so in `type`.
    m.type_key = odcs ? "physicalType" : "type";
    m.type = OrNull(entry->Find(m.type_key));
    m.quality = Present(entry->Find("quality"));
    const Value* fields = entry->Find("properties");
    if (fields == nullptr) fields = entry->Find("fields");
    ReadProperties(fields, path, 1, ctx, &m.fields);
    schema->models.push_back(std::move(m));
  }
}

Schema ReadSchema(const Value& contract, absl::string_view source) {
  Schema s;
  const Value* schema = contract.Find("schema");
  const Value* models = contract.Find("models");
  if (schema != nullptr && schema->is_list()) {
    s.present = s.comparable = true;
    ReadModels(*schema, nullptr, /*odcs=*/true, &s);
  } else if (schema != nullptr && schema->is_map()) {
    s.present = true;
    s.type = OrNull(schema->Find("type"));
    const Value* spec = schema->Find("specification");
    std::string type = s.type.is_string() ? absl::AsciiStrToLower(s.type.as_string()) : "";
    if (!type.empty() && type != "avro") {
      s.spec = OrNull(spec);
      return s;
    }
    if (spec == nullptr || spec->is_null()) {
      s.problems.emplace_back("schema.specification", "the schema has no specification");
      return s;
    }
    if (spec->is_string()) {
      absl::StatusOr<Value> parsed =
          ParseJson(spec->as_string(), absl::StrCat(source, " schema.specification"));
      if (!parsed.ok()) {
        s.problems.emplace_back("schema.specification", std::string(parsed.status().message()));
        return s;
      }
      s.comparable = true;
      ReadAvroSpec(*parsed, &s);
    } else {
      s.comparable = true;
      ReadAvroSpec(*spec, &s);
    }
  } else if (schema != nullptr && !schema->is_null()) {
    s.present = true;
    s.problems.emplace_back("schema", "schema is neither a map nor a list");
  } else if (models != nullptr && !models->is_null()) {
    s.present = s.comparable = true;
    s.prefix = "models";
    const Value* definitions = contract.Find("definitions");
    if (definitions != nullptr && !definitions->is_null() && !definitions->is_map()) {
      s.problems.emplace_back("definitions", "definitions are not a map");
      definitions = nullptr;
    }
    ReadModels(*models, definitions, /*odcs=*/false, &s);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Quality rules.

// A list of quality rules, each keyed by the column it checks (for a contract-level list) and
// what it checks: "amount.not_null", "*.sql". The same key twice is told apart by "#<n>".
std::vector<std::pair<std::string, const Value*>> QualityRules(const Value* rules,
                                                               const std::string& path,
                                                               Problems* problems) {
  std::vector<std::pair<std::string, const Value*>> out;
  if (rules == nullptr || rules->is_null()) return out;
  if (!rules->is_list()) {
    problems->emplace_back(path, "quality rules are not a list");
    return out;
  }
  std::map<std::string, int> seen;
  const Value::List& list = rules->as_list();
  for (size_t i = 0; i < list.size(); ++i) {
    const Value& r = list[i];
    if (!r.is_map()) {
      problems->emplace_back(absl::StrCat(path, "[", i, "]"), "quality rule is not a map");
      continue;
    }
    const Value* column = FirstOf(r, {{"column"}, {"field"}, {"property"}});
    const Value* check = FirstOf(r, {{"name"}, {"check"}, {"rule"}, {"metric"}, {"type"}});
    std::string key =
        absl::StrCat(column ? NameText(column) : "*", ".", check ? NameText(check) : "?");
    if (int n = ++seen[key]; n > 1) absl::StrAppend(&key, "#", n);
    out.emplace_back(std::move(key), &r);
  }
  return out;
}

void DiffQualityRules(Recorder& rec, const std::string& path, const Value* o, const Value* n) {
  Problems problems;
  auto old_rules = QualityRules(o, path, &problems);
  auto new_rules = QualityRules(n, path, &problems);
  rec.Report(problems, "");
  auto old_index = IndexOf(old_rules);
  auto new_index = IndexOf(new_rules);
  for (const auto& [key, rule] : old_rules) {
    std::string rpath = JoinPath(path, key);
    auto it = new_index.find(key);
    if (it == new_index.end()) {
      rec.Add(DiffRule::kQualityRuleRemoved, rpath, *rule, Value());
    } else if (!(*rule == *it->second)) {
      rec.Add(DiffRule::kQualityRuleUpdated, rpath, *rule, *it->second);
    }
  }
  for (const auto& [key, rule] : new_rules) {
    if (!old_index.count(key)) {
      rec.Add(DiffRule::kQualityRuleAdded, JoinPath(path, key), Value(), *rule);
    }
  }
}

// The contract's own `quality`: datacontract.com's `{type, specification}` block, the seed's
// `{rules: [...]}`, or a list of rules.
void DiffContractQuality(Recorder& rec, const Value& o, const Value& n) {
  auto block = [](const Value& c) -> const Value* {
    const Value* q = c.Find("quality");
    return q != nullptr && q->is_map() && q->Find("rules") == nullptr ? q : nullptr;
  };
  auto rules = [](const Value& c) -> std::pair<std::string, const Value*> {
    const Value* q = c.Find("quality");
    if (q == nullptr || q->is_null()) return {"quality", nullptr};
    if (q->is_map()) {
      const Value* r = q->Find("rules");
      return {"quality.rules", r};
    }
    return {"quality", q};
  };
  const Value* ob = block(o);
  const Value* nb = block(n);
  if (ob == nullptr && nb != nullptr) {
    rec.Add(DiffRule::kQualityAdded, "quality", Value(), *nb);
  } else if (ob != nullptr && nb == nullptr) {
    rec.Add(DiffRule::kQualityRemoved, "quality", *ob, Value());
  } else if (ob != nullptr && nb != nullptr) {
    rec.IfDiffers(DiffRule::kQualityTypeUpdated, "quality.type", ob->Find("type"),
                  nb->Find("type"));
    rec.IfDiffers(DiffRule::kQualitySpecificationUpdated, "quality.specification",
                  ob->Find("specification"), nb->Find("specification"));
  }
  auto [old_path, old_rules] = rules(o);
  auto [new_path, new_rules] = rules(n);
  DiffQualityRules(rec, new_rules != nullptr ? new_path : old_path, old_rules, new_rules);
}

// ---------------------------------------------------------------------------------------------
// Diffing normalised schemas.

Value FieldSummary(const Field& f) {
  Value v = Value::EmptyMap();
  v.Set("name", f.name);
  if (!f.attrs[kAttrType].is_null()) v.Set("type", f.attrs[kAttrType]);
  v.Set("required", f.required);
  if (!f.attrs[kAttrFormat].is_null()) v.Set("format", f.attrs[kAttrFormat]);
  if (f.unique) v.Set("unique", true);
  if (f.primary_key) v.Set("primaryKey", true);
  if (!f.attrs[kAttrPii].is_null()) v.Set("pii", f.attrs[kAttrPii]);
  if (!f.attrs[kAttrClassification].is_null()) {
    v.Set("classification", f.attrs[kAttrClassification]);
  }
  if (f.has_default) v.Set("hasDefault", true);
  return v;
}

Value ModelSummary(const Model& m) {
  Value fields = Value::EmptyList();
  for (const Field& f : m.fields) fields.Append(f.name);
  Value v = Value::EmptyMap();
  v.Set("name", m.name);
  v.Set("fields", std::move(fields));
  return v;
}

void DiffFields(Recorder& rec, const std::string& path, const std::vector<Field>& old_fields,
                const std::vector<Field>& new_fields);

void DiffField(Recorder& rec, const std::string& path, const Field& o, const Field& n) {
  for (int a = 0; a < kAttrCount; ++a) {
    absl::string_view key = !n.attrs[a].is_null() ? n.keys[a] : o.keys[a];
    if (key.empty()) key = kAttrs[a].keys[0];
    rec.Compare(kAttrs[a].added, JoinPath(path, key), o.attrs[a], n.attrs[a], kAttrs[a].unordered);
  }
  if (!o.required && n.required) {
    rec.Add(DiffRule::kFieldRequiredUpdated, JoinPath(path, "required"), false, true);
  } else if (o.required && !n.required) {
    rec.Add(DiffRule::kFieldRequiredRelaxed, JoinPath(path, "required"), true, false);
  }
  if (o.unique != n.unique) {
    rec.Add(DiffRule::kFieldUniqueUpdated, JoinPath(path, "unique"), o.unique, n.unique);
  }
  if (o.primary_key != n.primary_key) {
    rec.Add(DiffRule::kFieldPrimaryKeyUpdated, JoinPath(path, "primaryKey"), o.primary_key,
            n.primary_key);
  }
  DiffQualityRules(rec, JoinPath(path, "quality"), &o.quality, &n.quality);
  DiffFields(rec, path, o.children, n.children);
  DiffFields(rec, path, o.items, n.items);
}

void DiffFields(Recorder& rec, const std::string& path, const std::vector<Field>& old_fields,
                const std::vector<Field>& new_fields) {
  std::map<absl::string_view, const Field*> old_index, new_index;
  for (const Field& f : old_fields) old_index.emplace(f.name, &f);
  for (const Field& f : new_fields) new_index.emplace(f.name, &f);
  for (const Field& o : old_fields) {
    std::string fpath = JoinPath(path, o.name);
    auto it = new_index.find(o.name);
    if (it == new_index.end()) {
      rec.Add(DiffRule::kFieldRemoved, fpath, FieldSummary(o), Value());
    } else {
      DiffField(rec, fpath, o, *it->second);
    }
  }
  for (const Field& n : new_fields) {
    if (old_index.count(n.name)) continue;
    // Readers of the new schema cannot read old data that lacks a required field.
    bool breaking = n.required && !n.has_default;
    rec.Add(breaking ? DiffRule::kFieldAddedRequired : DiffRule::kFieldAdded,
            JoinPath(path, n.name), Value(), FieldSummary(n));
  }
}

void DiffModels(Recorder& rec, const std::string& prefix, const std::vector<Model>& old_models,
                const std::vector<Model>& new_models) {
  std::map<absl::string_view, const Model*> old_index, new_index;
  for (const Model& m : old_models) old_index.emplace(m.name, &m);
  for (const Model& m : new_models) new_index.emplace(m.name, &m);
  for (const Model& o : old_models) {
    std::string path = JoinPath(prefix, o.name);
    auto it = new_index.find(o.name);
    if (it == new_index.end()) {
      rec.Add(DiffRule::kModelRemoved, path, ModelSummary(o), Value());
      continue;
    }
    const Model& n = *it->second;
    rec.Compare(DiffRule::kModelDescriptionAdded, JoinPath(path, "description"), o.description,
                n.description);
    rec.Compare(DiffRule::kModelTypeAdded, JoinPath(path, n.type_key), o.type, n.type);
    DiffQualityRules(rec, JoinPath(path, "quality"), &o.quality, &n.quality);
    DiffFields(rec, path, o.fields, n.fields);
  }
  for (const Model& n : new_models) {
    if (!old_index.count(n.name)) {
      rec.Add(DiffRule::kModelAdded, JoinPath(prefix, n.name), Value(), ModelSummary(n));
    }
  }
}

void DiffSchemas(Recorder& rec, const Schema& o, const Schema& n) {
  rec.Report(n.problems, "");
  // The previous version's problems only matter where they are not the current ones again.
  for (const auto& problem : o.problems) {
    if (std::find(n.problems.begin(), n.problems.end(), problem) == n.problems.end()) {
      rec.Unparseable(problem.first, absl::StrCat("previous version: ", problem.second));
    }
  }
  if (o.present && n.present && !(o.type == n.type)) {
    rec.Add(DiffRule::kSchemaTypeChanged, "schema.type", o.type, n.type);
  }
  bool old_ok = !o.present || o.comparable;
  bool new_ok = !n.present || n.comparable;
  if (old_ok && new_ok) {
    DiffModels(rec, n.present ? n.prefix : o.prefix, o.models, n.models);
    return;
  }
  // One side is a schema type we cannot read field by field (protobuf, say), or did not parse.
  const Schema& opaque = !new_ok ? n : o;
  bool reported = !opaque.problems.empty();
  // A type change alone is schema_type_changed; a different specification is more.
  if (!reported && !(o.spec == n.spec)) {
    rec.Unparseable("schema.specification", absl::StrCat("schema type ", ScalarText(opaque.type),
                                                         " cannot be compared field by field"));
  }
}

// ---------------------------------------------------------------------------------------------
// Service levels.

// An SLO's target; `freshness: 4h` is its own target, and a service level without a `target`
// (datacontract.com `servicelevels`, ODCS `slaProperties`) is compared whole.
const Value* SloTarget(const Value& slo) {
  if (!slo.is_map()) return &slo;
  const Value* t = slo.Find("target");
  return t != nullptr ? t : &slo;
}

void DiffSloEntries(Recorder& rec, const std::string& path,
                    const std::vector<std::pair<std::string, const Value*>>& old_slos,
                    const std::vector<std::pair<std::string, const Value*>>& new_slos) {
  auto new_index = IndexOf(new_slos);
  auto old_index = IndexOf(old_slos);
  for (const auto& [name, slo] : old_slos) {
    std::string spath = JoinPath(path, name);
    auto it = new_index.find(name);
    if (it == new_index.end()) {
      rec.Add(DiffRule::kSloRemoved, spath, *slo, Value());
      continue;
    }
    const Value* ot = SloTarget(*slo);
    const Value* nt = SloTarget(*it->second);
    bool whole = ot == slo;
    rec.IfDiffers(DiffRule::kSloUpdated, whole ? spath : JoinPath(spath, "target"), ot, nt);
  }
  for (const auto& [name, slo] : new_slos) {
    if (!old_index.count(name)) rec.Add(DiffRule::kSloAdded, JoinPath(path, name), Value(), *slo);
  }
}

void DiffSlos(Recorder& rec, const std::string& path, const Value* o, const Value* n) {
  Problems problems;
  auto old_slos = NamedEntries(o, path, "slos", &problems);
  auto new_slos = NamedEntries(n, path, "slos", &problems);
  rec.Report(problems, "");
  DiffSloEntries(rec, path, old_slos, new_slos);
}

// ODCS `slaProperties`: a list keyed by `property` (and `element`, when one is named).
std::vector<std::pair<std::string, const Value*>> SlaProperties(const Value* v,
                                                                Problems* problems) {
  std::vector<std::pair<std::string, const Value*>> out;
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_list()) {
    problems->emplace_back("slaProperties", "slaProperties are not a list");
    return out;
  }
  std::map<std::string, int> seen;
  const Value::List& list = v->as_list();
  for (size_t i = 0; i < list.size(); ++i) {
    const Value* property = list[i].is_map() ? list[i].Find("property") : nullptr;
    std::string key = NameText(property);
    if (key.empty()) {
      problems->emplace_back(absl::StrCat("slaProperties[", i, "]"),
                             "one of the slaProperties has no property");
      continue;
    }
    if (std::string element = NameText(list[i].Find("element")); !element.empty()) {
      absl::StrAppend(&key, "@", element);
    }
    if (int n = ++seen[key]; n > 1) absl::StrAppend(&key, "#", n);
    out.emplace_back(std::move(key), &list[i]);
  }
  return out;
}

void DiffContractSlos(Recorder& rec, const Value& o, const Value& n) {
  DiffSlos(rec, "slos", o.Find("slos"), n.Find("slos"));
  DiffSlos(rec, "servicelevels", o.Find("servicelevels"), n.Find("servicelevels"));
  Problems problems;
  auto old_sla = SlaProperties(o.Find("slaProperties"), &problems);
  auto new_sla = SlaProperties(n.Find("slaProperties"), &problems);
  rec.Report(problems, "");
  DiffSloEntries(rec, "slaProperties", old_sla, new_sla);
}

// A description wherever the document keeps one; the path is where the current version has it.
void DiffDescription(Recorder& rec, const Value& o, const Value& n,
                     std::initializer_list<std::initializer_list<absl::string_view>> places) {
  auto find = [&](const Value& doc) -> std::pair<std::string, const Value*> {
    for (auto place : places) {
      if (const Value* v = doc.FindPath(place); v != nullptr && !v->is_null()) {
        return {absl::StrJoin(place, "."), v};
      }
    }
    return {"", nullptr};
  };
  auto [old_path, old_value] = find(o);
  auto [new_path, new_value] = find(n);
  std::string path = !new_path.empty() ? new_path : old_path;
  rec.IfDiffers(DiffRule::kDescriptionChanged, path, old_value, new_value);
}

// ---------------------------------------------------------------------------------------------
// Products.

bool ColumnPii(const Value& column) {
  if (Truthy(column.Find("pii"))) return true;
  const Value* tags = column.Find("tags");
  if (tags == nullptr || !tags->is_list()) return false;
  for (const Value& t : tags->as_list()) {
    if (t.is_string() && absl::AsciiStrToLower(t.as_string()) == "pii") return true;
  }
  return false;
}

void DiffColumns(Recorder& rec, const std::string& path, const Value* o, const Value* n,
                 Problems* problems) {
  auto old_cols = NamedEntries(o, path, "columns", problems);
  auto new_cols = NamedEntries(n, path, "columns", problems);
  auto old_index = IndexOf(old_cols);
  auto new_index = IndexOf(new_cols);
  for (const auto& [name, oc] : old_cols) {
    std::string cpath = JoinPath(path, name);
    auto it = new_index.find(name);
    if (it == new_index.end()) {
      rec.Add(DiffRule::kColumnRemoved, cpath, *oc, Value());
      continue;
    }
    const Value& nc = *it->second;
    rec.Compare(DiffRule::kColumnTypeAdded, JoinPath(cpath, "type"), OrNull(oc->Find("type")),
                OrNull(nc.Find("type")));
    bool old_pii = ColumnPii(*oc);
    bool new_pii = ColumnPii(nc);
    if (old_pii && !new_pii) {
      rec.Add(DiffRule::kColumnPiiRemoved, JoinPath(cpath, "pii"), true, false);
    } else if (!old_pii && new_pii) {
      rec.Add(DiffRule::kColumnPiiAdded, JoinPath(cpath, "pii"), false, true);
    }
    rec.IfDiffers(DiffRule::kColumnTagsChanged, JoinPath(cpath, "tags"), oc->Find("tags"),
                  nc.Find("tags"));
    rec.IfDiffers(DiffRule::kDescriptionChanged, JoinPath(cpath, "description"),
                  oc->Find("description"), nc.Find("description"));
  }
  for (const auto& [name, nc] : new_cols) {
    if (!old_index.count(name)) {
      rec.Add(DiffRule::kColumnAdded, JoinPath(path, name), Value(), *nc);
    }
  }
}

void DiffTables(Recorder& rec, const std::string& path, const Value* o, const Value* n,
                Problems* problems) {
  auto old_tables = NamedEntries(o, path, "tables", problems);
  auto new_tables = NamedEntries(n, path, "tables", problems);
  auto old_index = IndexOf(old_tables);
  auto new_index = IndexOf(new_tables);
  for (const auto& [name, ot] : old_tables) {
    std::string tpath = JoinPath(path, name);
    auto it = new_index.find(name);
    if (it == new_index.end()) {
      rec.Add(DiffRule::kTableRemoved, tpath, *ot, Value());
      continue;
    }
    rec.IfDiffers(DiffRule::kDescriptionChanged, JoinPath(tpath, "description"),
                  ot->Find("description"), it->second->Find("description"));
    DiffColumns(rec, JoinPath(tpath, "columns"), ot->Find("columns"), it->second->Find("columns"),
                problems);
  }
  for (const auto& [name, nt] : new_tables) {
    if (!old_index.count(name)) {
      rec.Add(DiffRule::kTableAdded, JoinPath(path, name), Value(), *nt);
    }
  }
}

bool IsAddressKey(absl::string_view key) {
  return key == "type" || key == "catalog" || key == "schema" || key == "endpoint" ||
         key == "topic";
}

void DiffPort(Recorder& rec, const std::string& path, const Value& o, const Value& n,
              Problems* problems) {
  if (!o.is_map() || !n.is_map()) return;  // NamedEntries only yields named maps
  // Every key of either side once, in the order the documents give them; std::map keeps a port
  // with very many keys from costing quadratic time.
  std::map<absl::string_view, bool> seen;
  std::vector<absl::string_view> keys;
  for (const Value* side : {&o, &n}) {
    for (const auto& [k, v] : side->as_map()) {
      if (seen.emplace(k, true).second) keys.push_back(k);
    }
  }
  for (absl::string_view key : keys) {
    if (key == "name" || key == "tables") continue;
    std::string kpath = JoinPath(path, key);
    if (key == "description") {
      rec.IfDiffers(DiffRule::kDescriptionChanged, kpath, o.Find(key), n.Find(key));
    } else if (IsAddressKey(key)) {
      // Consumers connect by these: any change moves the data out from under them.
      rec.IfDiffers(DiffRule::kOutputPortChanged, kpath, o.Find(key), n.Find(key));
    } else {
      rec.IfDiffers(DiffRule::kOutputPortUpdated, kpath, o.Find(key), n.Find(key));
    }
  }
  DiffTables(rec, JoinPath(path, "tables"), o.Find("tables"), n.Find("tables"), problems);
}

// Where a product keeps a section: under `spec` in the seed, at the top in some descriptors.
std::pair<std::string, const Value*> Section(const Value& product, absl::string_view key) {
  if (const Value* v = product.FindPath({"spec", key}); v != nullptr) {
    return {absl::StrCat("spec.", key), v};
  }
  return {std::string(key), product.Find(key)};
}

std::string SectionPath(const Value& o, const Value& n, absl::string_view key) {
  auto [new_path, new_value] = Section(n, key);
  if (new_value != nullptr) return new_path;
  return Section(o, key).first;
}

// The entry of a list of named maps (`name`, or ODCS slaProperties' `property`) called `name`.
std::optional<size_t> NamedIndex(const Value& list, absl::string_view name) {
  const Value::List& l = list.as_list();
  for (size_t i = 0; i < l.size(); ++i) {
    if (!l[i].is_map()) continue;
    for (absl::string_view key : {"name", "property"}) {
      const Value* n = l[i].Find(key);
      if (n != nullptr && (n->is_string() || n->is_number()) && ScalarText(*n) == name) return i;
    }
  }
  return std::nullopt;
}

}  // namespace

int LineOfPath(const Value& doc, absl::string_view path) {
  const Value* found = nullptr;  // the deepest node of the path the document has
  const Value* at = &doc;
  for (absl::string_view segment : absl::StrSplit(path, '.')) {
    const Value* next = nullptr;
    if (at->is_map()) {
      if ((next = at->Find(segment)) == nullptr) {
        // Paths leave out the `fields` / `properties` between a model or field and its fields.
        for (absl::string_view container : {"fields", "properties"}) {
          const Value* c = at->Find(container);
          if (c == nullptr) continue;
          if (c->is_map() && (next = c->Find(segment)) != nullptr) break;
          if (c->is_list()) {
            if (std::optional<size_t> i = NamedIndex(*c, segment); i.has_value()) {
              next = &c->as_list()[*i];
              break;
            }
          }
        }
        // Inside an Avro specification (JSON in a string) the YAML has no lines to give.
        if (next == nullptr && at->Find("specification") != nullptr) return 0;
      }
    } else if (at->is_list()) {
      if (std::optional<size_t> i = NamedIndex(*at, segment); i.has_value()) {
        next = &at->as_list()[*i];
      }
    }
    if (next == nullptr) break;
    at = found = next;
  }
  // Nothing of the path in the document (a contract that is gone): no line to point at. A
  // document built in code (not parsed) has no positions: 0 too.
  return found == nullptr ? 0 : found->line();
}

ChangeSet DiffContracts(const Value& previous, const Value& current,
                        const DiffRuleClasses& classes) {
  ChangeSet out;
  std::string name = DescriptorName(current.is_map() ? current : previous);
  std::string document = absl::StrCat("contract:", name);
  Recorder rec(document, classes, &out);
  if (!previous.is_map() || !current.is_map()) {
    rec.Unparseable(
        "", !current.is_map() ? "the contract is not a map" : "the previous contract is not a map");
    return out;
  }
  DiffSchemas(rec, ReadSchema(previous, document), ReadSchema(current, document));
  DiffContractQuality(rec, previous, current);
  DiffContractSlos(rec, previous, current);
  DiffDescription(rec, previous, current,
                  {{"description"}, {"info", "description"}, {"metadata", "description"}});
  SortChangeSet(out);
  return out;
}

ChangeSet DiffProducts(const Value& previous, const Value& current,
                       const DiffRuleClasses& classes) {
  ChangeSet out;
  Recorder rec(absl::StrCat("product:", DescriptorName(current.is_map() ? current : previous)),
               classes, &out);
  if (!previous.is_map() || !current.is_map()) {
    rec.Unparseable(
        "", !current.is_map() ? "the product is not a map" : "the previous product is not a map");
    return out;
  }
  Problems problems;
  DescriptorField old_domain = FindDescriptorField(previous, DescriptorFact::kDomain);
  DescriptorField new_domain = FindDescriptorField(current, DescriptorFact::kDomain);
  // The path is where the domain is written (metadata.domain in the seed's shape).
  absl::string_view domain_key = !new_domain.key.empty()   ? new_domain.key
                                 : !old_domain.key.empty() ? old_domain.key
                                                           : "metadata.domain";
  rec.IfDiffers(DiffRule::kDomainChanged, std::string(domain_key), old_domain.value,
                new_domain.value);
  rec.IfDiffers(DiffRule::kOwnerChanged, "metadata.owner", previous.FindPath({"metadata", "owner"}),
                current.FindPath({"metadata", "owner"}));
  DiffDescription(rec, previous, current,
                  {{"spec", "description"}, {"metadata", "description"}, {"description"}});

  bool old_pii = Truthy(previous.FindPath({"spec", "classification", "pii"}));
  bool new_pii = Truthy(current.FindPath({"spec", "classification", "pii"}));
  if (old_pii && !new_pii) {
    rec.Add(DiffRule::kPiiRemoved, "spec.classification.pii", true, false);
  } else if (!old_pii && new_pii) {
    rec.Add(DiffRule::kPiiAdded, "spec.classification.pii", false, true);
  }

  const Value* old_gov = Section(previous, "governance").second;
  const Value* new_gov = Section(current, "governance").second;
  std::string gov_path = SectionPath(previous, current, "governance");
  auto gov = [](const Value* g, absl::string_view key) -> const Value* {
    return g == nullptr ? nullptr : g->Find(key);
  };
  rec.IfDiffers(DiffRule::kClassificationChanged, JoinPath(gov_path, "dataClassification"),
                gov(old_gov, "dataClassification"), gov(new_gov, "dataClassification"));
  rec.IfDiffers(DiffRule::kAccessControlChanged, JoinPath(gov_path, "accessControl"),
                gov(old_gov, "accessControl"), gov(new_gov, "accessControl"));

  DiffSlos(rec, SectionPath(previous, current, "slos"), Section(previous, "slos").second,
           Section(current, "slos").second);

  std::string ports_path = SectionPath(previous, current, "outputPorts");
  auto old_ports =
      NamedEntries(Section(previous, "outputPorts").second, ports_path, "output ports", &problems);
  auto new_ports =
      NamedEntries(Section(current, "outputPorts").second, ports_path, "output ports", &problems);
  auto old_index = IndexOf(old_ports);
  auto new_index = IndexOf(new_ports);
  for (const auto& [name, port] : old_ports) {
    std::string path = JoinPath(ports_path, name);
    auto it = new_index.find(name);
    if (it == new_index.end()) {
      rec.Add(DiffRule::kOutputPortRemoved, path, *port, Value());
    } else {
      DiffPort(rec, path, *port, *it->second, &problems);
    }
  }
  for (const auto& [name, port] : new_ports) {
    if (!old_index.count(name)) {
      rec.Add(DiffRule::kOutputPortAdded, JoinPath(ports_path, name), Value(), *port);
    }
  }
  rec.Report(problems, "");
  SortChangeSet(out);
  return out;
}

namespace {

Value ChangeToValue(const Change& c) {
  Value v = Value::EmptyMap();
  v.Set("document", c.document);
  v.Set("path", c.path);
  v.Set("rule", c.rule);
  v.Set("old", c.old_value);
  v.Set("new", c.new_value);
  if (c.line > 0) v.Set("line", c.line);
  return v;
}

void AddLines(ChangeSet& set, const Value& doc) {
  for (const ChangeClassInfo& cls : kChangeClasses) {
    for (Change& c : set.of(cls.cls)) c.line = LineOfPath(doc, c.path);
  }
}

Value ChangeList(const std::vector<Change>& changes) {
  Value list = Value::EmptyList();
  for (const Change& c : changes) list.Append(ChangeToValue(c));
  return list;
}

Value VersionText(const Value* v) {
  if (v == nullptr) return Value();
  std::optional<std::string> s = VersionString(*v);
  return s ? Value(*s) : Value();
}

// {from, to, bump}; `from` == nullptr with `initial` means there was no previous version.
Value VersionDelta(const Value* from, const Value* to, bool initial) {
  Value d = Value::EmptyMap();
  Value to_text = VersionText(to);
  if (initial) {
    d.Set("to", to_text);
    d.Set("bump", BumpName(Bump::kInitial));
    return d;
  }
  Value from_text = VersionText(from);
  d.Set("from", from_text);
  d.Set("to", to_text);
  std::optional<SemVer> a, b;
  if (from_text.is_string()) a = ParseSemVer(from_text.as_string());
  if (to_text.is_string()) b = ParseSemVer(to_text.as_string());
  d.Set("bump", BumpName(a && b ? ClassifyBump(*a, *b) : Bump::kInvalid));
  return d;
}

}  // namespace

Value ComputeChange(const Value& product, const Value* previous_product,
                    const std::vector<Value>& contracts,
                    const std::vector<Value>& previous_contracts, const DiffRuleClasses& classes,
                    bool with_lines) {
  ChangeSet all;
  bool first = previous_product == nullptr || previous_product->is_null();
  if (!first) {
    ChangeSet product_changes = DiffProducts(*previous_product, product, classes);
    if (with_lines) AddLines(product_changes, product);
    Merge(all, std::move(product_changes));
  }

  // Name → first contract of that name; later ones are reported, not compared.
  auto index = [&all, &classes](const std::vector<Value>& docs, absl::string_view side) {
    std::map<std::string, const Value*> by_name;
    for (const Value& doc : docs) {
      std::string name = DescriptorName(doc);
      if (!by_name.emplace(name, &doc).second) {
        Recorder(absl::StrCat("contract:", name), classes, &all)
            .Unparseable("metadata.name",
                         absl::StrCat("duplicate ", side, " contract name; the first is compared"));
      }
    }
    return by_name;
  };
  std::map<std::string, const Value*> current = index(contracts, "current");
  std::map<std::string, const Value*> previous = index(previous_contracts, "previous");

  std::map<std::string, Value> versions;  // name order, whatever order the caller used
  for (const auto& [name, doc] : current) {
    auto it = previous.find(name);
    if (it == previous.end()) {
      Recorder(absl::StrCat("contract:", name), classes, &all)
          .Add(DiffRule::kContractAdded, "metadata.name", Value(), name);
      versions[name] = VersionDelta(nullptr, VersionOf(*doc), /*initial=*/true);
      continue;
    }
    ChangeSet changes = DiffContracts(*it->second, *doc, classes);
    if (with_lines) AddLines(changes, *doc);
    Merge(all, std::move(changes));
    versions[name] = VersionDelta(VersionOf(*it->second), VersionOf(*doc), false);
  }
  for (const auto& [name, doc] : previous) {
    if (current.count(name)) continue;
    Recorder(absl::StrCat("contract:", name), classes, &all)
        .Add(DiffRule::kContractRemoved, "metadata.name", name, Value());
    Value d = Value::EmptyMap();
    d.Set("from", VersionText(VersionOf(*doc)));
    d.Set("bump", BumpName(Bump::kRemoved));
    versions[name] = std::move(d);
  }
  Value contract_versions = Value::EmptyMap();
  for (auto& [name, d] : versions) contract_versions.mutable_map().emplace_back(name, std::move(d));
  SortChangeSet(all);

  Value out = Value::EmptyMap();
  for (const ChangeClassInfo& c : kChangeClasses) {
    out.Set(std::string(c.list_key), ChangeList(all.of(c.cls)));
  }
  out.Set("version", first ? VersionDelta(nullptr, VersionOf(product), true)
                           : VersionDelta(VersionOf(*previous_product), VersionOf(product), false));
  out.Set("contract_versions", std::move(contract_versions));
  out.Set("first_deployment", first);
  return out;
}

}  // namespace arbiter

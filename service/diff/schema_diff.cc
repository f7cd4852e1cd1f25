#include "service/diff/schema_diff.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "service/diff/semver.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

// Values built from protobuf Structs are not bounded by the parsers' limits; this keeps the
// normalisers' recursion bounded on their own.
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

// The first of several places a document may keep something, e.g. the name of an ODCS contract
// (`name`) versus a seed-shaped one (`metadata.name`).
const Value* FirstOf(const Value& doc,
                     std::initializer_list<std::initializer_list<absl::string_view>> paths) {
  for (auto path : paths) {
    if (const Value* v = doc.FindPath(path); v != nullptr && !v->is_null()) return v;
  }
  return nullptr;
}

// A document's name goes into every change it yields; only scalars qualify, so that a name
// written as a large map cannot multiply into every change.
std::string NameText(const Value* v) {
  if (v == nullptr || !(v->is_string() || v->is_number() || v->is_bool())) return "";
  return ScalarText(*v);
}

std::string ContractName(const Value& c) {
  return NameText(FirstOf(c, {{"metadata", "name"}, {"name"}, {"id"}, {"info", "title"}}));
}

const Value* ContractVersion(const Value& c) {
  return FirstOf(c, {{"metadata", "version"}, {"version"}, {"info", "version"}});
}

std::string ProductName(const Value& p) {
  return NameText(FirstOf(p, {{"metadata", "name"}, {"name"}}));
}

using Problems = std::vector<std::pair<std::string, std::string>>;  // path, message

// A list of maps keyed by "name", or a map from name to entry: both spellings occur for output
// ports, SLOs, models and fields. Entries that cannot be named are reported and skipped; a
// repeated name keeps its first entry.
std::vector<std::pair<std::string, const Value*>> NamedEntries(const Value* v,
                                                               const std::string& path,
                                                               absl::string_view what,
                                                               Problems* problems) {
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
      const Value* name = list[i].is_map() ? list[i].Find("name") : nullptr;
      if (name == nullptr || !(name->is_string() || name->is_number())) {
        problems->emplace_back(absl::StrCat(path, "[", i, "]"),
                               absl::StrCat("one of the ", what, " is not a map with a name"));
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

// Which list of a ChangeSet a change goes to.
enum class ChangeClass { kBreaking, kWarning, kInfo };

class Recorder {
 public:
  Recorder(std::string document, ChangeSet* out) : document_(std::move(document)), out_(out) {}

  void Add(ChangeClass s, std::string path, absl::string_view rule, Value old_value,
           Value new_value) {
    Change c{document_, std::move(path), std::string(rule), std::move(old_value),
             std::move(new_value)};
    switch (s) {
      case ChangeClass::kBreaking:
        out_->breaking.push_back(std::move(c));
        break;
      case ChangeClass::kWarning:
        out_->warnings.push_back(std::move(c));
        break;
      case ChangeClass::kInfo:
        out_->info.push_back(std::move(c));
        break;
    }
  }

  void Unparseable(std::string path, std::string message) {
    Add(ChangeClass::kWarning, std::move(path), "unparseable_schema", Value(),
        Value(std::move(message)));
  }

  void Report(const Problems& problems, absl::string_view prefix) {
    for (const auto& [path, message] : problems) Unparseable(path, absl::StrCat(prefix, message));
  }

  // A value that must not change at all (a port's endpoint, the domain): equal or `rule`.
  void IfDiffers(ChangeClass s, std::string path, absl::string_view rule, const Value* old_value,
                 const Value* new_value) {
    Value o = OrNull(old_value);
    Value n = OrNull(new_value);
    if (!(o == n)) Add(s, std::move(path), rule, std::move(o), std::move(n));
  }

 private:
  std::string document_;
  ChangeSet* out_;
};

void SortChanges(std::vector<Change>& changes) {
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    if (a.document != b.document) return a.document < b.document;
    return a.path < b.path;
  });
}

void SortChangeSet(ChangeSet& set) {
  SortChanges(set.breaking);
  SortChanges(set.warnings);
  SortChanges(set.info);
}

void Merge(ChangeSet& into, ChangeSet&& from) {
  auto move_all = [](std::vector<Change>& dst, std::vector<Change>& src) {
    dst.insert(dst.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
  };
  move_all(into.breaking, from.breaking);
  move_all(into.warnings, from.warnings);
  move_all(into.info, from.info);
}

// ---------------------------------------------------------------------------------------------
// Contract schemas, normalised: models → fields with attributes, whatever the shape.

struct Field {
  std::string name;
  Value type;  // canonical text, null when the document gives none
  Value physical_type;
  Value format;
  Value description;
  Value references;
  Value classification;
  Value pii;  // as written, for old/new
  bool required = false;
  bool unique = false;
  bool primary_key = false;
  bool has_default = false;
  bool has_symbols = false;
  std::vector<std::string> symbols;
  std::vector<Field> children;  // nested record / object fields, or those of array items
};

struct Model {
  std::string name;
  Value description;
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

// Attributes that every shape spells the same way (Avro allows them as extra attributes).
void ReadCommonAttributes(const Value& m, Field* f) {
  f->format = OrNull(m.Find("format"));
  if (f->format.is_null()) f->format = OrNull(m.FindPath({"logicalTypeOptions", "format"}));
  f->unique = Truthy(m.Find("unique"));
  f->primary_key = Truthy(m.Find("primaryKey")) || Truthy(m.Find("primary"));
  f->pii = OrNull(m.Find("pii"));
  f->classification = OrNull(m.Find("classification"));
  f->references = OrNull(m.Find("references"));
  if (f->description.is_null()) f->description = OrNull(m.Find("description"));
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
    if (!at.text.empty()) f.type = Value(at.text);
    f.required = !at.nullable;
    f.has_default = entry->Find("default") != nullptr;
    f.description = OrNull(entry->Find("doc"));
    ReadCommonAttributes(*entry, &f);
    f.has_symbols = at.has_symbols;
    f.symbols = std::move(at.symbols);
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

void ReadProperties(const Value* props, const std::string& path, int depth, std::vector<Field>* out,
                    Problems* problems);

// One ODCS property or datacontract.com field.
Field ReadProperty(const std::string& name, const Value& p, const std::string& path, int depth,
                   Problems* problems) {
  Field f;
  f.name = name;
  if (!p.is_map()) {
    problems->emplace_back(path, "field is not a map");
    return f;
  }
  const Value* type = p.Find("logicalType");
  if (type == nullptr || !type->is_string()) type = p.Find("type");
  if (type != nullptr && type->is_string()) f.type = *type;
  f.physical_type = OrNull(p.Find("physicalType"));
  f.required = Truthy(p.Find("required"));
  f.has_default = p.Find("default") != nullptr;
  ReadCommonAttributes(p, &f);
  if (const Value* e = p.Find("enum"); e != nullptr) {
    f.has_symbols = true;
    if (e->is_list()) {
      for (const Value& s : e->as_list()) f.symbols.push_back(ScalarText(s));
    } else {
      problems->emplace_back(JoinPath(path, "enum"), "enum is not a list");
    }
  }
  if (depth > kMaxNesting) {
    problems->emplace_back(path, "fields nested too deeply");
    return f;
  }
  const Value* children = p.Find("properties");
  if (children == nullptr) children = p.Find("fields");
  ReadProperties(children, path, depth + 1, &f.children, problems);
  if (const Value* items = p.Find("items"); items != nullptr) {
    Field item = ReadProperty("items", *items, path, depth + 1, problems);
    std::string item_type = item.type.is_string() ? item.type.as_string() : "?";
    f.type =
        Value(absl::StrCat(f.type.is_string() ? f.type.as_string() : "array", "<", item_type, ">"));
    if (item.has_symbols) {
      f.has_symbols = true;
      f.symbols = std::move(item.symbols);
    }
    for (Field& c : item.children) f.children.push_back(std::move(c));
  }
  return f;
}

void ReadProperties(const Value* props, const std::string& path, int depth, std::vector<Field>* out,
                    Problems* problems) {
  for (const auto& [name, entry] : NamedEntries(props, path, "fields", problems)) {
    out->push_back(ReadProperty(name, *entry, JoinPath(path, name), depth, problems));
  }
}

void ReadModels(const Value& models, Schema* schema) {
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
    const Value* fields = entry->Find("properties");
    if (fields == nullptr) fields = entry->Find("fields");
    ReadProperties(fields, path, 1, &m.fields, &schema->problems);
    schema->models.push_back(std::move(m));
  }
}

Schema ReadSchema(const Value& contract, absl::string_view source) {
  Schema s;
  const Value* schema = contract.Find("schema");
  const Value* models = contract.Find("models");
  if (schema != nullptr && schema->is_list()) {
    s.present = s.comparable = true;
    ReadModels(*schema, &s);
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
    ReadModels(*models, &s);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Diffing normalised schemas.

// Higher is more protected; -1 is absent, -2 a level we do not know.
int ClassificationRank(const Value& v) {
  if (!v.is_string()) return -1;
  std::string s = absl::AsciiStrToLower(v.as_string());
  if (s == "public") return 0;
  if (s == "internal") return 1;
  if (s == "confidential" || s == "sensitive") return 2;
  if (s == "pii" || s == "restricted") return 3;
  if (s == "secret" || s == "highly-confidential" || s == "highly_confidential") return 4;
  return -2;
}
constexpr int kProtectedRank = 2;

Value FieldSummary(const Field& f) {
  Value v = Value::EmptyMap();
  v.Set("name", f.name);
  if (!f.type.is_null()) v.Set("type", f.type);
  v.Set("required", f.required);
  if (!f.format.is_null()) v.Set("format", f.format);
  if (f.unique) v.Set("unique", true);
  if (f.primary_key) v.Set("primaryKey", true);
  if (!f.pii.is_null()) v.Set("pii", f.pii);
  if (!f.classification.is_null()) v.Set("classification", f.classification);
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

// Type and format: a change of value breaks readers; one that appears or disappears is a
// warning, as datacontract-cli has it (field_type_added / field_type_removed).
void CompareTypeLike(Recorder& rec, const std::string& path, absl::string_view rule,
                     const Value& old_value, const Value& new_value) {
  if (old_value == new_value) return;
  ChangeClass s =
      old_value.is_null() || new_value.is_null() ? ChangeClass::kWarning : ChangeClass::kBreaking;
  rec.Add(s, path, rule, old_value, new_value);
}

void DiffFields(Recorder& rec, const std::string& path, const std::vector<Field>& old_fields,
                const std::vector<Field>& new_fields);

void DiffField(Recorder& rec, const std::string& path, const Field& o, const Field& n) {
  CompareTypeLike(rec, JoinPath(path, "type"), "field_type_changed", o.type, n.type);
  CompareTypeLike(rec, JoinPath(path, "physicalType"), "field_type_changed", o.physical_type,
                  n.physical_type);
  CompareTypeLike(rec, JoinPath(path, "format"), "field_format_changed", o.format, n.format);
  if (!o.required && n.required) {
    rec.Add(ChangeClass::kBreaking, JoinPath(path, "required"), "field_required_changed", false,
            true);
  } else if (o.required && !n.required) {
    rec.Add(ChangeClass::kWarning, JoinPath(path, "required"), "field_required_relaxed", true,
            false);
  }
  if (o.unique != n.unique) {
    rec.Add(ChangeClass::kBreaking, JoinPath(path, "unique"), "field_unique_changed", o.unique,
            n.unique);
  }
  if (o.primary_key != n.primary_key) {
    rec.Add(ChangeClass::kWarning, JoinPath(path, "primaryKey"), "field_primary_key_changed",
            o.primary_key, n.primary_key);
  }
  if (!(o.references == n.references)) {
    rec.Add(ChangeClass::kWarning, JoinPath(path, "references"), "field_references_changed",
            o.references, n.references);
  }
  bool old_pii = Truthy(&o.pii);
  bool new_pii = Truthy(&n.pii);
  if (old_pii && !new_pii) {
    rec.Add(ChangeClass::kBreaking, JoinPath(path, "pii"), "field_pii_removed", o.pii, n.pii);
  } else if (!old_pii && new_pii) {
    rec.Add(ChangeClass::kWarning, JoinPath(path, "pii"), "field_pii_added", o.pii, n.pii);
  }
  if (!(o.classification == n.classification)) {
    int old_rank = ClassificationRank(o.classification);
    int new_rank = ClassificationRank(n.classification);
    std::string cpath = JoinPath(path, "classification");
    if (old_rank >= kProtectedRank && new_rank < old_rank) {
      rec.Add(ChangeClass::kBreaking, cpath, "field_pii_removed", o.classification,
              n.classification);
    } else if (new_rank >= kProtectedRank && new_rank > old_rank) {
      rec.Add(ChangeClass::kWarning, cpath, "field_pii_added", o.classification, n.classification);
    } else {
      rec.Add(ChangeClass::kInfo, cpath, "field_classification_changed", o.classification,
              n.classification);
    }
  }
  if (!(o.description == n.description)) {
    rec.Add(ChangeClass::kInfo, JoinPath(path, "description"), "description_changed", o.description,
            n.description);
  }
  // A field that stopped (or started) being an enum already shows as a type change.
  if (o.has_symbols && n.has_symbols) {
    std::map<absl::string_view, bool> old_set, new_set;
    for (const std::string& s : o.symbols) old_set.emplace(s, true);
    for (const std::string& s : n.symbols) new_set.emplace(s, true);
    std::string spath = JoinPath(path, "symbols");
    for (const std::string& s : o.symbols) {
      if (!new_set.count(s))
        rec.Add(ChangeClass::kBreaking, spath, "enum_symbol_removed", s, Value());
    }
    for (const std::string& s : n.symbols) {
      if (!old_set.count(s)) rec.Add(ChangeClass::kWarning, spath, "enum_symbol_added", Value(), s);
    }
  }
  DiffFields(rec, path, o.children, n.children);
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
      rec.Add(ChangeClass::kBreaking, fpath, "field_removed", FieldSummary(o), Value());
    } else {
      DiffField(rec, fpath, o, *it->second);
    }
  }
  for (const Field& n : new_fields) {
    if (old_index.count(n.name)) continue;
    // Readers of the new schema cannot read old data that lacks a required field.
    bool breaking = n.required && !n.has_default;
    rec.Add(breaking ? ChangeClass::kBreaking : ChangeClass::kInfo, JoinPath(path, n.name),
            breaking ? "field_added_required" : "field_added", Value(), FieldSummary(n));
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
      rec.Add(ChangeClass::kBreaking, path, "model_removed", ModelSummary(o), Value());
      continue;
    }
    const Model& n = *it->second;
    if (!(o.description == n.description)) {
      rec.Add(ChangeClass::kInfo, JoinPath(path, "description"), "description_changed",
              o.description, n.description);
    }
    DiffFields(rec, path, o.fields, n.fields);
  }
  for (const Model& n : new_models) {
    if (!old_index.count(n.name)) {
      rec.Add(ChangeClass::kInfo, JoinPath(prefix, n.name), "model_added", Value(),
              ModelSummary(n));
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
    rec.Add(ChangeClass::kWarning, "schema.type", "schema_type_changed", o.type, n.type);
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
  if (!reported && !(o.spec == n.spec && o.type == n.type)) {
    rec.Unparseable("schema.specification", absl::StrCat("schema type ", ScalarText(opaque.type),
                                                         " cannot be compared field by field"));
  }
}

// ---------------------------------------------------------------------------------------------
// Quality rules and SLOs.

std::vector<std::pair<std::string, const Value*>> QualityRules(const Value& contract,
                                                               Problems* problems) {
  std::vector<std::pair<std::string, const Value*>> out;
  const Value* q = contract.Find("quality");
  if (q == nullptr || q->is_null()) return out;
  const Value* rules = q->is_map() ? q->Find("rules") : q;
  if (rules == nullptr || rules->is_null()) return out;
  if (!rules->is_list()) {
    problems->emplace_back("quality.rules", "quality rules are not a list");
    return out;
  }
  std::map<std::string, int> seen;
  const Value::List& list = rules->as_list();
  for (size_t i = 0; i < list.size(); ++i) {
    const Value& r = list[i];
    if (!r.is_map()) {
      problems->emplace_back(absl::StrCat("quality.rules[", i, "]"), "quality rule is not a map");
      continue;
    }
    const Value* column = FirstOf(r, {{"column"}, {"field"}, {"property"}});
    const Value* check = FirstOf(r, {{"check"}, {"type"}, {"rule"}, {"name"}});
    std::string key =
        absl::StrCat(column ? ScalarText(*column) : "*", ".", check ? ScalarText(*check) : "?");
    // The same check twice on one column stays distinguishable by its position among equals.
    if (int n = ++seen[key]; n > 1) absl::StrAppend(&key, "#", n);
    out.emplace_back(std::move(key), &r);
  }
  return out;
}

void DiffQuality(Recorder& rec, const Value& o, const Value& n) {
  Problems problems;
  auto old_rules = QualityRules(o, &problems);
  auto new_rules = QualityRules(n, &problems);
  rec.Report(problems, "");
  auto old_index = IndexOf(old_rules);
  auto new_index = IndexOf(new_rules);
  for (const auto& [key, rule] : old_rules) {
    std::string path = JoinPath("quality.rules", key);
    auto it = new_index.find(key);
    if (it == new_index.end()) {
      rec.Add(ChangeClass::kWarning, path, "quality_rule_removed", *rule, Value());
    } else if (!(*rule == *it->second)) {
      rec.Add(ChangeClass::kWarning, path, "quality_rule_changed", *rule, *it->second);
    }
  }
  for (const auto& [key, rule] : new_rules) {
    if (!old_index.count(key)) {
      rec.Add(ChangeClass::kInfo, JoinPath("quality.rules", key), "quality_rule_added", Value(),
              *rule);
    }
  }
}

// An SLO's target; `freshness: 4h` is its own target.
const Value* SloTarget(const Value& slo) { return slo.is_map() ? slo.Find("target") : &slo; }

void DiffSlos(Recorder& rec, const std::string& path, const Value* o, const Value* n) {
  Problems problems;
  auto old_slos = NamedEntries(o, path, "slos", &problems);
  auto new_slos = NamedEntries(n, path, "slos", &problems);
  rec.Report(problems, "");
  auto new_index = IndexOf(new_slos);
  auto old_index = IndexOf(old_slos);
  for (const auto& [name, slo] : old_slos) {
    std::string spath = JoinPath(path, name);
    auto it = new_index.find(name);
    if (it == new_index.end()) {
      rec.Add(ChangeClass::kWarning, spath, "slo_changed", *slo, Value());
      continue;
    }
    rec.IfDiffers(ChangeClass::kWarning, JoinPath(spath, "target"), "slo_changed", SloTarget(*slo),
                  SloTarget(*it->second));
  }
  for (const auto& [name, slo] : new_slos) {
    if (!old_index.count(name)) {
      rec.Add(ChangeClass::kInfo, JoinPath(path, name), "slo_added", Value(), *slo);
    }
  }
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
  rec.IfDiffers(ChangeClass::kInfo, path, "description_changed", old_value, new_value);
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
      rec.Add(ChangeClass::kBreaking, cpath, "column_removed", *oc, Value());
      continue;
    }
    const Value& nc = *it->second;
    CompareTypeLike(rec, JoinPath(cpath, "type"), "column_type_changed", OrNull(oc->Find("type")),
                    OrNull(nc.Find("type")));
    bool old_pii = ColumnPii(*oc);
    bool new_pii = ColumnPii(nc);
    if (old_pii && !new_pii) {
      rec.Add(ChangeClass::kBreaking, JoinPath(cpath, "pii"), "column_pii_removed", true, false);
    } else if (!old_pii && new_pii) {
      rec.Add(ChangeClass::kWarning, JoinPath(cpath, "pii"), "column_pii_added", false, true);
    }
    rec.IfDiffers(ChangeClass::kInfo, JoinPath(cpath, "tags"), "column_tags_changed",
                  oc->Find("tags"), nc.Find("tags"));
    rec.IfDiffers(ChangeClass::kInfo, JoinPath(cpath, "description"), "description_changed",
                  oc->Find("description"), nc.Find("description"));
  }
  for (const auto& [name, nc] : new_cols) {
    if (!old_index.count(name)) {
      rec.Add(ChangeClass::kInfo, JoinPath(path, name), "column_added", Value(), *nc);
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
      rec.Add(ChangeClass::kBreaking, tpath, "table_removed", *ot, Value());
      continue;
    }
    rec.IfDiffers(ChangeClass::kInfo, JoinPath(tpath, "description"), "description_changed",
                  ot->Find("description"), it->second->Find("description"));
    DiffColumns(rec, JoinPath(tpath, "columns"), ot->Find("columns"), it->second->Find("columns"),
                problems);
  }
  for (const auto& [name, nt] : new_tables) {
    if (!old_index.count(name)) {
      rec.Add(ChangeClass::kInfo, JoinPath(path, name), "table_added", Value(), *nt);
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
      rec.IfDiffers(ChangeClass::kInfo, kpath, "description_changed", o.Find(key), n.Find(key));
    } else if (IsAddressKey(key)) {
      // Consumers connect by these: any change moves the data out from under them.
      rec.IfDiffers(ChangeClass::kBreaking, kpath, "output_port_changed", o.Find(key), n.Find(key));
    } else {
      rec.IfDiffers(ChangeClass::kWarning, kpath, "output_port_updated", o.Find(key), n.Find(key));
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

}  // namespace

ChangeSet DiffContracts(const Value& previous, const Value& current) {
  ChangeSet out;
  std::string name = ContractName(current.is_map() ? current : previous);
  std::string document = absl::StrCat("contract:", name);
  Recorder rec(document, &out);
  if (!previous.is_map() || !current.is_map()) {
    rec.Unparseable(
        "", !current.is_map() ? "the contract is not a map" : "the previous contract is not a map");
    return out;
  }
  DiffSchemas(rec, ReadSchema(previous, document), ReadSchema(current, document));
  DiffQuality(rec, previous, current);
  DiffSlos(rec, "slos", previous.Find("slos"), current.Find("slos"));
  DiffDescription(rec, previous, current,
                  {{"description"}, {"info", "description"}, {"metadata", "description"}});
  SortChangeSet(out);
  return out;
}

ChangeSet DiffProducts(const Value& previous, const Value& current) {
  ChangeSet out;
  Recorder rec(absl::StrCat("product:", ProductName(current.is_map() ? current : previous)), &out);
  if (!previous.is_map() || !current.is_map()) {
    rec.Unparseable(
        "", !current.is_map() ? "the product is not a map" : "the previous product is not a map");
    return out;
  }
  Problems problems;
  rec.IfDiffers(ChangeClass::kBreaking, "metadata.domain", "domain_changed",
                previous.FindPath({"metadata", "domain"}),
                current.FindPath({"metadata", "domain"}));
  rec.IfDiffers(ChangeClass::kWarning, "metadata.owner", "owner_changed",
                previous.FindPath({"metadata", "owner"}), current.FindPath({"metadata", "owner"}));
  DiffDescription(rec, previous, current,
                  {{"spec", "description"}, {"metadata", "description"}, {"description"}});

  bool old_pii = Truthy(previous.FindPath({"spec", "classification", "pii"}));
  bool new_pii = Truthy(current.FindPath({"spec", "classification", "pii"}));
  if (old_pii && !new_pii) {
    rec.Add(ChangeClass::kBreaking, "spec.classification.pii", "pii_removed", true, false);
  } else if (!old_pii && new_pii) {
    rec.Add(ChangeClass::kWarning, "spec.classification.pii", "pii_added", false, true);
  }

  const Value* old_gov = Section(previous, "governance").second;
  const Value* new_gov = Section(current, "governance").second;
  std::string gov_path = SectionPath(previous, current, "governance");
  auto gov = [](const Value* g, absl::string_view key) -> const Value* {
    return g == nullptr ? nullptr : g->Find(key);
  };
  rec.IfDiffers(ChangeClass::kWarning, JoinPath(gov_path, "dataClassification"),
                "classification_changed", gov(old_gov, "dataClassification"),
                gov(new_gov, "dataClassification"));
  rec.IfDiffers(ChangeClass::kWarning, JoinPath(gov_path, "accessControl"),
                "access_control_changed", gov(old_gov, "accessControl"),
                gov(new_gov, "accessControl"));

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
      rec.Add(ChangeClass::kBreaking, path, "output_port_removed", *port, Value());
    } else {
      DiffPort(rec, path, *port, *it->second, &problems);
    }
  }
  for (const auto& [name, port] : new_ports) {
    if (!old_index.count(name)) {
      rec.Add(ChangeClass::kInfo, JoinPath(ports_path, name), "output_port_added", Value(), *port);
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
  return v;
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
    d.Set("bump", "initial");
    return d;
  }
  Value from_text = VersionText(from);
  d.Set("from", from_text);
  d.Set("to", to_text);
  std::optional<SemVer> a, b;
  if (from_text.is_string()) a = ParseSemVer(from_text.as_string());
  if (to_text.is_string()) b = ParseSemVer(to_text.as_string());
  d.Set("bump", a && b ? Value(BumpName(ClassifyBump(*a, *b))) : Value("invalid"));
  return d;
}

}  // namespace

Value ComputeChange(const Value& product, const Value* previous_product,
                    const std::vector<Value>& contracts,
                    const std::vector<Value>& previous_contracts) {
  ChangeSet all;
  bool first = previous_product == nullptr || previous_product->is_null();
  if (!first) Merge(all, DiffProducts(*previous_product, product));

  // Name → first contract of that name; later ones are reported, not compared.
  auto index = [&all](const std::vector<Value>& docs, absl::string_view side) {
    std::map<std::string, const Value*> by_name;
    for (const Value& doc : docs) {
      std::string name = ContractName(doc);
      if (!by_name.emplace(name, &doc).second) {
        Recorder(absl::StrCat("contract:", name), &all)
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
      Recorder(absl::StrCat("contract:", name), &all)
          .Add(ChangeClass::kInfo, "metadata.name", "contract_added", Value(), name);
      versions[name] = VersionDelta(nullptr, ContractVersion(*doc), /*initial=*/true);
      continue;
    }
    Merge(all, DiffContracts(*it->second, *doc));
    versions[name] = VersionDelta(ContractVersion(*it->second), ContractVersion(*doc), false);
  }
  for (const auto& [name, doc] : previous) {
    if (current.count(name)) continue;
    Recorder(absl::StrCat("contract:", name), &all)
        .Add(ChangeClass::kBreaking, "metadata.name", "contract_removed", name, Value());
    Value d = Value::EmptyMap();
    d.Set("from", VersionText(ContractVersion(*doc)));
    d.Set("bump", "removed");
    versions[name] = std::move(d);
  }
  Value contract_versions = Value::EmptyMap();
  for (auto& [name, d] : versions) contract_versions.mutable_map().emplace_back(name, std::move(d));
  SortChangeSet(all);

  auto product_version = [](const Value& p) {
    return FirstOf(p, {{"metadata", "version"}, {"version"}});
  };
  Value out = Value::EmptyMap();
  out.Set("breaking", ChangeList(all.breaking));
  out.Set("warnings", ChangeList(all.warnings));
  out.Set("info", ChangeList(all.info));
  out.Set("version", first ? VersionDelta(nullptr, product_version(product), true)
                           : VersionDelta(product_version(*previous_product),
                                          product_version(product), false));
  out.Set("contract_versions", std::move(contract_versions));
  out.Set("first_deployment", first);
  return out;
}

}  // namespace arbiter

#include "service/impact/impact.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/descriptor/descriptor.h"
#include "service/diff/schema_diff.h"
#include "service/value/parse.h"

namespace arbiter::impact {
namespace {

// A table the product serves (previous and new descriptor together).
struct Table {
  std::string key;                             // lower-cased catalog.schema.table
  std::string display;                         // as written
  std::string port;                            // the output port's name
  std::string name;                            // the table's name
  std::map<std::string, std::string> columns;  // lower-cased -> as written
};

void CollectTables(const Value* product, std::vector<Table>& out) {
  if (product == nullptr) return;
  const Value* ports = product->FindPath({"spec", "outputPorts"});
  if (ports == nullptr || !ports->is_list()) return;
  for (const Value& port : ports->as_list()) {
    std::string catalog = port.GetString("catalog");
    std::string schema = port.GetString("schema");
    const Value* tables = port.Find("tables");
    if (catalog.empty() || schema.empty() || tables == nullptr || !tables->is_list()) continue;
    for (const Value& t : tables->as_list()) {
      std::string name = t.GetString("name");
      if (name.empty()) continue;
      std::string display = absl::StrCat(catalog, ".", schema, ".", name);
      std::string key = absl::AsciiStrToLower(display);
      auto it = std::find_if(out.begin(), out.end(), [&](const Table& x) { return x.key == key; });
      if (it == out.end()) {
        out.push_back(Table{key, display, port.GetString("name"), name, {}});
        it = out.end() - 1;
      }
      const Value* cols = t.Find("columns");
      if (cols == nullptr || !cols->is_list()) continue;
      for (const Value& c : cols->as_list()) {
        std::string cname = c.GetString("name");
        if (!cname.empty()) it->columns.emplace(absl::AsciiStrToLower(cname), cname);
      }
    }
  }
}

// `rest` is `name` or starts with `name.` (case-insensitively when `fold`).
bool HasSegmentPrefix(absl::string_view rest, absl::string_view name, bool fold) {
  if (rest.size() < name.size()) return false;
  absl::string_view head = rest.substr(0, name.size());
  bool same = fold ? absl::EqualsIgnoreCase(head, name) : head == name;
  return same && (rest.size() == name.size() || rest[name.size()] == '.');
}

bool RemovesWhole(absl::string_view rule) {
  return rule == "model_removed" || rule == "contract_removed" || rule == "table_removed" ||
         rule == "output_port_removed";
}

Value ConsumerValue(const Value& c, const std::string& contract) {
  Value v = Value::MapWithCapacity(4);
  v.Add("domain", c.GetString("domain"));
  v.Add("team", c.GetString("team"));
  v.Add("use_case", c.GetString("useCase", c.GetString("use_case")));
  v.Add("contract", contract);
  return v;
}

bool ParseTime(const Value* v, absl::Time* t) {
  if (v == nullptr || !v->is_string()) return false;
  std::string err;
  return absl::ParseTime(absl::RFC3339_full, v->as_string(), t, &err);
}

const std::string& StringAt(const Value* map, absl::string_view key) {
  static const std::string kEmpty;
  if (map == nullptr) return kEmpty;
  const Value* v = map->Find(key);
  return v != nullptr && v->is_string() ? v->as_string() : kEmpty;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseWindow(absl::string_view text, absl::string_view what) {
  int64_t n = 0;
  if (text.size() >= 2 && absl::SimpleAtoi(text.substr(0, text.size() - 1), &n) && n > 0 &&
      n <= 100000) {
    switch (text.back()) {
      case 'd':
        return absl::Hours(24 * n);
      case 'h':
        return absl::Hours(n);
      case 'm':
        return absl::Minutes(n);
      case 's':
        return absl::Seconds(n);
      default:
        break;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": expected a positive number and a unit d, h, m or s (\"30d\"), got \"", text, "\""));
}

Impact::Impact(const Value& product, const Value* previous_product,
               const std::vector<Value>& contracts, const std::vector<Value>& previous_contracts,
               const Value& change, const Options& options)
    : options_(options) {
  since_ = options_.now - options_.window;
  stop_at_ = std::min(absl::Now() + options_.limits.max_time, options_.deadline);
  product_name_ = DescriptorName(product);
  product_needle_ = product_name_.empty()
                        ? std::string("\x01")
                        : absl::StrCat("\"", absl::AsciiStrToLower(product_name_), "\"");
  product_domain_ = DescriptorDomain(product);
  std::vector<Table> tables;
  CollectTables(previous_product, tables);
  CollectTables(&product, tables);

  // Declared consumers by contract name (new and previous version, new first), deduplicated.
  std::map<std::string, std::vector<Value>> consumers;
  std::vector<std::string> contract_order;
  for (const std::vector<Value>* docs : {&contracts, &previous_contracts}) {
    for (const Value& doc : *docs) {
      std::string name = DescriptorName(doc);
      const Value* list = doc.Find("consumers");
      if (list == nullptr || !list->is_list()) continue;
      if (!consumers.count(name)) contract_order.push_back(name);
      std::vector<Value>& out = consumers[name];
      for (const Value& c : list->as_list()) {
        if (!c.is_map()) continue;
        Value v = ConsumerValue(c, name);
        if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
      }
    }
  }

  const Value* breaking = change.Find(ChangeClassListKey(ChangeClass::kBreaking));
  if (breaking == nullptr || !breaking->is_list()) return;
  for (const Value& b : breaking->as_list()) {
    Entry e;
    e.document = b.GetString("document");
    e.path = b.GetString("path");
    e.rule = b.GetString("rule");
    if (const Value* line = b.Find("line")) e.line = *line;
    absl::string_view path = e.path;
    bool whole = RemovesWhole(e.rule);
    auto add = [&](const Table& t, const std::string& column) {
      Column c;
      c.table = t.key;
      c.column = column;
      c.display = column.empty() ? absl::StrCat(t.display, ".*")
                                 : absl::StrCat(t.display, ".", t.columns.at(column));
      e.columns.push_back(std::move(c));
    };
    if (absl::StartsWith(e.document, "product:") &&
        absl::ConsumePrefix(&path, "spec.outputPorts.")) {
      for (const Table& t : tables) {
        if (!HasSegmentPrefix(path, t.port, false)) continue;
        absl::string_view rest = path.substr(t.port.size());
        if (rest.empty()) {
          add(t, "");  // the whole port
          continue;
        }
        if (!absl::ConsumePrefix(&rest, ".tables.") || !HasSegmentPrefix(rest, t.name, false)) {
          continue;
        }
        rest.remove_prefix(t.name.size());
        if (rest.empty()) {
          add(t, "");
        } else if (absl::ConsumePrefix(&rest, ".columns.")) {
          for (const auto& [lower, written] : t.columns) {
            if (HasSegmentPrefix(rest, written, false)) {
              add(t, lower);
              break;
            }
          }
        }
      }
    } else if (absl::StartsWith(e.document, "contract:") &&
               (absl::ConsumePrefix(&path, "schema.") || absl::ConsumePrefix(&path, "models."))) {
      // The model: a table of the same name if there is one, else every table of the product.
      std::vector<const Table*> model_tables;
      size_t model_len = 0;
      for (const Table& t : tables) {
        if (HasSegmentPrefix(path, t.name, true)) {
          model_tables.push_back(&t);
          model_len = t.name.size();
        }
      }
      if (model_tables.empty()) {
        model_len = std::min(path.find('.'), path.size());
        for (const Table& t : tables) model_tables.push_back(&t);
      }
      absl::string_view rest = path.substr(model_len);
      if (rest.empty()) {
        if (whole) {
          for (const Table* t : model_tables) add(*t, "");
        }
      } else {
        rest.remove_prefix(1);
        std::string field = absl::AsciiStrToLower(rest.substr(0, rest.find('.')));
        for (const Table* t : model_tables) {
          if (t->columns.count(field)) add(*t, field);
        }
      }
    } else if (e.rule == "contract_removed") {
      for (const Table& t : tables) add(t, "");
    }
    if (e.columns.empty()) continue;

    if (absl::StartsWith(e.document, "contract:")) {
      auto it = consumers.find(e.document.substr(9));
      if (it != consumers.end()) e.consumers = it->second;
    } else {
      for (const std::string& name : contract_order) {
        for (const Value& c : consumers[name]) {
          if (std::find(e.consumers.begin(), e.consumers.end(), c) == e.consumers.end()) {
            e.consumers.push_back(c);
          }
        }
      }
    }
    for (const Value& c : e.consumers) consumer_domains_.insert(c.GetString("domain"));
    for (const Column& c : e.columns) tables_.insert(c.table);
    entries_.push_back(std::move(e));
  }
}

bool Impact::OverLimit() {
  if (!limit_.empty()) return true;
  if (lines_ >= options_.limits.max_lines) {
    limit_ = "max_lines";
  } else if ((lines_ & 255) == 0 && absl::Now() >= stop_at_) {
    limit_ = options_.deadline <= stop_at_ ? "deadline" : "max_time";
  }
  return !limit_.empty();
}

void Impact::Count(Aggregate& a, const std::string& id, const std::string& domain, int64_t seen,
                   bool count_principal) {
  Reader& d = a.domains[domain];
  d.domain = domain;
  ++d.decisions;
  d.last_seen = std::max(d.last_seen, seen);
  if (!count_principal) return;
  auto key = std::make_pair(domain, id);
  auto it = a.principals.find(key);
  if (it == a.principals.end()) {
    if (principals_tracked_ >= options_.limits.max_principals) {
      ++a.other_principals;
      return;
    }
    ++principals_tracked_;
    it = a.principals.emplace(key, Reader{id, domain, 0, 0}).first;
  }
  ++it->second.decisions;
  it->second.last_seen = std::max(it->second.last_seen, seen);
}

// Returns whether the line was older than the window (for the rotation-order stop).
bool Impact::Line(absl::string_view line) {
  ++lines_;
  // Cheap filter first: most lines of a busy log are access decisions, but deployment and
  // product lines are big and never count.
  if (line.find("\"kind\":\"access\"") == absl::string_view::npos ||
      line.find("\"allow\"") == absl::string_view::npos) {
    return false;
  }
  // Most access decisions are about other tables: a line that names none of ours (nor the
  // product) anywhere is not parsed. Names compare case-insensitively, so the line is lowered.
  std::string lowered = absl::AsciiStrToLower(line);
  bool mentions = lowered.find(product_needle_) != std::string::npos;
  for (auto it = tables_.begin(); !mentions && it != tables_.end(); ++it) {
    mentions = lowered.find(*it) != std::string::npos;
  }
  if (!mentions) {
    // The time still matters: an old line ends a backward read.
    size_t at = line.find("\"time\":\"");
    absl::Time t;
    std::string err;
    if (at != absl::string_view::npos) {
      absl::string_view rest = line.substr(at + 8);
      size_t q = rest.find('"');
      if (q != absl::string_view::npos &&
          absl::ParseTime(absl::RFC3339_full, rest.substr(0, q), &t, &err) && t < since_) {
        return true;
      }
    }
    return false;
  }
  // The log's own lines put decision_id, time, kind and request first, then the top-level
  // "effect": parsing only that head skips the reasons, obligations and caller (half of an
  // access line). A JSON string cannot hold an unescaped quote, so `,"effect":"` is structure;
  // if the first one is inside the request (a context key "effect"), the head does not parse
  // and the whole line is parsed instead. Lines in another order (written by other tools) are
  // parsed whole.
  absl::StatusOr<Value> v = absl::InvalidArgumentError("");
  std::string effect;
  size_t request_at = line.find("\"request\":");
  size_t effect_at = request_at == absl::string_view::npos
                         ? absl::string_view::npos
                         : line.find(",\"effect\":\"", request_at);
  if (effect_at != absl::string_view::npos) {
    std::string head(line.substr(0, effect_at));
    head.push_back('}');
    v = ParseJson(head, "decision log");
    absl::string_view rest = line.substr(effect_at + 11);
    effect = std::string(rest.substr(0, rest.find('"')));
  }
  if (!v.ok() || !v->is_map() || v->Find("request") == nullptr) {
    v = ParseJson(line, "decision log");
    if (v.ok()) effect = StringAt(&*v, "effect");
  }
  if (!v.ok() || !v->is_map()) {
    ++skipped_;
    return false;
  }
  absl::Time t;
  if (!ParseTime(v->Find("time"), &t)) {
    ++skipped_;
    return false;
  }
  if (t < since_) return true;
  if (t > options_.now) return false;
  if (StringAt(&*v, "kind") != "access" || effect != "allow") return false;
  const Value* req = v->Find("request");
  if (StringAt(req, "action") != "read") return false;
  const Value* resource = req->Find("resource");
  if (resource == nullptr) return false;
  std::string table = absl::AsciiStrToLower(StringAt(resource, "table"));
  const std::string& product = StringAt(resource, "product");
  bool whole_product = table.empty() && !product.empty() && product == product_name_;
  if (!whole_product && !tables_.count(table)) return false;
  std::set<std::string> columns;
  if (const Value* cols = resource->Find("columns"); cols != nullptr && cols->is_list()) {
    for (const Value& c : cols->as_list()) {
      if (c.is_string()) columns.insert(absl::AsciiStrToLower(c.as_string()));
    }
  }
  const Value* principal = req->Find("principal");
  const std::string& id = StringAt(principal, "id");
  const std::string& domain = StringAt(principal, "domain");
  int64_t seen = absl::ToUnixSeconds(t);
  bool any = false;
  for (Entry& e : entries_) {
    bool hit = false;
    for (const Column& c : e.columns) {
      if (whole_product ||
          (c.table == table && (columns.empty() || c.column.empty() || columns.count(c.column)))) {
        hit = true;
        break;
      }
    }
    if (!hit) continue;
    any = true;
    ++e.readers.decisions;
    Count(e.readers, id, domain, seen, true);
  }
  if (any) {
    ++matched_;
    ++all_.decisions;
    Count(all_, id, domain, seen, true);
  }
  return false;
}

void Impact::ScanLines(const std::vector<std::string>& lines) {
  if (entries_.empty()) return;
  for (const std::string& l : lines) {
    if (OverLimit()) return;
    if (bytes_ + l.size() + 1 > options_.limits.max_bytes) {
      limit_ = "max_bytes";
      return;
    }
    bytes_ += l.size() + 1;
    if (l.size() > options_.limits.max_line_bytes) {
      ++lines_;
      ++skipped_;
      continue;
    }
    Line(l);
  }
}

void Impact::ScanFiles(const std::vector<std::string>& paths, bool rotation_order) {
  if (entries_.empty()) return;
  // Each file is read backwards, newest line first, in blocks: whatever a limit cuts off is the
  // oldest part, and the first line older than the window ends the file (its lines are in time
  // order) and, in rotation order, the scan (older rotations are older still).
  constexpr size_t kBlock = 1 << 20;
  std::vector<char> buf(kBlock);
  for (const std::string& path : paths) {
    if (OverLimit()) return;
    if (bytes_ >= options_.limits.max_bytes) {
      limit_ = "max_bytes";
      return;
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (f == nullptr) {
      errors_.push_back(absl::StrCat(path, ": ", std::strerror(errno)));
      continue;
    }
    ++files_;
    struct stat st;
    uint64_t pos = fstat(fileno(f.get()), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    std::string carry;      // the end of the line that starts in an earlier block
    bool too_long = false;  // `carry` overflowed: the rest of that line is dropped
    bool old = false;
    bool stopped = false;  // a limit
    auto consume = [&](absl::string_view line) {
      if (too_long || line.size() > options_.limits.max_line_bytes) {
        too_long = false;
        ++lines_;
        ++skipped_;
        return;
      }
      if (!line.empty() && Line(line)) old = true;
    };
    while (pos > 0 && !old) {
      if (OverLimit()) {
        stopped = true;
        break;
      }
      if (bytes_ >= options_.limits.max_bytes) {
        limit_ = "max_bytes";
        stopped = true;
        break;
      }
      size_t n = static_cast<size_t>(
          std::min<uint64_t>({kBlock, pos, options_.limits.max_bytes - bytes_}));
      pos -= n;
      if (std::fseek(f.get(), static_cast<long>(pos), SEEK_SET) != 0 ||
          std::fread(buf.data(), 1, n, f.get()) != n) {
        errors_.push_back(absl::StrCat(path, ": read error"));
        break;
      }
      bytes_ += n;
      absl::string_view block(buf.data(), n);
      // Lines that end in this block, newest first; the block's first segment may continue a
      // line that starts earlier, so it waits in `carry`.
      size_t first_nl = block.find('\n');
      if (first_nl == absl::string_view::npos) {
        if (!too_long) carry.insert(0, block.data(), block.size());
        if (carry.size() > options_.limits.max_line_bytes) {
          carry.clear();
          too_long = true;
        }
        continue;
      }
      // The line ending at the block's end (the carry continues it).
      size_t end = block.size();
      size_t nl = block.rfind('\n', end - 1);
      std::string last(block.substr(nl + 1));
      if (!too_long) {
        last += carry;
      }
      carry.clear();
      consume(last);
      end = nl;
      while (!old && end > first_nl) {
        if (OverLimit()) {
          stopped = true;
          break;
        }
        nl = block.rfind('\n', end - 1);
        consume(block.substr(nl + 1, end - nl - 1));
        end = nl;
      }
      if (stopped) break;
      carry.assign(block.data(), first_nl);
    }
    // An over-long line the scan stopped inside is skipped all the same.
    if (too_long) {
      too_long = false;
      ++lines_;
      ++skipped_;
    }
    // The file's first line (or, cut by the byte budget, a partial one, which is dropped).
    if (!old && !stopped && !carry.empty()) {
      if (pos == 0) {
        consume(carry);
      } else {
        limit_ = "max_bytes";
      }
    }
    if (pos > 0 && !old && limit_.empty() && !stopped) limit_ = "max_bytes";
    if (old && rotation_order) return;
  }
}

Value Impact::ToValue() const {
  auto sorted = [](const auto& m) {
    std::vector<const Reader*> out;
    for (const auto& [k, r] : m) out.push_back(&r);
    // Most decisions first, then the most recent, then by name.
    std::stable_sort(out.begin(), out.end(), [](const Reader* a, const Reader* b) {
      if (a->decisions != b->decisions) return a->decisions > b->decisions;
      return a->last_seen > b->last_seen;
    });
    return out;
  };
  auto domains = [&](const Aggregate& a, const std::set<std::string>& declared) {
    Value list = Value::EmptyList();
    for (const Reader* r : sorted(a.domains)) {
      Value d = Value::MapWithCapacity(5);
      d.Add("domain", r->domain);
      d.Add("decisions", static_cast<int64_t>(r->decisions));
      d.Add("last_seen", r->last_seen);
      d.Add("consumer", declared.count(r->domain) > 0);
      if (r->domain == product_domain_) d.Add("producer", true);
      list.Append(std::move(d));
    }
    // Declared consumers the log never showed reading: they break too, or are stale.
    for (const std::string& name : declared) {
      if (a.domains.count(name)) continue;
      Value d = Value::MapWithCapacity(4);
      d.Add("domain", name);
      d.Add("decisions", int64_t{0});
      d.Add("consumer", true);
      list.Append(std::move(d));
    }
    return list;
  };
  auto principals = [&](const Aggregate& a) {
    Value list = Value::EmptyList();
    for (const Reader* r : sorted(a.principals)) {
      Value p = Value::MapWithCapacity(4);
      p.Add("id", r->id);
      p.Add("domain", r->domain);
      p.Add("decisions", static_cast<int64_t>(r->decisions));
      p.Add("last_seen", r->last_seen);
      list.Append(std::move(p));
    }
    return list;
  };

  Value out = Value::MapWithCapacity(12);
  out.Add("since", static_cast<int64_t>(absl::ToUnixSeconds(since_)));
  out.Add("until", static_cast<int64_t>(absl::ToUnixSeconds(options_.now)));
  out.Add("window_seconds", static_cast<int64_t>(absl::ToInt64Seconds(options_.window)));
  out.Add("source", source_);
  out.Add("complete", limit_.empty() && errors_.empty());
  if (!limit_.empty()) out.Add("limit", limit_);
  Value scanned = Value::MapWithCapacity(5);
  scanned.Add("files", static_cast<int64_t>(files_));
  scanned.Add("lines", static_cast<int64_t>(lines_));
  scanned.Add("bytes", static_cast<int64_t>(bytes_));
  scanned.Add("skipped", static_cast<int64_t>(skipped_));
  scanned.Add("matched", static_cast<int64_t>(matched_));
  out.Add("scanned", std::move(scanned));
  if (!errors_.empty()) {
    Value errors = Value::EmptyList();
    for (const std::string& e : errors_) errors.Append(e);
    out.Add("errors", std::move(errors));
  }
  Value entries = Value::EmptyList();
  for (const Entry& e : entries_) {
    Value v = Value::MapWithCapacity(11);
    v.Add("document", e.document);
    v.Add("path", e.path);
    v.Add("rule", e.rule);
    if (!e.line.is_null()) v.Add("line", e.line);
    Value cols = Value::EmptyList();
    for (const Column& c : e.columns) cols.Append(c.display);
    v.Add("columns", std::move(cols));
    v.Add("consumers", Value(Value::List(e.consumers.begin(), e.consumers.end())));
    v.Add("decisions", static_cast<int64_t>(e.readers.decisions));
    std::set<std::string> declared;
    for (const Value& c : e.consumers) declared.insert(c.GetString("domain"));
    v.Add("domains", domains(e.readers, declared));
    v.Add("principals", principals(e.readers));
    v.Add("other_principals", static_cast<int64_t>(e.readers.other_principals));
    entries.Append(std::move(v));
  }
  out.Add("entries", std::move(entries));
  out.Add("domains", domains(all_, consumer_domains_));
  out.Add("principals", principals(all_));
  return out;
}

Value Compute(const Value& product, const Value* previous_product,
              const std::vector<Value>& contracts, const std::vector<Value>& previous_contracts,
              const Value& change, const Options& options, const Source& source) {
  Impact impact(product, previous_product, contracts, previous_contracts, change, options);
  if (impact.empty()) return Value();
  impact.SetSource(source.name);
  impact.ScanFiles(source.files, source.rotation_order);
  impact.ScanLines(source.lines);
  return impact.ToValue();
}

std::vector<std::string> RotatedFiles(const std::string& path, int max_files) {
  std::vector<std::string> out;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) out.push_back(path);
  for (int i = 1; i <= max_files; ++i) {
    std::string p = absl::StrCat(path, ".", i);
    if (::stat(p.c_str(), &st) != 0) break;
    out.push_back(p);
  }
  return out;
}

}  // namespace arbiter::impact

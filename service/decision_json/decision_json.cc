#include "service/decision_json/decision_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "service/value/json_escape.h"

namespace arbiter::json {
namespace {

// Appends to a string through a cursor into the string's own buffer, sized ahead: a log line is
// some forty literal pieces and forty strings, and std::string's append is an out-of-line call
// with its own capacity check for each. Here a piece is one bounds check and a copy (literals
// of known size inline). The string holds junk past the cursor until the Writer goes, when it
// is cut to what was written.
class Writer {
 public:
  Writer(std::string& s, size_t hint) : s_(s), start_(s.size()) {
    s.resize(start_ + hint);
    Reset(start_);
  }
  ~Writer() { s_.resize(Used()); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  template <size_t N>
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Lit(const char (&text)[N]) {
    Raw(text, N - 1);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Raw(const char* p, size_t n) {
    Ensure(n);
    std::memcpy(cur_, p, n);
    cur_ += n;
  }
  void Raw(absl::string_view v) {
    if (!v.empty()) Raw(v.data(), v.size());  // a default string_view has no data to copy from
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Char(char c) {
    Ensure(1);
    *cur_++ = c;
  }
  // `v` as a JSON string: copied here while testing its bytes when nothing in it needs an
  // escape (the common case), else written again by AppendJsonString, the one escaper.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Str(absl::string_view v) {
    const size_t n = v.size();
    Ensure(n + 2);
    if (!JsonCopyPlain(cur_ + 1, v.data(), n)) return Escaped(v);
    cur_[0] = '"';
    cur_[n + 1] = '"';
    cur_ += n + 2;
  }
  void Int(int64_t v) {
    absl::AlphaNum a(v);  // formats into its own buffer, no allocation
    Raw(a.data(), a.size());
  }
  // Hands `f` the string holding exactly what was written, for writers of their own (a tree's
  // JSON); the cursor continues after what `f` appended.
  template <typename F>
  void WithString(F&& f) {
    s_.resize(Used());
    f(s_);
    const size_t used = s_.size();
    s_.resize(used + Room(used, 64));
    Reset(used);
  }

 private:
  size_t Used() const { return static_cast<size_t>(cur_ - s_.data()); }
  void Reset(size_t used) {
    cur_ = s_.data() + used;
    end_ = s_.data() + s_.size();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Ensure(size_t n) {
    if (static_cast<size_t>(end_ - cur_) < n) Grow(n);
  }
  ABSL_ATTRIBUTE_NOINLINE void Escaped(absl::string_view v) {
    WithString([v](std::string& s) { AppendJsonString(s, v); });
  }
  ABSL_ATTRIBUTE_NOINLINE void Grow(size_t n) {
    const size_t used = Used();
    s_.resize(used + Room(used, n));
    Reset(used);
  }
  // Room to make past the `used` bytes written, at least `n`: half of what this writer has
  // written, or up to 1 KiB of the string's spare capacity if that is more, so that growing is
  // amortized. Measured from where this writer started, not from the string's start: the string
  // can be a buffer of many lines (the decision log's) whose size is not this line's, and every
  // byte of room made is zeroed first.
  size_t Room(size_t used, size_t n) const {
    const size_t spare = s_.capacity() - used;
    return std::max({n, (used - start_) / 2, std::min<size_t>(spare, 1024)});
  }

  std::string& s_;
  const size_t start_;  // s_'s size when this writer started
  char* cur_;
  char* end_;
};

// A std::vector<std::string> or a PolicyIdList.
template <typename List>
void StringList(Writer& w, const List& list) {
  w.Char('[');
  bool first = true;
  for (const std::string& s : list) {
    if (!first) w.Char(',');
    first = false;
    w.Str(s);
  }
  w.Char(']');
}

// {"k":"v",...} of the string pairs `each` calls its argument with, in that order.
template <typename Each>
void StringObject(Writer& w, const Each& each) {
  w.Char('{');
  bool first = true;
  each([&w, &first](const std::string& k, const std::string& v) {
    if (!first) w.Char(',');
    first = false;
    w.Str(k);
    w.Char(':');
    w.Str(v);
  });
  w.Char('}');
}

void StringMap(Writer& w, const std::map<std::string, std::string>& m) {
  StringObject(w, [&m](const auto& f) {
    for (const auto& [k, v] : m) f(k, v);
  });
}

// Writes `,"name":` (or `"name":` for the first field of an object), tracking `first`.
template <size_t N>
void Key(Writer& w, bool& first, const char (&name)[N]) {
  if (!first) w.Char(',');
  first = false;
  w.Char('"');
  w.Lit(name);
  w.Lit("\":");
}

// proto3 JSON leaves default values out.
template <size_t N>
void StringField(Writer& w, bool& first, const char (&name)[N], absl::string_view v) {
  if (v.empty()) return;
  Key(w, first, name);
  w.Str(v);
}

template <size_t N>
void ListField(Writer& w, bool& first, const char (&name)[N], const std::vector<std::string>& v) {
  if (v.empty()) return;
  Key(w, first, name);
  StringList(w, v);
}

template <size_t N>
void MapField(Writer& w, bool& first, const char (&name)[N],
              const std::map<std::string, std::string>& v) {
  if (v.empty()) return;
  Key(w, first, name);
  StringMap(w, v);
}

bool EmptyPrincipal(const Principal& p) {
  return p.id.empty() && p.roles.empty() && p.groups.empty() && p.domain.empty() &&
         p.attributes.empty() && p.type.empty() && p.properties.is_null();
}

void Tree(Writer& w, const Value& v) {
  w.WithString([&v](std::string& s) { AppendJson(s, v); });
}

// A google.protobuf.Struct field: the object as JSON; absent when null.
template <size_t N>
void StructField(Writer& w, bool& first, const char (&name)[N], const Value& v) {
  if (!v.is_map()) return;
  Key(w, first, name);
  Tree(w, v);
}

template <size_t N>
void PrincipalField(Writer& w, bool& first, const char (&name)[N], const Principal& p) {
  if (EmptyPrincipal(p)) return;
  Key(w, first, name);
  w.Char('{');
  bool f = true;
  StringField(w, f, "id", p.id);
  ListField(w, f, "roles", p.roles);
  ListField(w, f, "groups", p.groups);
  StringField(w, f, "domain", p.domain);
  MapField(w, f, "attributes", p.attributes);
  StringField(w, f, "type", p.type);
  StructField(w, f, "properties", p.properties);
  w.Char('}');
}

// A batch's shared principal (EvalOptions::principal: one for all of its checks) as its lines
// write it (`"principal":{...}`), kept by each thread for its next line: the lines of a batch hold
// the same principal, now written once per batch rather than once per line (a principal is many
// strings; comparing them is a fraction of writing them). The kept JSON is used only when the
// principal equals the one it was written from in every field the line shows; one with properties
// (a JSON tree, whose == is not byte-exact: 1 == 1.0) is always written afresh.
struct KeptPrincipal {
  Principal principal;
  std::string json;  // PrincipalField's output, "" for an empty principal
  bool valid = false;
};

bool SameShownFields(const Principal& a, const Principal& b) {
  return a.id == b.id && a.roles == b.roles && a.groups == b.groups && a.domain == b.domain &&
         a.attributes == b.attributes && a.type == b.type && a.properties.is_null() &&
         b.properties.is_null();
}

void SharedPrincipalField(Writer& w, bool& first, const Principal& p) {
  if (!p.properties.is_null()) return PrincipalField(w, first, "principal", p);
  thread_local KeptPrincipal kept;
  if (!kept.valid || !SameShownFields(kept.principal, p)) {
    kept.valid = false;
    kept.json.clear();
    {
      Writer own(kept.json, 256);
      bool own_first = true;
      PrincipalField(own, own_first, "principal", p);
    }
    kept.principal = p;
    kept.valid = true;
  }
  if (kept.json.empty()) return;
  if (!first) w.Char(',');
  first = false;
  w.Raw(kept.json);
}

// A Document message holding the tree as a google.protobuf.Struct (a JSON object). Trees that
// are not maps cannot reach an evaluated request (the engine refuses them), but are written as
// their JSON anyway rather than dropped.
void Document(Writer& w, const Value& v) {
  w.Lit("{\"struct\":");
  Tree(w, v);
  w.Char('}');
}

template <size_t N>
void DocumentList(Writer& w, bool& first, const char (&name)[N], const std::vector<Value>& docs) {
  if (docs.empty()) return;
  Key(w, first, name);
  w.Char('[');
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) w.Char(',');
    Document(w, docs[i]);
  }
  w.Char(']');
}

void WriteRequest(Writer& w, const Request& request, const Principal* principal) {
  w.Char('{');
  bool first = true;
  if (const auto* a = std::get_if<AccessRequest>(&request)) {
    if (principal != nullptr) {
      SharedPrincipalField(w, first, *principal);
    } else {
      PrincipalField(w, first, "principal", a->principal);
    }
    StringField(w, first, "action", a->action);
    const ResourceRef& r = a->resource;
    if (!r.domain.empty() || !r.product.empty() || !r.table.empty() || !r.columns.empty() ||
        !r.type.empty() || !r.id.empty() || r.properties.is_map()) {
      Key(w, first, "resource");
      w.Char('{');
      bool f = true;
      StringField(w, f, "domain", r.domain);
      StringField(w, f, "product", r.product);
      StringField(w, f, "table", r.table);
      ListField(w, f, "columns", r.columns);
      StringField(w, f, "type", r.type);
      StringField(w, f, "id", r.id);
      StructField(w, f, "properties", r.properties);
      w.Char('}');
    }
    if (HasContextEntries(*a)) {  // req.context: the shared entries and the own
      Key(w, first, "context");
      StringObject(w, [a](const auto& f) { ForEachContextEntry(*a, f); });
    }
    StructField(w, first, "actionProperties", a->action_properties);
    StructField(w, first, "contextValues", a->context_values);
  } else if (const auto* p = std::get_if<ProductRequest>(&request)) {
    Key(w, first, "product");
    Document(w, p->product);
    StringField(w, first, "operation", p->operation);
    PrincipalField(w, first, "requester", p->requester);
  } else {
    const auto& d = std::get<DeploymentRequest>(request);
    Key(w, first, "product");
    Document(w, d.product);
    if (d.previous.has_value()) {
      Key(w, first, "previous");
      Document(w, *d.previous);
    }
    DocumentList(w, first, "contracts", d.contracts);
    DocumentList(w, first, "previousContracts", d.previous_contracts);
    StringField(w, first, "environment", d.environment);
    MapField(w, first, "pipeline", d.pipeline);
    PrincipalField(w, first, "requester", d.requester);
  }
  w.Char('}');
}

void WriteTime(Writer& w, absl::Time t) {
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
  w.Raw(cache.text, cache.len);
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
    w.Raw(frac, len);
  }
  w.Lit("+00:00");
}

// A decision's evaluated_policies as JSON, kept by each thread for its next decision: a server's
// decisions name a few lists (one per domain and kind of request: every check of a batch names
// the same), so a decision whose list has the kept one's entries copies its JSON instead of
// writing each id (~75 instructions an id: a CheckBatch line with the shipped bundle, eight ids,
// went from 4.36k to 3.87k). The kept list holds its table, so no other table can take its
// address meanwhile. It starts as the empty list of no table, a default Decision's.
struct KeptPolicyIds {
  PolicyIdList ids;
  std::string json = "[]";
};

void EvaluatedPolicies(Writer& w, const PolicyIdList& ids) {
  thread_local KeptPolicyIds kept;
  if (!kept.ids.SameEntries(ids)) {
    kept.json.clear();
    {
      Writer own(kept.json, 256);
      StringList(own, ids);
    }
    kept.ids = ids;
  }
  w.Raw(kept.json);
}

// The fields every decision object has, from ,"effect" to "faults" (see the header): shared by
// the log line and DecisionJson, so that the two cannot drift apart.
void DecisionFields(Writer& w, const Decision& d) {
  w.Lit(",\"effect\":\"");
  w.Raw(EffectName(d.effect));
  w.Lit("\",\"reasons\":[");
  for (size_t i = 0; i < d.reasons.size(); ++i) {
    const Reason& r = d.reasons[i];
    if (i > 0) w.Char(',');
    w.Lit("{\"policy_id\":");
    w.Str(r.policy_id);
    w.Lit(",\"origin\":");
    w.Str(r.origin);
    w.Lit(",\"effect\":\"");
    w.Raw(EffectName(r.effect));
    w.Lit("\",\"severity\":\"");
    w.Raw(SeverityName(r.severity));
    w.Lit("\",\"message\":");
    w.Str(r.message);
    w.Lit(",\"detail\":");
    w.Str(r.detail);
    if (!r.waiver.empty()) {  // only on waived denies, so other lines keep their shape
      w.Lit(",\"waiver\":");
      w.Str(r.waiver);
    }
    w.Char('}');
  }
  w.Lit("],\"obligations\":{\"column_masks\":[");
  for (size_t i = 0; i < d.obligations.column_masks.size(); ++i) {
    const ColumnMask& m = d.obligations.column_masks[i];
    if (i > 0) w.Char(',');
    w.Lit("{\"column\":");
    w.Str(m.column);
    w.Lit(",\"expression\":");
    w.Str(m.expression);
    w.Char('}');
  }
  w.Lit("],\"row_filters\":");
  StringList(w, d.obligations.row_filters);
  w.Lit("},\"bundle_revision\":");
  w.Str(d.bundle_revision);
  w.Lit(",\"domain\":");
  w.Str(d.domain);
  w.Lit(",\"evaluated_policies\":");
  EvaluatedPolicies(w, d.evaluated_policies);
  w.Lit(",\"overridden_policies\":");
  StringList(w, d.overridden_policies);
  w.Lit(",\"faults\":[");
  for (size_t i = 0; i < d.faults.size(); ++i) {
    if (i > 0) w.Char(',');
    w.Lit("{\"policy_id\":");
    w.Str(d.faults[i].policy_id);
    w.Lit(",\"type\":\"");
    w.Raw(PolicyFaultTypeName(d.faults[i].type));
    w.Lit("\"}");
  }
  w.Char(']');
}

// The log line, with the request written by `write_request` (the request itself, or its
// redacted JSON).
template <typename WriteRequest>
void Line(Writer& w, const Decision& d, Kind request_kind, WriteRequest&& write_request,
          absl::Time time, absl::Duration latency, const Caller& caller) {
  w.Lit("{\"decision_id\":");
  w.Str(d.decision_id);
  w.Lit(",\"time\":\"");
  WriteTime(w, time);
  w.Lit("\",\"kind\":\"");
  w.Raw(KindName(request_kind));
  w.Lit("\",\"request\":");
  write_request(w);
  DecisionFields(w, d);
  w.Lit(",\"latency_us\":");
  w.Int(absl::ToInt64Microseconds(latency));
  w.Lit(",\"caller\":{\"peer\":");
  w.Str(caller.peer);
  w.Lit(",\"identity\":");
  w.Str(caller.identity);
  w.Lit(",\"role\":");
  w.Str(caller.role);
  w.Lit(",\"claimed\":");
  w.Str(caller.claimed);
  w.Lit(",\"transport\":");
  w.Str(caller.transport);
  w.Lit("}}");
}

// Room made for a log line ahead: the size of this thread's previous line and a margin (lines
// of one server are much alike), so that a line is written without growing its buffer midway.
// At most 4 KiB: one big deployment must not make every later line's room big (a buffer that
// must grow for the room grows for good: the decision log keeps it while it holds the lines).
thread_local size_t last_line_size = 1536;

template <typename WriteRequest>
void LogLine(std::string& out, const Decision& d, Kind kind, WriteRequest&& write_request,
             absl::Time time, absl::Duration latency, const Caller& caller) {
  const size_t before = out.size();
  {
    Writer w(out, std::min<size_t>(last_line_size, 4096) + 64);
    Line(w, d, kind, write_request, time, latency, caller);
  }
  last_line_size = out.size() - before;
}

}  // namespace

std::string Quote(absl::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

void AppendRequest(std::string& out, const Request& request, const Principal* principal) {
  Writer w(out, 512);
  WriteRequest(w, request, principal);
}

void AppendTime(std::string& out, absl::Time t) {
  Writer w(out, 40);
  WriteTime(w, t);
}

void AppendDecisionLogLine(std::string& out, const Decision& d, const Request& request,
                           absl::Time time, absl::Duration latency, const Caller& caller,
                           const Principal* principal) {
  LogLine(
      out, d, KindOf(request), [&](Writer& w) { WriteRequest(w, request, principal); }, time,
      latency, caller);
}

void AppendDecisionLogLine(std::string& out, const Decision& d, Kind kind,
                           absl::string_view request_json, absl::Time time, absl::Duration latency,
                           const Caller& caller) {
  LogLine(
      out, d, kind, [&](Writer& w) { w.Raw(request_json); }, time, latency, caller);
}

std::string DecisionLogLine(const Decision& d, const Request& request, absl::Time time,
                            absl::Duration latency, const Caller& caller,
                            const Principal* principal) {
  std::string line;
  AppendDecisionLogLine(line, d, request, time, latency, caller, principal);
  return line;
}

std::string DecisionLogLine(const Decision& d, Kind kind, absl::string_view request_json,
                            absl::Time time, absl::Duration latency, const Caller& caller) {
  std::string line;
  AppendDecisionLogLine(line, d, kind, request_json, time, latency, caller);
  return line;
}

void AppendDecision(std::string& out, const Decision& d, Kind kind) {
  Writer w(out, 1024);
  w.Lit("{\"decision_id\":");
  w.Str(d.decision_id);
  w.Lit(",\"kind\":\"");
  w.Raw(KindName(kind));
  w.Char('"');
  DecisionFields(w, d);
  w.Lit(",\"defaulted\":");
  if (d.defaulted) {
    w.Lit("true");
  } else {
    w.Lit("false");
  }
  if (d.change.is_map()) {
    w.Lit(",\"change\":");
    Tree(w, d.change);
  }
  w.Char('}');
}

std::string DecisionJson(const Decision& d, Kind kind) {
  std::string out;
  AppendDecision(out, d, kind);
  return out;
}

}  // namespace arbiter::json

#include "service/server/decision_wire.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "grpc/slice.h"
#include "service/convert/convert.h"

namespace arbiter {
namespace {

// Wire types (protobuf encoding): varint and length-delimited.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kBytes = 2;

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes through a cursor into a buffer sized ahead (AppendDecisionWire computes the message's
// exact size first): std::string::push_back per byte, with its capacity check and out-of-line
// growth, was ~2k of the ~4.5k instructions of a typical decision.
class Cursor {
 public:
  explicit Cursor(char* p) : p_(p) {}
  char* end() const { return p_; }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<char>(v);
  }
  // Field numbers below 16 take one tag byte, all this message uses.
  void Tag(uint32_t field, uint32_t type) { *p_++ = static_cast<char>(field << 3 | type); }
  void Bytes(absl::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // proto3: empty strings, zero enums and false are not written.
  void String(uint32_t field, absl::string_view s) {
    if (s.empty()) return;
    RepeatedString(field, s);
  }
  void RepeatedString(uint32_t field, absl::string_view s) {  // keeps empty elements
    Tag(field, kBytes);
    Varint(s.size());
    Bytes(s);
  }
  void Enum(uint32_t field, int v) {
    if (v == 0) return;
    Tag(field, kVarint);
    Varint(static_cast<uint64_t>(static_cast<int64_t>(v)));
  }
  void True(uint32_t field) {
    Tag(field, kVarint);
    *p_++ = 1;
  }

 private:
  char* p_;
};

size_t StringSize(absl::string_view s) { return 1 + VarintSize(s.size()) + s.size(); }

size_t EnumSize(int v) { return v == 0 ? 0 : 1 + VarintSize(static_cast<uint64_t>(int64_t{v})); }

size_t OptStringSize(absl::string_view s) { return s.empty() ? 0 : StringSize(s); }

int EffectNumber(Effect e) { return e == Effect::kAllow ? v1::EFFECT_ALLOW : v1::EFFECT_DENY; }

size_t ReasonSize(const Reason& r) {
  return OptStringSize(r.policy_id) + OptStringSize(r.origin) + EnumSize(EffectNumber(r.effect)) +
         EnumSize(SeverityToProto(r.severity)) + OptStringSize(r.message) +
         OptStringSize(r.detail) + OptStringSize(PolicyModeName(r.mode)) + (r.obligation ? 2 : 0) +
         OptStringSize(r.waiver);
}

size_t MaskSize(const ColumnMask& m) {
  return OptStringSize(m.column) + OptStringSize(m.expression);
}

size_t ObligationsSize(const Obligations& o) {
  size_t size = 0;
  for (const ColumnMask& m : o.column_masks) {
    const size_t n = MaskSize(m);
    size += 1 + VarintSize(n) + n;
  }
  for (const std::string& f : o.row_filters) {
    const size_t n = OptStringSize(f);
    size += 1 + VarintSize(n) + n;
  }
  return size;
}

// The size of the message AppendDecisionWire writes (without `change`).
size_t DecisionSize(const Decision& d, absl::string_view explain) {
  size_t size = OptStringSize(d.decision_id) + EnumSize(EffectNumber(d.effect));
  for (const Reason& r : d.reasons) {
    const size_t n = ReasonSize(r);
    size += 1 + VarintSize(n) + n;
  }
  if (!d.obligations.empty()) {
    const size_t n = ObligationsSize(d.obligations);
    size += 1 + VarintSize(n) + n;
  }
  size += OptStringSize(d.bundle_revision);
  for (const std::string& p : d.evaluated_policies) size += StringSize(p);
  for (const std::string& p : d.overridden_policies) size += StringSize(p);
  size += OptStringSize(d.domain) + (d.defaulted ? 2 : 0) + OptStringSize(explain);
  return size;
}

}  // namespace

void AppendMessageField(int field, absl::string_view message, std::string& out) {
  const size_t used = out.size();
  out.resize(used + 1 + VarintSize(message.size()) + message.size());
  Cursor c(out.data() + used);
  c.RepeatedString(static_cast<uint32_t>(field), message);
}

namespace {

// Writes the message DecisionSize(d, explain) measured at `out`; returns the end of what it
// wrote.
char* WriteDecision(const Decision& d, absl::string_view explain, char* out) {
  Cursor c(out);
  c.String(1, d.decision_id);
  c.Enum(2, EffectNumber(d.effect));
  for (const Reason& r : d.reasons) {
    c.Tag(3, kBytes);
    c.Varint(ReasonSize(r));
    c.String(1, r.policy_id);
    c.String(2, r.origin);
    c.Enum(3, EffectNumber(r.effect));
    c.Enum(4, SeverityToProto(r.severity));
    c.String(5, r.message);
    c.String(6, r.detail);
    c.String(7, PolicyModeName(r.mode));
    if (r.obligation) c.True(8);
    c.String(9, r.waiver);
  }
  if (!d.obligations.empty()) {
    c.Tag(4, kBytes);
    c.Varint(ObligationsSize(d.obligations));
    for (const ColumnMask& m : d.obligations.column_masks) {
      c.Tag(1, kBytes);
      c.Varint(MaskSize(m));
      c.String(1, m.column);
      c.String(2, m.expression);
    }
    for (const std::string& f : d.obligations.row_filters) {
      c.Tag(2, kBytes);
      c.Varint(OptStringSize(f));
      c.String(1, f);
    }
  }
  c.String(5, d.bundle_revision);
  for (const std::string& p : d.evaluated_policies) c.RepeatedString(6, p);
  for (const std::string& p : d.overridden_policies) c.RepeatedString(7, p);
  c.String(8, d.domain);
  if (d.defaulted) c.True(10);
  c.String(15, explain);
  return c.end();
}

// Deployments with `change` (a google.protobuf.Struct) are protobuf's own.
void AppendViaProto(const Decision& d, absl::string_view explain, std::string& out) {
  v1::Decision message;
  ToProto(d, &message);
  if (!explain.empty()) message.set_explain(std::string(explain));
  message.AppendToString(&out);
}

}  // namespace

void AppendDecisionWire(const Decision& d, absl::string_view explain, std::string& out) {
  if (d.change.is_map()) return AppendViaProto(d, explain, out);
  const size_t used = out.size();
  out.resize(used + DecisionSize(d, explain));
  // The size computed ahead is exact (the test compares with protobuf's bytes); were it ever
  // not, the cursor would have written past the buffer, so fail loudly rather than send junk.
  if (WriteDecision(d, explain, out.data() + used) != out.data() + out.size()) std::abort();
}

void AppendDecisionField(int field, const Decision& d, absl::string_view explain,
                         std::string& out) {
  if (d.change.is_map()) {
    std::string message;
    AppendViaProto(d, explain, message);
    AppendMessageField(field, message, out);
    return;
  }
  const size_t size = DecisionSize(d, explain);
  const size_t used = out.size();
  out.resize(used + 1 + VarintSize(size) + size);
  Cursor c(out.data() + used);
  c.Tag(static_cast<uint32_t>(field), kBytes);
  c.Varint(size);
  if (WriteDecision(d, explain, c.end()) != out.data() + out.size()) std::abort();  // as above
}

grpc::Slice DecisionWireSlice(const Decision& d, absl::string_view explain) {
  if (d.change.is_map()) {
    std::string bytes;
    AppendViaProto(d, explain, bytes);
    return grpc::Slice(bytes);
  }
  const size_t size = DecisionSize(d, explain);
  grpc_slice slice = grpc_slice_malloc(size);
  char* start = reinterpret_cast<char*>(GRPC_SLICE_START_PTR(slice));
  if (WriteDecision(d, explain, start) != start + size) std::abort();  // as above
  return grpc::Slice(slice, grpc::Slice::STEAL_REF);
}

}  // namespace arbiter

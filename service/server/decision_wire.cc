#include "service/server/decision_wire.h"

#include <cstdint>

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

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, uint32_t field, uint32_t type) { PutVarint(out, field << 3 | type); }

// Field numbers below 16 take one tag byte, all this message uses.
size_t StringSize(absl::string_view s) { return 1 + VarintSize(s.size()) + s.size(); }

// proto3: empty strings, zero enums and false are not written.
void PutString(std::string& out, uint32_t field, absl::string_view s) {
  if (s.empty()) return;
  PutTag(out, field, kBytes);
  PutVarint(out, s.size());
  out.append(s.data(), s.size());
}

void PutRepeatedString(std::string& out, uint32_t field, absl::string_view s) {
  PutTag(out, field, kBytes);  // repeated strings keep their empty elements
  PutVarint(out, s.size());
  out.append(s.data(), s.size());
}

void PutEnum(std::string& out, uint32_t field, int v) {
  if (v == 0) return;
  PutTag(out, field, kVarint);
  PutVarint(out, static_cast<uint64_t>(static_cast<int64_t>(v)));
}

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

}  // namespace

void AppendMessageField(int field, absl::string_view message, std::string& out) {
  PutRepeatedString(out, static_cast<uint32_t>(field), message);
}

void AppendDecisionWire(const Decision& d, absl::string_view explain, std::string& out) {
  if (d.change.is_map()) {  // deployments: the Struct is protobuf's own
    v1::Decision message;
    ToProto(d, &message);
    if (!explain.empty()) message.set_explain(std::string(explain));
    message.AppendToString(&out);
    return;
  }
  PutString(out, 1, d.decision_id);
  PutEnum(out, 2, EffectNumber(d.effect));
  for (const Reason& r : d.reasons) {
    PutTag(out, 3, kBytes);
    PutVarint(out, ReasonSize(r));
    PutString(out, 1, r.policy_id);
    PutString(out, 2, r.origin);
    PutEnum(out, 3, EffectNumber(r.effect));
    PutEnum(out, 4, SeverityToProto(r.severity));
    PutString(out, 5, r.message);
    PutString(out, 6, r.detail);
    PutString(out, 7, PolicyModeName(r.mode));
    if (r.obligation) {
      PutTag(out, 8, kVarint);
      out.push_back(1);
    }
    PutString(out, 9, r.waiver);
  }
  if (!d.obligations.empty()) {
    size_t size = 0;
    for (const ColumnMask& m : d.obligations.column_masks) {
      size_t n = MaskSize(m);
      size += 1 + VarintSize(n) + n;
    }
    for (const std::string& f : d.obligations.row_filters) {
      size_t n = OptStringSize(f);
      size += 1 + VarintSize(n) + n;
    }
    PutTag(out, 4, kBytes);
    PutVarint(out, size);
    for (const ColumnMask& m : d.obligations.column_masks) {
      PutTag(out, 1, kBytes);
      PutVarint(out, MaskSize(m));
      PutString(out, 1, m.column);
      PutString(out, 2, m.expression);
    }
    for (const std::string& f : d.obligations.row_filters) {
      PutTag(out, 2, kBytes);
      PutVarint(out, OptStringSize(f));
      PutString(out, 1, f);
    }
  }
  PutString(out, 5, d.bundle_revision);
  for (const std::string& p : d.evaluated_policies) PutRepeatedString(out, 6, p);
  for (const std::string& p : d.overridden_policies) PutRepeatedString(out, 7, p);
  PutString(out, 8, d.domain);
  if (d.defaulted) {
    PutTag(out, 10, kVarint);
    out.push_back(1);
  }
  PutString(out, 15, explain);
}

}  // namespace arbiter

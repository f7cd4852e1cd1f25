#include "service/convert/access_wire.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "google/protobuf/stubs/common.h"

namespace arbiter {
namespace {

// One-byte tags (field << 3 | wire type) of the fields decoded here; every field of these
// messages is numbered below 16, so a canonical tag is one byte. Any other tag byte (another
// field, another wire type, a multi-byte or zero tag) declines the message.
constexpr uint8_t Tag(int field, int wire_type) {
  return static_cast<uint8_t>(field << 3 | wire_type);
}
constexpr int kVarint = 0;
constexpr int kBytes = 2;

// Strings must be valid UTF-8 (proto3's parser refuses the message otherwise): ASCII is, else
// protobuf's own check decides, so that both accept the same strings.
bool ValidUtf8(const char* p, size_t n) {
  size_t i = 0;
  uint64_t high = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    high |= w;
  }
  for (; i < n; ++i) high |= static_cast<uint8_t>(p[i]);
  if ((high & 0x8080808080808080ULL) == 0) return true;
  return google::protobuf::internal::IsStructurallyValidUTF8(p, static_cast<int>(n));
}

class Reader {
 public:
  explicit Reader(absl::string_view bytes)
      : p_(reinterpret_cast<const uint8_t*>(bytes.data())), end_(p_ + bytes.size()) {}

  bool done() const { return p_ == end_; }

  // The next tag: one byte below 0x80 (see Tag); 0 (never a valid tag) when it is not.
  uint8_t NextTag() {
    const uint8_t t = *p_++;
    return t < 0x80 ? t : 0;
  }

  // A length-delimited field's bytes. Lengths of up to four varint bytes (256 MiB), which
  // protobuf reads the same; a longer encoding declines.
  bool Bytes(absl::string_view& out) {
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) {
      if (p_ == end_) return false;
      const uint8_t b = *p_++;
      n |= static_cast<uint32_t>(b & 0x7f) << (7 * i);
      if (b < 0x80) {
        if (static_cast<size_t>(end_ - p_) < n) return false;
        out = absl::string_view(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return true;
      }
    }
    return false;
  }

  bool String(std::string& out) {
    absl::string_view s;
    if (!Bytes(s) || !ValidUtf8(s.data(), s.size())) return false;
    out.assign(s.data(), s.size());
    return true;
  }

  bool AddString(std::vector<std::string>& out) {
    absl::string_view s;
    if (!Bytes(s) || !ValidUtf8(s.data(), s.size())) return false;
    out.emplace_back(s.data(), s.size());
    return true;
  }

  // A bool: a one-byte varint (what every encoder writes); longer ones decline.
  bool Bool(bool& out) {
    if (p_ == end_ || *p_ >= 0x80) return false;
    out = *p_++ != 0;
    return true;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// How many fields of each number (below 16) `bytes` holds, counted over its length-delimited
// fields up to the first of another wire type (or bad bytes, which the decoding then declines):
// lists are sized once rather than grown a field at a time (three columns were three
// allocations and two moves).
struct FieldCounts {
  explicit FieldCounts(absl::string_view bytes) {
    Reader r(bytes);
    absl::string_view skipped;
    while (!r.done()) {
      const uint8_t t = r.NextTag();
      if ((t & 7) != kBytes || !r.Bytes(skipped)) break;
      ++of[t >> 3];
    }
  }
  void Reserve(std::vector<std::string>& list, int field) const {
    if (of[field] > 1) list.reserve(list.size() + of[field]);
  }
  size_t of[16] = {};
};

// A map<string, string> entry (key = 1, value = 2, either may be absent: ""); a later entry of
// the same key replaces an earlier one, as in protobuf's map.
bool MapEntry(absl::string_view bytes, std::map<std::string, std::string>& out) {
  Reader r(bytes);
  absl::string_view key, value;
  while (!r.done()) {
    switch (r.NextTag()) {
      // Each occurrence is checked, not only the last: protobuf refuses an entry with an
      // invalid string even when a later occurrence replaces it (found by access_wire_fuzz).
      case Tag(1, kBytes):
        if (!r.Bytes(key) || !ValidUtf8(key.data(), key.size())) return false;
        break;
      case Tag(2, kBytes):
        if (!r.Bytes(value) || !ValidUtf8(value.data(), value.size())) return false;
        break;
      default:
        return false;
    }
  }
  out.insert_or_assign(std::string(key), std::string(value));
  return true;
}

// arbiter.v1.Principal, merged into `out` (as protobuf merges a repeated occurrence of a
// message field: strings replaced, lists and maps added to).
bool DecodePrincipal(absl::string_view bytes, Principal& out) {
  const FieldCounts counts(bytes);
  counts.Reserve(out.roles, 2);
  counts.Reserve(out.groups, 3);
  Reader r(bytes);
  absl::string_view entry;
  while (!r.done()) {
    switch (r.NextTag()) {
      case Tag(1, kBytes):
        if (!r.String(out.id)) return false;
        break;
      case Tag(2, kBytes):
        if (!r.AddString(out.roles)) return false;
        break;
      case Tag(3, kBytes):
        if (!r.AddString(out.groups)) return false;
        break;
      case Tag(4, kBytes):
        if (!r.String(out.domain)) return false;
        break;
      case Tag(5, kBytes):
        if (!r.Bytes(entry) || !MapEntry(entry, out.attributes)) return false;
        break;
      case Tag(6, kBytes):
        if (!r.String(out.type)) return false;
        break;
      default:  // 7, properties (a Struct), or not this message's
        return false;
    }
  }
  return true;
}

bool DecodeResource(absl::string_view bytes, ResourceRef& out) {
  FieldCounts(bytes).Reserve(out.columns, 4);
  Reader r(bytes);
  while (!r.done()) {
    switch (r.NextTag()) {
      case Tag(1, kBytes):
        if (!r.String(out.domain)) return false;
        break;
      case Tag(2, kBytes):
        if (!r.String(out.product)) return false;
        break;
      case Tag(3, kBytes):
        if (!r.String(out.table)) return false;
        break;
      case Tag(4, kBytes):
        if (!r.AddString(out.columns)) return false;
        break;
      case Tag(5, kBytes):
        if (!r.String(out.type)) return false;
        break;
      case Tag(6, kBytes):
        if (!r.String(out.id)) return false;
        break;
      default:  // 7, properties (a Struct), or not this message's
        return false;
    }
  }
  return true;
}

// What a batch's first request lends the others: its principal's bytes (when it had exactly
// one principal field) and their decoded value.
struct PrincipalRef {
  absl::string_view bytes;
  const Principal* value = nullptr;
};

struct AccessInfo {
  bool explain = false;
  int principal_fields = 0;
  absl::string_view principal_bytes;  // the first principal field's
  // The request's only principal field had `ref`'s bytes and was not decoded: its principal is
  // ref's (left empty in the request).
  bool principal_is_ref = false;
};

bool DecodeAccess(absl::string_view bytes, AccessRequest& out, AccessInfo& info,
                  const PrincipalRef* ref) {
  Reader r(bytes);
  absl::string_view sub;
  while (!r.done()) {
    switch (r.NextTag()) {
      case Tag(1, kBytes):
        if (!r.Bytes(sub)) return false;
        if (++info.principal_fields == 1) {
          info.principal_bytes = sub;
          if (ref != nullptr && sub == ref->bytes) {
            info.principal_is_ref = true;
            break;
          }
        } else if (info.principal_is_ref) {
          // A second principal field merges into the first: that one is needed after all.
          out.principal = *ref->value;
          info.principal_is_ref = false;
        }
        if (!DecodePrincipal(sub, out.principal)) return false;
        break;
      case Tag(2, kBytes):
        if (!r.String(out.action)) return false;
        break;
      case Tag(3, kBytes):
        if (!r.Bytes(sub) || !DecodeResource(sub, out.resource)) return false;
        break;
      case Tag(4, kBytes):
        if (!r.Bytes(sub) || !MapEntry(sub, out.context)) return false;
        break;
      case Tag(15, kVarint):
        if (!r.Bool(info.explain)) return false;
        break;
      default:  // 5 and 6 (Structs), or not this message's
        return false;
    }
  }
  return true;
}

}  // namespace

bool AccessRequestFromWire(absl::string_view bytes, AccessRequest& out, bool& explain) {
  AccessInfo info;
  if (!DecodeAccess(bytes, out, info, nullptr)) return false;
  explain = info.explain;
  return true;
}

bool CheckBatchFromWire(absl::string_view bytes, WireBatch& out) {
  // Sized once: a request moved at each growth of the list costs more than the count.
  const size_t items = FieldCounts(bytes).of[1];
  out.requests.reserve(items);
  out.explain.reserve(items);
  Reader r(bytes);
  absl::string_view item;
  PrincipalRef ref;
  std::vector<size_t> lent;  // the requests after the first whose principal is the first one's
  while (!r.done()) {
    switch (r.NextTag()) {
      case Tag(1, kBytes): {
        if (!r.Bytes(item)) return false;
        AccessRequest& request = out.requests.emplace_back();
        // `requests` may have moved as it grew.
        if (ref.value != nullptr) ref.value = &out.requests[0].principal;
        AccessInfo info;
        if (!DecodeAccess(item, request, info, ref.value != nullptr ? &ref : nullptr)) {
          return false;
        }
        out.explain.push_back(info.explain);
        if (out.requests.size() == 1) {
          if (info.principal_fields == 1) ref = {info.principal_bytes, &out.requests[0].principal};
        } else if (info.principal_is_ref) {
          lent.push_back(out.requests.size() - 1);
        }
        break;
      }
      case Tag(15, kVarint):
        if (!r.Bool(out.explain_all)) return false;
        break;
      default:
        return false;
    }
  }
  if (ref.value == nullptr) return true;
  if (lent.size() + 1 == out.requests.size()) {
    out.shared_principal = std::move(out.requests[0].principal);
    out.requests[0].principal = Principal();
    return true;
  }
  for (size_t i : lent) out.requests[i].principal = out.requests[0].principal;
  return true;
}

}  // namespace arbiter

#include "service/value/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "service/value/json_escape.h"

namespace arbiter {
namespace {

// The process-wide table of source names behind SourcePos::file. Append-only and bounded, so an
// id handed out stays valid for the life of the process.
struct SourceFiles {
  static constexpr size_t kMaxNames = 4096;
  static constexpr size_t kMaxNameBytes = 512;
  std::mutex mu;
  std::vector<std::string> names{""};  // id 0: no file
  absl::flat_hash_map<std::string, uint16_t> ids;
};

SourceFiles& Files() {
  static SourceFiles* files = new SourceFiles();
  return *files;
}

constexpr bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

}  // namespace

Value Value::Shared(std::shared_ptr<const Value> target) {
  Value v;
  v.v_ = std::move(target);
  return v;
}

const Value& Value::SharedTarget() const {
  // type() is the variant's index, and Get() tests for kSharedIndex: the enumerators and the
  // alternatives must stay in this order.
  using V = decltype(v_);
  static_assert(static_cast<size_t>(Type::kNull) == 0 && static_cast<size_t>(Type::kBool) == 1 &&
                static_cast<size_t>(Type::kInt) == 2 && static_cast<size_t>(Type::kDouble) == 3 &&
                static_cast<size_t>(Type::kString) == 4 && static_cast<size_t>(Type::kList) == 5 &&
                static_cast<size_t>(Type::kMap) == 6);
  static_assert(
      std::is_same_v<std::variant_alternative_t<4, V>, std::string> &&
      std::is_same_v<std::variant_alternative_t<5, V>, List> &&
      std::is_same_v<std::variant_alternative_t<6, V>, Map> &&
      std::is_same_v<std::variant_alternative_t<kSharedIndex, V>, std::shared_ptr<const Value>> &&
      std::variant_size_v<V> == kSharedIndex + 1);
  const Value* v = this;
  while (const auto* p = std::get_if<std::shared_ptr<const Value>>(&v->v_)) v = p->get();
  return *v;
}

double Value::as_double() const {
  const Value& v = Get();
  if (const auto* i = std::get_if<int64_t>(&v.v_)) return static_cast<double>(*i);
  return std::get<double>(v.v_);
}

// Views and helpers look keys up in small maps many times per decision. A key of another length
// or first byte is passed over without a call to memcmp, which the few keys of a map's common
// lengths ("id", "name", "type", "domain") would otherwise each cost.
const Value* Value::Find(absl::string_view key) const {
  const auto* m = std::get_if<Map>(&Get().v_);
  if (m == nullptr) return nullptr;
  const size_t n = key.size();
  if (n == 0) {
    for (const auto& [k, v] : *m) {
      if (k.empty()) return &v;
    }
    return nullptr;
  }
  const char first = key[0];
  for (const auto& [k, v] : *m) {
    if (k.size() == n && k[0] == first && std::memcmp(k.data() + 1, key.data() + 1, n - 1) == 0) {
      return &v;
    }
  }
  return nullptr;
}

const Value* Value::FindPath(std::initializer_list<absl::string_view> path) const {
  const Value* v = this;
  for (absl::string_view key : path) {
    v = v->Find(key);
    if (v == nullptr) return nullptr;
  }
  return v;
}

std::string Value::GetString(absl::string_view key, absl::string_view fallback) const {
  const Value* v = Find(key);
  if (v == nullptr || !v->is_string()) return std::string(fallback);
  return v->as_string();
}

Value& Value::Set(std::string key, Value v) {
  if (std::holds_alternative<std::monostate>(v_)) v_ = Map{};
  Map& m = std::get<Map>(v_);
  for (auto& [k, existing] : m) {
    if (k == key) {
      existing = std::move(v);
      return existing;
    }
  }
  m.emplace_back(std::move(key), std::move(v));
  return m.back().second;
}

Value& Value::Append(Value v) {
  if (std::holds_alternative<std::monostate>(v_)) v_ = List{};
  List& l = std::get<List>(v_);
  l.push_back(std::move(v));
  return l.back();
}

size_t Value::size() const {
  const Value& v = Get();
  if (const auto* l = std::get_if<List>(&v.v_)) return l->size();
  if (const auto* m = std::get_if<Map>(&v.v_)) return m->size();
  return 0;
}

bool operator==(const Value& a, const Value& b) {
  const Value& x = a.Get();
  const Value& y = b.Get();
  if (x.is_number() && y.is_number()) {
    if (x.is_int() && y.is_int()) return x.as_int() == y.as_int();
    return x.as_double() == y.as_double();
  }
  if (x.type() != y.type()) return false;
  switch (x.type()) {
    case Value::Type::kNull:
      return true;
    case Value::Type::kBool:
      return x.as_bool() == y.as_bool();
    case Value::Type::kString:
      return x.as_string() == y.as_string();
    case Value::Type::kList:
      return x.as_list() == y.as_list();
    case Value::Type::kMap:
      return x.as_map() == y.as_map();
    default:
      return false;
  }
}

std::string Value::ToJson() const {
  std::string out;
  AppendJson(out, *this);
  return out;
}

namespace {

// The index of the first byte at or after `i` that needs an escape (`n` when none does). Log
// lines are mostly such bytes, so they are tested a word at a time (the first in memory is the
// lowest byte, little-endian); the last word of a run overlaps bytes already found plain, which
// cannot borrow, rather than testing the tail byte by byte.
size_t FirstEscape(const char* p, size_t i, size_t n) {
#ifdef __SSE2__
  // Sixteen bytes at a time where SSE2 is (every x86-64): an exact test per byte, so the last
  // block may overlap plain bytes freely.
  if (n - i >= 16) {
    const auto escapes = [](const char* at) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
      const __m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
      const __m128i backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
      return static_cast<unsigned>(
          _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash))));
    };
    for (; i + 16 <= n; i += 16) {
      if (unsigned hit = escapes(p + i); hit != 0) return i + __builtin_ctz(hit);
    }
    if (i == n) return n;
    unsigned hit = escapes(p + n - 16);
    return hit != 0 ? n - 16 + __builtin_ctz(hit) : n;
  }
#endif
  if constexpr (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
    if (n - i >= 8) {
      uint64_t w;
      for (; i + 8 <= n; i += 8) {
        std::memcpy(&w, p + i, 8);
        if (uint64_t hit = JsonEscapeBits(w); hit != 0) return i + (__builtin_ctzll(hit) >> 3);
      }
      if (i == n) return n;
      std::memcpy(&w, p + n - 8, 8);
      uint64_t hit = JsonEscapeBits(w);
      return hit != 0 ? n - 8 + (__builtin_ctzll(hit) >> 3) : n;
    }
    if (n - i >= 4) {
      uint32_t w;
      std::memcpy(&w, p + i, 4);
      if (uint32_t hit = JsonEscapeBits(w); hit != 0) return i + (__builtin_ctz(hit) >> 3);
      std::memcpy(&w, p + n - 4, 4);
      uint32_t hit = JsonEscapeBits(w);
      return hit != 0 ? n - 4 + (__builtin_ctz(hit) >> 3) : n;
    }
  }
  while (i < n && !NeedsEscape(static_cast<unsigned char>(p[i]))) ++i;
  return i;
}

}  // namespace

size_t JsonPlainPrefix(absl::string_view s) { return FirstEscape(s.data(), 0, s.size()); }

// Runs of bytes that need no escape are copied at once, straight into the string's buffer: a
// log line is some forty strings, mostly without a byte to escape.
void AppendJsonString(std::string& out, absl::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  size_t i = FirstEscape(p, 0, n);
  const size_t old = out.size();
  if (i == n) {
    out.resize(old + n + 2);
    char* d = out.data() + old;
    d[0] = '"';
    if (n > 0) std::memcpy(d + 1, p, n);
    d[n + 1] = '"';
    return;
  }
  out.reserve(old + n + 8);
  out.push_back('"');
  out.append(p, i);
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(p[i++]);
    switch (c) {
      case '"':
        out.append("\\\"", 2);
        break;
      case '\\':
        out.append("\\\\", 2);
        break;
      case '\n':
        out.append("\\n", 2);
        break;
      case '\r':
        out.append("\\r", 2);
        break;
      case '\t':
        out.append("\\t", 2);
        break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(buf, 6);
      }
    }
    const size_t run = i;
    i = FirstEscape(p, i, n);
    out.append(p + run, i - run);
  }
  out.push_back('"');
}

namespace {

// The one JSON writer of a tree. Bounded, it stops once `out` reaches `cap` bytes and cuts long
// strings (keys included) to the room left, so everything it appended is a prefix of the whole
// JSON: the caller cuts `out` back to `cap`. Unbounded, the checks compile away.
template <bool kBounded>
void AppendJsonUpTo(std::string& out, const Value& v, size_t cap) {
  auto room = [&out, cap] { return cap - std::min(out.size(), cap); };
  switch (v.type()) {
    case Value::Type::kNull:
      out.append("null", 4);
      break;
    case Value::Type::kBool:
      out.append(v.as_bool() ? "true" : "false");
      break;
    case Value::Type::kInt:
      absl::StrAppend(&out, v.as_int());
      break;
    case Value::Type::kDouble: {
      double d = v.as_double();
      if (!std::isfinite(d)) {
        out.append("null", 4);
      } else {
        char buf[32];
        int n = std::snprintf(buf, sizeof buf, "%.17g", d);
        out.append(buf, static_cast<size_t>(n));
      }
      break;
    }
    case Value::Type::kString:
      // Escapes are per byte, so the JSON of the string's first `room` bytes, less its closing
      // quote (which lands past the cap), is a prefix of the whole string's.
      AppendJsonString(out, kBounded ? absl::string_view(v.as_string()).substr(0, room())
                                     : absl::string_view(v.as_string()));
      break;
    case Value::Type::kList: {
      out.push_back('[');
      bool first = true;
      for (const Value& e : v.as_list()) {
        if (kBounded && room() == 0) return;
        if (!first) out.push_back(',');
        first = false;
        AppendJsonUpTo<kBounded>(out, e, cap);
      }
      out.push_back(']');
      break;
    }
    case Value::Type::kMap: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, e] : v.as_map()) {
        if (kBounded && room() == 0) return;
        if (!first) out.push_back(',');
        first = false;
        AppendJsonString(out,
                         kBounded ? absl::string_view(k).substr(0, room()) : absl::string_view(k));
        if (kBounded && room() == 0) return;
        out.push_back(':');
        AppendJsonUpTo<kBounded>(out, e, cap);
      }
      out.push_back('}');
      break;
    }
  }
}

}  // namespace

void AppendJson(std::string& out, const Value& v) { AppendJsonUpTo<false>(out, v, 0); }

void AppendJsonPrefix(std::string& out, const Value& v, size_t cap) {
  if (out.size() >= cap) return;
  AppendJsonUpTo<true>(out, v, cap);
  if (out.size() > cap) out.resize(cap);
}

uint16_t SourceFileId(absl::string_view name) {
  if (name.empty() || name.size() > SourceFiles::kMaxNameBytes) return 0;
  SourceFiles& f = Files();
  std::lock_guard<std::mutex> lock(f.mu);
  if (auto it = f.ids.find(name); it != f.ids.end()) return it->second;
  if (f.names.size() > SourceFiles::kMaxNames) return 0;
  uint16_t id = static_cast<uint16_t>(f.names.size());
  f.names.emplace_back(name);
  f.ids.emplace(std::string(name), id);
  return id;
}

std::string SourceFileName(uint16_t id) {
  SourceFiles& f = Files();
  std::lock_guard<std::mutex> lock(f.mu);
  return id < f.names.size() ? f.names[id] : std::string();
}

std::string SourcePos::FileLine() const {
  std::string name = SourceFileName(file);
  return name.empty() ? absl::StrCat(line) : absl::StrCat(name, ":", line);
}

SourcePos Value::pos() const {
  if (line_col_ == 0) {
    if (const auto* p = std::get_if<std::shared_ptr<const Value>>(&v_)) return (*p)->pos();
    return SourcePos{};
  }
  return SourcePos{file_, static_cast<int>(line_col_ >> kColumnBits),
                   static_cast<int>(line_col_ & kMaxColumn)};
}

void Value::set_pos(uint16_t file, int line, int column) {
  uint32_t l = line <= 0 ? 0 : std::min<uint32_t>(static_cast<uint32_t>(line), kMaxLine);
  uint32_t c = column <= 0 ? 0 : std::min<uint32_t>(static_cast<uint32_t>(column), kMaxColumn);
  file_ = file;
  line_col_ = l == 0 ? 0 : (l << kColumnBits | c);
}

}  // namespace arbiter

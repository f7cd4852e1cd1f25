#include "service/engine/policy_lint.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "service/engine/lua_sandbox.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

namespace arbiter {
namespace {

// --- A Lua tokenizer: enough to find calls, table constructors and blocks. ---

struct Token {
  enum class Kind { kName, kString, kNumber, kSymbol };
  Kind kind;
  std::string text;  // a string token's text is its contents (escapes not decoded)
  int line;
};

// Length of the long bracket opening at s[i] ("[[", "[==["), or 0.
size_t LongBracket(absl::string_view s, size_t i, int* level) {
  if (i >= s.size() || s[i] != '[') return 0;
  size_t j = i + 1;
  while (j < s.size() && s[j] == '=') ++j;
  if (j < s.size() && s[j] == '[') {
    *level = static_cast<int>(j - i - 1);
    return j - i + 1;
  }
  return 0;
}

// Skips a long string or comment body after its opening bracket; returns the index after it.
size_t SkipLong(absl::string_view s, size_t i, int level, int* line) {
  std::string close = absl::StrCat("]", std::string(static_cast<size_t>(level), '='), "]");
  size_t end = s.find(close, i);
  if (end == absl::string_view::npos) end = s.size();
  *line += static_cast<int>(
      std::count(s.begin() + static_cast<long>(i), s.begin() + static_cast<long>(end), '\n'));
  return std::min(s.size(), end + close.size());
}

std::vector<Token> Tokenize(absl::string_view s) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  static const char* const kMulti[] = {"...", "..", "==", "~=", "<=", ">=", "<<", ">>", "//", "::"};
  while (i < s.size()) {
    char c = s[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      int level;
      if (size_t n = LongBracket(s, i + 2, &level); n > 0) {
        i = SkipLong(s, i + 2 + n, level, &line);
      } else {
        while (i < s.size() && s[i] != '\n') ++i;
      }
    } else if (c == '"' || c == '\'') {
      int start_line = line;
      size_t j = i + 1;
      while (j < s.size() && s[j] != c && s[j] != '\n') {
        if (s[j] == '\\' && j + 1 < s.size()) {
          if (s[j + 1] == '\n') ++line;
          ++j;
        }
        ++j;
      }
      out.push_back({Token::Kind::kString, std::string(s.substr(i + 1, j - i - 1)), start_line});
      i = j + 1;
    } else if (int level; c == '[' && LongBracket(s, i, &level) > 0) {
      int start_line = line;
      size_t body = i + LongBracket(s, i, &level);
      size_t end = SkipLong(s, body, level, &line);
      out.push_back({Token::Kind::kString, std::string(s.substr(body, end - body)), start_line});
      i = end;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::Kind::kName, std::string(s.substr(i, j - i)), line});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < s.size() &&
                std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i;
      while (j < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.' ||
              ((s[j] == '+' || s[j] == '-') && std::strchr("eEpP", s[j - 1]) != nullptr))) {
        ++j;
      }
      out.push_back({Token::Kind::kNumber, std::string(s.substr(i, j - i)), line});
      i = j;
    } else {
      size_t len = 1;
      for (const char* m : kMulti) {
        if (s.substr(i, std::strlen(m)) == m) {
          len = std::strlen(m);
          break;
        }
      }
      out.push_back({Token::Kind::kSymbol, std::string(s.substr(i, len)), line});
      i += len;
    }
  }
  return out;
}

bool Is(const std::vector<Token>& t, size_t i, absl::string_view text) {
  return i < t.size() && t[i].kind != Token::Kind::kString && t[i].text == text;
}

bool IsOpen(const Token& t) {
  return t.kind == Token::Kind::kSymbol && (t.text == "(" || t.text == "{" || t.text == "[");
}
bool IsClose(const Token& t) {
  return t.kind == Token::Kind::kSymbol && (t.text == ")" || t.text == "}" || t.text == "]");
}

void CheckOptionsTable(const std::vector<Token>& t, size_t open, absl::string_view builder,
                       absl::string_view file, std::vector<LintFinding>& out) {
  int depth = 0;
  for (size_t i = open; i < t.size(); ++i) {
    if (IsOpen(t[i])) {
      ++depth;
    } else if (IsClose(t[i])) {
      if (--depth == 0) return;
    }
    // An element of the options table itself starts after its "{", "," or ";".
    bool starts_element = depth == 1 && (i == open || Is(t, i, ",") || Is(t, i, ";"));
    if (!starts_element) continue;
    std::optional<std::pair<std::string, int>> key;
    if (i + 2 < t.size() && t[i + 1].kind == Token::Kind::kName && Is(t, i + 2, "=")) {
      key = {t[i + 1].text, t[i + 1].line};
    } else if (i + 4 < t.size() && Is(t, i + 1, "[") && t[i + 2].kind == Token::Kind::kString &&
               Is(t, i + 3, "]") && Is(t, i + 4, "=")) {
      key = {t[i + 2].text, t[i + 2].line};
    }
    if (key && std::none_of(kFindingOptionNames.begin(), kFindingOptionNames.end(),
                            [&](absl::string_view o) { return key->first == o; })) {
      out.push_back({LintFinding::Level::kError, std::string(file), key->second,
                     absl::StrCat(builder, "(): unknown option \"", key->first,
                                  "\" (the options are ", FindingOptionList(), ")")});
    }
  }
}

// `do return ... end` followed by more statements in the same block.
void CheckUnreachable(const std::vector<Token>& t, absl::string_view file,
                      std::vector<LintFinding>& out) {
  int loop_headers = 0;  // `while`/`for` seen whose `do` is still to come
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    if (Is(t, i, "while") || Is(t, i, "for")) ++loop_headers;
    if (!Is(t, i, "do")) continue;
    if (loop_headers > 0) {
      // A loop's body may run zero times: what follows it is reachable.
      --loop_headers;
      continue;
    }
    if (!Is(t, i + 1, "return")) continue;
    int depth = 0;
    size_t j = i + 2;
    for (; j < t.size(); ++j) {
      if (t[j].kind != Token::Kind::kName) continue;
      const std::string& w = t[j].text;
      if (w == "function" || w == "if" || w == "do" || w == "repeat") {
        ++depth;
      } else if (w == "end" || w == "until") {
        if (depth-- == 0) break;
      }
    }
    size_t next = j + 1;
    if (next >= t.size()) continue;
    const Token& n = t[next];
    bool block_ends = n.kind == Token::Kind::kName && (n.text == "end" || n.text == "else" ||
                                                       n.text == "elseif" || n.text == "until");
    if (!block_ends && !IsClose(n) && !Is(t, next, ",") && !Is(t, next, ";")) {
      out.push_back({LintFinding::Level::kWarning, std::string(file), n.line,
                     absl::StrCat("unreachable code: the `do return ... end` on line ", t[i].line,
                                  " always returns before it")});
    }
  }
}

// --- Globals, from the chunk's bytecode (Lua 5.4 dump format, ldump.c). ---

struct Proto {
  int linedefined = 0;
  std::vector<uint32_t> code;
  std::vector<std::optional<std::string>> constants;  // strings only
  std::vector<Proto> protos;
  std::vector<int8_t> lineinfo;
  std::vector<std::pair<int, int>> abslineinfo;  // (pc, line)
  std::vector<std::string> upvalue_names;

  int Line(int pc) const {
    if (lineinfo.empty()) return linedefined;
    int basepc = -1, line = linedefined;
    for (const auto& [p, l] : abslineinfo) {
      if (p > pc) break;
      basepc = p;
      line = l;
    }
    while (basepc++ < pc && basepc < static_cast<int>(lineinfo.size())) line += lineinfo[basepc];
    return line;
  }
};

class DumpReader {
 public:
  explicit DumpReader(absl::string_view d) : d_(d) {}
  bool ok() const { return ok_; }

  bool Header() {
    if (d_.size() < 15 || d_.substr(0, 4) != "\x1bLua" || static_cast<uint8_t>(d_[4]) != 0x54) {
      return false;
    }
    pos_ = 12;  // signature, version, format, LUAC_DATA
    instruction_ = Byte();
    integer_ = Byte();
    number_ = Byte();
    Skip(integer_ + number_);
    Byte();  // main function's upvalue count
    return ok_ && instruction_ == 4;
  }

  void Function(Proto& f) {
    String();  // source
    f.linedefined = static_cast<int>(Size());
    Size();   // lastlinedefined
    Skip(3);  // numparams, is_vararg, maxstacksize
    size_t n = Count(4);
    for (size_t i = 0; i < n && ok_; ++i) {
      uint32_t ins;
      std::memcpy(&ins, d_.data() + pos_, 4);
      pos_ += 4;
      f.code.push_back(ins);
    }
    n = Count(1);
    for (size_t i = 0; i < n && ok_; ++i) {
      uint8_t tag = Byte();
      f.constants.emplace_back();
      if (tag == 19) {  // float
        Skip(number_);
      } else if (tag == 3) {  // integer
        Skip(integer_);
      } else if (tag == 4 || tag == 20) {  // short and long strings
        f.constants.back() = String();
      }
    }
    n = Count(3);
    Skip(n * 3);  // upvalue descriptors
    n = Count(1);
    for (size_t i = 0; i < n && ok_; ++i) {
      f.protos.emplace_back();
      Function(f.protos.back());
    }
    n = Count(1);
    for (size_t i = 0; i < n && ok_; ++i) f.lineinfo.push_back(static_cast<int8_t>(Byte()));
    n = Count(2);
    for (size_t i = 0; i < n && ok_; ++i) {
      int pc = static_cast<int>(Size());
      int line = static_cast<int>(Size());
      f.abslineinfo.emplace_back(pc, line);
    }
    n = Count(3);
    for (size_t i = 0; i < n && ok_; ++i) {
      String();
      Size();
      Size();
    }
    n = Count(1);
    for (size_t i = 0; i < n && ok_; ++i) f.upvalue_names.push_back(String().value_or(""));
  }

 private:
  uint8_t Byte() {
    if (pos_ >= d_.size()) {
      ok_ = false;
      return 0;
    }
    return static_cast<uint8_t>(d_[pos_++]);
  }
  void Skip(size_t n) {
    if (n > d_.size() - std::min(pos_, d_.size())) {
      ok_ = false;
      pos_ = d_.size();
    } else {
      pos_ += n;
    }
  }
  size_t Size() {
    size_t x = 0;
    for (int i = 0; i < 10 && ok_; ++i) {
      uint8_t b = Byte();
      x = (x << 7) | (b & 0x7f);
      if (b & 0x80) return x;
    }
    ok_ = false;
    return 0;
  }
  // A count of items at least `min_bytes` each: bounded by what is left, so a corrupt count
  // cannot make the reader loop long.
  size_t Count(size_t min_bytes) {
    size_t n = Size();
    if (n > (d_.size() - std::min(pos_, d_.size())) / min_bytes) {
      ok_ = false;
      return 0;
    }
    return n;
  }
  std::optional<std::string> String() {
    size_t n = Size();
    if (n == 0) return std::nullopt;
    size_t len = n - 1;
    if (len > d_.size() - std::min(pos_, d_.size())) {
      ok_ = false;
      return std::nullopt;
    }
    std::string s(d_.substr(pos_, len));
    pos_ += len;
    return s;
  }

  absl::string_view d_;
  size_t pos_ = 0;
  bool ok_ = true;
  uint8_t instruction_ = 0, integer_ = 0, number_ = 0;
};

int Writer(lua_State*, const void* p, size_t sz, void* ud) {
  static_cast<std::string*>(ud)->append(static_cast<const char*>(p), sz);
  return 0;
}

struct CompileArgs {
  absl::string_view source;
  std::string* out;
};

int CompileAndDump(lua_State* L) {
  auto* a = static_cast<CompileArgs*>(lua_touserdata(L, 1));
  if (luaL_loadbufferx(L, a->source.data(), a->source.size(), "policy", "t") != LUA_OK) return 0;
  lua_dump(L, Writer, a->out, 0);
  return 0;
}

// The chunk's bytecode, or empty when it does not compile. Compiling runs no policy code.
std::string Bytecode(absl::string_view source) {
  std::string out;
  lua_State* L = luaL_newstate();
  if (L == nullptr) return out;
  CompileArgs args{source, &out};
  lua_pushcfunction(L, CompileAndDump);
  lua_pushlightuserdata(L, &args);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) out.clear();
  lua_close(L);
  return out;
}

struct GlobalUse {
  std::string name;
  int line;
  bool write;
};

void CollectGlobals(const Proto& f, std::vector<GlobalUse>& out) {
  constexpr int kGetTabUp = 11, kSetTabUp = 15;
  auto is_env = [&](uint32_t up) {
    return up < f.upvalue_names.size() && f.upvalue_names[up] == "_ENV";
  };
  auto constant = [&](uint32_t k) -> const std::optional<std::string>* {
    return k < f.constants.size() ? &f.constants[k] : nullptr;
  };
  for (size_t pc = 0; pc < f.code.size(); ++pc) {
    uint32_t ins = f.code[pc];
    uint32_t op = ins & 0x7f, a = (ins >> 7) & 0xff, b = (ins >> 16) & 0xff, c = (ins >> 24) & 0xff;
    if (op == kGetTabUp && is_env(b)) {
      if (const auto* k = constant(c); k != nullptr && k->has_value()) {
        out.push_back({**k, f.Line(static_cast<int>(pc)), false});
      }
    } else if (op == kSetTabUp && is_env(a)) {
      if (const auto* k = constant(b); k != nullptr && k->has_value()) {
        out.push_back({**k, f.Line(static_cast<int>(pc)), true});
      }
    }
  }
  for (const Proto& p : f.protos) CollectGlobals(p, out);
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

void CollectLines(const Proto& f, std::set<int>& out) {
  constexpr uint32_t kReturn = 70, kReturn0 = 71, kVarargPrep = 81;
  for (size_t pc = 0; pc < f.code.size(); ++pc) {
    uint32_t op = f.code[pc] & 0x7f;
    if (op == kVarargPrep) continue;
    if (pc + 1 == f.code.size() && (op == kReturn0 || op == kReturn)) continue;
    out.insert(f.Line(static_cast<int>(pc)));
  }
  for (const Proto& p : f.protos) CollectLines(p, out);
}

}  // namespace

std::set<int> ExecutableLines(absl::string_view source) {
  std::set<int> out;
  std::string bytecode = Bytecode(source);
  if (bytecode.empty()) return out;
  DumpReader reader(bytecode);
  Proto main;
  if (!reader.Header()) return out;
  reader.Function(main);
  if (!reader.ok()) return out;
  for (const Proto& p : main.protos) CollectLines(p, out);
  return out;
}

std::string LintFinding::Format() const {
  return absl::StrCat(file, ":", line, ": ", level == Level::kError ? "error" : "warning", ": ",
                      message);
}

std::vector<LintFinding> LintFindingOptions(absl::string_view file, absl::string_view source) {
  std::vector<LintFinding> out;
  std::vector<Token> t = Tokenize(source);
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    if (t[i].kind != Token::Kind::kName ||
        std::none_of(kFindingTypeNames.begin(), kFindingTypeNames.end(),
                     [&](absl::string_view b) { return t[i].text == b; }) ||
        !Is(t, i + 1, "(")) {
      continue;
    }
    // A field or method of something else (x.allow(...)), or a definition.
    if (i > 0 && (Is(t, i - 1, ".") || Is(t, i - 1, ":") || Is(t, i - 1, "function"))) continue;
    int depth = 0;
    for (size_t j = i + 1; j < t.size(); ++j) {
      if (IsOpen(t[j])) {
        ++depth;
      } else if (IsClose(t[j])) {
        if (--depth == 0) break;
      } else if (depth == 1 && Is(t, j, ",")) {
        if (Is(t, j + 1, "{")) CheckOptionsTable(t, j + 1, t[i].text, file, out);
        break;
      }
    }
  }
  return out;
}

std::vector<LintFinding> LintPolicy(absl::string_view file, absl::string_view source,
                                    const absl::flat_hash_set<std::string>& defined) {
  std::vector<LintFinding> out = LintFindingOptions(file, source);
  CheckUnreachable(Tokenize(source), file, out);

  std::string bytecode = Bytecode(source);
  DumpReader reader(bytecode);
  Proto main;
  if (!bytecode.empty() && reader.Header()) reader.Function(main);
  if (reader.ok() && !bytecode.empty()) {
    std::vector<GlobalUse> uses;
    CollectGlobals(main, uses);
    absl::flat_hash_set<std::string> written;
    for (const GlobalUse& u : uses) {
      if (u.write) written.insert(u.name);
    }
    absl::flat_hash_set<std::string> reported;
    for (const GlobalUse& u : uses) {
      if (!reported.insert(absl::StrCat(u.write, u.name)).second) continue;
      if (u.write) {
        out.push_back({LintFinding::Level::kWarning, std::string(file), u.line,
                       absl::StrCat("assignment to global \"", u.name,
                                    "\": it persists across requests; declare it `local`")});
      } else if (!defined.contains(u.name) && !written.contains(u.name)) {
        std::string hint;
        size_t best = 3;
        for (const std::string& d : defined) {
          size_t dist = EditDistance(u.name, d);
          if (dist < best || (dist == best && !hint.empty() && d < hint)) {
            if (dist < best) best = dist;
            hint = d;
          }
        }
        out.push_back({LintFinding::Level::kError, std::string(file), u.line,
                       absl::StrCat("\"", u.name, "\" is not defined in the policy environment",
                                    hint.empty() ? "" : absl::StrCat(" (did you mean ", hint, "?)"),
                                    "; calling or indexing it fails the policy at run time")});
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const LintFinding& a, const LintFinding& b) { return a.line < b.line; });
  return out;
}

}  // namespace arbiter

#include "service/value/parse.h"

#include <yaml.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace arbiter {
namespace {

absl::Status LimitError(absl::string_view source, int line, int col, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ":", line, ":", col, ": ", what));
}

// 1-based line and column of a byte offset.
std::pair<int, int> LineCol(absl::string_view text, size_t pos) {
  int line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

// Resolves a plain (unquoted) YAML scalar by the core schema.
Value ResolvePlainScalar(absl::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Value();
  if (s == "true" || s == "True" || s == "TRUE") return Value(true);
  if (s == "false" || s == "False" || s == "FALSE") return Value(false);
  int64_t i;
  bool looks_numeric = (s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+' || s[0] == '.';
  if (looks_numeric) {
    // Leading zeros ("007") and versions ("1.2.0") stay strings, as a person would mean them.
    bool leading_zero = s.size() > 1 && s[0] == '0' && s[1] != '.';
    if (!leading_zero && absl::SimpleAtoi(s, &i)) return Value(i);
    double d;
    if (!leading_zero && s.find_first_not_of("0123456789+-.eE") == absl::string_view::npos &&
        absl::SimpleAtod(s, &d) && std::isfinite(d)) {
      return Value(d);
    }
  }
  return Value(s);
}

absl::string_view ScalarText(const yaml_event_t& e) {
  return absl::string_view(reinterpret_cast<const char*>(e.data.scalar.value),
                           e.data.scalar.length);
}

// Whether a scalar event resolves by the core schema: plain, and without a tag that makes it a
// string ("!", the non-specific tag of `! text`, or `!!str`). Quoted and block scalars are
// strings.
bool IsResolvedScalar(const yaml_event_t& e) {
  if (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  const char* tag = reinterpret_cast<const char*>(e.data.scalar.tag);
  if (tag == nullptr) return true;
  absl::string_view t(tag);
  return t != "!" && t != YAML_STR_TAG;
}

Value ScalarValue(const yaml_event_t& e) {
  return IsResolvedScalar(e) ? ResolvePlainScalar(ScalarText(e)) : Value(ScalarText(e));
}

// A plain untagged scalar that reads as null: not a usable map key (`: x`, `~: x`, `null: x`).
bool IsNullScalar(const yaml_event_t& e) {
  if (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || e.data.scalar.tag != nullptr) return false;
  absl::string_view s = ScalarText(e);
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// Builds a Value straight from libyaml's events: no node tree and no recursion. Depth and node
// count are checked as each node starts, so deeply nested or alias-expanded input is rejected
// before it costs anything. Only the first document is read.
class YamlBuilder {
 public:
  YamlBuilder(absl::string_view text, absl::string_view source, const ParseLimits& limits)
      : text_(text), source_(source), limits_(limits), file_(SourceFileId(source)) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~YamlBuilder() { yaml_parser_delete(&parser_); }
  YamlBuilder(const YamlBuilder&) = delete;
  YamlBuilder& operator=(const YamlBuilder&) = delete;

  absl::StatusOr<Value> Build() {
    for (;;) {
      yaml_event_t event;
      if (!yaml_parser_parse(&parser_, &event)) return ParserError();
      absl::Status status;
      bool done = false;
      switch (event.type) {
        case YAML_SCALAR_EVENT:
          status = OnScalar(event);
          break;
        case YAML_ALIAS_EVENT:
          status = OnAlias(event);
          break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
          status = OnStart(event);
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          OnEnd();
          break;
        case YAML_DOCUMENT_END_EVENT:  // the first document is the one
        case YAML_STREAM_END_EVENT:    // no document at all: null
          done = true;
          break;
        default:
          break;
      }
      yaml_event_delete(&event);
      if (!status.ok()) return semantic_ ? Drain(std::move(status)) : status;
      if (done) return std::move(root_);
    }
  }

 private:
  struct Frame {
    Value value;  // the list or map being built
    bool is_map = false;
    bool have_key = false;  // a map's key waiting for its value
    std::string key;
    SourcePos key_pos;    // where the pending key was written
    yaml_mark_t start{};  // where the collection starts
    int flow = 0;         // flow collections down to this one, when it is a flow collection
    int height = 0;       // levels below this collection
    size_t nodes_at = 0;  // nodes_ before this collection
    size_t bytes_at = 0;  // bytes_ before this collection
    std::string anchor;   // empty when not anchored
  };
  // What an alias copies.
  struct Anchored {
    Value value;
    size_t nodes = 0;
    size_t bytes = 0;  // scalar text inside, keys included
    int height = 0;
    bool complete = false;    // false while the anchored collection is still being read
    bool scalar_key = false;  // usable as a map key: a scalar that is not null
    std::string key;          // the scalar's text
  };

  absl::Status Error(const yaml_mark_t& mark, absl::string_view what) const {
    return LimitError(source_, static_cast<int>(mark.line) + 1, static_cast<int>(mark.column) + 1,
                      what);
  }
  absl::Status TooManyNodes(const yaml_mark_t& mark) const {
    return Error(mark, absl::StrCat("document has more than ", limits_.max_nodes, " nodes"));
  }
  absl::Status TooManyBytes(const yaml_mark_t& mark) const {
    return Error(mark, absl::StrCat("document expands to more than ", limits_.max_expanded_bytes,
                                    " bytes of text (aliases count what they copy)"));
  }
  // Counts `n` more bytes of scalar text.
  bool AddBytes(size_t n) {
    if (n > limits_.max_expanded_bytes - bytes_) return false;
    bytes_ += n;
    return true;
  }
  absl::Status TooDeep(const yaml_mark_t& mark) const {
    return Error(mark, absl::StrCat("nesting deeper than ", limits_.max_depth, " levels"));
  }
  // An error in what the document means rather than in its syntax. As with the tree-building
  // parser this replaced, a syntax error anywhere in the document wins over it, so the rest of
  // the document is still read (see Drain).
  absl::Status Semantic(absl::Status s) {
    semantic_ = true;
    return s;
  }

  int depth() const { return static_cast<int>(stack_.size()); }
  bool ExpectingKey() const {
    return !stack_.empty() && stack_.back().is_map && !stack_.back().have_key;
  }

  absl::Status OnKey(absl::string_view key, const yaml_mark_t& mark) {
    Frame& top = stack_.back();
    for (const auto& kv : top.value.mutable_map()) {
      if (kv.first == key) {
        return Semantic(Error(mark, absl::StrCat("duplicate key \"", key, "\"")));
      }
    }
    top.key.assign(key.data(), key.size());
    top.key_pos = Pos(mark);
    top.have_key = true;
    return absl::OkStatus();
  }

  SourcePos Pos(const yaml_mark_t& mark) const {
    return SourcePos{file_, static_cast<int>(mark.line) + 1, static_cast<int>(mark.column) + 1};
  }

  // Adds a finished node `height` levels tall, written at `mark`, to the collection being read,
  // or makes it the document. A map entry's position is its key's.
  void Attach(Value v, int height, const yaml_mark_t& mark) {
    if (stack_.empty()) {
      v.set_pos(Pos(mark));
      root_ = std::move(v);
      return;
    }
    Frame& top = stack_.back();
    if (height + 1 > top.height) top.height = height + 1;
    v.set_pos(top.is_map ? top.key_pos : Pos(mark));
    if (top.is_map) {
      top.value.mutable_map().emplace_back(std::move(top.key), std::move(v));
      top.have_key = false;
    } else {
      top.value.mutable_list().push_back(std::move(v));
    }
  }

  // Keys are not nodes: they are neither counted nor depth-checked.
  absl::Status OnScalar(const yaml_event_t& e) {
    const char* anchor = reinterpret_cast<const char*>(e.data.scalar.anchor);
    if (!AddBytes(ScalarText(e).size())) return TooManyBytes(e.start_mark);
    if (ExpectingKey()) {
      if (IsNullScalar(e)) return Semantic(Error(e.start_mark, "map keys must be scalars"));
      if (anchor != nullptr) Remember(anchor, e);
      return OnKey(ScalarText(e), e.start_mark);
    }
    if (++nodes_ > limits_.max_nodes) return TooManyNodes(e.start_mark);
    if (depth() > limits_.max_depth) return TooDeep(e.start_mark);
    if (anchor != nullptr) Remember(anchor, e);
    Attach(ScalarValue(e), 0, e.start_mark);
    return absl::OkStatus();
  }

  void Remember(const char* name, const yaml_event_t& e) {
    Anchored& a = anchors_[name];
    a.value = ScalarValue(e);
    a.nodes = 1;
    a.bytes = ScalarText(e).size();
    a.height = 0;
    a.complete = true;
    a.scalar_key = !IsNullScalar(e);
    a.key = std::string(ScalarText(e));
  }

  absl::Status OnAlias(const yaml_event_t& e) {
    const char* name = reinterpret_cast<const char*>(e.data.alias.anchor);
    auto it = anchors_.find(name);
    if (it == anchors_.end()) {
      return Error(e.start_mark, absl::StrCat("the referenced anchor is not defined: *", name));
    }
    const Anchored& a = it->second;
    if (ExpectingKey()) {
      if (!a.complete || !a.scalar_key) {
        return Semantic(Error(e.start_mark, "map keys must be scalars"));
      }
      if (!AddBytes(a.key.size())) return TooManyBytes(e.start_mark);
      return OnKey(a.key, e.start_mark);
    }
    // An alias inside the collection it names would expand forever.
    if (!a.complete) return Semantic(TooDeep(e.start_mark));
    // The copy counts as many nodes as the original (the "billion laughs" stop here).
    if (a.nodes > limits_.max_nodes - nodes_) return TooManyNodes(e.start_mark);
    nodes_ += a.nodes;
    if (!AddBytes(a.bytes)) return TooManyBytes(e.start_mark);
    if (depth() + a.height > limits_.max_depth) return TooDeep(e.start_mark);
    Attach(a.value, a.height, e.start_mark);
    return absl::OkStatus();
  }

  absl::Status OnStart(const yaml_event_t& e) {
    bool is_map = e.type == YAML_MAPPING_START_EVENT;
    // Flow collections ([...] and {...}) may not nest deeper than the limit even when the
    // innermost is empty.
    int flow = 0;
    if (is_map ? e.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
               : e.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE) {
      flow = (stack_.empty() ? 0 : stack_.back().flow) + 1;
      if (flow > limits_.max_depth) return TooDeep(e.start_mark);
    }
    if (ExpectingKey()) return Semantic(Error(e.start_mark, "map keys must be scalars"));
    size_t nodes_at = nodes_;
    if (++nodes_ > limits_.max_nodes) return TooManyNodes(e.start_mark);
    if (depth() > limits_.max_depth) return TooDeep(e.start_mark);
    const yaml_char_t* anchor = is_map ? e.data.mapping_start.anchor : e.data.sequence_start.anchor;
    Frame& f = stack_.emplace_back();
    f.start = e.start_mark;
    f.is_map = is_map;
    f.value = is_map ? Value::EmptyMap() : Value::EmptyList();
    f.nodes_at = nodes_at;
    f.bytes_at = bytes_;
    f.flow = flow;
    if (anchor != nullptr) {
      f.anchor = reinterpret_cast<const char*>(anchor);
      anchors_[f.anchor] = Anchored();  // incomplete until its end; a redefinition replaces it
    }
    return absl::OkStatus();
  }

  void OnEnd() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (!f.anchor.empty()) {
      Anchored& a = anchors_[f.anchor];
      a.value = f.value;
      a.nodes = nodes_ - f.nodes_at;
      a.bytes = bytes_ - f.bytes_at;
      a.height = f.height;
      a.complete = true;
    }
    Attach(std::move(f.value), f.height, f.start);
  }

  // After a semantic error: reads on to the end of the document, building nothing, so that a
  // later syntax error is reported instead; input nested deeper than the limit ends the reading.
  absl::Status Drain(absl::Status first) {
    int depth = static_cast<int>(stack_.size());
    for (;;) {
      yaml_event_t event;
      if (!yaml_parser_parse(&parser_, &event)) return ParserError();
      yaml_event_type_t type = event.type;
      yaml_event_delete(&event);
      switch (type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
          if (++depth > limits_.max_depth) return first;
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          --depth;
          break;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
          return first;
        default:
          break;
      }
    }
  }

  absl::Status ParserError() const {
    std::string what = parser_.problem != nullptr ? parser_.problem : "invalid YAML";
    switch (parser_.error) {
      case YAML_MEMORY_ERROR:
        return LimitError(source_, 1, 1, "out of memory");
      case YAML_READER_ERROR: {
        // Encoding problems name a byte offset rather than a mark.
        if (parser_.problem_value >= 0) {
          char hex[16];
          std::snprintf(hex, sizeof(hex), "0x%02x", static_cast<unsigned>(parser_.problem_value));
          absl::StrAppend(&what, " (", hex, ")");
        }
        auto [line, col] = LineCol(text_, parser_.problem_offset);
        return LimitError(source_, line, col, what);
      }
      default:
        if (parser_.context != nullptr) {
          absl::StrAppend(&what, " ", parser_.context, " at ", parser_.context_mark.line + 1, ":",
                          parser_.context_mark.column + 1);
        }
        return Error(parser_.problem_mark, what);
    }
  }

  absl::string_view text_;
  absl::string_view source_;
  const ParseLimits& limits_;
  uint16_t file_;  // SourceFileId(source_), for positions
  yaml_parser_t parser_;
  std::vector<Frame> stack_;
  absl::flat_hash_map<std::string, Anchored> anchors_;
  Value root_;
  size_t nodes_ = 0;
  size_t bytes_ = 0;  // scalar text so far, aliases expanded
  bool semantic_ = false;
};

// A char iterator for nlohmann's parser that publishes how far the parser has read, so that a
// SAX event can tell where its token was written (nlohmann's events carry no position).
class CountingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator(const char* p, const char** read) : p_(p), read_(read) {}
  reference operator*() const { return *p_; }
  CountingIterator& operator++() {
    *read_ = ++p_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const CountingIterator& o) const { return p_ == o.p_; }
  bool operator!=(const CountingIterator& o) const { return p_ != o.p_; }

 private:
  const char* p_;
  const char** read_;
};

// Builds Values straight from nlohmann's SAX events so that depth and size are bounded while
// parsing, before any tree exists. Each node gets the position of its token: when an event
// arrives the parser has just read that token (and, after a number, one character more), so
// the token's start is found by looking back from how far the parser has read.
class JsonSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  JsonSax(const ParseLimits& limits, absl::string_view text, uint16_t file, const char** read)
      : limits_(limits), text_(text), file_(file), read_(read) {}

  bool null() override { return Add(Value(), Literal(4)); }
  bool boolean(bool b) override { return Add(Value(b), Literal(b ? 4 : 5)); }
  bool number_integer(number_integer_t i) override {
    return Add(Value(static_cast<int64_t>(i)), Number());
  }
  bool number_unsigned(number_unsigned_t u) override {
    if (u > static_cast<uint64_t>(INT64_MAX)) {
      return Add(Value(static_cast<double>(u)), Number());
    }
    return Add(Value(static_cast<int64_t>(u)), Number());
  }
  bool number_float(number_float_t d, const string_t&) override { return Add(Value(d), Number()); }
  bool string(string_t& s) override { return Add(Value(std::move(s)), String()); }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) override { return Open(Value::EmptyMap()); }
  bool key(string_t& k) override {
    keys_.push_back(std::move(k));
    key_pos_.push_back(String());
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(Value::EmptyList()); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    error_ = ex.what();
    // nlohmann's message already names the byte position; keep just its explanation.
    // Drop "; last read: '...'": it echoes the input's raw bytes, which may not be UTF-8 and
    // must not reach an error response.
    if (auto p = error_.find("; last read"); p != std::string::npos) error_.resize(p);
    if (auto b = error_.find("] "); b != std::string::npos) error_ = error_.substr(b + 2);
    position_ = position;
    return false;
  }

  Value TakeResult() { return std::move(root_); }
  const std::string& error() const { return error_; }
  size_t position() const { return position_; }

 private:
  bool Fail(std::string msg) {
    error_ = std::move(msg);
    return false;
  }
  // How far the parser has read, as an offset into the text.
  size_t Read() const { return static_cast<size_t>(*read_ - text_.data()); }
  // The position of the token that starts at byte `at`. Tokens arrive in order, so the line
  // count only moves forward, and the next newline is looked for once per line: a search per
  // token made a one-line body (Trino's 100 KB batches) quadratic.
  SourcePos At(size_t at) {
    if (next_nl_ == kNotSearched) next_nl_ = text_.find('\n');
    while (next_nl_ != absl::string_view::npos && next_nl_ < at) {
      ++line_;
      line_start_ = next_nl_ + 1;
      next_nl_ = text_.find('\n', line_start_);
    }
    return SourcePos{file_, line_, static_cast<int>(at - line_start_) + 1};
  }
  // A literal of `n` characters (true, false, null) just read.
  SourcePos Literal(size_t n) {
    size_t end = Read();
    return At(end >= n ? end - n : 0);
  }
  // A string just read: its closing quote is the last character read; the opening one is the
  // first quote before it that no backslash escapes.
  SourcePos String() {
    size_t i = Read();
    if (i >= 2) {
      for (i -= 2; i > 0; --i) {
        if (text_[i] != '"') continue;
        size_t slashes = 0;
        while (slashes < i && text_[i - 1 - slashes] == '\\') ++slashes;
        if (slashes % 2 == 0) break;
      }
    }
    return At(i);
  }
  // A number just read, followed by the one character the parser looked ahead at.
  SourcePos Number() {
    auto in_number = [](char c) {
      return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
    };
    size_t i = Read();
    if (i > 0 && !in_number(text_[i - 1])) --i;
    while (i > 0 && in_number(text_[i - 1])) --i;
    return At(i);
  }

  bool Add(Value v, SourcePos pos) {
    if (++nodes_ > limits_.max_nodes) {
      return Fail(absl::StrCat("document has more than ", limits_.max_nodes, " nodes"));
    }
    if (stack_.empty()) {
      v.set_pos(pos);
      root_ = std::move(v);
      return true;
    }
    Value& top = stack_.back();
    if (top.is_map()) {
      // A map entry's position is its key's.
      v.set_pos(key_pos_.back());
      key_pos_.pop_back();
      std::string k = std::move(keys_.back());
      keys_.pop_back();
      if (top.Find(k) != nullptr) return Fail(absl::StrCat("duplicate key \"", k, "\""));
      top.mutable_map().emplace_back(std::move(k), std::move(v));
    } else {
      v.set_pos(pos);
      top.mutable_list().push_back(std::move(v));
    }
    return true;
  }
  bool Open(Value container) {
    size_t read = Read();
    container.set_pos(At(read > 0 ? read - 1 : 0));  // the bracket just read
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      return Fail(absl::StrCat("nesting deeper than ", limits_.max_depth, " levels"));
    }
    if (++nodes_ > limits_.max_nodes) {
      return Fail(absl::StrCat("document has more than ", limits_.max_nodes, " nodes"));
    }
    stack_.push_back(std::move(container));
    return true;
  }
  bool Close() {
    Value v = std::move(stack_.back());
    stack_.pop_back();
    --nodes_;  // counted in Open already
    SourcePos start = v.pos();
    return Add(std::move(v), start);
  }

  const ParseLimits& limits_;
  absl::string_view text_;
  uint16_t file_;
  const char** read_;
  int line_ = 1;
  size_t line_start_ = 0;
  static constexpr size_t kNotSearched = absl::string_view::npos - 1;
  size_t next_nl_ = kNotSearched;  // the first newline at or after line_start_, or npos
  std::vector<Value> stack_;
  std::vector<std::string> keys_;
  std::vector<SourcePos> key_pos_;
  Value root_;
  size_t nodes_ = 0;
  std::string error_;
  size_t position_ = 0;
};

// The common case of ParseJson without nlohmann's lexer (~130 instructions per byte through
// its iterator and SAX events, most of the server's cost of a Trino check besides the engine):
// a strict recursive-descent parser for a subset of JSON that builds the same tree with the
// same positions as JsonSax. Whatever it does not take on (floats, \u escapes, a leading BOM,
// integers of more than 18 digits, deep nesting) and every error goes to nlohmann's parser, so
// that what is accepted and every error message stay exactly nlohmann's: Parse answers false
// for all of those, and the caller parses the text again the reference way.
class FastJson {
 public:
  FastJson(absl::string_view text, uint16_t file, const ParseLimits& limits)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        file_(file),
        limits_(limits),
        max_depth_(std::min(limits.max_depth, kMaxRecursion)) {}

  // The document, or false when the reference parser must decide.
  bool Parse(Value& out) {
    SkipSpace();
    if (p_ == end_ || static_cast<unsigned char>(*p_) == 0xEF) return false;  // empty; BOM
    if (!ParseValue(out, 0)) return false;
    out.set_pos(token_);
    SkipSpace();
    return p_ == end_;
  }

 private:
  // Deeper documents are rare and go to the reference parser, which does not recurse.
  static constexpr int kMaxRecursion = 256;
  // Room for this many entries from the start: the small objects of a request (a Trino
  // table's three names) are allocated once instead of growing 1, 2, 4.
  static constexpr size_t kFirstCapacity = 4;

  // Inlined where it is called: between a compact body's tokens there is nothing to skip, and the
  // call cost more than the test.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void SkipSpace() {
    while (p_ != end_) {
      const char c = *p_;
      if (c == ' ' || c == '\t' || c == '\r') {
        ++p_;
      } else if (c == '\n') {
        ++p_;
        ++line_;
        line_start_ = p_;
      } else {
        return;
      }
    }
  }
  SourcePos Here() const { return SourcePos{file_, line_, static_cast<int>(p_ - line_start_) + 1}; }
  bool Count() { return ++nodes_ <= limits_.max_nodes; }

  // Parses the value at p_ into `out` (its token's position in token_; the caller sets it, since
  // a map entry takes its key's).
  bool ParseValue(Value& out, int depth) {
    token_ = Here();
    switch (*p_) {
      case '{':
        return ParseMap(out, depth);
      case '[':
        return ParseList(out, depth);
      case '"':
        // Parsed into the value's own string, not into a temporary that is then moved.
        return ParseString(out.EmplaceString()) && Count();
      case 't':
        return Literal("true", Value(true), out);
      case 'f':
        return Literal("false", Value(false), out);
      case 'n':
        return Literal("null", Value(), out);
      default:
        return ParseInteger(out);
    }
  }

  bool Literal(absl::string_view word, Value v, Value& out) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        absl::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    out = std::move(v);
    return Count();
  }

  // -?(0|[1-9][0-9]*) of at most 18 digits (always an int64), not followed by a fraction or an
  // exponent (those go to the reference parser).
  bool ParseInteger(Value& out) {
    const char* q = p_;
    const bool negative = q != end_ && *q == '-';
    if (negative) ++q;
    const char* digits = q;
    while (q != end_ && *q >= '0' && *q <= '9') ++q;
    const size_t count = static_cast<size_t>(q - digits);
    if (count == 0 || count > 18 || (*digits == '0' && count > 1)) return false;
    if (q != end_ && (*q == '.' || *q == 'e' || *q == 'E')) return false;
    int64_t n = 0;
    for (const char* d = digits; d != q; ++d) n = n * 10 + (*d - '0');
    p_ = q;
    out = Value(negative ? -n : n);
    return Count();
  }

  // A string at p_ (its opening quote) into `s`; p_ ends past the closing quote. Escapes other
  // than \uXXXX; bytes of 0x80 and above must be well-formed UTF-8, as nlohmann checks.
  bool ParseString(std::string& s) {
    const char* q = PlainRunEnd(++p_);
    // The common case: no escape, one copy (appended: `s` is empty, and append skips assign's
    // handling of a source inside the string).
    if (q != end_ && *q == '"') {
      s.append(p_, static_cast<size_t>(q - p_));
      p_ = q + 1;
      return true;
    }
    s.append(p_, static_cast<size_t>(q - p_));
    while (q != end_) {
      const unsigned char c = static_cast<unsigned char>(*q);
      if (c == '"') {
        p_ = q + 1;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++q == end_) return false;
        switch (*q) {
          case '"':
            s.push_back('"');
            break;
          case '\\':
            s.push_back('\\');
            break;
          case '/':
            s.push_back('/');
            break;
          case 'b':
            s.push_back('\b');
            break;
          case 'f':
            s.push_back('\f');
            break;
          case 'n':
            s.push_back('\n');
            break;
          case 'r':
            s.push_back('\r');
            break;
          case 't':
            s.push_back('\t');
            break;
          default:
            return false;  // \uXXXX (surrogates and all) and invalid escapes
        }
        ++q;
        continue;
      }
      if (c < 0x80) {
        s.push_back(static_cast<char>(c));
        ++q;
        continue;
      }
      const size_t n = Utf8Length(q);
      if (n == 0) return false;
      s.append(q, n);
      q += n;
    }
    return false;  // unterminated
  }

  // The first byte at or after `q` that a plain run of string bytes stops at: '"', '\\', below
  // 0x20, or 0x80 and above (UTF-8, checked byte by byte); end_ when none. Sixteen bytes at a
  // time where SSE2 is and the text has them (a Trino batch is thousands of names), else byte
  // by byte.
  const char* PlainRunEnd(const char* q) const {
#ifdef __SSE2__
    while (end_ - q >= 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
      const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
      const __m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
      const __m128i backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
      // movemask of x itself: the bytes with the high bit set.
      const unsigned hit = static_cast<unsigned>(
          _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash))) |
          _mm_movemask_epi8(x));
      if (hit != 0) return q + __builtin_ctz(hit);
      q += 16;
    }
#endif
    while (q != end_) {
      const unsigned char c = static_cast<unsigned char>(*q);
      if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
      ++q;
    }
    return q;
  }

  // The length of the well-formed UTF-8 sequence at q (RFC 3629: no overlong forms, no
  // surrogates, nothing past U+10FFFF), or 0.
  size_t Utf8Length(const char* q) const {
    auto byte = [&](size_t i) -> int {
      return q + i < end_ ? static_cast<unsigned char>(q[i]) : -1;
    };
    auto in = [](int b, int lo, int hi) { return b >= lo && b <= hi; };
    const int b0 = byte(0);
    if (in(b0, 0xC2, 0xDF)) return in(byte(1), 0x80, 0xBF) ? 2 : 0;
    if (in(b0, 0xE0, 0xEF)) {
      const int lo = b0 == 0xE0 ? 0xA0 : 0x80;
      const int hi = b0 == 0xED ? 0x9F : 0xBF;
      return in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) ? 3 : 0;
    }
    if (in(b0, 0xF0, 0xF4)) {
      const int lo = b0 == 0xF0 ? 0x90 : 0x80;
      const int hi = b0 == 0xF4 ? 0x8F : 0xBF;
      return in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) && in(byte(3), 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
  }

  bool ParseList(Value& out, int depth) {
    if (depth >= max_depth_ || !Count()) return false;
    const SourcePos at = token_;
    ++p_;
    out = Value::EmptyList();
    Value::List& list = out.mutable_list();
    list.reserve(kFirstCapacity);
    SkipSpace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      token_ = at;
      return true;
    }
    while (true) {
      if (p_ == end_) return false;
      if (*p_ == '"') {
        // A string is parsed into its entry, not into a temporary that is then moved (a Trino
        // batch's body is mostly names; moving a short string copies it).
        const SourcePos string_at = Here();
        Value& item = list.emplace_back();
        if (!ParseString(item.EmplaceString()) || !Count()) return false;
        item.set_pos(string_at);
      } else {
        Value& item = list.emplace_back();
        if (!ParseValue(item, depth + 1)) return false;
        item.set_pos(token_);
      }
      SkipSpace();
      if (p_ == end_) return false;
      if (*p_ == ']') break;
      if (*p_ != ',') return false;
      ++p_;
      SkipSpace();
    }
    ++p_;
    token_ = at;
    return true;
  }

  bool ParseMap(Value& out, int depth) {
    if (depth >= max_depth_ || !Count()) return false;
    const SourcePos at = token_;
    ++p_;
    out = Value::MapWithCapacity(kFirstCapacity);
    Value::Map& map = out.mutable_map();
    SkipSpace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      token_ = at;
      return true;
    }
    while (true) {
      if (p_ == end_ || *p_ != '"') return false;
      const SourcePos key_at = Here();
      // As in ParseList: the key and a string value are parsed into their entry.
      auto& [key, value] = map.emplace_back();
      if (!ParseString(key)) return false;
      for (size_t i = 0; i + 1 < map.size(); ++i) {
        if (map[i].first == key) return false;  // duplicate: the reference names it
      }
      SkipSpace();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      SkipSpace();
      if (p_ == end_) return false;
      if (*p_ == '"') {
        if (!ParseString(value.EmplaceString()) || !Count()) return false;
      } else if (!ParseValue(value, depth + 1)) {
        return false;
      }
      value.set_pos(key_at);
      SkipSpace();
      if (p_ == end_) return false;
      if (*p_ == '}') break;
      if (*p_ != ',') return false;
      ++p_;
      SkipSpace();
    }
    ++p_;
    token_ = at;
    return true;
  }

  const char* const begin_;
  const char* p_;
  const char* const end_;
  const uint16_t file_;
  const ParseLimits& limits_;
  const int max_depth_;
  int line_ = 1;
  const char* line_start_ = begin_;
  size_t nodes_ = 0;
  SourcePos token_;  // the position of the value ParseValue parsed last
};

}  // namespace

absl::StatusOr<Value> ParseYaml(absl::string_view text, absl::string_view source,
                                const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return LimitError(
        source, 1, 1,
        absl::StrCat("document is ", text.size(), " bytes, over the limit of ", limits.max_bytes));
  }
  YamlBuilder builder(text, source, limits);
  return builder.Build();
}

absl::StatusOr<Value> ParseJson(absl::string_view text, absl::string_view source,
                                const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return LimitError(
        source, 1, 1,
        absl::StrCat("document is ", text.size(), " bytes, over the limit of ", limits.max_bytes));
  }
  const uint16_t file = SourceFileId(source);
  {
    Value fast;
    if (FastJson(text, file, limits).Parse(fast)) return fast;
  }
  return ParseJsonReference(text, source, limits);
}

absl::StatusOr<Value> ParseJsonReference(absl::string_view text, absl::string_view source,
                                         const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return LimitError(
        source, 1, 1,
        absl::StrCat("document is ", text.size(), " bytes, over the limit of ", limits.max_bytes));
  }
  const char* read = text.data();
  JsonSax sax(limits, text, SourceFileId(source), &read);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(CountingIterator(text.data(), &read),
                                   CountingIterator(text.data() + text.size(), &read), &sax);
  } catch (const std::exception& e) {
    return LimitError(source, 1, 1, e.what());
  }
  if (!ok) {
    auto [line, col] = LineCol(text, sax.position() > 0 ? sax.position() - 1 : 0);
    return LimitError(source, line, col, sax.error().empty() ? "invalid JSON" : sax.error());
  }
  return sax.TakeResult();
}

}  // namespace arbiter

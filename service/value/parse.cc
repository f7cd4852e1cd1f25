#include "service/value/parse.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace arbiter {
namespace {

absl::Status LimitError(absl::string_view source, int line, int col, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ":", line, ":", col, ": ", what));
}

// Resolves a plain (unquoted) YAML scalar by the core schema.
Value ResolvePlainScalar(const std::string& s) {
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
    if (!leading_zero && s.find_first_not_of("0123456789+-.eE") == std::string::npos &&
        absl::SimpleAtod(s, &d) && std::isfinite(d)) {
      return Value(d);
    }
  }
  return Value(s);
}

class YamlConverter {
 public:
  YamlConverter(absl::string_view source, const ParseLimits& limits)
      : source_(source), limits_(limits) {}

  absl::Status Convert(const YAML::Node& node, int depth, Value& out) {
    if (++nodes_ > limits_.max_nodes) {
      return LimitError(source_, node.Mark().line + 1, node.Mark().column + 1,
                        absl::StrCat("document has more than ", limits_.max_nodes, " nodes"));
    }
    if (depth > limits_.max_depth) {
      return LimitError(source_, node.Mark().line + 1, node.Mark().column + 1,
                        absl::StrCat("nesting deeper than ", limits_.max_depth, " levels"));
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out = Value();
        return absl::OkStatus();
      case YAML::NodeType::Scalar:
        out = node.Tag() == "!" ? Value(node.Scalar()) : ResolvePlainScalar(node.Scalar());
        return absl::OkStatus();
      case YAML::NodeType::Sequence: {
        Value::List list;
        list.reserve(node.size());
        for (const YAML::Node& child : node) {
          Value v;
          if (auto s = Convert(child, depth + 1, v); !s.ok()) return s;
          list.push_back(std::move(v));
        }
        out = Value(std::move(list));
        return absl::OkStatus();
      }
      case YAML::NodeType::Map: {
        Value map = Value::EmptyMap();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) {
            return LimitError(source_, kv.first.Mark().line + 1, kv.first.Mark().column + 1,
                              "map keys must be scalars");
          }
          const std::string& key = kv.first.Scalar();
          if (map.Find(key) != nullptr) {
            return LimitError(source_, kv.first.Mark().line + 1, kv.first.Mark().column + 1,
                              absl::StrCat("duplicate key \"", key, "\""));
          }
          Value v;
          if (auto s = Convert(kv.second, depth + 1, v); !s.ok()) return s;
          map.mutable_map().emplace_back(key, std::move(v));
        }
        out = std::move(map);
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::string_view source_;
  const ParseLimits& limits_;
  size_t nodes_ = 0;
};

// Builds Values straight from nlohmann's SAX events so that depth and size are bounded while
// parsing, before any tree exists.
class JsonSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonSax(const ParseLimits& limits) : limits_(limits) {}

  bool null() override { return Add(Value()); }
  bool boolean(bool b) override { return Add(Value(b)); }
  bool number_integer(number_integer_t i) override { return Add(Value(static_cast<int64_t>(i))); }
  bool number_unsigned(number_unsigned_t u) override {
    if (u > static_cast<uint64_t>(INT64_MAX)) return Add(Value(static_cast<double>(u)));
    return Add(Value(static_cast<int64_t>(u)));
  }
  bool number_float(number_float_t d, const string_t&) override { return Add(Value(d)); }
  bool string(string_t& s) override { return Add(Value(std::move(s))); }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) override { return Open(Value::EmptyMap()); }
  bool key(string_t& k) override {
    keys_.push_back(std::move(k));
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(Value::EmptyList()); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    error_ = ex.what();
    // nlohmann's message already names the byte position; keep just its explanation.
    if (auto p = error_.find("; last read"); p != std::string::npos) {
      error_ = error_.substr(error_.find(']') + 2);
    }
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
  bool Add(Value v) {
    if (++nodes_ > limits_.max_nodes) {
      return Fail(absl::StrCat("document has more than ", limits_.max_nodes, " nodes"));
    }
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Value& top = stack_.back();
    if (top.is_map()) {
      std::string k = std::move(keys_.back());
      keys_.pop_back();
      if (top.Find(k) != nullptr) return Fail(absl::StrCat("duplicate key \"", k, "\""));
      top.mutable_map().emplace_back(std::move(k), std::move(v));
    } else {
      top.mutable_list().push_back(std::move(v));
    }
    return true;
  }
  bool Open(Value container) {
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
    return Add(std::move(v));
  }

  const ParseLimits& limits_;
  std::vector<Value> stack_;
  std::vector<std::string> keys_;
  Value root_;
  size_t nodes_ = 0;
  std::string error_;
  size_t position_ = 0;
};

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

}  // namespace

absl::StatusOr<Value> ParseYaml(absl::string_view text, absl::string_view source,
                                const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return LimitError(
        source, 1, 1,
        absl::StrCat("document is ", text.size(), " bytes, over the limit of ", limits.max_bytes));
  }
  // yaml-cpp's recursion guard allows far deeper nesting than we do; reject obviously deep flow
  // collections before handing them to it.
  int flow = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '[' || c == '{') {
      if (++flow > limits.max_depth) {
        auto [line, col] = LineCol(text, i);
        return LimitError(source, line, col,
                          absl::StrCat("nesting deeper than ", limits.max_depth, " levels"));
      }
    } else if (c == ']' || c == '}') {
      if (flow > 0) --flow;
    } else if (c == '\n') {
      flow = flow > 0 ? flow : 0;
    }
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return LimitError(source, e.mark.line + 1, e.mark.column + 1, e.msg);
  } catch (const std::exception& e) {
    return LimitError(source, 1, 1, e.what());
  }
  Value out;
  try {
    YamlConverter converter(source, limits);
    if (auto s = converter.Convert(root, 0, out); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return LimitError(source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  return out;
}

absl::StatusOr<Value> ParseJson(absl::string_view text, absl::string_view source,
                                const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return LimitError(
        source, 1, 1,
        absl::StrCat("document is ", text.size(), " bytes, over the limit of ", limits.max_bytes));
  }
  JsonSax sax(limits);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax);
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

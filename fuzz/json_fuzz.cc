// libFuzzer target for ParseJson: any text must come back as a Value or an INVALID_ARGUMENT
// status naming "<source>:<line>:<col>", never as a crash, a hang or unbounded recursion. A
// document that parses renders back to JSON that parses to the same tree. ParseJson's own parser
// of the common case agrees with nlohmann's (ParseJsonReference): the same tree, types and
// positions, or the same error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_bundle.h"
#include "fuzz/fuzz_checks.h"
#include "service/value/parse.h"

namespace {

// The same tree, types and positions (Value's operator== ignores positions and compares ints
// with doubles numerically).
bool SameTree(const arbiter::Value& a, const arbiter::Value& b) {
  const arbiter::SourcePos pa = a.pos(), pb = b.pos();
  if (a.type() != b.type() || pa.file != pb.file || pa.line != pb.line || pa.column != pb.column) {
    return false;
  }
  if (a.is_list() || a.is_map()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a.is_list() ? !SameTree(a.as_list()[i], b.as_list()[i])
                      : a.as_map()[i].first != b.as_map()[i].first ||
                            !SameTree(a.as_map()[i].second, b.as_map()[i].second)) {
        return false;
      }
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<arbiter::Value> v =
      arbiter::ParseJson(text, "in.json", arbiter::fuzz::SmallParseLimits());
  absl::StatusOr<arbiter::Value> reference =
      arbiter::ParseJsonReference(text, "in.json", arbiter::fuzz::SmallParseLimits());
  if (v.ok() != reference.ok() || (!v.ok() && v.status() != reference.status()) ||
      (v.ok() && !SameTree(*v, *reference))) {
    std::fprintf(
        stderr, "ParseJson and ParseJsonReference disagree: %s / %s\n",
        v.ok() ? v->ToJson().c_str() : v.status().ToString().c_str(),
        reference.ok() ? reference->ToJson().c_str() : reference.status().ToString().c_str());
    std::abort();
  }
  if (!v.ok()) {
    if (v.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(v.status().message(), "in.json:")) {
      std::fprintf(stderr, "unexpected status: %s\n", v.status().ToString().c_str());
      std::abort();
    }
    return 0;
  }
  std::string json = v->ToJson();
  absl::StatusOr<arbiter::Value> back = arbiter::ParseJson(json, "rendered.json");
  if (!back.ok()) {
    std::fprintf(stderr, "ToJson output does not parse: %s\n", back.status().ToString().c_str());
    std::abort();
  }
  // The same tree (ints and doubles compare numerically: "-0e5" renders as "-0", which reads
  // back as the integer 0), unless a number was out of double range (rendered as null).
  if (!(*back == *v) && !arbiter::fuzz::HasNonFinite(*v)) {
    std::fprintf(stderr, "JSON round trip changes the tree:\n%s\n%s\n", json.c_str(),
                 back->ToJson().c_str());
    std::abort();
  }
  return 0;
}

// libFuzzer target for ParseJson: any text must come back as a Value or an INVALID_ARGUMENT
// status naming "<source>:<line>:<col>", never as a crash, a hang or unbounded recursion. A
// document that parses renders back to JSON that parses to the same tree.
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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<arbiter::Value> v =
      arbiter::ParseJson(text, "in.json", arbiter::fuzz::SmallParseLimits());
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

// libFuzzer target for ParseYaml with small limits: any text must come back as a Value or an
// INVALID_ARGUMENT status naming "<source>:<line>:<col>", never as a crash, a hang, unbounded
// recursion (deep nesting) or an alias expansion past max_nodes (billion laughs).
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
      arbiter::ParseYaml(text, "in.yaml", arbiter::fuzz::SmallParseLimits());
  if (!v.ok()) {
    // The documented error contract.
    if (v.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(v.status().message(), "in.yaml:")) {
      std::fprintf(stderr, "unexpected status: %s\n", v.status().ToString().c_str());
      std::abort();
    }
    return 0;
  }
  // Strings must be UTF-8 (once, yaml-cpp's UTF-16/32 sniffing let valid UTF-8 text produce
  // strings that were not: see the regress-* seeds).
  if (!arbiter::fuzz::AllStringsUtf8(*v)) {
    arbiter::fuzz::Fail("ParseYaml returned a string that is not UTF-8");
  }
  // Rendering walks the whole tree; rendered JSON must parse back.
  std::string json = v->ToJson();
  absl::StatusOr<arbiter::Value> back = arbiter::ParseJson(json, "rendered.json");
  if (!back.ok()) {
    std::fprintf(stderr, "ToJson output does not parse: %s\n", back.status().ToString().c_str());
    std::abort();
  }
  return 0;
}

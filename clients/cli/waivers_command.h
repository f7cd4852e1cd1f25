// `arbiter waivers`: a bundle's waivers (docs/waivers.md) for a governance council's weekly
// review, soonest expiry first.
//
//   arbiter waivers BUNDLE_DIR [--expiring 30d] [--now RFC3339] [--output text|json|markdown]
//
// --expiring keeps the waivers that end within that time of --now (the clock by default),
// expired ones included: those are the ones to renew, fix or remove. Exit codes: 0 listed,
// 2 the bundle does not load or a flag is wrong.
#ifndef ARBITER_CLIENTS_CLI_WAIVERS_COMMAND_H_
#define ARBITER_CLIENTS_CLI_WAIVERS_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/engine/waivers.h"

namespace arbiter::cli {

// "30d", "2w", "12h", "90m": a span for --expiring. INVALID_ARGUMENT otherwise.
absl::StatusOr<absl::Duration> ParseSpan(absl::string_view text);

// The listing in each output format; `waivers` already filtered and sorted.
std::string FormatWaiversText(const std::vector<const Waiver*>& waivers, absl::Time now,
                              absl::string_view bundle, absl::string_view revision);
std::string FormatWaiversJson(const std::vector<const Waiver*>& waivers, absl::Time now,
                              absl::string_view bundle, absl::string_view revision);
std::string FormatWaiversMarkdown(const std::vector<const Waiver*>& waivers, absl::Time now,
                                  absl::string_view bundle, absl::string_view revision);

// Takes main's argc/argv (argv[1] is "waivers") and returns the exit code above.
int WaiversCommand(int argc, char** argv);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_WAIVERS_COMMAND_H_

#include "clients/cli/waivers_command.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "clients/cli/args.h"
#include "clients/cli/offline_commands.h"
#include "nlohmann/json.hpp"
#include "service/engine/bundle.h"

namespace arbiter::cli {
namespace {

constexpr char kUsage[] =
    "usage: arbiter waivers BUNDLE_DIR [--expiring 30d] [--now RFC3339] "
    "[--output text|json|markdown]";

// What `arbiter validate` warns about too: a waiver that ends within two weeks.
constexpr absl::Duration kSoon = absl::Hours(24 * 14);

std::string Status(const Waiver& w, absl::Time now) {
  if (!w.ActiveAt(now)) return "expired";
  return w.expires - now <= kSoon ? "expiring" : "in force";
}

// Whole days left, rounded down; negative once expired ("-3": three days ago).
int64_t DaysLeft(const Waiver& w, absl::Time now) {
  return static_cast<int64_t>(std::floor(absl::FDivDuration(w.expires - now, absl::Hours(24))));
}

std::string When(const Waiver& w, absl::Time now) {
  int64_t days = DaysLeft(w, now);
  if (!w.ActiveAt(now)) {
    return days == -1 ? "expired within the last day"
                      : absl::StrCat("expired ", -days, " days ago");
  }
  return days == 0 ? "ends within a day" : absl::StrCat("in ", days, days == 1 ? " day" : " days");
}

std::vector<std::string> ScopeParts(const WaiverScope& s) {
  std::vector<std::string> out;
  for (const auto& [k, v] : {std::pair<const char*, const std::string*>{"domain", &s.domain},
                             {"product", &s.product},
                             {"principal", &s.principal},
                             {"environment", &s.environment},
                             {"kind", &s.kind}}) {
    if (!v->empty()) out.push_back(absl::StrCat(k, "=", *v));
  }
  return out;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// A markdown table cell: pipes escaped, newlines flattened.
std::string Cell(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}, {"\r", " "}});
}

}  // namespace

absl::StatusOr<absl::Duration> ParseSpan(absl::string_view text) {
  int64_t n = 0;
  if (text.size() >= 2 && absl::SimpleAtoi(text.substr(0, text.size() - 1), &n) && n >= 0 &&
      n <= 100000) {
    switch (text.back()) {
      case 'w':
        return absl::Hours(24 * 7 * n);
      case 'd':
        return absl::Hours(24 * n);
      case 'h':
        return absl::Hours(n);
      case 'm':
        return absl::Minutes(n);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--expiring: expected a span such as 30d, 2w or 12h, got \"", text, "\""));
}

std::string FormatWaiversText(const std::vector<const Waiver*>& waivers, absl::Time now,
                              absl::string_view bundle, absl::string_view revision) {
  std::string out = absl::StrCat("waivers of ", bundle, " (revision ", revision, ") as of ",
                                 Rfc3339(now), ": ", waivers.size(), "\n");
  for (const Waiver* w : waivers) {
    absl::StrAppend(&out, "\n", w->id, "  ", w->policy, "  ", Status(*w, now), ", until ",
                    w->expires_text, " (", When(*w, now), ")\n");
    absl::StrAppend(&out, "  scope:       ", absl::StrJoin(ScopeParts(w->scope), " "), "\n");
    absl::StrAppend(&out, "  approved by: ", w->approved_by,
                    w->ticket.empty() ? "" : absl::StrCat(" (", w->ticket, ")"), "\n");
    absl::StrAppend(&out, "  reason:      ", w->reason, "\n");
    absl::StrAppend(&out, "  file:        ", w->file, ":", w->line, "\n");
  }
  return out;
}

std::string FormatWaiversJson(const std::vector<const Waiver*>& waivers, absl::Time now,
                              absl::string_view bundle, absl::string_view revision) {
  nlohmann::ordered_json j;
  j["bundle"] = std::string(bundle);
  j["revision"] = std::string(revision);
  j["now"] = Rfc3339(now);
  j["waivers"] = nlohmann::ordered_json::array();
  for (const Waiver* w : waivers) {
    nlohmann::ordered_json e;
    e["id"] = w->id;
    e["policy"] = w->policy;
    nlohmann::ordered_json scope = nlohmann::ordered_json::object();
    const WaiverScope& s = w->scope;
    if (!s.domain.empty()) scope["domain"] = s.domain;
    if (!s.product.empty()) scope["product"] = s.product;
    if (!s.principal.empty()) scope["principal"] = s.principal;
    if (!s.environment.empty()) scope["environment"] = s.environment;
    if (!s.kind.empty()) scope["kind"] = s.kind;
    e["scope"] = std::move(scope);
    e["reason"] = w->reason;
    e["approved_by"] = w->approved_by;
    e["ticket"] = w->ticket;
    e["expires"] = w->expires_text;
    e["expires_at"] = Rfc3339(w->expires);
    e["status"] = Status(*w, now);
    e["days_left"] = DaysLeft(*w, now);
    e["file"] = w->file;
    e["line"] = w->line;
    j["waivers"].push_back(std::move(e));
  }
  // Waiver fields are the bundle author's text: replace invalid UTF-8 rather than throw.
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string FormatWaiversMarkdown(const std::vector<const Waiver*>& waivers, absl::Time now,
                                  absl::string_view bundle, absl::string_view revision) {
  std::string out = absl::StrCat("## Waivers of `", Cell(bundle), "` (revision `", Cell(revision),
                                 "`) as of ", Rfc3339(now), "\n\n");
  if (waivers.empty()) return out + "No waivers.\n";
  out +=
      "| waiver | policy | scope | until | status | approved by | ticket | reason |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const Waiver* w : waivers) {
    absl::StrAppend(&out, "| `", Cell(w->id), "` | `", Cell(w->policy), "` | ",
                    Cell(absl::StrJoin(ScopeParts(w->scope), ", ")), " | ", Cell(w->expires_text),
                    " | ", Status(*w, now), " (", When(*w, now), ") | ", Cell(w->approved_by),
                    " | ", Cell(w->ticket), " | ", Cell(w->reason), " |\n");
  }
  return out;
}

int WaiversCommand(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, 2, {"expiring", "now", "output"}, {});
  if (!args.ok()) return Fail(args.status());
  if (args->positional.size() != 1) return Fail(absl::InvalidArgumentError(kUsage));
  std::string output = args->Get("output", "text");
  if (output != "text" && output != "json" && output != "markdown") {
    return Fail(absl::InvalidArgumentError("--output: expected text, json or markdown"));
  }
  LoadOptions load;
  if (args->Has("now")) {
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, args->Get("now"), &load.now, &err)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--now: ", err)));
    }
  }
  std::optional<absl::Duration> within;
  if (args->Has("expiring")) {
    absl::StatusOr<absl::Duration> d = ParseSpan(args->Get("expiring"));
    if (!d.ok()) return Fail(d.status());
    within = *d;
  }
  const std::string& dir = args->positional[0];
  auto bundle = LoadBundleDir(dir, nullptr, load);
  if (!bundle.ok()) return Fail(bundle.status());
  std::vector<const Waiver*> list;
  for (const Waiver& w : (*bundle)->waivers()) {
    if (!within.has_value() || w.expires <= load.now + *within) list.push_back(&w);
  }
  std::stable_sort(list.begin(), list.end(), [](const Waiver* a, const Waiver* b) {
    return a->expires != b->expires ? a->expires < b->expires : a->id < b->id;
  });
  const std::string& revision = (*bundle)->revision();
  if (output == "json") {
    std::cout << FormatWaiversJson(list, load.now, dir, revision);
  } else if (output == "markdown") {
    std::cout << FormatWaiversMarkdown(list, load.now, dir, revision);
  } else {
    std::cout << FormatWaiversText(list, load.now, dir, revision);
  }
  return 0;
}

}  // namespace arbiter::cli

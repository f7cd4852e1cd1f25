#include "service/engine/lua_helpers/print.h"

#include <algorithm>
#include <cstdio>

#include "service/engine/lua_helpers/text.h"
#include "service/value/value.h"

namespace arbiter::lua_helpers {

absl::Status AppendPrintArg(const PrintArg& arg, bool first, std::string* line) {
  auto append = [line](absl::string_view s) {
    const size_t room = kMaxPrintLineBytes - std::min(line->size(), kMaxPrintLineBytes);
    line->append(s.data(), std::min(s.size(), room));
  };
  if (!first) append(" ");
  char number[64];
  switch (arg.value.kind) {
    case Arg::Kind::kString:
      append(arg.value.string);
      return absl::OkStatus();
    case Arg::Kind::kInt:
      std::snprintf(number, sizeof number, "%lld", static_cast<long long>(arg.value.integer));
      append(number);
      return absl::OkStatus();
    case Arg::Kind::kDouble:
      std::snprintf(number, sizeof number, "%.14g", arg.value.number);
      append(number);
      return absl::OkStatus();
    case Arg::Kind::kBool:
      append(arg.value.boolean ? "true" : "false");
      return absl::OkStatus();
    case Arg::Kind::kNil:
      append("nil");
      return absl::OkStatus();
    case Arg::Kind::kDeadView:
      return DeadViewError();
    case Arg::Kind::kView:
      // Only the line's room is rendered: a whole request written out in this C call would
      // cost time no hook interrupts, only to be cut to the line's cap.
      AppendJsonPrefix(*line, *arg.value.view, kMaxPrintLineBytes);
      return absl::OkStatus();
    default:
      break;
  }
  if (arg.finding) {
    append(arg.finding_type);
    append("(");
    append(arg.finding_message);
    append(")");
  } else {
    append(arg.type_name);
  }
  return absl::OkStatus();
}

bool PrintTakesLine(size_t lines, size_t bytes) {
  return lines < kMaxPrintLines && bytes < kMaxPrintBytes;
}

void AddPrintLine(absl::string_view line, std::vector<std::string>* lines, size_t* bytes) {
  if (lines->size() > kMaxPrintLines) return;
  if (!PrintTakesLine(lines->size(), *bytes)) {
    lines->push_back("(print: output capped)");
    return;
  }
  std::string clean = CleanText(line, kMaxPrintLineBytes);
  *bytes += clean.size();
  lines->push_back(std::move(clean));
}

}  // namespace arbiter::lua_helpers

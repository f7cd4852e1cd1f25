#include "service/dryrun/report.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "service/dryrun/dry_run.h"

namespace arbiter {
namespace {

const v1::DryRunResult* FindResult(const v1::DryRunResponse& r, int index) {
  if (index >= 0 && index < r.results_size() && r.results(index).index() == index) {
    return &r.results(index);
  }
  for (const v1::DryRunResult& result : r.results()) {
    if (result.index() == index) return &result;
  }
  return nullptr;
}

// How many results each added (or removed) reason appears in.
std::map<std::string, int> ReasonCounts(const v1::DryRunResponse& r, bool added) {
  std::map<std::string, int> counts;
  for (const v1::DryRunResult& result : r.results()) {
    for (const std::string& s : added ? result.reasons_added() : result.reasons_removed()) {
      counts[s]++;
    }
  }
  return counts;
}

int ReasonsOnly(const v1::DryRunSummary& s) {
  return s.changed() - s.allow_to_deny() - s.deny_to_allow();
}

std::string Revision(const std::string& label, const std::string& revision) {
  if (label.empty()) return revision.empty() ? "(unknown)" : revision;
  return revision.empty() ? label : absl::StrCat(label, " (revision ", revision, ")");
}

std::string Plural(int n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// ---- text ----

void TextFlips(std::string& out, absl::string_view title,
               const google::protobuf::RepeatedPtrField<v1::FlipCount>& flips) {
  if (flips.empty()) return;
  size_t width = 0;
  for (const v1::FlipCount& f : flips) width = std::max(width, f.key().size());
  absl::StrAppend(&out, "\n", title, ":\n");
  for (const v1::FlipCount& f : flips) {
    absl::StrAppend(
        &out, absl::StrFormat("  %-*s  allow->deny %d  deny->allow %d\n", static_cast<int>(width),
                              f.key(), f.allow_to_deny(), f.deny_to_allow()));
  }
}

void TextReasons(std::string& out, absl::string_view title,
                 const google::protobuf::RepeatedPtrField<std::string>& reasons,
                 const std::map<std::string, int>& counts) {
  if (reasons.empty()) return;
  absl::StrAppend(&out, "\n", title, ":\n");
  for (const std::string& s : reasons) {
    auto it = counts.find(s);
    absl::StrAppend(&out, absl::StrFormat("  %4dx %s\n", it == counts.end() ? 0 : it->second, s));
  }
}

void TextExample(std::string& out, const v1::DryRunResult& r) {
  absl::StrAppend(&out, "  #", r.index(), " ", r.kind().empty() ? "?" : r.kind());
  if (!r.domain().empty()) absl::StrAppend(&out, " [", r.domain(), "]");
  if (!r.request_summary().empty()) absl::StrAppend(&out, ": ", r.request_summary());
  absl::StrAppend(&out, "\n");
  if (!r.source_decision_id().empty()) {
    absl::StrAppend(&out, "      recorded as decision ", r.source_decision_id(), "\n");
  }
  if (!r.error().empty()) absl::StrAppend(&out, "      error: ", r.error(), "\n");
  for (const std::string& s : r.reasons_added()) absl::StrAppend(&out, "      + ", s, "\n");
  for (const std::string& s : r.reasons_removed()) absl::StrAppend(&out, "      - ", s, "\n");
  for (const std::string& s : r.waiver_changes()) absl::StrAppend(&out, "      waiver ", s, "\n");
}

void TextExamples(std::string& out, const v1::DryRunResponse& r, absl::string_view title, int total,
                  const google::protobuf::RepeatedField<int32_t>& indexes) {
  if (total == 0) return;
  absl::StrAppend(&out, "\n", title, " (", indexes.size() < total ? "showing " : "",
                  indexes.size() < total ? absl::StrCat(indexes.size(), " of ") : "", total,
                  "):\n");
  for (int index : indexes) {
    if (const v1::DryRunResult* result = FindResult(r, index)) TextExample(out, *result);
  }
}

// ---- markdown ----

// A table cell: no pipes or line breaks that would end the cell or the row.
std::string Cell(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", "<br>"}, {"\r", ""}});
}

std::string Code(absl::string_view s) {
  if (s.empty()) return "";
  return absl::StrCat("`", absl::StrReplaceAll(s, {{"`", "'"}, {"|", "\\|"}}), "`");
}

// "`policy.id`: message" for a "policy.id: message" reason string.
std::string ReasonCell(absl::string_view s) {
  size_t colon = s.find(": ");
  if (colon == absl::string_view::npos) return Cell(s);
  return absl::StrCat(Code(s.substr(0, colon)), ": ", Cell(s.substr(colon + 2)));
}

void MarkdownFlips(std::string& out, absl::string_view title, absl::string_view key,
                   const google::protobuf::RepeatedPtrField<v1::FlipCount>& flips) {
  if (flips.empty()) return;
  absl::StrAppend(&out, "\n### Flips by ", title, "\n\n| ", key,
                  " | allow → deny | deny → allow |\n|---|---:|---:|\n");
  for (const v1::FlipCount& f : flips) {
    absl::StrAppend(&out, "| ", Code(f.key()), " | ", f.allow_to_deny(), " | ", f.deny_to_allow(),
                    " |\n");
  }
}

void MarkdownExamples(std::string& out, const v1::DryRunResponse& r, absl::string_view title,
                      int total, const google::protobuf::RepeatedField<int32_t>& indexes) {
  if (total == 0) return;
  absl::StrAppend(
      &out, "\n#### ", title, " (",
      indexes.size() < total ? absl::StrCat(indexes.size(), " of ", total) : absl::StrCat(total),
      ")\n\n| # | kind | domain | request | what changed |\n|---:|---|---|---|---|\n");
  for (int index : indexes) {
    const v1::DryRunResult* result = FindResult(r, index);
    if (result == nullptr) continue;
    std::vector<std::string> changes;
    if (!result->error().empty()) changes.push_back(absl::StrCat("error: ", Cell(result->error())));
    for (const std::string& s : result->reasons_added()) {
      changes.push_back(absl::StrCat("➕ ", ReasonCell(s)));
    }
    for (const std::string& s : result->reasons_removed()) {
      changes.push_back(absl::StrCat("➖ ", ReasonCell(s)));
    }
    std::string request = Cell(result->request_summary());
    if (!result->source_decision_id().empty()) {
      absl::StrAppend(&request, "<br>decision ", Code(result->source_decision_id()));
    }
    absl::StrAppend(&out, "| ", result->index(), " | ", result->kind(), " | ",
                    Code(result->domain()), " | ", request, " | ", absl::StrJoin(changes, "<br>"),
                    " |\n");
  }
}

}  // namespace

int CandidateOnlyFailures(const v1::DryRunResponse& response) {
  int n = 0;
  for (const v1::DryRunResult& r : response.results()) {
    if (ParseChangeOutcome(r.change()) == ChangeOutcome::kFailed && r.has_active() &&
        !r.has_candidate()) {
      ++n;
    }
  }
  return n;
}

int DryRunExitCode(const v1::DryRunResponse& response) {
  if (response.candidate_errors_size() > 0) return 2;
  const v1::DryRunSummary& s = response.summary();
  if (s.allow_to_deny() + s.deny_to_allow() > 0 || CandidateOnlyFailures(response) > 0) return 1;
  return 0;
}

std::string FormatDryRunText(const v1::DryRunResponse& r, const DryRunReportLabels& labels) {
  std::string out;
  if (r.candidate_errors_size() > 0) {
    absl::StrAppend(&out, "candidate bundle ", labels.candidate.empty() ? "" : labels.candidate,
                    labels.candidate.empty() ? "" : " ", "does not load (",
                    Plural(r.candidate_errors_size(), "error", "errors"),
                    "); nothing was evaluated:\n");
    for (const std::string& e : r.candidate_errors()) absl::StrAppend(&out, "  ", e, "\n");
    return out;
  }
  const v1::DryRunSummary& s = r.summary();
  absl::StrAppend(&out, "dry-run: candidate ", Revision(labels.candidate, r.candidate_revision()),
                  labels.candidate_at.empty() ? "" : " at ", labels.candidate_at,
                  "\n    against active ", Revision(labels.active, r.active_revision()), "\n\n");
  absl::StrAppend(&out, absl::StrFormat("  requests      %6d\n", s.total()));
  absl::StrAppend(&out, absl::StrFormat("  changed       %6d\n", s.changed()));
  absl::StrAppend(&out, absl::StrFormat("    allow->deny %6d\n", s.allow_to_deny()));
  absl::StrAppend(&out, absl::StrFormat("    deny->allow %6d\n", s.deny_to_allow()));
  absl::StrAppend(&out, absl::StrFormat("    reasons only%6d\n", ReasonsOnly(s)));
  absl::StrAppend(&out, absl::StrFormat("  failed        %6d", s.failed()));
  int candidate_only = CandidateOnlyFailures(r);
  if (candidate_only > 0) {
    absl::StrAppend(&out, "  (", candidate_only, " decided by the active bundle only)");
  }
  absl::StrAppend(&out, "\n");
  TextFlips(out, "flips by kind", s.by_kind());
  TextFlips(out, "flips by domain", s.by_domain());
  TextFlips(out, "flips by policy", s.by_policy());
  TextFlips(out, "flips by waiver", s.by_waiver());
  TextReasons(out, "reasons that appear with the candidate", s.reasons_added(),
              ReasonCounts(r, true));
  TextReasons(out, "reasons that disappear with the candidate", s.reasons_removed(),
              ReasonCounts(r, false));
  TextExamples(out, r, "allow -> deny", s.allow_to_deny(), s.allow_to_deny_examples());
  TextExamples(out, r, "deny -> allow", s.deny_to_allow(), s.deny_to_allow_examples());
  TextExamples(out, r, "failed", s.failed(), s.failed_examples());
  if (s.changed() == 0 && s.failed() == 0) {
    absl::StrAppend(&out, "\nno decision changes.\n");
  }
  return out;
}

std::string FormatDryRunMarkdown(const v1::DryRunResponse& r, const DryRunReportLabels& labels) {
  std::string out;
  if (r.candidate_errors_size() > 0) {
    absl::StrAppend(&out, "## Policy dry-run: the candidate bundle does not load\n\n",
                    "Nothing was evaluated. ", Plural(r.candidate_errors_size(), "error", "errors"),
                    ":\n\n");
    for (const std::string& e : r.candidate_errors()) {
      absl::StrAppend(&out, "- ", Code(e), "\n");
    }
    return out;
  }
  const v1::DryRunSummary& s = r.summary();
  absl::StrAppend(&out, "## Policy dry-run: ", Code(r.candidate_revision()), " against ",
                  Code(r.active_revision()), "\n\n");
  absl::StrAppend(&out, "Candidate: ", Cell(Revision(labels.candidate, r.candidate_revision())),
                  labels.candidate_at.empty() ? "" : " evaluated at ", Cell(labels.candidate_at),
                  "  \nActive: ", Cell(Revision(labels.active, r.active_revision())), "\n\n");
  int flips = s.allow_to_deny() + s.deny_to_allow();
  if (flips == 0 && s.changed() == 0) {
    absl::StrAppend(&out, "**No decision changes** in ", Plural(s.total(), "request", "requests"),
                    ".");
  } else {
    absl::StrAppend(
        &out, "**", flips, " of ", Plural(s.total(), "decision flips", "decisions flip"),
        "**: ", s.allow_to_deny(), " allow → deny, ", s.deny_to_allow(), " deny → allow.");
  }
  if (s.failed() > 0) {
    absl::StrAppend(&out, " ", Plural(s.failed(), "request", "requests"),
                    " could not be evaluated.");
  }
  absl::StrAppend(&out, "\n\n| | requests |\n|---|---:|\n");
  absl::StrAppend(&out, "| evaluated | ", s.total(), " |\n");
  absl::StrAppend(&out, "| changed | ", s.changed(), " |\n");
  absl::StrAppend(&out, "| allow → deny | ", s.allow_to_deny(), " |\n");
  absl::StrAppend(&out, "| deny → allow | ", s.deny_to_allow(), " |\n");
  absl::StrAppend(&out, "| same effect, reasons changed | ", ReasonsOnly(s), " |\n");
  absl::StrAppend(&out, "| failed | ", s.failed(), " |\n");
  MarkdownFlips(out, "kind", "kind", s.by_kind());
  MarkdownFlips(out, "domain", "domain", s.by_domain());
  MarkdownFlips(out, "policy", "policy", s.by_policy());
  MarkdownFlips(out, "waiver", "waiver", s.by_waiver());
  if (!s.reasons_added().empty() || !s.reasons_removed().empty()) {
    absl::StrAppend(&out,
                    "\n### Reasons that change\n\n| | decisions | reason |\n|---|---:|---|\n");
    std::map<std::string, int> added = ReasonCounts(r, true);
    std::map<std::string, int> removed = ReasonCounts(r, false);
    for (const std::string& reason : s.reasons_added()) {
      absl::StrAppend(&out, "| ➕ appears | ", added[reason], " | ", ReasonCell(reason), " |\n");
    }
    for (const std::string& reason : s.reasons_removed()) {
      absl::StrAppend(&out, "| ➖ disappears | ", removed[reason], " | ", ReasonCell(reason),
                      " |\n");
    }
  }
  if (flips > 0 || s.failed() > 0) absl::StrAppend(&out, "\n### Examples\n");
  MarkdownExamples(out, r, "allow → deny", s.allow_to_deny(), s.allow_to_deny_examples());
  MarkdownExamples(out, r, "deny → allow", s.deny_to_allow(), s.deny_to_allow_examples());
  MarkdownExamples(out, r, "could not be evaluated", s.failed(), s.failed_examples());
  return out;
}

std::string FormatDryRunJson(const v1::DryRunResponse& response) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  // A message field that was never set is left out even with always_print_primitive_fields;
  // programs reading `summary.total` must find it, also when the candidate did not load.
  v1::DryRunResponse copy = response;
  copy.mutable_summary();
  (void)google::protobuf::util::MessageToJsonString(copy, &out, options);
  return out;
}

}  // namespace arbiter

// Rendering of a deployment gate's decision for the places a pipeline shows it: `text` for
// people, `json` (the Decision in the proto3 JSON mapping plus the request's essentials),
// `junit` (one test case per policy that ran, for CI test reports) and `github` (workflow
// annotations on the descriptor or contract file and line). Every format shows the classified
// schema diff and version deltas even when the deployment is allowed, so that a reviewer sees
// what changed.
#ifndef ARBITER_CLIENTS_CLI_GATE_OUTPUT_H_
#define ARBITER_CLIENTS_CLI_GATE_OUTPUT_H_

#include <string>
#include <vector>

#include "arbiter/v1/types.pb.h"
#include "clients/cli/gate_input.h"

namespace arbiter::cli {

// How a gate ended, which decides the exit code.
struct GateOutcome {
  bool allowed = false;
  int errors = 0;    // deny findings that counted
  int warnings = 0;  // warning findings
  bool fail_on_warn = false;
  // 0 allowed, 1 denied (or warnings under --fail-on-warn).
  int ExitCode() const { return !allowed || (fail_on_warn && warnings > 0) ? 1 : 0; }
};

GateOutcome OutcomeOf(const v1::Decision& d, bool fail_on_warn);

// Where a dotted path (a change path such as "schema.CustomerTransaction.amount.type" or
// "spec.outputPorts.sql-access.schema", or a key such as "metadata.version") is written in a
// YAML document. Segments are matched as map keys, as the `name` of list entries (also inside
// a map's child lists and maps: `fields`, `properties`, `columns`, ...), and inside JSON text
// embedded in a scalar (an Avro specification) as quoted strings in order. When the whole path
// is not there (a removed field), the deepest part that is gives the line.
struct YamlLocation {
  int line = 0;        // 1-based; 0 when not even the first segment was found
  size_t matched = 0;  // segments found
  bool complete = false;
};
YamlLocation LocateYamlPath(const std::string& yaml_text, const std::string& dotted_path);

// One GitHub workflow annotation.
struct Annotation {
  std::string level;  // "error", "warning" or "notice"
  std::string file;
  int line = 0;  // 0: the whole file
  std::string title;
  std::string message;
};

// The annotations for a decision: one per deny or warning finding, titled with the policy id,
// on the file the message names (a contract by its name, else the descriptor) and the line of
// a key the message or detail names (else the version line when it speaks of versions); and a
// notice for each breaking or warning schema change at the line of its path; and for each entry
// of the blast radius (change.impact), at the same line, who read the changed column (a warning
// when the decision log shows reads, else a notice) and who declared they consume it.
std::vector<Annotation> GateAnnotations(const GateInputs& in, const v1::Decision& d);

// "::error file=F,line=N,title=T::message" with GitHub's escaping of properties and data.
std::string FormatAnnotation(const Annotation& a);

std::string FormatGateText(const GateInputs& in, const v1::Decision& d, const GateOutcome& o);
std::string FormatGateJson(const GateInputs& in, const v1::Decision& d, const GateOutcome& o);
std::string FormatGateJunit(const GateInputs& in, const v1::Decision& d, const GateOutcome& o);
std::string FormatGateGithub(const GateInputs& in, const v1::Decision& d, const GateOutcome& o);
// A pull request comment: the outcome, the findings, the schema changes and the blast radius
// (change.impact) as GitHub-flavoured Markdown tables.
std::string FormatGateMarkdown(const GateInputs& in, const v1::Decision& d, const GateOutcome& o);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_GATE_OUTPUT_H_

// The blast radius of a breaking change (issue 15): for each breaking entry of a deployment's
// `req.change` that names a column of a table the product serves, who is affected — the
// consumers the product's contracts declare (`consumers:`), and the principals and domains the
// decision log shows were ALLOWED to read that column recently. Policies see the result as
// `req.change.impact`; `arbiter gate` prints it; CheckDeployment returns it in the decision.
//
// Which columns a breaking entry names (paths as service/diff writes them):
//   - product entries under `spec.outputPorts.<port>.tables.<table>.columns.<column>` name that
//     column of `<catalog>.<schema>.<table>` (the port's catalog and schema); a removed table
//     (`...tables.<table>`) or output port (`spec.outputPorts.<port>`) names every column of its
//     tables;
//   - contract entries under `schema.<model>.<field>` or `models.<model>.<field>` name the
//     top-level field as a column: of the product's table named like the model, else of every
//     table of the product that has a column of that name; a removed model or contract names
//     every column of those tables (the table named like the model, else all of them).
// The product's tables are those of the previous descriptor and the new one together (a removed
// column is only in the previous one). Entries about anything else (versions, SLOs, quality
// rules, ...) have no impact entry.
//
// Who read a column: decision log lines (service/decision_json's format) of kind `access` whose
// decision was `allow`, whose action is `read`, within the window. Table names compare
// case-insensitively (as the engine's catalog does), columns too. A request that named the
// table but no columns (a `SELECT *`, or a table-level grant check) counts as reading EVERY
// column of the table: it was allowed the whole table, and whatever it ran breaks when any
// column goes. A request that named the product but no table counts as reading every column of
// every table of the product, for the same reason. Principals and domains are shown exactly as
// the log recorded them: a server's log is already redacted (decision_log.redact), so a
// digested principal id appears as its "sha256:..." digest and a dropped one as "".
//
// Hostile input: a log may be huge or malformed. A scan stops at Limits (bytes read, lines,
// wall time) and says so (`complete = false`, `limit`); lines that do not parse, or that are
// longer than Limits::max_line_bytes, are skipped and counted; at most Limits::max_principals
// distinct principals are tracked per computation (reads by others are still counted, in
// `other_principals`). Files are read newest first, each from its end backwards, so a cap
// loses the oldest decisions. Lines that name none of the changed tables (nor the product) are
// not parsed.
//
// No transport, no engine: everything here works on document trees and text. Thread-compatible
// (an Impact is one computation's state); the free functions are thread-safe.
#ifndef ARBITER_SERVICE_IMPACT_IMPACT_H_
#define ARBITER_SERVICE_IMPACT_IMPACT_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/value/value.h"

namespace arbiter::impact {

// Bounds of one computation's log scan.
struct Limits {
  uint64_t max_bytes = 256ull << 20;  // bytes of log read, over all files
  uint64_t max_lines = 2'000'000;     // lines looked at
  absl::Duration max_time = absl::Seconds(2);
  size_t max_line_bytes = 4 << 20;  // longer lines are skipped (the log caps lines at 1 MiB)
  size_t max_principals = 10000;    // distinct principals tracked
};

struct Options {
  absl::Time now = absl::Now();
  // Decisions at or after now - window count.
  absl::Duration window = absl::Hours(24 * 30);
  Limits limits;
  // The scan also stops here (a request's deadline); whichever of this and max_time is first.
  absl::Time deadline = absl::InfiniteFuture();
};

// "30d", "12h", "90m", "45s" (a positive whole number and a unit). INVALID_ARGUMENT naming
// `what` otherwise.
absl::StatusOr<absl::Duration> ParseWindow(absl::string_view text, absl::string_view what);

// One computation: built from a deployment, fed decision log lines, turned into the Value
// policies see.
class Impact {
 public:
  // `change` is what ComputeChange returned (req.change); the documents are the deployment's.
  // `previous_product` may be null.
  Impact(const Value& product, const Value* previous_product, const std::vector<Value>& contracts,
         const std::vector<Value>& previous_contracts, const Value& change, const Options& options);

  // True when no breaking entry names a column: there is nothing to look for in a log.
  bool empty() const { return entries_.empty(); }

  // Reads decision log files. `paths` are read in the order given, which should be newest
  // first (a live log, then its rotations .1, .2, ...); each file backwards, newest line
  // first, so that a limit loses the oldest decisions. A line older than the window ends its
  // file (a log is in time order) and, with `rotation_order`, the scan (older rotations
  // cannot hold anything newer). A file that cannot be opened is recorded in `errors` (shown in the
  // result) and skipped: the impact is advisory, a missing rotation must not fail a gate.
  void ScanFiles(const std::vector<std::string>& paths, bool rotation_order);
  // Feeds lines already in memory (the server's recent-decision ring, a test case's lines).
  void ScanLines(const std::vector<std::string>& lines);
  // Names where the lines came from, for people ("decision log /var/log/arbiter/decisions.log").
  void SetSource(std::string source) { source_ = std::move(source); }

  // req.change.impact (shape in README's policy section):
  //   {since, until (unix seconds), window_seconds, source, complete, limit?,
  //    scanned = {files, lines, bytes, skipped, matched}, errors?,
  //    entries = [{document, path, rule, line?, columns = ["cat.schema.table.column" | ".*"],
  //                consumers = [{domain, team, use_case, contract}],
  //                decisions, domains = [{domain, decisions, last_seen, consumer, producer?}],
  //                principals = [{id, domain, decisions, last_seen}], other_principals}],
  //    domains = [{domain, decisions, last_seen, consumer}] (over all entries, readers and
  //              declared consumers), principals = [...] (over all entries)}
  // Lists of domains and principals are ordered by decisions (most first), then name.
  Value ToValue() const;

 private:
  struct Reader {
    std::string id, domain;
    uint64_t decisions = 0;
    int64_t last_seen = 0;  // unix seconds
  };
  struct Aggregate {
    uint64_t decisions = 0;
    std::map<std::string, Reader> domains;                             // by domain
    std::map<std::pair<std::string, std::string>, Reader> principals;  // by (domain, id)
    uint64_t other_principals = 0;                                     // reads beyond the cap
  };
  struct Column {
    std::string table;   // lower-cased catalog.schema.table
    std::string column;  // lower-cased; "" = every column
    std::string display;
  };
  struct Entry {
    std::string document, path, rule;
    Value line;
    std::vector<Column> columns;
    std::vector<Value> consumers;
    Aggregate readers;
  };

  // One line of the log; false when it stopped the scan (a limit).
  bool Line(absl::string_view line);
  bool OverLimit();
  void Count(Aggregate& a, const std::string& id, const std::string& domain, int64_t seen,
             bool count_principal);

  Options options_;
  absl::Time since_, stop_at_;
  std::string product_name_;
  std::string product_domain_;
  std::string product_needle_;  // "\"<lower-cased product name>\"", for the cheap filter    // the
                                // product's metadata.domain: its readers are "producer"
  std::set<std::string> tables_;  // lower-cased tables that any entry names
  std::vector<Entry> entries_;
  std::set<std::string> consumer_domains_;
  Aggregate all_;
  size_t principals_tracked_ = 0;
  std::string source_ = "none";
  std::vector<std::string> errors_;
  uint64_t files_ = 0, lines_ = 0, bytes_ = 0, skipped_ = 0, matched_ = 0;
  std::string limit_;  // why the scan stopped early; "" when it did not
};

// Where one computation's decision log lines come from.
struct Source {
  // Read in this order; with `rotation_order` they are a live log and its rotations, newest
  // first (see Impact::ScanFiles).
  std::vector<std::string> files;
  bool rotation_order = false;
  // Lines in memory, read after the files.
  std::vector<std::string> lines;
  // For people: "decision log /var/log/arbiter/decisions.log", "none" when nothing is read.
  std::string name = "none";
};

// The whole computation: req.change.impact for a deployment, or null when no breaking entry of
// `change` names a column of a table the product serves (nothing to show, nothing to scan).
Value Compute(const Value& product, const Value* previous_product,
              const std::vector<Value>& contracts, const std::vector<Value>& previous_contracts,
              const Value& change, const Options& options, const Source& source);

// The live file and its rotations that exist: path, path.1, ... path.<max_files>, newest first.
std::vector<std::string> RotatedFiles(const std::string& path, int max_files);

}  // namespace arbiter::impact

#endif  // ARBITER_SERVICE_IMPACT_IMPACT_H_

// The decision log: every decision as one JSON line, written by a background thread.
//
// Callers serialize a decision themselves, into the log's Lines buffer (a batch's lines share
// one), and hand it over. Appending only enqueues, so the decision path never waits for the disk
// (unless the log is configured to block on overflow). A writer thread takes the queued lines in
// batches, writes each batch of whole lines with one writev call, straight from the buffers they
// were made in, and rotates the file by size:
// path -> path.1 -> path.2 ... -> path.<max_files> (the oldest is discarded).
//
// Nothing is lost silently: lines refused because the queue is full, and lines lost because a
// write failed (ENOSPC, say), are counted in Stats. A failed write never leaves half a line in the
// middle of the file, so after a crash (even SIGKILL) the file holds whole lines plus at most one
// truncated final line.
//
// The newest lines are also kept in memory, so that the dry-run can replay recent decisions
// without reading the file back.
//
// This module knows nothing of policies or transports.
#ifndef ARBITER_SERVICE_DECISION_LOG_DECISION_LOG_H_
#define ARBITER_SERVICE_DECISION_LOG_DECISION_LOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace arbiter {

// Configuration of a DecisionLog. Defaults suit a production server.
struct DecisionLogOptions {
  // Where lines go: a file path (created if missing, appended to if present), "-" for standard
  // output (never rotated), or "" to disable writing (Append still feeds Recent()).
  std::string path;
  // Rotate once the current file would grow past this many bytes. A single line longer than
  // this gets a file of its own.
  size_t max_file_bytes = 100 << 20;
  // Rotated files kept: path.1 (newest) .. path.<max_files>. 0 discards the full file.
  int max_files = 5;
  // Lines accepted but not yet written (queued or being written) before Append overflows.
  size_t queue_capacity = 65536;
  // What Append does when the queue is full: wait for room, or refuse the line (and count it).
  // A decision service should rather lose a log line than stall decisions, hence kDrop.
  enum class Overflow { kBlock, kDrop };
  Overflow overflow = Overflow::kDrop;
  // Lines kept in memory for Recent() (the dry-run replay). 0 keeps none.
  size_t recent_capacity = 10000;

  // Byte budgets (issue 11: a few huge requests must not grow the server by their size times
  // the line counts above). A line longer than max_line_bytes is replaced by a marker line that
  // is still one JSON object and keeps the line's start:
  //   {"arbiter_truncated_line":{"original_bytes":N,"prefix":"<the first bytes, as a string>"}}
  // (counted in Stats::truncated). The queue refuses (kDrop) or waits for (kBlock) a line that
  // would take it over queue_bytes; Recent() forgets its oldest lines beyond recent_bytes.
  size_t max_line_bytes = 1 << 20;
  size_t queue_bytes = 64 << 20;
  size_t recent_bytes = 16 << 20;
  // Also rotate a non-empty file this long after it was started; zero = by size only. With
  // max_files, bounds the history kept by age as well as by size.
  absl::Duration rotate_interval = absl::ZeroDuration();

  // INVALID_ARGUMENT naming every bad field at once.
  absl::Status Validate() const;
};

// Where the writer thread puts bytes. The default writes to a file (or stdout); tests inject
// sinks that stall or fail. Only the writer thread calls a sink, so implementations need no
// locking of their own.
class DecisionLogSink {
 public:
  virtual ~DecisionLogSink() = default;
  // Writes `bytes` (one or more whole lines, each ending in '\n'). On error the sink should leave
  // no partial line behind (the file sink truncates back) and return a status naming the
  // destination; the log counts the lines as lost and carries on.
  virtual absl::Status Write(absl::string_view bytes) = 0;
  // Writes `pieces` in order as one write of their bytes (together whole lines), as Write does.
  // The log hands over its lines where they were made, without copying them together first;
  // this default does copy them into one buffer, for sinks that only implement Write.
  virtual absl::Status WritePieces(absl::Span<const absl::string_view> pieces);
  // Makes everything written so far durable (fdatasync for files).
  virtual absl::Status Flush() = 0;
  // Closes the destination and opens the configured path afresh; called after the log has
  // renamed the full file away during rotation.
  virtual absl::Status Reopen() = 0;
};

// Opens `path` for appending ("-" means standard output, never closed). The error names the path.
absl::StatusOr<std::unique_ptr<DecisionLogSink>> OpenFileSink(const std::string& path);

// The decision log writer. Thread-safe: Append, Flush, stats and Recent may be called from any
// thread concurrently. The destructor shuts down (draining the queue).
class DecisionLog {
 public:
  using Sink = DecisionLogSink;
  using Overflow = DecisionLogOptions::Overflow;

  // Counters since Create. Every appended line ends up in exactly one of: written,
  // dropped_write_error, or still queued (queue_depth); lines refused by Append are counted in
  // dropped_overflow or dropped_shutdown and are not part of `appended`.
  struct Stats {
    uint64_t appended = 0;             // lines accepted by Append
    uint64_t written = 0;              // lines the sink accepted
    uint64_t dropped_overflow = 0;     // lines refused because the queue was full (kDrop)
    uint64_t dropped_shutdown = 0;     // lines refused because Shutdown had begun
    uint64_t dropped_write_error = 0;  // accepted lines lost to failed writes
    uint64_t write_errors = 0;         // failed sink calls (write, flush, rotation, reopen)
    uint64_t queue_depth = 0;          // accepted lines not yet written or lost
    uint64_t rotations = 0;            // completed file rotations
    uint64_t truncated = 0;            // lines over max_line_bytes, replaced by a marker line
    std::string last_error;            // the most recent write error, for status pages
    // All lines lost or refused.
    uint64_t dropped() const { return dropped_overflow + dropped_shutdown + dropped_write_error; }
  };

  // Validates `options`, opens the destination (unless `sink` is given, which then receives the
  // lines while `options.path` still names the file that rotation renames) and starts the writer
  // thread. Errors: INVALID_ARGUMENT for bad options; the open error, naming the path, when the
  // file cannot be opened.
  static absl::StatusOr<std::unique_ptr<DecisionLog>> Create(DecisionLogOptions options,
                                                             std::unique_ptr<Sink> sink = nullptr);

  ~DecisionLog();
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  // Enqueues one line (without its trailing newline) stamped with the decision's `time`.
  // Returns false when the line was refused: the queue is full under kDrop, or Shutdown has
  // begun. Under kBlock waits for room. A refused line still enters Recent(): the decision
  // happened even if the file could not take it.
  bool Append(absl::Time time, absl::string_view line);

  // Lines made together (a batch chunk's decisions, by the thread that made them), in one
  // buffer: one allocation for all of them instead of two per line, and the writer hands the
  // file their bytes where they were made. The queue and Recent() share the buffer.
  class Lines {
   public:
    // Room for `lines` lines of `bytes` in all (newlines included), so that adding them grows
    // nothing.
    void Reserve(size_t lines, size_t bytes) {
      marks_.reserve(lines);
      bytes_.reserve(bytes);
    }
    // Adds one line: `write(std::string& out)` appends its bytes, without a newline, to `out`
    // (and only appends).
    template <typename Write>
    requires std::is_invocable_v<Write, std::string&>
    void Add(absl::Time time, Write&& write) {
      const size_t begin = bytes_.size();
      write(bytes_);
      bytes_.push_back('\n');
      marks_.push_back({time, begin});
    }
    void Add(absl::Time time, absl::string_view line) {
      Add(time, [line](std::string& out) { out.append(line.data(), line.size()); });
    }
    size_t size() const { return marks_.size(); }
    bool empty() const { return marks_.empty(); }
    // The bytes added so far, newlines included.
    size_t bytes() const { return bytes_.size(); }

   private:
    friend class DecisionLog;
    struct Mark {
      absl::Time time;
      size_t begin;  // in bytes_; the line ends at the next mark's begin (or bytes_'s end)
    };
    std::string bytes_;
    std::vector<Mark> marks_;
  };
  // Appends `lines` in order, each exactly as Append would (truncated, accounted, refused or
  // waited for alike), taking the log's locks once for all of them instead of once per line.
  // Returns how many were accepted.
  size_t AppendAll(Lines lines);

  // Returns once every line accepted before the call has been written (or counted as lost) and
  // the sink flushed. Returns at once when writing is disabled or the log is shut down.
  void Flush();

  // Drains the queue, flushes, and stops the writer thread. Idempotent; later Appends are
  // refused.
  void Shutdown();

  Stats stats() const;

  // Up to `max_lines` of the newest lines kept in memory whose time is at or after `since`,
  // oldest first.
  std::vector<std::string> Recent(size_t max_lines, absl::Time since = absl::InfinitePast()) const;

  // Test hook: called (with an internal lock held: keep it short, do not call back into the log)
  // each time an Append starts waiting for room under kBlock. Set before concurrent use.
  void SetOnAppendBlockedForTest(std::function<void()> hook) { on_blocked_ = std::move(hook); }

 private:
  // An appended Lines buffer: its bytes and where each line starts, shared by the queue and
  // Recent() and freed when both are done with all of its lines.
  struct Block {
    std::string bytes;
    std::vector<Lines::Mark> marks;
    size_t size() const { return marks.size(); }
    size_t begin(size_t i) const { return marks[i].begin; }
    // Past line i's newline.
    size_t end(size_t i) const { return i + 1 < marks.size() ? marks[i + 1].begin : bytes.size(); }
    // Line i without its newline.
    absl::string_view text(size_t i) const {
      return absl::string_view(bytes).substr(begin(i), end(i) - begin(i) - 1);
    }
  };
  // Lines [first, last) of a block. The queue and Recent() hold ranges, not lines: a batch's
  // lines are one range on each side, and more only where a line was refused between accepted
  // ones. An entry per line, each with its own reference to the block taken and dropped on three
  // threads, cost ~450 instructions per line appended and written; ranges, ~250
  // (bench/server_instructions.sh shipped+log batch).
  struct Range {
    std::shared_ptr<const Block> block;
    size_t first = 0;
    size_t last = 0;
    // Its lines' bytes, newlines included.
    size_t bytes() const { return first == last ? 0 : block->end(last - 1) - block->begin(first); }
  };

  DecisionLog(DecisionLogOptions options, std::unique_ptr<Sink> sink, uint64_t file_bytes);
  // The lines of `lines` as one block, each over max_line_bytes replaced by its marker (counted
  // in `truncated`).
  std::shared_ptr<const Block> Prepare(Lines lines, uint64_t* truncated) const;
  // Into Recent()'s memory, oldest first.
  void Remember(const std::shared_ptr<const Block>& block);
  // Append's part under mu_ for line i of `block`: counts, queues or refuses it (waiting for room
  // under kBlock), and wakes the writer as Append does.
  bool EnqueueLocked(const std::shared_ptr<const Block>& block, size_t i)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriterLoop();
  // Writes `batch`, rotating as needed. Runs on the writer thread without mu_ held; `pieces`
  // is the writer's, reused.
  void WriteBatch(const std::vector<Range>& batch, std::vector<absl::string_view>& pieces);
  // Writes `pieces` (`lines` whole lines of `bytes`); on failure counts the lines as lost.
  void WritePieces(std::vector<absl::string_view>& pieces, size_t lines, size_t bytes);
  void Rotate();
  void RecordError(const absl::Status& status);

  const DecisionLogOptions options_;
  const std::unique_ptr<Sink> sink_;  // null when writing is disabled
  std::function<void()> on_blocked_;

  mutable absl::Mutex mu_;
  absl::CondVar writer_cv_;    // work for the writer: lines, a flush request, shutdown
  absl::CondVar room_cv_;      // room in the queue (kBlock appenders)
  absl::CondVar progress_cv_;  // lines done or flushed (Flush callers)
  std::deque<Range> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t queued_lines_ ABSL_GUARDED_BY(mu_) = 0;  // in queue_
  uint64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // in queue_
  uint64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;     // taken by the writer, not yet done
  uint64_t in_flight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t accepted_seq_ ABSL_GUARDED_BY(mu_) = 0;     // lines accepted so far
  uint64_t done_seq_ ABSL_GUARDED_BY(mu_) = 0;         // lines written or lost so far
  uint64_t flush_requested_ ABSL_GUARDED_BY(mu_) = 0;  // flush wanted through this seq
  uint64_t flushed_seq_ ABSL_GUARDED_BY(mu_) = 0;      // flushed through this seq
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_exited_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);

  // Writer-thread state.
  uint64_t file_bytes_ = 0;                // bytes in the current file
  absl::Time file_started_ = absl::Now();  // for rotate_interval

  mutable absl::Mutex recent_mu_;
  std::deque<Range> recent_ ABSL_GUARDED_BY(recent_mu_);
  size_t recent_lines_ ABSL_GUARDED_BY(recent_mu_) = 0;
  size_t recent_bytes_ ABSL_GUARDED_BY(recent_mu_) = 0;

  absl::Mutex join_mu_;  // serializes Shutdown callers around the join
  std::thread writer_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_DECISION_LOG_DECISION_LOG_H_

#include "service/decision_log/decision_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/value/value.h"

namespace arbiter {
namespace {

// Upper bound on one batch, so that one write call stays reasonable and a rotation check is
// never far behind.
constexpr size_t kMaxBatchBytes = 1 << 20;
// The writer lets lines gather for up to this long after the first one arrives, unless a flush,
// the shutdown or a queue past kWakeBytes calls it sooner: at thousands of decisions per second
// a wake-up per line (a futex call and a context switch on each side) cost more CPU than
// rendering the line.
constexpr absl::Duration kLinger = absl::Milliseconds(2);
constexpr size_t kWakeBytes = kMaxBatchBytes / 2;
constexpr int kMaxRotatedFiles = 1000;

std::string Quoted(absl::string_view path) { return absl::StrCat("\"", path, "\""); }

class FileSink : public DecisionLogSink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  ~FileSink() override { Close(); }

  absl::Status Open() {
    if (path_ == "-") {
      fd_ = STDOUT_FILENO;
      return absl::OkStatus();
    }
    // The log holds who read what: readable by the server's user only, and never written
    // through a symlink someone planted where the log goes.
    const int fd =
        ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("decision log: cannot open ", Quoted(path_),
                              errno == ELOOP ? " (it is a symlink; give the real path)" : ""));
    }
    fd_ = fd;
    struct stat st;
    regular_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
    // A file left by an older version or another tool may be wider open than 0600.
    if (regular_ && (st.st_mode & 077) != 0) ::fchmod(fd_, 0600);
    return absl::OkStatus();
  }

  absl::Status Write(absl::string_view bytes) override {
    if (fd_ < 0) {
      // A failed reopen after rotation: try again rather than lose every later line.
      if (absl::Status s = Open(); !s.ok()) return s;
    }
    // With O_APPEND and a single writer, the end of the file is where this write starts; on a
    // failure we cut the file back there so that no half line precedes the next write.
    const off_t start = regular_ ? ::lseek(fd_, 0, SEEK_END) : -1;
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        if (done > 0 && start >= 0) (void)!::ftruncate(fd_, start);
        return absl::ErrnoToStatus(err, absl::StrCat("decision log: write to ", Quoted(path_)));
      }
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Flush() override {
    if (fd_ < 0) return absl::OkStatus();
    if (::fdatasync(fd_) != 0 && errno != EINVAL && errno != EROFS) {
      return absl::ErrnoToStatus(errno, absl::StrCat("decision log: sync ", Quoted(path_)));
    }
    return absl::OkStatus();
  }

  absl::Status Reopen() override {
    if (path_ == "-") return absl::OkStatus();
    Close();
    return Open();
  }

 private:
  void Close() {
    if (fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);
    fd_ = -1;
  }

  const std::string path_;
  int fd_ = -1;
  bool regular_ = false;
};

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

// The marker that replaces a line over `max` bytes: one JSON object holding the line's start as
// a string (cut at a UTF-8 boundary), so that the file stays one JSON object per line.
std::string TruncatedLine(const std::string& line, size_t max) {
  std::string out =
      absl::StrCat("{\"arbiter_truncated_line\":{\"original_bytes\":", line.size(), ",\"prefix\":");
  // The longest start of the line whose escaped form fits (AppendJsonString's escapes: 2 bytes
  // for a quote, backslash, \n, \r, \t, 6 for another control character).
  const size_t budget = max > 128 ? max - 128 : 0;  // room for the wrapper
  size_t i = 0;
  for (size_t escaped = 0; i < line.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    const size_t n = c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ? 2
                     : c < 0x20                                                   ? 6
                                                                                  : 1;
    if (escaped + n > budget) break;
    escaped += n;
  }
  // Do not end inside a multi-byte sequence: drop continuation bytes and their lead byte.
  if (i < line.size()) {
    while (i > 0 && (static_cast<unsigned char>(line[i - 1]) & 0xC0) == 0x80) --i;
    if (i > 0 && (static_cast<unsigned char>(line[i - 1]) & 0xC0) == 0xC0) --i;
  }
  AppendJsonString(out, absl::string_view(line).substr(0, i));
  out.append("}}");
  return out;
}

absl::Status DecisionLogOptions::Validate() const {
  std::vector<std::string> problems;
  if (max_file_bytes == 0) problems.push_back("max_file_bytes must be positive");
  if (max_files < 0 || max_files > kMaxRotatedFiles) {
    problems.push_back(
        absl::StrCat("max_files must be in [0, ", kMaxRotatedFiles, "], got ", max_files));
  }
  if (queue_capacity == 0) problems.push_back("queue_capacity must be positive");
  if (max_line_bytes < 1024) problems.push_back("max_line_bytes must be at least 1024");
  if (queue_bytes < max_line_bytes) problems.push_back("queue_bytes must be >= max_line_bytes");
  if (rotate_interval < absl::ZeroDuration()) problems.push_back("rotate_interval must be >= 0");
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("decision log options: ", absl::StrJoin(problems, "; ")));
}

absl::StatusOr<std::unique_ptr<DecisionLogSink>> OpenFileSink(const std::string& path) {
  auto sink = std::make_unique<FileSink>(path);
  if (absl::Status s = sink->Open(); !s.ok()) return s;
  return sink;
}

absl::StatusOr<std::unique_ptr<DecisionLog>> DecisionLog::Create(DecisionLogOptions options,
                                                                 std::unique_ptr<Sink> sink) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (options.path.empty()) {
    sink = nullptr;
  } else if (sink == nullptr) {
    absl::StatusOr<std::unique_ptr<Sink>> opened = OpenFileSink(options.path);
    if (!opened.ok()) return opened.status();
    sink = *std::move(opened);
  }
  uint64_t file_bytes = 0;
  struct stat st;
  if (sink != nullptr && options.path != "-" && ::stat(options.path.c_str(), &st) == 0 &&
      S_ISREG(st.st_mode)) {
    file_bytes = static_cast<uint64_t>(st.st_size);
  }
  return std::unique_ptr<DecisionLog>(
      new DecisionLog(std::move(options), std::move(sink), file_bytes));
}

DecisionLog::DecisionLog(DecisionLogOptions options, std::unique_ptr<Sink> sink,
                         uint64_t file_bytes)
    : options_(std::move(options)), sink_(std::move(sink)), file_bytes_(file_bytes) {
  if (sink_ != nullptr) {
    writer_ = std::thread([this] { WriterLoop(); });
  } else {
    absl::MutexLock lock(&mu_);
    writer_exited_ = true;
  }
}

DecisionLog::~DecisionLog() { Shutdown(); }

DecisionLog::Prepared DecisionLog::Prepare(absl::Time time, std::string line) const {
  Prepared p;
  p.time = time;
  p.truncated = line.size() > options_.max_line_bytes;
  if (p.truncated) line = TruncatedLine(line, options_.max_line_bytes);
  p.bytes = line.size() + 1;
  p.line = std::make_shared<const std::string>(std::move(line));
  return p;
}

void DecisionLog::Remember(const Prepared* lines, size_t n) {
  if (options_.recent_capacity == 0 || options_.recent_bytes == 0 || n == 0) return;
  absl::MutexLock lock(&recent_mu_);
  for (size_t i = 0; i < n; ++i) {
    recent_.push_back(Entry{lines[i].time, lines[i].line});
    recent_bytes_ += lines[i].bytes;
  }
  while (!recent_.empty() &&
         (recent_.size() > options_.recent_capacity || recent_bytes_ > options_.recent_bytes)) {
    recent_bytes_ -= recent_.front().line->size() + 1;
    recent_.pop_front();
  }
}

bool DecisionLog::EnqueueLocked(Prepared& p) {
  if (p.truncated) ++stats_.truncated;
  bool announced = false;
  while (true) {
    if (shutting_down_) {
      ++stats_.dropped_shutdown;
      return false;
    }
    if (sink_ == nullptr) {
      ++stats_.appended;
      return true;
    }
    if (queue_.size() + in_flight_ < options_.queue_capacity &&
        queued_bytes_ + in_flight_bytes_ + p.bytes <= options_.queue_bytes) {
      break;
    }
    if (options_.overflow == Overflow::kDrop) {
      ++stats_.dropped_overflow;
      return false;
    }
    if (!announced && on_blocked_) on_blocked_();
    announced = true;
    room_cv_.Wait(&mu_);
  }
  queue_.push_back(std::move(p.line));
  queued_bytes_ += p.bytes;
  ++accepted_seq_;
  ++stats_.appended;
  // The writer is asleep only when the queue was empty; while it lingers, only a full-enough
  // queue or an appender waiting for room (the queue's line or byte budget is reached) wakes it.
  if (queue_.size() == 1 || queued_bytes_ >= kWakeBytes ||
      queue_.size() + in_flight_ >= options_.queue_capacity ||
      queued_bytes_ + in_flight_bytes_ >= options_.queue_bytes) {
    writer_cv_.Signal();
  }
  return true;
}

bool DecisionLog::Append(absl::Time time, std::string line) {
  Prepared p = Prepare(time, std::move(line));
  Remember(&p, 1);
  absl::MutexLock lock(&mu_);
  return EnqueueLocked(p);
}

size_t DecisionLog::AppendAll(std::vector<Line>& lines) {
  std::vector<Prepared> prepared;
  prepared.reserve(lines.size());
  for (Line& l : lines) prepared.push_back(Prepare(l.time, std::move(l.line)));
  lines.clear();
  Remember(prepared.data(), prepared.size());
  size_t accepted = 0;
  absl::MutexLock lock(&mu_);
  for (Prepared& p : prepared) accepted += EnqueueLocked(p) ? 1 : 0;
  return accepted;
}

void DecisionLog::Flush() {
  absl::MutexLock lock(&mu_);
  const uint64_t target = accepted_seq_;
  if (writer_exited_ || flushed_seq_ >= target) return;
  flush_requested_ = std::max(flush_requested_, target);
  writer_cv_.Signal();
  while (flushed_seq_ < target && !writer_exited_) progress_cv_.Wait(&mu_);
}

void DecisionLog::Shutdown() {
  absl::MutexLock join_lock(&join_mu_);
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    writer_cv_.Signal();
    room_cv_.SignalAll();
  }
  if (writer_.joinable()) writer_.join();
}

DecisionLog::Stats DecisionLog::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.queue_depth = queue_.size() + in_flight_;
  return s;
}

std::vector<std::string> DecisionLog::Recent(size_t max_lines, absl::Time since) const {
  std::vector<std::string> out;
  absl::MutexLock lock(&recent_mu_);
  // Times come from many threads and need not be monotonic, so filter every entry rather than
  // stopping at the first old one.
  for (auto it = recent_.rbegin(); it != recent_.rend() && out.size() < max_lines; ++it) {
    if (it->time >= since) out.push_back(*it->line);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void DecisionLog::WriterLoop() {
  std::vector<std::shared_ptr<const std::string>> batch;
  // The bytes of a batch, kept from batch to batch: a new buffer each time was a large
  // allocation per batch (and, past glibc's mmap threshold, fresh pages to fault in).
  std::string buffer;
  while (true) {
    bool last = false;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !shutting_down_ && flush_requested_ <= flushed_seq_) {
        writer_cv_.Wait(&mu_);
      }
      if (!queue_.empty() && !shutting_down_ && flush_requested_ <= flushed_seq_ &&
          queued_bytes_ < kWakeBytes && options_.overflow == Overflow::kDrop) {
        writer_cv_.WaitWithTimeout(&mu_, kLinger);
      }
      batch.clear();
      size_t bytes = 0;
      while (!queue_.empty() && bytes < kMaxBatchBytes) {
        bytes += queue_.front()->size() + 1;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      in_flight_ = batch.size();
      queued_bytes_ -= bytes;
      in_flight_bytes_ = bytes;
      // Appends are refused once shutting down, so an empty queue now stays empty.
      last = shutting_down_ && queue_.empty();
    }
    if (!batch.empty()) WriteBatch(batch, buffer);
    // Room past a batch of the usual size (a huge line's) is given back.
    if (buffer.capacity() > 2 * kMaxBatchBytes) std::string().swap(buffer);
    uint64_t flush_through = 0;
    {
      absl::MutexLock lock(&mu_);
      done_seq_ += batch.size();
      in_flight_ = 0;
      in_flight_bytes_ = 0;
      room_cv_.SignalAll();
      if (last || (flush_requested_ > flushed_seq_ && done_seq_ >= flush_requested_)) {
        flush_through = done_seq_;
      }
    }
    batch.clear();
    if (flush_through > 0 || last) {
      const absl::Status s = sink_->Flush();
      absl::MutexLock lock(&mu_);
      if (!s.ok()) {
        ++stats_.write_errors;
        stats_.last_error = s.ToString();
      }
      flushed_seq_ = std::max(flushed_seq_, flush_through);
      if (last) writer_exited_ = true;
      progress_cv_.SignalAll();
    }
    if (last) return;
  }
}

void DecisionLog::WriteBatch(const std::vector<std::shared_ptr<const std::string>>& batch,
                             std::string& buffer) {
  const bool rotatable = options_.path != "-";
  // Sized for the whole batch at once: grown line by line, the buffer was reallocated and
  // copied a few times per batch of ~1.5 KB lines.
  size_t total = 0;
  for (const auto& line : batch) total += line->size() + 1;
  buffer.clear();
  buffer.reserve(total);
  size_t lines = 0;
  for (const auto& line : batch) {
    const size_t n = line->size() + 1;
    const uint64_t pending = file_bytes_ + buffer.size();
    const bool aged = options_.rotate_interval > absl::ZeroDuration() &&
                      absl::Now() - file_started_ >= options_.rotate_interval;
    if (rotatable && pending > 0 && (pending + n > options_.max_file_bytes || aged)) {
      WriteBuffer(buffer, lines);
      lines = 0;
      Rotate();
    }
    buffer.append(*line);
    buffer.push_back('\n');
    ++lines;
  }
  WriteBuffer(buffer, lines);
}

void DecisionLog::WriteBuffer(std::string& buffer, size_t lines) {
  if (lines == 0) return;
  const absl::Status s = sink_->Write(buffer);
  if (s.ok()) file_bytes_ += buffer.size();
  buffer.clear();
  absl::MutexLock lock(&mu_);
  if (s.ok()) {
    stats_.written += lines;
  } else {
    ++stats_.write_errors;
    stats_.dropped_write_error += lines;
    stats_.last_error = s.ToString();
  }
}

void DecisionLog::Rotate() {
  const std::string& path = options_.path;
  // Only a regular file is rotated: never rename a device, a FIFO or a path a test sink ignores.
  if (!IsRegularFile(path)) {
    file_bytes_ = 0;
    file_started_ = absl::Now();
    return;
  }
  absl::Status error;
  if (options_.max_files == 0) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      error = absl::ErrnoToStatus(errno, absl::StrCat("decision log: remove ", Quoted(path)));
    }
  } else {
    for (int i = options_.max_files - 1; i >= 1; --i) {
      const std::string from = absl::StrCat(path, ".", i);
      const std::string to = absl::StrCat(path, ".", i + 1);
      if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
        error = absl::ErrnoToStatus(
            errno, absl::StrCat("decision log: rename ", Quoted(from), " to ", Quoted(to)));
      }
    }
    const std::string first = absl::StrCat(path, ".1");
    if (::rename(path.c_str(), first.c_str()) != 0) {
      // The current file stays in place and keeps growing; the next batch tries again.
      RecordError(absl::ErrnoToStatus(
          errno, absl::StrCat("decision log: rename ", Quoted(path), " to ", Quoted(first))));
      return;
    }
  }
  if (!error.ok()) RecordError(error);
  file_bytes_ = 0;
  file_started_ = absl::Now();
  if (absl::Status s = sink_->Reopen(); !s.ok()) RecordError(s);
  absl::MutexLock lock(&mu_);
  ++stats_.rotations;
}

void DecisionLog::RecordError(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  ++stats_.write_errors;
  stats_.last_error = status.ToString();
}

}  // namespace arbiter

#include "service/decision_log/decision_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/uio.h>
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
// Pieces per writev call (POSIX guarantees at least 16; Linux takes 1024).
constexpr int kMaxPiecesPerCall = 1024;

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

  absl::Status WritePieces(absl::Span<const absl::string_view> pieces) override {
    if (fd_ < 0) {
      if (absl::Status s = Open(); !s.ok()) return s;
    }
    const off_t start = regular_ ? ::lseek(fd_, 0, SEEK_END) : -1;
    bool wrote = false;
    size_t next = 0;  // the first piece not wholly written
    size_t skip = 0;  // bytes of pieces[next] already written
    iovec iov[kMaxPiecesPerCall];
    while (next < pieces.size()) {
      int n = 0;
      for (size_t i = next; i < pieces.size() && n < kMaxPiecesPerCall; ++i) {
        const absl::string_view p = i == next ? pieces[i].substr(skip) : pieces[i];
        iov[n].iov_base = const_cast<char*>(p.data());
        iov[n].iov_len = p.size();
        ++n;
      }
      const ssize_t w = ::writev(fd_, iov, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        if (wrote && start >= 0) (void)!::ftruncate(fd_, start);
        return absl::ErrnoToStatus(err, absl::StrCat("decision log: write to ", Quoted(path_)));
      }
      wrote = wrote || w > 0;
      // Past what was written: whole pieces, then into the next one.
      size_t left = static_cast<size_t>(w);
      while (next < pieces.size() && left >= pieces[next].size() - skip) {
        left -= pieces[next].size() - skip;
        skip = 0;
        ++next;
      }
      skip += left;
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

absl::Status DecisionLogSink::WritePieces(absl::Span<const absl::string_view> pieces) {
  size_t total = 0;
  for (absl::string_view p : pieces) total += p.size();
  std::string bytes;
  bytes.reserve(total);
  for (absl::string_view p : pieces) bytes.append(p.data(), p.size());
  return Write(bytes);
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
    writer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "arb-log-writer");
      WriterLoop();
    });
  } else {
    absl::MutexLock lock(&mu_);
    writer_exited_ = true;
  }
}

DecisionLog::~DecisionLog() { Shutdown(); }

std::shared_ptr<const DecisionLog::Block> DecisionLog::Prepare(Lines lines,
                                                               uint64_t* truncated) const {
  const size_t n = lines.marks_.size();
  const auto end_of = [&](size_t i) {
    return i + 1 < n ? lines.marks_[i + 1].begin : lines.bytes_.size();
  };
  bool over = false;
  for (size_t i = 0; i < n && !over; ++i) {
    over = end_of(i) - lines.marks_[i].begin - 1 > options_.max_line_bytes;
  }
  if (over) {
    // Rare (a huge deployment's line): the block is made again with each long line's marker.
    std::string bytes;
    std::vector<Lines::Mark> marks;
    for (size_t i = 0; i < n; ++i) {
      const size_t begin = lines.marks_[i].begin;
      const absl::string_view line =
          absl::string_view(lines.bytes_).substr(begin, end_of(i) - begin - 1);
      marks.push_back({lines.marks_[i].time, bytes.size()});
      if (line.size() > options_.max_line_bytes) {
        ++*truncated;
        bytes.append(TruncatedLine(std::string(line), options_.max_line_bytes));
      } else {
        bytes.append(line.data(), line.size());
      }
      bytes.push_back('\n');
    }
    lines.bytes_ = std::move(bytes);
    lines.marks_ = std::move(marks);
  }
  // The block lives as long as any of its lines is queued or remembered, and the budgets count
  // the lines' bytes: room the buffer was given and did not use (a reserve that guessed long)
  // is not kept with them.
  if (lines.bytes_.capacity() - lines.bytes_.size() > lines.bytes_.size() / 4) {
    lines.bytes_.shrink_to_fit();
  }
  auto block = std::make_shared<Block>();
  block->bytes = std::move(lines.bytes_);
  block->marks = std::move(lines.marks_);
  return block;
}

void DecisionLog::Remember(const std::shared_ptr<const Block>& block) {
  const size_t n = block->size();
  if (options_.recent_capacity == 0 || options_.recent_bytes == 0 || n == 0) return;
  absl::MutexLock lock(&recent_mu_);
  recent_.push_back(Range{block, 0, n});
  recent_lines_ += n;
  recent_bytes_ += block->bytes.size();
  // The oldest lines go first, a line at a time, a range once all of its lines have gone.
  while (!recent_.empty() &&
         (recent_lines_ > options_.recent_capacity || recent_bytes_ > options_.recent_bytes)) {
    Range& oldest = recent_.front();
    recent_bytes_ -= oldest.block->end(oldest.first) - oldest.block->begin(oldest.first);
    ++oldest.first;
    --recent_lines_;
    if (oldest.first == oldest.last) recent_.pop_front();
  }
}

bool DecisionLog::EnqueueLocked(const std::shared_ptr<const Block>& block, size_t i) {
  const size_t line_bytes = block->end(i) - block->begin(i);
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
    if (queued_lines_ + in_flight_ < options_.queue_capacity &&
        queued_bytes_ + in_flight_bytes_ + line_bytes <= options_.queue_bytes) {
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
  // The line after the queue's last one in the same block extends its range.
  if (!queue_.empty() && queue_.back().block == block && queue_.back().last == i) {
    ++queue_.back().last;
  } else {
    queue_.push_back(Range{block, i, i + 1});
  }
  ++queued_lines_;
  queued_bytes_ += line_bytes;
  ++accepted_seq_;
  ++stats_.appended;
  // The writer is asleep only when the queue was empty; while it lingers, only a full-enough
  // queue or an appender waiting for room (the queue's line or byte budget is reached) wakes it.
  if (queued_lines_ == 1 || queued_bytes_ >= kWakeBytes ||
      queued_lines_ + in_flight_ >= options_.queue_capacity ||
      queued_bytes_ + in_flight_bytes_ >= options_.queue_bytes) {
    writer_cv_.Signal();
  }
  return true;
}

bool DecisionLog::Append(absl::Time time, absl::string_view line) {
  Lines lines;
  lines.Reserve(1, line.size() + 1);
  lines.Add(time, line);
  return AppendAll(std::move(lines)) == 1;
}

size_t DecisionLog::AppendAll(Lines lines) {
  uint64_t truncated = 0;
  const std::shared_ptr<const Block> block = Prepare(std::move(lines), &truncated);
  Remember(block);
  size_t accepted = 0;
  absl::MutexLock lock(&mu_);
  stats_.truncated += truncated;
  for (size_t i = 0; i < block->size(); ++i) accepted += EnqueueLocked(block, i) ? 1 : 0;
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
  s.queue_depth = queued_lines_ + in_flight_;
  return s;
}

std::vector<std::string> DecisionLog::Recent(size_t max_lines, absl::Time since) const {
  std::vector<std::string> out;
  absl::MutexLock lock(&recent_mu_);
  // Times come from many threads and need not be monotonic, so filter every entry rather than
  // stopping at the first old one.
  for (auto it = recent_.rbegin(); it != recent_.rend() && out.size() < max_lines; ++it) {
    for (size_t i = it->last; i > it->first && out.size() < max_lines; --i) {
      if (it->block->marks[i - 1].time >= since) out.emplace_back(it->block->text(i - 1));
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void DecisionLog::WriterLoop() {
  std::vector<Range> batch;
  std::vector<absl::string_view> pieces;
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
      size_t lines = 0, bytes = 0;
      while (!queue_.empty() && bytes < kMaxBatchBytes) {
        Range& front = queue_.front();
        // A range is taken whole, or its lines up to the batch's bound (at least one).
        size_t take = front.last - front.first;
        if (bytes + front.bytes() > kMaxBatchBytes) {
          const Block& fb = *front.block;
          take = 1;
          while (front.first + take < front.last &&
                 bytes + fb.end(front.first + take) - fb.begin(front.first) <= kMaxBatchBytes) {
            ++take;
          }
        }
        if (take == front.last - front.first) {
          batch.push_back(std::move(front));
          queue_.pop_front();
        } else {
          batch.push_back(Range{front.block, front.first, front.first + take});
          front.first += take;
        }
        lines += take;
        bytes += batch.back().bytes();
      }
      in_flight_ = lines;
      queued_lines_ -= lines;
      queued_bytes_ -= bytes;
      in_flight_bytes_ = bytes;
      // Appends are refused once shutting down, so an empty queue now stays empty.
      last = shutting_down_ && queue_.empty();
    }
    if (!batch.empty()) WriteBatch(batch, pieces);
    uint64_t flush_through = 0;
    {
      absl::MutexLock lock(&mu_);
      done_seq_ += in_flight_;
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

void DecisionLog::WriteBatch(const std::vector<Range>& batch,
                             std::vector<absl::string_view>& pieces) {
  const bool rotatable = options_.path != "-";
  pieces.clear();
  size_t lines = 0, bytes = 0;
  for (const Range& r : batch) {
    const Block& b = *r.block;
    for (size_t i = r.first; i < r.last;) {
      const uint64_t pending = file_bytes_ + bytes;
      const bool aged = options_.rotate_interval > absl::ZeroDuration() &&
                        absl::Now() - file_started_ >= options_.rotate_interval;
      if (rotatable && pending > 0 &&
          (pending + (b.end(i) - b.begin(i)) > options_.max_file_bytes || aged)) {
        WritePieces(pieces, lines, bytes);
        lines = bytes = 0;
        Rotate();
      }
      // Line i and those after it in the range that the file has room for: one piece.
      size_t j = i + 1;
      while (j < r.last && (!rotatable || file_bytes_ + bytes + (b.end(j) - b.begin(i)) <=
                                              options_.max_file_bytes)) {
        ++j;
      }
      const char* at = b.bytes.data() + b.begin(i);
      const size_t n = b.end(j - 1) - b.begin(i);
      // A stretch that follows the previous piece in its block extends it.
      if (!pieces.empty() && pieces.back().data() + pieces.back().size() == at) {
        pieces.back() = absl::string_view(pieces.back().data(), pieces.back().size() + n);
      } else {
        pieces.emplace_back(at, n);
      }
      lines += j - i;
      bytes += n;
      i = j;
    }
  }
  WritePieces(pieces, lines, bytes);
}

void DecisionLog::WritePieces(std::vector<absl::string_view>& pieces, size_t lines, size_t bytes) {
  if (lines == 0) return;
  const absl::Status s = sink_->WritePieces(pieces);
  if (s.ok()) file_bytes_ += bytes;
  pieces.clear();
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
    // The oldest is removed first rather than renamed over: ext4 (auto_da_alloc) makes a rename
    // that replaces a file start writing back the renamed one, here up to max_file_bytes of
    // dirty pages, on this thread, on every rotation (bench/rotation_rename.py times both
    // ways). The renames below then never replace a file. It is removed only when a file is
    // about to take its place, as the rename did: a gap in the chain keeps it one more turn.
    const std::string oldest = absl::StrCat(path, ".", options_.max_files);
    const std::string successor =
        options_.max_files == 1 ? path : absl::StrCat(path, ".", options_.max_files - 1);
    struct stat st;
    if (::lstat(successor.c_str(), &st) == 0 && ::unlink(oldest.c_str()) != 0 && errno != ENOENT) {
      error = absl::ErrnoToStatus(errno, absl::StrCat("decision log: remove ", Quoted(oldest)));
    }
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

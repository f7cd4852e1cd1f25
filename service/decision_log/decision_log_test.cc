#include "service/decision_log/decision_log.h"

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace arbiter {
namespace {

// A sink that records what it is given and can stall (block inside Write until released) or
// fail (ENOSPC) on demand. Owned by the log; the test keeps a raw pointer and must release a
// stalled sink before the log is destroyed.
class TestSink : public DecisionLogSink {
 public:
  absl::Status Write(absl::string_view bytes) override {
    absl::MutexLock lock(&mu_);
    ++writes_entered_;
    cv_.SignalAll();
    while (stalled_) cv_.Wait(&mu_);
    if (failing_) return absl::ErrnoToStatus(ENOSPC, "test sink");
    data_.append(bytes.data(), bytes.size());
    events_ += 'W';
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    absl::MutexLock lock(&mu_);
    events_ += 'F';
    return absl::OkStatus();
  }
  absl::Status Reopen() override { return absl::OkStatus(); }

  void Stall() {
    absl::MutexLock lock(&mu_);
    stalled_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    stalled_ = false;
    cv_.SignalAll();
  }
  void SetFailing(bool failing) {
    absl::MutexLock lock(&mu_);
    failing_ = failing;
  }
  void WaitForWriteEntered() {
    absl::MutexLock lock(&mu_);
    while (writes_entered_ == 0) cv_.Wait(&mu_);
  }
  std::string data() const {
    absl::MutexLock lock(&mu_);
    return data_;
  }
  std::string events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stalled_ = false;
  bool failing_ = false;
  int writes_entered_ = 0;
  std::string data_;
  std::string events_;
};

std::string TempPath(absl::string_view name) {
  const std::string dir =
      absl::StrCat(testing::TempDir(), "decision_log_test.", ::getpid(), ".",
                   testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return absl::StrCat(dir, "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  EXPECT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "") << "the text must end with a newline";
  lines.pop_back();
  return lines;
}

// Creates a log or fails the test.
std::unique_ptr<DecisionLog> MakeLog(DecisionLogOptions options,
                                     std::unique_ptr<DecisionLogSink> sink = nullptr) {
  absl::StatusOr<std::unique_ptr<DecisionLog>> log =
      DecisionLog::Create(std::move(options), std::move(sink));
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(DecisionLogTest, WritesLinesInOrderAndParseable) {
  DecisionLogOptions options;
  options.path = TempPath("decisions.log");
  options.overflow = DecisionLogOptions::Overflow::kBlock;
  options.queue_capacity = 16;  // small, so that appenders and the writer interleave
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        nlohmann::json line = {{"thread", t}, {"i", i}, {"note", "quote \" and \\ inside"}};
        EXPECT_TRUE(log->Append(kT0, line.dump()));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  log->Flush();

  std::vector<int> next(kThreads, 0);
  const std::vector<std::string> lines = Lines(ReadFile(options.path));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const std::string& line : lines) {
    const nlohmann::json parsed = nlohmann::json::parse(line);
    const int t = parsed["thread"];
    EXPECT_EQ(parsed["i"], next[t]++) << "lines of one appender must stay in order";
  }
  const DecisionLog::Stats stats = log->stats();
  EXPECT_EQ(stats.appended, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.written, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.dropped(), 0u);
  EXPECT_EQ(stats.queue_depth, 0u);
}

// The rotation tests' lines: 9 bytes and a newline each.
std::string RotationLine(int i) { return absl::StrCat("line-", 1000 + i); }

// A log whose files take ten RotationLines each, keeping `max_files` rotated ones.
DecisionLogOptions RotationOptions(int max_files) {
  DecisionLogOptions options;
  options.path = TempPath("decisions.log");
  options.max_file_bytes = 100;
  options.max_files = max_files;
  return options;
}

// `path` holds RotationLine(first) .. RotationLine(last), whole, in order.
void ExpectRotationLines(const std::string& path, int first, int last) {
  std::vector<std::string> expected;
  for (int i = first; i <= last; ++i) expected.push_back(RotationLine(i));
  EXPECT_EQ(Lines(ReadFile(path)), expected) << path;
}

TEST(DecisionLogTest, RotationKeepsMaxFiles) {
  DecisionLogOptions options = RotationOptions(2);
  {
    auto log = MakeLog(options);
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 45; ++i) ASSERT_TRUE(log->Append(kT0, RotationLine(i)));
    log->Flush();
    EXPECT_EQ(log->stats().rotations, 4u);
  }
  ExpectRotationLines(options.path, 40, 44);
  ExpectRotationLines(options.path + ".1", 30, 39);
  ExpectRotationLines(options.path + ".2", 20, 29);
  EXPECT_FALSE(std::filesystem::exists(options.path + ".3"));

  // A reopened log counts the bytes already in the file: 5 more lines fill it, the 6th rotates.
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  for (int i = 45; i < 51; ++i) ASSERT_TRUE(log->Append(kT0, RotationLine(i)));
  log->Flush();
  EXPECT_EQ(log->stats().rotations, 1u);
  ExpectRotationLines(options.path, 50, 50);
  ExpectRotationLines(options.path + ".1", 40, 49);
  ExpectRotationLines(options.path + ".2", 30, 39);
}

// Rotation removes the oldest file itself instead of renaming the next one over it (d0b4e93),
// but only when a file is about to take its place, as the rename did: with a gap in the chain
// (path.2 missing) the oldest stays for one more rotation, then goes.
TEST(DecisionLogTest, RotationKeepsTheOldestUntilAFileTakesItsPlace) {
  DecisionLogOptions options = RotationOptions(3);  // a fresh directory
  std::ofstream(options.path + ".3") << "oldest\n";
  std::ofstream(options.path + ".1") << "newer\n";
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 11; ++i) ASSERT_TRUE(log->Append(kT0, RotationLine(i)));
  log->Flush();
  ASSERT_EQ(log->stats().rotations, 1u);
  ExpectRotationLines(options.path, 10, 10);
  ExpectRotationLines(options.path + ".1", 0, 9);
  EXPECT_EQ(ReadFile(options.path + ".2"), "newer\n");
  EXPECT_EQ(ReadFile(options.path + ".3"), "oldest\n");

  for (int i = 11; i < 21; ++i) ASSERT_TRUE(log->Append(kT0, RotationLine(i)));
  log->Flush();
  ASSERT_EQ(log->stats().rotations, 2u);
  ExpectRotationLines(options.path, 20, 20);
  ExpectRotationLines(options.path + ".1", 10, 19);
  ExpectRotationLines(options.path + ".2", 0, 9);
  EXPECT_EQ(ReadFile(options.path + ".3"), "newer\n");
  EXPECT_FALSE(std::filesystem::exists(options.path + ".4"));
  EXPECT_EQ(log->stats().write_errors, 0u);
}

// The lines of one Lines buffer are written from it, a file's worth at a time: rotation cuts
// between two of its lines, never inside one.
TEST(DecisionLogTest, LinesOfOneBufferRotateBetweenLines) {
  DecisionLogOptions options = RotationOptions(3);
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  DecisionLog::Lines lines;
  for (int i = 0; i < 25; ++i) lines.Add(kT0, RotationLine(i));
  EXPECT_EQ(lines.bytes(), 250u);
  EXPECT_EQ(log->AppendAll(std::move(lines)), 25u);
  log->Flush();
  EXPECT_EQ(log->stats().rotations, 2u);
  EXPECT_EQ(log->stats().written, 25u);
  ExpectRotationLines(options.path, 20, 24);
  ExpectRotationLines(options.path + ".1", 10, 19);
  ExpectRotationLines(options.path + ".2", 0, 9);
  // Recent() gives each line on its own, without its newline.
  const std::vector<std::string> recent = log->Recent(2);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0], RotationLine(23));
  EXPECT_EQ(recent[1], RotationLine(24));
}

// The file sink writes many pieces (more than one writev call takes) in order, whole.
TEST(DecisionLogTest, FileSinkWritesManyPiecesInOrder) {
  const std::string path = TempPath("pieces.log");
  absl::StatusOr<std::unique_ptr<DecisionLogSink>> sink = OpenFileSink(path);
  ASSERT_TRUE(sink.ok()) << sink.status();
  std::vector<std::string> owned;
  std::string expected;
  for (int i = 0; i < 2500; ++i) {
    owned.push_back(absl::StrCat("piece ", i, std::string(i % 7, '.'), "\n"));
    expected += owned.back();
  }
  std::vector<absl::string_view> pieces(owned.begin(), owned.end());
  ASSERT_TRUE((*sink)->WritePieces(pieces).ok());
  ASSERT_TRUE((*sink)->WritePieces({}).ok());
  EXPECT_EQ(ReadFile(path), expected);
}

TEST(DecisionLogTest, DropOverflowCountsExactly) {
  auto owned = std::make_unique<TestSink>();
  TestSink* sink = owned.get();
  sink->Stall();
  DecisionLogOptions options;
  options.path = "unused";
  options.queue_capacity = 4;
  auto log = MakeLog(options, std::move(owned));
  ASSERT_NE(log, nullptr);
  // Lines being written still count against the capacity, so the outcome does not depend on
  // when the writer picks lines up.
  int accepted = 0;
  for (int i = 0; i < 7; ++i) accepted += log->Append(kT0, absl::StrCat("l", i)) ? 1 : 0;
  EXPECT_EQ(accepted, 4);
  DecisionLog::Stats stats = log->stats();
  EXPECT_EQ(stats.appended, 4u);
  EXPECT_EQ(stats.dropped_overflow, 3u);
  EXPECT_EQ(stats.queue_depth, 4u);
  sink->Release();
  log->Flush();
  stats = log->stats();
  EXPECT_EQ(stats.written, 4u);
  EXPECT_EQ(stats.queue_depth, 0u);
  EXPECT_EQ(sink->data(), "l0\nl1\nl2\nl3\n");
  // The refused lines were still decisions: the replay sees them.
  EXPECT_EQ(log->Recent(100).size(), 7u);
}

// A batch's lines appended together are accounted line by line as Append does: in order, each
// refused or accepted on its own, truncated on its own, and all remembered for Recent().
TEST(DecisionLogTest, AppendAllTreatsEachLineAsAppendWould) {
  auto owned = std::make_unique<TestSink>();
  TestSink* sink = owned.get();
  sink->Stall();
  DecisionLogOptions options;
  options.path = "unused";
  options.queue_capacity = 4;
  options.max_line_bytes = 2048;
  auto log = MakeLog(options, std::move(owned));
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append(kT0, "single"));
  DecisionLog::Lines lines;
  for (int i = 0; i < 6; ++i) {
    lines.Add(kT0, i == 1 ? "{\"big\":\"" + std::string(5000, 'z') + "\"}" : absl::StrCat("l", i));
  }
  EXPECT_EQ(log->AppendAll(std::move(lines)), 3u);  // the queue holds 4: "single" and three
  DecisionLog::Stats stats = log->stats();
  EXPECT_EQ(stats.appended, 4u);
  EXPECT_EQ(stats.dropped_overflow, 3u);
  EXPECT_EQ(stats.truncated, 1u);
  EXPECT_EQ(log->Recent(100).size(), 7u);
  sink->Release();
  log->Flush();
  const std::vector<std::string> written = Lines(sink->data());
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(written[0], "single");
  EXPECT_EQ(written[1], "l0");
  EXPECT_TRUE(absl::StartsWith(written[2], "{\"arbiter_truncated_line\"")) << written[2];
  EXPECT_EQ(written[3], "l2");
}

// Under kBlock, a batch longer than the queue waits for room line by line: the writer is woken
// as lines are queued, so the batch is written whole.
TEST(DecisionLogTest, AppendAllLongerThanTheQueueWaitsAndWritesEveryLine) {
  DecisionLogOptions options;
  options.path = TempPath("batch.log");
  options.queue_capacity = 3;
  options.overflow = DecisionLogOptions::Overflow::kBlock;
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  DecisionLog::Lines lines;
  std::vector<std::string> want;
  for (int i = 0; i < 50; ++i) {
    want.push_back(absl::StrCat("line ", i));
    lines.Add(kT0, want.back());
  }
  EXPECT_EQ(log->AppendAll(std::move(lines)), 50u);
  log->Flush();
  EXPECT_EQ(Lines(ReadFile(options.path)), want);
  EXPECT_EQ(log->stats().dropped(), 0u);
}

// The queue and Recent() hold a buffer's lines together: the writer takes a buffer bigger than
// one write's bound (1 MiB) in parts, in order, and Recent() forgets a buffer's oldest lines one
// by one, filtering each line by its own time.
TEST(DecisionLogTest, BigBuffersAreWrittenInPartsAndRecentKeepsTheirNewestLines) {
  DecisionLogOptions options;
  options.path = TempPath("big.log");
  options.queue_bytes = 64 << 20;
  options.recent_capacity = 1000;
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  std::vector<std::string> want;
  for (int b = 0; b < 3; ++b) {
    DecisionLog::Lines lines;
    for (int i = 0; i < 1500; ++i) {
      want.push_back(absl::StrCat("{\"b\":", b, ",\"i\":", i, ",\"pad\":\"",
                                  std::string(1000 + i % 13, 'p'), "\"}"));
      lines.Add(kT0 + absl::Seconds(b * 1500 + i), want.back());
    }
    EXPECT_EQ(log->AppendAll(std::move(lines)), 1500u);
  }
  log->Flush();
  EXPECT_EQ(Lines(ReadFile(options.path)), want);
  EXPECT_EQ(log->stats().written, 4500u);
  const std::vector<std::string> recent = log->Recent(5000);
  ASSERT_EQ(recent.size(), 1000u);
  EXPECT_EQ(recent.front(), want[3500]);
  EXPECT_EQ(recent.back(), want[4499]);
  const std::vector<std::string> since = log->Recent(5000, kT0 + absl::Seconds(4000));
  ASSERT_EQ(since.size(), 500u);
  EXPECT_EQ(since.front(), want[4000]);
  EXPECT_EQ(log->Recent(3, kT0 + absl::Seconds(4000)),
            (std::vector<std::string>{want[4497], want[4498], want[4499]}));
}

// Issue 11: budgets in bytes, not only lines.
TEST(DecisionLogTest, QueueAndRecentAreBoundedInBytes) {
  auto owned = std::make_unique<TestSink>();
  TestSink* sink = owned.get();
  sink->Stall();
  DecisionLogOptions options;
  options.path = "unused";
  options.max_line_bytes = 4096;
  options.queue_bytes = 10000;  // two 4,000-byte lines (+ newline) fit, a third does not
  options.recent_bytes = 8000;  // one big line and small ones, not two big lines
  auto log = MakeLog(options, std::move(owned));
  ASSERT_NE(log, nullptr);
  int accepted = 0;
  for (int i = 0; i < 5; ++i) {
    accepted += log->Append(kT0, absl::StrCat(i, std::string(3999, 'x'))) ? 1 : 0;
  }
  EXPECT_EQ(accepted, 2);
  EXPECT_EQ(log->stats().dropped_overflow, 3u);
  // Small lines still fit beside them.
  EXPECT_TRUE(log->Append(kT0, "small"));
  // The replay ring keeps only what fits in its bytes: the newest big line and the small one.
  const std::vector<std::string> recent = log->Recent(100);
  sink->Release();  // before any assertion can return: the log's destructor drains the queue
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0][0], '4');
  EXPECT_EQ(recent[1], "small");
  log->Flush();
  EXPECT_EQ(log->stats().written, 3u);
}

TEST(DecisionLogTest, OversizedLineIsTruncatedWithAMarkerNotDropped) {
  auto owned = std::make_unique<TestSink>();
  TestSink* sink = owned.get();
  DecisionLogOptions options;
  options.path = "unused";
  options.max_line_bytes = 2048;
  auto log = MakeLog(options, std::move(owned));
  ASSERT_NE(log, nullptr);
  std::string big = "{\"decision_id\":\"d-1\",\"request\":\"";
  big += std::string(5000, 'y') + "\u00e9\"}";
  ASSERT_TRUE(log->Append(kT0, big));
  log->Flush();
  EXPECT_EQ(log->stats().truncated, 1u);
  EXPECT_EQ(log->stats().written, 1u);
  const std::vector<std::string> lines = Lines(sink->data());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LE(lines[0].size(), 2048u);
  // Still one JSON object, with the size and the escaped start of the original.
  auto parsed = nlohmann::json::parse(lines[0], nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << lines[0].substr(0, 200);
  EXPECT_EQ(parsed["arbiter_truncated_line"]["original_bytes"], big.size());
  EXPECT_TRUE(absl::StartsWith(parsed["arbiter_truncated_line"]["prefix"].get<std::string>(),
                               "{\"decision_id\":\"d-1\""));
}

TEST(DecisionLogTest, RotatesByTimeAsWellAsSize) {
  DecisionLogOptions options;
  options.path = TempPath("timed.log");
  options.max_files = 3;
  options.rotate_interval = absl::Milliseconds(1);
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append(kT0, "first"));
  log->Flush();
  // Well past the interval (the file's age, not a synchronization): the next line starts a file.
  absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(log->Append(kT0, "second"));
  log->Flush();
  EXPECT_EQ(log->stats().rotations, 1u);
  EXPECT_EQ(Lines(ReadFile(options.path + ".1")), std::vector<std::string>{"first"});
  EXPECT_EQ(Lines(ReadFile(options.path)), std::vector<std::string>{"second"});
}

TEST(DecisionLogTest, BlockWaitsForRoomUntilSinkReleased) {
  auto owned = std::make_unique<TestSink>();
  TestSink* sink = owned.get();
  sink->Stall();
  DecisionLogOptions options;
  options.path = "unused";
  options.queue_capacity = 2;
  options.overflow = DecisionLogOptions::Overflow::kBlock;
  auto log = MakeLog(options, std::move(owned));
  ASSERT_NE(log, nullptr);

  absl::Mutex mu;
  absl::CondVar cv;
  bool blocked = false;
  bool returned = false;
  log->SetOnAppendBlockedForTest([&] {
    absl::MutexLock lock(&mu);
    blocked = true;
    cv.SignalAll();
  });
  ASSERT_TRUE(log->Append(kT0, "a"));
  ASSERT_TRUE(log->Append(kT0, "b"));
  bool third_result = false;
  std::thread appender([&] {
    third_result = log->Append(kT0, "c");
    absl::MutexLock lock(&mu);
    returned = true;
    cv.SignalAll();
  });
  {
    absl::MutexLock lock(&mu);
    while (!blocked && !returned) cv.Wait(&mu);
    EXPECT_TRUE(blocked);
    EXPECT_FALSE(returned) << "Append must wait while the queue is full";
  }
  sink->Release();
  appender.join();
  EXPECT_TRUE(third_result);
  log->Flush();
  EXPECT_EQ(sink->data(), "a\nb\nc\n");
  EXPECT_EQ(log->stats().dropped(), 0u);
}

TEST(DecisionLogTest, WriteErrorsAreCountedAndWriterKeepsGoing) {
  auto owned = std::make_unique<TestSink>();
  TestSink* sink = owned.get();
  sink->SetFailing(true);
  DecisionLogOptions options;
  options.path = "unused";
  auto log = MakeLog(options, std::move(owned));
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append(kT0, absl::StrCat("lost", i)));
  log->Flush();
  DecisionLog::Stats stats = log->stats();
  EXPECT_EQ(stats.appended, 10u);
  EXPECT_EQ(stats.written, 0u);
  EXPECT_EQ(stats.dropped_write_error, 10u);
  EXPECT_GE(stats.write_errors, 1u);
  EXPECT_NE(stats.last_error.find("test sink"), std::string::npos) << stats.last_error;

  sink->SetFailing(false);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(log->Append(kT0, absl::StrCat("kept", i)));
  log->Flush();
  stats = log->stats();
  EXPECT_EQ(stats.written, 3u);
  EXPECT_EQ(stats.dropped_write_error, 10u);
  EXPECT_EQ(sink->data(), "kept0\nkept1\nkept2\n");
}

TEST(DecisionLogTest, DiskFullIsCountedNotSilent) {
  DecisionLogOptions options;
  options.path = "/dev/full";  // every write fails with ENOSPC
  options.max_file_bytes = 4;  // a device is never rotated, however small the limit
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(log->Append(kT0, "{}"));
  log->Flush();
  const DecisionLog::Stats stats = log->stats();
  EXPECT_EQ(stats.dropped_write_error, 3u);
  EXPECT_GE(stats.write_errors, 1u);
  EXPECT_EQ(stats.rotations, 0u);
  EXPECT_NE(stats.last_error.find("/dev/full"), std::string::npos) << stats.last_error;
}

TEST(DecisionLogTest, RecentReturnsNewestLinesSince) {
  DecisionLogOptions options;
  options.path = "";  // disabled: lines are only kept in memory
  options.recent_capacity = 5;
  auto log = MakeLog(options);
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(log->Append(kT0 + absl::Seconds(i), absl::StrCat("d", i)));
  }
  using V = std::vector<std::string>;
  EXPECT_EQ(log->Recent(100), (V{"d3", "d4", "d5", "d6", "d7"}));
  EXPECT_EQ(log->Recent(2), (V{"d6", "d7"}));
  EXPECT_EQ(log->Recent(100, kT0 + absl::Seconds(5)), (V{"d5", "d6", "d7"}));
  EXPECT_EQ(log->Recent(100, kT0 + absl::Seconds(60)), V{});
  EXPECT_EQ(log->stats().appended, 8u);
  EXPECT_EQ(log->stats().written, 0u);
}

TEST(DecisionLogTest, FlushReturnsAfterLinesWrittenAndSinkFlushed) {
  auto owned = std::make_unique<TestSink>();
  TestSink* sink = owned.get();
  DecisionLogOptions options;
  options.path = "unused";
  auto log = MakeLog(options, std::move(owned));
  ASSERT_NE(log, nullptr);
  log->Flush();  // nothing appended: returns at once
  EXPECT_EQ(sink->events(), "");
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(log->Append(kT0, absl::StrCat(round, ":", i)));
    log->Flush();
    EXPECT_EQ(Lines(sink->data()).size(), static_cast<size_t>(50 * (round + 1)));
    const std::string events = sink->events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), 'F') << "the sink must be flushed after the last write: " << events;
  }
}

TEST(DecisionLogTest, ShutdownDrainsAndIsIdempotent) {
  auto owned = std::make_unique<TestSink>();
  TestSink* sink = owned.get();
  sink->Stall();
  DecisionLogOptions options;
  options.path = "unused";
  auto log = MakeLog(options, std::move(owned));
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append(kT0, absl::StrCat(i)));
  sink->WaitForWriteEntered();
  std::thread shutdown([&] { log->Shutdown(); });
  sink->Release();
  shutdown.join();
  EXPECT_EQ(sink->data(), "0\n1\n2\n3\n4\n");
  EXPECT_EQ(sink->events().back(), 'F');
  log->Shutdown();
  EXPECT_FALSE(log->Append(kT0, "late"));
  log->Flush();  // returns at once after shutdown
  EXPECT_EQ(log->stats().dropped_shutdown, 1u);
  EXPECT_EQ(log->stats().written, 5u);
}

TEST(DecisionLogTest, CreateReportsErrors) {
  DecisionLogOptions options;
  options.path = "/nonexistent-dir-for-arbiter/decisions.log";
  absl::StatusOr<std::unique_ptr<DecisionLog>> log = DecisionLog::Create(options);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find(options.path), std::string::npos) << log.status();

  options.queue_capacity = 0;
  options.max_files = -1;
  const absl::Status s = options.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("queue_capacity"), std::string::npos) << s;
  EXPECT_NE(s.message().find("max_files"), std::string::npos) << s;
}

}  // namespace
}  // namespace arbiter

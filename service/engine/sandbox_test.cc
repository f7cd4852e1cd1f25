// Every item of ../shared/SANDBOX.md, through Bundle::Evaluate: an escape attempt or a budget
// overrun fails closed (a deny finding naming the policy, a PolicyFault; a warning for advisory
// policies) and the next decision works normally. Also the helpers policies are given.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "service/engine/bundle.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/run_watchdog.h"
#include "service/engine/small_block_pool.h"
#include "service/engine/testing.h"

namespace arbiter {
namespace {

using enginetest::BundleYaml;
using enginetest::Describe;
using enginetest::DomainAccess;
using enginetest::FindFault;
using enginetest::FindReason;
using enginetest::MustEvaluate;
using enginetest::MustLoad;
using enginetest::Policy;

// The probe policy runs `attack` for action "attack" and allows otherwise; a default grant
// allows everything, so a fault is the only way to a deny.
std::shared_ptr<const Bundle> ProbeBundle(absl::string_view attack, absl::string_view limits = "",
                                          absl::string_view mode = "mandatory") {
  BundleFiles f;
  f.files["bundle.yaml"] = BundleYaml(limits.empty() ? "" : absl::StrCat("limits: ", limits, "\n"));
  f.files["global/grant.lua"] =
      Policy("global.grant", "return allow('granted')", "  mode = 'default',\n");
  f.files["global/probe.lua"] = Policy(
      "global.probe",
      absl::StrCat("if req.action == 'attack' then\n", attack, "\nend\nreturn allow('fine')"),
      absl::StrCat("  mode = '", mode, "',\n"));
  return MustLoad(f);
}

struct FaultCase {
  std::string attack;
  PolicyFault::Type type;
  std::string detail;  // expected in the reason's detail
  std::string limits = "";
};

// Runs the attack, expects it to fail closed (mandatory: deny; advisory: warning), then expects
// the next two decisions to be normal. Returns the attack's decision.
// CPU time of the calling thread: what a policy costs, whatever else the machine runs.
absl::Duration ThreadCpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

Decision ExpectFault(const FaultCase& c, absl::string_view mode = "mandatory",
                     absl::Duration max_time = absl::Seconds(2),
                     absl::Duration max_cpu = absl::InfiniteDuration()) {
  SCOPED_TRACE(absl::StrCat(mode, ": ", c.attack));
  auto b = ProbeBundle(c.attack, c.limits, mode);
  if (b == nullptr) return Decision{};
  // The best of up to three runs is held to max_cpu and max_time, and the last run to the
  // expected fault: on a shared virtual machine a stall of the host can be charged to this
  // thread's CPU time, or delay it past the policy's wall-clock timeout (a refusal then shows as
  // "policy time budget exceeded"), once; a call the budget did not stop, or a fault of the wrong
  // kind, would show in every run. Every run must leave the worker usable (checked below).
  auto matches = [&](const Decision& d) {
    const PolicyFault* f = FindFault(d, "global.probe");
    const Reason* r = FindReason(d, "global.probe");
    return f != nullptr && f->type == c.type && r != nullptr &&
           absl::StrContains(r->detail, c.detail);
  };
  Decision d;
  absl::Duration cpu = absl::InfiniteDuration();
  absl::Duration wall = absl::InfiniteDuration();
  for (int run = 0; run < 3 && (cpu >= max_cpu || wall >= max_time || !matches(d)); ++run) {
    absl::Time start = absl::Now();
    const absl::Duration cpu_start = ThreadCpu();
    d = MustEvaluate(*b, DomainAccess("sales", "attack"));
    const absl::Duration took = ThreadCpu() - cpu_start;
    const absl::Duration elapsed = absl::Now() - start;
    cpu = std::min(cpu, took);
    wall = std::min(wall, elapsed);
    if (max_cpu != absl::InfiniteDuration()) {  // the figures, for the record
      std::printf("  cpu %6.1f ms  wall %6.1f ms  %s\n", absl::ToDoubleMilliseconds(took),
                  absl::ToDoubleMilliseconds(elapsed), c.attack.c_str());
    }
    if (max_cpu == absl::InfiniteDuration()) cpu = absl::ZeroDuration();
  }
  EXPECT_LT(wall, max_time);
  EXPECT_LT(cpu, max_cpu);
  const PolicyFault* fault = FindFault(d, "global.probe");
  EXPECT_NE(fault, nullptr) << Describe(d);
  if (fault != nullptr) {
    EXPECT_EQ(PolicyFaultTypeName(fault->type), PolicyFaultTypeName(c.type)) << Describe(d);
  }
  const Reason* r = FindReason(d, "global.probe");
  EXPECT_NE(r, nullptr) << Describe(d);
  if (r != nullptr) {
    EXPECT_EQ(r->effect, Effect::kDeny);
    EXPECT_TRUE(absl::StrContains(r->message, "global.probe")) << r->message;
    EXPECT_TRUE(absl::StrContains(r->detail, c.detail)) << "detail: " << r->detail;
    EXPECT_EQ(r->severity, mode == "advisory" ? Severity::kWarning : Severity::kError);
  }
  EXPECT_EQ(d.effect, mode == "advisory" ? Effect::kAllow : Effect::kDeny) << Describe(d);
  for (int i = 0; i < 2; ++i) {
    Decision next = MustEvaluate(*b, DomainAccess("sales", "read"));
    EXPECT_EQ(next.effect, Effect::kAllow) << Describe(next);
    EXPECT_TRUE(next.faults.empty()) << Describe(next);
    const Reason* fine = FindReason(next, "global.probe");
    EXPECT_TRUE(fine != nullptr && fine->message == "fine") << Describe(next);
  }
  return d;
}

// The message of `return allow(tostring(<expr>))` in a fresh bundle; "<fault: detail>" when the
// policy failed.
std::string Eval(absl::string_view expr, absl::string_view limits = "") {
  BundleFiles f;
  f.files["bundle.yaml"] = BundleYaml(limits.empty() ? "" : absl::StrCat("limits: ", limits, "\n"));
  f.files["global/eval.lua"] =
      Policy("global.eval", absl::StrCat("return allow(tostring(", expr, "))"));
  auto b = MustLoad(f);
  if (b == nullptr) return "<no bundle>";
  Decision d = MustEvaluate(*b, DomainAccess("sales"));
  const Reason* r = FindReason(d, "global.eval");
  if (r == nullptr) return "<no reason>";
  if (!d.faults.empty()) return absl::StrCat("<fault: ", r->detail, ">");
  return r->message;
}

// --- Loading and the environment (SANDBOX.md 1, 4, 6, 9). ---

TEST(SandboxTest, UnsafeNamesAreAbsent) {
  for (const char* name :
       {"io", "os", "debug", "package", "require", "load", "loadstring", "dofile", "loadfile",
        "collectgarbage", "setmetatable", "getmetatable", "rawset", "rawget", "rawequal", "rawlen",
        // print is Arbiter's own: it writes to the evaluation's trace only.
        "_G", "coroutine", "module", "newproxy", "math.random", "math.randomseed", "string.dump",
        "(\"\").dump", "string.pack and nil"}) {
    EXPECT_EQ(Eval(absl::StrCat("type(", name, ")")), "nil") << name;
  }
}

TEST(SandboxTest, TheSafeLibraryIsThere) {
  for (const char* name : {"assert",         "error",         "ipairs",
                           "next",           "pairs",         "pcall",
                           "select",         "tonumber",      "tostring",
                           "type",           "xpcall",        "string.format",
                           "string.upper",   "table.concat",  "table.insert",
                           "table.remove",   "table.sort",    "table.unpack",
                           "math.floor",     "math.max",      "utf8.char",
                           "allow",          "deny",          "warn",
                           "obligate",       "re.match",      "re.find",
                           "re.captures",    "semver.parse",  "semver.valid",
                           "semver.compare", "semver.bump",   "duration",
                           "percent",        "has_role",      "has_any_role",
                           "in_group",       "list.contains", "list.intersects",
                           "list.len"}) {
    EXPECT_EQ(Eval(absl::StrCat("type(", name, ")")), "function") << name;
  }
  EXPECT_EQ(Eval("math.pi > 3"), "true");
}

TEST(SandboxTest, CallingUnsafeFunctionsFailsClosed) {
  for (const char* attack :
       {"io.open('/etc/passwd')", "os.execute('true')", "require('os')", "load('return 1')()",
        "dofile('/etc/passwd')", "loadfile('/etc/passwd')", "string.dump(tostring)",
        "collectgarbage('count')", "setmetatable({}, {})", "getmetatable('').__index.x = 1",
        "debug.sethook()", "coroutine.create(print)", "math.random()", "rawset(_ENV, 'x', 1)",
        "_G.x = 1", "package.loaded.os.exit()"}) {
    ExpectFault({attack, PolicyFault::Type::kError, "attempt to"});
  }
}

TEST(SandboxTest, AdvisoryPolicyFaultIsAWarning) {
  ExpectFault({"error('advisory broke')", PolicyFault::Type::kError, "advisory broke"}, "advisory");
  ExpectFault({"while true do end", PolicyFault::Type::kBudget, "instruction budget exceeded"},
              "advisory");
}

// --- The string metatable and Lua patterns (SANDBOX.md 5, 10). ---

TEST(SandboxTest, TheStringMetatableReachesTheCappedLibrary) {
  EXPECT_EQ(Eval("(\"\").rep == string.rep"), "true");
  EXPECT_EQ(Eval("#('ab'):rep(3)"), "6");
  ExpectFault({"local r = ('').rep; r('x', 1e9)", PolicyFault::Type::kError,
               "string.rep result over the limit"},
              "mandatory", absl::Milliseconds(200));
  ExpectFault({"string.rep('x', 1e9)", PolicyFault::Type::kError, "over the limit"}, "mandatory",
              absl::Milliseconds(200));
  ExpectFault({"(''):rep(1e18)", PolicyFault::Type::kError, "over the limit"}, "mandatory",
              absl::Milliseconds(200));
  ExpectFault({"('x'):rep(1e6, ('y'):rep(1e6))", PolicyFault::Type::kError, "over the limit"},
              "mandatory", absl::Milliseconds(200));
  ExpectFault({"('x'):rep(100, ('y'):rep(100000))", PolicyFault::Type::kError, "over the limit"},
              "mandatory", absl::Milliseconds(200));
}

TEST(SandboxTest, PatternBombIsRefusedQuickly) {
  const char* bomb = "(\"a\"):rep(26), (\"a?\"):rep(26) .. (\"a\"):rep(26)";
  for (const char* fn : {"string.find", "string.match", "string.gmatch", "string.gsub"}) {
    std::string call =
        absl::StrCat(fn, "(", bomb, absl::string_view(fn) == "string.gsub" ? ", ''" : "", ")");
    ExpectFault({call, PolicyFault::Type::kError, "too costly"}, "mandatory",
                absl::Milliseconds(200));
  }
  // Through the string metatable too.
  ExpectFault({"local s = ('a'):rep(26); s:find(('a?'):rep(26) .. ('a'):rep(26))",
               PolicyFault::Type::kError, "too costly"},
              "mandatory", absl::Milliseconds(200));
  // RE2 does the same match in linear time.
  EXPECT_EQ(Eval("re.match(('a?'):rep(26) .. ('a'):rep(26), ('a'):rep(26))"), "true");
  // Subjects over the cap are refused for patterns, not for plain finds.
  ExpectFault({"string.find(('a'):rep(20000), 'b')", PolicyFault::Type::kError,
               "over the Lua pattern limit"});
  EXPECT_EQ(Eval("string.find(('a'):rep(20000) .. 'b', 'b', 1, true)"), "20001");
  // Ordinary patterns still work.
  EXPECT_EQ(Eval("string.match('customer-360', '^(%a+)%-(%d+)$')"), "customer");
  EXPECT_EQ(Eval("select(2, string.gsub('a,b,c', ',', ';'))"), "2");
  // The guards call Lua's own functions directly, in their own frame (lua_adapter.cc): every
  // result comes back, Lua functions called back from them run, and an argument error names
  // the function as the policy called it.
  EXPECT_EQ(Eval("table.concat({string.find('key=value', '(%w+)=(%w+)')}, ',')"), "1,9,key,value");
  EXPECT_EQ(Eval("select('#', string.find('abc', 'x'))"), "1");
  EXPECT_EQ(Eval("string.gsub('a,b', '%w', function(c) return c:upper() end)"), "A,B");
  EXPECT_EQ(Eval("(function() local s = '' for k, v in string.gmatch('a=1, b=2', '(%w+)=(%w+)') "
                 "do s = s .. k .. v end return s end)()"),
            "a1b2");
  EXPECT_EQ(Eval("('x'):rep(3, ',') .. string.format('%d-%s', 7, 'y')"), "x,x,x7-y");
  EXPECT_EQ(Eval("(function() local t = {3, 1, 2} table.sort(t, function(a, b) return a > b end) "
                 "return table.concat(t) end)()"),
            "321");
  EXPECT_TRUE(
      absl::StrContains(Eval("select(2, pcall(function() return string.find('abc', 'b', {}) end))"),
                        "bad argument #3 to 'find' (number expected, got table)"))
      << Eval("select(2, pcall(function() return string.find('abc', 'b', {}) end))");
  // The guards' argument checks raise Lua's own errors, naming the function as called.
  const std::pair<const char*, const char*> errors[] = {
      {"string.find({}, 'b')", "bad argument #1 to 'find' (string expected, got table)"},
      {"string.find('abc')", "bad argument #2 to 'find' (string expected, got no value)"},
      {"string.match('abc', nil)", "bad argument #2 to 'match' (string expected, got nil)"},
      {"string.gmatch(true, 'a')", "bad argument #1 to 'gmatch' (string expected, got boolean)"},
      {"string.gsub('abc', 'b')", "bad argument #3 to 'gsub'"},
      {"('abc'):find({})", "bad argument #1 to 'find' (string expected, got table)"},
  };
  for (const auto& [call, error] : errors) {
    const std::string got =
        Eval(absl::StrCat("select(2, pcall(function() return ", call, " end))"));
    EXPECT_TRUE(absl::StrContains(got, error)) << call << ": " << got;
  }
  // Numbers are strings to them, as to Lua's own functions; a plain find prices no pattern.
  EXPECT_EQ(Eval("string.find(12345, 34)"), "3");
  EXPECT_EQ(Eval("string.find('a*b', '*', 1, true)"), "2");
  EXPECT_EQ(Eval("string.match(2.5, '%d')"), "2");
}

// Issue 11: the budget holds inside C functions. Each known bad case ends as a fault (a deny
// naming the policy) within the policy's budget (50 ms here) plus 10 ms (the best of three runs,
// see ExpectFault): either refused before
// the C function starts (priced too costly), or stopped by the clock check each guarded C
// function makes before it runs, or by the hook in a Lua comparator.
// CPU time is asserted (the wall clock also counts other processes on a shared machine).
TEST(SandboxTest, CFunctionsStayWithinTheBudget) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const absl::Duration slack = absl::Milliseconds(60);  // instrumented code runs ~3x slower
#else
  const absl::Duration slack = absl::Milliseconds(10);
#endif
  const std::string limits = "{instruction_budget: 1000000000, policy_timeout_ms: 50}";
  // Refusals before the C function starts do not need the clock, and a loaded machine can take
  // 50 ms of wall time to set them up (filling 200,000 entries): their CPU time is the bound.
  const std::string refusal_limits = "{instruction_budget: 1000000000, policy_timeout_ms: 5000}";
  const absl::Duration max_cpu = absl::Milliseconds(50) + slack;
  const PolicyFault::Type kError = PolicyFault::Type::kError;
  const PolicyFault::Type kTimeout = PolicyFault::Type::kBudget;
  const FaultCase cases[] = {
      // Adjacent quantifiers, unanchored (the issue's 3.65 s case).
      {"('a'):rep(1500):find('a*a*c')", kError, "too costly", refusal_limits},
      {"('a'):rep(1500):match('a*a*c')", kError, "too costly", refusal_limits},
      {"for _ in ('a'):rep(1500):gmatch('a*a*c') do end", kError, "too costly", refusal_limits},
      {"('a'):rep(1500):gsub('a*a*c', '')", kError, "too costly", refusal_limits},
      // Lazy scans and many quantifiers, anchored.
      {"('a'):rep(4000):match('^.-.-.-b')", kError, "too costly", refusal_limits},
      {"('a'):rep(16000):find('^(a+)+b')", kError, "too costly", refusal_limits},
      // Unanchored searches on long subjects.
      {"('x'):rep(16000):gsub('.-y', '')", kError, "too costly", refusal_limits},
      {"('a'):rep(16000):find('a*b')", kError, "too costly", refusal_limits},
      {"('(('):rep(8000):find('%b()')", kError, "too costly", refusal_limits},
      // Calls each cheap enough to run, in a loop: the clock check stops them.
      {"local s = ('a'):rep(1500) while true do s:find('a*b') end", kTimeout, "time budget",
       limits},
      {"local s = ('ab'):rep(500000) while true do re.find('(a|b)*c', s) end", kTimeout,
       "time budget", limits},
      {"while true do local x = ('x'):rep(1000000) end", kTimeout, "time budget", limits},
      {"local s = ('x'):rep(500000) while true do local y = string.format('%s%s', s, s) end",
       kTimeout, "time budget", limits},
      {"while true do local x = tostring(req) end", kTimeout, "time budget", limits},
      // List helpers over tables a policy built: list.intersects is quadratic in C.
      {"local a, b = {}, {} for i = 1, 3000 do a[i] = 'x' .. i b[i] = 'y' .. i end\n"
       "local x = list.intersects(a, b)",
       kTimeout, "time budget", limits},
      {"local a, b = {}, {} for i = 1, 3000 do a[i] = 'x' .. i b[i] = 'y' .. i end\n"
       "local x = has_any_role({roles = a}, b)",
       kTimeout, "time budget", limits},
      // RE2 is linear, but not over any subject.
      {"re.find('x', ('a'):rep(1000000) .. ('a'):rep(100000))", kError, "too long", refusal_limits},
      // table.sort: a Lua comparator runs under the hook; a C sort is capped.
      {"local t = {} for i = 1, 50000 do t[i] = i end\n"
       "while true do table.sort(t, function(a, b) return a > b end) end",
       kTimeout, "time budget", limits},
      {"local t = {} for i = 1, 200000 do t[i] = -i end table.sort(t)", kError,
       "need a Lua comparator", refusal_limits},
  };
  for (const FaultCase& c : cases) ExpectFault(c, "mandatory", absl::Seconds(2), max_cpu);
  // get() through a Lua table that holds itself, one step per key of a 1 MB path: ~25 ms in
  // one call, which the clock stops within a 5 ms budget.
  ExpectFault({"local t = {} t.a = t local p = ('a.'):rep(500000) local x = get(t, p)", kTimeout,
               "time budget", "{instruction_budget: 1000000000, policy_timeout_ms: 5}"},
              "mandatory", absl::Seconds(2), absl::Milliseconds(5) + slack);
  // Ordinary uses stay allowed.
  EXPECT_EQ(Eval("('customer-360'):match('^(%a+)%-(%d+)$')"), "customer");
  EXPECT_EQ(Eval("select(2, ('a b c d'):gsub('%s+', '_'))"), "3");
  EXPECT_EQ(Eval("#(('x'):rep(1000):gsub('x', 'yy'))"), "2000");
  EXPECT_EQ(Eval("(function() local t = {3, 1, 2} table.sort(t) return t[1] end)()"), "1");
}

// --- CPU (SANDBOX.md 7, 8). ---

// The instruction budget (1,000,000 by default) is what stops these; a long policy timeout keeps
// a loaded machine's clock from stopping them first (as "policy time budget exceeded").
constexpr char kSlowClock[] = "{policy_timeout_ms: 5000}";

TEST(SandboxTest, InfiniteLoopStopsOnTheBudget) {
  ExpectFault(
      {"while true do end", PolicyFault::Type::kBudget, "instruction budget exceeded", kSlowClock});
  ExpectFault({"local i = 0 repeat i = i + 1 until false", PolicyFault::Type::kBudget,
               "instruction budget exceeded", kSlowClock});
}

TEST(SandboxTest, TheHookIsStickyAcrossPcall) {
  ExpectFault({"while true do pcall(function() while true do end end) end",
               PolicyFault::Type::kBudget, "instruction budget exceeded", kSlowClock});
}

TEST(SandboxTest, TheHookIsStickyAcrossXpcallHandlers) {
  ExpectFault({"xpcall(function() while true do end end, function() while true do end end)",
               PolicyFault::Type::kBudget, "instruction budget exceeded", kSlowClock});
  ExpectFault(
      {"while true do xpcall(function() while true do end end, function() "
       "while true do end end) end",
       PolicyFault::Type::kBudget, "instruction budget exceeded", kSlowClock});
}

TEST(SandboxTest, TheHookIsStickyAcrossRecursivePcall) {
  ExpectFault({"local function f() while true do pcall(f) end end f()", PolicyFault::Type::kBudget,
               "exceeded"});
}

// --- The hookless first run and its counted rerun (issue 12). ---
//
// Checks run without the counting hook first; a run that outlasts budget / R_max of wall time
// (R_max = 8 instructions/ns: 6.25 ms for a budget of 50M, 0.25 ms for 2M) is interrupted by the
// watchdog, or not certified, and is run again under the hook, which decides. These cases do
// far more instructions than any machine runs in that time (this one runs ~0.3/ns), so they are
// always rerun; that is what they test.

// ThreadSanitizer builds always count (lua_sandbox.cc): no first runs to rerun there.
#if defined(__SANITIZE_THREAD__)
constexpr bool kFastRuns = false;
#else
constexpr bool kFastRuns = true;
#endif

// The decision on `attack` (the probe's, see ProbeBundle) by default and with every check run
// counted (today's way before issue 12): they must be the same.
Decision SameBothWays(absl::string_view attack, absl::string_view limits) {
  SCOPED_TRACE(attack);
  auto b = ProbeBundle(attack, limits);
  if (b == nullptr) return Decision{};
  const bool was = LuaSandbox::SetAlwaysCounted(true);
  const Decision counted = MustEvaluate(*b, DomainAccess("sales", "attack"));
  LuaSandbox::SetAlwaysCounted(was);
  const Decision d = MustEvaluate(*b, DomainAccess("sales", "attack"));
  EXPECT_EQ(Describe(d), Describe(counted));
  return d;
}

TEST(SandboxTest, RunawaysAreInterruptedAndFaultOnTheBudget) {
  const int64_t reruns = LuaSandbox::counted_reruns();
  const int64_t signals = RunWatchdog::signals_sent();
  for (const char* attack :
       {"while true do end", "while true do pcall(function() while true do end end) end",
        "xpcall(function() while true do end end, function() while true do end end)"}) {
    const Decision d = SameBothWays(attack, kSlowClock);
    const PolicyFault* f = FindFault(d, "global.probe");
    const Reason* r = FindReason(d, "global.probe");
    ASSERT_TRUE(f != nullptr && r != nullptr) << Describe(d);
    EXPECT_EQ(f->type, PolicyFault::Type::kBudget);
    EXPECT_TRUE(absl::StrContains(r->detail, "instruction budget exceeded")) << r->detail;
    EXPECT_EQ(d.effect, Effect::kDeny);
  }
  // Each of the three was stopped by the watchdog and run again counted (the counted-only
  // evaluations do not count; a stall of the machine may add a rerun of another check).
  if (kFastRuns) {
    EXPECT_GE(LuaSandbox::counted_reruns() - reruns, 3);
    EXPECT_GE(RunWatchdog::signals_sent() - signals, 3);
  }
}

TEST(SandboxTest, TheBudgetIsExactAtItsEdge) {
  // 2M instructions; `for i = 1, n do end` runs n + 1 of them, the rest of the check ~20. The
  // hook counts in steps of 1000, so the edge is exact to 1000.
  const char* limits = "{instruction_budget: 2000000, policy_timeout_ms: 20000}";
  for (int n : {1800000, 1980000}) {
    const Decision d = SameBothWays(absl::StrCat("for i = 1, ", n, " do end"), limits);
    EXPECT_EQ(d.effect, Effect::kAllow) << n << ": " << Describe(d);
    EXPECT_TRUE(d.faults.empty()) << n << ": " << Describe(d);
  }
  for (int n : {2020000, 2200000}) {
    const Decision d = SameBothWays(absl::StrCat("for i = 1, ", n, " do end"), limits);
    const Reason* r = FindReason(d, "global.probe");
    ASSERT_NE(r, nullptr) << Describe(d);
    EXPECT_EQ(d.effect, Effect::kDeny) << n;
    EXPECT_TRUE(absl::StrContains(r->detail, "instruction budget exceeded")) << r->detail;
  }
}

TEST(SandboxTest, SmallChecksStandWithoutARerun) {
  // The default path: a check of a few hundred instructions ends far within its certified bound
  // (0.125 ms for the default budget). A stall of the machine can make one run longer than that
  // (it is then rerun, with the same outcome), not twenty.
  auto b = ProbeBundle("local n = 0 for i = 1, 100 do n = n + i end");
  ASSERT_NE(b, nullptr);
  const int64_t reruns = LuaSandbox::counted_reruns();
  for (int i = 0; i < 20; ++i) {
    const Decision d = MustEvaluate(*b, DomainAccess("sales", "attack"));
    EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  }
  EXPECT_LT(LuaSandbox::counted_reruns() - reruns, 20);
}

TEST(SandboxTest, ADiscardedFastRunLeavesNoFindingsOrPrints) {
  // 20M instructions within a budget of 50M: the fast run is interrupted after 6.25 ms (it needs
  // ~65 ms here), the counted run finishes. Exactly one copy of each finding and print.
  const char* limits = "{instruction_budget: 50000000, policy_timeout_ms: 20000}";
  const char* attack =
      "print('before the loop')\n"
      "local out = {deny('first'), warn('second')}\n"
      "for i = 1, 20000000 do end\n"
      "return out";
  auto b = ProbeBundle(attack, limits);
  ASSERT_NE(b, nullptr);
  const int64_t reruns = LuaSandbox::counted_reruns();
  const Decision d = MustEvaluate(*b, DomainAccess("sales", "attack"));
  if (kFastRuns) {
    EXPECT_GE(LuaSandbox::counted_reruns() - reruns, 1);
  }
  EXPECT_TRUE(d.faults.empty()) << Describe(d);
  EXPECT_EQ(d.effect, Effect::kDeny) << Describe(d);
  std::vector<std::string> probe;
  for (const Reason& r : d.reasons) {
    if (r.policy_id == "global.probe") {
      probe.push_back(absl::StrCat(EffectName(r.effect), " ", r.message));
    }
  }
  EXPECT_EQ(probe.size(), 2u) << Describe(d);
  EXPECT_EQ(absl::StrJoin(probe, ", "), "deny first, deny second") << Describe(d);

  // Traced (explain): always counted, print output once, the instructions counted.
  EvalOptions o = enginetest::Opts();
  o.trace = true;
  const Decision traced = MustEvaluate(*b, DomainAccess("sales", "attack"), o);
  ASSERT_NE(traced.trace, nullptr);
  bool found = false;
  for (const PolicyTrace& p : traced.trace->policies) {
    if (p.policy_id != "global.probe") continue;
    found = true;
    EXPECT_EQ(absl::StrJoin(p.prints, "|"), "before the loop");
    EXPECT_GE(p.instructions, 20000000);
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(Describe(traced), Describe(d));
}

TEST(SandboxTest, SlowCallsStopOnThePolicyTimeout) {
  // Few VM instructions, much time in C: only the wall clock stops it.
  ExpectFault({"local s = ('a'):rep(1000000) while true do s:find('b', 1, true) end",
               PolicyFault::Type::kBudget, "policy time budget exceeded",
               "{instruction_budget: 100000000000, policy_timeout_ms: 20}"},
              "mandatory", absl::Milliseconds(500));
}

// --- Memory (SANDBOX.md 11, 12). ---

TEST(SandboxTest, MemoryBombsStopAndTheNextEvaluationSucceeds) {
  const std::string limits =
      "{memory_limit_mb: 8, instruction_budget: 100000000000, policy_timeout_ms: 5000}";
  ExpectFault({"local t = {} for i = 1, 1e12 do t[i] = i end", PolicyFault::Type::kMemory,
               "memory limit of 8388608 bytes exceeded", limits});
  ExpectFault({"local s = 'x' while true do s = s .. s end", PolicyFault::Type::kMemory,
               "memory limit", limits});
  ExpectFault({"local t = {} while true do t[#t + 1] = {} end", PolicyFault::Type::kMemory,
               "memory limit", limits});
  // Kept reachable in the policy's environment: the state cannot recover by collecting, so the
  // engine must replace it.
  ExpectFault({"hoard = {} while true do hoard[#hoard + 1] = ('z'):rep(100000) .. #hoard end",
               PolicyFault::Type::kMemory, "memory limit", limits});
  ExpectFault({"local t = {} while true do t[#t + 1] = table.concat({('a'):rep(1000), #t}) end",
               PolicyFault::Type::kMemory, "memory limit", limits});
}

// RE2 programs live outside the Lua allocator; each cached one is charged its memory budget
// (256 KiB) against the state's memory limit, so patterns cannot add memory beside the ceiling.
TEST(SandboxTest, CompiledPatternsCountAgainstTheMemoryLimit) {
  EngineLimits limits;
  limits.memory_limit_bytes = 8 << 20;
  auto loaded = [&](const std::string& top) -> size_t {
    auto sandbox = LuaSandbox::Create(limits);
    EXPECT_TRUE(sandbox.ok()) << sandbox.status();
    if (!sandbox.ok()) return 0;
    PolicySpec spec;
    auto handle = (*sandbox)->LoadPolicy(
        "global/p.lua", absl::StrCat(top, Policy("global.p", "return allow('x')")), spec);
    EXPECT_TRUE(handle.ok()) << handle.status();
    return (*sandbox)->memory_used();
  };
  const size_t none = loaded("");
  const size_t three = loaded("re.find('a1', 'x') re.find('a2', 'x') re.find('a3', 'x')\n");
  EXPECT_GE(three, none + 3 * (256 << 10));
  // Five hundred distinct patterns: the cache forgets programs rather than pass the ceiling.
  const size_t many = loaded("for i = 1, 500 do re.find('p' .. i, 'x') end\n");
  EXPECT_LE(many, limits.memory_limit_bytes);
  EXPECT_GE(many, none + (256 << 10));
  // A heap that leaves no room for a program: the call fails closed, naming the limit.
  ExpectFault(
      {"local t = {} pcall(function() while true do t[#t + 1] = ('x'):rep(65536) .. #t "
       "end end) re.find('needs room', 'x')",
       PolicyFault::Type::kError, "a compiled pattern takes up to",
       "{memory_limit_mb: 8, instruction_budget: 100000000000, policy_timeout_ms: 5000}"});
}

// The Lua states' allocator (small_block_pool.h): small blocks from the pool, reused by size
// class; contents kept across resizes between classes and to and from glibc; past the arena,
// small blocks come from glibc and still work.
TEST(SmallBlockPoolTest, ServesReusesResizesAndFallsBack) {
  SmallBlockPool pool;
  auto fill = [](void* p, size_t n, char c) { std::fill_n(static_cast<char*>(p), n, c); };
  auto holds = [](const void* p, size_t n, char c) {
    const char* b = static_cast<const char*>(p);
    return std::all_of(b, b + n, [c](char x) { return x == c; });
  };
  void* a = pool.Resize(nullptr, 0, 40);
  ASSERT_TRUE(pool.Owns(a));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % SmallBlockPool::kStep, 0u);
  fill(a, 40, 'a');
  void* b = pool.Resize(a, 40, 48);  // same class: in place
  EXPECT_EQ(b, a);
  void* c = pool.Resize(b, 48, 300);  // another class: moved, contents kept
  ASSERT_TRUE(pool.Owns(c));
  EXPECT_TRUE(holds(c, 40, 'a'));
  fill(c, 300, 'c');
  void* d = pool.Resize(nullptr, 0, 33);  // the class of the 48-byte block, freed by the move
  EXPECT_EQ(d, a);
  void* big = pool.Resize(c, 300, 5000);  // to glibc
  ASSERT_NE(big, nullptr);
  EXPECT_FALSE(pool.Owns(big));
  EXPECT_TRUE(holds(big, 300, 'c'));
  void* back = pool.Resize(big, 5000, 100);  // glibc's block stays glibc's
  EXPECT_FALSE(pool.Owns(back));
  EXPECT_TRUE(holds(back, 100, 'c'));
  pool.Free(back, 100);
  pool.Free(d, 33);
  // Past the arena: glibc blocks, which free as such.
  std::vector<void*> blocks;
  const size_t n = SmallBlockPool::kArenaBytes / SmallBlockPool::kMaxSmall + 10;
  for (size_t i = 0; i < n; ++i) {
    blocks.push_back(pool.Resize(nullptr, 0, SmallBlockPool::kMaxSmall));
    ASSERT_NE(blocks.back(), nullptr);
    fill(blocks.back(), SmallBlockPool::kMaxSmall, static_cast<char>(i));
  }
  EXPECT_FALSE(pool.Owns(blocks.back()));
  EXPECT_TRUE(pool.Owns(blocks.front()));
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(holds(blocks[i], SmallBlockPool::kMaxSmall, static_cast<char>(i))) << i;
    pool.Free(blocks[i], SmallBlockPool::kMaxSmall);
  }
  // A full arena still serves a freed block's class from its free list.
  void* again = pool.Resize(nullptr, 0, SmallBlockPool::kMaxSmall);
  EXPECT_TRUE(pool.Owns(again));
  pool.Free(again, SmallBlockPool::kMaxSmall);
}

TEST(SandboxTest, DeepRecursionFailsCleanly) {
  // Lua recursion: under the default 32 MiB ceiling the memory cap stops it just before Lua's
  // own stack limit (~1M slots) would; with more memory, Lua's "stack overflow" does.
  ExpectFault({"local function f(n) return f(n + 1) + 1 end f(1)", PolicyFault::Type::kMemory,
               "memory limit", "{policy_timeout_ms: 5000, instruction_budget: 100000000}"});
  ExpectFault({"local function f(n) return f(n + 1) + 1 end f(1)", PolicyFault::Type::kError,
               "stack overflow",
               "{policy_timeout_ms: 5000, instruction_budget: 100000000, memory_limit_mb: 128}"});
  // Recursion through C functions hits the C stack limit.
  ExpectFault({"local function f(s) return (string.gsub(s, '.', f)) end f('a')",
               PolicyFault::Type::kError, "stack overflow"});
  ExpectFault(
      {"local function f() return table.sort({2, 1}, function() f() return true end) "
       "end f()",
       PolicyFault::Type::kError, ""});
}

// --- Error values (SANDBOX.md 15). ---

TEST(SandboxTest, NonStringErrorValues) {
  ExpectFault({"error({})", PolicyFault::Type::kError, "error object is a table value"});
  ExpectFault({"error(nil)", PolicyFault::Type::kError, "error object is a nil value"});
  ExpectFault({"error()", PolicyFault::Type::kError, "error object is a nil value"});
  ExpectFault({"error(true)", PolicyFault::Type::kError, "error object is a boolean value"});
  ExpectFault({"error(allow('x'))", PolicyFault::Type::kError, "error object is a table value"});
  // A view has a __tostring; the engine must not call it.
  ExpectFault(
      {"error(req.principal)", PolicyFault::Type::kError, "error object is a userdata value"});
  ExpectFault({"error(setmetatable({}, {__tostring = function() while true do end end}))",
               PolicyFault::Type::kError, "setmetatable"});
  ExpectFault({"error(42)", PolicyFault::Type::kError, "error object is a number value"});
}

// --- Requests are read-only; isolation between policies (SANDBOX.md 13, 14). ---

TEST(SandboxTest, TheRequestIsReadOnly) {
  for (const char* attack :
       {"req.principal.id = 'x'", "req.principal.roles[1] = 'admin'", "req.action = 'read'",
        "req.resource.columns[1] = 'x'", "ctx.now = 0", "req.principal.attributes.x = 'y'"}) {
    ExpectFault({attack, PolicyFault::Type::kError, "the request is read-only"});
  }
  ExpectFault({"table.insert(req.principal.roles, 'admin')", PolicyFault::Type::kError,
               "the request is read-only"});
}

TEST(SandboxTest, OnePolicyCannotChangeWhatTheNextSees) {
  BundleFiles f;
  f.files["global/a-tamper.lua"] = Policy("global.tamper", R"(
    pcall(function() req.principal.roles[1] = 'admin' end)
    pcall(function() req.principal.id = 'root' end)
    pcall(function() req.principal.roles = {'admin'} end)
    tostring = function() return 'pwned' end
    type = nil
    leaked = 'from tamper'
    return nil)");
  f.files["global/b-reader.lua"] = Policy("global.reader", R"(
    return allow(table.concat({req.principal.id, req.principal.roles[1], tostring(1),
                               type(leaked), type(type)}, '|')))");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 2; ++i) {
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* r = FindReason(d, "global.reader");
    ASSERT_NE(r, nullptr) << Describe(d);
    EXPECT_EQ(r->message, "ana|analyst|1|nil|function");
    EXPECT_TRUE(d.faults.empty()) << Describe(d);
  }
}

TEST(SandboxTest, AStashedViewRaisesInsteadOfReadingFreedMemory) {
  const char* const uses[] = {"saved.id",
                              "saved.roles[1]",
                              "(function() for _ in ipairs(saved.roles) do end end)()",
                              "(function() for _ in ipairs(saved) do end end)()",
                              "saved ~= req.principal and saved.roles",
                              "list.contains(saved.roles, 'analyst')",
                              "#saved.roles",
                              "has_role(saved, 'analyst')",
                              "list.len(saved.roles)",
                              "pairs(saved)",
                              "tostring(saved)"};
  for (const char* use : uses) {
    SCOPED_TRACE(use);
    BundleFiles f;
    f.files["global/stash.lua"] = absl::StrCat(
        "local saved\nreturn {\n  id = 'global.stash',\n  kinds = {'access'},\n"
        "  check = function(req, ctx)\n    if saved then local x = ",
        use, " end\n    saved = req.principal\n    return allow('ok')\n  end,\n}\n");
    auto b = MustLoad(f);
    ASSERT_NE(b, nullptr);
    Decision first = MustEvaluate(*b, DomainAccess("sales"));
    EXPECT_TRUE(first.faults.empty()) << Describe(first);
    Decision second = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* r = FindReason(second, "global.stash");
    ASSERT_NE(r, nullptr);
    EXPECT_NE(FindFault(second, "global.stash"), nullptr) << Describe(second);
    EXPECT_TRUE(absl::StrContains(r->detail, "kept beyond the check call")) << r->detail;
  }
}

// A check declared function(req) is given nil for ctx (no view is made for it); one that
// declares ctx, or `...`, still gets it, before and after such checks in the same state.
TEST(SandboxTest, ChecksThatDeclareCtxGetItWhateverTheOthersDeclare) {
  auto policy = [](const char* id, const char* params, const char* body) {
    return absl::StrCat("return {\n  id = '", id, "',\n  kinds = {'access'},\n",
                        "  check = function(", params, ")\n", body, "\n  end,\n}\n");
  };
  BundleFiles f;
  f.files["global/a.lua"] = policy("global.a", "req", "return allow('a:' .. req.action)");
  f.files["global/b.lua"] = policy("global.b", "req, ctx", "return allow('b:' .. ctx.domain)");
  f.files["global/c.lua"] = policy("global.c", "req", "return allow('c:' .. req.action)");
  f.files["global/d.lua"] =
      policy("global.d", "...",
             "local req, ctx = ...\n    return allow('d:' .. select('#', ...) .. ctx.kind)");
  f.files["domains/sales/e.lua"] = policy("sales.e", "req", "return allow('e')");
  f.files["domains/sales/f.lua"] =
      policy("sales.f", "req, ctx, extra", "return allow('f:' .. ctx.domain .. tostring(extra))");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 2; ++i) {
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    EXPECT_TRUE(d.faults.empty()) << Describe(d);
    for (const auto& [id, message] :
         std::vector<std::pair<const char*, const char*>>{{"global.a", "a:read"},
                                                          {"global.b", "b:sales"},
                                                          {"global.c", "c:read"},
                                                          {"global.d", "d:2access"},
                                                          {"sales.e", "e"},
                                                          {"sales.f", "f:salesnil"}}) {
      const Reason* r = FindReason(d, id);
      ASSERT_NE(r, nullptr) << id << Describe(d);
      EXPECT_EQ(r->message, message) << id;
    }
  }
}

// The request's root caches what is read through it (lua_view.cc) once it has been read a few
// times; kWarm reads it enough for that. The cache must change nothing a policy can observe.
constexpr char kWarm[] =
    "local _w = {req.action, req.action, req.product, req.principal, req.action, req.resource}\n";

TEST(SandboxTest, ACachedKeyOfTheRequestIsStillReadOnly) {
  for (const char* write : {"req.action = 'x'", "req.principal = {}", "req.product = nil",
                            "req.resource = req", "req.newkey = 1"}) {
    ExpectFault(
        {absl::StrCat(kWarm, write), PolicyFault::Type::kError, "the request is read-only"});
  }
  // A later policy (same Lua state, same evaluation, the cache already filled) sees the values.
  BundleFiles f;
  f.files["global/a-tamper.lua"] = Policy("global.tamper", absl::StrCat(kWarm, R"(
    local id = req.principal.id
    pcall(function() req.action = 'write' end)
    pcall(function() req.principal = {id = 'root'} end)
    pcall(function() req.principal.id = 'root' end)
    return nil)"));
  f.files["global/b-reader.lua"] = Policy(
      "global.reader", absl::StrCat(kWarm, "return allow(req.action .. '|' .. req.principal.id)"));
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 2; ++i) {
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* r = FindReason(d, "global.reader");
    ASSERT_NE(r, nullptr) << Describe(d);
    EXPECT_EQ(r->message, "read|ana");
    EXPECT_TRUE(d.faults.empty()) << Describe(d);
  }
}

// The cache lives with the Lua state across evaluations; what one evaluation read must not
// answer the next one's reads (same worker, requests that differ in every key read).
TEST(SandboxTest, WhatOneEvaluationCachedIsNotSeenByTheNext) {
  const std::string echo = absl::StrCat(
      kWarm, "return allow(table.concat({req.action, req.principal.id, req.resource.product,",
      " tostring(#req.principal.roles), req.principal.roles[1] or '-'}, '|'))");
  BundleFiles f;
  f.files["global/echo.lua"] = Policy("global.echo", echo);
  f.files["domains/sales/echo.lua"] = Policy("sales.echo", echo);
  f.files["domains/marketing/echo.lua"] = Policy("marketing.echo", echo);
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  AccessRequest other = DomainAccess("marketing", "write");
  other.principal.id = "bob";
  other.principal.roles = {"admin", "auditor"};
  for (int i = 0; i < 3; ++i) {
    Decision first = MustEvaluate(*b, DomainAccess("sales", "read"));
    EXPECT_TRUE(first.faults.empty()) << Describe(first);
    for (const char* id : {"global.echo", "sales.echo"}) {
      const Reason* r = FindReason(first, id);
      ASSERT_NE(r, nullptr) << id << Describe(first);
      EXPECT_EQ(r->message, "read|ana|sales-data|1|analyst") << id;
    }
    Decision second = MustEvaluate(*b, other);
    EXPECT_TRUE(second.faults.empty()) << Describe(second);
    for (const char* id : {"global.echo", "marketing.echo"}) {
      const Reason* r = FindReason(second, id);
      ASSERT_NE(r, nullptr) << id << Describe(second);
      EXPECT_EQ(r->message, "write|bob|marketing-data|2|admin") << id;
    }
  }
}

// A state whose root got the cache gives the next evaluations' roots the keys read so far at
// once (lua_view.cc, PrefillRootCache), and keeps the last root's values in the cache until
// then, and writes only the keys whose value changed: a key the last root had and this one
// lacks (req.table, then a request without one; an access request's keys, then a product
// request's root) reads nil, a string of the same length is not taken for the last one, every
// read answers for this evaluation's root, as pairs() (which reads the request itself) says.
TEST(SandboxTest, EachRootReadsItsOwnKeysWhateverTheLastOneHad) {
  BundleFiles f;
  f.files["catalog/products/parcel-hub.yaml"] =
      "name: parcel-hub\ndomain: sales\nversion: 1.0.0\nspec:\n  outputPorts:\n"
      "    - {type: sql, catalog: hive, schema: parcels, tables: [{name: events}]}\n";
  f.files["global/echo.lua"] = Policy("global.echo", R"(
    local truth = {}
    for k, v in pairs(req) do truth[k] = v end
    local keys = {'action', 'table', 'product', 'principal', 'resource', 'operation',
                  'requester', 'nope'}
    local present, wrong = {}, {}
    for round = 1, 3 do
      for _, k in ipairs(keys) do
        if req[k] ~= truth[k] then wrong[#wrong + 1] = k end
        if round == 1 and req[k] ~= nil then present[#present + 1] = k end
      end
    end
    local action = req.action or '-'
    return allow(table.concat(present, ',') .. '|' .. action .. '|' .. table.concat(wrong, ','))
  )",
                                      "", "'access', 'product'");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  AccessRequest with_table;
  with_table.principal.id = "ana";
  with_table.action = "write";
  with_table.resource.table = "hive.parcels.events";
  AccessRequest without_table = DomainAccess("sales");
  ProductRequest product;
  product.product = *b->catalog().FindProduct("parcel-hub");
  product.operation = "publish";
  product.requester.id = "ana";
  AccessRequest load = DomainAccess("sales", "load");  // as long as "read"
  const std::vector<std::pair<Request, std::string>> cases = {
      {with_table, "action,table,product,principal,resource|write|"},
      {without_table, "action,product,principal,resource|read|"},
      {product, "product,operation,requester|-|"},
      {load, "action,product,principal,resource|load|"},
  };
  for (int i : {0, 1, 2, 0, 2, 1, 1, 0, 0, 2, 2, 1, 3, 1, 3, 3, 0, 3}) {
    Decision d = MustEvaluate(*b, cases[i].first);
    const Reason* r = FindReason(d, "global.echo");
    ASSERT_NE(r, nullptr) << i << Describe(d);
    EXPECT_TRUE(d.faults.empty()) << i << Describe(d);
    EXPECT_EQ(r->message, cases[i].second) << i;
  }
}

// pairs(), #, ipairs, tostring, equality and the helpers behave the same on the cached root as
// on any view: pairs yields every key once, whatever part of the view is cached.
TEST(SandboxTest, ACachedRootBehavesAsAnyView) {
  const std::string keys = R"(
    local function keys(v)
      local seen, list = {}, {}
      for k, x in pairs(v) do
        if seen[k] then return 'twice: ' .. k end
        if x ~= v[k] then return 'differs: ' .. k end
        seen[k] = true
        list[#list + 1] = k
      end
      table.sort(list)
      return table.concat(list, ',')
    end
  )";
  EXPECT_EQ(Eval(absl::StrCat("(function()", keys, R"(
    local before = keys(req)
    local _ = {req.action, req.action, req.principal, req.action, req.product}
    local after = keys(req)
    return before == after and after ~= '' and after
  end)())")),
            "action,context,domain,kind,principal,product,resource");
  EXPECT_EQ(Eval(absl::StrCat("(function()", kWarm, R"(
    local p = req.principal
    return req.principal == p and get(req, '') == req and get(req, 'principal') == p
      and get(req, 'action') == 'read' and has_role(p, 'analyst') and #p.roles == 1
      and select(2, ipairs(p.roles)) == p.roles and req.nope == nil and req[1] == nil
      and tostring(req):sub(1, 1) == '{' and type(req) == 'userdata'
  end)())")),
            "true");
}

// A stashed root raises in the next evaluation even for the keys its cache held then.
TEST(SandboxTest, AStashedCachedRootRaises) {
  for (const char* use : {"saved.action", "saved.principal", "saved.nope", "pairs(saved)",
                          "tostring(saved)", "get(saved, 'action')"}) {
    SCOPED_TRACE(use);
    BundleFiles f;
    f.files["global/stash.lua"] = absl::StrCat(
        "local saved\nreturn {\n  id = 'global.stash',\n  kinds = {'access'},\n"
        "  check = function(req, ctx)\n    if saved then local x = ",
        use, " end\n", kWarm, "    saved = req\n    return allow('ok')\n  end,\n}\n");
    auto b = MustLoad(f);
    ASSERT_NE(b, nullptr);
    Decision first = MustEvaluate(*b, DomainAccess("sales"));
    EXPECT_TRUE(first.faults.empty()) << Describe(first);
    Decision second = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* r = FindReason(second, "global.stash");
    ASSERT_NE(r, nullptr);
    EXPECT_NE(FindFault(second, "global.stash"), nullptr) << Describe(second);
    EXPECT_TRUE(absl::StrContains(r->detail, "kept beyond the check call")) << r->detail;
  }
}

TEST(SandboxTest, LibraryTablesAreReadOnly) {
  for (const char* attack :
       {"string.upper = nil", "string.x = 1", "table.concat = print", "math.pi = 3",
        "utf8.char = nil", "re.match = nil", "semver.valid = nil", "list.len = nil"}) {
    ExpectFault({attack, PolicyFault::Type::kError, "read-only"});
  }
  // Findings cannot be extended either.
  ExpectFault({"local f = allow('x'); f.extra = 1", PolicyFault::Type::kError, "read-only"});
}

TEST(SandboxTest, GlobalsOnlyChangeTheirOwnEnvironment) {
  BundleFiles f;
  f.files["global/a.lua"] =
      Policy("global.a", "allow = function() return deny('hijacked') end\nx = 1\nreturn nil");
  f.files["global/b.lua"] = Policy("global.b", "return allow('b sees x=' .. tostring(x))");
  f.files["domains/sales/c.lua"] = Policy("sales.c", "return allow('c sees x=' .. tostring(x))");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  Decision d = MustEvaluate(*b, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  ASSERT_NE(FindReason(d, "global.b"), nullptr);
  EXPECT_EQ(FindReason(d, "global.b")->message, "b sees x=nil");
  EXPECT_EQ(FindReason(d, "sales.c")->message, "c sees x=nil");
}

// A policy's environment holds the library's entries (PushPolicyEnv) over a fallback to the
// library: a policy's own global shadows an entry, and once set to nil the library's shows again,
// in every evaluation; nothing of it reaches another policy.
TEST(SandboxTest, ALibraryGlobalSetOrClearedByAPolicyIsItsOwn) {
  BundleFiles f;
  f.files["global/a.lua"] = Policy("global.a", R"(
    local own = type(1)
    type = function() return 'mine' end
    local mine = type(1)
    type = nil
    string = nil
    local back = type(1) .. ',' .. string.upper('s')
    return allow(own .. ',' .. mine .. ',' .. back))");
  f.files["global/b.lua"] = Policy("global.b", "return allow(type(1) .. ',' .. string.upper('s'))");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 2; ++i) {
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    EXPECT_TRUE(d.faults.empty()) << Describe(d);
    ASSERT_NE(FindReason(d, "global.a"), nullptr) << Describe(d);
    EXPECT_EQ(FindReason(d, "global.a")->message, "number,mine,number,S");
    ASSERT_NE(FindReason(d, "global.b"), nullptr) << Describe(d);
    EXPECT_EQ(FindReason(d, "global.b")->message, "number,S");
  }
}

// --- Output (SANDBOX.md 16, 17). ---

TEST(SandboxTest, ReasonStringsAreCappedAndCleaned) {
  BundleFiles f;
  f.files["bundle.yaml"] = BundleYaml("limits: {max_message_bytes: 64}\n");
  f.files["global/long.lua"] =
      Policy("global.long",
             "return allow(('x'):rep(1000), {detail = ('y'):rep(1000), masks = {[('c'):rep(100)] = "
             "('e'):rep(100)}})");
  f.files["global/ctrl.lua"] =
      Policy("global.ctrl", "return warn('a\\nb\\0c\\27[31mred\\t\\127!', {detail = '\\255ok'})");
  f.files["global/utf8.lua"] = Policy("global.utf8", "return warn(('\\u{e9}'):rep(40))");
  f.files["global/err.lua"] =
      Policy("global.err", "error(('e'):rep(5000) .. '\\n\\27[2J')", "  mode = 'advisory',\n");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  Decision d = MustEvaluate(*b, DomainAccess("sales"));
  const Reason* lng = FindReason(d, "global.long");
  ASSERT_NE(lng, nullptr);
  EXPECT_EQ(lng->message, std::string(64, 'x'));
  EXPECT_EQ(lng->detail, std::string(64, 'y'));
  ASSERT_EQ(d.obligations.column_masks.size(), 1u) << Describe(d);
  EXPECT_LE(d.obligations.column_masks[0].column.size(), 64u);
  EXPECT_LE(d.obligations.column_masks[0].expression.size(), 64u);
  const Reason* ctrl = FindReason(d, "global.ctrl");
  ASSERT_NE(ctrl, nullptr);
  EXPECT_EQ(ctrl->message, "a b c [31mred  !");
  EXPECT_EQ(ctrl->detail, "?ok");
  const Reason* u = FindReason(d, "global.utf8");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->message.size(), 64u);  // 32 whole two-byte characters, none split
  const Reason* err = FindReason(d, "global.err");
  ASSERT_NE(err, nullptr);
  EXPECT_LE(err->detail.size(), 64u) << err->detail;
  EXPECT_EQ(err->detail.find('\x1b'), std::string::npos);
  EXPECT_EQ(err->detail.find('\n'), std::string::npos);
}

TEST(SandboxTest, MalformedReturnsAreFaults) {
  for (const char* ret :
       {"return {effect = 'allow'}", "return 'allow'", "return {allow('x'), 'y'}",
        "return {allow('x'), {type = 'allow', message = 'forged'}}", "return 42", "return true",
        "return function() end", "return req", "return {type = 'allow', message = 'forged'}"}) {
    ExpectFault({ret, PolicyFault::Type::kMalformed, ""});
  }
  ExpectFault({"local t = {} for i = 1, 300 do t[i] = warn('w') end return t",
               PolicyFault::Type::kMalformed, "limit is 256"});
  // Several findings and an empty list are fine.
  EXPECT_EQ(Eval("'x'"), "x");
  BundleFiles f;
  f.files["global/many.lua"] = Policy("global.many", "return {warn('a'), allow('b')}");
  f.files["global/none.lua"] = Policy("global.none", "return {}");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  Decision d = MustEvaluate(*b, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  EXPECT_EQ(d.reasons.size(), 2u);
  EXPECT_TRUE(d.faults.empty());
}

TEST(SandboxTest, FindingBuildersRejectBadArguments) {
  for (const char* call :
       {"allow({})", "allow(nil)", "allow(true)", "deny(print)", "warn()", "obligate({})"}) {
    ExpectFault({call, PolicyFault::Type::kError, "the message must be a string"});
  }
  ExpectFault({"allow('x', 'opts')", PolicyFault::Type::kError, "opts must be a table"});
  ExpectFault({"deny('x', {masks = {a = 'b'}})", PolicyFault::Type::kError,
               "masks apply only to allow() and obligate()"});
  ExpectFault(
      {"warn('x', {row_filters = {'a'}})", PolicyFault::Type::kError, "row_filters apply only"});
  ExpectFault({"allow('x', {masks = {a = 1}})", PolicyFault::Type::kError, "opts.masks"});
  ExpectFault({"allow('x', {masks = 'a'})", PolicyFault::Type::kError, "opts.masks"});
  ExpectFault({"allow('x', {row_filters = {1}})", PolicyFault::Type::kError,
               "opts.row_filters[1] must be a string"});
  ExpectFault(
      {"allow('x', {detail = {}})", PolicyFault::Type::kError, "opts.detail must be a string"});
  ExpectFault({"allow('x', {detail = 5})", PolicyFault::Type::kError,
               "allow(): opts.detail must be a string"});
  // Keys built at run time (a literal's are refused at load): the error names the key.
  ExpectFault({"local o = {detail = 'd'}; o['row_' .. 'filter'] = {'x'}; return allow('x', o)",
               PolicyFault::Type::kError,
               "allow(): unknown option \"row_filter\" (the options are detail, masks, "
               "row_filters)"});
  ExpectFault({"local o = {masks = {}}; o[1] = 'x'; return obligate('x', o)",
               PolicyFault::Type::kError,
               "obligate(): opts has a number key; the options are detail, masks, row_filters"});
  ExpectFault({"local o = {}; o['type'] = 'allow'; return deny('x', o)", PolicyFault::Type::kError,
               "deny(): unknown option \"type\""});
  ExpectFault({"return warn(true)", PolicyFault::Type::kError,
               "warn(): the message must be a string, got boolean"});
  ExpectFault({"return allow('x', 5)", PolicyFault::Type::kError,
               "allow(): opts must be a table, got number"});
}

// What a policy may do with a finding value: read its fields, walk them, keep it, change the
// fields it has (not add any), and return it, alone or in a list, from this check or a later one.
// The builders make it in C and the engine reads it back; this pins what a policy sees of both.
TEST(SandboxTest, AFindingIsATableOfItsFields) {
  EXPECT_EQ(Eval("allow('m', {detail = 'd'}).type .. allow('m').message .. "
                 "allow('m', {detail = 'd'}).detail"),
            "allowmd");
  EXPECT_EQ(Eval("obligate('m').type .. deny('m').type .. warn('m').type"), "obligatedenywarn");
  EXPECT_EQ(Eval("allow(42).message + 1"), "43");
  EXPECT_EQ(Eval("math.type(allow(42).message)"), "integer");
  EXPECT_EQ(Eval("allow('m').detail == nil and allow('m').masks == nil and "
                 "allow('m').row_filters == nil and #allow('m') == 0 and type(allow('m'))"),
            "table");
  // Every field it has, and only those; nil options are no options.
  const char* keys =
      "(function(f) local ks = {} for k in pairs(f) do ks[#ks + 1] = k end table.sort(ks) "
      "return table.concat(ks, ',') end)";
  EXPECT_EQ(Eval(absl::StrCat(keys, "(allow('m'))")), "message,type");
  EXPECT_EQ(Eval(absl::StrCat(keys, "(allow('m', {detail = nil, masks = nil}))")), "message,type");
  EXPECT_EQ(Eval(absl::StrCat(keys,
                              "(obligate('m', {detail = 'd', masks = {c = 'NULL'}, "
                              "row_filters = {'r'}}))")),
            "detail,masks,message,row_filters,type");
  // The masks and row filters are copies: changing opts afterwards changes nothing.
  EXPECT_EQ(
      Eval("(function() local m, r = {c = 'NULL'}, {'a'} "
           "local f = allow('m', {masks = m, row_filters = r}) m.c = 'x' m.d = 'y' r[2] = 'b' "
           "return f.masks.c .. tostring(f.masks.d) .. #f.row_filters end)()"),
      "NULLnil1");
  // Arguments past opts are not options.
  EXPECT_EQ(Eval("allow('m', nil, {detail = 'd'}).detail"), "nil");
  EXPECT_EQ(Eval("allow('m', {}, 'x', 'y', 'z').detail"), "nil");
  // Distinct values, even for the same arguments.
  EXPECT_EQ(Eval("allow('m') == allow('m')"), "false");

  // Fields it has can be changed before it is returned, and the engine reads what it has then.
  BundleFiles f;
  f.files["global/changed.lua"] = Policy("global.changed", R"(
    local g = allow('granted', {detail = 'gone', masks = {a = 'NULL'}, row_filters = {'x > 1'}})
    g.message = 'changed'
    g.detail = nil
    g.masks.b = "'***'"
    g.row_filters[2] = 'y < 2'
    local w = deny('was a deny')
    w.type = 'warn'
    return {g, w})");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  Decision d = MustEvaluate(*b, DomainAccess("sales"));
  EXPECT_EQ(Describe(d),
            "effect=allow "
            "reason[global.changed global allow  'changed' ''] "
            "reason[global.changed global deny warning 'was a deny' ''] "
            "mask[a=NULL] mask[b='***'] filter[x > 1] filter[y < 2] "
            "evaluated=global.changed overridden=")
      << Describe(d);
  // ... but none can be added, and a field set to nil stays gone.
  ExpectFault({"local f = allow('x'); f.extra = 1", PolicyFault::Type::kError, "read-only"});
  ExpectFault({"local f = allow('x', {detail = 'd'}); f.detail = nil; f.detail = 'e'",
               PolicyFault::Type::kError, "read-only"});
}

// A finding kept beyond its check (in a chunk-level local) is returned again as it is; one made
// and not returned is no finding; none leaks into another check or evaluation.
TEST(SandboxTest, AKeptFindingIsReturnedAsItIsAndNothingLeaks) {
  BundleFiles f;
  f.files["global/keep.lua"] = absl::StrCat("local kept\n", Policy("global.keep", R"(
    if req.action == 'first' then
      kept = obligate('kept', {detail = 'from the first', masks = {c = 'NULL'}})
      local unused = deny('made, not returned')
      return allow('first')
    end
    if req.action == 'again' then return {kept, allow('again')} end
    return kept)"));
  f.files["global/other.lua"] = Policy("global.other", R"(
    local unused = deny('not returned either')
    return warn('other ' .. req.action))");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  Decision first = MustEvaluate(*b, DomainAccess("sales", "first"));
  EXPECT_EQ(Describe(first),
            "effect=allow "
            "reason[global.keep global allow  'first' ''] "
            "reason[global.other global deny warning 'other first' ''] "
            "evaluated=global.keep,global.other overridden=")
      << Describe(first);
  for (int i = 0; i < 2; ++i) {
    Decision again = MustEvaluate(*b, DomainAccess("sales", "again"));
    EXPECT_EQ(Describe(again),
              "effect=allow "
              "reason[global.keep global allow  'again' ''] "
              "reason[global.keep global allow  'kept' 'from the first'] "
              "reason[global.other global deny warning 'other again' ''] "
              "mask[c=NULL] evaluated=global.keep,global.other overridden=")
        << Describe(again);
    // An obligation alone grants nothing: the closed default decides.
    Decision alone = MustEvaluate(*b, DomainAccess("sales", "read"));
    EXPECT_EQ(alone.effect, Effect::kDeny) << Describe(alone);
    EXPECT_TRUE(alone.faults.empty()) << Describe(alone);
    ASSERT_NE(FindReason(alone, "global.keep"), nullptr) << Describe(alone);
    EXPECT_EQ(FindReason(alone, "global.keep")->message, "kept");
    EXPECT_TRUE(alone.obligations.column_masks.empty()) << Describe(alone);
  }
}

// --- Helpers. ---

// type and tostring are the base library's wrapped (lua_adapter.cc): they answer as the
// originals do, errors included.
TEST(HelpersTest, TypeAndTostringAnswerAsTheBaseLibrary) {
  struct Case {
    std::string expr, want;
  } cases[] = {
      {"type(nil)", "nil"},
      {"type(false)", "boolean"},
      {"type(1) .. type(1.5)", "numbernumber"},
      {"type('') .. type(('x'):rep(60))", "stringstring"},
      {"type({})", "table"},
      {"type(type) .. type(print) .. type(function() end)", "functionfunctionfunction"},
      {"type(req) .. type(req.principal) .. type(req.product)", "userdatauserdatauserdata"},
      {"type(type(1))", "string"},
      {"select('#', type(1, 2))", "1"},
      {"type(nil, 1)", "nil"},
      {"select(2, pcall(type))", "bad argument #1 to '?' (value expected)"},
      {"tostring('abc')", "abc"},
      {"tostring('') == ''", "true"},
      {"tostring(('x'):rep(60)) == ('x'):rep(60)", "true"},
      {"select('#', tostring('a', 'b')) .. tostring('a', 'b')", "1a"},
      {"tostring(1) .. ' ' .. tostring(1.5) .. ' ' .. tostring(-0.0) .. ' ' .. tostring(2^63)",
       "1 1.5 -0.0 9.2233720368548e+18"},
      {"tostring(nil) .. tostring(true) .. tostring(nil, 'x')", "niltruenil"},
      {"tostring(req.principal.roles)", "[\"analyst\"]"},
      {"tostring({}):sub(1, 7)", "table: "},
      {"tostring(print):sub(1, 10)", "function: "},
      {"select(2, pcall(tostring))", "bad argument #1 to '?' (value expected)"},
  };
  for (const Case& c : cases) EXPECT_EQ(Eval(c.expr), c.want) << c.expr;
  EXPECT_TRUE(absl::StrContains(Eval("type()"), "bad argument #1 to 'type' (value expected)"))
      << Eval("type()");
  EXPECT_TRUE(
      absl::StrContains(Eval("tostring()"), "bad argument #1 to 'tostring' (value expected)"))
      << Eval("tostring()");
  EXPECT_TRUE(absl::StrContains(Eval("(function() local t = type return t() end)()"),
                                "bad argument #1 to 't' (value expected)"))
      << Eval("(function() local t = type return t() end)()");
}

TEST(HelpersTest, Regex) {
  EXPECT_EQ(Eval("re.match('[a-z][a-z0-9-]*', 'customer-360')"), "true");
  EXPECT_EQ(Eval("re.match('[a-z][a-z0-9-]*', 'Customer_360')"), "false");
  EXPECT_EQ(Eval("re.match('[a-z]+', 'abc1')"), "false");  // full match
  EXPECT_EQ(Eval("re.find('[0-9]', 'abc1')"), "true");     // partial match
  EXPECT_EQ(Eval("re.find('^x', 'abc')"), "false");
  EXPECT_EQ(Eval("re.match('.*', nil)"), "false");
  EXPECT_EQ(Eval("re.match('a', req.principal.id)"), "false");
  EXPECT_EQ(Eval("re.find('an', req.principal.id)"), "true");
  EXPECT_EQ(Eval("table.concat(re.captures('(\\\\w+)@(\\\\w+)', 'mail: me@host!'), ',')"),
            "me,host");
  EXPECT_EQ(Eval("re.captures('(a)|(b)', 'b')[1]"), "false");
  EXPECT_EQ(Eval("re.captures('(x)', 'abc')"), "nil");
  EXPECT_TRUE(absl::StartsWith(Eval("re.match('(', 'x')"), "<fault: "));
  EXPECT_TRUE(absl::StrContains(Eval("re.find('a(', 'x')"), "invalid pattern"))
      << Eval("re.find('a(', 'x')");
  EXPECT_TRUE(absl::StrContains(Eval("re.match(('a'):rep(5000), 'x')"), "longer than"));
}

// A repeated re.match/re.find is answered from the state's remembered answers (lua_adapter.cc,
// KnownRegexTest): the same answers as the first call's, per pattern, anchor and subject bytes.
TEST(HelpersTest, RepeatedRegexTestsAnswerAsTheFirst) {
  const std::string body =
      "local P = '[a-z]+'\n"
      "local out = {}\n"
      "for i = 1, 3 do\n"
      "  for _, s in ipairs({'abc', 'abc1', '1abc', '', ('a'):rep(47) .. '1', ('a'):rep(60)}) do\n"
      "    out[#out + 1] = tostring(re.match(P, s)) .. tostring(re.find(P, s))\n"
      "      .. tostring(re.match('[a-z]+' .. '', s)) .. tostring(re.match('(?i)[A-Z]+', s))\n"
      "  end\n"
      "  out[#out + 1] = tostring(re.match(P, 12)) .. tostring(re.find('[0-9]', 12))\n"
      "    .. tostring(re.match(P, nil))\n"
      "end\n"
      "return allow(table.concat(out, ','))";
  BundleFiles f;
  f.files["global/eval.lua"] = Policy("global.eval", body);
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  const std::string once =
      "truetruetruetrue,falsetruefalsefalse,falsetruefalsefalse,falsefalsefalsefalse,"
      "falsetruefalsefalse,truetruetruetrue,falsetruefalse";
  const std::string want = absl::StrCat(once, ",", once, ",", once);
  for (int i = 0; i < 2; ++i) {
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* reason = FindReason(d, "global.eval");
    ASSERT_NE(reason, nullptr) << Describe(d);
    EXPECT_EQ(reason->message, want) << i;
  }
}

TEST(HelpersTest, SemanticVersions) {
  EXPECT_EQ(Eval("semver.parse('1.2.3-rc.1').major"), "1");
  EXPECT_EQ(Eval("semver.parse('1.2.3-rc.1').minor"), "2");
  EXPECT_EQ(Eval("semver.parse('v1.2.3-rc.1').patch"), "3");
  EXPECT_EQ(Eval("semver.parse('1.2.3-rc.1').prerelease"), "rc.1");
  EXPECT_EQ(Eval("semver.parse('latest')"), "nil");
  EXPECT_EQ(Eval("semver.valid('1.2.3')"), "true");
  EXPECT_EQ(Eval("semver.valid(2)"), "true");
  EXPECT_EQ(Eval("semver.valid('1.2.3.4')"), "false");
  EXPECT_EQ(Eval("semver.valid({})"), "false");
  EXPECT_EQ(Eval("semver.compare('1.2.3', '1.10.0')"), "-1");
  EXPECT_EQ(Eval("semver.compare('2.0.0', '2.0.0+build')"), "0");
  EXPECT_EQ(Eval("semver.compare('2.0.0', '2.0.0-rc.1')"), "1");
  EXPECT_EQ(Eval("semver.bump('1.2.3', '2.0.0')"), "major");
  EXPECT_EQ(Eval("semver.bump('1.2.3', '1.3.0')"), "minor");
  EXPECT_EQ(Eval("semver.bump('1.2.3', '1.2.4')"), "patch");
  EXPECT_EQ(Eval("semver.bump('1.2.3', '1.2.3')"), "none");
  EXPECT_EQ(Eval("semver.bump('1.2.3', '1.2.2')"), "downgrade");
  EXPECT_TRUE(absl::StrContains(Eval("semver.compare('x', '1.0.0')"), "semantic versions"));
}

TEST(HelpersTest, SemanticVersionsAreNotTruncated) {
  EXPECT_EQ(Eval("semver.valid('1.2.3\\0junk')"), "false");
  EXPECT_EQ(Eval("semver.valid('1.2.3-' .. ('a'):rep(200) .. '!')"), "false");
  EXPECT_EQ(Eval("#semver.parse('1.0.0-' .. ('a'):rep(100)).prerelease"), "100");
}

TEST(HelpersTest, DurationsAndPercentages) {
  EXPECT_EQ(Eval("duration('4h')"), "14400.0");
  EXPECT_EQ(Eval("duration('15m')"), "900.0");
  EXPECT_EQ(Eval("duration('1h30m')"), "5400.0");
  EXPECT_EQ(Eval("duration('250ms')"), "0.25");
  EXPECT_EQ(Eval("duration('30s')"), "30.0");
  EXPECT_EQ(Eval("duration('7d')"), "604800.0");
  EXPECT_EQ(Eval("duration('2w')"), "1209600.0");
  EXPECT_EQ(Eval("duration(42)"), "42.0");
  EXPECT_EQ(Eval("duration('5')"), "nil");
  EXPECT_EQ(Eval("duration('abc')"), "nil");
  EXPECT_EQ(Eval("duration('-1h')"), "nil");
  EXPECT_EQ(Eval("duration('')"), "nil");
  EXPECT_EQ(Eval("duration(nil)"), "nil");
  EXPECT_EQ(Eval("percent('99.5%')"), "99.5");
  EXPECT_EQ(Eval("percent('100%')"), "100.0");
  EXPECT_EQ(Eval("percent(99.9)"), "99.9");
  EXPECT_EQ(Eval("percent('99.5')"), "nil");
  EXPECT_EQ(Eval("percent('abc%')"), "nil");
  EXPECT_EQ(Eval("percent('%')"), "nil");
  EXPECT_EQ(Eval("percent({})"), "nil");
}

TEST(HelpersTest, RolesGroupsAndLists) {
  // Views (the request) and plain tables alike.
  EXPECT_EQ(Eval("has_role(req.principal, 'analyst')"), "true");
  EXPECT_EQ(Eval("has_role(req.principal, 'admin')"), "false");
  EXPECT_EQ(Eval("has_role({roles = {'a', 'b'}}, 'b')"), "true");
  EXPECT_EQ(Eval("has_role({}, 'b')"), "false");
  EXPECT_EQ(Eval("has_role(nil, 'b')"), "false");
  EXPECT_EQ(Eval("has_any_role(req.principal, {'x', 'analyst'})"), "true");
  EXPECT_EQ(Eval("has_any_role(req.principal, {'x', 'y'})"), "false");
  EXPECT_EQ(Eval("has_any_role({roles = {'y'}}, {'x', 'y'})"), "true");
  EXPECT_EQ(Eval("has_any_role(req.principal, req.principal.roles)"), "true");
  EXPECT_EQ(Eval("in_group(req.principal, 'everyone')"), "true");
  EXPECT_EQ(Eval("in_group(req.principal, 'admins')"), "false");
  EXPECT_EQ(Eval("in_group({groups = {'g'}}, 'g')"), "true");
  EXPECT_EQ(Eval("list.contains(req.principal.roles, 'analyst')"), "true");
  EXPECT_EQ(Eval("list.contains(req.principal.roles, 'x')"), "false");
  EXPECT_EQ(Eval("list.contains({'a', 'b'}, 'b')"), "true");
  EXPECT_EQ(Eval("list.contains({1, 2}, 2)"), "true");
  EXPECT_EQ(Eval("list.contains(nil, 'a')"), "false");
  EXPECT_EQ(Eval("list.intersects(req.principal.roles, {'x', 'analyst'})"), "true");
  EXPECT_EQ(Eval("list.intersects({'x', 'analyst'}, req.principal.roles)"), "true");
  EXPECT_EQ(Eval("list.intersects({'a'}, {'b'})"), "false");
  EXPECT_EQ(Eval("list.intersects({}, nil)"), "false");
  EXPECT_EQ(Eval("list.len(req.principal.roles)"), "1");
  EXPECT_EQ(Eval("list.len({1, 2, 3})"), "3");
  EXPECT_EQ(Eval("list.len(nil)"), "0");
  EXPECT_EQ(Eval("list.len(req.principal)"), "0");  // a map view is not a list
  // The views behave like tables for the language itself.
  EXPECT_EQ(Eval("#req.principal.roles"), "1");
  EXPECT_EQ(Eval("(function() local n = 0 for k, v in pairs(req.principal) do n = n + 1 end "
                 "return n end)()"),
            "5");
  EXPECT_EQ(Eval("(function() local s = '' for i, r in ipairs(req.principal.groups) do s = s .. "
                 "i .. r end return s end)()"),
            "1everyone");
  EXPECT_EQ(Eval("req.principal.nope"), "nil");
  EXPECT_EQ(Eval("req.principal.roles.x"), "nil");
  EXPECT_EQ(Eval("req.principal.roles[2]"), "nil");
}

// ipairs over a view pushes the list's elements itself (lua_view.cc): the same values, the same
// objects and the same stops as Lua's ipairs through __index; its iterator, a plain function a
// policy can call with anything, treats what is not a view as Lua's ipairs does.
TEST(SandboxTest, IpairsOverViewsIsLuasIpairs) {
  BundleFiles f;
  f.files["catalog/products/sales-data.yaml"] =
      "metadata: {name: sales-data, domain: sales}\n"
      "spec:\n  tags: [a, b, null, d]\n  ports: [{name: p1}, {name: p2}]\n  empty: []\n";
  f.files["global/probe.lua"] = Policy("global.probe", R"(
    local out = {}
    local function add(x) out[#out + 1] = tostring(x) end
    for i, t in ipairs(req.product.spec.tags) do add(i .. t) end          -- stops at the null
    for _, p in ipairs(req.product.spec.ports) do add(p.name) end
    for _ in ipairs(req.product.spec.empty) do add('never') end
    for _ in ipairs(req.product) do add('never') end                      -- a map has no [1]
    for _ in ipairs(req) do add('never') end
    local ports = req.product.spec.ports
    local _, second = select(1, ipairs(ports))
    add(second == ports)
    for i, p in ipairs(ports) do add(p == ports[i]) end                   -- one view per value
    for i, r in ipairs({'x', 'y'}) do add(r) end                          -- a table, as before
    local step = ipairs(ports)
    add(select('#', step({10, 20}, 1)) .. ':' .. tostring(step({10, 20}, 1)))
    add(select(2, step({10, 20}, 1)))
    add(select(2, step(ports, 1)).name)
    add(select('#', step(ports, 2)))
    add(select('#', step(ports, math.maxinteger)))                      -- wraps, as Lua's does
    add(pcall(ipairs))
    add(select(2, pcall(step, ports, 'x')):match('number expected') ~= nil)
    add(pcall(function() for _, p in ipairs(ports) do p.name = 'x' end end))
    return allow(table.concat(out, ','))
  )");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 2; ++i) {  // the catalog's views are kept from one evaluation to the next
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* r = FindReason(d, "global.probe");
    ASSERT_NE(r, nullptr) << Describe(d);
    EXPECT_TRUE(d.faults.empty()) << Describe(d);
    EXPECT_EQ(r->message, "1a,2b,p1,p2,true,true,true,x,y,2:2,20,p2,1,1,false,true,false");
  }
}

// Views of the request stay one object per value through every way of reaching them, and each
// evaluation's are its own.
// These probes keep state across calls (`last`, `kept` below), so each call must run once: a
// budget of 1e11 instructions lets a first, hookless run stand for up to 12.5 s of wall time,
// where the default's 0.125 ms could be outlasted by a stall of a loaded machine, and the check
// run again counted (to a stateful check, one more call; see FastRunStands in lua_sandbox.cc).
constexpr char kOneRunPerCall[] = "limits: {instruction_budget: 100000000000}\n";

TEST(SandboxTest, RequestViewsAreOneObjectPerValuePerEvaluation) {
  BundleFiles f;
  f.files["bundle.yaml"] = BundleYaml(kOneRunPerCall);
  f.files["global/probe.lua"] = R"(
local last
return {
  id = 'global.probe',
  kinds = {'access'},
  check = function(req, ctx)
    local p = req.principal
    local same = p == req.principal and p == get(req, 'principal') and p.roles == p.roles
      and get(p, 'roles') == p.roles and select(2, ipairs(p.roles)) == p.roles
    local keyed = {[p] = 'principal'}
    local fresh = last ~= p and last ~= nil
    last = p
    return allow(tostring(same) .. ',' .. keyed[req.principal] .. ',' .. tostring(fresh)
      .. ',' .. type(p))
  end,
}
)";
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  Decision first = MustEvaluate(*b, DomainAccess("sales"));
  const Reason* r = FindReason(first, "global.probe");
  ASSERT_NE(r, nullptr) << Describe(first);
  EXPECT_EQ(r->message, "true,principal,false,userdata");
  Decision second = MustEvaluate(*b, DomainAccess("sales"));
  r = FindReason(second, "global.probe");
  ASSERT_NE(r, nullptr) << Describe(second);
  EXPECT_EQ(r->message, "true,principal,true,userdata") << Describe(second);
}

// Thousands of views in one evaluation (the table of views grows several times, and is given
// back at the end as too large to keep, lua_view.cc):
// each value keeps its one view, and the next evaluation's are new ones.
TEST(SandboxTest, ManyViewsInOneEvaluationStayOnePerValue) {
  BundleFiles f;
  // Room for 5,000 columns read three ways under the sanitizers' Debug build, and one run per
  // call (kOneRunPerCall).
  f.files["bundle.yaml"] =
      BundleYaml("limits: {instruction_budget: 100000000000, policy_timeout_ms: 60000}\n");
  f.files["global/probe.lua"] = R"(
local kept
return {
  id = 'global.probe',
  kinds = {'access'},
  check = function(req, ctx)
    local cols = req.resource.columns
    local first, n = {}, 0
    for i, c in ipairs(cols) do first[i] = c n = n + 1 end
    for i = 1, #cols do
      if cols[i] ~= first[i] or get(req, 'resource.columns.' .. i) ~= first[i] then
        return deny('not the same view at ' .. i)
      end
      if cols[i].name ~= 'c' .. i then return deny('wrong column at ' .. i) end
    end
    local stale = 'none'
    if kept ~= nil then stale = tostring(pcall(function() return kept.name end)) end
    kept = first[n]
    return allow(n .. ',' .. stale)
  end,
}
)";
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  AccessRequest r = DomainAccess("sales");
  for (int i = 1; i <= 5000; ++i) r.resource.columns.push_back(absl::StrCat("c", i));
  Decision first = MustEvaluate(*b, r);
  const Reason* reason = FindReason(first, "global.probe");
  ASSERT_NE(reason, nullptr) << Describe(first);
  EXPECT_EQ(reason->message, "5000,none") << Describe(first);
  Decision second = MustEvaluate(*b, r);
  reason = FindReason(second, "global.probe");
  ASSERT_NE(reason, nullptr) << Describe(second);
  EXPECT_EQ(reason->message, "5000,false") << Describe(second);
}

// A small catalog map (a column's entry) is read through a view cached for the life of the
// state (lua_view.cc, kMaxStableCaches): it behaves as every other view does (type, reads,
// absent and null entries, #, pairs, ipairs over its list, tostring, get(), writes refused),
// it is one object per value, and a catalog view kept from an earlier evaluation (which stays
// valid, the catalog being the same for the life of the bundle) is the one the next
// evaluation is given.
TEST(SandboxTest, CachedCatalogViewsBehaveAsViews) {
  BundleFiles f;
  f.files["bundle.yaml"] = BundleYaml(kOneRunPerCall);
  f.files["catalog/products/sales-data.yaml"] =
      "metadata: {name: sales-data, domain: sales}\n"
      "spec:\n  columns:\n"
      "    - {name: email, type: varchar, pii: true, n: 7, ratio: 0.5, note: null, tags: [a, b]}\n"
      "    - {name: id, type: bigint}\n";
  f.files["global/probe.lua"] = R"(
local kept, kept_tags
return {
  id = 'global.probe',
  kinds = {'access'},
  check = function(req, ctx)
    local out = {}
    local function add(x) out[#out + 1] = tostring(x) end
    local cols = req.product.spec.columns
    local c = cols[1]
    add(type(c)) add(c.name) add(c.pii) add(c.n) add(c.ratio) add(c.note) add(c.nothing)
    add(c[1]) add(cols[2].pii) add(cols[2].type)
    add(c == cols[1]) add(c == get(req, 'product.spec.columns.1')) add(get(c, 'type'))
    add(c ~= cols[2]) add(list.contains({cols[1]}, c))
    add(#c) add(#c.tags) add(c.tags[2]) add(c.tags == c.tags)
    local keys = {}
    for k, v in pairs(c) do keys[#keys + 1] = k .. '=' .. tostring(v == c.tags or v) end
    add(table.concat(keys, ';'))
    for i, t in ipairs(c.tags) do add(i .. t) end
    add(tostring(cols[2]))
    add(pcall(function() c.name = 'x' end))
    add(select(2, pcall(function() c.pii = nil end)):match('read%-only') ~= nil)
    add(c.name)
    if kept == nil then
      add('first')
    else
      add(kept == c) add(kept.name) add(kept_tags == c.tags) add(#kept_tags)
    end
    kept, kept_tags = c, c.tags
    return allow(table.concat(out, ','))
  end,
}
)";
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  const std::string common =
      "userdata,email,true,7,0.5,nil,nil,nil,nil,bigint,true,true,varchar,true,true,7,2,b,true,"
      "name=email;type=varchar;pii=true;n=7;ratio=0.5;note=nil;tags=true,1a,2b,"
      "{\"name\":\"id\",\"type\":\"bigint\"},false,true,email,";
  for (int i = 0; i < 3; ++i) {
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* r = FindReason(d, "global.probe");
    ASSERT_NE(r, nullptr) << Describe(d);
    EXPECT_TRUE(d.faults.empty()) << Describe(d);
    EXPECT_EQ(r->message, absl::StrCat(common, i == 0 ? "first" : "true,email,true,2")) << i;
  }
}

// A state keeps at most kMaxStableCaches cached catalog views (lua_view.cc): a policy that
// reads thousands of catalog maps, evaluation after evaluation, gets every one right (the
// first ones through cached views, the rest through light ones, each still one object per
// value and valid in later evaluations) within a 1 MiB state, which would not hold them all
// cached (~0.5 KB each).
TEST(SandboxTest, CachedCatalogViewsAreBounded) {
  constexpr int kColumns = 4000;
  BundleFiles f;
  f.files["bundle.yaml"] = BundleYaml(
      "limits: {instruction_budget: 100000000000, policy_timeout_ms: 60000, memory_limit_mb: 1}\n");
  std::string product = "metadata: {name: sales-data, domain: sales}\nspec:\n  columns:\n";
  for (int i = 1; i <= kColumns; ++i) {
    absl::StrAppend(&product, "    - {name: c", i, ", type: varchar",
                    i % 3 == 0 ? ", pii: true" : "", "}\n");
  }
  f.files["catalog/products/sales-data.yaml"] = product;
  f.files["global/probe.lua"] = R"(
local kept
return {
  id = 'global.probe',
  kinds = {'access'},
  check = function(req, ctx)
    local cols = req.product.spec.columns
    local pii = 0
    for i = 1, #cols do
      local c = cols[i]
      if c.name ~= 'c' .. i or c.type ~= 'varchar' or c ~= cols[i] then
        return deny('wrong column ' .. i)
      end
      if c.pii then pii = pii + 1 end
    end
    local same = 'first'
    if kept ~= nil then
      same = tostring(kept[1] == cols[1] and kept[2] == cols[#cols] and kept[2].name == 'c' .. #cols)
    end
    kept = {cols[1], cols[#cols]}
    return allow(#cols .. ',' .. pii .. ',' .. same)
  end,
}
)";
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 3; ++i) {
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* r = FindReason(d, "global.probe");
    ASSERT_NE(r, nullptr) << Describe(d);
    EXPECT_TRUE(d.faults.empty()) << Describe(d);
    EXPECT_EQ(r->message, absl::StrCat(kColumns, ",", kColumns / 3, ",", i == 0 ? "first" : "true"))
        << Describe(d);
  }
}

TEST(HelpersTest, GetAndViewsAsText) {
  EXPECT_EQ(Eval("get(req, 'principal.roles.1')"), "analyst");
  EXPECT_EQ(Eval("get(req, '.principal..id.') == req.principal.id"), "true");
  EXPECT_EQ(Eval("get(req, 'principal.roles.2')"), "nil");
  EXPECT_EQ(Eval("get(req, 'principal.id.x')"), "nil");
  EXPECT_EQ(Eval("get(req, '') == req"), "true");  // one view per value
  // Lua tables first, then the request data below them.
  EXPECT_EQ(Eval("get({a = {b = req}}, 'a.b.principal.roles.1')"), "analyst");
  EXPECT_EQ(Eval("get({a = {'x', 'y'}}, 'a.2')"), "y");
  EXPECT_EQ(Eval("get(42, 'a')"), "nil");
  EXPECT_TRUE(absl::StrContains(Eval("get(req)"), "bad argument #2 to 'get'")) << Eval("get(req)");
  // Paths made at run time (new strings, whose memory is reused once collected) each walk their
  // own text: the state's cache of split paths never answers for another path. Long paths,
  // past the cache's bounds, walk too.
  std::string expected;
  for (int i = 1; i <= 60; ++i) {
    expected += i % 3 == 0 ? "ana," : i % 3 == 1 ? "analyst," : "nil,";
  }
  EXPECT_EQ(Eval("(function() local s = '' for i = 1, 60 do local p = (i % 3 == 0) and "
                 "('principal.' .. 'id') or (i % 3 == 1) and ('principal.roles.' .. 1) or "
                 "('principal.roles.' .. 2) s = s .. tostring(get(req, p)) .. ',' end "
                 "return s end)()"),
            expected);
  EXPECT_EQ(Eval(absl::StrCat("get(req, '", std::string(100, '.'), "principal",
                              std::string(100, '.'), "roles.1')")),
            "analyst");
  EXPECT_EQ(Eval("list.contains({req.principal}, req.principal)"), "true");
  EXPECT_EQ(Eval("req.principal.roles"), "[\"analyst\"]");  // __tostring: the JSON
}

// get() finds a path's slot by the address of the path's string, which it keeps alive while the
// slot holds it (lua_adapter.cc, Pin): many paths made at run time, more than the cache holds,
// with garbage between them for the collector to free and reuse memory, each answer for their
// own text.
TEST(HelpersTest, GetAnswersEachPathMadeAtRunTime) {
  // 200 paths per round, of up to 64 bytes (long strings, not interned, in round 2).
  EXPECT_EQ(Eval("(function() local bad = 0 for round = 1, 3 do for i = 0, 399 do "
                 "local junk = {} for j = 1, 20 do junk[j] = ('x'):rep(j) .. i end "
                 "local key = (i // 100 % 2 == 0) and 'id' or 'domain' "
                 "local path = ('.'):rep(i % 10 + (round == 2 and 30 or 0)) .. 'principal.' "
                 ".. key .. ('.'):rep(i // 10 % 10) "
                 "local want = req.principal[key] "
                 "if get(req, path) ~= want or get(req, path) ~= want then bad = bad + 1 end "
                 "end end return bad end)()",
                 kSlowClock),  // 1,200 rounds: past the default 50 ms on a loaded ASan build
            "0");
}

// list.contains compares a Lua table with a string by lua_rawequal (lua_adapter.cc) and
// anything else through the helper (lists.cc): both answer as raw equality does, whatever the
// table holds.
TEST(HelpersTest, ListContainsAnswersAlikeForTablesOfStringsAndAnythingElse) {
  const std::string long_a(60, 'a');  // past Lua's interned short strings
  struct Case {
    std::string expr, want;
  } cases[] = {
      {"list.contains({'read', 'write', 'admin'}, 'admin')", "true"},
      {"list.contains({'read', 'write', 'admin'}, 'adm')", "false"},
      {"list.contains({}, 'a')", "false"},
      {"list.contains({1, 2, '3'}, '3')", "true"},
      {"list.contains({1, 2, 3}, '3')", "false"},  // a string never equals a number
      {"list.contains({1, 2, '3'}, 3)", "false"},
      {"list.contains({1, 2.0, '3'}, 2)", "true"},
      {"list.contains({true, {}, req.principal, 'x'}, 'x')", "true"},
      {"list.contains({req.principal.roles}, 'analyst')", "false"},  // not searched inside
      {"list.contains({req.principal.id}, 'ana')", "true"},
      {absl::StrCat("list.contains({'", long_a, "'}, string.rep('a', 60))"), "true"},
      {absl::StrCat("list.contains({'", long_a, "'}, string.rep('a', 59))"), "false"},
      {"list.contains({'a', nil, 'b'}, 'a')", "true"},
      {"list.contains({'a', 'b'}, nil)", "false"},
      {"list.contains({'a', 'b'})", "false"},
      {"list.contains('ab', 'a')", "false"},
      {"list.contains(req.principal.roles, 'analyst')", "true"},
      {"list.contains(req.principal, 'ana')", "false"},  // a map view holds nothing
      // Long tables (read 16 elements at a time) and extra arguments.
      {"(function() local t = {} for i = 1, 100 do t[i] = 'e' .. i end local s = '' "
       "for _, x in ipairs({'e1', 'e16', 'e17', 'e33', 'e100', 'e101', 'e0'}) do "
       "s = s .. tostring(list.contains(t, x)) .. ',' end return s end)()",
       "true,true,true,true,true,false,false,"},
      {"list.contains({'a', 'b'}, 'b', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, "
       "18, 19, 20)",
       "true"},
      {"select('#', list.contains({'a', 'b', 'c'}, 'z', 1, 2))", "1"},
  };
  for (const Case& c : cases) EXPECT_EQ(Eval(c.expr), c.want) << c.expr;
  // has_role's argument check names the function, as before.
  EXPECT_TRUE(absl::StrContains(Eval("has_role(req.principal)"),
                                "bad argument #2 to 'has_role' (value expected)"))
      << Eval("has_role(req.principal)");
  EXPECT_EQ(Eval("has_role(req.principal, nil)"), "false");
  EXPECT_EQ(Eval("in_group(req.principal, 'everyone') and in_group(req.principal, 'x')"), "false");
  EXPECT_EQ(Eval("has_role({roles = req.principal.roles}, 'analyst')"), "true");
  EXPECT_EQ(Eval("has_role({roles = {1}}, 1.0)"), "true");
}

// has_role/in_group on a principal view and list.contains on a list view, given a string,
// answer in the adapter (lua_adapter.cc) without the helper's Args: as the helper does, over
// request data of any shape (here a catalog product's, whose YAML may hold anything).
TEST(HelpersTest, StringTestsOverRequestListsAnswerAsTheHelper) {
  BundleFiles f;
  f.files["catalog/products/sales-data.yaml"] =
      "metadata: {name: sales-data, domain: sales}\n"
      "mixed: [1, '1', true, 'x', [x], {x: 1}, 2.5]\n"
      "roles: [x, 2, '', 'long-role-name-past-the-forty-bytes-of-short-strings']\n"
      "groups: {x: 1}\n"
      "owner: {roles: x, groups: [[x]]}\n";
  const char* const checks[] = {
      "list.contains(get(req.product, 'mixed'), '1') == true",
      "list.contains(get(req.product, 'mixed'), 1) == true",
      "list.contains(get(req.product, 'mixed'), 2.5) == true",
      "list.contains(get(req.product, 'mixed'), 'x') == true",
      "list.contains(get(req.product, 'mixed'), true) == true",
      "list.contains(get(req.product, 'mixed'), 'true') == false",
      "list.contains(get(req.product, 'mixed'), '2.5') == false",
      "list.contains(get(req.product, 'mixed'), '') == false",
      "list.contains(get(req.product, 'metadata'), 'sales') == false",  // a map
      "has_role(req.product, 'x') == true",
      "has_role(req.product, 2) == true",
      "has_role(req.product, '2') == false",
      "has_role(req.product, '') == true",
      "has_role(req.product, 'long-role-name-past-the-forty-bytes-of-short-strings') == true",
      "has_role(req.product, 'long-role-name-past-the-forty-bytes-of-short-string') == false",
      "in_group(req.product, 'x') == false",                   // a map holds nothing
      "has_role(get(req.product, 'owner'), 'x') == false",     // a string is not a list
      "in_group(get(req.product, 'owner'), 'x') == false",     // nor is a list of lists
      "has_role(get(req.product, 'metadata'), 'x') == false",  // no roles
      "has_role(req.principal, 'analyst') == true",
      "in_group(req.principal, 'everyone') == true",
      "has_role(req.principal, 'everyone') == false",
  };
  std::string body = "local failed = {}\n";
  for (const char* c : checks) {
    absl::StrAppend(&body, "if not (", c, ") then failed[#failed + 1] = [[", c, "]] end\n");
  }
  absl::StrAppend(&body, "return allow(#failed == 0 and 'ok' or table.concat(failed, '; '))");
  f.files["global/eval.lua"] = Policy("global.eval", body);
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 2; ++i) {  // the second time from remembered paths and fields
    Decision d = MustEvaluate(*b, DomainAccess("sales"));
    const Reason* reason = FindReason(d, "global.eval");
    ASSERT_NE(reason, nullptr) << Describe(d);
    EXPECT_EQ(reason->message, "ok");
  }
}

// get() pushes the Lua value it kept for a path while that path's answer stands: one view per
// value within an evaluation, and a view from an earlier evaluation is never given again (it
// is dead, and refused).
TEST(HelpersTest, GetGivesLiveViewsAcrossEvaluations) {
  BundleFiles f;
  // The check keeps `saved` across calls: a first run discarded for its time (a sanitizer build
  // on a loaded machine) would be one more call, and the rerun would see its `saved`.
  f.files["bundle.yaml"] = BundleYaml(kOneRunPerCall);
  f.files["global/eval.lua"] =
      "local saved\n"
      "return {id = 'global.eval', kinds = {'access'}, check = function(req, ctx)\n"
      "  local p = get(req, 'principal')\n"
      "  local same = p == get(req, 'principal') and p == req.principal\n"
      "  local was = saved ~= nil and saved == p\n"
      "  local ok, err = pcall(function() return saved and saved.id end)\n"
      "  saved = p\n"
      "  return allow(table.concat({tostring(same), tostring(was), tostring(ok), p.id, "
      "tostring(get(req.product, 'metadata')), tostring(get(req.product, 'metadata.x')), "
      "tostring(get(req, 'principal.roles.1'))}, ' '))\n"
      "end}\n";
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 4; ++i) {
    AccessRequest r = DomainAccess("sales");
    r.principal.id = i % 2 ? "bob" : "ana";
    r.principal.roles = {i % 2 ? "admin" : "analyst"};
    Decision d = MustEvaluate(*b, r);
    const Reason* reason = FindReason(d, "global.eval");
    ASSERT_NE(reason, nullptr) << Describe(d);
    EXPECT_EQ(reason->message,
              absl::StrCat("true false ", i == 0 ? "true " : "false ", i % 2 ? "bob" : "ana",
                           " {\"name\":\"sales-data\",\"domain\":\"sales\"} nil ",
                           i % 2 ? "admin" : "analyst"))
        << i;
  }
}

// A string get() answered in an earlier evaluation is pushed again when the new answer has
// the same bytes, and only then: long strings (not interned) of one length that differ in their
// last byte, short ones, and answers that stop being strings.
TEST(HelpersTest, GetStringAnswersFollowEachEvaluation) {
  BundleFiles f;
  f.files["global/eval.lua"] =
      Policy("global.eval",
             "local a, b = get(req, 'context.k'), get(req, 'context.k')\n"
             "return allow(tostring(a) .. '|' .. tostring(a == b) .. '|' .. type(a))");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  const std::string long_x = std::string(60, 'x');
  const char* const values[] = {"short", "short", "shore", "", "", nullptr};
  std::vector<std::string> sequence;
  for (const char* v : values) sequence.push_back(v == nullptr ? "<none>" : v);
  const std::string longer = std::string(1000, 'y');  // past what get() keeps
  for (const std::string& v : {long_x + "1", long_x + "1", long_x + "2", long_x + "2", longer,
                               longer, longer + "z", long_x + "2"}) {
    sequence.push_back(v);
  }
  sequence.push_back("<none>");
  sequence.push_back(long_x + "2");
  for (size_t i = 0; i < sequence.size(); ++i) {
    AccessRequest r = DomainAccess("sales");
    const bool none = sequence[i] == "<none>";
    if (!none) r.context["k"] = sequence[i];
    Decision d = MustEvaluate(*b, r);
    const Reason* reason = FindReason(d, "global.eval");
    ASSERT_NE(reason, nullptr) << Describe(d);
    EXPECT_EQ(reason->message, none ? "nil|true|nil" : absl::StrCat(sequence[i], "|true|string"))
        << i;
  }
}

// get() remembers its last answer per path, has_role & co. the principal's roles and groups:
// across evaluations, whose request trees may reuse the last one's memory, and across catalog
// products, each call still answers for its own data.
TEST(HelpersTest, GetAnswersForEachEvaluation) {
  BundleFiles f;
  f.files["global/eval.lua"] =
      Policy("global.eval",
             "return allow(table.concat({tostring(get(req, 'principal.id')), tostring(get(req, "
             "'action')), tostring(get(req.product, 'metadata.name')), tostring(get(req.product, "
             "'metadata.domain')), tostring(has_role(req.principal, 'admin')), "
             "tostring(in_group(req.principal, 'ops'))}, ' '))");
  auto b = MustLoad(f);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 6; ++i) {
    const bool odd = i % 2 == 1;
    AccessRequest r = DomainAccess(odd ? "marketing" : "sales", odd ? "write" : "read");
    r.principal.id = odd ? "bob" : "ana";
    if (odd) {
      r.principal.roles = {"admin"};
      r.principal.groups = {"ops"};
    }
    Decision d = MustEvaluate(*b, r);
    const Reason* reason = FindReason(d, "global.eval");
    ASSERT_NE(reason, nullptr) << Describe(d);
    EXPECT_EQ(reason->message, odd ? "bob write marketing-data marketing true true"
                                   : "ana read sales-data sales false false")
        << i;
  }
}

}  // namespace
}  // namespace arbiter

#include "tests/support/arbiterd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace arbiter::testing {

namespace {

// The directories MakeTempDir made in this process, removed when it exits: test runs otherwise
// left thousands in /tmp (server work directories, logs, certificates, bundle copies), and a
// machine's disk once filled up with them. Only the process that made them removes them (a
// forked child exits with _exit, but a child must not take its parent's files anyway).
// ARBITER_KEEP_TEST_DIRS=1 keeps them to look at after a failure.
struct MadeDirs {
  std::mutex mu;
  std::vector<std::string> dirs;
  pid_t owner = getpid();
};

MadeDirs& Made() {
  static MadeDirs* made = [] {
    auto* m = new MadeDirs;  // never destroyed: the atexit handler below reads it
    std::atexit([] {
      MadeDirs& m = Made();
      const char* keep = std::getenv("ARBITER_KEEP_TEST_DIRS");
      if (getpid() != m.owner || (keep != nullptr && std::string(keep) == "1")) return;
      std::lock_guard<std::mutex> l(m.mu);
      for (const std::string& d : m.dirs) {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);
      }
    });
    return m;
  }();
  return *made;
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  char* dir = mkdtemp(tmpl.data());
  if (dir == nullptr) return "";
  MadeDirs& m = Made();
  std::lock_guard<std::mutex> l(m.mu);
  m.dirs.emplace_back(dir);
  return std::string(dir);
}

void CopyTree(const std::string& from, const std::string& to) {
  std::filesystem::copy(
      from, to,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << content;
  }
  std::filesystem::rename(tmp, path);  // atomic, so a watcher never sees half a file
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ShippedBundleDir() { return ARBITER_SOURCE_DIR "/policies"; }
std::string ArbiterdBinary() { return ARBITERD_BINARY; }
std::string ArbiterCliBinary() { return ARBITER_CLI_BINARY; }

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

CommandResult RunArbiterCli(const std::vector<std::string>& args, bool with_stderr) {
  std::string command = ArbiterCliBinary();
  for (const std::string& a : args) absl::StrAppend(&command, " '", a, "'");
  if (with_stderr) absl::StrAppend(&command, " 2>&1");
  return RunCommand(command);
}

absl::StatusOr<std::unique_ptr<ArbiterdProcess>> ArbiterdProcess::Start(
    const ArbiterdOptions& options) {
  auto p = std::unique_ptr<ArbiterdProcess>(new ArbiterdProcess());
  p->work_dir_ = MakeTempDir("arbiterd");
  std::string port_file = p->work_dir_ + "/ports";
  std::vector<std::string> args = {ArbiterdBinary(), "--bundle",    options.bundle_dir, "--listen",
                                   "127.0.0.1:0",    "--port-file", port_file};
  if (options.http) {
    args.push_back("--http-listen");
    args.push_back("127.0.0.1:0");
  }
  std::string config = options.config_yaml;
  if (!options.anonymous_role.empty() && !absl::StrContains(config, "authz:")) {
    absl::StrAppend(&config, config.empty() || absl::EndsWith(config, "\n") ? "" : "\n",
                    "authz:\n  anonymous_role: ", options.anonymous_role, "\n");
  }
  if (!config.empty()) {
    WriteFile(p->work_dir_ + "/config.yaml", config);
    args.push_back("--config");
    args.push_back(p->work_dir_ + "/config.yaml");
  }
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  std::string stderr_path = p->work_dir_ + "/stderr";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  p->pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      return absl::FailedPreconditionError(
          absl::StrCat("arbiterd exited with status ", WEXITSTATUS(status), ": ", p->Stderr()));
    }
    std::string ports = ReadFileOrEmpty(port_file);
    if (!ports.empty()) {
      for (absl::string_view line : absl::StrSplit(ports, '\n', absl::SkipEmpty())) {
        std::pair<std::string, std::string> kv = absl::StrSplit(line, '=');
        int port = 0;
        (void)absl::SimpleAtoi(kv.second, &port);
        if (kv.first == "grpc") p->grpc_port_ = port;
        if (kv.first == "http") p->http_port_ = port;
      }
      return p;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("arbiterd did not start: ", p->Stderr()));
}

int ArbiterdProcess::Stop(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

ArbiterdProcess::~ArbiterdProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

std::string ArbiterdProcess::Stderr() const { return ReadFileOrEmpty(work_dir_ + "/stderr"); }

HttpResult HttpRequest(int port, const std::string& method, const std::string& path,
                       const std::string& body, const std::string& content_type,
                       const std::string& source) {
  HttpResult result;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (!source.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &local.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      close(fd);
      return result;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return result;
  }
  std::string req = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                 "Connection: close\r\nContent-Type: ", content_type,
                                 "\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  auto header_end = resp.find("\r\n\r\n");
  if (resp.size() < 12 || header_end == std::string::npos) return result;
  (void)absl::SimpleAtoi(resp.substr(9, 3), &result.status);
  result.body = resp.substr(header_end + 4);
  // Responses here are small; de-chunk if the server chose chunked encoding.
  if (resp.substr(0, header_end).find("chunked") != std::string::npos) {
    std::string out;
    size_t pos = 0;
    while (pos < result.body.size()) {
      size_t eol = result.body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t len = std::strtoul(result.body.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (len == 0) break;
      out += result.body.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    result.body = out;
  }
  return result;
}

HttpResult HttpsRequest(int port, const std::string& method, const std::string& path,
                        const std::string& body, const std::string& pki_dir,
                        const std::string& client) {
  std::string dir = MakeTempDir("arbiter-https");
  WriteFile(dir + "/body", body);
  std::string command = absl::StrCat(
      "curl -sS --max-time 10 -X ", method, " --cacert ", pki_dir, "/ca.crt",
      client.empty() ? ""
                     : absl::StrCat(" --cert ", pki_dir, "/", client, ".crt --key ", pki_dir, "/",
                                    client, ".key"),
      body.empty()
          ? ""
          : absl::StrCat(" -H 'Content-Type: application/json' --data-binary @", dir, "/body"),
      " -o ", dir, "/out -w '%{http_code}' https://127.0.0.1:", port, path, " 2>", dir, "/err");
  HttpResult result;
  std::string code;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[64];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) code.append(buf, n);
    pclose(p);
  }
  if (!absl::SimpleAtoi(code, &result.status)) result.status = 0;
  result.body = ReadFileOrEmpty(dir + "/out") + ReadFileOrEmpty(dir + "/err");
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace arbiter::testing

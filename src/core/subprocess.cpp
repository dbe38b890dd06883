#include "core/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace wasimancer {

namespace {

// Exit codes of the supervisor (the tool's own code otherwise; 128 + N when signal N ended it).
constexpr int kExecFailed = 127;
constexpr int kStopped = 253;  // the life pipe closed: the tool's group was killed

[[noreturn]] void supervise(int life_fd, int out_fd, char* const* argv, const char* dir, const SubprocessLimits& l) {
  const int keep[] = {life_fd, out_fd};
  close_descriptors_from(3, keep, 2);
  pid_t tool = fork();
  if (tool < 0) _exit(kExecFailed);
  if (tool == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // the supervisor is single-threaded: this is its death
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    close_descriptors_from(3, nullptr, 0);
    rlimit core{0, 0};
    setrlimit(RLIMIT_CORE, &core);
    if (l.address_space_bytes) {
      rlimit as{l.address_space_bytes, l.address_space_bytes};
      setrlimit(RLIMIT_AS, &as);
    }
    if (l.cpu_seconds) {
      rlimit cpu{l.cpu_seconds, l.cpu_seconds + 1};
      setrlimit(RLIMIT_CPU, &cpu);
    }
    if (setpriority(PRIO_PROCESS, 0, l.nice) != 0) { /* best effort */ }
    if (chdir(dir) != 0) _exit(kExecFailed);
    execv(argv[0], argv);
    _exit(kExecFailed);
  }
  setpgid(tool, tool);  // also here, so the group exists before any kill below
  close(out_fd);
  for (;;) {
    pollfd p{life_fd, POLLIN, 0};
    int n = poll(&p, 1, 20);
    if (n > 0) {  // the caller closed its end or died: stop everything the tool started
      kill(-tool, SIGKILL);
      while (waitpid(tool, nullptr, 0) < 0 && errno == EINTR) {
      }
      _exit(kStopped);
    }
    int status = 0;
    pid_t done = waitpid(tool, &status, WNOHANG);
    if (done == tool) {
      kill(-tool, SIGKILL);  // anything the tool left running in its group
      if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
      _exit(128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
    }
  }
}

}  // namespace

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    std::string d = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (d.empty()) d = ".";
    std::string candidate = d + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

void close_descriptors_from(int first, const int* keep, int keep_count) noexcept {
  // Close [first, max] in ranges around the kept descriptors (close_range, Linux 5.9; else a loop).
  int lo = first;
  for (;;) {
    int next_keep = -1;
    for (int i = 0; i < keep_count; ++i) {
      if (keep[i] >= lo && (next_keep < 0 || keep[i] < next_keep)) next_keep = keep[i];
    }
    unsigned hi = next_keep < 0 ? ~0u : static_cast<unsigned>(next_keep - 1);
    if (next_keep < 0 || next_keep > lo) {
      if (syscall(SYS_close_range, static_cast<unsigned>(lo), hi, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 1 << 20) max = 1 << 20;
        for (long fd = lo; fd <= static_cast<long>(hi) && fd < max; ++fd) close(static_cast<int>(fd));
      }
    }
    if (next_keep < 0) return;
    lo = next_keep + 1;
  }
}

SubprocessResult run_supervised(const std::vector<std::string>& argv, const std::filesystem::path& dir,
                                const SubprocessLimits& limits, const std::function<bool()>& cancelled) {
  SubprocessResult r;
  if (argv.empty()) {
    r.output = "no command";
    return r;
  }
  int out[2], life[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    r.output = fmt::format("pipe: {}", std::strerror(errno));
    return r;
  }
  if (pipe2(life, O_CLOEXEC) != 0) {
    r.output = fmt::format("pipe: {}", std::strerror(errno));
    close(out[0]);
    close(out[1]);
    return r;
  }
  // Everything the children need is prepared before fork: after it, only async-signal-safe calls.
  std::string program = find_program(argv[0]);
  if (program.empty()) {
    r.output = fmt::format("{}: not found", argv[0]);
    for (int fd : {out[0], out[1], life[0], life[1]}) close(fd);
    return r;
  }
  std::vector<char*> args;
  args.push_back(program.data());
  for (size_t i = 1; i < argv.size(); ++i) args.push_back(const_cast<char*>(argv[i].c_str()));
  args.push_back(nullptr);
  std::string cwd = dir.string();
  pid_t sup = fork();
  if (sup < 0) {
    r.output = fmt::format("fork: {}", std::strerror(errno));
    for (int fd : {out[0], out[1], life[0], life[1]}) close(fd);
    return r;
  }
  if (sup == 0) {
    close(out[0]);
    close(life[1]);
    supervise(life[0], out[1], args.data(), cwd.c_str(), limits);
  }
  close(out[1]);
  close(life[0]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  auto drain = [&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) {
      if (r.output.size() < limits.max_output_bytes) r.output.append(buf, static_cast<size_t>(n));
    }
  };
  int status = 0;
  bool stop_sent = false;
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    poll(&p, 1, 10);
    drain();
    pid_t done = waitpid(sup, &status, WNOHANG);
    if (done == sup) break;
    if (!stop_sent) {
      if (cancelled && cancelled()) r.cancelled = true;
      else if (std::chrono::steady_clock::now() >= deadline) r.timed_out = true;
      if (r.cancelled || r.timed_out) {
        close(life[1]);  // the supervisor kills the tool's group and exits
        stop_sent = true;
      }
    }
  }
  drain();
  close(out[0]);
  if (!stop_sent) close(life[1]);
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    if (code == kStopped) {
      if (!r.cancelled && !r.timed_out) r.cancelled = true;
    } else if (code > 128) {
      r.signal = code - 128;
    } else {
      r.exit_code = code;
    }
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

}  // namespace wasimancer

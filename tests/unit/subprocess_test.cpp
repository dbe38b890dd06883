// core/subprocess: the native tier's compilers run supervised: no inherited descriptors, limits,
// and nothing they start outlives a cancel, a timeout or the death of their caller.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/subprocess.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Waits (without a time threshold that assumes an idle machine: up to a minute) for `pred`.
template <typename P>
bool eventually(P pred) {
  for (int i = 0; i < 6000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

bool alive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  // A zombie is dead for our purpose.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  return close == std::string::npos || line.size() < close + 3 || line[close + 2] != 'Z';
}

pid_t read_pid(const fs::path& file) {
  std::ifstream in(file);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

}  // namespace

TEST(Subprocess, RunsAndReportsExitCodeAndOutput) {
  test::TempDir dir;
  auto r = run_supervised({"sh", "-c", "echo hello; echo oops >&2; exit 3"}, dir.path(), {});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.output.find("hello"), std::string::npos);
  EXPECT_NE(r.output.find("oops"), std::string::npos);
  EXPECT_FALSE(r.timed_out);
  auto missing = run_supervised({"no-such-tool-anywhere"}, dir.path(), {});
  EXPECT_EQ(missing.exit_code, -1);
  EXPECT_NE(missing.output.find("not found"), std::string::npos);
}

// Finding: the compilers inherited the listening socket and client connections, so after a
// crash the restarted server could not bind its port until they finished.
TEST(Subprocess, TheToolInheritsNoDescriptor) {
  test::TempDir dir;
  int sock = socket(AF_INET, SOCK_STREAM, 0);  // deliberately without SOCK_CLOEXEC
  ASSERT_GE(sock, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(sock, 1), 0);
  int file = open("/dev/null", O_RDONLY);  // also without O_CLOEXEC
  ASSERT_GE(file, 0);
  auto r = run_supervised({"sh", "-c", "ls -l /proc/$$/fd"}, dir.path(), {});
  close(sock);
  close(file);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("socket:"), std::string::npos) << r.output;
  // Only 0, 1, 2 (and whatever the shell opens for itself at 10 and up).
  for (const std::string& fd : {" 3 -> ", " 4 -> ", " 5 -> ", " 6 -> "}) {
    EXPECT_EQ(r.output.find(fd), std::string::npos) << r.output;
  }
}

TEST(Subprocess, LimitsApplyToTheTool) {
  test::TempDir dir;
  SubprocessLimits l;
  l.address_space_bytes = 512ull << 20;
  auto r = run_supervised({"sh", "-c", "ulimit -v; ulimit -c"}, dir.path(), l);
  EXPECT_NE(r.output.find(std::to_string((512ull << 20) / 1024)), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\n0"), std::string::npos) << r.output;

  l.timeout = 300ms;
  auto t = run_supervised({"sleep", "300"}, dir.path(), l);
  EXPECT_TRUE(t.timed_out);
}

// Finding: `clang -cc1` survived (PR_SET_PDEATHSIG was set on the driver only). A cancel kills
// the tool's whole process group, grandchildren included.
TEST(Subprocess, CancelKillsWhatTheToolStarted) {
  test::TempDir dir;
  fs::path pidfile = dir.path() / "child.pid";
  auto r = run_supervised({"sh", "-c", "sleep 300 & echo $! > child.pid; wait"}, dir.path(), {},
                          [&] { return fs::exists(pidfile) && read_pid(pidfile) > 0; });
  EXPECT_TRUE(r.cancelled);
  pid_t grandchild = read_pid(pidfile);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(eventually([&] { return !alive(grandchild); })) << "sleep " << grandchild << " survived the cancel";
}

// And when the caller itself dies (kill -9 of the server), the tool and its children go too.
TEST(Subprocess, EverythingDiesWithTheCaller) {
  test::TempDir dir;
  fs::path pidfile = dir.path() / "child.pid";
  pid_t caller = fork();
  ASSERT_GE(caller, 0);
  if (caller == 0) {
    run_supervised({"sh", "-c", "sleep 300 & echo $! > child.pid; wait"}, dir.path(), {});
    _exit(0);
  }
  ASSERT_TRUE(eventually([&] { return fs::exists(pidfile) && read_pid(pidfile) > 0; }));
  pid_t grandchild = read_pid(pidfile);
  kill(caller, SIGKILL);
  waitpid(caller, nullptr, 0);
  EXPECT_TRUE(eventually([&] { return !alive(grandchild); })) << "sleep " << grandchild << " outlived its caller";
}

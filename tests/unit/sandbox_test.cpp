// Sandbox workers: calls and host requests cross the channel with the same results as in-process
// calls; the worker's system-call filter kills what it does not allow; a worker that crashes,
// lies, floods or goes silent ends in a Crash error, never in a broken server.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/files.hpp"
#include "host/plugin.hpp"
#include "paths.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/seccomp.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

sandbox::SandboxConfig config() {
  sandbox::SandboxConfig c;
  c.worker_program = test::binary();  // this test binary is not wasimancer: start the real one
  return c;
}

std::vector<uint8_t> plugin_bytes(const std::string& name) {
  auto text = read_file(test::test_plugin(name));
  if (!text) throw std::runtime_error(text.error().message);
  return {text->begin(), text->end()};
}

sandbox::LoadRequest request(const std::string& name, uint32_t timeout_ms = 10'000) {
  sandbox::LoadRequest r;
  r.name = name;
  r.wasm = plugin_bytes(name);
  r.config = {{"greeting", "hi"}};
  r.limits.timeout_ms = timeout_ms;
  return r;
}

// The server's side of a plugin: described from what the worker reported.
struct Remote {
  std::shared_ptr<const host::CompiledPlugin> plugin;
  std::unique_ptr<sandbox::RemoteInstance> instance;
};

Remote start(sandbox::Sandbox& sb, const sandbox::LoadRequest& req, std::shared_ptr<const host::CompiledPlugin> plugin = nullptr) {
  sandbox::ReadyInfo ready;
  auto inst = sb.start(req, plugin, &ready);
  if (!inst) throw std::runtime_error(inst.error().message);
  if (!plugin) {
    host::PluginOptions o;
    o.name = req.name;
    o.limits = req.limits;
    o.allowed_hosts = {};  // every HTTP request is denied
    auto p = host::CompiledPlugin::describe(req.wasm, ready.module, o);
    if (!p) throw std::runtime_error(p.error().message);
    plugin = *p;
  }
  (*inst)->bind(plugin);
  return {plugin, std::move(*inst)};
}

class RecordingSink : public host::CallSink {
 public:
  void plugin_log(const host::PluginOptions&, LogLevel level, std::string_view message) override {
    std::lock_guard lock(mu);
    logs.push_back(std::string(to_string(level)) + ":" + std::string(message));
  }
  std::mutex mu;
  std::vector<std::string> logs;
};

// A fake worker: a shell script started in place of wasimancer.
fs::path fake_worker(const test::TempDir& dir, const std::string& body) {
  fs::path p = dir.path() / "fake-worker.sh";
  std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
  fs::permissions(p, fs::perms::owner_all);
  return p;
}

int child_status(const std::function<void()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST(Sandbox, CallsAndHostRequestsCrossTheChannel) {
  sandbox::Sandbox sb(config());
  auto echo = start(sb, request("echo"));
  EXPECT_EQ(echo.instance->call("echo", "hello there").output, "hello there");
  std::string big(3 << 20, 'x');  // larger than the socket's buffer, both ways
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  EXPECT_EQ(echo.instance->call("echo", big).output, big);
  auto fail = echo.instance->call("fail", "");
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.error->kind, ErrorKind::PluginError);

  // Vars live in the server: two workers of one plugin see one store.
  auto vars = start(sb, request("config_vars"));
  auto second = start(sb, request("config_vars"), vars.plugin);
  EXPECT_EQ(vars.instance->call("var_counter", "").output, "1");
  EXPECT_EQ(second.instance->call("var_counter", "").output, "2");
  EXPECT_EQ(vars.plugin->vars().get("count").has_value(), true);
  // Config was given to the worker.
  EXPECT_EQ(vars.instance->call("config", "greeting").output, "hi");

  // Logs reach the caller's sink, on the server's side.
  auto log = start(sb, request("log"));
  RecordingSink sink;
  host::CallOptions co;
  co.sink = &sink;
  ASSERT_TRUE(log.instance->call("log_all", "", co).ok());
  EXPECT_FALSE(sink.logs.empty());

  // HTTP is the server's: with no allowed host, it is refused there, with the server's message.
  auto http = start(sb, request("http"));
  auto denied = http.instance->call("http_get", "https://example.com/");
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.error->message.find("not allowed"), std::string::npos) << denied.error->message;
}

TEST(Sandbox, CancelAndTimeoutReachTheWorker) {
  sandbox::Sandbox sb(config());
  auto spin = start(sb, request("hostile", 60'000));
  std::atomic<bool> cancel{false};
  std::thread t([&] {
    std::this_thread::sleep_for(100ms);
    cancel = true;
  });
  host::CallOptions co;
  co.cancel = &cancel;
  auto r = spin.instance->call("infinite_loop", "", co);
  t.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->kind, ErrorKind::Cancelled) << r.error->message;

  auto again = start(sb, request("hostile", 200));
  auto timed = again.instance->call("infinite_loop", "");
  ASSERT_FALSE(timed.ok());
  EXPECT_EQ(timed.error->kind, ErrorKind::Timeout) << timed.error->message;
}

TEST(Sandbox, AKilledWorkerFailsItsCallWithACrash) {
  sandbox::Sandbox sb(config());
  auto spin = start(sb, request("hostile", 60'000));
  pid_t pid = spin.instance->pid();
  std::thread killer([pid] {
    std::this_thread::sleep_for(200ms);
    kill(pid, SIGKILL);
  });
  auto r = spin.instance->call("infinite_loop", "");
  killer.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->kind, ErrorKind::Crash);
  EXPECT_NE(r.error->message.find("SIGKILL"), std::string::npos) << r.error->message;
  EXPECT_FALSE(spin.instance->reusable());
  auto next = spin.instance->call("infinite_loop", "");
  EXPECT_EQ(next.error->kind, ErrorKind::Crash);  // a dead instance only says so
}

TEST(Sandbox, LoadErrorsComeBackAsTheyWere) {
  sandbox::Sandbox sb(config());
  auto req = request("echo");
  req.wasm = {'n', 'o', 't', ' ', 'w', 'a', 's', 'm'};
  auto r = sb.start(req, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::InvalidModule) << r.error().message;
  auto slow = request("start_loop", 200);
  auto s = sb.start(slow, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::Timeout) << s.error().message;
}

// A worker is as hostile as the module it runs: whatever it sends, the server stays whole.
TEST(Sandbox, AWorkerThatLiesOrFloodsOrDiesIsACrash) {
  test::TempDir dir;
  struct Case {
    const char* name;
    std::string script;
    const char* want;
  };
  const Case cases[] = {
      {"exits", "exit 3", "exited with status 3"},
      {"huge frame", "printf '\\377\\377\\377\\177\\012' >&3; sleep 30", "over the size limit"},
      {"garbage", "printf '\\006\\000\\000\\000\\143abcde' >&3; sleep 30", "broke the protocol"},
      {"malformed ready", "printf '\\003\\000\\000\\000\\012ab' >&3; sleep 30", "broke the protocol"},
  };
  for (const auto& c : cases) {
    auto cfg = config();
    cfg.worker_program = fake_worker(dir, c.script);
    sandbox::Sandbox sb(cfg);
    auto r = sb.start(request("echo", 2000), nullptr);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.error().kind, ErrorKind::Crash) << c.name << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << c.name << ": " << r.error().message;
  }
}

TEST(Seccomp, ForbiddenSystemCallsKillTheProcess) {
  auto killed_by_sigsys = [](const std::function<void()>& attempt) {
    int status = child_status([&] {
      if (!sandbox::enter_seccomp().ok()) _exit(100);
      attempt();
    });
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
  };
  EXPECT_TRUE(killed_by_sigsys([] { open("/etc/hostname", O_RDONLY); }));
  EXPECT_TRUE(killed_by_sigsys([] { socket(AF_INET, SOCK_STREAM, 0); }));
  EXPECT_TRUE(killed_by_sigsys([] { (void)fork(); }));
  EXPECT_TRUE(killed_by_sigsys([] { execl("/bin/true", "true", nullptr); }));
  EXPECT_TRUE(killed_by_sigsys([] { mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }));
  // What a worker needs still works.
  int status = child_status([] {
    if (!sandbox::enter_seccomp().ok()) _exit(100);
    void* p = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(101);
    std::vector<char> v(1 << 22, 'x');
    if (write(1, "", 0) < 0) _exit(102);
    _exit(v[100] == 'x' ? 7 : 103);
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

// File system grants (`allowedPaths`): a plugin sees only the folders it was granted, read-only
// unless granted writable, and cannot leave them: not with `..`, not through a symbolic link
// planted inside (absolute or relative), not with a path outside every grant. Checked from the
// guest's side (a WASI command and an Extism plugin built with wasi-libc) and on the host's
// files, in this process and in a sandbox worker; Landlock confines the worker process itself.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "paths.hpp"
#include "registry/describe.hpp"
#include "registry_helpers.hpp"
#include "sandbox/landlock.hpp"
#include "sandbox/sandbox.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    data = dir.path() / "data";
    out = dir.path() / "out";
    test::spit(data / "a.txt", "alpha");
    test::spit(data / "sub" / "b.txt", "beta");
    test::spit(dir.path() / "secret.txt", "secret");
    fs::create_directories(out);
    fs::create_symlink("/etc/hostname", data / "link_out");
    fs::create_symlink("../secret.txt", data / "link_up");
    fs::create_symlink("a.txt", data / "link_in");
    fs::create_symlink(dir.path(), data / "link_dir");
  }

  std::string spec(const std::string& name = "files") const {
    return fmt::format(R"({{"name": "{}", "kind": "command", "allowedPaths": {{"{}": "/data", "rw:{}": "/out"}}}})", name,
                       data.string(), out.string());
  }

  // Runs fs_command with argv and returns its stdout.
  static std::string run(const PluginVersion& v, std::vector<std::string> argv) {
    host::CallOptions o;
    o.argv = std::move(argv);
    auto r = v.call("_start", "{}", o);
    EXPECT_TRUE(r.ok()) << (r.error ? r.error->message : "");
    return r.output;
  }

  void check(const PluginVersion& v) {
    // Reading what was granted, through a link that stays inside too.
    EXPECT_EQ(run(v, {"read", "/data/a.txt"}), "alpha");
    EXPECT_EQ(run(v, {"read", "/data/sub/b.txt"}), "beta");
    EXPECT_EQ(run(v, {"read", "/data/link_in"}), "alpha");
    EXPECT_EQ(run(v, {"read", "/data/sub/../a.txt"}), "alpha");
    EXPECT_EQ(run(v, {"stat", "/data/a.txt"}), "file 5\n");
    EXPECT_EQ(run(v, {"stat", "/data/sub"}), "dir\n");
    EXPECT_EQ(run(v, {"list", "/data"}), "a.txt\nlink_dir\nlink_in\nlink_out\nlink_up\nsub\n");

    // Escapes: .., links planted inside pointing out (absolute, relative, a folder), other paths.
    for (const char* p : {"/data/../secret.txt", "/data/link_up", "/data/link_out", "/data/link_dir/secret.txt",
                          "/data/sub/../../secret.txt", "/out/../secret.txt", "/etc/passwd", "/secret.txt"}) {
      std::string got = run(v, {"read", p});
      EXPECT_EQ(got.rfind("error: ", 0), 0u) << p << " was read: " << got;
      EXPECT_EQ(got.find("secret"), std::string::npos) << p;
    }
    EXPECT_EQ(run(v, {"list", "/data/link_dir"}).rfind("error: ", 0), 0u);

    // Read-only: nothing written, created or removed under /data.
    EXPECT_EQ(run(v, {"write", "/data/new.txt", "x"}), "error: Read-only file system\n");
    EXPECT_EQ(run(v, {"write", "/data/a.txt", "x"}), "error: Read-only file system\n");
    EXPECT_EQ(run(v, {"rm", "/data/a.txt"}), "error: Read-only file system\n");
    EXPECT_EQ(run(v, {"mkdir", "/data/d"}), "error: Read-only file system\n");
    EXPECT_FALSE(fs::exists(data / "new.txt"));
    EXPECT_FALSE(fs::exists(data / "d"));
    EXPECT_EQ(test::slurp(data / "a.txt"), "alpha");

    // Writable: create, append, read back, make and remove folders, remove files.
    EXPECT_EQ(run(v, {"write", "/out/new.txt", "hello"}), "ok\n");
    EXPECT_EQ(run(v, {"append", "/out/new.txt", "!!"}), "ok\n");
    EXPECT_EQ(test::slurp(out / "new.txt"), "hello!!");
    EXPECT_EQ(run(v, {"read", "/out/new.txt"}), "hello!!");
    EXPECT_EQ(run(v, {"mkdir", "/out/d"}), "ok\n");
    EXPECT_TRUE(fs::is_directory(out / "d"));
    EXPECT_EQ(run(v, {"write", "/out/d/f", "1"}), "ok\n");
    EXPECT_EQ(run(v, {"rmdir", "/out/d"}), "error: Directory not empty\n");
    EXPECT_EQ(run(v, {"rm", "/out/d/f"}), "ok\n");
    EXPECT_EQ(run(v, {"rmdir", "/out/d"}), "ok\n");
    EXPECT_EQ(run(v, {"rm", "/out/new.txt"}), "ok\n");
    EXPECT_TRUE(fs::is_empty(out));
    // A file function not served (path_rename) fails inside the guest.
    EXPECT_EQ(run(v, {"write", "/out/r", "1"}), "ok\n");
    EXPECT_EQ(run(v, {"rename", "/out/r", "/out/s"}), "error: Function not implemented\n");
    EXPECT_EQ(run(v, {"rm", "/out/r"}), "ok\n");
    // Writing out of the writable folder fails too, and changes nothing.
    EXPECT_EQ(run(v, {"write", "/out/../secret.txt", "pwned"}).rfind("error: ", 0), 0u);
    fs::create_symlink(dir.path() / "secret.txt", out / "planted");
    EXPECT_EQ(run(v, {"write", "/out/planted", "pwned"}).rfind("error: ", 0), 0u);
    EXPECT_EQ(run(v, {"rm", "/out/planted/x"}).rfind("error: ", 0), 0u);
    EXPECT_EQ(test::slurp(dir.path() / "secret.txt"), "secret");
    fs::remove(out / "planted");
  }

  test::TempDir dir;
  fs::path data, out;
};

}  // namespace

TEST_F(Files, ACommandSeesOnlyItsGrants) { check(*test::load_version("fs_command", spec())); }

TEST_F(Files, InASandboxWorkerToo) {
  test::Sandboxed sb;
  check(*test::load_version("fs_command", spec(), sb.options));
}

TEST_F(Files, AnExtismPluginToo) {
  auto granted = fmt::format(R"({{"name": "w", "functions": [{{"function": "read_file"}}], "allowedPaths": {{"{}": "/data"}}}})",
                             data.string());
  for (bool isolated : {false, true}) {
    test::Sandboxed sb;
    LoadOptions o = isolated ? sb.options : LoadOptions{};
    auto v = test::load_version("wasi", granted, o);
    EXPECT_EQ(test::call_ok(*v, "read_file", "/data/sub/b.txt"), "beta");
    auto escape = v->call("read_file", "/data/link_up", {});
    ASSERT_FALSE(escape.ok());
    EXPECT_EQ(escape.error->message, "/data/link_up: Capabilities insufficient");
    // A file function not served (path_rename) fails inside the guest, which copes: with granted
    // folders that is not reported as "file system access is not granted".
    EXPECT_EQ(test::call_ok(*v, "rename_file", "/data/a.txt"), "Function not implemented");
    // Without a grant the plugin has no files, and the error says so.
    auto plain = test::load_version("wasi", R"({"name": "w", "functions": [{"function": "read_file"}]})", o);
    auto denied = plain->call("read_file", "/data/a.txt", {});
    ASSERT_FALSE(denied.ok());
  }
}

TEST_F(Files, GrantsAreCheckedAtPublish) {
  auto missing = test::try_load_version(
      "fs_command", fmt::format(R"({{"name": "x", "kind": "command", "allowedPaths": {{"{}": "/d"}}}})", (dir.path() / "nope").string()));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("allowedPaths: cannot open the folder"), std::string::npos) << missing.error().message;
  auto bad = [](std::string_view allowed) {
    auto r = parse_plugin_spec(json::parse(fmt::format(R"({{"name": "x", "path": "x.wasm", "kind": "command", "allowedPaths": {}}})", allowed)));
    EXPECT_FALSE(r.ok()) << allowed;
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_NE(bad(R"({"relative/dir": "/d"})").find("must be an absolute path"), std::string::npos);
  EXPECT_NE(bad(R"({"/tmp/../etc": "/d"})").find("must not contain \"..\""), std::string::npos);
  EXPECT_NE(bad(R"({"/tmp": ""})").find("non-empty string"), std::string::npos);
  EXPECT_NE(bad(R"(["/tmp"])").find("must be a map"), std::string::npos);
}

// Landlock: a process confined to its grants cannot open anything else, even with plain open(2)
// (what code that escaped the engine would use).
TEST_F(Files, LandlockConfinesTheWorkerProcess) {
  if (sandbox::landlock_abi() <= 0) GTEST_SKIP() << "the kernel has no Landlock";
  auto pre = host::Preopens::open({host::PathGrant{data.string(), "/data", false}, host::PathGrant{out.string(), "/out", true}});
  ASSERT_TRUE(pre.ok()) << pre.error().message;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto r = sandbox::enter_landlock(**pre);
    if (!r || !*r) _exit(10);
    if (open((data / "a.txt").c_str(), O_RDONLY) < 0) _exit(11);                       // granted, read
    if (open((dir.path() / "secret.txt").c_str(), O_RDONLY) >= 0) _exit(12);           // beside the grant
    if (open("/etc/hostname", O_RDONLY) >= 0) _exit(13);                                // elsewhere
    if (open((data / "a.txt").c_str(), O_WRONLY) >= 0) _exit(14);                       // read-only grant
    if (open((data / "n").c_str(), O_WRONLY | O_CREAT, 0644) >= 0) _exit(15);
    if (open((out / "n").c_str(), O_WRONLY | O_CREAT, 0644) < 0) _exit(16);            // writable grant
    if (open((data / "link_out").c_str(), O_RDONLY) >= 0) _exit(17);                   // a link out
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "check " << WEXITSTATUS(status) << " failed (see the test)";
  EXPECT_TRUE(fs::exists(out / "n"));
  EXPECT_FALSE(fs::exists(data / "n"));
}

#include "sandbox/seccomp.hpp"

#include <seccomp.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/subprocess.hpp"

namespace wasimancer::sandbox {

Result<void> enter_seccomp(bool files) {
  // Anything not listed kills the whole worker (the server reports a crash).
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) return Error(ErrorKind::Internal, "seccomp_init failed");
  struct Guard {
    scmp_filter_ctx c;
    ~Guard() { seccomp_release(c); }
  } guard{ctx};

  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);  // the watchdog thread too
  auto allow = [&](int nr) {
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  };
  // The channel and the worker's own descriptors (it has no way to open others).
  for (int nr : {SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(sendmsg),
                 SCMP_SYS(recvmsg), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(close), SCMP_SYS(fstat)}) {
    allow(nr);
  }
  // Memory: the allocator, the linear memory's reservation (growing it is an mprotect). Nothing
  // may become executable: the native code was mapped before the filter.
  for (int nr : {SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(mremap)}) allow(nr);
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  // Threads already running (the watchdog), time, randomness, signals, exit.
  for (int nr : {SCMP_SYS(futex), SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday),
                 SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(sched_yield), SCMP_SYS(getrandom),
                 SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(sigaltstack),
                 SCMP_SYS(restart_syscall),
                 SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(tgkill), SCMP_SYS(getrusage), SCMP_SYS(exit),
                 SCMP_SYS(exit_group),
                 // what glibc's thread start-up does in a thread created just before the filter
                 SCMP_SYS(rseq), SCMP_SYS(set_robust_list)}) {
    allow(nr);
  }
  // A sanitizer build's runtime reads /proc/self/exe's link (readlink: it opens nothing).
  if (kSanitizerBuild) allow(SCMP_SYS(readlink));
  if (files) {
    // Granted folders (allowedPaths): the file calls of host/wasi_fs.cpp. Which files they reach
    // is Landlock's to decide (sandbox/landlock.hpp), entered before this filter.
    for (int nr : {SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(lseek),
                   SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(getdents64),
                   SCMP_SYS(mkdirat), SCMP_SYS(unlinkat), SCMP_SYS(ftruncate), SCMP_SYS(fsync), SCMP_SYS(fdatasync)}) {
      allow(nr);
    }
  }
  if (rc != 0) return Error(ErrorKind::Internal, fmt::format("seccomp_rule_add failed: {}", std::strerror(-rc)));
  if ((rc = seccomp_load(ctx)) != 0) return Error(ErrorKind::Internal, fmt::format("seccomp_load failed: {}", std::strerror(-rc)));
  return {};
}

}  // namespace wasimancer::sandbox

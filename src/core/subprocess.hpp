// core/subprocess.hpp: runs an external tool (the native tier's wasm2c and C compiler) so that
// it cannot outlive or outgrow its caller.
//
// The tool runs under a small supervisor process:
//   server ──fork──> supervisor ──fork+exec──> tool (own process group) ──> its children (cc1...)
// The supervisor keeps only two descriptors (the tool's output pipe and a "life" pipe whose
// other end the caller holds): no listening socket, client connection or other build's pipe
// reaches the tool. When the caller closes the life pipe (time is up, the build is cancelled)
// or dies for any reason (the kernel closes its end), the supervisor kills the tool's whole
// process group, so a compiler's own children die too. The tool gets RLIMIT_AS, RLIMIT_CPU, no
// core dumps, the lowest priority and /dev/null as stdin.
//
// Thread safety: run_supervised may be called from any thread, concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace wasimancer {

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WASIMANCER_SHADOW_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WASIMANCER_SHADOW_SANITIZER 1
#endif
// False in a build with AddressSanitizer or ThreadSanitizer: their shadow memory is terabytes of
// reserved address space, which an RLIMIT_AS refuses (the process dies starting up), so such a
// build's processes running this program (sandbox workers, `__instrument-native`) get no
// address-space limit; external tools (wasm2c, the compiler) keep theirs. The engine's memory
// limits hold all the same; other builds keep both.
#ifdef WASIMANCER_SHADOW_SANITIZER
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif
inline constexpr bool kAddressSpaceLimits = !kSanitizerBuild;

struct SubprocessLimits {
  std::chrono::milliseconds timeout{60'000};  // wall clock
  uint64_t address_space_bytes = 0;            // RLIMIT_AS of the tool and its children; 0: none
  uint64_t cpu_seconds = 0;                    // RLIMIT_CPU; 0: none
  int nice = 19;
  size_t max_output_bytes = 64 * 1024;         // the first bytes of stdout + stderr are kept
};

struct SubprocessResult {
  int exit_code = -1;      // -1: not started, or ended by a signal
  int signal = 0;          // the signal that ended the tool
  bool timed_out = false;  // stopped because the time was up
  bool cancelled = false;  // stopped because `cancelled` said so
  std::string output;      // stdout + stderr (truncated), or why it could not start
};

// Runs argv[0] (looked up on PATH) in `dir`. `cancelled` is polled every few milliseconds.
SubprocessResult run_supervised(const std::vector<std::string>& argv, const std::filesystem::path& dir,
                                const SubprocessLimits& limits, const std::function<bool()>& cancelled = {});

// Where `name` is on PATH ("" if nowhere); a name with a '/' is checked as is.
std::string find_program(const std::string& name);

// Closes every descriptor from `first` up, except those in `keep` (async-signal-safe: for a
// child between fork and exec).
void close_descriptors_from(int first, const int* keep, int keep_count) noexcept;

}  // namespace wasimancer

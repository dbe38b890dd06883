// sandbox/landlock.hpp: confines a sandbox worker's file access to its granted folders (Landlock).
//
// A worker with `allowedPaths` may make file system calls (sandbox/seccomp.hpp); its WASI layer
// resolves every guest path beneath the granted folder (host/wasi_fs.hpp). Landlock is the second
// wall: the process itself can reach nothing but those folders (read-only ones without any write
// right), so even code that escaped the engine cannot open another file.
//
// Thread safety: called once, by the worker's main thread, before the seccomp filter (Landlock
// applies to the calling thread and the threads it creates later: it runs before the watchdog's).
#pragma once

#include <vector>

#include "core/error.hpp"
#include "host/wasi_fs.hpp"

namespace wasimancer::sandbox {

// The Landlock ABI version of the running kernel, 0 when Landlock is not available.
int landlock_abi();

// Restricts this process to `preopens` (their descriptors), read-only unless granted writable.
// Returns false (and leaves the process as it is) when the kernel has no Landlock; an error when
// Landlock is there and the restriction failed.
Result<bool> enter_landlock(const host::Preopens& preopens);

}  // namespace wasimancer::sandbox

// sandbox/seccomp.hpp: the system-call allow-list of a sandbox worker (libseccomp).
//
// Once entered, the worker can read and write the descriptors it has (its channel), manage its
// memory (never making any of it executable), use the threads it already has, read clocks and
// randomness, handle signals and exit. Opening files, sockets, creating processes or threads,
// and everything else kills the worker at once. It is entered after the native code (if any) is
// mapped and before the module is parsed or any of its code runs.
//
// Thread safety: called once, by the worker's main thread, before any other thread exists
// except the watchdog (the filter applies to every thread: TSYNC).
#pragma once

#include "core/error.hpp"

namespace wasimancer::sandbox {

// `files`: the worker has granted folders (allowedPaths): the file calls are allowed too, after
// Landlock confined the process to those folders (sandbox/landlock.hpp).
Result<void> enter_seccomp(bool files = false);

}  // namespace wasimancer::sandbox

// cli/signals.hpp: how the process handles SIGINT, SIGTERM and SIGPIPE.
//
// The signal mask is inherited by every thread at its creation, so it is set once, in main(),
// before any thread exists (worker pool, native tier, notifier, network threads, logging): no
// thread can then be picked by the kernel to run a signal's default action. One thread waits
// for the signals instead: `serve` (HTTP) waits on its main thread and shuts down in order;
// every other command starts a waiter thread that ends the process the way the signal would
// have. The mask and the ignored SIGPIPE are inherited by child processes too: code that execs
// another program should reset them in the child before exec.
//
// Thread safety: block_stop_signals() runs on the main thread before any other thread starts;
// wait_stop_signal() blocks its caller; die_on_stop_signal() may be called once from any thread.
#pragma once

namespace wasimancer::cli {

// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread it starts) and ignores
// SIGPIPE (a closed socket is an error return, not a process death).
void block_stop_signals();

// Waits until SIGINT or SIGTERM is pending for the process; returns the signal number.
int wait_stop_signal();

// Starts a detached thread that waits for SIGINT or SIGTERM, logs it, and then ends the process
// with that signal (its default action), as if nothing had blocked it.
void die_on_stop_signal();

}  // namespace wasimancer::cli

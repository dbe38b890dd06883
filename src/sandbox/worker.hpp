// sandbox/worker.hpp: the entry point of a sandbox worker process (`wasimancer __worker`).
//
// The worker reads a Load request from its channel (descriptor `fd`), maps the plugin's native
// code if it has some, enters its system-call filter (sandbox/seccomp.hpp), then parses and
// instantiates the module and answers Ready (or LoadError). It then runs one call at a time,
// forwarding what the plugin reaches outside its instance (vars, HTTP, logs, progress,
// sampling, elicitation) to the server over the same channel, and exits when the server closes
// it. Its process holds no token, no file and no socket but the channel.
#pragma once

namespace wasimancer::sandbox {

// Returns the process exit code.
int worker_main(int fd);

}  // namespace wasimancer::sandbox

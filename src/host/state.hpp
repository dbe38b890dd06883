// host/state.hpp: per-instance host state that host functions reach through Caller::user_data()
// (internal to the host layer). Owned by its PluginInstance; used only by the thread running
// that instance's call.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/instance.hpp"
#include "host/kernel.hpp"
#include "host/plugin.hpp"
#include "host/wasi_fs.hpp"

namespace wasimancer::host {

struct InstanceState {
  explicit InstanceState(const CompiledPlugin& p)
      : plugin(&p), kernel(uint64_t(p.options().limits.max_pages) * 65536), local(p), services(&local) {
    if (p.options().preopens && !p.options().preopens->dirs().empty()) fs = std::make_unique<WasiFs>(p.options().preopens);
  }

  const CompiledPlugin* plugin;
  Kernel kernel;
  PluginServices local;

  // Per call; reset by begin_call() (except the HTTP response).
  CallSink* sink = nullptr;
  Services* services;
  engine::CallControl* control = nullptr;  // the engine reads it at every deadline check
  const trace::TraceContext* trace = nullptr;  // the call's (CallOptions::trace)
  uint64_t log_bytes = 0;
  std::string captured_stdout;      // fd 1 and 2, kept for the error text of a failed call
  bool fs_attempted = false;        // the guest tried to use the (ungranted) file system
  // Granted folders (PluginOptions::preopens): this instance's file descriptors. Null: none.
  std::unique_ptr<WasiFs> fs;
  // The last HTTP response of this instance (kept across calls, as Extism does).
  int http_status = 0;
  std::vector<std::pair<std::string, std::string>> http_headers;

  // A WASI command's streams and arguments (PluginOptions::command), per call.
  std::string_view stdin_data;
  size_t stdin_pos = 0;
  std::string command_stdout, command_stderr;
  std::vector<std::string> argv;

  void begin_call(CallSink* s, engine::CallControl* c, Services* svc = nullptr, const trace::TraceContext* t = nullptr) {
    sink = s;
    trace = t;
    control = c;
    stdin_data = {};
    stdin_pos = 0;
    command_stdout.clear();
    command_stderr.clear();
    argv.clear();
    services = svc ? svc : &local;
    log_bytes = 0;
    captured_stdout.clear();
    fs_attempted = false;
  }
};

// The host functions of one import namespace, by name.
const engine::HostFunc* find_host_function(std::string_view module, std::string_view name);

}  // namespace wasimancer::host

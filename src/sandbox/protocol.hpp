// sandbox/protocol.hpp: the messages between the server and a sandbox worker.
//
//   server -> worker   Load (once), then Call ... ; HostReply answers a Host request
//   worker -> server   Ready or LoadError (once), then per call: Host* ... Result
//
// One call at a time per worker; host requests happen only inside a call, and the server
// answers each before the worker goes on (Log, Stdout and ClientLog need no answer). Every
// decode function returns nullopt for a malformed payload; the server then drops the worker.
//
// Ownership: plain values. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "engine/module.hpp"
#include "host/http_client.hpp"
#include "host/plugin.hpp"

namespace wasimancer::sandbox {

enum class Msg : uint8_t {
  Load = 1,
  Call = 2,
  HostReply = 3,
  Ready = 10,
  LoadError = 11,
  Host = 12,
  Result = 13,
};

enum class HostOp : uint8_t {
  VarGet = 1,
  VarSet = 2,
  Http = 3,
  Log = 4,        // no reply
  Stdout = 5,     // no reply
  Progress = 6,
  ClientLog = 7,  // no reply
  Sample = 8,
  Elicit = 9,
  ListRoots = 10,
  Notify = 11,  // no reply
};

struct LoadRequest {
  std::string name;
  std::vector<uint8_t> wasm;
  std::map<std::string, std::string> config;
  host::PluginLimits limits;
  bool http_response_headers = true;
  LogLevel log_level = LogLevel::Info;
  std::string native_library;      // empty: the interpreter
  std::string native_description;  // e.g. "native (clang -O2)"
  bool command = false;            // a WASI command (host::PluginOptions::command)
  std::vector<host::PathGrant> grants;  // allowedPaths: opened, then confined by Landlock
};

struct ReadyInfo {
  engine::ModuleInfo module;
  std::string tier;
};

struct CallRequest {
  std::string function;
  std::string input;
  std::optional<uint32_t> timeout_ms;  // overrides the plugin's limit (host::CallOptions::timeout)
  std::vector<std::string> argv;       // a WASI command's arguments
};

struct CallReply {
  host::CallOutcome outcome;
  bool reusable = true;
  uint64_t cpu_ms = 0;  // the worker's total CPU time so far
};

std::string encode(const LoadRequest& r);
std::optional<LoadRequest> decode_load(std::string_view payload);
std::string encode(const ReadyInfo& r);
std::optional<ReadyInfo> decode_ready(std::string_view payload);
std::string encode_error(const Error& e);
std::optional<Error> decode_error(std::string_view payload);
std::string encode(const CallRequest& r);
std::optional<CallRequest> decode_call(std::string_view payload);
std::string encode(const CallReply& r);
std::optional<CallReply> decode_reply(std::string_view payload);
std::string encode(const host::HttpRequest& r);
std::optional<host::HttpRequest> decode_http_request(std::string_view payload);
std::string encode(const Result<host::HttpResponse>& r);
std::optional<Result<host::HttpResponse>> decode_http_response(std::string_view payload);

// ErrorKind <-> wire (unknown values decode to Internal).
uint8_t wire_kind(ErrorKind k);
ErrorKind kind_from_wire(uint8_t v);

}  // namespace wasimancer::sandbox

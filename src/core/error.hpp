// core/error.hpp: the error kinds every layer reports, and Result<T>.
//
// Ownership: Error and Result are plain values; copy or move them freely.
// Thread safety: values, no shared state.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace wasimancer {

// What went wrong, coarse enough for callers to branch on. The message says the rest.
enum class ErrorKind {
  // wasm execution
  Trap,         // the guest executed unreachable, divided by zero, went out of bounds...
  Timeout,      // the call's deadline passed
  Cancelled,    // the caller cancelled the call (or the server is shutting down)
  OutOfMemory,  // a memory grew past its limit
  PluginError,  // the plugin reported an error (error_set) or returned a non-zero code
  HostError,    // a host function refused the call (denied HTTP host, vars disabled...)
  Crash,        // the sandbox worker running the call died, broke its limits or stopped answering
  // everything else
  InvalidModule,  // malformed or invalid wasm, or a module the host cannot link
  InvalidArgument,
  NotFound,
  AlreadyExists,
  Io,
  Conflict,     // a change lost a race with another change (another replica's): retry (409)
  Unavailable,  // a service the server needs (the database) cannot be reached right now (503)
  Internal,
  PermissionDenied,  // refused by policy: an unsigned or wrongly signed module, a registry not allowed
};

std::string_view to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;

  Error() = default;
  Error(ErrorKind k, std::string m) : kind(k), message(std::move(m)) {}
};

// A value or an Error. Cheap to move; check ok() before value().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}
  Result(Error error) : data_(std::move(error)) {}

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(data_); }
  const T& value() const& { assert(ok()); return std::get<0>(data_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(data_); }
  Error&& take_error() { assert(!ok()); return std::get<1>(std::move(data_)); }

 private:
  std::variant<T, Error> data_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }
  Error&& take_error() { assert(!ok_); return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

inline Error make_error(ErrorKind kind, std::string message) { return Error(kind, std::move(message)); }

}  // namespace wasimancer

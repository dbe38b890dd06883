#include "core/error.hpp"

namespace wasimancer {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Trap: return "trap";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Cancelled: return "cancelled";
    case ErrorKind::Crash: return "crash";
    case ErrorKind::OutOfMemory: return "out of memory";
    case ErrorKind::PluginError: return "plugin error";
    case ErrorKind::HostError: return "host error";
    case ErrorKind::InvalidModule: return "invalid module";
    case ErrorKind::InvalidArgument: return "invalid argument";
    case ErrorKind::NotFound: return "not found";
    case ErrorKind::AlreadyExists: return "already exists";
    case ErrorKind::Io: return "i/o error";
    case ErrorKind::Conflict: return "conflict";
    case ErrorKind::Unavailable: return "unavailable";
    case ErrorKind::Internal: return "internal error";
    case ErrorKind::PermissionDenied: return "permission denied";
  }
  return "unknown";
}

}  // namespace wasimancer

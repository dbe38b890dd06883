// engine/types.hpp: the value types, signatures and outcomes shared by every wasm tier.
//
// Ownership: plain values. Thread safety: values, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace wasimancer::engine {

enum class ValType : uint8_t { I32, I64, F32, F64, V128, FuncRef, ExternRef };
enum class ExternKind : uint8_t { Func, Table, Memory, Global, Tag };

std::string_view to_string(ValType t);
std::string_view to_string(ExternKind k);

struct FuncType {
  std::vector<ValType> params;
  std::vector<ValType> results;

  bool operator==(const FuncType&) const = default;
  std::string to_string() const;  // "(i64,i32)->(i64)"
};

// A wasm value as a raw 64-bit slot: i32 zero-extended, f32/f64 as their bit patterns (copied,
// never converted: NaN payloads survive on both tiers). References are opaque to the host: an
// externref is a value of the host's choosing (0: null) that the guest can only hand back; a
// funcref result is 0 (null) or 1 (a function; no address ever reaches the host), and the only
// funcref argument accepted is 0 (null).
using Slot = uint64_t;

struct ImportDesc {
  std::string module;
  std::string name;
  ExternKind kind = ExternKind::Func;
  FuncType type;  // for functions
};

struct ExportDesc {
  std::string name;
  ExternKind kind = ExternKind::Func;
  FuncType type;  // for functions
};

// How a guest call (or an instantiation) stopped abnormally.
struct Trap {
  ErrorKind kind = ErrorKind::Trap;  // Trap, Timeout, OutOfMemory or HostError
  std::string message;
  // Set when the guest called WASI proc_exit: the call unwound with this exit code.
  std::optional<int32_t> exit_code;

  static Trap exit(int32_t code) { Trap t; t.kind = ErrorKind::PluginError; t.exit_code = code; t.message = "exit"; return t; }
};

}  // namespace wasimancer::engine

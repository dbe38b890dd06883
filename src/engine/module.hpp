// engine/module.hpp: a validated, instrumented wasm module, ready to instantiate on any tier.
//
// Ownership: Module is immutable after compile() and shared through shared_ptr<const Module>;
// every Instance keeps its Module alive. Thread safety: all const methods are safe from any
// thread; instantiate concurrently as much as you like.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "engine/types.hpp"

namespace wasimancer::engine {

struct MemoryInfo {
  uint64_t initial_pages = 0;
  std::optional<uint64_t> max_pages;
};

// The shape of a module: what a host needs to link it and to check calls, without the module
// itself (a sandboxed worker parses the module and sends this to the server). Plain values.
struct ModuleInfo {
  std::string sha256;                // of the original bytes
  std::vector<ImportDesc> imports;   // the module's own (the instrumentation import is not listed)
  std::vector<ExportDesc> exports;
  std::optional<MemoryInfo> memory;  // the memory exported as "memory", if any
  uint32_t table_count = 0;          // tables defined or imported

  const ExportDesc* find_export(std::string_view name) const;
};

class Module {
 public:
  // Validates `wasm` and reads its shape. Errors are InvalidModule with offset and reason.
  static Result<std::shared_ptr<const Module>> compile(std::span<const uint8_t> wasm);

  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const ModuleInfo& info() const { return info_; }
  const std::string& sha256() const { return info_.sha256; }  // of the original bytes
  size_t original_size() const { return original_.size(); }
  const std::vector<uint8_t>& original() const { return original_; }

  // The module's own imports (the instrumentation import is not listed).
  const std::vector<ImportDesc>& imports() const { return info_.imports; }
  const std::vector<ExportDesc>& exports() const { return info_.exports; }
  const ExportDesc* find_export(std::string_view name) const { return info_.find_export(name); }
  // The exported memory named "memory" (what host functions read and write), if any.
  std::optional<MemoryInfo> memory() const { return info_.memory; }
  // How many tables the module defines or imports.
  uint32_t table_count() const { return info_.table_count; }

  // The interpreter's prepared code (interp.cpp), made on first use: instrumentation and
  // parsing cost ~50 ms per MB, so a plugin that only ever runs native code never pays it.
  // Thread-safe (call_once).
  struct InterpCode;
  const InterpCode& interp_code() const;

 private:
  Module();

  ModuleInfo info_;
  std::vector<uint8_t> original_;
  std::unique_ptr<InterpCode> interp_;
};

}  // namespace wasimancer::engine

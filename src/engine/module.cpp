#include "engine/module.hpp"

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "engine/instrument.hpp"
#include "engine/limits.hpp"
#include "engine/interp_code.hpp"
#include "engine/wabt_util.hpp"

#include "wabt/binary-reader-ir.h"
#include "wabt/binary-reader.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/ir.h"

namespace wasimancer::engine {

Module::Module() = default;
Module::~Module() = default;

const ExportDesc* ModuleInfo::find_export(std::string_view name) const {
  for (const auto& e : exports) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

namespace {

// wabt's interpreter reader both decodes and validates. On failure, decoding alone tells a
// malformed module (bad bytes) from an invalid one (well-formed, but wrong).
Error describe_failure(std::span<const uint8_t> wasm, const wabt::Errors& errors) {
  wabt::Errors decode_errors;
  wabt::Module ir;
  wabt::ReadBinaryOptions opts(wasm_features(), nullptr, false, true, false);
  bool malformed = wabt::Failed(wabt::ReadBinaryIr("plugin.wasm", wasm.data(), wasm.size(), opts, &decode_errors, &ir));
  if (malformed) return Error(ErrorKind::InvalidModule, "malformed wasm module: " + format_wabt_errors(decode_errors));
  return Error(ErrorKind::InvalidModule, "invalid wasm module: " + format_wabt_errors(errors));
}

}  // namespace

Result<std::shared_ptr<const Module>> Module::compile(std::span<const uint8_t> wasm) {
  // Validate and read the module's shape; the instrumented form the interpreter needs is made
  // only when an interpreter instance is first wanted (a plugin with cached native code never
  // needs it, which keeps start-up fast). The limits and features come first: nothing else
  // touches a module that exceeds them.
  if (auto r = check_module(wasm); !r) return r.take_error();
  wabt::interp::ModuleDesc desc;
  wabt::Errors errors;
  wabt::ReadBinaryOptions opts(wasm_features(), nullptr, false, true, false);
  if (wabt::Failed(wabt::interp::ReadBinaryInterp("plugin.wasm", wasm.data(), wasm.size(), opts, &errors, &desc))) {
    return describe_failure(wasm, errors);
  }
  if (desc.memories.size() > 1) {
    return Error(ErrorKind::InvalidModule, "the module declares more than one memory (multi-memory is not supported)");
  }

  std::shared_ptr<Module> m(new Module());
  m->info_.sha256 = sha256_hex(wasm);
  uint32_t imported_memories = 0;
  std::optional<MemoryInfo> imported_memory;
  for (const auto& imp : desc.imports) {
    const auto& it = imp.type;
    if (it.module == kRuntimeModule) {
      return Error(ErrorKind::InvalidModule,
                   fmt::format("the module imports \"{}\".\"{}\": that namespace is reserved by the host", it.module, it.name));
    }
    ImportDesc d;
    d.module = it.module;
    d.name = it.name;
    d.kind = from_wabt(it.type->kind);
    if (auto* ft = wabt::dyn_cast<wabt::interp::FuncType>(it.type.get())) d.type = from_wabt(*ft);
    if (auto* mt = wabt::dyn_cast<wabt::interp::MemoryType>(it.type.get())) {
      ++imported_memories;
      imported_memory = MemoryInfo{mt->limits.initial, mt->limits.has_max ? std::optional<uint64_t>(mt->limits.max) : std::nullopt};
    }
    m->info_.imports.push_back(std::move(d));
  }
  for (const auto& e : desc.exports) {
    ExportDesc d;
    d.name = e.type.name;
    d.kind = from_wabt(e.type.type->kind);
    if (auto* ft = wabt::dyn_cast<wabt::interp::FuncType>(e.type.type.get())) d.type = from_wabt(*ft);
    if (d.kind == ExternKind::Memory && d.name == "memory") {
      if (e.index < imported_memories) {
        m->info_.memory = imported_memory;
      } else {
        const auto& lim = desc.memories.at(e.index - imported_memories).type.limits;
        m->info_.memory = MemoryInfo{lim.initial, lim.has_max ? std::optional<uint64_t>(lim.max) : std::nullopt};
      }
    }
    m->info_.exports.push_back(std::move(d));
  }
  m->info_.table_count = static_cast<uint32_t>(desc.tables.size());
  for (const auto& imp : desc.imports) {
    if (imp.type.type->kind == wabt::ExternalKind::Table) ++m->info_.table_count;
  }
  m->original_.assign(wasm.begin(), wasm.end());
  m->interp_ = std::make_unique<InterpCode>();
  return std::shared_ptr<const Module>(std::move(m));
}

const Module::InterpCode& Module::interp_code() const {
  std::call_once(interp_->once, [this] {
    InstrumentOptions flavour;
    flavour.validate = false;  // compile() validated it
    auto inst = instrument(original_, flavour);
    if (!inst) {
      interp_->error = inst.take_error();
      return;
    }
    wabt::Errors errors;
    wabt::ReadBinaryOptions opts(wasm_features(), nullptr, false, true, false);
    if (wabt::Failed(wabt::interp::ReadBinaryInterp("plugin.wasm", inst->wasm.data(), inst->wasm.size(), opts, &errors,
                                                    &interp_->desc))) {
      interp_->error = Error(ErrorKind::Internal, "the instrumented module does not validate: " + format_wabt_errors(errors));
      return;
    }
    for (size_t i = 0; i < interp_->desc.imports.size(); ++i) {
      if (interp_->desc.imports[i].type.module == kRuntimeModule) interp_->tick_import = static_cast<uint32_t>(i);
    }
  });
  return *interp_;
}

}  // namespace wasimancer::engine

#include "engine/module.hpp"

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "engine/instrument.hpp"
#include "engine/interp_code.hpp"
#include "engine/wabt_util.hpp"

#include "wabt/binary-reader.h"
#include "wabt/interp/binary-reader-interp.h"

namespace wasimancer::engine {

Module::Module() = default;
Module::~Module() = default;

const ExportDesc* Module::find_export(std::string_view name) const {
  for (const auto& e : exports_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Result<std::shared_ptr<const Module>> Module::compile(std::span<const uint8_t> wasm) {
  auto inst = instrument(wasm);
  if (!inst) return inst.take_error();

  auto code = std::make_unique<InterpCode>();
  wabt::Errors errors;
  wabt::ReadBinaryOptions opts(wasm_features(), nullptr, false, true, false);
  if (wabt::Failed(wabt::interp::ReadBinaryInterp("plugin.wasm", inst->wasm.data(), inst->wasm.size(), opts,
                                                  &errors, &code->desc))) {
    return Error(ErrorKind::InvalidModule, "invalid wasm module: " + format_wabt_errors(errors));
  }

  std::shared_ptr<Module> m(new Module());
  m->sha256_ = sha256_hex(wasm);
  m->original_.assign(wasm.begin(), wasm.end());
  const auto& desc = code->desc;

  uint32_t imported_memories = 0;
  std::optional<MemoryInfo> imported_memory;
  for (size_t i = 0; i < desc.imports.size(); ++i) {
    const auto& it = desc.imports[i].type;
    ImportDesc d;
    d.module = it.module;
    d.name = it.name;
    d.kind = from_wabt(it.type->kind);
    if (auto* ft = wabt::dyn_cast<wabt::interp::FuncType>(it.type.get())) d.type = from_wabt(*ft);
    if (auto* mt = wabt::dyn_cast<wabt::interp::MemoryType>(it.type.get())) {
      ++imported_memories;
      imported_memory = MemoryInfo{mt->limits.initial, mt->limits.has_max ? std::optional<uint64_t>(mt->limits.max) : std::nullopt};
    }
    if (d.module == kRuntimeModule) {
      code->tick_import = static_cast<uint32_t>(i);
      continue;
    }
    m->imports_.push_back(std::move(d));
  }
  for (const auto& e : desc.exports) {
    ExportDesc d;
    d.name = e.type.name;
    d.kind = from_wabt(e.type.type->kind);
    if (auto* ft = wabt::dyn_cast<wabt::interp::FuncType>(e.type.type.get())) d.type = from_wabt(*ft);
    if (d.kind == ExternKind::Memory && d.name == "memory") {
      if (e.index < imported_memories) {
        m->memory_ = imported_memory;
      } else {
        const auto& lim = desc.memories.at(e.index - imported_memories).type.limits;
        m->memory_ = MemoryInfo{lim.initial, lim.has_max ? std::optional<uint64_t>(lim.max) : std::nullopt};
      }
    }
    m->exports_.push_back(std::move(d));
  }
  m->has_start_ = !desc.starts.empty();
  m->instrumented_ = std::move(inst->wasm);
  m->interp_ = std::move(code);
  return std::shared_ptr<const Module>(std::move(m));
}

}  // namespace wasimancer::engine

#include "engine/instrument.hpp"

#include <memory>

#include <fmt/format.h>

#include "wabt/binary-reader-ir.h"
#include "wabt/binary-reader.h"
#include "wabt/binary-writer.h"
#include "wabt/cast.h"
#include "wabt/error.h"
#include "wabt/feature.h"
#include "wabt/ir.h"
#include "wabt/stream.h"
#include "wabt/validator.h"

#include "engine/wabt_util.hpp"

namespace wasimancer::engine {

namespace {

using namespace wabt;

// Shifts every reference to a defined function by one, to make room for the added import.
class FuncIndexShifter {
 public:
  explicit FuncIndexShifter(Index first_defined) : first_(first_defined) {}

  void var(Var& v) const {
    if (v.is_index() && v.index() >= first_) v.set_index(v.index() + 1);
  }

  void exprs(ExprList& list) const {
    for (Expr& e : list) expr(e);
  }

 private:
  void expr(Expr& e) const {
    switch (e.type()) {
      case ExprType::Call: var(cast<CallExpr>(&e)->var); break;
      case ExprType::ReturnCall: var(cast<ReturnCallExpr>(&e)->var); break;
      case ExprType::RefFunc: var(cast<RefFuncExpr>(&e)->var); break;
      case ExprType::Block: exprs(cast<BlockExpr>(&e)->block.exprs); break;
      case ExprType::Loop: exprs(cast<LoopExpr>(&e)->block.exprs); break;
      case ExprType::If: {
        auto* x = cast<IfExpr>(&e);
        exprs(x->true_.exprs);
        exprs(x->false_);
        break;
      }
      case ExprType::Try: {
        auto* x = cast<TryExpr>(&e);
        exprs(x->block.exprs);
        for (Catch& c : x->catches) exprs(c.exprs);
        break;
      }
      default: break;
    }
  }

  Index first_;
};

Index find_or_add_func_type(Module& m, const TypeVector& params, const TypeVector& results) {
  for (Index i = 0; i < m.types.size(); ++i) {
    if (auto* ft = dyn_cast<FuncType>(m.types[i])) {
      if (ft->sig.param_types == params && ft->sig.result_types == results) return i;
    }
  }
  auto type = std::make_unique<FuncType>();
  type->sig.param_types = params;
  type->sig.result_types = results;
  auto field = std::make_unique<TypeModuleField>();
  field->type = std::move(type);
  m.AppendField(std::move(field));
  return static_cast<Index>(m.types.size() - 1);
}

FuncDeclaration decl_of(const Module& m, Index type_index) {
  FuncDeclaration d;
  d.has_func_type = true;
  d.type_var = Var(type_index, Location());
  d.sig = cast<FuncType>(m.types[type_index])->sig;
  return d;
}

template <typename T, typename... Args>
void push(ExprList& list, Args&&... args) {
  list.push_back(std::make_unique<T>(std::forward<Args>(args)...));
}

// if (fuel == 0) fuel = tick(kFuelExhausted); fuel -= 1;
ExprList fuel_check(Index fuel, Index tick) {
  ExprList out;
  push<GlobalGetExpr>(out, Var(fuel, Location()));
  push<ConvertExpr>(out, Opcode::I32Eqz);
  auto iff = std::make_unique<IfExpr>();
  push<ConstExpr>(iff->true_.exprs, Const::I32(kFuelExhausted));
  push<CallExpr>(iff->true_.exprs, Var(tick, Location()));
  push<GlobalSetExpr>(iff->true_.exprs, Var(fuel, Location()));
  out.push_back(std::move(iff));
  push<GlobalGetExpr>(out, Var(fuel, Location()));
  push<ConstExpr>(out, Const::I32(1));
  push<BinaryExpr>(out, Opcode::I32Sub);
  push<GlobalSetExpr>(out, Var(fuel, Location()));
  return out;
}

void prepend(ExprList& into, ExprList&& what) { into.splice(into.begin(), what); }

// Whether `e` is, or contains, a branch (which could start a loop's next iteration).
bool may_branch(const Expr& e);

bool any_branch(const ExprList& list) {
  for (const Expr& e : list) {
    if (may_branch(e)) return true;
  }
  return false;
}

bool may_branch(const Expr& e) {
  switch (e.type()) {
    case ExprType::Br:
    case ExprType::BrIf:
    case ExprType::BrTable:
    case ExprType::Loop:
    case ExprType::Try: return true;
    case ExprType::Block: return any_branch(cast<BlockExpr>(&e)->block.exprs);
    case ExprType::If: {
      auto* x = cast<IfExpr>(&e);
      return any_branch(x->true_.exprs) || any_branch(x->false_);
    }
    default: return false;
  }
}

// Whether every iteration of a loop with this body calls a function defined in the module
// before it can branch back: such a loop is stopped by the callee's entry check (native tier).
bool every_iteration_calls(const ExprList& body, Index first_defined) {
  for (const Expr& e : body) {
    if (e.type() == ExprType::Call) {
      const Var& v = cast<CallExpr>(&e)->var;
      if (v.is_index() && v.index() >= first_defined) return true;
    } else if (may_branch(e)) {
      return false;
    }
  }
  return false;
}

class Instrumenter {
 public:
  Instrumenter(Index fuel, Index tick, const std::vector<Index>& grow_funcs, bool entry_checks)
      : fuel_(fuel), tick_(tick), grow_funcs_(grow_funcs), entry_checks_(entry_checks) {}

  void function(Func& f) {
    walk(f.exprs);
    if (entry_checks_) prepend(f.exprs, fuel_check(fuel_, tick_));
  }

 private:
  void walk(ExprList& list) {
    for (auto it = list.begin(); it != list.end(); ++it) {
      Expr& e = *it;
      switch (e.type()) {
        case ExprType::Block: walk(cast<BlockExpr>(&e)->block.exprs); break;
        case ExprType::Loop: {
          auto& body = cast<LoopExpr>(&e)->block.exprs;
          // Without entry checks (native tier), a loop that calls a defined function on every
          // iteration is stopped by that function's prologue, so it needs no counter of its own.
          bool skip = !entry_checks_ && every_iteration_calls(body, tick_ + 1);
          walk(body);
          if (!skip) prepend(body, fuel_check(fuel_, tick_));
          break;
        }
        case ExprType::If: {
          auto* x = cast<IfExpr>(&e);
          walk(x->true_.exprs);
          walk(x->false_);
          break;
        }
        case ExprType::Try: {
          auto* x = cast<TryExpr>(&e);
          walk(x->block.exprs);
          for (Catch& c : x->catches) walk(c.exprs);
          break;
        }
        case ExprType::MemoryGrow: {
          auto* g = cast<MemoryGrowExpr>(&e);
          Index mem = g->memidx.is_index() ? g->memidx.index() : 0;
          auto call = std::make_unique<CallExpr>(Var(grow_funcs_.at(mem), e.loc));
          it = list.erase(it);
          it = list.insert(it, std::move(call));
          break;
        }
        default: break;
      }
    }
  }

  Index fuel_, tick_;
  const std::vector<Index>& grow_funcs_;
  bool entry_checks_;
};

}  // namespace

Result<Instrumented> instrument(std::span<const uint8_t> wasm, const InstrumentOptions& options) {
  using namespace wabt;
  Features features = wasm_features();
  Errors errors;
  Module m;
  ReadBinaryOptions read_opts(features, nullptr, /*read_debug_names=*/false,
                              /*stop_on_first_error=*/true, /*fail_on_custom_section_error=*/false);
  if (Failed(ReadBinaryIr("plugin.wasm", wasm.data(), wasm.size(), read_opts, &errors, &m))) {
    return Error(ErrorKind::InvalidModule, "malformed wasm module: " + format_wabt_errors(errors));
  }
  if (options.validate && Failed(ValidateModule(&m, &errors, ValidateOptions(features)))) {
    return Error(ErrorKind::InvalidModule, "invalid wasm module: " + format_wabt_errors(errors));
  }
  for (const Import* imp : m.imports) {
    if (imp->module_name == kRuntimeModule) {
      return Error(ErrorKind::InvalidModule,
                   fmt::format("the module imports \"{}\".\"{}\": that namespace is reserved by the host",
                               imp->module_name, imp->field_name));
    }
  }
  if (m.memories.size() > 1) {
    return Error(ErrorKind::InvalidModule, "the module declares more than one memory (multi-memory is not supported)");
  }

  // 1. Make room for the tick import: shift references to defined functions.
  const Index first_defined = m.num_func_imports;
  FuncIndexShifter shift(first_defined);
  for (Index i = first_defined; i < m.funcs.size(); ++i) shift.exprs(m.funcs[i]->exprs);
  for (Global* g : m.globals) shift.exprs(g->init_expr);
  for (ElemSegment* seg : m.elem_segments) {
    shift.exprs(seg->offset);
    for (ExprList& el : seg->elem_exprs) shift.exprs(el);
  }
  for (DataSegment* seg : m.data_segments) shift.exprs(seg->offset);
  for (Export* ex : m.exports) {
    if (ex->kind == ExternalKind::Func) shift.var(ex->var);
  }
  for (Var* start : m.starts) shift.var(*start);

  // 2. Add the import as the last function import.
  const Index tick_type = find_or_add_func_type(m, {Type::I32}, {Type::I32});
  auto imp = std::make_unique<FuncImport>();
  imp->module_name = std::string(kRuntimeModule);
  imp->field_name = std::string(kTickName);
  imp->func.decl = decl_of(m, tick_type);
  FuncImport* imp_raw = imp.get();
  auto imp_field = std::make_unique<ImportModuleField>(std::move(imp));
  // Keep the field list ordered: imports first.
  auto pos = m.fields.begin();
  while (pos != m.fields.end() && pos->type() == ModuleFieldType::Import) ++pos;
  m.fields.insert(pos, std::move(imp_field));
  m.imports.push_back(imp_raw);
  m.funcs.insert(m.funcs.begin() + first_defined, &imp_raw->func);
  const Index tick = first_defined;
  ++m.num_func_imports;
  const Index num_original_funcs = static_cast<Index>(m.funcs.size());

  // 3. The fuel global (appended: no global index moves).
  auto fuel_global = std::make_unique<GlobalModuleField>();
  fuel_global->global.type = Type::I32;
  fuel_global->global.mutable_ = true;
  push<ConstExpr>(fuel_global->global.init_expr, Const::I32(0));
  m.AppendField(std::move(fuel_global));
  const Index fuel = static_cast<Index>(m.globals.size() - 1);

  // 4. One grow wrapper per memory (appended: no function index moves).
  std::vector<Index> grow_funcs;
  const Index grow_type = find_or_add_func_type(m, {Type::I32}, {Type::I32});
  for (Index mem = 0; mem < m.memories.size(); ++mem) {
    auto field = std::make_unique<FuncModuleField>();
    Func& f = field->func;
    f.decl = decl_of(m, grow_type);
    f.local_types.Set({Type::I32});
    //   local.get 0; memory.grow; local.tee 1; i32.const -1; i32.eq;
    //   if  i32.const kMemoryGrowFailed; call tick; drop  end;  local.get 1
    push<LocalGetExpr>(f.exprs, Var(0, Location()));
    push<MemoryGrowExpr>(f.exprs, Var(mem, Location()));
    push<LocalTeeExpr>(f.exprs, Var(1, Location()));
    push<ConstExpr>(f.exprs, Const::I32(-1));
    push<CompareExpr>(f.exprs, Opcode::I32Eq);
    auto iff = std::make_unique<IfExpr>();
    push<ConstExpr>(iff->true_.exprs, Const::I32(kMemoryGrowFailed));
    push<CallExpr>(iff->true_.exprs, Var(tick, Location()));
    push<DropExpr>(iff->true_.exprs);
    f.exprs.push_back(std::move(iff));
    push<LocalGetExpr>(f.exprs, Var(1, Location()));
    m.AppendField(std::move(field));
    grow_funcs.push_back(static_cast<Index>(m.funcs.size() - 1));
  }

  // 5. Deadline checks in every original defined function (not in the wrappers).
  Instrumenter inst(fuel, tick, grow_funcs, options.entry_checks);
  for (Index i = tick + 1; i < num_original_funcs; ++i) inst.function(*m.funcs[i]);

  MemoryStream stream;
  WriteBinaryOptions write_opts(features, /*canonicalize_lebs=*/true, /*relocatable=*/false,
                                /*write_debug_names=*/false);
  if (Failed(WriteBinaryModule(&stream, &m, write_opts))) {
    return Error(ErrorKind::Internal, "instrumentation failed to write the module");
  }
  Instrumented out;
  out.wasm = std::move(stream.output_buffer().data);
  return out;
}

}  // namespace wasimancer::engine

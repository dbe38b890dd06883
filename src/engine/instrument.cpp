#include "engine/instrument.hpp"

#include <algorithm>
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

#include "engine/limits.hpp"
#include "engine/wabt_util.hpp"

namespace wasimancer::engine {

namespace {

using namespace wabt;

// Every pass below is iterative: a module's nesting depth is bounded (engine/limits.hpp), but
// nothing here relies on it.

enum class ListKind { Body, Block, Loop, IfTrue, IfFalse, Try, Catch };
struct ListRef {
  ExprList* list;
  ListKind kind;
};

// The expression lists of a function body: the body and every nested block, loop, if branch
// and try body (breadth first, no recursion).
std::vector<ListRef> lists_of(ExprList& body) {
  std::vector<ListRef> out{{&body, ListKind::Body}};
  for (size_t i = 0; i < out.size(); ++i) {
    for (Expr& e : *out[i].list) {
      switch (e.type()) {
        case ExprType::Block: out.push_back({&cast<BlockExpr>(&e)->block.exprs, ListKind::Block}); break;
        case ExprType::Loop: out.push_back({&cast<LoopExpr>(&e)->block.exprs, ListKind::Loop}); break;
        case ExprType::If: {
          auto* x = cast<IfExpr>(&e);
          out.push_back({&x->true_.exprs, ListKind::IfTrue});
          out.push_back({&x->false_, ListKind::IfFalse});
          break;
        }
        case ExprType::Try: {
          auto* x = cast<TryExpr>(&e);
          out.push_back({&x->block.exprs, ListKind::Try});
          for (Catch& c : x->catches) out.push_back({&c.exprs, ListKind::Catch});
          break;
        }
        default: break;
      }
    }
  }
  return out;
}

// Shifts every reference to a defined function by one, to make room for the added import.
class FuncIndexShifter {
 public:
  explicit FuncIndexShifter(Index first_defined) : first_(first_defined) {}

  void var(Var& v) const {
    if (v.is_index() && v.index() >= first_) v.set_index(v.index() + 1);
  }

  void exprs(ExprList& root) const {
    for (const ListRef& l : lists_of(root)) {
      for (Expr& e : *l.list) {
        switch (e.type()) {
          case ExprType::Call: var(cast<CallExpr>(&e)->var); break;
          case ExprType::ReturnCall: var(cast<ReturnCallExpr>(&e)->var); break;
          case ExprType::RefFunc: var(cast<RefFuncExpr>(&e)->var); break;
          default: break;
        }
      }
    }
  }

 private:
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

// stack += cost; if (stack > kStackUnits) tick(kStackExhausted);
ExprList stack_enter(Index stack, Index tick, int32_t cost) {
  ExprList out;
  push<GlobalGetExpr>(out, Var(stack, Location()));
  push<ConstExpr>(out, Const::I32(cost));
  push<BinaryExpr>(out, Opcode::I32Add);
  push<GlobalSetExpr>(out, Var(stack, Location()));
  push<GlobalGetExpr>(out, Var(stack, Location()));
  push<ConstExpr>(out, Const::I32(kStackUnits));
  push<CompareExpr>(out, Opcode::I32GtS);
  auto iff = std::make_unique<IfExpr>();
  push<ConstExpr>(iff->true_.exprs, Const::I32(kStackExhausted));
  push<CallExpr>(iff->true_.exprs, Var(tick, Location()));
  push<DropExpr>(iff->true_.exprs);
  out.push_back(std::move(iff));
  return out;
}

// stack -= cost;
ExprList stack_leave(Index stack, int32_t cost) {
  ExprList out;
  push<GlobalGetExpr>(out, Var(stack, Location()));
  push<ConstExpr>(out, Const::I32(cost));
  push<BinaryExpr>(out, Opcode::I32Sub);
  push<GlobalSetExpr>(out, Var(stack, Location()));
  return out;
}

void prepend(ExprList& into, ExprList&& what) { into.splice(into.begin(), what); }

// Whether `list` contains a branch (which could start a loop's next iteration), at any depth.
bool any_branch(const ExprList& root) {
  std::vector<const ExprList*> todo{&root};
  while (!todo.empty()) {
    const ExprList* list = todo.back();
    todo.pop_back();
    for (const Expr& e : *list) {
      switch (e.type()) {
        case ExprType::Br:
        case ExprType::BrIf:
        case ExprType::BrTable:
        case ExprType::Loop:
        case ExprType::Try: return true;
        case ExprType::Block: todo.push_back(&cast<BlockExpr>(&e)->block.exprs); break;
        case ExprType::If: {
          auto* x = cast<IfExpr>(&e);
          todo.push_back(&x->true_.exprs);
          todo.push_back(&x->false_);
          break;
        }
        default: break;
      }
    }
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

// The most values `f`'s body can hold on the operand stack at once: an upper bound (pops in
// unreachable code are clamped at the enclosing block's base). Iterative.
int64_t max_operand_height(const Module& m, const Func& f) {
  struct Frame {
    ExprList::const_iterator it, end;
    int64_t base;                 // height below the block's parameters
    int64_t params, results;
    const ExprList* pending_else; // an if's false branch, still to walk
  };
  std::vector<Frame> stack;
  stack.push_back({f.exprs.begin(), f.exprs.end(), 0, 0, static_cast<int64_t>(f.GetNumResults()), nullptr});
  int64_t h = 0, max_h = 0;
  auto arity = [&](const FuncDeclaration& d, int64_t* p, int64_t* r) {
    *p = d.GetNumParams();
    *r = d.GetNumResults();
  };
  while (!stack.empty()) {
    Frame& fr = stack.back();
    if (fr.it == fr.end) {
      if (fr.pending_else) {
        const ExprList* e = fr.pending_else;
        fr.pending_else = nullptr;
        fr.it = e->begin();
        fr.end = e->end();
        h = fr.base + fr.params;
        continue;
      }
      h = fr.base + fr.results;
      stack.pop_back();
      max_h = std::max(max_h, h);
      continue;
    }
    const Expr& e = *fr.it++;
    const int64_t base = fr.base;
    int64_t p = 0, r = 0;
    switch (e.type()) {
      case ExprType::Block:
      case ExprType::Loop: {
        const Block& b = e.type() == ExprType::Block ? cast<BlockExpr>(&e)->block : cast<LoopExpr>(&e)->block;
        arity(b.decl, &p, &r);
        h = std::max(h - p, base);
        stack.push_back({b.exprs.begin(), b.exprs.end(), h, p, r, nullptr});
        h += p;
        break;
      }
      case ExprType::If: {
        auto* x = cast<IfExpr>(&e);
        arity(x->true_.decl, &p, &r);
        h = std::max(h - 1 - p, base);
        stack.push_back({x->true_.exprs.begin(), x->true_.exprs.end(), h, p, r, &x->false_});
        h += p;
        break;
      }
      case ExprType::Try: {  // not an accepted feature; counted conservatively
        auto* x = cast<TryExpr>(&e);
        arity(x->block.decl, &p, &r);
        h = std::max(h - p, base);
        stack.push_back({x->block.exprs.begin(), x->block.exprs.end(), h, p, r, nullptr});
        h += p;
        break;
      }
      case ExprType::Call: {
        const Func* callee = m.GetFunc(cast<CallExpr>(&e)->var);
        if (callee) arity(callee->decl, &p, &r);
        h = std::max(h - p, base) + r;
        break;
      }
      case ExprType::CallIndirect:
        arity(cast<CallIndirectExpr>(&e)->decl, &p, &r);
        h = std::max(h - p - 1, base) + r;
        break;
      case ExprType::Binary:
      case ExprType::Compare:
      case ExprType::BrIf:
      case ExprType::LocalSet:
      case ExprType::GlobalSet:
      case ExprType::Drop:
      case ExprType::TableGrow:
      case ExprType::BrTable: h = std::max(h - 1, base); break;
      case ExprType::Store:
      case ExprType::TableSet: h = std::max(h - 2, base); break;
      case ExprType::Select: h = std::max(h - 2, base); break;
      case ExprType::MemoryFill:
      case ExprType::MemoryCopy:
      case ExprType::MemoryInit:
      case ExprType::TableInit:
      case ExprType::TableCopy:
      case ExprType::TableFill: h = std::max(h - 3, base); break;
      case ExprType::Unary:
      case ExprType::Convert:
      case ExprType::Load:
      case ExprType::LocalTee:
      case ExprType::MemoryGrow:
      case ExprType::TableGet:
      case ExprType::RefIsNull:
      case ExprType::Nop:
      case ExprType::DataDrop:
      case ExprType::ElemDrop:
      case ExprType::Br:
      case ExprType::Return:
      case ExprType::Unreachable: break;
      default: h += 1; break;  // constants, gets, sizes, ref.null/ref.func: one value
    }
    max_h = std::max(max_h, h);
  }
  return max_h;
}

// What one frame of `f` costs in stack units.
int32_t frame_cost(const Module& m, const Func& f) {
  int64_t units = int64_t(f.GetNumParams()) + int64_t(f.GetNumLocals()) + max_operand_height(m, f) + 2;
  return static_cast<int32_t>(std::clamp<int64_t>(units, kMinFrameUnits, int64_t(kStackUnits) + 1));
}

class Instrumenter {
 public:
  Instrumenter(Module& m, Index fuel, Index tick, Index stack, const std::vector<Index>& grow_funcs, bool entry_checks)
      : m_(m), fuel_(fuel), tick_(tick), stack_(stack), grow_funcs_(grow_funcs), entry_checks_(entry_checks) {}

  void function(Func& f, int32_t cost) {
    for (const ListRef& l : lists_of(f.exprs)) {
      ExprList& list = *l.list;
      if (l.kind == ListKind::Loop) {
        // Without entry checks (native tier), a loop that calls a defined function on every
        // iteration is stopped by that function's prologue, so it needs no counter of its own.
        bool skip = !entry_checks_ && every_iteration_calls(list, tick_ + 1);
        if (!skip) prepend(list, fuel_check(fuel_, tick_));
      }
      for (auto it = list.begin(); it != list.end(); ++it) {
        if (it->type() == ExprType::MemoryGrow) {
          auto* g = cast<MemoryGrowExpr>(&*it);
          Index mem = g->memidx.is_index() ? g->memidx.index() : 0;
          auto call = std::make_unique<CallExpr>(Var(grow_funcs_.at(mem), it->loc));
          it = list.erase(it);
          it = list.insert(it, std::move(call));
        } else if (it->type() == ExprType::Return) {
          ExprList leave = stack_leave(stack_, cost);
          list.splice(it, leave);
        }
      }
    }
    // The body runs in a block of the function's result type, so every way out of it (falling
    // off the end, a branch to the function's label) passes the stack release after it.
    auto body = std::make_unique<BlockExpr>();
    const TypeVector& results = f.decl.sig.result_types;
    if (results.size() > 1) {
      body->block.decl = decl_of(m_, find_or_add_func_type(m_, {}, results));
    } else {
      body->block.decl.has_func_type = false;
      body->block.decl.sig.result_types = results;
    }
    body->block.exprs.splice(body->block.exprs.begin(), f.exprs);
    ExprList out = stack_enter(stack_, tick_, cost);
    if (entry_checks_) out.splice(out.end(), fuel_check(fuel_, tick_));
    out.push_back(std::move(body));
    out.splice(out.end(), stack_leave(stack_, cost));
    f.exprs.splice(f.exprs.begin(), out);
  }

 private:
  Module& m_;
  Index fuel_, tick_, stack_;
  const std::vector<Index>& grow_funcs_;
  bool entry_checks_;
};

Index add_global_i32(Module& m) {
  auto g = std::make_unique<GlobalModuleField>();
  g->global.type = Type::I32;
  g->global.mutable_ = true;
  push<ConstExpr>(g->global.init_expr, Const::I32(0));
  m.AppendField(std::move(g));
  return static_cast<Index>(m.globals.size() - 1);
}

}  // namespace

Result<Instrumented> instrument(std::span<const uint8_t> wasm, const InstrumentOptions& options) {
  using namespace wabt;
  if (options.validate) {
    if (auto r = check_module(wasm); !r) return r.take_error();
  }
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
  for (const Export* ex : m.exports) {
    if (ex->name == kStackExport) {
      return Error(ErrorKind::InvalidModule, fmt::format("the module exports \"{}\": that name is reserved by the host", ex->name));
    }
  }

  // 0. What each defined function's frame costs, measured on the module as given.
  const Index first_defined = m.num_func_imports;
  std::vector<int32_t> costs;
  costs.reserve(m.funcs.size() - first_defined);
  for (Index i = first_defined; i < m.funcs.size(); ++i) costs.push_back(frame_cost(m, *m.funcs[i]));

  // 1. No name of the module's choosing reaches generated code (native tier).
  if (options.safe_names) {
    for (size_t k = 0; k < m.imports.size(); ++k) {
      m.imports[k]->module_name = "h";
      m.imports[k]->field_name = fmt::format("i{}", k);
    }
    for (size_t k = 0; k < m.exports.size(); ++k) m.exports[k]->name = fmt::format("e{}", k);
  }

  // 2. Make room for the tick import: shift references to defined functions.
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

  // 3. Add the import as the last function import.
  const Index tick_type = find_or_add_func_type(m, {Type::I32}, {Type::I32});
  auto imp = std::make_unique<FuncImport>();
  imp->module_name = options.safe_names ? "h" : std::string(kRuntimeModule);
  imp->field_name = options.safe_names ? "t" : std::string(kTickName);
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

  // 4. The fuel and stack globals (appended: no global index moves); the stack one exported.
  const Index fuel = add_global_i32(m);
  const Index stack = add_global_i32(m);
  {
    auto ex = std::make_unique<ExportModuleField>();
    ex->export_.name = std::string(options.safe_names ? kSafeStackExport : kStackExport);
    ex->export_.kind = ExternalKind::Global;
    ex->export_.var = Var(stack, Location());
    m.AppendField(std::move(ex));
  }

  // 5. One grow wrapper per memory (appended: no function index moves).
  std::vector<Index> grow_funcs;
  const Index grow_type = find_or_add_func_type(m, {Type::I32}, {Type::I32});
  for (Index mem = 0; mem < m.memories.size(); ++mem) {
    const Limits& lim = m.memories[mem]->page_limits;
    const uint64_t max_pages = std::min<uint64_t>(lim.has_max ? lim.max : 65536, kMaxMemoryPages);
    auto field = std::make_unique<FuncModuleField>();
    Func& f = field->func;
    f.decl = decl_of(m, grow_type);
    f.local_types.Set({Type::I32});
    //   if (u64(memory.size) + u64(delta) > max_pages) return -1;
    push<MemorySizeExpr>(f.exprs, Var(mem, Location()));
    push<ConvertExpr>(f.exprs, Opcode::I64ExtendI32U);
    push<LocalGetExpr>(f.exprs, Var(0, Location()));
    push<ConvertExpr>(f.exprs, Opcode::I64ExtendI32U);
    push<BinaryExpr>(f.exprs, Opcode::I64Add);
    push<ConstExpr>(f.exprs, Const::I64(max_pages));
    push<CompareExpr>(f.exprs, Opcode::I64GtU);
    auto over = std::make_unique<IfExpr>();
    push<ConstExpr>(over->true_.exprs, Const::I32(-1));
    push<ReturnExpr>(over->true_.exprs);
    f.exprs.push_back(std::move(over));
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

  // 6. Deadline checks and stack accounting in every original defined function (not in the
  // wrappers).
  Instrumenter inst(m, fuel, tick, stack, grow_funcs, options.entry_checks);
  for (Index i = tick + 1; i < num_original_funcs; ++i) inst.function(*m.funcs[i], costs[i - tick - 1]);

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

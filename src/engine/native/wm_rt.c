/* engine/native/wm_rt.c: wasimancer's implementation of wasm-rt.h for wasm2c output.
 *
 * Compiled into every native plugin together with the generated code (the glue includes it),
 * with hidden visibility, so each plugin has its own copy and shares nothing with others.
 *   - traps longjmp to a thread-local jump buffer set by the entry point: thread-safe;
 *   - linear memory is a private anonymous mapping reserved up to the page limit, so growing
 *     never moves it; allocation over the limit traps with WM_TRAP_OOM;
 *   - stack exhaustion and interruption are checked by the glue's function prologue against a
 *     limit kept after the instance, not in a global;
 *   - the function-type registry is filled once per loaded plugin (pthread_once) under a mutex
 *     and freed when the shared object is unloaded.
 * Ownership: everything an instance allocates here (its memory mapping, its tables) is
 * released by the glue's wm_free (wasm2c's Z_m_free), even for a half-built instance.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wasm-rt.h"
#include "wm_native_abi.h"

#define WM_HIDDEN __attribute__((visibility("hidden")))

static __thread jmp_buf* wm_jmp;
static __thread wm_ctx* wm_current;

WM_HIDDEN void wasm_rt_init(void) {}
WM_HIDDEN bool wasm_rt_is_initialized(void) { return true; }
WM_HIDDEN void wasm_rt_free(void) {}

WM_HIDDEN void wasm_rt_trap(wasm_rt_trap_t code) {
  int c = (int)code;
  if (c == WASM_RT_TRAP_EXHAUSTION) c = WM_TRAP_EXHAUSTION;
  longjmp(*wm_jmp, c == 0 ? WM_TRAP_UNREACHABLE : c);
}

static void wm_trap(int code) { longjmp(*wm_jmp, code); }

WM_HIDDEN const char* wasm_rt_strerror(wasm_rt_trap_t trap) {
  switch (trap) {
    case WASM_RT_TRAP_NONE: return "no error";
    case WASM_RT_TRAP_OOB: return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "unreachable";
    case WASM_RT_TRAP_CALL_INDIRECT: return "indirect call signature mismatch";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return "uncaught exception";
    default: return "call stack exhausted";
  }
}

/* ---- function types: each distinct signature gets one index ----
 * call_indirect compares these indices, so two signatures share one only if they are equal in
 * every parameter and result, whatever their arity. */
typedef struct {
  uint32_t params, results;
  wasm_rt_type_t* types; /* params + results entries */
} wm_func_type;
static wm_func_type* wm_types;
static uint32_t wm_ntypes, wm_captypes;
static pthread_mutex_t wm_types_mu = PTHREAD_MUTEX_INITIALIZER;

static int wm_same_type(const wm_func_type* a, const wm_func_type* b) {
  if (a->params != b->params || a->results != b->results) return 0;
  uint64_t n = (uint64_t)a->params + a->results;
  return n == 0 || memcmp(a->types, b->types, (size_t)n * sizeof *a->types) == 0;
}

/* Takes ownership of t->types. */
static uint32_t wm_register(wm_func_type* t) {
  for (uint32_t i = 0; i < wm_ntypes; i++) {
    if (wm_same_type(&wm_types[i], t)) {
      free(t->types);
      return i;
    }
  }
  if (wm_ntypes == wm_captypes) {
    wm_captypes = wm_captypes ? wm_captypes * 2 : 16;
    wm_types = (wm_func_type*)realloc(wm_types, wm_captypes * sizeof *wm_types);
    if (!wm_types) abort();
  }
  wm_types[wm_ntypes] = *t;
  return wm_ntypes++;
}

/* Runs when the plugin's shared object is unloaded (dlclose after its last instance is gone), so
 * unloading a replaced plugin version returns the registry's memory. */
__attribute__((destructor)) static void wm_types_free(void) {
  for (uint32_t i = 0; i < wm_ntypes; i++) free(wm_types[i].types);
  free(wm_types);
  wm_types = 0;
  wm_ntypes = wm_captypes = 0;
}

/* Thread-safe: equal signatures always get the same index. */
WM_HIDDEN uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  wm_func_type t;
  t.params = params;
  t.results = results;
  uint64_t n = (uint64_t)params + results;
  t.types = (wasm_rt_type_t*)calloc(n ? (size_t)n : 1, sizeof *t.types);
  if (!t.types) abort();
  va_list ap;
  va_start(ap, results);
  for (uint64_t i = 0; i < n; i++) t.types[i] = (wasm_rt_type_t)va_arg(ap, int);
  va_end(ap);
  pthread_mutex_lock(&wm_types_mu);
  uint32_t index = wm_register(&t);
  pthread_mutex_unlock(&wm_types_mu);
  return index;
}

/* ---- exceptions (the exceptions proposal is not enabled; present for linking) ---- */
static uint32_t wm_ntags;
WM_HIDDEN uint32_t wasm_rt_register_tag(uint32_t size) { (void)size; return wm_ntags++; }
WM_HIDDEN void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void* values) { (void)tag; (void)size; (void)values; }
WM_HIDDEN void wasm_rt_throw(void) { wm_trap(WM_TRAP_UNCAUGHT_EXCEPTION); }
WM_HIDDEN WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void) { return wm_jmp; }
WM_HIDDEN void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET* target) { wm_jmp = target; }
WM_HIDDEN uint32_t wasm_rt_exception_tag(void) { return 0; }
WM_HIDDEN uint32_t wasm_rt_exception_size(void) { return 0; }
WM_HIDDEN void* wasm_rt_exception(void) { return 0; }

/* ---- linear memory ---- */
#define WM_PAGE 65536ull

/* wasm-rt.h keeps the byte size in a uint32_t, so 65536 pages (4 GiB) would wrap to 0: the
 * largest memory this runtime holds is one page less (the interpreter is capped alike:
 * engine/instrument.hpp kMaxMemoryPages). */
#define WM_MAX_PAGES 65535u

static uint32_t wm_cap(uint32_t declared_max) {
  uint32_t cap = wm_current && wm_current->max_pages < WM_MAX_PAGES ? wm_current->max_pages : WM_MAX_PAGES;
  return declared_max < cap ? declared_max : cap;
}

WM_HIDDEN void wasm_rt_allocate_memory(wasm_rt_memory_t* mem, uint32_t initial, uint32_t max) {
  uint32_t cap = wm_cap(max);
  if (initial > cap) wm_trap(WM_TRAP_OOM);
  size_t reserve = (size_t)cap * WM_PAGE;
  uint8_t* data = 0;
  if (reserve) {
    data = (uint8_t*)mmap(0, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (data == MAP_FAILED) wm_trap(WM_TRAP_OOM);
    if (initial && mprotect(data, (size_t)initial * WM_PAGE, PROT_READ | PROT_WRITE) != 0) {
      munmap(data, reserve);
      wm_trap(WM_TRAP_OOM);
    }
  }
  mem->data = data;
  mem->pages = initial;
  mem->max_pages = cap;
  mem->size = (uint32_t)(initial * WM_PAGE);
}

WM_HIDDEN uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* mem, uint32_t delta) {
  uint32_t old = mem->pages;
  if (delta == 0) return old;
  if ((uint64_t)old + delta > mem->max_pages) return (uint32_t)-1;
  if (mprotect(mem->data + (size_t)old * WM_PAGE, (size_t)delta * WM_PAGE, PROT_READ | PROT_WRITE) != 0) return (uint32_t)-1;
  mem->pages = old + delta;
  mem->size = (uint32_t)((uint64_t)mem->pages * WM_PAGE);
  return old;
}

WM_HIDDEN void wasm_rt_free_memory(wasm_rt_memory_t* mem) {
  if (mem->data && mem->max_pages) munmap(mem->data, (size_t)mem->max_pages * WM_PAGE);
  mem->data = 0;
}

/* ---- tables: the same three functions for each element type ----
 * Every table is capped at ctx->max_table_elements (the host's share of the plugin's memory
 * budget per table): a larger initial size fails instantiation, growth past it returns -1. */
static uint32_t wm_table_cap(uint32_t declared_max) {
  uint32_t cap = wm_current ? wm_current->max_table_elements : 0;
  return declared_max < cap ? declared_max : cap;
}
#define WM_DEFINE_TABLE(kind, type)                                                                 \
  WM_HIDDEN void wasm_rt_allocate_##kind##_table(wasm_rt_##kind##_table_t* t, uint32_t elements, uint32_t max) { \
    uint32_t cap = wm_table_cap(max);                                                                \
    if (elements > cap) wm_trap(WM_TRAP_OOM);                                                        \
    t->size = elements;                                                                              \
    t->max_size = cap;                                                                               \
    t->data = (type*)calloc(elements ? elements : 1, sizeof(type));                                  \
    if (!t->data) wm_trap(WM_TRAP_OOM);                                                              \
  }                                                                                                  \
  WM_HIDDEN void wasm_rt_free_##kind##_table(wasm_rt_##kind##_table_t* t) {                          \
    free(t->data);                                                                                   \
    t->data = 0;                                                                                     \
  }                                                                                                  \
  WM_HIDDEN uint32_t wasm_rt_grow_##kind##_table(wasm_rt_##kind##_table_t* t, uint32_t delta, type init) { \
    uint32_t old = t->size;                                                                          \
    uint64_t n = (uint64_t)old + delta;                                                              \
    if (n > t->max_size) return (uint32_t)-1;                                                        \
    if (delta == 0) return old;                                                                      \
    type* d = (type*)realloc(t->data, (size_t)n * sizeof(type));                                     \
    if (!d) return (uint32_t)-1;                                                                     \
    for (uint64_t i = old; i < n; i++) d[i] = init;                                                  \
    t->data = d;                                                                                     \
    t->size = (uint32_t)n;                                                                           \
    return old;                                                                                      \
  }
WM_DEFINE_TABLE(funcref, wasm_rt_funcref_t)
WM_DEFINE_TABLE(externref, wasm_rt_externref_t)

/* ---- entry: runs `body` with the trap buffer and context installed ---- */
#define WM_ENTER(ctx, body)                    \
  do {                                         \
    jmp_buf wm_buf;                            \
    jmp_buf* wm_saved_jmp = wm_jmp;            \
    wm_ctx* wm_saved_ctx = wm_current;         \
    wm_jmp = &wm_buf;                          \
    wm_current = (ctx);                        \
    int wm_code = setjmp(wm_buf);              \
    if (wm_code == 0) {                        \
      body;                                    \
    }                                          \
    wm_jmp = wm_saved_jmp;                     \
    wm_current = wm_saved_ctx;                 \
    return wm_code;                            \
  } while (0)

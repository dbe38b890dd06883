/* engine/native/wm_native_abi.h: the interface between the host and a plugin compiled to a
 * shared object by the native tier (wasm2c output + our glue + our runtime, wm_rt.c).
 *
 * The host fills a wm_ctx per instance and passes it as every import module's instance
 * pointer; the glue's import functions call ctx->host_call. A trap anywhere inside the shared
 * object (a wasm trap, or a host function asking to stop) longjmps back to the entry point,
 * which returns a non-zero wm_trap code.
 *
 * Ownership: the host allocates wm_instance_size() bytes per instance and owns them, and its
 * wm_ctx must outlive the instance; wm_free releases what the instance allocated (its memory
 * mapping and tables), even after a failed wm_instantiate. Thread safety: one thread per
 * instance at a time (wm_interrupt excepted); the jump buffer is thread-local.
 */
#ifndef WM_NATIVE_ABI_H
#define WM_NATIVE_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WM_NATIVE_ABI_VERSION 4

enum wm_trap {
  WM_OK = 0,
  WM_TRAP_OOB = 1,
  WM_TRAP_INT_OVERFLOW = 2,
  WM_TRAP_DIV_BY_ZERO = 3,
  WM_TRAP_INVALID_CONVERSION = 4,
  WM_TRAP_UNREACHABLE = 5,
  WM_TRAP_CALL_INDIRECT = 6,
  WM_TRAP_UNCAUGHT_EXCEPTION = 7,
  WM_TRAP_EXHAUSTION = 8,
  WM_TRAP_HOST = 100,      /* a host function returned a trap; the host holds the details */
  WM_TRAP_OOM = 101,       /* a memory or table could not be allocated within the limit */
  WM_TRAP_NO_EXPORT = 102, /* no such export index */
  WM_TRAP_INTERRUPTED = 103, /* wm_interrupt was called (the deadline passed or the call was cancelled) */
};

typedef struct wm_ctx {
  /* Called by every import. Returns 0 to continue, non-zero to trap (WM_TRAP_HOST). */
  int (*host_call)(struct wm_ctx* ctx, uint32_t import_index, const uint64_t* args, uint64_t* results);
  uint32_t max_pages;     /* a linear memory may not grow beyond this many pages */
  uint32_t max_table_elements; /* nor a table beyond this many elements */
  uintptr_t stack_limit;  /* a wasm function entered with the stack pointer below this traps */
  void* host;             /* the host's instance object */
} wm_ctx;

/* Entry points every compiled plugin exports. */
typedef uint32_t (*wm_abi_version_fn)(void);
typedef void (*wm_init_module_fn)(void);
typedef uint64_t (*wm_instance_size_fn)(void);
typedef int (*wm_instantiate_fn)(void* instance, wm_ctx* ctx);
typedef void (*wm_free_fn)(void* instance);
typedef int (*wm_memory_fn)(void* instance, uint8_t** data, uint64_t* size);
/* Calls the function export number export_index (its position among the module's exports) with
 * one slot per parameter; writes one slot per result (results has room for them all). Slots:
 * integers zero-extended, floats as bit patterns, externref as the host's value (0: null),
 * funcref as 0 (null) or 1 (arguments: null only). */
typedef int (*wm_call_fn)(void* instance, wm_ctx* ctx, uint32_t export_index, const uint64_t* args, uint64_t* results);
/* Reads the global export number export_index into *value (a slot, as above): 1, or 0 if that
 * export is not a global. */
typedef int (*wm_global_fn)(void* instance, uint32_t export_index, uint64_t* value);
/* Stops the instance's running call at the next function entry (WM_TRAP_INTERRUPTED). Safe to
 * call from another thread while the call runs; loops are stopped by the deadline checks. */
typedef void (*wm_interrupt_fn)(void* instance);
/* Re-installs ctx's stack limit after an interrupt that turned out not to be due (the deadline
 * moved). Called on the call's own thread, from a host function. */
typedef void (*wm_arm_fn)(void* instance, wm_ctx* ctx);
/* Ends the running call with WM_TRAP_EXHAUSTION. Called by the host's stack-guard fault
 * handler, on the call's own thread, when a frame ran into the guard page (SIGSEGV unblocked). */
typedef void (*wm_stack_overflow_fn)(void);

#ifdef __cplusplus
}
#endif

#endif

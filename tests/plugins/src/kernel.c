/* kernel.c: kernel-memory semantics. Each export reports what it observed as
 * text; the exact expected text is in ../README.md. */
#include "wasimancer-pdk.h"

/* A tiny text builder in guest memory. */
typedef struct { char b[512]; size_t n; } text;
static void t_str(text *t, const char *s) { while (*s && t->n < sizeof t->b) t->b[t->n++] = *s++; }
static void t_u64(text *t, uint64_t v) { char d[21]; size_t k = wm_fmt_u64(v, d); for (size_t i = 0; i < k && t->n < sizeof t->b; i++) t->b[t->n++] = d[i]; }
static void t_hex8(text *t, uint8_t v) { static const char h[] = "0123456789abcdef"; if (t->n + 2 <= sizeof t->b) { t->b[t->n++] = h[v >> 4]; t->b[t->n++] = h[v & 15]; } }
static void t_kv(text *t, const char *k, uint64_t v) { if (t->n) t_str(t, " "); t_str(t, k); t_str(t, "="); t_u64(t, v); }
static void t_out(text *t) { wm_output_buf(t->b, t->n); }

#define FAR ((uint64_t)1 << 40)
#define GARBAGE ((uint64_t)0x00DEADBEEF123457ull)

/* Output: decimal alloc(0) -> "0". */
WM_EXPORT(alloc_zero) int32_t alloc_zero(void) { wm_output_u64(wm_alloc(0)); return 0; }

/* Output: "fresh=16 unsafe=16 interior=0 freed=0 null=0 garbage=0". */
WM_EXPORT(length_checks) int32_t length_checks(void) {
  text t = {0};
  wm_handle h = wm_alloc(16);
  wm_handle keep = wm_alloc(8); /* so h is not the last block */
  t_kv(&t, "fresh", wm_length(h));
  t_kv(&t, "unsafe", wm_length_unsafe(h));
  t_kv(&t, "interior", wm_length(h + 1));
  wm_free(h);
  t_kv(&t, "freed", wm_length(h));
  t_kv(&t, "null", wm_length(0));
  t_kv(&t, "garbage", wm_length(GARBAGE));
  (void)keep;
  t_out(&t);
  return 0;
}

/* Frees twice, frees 0, garbage, an interior pointer and a far offset; then
 * checks a neighbour block is intact. Output: "ok" (or "neighbour damaged"). */
WM_EXPORT(double_free) int32_t double_free(void) {
  wm_handle a = wm_alloc(24);
  wm_handle b = wm_alloc(24);
  wm_store_u64(b, 0x1122334455667788ull);
  wm_free(a);
  wm_free(a);
  wm_free(0);
  wm_free(GARBAGE);
  wm_free(FAR);
  wm_free(b + 3);
  wm_free(~(uint64_t)0);
  if (wm_length(b) != 24 || wm_load_u64(b) != 0x1122334455667788ull) { wm_output_str("neighbour damaged"); return 0; }
  wm_output_str("ok");
  return 0;
}

/* Output: "differ" (a freed offset is not re-issued in the same call), or "reused". */
WM_EXPORT(no_reuse) int32_t no_reuse(void) {
  wm_handle a = wm_alloc(32);
  wm_free(a);
  wm_handle b = wm_alloc(32);
  wm_output_str(a != b && wm_length(b) == 32 && wm_length(a) == 0 ? "differ" : "reused");
  return 0;
}

/* Output: "load_u8=0 load_u64=0 after_store_u8=0 after_store_u64=0 wrap_u8=0 wrap_u64=0 block=ok". */
WM_EXPORT(oob) int32_t oob(void) {
  text t = {0};
  wm_handle h = wm_alloc(8);
  wm_store_u64(h, 0x0102030405060708ull);
  t_kv(&t, "load_u8", wm_load_u8(FAR));
  t_kv(&t, "load_u64", wm_load_u64(FAR));
  wm_store_u8(FAR, 7);
  wm_store_u64(FAR + 8, 0xFFFFFFFFFFFFFFFFull);
  t_kv(&t, "after_store_u8", wm_load_u8(FAR));
  t_kv(&t, "after_store_u64", wm_load_u64(FAR + 8));
  /* offsets where offset+8 overflows u64 */
  wm_store_u64(~(uint64_t)0 - 3, 0xFFFFFFFFFFFFFFFFull);
  wm_store_u8(~(uint64_t)0, 9);
  t_kv(&t, "wrap_u8", wm_load_u8(~(uint64_t)0));
  t_kv(&t, "wrap_u64", wm_load_u64(~(uint64_t)0 - 3));
  t_str(&t, wm_load_u64(h) == 0x0102030405060708ull ? " block=ok" : " block=damaged");
  t_out(&t);
  return 0;
}

/* store_u64 at an odd offset, then the 8 bytes back with load_u8 (hex), then
 * load_u64 at the same odd offset (hex, most significant first).
 * Output: "0807060504030201 0102030405060708". */
WM_EXPORT(unaligned_u64) int32_t unaligned_u64(void) {
  text t = {0};
  wm_handle h = wm_alloc(19);
  wm_store_u64(h + 3, 0x0102030405060708ull);
  for (int i = 0; i < 8; i++) t_hex8(&t, wm_load_u8(h + 3 + (uint64_t)i));
  t_str(&t, " ");
  uint64_t v = wm_load_u64(h + 3);
  for (int i = 7; i >= 0; i--) t_hex8(&t, (uint8_t)(v >> (8 * i)));
  t_out(&t);
  return 0;
}

/* Checks the input block. Output: "ok <input_length>" or "FAIL <what>". */
WM_EXPORT(input_block) int32_t input_block(void) {
  wm_handle in = wm_input_offset();
  uint64_t n = wm_input_length();
  if (n == 0 && in != 0) { wm_output_str("FAIL empty input has non-zero offset"); return 0; }
  if (wm_length(in) != n) { wm_output_str("FAIL length(input_offset()) != input_length()"); return 0; }
  if (wm_input_load_u8(n) != 0) { wm_output_str("FAIL input_load_u8(len) != 0"); return 0; }
  if (wm_input_load_u8(n + 100) != 0) { wm_output_str("FAIL input_load_u8(len+100) != 0"); return 0; }
  if (n >= 7 && wm_input_load_u64(n - 7) != 0) { wm_output_str("FAIL input_load_u64(len-7) != 0"); return 0; }
  if (wm_input_load_u64(n) != 0) { wm_output_str("FAIL input_load_u64(len) != 0"); return 0; }
  if (wm_input_load_u64(~(uint64_t)0 - 3) != 0) { wm_output_str("FAIL input_load_u64(wrap) != 0"); return 0; }
  uint64_t check = n < 4096 ? n : 4096;
  for (uint64_t i = 0; i < check; i++)
    if (wm_input_load_u8(i) != wm_load_u8(in + i)) { wm_output_str("FAIL input_load_u8 != load_u8(input_offset()+i)"); return 0; }
  for (uint64_t i = 0; i + 8 <= check; i++)
    if (wm_input_load_u64(i) != wm_load_u64(in + i)) { wm_output_str("FAIL input_load_u64 != load_u64(input_offset()+i)"); return 0; }
  text t = {0};
  t_str(&t, "ok ");
  t_u64(&t, n);
  t_out(&t);
  return 0;
}

/* free(input_offset()), then output input_length() -> "0". */
WM_EXPORT(free_input) int32_t free_input(void) {
  wm_free(wm_input_offset());
  wm_output_u64(wm_input_length());
  return 0;
}

/* Output: "second". */
WM_EXPORT(output_twice) int32_t output_twice(void) {
  wm_output_str("first");
  wm_output_str("second");
  return 0;
}

/* 10,000 allocations of i+10 bytes, freeing every third; each block gets its
 * index written at both ends, then all survivors are checked.
 * Output: "ok" (or "FAIL at <i>"). */
static wm_handle many[10000];
WM_EXPORT(alloc_many) int32_t alloc_many(void) {
  for (uint32_t i = 0; i < 10000; i++) {
    uint64_t n = i + 10;
    wm_handle h = wm_alloc(n);
    many[i] = h;
    if (!h) { text t = {0}; t_str(&t, "FAIL alloc at "); t_u64(&t, i); t_out(&t); return 0; }
    wm_store_u64(h, i);
    wm_store_u8(h + n - 1, (uint8_t)i);
    if (i % 3 == 0) { wm_free(h); many[i] = 0; }
  }
  for (uint32_t i = 0; i < 10000; i++) {
    wm_handle h = many[i];
    if (!h) continue;
    uint64_t n = i + 10;
    if (wm_length(h) != n || wm_load_u64(h) != i || wm_load_u8(h + n - 1) != (uint8_t)i) {
      text t = {0}; t_str(&t, "FAIL at "); t_u64(&t, i); t_out(&t); return 0;
    }
  }
  wm_output_str("ok");
  return 0;
}

/* Output: decimal alloc(1<<40) -> "0". */
WM_EXPORT(alloc_huge) int32_t alloc_huge(void) { wm_output_u64(wm_alloc(FAR)); return 0; }

/* Exercises the control API (input_set, output_offset, output_length,
 * memory_bytes, reset) and reports one flag per check.
 * Output: "output=1 memory=1 input=1 reset=1". */
WM_EXPORT(control_api) int32_t control_api(void) {
  int out_ok, mem_ok, in_ok, reset_ok;
  wm_handle o = wm_block_from("abc", 3);
  wm_output_set(o, 3);
  out_ok = wm_output_offset() == o && wm_output_length() == 3;
  mem_ok = wm_memory_bytes() > 0;
  wm_handle i = wm_block_from("xyz!", 4);
  wm_input_set(i, 4);
  in_ok = wm_input_length() == 4 && wm_input_offset() == i && wm_input_load_u8(0) == 'x' && wm_input_load_u8(3) == '!';
  wm_error_str("set before reset");
  wm_reset();
  reset_ok = wm_input_length() == 0 && wm_input_offset() == 0 && wm_output_length() == 0 &&
             wm_output_offset() == 0 && wm_error_get() == 0 && wm_length(o) == 0 && wm_length(i) == 0;
  text t = {0};
  t_kv(&t, "output", (uint64_t)out_ok);
  t_kv(&t, "memory", (uint64_t)mem_ok);
  t_kv(&t, "input", (uint64_t)in_ok);
  t_kv(&t, "reset", (uint64_t)reset_ok);
  t_out(&t); /* allocated after the reset, so it is a valid block */
  return 0;
}

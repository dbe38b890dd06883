/* wasi.c: plugins that use wasi-libc (and so wasi_snapshot_preview1 imports). */
#define _DEFAULT_SOURCE /* getentropy, clock_gettime with -std=c11 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

#include "wasimancer-pdk.h"

/* The input as a NUL-terminated malloc'd string (caller frees). */
static char *input_str(size_t *len) {
  uint64_t n = wm_input_length();
  char *s = malloc((size_t)n + 1);
  if (!s) return NULL;
  wm_input_read(s, (size_t)n);
  s[n] = 0;
  if (len) *len = (size_t)n;
  return s;
}

/* stdout: "printed: <input>\n". No output, rc 0. */
WM_EXPORT(print) int32_t print(void) {
  size_t n;
  char *s = input_str(&n);
  printf("printed: %.*s\n", (int)n, s);
  fflush(stdout);
  free(s);
  return 0;
}

/* stderr: "stderr: <input>\n". No output, rc 0. */
WM_EXPORT(print_stderr) int32_t print_stderr(void) {
  size_t n;
  char *s = input_str(&n);
  fprintf(stderr, "stderr: %.*s\n", (int)n, s);
  fflush(stderr);
  free(s);
  return 0;
}

/* stdout: "something went wrong\n", rc 1, no error_set. */
WM_EXPORT(fail_with_stdout) int32_t fail_with_stdout(void) {
  fputs("something went wrong\n", stdout);
  fflush(stdout);
  return 1;
}

/* Output: 32 random bytes as 64 lower-case hex digits. */
WM_EXPORT(random) int32_t random_(void) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[32];
  char out[64];
  if (getentropy(b, sizeof b) != 0) { wm_error_str("getentropy failed"); return 1; }
  for (int i = 0; i < 32; i++) { out[2 * i] = hex[b[i] >> 4]; out[2 * i + 1] = hex[b[i] & 15]; }
  wm_output_buf(out, sizeof out);
  return 0;
}

/* Output: {"realtime":<CLOCK_REALTIME seconds>,"monotonic":"ok"}. "monotonic"
 * is "ok" when CLOCK_MONOTONIC advanced between two readings (busy-waiting at
 * most ~10^7 readings), "stuck" when it never changed, "backwards" if it
 * decreased, "error" if clock_gettime failed. */
WM_EXPORT(clock) int32_t clock_(void) {
  struct timespec rt, a, b;
  if (clock_gettime(CLOCK_REALTIME, &rt) != 0) { wm_error_str("clock_gettime(CLOCK_REALTIME) failed"); return 1; }
  const char *mono = "stuck";
  if (clock_gettime(CLOCK_MONOTONIC, &a) != 0) mono = "error";
  else {
    for (long i = 0; i < 10000000; i++) {
      if (clock_gettime(CLOCK_MONOTONIC, &b) != 0) { mono = "error"; break; }
      if (b.tv_sec < a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec < a.tv_nsec)) { mono = "backwards"; break; }
      if (b.tv_sec != a.tv_sec || b.tv_nsec != a.tv_nsec) { mono = "ok"; break; }
    }
  }
  char out[96];
  int k = snprintf(out, sizeof out, "{\"realtime\":%lld,\"monotonic\":\"%s\"}", (long long)rt.tv_sec, mono);
  wm_output_buf(out, (size_t)k);
  return 0;
}

/* Output: {"argc":<n>,"envc":<n>} from args_sizes_get / environ_sizes_get;
 * Extism-like hosts give {"argc":0,"envc":0}. */
WM_EXPORT(args_env) int32_t args_env(void) {
  __wasi_size_t argc = 99, argbuf = 0, envc = 99, envbuf = 0;
  if (__wasi_args_sizes_get(&argc, &argbuf) != 0) { wm_error_str("args_sizes_get failed"); return 1; }
  if (__wasi_environ_sizes_get(&envc, &envbuf) != 0) { wm_error_str("environ_sizes_get failed"); return 1; }
  char out[64];
  int k = snprintf(out, sizeof out, "{\"argc\":%u,\"envc\":%u}", (unsigned)argc, (unsigned)envc);
  wm_output_buf(out, (size_t)k);
  return 0;
}

/* exit(N), N = decimal input (default 0). With N == 0 the output is set to
 * "bye" first, so a correct host reports success with output "bye". */
WM_EXPORT(exit_code) int32_t exit_code(void) {
  int64_t n = wm_input_i64(0);
  if (n == 0) wm_output_str("bye");
  exit((int)n);
}

/* Same, through the raw import proc_exit (no atexit/stdio flushing). */
WM_EXPORT(proc_exit) int32_t proc_exit_(void) {
  int64_t n = wm_input_i64(0);
  if (n == 0) wm_output_str("bye");
  __wasi_proc_exit((__wasi_exitcode_t)n);
}

/* error_set("exit after error") then proc_exit(0): the error must win. */
WM_EXPORT(exit_after_error) int32_t exit_after_error(void) {
  wm_error_str("exit after error");
  __wasi_proc_exit(0);
}

/* fopen("/etc/passwd") must fail without preopens. Output: "denied"; if the
 * file opened, the call fails with error "fs access was granted". */
WM_EXPORT(fs_denied) int32_t fs_denied(void) {
  FILE *f = fopen("/etc/passwd", "r");
  if (!f) { wm_output_str("denied"); return 0; }
  fclose(f);
  wm_error_str("fs access was granted");
  return 1;
}

/* read_file: the whole file named by the input (allowedPaths grants; e.g. "/data/a.txt") as
 * output, or an error "<path>: <strerror>". */
WM_EXPORT(read_file) int32_t read_file(void) {
  char *path = input_str(NULL);
  FILE *f = fopen(path, "r");
  if (!f) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
    wm_error_str(msg);
    free(path);
    return 1;
  }
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  wm_output_buf(buf, n);
  free(path);
  return 0;
}

/* stdout_stat: descriptor calls on stdout (fstat, lseek), as language runtimes make at start.
 * They fail inside the guest (no such calls without granted folders) and the plugin copes: the
 * call must not be reported as a file system attempt. Output "ok". */
WM_EXPORT(stdout_stat) int32_t stdout_stat(void) {
  struct stat st;
  (void)fstat(1, &st);
  (void)lseek(1, 0, SEEK_CUR);
  wm_output_str("ok");
  return 0;
}

/* rename_file: rename(input, input + ".moved"); output strerror of the outcome ("Success" if it
 * was renamed). path_rename is not served: with granted folders, "Function not implemented". */
WM_EXPORT(rename_file) int32_t rename_file(void) {
  char *from = input_str(NULL);
  char to[600];
  snprintf(to, sizeof to, "%s.moved", from);
  errno = 0;
  (void)rename(from, to);
  wm_output_str(strerror(errno));
  free(from);
  return 0;
}

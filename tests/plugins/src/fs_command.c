/* A WASI command using files (allowedPaths): fs_command OP PATH [DATA]. Every outcome is
 * printed on stdout (exit 0), errors as "error: <strerror>", so tests see what the guest saw.
 *   read PATH        the file's content
 *   write PATH DATA  create or truncate, then write DATA: "ok"
 *   append PATH DATA "ok"
 *   list PATH        the folder's entries but . and .., sorted, one per line
 *   stat PATH        "file <size>" or "dir"
 *   mkdir PATH, rm PATH, rmdir PATH   "ok"
 *   rename PATH DATA  (not served: path_rename answers ENOSYS)
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(void) {
  printf("error: %s\n", strerror(errno));
  return 0;
}

static int cmp(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: fs_command OP PATH [DATA]\n");
    return 2;
  }
  const char *op = argv[1], *path = argv[2], *data = argc > 3 ? argv[3] : "";
  if (strcmp(op, "read") == 0) {
    FILE* f = fopen(path, "r");
    if (!f) return fail();
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
  }
  if (strcmp(op, "write") == 0 || strcmp(op, "append") == 0) {
    FILE* f = fopen(path, op[0] == 'w' ? "w" : "a");
    if (!f) return fail();
    if (fputs(data, f) < 0 || fclose(f) != 0) return fail();
    puts("ok");
    return 0;
  }
  if (strcmp(op, "list") == 0) {
    DIR* d = opendir(path);
    if (!d) return fail();
    char* names[1024];
    int count = 0;
    struct dirent* e;
    while ((e = readdir(d)) && count < 1024) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof names[0], cmp);
    for (int i = 0; i < count; ++i) puts(names[i]);
    return 0;
  }
  if (strcmp(op, "stat") == 0) {
    struct stat st;
    if (stat(path, &st) != 0) return fail();
    if (S_ISDIR(st.st_mode)) puts("dir");
    else printf("file %lld\n", (long long)st.st_size);
    return 0;
  }
  if (strcmp(op, "mkdir") == 0) {
    if (mkdir(path, 0755) != 0) return fail();
    puts("ok");
    return 0;
  }
  if (strcmp(op, "rm") == 0) {
    if (unlink(path) != 0) return fail();
    puts("ok");
    return 0;
  }
  if (strcmp(op, "rename") == 0) {
    if (rename(path, data) != 0) return fail();
    puts("ok");
    return 0;
  }
  if (strcmp(op, "rmdir") == 0) {
    if (rmdir(path) != 0) return fail();
    puts("ok");
    return 0;
  }
  fprintf(stderr, "unknown op %s\n", op);
  return 2;
}

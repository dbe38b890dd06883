// host/wasi_fs.hpp: WASI preview1 file access confined to granted folders (`allowedPaths`).
//
// A grant maps a host folder to a guest path, read-only unless marked writable. The folders are
// opened once (Preopens, shared by every instance of a plugin version; in a sandbox worker, opened
// before its filters are in place). Each instance has its own WasiFs: a table of guest file
// descriptors (3.. are the preopened folders, then files the guest opened).
//
// Confinement: every path the guest names is resolved by the kernel with openat2(2)
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS under the folder's descriptor: an absolute path, a `..`
// that leaves the folder or a symbolic link pointing outside it fails (ENOTCAPABLE), whatever the
// folder's contents. Creating, removing and listing go through a parent opened the same way and a
// single final name. Writes to a read-only grant fail with EROFS before anything is opened.
// In a sandbox worker, Landlock (sandbox/landlock.hpp) confines the process itself to the same
// folders, should the guest ever escape the engine.
//
// Thread-safety: Preopens is immutable after open(). A WasiFs is used by the thread running its
// instance's call, one call at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace wasimancer::host {

struct PathGrant {
  std::string host_path;   // an existing folder on the server
  std::string guest_path;  // what the guest sees (e.g. "/data")
  bool writable = false;
};

class Preopens {
 public:
  struct Dir {
    PathGrant grant;
    int fd = -1;  // O_PATH | O_DIRECTORY
  };
  // Opens every folder; an error names the first one that cannot be opened.
  static Result<std::shared_ptr<const Preopens>> open(const std::vector<PathGrant>& grants);
  ~Preopens();
  Preopens(const Preopens&) = delete;
  Preopens& operator=(const Preopens&) = delete;

  const std::vector<Dir>& dirs() const { return dirs_; }

 private:
  Preopens() = default;
  std::vector<Dir> dirs_;
};

// WASI errno values (preview1).
enum WasiErrno : uint32_t {
  kWasiSuccess = 0, kWasiAcces = 2, kWasiBadf = 8, kWasiExist = 20, kWasiFault = 21, kWasiFbig = 22,
  kWasiInval = 28, kWasiIo = 29, kWasiIsdir = 31, kWasiLoop = 32, kWasiMfile = 33, kWasiNametoolong = 37,
  kWasiNoent = 44, kWasiNospc = 51, kWasiNosys = 52, kWasiNotdir = 54, kWasiNotempty = 55, kWasiPerm = 63,
  kWasiRofs = 69, kWasiSpipe = 70, kWasiNotcapable = 76,
};

class WasiFs {
 public:
  explicit WasiFs(std::shared_ptr<const Preopens> preopens);
  ~WasiFs();
  WasiFs(const WasiFs&) = delete;
  WasiFs& operator=(const WasiFs&) = delete;

  // The preview1 functions, on guest memory `mem` (pointers are guest offsets, checked here).
  uint32_t prestat_get(std::span<uint8_t> mem, uint32_t fd, uint32_t buf);
  uint32_t prestat_dir_name(std::span<uint8_t> mem, uint32_t fd, uint32_t path, uint32_t len);
  uint32_t path_open(std::span<uint8_t> mem, uint32_t dirfd, uint32_t lookupflags, uint32_t path, uint32_t path_len,
                     uint32_t oflags, uint64_t rights_base, uint32_t fdflags, uint32_t fd_out);
  uint32_t fdstat_get(std::span<uint8_t> mem, uint32_t fd, uint32_t buf);
  uint32_t filestat_get(std::span<uint8_t> mem, uint32_t fd, uint32_t buf);
  uint32_t path_filestat_get(std::span<uint8_t> mem, uint32_t fd, uint32_t flags, uint32_t path, uint32_t path_len,
                             uint32_t buf);
  // readv/writev on a guest iovec array; `offset` < 0: at the file position.
  uint32_t read(std::span<uint8_t> mem, uint32_t fd, uint32_t iovs, uint32_t n, int64_t offset, uint32_t nread);
  uint32_t write(std::span<uint8_t> mem, uint32_t fd, uint32_t iovs, uint32_t n, int64_t offset, uint32_t nwritten);
  uint32_t seek(std::span<uint8_t> mem, uint32_t fd, int64_t offset, uint32_t whence, uint32_t newoffset);
  uint32_t close(uint32_t fd);
  uint32_t readdir(std::span<uint8_t> mem, uint32_t fd, uint32_t buf, uint32_t buf_len, uint64_t cookie, uint32_t bufused);
  uint32_t create_directory(std::span<uint8_t> mem, uint32_t fd, uint32_t path, uint32_t path_len);
  uint32_t unlink(std::span<uint8_t> mem, uint32_t fd, uint32_t path, uint32_t path_len, bool directory);
  uint32_t filestat_set_size(uint32_t fd, uint64_t size);
  uint32_t sync(uint32_t fd);

  // True for the descriptors this table serves (preopens and opened files): fds 0-2 are not.
  bool owns(uint32_t fd) const { return files_.count(fd) != 0; }

  static constexpr size_t kMaxOpenFiles = 128;

 private:
  struct File {
    int fd = -1;         // the host descriptor (owned unless `preopen`)
    bool preopen = false;
    bool directory = false;
    bool readable = false;
    bool writable = false;   // opened for writing (implies a writable grant)
    bool grant_writable = false;
    bool append = false;
    size_t grant = 0;    // index into Preopens::dirs()
  };
  File* find(uint32_t fd);
  // readv/preadv or writev/pwritev on a guest iovec array; `count` receives the bytes moved.
  uint32_t transfer(std::span<uint8_t> mem, uint32_t fd, uint32_t iovs, uint32_t n, int64_t offset, uint32_t count, bool writing);
  // Creates or removes the entry `path` names under the writable folder `fd`: `change` runs on
  // its parent (opened beneath the folder) and its last name; returns a WASI errno.
  uint32_t change_entry(std::span<uint8_t> mem, uint32_t fd, uint32_t path, uint32_t path_len,
                        const std::function<int(int parent, const char* name)>& change);
  // The guest path at `path`/`len` as a string, or an errno.
  uint32_t guest_path(std::span<uint8_t> mem, uint32_t path, uint32_t len, std::string* out);
  // Opens `rel` beneath `base` (openat2, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS).
  int open_beneath(int base, const std::string& rel, int flags, unsigned mode, uint32_t* err);
  // Opens the parent of `rel` beneath `base` (O_PATH | O_DIRECTORY) and gives its last name.
  int open_parent(int base, const std::string& rel, std::string* name, uint32_t* err);

  std::shared_ptr<const Preopens> preopens_;
  std::map<uint32_t, File> files_;
  uint32_t next_fd_;
};

// errno → WASI errno (EXDEV from RESOLVE_BENEATH: an escape, reported as ENOTCAPABLE).
uint32_t wasi_errno(int err);

}  // namespace wasimancer::host

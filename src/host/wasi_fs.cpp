#include "host/wasi_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "host/guest_memory.hpp"

namespace wasimancer::host {

namespace {

constexpr uint64_t kRightFdRead = 1ull << 1;
constexpr uint64_t kRightFdWrite = 1ull << 6;
constexpr uint32_t kOflagCreat = 1, kOflagDirectory = 2, kOflagExcl = 4, kOflagTrunc = 8;
constexpr uint32_t kFdflagAppend = 1;
constexpr uint32_t kLookupSymlinkFollow = 1;
constexpr uint8_t kFiletypeUnknown = 0, kFiletypeBlock = 1, kFiletypeChar = 2, kFiletypeDirectory = 3, kFiletypeRegular = 4,
                  kFiletypeSocketStream = 6, kFiletypeSymlink = 7;
constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxIovs = 1024;

using namespace guest;  // in_guest, get_u32, put_u16/32/64 (host/guest_memory.hpp)

uint8_t filetype_of(mode_t m) {
  if (S_ISREG(m)) return kFiletypeRegular;
  if (S_ISDIR(m)) return kFiletypeDirectory;
  if (S_ISLNK(m)) return kFiletypeSymlink;
  if (S_ISCHR(m)) return kFiletypeChar;
  if (S_ISBLK(m)) return kFiletypeBlock;
  if (S_ISSOCK(m)) return kFiletypeSocketStream;
  return kFiletypeUnknown;
}

uint64_t nanos(const struct timespec& t) { return uint64_t(t.tv_sec) * 1'000'000'000ull + uint64_t(t.tv_nsec); }

void put_filestat(std::span<uint8_t> mem, uint32_t buf, const struct stat& st) {
  std::memset(mem.data() + buf, 0, 64);
  put_u64(mem, buf, st.st_dev);
  put_u64(mem, buf + 8, st.st_ino);
  mem[buf + 16] = filetype_of(st.st_mode);
  put_u64(mem, buf + 24, st.st_nlink);
  put_u64(mem, buf + 32, static_cast<uint64_t>(st.st_size));
  put_u64(mem, buf + 40, nanos(st.st_atim));
  put_u64(mem, buf + 48, nanos(st.st_mtim));
  put_u64(mem, buf + 56, nanos(st.st_ctim));
}

// The guest's iovec array as host iovecs over guest memory (checked).
uint32_t iovecs(std::span<uint8_t> mem, uint32_t iovs, uint32_t n, std::vector<struct iovec>* out) {
  if (n > kMaxIovs) return kWasiInval;
  if (!in_guest(mem, iovs, uint64_t(n) * 8)) return kWasiFault;
  out->clear();
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t buf = get_u32(mem, iovs + 8ull * i), len = get_u32(mem, iovs + 8ull * i + 4);
    if (!in_guest(mem, buf, len)) return kWasiFault;
    out->push_back({mem.data() + buf, len});
  }
  return kWasiSuccess;
}

}  // namespace

uint32_t wasi_errno(int err) {
  switch (err) {
    case 0: return kWasiSuccess;
    case EACCES: return kWasiAcces;
    case EPERM: return kWasiPerm;
    case ENOENT: return kWasiNoent;
    case EEXIST: return kWasiExist;
    case ENOTDIR: return kWasiNotdir;
    case EISDIR: return kWasiIsdir;
    case ENOTEMPTY: return kWasiNotempty;
    case ELOOP: return kWasiLoop;
    case EXDEV: return kWasiNotcapable;  // RESOLVE_BENEATH: the path leaves the granted folder
    case ENAMETOOLONG: return kWasiNametoolong;
    case ENOSPC: case EDQUOT: return kWasiNospc;
    case EROFS: return kWasiRofs;
    case EINVAL: return kWasiInval;
    case EBADF: return kWasiBadf;
    case EMFILE: case ENFILE: return kWasiMfile;
    case EFBIG: return kWasiFbig;
    case ESPIPE: return kWasiSpipe;
    default: return kWasiIo;
  }
}

// ---- Preopens -------------------------------------------------------------------------------------

Result<std::shared_ptr<const Preopens>> Preopens::open(const std::vector<PathGrant>& grants) {
  std::shared_ptr<Preopens> p(new Preopens());
  for (const auto& g : grants) {
    int fd = ::open(g.host_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return Error(ErrorKind::InvalidArgument,
                   fmt::format("allowedPaths: cannot open the folder \"{}\": {}", g.host_path, std::strerror(errno)));
    }
    p->dirs_.push_back(Dir{g, fd});
  }
  return std::shared_ptr<const Preopens>(std::move(p));
}

Preopens::~Preopens() {
  for (auto& d : dirs_) ::close(d.fd);
}

// ---- WasiFs ---------------------------------------------------------------------------------------

WasiFs::WasiFs(std::shared_ptr<const Preopens> preopens) : preopens_(std::move(preopens)) {
  uint32_t fd = 3;
  for (size_t i = 0; i < preopens_->dirs().size(); ++i) {
    const auto& d = preopens_->dirs()[i];
    File f;
    f.fd = d.fd;
    f.preopen = true;
    f.directory = true;
    f.readable = true;
    f.grant_writable = d.grant.writable;
    f.grant = i;
    files_[fd++] = f;
  }
  next_fd_ = fd;
}

WasiFs::~WasiFs() {
  for (auto& [_, f] : files_) {
    if (!f.preopen) ::close(f.fd);
  }
}

WasiFs::File* WasiFs::find(uint32_t fd) {
  auto it = files_.find(fd);
  return it == files_.end() ? nullptr : &it->second;
}

uint32_t WasiFs::guest_path(std::span<uint8_t> mem, uint32_t path, uint32_t len, std::string* out) {
  if (len > kMaxPath) return kWasiNametoolong;
  if (!in_guest(mem, path, len)) return kWasiFault;
  out->assign(reinterpret_cast<const char*>(mem.data() + path), len);
  if (out->find('\0') != std::string::npos) return kWasiInval;
  if (out->empty()) return kWasiNoent;
  return kWasiSuccess;
}

int WasiFs::open_beneath(int base, const std::string& rel, int flags, unsigned mode, uint32_t* err) {
  struct open_how how {};
  // openat2 refuses flags that do not go with O_PATH (O_NOCTTY among them).
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(syscall(SYS_openat2, base, rel.c_str(), &how, sizeof how));
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) *err = wasi_errno(errno);
  return fd;
}

int WasiFs::open_parent(int base, const std::string& rel, std::string* name, uint32_t* err) {
  std::string path = rel;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  size_t slash = path.rfind('/');
  std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  *name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name->empty() || *name == "." || *name == "..") {
    *err = kWasiInval;
    return -1;
  }
  return open_beneath(base, parent, O_PATH | O_DIRECTORY, 0, err);
}

uint32_t WasiFs::prestat_get(std::span<uint8_t> mem, uint32_t fd, uint32_t buf) {
  File* f = find(fd);
  if (!f || !f->preopen) return kWasiBadf;
  if (!in_guest(mem, buf, 8)) return kWasiFault;
  std::memset(mem.data() + buf, 0, 8);
  put_u32(mem, buf + 4, static_cast<uint32_t>(preopens_->dirs()[f->grant].grant.guest_path.size()));
  return kWasiSuccess;
}

uint32_t WasiFs::prestat_dir_name(std::span<uint8_t> mem, uint32_t fd, uint32_t path, uint32_t len) {
  File* f = find(fd);
  if (!f || !f->preopen) return kWasiBadf;
  const std::string& name = preopens_->dirs()[f->grant].grant.guest_path;
  if (len < name.size()) return kWasiNametoolong;
  if (!in_guest(mem, path, name.size())) return kWasiFault;
  std::memcpy(mem.data() + path, name.data(), name.size());
  return kWasiSuccess;
}

uint32_t WasiFs::path_open(std::span<uint8_t> mem, uint32_t dirfd, uint32_t lookupflags, uint32_t path, uint32_t path_len,
                           uint32_t oflags, uint64_t rights_base, uint32_t fdflags, uint32_t fd_out) {
  File* dir = find(dirfd);
  if (!dir) return kWasiBadf;
  if (!dir->directory) return kWasiNotdir;
  if (!in_guest(mem, fd_out, 4)) return kWasiFault;
  std::string rel;
  if (uint32_t e = guest_path(mem, path, path_len, &rel)) return e;
  if (files_.size() >= kMaxOpenFiles + preopens_->dirs().size()) return kWasiMfile;

  bool want_write = (rights_base & kRightFdWrite) != 0 || (oflags & (kOflagCreat | kOflagTrunc)) != 0 ||
                    (fdflags & kFdflagAppend) != 0;
  bool want_read = (rights_base & kRightFdRead) != 0;
  if (want_write && !dir->grant_writable) return kWasiRofs;
  int flags = 0;
  if (oflags & kOflagDirectory) {
    if (want_write) return kWasiIsdir;
    flags = O_RDONLY | O_DIRECTORY;
  } else if (want_write) {
    flags = (want_read ? O_RDWR : O_WRONLY) | ((fdflags & kFdflagAppend) ? O_APPEND : 0);
    if (oflags & kOflagCreat) flags |= O_CREAT;
    if (oflags & kOflagExcl) flags |= O_EXCL;
    if (oflags & kOflagTrunc) flags |= O_TRUNC;
  } else {
    flags = O_RDONLY;
  }
  if (!(lookupflags & kLookupSymlinkFollow)) flags |= O_NOFOLLOW;
  uint32_t err = 0;
  int fd = open_beneath(dir->fd, rel, flags, 0644, &err);
  if (fd < 0) return err;  // O_NOFOLLOW on a link is ELOOP, a directory opened for writing EISDIR
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return wasi_errno(errno);
  }
  File f;
  f.fd = fd;
  f.directory = S_ISDIR(st.st_mode);
  f.readable = (flags & O_ACCMODE) != O_WRONLY;
  f.writable = (flags & O_ACCMODE) != O_RDONLY;
  f.grant_writable = dir->grant_writable;
  f.append = (flags & O_APPEND) != 0;
  f.grant = dir->grant;
  uint32_t guest = next_fd_;
  while (files_.count(guest)) ++guest;
  next_fd_ = guest + 1;
  files_[guest] = f;
  put_u32(mem, fd_out, guest);
  return kWasiSuccess;
}

uint32_t WasiFs::fdstat_get(std::span<uint8_t> mem, uint32_t fd, uint32_t buf) {
  File* f = find(fd);
  if (!f) return kWasiBadf;
  if (!in_guest(mem, buf, 24)) return kWasiFault;
  std::memset(mem.data() + buf, 0, 24);
  uint8_t type = kFiletypeDirectory;
  if (!f->directory) {
    struct stat st {};
    type = fstat(f->fd, &st) == 0 ? filetype_of(st.st_mode) : kFiletypeUnknown;
  }
  mem[buf] = type;
  put_u16(mem, buf + 2, f->append ? kFdflagAppend : 0);
  uint64_t base = ~0ull;
  if (!f->directory) {
    if (!f->writable) base &= ~kRightFdWrite;
    if (!f->readable) base &= ~kRightFdRead;
  }
  put_u64(mem, buf + 8, base);
  put_u64(mem, buf + 16, f->directory ? ~0ull : 0);
  return kWasiSuccess;
}

uint32_t WasiFs::filestat_get(std::span<uint8_t> mem, uint32_t fd, uint32_t buf) {
  File* f = find(fd);
  if (!f) return kWasiBadf;
  if (!in_guest(mem, buf, 64)) return kWasiFault;
  struct stat st {};
  if (fstat(f->fd, &st) != 0) return wasi_errno(errno);
  put_filestat(mem, buf, st);
  return kWasiSuccess;
}

uint32_t WasiFs::path_filestat_get(std::span<uint8_t> mem, uint32_t fd, uint32_t flags, uint32_t path, uint32_t path_len,
                                   uint32_t buf) {
  File* dir = find(fd);
  if (!dir) return kWasiBadf;
  if (!dir->directory) return kWasiNotdir;
  if (!in_guest(mem, buf, 64)) return kWasiFault;
  std::string rel;
  if (uint32_t e = guest_path(mem, path, path_len, &rel)) return e;
  uint32_t err = 0;
  int h = open_beneath(dir->fd, rel, O_PATH | ((flags & kLookupSymlinkFollow) ? 0 : O_NOFOLLOW), 0, &err);
  if (h < 0) return err;
  struct stat st {};
  int rc = fstat(h, &st);
  int saved = errno;
  ::close(h);
  if (rc != 0) return wasi_errno(saved);
  put_filestat(mem, buf, st);
  return kWasiSuccess;
}

uint32_t WasiFs::transfer(std::span<uint8_t> mem, uint32_t fd, uint32_t iovs, uint32_t n, int64_t offset, uint32_t count,
                          bool writing) {
  File* f = find(fd);
  if (!f) return kWasiBadf;
  if (f->directory) return kWasiIsdir;
  if (writing ? !f->writable : !f->readable) return writing && !f->grant_writable ? kWasiRofs : kWasiBadf;
  if (!in_guest(mem, count, 4)) return kWasiFault;
  std::vector<struct iovec> v;
  if (uint32_t e = iovecs(mem, iovs, n, &v)) return e;
  const int cnt = static_cast<int>(v.size());
  ssize_t done;
  do {
    if (writing) done = offset < 0 ? ::writev(f->fd, v.data(), cnt) : ::pwritev(f->fd, v.data(), cnt, offset);
    else done = offset < 0 ? ::readv(f->fd, v.data(), cnt) : ::preadv(f->fd, v.data(), cnt, offset);
  } while (done < 0 && errno == EINTR);
  if (done < 0) return wasi_errno(errno);
  put_u32(mem, count, static_cast<uint32_t>(done));
  return kWasiSuccess;
}

uint32_t WasiFs::read(std::span<uint8_t> mem, uint32_t fd, uint32_t iovs, uint32_t n, int64_t offset, uint32_t nread) {
  return transfer(mem, fd, iovs, n, offset, nread, false);
}

uint32_t WasiFs::write(std::span<uint8_t> mem, uint32_t fd, uint32_t iovs, uint32_t n, int64_t offset, uint32_t nwritten) {
  return transfer(mem, fd, iovs, n, offset, nwritten, true);
}

uint32_t WasiFs::seek(std::span<uint8_t> mem, uint32_t fd, int64_t offset, uint32_t whence, uint32_t newoffset) {
  File* f = find(fd);
  if (!f) return kWasiBadf;
  if (f->directory) return kWasiIsdir;
  if (whence > 2) return kWasiInval;
  if (!in_guest(mem, newoffset, 8)) return kWasiFault;
  off_t pos = ::lseek(f->fd, offset, whence == 0 ? SEEK_SET : whence == 1 ? SEEK_CUR : SEEK_END);
  if (pos < 0) return wasi_errno(errno);
  put_u64(mem, newoffset, static_cast<uint64_t>(pos));
  return kWasiSuccess;
}

uint32_t WasiFs::close(uint32_t fd) {
  auto it = files_.find(fd);
  if (it == files_.end()) return kWasiBadf;
  if (it->second.preopen) return kWasiNotcapable;  // the granted folders stay
  ::close(it->second.fd);
  files_.erase(it);
  return kWasiSuccess;
}

uint32_t WasiFs::readdir(std::span<uint8_t> mem, uint32_t fd, uint32_t buf, uint32_t buf_len, uint64_t cookie, uint32_t bufused) {
  File* f = find(fd);
  if (!f) return kWasiBadf;
  if (!f->directory) return kWasiNotdir;
  if (!in_guest(mem, buf, buf_len) || !in_guest(mem, bufused, 4)) return kWasiFault;
  uint32_t err = 0;
  int d = open_beneath(f->fd, ".", O_RDONLY | O_DIRECTORY, 0, &err);
  if (d < 0) return err;
  alignas(8) char raw[8192];
  uint64_t index = 0;
  uint32_t used = 0;
  bool full = false;
  while (!full) {
    long got = syscall(SYS_getdents64, d, raw, sizeof raw);
    if (got < 0) {
      int saved = errno;
      ::close(d);
      return wasi_errno(saved);
    }
    if (got == 0) break;
    for (long off = 0; off < got && !full;) {
      struct Dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[1];
      };
      auto* e = reinterpret_cast<Dirent64*>(raw + off);
      off += e->d_reclen;
      if (index++ < cookie) continue;
      std::string_view name(e->d_name);
      uint8_t entry[24] = {};
      uint64_t next = index;
      std::memcpy(entry, &next, 8);
      std::memcpy(entry + 8, &e->d_ino, 8);
      uint32_t namlen = static_cast<uint32_t>(name.size());
      std::memcpy(entry + 16, &namlen, 4);
      uint8_t type = kFiletypeUnknown;
      switch (e->d_type) {
        case DT_REG: type = kFiletypeRegular; break;
        case DT_DIR: type = kFiletypeDirectory; break;
        case DT_LNK: type = kFiletypeSymlink; break;
        case DT_CHR: type = kFiletypeChar; break;
        case DT_BLK: type = kFiletypeBlock; break;
        case DT_SOCK: type = kFiletypeSocketStream; break;
        default: break;
      }
      entry[20] = type;
      // A truncated last entry is allowed: the guest sees bufused == buf_len and asks again.
      uint32_t take = std::min<uint32_t>(24, buf_len - used);
      std::memcpy(mem.data() + buf + used, entry, take);
      used += take;
      uint32_t ntake = std::min<uint32_t>(namlen, buf_len - used);
      std::memcpy(mem.data() + buf + used, name.data(), ntake);
      used += ntake;
      if (used >= buf_len) full = true;
    }
  }
  ::close(d);
  put_u32(mem, bufused, used);
  return kWasiSuccess;
}

uint32_t WasiFs::change_entry(std::span<uint8_t> mem, uint32_t fd, uint32_t path, uint32_t path_len,
                              const std::function<int(int parent, const char* name)>& change) {
  File* dir = find(fd);
  if (!dir) return kWasiBadf;
  if (!dir->directory) return kWasiNotdir;
  if (!dir->grant_writable) return kWasiRofs;
  std::string rel, name;
  if (uint32_t e = guest_path(mem, path, path_len, &rel)) return e;
  uint32_t err = 0;
  int parent = open_parent(dir->fd, rel, &name, &err);
  if (parent < 0) return err;
  int rc = change(parent, name.c_str());
  int saved = errno;
  ::close(parent);
  return rc == 0 ? kWasiSuccess : wasi_errno(saved);
}

uint32_t WasiFs::create_directory(std::span<uint8_t> mem, uint32_t fd, uint32_t path, uint32_t path_len) {
  return change_entry(mem, fd, path, path_len, [](int parent, const char* name) { return ::mkdirat(parent, name, 0755); });
}

uint32_t WasiFs::unlink(std::span<uint8_t> mem, uint32_t fd, uint32_t path, uint32_t path_len, bool directory) {
  return change_entry(mem, fd, path, path_len,
                      [directory](int parent, const char* name) { return ::unlinkat(parent, name, directory ? AT_REMOVEDIR : 0); });
}

uint32_t WasiFs::filestat_set_size(uint32_t fd, uint64_t size) {
  File* f = find(fd);
  if (!f) return kWasiBadf;
  if (f->directory) return kWasiIsdir;
  if (!f->writable) return f->grant_writable ? kWasiBadf : kWasiRofs;
  if (size > static_cast<uint64_t>(INT64_MAX)) return kWasiFbig;
  return ::ftruncate(f->fd, static_cast<off_t>(size)) == 0 ? kWasiSuccess : wasi_errno(errno);
}

uint32_t WasiFs::sync(uint32_t fd) {
  File* f = find(fd);
  if (!f) return kWasiBadf;
  if (f->directory || !f->writable) return kWasiSuccess;
  return ::fsync(f->fd) == 0 ? kWasiSuccess : wasi_errno(errno);
}

}  // namespace wasimancer::host

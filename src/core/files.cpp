#include "core/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "core/crypto.hpp"

namespace wasimancer {

namespace fs = std::filesystem;

Result<std::string> read_file(const fs::path& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return Error(e == ENOENT ? ErrorKind::NotFound : ErrorKind::Io,
                 fmt::format("cannot open {}: {}", path.string(), std::strerror(e)));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Error(ErrorKind::Io, fmt::format("cannot read {}: {}", path.string(), std::strerror(e)));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      return Error(ErrorKind::InvalidArgument, fmt::format("{} is larger than {} bytes", path.string(), max_bytes));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

Result<void> write_file_atomic(const fs::path& path, std::string_view content) {
  fs::path dir = path.parent_path();
  fs::path tmp = (dir.empty() ? fs::path(".") : dir) / fmt::format(".{}.tmp-{}", path.filename().string(), random_token(6));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error(ErrorKind::Io, fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)));
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error(ErrorKind::Io, fmt::format("cannot write {}: {}", tmp.string(), std::strerror(e)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error(ErrorKind::Io, fmt::format("cannot sync {}: {}", tmp.string(), std::strerror(e)));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Error(ErrorKind::Io, fmt::format("cannot rename {} to {}: {}", tmp.string(), path.string(), std::strerror(e)));
  }
  fsync_dir(dir);
  return {};
}

// ---- Dir ----------------------------------------------------------------------------------------

namespace {

Error io_error(const std::string& what, const fs::path& where, int e) {
  return Error(e == ENOENT ? ErrorKind::NotFound : ErrorKind::Io, fmt::format("{} {}: {}", what, where.string(), std::strerror(e)));
}

Dir::Kind kind_of(mode_t m) {
  if (S_ISREG(m)) return Dir::Kind::File;
  if (S_ISDIR(m)) return Dir::Kind::Directory;
  if (S_ISLNK(m)) return Dir::Kind::Link;
  return Dir::Kind::Other;
}

}  // namespace

bool is_plain_component(std::string_view n) {
  return !n.empty() && n != "." && n != ".." && n.size() <= kMaxNameBytes && n.find('/') == std::string_view::npos &&
         n.find('\0') == std::string_view::npos;
}

Dir::~Dir() {
  if (fd_ >= 0) ::close(fd_);
}

Dir::Dir(Dir&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

Dir& Dir::operator=(Dir&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

Result<Dir> Dir::open(const fs::path& path, bool create) {
  fs::path p = path.empty() ? fs::path(".") : path;
  if (p.native().size() > kMaxPathBytes) return Error(ErrorKind::InvalidArgument, "the path is longer than 4096 bytes");
  if (create) {
    std::error_code ec;
    fs::create_directories(p, ec);
  }
  int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open the directory", p, errno);
  return Dir(fd, p);
}

Result<Dir> Dir::walk(std::string_view relative, bool create) const {
  if (relative.size() > kMaxPathBytes) return Error(ErrorKind::InvalidArgument, "the path is longer than 4096 bytes");
  if (!relative.empty() && relative[0] == '/') return Error(ErrorKind::InvalidArgument, "the path must be relative");
  int cur = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (cur < 0) return io_error("cannot use the directory", path_, errno);
  fs::path where = path_;
  while (!relative.empty()) {
    size_t slash = relative.find('/');
    std::string part(relative.substr(0, slash));
    relative = slash == std::string_view::npos ? std::string_view() : relative.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (!is_plain_component(part)) {
      ::close(cur);
      return Error(ErrorKind::InvalidArgument,
                   part == ".." ? std::string("the path must not contain \"..\"") : fmt::format("\"{}\" is not a valid name", part.substr(0, 64)));
    }
    where /= part;
    int next = ::openat(cur, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur, part.c_str(), 0755) != 0 && errno != EEXIST) {
        int e = errno;
        ::close(cur);
        return io_error("cannot create", where, e);
      }
      ::fsync(cur);
      next = ::openat(cur, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) {
      int e = errno;
      struct stat st {};
      bool is_link = ::fstatat(cur, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
      ::close(cur);
      if (is_link || e == ELOOP) return Error(ErrorKind::InvalidArgument, fmt::format("{} is a symbolic link", where.string()));
      if (e == ENOTDIR) return Error(ErrorKind::InvalidArgument, fmt::format("{} is not a directory", where.string()));
      if (e == ENAMETOOLONG) return Error(ErrorKind::InvalidArgument, fmt::format("a name in {} is too long", where.string()));
      return io_error("cannot open the directory", where, e);
    }
    ::close(cur);
    cur = next;
  }
  return Dir(cur, where);
}

Dir::Stat Dir::stat(std::string_view name) const {
  Stat out;
  if (!is_plain_component(name)) return out;
  struct stat st {};
  if (::fstatat(fd_, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return out;
  out.kind = kind_of(st.st_mode);
  out.dev = st.st_dev;
  out.ino = st.st_ino;
  out.size = static_cast<uint64_t>(st.st_size);
  return out;
}

Result<std::string> Dir::read(std::string_view name, size_t max_bytes) const {
  if (!is_plain_component(name)) return Error(ErrorKind::InvalidArgument, fmt::format("\"{}\" is not a valid file name", name.substr(0, 64)));
  fs::path where = path_ / std::string(name);
  int fd = ::openat(fd_, std::string(name).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP) return Error(ErrorKind::InvalidArgument, fmt::format("{} is a symbolic link", where.string()));
    return io_error("cannot open", where, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(ErrorKind::InvalidArgument, fmt::format("{} is not a regular file", where.string()));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return io_error("cannot read", where, e);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      return Error(ErrorKind::InvalidArgument, fmt::format("{} is larger than {} bytes", where.string(), max_bytes));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<Dir::Written> Dir::write_temp(std::string_view final_name, std::string_view content) const {
  if (!is_plain_component(final_name) || final_name.size() > kMaxNameBytes - 20) {
    return Error(ErrorKind::InvalidArgument, fmt::format("\"{}\" is not a valid file name", final_name.substr(0, 64)));
  }
  Written w;
  w.name = fmt::format(".{}.tmp-{}", final_name, random_token(6));
  fs::path where = path_ / w.name;
  int fd = ::openat(fd_, w.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create", where, errno);
  auto fail = [&](const char* what) {
    int e = errno;
    ::close(fd);
    ::unlinkat(fd_, w.name.c_str(), 0);
    return io_error(what, where, e);
  };
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot sync");
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail("cannot stat");
  w.dev = st.st_dev;
  w.ino = st.st_ino;
  ::close(fd);
  return w;
}

Result<void> Dir::rename(std::string_view from, std::string_view to, bool no_replace) const {
  if (!is_plain_component(from) || !is_plain_component(to)) return Error(ErrorKind::InvalidArgument, "not a valid file name");
  std::string f(from), t(to);
  int rc = no_replace ? ::renameat2(fd_, f.c_str(), fd_, t.c_str(), RENAME_NOREPLACE) : ::renameat(fd_, f.c_str(), fd_, t.c_str());
  if (rc != 0) {
    int e = errno;
    if (e == EEXIST) return Error(ErrorKind::AlreadyExists, fmt::format("{} exists already", (path_ / t).string()));
    return Error(ErrorKind::Io, fmt::format("cannot rename {} to {}: {}", (path_ / f).string(), t, std::strerror(e)));
  }
  sync();
  return {};
}

Result<void> Dir::write_atomic(std::string_view name, std::string_view content) const {
  auto w = write_temp(name, content);
  if (!w) return w.take_error();
  if (auto r = rename(w->name, name, false); !r) {
    ::unlinkat(fd_, w->name.c_str(), 0);
    return r;
  }
  return {};
}

Result<void> Dir::remove_file(std::string_view name) const {
  Stat st = stat(name);
  fs::path where = path_ / std::string(name);
  if (st.kind == Kind::Missing) return Error(ErrorKind::NotFound, fmt::format("{} does not exist", where.string()));
  if (st.kind != Kind::File) return Error(ErrorKind::InvalidArgument, fmt::format("{} is not a regular file", where.string()));
  if (::unlinkat(fd_, std::string(name).c_str(), 0) != 0) return io_error("cannot delete", where, errno);
  sync();
  return {};
}

std::vector<std::pair<std::string, Dir::Kind>> Dir::list() const {
  std::vector<std::pair<std::string, Kind>> out;
  int fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return out;
  }
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    out.emplace_back(std::string(n), stat(n).kind);
  }
  ::closedir(d);
  return out;
}

void Dir::sync() const {
  if (fd_ >= 0) ::fsync(fd_);
}

}  // namespace wasimancer

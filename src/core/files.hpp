// core/files.hpp: whole-file reads, crash-safe writes, and directories held by descriptor.
//
// write_file_atomic writes to a temporary file in the same directory, fsyncs it, renames it over
// the target and fsyncs the directory: after a crash at any moment the target holds either the
// old or the new content, never a mix. Thread safety: safe from any thread; concurrent writers
// to the same path must be serialised by the caller.
//
// Dir is a directory held open by its descriptor. Every name below it is resolved with openat
// and O_NOFOLLOW, one component at a time: no symbolic link is ever followed below the
// directory, so nothing is read, written or deleted through a link, whatever is planted there
// (and a directory renamed away while held still receives what is written through its Dir).
// The directory itself (Dir::open's path) may be reached through links: it is configuration.
// Ownership: a Dir owns its descriptor (movable, not copyable). Thread safety: a Dir may be used
// from several threads; writers to the same names must be serialised by the caller.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace wasimancer {

Result<std::string> read_file(const std::filesystem::path& path, size_t max_bytes = SIZE_MAX);

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content);

// fsync a directory so a rename or unlink in it is durable.
void fsync_dir(const std::filesystem::path& dir);

// The longest path, and path component, Dir accepts (Linux's PATH_MAX and NAME_MAX).
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxNameBytes = 255;

class Dir {
 public:
  enum class Kind { Missing, File, Directory, Link, Other };
  struct Stat {
    Kind kind = Kind::Missing;
    dev_t dev = 0;
    ino_t ino = 0;
    uint64_t size = 0;
  };
  struct Written {  // a file written by write_temp
    std::string name;
    dev_t dev = 0;
    ino_t ino = 0;
  };

  Dir() = default;
  ~Dir();
  Dir(Dir&& o) noexcept;
  Dir& operator=(Dir&& o) noexcept;
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;

  // Opens `path` (links in it are followed), creating it and its parents if `create`.
  static Result<Dir> open(const std::filesystem::path& path, bool create);

  // The directory `relative` below this one ("a/b"; "" or "." is this one), one component at a
  // time without following links, creating missing ones if `create`. Errors: InvalidArgument for
  // "..", an absolute path, a component that is a link or not a directory, or one over
  // kMaxNameBytes; NotFound when missing and !create; Io otherwise.
  Result<Dir> walk(std::string_view relative, bool create) const;

  // What `name` (one component) is, without following a link.
  Stat stat(std::string_view name) const;
  // Reads a regular file (a link is refused: ELOOP).
  Result<std::string> read(std::string_view name, size_t max_bytes = SIZE_MAX) const;
  // Writes `content` to a new hidden temporary ".<final_name>.tmp-<hex>" (O_EXCL, O_NOFOLLOW)
  // and fsyncs it.
  Result<Written> write_temp(std::string_view final_name, std::string_view content) const;
  // Renames `from` to `to` in this directory (a link at `to` is replaced, never followed). With
  // no_replace, fails with AlreadyExists if `to` exists. Then fsyncs the directory.
  Result<void> rename(std::string_view from, std::string_view to, bool no_replace) const;
  // write_temp + rename over `name`.
  Result<void> write_atomic(std::string_view name, std::string_view content) const;
  // Deletes `name` if it is a regular file (NotFound if missing, InvalidArgument if it is a
  // link or anything else), then fsyncs the directory.
  Result<void> remove_file(std::string_view name) const;
  // The names in this directory (not "." and ".."), with what they are.
  std::vector<std::pair<std::string, Kind>> list() const;
  void sync() const;

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }  // for messages

 private:
  Dir(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::filesystem::path path_;
};

// Whether `name` is one plain path component: not empty, ".", ".." or longer than
// kMaxNameBytes, no '/' or NUL.
bool is_plain_component(std::string_view name);

}  // namespace wasimancer

// core/files.hpp: whole-file reads and crash-safe writes.
//
// write_file_atomic writes to a temporary file in the same directory, fsyncs it, renames it over
// the target and fsyncs the directory: after a crash at any moment the target holds either the
// old or the new content, never a mix. Thread safety: safe from any thread; concurrent writers
// to the same path must be serialised by the caller.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace wasimancer {

Result<std::string> read_file(const std::filesystem::path& path, size_t max_bytes = SIZE_MAX);

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content);

// fsync a directory so a rename or unlink in it is durable.
void fsync_dir(const std::filesystem::path& dir);

}  // namespace wasimancer

#pragma once
// Files compiled into a binary (profiles, built-in scenarios), see cmake/embed.cmake.
#include <cstddef>
#include <string_view>

namespace dropcheck::base {

struct EmbeddedFile {
  std::string_view name;  // file name without directory, e.g. "bcc.yaml"
  std::string_view data;
};

struct EmbeddedFiles {
  const EmbeddedFile* files;
  std::size_t count;
  const EmbeddedFile* begin() const { return files; }
  const EmbeddedFile* end() const { return files + count; }
};

}  // namespace dropcheck::base

#pragma once
// The dropcheck binary as a child process, for the CLI tests: its exit code, stdout and stderr
// together in `out`.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

namespace dropcheck::runner {

inline int run_cli(const std::string& args, std::string& out) {
  const std::string cmd = std::string(DROPCHECK_BINARY) + " " + args + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::array<char, 4096> buf{};
  out.clear();
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  const int status = pclose(p.release());
  return WEXITSTATUS(status);
}

}  // namespace dropcheck::runner

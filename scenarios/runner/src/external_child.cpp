// Child processes for the external fetchers (runner/external.hpp): run_child starts one
// in its own process group with a private environment and waits for it without blocking
// the io_context; output_tail reads the end of its log.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "runner/external.hpp"

extern char **environ;

namespace dropcheck::runner {

namespace asio = net::asio;

namespace {

// How often a running child is polled with waitpid(WNOHANG): short against a
// fetcher cycle (tens of ms), long enough not to busy-spin the one io_context
// thread.
constexpr auto kChildPollInterval = std::chrono::milliseconds(2);

// Kills and reaps the child if the awaiting coroutine is destroyed before it
// finished (the io_context stopped at the scenario deadline): no child outlives
// the harness.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
};

}  // namespace

net::awaitable<ChildResult> run_child(const ChildSpec &spec) {
  ChildResult res;
  const auto start = std::chrono::steady_clock::now();
  if (spec.argv.empty()) {
    res.error = "empty command";
    co_return res;
  }
  std::vector<char *> argv;
  for (const auto &a : spec.argv) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char *> envp;
  for (const auto &e : spec.env) envp.push_back(const_cast<char *>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = spec.output_path.empty() ? "/dev/null" : spec.output_path;
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
  // Own process group (so a timeout kills the fetcher and whatever it started,
  // e.g. getmail's msmtp), default signal dispositions, nothing blocked.
  sigset_t def, mask;
  sigemptyset(&def);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM})
    sigaddset(&def, sig);
  sigemptyset(&mask);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                     POSIX_SPAWN_SETSIGMASK));
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(),
                                spec.env.empty() ? environ : envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    res.error = fmt::format("cannot start {}: {}", spec.argv[0], std::strerror(rc));
    co_return res;
  }
  res.started = true;
  ChildGuard guard{pid};

  const auto deadline = start + spec.timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      res.error = fmt::format("waitpid: {}", std::strerror(errno));
      guard.pid = -1;
      co_return res;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    timer.expires_after(kChildPollInterval);
    co_await timer.async_wait(asio::use_awaitable);
  }
  guard.pid = -1;
  // Members of its process group that outlive the leader (a backgrounded MDA,
  // `cmd &` in a command fetcher) are ended too; ESRCH when there are none.
  ::kill(-pid, SIGKILL);
  if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
  res.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  co_return res;
}

std::string output_tail(const std::string &path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
  const std::size_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string data(size - from, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  std::string out;
  for (char c : data) {
    const bool ctl = static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    if (ctl) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return from > 0 ? "..." + out : out;
}

}  // namespace dropcheck::runner

#pragma once
// Helpers for the load and abuse suite: a server child process (stdout lines, an optional
// RLIMIT_NOFILE, peak RSS and CPU time from /proc, SIGTERM or SIGKILL), a temporary directory,
// and line-oriented loopback clients on net::Connection.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net/asio.hpp"
#include "net/connection.hpp"

namespace dropcheck::load {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Long run (README "Load and abuse suite"): DROPCHECK_LOAD=long. The short one runs in ctest.
inline bool long_run() {
  const char* v = std::getenv("DROPCHECK_LOAD");
  return v != nullptr && std::string(v) == "long";
}

// The programs under test: the built ones, or DROPCHECK_FAKE_SMTP / DROPCHECK_FAKE_POP3 (to run
// the suite against another build, e.g. one from before a fix).
inline std::string fake_smtp_exe() {
  const char* v = std::getenv("DROPCHECK_FAKE_SMTP");
  return v != nullptr ? v : FAKE_SMTP_EXE;
}
inline std::string fake_pop3_exe() {
  const char* v = std::getenv("DROPCHECK_FAKE_POP3");
  return v != nullptr ? v : FAKE_POP3_EXE;
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> n{0};
    path_ = fs::temp_directory_path() /
            ("dropcheck-load-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The test process holds 1,000+ client sockets: raise its soft descriptor limit to the hard one.
inline void raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

// A server child: stdout on a pipe, stderr to a file; RLIMIT_NOFILE set in the child when
// `nofile` is not 0. The destructor stops it (SIGTERM, SIGKILL after 10 s).
class Child {
 public:
  Child(std::vector<std::string> args, const fs::path& stderr_file, rlim_t nofile = 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string err = stderr_file.string();
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::dup2(fds[1], 1);
      const int efd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (efd >= 0) ::dup2(efd, 2);
      if (nofile != 0) {
        rlimit r{nofile, nofile};
        ::setrlimit(RLIMIT_NOFILE, &r);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    stop();
    if (out_ >= 0) ::close(out_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The next stdout line, waiting at most `timeout`.
  std::string read_line(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(out_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line.push_back(c);
    }
    return line;
  }
  // Still running (not exited).
  bool alive() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return false;
    }
    return true;
  }
  // Peak resident set (VmHWM) in KiB, 0 when unknown.
  long peak_rss_kib() const { return status_field("VmHWM:"); }
  long rss_kib() const { return status_field("VmRSS:"); }
  // User + system CPU time in seconds.
  double cpu_seconds() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto close = s.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream in(s.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && in >> field; ++i)
      if (i == 14 || i == 15) ticks += std::stod(field);
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    status_ = 137;
  }
  // SIGTERM; the exit code (SIGKILL after 10 s: 137).
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(100ms);
    }
    kill9();
    return status_;
  }

 private:
  long status_field(const char* key) const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
    std::string k;
    long v = 0;
    while (f >> k) {
      if (k == key) {
        f >> v;
        return v;
      }
    }
    return 0;
  }
  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = -1;
};

// "pop3 127.0.0.1:PORT" / "listening 127.0.0.1:PORT": the port.
inline unsigned short port_of(const std::string& line) {
  const auto colon = line.rfind(':');
  return colon == std::string::npos
             ? 0
             : static_cast<unsigned short>(std::stoul(line.substr(colon + 1)));
}

// One line-based client connection with a deadline on every step.
struct Client {
  explicit Client(net::asio::any_io_executor ex) : conn(std::move(ex)) {}
  net::Connection conn;
  net::error_code ec;
  std::chrono::milliseconds timeout = 30s;

  net::awaitable<bool> connect(unsigned short port) {
    const net::tcp::endpoint ep(net::asio::ip::make_address("127.0.0.1"), port);
    co_await conn.connect(ep, timeout, ec);
    co_return !ec;
  }
  net::awaitable<void> send(const std::string& data) { co_await conn.write_all(data, timeout, ec); }
  // An SMTP reply (its last line's code) or a POP3 status line ("+OK" 1, "-ERR" 0); -1 on
  // failure. `last` gets the final line.
  net::awaitable<int> smtp_reply(std::string* last = nullptr) {
    for (int i = 0; i < 100; ++i) {
      std::string line = co_await conn.read_line(4096, timeout, ec);
      if (ec || line.size() < 4) co_return -1;
      if (line[3] == '-') continue;
      if (last) *last = line;
      co_return std::atoi(line.substr(0, 3).c_str());
    }
    co_return -1;
  }
  net::awaitable<int> pop3_status(std::string* last = nullptr) {
    std::string line = co_await conn.read_line(4096, timeout, ec);
    if (last) *last = line;
    if (ec) co_return -1;
    co_return line.rfind("+OK", 0) == 0 ? 1 : line.rfind("-ERR", 0) == 0 ? 0 : -1;
  }
};

// Opens a barrier when `n` arrivals are in: every waiter wakes (STYLE.md: no sleeps).
class Gate {
 public:
  Gate(net::asio::any_io_executor ex, std::size_t n) : timer_(std::move(ex)), left_(n) {
    timer_.expires_at(net::asio::steady_timer::time_point::max());
  }
  net::awaitable<void> arrive_and_wait() {
    if (left_ > 0 && --left_ == 0) timer_.cancel();
    if (left_ == 0) co_return;
    net::error_code ec;
    co_await timer_.async_wait(net::asio::redirect_error(net::asio::use_awaitable, ec));
  }
  void give_up() {  // a session failed: open anyway, so that nobody waits for it
    left_ = 0;
    timer_.cancel();
  }

 private:
  net::asio::steady_timer timer_;
  std::size_t left_;
};

}  // namespace dropcheck::load

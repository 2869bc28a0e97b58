// Crash injection: `dropcheck fetch --config F --once` runs as a child process against an
// in-process fake provider and receiving server, each behind a loopback proxy that counts the
// fetcher's protocol steps (one step = one command line it sent, POP3 or SMTP; the lines of a
// message after DATA are content, and its terminating "." is a step). The child gets SIGKILL at
// step k, then one uninterrupted cycle runs, and the journal is judged: every local envelope
// recipient has exactly one accepted copy of each message (no loss, no duplicate), no RCPT
// named a foreign domain, the provider's maildrop is empty. k = 1, 2, ... until a run finishes
// without reaching k. Two kill points per step:
//   before-server: step k never reaches the server (the crash came first);
//   after-reply:   the server has processed step k and answered; the fetcher dies before it
//                  reads the answer (for the "." after DATA: the message is accepted and the
//                  fetcher never learns it).
// Any other crash instant is equivalent to one of these for the servers: the state file is
// replaced atomically, so it is either written (then = before-server of step k+1) or not.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "analyzer/journal_input.hpp"
#include "base/clock.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "fake_smtp/journal.hpp"
#include "fake_smtp/receiver.hpp"
#include "net/server.hpp"
#include "runner/runner.hpp"

extern char** environ;

namespace dropcheck {
namespace {

namespace fs = std::filesystem;
namespace asio = net::asio;
using net::tcp;
using namespace std::chrono_literals;

constexpr std::string_view kUser = "catchall";
constexpr std::string_view kPassword = "crash-pw";
constexpr std::string_view kLocalDomain = "firma.example";
// Bounds: one fetch child, one world (its io thread), a mode-B wait for the server's answer.
constexpr auto kChildDeadline = 30s;
constexpr auto kWorldDeadline = 120s;
constexpr auto kReplyWait = 2s;
constexpr int kMaxSteps = 400;       // more steps than any run of these mailboxes takes
constexpr int kMaxChunks = 1 << 20;  // reads per proxied connection
constexpr int kMaxAccepts = 1000;    // connections per proxy

enum class KillPoint { before_server, after_reply };
enum class Proto { pop3, smtp };

// Marks a step sent while the reply to an end of data was still owed (see the window below).
constexpr std::string_view kBehind = " (behind an unanswered end of data)";

std::string_view name_of(KillPoint p) {
  return p == KillPoint::before_server ? "before-server" : "after-reply";
}

// Shared by the test thread and the io thread.
struct Control {
  std::mutex mu;  // guards pid against reuse: it is cleared before the child is reaped
  pid_t pid = 0;
  std::atomic<int> kill_at{0};  // 0: never
  std::atomic<KillPoint> point{KillPoint::before_server};
  // io thread only (read by the test thread through on_io):
  int steps = 0;
  bool killed = false;
  std::string killed_step;
  std::vector<std::string> log;

  void kill_child(std::string why) {
    std::lock_guard<std::mutex> lock(mu);
    if (killed) return;
    killed = true;
    killed_step = std::move(why);
    if (pid > 0) ::kill(pid, SIGKILL);
  }
};

// Runs `f` on the io thread and returns its result (the world's objects are not thread-safe).
template <typename F>
auto on_io(asio::io_context& io, F f) -> decltype(f()) {
  std::promise<decltype(f())> p;
  auto fut = p.get_future();
  asio::post(io, [&] { p.set_value(f()); });
  if (fut.wait_for(10s) != std::future_status::ready) throw std::runtime_error("io thread stuck");
  return fut.get();
}

std::string upper_verb(const std::string& line) {
  std::string v;
  for (char c : line) {
    if (c == ' ' || c == '\r' || c == '\n') break;
    v.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return v;
}

std::string printable(const std::string& line) {
  std::string s = line;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  const std::string v = upper_verb(s);
  if (v == "PASS" || v == "APOP" || v == "AUTH") return v + " ***";  // secrets never logged
  return s;
}

// What the server owes for one command: POP3 multi-line body after +OK; SMTP DATA's 354.
struct Owed {
  bool multiline = false;
  bool data = false;
  bool end_of_data = false;  // SMTP: the final reply to a message's content
};

struct Link {
  Link(tcp::socket c, tcp::socket s) : client(std::move(c)), server(std::move(s)) {}
  tcp::socket client;
  tcp::socket server;
  std::string up;                 // client bytes not yet forwarded (an incomplete line)
  std::string down;               // server bytes not yet forwarded
  std::deque<Owed> owed{Owed{}};  // the greeting first
  std::size_t commands = 0;
  std::size_t replies = 0;
  std::size_t kill_on_reply = 0;  // after-reply: this reply (1 = greeting) kills the child
  bool in_data = false;           // SMTP: between 354 and the final "."
  bool in_body = false;           // POP3: inside a multi-line response
  bool closed = false;
  std::optional<asio::steady_timer> deadline;  // after-reply: the wait for the answer
  void close() {
    net::error_code ec;
    client.close(ec);
    server.close(ec);
    if (deadline) deadline->cancel();  // or the io_context stays busy until it fires
    closed = true;
  }
};

// A loopback proxy that counts the client's protocol steps and kills the child at step k.
class StepProxy {
 public:
  StepProxy(asio::io_context& io, tcp::endpoint upstream, Proto proto, Control& ctl)
      : io_(io),
        acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        upstream_(upstream),
        proto_(proto),
        ctl_(ctl) {}

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void start() { spawn(accept_loop(), "accept"); }
  void stop() {
    net::error_code ec;
    acceptor_.close(ec);
    for (auto& w : links_)
      if (auto l = w.lock()) l->close();
  }
  std::size_t open_links() {
    std::size_t n = 0;
    for (auto& w : links_)
      if (auto l = w.lock(); l && !l->closed) ++n;
    return n;
  }

 private:
  void spawn(net::awaitable<void> task, const char* what) {
    asio::co_spawn(io_, std::move(task), [what](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        ADD_FAILURE() << "proxy " << what << ": " << x.what();
      }
    });
  }

  net::awaitable<void> accept_loop() {
    for (int i = 0; i < kMaxAccepts; ++i) {
      net::error_code ec;
      tcp::socket client(io_);
      co_await acceptor_.async_accept(client, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      tcp::socket server(io_);
      co_await server.async_connect(upstream_, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        ADD_FAILURE() << "proxy cannot reach its server: " << ec.message();
        co_return;
      }
      auto link = std::make_shared<Link>(std::move(client), std::move(server));
      links_.push_back(link);
      spawn(client_to_server(link), "client->server");
      spawn(server_to_client(link), "server->client");
    }
  }

  bool multiline_pop3(const std::string& line) const {
    const std::string v = upper_verb(line);
    const bool has_arg = line.find(' ') != std::string::npos;
    return v == "CAPA" || v == "RETR" || v == "TOP" || ((v == "LIST" || v == "UIDL") && !has_arg);
  }

  net::awaitable<void> client_to_server(std::shared_ptr<Link> link) {
    std::array<char, 16384> buf;
    for (int i = 0; i < kMaxChunks && !link->closed; ++i) {
      net::error_code ec;
      const std::size_t n = co_await link->client.async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {  // the fetcher exited or was killed: the server sees the connection drop
        if (link->kill_on_reply == 0) link->close();
        co_return;
      }
      link->up.append(buf.data(), n);
      std::string out;
      for (std::size_t nl; (nl = link->up.find('\n')) != std::string::npos;) {
        const std::string line = link->up.substr(0, nl + 1);
        link->up.erase(0, nl + 1);
        bool step = true;
        bool end_of_data = false;
        if (proto_ == Proto::smtp && link->in_data) {
          step = line == ".\r\n" || line == ".\n";
          end_of_data = step;
          if (step) link->in_data = false;
        }
        if (step) {
          // Sent before the reply to an end of data passed: pipelined behind it (RFC 2920
          // 3.1), so the fetcher has not read, let alone recorded, that reply yet.
          const bool behind = std::any_of(link->owed.begin(), link->owed.end(),
                                          [](const Owed& w) { return w.end_of_data; });
          Owed o;
          if (proto_ == Proto::pop3) o.multiline = multiline_pop3(line);
          if (proto_ == Proto::smtp) o.data = upper_verb(line) == "DATA";
          o.end_of_data = end_of_data;
          link->owed.push_back(o);
          ++link->commands;
          const int k = ++ctl_.steps;
          const std::string what = fmt::format(
              "{} {}{}", proto_ == Proto::pop3 ? "POP3" : "SMTP",
              line[0] == '.' && line.size() <= 3 ? std::string("<end of data>") : printable(line),
              behind ? std::string(kBehind) : std::string());
          ctl_.log.push_back(fmt::format("{}: {}", k, what));
          if (k == ctl_.kill_at.load()) {
            if (ctl_.point.load() == KillPoint::before_server) {
              if (!out.empty())
                co_await asio::async_write(link->server, asio::buffer(out),
                                           asio::redirect_error(asio::use_awaitable, ec));
              ctl_.kill_child(what);
              link->close();
              co_return;
            }
            // Armed before the write: on loopback the answer may be read while it completes.
            link->kill_on_reply = link->commands + 1;  // + the greeting
            spawn(reply_deadline(link, what), "reply deadline");
            out += line;
            co_await asio::async_write(link->server, asio::buffer(out),
                                       asio::redirect_error(asio::use_awaitable, ec));
            co_return;  // nothing after step k reaches the server
          }
        }
        out += line;
      }
      if (!out.empty()) {
        co_await asio::async_write(link->server, asio::buffer(out),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          link->close();
          co_return;
        }
      }
    }
  }

  // after-reply: a server that never answers step k must not stall the test.
  net::awaitable<void> reply_deadline(std::shared_ptr<Link> link, std::string what) {
    link->deadline.emplace(io_);
    link->deadline->expires_after(kReplyWait);
    net::error_code ec;
    co_await link->deadline->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !ctl_.killed) {
      ctl_.kill_child(what + " (no reply within the wait)");
      link->close();
    }
  }

  // Tracks the server's replies; returns whether `line` completes one.
  bool reply_done(Link& link, const std::string& line) {
    if (proto_ == Proto::pop3) {
      if (link.in_body) {
        if (line == ".\r\n" || line == ".\n") {
          link.in_body = false;
          return true;
        }
        return false;
      }
      const bool ok = line.rfind("+OK", 0) == 0;
      if (!ok && line.rfind("-ERR", 0) != 0) return false;
      const Owed o = link.owed.empty() ? Owed{} : link.owed.front();
      if (!link.owed.empty()) link.owed.pop_front();
      if (ok && o.multiline) {
        link.in_body = true;
        return false;
      }
      return true;
    }
    // SMTP: a final reply line is "ddd" or "ddd text" (continuations are "ddd-text").
    const bool final = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                       (line.size() < 4 || line[3] != '-');
    if (!final) return false;
    const Owed o = link.owed.empty() ? Owed{} : link.owed.front();
    if (!link.owed.empty()) link.owed.pop_front();
    if (o.data && line.rfind("354", 0) == 0) link.in_data = true;
    return true;
  }

  net::awaitable<void> server_to_client(std::shared_ptr<Link> link) {
    std::array<char, 65536> buf;
    for (int i = 0; i < kMaxChunks && !link->closed; ++i) {
      net::error_code ec;
      const std::size_t n = co_await link->server.async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (link->kill_on_reply != 0) ctl_.kill_child("server closed before answering");
        link->close();
        co_return;
      }
      link->down.append(buf.data(), n);
      std::string out;
      for (std::size_t nl; (nl = link->down.find('\n')) != std::string::npos;) {
        const std::string line = link->down.substr(0, nl + 1);
        link->down.erase(0, nl + 1);
        if (reply_done(*link, line) && ++link->replies == link->kill_on_reply) {
          // The server has answered step k; the fetcher dies before it reads the answer.
          ctl_.kill_child(ctl_.log.empty() ? "" : ctl_.log.back());
          link->close();
          co_return;
        }
        out += line;
      }
      if (!out.empty()) {
        co_await asio::async_write(link->client, asio::buffer(out),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          link->close();
          co_return;
        }
      }
    }
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  tcp::endpoint upstream_;
  Proto proto_;
  Control& ctl_;
  std::vector<std::weak_ptr<Link>> links_;
};

struct MessageSpec {
  std::string id;
  std::string from;  // "" = <>
  std::vector<std::string> to;
  std::string raw;
};

// N = 3 messages, each with a blind-copy local recipient (and foreign ones in the envelope or
// the headers), one from the null sender.
std::vector<MessageSpec> mailbox() {
  std::vector<MessageSpec> out;
  out.push_back({"crash-1",
                 "alice@sender.example",
                 {"a@firma.example", "b@firma.example", "x@foreign.example"},
                 "From: alice@sender.example\r\nTo: a@firma.example\r\nCc: x@foreign.example\r\n"
                 "Subject: one\r\nMessage-ID: <crash-1@sender.example>\r\n"
                 "X-Dropcheck-Id: crash-1\r\n\r\nFirst.\r\n.dot line\r\n"});
  out.push_back({"crash-2",
                 "",
                 {"c@firma.example", "hans.meier@firma.example"},
                 "From: MAILER-DAEMON@mx.sender.example\r\nTo: c@firma.example\r\n"
                 "Subject: Delivery Status Notification\r\n"
                 "Message-ID: <crash-2@mx.sender.example>\r\n"
                 "X-Dropcheck-Id: crash-2\r\n\r\nA receipt.\r\n"});
  out.push_back({"crash-3",
                 "bob@partner.example",
                 {"b@firma.example", "a@firma.example"},
                 "From: bob@partner.example\r\nTo: b@firma.example\r\nCc: d@partner.example\r\n"
                 "Subject: three\r\nMessage-ID: <crash-3@partner.example>\r\n"
                 "X-Dropcheck-Id: crash-3\r\n\r\nThird.\r\n"});
  return out;
}

std::string make_temp_dir() {
  std::string t = (fs::temp_directory_path() / "dropcheck-crash-XXXXXX").string();
  if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
  return t;
}

struct ChildExit {
  bool exited = false;
  int code = -1;
  int signal = 0;
  bool timed_out = false;
};

// One fresh provider (profile, mailbox) + receiver, each behind a StepProxy, on an io thread.
class World {
 public:
  World(const std::string& profile_name, const std::string& dir) : dir_(dir) {
    auto profile = fake_pop3::load_profile(profile_name);
    if (!profile.ok()) throw std::runtime_error(profile.error().message);
    const tcp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);
    journal_ = std::make_unique<fake_smtp::Journal>(fs::path(dir) / "journal");
    fake_smtp::Policy policy;
    policy.local_domains = {std::string(kLocalDomain)};
    receiver_ = std::make_unique<fake_smtp::Receiver>(policy, *journal_, clock_);
    smtp_ = std::make_unique<net::Server>(io_, loopback, receiver_->factory());
    provider_ = std::make_unique<fake_pop3::Provider>(
        std::move(profile).value(), std::string(kUser), std::string(kPassword), clock_);
    pop_ = std::make_unique<net::Server>(
        io_, loopback, [this](const net::Peer& p) { return provider_->make_pop3_session(p); },
        provider_->pop3_server_options());
    for (const auto& m : mailbox()) provider_->deliver(m.from, m.to, m.raw);
    pop_proxy_ = std::make_unique<StepProxy>(io_, pop_->local_endpoint(), Proto::pop3, ctl_);
    smtp_proxy_ = std::make_unique<StepProxy>(io_, smtp_->local_endpoint(), Proto::smtp, ctl_);
    smtp_->start();
    pop_->start();
    pop_proxy_->start();
    smtp_proxy_->start();
    thread_ = std::thread([this] { io_.run_for(kWorldDeadline); });
    write_config();
  }

  ~World() {
    try {
      on_io(io_, [this] {
        pop_proxy_->stop();
        smtp_proxy_->stop();
        pop_->stop();
        smtp_->stop();
        return true;
      });
    } catch (const std::exception&) {
      io_.stop();
    }
    thread_.join();
    io_.restart();
    io_.run_for(1s);  // let closed sessions finish before their objects go
  }

  // Runs one `dropcheck fetch --once`; SIGKILL at step `kill_at` (0: never).
  ChildExit fetch(int kill_at, KillPoint point) {
    on_io(io_, [&] {
      ctl_.steps = 0;
      ctl_.killed = false;
      ctl_.killed_step.clear();
      ctl_.log.clear();
      return true;
    });
    ctl_.kill_at = kill_at;
    ctl_.point = point;
    const std::string log = dir_ + "/fetch.log";
    std::vector<std::string> args = {DROPCHECK_BINARY, "fetch", "--config", config_, "--once"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    ChildExit res;
    pid_t pid = 0;
    {
      std::lock_guard<std::mutex> lock(ctl_.mu);
      const int rc = ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
      posix_spawn_file_actions_destroy(&fa);
      posix_spawnattr_destroy(&attr);
      if (rc != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
      ctl_.pid = pid;
    }
    const auto deadline = std::chrono::steady_clock::now() + kChildDeadline;
    for (;;) {  // bounded by the deadline
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid)
        break;
      if (std::chrono::steady_clock::now() > deadline) {
        res.timed_out = true;
        ::kill(-pid, SIGKILL);
        break;
      }
      std::this_thread::sleep_for(2ms);
    }
    {
      std::lock_guard<std::mutex> lock(ctl_.mu);
      ctl_.pid = 0;  // before reaping: the proxy can no longer signal a reused pid
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::kill(-pid, SIGKILL);  // nothing of the group may outlive the run
    if (WIFEXITED(status)) {
      res.exited = true;
      res.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      res.signal = WTERMSIG(status);
    }
    wait_quiet();
    return res;
  }

  bool killed() {
    return on_io(io_, [this] { return ctl_.killed; });
  }
  std::string killed_step() {
    return on_io(io_, [this] { return ctl_.killed_step; });
  }
  int steps() {
    return on_io(io_, [this] { return ctl_.steps; });
  }
  std::vector<std::string> step_log() {
    return on_io(io_, [this] { return ctl_.log; });
  }
  std::size_t stored() {
    return on_io(io_, [this] { return provider_->stored_count(); });
  }
  std::string fetch_log() const {
    std::ifstream in(dir_ + "/fetch.log");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
  }
  fs::path journal_dir() const { return fs::path(dir_) / "journal"; }

 private:
  // Until every proxied and served connection of the last child is gone (the provider's
  // maildrop lock is released), so the next cycle is not refused as "in use".
  void wait_quiet() {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      const bool quiet = on_io(io_, [this] {
        return pop_->active_sessions() == 0 && smtp_->active_sessions() == 0 &&
               pop_proxy_->open_links() == 0 && smtp_proxy_->open_links() == 0;
      });
      if (quiet) return;
      std::this_thread::sleep_for(2ms);
    }
    ADD_FAILURE() << "connections still open 5 s after the fetch child ended";
  }

  void write_config() {
    const std::string pw = dir_ + "/pw";
    std::ofstream(pw) << kPassword << "\n";
    fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
    config_ = dir_ + "/fetch.yaml";
    std::ofstream(config_) << fmt::format(
        "version: 1\n"
        "name: crash\n"
        "pop3: {{host: 127.0.0.1, port: {}, tls: none, user: {}, password_file: {}, timeout: "
        "10s}}\n"
        "smtp: {{host: 127.0.0.1, port: {}, timeout: 10s}}\n"
        "routing:\n"
        "  envelope: [{{header: {}, occurrence: 0}}]\n"
        "  local_domains: [{}]\n"
        "  fallback: postmaster@{}\n"
        "state_dir: {}/state\n",
        pop_proxy_->port(), kUser, pw, smtp_proxy_->port(), provider_->profile().envelope_header,
        kLocalDomain, kLocalDomain, dir_);
  }

  std::string dir_;
  std::string config_;
  base::SystemClock clock_;
  Control ctl_;
  asio::io_context io_;
  std::unique_ptr<fake_smtp::Journal> journal_;
  std::unique_ptr<fake_smtp::Receiver> receiver_;
  std::unique_ptr<net::Server> smtp_;
  std::unique_ptr<fake_pop3::Provider> provider_;
  std::unique_ptr<net::Server> pop_;
  std::unique_ptr<StepProxy> pop_proxy_;
  std::unique_ptr<StepProxy> smtp_proxy_;
  std::thread thread_;
};

std::string header_value(const std::string& message, const std::string& name) {
  const auto lines = analyzer::header_lines(message, name);
  if (lines.empty()) return "";
  std::string v = lines.front().substr(lines.front().find(':') + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.pop_back();
  return v;
}

// Problems in the journal after the crash run and the final run; empty when all is well.
std::vector<std::string> judge(const fs::path& journal) {
  std::vector<std::string> problems;
  auto records = fake_smtp::read_journal(journal);
  if (!records.ok()) return {"journal: " + records.error().message};
  std::map<std::pair<std::string, std::string>, std::vector<std::uint64_t>> copies;
  for (const auto& rec : *records) {
    for (const auto& r : rec.rcpts)
      if (r.address.size() < kLocalDomain.size() + 1 ||
          r.address.substr(r.address.size() - kLocalDomain.size() - 1) !=
              "@" + std::string(kLocalDomain))
        problems.push_back(fmt::format("journal #{}: RCPT to foreign {}", rec.seq, r.address));
    if (!(rec.data_complete && rec.data_code >= 200 && rec.data_code < 300)) continue;
    const std::string id = header_value(rec.message, "X-Dropcheck-Id");
    for (const auto& r : rec.rcpts)
      if (r.code >= 200 && r.code < 300) copies[{id, r.address}].push_back(rec.seq);
  }
  for (const auto& m : mailbox()) {
    for (const auto& to : m.to) {
      if (to.find("@" + std::string(kLocalDomain)) == std::string::npos) continue;
      const auto it = copies.find({m.id, to});
      const std::size_t n = it == copies.end() ? 0 : it->second.size();
      if (n == 0) problems.push_back(fmt::format("lost: {} for {}", m.id, to));
      if (n > 1) {
        std::string seqs;
        for (auto s : it->second) seqs += fmt::format(" #{}", s);
        problems.push_back(
            fmt::format("duplicate: {} for {} ({} copies: journal{})", m.id, to, n, seqs));
      }
    }
  }
  // The analyzer's independent judgement (its real-time "stall" measure aside).
  analyzer::Truth truth;
  truth.scenario = "crash";
  truth.local_domains = {std::string(kLocalDomain)};
  truth.fallback = "postmaster@" + std::string(kLocalDomain);
  for (const auto& m : mailbox()) truth.messages.push_back({m.id, m.from, m.to, m.raw, 0, {}});
  auto judged = analyzer::analyze_journal(truth, journal);
  if (!judged.ok()) return {"analyzer: " + judged.error().message};
  const auto& report = *judged;
  for (const auto& f : report.findings)
    if (f.type != "stall" && f.type != "duplicate" && f.type != "lost-recipient")
      problems.push_back(
          fmt::format("analyzer: {} {} {} ({})", f.type, f.message, f.recipient, f.evidence));
  return problems;
}

struct CrashCase {
  std::string profile;
  KillPoint point;
};

class CrashTest : public ::testing::TestWithParam<CrashCase> {};

TEST_P(CrashTest, NoLossNoDuplicateAtAnyStep) {
  const CrashCase c = GetParam();
  std::vector<std::string> failures;
  int last_k = 0;
  int known_window = 0;  // at the end of data's reply
  int known_behind = 0;  // at a step sent behind an unanswered end of data
  bool completed = false;
  for (int k = 1; k <= kMaxSteps && !completed; ++k) {
    last_k = k;
    const std::string dir = make_temp_dir();
    std::vector<std::string> problems;
    std::string step;
    {
      World w(c.profile, dir);
      const ChildExit first = w.fetch(k, c.point);
      const std::vector<std::string> first_steps = w.step_log();
      completed = !w.killed();
      step = completed ? "(none: the run completed)" : w.killed_step();
      if (first.timed_out) problems.push_back("crash run timed out");
      if (completed && !(first.exited && first.code == 0))
        problems.push_back(fmt::format("uninterrupted run exited {} signal {}: {}", first.code,
                                       first.signal, w.fetch_log()));
      if (!completed && first.signal != SIGKILL)
        problems.push_back(
            fmt::format("expected SIGKILL, got exit {} signal {}", first.code, first.signal));
      const ChildExit final_run = w.fetch(0, c.point);
      if (!(final_run.exited && final_run.code == 0))
        problems.push_back(fmt::format("final run exited {} signal {}: {}", final_run.code,
                                       final_run.signal, w.fetch_log()));
      if (const auto left = w.stored(); left != 0)
        problems.push_back(fmt::format("{} message(s) left in the maildrop", left));
      if (completed) {
        std::string steps;
        for (const auto& s : first_steps) steps += "  " + s + "\n";
        std::cout << "steps of an uninterrupted run (" << c.profile << "):\n" << steps;
      }
    }
    for (auto& p : judge(fs::path(dir) / "journal")) problems.push_back(std::move(p));
    // The one window SMTP/LMTP cannot close from the client side (RFC 1047): the server has
    // accepted the message and answered 250 to the end of DATA, and the fetcher dies before it
    // reads that reply, so its state never records the delivery and the next cycle sends it
    // again. Exactly one extra copy there is the documented at-least-once limit; anything else
    // at that step (a loss, a third copy, another finding) still fails. With SMTP pipelining
    // across messages the window also spans the next message's envelope, sent behind the end
    // of data before its reply is read (one round trip per message): a kill at those steps,
    // at either point, is the same window.
    const bool behind = step.find(kBehind) != std::string::npos;
    if ((c.point == KillPoint::after_reply && step.find("end of data") != std::string::npos) ||
        behind) {
      std::size_t known = 0;
      std::erase_if(problems, [&](const std::string& p) {
        const bool window =
            p.rfind("duplicate:", 0) == 0 && p.find("(2 copies") != std::string::npos;
        known += window ? 1 : 0;
        return window;
      });
      if (known > 0) ++(behind ? known_behind : known_window);
    }
    if (!problems.empty()) {
      std::string all;
      for (const auto& p : problems) all += "\n    " + p;
      failures.push_back(
          fmt::format("k={} killed {} step [{}]:{}", k, name_of(c.point), step, all));
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  EXPECT_TRUE(completed) << "no run completed within " << kMaxSteps << " steps";
  std::cout << c.profile << " " << name_of(c.point) << ": " << last_k - 1 << " crash points tried, "
            << failures.size() << " with problems, " << known_window << " + " << known_behind
            << " in the end-of-DATA reply window, at its reply + behind it (one duplicate each, "
               "documented)\n";
  for (const auto& f : failures) ADD_FAILURE() << f;
  // The known window must actually be exercised when replies are cut (proof the test reaches
  // the end-of-DATA step), and never appears when the server never saw the step.
  if (c.point == KillPoint::after_reply)
    EXPECT_GT(known_window, 0);
  else
    EXPECT_EQ(known_window, 0);
}

INSTANTIATE_TEST_SUITE_P(Profiles, CrashTest,
                         ::testing::Values(CrashCase{"x-envelope-to", KillPoint::before_server},
                                           CrashCase{"x-envelope-to", KillPoint::after_reply},
                                           CrashCase{"envelope-to", KillPoint::before_server},
                                           CrashCase{"envelope-to", KillPoint::after_reply}),
                         [](const ::testing::TestParamInfo<CrashCase>& param_info) {
                           std::string n = param_info.param.profile + "_" +
                                           std::string(name_of(param_info.param.point));
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace dropcheck

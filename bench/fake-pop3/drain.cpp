// bench_fake_pop3_drain: drain a POP3 maildrop (RETR + DELE of every message, pipelined, then
// QUIT) and report messages per second. Either against the in-process fake-pop3 (default, the
// maildrop filled through Provider::deliver) or against another server (--connect, e.g. Dovecot
// prepared by run.sh with --write-maildir). One key=value result line on stdout.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "base/clock.hpp"
#include "fake_pop3/fake_pop3.hpp"
#include "net/asio.hpp"
#include "net/server.hpp"

namespace {

using namespace dropcheck;
namespace fs = std::filesystem;

// A deterministic test message of about `size` octets; some lines start with '.' so the
// byte-stuffing path is exercised on both servers.
std::string make_message(std::size_t i, std::size_t size) {
  std::string m = fmt::format(
      "From: sender{}@world.example\r\nTo: user{}@firma.example\r\nSubject: bench {}\r\n"
      "Message-ID: <bench.{}@world.example>\r\n\r\n",
      i % 97, i % 13, i, i);
  std::size_t line = 0;
  while (m.size() + 80 < size) {
    m += (line % 25 == 0) ? "." : "x";
    m += fmt::format("{:075}\r\n", i * 1000 + line);
    ++line;
  }
  return m;
}

// Blocking POP3 client with a read buffer.
class Client {
 public:
  Client(net::asio::io_context& io, const net::tcp::endpoint& ep) : sock_(io) { sock_.connect(ep); }

  std::string line() {
    for (;;) {
      const auto e = buf_.find("\r\n", pos_);
      if (e != std::string::npos) {
        std::string l = buf_.substr(pos_, e - pos_);
        pos_ = e + 2;
        return l;
      }
      fill();
    }
  }
  // A dot-terminated body; returns its unstuffed size in octets.
  std::size_t body() {
    std::size_t scanned = 0;  // octets after pos_ already searched (fill() may move pos_)
    for (;;) {
      if (buf_.size() - pos_ >= 3 && buf_.compare(pos_, 3, ".\r\n") == 0) {  // empty body
        pos_ += 3;
        return 0;
      }
      const auto e = buf_.find("\r\n.\r\n", pos_ + scanned);
      if (e != std::string::npos) {
        const std::string_view b(buf_.data() + pos_, e + 2 - pos_);
        std::size_t stuffed = (!b.empty() && b[0] == '.') ? 1 : 0;
        for (std::size_t k = b.find("\r\n.."); k != std::string_view::npos;
             k = b.find("\r\n..", k + 3))
          ++stuffed;
        pos_ = e + 5;
        return b.size() - stuffed;
      }
      const std::size_t have = buf_.size() - pos_;
      scanned = have >= 4 ? have - 4 : 0;
      fill();
    }
  }
  void send(const std::string& s) { net::asio::write(sock_, net::asio::buffer(s)); }
  std::string cmd(const std::string& c) {
    send(c + "\r\n");
    return line();
  }
  std::uint64_t bytes_in() const { return bytes_in_; }

 private:
  void fill() {
    if (pos_ > 1 << 20) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    char tmp[64 * 1024];
    const auto n = sock_.read_some(net::asio::buffer(tmp));
    bytes_in_ += n;
    buf_.append(tmp, n);
  }
  net::tcp::socket sock_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t bytes_in_ = 0;
};

void expect_ok(const std::string& reply, const std::string& what) {
  if (reply.compare(0, 3, "+OK") != 0) throw std::runtime_error(what + ": " + reply);
}

struct DrainResult {
  std::size_t messages = 0;
  std::uint64_t octets = 0;
  double seconds = 0;
};

DrainResult drain(const net::tcp::endpoint& ep, const std::string& user,
                  const std::string& password, std::size_t window) {
  net::asio::io_context io;
  Client c(io, ep);
  expect_ok(c.line(), "greeting");
  const auto t0 = std::chrono::steady_clock::now();
  expect_ok(c.cmd("USER " + user), "USER");
  expect_ok(c.cmd("PASS " + password), "PASS");
  const auto stat = c.cmd("STAT");
  expect_ok(stat, "STAT");
  const std::size_t n = std::stoul(stat.substr(4));
  DrainResult r;
  std::size_t sent = 0;
  std::size_t done = 0;
  while (done < n) {
    std::string batch;
    while (sent < n && sent - done < window) {
      ++sent;
      batch += fmt::format("RETR {}\r\nDELE {}\r\n", sent, sent);
    }
    if (!batch.empty()) c.send(batch);
    const auto st = c.line();
    expect_ok(st, fmt::format("RETR {}", done + 1));
    const std::size_t announced = std::stoul(st.substr(4));
    const std::size_t got = c.body();
    if (got != announced)
      throw std::runtime_error(
          fmt::format("message {}: announced {} octets, got {}", done + 1, announced, got));
    r.octets += got;
    expect_ok(c.line(), fmt::format("DELE {}", done + 1));
    ++done;
  }
  expect_ok(c.cmd("QUIT"), "QUIT");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.messages = n;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Drain a POP3 maildrop and report messages per second"};
  std::size_t messages = 10'000, size = 20 * 1024, window = 64;
  std::string connect, user = "catchall", password = "secret", write_maildir, label;
  app.add_option("--messages", messages, "messages to create (in-process / --write-maildir)");
  app.add_option("--size", size, "approximate message size in octets");
  app.add_option("--window", window, "pipelined RETR+DELE pairs in flight");
  app.add_option("--connect", connect, "drain this server (127.0.0.1:PORT) instead");
  app.add_option("--user", user, "POP3 user");
  app.add_option("--password", password, "POP3 password");
  app.add_option("--write-maildir", write_maildir,
                 "write the messages as a Maildir (for another server) and exit");
  app.add_option("--label", label, "server name in the result line");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!write_maildir.empty()) {
      for (const char* sub : {"cur", "new", "tmp"})
        fs::create_directories(fs::path(write_maildir) / sub);
      for (std::size_t i = 0; i < messages; ++i) {
        std::ofstream f(
            fs::path(write_maildir) / "new" / fmt::format("{}.M{}P1.bench", 1700000000 + i, i),
            std::ios::binary);
        f << make_message(i, size);
      }
      return 0;
    }
    DrainResult r;
    if (!connect.empty()) {
      const auto ep = net::parse_endpoint(connect);
      if (!net::is_loopback(ep)) throw std::runtime_error("--connect: loopback only");
      r = drain(ep, user, password, window);
      if (label.empty()) label = "external";
    } else {
      base::SystemClock clock;
      auto profile = fake_pop3::load_profile("x-envelope-to");
      if (!profile) throw std::runtime_error(profile.error().message);
      // The bench measures the POP3 path: no stamping, so stored octets match the Maildir.
      profile->envelope_header.clear();
      profile->return_path = false;
      fake_pop3::Provider provider(*profile, user, password, clock);
      for (std::size_t i = 0; i < messages; ++i)
        provider.deliver("sender@world.example", {"user@firma.example"}, make_message(i, size));
      net::asio::io_context io;
      net::Server server(
          io, {net::asio::ip::make_address("127.0.0.1"), 0},
          [&](const net::Peer& p) { return provider.make_pop3_session(p); },
          provider.pop3_server_options());
      server.start();
      auto guard = net::asio::make_work_guard(io);
      std::thread t([&] { io.run(); });
      try {
        r = drain(server.local_endpoint(), user, password, window);
      } catch (...) {
        net::asio::post(io, [&] { server.stop(); });
        guard.reset();
        t.join();
        throw;
      }
      net::asio::post(io, [&] { server.stop(); });
      guard.reset();
      t.join();
      if (provider.stored_count() != 0) throw std::runtime_error("messages left after QUIT");
      if (label.empty()) label = "fake-pop3";
    }
    fmt::print(
        "server={} messages={} octets={} seconds={:.3f} msgs_per_s={:.0f} MiB_per_s={:.1f}\n",
        label, r.messages, r.octets, r.seconds, static_cast<double>(r.messages) / r.seconds,
        static_cast<double>(r.octets) / r.seconds / (1024.0 * 1024.0));
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_fake_pop3_drain: {}\n", e.what());
    return 1;
  }
}

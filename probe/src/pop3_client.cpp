#include "probe/pop3_client.hpp"

#include <fmt/format.h>

#include "protocol/dot.hpp"

namespace dropcheck::probe {

namespace asio = net::asio;
namespace ssl = net::ssl;

bool Budget::take(std::string &why) {
  if (expired()) {
    why = "run time limit reached";
    return false;
  }
  if (used_ >= max_commands_) {
    why = fmt::format("command budget of {} exhausted", max_commands_);
    return false;
  }
  ++used_;
  return true;
}

net::awaitable<bool> connect_to(net::Connection &c, const Endpoint &ep,
                                std::chrono::milliseconds timeout,
                                std::string &error) {
  net::error_code ec;
  std::vector<net::tcp::endpoint> targets;
  const auto literal = asio::ip::make_address(ep.host, ec);
  if (!ec) {
    targets.emplace_back(literal, ep.port);
  } else {
    ec = {};
    net::tcp::resolver resolver(co_await asio::this_coro::executor);
    auto results = co_await resolver.async_resolve(
        ep.host, std::to_string(ep.port),
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      error = fmt::format("cannot resolve {}: {}", ep.host, ec.message());
      co_return false;
    }
    for (const auto &r : results)
      targets.push_back(r.endpoint());
  }
  // Bounded: a name rarely has more than a handful of addresses; try at most 4.
  constexpr std::size_t kMaxAddresses = 4;
  for (std::size_t i = 0; i < targets.size() && i < kMaxAddresses; ++i) {
    ec = {};
    co_await c.connect(targets[i], timeout, ec);
    if (!ec)
      co_return true;
    c.close();
  }
  error = fmt::format("cannot connect to {}:{}: {}", ep.host, ep.port,
                      ec ? ec.message() : "no address");
  co_return false;
}

ssl::context make_client_tls(const std::string &ca_file, bool verify) {
  ssl::context ctx(ssl::context::tls_client);
  if (!verify) {
    ctx.set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx.set_verify_mode(ssl::verify_peer);
  if (!ca_file.empty()) {
    ctx.load_verify_file(
        ca_file); // throws: a configuration error, reported by the caller
  } else {
    ctx.set_default_verify_paths();
  }
  return ctx;
}

Pop3Client::Pop3Client(asio::any_io_executor ex, Budget &budget,
                       std::chrono::milliseconds timeout)
    : conn_(ex), budget_(budget), timeout_(timeout) {}

net::awaitable<bool> Pop3Client::connect(const Endpoint &ep) {
  open_ = co_await connect_to(conn_, ep, timeout_, error_);
  co_return open_;
}

net::awaitable<bool> Pop3Client::handshake(ssl::context &ctx,
                                           const std::string &host) {
  net::error_code ec;
  co_await conn_.handshake_client(ctx, host, timeout_, ec);
  if (ec) {
    error_ = "TLS handshake: " + ec.message();
    open_ = false;
    co_return false;
  }
  co_return true;
}

net::awaitable<std::optional<std::string>> Pop3Client::line() {
  net::error_code ec;
  std::string l = co_await conn_.read_line(kMaxLineOctets, timeout_, ec);
  if (ec) {
    error_ = ec == asio::error::message_size ? "response line too long"
                                             : ec.message();
    open_ = false;
    co_return std::nullopt;
  }
  co_return l;
}

net::awaitable<std::optional<protocol::Pop3Status>> Pop3Client::greeting() {
  auto l = co_await line();
  if (!l)
    co_return std::nullopt;
  auto st = protocol::parse_pop3_status(*l);
  if (!st.valid) {
    error_ = "not a POP3 greeting";
    co_return std::nullopt;
  }
  co_return st;
}

net::awaitable<std::optional<protocol::Pop3Status>>
Pop3Client::command(std::string_view cmd, bool secret) {
  const std::string verb(cmd.substr(0, cmd.find(' ')));
  if (!open_) {
    error_ = "connection closed";
    co_return std::nullopt;
  }
  std::string why;
  if (!budget_.take(why)) {
    error_ = why;
    co_return std::nullopt;
  }
  net::error_code ec;
  co_await conn_.write_all(std::string(cmd) + "\r\n", timeout_, ec);
  if (ec) {
    error_ =
        fmt::format("{}: {}", secret ? verb : std::string(cmd), ec.message());
    open_ = false;
    co_return std::nullopt;
  }
  auto l = co_await line();
  if (!l) {
    error_ = fmt::format("{}: {}", secret ? verb : std::string(cmd), error_);
    co_return std::nullopt;
  }
  auto st = protocol::parse_pop3_status(*l);
  if (!st.valid) {
    error_ = fmt::format("{}: not a POP3 status line",
                         secret ? verb : std::string(cmd));
    open_ = false;
    co_return std::nullopt;
  }
  co_return st;
}

net::awaitable<std::optional<std::string>>
Pop3Client::multiline(std::size_t max) {
  protocol::DotDecoder dec;
  // Bounded by `max` octets: every line adds at least its line ending.
  while (!dec.done()) {
    auto l = co_await line();
    if (!l)
      co_return std::nullopt;
    dec.feed(*l);
    if (dec.body().size() > max) {
      error_ = fmt::format("multi-line response larger than {} octets", max);
      open_ = false;
      co_return std::nullopt;
    }
  }
  co_return dec.take_body();
}

net::awaitable<void> Pop3Client::quit() {
  if (open_) {
    std::string why;
    if (budget_.take(why)) {
      net::error_code ec;
      co_await conn_.write_all("QUIT\r\n", timeout_, ec);
      if (!ec)
        co_await line();
    }
  }
  open_ = false;
  conn_.close();
}

} // namespace dropcheck::probe

#include "client/connect.hpp"

#include <fmt/format.h>

#include <vector>

#include "base/strings.hpp"
#include "client/limits.hpp"

namespace dropcheck::client {

namespace asio = net::asio;

namespace {

// RFC 1035 2.3.4 / RFC 1123 2.1.
constexpr std::size_t kMaxHostName = 253;
constexpr std::size_t kMaxLabel = 63;

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabel) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool valid_host(std::string_view host) {
  net::error_code ec;
  (void)asio::ip::make_address(std::string(host), ec);
  if (!ec) return true;
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > kMaxHostName) return false;
  for (auto label : base::split(host, '.'))
    if (!valid_label(label)) return false;
  return true;
}

net::awaitable<bool> connect(net::Connection& conn, const Endpoint& ep,
                             std::chrono::milliseconds timeout, std::string& error) {
  net::error_code ec;
  std::vector<net::tcp::endpoint> targets;
  const auto literal = asio::ip::make_address(ep.host, ec);
  if (!ec) {
    targets.emplace_back(literal, ep.port);
  } else {
    ec = {};
    net::tcp::resolver resolver(co_await asio::this_coro::executor);
    auto results = co_await resolver.async_resolve(ep.host, std::to_string(ep.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      error = fmt::format("cannot resolve {}: {}", ep.host, ec.message());
      co_return false;
    }
    for (const auto& r : results) targets.push_back(r.endpoint());
  }
  std::string tried;
  for (std::size_t i = 0; i < targets.size() && i < kMaxConnectAddresses; ++i) {
    ec = {};
    co_await conn.connect(targets[i], timeout, ec);
    if (!ec) co_return true;
    tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ",
                         targets[i].address().to_string(), ec.message());
    conn.close();
  }
  error = fmt::format("cannot connect to {} port {} ({})", ep.host, ep.port,
                      tried.empty() ? "no address" : tried);
  co_return false;
}

}  // namespace dropcheck::client

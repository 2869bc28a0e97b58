#include "client/connect.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "base/strings.hpp"
#include "client/limits.hpp"

namespace dropcheck::client {

namespace asio = net::asio;

namespace {

bool is_ip_literal(const std::string& h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return ::inet_pton(AF_INET, h.c_str(), buf) == 1 || ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

}  // namespace

bool valid_host(std::string_view host) {
  return is_ip_literal(std::string(host)) || base::is_dns_name(host);
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
    tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", targets[i].address().to_string(),
                         ec.message());
    conn.close();
  }
  error = fmt::format("cannot connect to {} port {} ({})", ep.host, ep.port,
                      tried.empty() ? "no address" : tried);
  co_return false;
}

}  // namespace dropcheck::client

#pragma once
// The project's one Asio include (shared/STYLE.md): Asio 1.18's awaitable.hpp misses <utility>.
#include <utility>
// clang-format off
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
// clang-format on

namespace dropcheck::net {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
template <typename T = void>
using awaitable = boost::asio::awaitable<T>;
}  // namespace dropcheck::net

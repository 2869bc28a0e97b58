#pragma once
// A small HTTP/1.1 server (Boost.Beast) for the page and the REST API (web/api.hpp) on the
// program's io_context: the listener only accepts and spawns, one coroutine per connection
// owns its stream, every read and write has a deadline, stop() closes everything so run()
// returns. GET /api/events is a server-sent event stream: "added" {"id":N} for each new record
// and "reset" after a delete-all, a comment line as heartbeat.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string_view>

#include "net/asio.hpp"
#include "web/api.hpp"
#include "web/store.hpp"

namespace dropcheck::web {

// A request's start line and header fields (431 beyond: ample for a browser or curl; Beast's
// default is the same 8 KiB).
inline constexpr std::size_t kMaxRequestHeaderOctets = 8 * 1024;
// No route takes a body (DELETE has none): anything beyond this is 413.
inline constexpr std::size_t kMaxRequestBodyOctets = 1024;

struct HttpOptions {
  std::size_t max_sessions = 16;  // concurrent connections (event streams included); more: 503
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);   // to read a whole request
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);  // one response or event
  std::chrono::milliseconds heartbeat = std::chrono::seconds(15);      // event stream comment
  // Answer only requests whose Host names a loopback address or localhost (403 otherwise): a
  // web page elsewhere cannot reach the API through DNS rebinding. Off with a non-loopback
  // listener.
  bool loopback_host_only = true;
  std::function<void(std::string_view)> log;  // one key=value line per event
  PageOptions page{.title = "dropcheck: what arrived", .live = true};
};

class HttpServer {
 public:
  HttpServer(net::asio::io_context& io, const net::tcp::endpoint& ep, Store& store,
             HttpOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  net::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  void start();
  void stop();
  // The store changed (a record added, delete-all): wakes the event streams. Call on the
  // io_context's thread.
  void notify();
  std::size_t active_sessions() const { return active_; }

 private:
  class Session;
  class Registration;
  Response answer(const boost::beast::http::request<boost::beast::http::string_body>& req);
  net::awaitable<void> accept_loop();
  net::awaitable<void> run_session(net::tcp::socket socket);
  net::awaitable<void> serve_events(Session& s);
  void refuse(net::tcp::socket socket);

  net::asio::io_context& io_;
  net::tcp::acceptor acceptor_;
  Store& store_;
  HttpOptions options_;
  bool stopped_ = false;
  std::size_t active_ = 0;
  std::list<Session*> sessions_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
};

// True when an HTTP Host value ("localhost:8025", "127.0.0.1", "[::1]:80") names loopback.
bool is_loopback_host(std::string_view host);

}  // namespace dropcheck::web

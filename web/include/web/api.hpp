#pragma once
// The JSON REST API and the page as pure handlers: a request (method, target) in, a response
// out; no sockets (web/server.hpp moves the bytes). Routes:
//   GET    /                          the page (text/html)
//   GET    /api/messages[?q=&limit=&offset=]   list, newest first
//   GET    /api/messages/{id}         one record, with headers and findings
//   GET    /api/messages/{id}/raw     the message bytes as received
//   DELETE /api/messages              delete all (the view only; the journal file is kept)
//   GET    /page/items/{id}           the page's row and view of one record (live update)
//   GET    /api/events                server-sent events (answered by the server, not here)
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "web/render.hpp"
#include "web/store.hpp"

namespace dropcheck::web {

// ?limit= default and maximum (a larger limit is 400: page with offset).
inline constexpr std::size_t kListDefaultLimit = 50;
inline constexpr std::size_t kListMaxLimit = 1000;
// ?q= longer than this is 400 (no address or Message-ID is longer: RFC 5321 4.5.3.1.3 path
// 256 octets, RFC 5322 2.1.1 line 998).
inline constexpr std::size_t kMaxQueryOctets = 998;

struct Request {
  std::string method;  // "GET", "DELETE", "HEAD", ...
  std::string target;  // "/api/messages?q=bob"
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra header fields
};

// Handles every route but /api/events. DELETE changes the store; the caller announces it.
Response handle(Store& store, const Request& request, const PageOptions& page);

// Path and decoded query parameter (percent-decoding, '+' as space); "" when absent.
std::string_view target_path(std::string_view target);
std::string query_param(std::string_view target, std::string_view name);

// A server-sent event (text/event-stream): "event: NAME\ndata: DATA\n\n".
std::string sse_event(std::string_view name, std::string_view data);

}  // namespace dropcheck::web

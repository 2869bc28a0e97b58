#pragma once
// The one POP3 client (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 SASL PLAIN), used by
// the fetcher core and the probe. One command, one response; every read under a deadline and
// a size bound. It keeps its own receive buffer, so it can tell when a server answers more
// than was asked (a response out of step) instead of reading it as the next answer.
// Secrets (PASS, APOP, AUTH) never reach an error text.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/connect.hpp"
#include "client/limits.hpp"
#include "client/tls.hpp"
#include "net/connection.hpp"
#include "protocol/dot.hpp"
#include "protocol/pop3_capa.hpp"
#include "protocol/pop3_client.hpp"

namespace dropcheck::client {

struct Pop3Options {
  Endpoint server;
  TlsMode tls = TlsMode::none;
  TlsSettings tls_settings;
  std::chrono::milliseconds timeout = kDefaultTimeout;  // per read or write
  // Asked before each command is sent; false (with a reason) refuses it. The probe's budget.
  std::function<bool(std::string& why)> before_command;
};

// How to log in. automatic: SASL PLAIN when offered (RFC 5034), else USER/PASS.
enum class Auth { automatic, user, apop, plain };
std::string_view to_string(Auth a);

struct LoginResult {
  std::optional<protocol::Pop3Status> status;  // the server's answer; nullopt: none
  std::string mechanism;                       // "user", "apop", "plain"
  std::string refused_locally;  // non-empty: nothing was sent (mechanism not offered, ...)
};

// A LIST or UIDL listing. Lines that are not "<number> <value>" are counted, not dropped in
// silence; so are numbers listed twice.
struct ScanListing {
  protocol::Pop3Status status;
  std::vector<protocol::Pop3ScanLine> lines;
  std::size_t malformed = 0;
};
// The listing of a LIST or UIDL response from its status and multi-line body (dot-stuffing
// already removed); an -ERR status has no listing. Total on any body.
ScanListing make_listing(protocol::Pop3Status status, std::string_view body);

// A multi-line body as read (RETR, TOP).
struct Body {
  std::string data;             // dot-stuffing removed; empty when too_large
  bool too_large = false;       // longer than the bound: read to its end and discarded
  bool bare_lf = false;         // a line ended in a bare LF (recorded, kept as is)
  std::size_t wire_octets = 0;  // octets on the wire, terminator included
};

class Pop3Client {
 public:
  Pop3Client(net::asio::any_io_executor ex, Pop3Options options);

  // Connects by name, does the TLS handshake for implicit TLS, reads the greeting. False with
  // error(); greeting() then holds a -ERR greeting if there was one.
  net::awaitable<bool> connect();
  const protocol::Pop3Status& greeting() const { return greeting_; }
  // CAPA (RFC 2449). A server without it answers -ERR: capabilities() is then empty and
  // capa_supported() false. False only when the connection failed.
  net::awaitable<bool> capa();
  const protocol::Pop3Capabilities& capabilities() const { return caps_; }
  bool capa_supported() const { return capa_ok_; }
  // STLS (RFC 2595), the handshake, and CAPA again (RFC 2595 4: the list may change).
  net::awaitable<bool> stls();
  // The login policy: STLS first when the server offers it (a password never goes in clear
  // then); then the mechanism `auth` asks for, chosen from the current capability list.
  net::awaitable<bool> secure();
  net::awaitable<LoginResult> login(const std::string& user, const std::string& password,
                                    Auth auth);

  // Sends `line` (CRLF added) and reads the status line. `secret`: only the verb is ever
  // named in an error.
  net::awaitable<std::optional<protocol::Pop3Status>> command(std::string_view line,
                                                              bool secret = false);
  // The body of a multi-line response, at most `max` octets; nullopt with error() when larger.
  net::awaitable<std::optional<std::string>> multiline(std::size_t max);
  // LIST or UIDL with its listing (an -ERR status has no listing).
  net::awaitable<std::optional<ScanListing>> listing(std::string_view command);
  // A retrieval (RETR n, TOP n k): status and, when +OK, the body up to `max` octets; a larger
  // one is read to its end and discarded (Body::too_large), so the session goes on.
  net::awaitable<std::optional<std::pair<protocol::Pop3Status, Body>>> retrieve(
      std::string_view command, std::size_t max);
  // RFC 2449 6.6 PIPELINING: sends every line (CRLF added) in one write without waiting; the
  // caller then reads exactly one answer per line, in order, with read_status() or
  // read_retrieval(). Refused like command() (closed, budget, octets answering nothing).
  net::awaitable<bool> send_pipelined(const std::vector<std::string>& lines);
  // The status line answering the next pipelined command, named `name` in errors.
  net::awaitable<std::optional<protocol::Pop3Status>> read_status(std::string_view name);
  // The answer to a pipelined retrieval: as retrieve(), without sending anything.
  net::awaitable<std::optional<std::pair<protocol::Pop3Status, Body>>> read_retrieval(
      std::string_view name, std::size_t max);
  // QUIT and its answer (the server's UPDATE state: deletions are applied only on +OK).
  net::awaitable<std::optional<protocol::Pop3Status>> quit();
  // Closes without QUIT: the server applies no deletion of this session (RFC 1939 6).
  void abandon();

  // Every later read and write fails with "deadline" once `at` has passed (per message, per
  // cycle: a server trickling a line a second resets no idle timer). nullopt: none.
  void set_deadline(std::optional<std::chrono::steady_clock::time_point> at) { deadline_ = at; }
  // Octets received and not yet consumed by a response: after a complete response to a
  // command that was not pipelined, anything here is an answer to nothing (out of step).
  std::size_t buffered() const { return in_.size() - pos_; }
  // Octets of responses at hand: buffered here or waiting in the kernel (TLS: encrypted).
  std::size_t at_hand() const { return buffered() + conn_.available(); }

  bool tls() const { return conn_.tls(); }
  bool open() const { return open_; }
  // Whether a TCP connection was made (connect() may still have failed later: TLS, greeting).
  bool reached() const { return reached_; }
  // Whether the last TLS handshake failed on the certificate check (chain, dates, name) rather
  // than on the connection: the caller may retry with TlsSettings::verify off.
  bool certificate_rejected() const { return certificate_rejected_; }
  const std::string& error() const { return error_; }
  const Pop3Options& options() const { return options_; }

 private:
  net::awaitable<bool> handshake();
  net::awaitable<bool> fill(std::string_view what);
  net::awaitable<std::optional<std::string>> status_line(std::string_view what);
  net::awaitable<bool> read_body(protocol::DotDecoder& dec, std::size_t max, Body& out);
  bool fail(std::string message);
  bool may_send(const std::string& name);
  net::awaitable<std::optional<std::pair<protocol::Pop3Status, Body>>> retrieval_body(
      protocol::Pop3Status st, std::string_view name, std::size_t max);
  std::chrono::milliseconds read_timeout(bool& expired) const;

  net::Connection conn_;
  Pop3Options options_;
  std::shared_ptr<net::ssl::context> tls_ctx_;
  protocol::Pop3Status greeting_;
  protocol::Pop3Capabilities caps_;
  bool capa_ok_ = false;
  std::string in_;  // received octets; in_[pos_..] not yet consumed
  std::size_t pos_ = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::string error_;
  bool open_ = false;
  bool reached_ = false;
  bool certificate_rejected_ = false;
};

}  // namespace dropcheck::client

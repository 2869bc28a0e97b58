#include "client/pop3.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <set>

#include "base/strings.hpp"

namespace dropcheck::client {

namespace asio = net::asio;
using Clock = std::chrono::steady_clock;

std::string_view to_string(Auth a) {
  switch (a) {
    case Auth::automatic:
      return "auto";
    case Auth::user:
      return "user";
    case Auth::apop:
      return "apop";
    case Auth::plain:
      return "plain";
  }
  return "?";
}

namespace {

std::string md5_hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

// What a command is called in errors: the whole line, or only its verb when it carries a
// secret.
std::string shown(std::string_view line, bool secret) {
  return std::string(secret ? line.substr(0, line.find(' ')) : line);
}

}  // namespace

Pop3Client::Pop3Client(asio::any_io_executor ex, Pop3Options options)
    : conn_(ex), options_(std::move(options)) {}

bool Pop3Client::fail(std::string message) {
  error_ = std::move(message);
  return false;
}

std::chrono::milliseconds Pop3Client::read_timeout(bool& expired) const {
  expired = false;
  if (!deadline_) return options_.timeout;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now());
  if (left.count() <= 0) {
    expired = true;
    return std::chrono::milliseconds(0);
  }
  return std::min(left, options_.timeout);
}

net::awaitable<bool> Pop3Client::connect() {
  if (options_.tls != TlsMode::none) {
    auto ctx = make_context(options_.tls_settings);
    if (!ctx.ok()) co_return fail(ctx.error().message);
    tls_ctx_ = std::move(ctx).value();
  }
  if (!co_await client::connect(conn_, options_.server, options_.timeout, error_)) co_return false;
  open_ = true;
  reached_ = true;
  if (options_.tls == TlsMode::implicit) {
    const bool up = co_await handshake();
    if (!up) co_return false;
  }
  auto l = co_await status_line("greeting");
  if (!l) co_return false;
  greeting_ = protocol::parse_pop3_status(*l);
  if (!greeting_.valid) {
    open_ = false;
    co_return fail("greeting: not a POP3 greeting: " + l->substr(0, 80));
  }
  if (!greeting_.ok) co_return fail("greeting: -ERR " + greeting_.text);
  co_return true;
}

net::awaitable<bool> Pop3Client::handshake() {
  if (!tls_ctx_) {
    auto ctx = make_context(options_.tls_settings);
    if (!ctx.ok()) co_return fail(ctx.error().message);
    tls_ctx_ = std::move(ctx).value();
  }
  if (buffered() > 0) {
    // RFC 2595 / STARTTLS injection: octets sent before the handshake must not be read as
    // if they came over TLS.
    open_ = false;
    co_return fail("plain-text octets before the TLS handshake (response injection)");
  }
  net::error_code ec;
  const std::string name = options_.tls_settings.verify ? options_.server.host : std::string();
  co_await conn_.handshake_client(*tls_ctx_, name, options_.timeout, ec);
  if (ec) {
    open_ = false;
    certificate_rejected_ = options_.tls_settings.verify && conn_.verify_result() != X509_V_OK;
    co_return fail(describe_handshake_failure(conn_.verify_result(), ec, options_.server.host,
                                              options_.tls_settings));
  }
  co_return true;
}

net::awaitable<bool> Pop3Client::fill(std::string_view what) {
  bool expired = false;
  const auto timeout = read_timeout(expired);
  if (expired) {
    open_ = false;
    co_return fail(fmt::format("{}: deadline reached", what));
  }
  if (pos_ > 0 && pos_ == in_.size()) {
    in_.clear();
    pos_ = 0;
  } else if (pos_ > kReadChunk && pos_ * 2 > in_.size()) {
    in_.erase(0, pos_);
    pos_ = 0;
  }
  net::error_code ec;
  co_await conn_.read_some(in_, kReadChunk, timeout, ec);
  if (ec) {
    open_ = false;
    // The read was cut by the deadline rather than the idle timeout.
    const bool late = deadline_ && timeout < options_.timeout;
    co_return fail(fmt::format("{}: {}", what, late ? "deadline reached" : ec.message()));
  }
  co_return true;
}

net::awaitable<std::optional<std::string>> Pop3Client::status_line(std::string_view what) {
  std::size_t scanned = 0;  // octets after pos_ known to hold no LF (fill() may move pos_)
  for (;;) {
    const auto nl = in_.find('\n', pos_ + scanned);
    if (nl != std::string::npos) {
      std::string line = in_.substr(pos_, nl + 1 - pos_);
      pos_ = nl + 1;
      co_return line;
    }
    scanned = in_.size() - pos_;
    if (scanned >= kMaxPop3StatusLine) {
      open_ = false;
      fail(fmt::format("{}: response line longer than {} octets", what, kMaxPop3StatusLine));
      co_return std::nullopt;
    }
    const bool more = co_await fill(what);
    if (!more) co_return std::nullopt;
  }
}

// Whether a command may go out now; fails (with the command's name) when not.
bool Pop3Client::may_send(const std::string& name) {
  if (!open_)
    return fail(name + ": connection closed" + (error_.empty() ? "" : " (" + error_ + ")"));
  std::string why;
  if (options_.before_command && !options_.before_command(why)) return fail(name + ": " + why);
  if (buffered() > 0) {
    // An answer nobody asked for is waiting: reading it as this command's would put every
    // later response one step off (the listing read as message 1, ...).
    open_ = false;
    return fail(fmt::format("{}: {} octets arrived that answer no command (server out of step)",
                            name, buffered()));
  }
  return true;
}

net::awaitable<std::optional<protocol::Pop3Status>> Pop3Client::command(std::string_view line,
                                                                        bool secret) {
  const std::string name = shown(line, secret);
  if (!may_send(name)) co_return std::nullopt;
  bool expired = false;
  const auto timeout = read_timeout(expired);
  net::error_code ec;
  if (!expired) co_await conn_.write_all(std::string(line) + "\r\n", timeout, ec);
  if (expired || ec) {
    open_ = false;
    fail(fmt::format("{}: {}", name, expired ? "deadline reached" : ec.message()));
    co_return std::nullopt;
  }
  co_return co_await read_status(name);
}

net::awaitable<bool> Pop3Client::send_pipelined(const std::vector<std::string>& lines) {
  std::string wire;
  for (const auto& l : lines) {
    if (!may_send(shown(l, false))) co_return false;
    wire += l;
    wire += "\r\n";
  }
  bool expired = false;
  const auto timeout = read_timeout(expired);
  net::error_code ec;
  if (!expired) co_await conn_.write_all(wire, timeout, ec);
  if (expired || ec) {
    open_ = false;
    co_return fail(
        fmt::format("pipelined commands: {}", expired ? "deadline reached" : ec.message()));
  }
  co_return true;
}

net::awaitable<std::optional<protocol::Pop3Status>> Pop3Client::read_status(std::string_view name) {
  auto l = co_await status_line(name);
  if (!l) co_return std::nullopt;
  auto st = protocol::parse_pop3_status(*l);
  if (!st.valid) {
    open_ = false;
    fail(fmt::format("{}: not a POP3 status line: {}", name, l->substr(0, 80)));
    co_return std::nullopt;
  }
  co_return st;
}

net::awaitable<bool> Pop3Client::read_body(protocol::DotDecoder& dec, std::size_t max, Body& out) {
  while (!dec.done()) {
    if (pos_ == in_.size()) {
      const bool more = co_await fill("multi-line response");
      if (!more) co_return false;
    }
    pos_ += dec.feed(std::string_view(in_).substr(pos_));
    if (dec.body().size() + dec.pending() > max) {
      // Discard what is over the bound but keep reading to the terminator, so the session
      // stays in step; time bounds this (the deadline), not memory.
      out.too_large = true;
      (void)dec.take_body();
      if (dec.pending() > max) {
        open_ = false;
        co_return fail(fmt::format("multi-line response: one line longer than {} octets", max));
      }
    }
  }
  out.bare_lf = dec.saw_bare_lf();
  out.wire_octets = dec.wire_octets();
  if (!out.too_large) out.data = dec.take_body();
  co_return true;
}

net::awaitable<std::optional<std::string>> Pop3Client::multiline(std::size_t max) {
  protocol::DotDecoder dec(protocol::DotDecoder::Terminator::crlf_only);
  Body body;
  if (!co_await read_body(dec, max, body)) co_return std::nullopt;
  if (body.too_large) {
    fail(fmt::format("multi-line response larger than {} octets", max));
    co_return std::nullopt;
  }
  co_return std::move(body.data);
}

net::awaitable<bool> Pop3Client::capa() {
  auto st = co_await command("CAPA");
  if (!st) co_return false;
  caps_ = {};
  capa_ok_ = st->ok;
  if (!st->ok) co_return true;
  auto body = co_await multiline(kMaxCapaOctets);
  if (!body) co_return false;
  caps_ = protocol::parse_pop3_capa(*body);
  co_return true;
}

net::awaitable<bool> Pop3Client::stls() {
  auto st = co_await command("STLS");
  if (!st) co_return false;
  if (!st->ok) co_return fail("STLS refused: " + st->text);
  if (!co_await handshake()) co_return false;
  co_return co_await capa();
}

net::awaitable<bool> Pop3Client::secure() {
  if (tls()) co_return true;
  if (options_.tls == TlsMode::stls || caps_.has("STLS")) co_return co_await stls();
  co_return true;
}

net::awaitable<LoginResult> Pop3Client::login(const std::string& user, const std::string& password,
                                              Auth auth) {
  LoginResult r;
  const auto mechs = caps_.sasl_mechanisms();
  const bool plain = std::find(mechs.begin(), mechs.end(), "PLAIN") != mechs.end();
  const std::string stamp = protocol::apop_timestamp(greeting_.text);
  if (!tls() && caps_.has("STLS")) {
    r.refused_locally = "the server offers STLS: no password is sent in clear before it";
    co_return r;
  }
  if (auth == Auth::apop) {
    r.mechanism = "apop";
    if (stamp.empty()) {
      r.refused_locally = "APOP configured but the server's greeting has no APOP timestamp";
      co_return r;
    }
    r.status = co_await command("APOP " + user + " " + md5_hex(stamp + password), true);
  } else if (auth == Auth::plain || (auth == Auth::automatic && plain)) {
    r.mechanism = "plain";
    if (!plain) {
      r.refused_locally = "SASL PLAIN configured but not offered (CAPA SASL)";
      co_return r;
    }
    // RFC 5034 with an initial response (RFC 4616: authzid NUL authcid NUL password).
    const std::string creds = std::string(1, '\0') + user + '\0' + password;
    r.status = co_await command("AUTH PLAIN " + base::base64_encode(creds), true);
  } else {
    r.mechanism = "user";
    auto u = co_await command("USER " + user);
    if (u && u->ok) {
      r.status = co_await command("PASS " + password, true);
    } else {
      r.status = u;
    }
  }
  co_return r;
}

net::awaitable<std::optional<ScanListing>> Pop3Client::listing(std::string_view cmd) {
  auto st = co_await command(cmd);
  if (!st) co_return std::nullopt;
  if (!st->ok) co_return make_listing(*st, {});
  auto body = co_await multiline(kMaxListingOctets);
  if (!body) co_return std::nullopt;
  co_return make_listing(*st, *body);
}

ScanListing make_listing(protocol::Pop3Status status, std::string_view body) {
  ScanListing out;
  out.status = std::move(status);
  if (!out.status.ok) return out;
  auto lines = protocol::parse_scan_listing(body, &out.malformed);
  std::set<std::size_t> seen;
  for (auto& l : lines) {
    if (!seen.insert(l.number).second) {
      ++out.malformed;  // a number listed twice: which line is right is unknowable
      continue;
    }
    out.lines.push_back(std::move(l));
  }
  return out;
}

net::awaitable<std::optional<std::pair<protocol::Pop3Status, Body>>> Pop3Client::retrieve(
    std::string_view cmd, std::size_t max) {
  auto st = co_await command(cmd);
  if (!st) co_return std::nullopt;
  co_return co_await retrieval_body(std::move(*st), cmd, max);
}

net::awaitable<std::optional<std::pair<protocol::Pop3Status, Body>>> Pop3Client::read_retrieval(
    std::string_view name, std::size_t max) {
  auto st = co_await read_status(name);
  if (!st) co_return std::nullopt;
  co_return co_await retrieval_body(std::move(*st), name, max);
}

net::awaitable<std::optional<std::pair<protocol::Pop3Status, Body>>> Pop3Client::retrieval_body(
    protocol::Pop3Status st, std::string_view name, std::size_t max) {
  Body body;
  if (st.ok) {
    protocol::DotDecoder dec(protocol::DotDecoder::Terminator::crlf_only);
    if (!co_await read_body(dec, max, body)) {
      error_ = std::string(name) + ": " + error_;
      co_return std::nullopt;
    }
  }
  co_return std::make_pair(std::move(st), std::move(body));
}

net::awaitable<std::optional<protocol::Pop3Status>> Pop3Client::quit() {
  auto st = co_await command("QUIT");
  abandon();
  co_return st;
}

void Pop3Client::abandon() {
  open_ = false;
  conn_.close();
}

}  // namespace dropcheck::client

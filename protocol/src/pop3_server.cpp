// Pop3Server (protocol/pop3_server.hpp): the session, the AUTHORIZATION state and the
// helpers; the TRANSACTION state is in pop3_transaction.cpp.
#include "protocol/pop3_server.hpp"

#include <openssl/evp.h>

#include <array>
#include <cassert>
#include <charconv>
#include <cstring>
#include <optional>

#include "base/strings.hpp"
#include "pop3_internal.hpp"
#include "protocol/dot.hpp"

namespace dropcheck::protocol {

namespace {

constexpr unsigned kAuthorization = 1u << 0;
constexpr unsigned kTransaction = 1u << 1;

unsigned state_bit(Pop3State s) {
  switch (s) {
    case Pop3State::authorization:
      return kAuthorization;
    case Pop3State::transaction:
      return kTransaction;
    default:
      return 0;
  }
}

// Splits "VERB args": the verb up to the first space; args keep inner spaces (PASS may contain
// spaces, RFC 1939 7 note on PASS).
std::pair<std::string_view, std::string_view> split_verb(std::string_view line) {
  const auto sp = line.find(' ');
  if (sp == std::string_view::npos) return {line, {}};
  return {line.substr(0, sp), line.substr(sp + 1)};
}

std::string_view resp_code_of(Pop3AuthStatus s) {
  switch (s) {
    case Pop3AuthStatus::ok:
      return "";
    case Pop3AuthStatus::bad_credentials:
      return "AUTH";
    case Pop3AuthStatus::login_delay:
      return "LOGIN-DELAY";
    case Pop3AuthStatus::in_use:
      return "IN-USE";
    case Pop3AuthStatus::sys_temp:
      return "SYS/TEMP";
    case Pop3AuthStatus::sys_perm:
      return "SYS/PERM";
  }
  return "";
}

std::string_view default_text(Pop3AuthStatus s) {
  switch (s) {
    case Pop3AuthStatus::ok:
      return "maildrop locked and ready";
    case Pop3AuthStatus::bad_credentials:
      return "authentication failed";
    case Pop3AuthStatus::login_delay:
      return "minimum time between logins not yet reached";
    case Pop3AuthStatus::in_use:
      return "maildrop already locked by another session";
    case Pop3AuthStatus::sys_temp:
      return "temporary failure, try again later";
    case Pop3AuthStatus::sys_perm:
      return "permanent failure";
  }
  return "";
}

// A command-table row, OpenSMTPD style: verb, states it is valid in, handler.
using Handler = void (Pop3Server::*)(std::string_view, std::string&);

}  // namespace

namespace detail {

std::vector<std::string_view> words(std::string_view args) {
  std::vector<std::string_view> out;
  for (auto w : base::split(args, ' '))
    if (!w.empty()) out.push_back(w);
  return out;
}

}  // namespace detail

using detail::words;

struct Pop3Server::Command {
  std::string_view verb;
  unsigned states;
  Handler handler;
};

std::string_view to_string(Pop3State s) {
  switch (s) {
    case Pop3State::authorization:
      return "AUTHORIZATION";
    case Pop3State::transaction:
      return "TRANSACTION";
    case Pop3State::update:
      return "UPDATE";
    case Pop3State::closed:
      return "CLOSED";
  }
  return "?";
}

std::string_view to_string(Pop3AuthMechanism m) {
  switch (m) {
    case Pop3AuthMechanism::user_pass:
      return "USER";
    case Pop3AuthMechanism::apop:
      return "APOP";
    case Pop3AuthMechanism::sasl_plain:
      return "PLAIN";
  }
  return "?";
}

std::string_view to_string(Pop3AuthStatus s) {
  switch (s) {
    case Pop3AuthStatus::ok:
      return "ok";
    case Pop3AuthStatus::bad_credentials:
      return "bad-credentials";
    case Pop3AuthStatus::login_delay:
      return "login-delay";
    case Pop3AuthStatus::in_use:
      return "in-use";
    case Pop3AuthStatus::sys_temp:
      return "sys-temp";
    case Pop3AuthStatus::sys_perm:
      return "sys-perm";
  }
  return "?";
}

Pop3Server::Pop3Server(Pop3Maildrop& maildrop, Pop3ServerOptions options)
    : maildrop_(maildrop), options_(std::move(options)) {
  assert(!options_.apop || !options_.apop_timestamp.empty());
}

Pop3Server::~Pop3Server() { leave_transaction(); }

std::string Pop3Server::greeting() const {
  std::string g = "+OK " + options_.implementation + " POP3 server ready";
  if (options_.apop) g += " " + options_.apop_timestamp;
  g += "\r\n";
  return g;
}

bool Pop3Server::take_tls_request() {
  const bool r = tls_request_;
  tls_request_ = false;
  return r;
}

void Pop3Server::on_tls_started() {
  options_.tls_active = true;
  // RFC 2595 4: forget anything learned before TLS; input sent before the handshake is gone.
  line_.clear();
  discarding_ = false;
  have_pending_user_ = false;
}

void Pop3Server::finish() {
  leave_transaction();
  state_ = Pop3State::closed;
}

void Pop3Server::leave_transaction() {
  if (locked_) {
    locked_ = false;
    maildrop_.release();
  }
}

void Pop3Server::receive(std::string_view in, std::string& out) {
  std::size_t pos = 0;
  while (pos < in.size() && state_ != Pop3State::closed && !tls_request_) {
    const void* nl = std::memchr(in.data() + pos, '\n', in.size() - pos);
    const std::size_t end =
        nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - in.data()) : in.size();
    const std::size_t limit = sasl_pending_ ? kPop3MaxSaslResponseOctets : kPop3MaxCommandOctets;
    if (discarding_) {
      if (nl) discarding_ = false;
      pos = nl ? end + 1 : in.size();
      continue;
    }
    line_.append(in.substr(pos, end - pos));
    pos = nl ? end + 1 : in.size();
    // The line with its CRLF must fit the limit; without the LF yet, one octet is still due.
    std::size_t octets = line_.size() + 1;
    if (nl && (line_.empty() || line_.back() != '\r')) ++octets;  // bare LF counted as CRLF
    if (octets > limit) {
      line_.clear();
      discarding_ = !nl;
      sasl_pending_ = false;
      error(out, "line too long");
      continue;
    }
    if (!nl) break;
    std::string line = std::move(line_);
    line_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (sasl_pending_) {
      process_sasl_response(line, out);
    } else {
      process_line(line, out);
    }
  }
}

void Pop3Server::reply_err(std::string& out, std::string_view code, std::string_view text) {
  out += "-ERR ";
  if (!code.empty() && options_.resp_codes && (code != "AUTH" || options_.auth_resp_code)) {
    out += '[';
    out += code;
    out += "] ";
  }
  out += text;
  out += "\r\n";
}

void Pop3Server::error(std::string& out, std::string_view text) {
  ++stats_.errors;
  if (stats_.errors >= options_.max_errors) {
    stats_.too_many_errors = true;
    reply_err(out, "SYS/PERM", "too many errors, closing");
    leave_transaction();
    state_ = Pop3State::closed;
    return;
  }
  reply_err(out, "", text);
}

void Pop3Server::process_line(std::string_view line, std::string& out) {
  static constexpr Command kCommands[] = {
      {"USER", kAuthorization, &Pop3Server::cmd_user},
      {"PASS", kAuthorization, &Pop3Server::cmd_pass},
      {"APOP", kAuthorization, &Pop3Server::cmd_apop},
      {"AUTH", kAuthorization, &Pop3Server::cmd_auth},
      {"STLS", kAuthorization, &Pop3Server::cmd_stls},
      {"CAPA", kAuthorization | kTransaction, &Pop3Server::cmd_capa},
      {"STAT", kTransaction, &Pop3Server::cmd_stat},
      {"LIST", kTransaction, &Pop3Server::cmd_list},
      {"UIDL", kTransaction, &Pop3Server::cmd_uidl},
      {"RETR", kTransaction, &Pop3Server::cmd_retr},
      {"TOP", kTransaction, &Pop3Server::cmd_top},
      {"DELE", kTransaction, &Pop3Server::cmd_dele},
      {"NOOP", kTransaction, &Pop3Server::cmd_noop},
      {"RSET", kTransaction, &Pop3Server::cmd_rset},
      {"QUIT", kAuthorization | kTransaction, &Pop3Server::cmd_quit},
  };
  ++stats_.commands;
  const auto [verb, args] = split_verb(line);
  const bool was_pass = base::iequals(verb, "PASS");
  const bool pending = have_pending_user_;
  // RFC 1939 7: PASS is valid only directly after a successful USER.
  if (!was_pass) have_pending_user_ = false;
  for (const auto& c : kCommands) {
    if (!base::iequals(verb, c.verb)) continue;
    if ((c.states & state_bit(state_)) == 0) {
      error(out, "command not valid in this state");
      return;
    }
    if (was_pass && !pending) {
      error(out, "PASS without USER");
      return;
    }
    (this->*c.handler)(args, out);
    return;
  }
  error(out, "unknown command");
}

// --- AUTHORIZATION ------------------------------------------------------------------------

void Pop3Server::cmd_user(std::string_view args, std::string& out) {
  if (!options_.user_pass) return error(out, "USER not supported, use APOP or AUTH");
  if (!options_.plaintext_without_tls && !options_.tls_active)
    return reply_err(out, "AUTH", "plaintext authentication disallowed without TLS, use STLS");
  if (args.empty() || args.size() > kPop3MaxArgumentOctets || args.find(' ') != args.npos)
    return error(out, "syntax: USER name");
  pending_user_ = std::string(args);
  have_pending_user_ = true;
  out += "+OK send PASS\r\n";
}

void Pop3Server::cmd_pass(std::string_view args, std::string& out) {
  have_pending_user_ = false;
  Pop3Credentials c;
  c.mechanism = Pop3AuthMechanism::user_pass;
  c.user = std::move(pending_user_);
  c.password = std::string(args);
  auth_done(c, out);
}

void Pop3Server::cmd_apop(std::string_view args, std::string& out) {
  if (!options_.apop) return error(out, "APOP not supported");
  const auto w = words(args);
  const auto hex = [](std::string_view d) {
    if (d.size() != 32) return false;
    for (char ch : d)
      if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
    return true;
  };
  if (w.size() != 2 || w[0].size() > kPop3MaxArgumentOctets || !hex(w[1]))
    return error(out, "syntax: APOP name digest");
  Pop3Credentials c;
  c.mechanism = Pop3AuthMechanism::apop;
  c.user = std::string(w[0]);
  c.apop_timestamp = options_.apop_timestamp;
  c.apop_digest = std::string(w[1]);
  auth_done(c, out);
}

void Pop3Server::cmd_auth(std::string_view args, std::string& out) {
  const auto w = words(args);
  if (w.empty()) {
    // Pre-RFC 5034 clients probe with a bare AUTH for the mechanism list.
    out += "+OK\r\n";
    if (options_.sasl_plain) out += "PLAIN\r\n";
    out += ".\r\n";
    return;
  }
  if (!options_.sasl_plain || !base::iequals(w[0], "PLAIN") || w.size() > 2)
    return error(out, "unsupported SASL mechanism");
  if (!options_.plaintext_without_tls && !options_.tls_active)
    return reply_err(out, "AUTH", "plaintext authentication disallowed without TLS, use STLS");
  if (w.size() == 2) return process_sasl_response(w[1] == "=" ? std::string_view{} : w[1], out);
  sasl_pending_ = true;
  out += "+ \r\n";
}

void Pop3Server::process_sasl_response(std::string_view line, std::string& out) {
  sasl_pending_ = false;
  if (line == "*") return error(out, "authentication cancelled");
  const auto decoded = base::base64_decode_strict(line);
  // RFC 4616 2: message = [authzid] NUL authcid NUL passwd
  const auto parts = decoded ? base::split(*decoded, '\0') : std::vector<std::string_view>{};
  if (parts.size() != 3 || parts[1].empty()) return error(out, "malformed SASL PLAIN response");
  Pop3Credentials c;
  c.mechanism = Pop3AuthMechanism::sasl_plain;
  c.authzid = std::string(parts[0]);
  c.user = std::string(parts[1]);
  c.password = std::string(parts[2]);
  auth_done(c, out);
}

void Pop3Server::cmd_stls(std::string_view args, std::string& out) {
  if (!args.empty()) return error(out, "syntax: STLS");
  if (!options_.stls || options_.tls_active) return error(out, "STLS not available");
  out += "+OK begin TLS negotiation\r\n";
  tls_request_ = true;
}

void Pop3Server::auth_done(const Pop3Credentials& in, std::string& out) {
  Pop3Credentials c = in;
  c.tls = options_.tls_active;
  c.stls_offered = options_.stls && !options_.tls_active;
  Pop3AuthResult r = maildrop_.authenticate(c);
  if (r.status != Pop3AuthStatus::ok) return auth_failed(out, r);
  r = maildrop_.lock();
  if (r.status != Pop3AuthStatus::ok) {
    // Not an authentication failure: the secret was right, the maildrop is busy or broken.
    reply_err(out, resp_code_of(r.status), r.text.empty() ? default_text(r.status) : r.text);
    state_ = Pop3State::closed;
    return;
  }
  locked_ = true;
  user_ = c.user;
  state_ = Pop3State::transaction;
  deleted_.assign(maildrop_.message_count(), false);
  std::uint64_t octets = 0;
  for (std::size_t i = 0; i < deleted_.size(); ++i) octets += maildrop_.message_octets(i);
  out += "+OK maildrop has " + std::to_string(deleted_.size()) + " messages (" +
         std::to_string(octets) + " octets)\r\n";
}

void Pop3Server::auth_failed(std::string& out, const Pop3AuthResult& r) {
  ++stats_.auth_failures;
  reply_err(out, resp_code_of(r.status), r.text.empty() ? default_text(r.status) : r.text);
  // RFC 2449 8.1.1: after [LOGIN-DELAY] the client should not retry now; close like for the
  // budget of failed attempts.
  if (stats_.auth_failures >= options_.max_auth_failures ||
      r.status == Pop3AuthStatus::login_delay || r.status == Pop3AuthStatus::sys_perm)
    state_ = Pop3State::closed;
}

void Pop3Server::cmd_capa(std::string_view args, std::string& out) {
  if (!args.empty()) return error(out, "syntax: CAPA");
  out += "+OK capability list follows\r\n";
  if (options_.top) out += "TOP\r\n";
  if (options_.uidl) out += "UIDL\r\n";
  const bool plain_ok = options_.plaintext_without_tls || options_.tls_active;
  if (state_ == Pop3State::authorization) {
    if (options_.user_pass && plain_ok) out += "USER\r\n";
    if (options_.sasl_plain && plain_ok) out += "SASL PLAIN\r\n";
    if (options_.stls && !options_.tls_active) out += "STLS\r\n";
  }
  if (options_.resp_codes) out += "RESP-CODES\r\n";
  if (options_.resp_codes && options_.auth_resp_code) out += "AUTH-RESP-CODE\r\n";
  if (options_.pipelining) out += "PIPELINING\r\n";
  if (!options_.expire.empty()) out += "EXPIRE " + options_.expire + "\r\n";
  if (options_.login_delay_s >= 0)
    out += "LOGIN-DELAY " + std::to_string(options_.login_delay_s) + "\r\n";
  out += "IMPLEMENTATION " + options_.implementation + "\r\n";
  out += ".\r\n";
}

// --- TRANSACTION: pop3_transaction.cpp ----------------------------------------------------

// --- helpers --------------------------------------------------------------------------------

std::uint64_t pop3_octets(std::string_view message) {
  std::uint64_t n = message.size();
  for (std::size_t i = 0; i < message.size(); ++i)
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) ++n;
  if (!message.empty() && message.back() != '\n') n += message.back() == '\r' ? 1 : 2;
  return n;
}

std::string apop_digest(std::string_view timestamp, std::string_view secret) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  // MD5 is what RFC 1939 7 specifies; OpenSSL 3 still has it in the default provider.
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, timestamp.data(), timestamp.size());
  EVP_DigestUpdate(ctx, secret.data(), secret.size());
  EVP_DigestFinal_ex(ctx, md.data(), &len);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string_view pop3_top(std::string_view message, std::size_t lines) {
  // Find the blank line ending the header section (CRLF or bare LF line endings).
  std::size_t pos = 0;
  std::size_t body_start = message.size();
  while (pos < message.size()) {
    const auto nl = message.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? message.size() : nl + 1;
    const std::string_view l = message.substr(pos, end - pos);
    pos = end;
    if (l == "\r\n" || l == "\n") {
      body_start = pos;
      break;
    }
  }
  pos = body_start;
  for (std::size_t k = 0; k < lines && pos < message.size(); ++k) {
    const auto nl = message.find('\n', pos);
    pos = nl == std::string_view::npos ? message.size() : nl + 1;
  }
  return message.substr(0, pos);
}

}  // namespace dropcheck::protocol

// SmtpServerSession's envelope commands (protocol/smtp_server.hpp): MAIL FROM and
// RCPT TO with their paths and parameters (SIZE, BODY, SMTPUTF8, DSN).
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

#include "base/strings.hpp"
#include "protocol/smtp_server.hpp"
#include "smtp_internal.hpp"

namespace dropcheck::protocol {
namespace {

// Digits in a SIZE= or BDAT size: 20 digits overflow 64 bits; larger values are syntax errors.
constexpr std::size_t kMaxSizeDigits = 19;

bool has_8bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits "<path> params" (after "FROM:"/"TO:"). Accepts a space after the colon and a path
// without angle brackets (both seen in the field; Postfix accepts them too). Removes an
// RFC 5321 4.1.2 source route ("@a,@b:"). Returns false on a syntax error.
bool split_path(std::string_view args, std::string& path, std::string_view& params) {
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  if (args.empty()) return false;
  std::size_t end = 0;
  std::string_view inner;
  if (args.front() == '<') {
    bool quoted = false;
    std::size_t i = 1;
    for (; i < args.size(); ++i) {
      const char c = args[i];
      if (c == '\\' && i + 1 < args.size()) {
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == '>' && !quoted) {
        break;
      }
    }
    if (i >= args.size()) return false;
    inner = args.substr(1, i - 1);
    end = i + 1;
    if (end < args.size() && args[end] != ' ') return false;
  } else {
    end = std::min(args.find(' '), args.size());
    inner = args.substr(0, end);
  }
  if (!inner.empty() && inner.front() == '@') {
    const auto colon = inner.find(':');
    if (colon == std::string_view::npos) return false;
    inner.remove_prefix(colon + 1);
  }
  if (inner.find_first_of("<> \t\r\n") != std::string_view::npos) return false;
  path.assign(inner);
  params = base::trim(args.substr(end));
  return true;
}

struct Param {
  std::string_view key;
  std::string_view value;
  bool has_value = false;
};

std::vector<Param> split_params(std::string_view params) {
  std::vector<Param> out;
  for (std::string_view tok : base::split(params, ' ')) {
    if (tok.empty()) continue;
    Param p;
    const auto eq = tok.find('=');
    p.key = tok.substr(0, eq);
    if (eq != std::string_view::npos) {
      p.value = tok.substr(eq + 1);
      p.has_value = true;
    }
    out.push_back(p);
  }
  return out;
}

// RFC 3461 4: xtext is printable ASCII except '+' and '=' unless as "+XX".
bool is_xtext(std::string_view s) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '+') {
      if (i + 2 >= s.size() || !hex(s[i + 1]) || !hex(s[i + 2])) return false;
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return false;
    }
  }
  return true;
}

}  // namespace

namespace detail {

bool parse_size(std::string_view s, std::uint64_t& v) {
  if (!all_digits(s) || s.size() > kMaxSizeDigits) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

}  // namespace detail

using detail::parse_size;

void SmtpServerSession::cmd_mail(std::string_view args, std::string& out) {
  // open_transaction() ran in process_line.
  if (!base::istarts_with(args, "FROM:")) {
    return error(501, "5.5.4 Syntax: MAIL FROM:<address>", out);
  }
  std::string path;
  std::string_view params;
  if (!split_path(args.substr(5), path, params)) {
    txn_.mail_reply = smtp_reply(501, "5.1.7 Bad sender address syntax");
    return error(txn_.mail_reply.code, txn_.mail_reply.lines[0], out);
  }
  txn_.reverse_path = path;
  txn_.null_sender = path.empty();
  txn_.mail_params = std::string(params);
  bool seen_size = false, seen_body = false, seen_utf8 = false, seen_ret = false,
       seen_envid = false;
  const auto refuse = [&](int code, std::string_view text) {
    txn_.mail_reply = smtp_reply(code, text);
    error(code, text, out);
  };
  for (const Param& p : split_params(params)) {
    const auto dup = [&](bool& seen) {
      if (seen) return true;
      seen = true;
      return false;
    };
    if (base::iequals(p.key, "SIZE")) {
      std::uint64_t n = 0;
      if (dup(seen_size) || !parse_size(p.value, n)) return refuse(501, "5.5.4 Bad SIZE parameter");
      if (n > config_.max_message) {
        txn_.mail_reply = smtp_reply(552, "5.3.4 Message size exceeds fixed limit");
        return reply(txn_.mail_reply, out);
      }
    } else if (base::iequals(p.key, "BODY")) {
      if (dup(seen_body)) return refuse(501, "5.5.4 Duplicate BODY parameter");
      if (base::iequals(p.value, "7BIT") ||
          (config_.eightbitmime && base::iequals(p.value, "8BITMIME"))) {
        txn_.body_type = base::iequals(p.value, "7BIT") ? "7BIT" : "8BITMIME";
      } else {
        return refuse(501, "5.5.4 Unsupported BODY parameter");
      }
    } else if (config_.smtputf8 && base::iequals(p.key, "SMTPUTF8")) {
      if (dup(seen_utf8) || p.has_value) return refuse(501, "5.5.4 Bad SMTPUTF8 parameter");
      txn_.smtputf8 = true;
    } else if (config_.dsn && base::iequals(p.key, "RET")) {
      if (dup(seen_ret) || !(base::iequals(p.value, "FULL") || base::iequals(p.value, "HDRS")))
        return refuse(501, "5.5.4 Bad RET parameter");
    } else if (config_.dsn && base::iequals(p.key, "ENVID")) {
      if (dup(seen_envid) || p.value.empty() || p.value.size() > 100 || !is_xtext(p.value))
        return refuse(501, "5.5.4 Bad ENVID parameter");
    } else {
      // RFC 5321 4.1.1.11: parameters not recognized -> 555.
      return refuse(555, "5.5.4 Unsupported option: " + std::string(p.key));
    }
  }
  if (has_8bit(path) && !txn_.smtputf8) {
    // RFC 6531 3.6.
    txn_.mail_reply = smtp_reply(553, "5.6.7 Non-ASCII sender address needs SMTPUTF8");
    return reply(txn_.mail_reply, out);
  }
  if (has_8bit(path) && !base::valid_utf8(path)) {
    return refuse(553, "5.1.7 Bad sender address syntax: not UTF-8 (RFC 6531 3.3)");
  }
  SmtpReply r = handler_.on_mail(path, params);
  if (r.code == 0) r = smtp_reply(250, "2.1.0 Ok");
  const bool positive = r.positive();
  txn_.mail_reply = std::move(r);
  reply(txn_.mail_reply, out);  // a 421 ends txn_ after its last use of the reply
  if (positive && state_ != SmtpState::closed) {
    mail_ok_ = true;
    state_ = SmtpState::mail;
  }
}

void SmtpServerSession::cmd_rcpt(std::string_view args, std::string& out) {
  SmtpRcptResult res;
  const auto done = [&](SmtpReply r, bool count_error) {
    res.reply = std::move(r);
    txn_.rcpts.push_back(std::move(res));
    const SmtpReply& kept = txn_.rcpts.back().reply;
    if (count_error) ++stats_.errors;
    if (!kept.positive()) ++stats_.rcpts_refused;
    reply(kept, out);
  };
  if (!base::istarts_with(args, "TO:")) {
    res.forward_path = std::string(args);
    return done(smtp_reply(501, "5.5.4 Syntax: RCPT TO:<address>"), true);
  }
  std::string path;
  std::string_view params;
  if (!split_path(args.substr(3), path, params) || path.empty()) {
    res.forward_path = std::string(args.substr(3));
    return done(smtp_reply(501, "5.1.3 Bad recipient address syntax"), true);
  }
  res.forward_path = path;
  res.params = std::string(params);
  bool seen_notify = false, seen_orcpt = false;
  for (const Param& p : split_params(params)) {
    if (config_.dsn && base::iequals(p.key, "NOTIFY")) {
      bool ok = !seen_notify && !p.value.empty();
      seen_notify = true;
      const auto items = base::split(p.value, ',');
      for (auto v : items) {
        const bool never = base::iequals(v, "NEVER");
        if (never && items.size() != 1) ok = false;
        if (!never && !base::iequals(v, "SUCCESS") && !base::iequals(v, "FAILURE") &&
            !base::iequals(v, "DELAY"))
          ok = false;
      }
      if (!ok) return done(smtp_reply(501, "5.5.4 Bad NOTIFY parameter"), true);
    } else if (config_.dsn && base::iequals(p.key, "ORCPT")) {
      // RFC 3461 4.2: ORCPT=addr-type;xtext (utf-8-addr-xtext with SMTPUTF8, RFC 6533).
      const auto semi = p.value.find(';');
      if (seen_orcpt || semi == std::string_view::npos || semi == 0 || semi + 1 == p.value.size())
        return done(smtp_reply(501, "5.5.4 Bad ORCPT parameter"), true);
      seen_orcpt = true;
    } else {
      return done(smtp_reply(555, "5.5.4 Unsupported option: " + std::string(p.key)), true);
    }
  }
  if (has_8bit(path) && !txn_.smtputf8) {
    return done(smtp_reply(553, "5.6.7 Non-ASCII recipient address needs SMTPUTF8"), false);
  }
  if (has_8bit(path) && !base::valid_utf8(path)) {
    return done(smtp_reply(553, "5.1.3 Bad recipient address syntax: not UTF-8 (RFC 6531 3.3)"),
                true);
  }
  if (txn_.accepted_rcpts() >= config_.max_rcpts) {
    // RFC 5321 4.5.3.1.10: 452 for too many recipients; the client sends them again later.
    return done(smtp_reply(452, "4.5.3 Error: too many recipients"), false);
  }
  SmtpReply r = handler_.on_rcpt(path, params);
  if (r.code == 0) r = smtp_reply(250, "2.1.5 Ok");
  if (r.positive()) ++stats_.rcpts_accepted;
  done(std::move(r), false);
  if (state_ == SmtpState::mail && txn_.rcpts.back().reply.positive()) state_ = SmtpState::rcpt;
}

}  // namespace dropcheck::protocol

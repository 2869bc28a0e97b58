#include "protocol/smtp_server.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>

#include "base/strings.hpp"

namespace dropcheck::protocol {
namespace {

constexpr unsigned bit(SmtpState s) { return 1u << static_cast<unsigned>(s); }
constexpr unsigned kGreeted = bit(SmtpState::ready) | bit(SmtpState::mail) | bit(SmtpState::rcpt);
constexpr unsigned kAnyOpen = bit(SmtpState::connected) | kGreeted;
constexpr unsigned kInTxn = bit(SmtpState::mail) | bit(SmtpState::rcpt);
// Digits in a SIZE= or BDAT size: 20 digits overflow 64 bits; larger values are syntax errors.
constexpr std::size_t kMaxSizeDigits = 19;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// A control character (C0 or DEL): never part of a host name or address literal.
bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool has_8bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool parse_size(std::string_view s, std::uint64_t& v) {
  if (!all_digits(s) || s.size() > kMaxSizeDigits) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

// "2.1.0 " at the start of a reply line (RFC 3463 status code: class.subject.detail).
std::size_t enhanced_prefix_len(std::string_view line) {
  std::size_t i = 0;
  const auto digits = [&](std::size_t max) {
    const std::size_t start = i;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9' && i - start < max) ++i;
    return i > start;
  };
  if (!digits(1) || i >= line.size() || line[i] != '.') return 0;
  ++i;
  if (!digits(3) || i >= line.size() || line[i] != '.') return 0;
  ++i;
  if (!digits(3)) return 0;
  if (i < line.size() && line[i] != ' ') return 0;
  return i < line.size() ? i + 1 : i;
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

std::string_view to_string(SmtpState s) {
  switch (s) {
    case SmtpState::refused:
      return "refused";
    case SmtpState::connected:
      return "connected";
    case SmtpState::ready:
      return "ready";
    case SmtpState::mail:
      return "mail";
    case SmtpState::rcpt:
      return "rcpt";
    case SmtpState::data:
      return "data";
    case SmtpState::bdat:
      return "bdat";
    case SmtpState::tls_pending:
      return "tls-pending";
    case SmtpState::closed:
      return "closed";
  }
  return "?";
}

std::size_t SmtpTransaction::accepted_rcpts() const {
  return static_cast<std::size_t>(
      std::count_if(rcpts.begin(), rcpts.end(), [](const auto& r) { return r.reply.positive(); }));
}

bool SmtpTransaction::accepted() const {
  return data_complete && std::any_of(data_replies.begin(), data_replies.end(),
                                      [](const auto& r) { return r.positive(); });
}

SmtpReply smtp_reply(int code, std::string_view text) {
  SmtpReply r;
  r.code = code;
  r.lines.emplace_back(text);
  return r;
}

const SmtpServerSession::Command SmtpServerSession::kCommands[] = {
    {"HELO", kAnyOpen, &SmtpServerSession::cmd_helo},
    {"EHLO", kAnyOpen, &SmtpServerSession::cmd_ehlo},
    {"LHLO", kAnyOpen, &SmtpServerSession::cmd_lhlo},
    {"MAIL", bit(SmtpState::ready), &SmtpServerSession::cmd_mail},
    {"RCPT", kInTxn, &SmtpServerSession::cmd_rcpt},
    {"DATA", kInTxn, &SmtpServerSession::cmd_data},
    // BDAT is accepted in every open state so that its chunk is always consumed (RFC 3030 2:
    // the octets follow the command whatever the reply); cmd_bdat decides the reply.
    {"BDAT", kAnyOpen, &SmtpServerSession::cmd_bdat},
    {"RSET", kAnyOpen, &SmtpServerSession::cmd_rset},
    {"NOOP", kAnyOpen, &SmtpServerSession::cmd_noop},
    {"QUIT", kAnyOpen | bit(SmtpState::refused), &SmtpServerSession::cmd_quit},
    {"VRFY", kAnyOpen, &SmtpServerSession::cmd_vrfy},
    {"EXPN", kAnyOpen, &SmtpServerSession::cmd_expn},
    {"HELP", kAnyOpen, &SmtpServerSession::cmd_help},
    {"STARTTLS", bit(SmtpState::ready), &SmtpServerSession::cmd_starttls},
    {"AUTH", kAnyOpen, &SmtpServerSession::cmd_auth},
};

SmtpServerSession::SmtpServerSession(SmtpServerConfig config, SmtpHandler& handler)
    : config_(std::move(config)), handler_(handler) {
  last_command_ = &scratch_command_;
}

std::string SmtpServerSession::greeting() {
  connected_at_ = handler_.now();
  SmtpReply r = handler_.on_connect();
  if (r.code == 0) r = smtp_reply(220, config_.hostname + " " + config_.greeting_text);
  greeting_code_ = r.code;
  std::string out;
  last_command_ = nullptr;
  reply(r, out);
  if (r.code != 220 && state_ != SmtpState::closed) state_ = SmtpState::refused;
  return out;
}

std::size_t SmtpServerSession::data_octets() const {
  if (state_ == SmtpState::data) return txn_.message_octets + decoder_.wire_octets();
  if (state_ == SmtpState::bdat) return txn_.message_octets;
  return 0;
}

bool SmtpServerSession::take_tls_request() {
  const bool r = tls_requested_;
  tls_requested_ = false;
  return r;
}

void SmtpServerSession::on_tls_started() {
  // RFC 3207 4.2: discard all knowledge obtained from the client before TLS.
  tls_ = true;
  stats_.tls = true;
  helo_.clear();
  helo_verb_.clear();
  line_.clear();
  line_too_long_ = false;
  if (state_ == SmtpState::tls_pending) state_ = SmtpState::connected;
}

void SmtpServerSession::format(const SmtpReply& r, std::string& out) const {
  if (config_.enhanced_status_codes) {
    format_reply(r.code, r.lines, out);
  } else {
    std::vector<std::string> lines;
    lines.reserve(r.lines.size());
    for (const auto& l : r.lines) lines.push_back(l.substr(enhanced_prefix_len(l)));
    format_reply(r.code, lines, out);
  }
}

void SmtpServerSession::reply(const SmtpReply& r, std::string& out) {
  if (last_command_) last_command_->code = r.code;
  format(r, out);
  if (r.code == 421) {  // RFC 5321 3.8: the server closes after 421
    if (txn_open_) end_transaction("421");
    state_ = SmtpState::closed;
  }
}

void SmtpServerSession::reply(int code, std::string_view text, std::string& out) {
  reply(smtp_reply(code, text), out);
}

void SmtpServerSession::error(int code, std::string_view text, std::string& out) {
  ++stats_.errors;
  reply(code, text, out);
}

std::string SmtpServerSession::redact(std::string_view line) {
  // STYLE.md: secrets never reach a record. "AUTH" however it is spaced (tabs, leading blanks)
  // keeps its mechanism only; after it, lines that are no command are SASL responses (this
  // server answers AUTH with 502, but a client may send its response anyway).
  std::string_view rest = line;
  while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
  const auto word_end = [](std::string_view s) {
    return static_cast<std::size_t>(std::find_if(s.begin(), s.end(), is_blank) - s.begin());
  };
  const std::string_view verb = rest.substr(0, word_end(rest));
  if (base::iequals(verb, "AUTH")) {
    sasl_pending_ = true;
    rest.remove_prefix(verb.size());
    while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
    const std::string_view mechanism = rest.substr(0, word_end(rest));
    std::string out = "AUTH";
    if (!mechanism.empty()) out += " " + std::string(mechanism);
    if (rest.size() > mechanism.size()) out += " <redacted>";
    return out;
  }
  if (!sasl_pending_) return std::string(line);
  const bool command = std::any_of(std::begin(kCommands), std::end(kCommands),
                                   [&](const Command& c) { return base::iequals(c.verb, verb); });
  if (command) {
    sasl_pending_ = false;
    return std::string(line);
  }
  return "<redacted SASL response>";
}

void SmtpServerSession::record_command(std::string_view line) {
  SmtpCommandRecord rec{handler_.now(), redact(line), 0};
  if (txn_open_) {
    txn_.commands.push_back(std::move(rec));
    last_command_ = &txn_.commands.back();
  } else if (session_commands_.size() < kSmtpMaxSessionCommands) {
    session_commands_.push_back(std::move(rec));
    last_command_ = &session_commands_.back();
  } else {
    ++session_commands_dropped_;
    scratch_command_ = std::move(rec);
    last_command_ = &scratch_command_;
  }
}

void SmtpServerSession::open_transaction() {
  txn_ = SmtpTransaction{};
  txn_.commands.reserve(4);  // MAIL, RCPT, DATA, and room for one more without regrowing
  txn_.helo_verb = helo_verb_;
  txn_.helo = helo_;
  txn_.tls = tls_;
  txn_.started = handler_.now();
  txn_open_ = true;
  mail_ok_ = false;
  streaming_ = handler_.streams_message();
  bdat_failed_ = false;
  bdat_body_.clear();
  ++stats_.transactions;
}

void SmtpServerSession::end_transaction(std::string_view reason) {
  if (!txn_open_) return;
  txn_open_ = false;
  mail_ok_ = false;
  last_command_ = &scratch_command_;
  txn_.end_reason = std::string(reason);
  bdat_failed_ = false;
  bdat_body_.clear();
  handler_.on_transaction_end(std::move(txn_));
  txn_ = SmtpTransaction{};
}

void SmtpServerSession::receive(std::string_view in, std::string& out) {
  while (!in.empty()) {
    switch (state_) {
      case SmtpState::closed:
        return;
      case SmtpState::tls_pending:
        // RFC 3207 4.2 / CVE-2011-0411: nothing pipelined after STARTTLS may be acted on.
        stats_.discarded_after_starttls += in.size();
        return;
      case SmtpState::data:
        feed_data(in, out);
        continue;
      case SmtpState::bdat:
        feed_bdat(in, out);
        continue;
      default:
        break;
    }
    const void* nl = std::memchr(in.data(), '\n', in.size());
    const std::size_t take =
        nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - in.data()) + 1 : in.size();
    const std::string_view part = in.substr(0, take);
    in.remove_prefix(take);
    if (!line_too_long_) {
      if (line_.size() + part.size() > config_.max_line) {
        line_.append(part.substr(0, config_.max_line - line_.size()));
        line_too_long_ = true;
      } else {
        line_.append(part);
      }
    }
    if (!nl) return;
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    bool bare_lf = true;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
      bare_lf = false;
    }
    if (line_too_long_) {
      record_command(line.substr(0, std::min<std::size_t>(line.size(), 80)));
      error(500, "5.5.2 Error: line too long", out);
      line_too_long_ = false;
    } else {
      process_line(line, bare_lf, out);
    }
    line_.clear();
  }
}

void SmtpServerSession::process_line(std::string_view line, bool bare_lf, std::string& out) {
  ++stats_.commands;
  if (bare_lf) {
    ++stats_.bare_lf;
    if (txn_open_) txn_.bare_lf_in_commands = true;
    if (config_.reject_bare_lf) {
      record_command(line);
      return refuse_bare_lf(out);
    }
  }
  if (stats_.errors >= config_.max_errors) {  // Postfix smtpd_hard_error_limit
    end_transaction("too-many-errors");
    record_command(line);
    reply(421, "4.7.0 " + config_.hostname + " Error: too many errors", out);
    return;
  }
  const auto sp = line.find(' ');
  const std::string_view verb = line.substr(0, sp);
  const std::string_view args =
      sp == std::string_view::npos ? std::string_view{} : base::trim(line.substr(sp + 1));
  const Command* cmd = nullptr;
  for (const auto& c : kCommands) {
    if (base::iequals(c.verb, verb)) {
      cmd = &c;
      break;
    }
  }
  if (cmd && cmd->handler == &SmtpServerSession::cmd_bdat && !config_.chunking) cmd = nullptr;
  if (cmd && cmd->handler == &SmtpServerSession::cmd_mail && state_ == SmtpState::ready &&
      txn_open_) {
    end_transaction("mail");  // the previous MAIL failed; this one starts a new attempt
  }
  if (cmd && cmd->handler == &SmtpServerSession::cmd_mail && state_ == SmtpState::ready) {
    open_transaction();
  }
  record_command(line);
  if (std::memchr(line.data(), '\0', line.size())) {
    error(500, "5.5.2 Error: NUL character in command", out);
    return;
  }
  if (!cmd) {
    error(500, "5.5.2 Error: command not recognized", out);
    return;
  }
  if (!(cmd->states & bit(state_))) {
    if (state_ == SmtpState::refused) {
      error(503, "5.3.0 No SMTP service here", out);
    } else if (state_ == SmtpState::connected) {
      error(503,
            config_.lmtp ? "5.5.1 Error: send LHLO first" : "5.5.1 Error: send HELO/EHLO first",
            out);
    } else if (cmd->handler == &SmtpServerSession::cmd_mail) {
      error(503, "5.5.1 Error: nested MAIL command", out);
    } else if (cmd->handler == &SmtpServerSession::cmd_starttls) {
      error(503, "5.5.1 Error: STARTTLS not allowed in a mail transaction", out);
    } else {
      error(503, "5.5.1 Error: need MAIL command", out);
    }
    return;
  }
  (this->*(cmd->handler))(args, out);
}

void SmtpServerSession::greet(std::string_view verb, std::string_view args, bool extended,
                              std::string& out) {
  if (args.empty()) {
    error(501, "5.5.4 Syntax: " + std::string(verb) + " hostname", out);
    return;
  }
  if (has_control(args)) {  // a bare CR, a tab, ...: no domain or address literal has one
    error(501, "5.5.2 Syntax: control character in " + std::string(verb) + " hostname", out);
    return;
  }
  helo_verb_ = std::string(verb);
  helo_ = std::string(args);
  if (!extended) {
    reply(250, config_.hostname, out);
  } else {
    SmtpReply r;
    r.code = 250;
    r.lines.push_back(config_.hostname);
    if (config_.pipelining) r.lines.emplace_back("PIPELINING");
    r.lines.push_back("SIZE " + std::to_string(config_.max_message));
    if (config_.eightbitmime) r.lines.emplace_back("8BITMIME");
    if (config_.enhanced_status_codes) r.lines.emplace_back("ENHANCEDSTATUSCODES");
    if (config_.smtputf8) r.lines.emplace_back("SMTPUTF8");
    if (config_.dsn) r.lines.emplace_back("DSN");
    if (config_.chunking) r.lines.emplace_back("CHUNKING");
    if (config_.starttls_available && !tls_) r.lines.emplace_back("STARTTLS");
    reply(r, out);
  }
  // RFC 5321 4.1.4: HELO/EHLO in a transaction resets it.
  end_transaction("helo");
  state_ = SmtpState::ready;
}

void SmtpServerSession::cmd_helo(std::string_view args, std::string& out) {
  if (config_.lmtp) return error(500, "5.5.1 Error: use LHLO (LMTP, RFC 2033)", out);
  greet("HELO", args, false, out);
}

void SmtpServerSession::cmd_ehlo(std::string_view args, std::string& out) {
  if (config_.lmtp) return error(500, "5.5.1 Error: use LHLO (LMTP, RFC 2033)", out);
  greet("EHLO", args, true, out);
}

void SmtpServerSession::cmd_lhlo(std::string_view args, std::string& out) {
  if (!config_.lmtp) return error(500, "5.5.2 Error: command not recognized", out);
  greet("LHLO", args, true, out);
}

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

void SmtpServerSession::cmd_data(std::string_view args, std::string& out) {
  if (!args.empty()) return error(501, "5.5.4 Syntax: DATA", out);
  txn_.data_attempted = true;
  if (txn_.bdat) {
    txn_.data_start_reply = smtp_reply(503, "5.5.1 Error: BDAT and DATA in one transaction");
    return error(503, txn_.data_start_reply.lines[0], out);
  }
  if (state_ == SmtpState::mail) {
    // RFC 5321 3.3 (554 "no valid recipients"); RFC 2033 4.2 uses 503 for LMTP.
    txn_.data_start_reply =
        smtp_reply(config_.lmtp ? 503 : 554, "5.5.1 Error: no valid recipients");
    return reply(txn_.data_start_reply, out);
  }
  SmtpReply r = handler_.on_data_start();
  if (r.code == 0) r = smtp_reply(354, "End data with <CR><LF>.<CR><LF>");
  const int code = r.code;
  txn_.data_start_reply = std::move(r);
  reply(txn_.data_start_reply, out);
  if (code != 354 || state_ == SmtpState::closed) return;
  state_ = SmtpState::data;
  decoder_.reset();
  txn_.message_octets = 0;
  txn_.message_size = 0;
}

void SmtpServerSession::feed_data(std::string_view& in, std::string& out) {
  std::string_view slice = in.substr(0, kSmtpDataSlice);
  // Refusing at the first bare LF: the decoder must not read past it, or what is recorded of
  // the refused message would depend on how the input was cut (found by smtp_server_fuzz).
  if (config_.reject_bare_lf)
    if (const auto nl = slice.find('\n'); nl != std::string_view::npos)
      slice = slice.substr(0, nl + 1);
  const std::size_t used = decoder_.feed(slice);
  in.remove_prefix(used);
  take_decoded();
  if (decoder_.saw_bare_lf() && config_.reject_bare_lf) {
    ++stats_.bare_lf;
    txn_.message_octets = decoder_.wire_octets();
    txn_.bare_lf_in_data = true;
    last_command_ = nullptr;  // DATA keeps its 354
    return refuse_bare_lf(out);
  }
  if (!decoder_.done()) return;
  txn_.message_octets = decoder_.wire_octets();
  txn_.bare_lf_in_data = decoder_.saw_bare_lf();
  finish_message(out);
}

// The body decoded so far: streamed to the handler, or kept in the decoder up to max_message.
// Beyond max_message nothing is kept; the decoder still finds the end of the message.
void SmtpServerSession::take_decoded() {
  const std::string& body = decoder_.body();
  if (txn_.too_large) return decoder_.clear_body();
  if (!streaming_) {
    txn_.message_size = body.size();
    if (body.size() > config_.max_message) {
      txn_.too_large = true;
      decoder_.clear_body();
    }
    return;
  }
  txn_.message_size += body.size();
  if (txn_.message_size > config_.max_message)
    txn_.too_large = true;
  else if (!body.empty())
    handler_.on_message_bytes(body);
  decoder_.clear_body();
}

// reject_bare_lf: Postfix smtpd_forbid_bare_newline=yes, "521" and close.
void SmtpServerSession::refuse_bare_lf(std::string& out) {
  ++stats_.errors;
  decoder_.reset();
  reply(521, "5.5.2 " + config_.hostname + " Error: bare <LF> received", out);
  end_transaction("bare-lf");
  state_ = SmtpState::closed;
}

void SmtpServerSession::cmd_bdat(std::string_view args, std::string& out) {
  const auto parts = base::split(args, ' ');
  std::uint64_t size = 0;
  const bool last = parts.size() == 2 && base::iequals(parts[1], "LAST");
  if (parts.empty() || parts.size() > 2 || (parts.size() == 2 && !last) ||
      !parse_size(parts[0], size)) {
    // The chunk length is unknown: its octets will arrive as (bad) commands.
    return error(501, "5.5.4 Syntax: BDAT chunk-size [LAST]", out);
  }
  bdat_remaining_ = static_cast<std::size_t>(size);
  bdat_chunk_ = bdat_remaining_;
  bdat_last_ = last;
  if (!txn_open_ || !mail_ok_) {
    bdat_failed_ = true;  // consumed, then "503 need MAIL"
  } else {
    if (!txn_.data_attempted) {
      txn_.data_attempted = true;
      txn_.bdat = true;
      if (state_ == SmtpState::mail) {
        bdat_failed_ = true;
        txn_.data_start_reply =
            smtp_reply(config_.lmtp ? 503 : 554, "5.5.1 Error: no valid recipients");
      } else {
        SmtpReply r = handler_.on_data_start();
        if (r.code != 0) {
          bdat_failed_ = true;
          txn_.data_start_reply = r;
        }
      }
    } else if (!txn_.bdat) {
      bdat_failed_ = true;
    }
  }
  state_ = SmtpState::bdat;
  if (bdat_remaining_ == 0) {
    std::string_view empty;
    feed_bdat(empty, out);
  }
}

void SmtpServerSession::feed_bdat(std::string_view& in, std::string& out) {
  const std::size_t n = std::min(in.size(), bdat_remaining_);
  if (!bdat_failed_ && !txn_.too_large) {
    if (txn_.message_size + n > config_.max_message) {
      txn_.too_large = true;
      bdat_body_.clear();
    } else {
      txn_.message_size += n;
      if (streaming_) {
        if (n != 0) handler_.on_message_bytes(in.substr(0, n));
      } else {
        bdat_body_.append(in.substr(0, n));
      }
    }
  }
  txn_.message_octets += n;
  bdat_remaining_ -= n;
  in.remove_prefix(n);
  if (bdat_remaining_ != 0) return;
  // Chunk complete.
  const bool in_txn = txn_open_ && mail_ok_;
  state_ = in_txn ? (txn_.accepted_rcpts() > 0 ? SmtpState::rcpt : SmtpState::mail)
                  : (helo_verb_.empty() ? SmtpState::connected : SmtpState::ready);
  if (!in_txn) {
    bdat_failed_ = false;
    return error(503, "5.5.1 Error: need MAIL command", out);
  }
  if (bdat_failed_) {
    SmtpReply r = txn_.data_start_reply.code != 0 && !txn_.data_start_reply.positive()
                      ? txn_.data_start_reply
                      : smtp_reply(503, "5.5.1 Error: BDAT after DATA or after a failed chunk");
    if (bdat_last_) {
      txn_.data_replies = {r};
      reply(r, out);
      state_ = SmtpState::ready;
      end_transaction("data");
      return;
    }
    return reply(r, out);
  }
  if (!bdat_last_) {
    if (txn_.too_large) return reply(552, "5.3.4 Message size exceeds fixed limit", out);
    return reply(250, "2.0.0 Ok: " + std::to_string(bdat_chunk_) + " octets", out);
  }
  txn_.message = std::move(bdat_body_);
  bdat_body_.clear();
  finish_message(out);
}

void SmtpServerSession::finish_message(std::string& out) {
  txn_.data_complete = true;
  txn_.data_end = handler_.now();
  if (state_ == SmtpState::data && !txn_.too_large && !streaming_)
    txn_.message = decoder_.take_body();
  decoder_.reset();
  state_ = SmtpState::ready;
  const std::size_t n = config_.lmtp ? txn_.accepted_rcpts() : 1;
  std::vector<SmtpReply> replies;
  if (txn_.too_large) {
    txn_.message.clear();
    replies.assign(n, smtp_reply(552, "5.3.4 Message size exceeds fixed limit"));
  } else {
    replies = handler_.on_data(streaming_ ? std::string_view{} : std::string_view(txn_.message));
    if (replies.empty()) replies.push_back(smtp_reply(451, "4.3.0 Error: no reply from handler"));
    if (replies.size() < n) replies.resize(n, replies.back());
    if (replies.size() > n) replies.resize(n);
  }
  txn_.data_replies = std::move(replies);
  if (txn_.accepted()) ++stats_.messages;
  if (txn_.bare_lf_in_data) ++stats_.bare_lf;
  // The replies are recorded in data_replies; the last command's code stays (354 / BDAT).
  last_command_ = nullptr;
  // The replies are formatted first (the transaction, replies included, goes to the handler)
  // and handed out after it has journaled them; a 421 ends the list and the session.
  std::string formatted;
  bool closing = false;
  for (const auto& r : txn_.data_replies) {
    format(r, formatted);
    if (r.code == 421) {
      closing = true;
      break;
    }
  }
  end_transaction("data");
  out += formatted;
  if (closing) state_ = SmtpState::closed;
  last_command_ = &scratch_command_;
}

void SmtpServerSession::cmd_rset(std::string_view args, std::string& out) {
  if (!args.empty()) return error(501, "5.5.4 Syntax: RSET", out);
  reply(250, "2.0.0 Ok", out);
  end_transaction("rset");
  if (state_ != SmtpState::connected) state_ = SmtpState::ready;
}

void SmtpServerSession::cmd_noop(std::string_view, std::string& out) {
  reply(250, "2.0.0 Ok", out);
}

void SmtpServerSession::cmd_quit(std::string_view, std::string& out) {
  reply(221, "2.0.0 Bye", out);
  end_transaction("quit");
  state_ = SmtpState::closed;
}

void SmtpServerSession::cmd_vrfy(std::string_view args, std::string& out) {
  if (args.empty()) return error(501, "5.5.4 Syntax: VRFY address", out);
  // RFC 5321 3.5.3: 252 when the server will not verify but would accept the address.
  reply(252, "2.0.0 Cannot VRFY user, but will accept message and attempt delivery", out);
}

void SmtpServerSession::cmd_expn(std::string_view, std::string& out) {
  error(502, "5.5.1 Error: EXPN not implemented", out);
}

void SmtpServerSession::cmd_help(std::string_view, std::string& out) {
  SmtpReply r;
  r.code = 214;
  r.lines = {"2.0.0 Commands: " + std::string(config_.lmtp ? "LHLO" : "HELO EHLO") +
                 " MAIL RCPT DATA" + (config_.chunking ? " BDAT" : "") +
                 " RSET NOOP QUIT VRFY HELP" + (config_.starttls_available ? " STARTTLS" : ""),
             "2.0.0 dropcheck fake SMTP server: mail is journaled, never delivered"};
  reply(r, out);
}

void SmtpServerSession::cmd_starttls(std::string_view args, std::string& out) {
  if (!config_.starttls_available) return error(502, "5.5.1 Error: command not implemented", out);
  if (tls_) return error(554, "5.5.1 Error: TLS already active", out);
  if (!args.empty()) return error(501, "5.5.4 Syntax: STARTTLS", out);
  reply(220, "2.0.0 Ready to start TLS", out);
  state_ = SmtpState::tls_pending;
  tls_requested_ = true;
}

void SmtpServerSession::cmd_auth(std::string_view, std::string& out) {
  error(502, "5.5.1 Error: authentication not enabled", out);
}

std::string SmtpServerSession::finish(std::string_view reason) {
  std::string out;
  if (session_ended_) return out;
  session_ended_ = true;
  if (state_ != SmtpState::closed) {
    last_command_ = nullptr;
    if (reason == "timeout") {
      end_transaction(reason);
      reply(421, "4.4.2 " + config_.hostname + " Error: timeout exceeded", out);
    } else if (reason == "shutdown") {
      end_transaction(reason);
      reply(421, "4.3.2 " + config_.hostname + " Service shutting down", out);
    }
  }
  end_transaction(reason);
  state_ = SmtpState::closed;
  handler_.on_session_end(stats_, reason);
  return out;
}

}  // namespace dropcheck::protocol

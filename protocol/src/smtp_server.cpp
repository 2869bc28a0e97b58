// SmtpServerSession (protocol/smtp_server.hpp): commands, replies and transaction state.
// MAIL and RCPT: smtp_envelope.cpp; DATA and BDAT: smtp_data.cpp.
#include "protocol/smtp_server.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "base/strings.hpp"

namespace dropcheck::protocol {
namespace {

constexpr unsigned bit(SmtpState s) { return 1u << static_cast<unsigned>(s); }
constexpr unsigned kGreeted = bit(SmtpState::ready) | bit(SmtpState::mail) | bit(SmtpState::rcpt);
constexpr unsigned kAnyOpen = bit(SmtpState::connected) | kGreeted;
constexpr unsigned kInTxn = bit(SmtpState::mail) | bit(SmtpState::rcpt);

// Octets of an over-long command line kept in its record: enough to tell what it was.
constexpr std::size_t kTooLongRecord = 80;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// RFC 4422 3.1: a SASL mechanism name is 1 to 20 upper-case letters, digits, '-' and '_'
// (lower case accepted too: clients are not that strict). Only such a name is kept in a
// record; anything else after AUTH may be a secret, and its length is the client's choice.
constexpr std::size_t kSaslMechanismMax = 20;

bool is_sasl_mechanism(std::string_view s) {
  return !s.empty() && s.size() <= kSaslMechanismMax && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// A control character (C0 or DEL): never part of a host name or address literal.
bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
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
  line_cr_ = false;
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
    if (rest.empty()) return "AUTH";
    if (!is_sasl_mechanism(mechanism)) return "AUTH <redacted>";
    std::string out = "AUTH ";
    out += mechanism;
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
  // A redaction can be longer than what it replaces ("AUTH PLAIN x" -> "AUTH PLAIN
  // <redacted>"); the record stays within max_line all the same (only a max_line below the
  // 36 octets of the longest redaction cuts one).
  if (rec.line.size() > config_.max_line) rec.line.resize(config_.max_line);
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
    append_line(in.substr(0, take));
    in.remove_prefix(take);
    if (!nl) return;
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool bare_lf = !line_cr_;
    const bool too_long = line_too_long_;
    line_too_long_ = false;
    line_cr_ = false;
    process_line(line, bare_lf, too_long, out);
    line_.clear();
  }
}

void SmtpServerSession::append_line(std::string_view part) {
  // The octet before the LF tells CRLF from a bare LF; of a line too long to keep whole,
  // it is not in line_, so it is noted as it passes (a CR may end one piece, its LF start
  // the next).
  const std::string_view content = part.ends_with('\n') ? part.substr(0, part.size() - 1) : part;
  if (!content.empty()) line_cr_ = content.back() == '\r';
  if (line_too_long_) return;
  if (line_.size() + part.size() > config_.max_line) {
    line_.append(part.substr(0, config_.max_line - line_.size()));
    line_too_long_ = true;
  } else {
    line_.append(part);
  }
}

void SmtpServerSession::process_line(std::string_view line, bool bare_lf, bool too_long,
                                     std::string& out) {
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
  if (too_long) {  // line holds its first max_line octets, of which the record keeps a few
    record_command(line.substr(0, kTooLongRecord));
    error(500, "5.5.2 Error: line too long", out);
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

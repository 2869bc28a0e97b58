// libFuzzer target: the SMTP/LMTP server state machine (protocol::SmtpServerSession) on an
// arbitrary client stream: commands, DATA with dot-stuffing and bare LFs, BDAT chunks.
// Input: one option octet (LMTP, limits, bare-LF policy, extensions), then the client's
// octets, fed in one piece, octet by octet and in random cuts. Replies, transactions (what
// the journal would record) and counters must not depend on how the stream was cut; every
// reply must be well-formed SMTP; limits must hold.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "fuzz_split.hpp"
#include "protocol/smtp_reply.hpp"
#include "protocol/smtp_server.hpp"
#include "smtp_test_util.hpp"

namespace protocol = dropcheck::protocol;
using protocol::smtp_testing::RecordingHandler;

namespace {

protocol::SmtpServerConfig config_for(std::uint8_t opt) {
  protocol::SmtpServerConfig c;
  c.lmtp = (opt & 0x01) != 0;
  c.reject_bare_lf = (opt & 0x02) != 0;
  c.starttls_available = (opt & 0x04) != 0;
  c.chunking = (opt & 0x08) == 0;
  c.enhanced_status_codes = (opt & 0x10) == 0;
  if (opt & 0x20) {  // small limits, so the fuzzer reaches every "too ..." branch
    c.max_line = 64;
    c.max_message = 200;
    c.max_rcpts = 3;
    c.max_errors = 5;
  }
  c.pipelining = (opt & 0x40) == 0;
  c.smtputf8 = (opt & 0x80) == 0;
  return c;
}

// A transaction as the journal sees it, without timestamps (the clock is not the subject).
void describe(const protocol::SmtpTransaction& t, std::string& out) {
  out += t.helo_verb + "|" + t.helo + "|" + t.reverse_path + "|" + t.mail_params + "|";
  out += std::to_string(t.mail_reply.code) + "|" + t.body_type + "|";
  for (const auto& r : t.rcpts) out += r.forward_path + ":" + std::to_string(r.reply.code) + ",";
  out += std::to_string(t.data_start_reply.code) + "|";
  for (const auto& r : t.data_replies) out += std::to_string(r.code) + ",";
  out += t.message + "|" + std::to_string(t.message_octets) + "|";
  out += std::string(1, static_cast<char>('0' + t.data_complete + 2 * t.too_large +
                                          4 * t.bare_lf_in_data + 8 * t.bdat));
  for (const auto& c : t.commands) out += c.line + "=" + std::to_string(c.code) + ";";
  out += t.end_reason + "\n";
}

void check_transaction(const protocol::SmtpTransaction& t, const protocol::SmtpServerConfig& c) {
  FUZZ_CHECK(!t.too_large || t.message.empty());
  if (!t.too_large) FUZZ_CHECK(t.message.size() <= c.max_message);
  FUZZ_CHECK(t.accepted_rcpts() <= c.max_rcpts);
  FUZZ_CHECK(!t.data_complete || t.data_attempted);
  FUZZ_CHECK(!t.accepted() || t.data_complete);
  // LMTP answers each accepted recipient after the message (RFC 2033 4.2), SMTP once.
  if (t.data_complete && !t.too_large && t.accepted_rcpts() > 0 && !t.data_replies.empty())
    FUZZ_CHECK(t.data_replies.size() == (c.lmtp ? t.accepted_rcpts() : 1));
  for (const auto& cmd : t.commands) FUZZ_CHECK(cmd.line.size() <= c.max_line);
}

// Every reply line is "NNN-text" or "NNN text" with a 2xx..5xx code, and the output ends
// after a complete reply.
void check_replies(std::string_view out) {
  protocol::SmtpReplyParser parser;
  bool open = false;
  std::size_t at = 0;
  while (at < out.size()) {
    const auto nl = out.find("\r\n", at);
    FUZZ_CHECK(nl != std::string_view::npos);
    auto r = parser.feed_line(out.substr(at, nl - at));
    open = !r.has_value();
    if (r) FUZZ_CHECK(r->code >= 200 && r->code <= 599);
    at = nl + 2;
  }
  FUZZ_CHECK(!open);
}

struct Outcome {
  std::string out;
  std::string txns;
  std::string messages;
  protocol::SmtpState state{};
  std::size_t commands = 0, errors = 0, transactions = 0, accepted = 0, bare_lf = 0;
};

bool same(const Outcome& a, const Outcome& b) {
  return a.out == b.out && a.txns == b.txns && a.messages == b.messages && a.state == b.state &&
         a.commands == b.commands && a.errors == b.errors && a.transactions == b.transactions &&
         a.accepted == b.accepted && a.bare_lf == b.bare_lf;
}

Outcome run(std::string_view input, std::uint8_t opt, std::size_t step) {
  const protocol::SmtpServerConfig cfg = config_for(opt);
  RecordingHandler h;
  protocol::SmtpServerSession s(cfg, h);
  Outcome o;
  o.out = s.greeting();
  // No handshake: what follows STARTTLS stays unread however the input was cut.
  dropcheck::fuzz::feed_split(input, step, [&](std::string_view piece) {
    s.receive(piece, o.out);
    return !s.closing();
  });
  FUZZ_CHECK(s.take_tls_request() == (s.state() == protocol::SmtpState::tls_pending));
  o.state = s.state();
  const auto& st = s.stats();
  // The error budget is checked at the next command (Postfix smtpd_hard_error_limit): errors
  // may pass max_errors inside DATA/BDAT, but then no command is answered except with 421.
  if (st.errors > cfg.max_errors) FUZZ_CHECK(s.closing() || !o.out.ends_with("250 2.0.0 Ok\r\n"));
  FUZZ_CHECK(s.session_commands().size() <= protocol::kSmtpMaxSessionCommands);
  for (const auto& cmd : s.session_commands()) FUZZ_CHECK(cmd.line.size() <= cfg.max_line);
  o.commands = st.commands;
  o.errors = st.errors;
  o.transactions = st.transactions;
  o.accepted = st.rcpts_accepted;
  o.bare_lf = st.bare_lf;
  o.out += s.finish("peer-closed");
  check_replies(o.out);
  for (const auto& t : h.txns) {
    check_transaction(t, cfg);
    describe(t, o.txns);
  }
  for (const auto& m : h.messages) o.messages += m + "\n--\n";
  FUZZ_CHECK(h.end_reason == "peer-closed");
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)dropcheck::fuzz::check_cut_invariance(data, size, 29, run, same);
  return 0;
}

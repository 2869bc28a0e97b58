// SmtpServerSession's message transfer (protocol/smtp_server.hpp): DATA with dot
// unstuffing, BDAT chunks (RFC 3030), and the end of a message.
#include <algorithm>
#include <string>

#include "base/strings.hpp"
#include "protocol/smtp_server.hpp"
#include "smtp_internal.hpp"

namespace dropcheck::protocol {

using detail::parse_size;

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

}  // namespace dropcheck::protocol

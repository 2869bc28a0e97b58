#pragma once
// The one description of the journal's records: each record's JSON members, in the order they
// are written, as (name, member) pairs handed to a visitor. The writer (a visitor that prints)
// and the reader (a visitor that fills) are both derived from it, so a field added here is
// written and read alike. The inline message of a transaction is not described here: it is
// optional, and stored as text or base64 (journal/codec.hpp).
//
// A visitor is called as v(name, member) for scalar members (int, std::int64_t,
// std::uint64_t, std::size_t, bool, std::string, std::vector<std::string>) and as
// v(name, member) for std::vector<R> of a described record R, which it visits with
// describe(element, v') per element.
#include <type_traits>

#include "journal/records.hpp"

namespace dropcheck::journal {

// Rec is R or const R; V is the visitor.
template <typename Rec, typename V>
requires std::is_same_v<std::remove_const_t<Rec>, CommandRecord>
void describe(Rec& c, V&& v) {
  v("virtual_ms", c.virtual_ms);
  v("real_ms", c.real_ms);
  v("line", c.line);
  v("code", c.code);
}

template <typename Rec, typename V>
requires std::is_same_v<std::remove_const_t<Rec>, RcptRecord>
void describe(Rec& x, V&& v) {
  v("address", x.address);
  v("params", x.params);
  v("code", x.code);
  v("reply", x.reply);
  v("local", x.local);
  v("relayed", x.relayed);
  v("mailbox", x.mailbox);
  v("data_code", x.data_code);
  v("data_reply", x.data_reply);
}

template <typename Rec, typename V>
requires std::is_same_v<std::remove_const_t<Rec>, TransactionRecord>
void describe(Rec& r, V&& v) {
  v("version", r.version);
  v("seq", r.seq);
  v("session_id", r.session_id);
  v("virtual_ms", r.virtual_ms);
  v("real_ms", r.real_ms);
  v("client", r.client);
  v("tls", r.tls);
  v("lmtp", r.lmtp);
  v("helo_verb", r.helo_verb);
  v("helo", r.helo);
  v("mail_from_null", r.mail_from_null);
  v("mail_from", r.mail_from);
  v("mail_params", r.mail_params);
  v("mail_code", r.mail_code);
  v("mail_reply", r.mail_reply);
  v("smtputf8", r.smtputf8);
  v("body_type", r.body_type);
  v("rcpts", r.rcpts);
  v("data_attempted", r.data_attempted);
  v("bdat", r.bdat);
  v("data_start_code", r.data_start_code);
  v("data_complete", r.data_complete);
  v("data_code", r.data_code);
  v("data_reply", r.data_reply);
  v("accepted", r.accepted);
  v("data_end_virtual_ms", r.data_end_virtual_ms);
  v("data_end_real_ms", r.data_end_real_ms);
  v("size", r.size);
  v("sha256", r.sha256);
  v("too_large", r.too_large);
  v("bare_lf_in_data", r.bare_lf_in_data);
  v("bare_lf_in_commands", r.bare_lf_in_commands);
  v("relayed_out", r.relayed_out);
  v("end_reason", r.end_reason);
  v("faults", r.faults);
  v("commands", r.commands);
}

template <typename Rec, typename V>
requires std::is_same_v<std::remove_const_t<Rec>, SessionRecord>
void describe(Rec& r, V&& v) {
  v("version", r.version);
  v("seq", r.seq);
  v("session_id", r.session_id);
  v("client", r.client);
  v("tls", r.tls);
  v("lmtp", r.lmtp);
  v("connected_virtual_ms", r.connected_virtual_ms);
  v("connected_real_ms", r.connected_real_ms);
  v("ended_virtual_ms", r.ended_virtual_ms);
  v("ended_real_ms", r.ended_real_ms);
  v("greeting_code", r.greeting_code);
  v("helo_verb", r.helo_verb);
  v("helo", r.helo);
  v("end_reason", r.end_reason);
  v("transactions", r.transactions);
  v("messages", r.messages);
  v("rcpts_accepted", r.rcpts_accepted);
  v("rcpts_refused", r.rcpts_refused);
  v("errors", r.errors);
  v("bare_lf", r.bare_lf);
  v("commands", r.commands);
  v("commands_dropped", r.commands_dropped);
  v("faults", r.faults);
}

}  // namespace dropcheck::journal

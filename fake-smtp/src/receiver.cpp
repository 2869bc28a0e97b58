#include "fake_smtp/receiver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <utility>

#include "base/strings.hpp"
#include "mail/address.hpp"
#include "mail/header.hpp"
#include "net/deadlines.hpp"

namespace dropcheck::fake_smtp {

using protocol::smtp_reply;
using protocol::SmtpReply;

namespace {

std::int64_t real_now_ms() { return base::SystemClock{}.now().count(); }

std::string local_part(std::string_view addr) {
  const auto at = addr.rfind('@');
  return std::string(at == std::string_view::npos ? addr : addr.substr(0, at));
}

SmtpReply fault_reply(int code) {
  switch (code) {
    case 421:
      return smtp_reply(421, "4.3.2 Service not available, closing transmission channel");
    case 450:
      return smtp_reply(450, "4.2.1 Mailbox temporarily unavailable");
    case 451:
      return smtp_reply(451, "4.3.0 Error: queue file write error");
    case 452:
      return smtp_reply(452, "4.3.1 Insufficient system storage");
    case 550:
      return smtp_reply(550, "5.1.1 Mailbox unavailable");
    case 552:
      return smtp_reply(552, "5.3.4 Message size exceeds fixed limit");
    case 554:
      return smtp_reply(554, "5.3.0 Transaction failed");
    default:
      return smtp_reply(code, code >= 500 ? "5.0.0 Error" : "4.0.0 Error");
  }
}

// Of a streamed message, the first octets are kept for the Delivered-To loop check (a header
// section longer than this is checked as far as it goes).
constexpr std::size_t kKeptHead = 64 * 1024;

struct RcptDecision {
  bool local = false;
  bool relayed = false;
  std::string mailbox;
};

}  // namespace

class ReceiverSession final : public net::ProtocolSession, public protocol::SmtpHandler {
 public:
  ReceiverSession(Receiver& r, const net::Peer& peer, std::string id)
      : r_(r),
        peer_(peer),
        client_(fmt::format("{}:{}", peer.address, peer.port)),
        id_(std::move(id)),
        session_(config_for(r), *this),
        deadlines_(r.policy_.idle_timeout, r.policy_.transaction_timeout) {}

  // net::ProtocolSession
  std::string start() override { return session_.greeting(); }

  void receive(std::string_view in, std::string& out) override {
    if (closing()) return;
    // Replies go straight to `out`; if the journal fails, the ones produced here (perhaps a
    // 250 for a message that is not recorded) are cut off again.
    const std::size_t mark = out.size();
    try {
      receive_faulty(in, out);
    } catch (const JournalBusy& e) {
      // Out of descriptors: this message is not recorded, so not acknowledged; the session
      // closes with a 421 (pipelined input after it is lost) and the server goes on.
      out.resize(mark);
      out += "421 4.3.2 " + r_.smtp_.hostname + " Error: cannot store the message now (" +
             e.what() + "), try again later\r\n";
      busy_ = true;
    } catch (const std::exception& e) {
      out.resize(mark);
      out += journal_failed(e.what());
    }
    deadlines_.update(session_.partial_command(), session_.in_transaction());
  }

  std::chrono::steady_clock::time_point input_deadline() const override {
    return deadlines_.deadline();
  }

  void receive_faulty(std::string_view in, std::string& out) {
    {
      const auto& limit = r_.policy_.faults.disconnect_after_data_octets;
      if (!limit) {
        session_.receive(in, out);
        return;
      }
      // Fault mode: feed line by line outside a message, so the message's start is seen
      // whatever the split of the input.
      while (!in.empty() && !session_.closing()) {
        const auto st = session_.state();
        if ((st == protocol::SmtpState::data || st == protocol::SmtpState::bdat) &&
            faults_apply()) {
          const std::size_t have = session_.data_octets();
          const std::size_t room = *limit > have ? *limit - have : 0;
          if (in.size() >= room) {
            session_.receive(in.substr(0, room), out);
            fault_disconnect_ = true;
            faults_.push_back("disconnect-mid-data");
            break;
          }
          session_.receive(in, out);
          break;
        }
        const auto nl = in.find('\n');
        const std::size_t n = nl == std::string_view::npos ? in.size() : nl + 1;
        session_.receive(in.substr(0, n), out);
        in.remove_prefix(n);
      }
    }
  }

  // The journal failed: the pending replies (perhaps a 250) must not be sent; this is the
  // reply instead, and the session closes.
  std::string journal_failed(const std::string& what) {
    fatal_ = true;
    r_.set_fatal(what);
    return "421 4.3.0 " + r_.smtp_.hostname + " Error: local journal failure, closing\r\n";
  }

  bool closing() const override {
    return session_.closing() || fault_disconnect_ || fatal_ || busy_;
  }

  // Group commit (fake-smtp --fsync): the reply to a journaled transaction waits until one
  // fdatasync covers its record. The first waiter of an I/O context yields once, so that the
  // other sessions with input ready append their records first, then syncs for all of them.
  bool needs_flush() const override { return unsynced_seq_ != 0; }
  net::awaitable<void> flush(std::string& out) override {
    const std::uint64_t target = std::exchange(unsynced_seq_, 0);
    const auto ex = co_await net::asio::this_coro::executor;
    Receiver::Syncer& s = r_.syncer(ex);
    try {
      while (r_.journal_.synced() < target) {
        if (s.running) {
          net::error_code ec;
          co_await s.wake.async_wait(net::asio::redirect_error(net::asio::use_awaitable, ec));
          continue;
        }
        s.running = true;
        co_await net::asio::post(ex, net::asio::use_awaitable);
        try {
          r_.journal_.sync();
        } catch (...) {
          s.running = false;
          s.wake.cancel();
          throw;
        }
        s.running = false;
        s.wake.cancel();
      }
    } catch (const std::exception& e) {
      out = journal_failed(e.what());  // not on disk: the 250 must not go out
    }
  }
  bool take_tls_request() override { return session_.take_tls_request(); }
  void on_tls_started() override { session_.on_tls_started(); }

  std::string finish(std::string_view reason) override {
    std::string why(fault_disconnect_ ? "fault-disconnect" : busy_ ? "journal-busy" : reason);
    try {
      std::string out = session_.finish(why);
      return fault_disconnect_ || fatal_ || busy_ ? std::string{} : out;
    } catch (const std::exception& e) {
      r_.set_fatal(e.what());
      return {};
    }
  }

  std::chrono::milliseconds idle_timeout() const override { return r_.policy_.idle_timeout; }
  std::chrono::milliseconds take_reply_delay() override {
    if (!stage_seen_) delay(ReplyStage::other, false);
    stage_seen_ = false;
    return std::exchange(pending_delay_, std::chrono::milliseconds(0));
  }
  std::size_t write_rate() const override { return r_.policy_.faults.reply_rate; }

  // protocol::SmtpHandler
  protocol::SmtpTimestamp now() const override { return {r_.clock_.now().count(), real_now_ms()}; }

  SmtpReply on_connect() override {
    delay(ReplyStage::greeting, false);
    const int code = r_.policy_.faults.connect_code;
    if (code == 0 || code == 220) return {};
    session_faults_.push_back("connect-" + std::to_string(code));
    if (code == 421)
      return smtp_reply(421, "4.3.2 " + r_.smtp_.hostname + " Service not available");
    return smtp_reply(code, fault_reply(code).lines[0]);
  }

  SmtpReply on_mail(std::string_view reverse_path, std::string_view) override {
    rcpt_index_ = 0;
    decisions_.clear();
    accepted_.clear();
    txn_number_ = ++r_.transactions_;
    delay(ReplyStage::mail, true);
    if (reverse_path.empty() && r_.policy_.reject_null_sender)
      return smtp_reply(550, "5.7.1 <>: Sender address rejected: null sender not accepted");
    return {};
  }

  SmtpReply on_rcpt(std::string_view forward_path, std::string_view) override {
    ++rcpt_index_;
    delay(ReplyStage::rcpt, true);
    const auto& f = r_.policy_.faults;
    if (f.rcpt_fail_at != 0 && rcpt_index_ == f.rcpt_fail_at && faults_apply()) {
      faults_.push_back(fmt::format("rcpt-{}-{}", rcpt_index_, f.rcpt_fail_code));
      return fault_reply(f.rcpt_fail_code);
    }
    for (const auto& by_address : f.rcpt_fail_for)
      if (base::iequals(by_address.address, forward_path)) {
        faults_.push_back(
            fmt::format("rcpt-to-{}-{}", base::to_lower(forward_path), by_address.code));
        return fault_reply(by_address.code);
      }
    RcptDecision d;
    SmtpReply reply = decide(forward_path, d);
    decisions_[std::string(forward_path)] = d;
    if (reply.code == 0 || reply.positive()) accepted_.emplace_back(forward_path);
    return reply;
  }

  SmtpReply on_data_start() override {
    delay(ReplyStage::data, true);
    const int code = r_.policy_.faults.data_fail_code;
    if (code != 0 && faults_apply()) {
      faults_.push_back(fmt::format("data-{}", code));
      return fault_reply(code);
    }
    if (!r_.stream_messages_) return {};
    try {
      spool_ = r_.journal_.open_spool();
    } catch (const JournalBusy&) {
      return smtp_reply(451,
                        "4.3.0 Error: cannot take a message now (out of file descriptors), "
                        "try again later");
    }
    head_.clear();
    return {};
  }

  bool streams_message() const override { return r_.stream_messages_; }
  void on_message_bytes(std::string_view piece) override {
    if (!spool_) return;
    spool_->write(piece);
    if (head_.size() < kKeptHead) head_.append(piece.substr(0, kKeptHead - head_.size()));
  }

  std::vector<SmtpReply> on_data(std::string_view message) override {
    delay(ReplyStage::data_end, true);
    const int code = r_.policy_.faults.data_end_fail_code;
    if (code != 0 && faults_apply()) {
      faults_.push_back(fmt::format("data-end-{}", code));
      return {fault_reply(code)};
    }
    std::vector<SmtpReply> replies;
    std::vector<std::string> looped;
    if (r_.policy_.loop_check) looped = delivered_to(r_.stream_messages_ ? head_ : message);
    bool any_loop = false;
    for (const auto& rcpt : accepted_) {
      const auto& d = decisions_[rcpt];
      const bool loop = std::any_of(looped.begin(), looped.end(), [&](const std::string& l) {
        // Postfix compares lower-cased addresses (local parts included) in this check.
        return base::iequals(l, mail::normalize_address(rcpt)) ||
               (!d.mailbox.empty() && base::iequals(l, mail::normalize_address(d.mailbox)));
      });
      any_loop = any_loop || loop;
      if (loop) {
        replies.push_back(
            smtp_reply(554, "5.4.6 <" + rcpt + ">: mail forwarding loop for " + rcpt));
      } else {
        replies.push_back(
            smtp_reply(250, "2.0.0 Ok: queued as " + id_ + "-" + std::to_string(txn_number_)));
      }
    }
    if (!r_.smtp_.lmtp) {
      // SMTP has one reply: a loop for any recipient refuses the message (as Postfix would
      // bounce it; here the refusal is the observable evidence).
      for (const auto& rep : replies)
        if (!rep.positive()) return {rep};
      return replies.empty() ? replies : std::vector<SmtpReply>{replies.front()};
    }
    if (any_loop) faults_.push_back("loop-detected");
    return replies;
  }

  void on_transaction_end(protocol::SmtpTransaction&& t) override {
    TransactionRecord rec;
    rec.session_id = id_;
    rec.virtual_ms = t.started.virtual_ms;
    rec.real_ms = t.started.real_ms;
    rec.client = client_;
    rec.tls = t.tls;
    rec.lmtp = r_.smtp_.lmtp;
    rec.helo_verb = std::move(t.helo_verb);
    rec.helo = std::move(t.helo);
    rec.mail_from_null = t.null_sender;
    rec.mail_from = std::move(t.reverse_path);
    rec.mail_params = std::move(t.mail_params);
    rec.mail_code = t.mail_reply.code;
    rec.mail_reply = t.mail_reply.text();
    rec.smtputf8 = t.smtputf8;
    rec.body_type = std::move(t.body_type);
    std::size_t accepted_index = 0;
    for (auto& x : t.rcpts) {
      RcptRecord rr;
      rr.params = std::move(x.params);
      rr.code = x.reply.code;
      rr.reply = x.reply.text();
      const auto it = decisions_.find(x.forward_path);
      if (it != decisions_.end()) {
        rr.local = it->second.local;
        if (x.reply.positive()) {
          rr.relayed = it->second.relayed;
          rr.mailbox = it->second.mailbox;
        }
      } else {
        rr.local = is_local_domain(mail::domain_of(x.forward_path));
      }
      if (x.reply.positive() && rec.lmtp && accepted_index < t.data_replies.size()) {
        rr.data_code = t.data_replies[accepted_index].code;
        rr.data_reply = t.data_replies[accepted_index].text();
      }
      if (x.reply.positive()) ++accepted_index;
      rr.address = std::move(x.forward_path);
      rec.rcpts.push_back(std::move(rr));
    }
    rec.data_attempted = t.data_attempted;
    rec.bdat = t.bdat;
    rec.data_start_code = t.data_start_reply.code;
    rec.data_complete = t.data_complete;
    if (!t.data_replies.empty()) {
      rec.data_code = t.data_replies.front().code;
      rec.data_reply = t.data_replies.front().text();
    }
    rec.accepted = t.accepted();
    rec.data_end_virtual_ms = t.data_end.virtual_ms;
    rec.data_end_real_ms = t.data_end.real_ms;
    rec.size = t.message_octets;
    rec.message = std::move(t.message);
    rec.too_large = t.too_large;
    rec.bare_lf_in_data = t.bare_lf_in_data;
    rec.bare_lf_in_commands = t.bare_lf_in_commands;
    if (rec.accepted) {
      for (std::size_t i = 0, k = 0; i < rec.rcpts.size(); ++i) {
        if (rec.rcpts[i].code < 200 || rec.rcpts[i].code >= 400) continue;
        const bool got = !rec.lmtp || (k < t.data_replies.size() && t.data_replies[k].positive());
        ++k;
        if (got && rec.rcpts[i].relayed) rec.relayed_out = true;
      }
    }
    rec.end_reason = std::move(t.end_reason);
    rec.faults = std::move(faults_);
    faults_.clear();
    rec.commands.reserve(t.commands.size());
    for (auto& c : t.commands)
      rec.commands.push_back({c.at.virtual_ms, c.at.real_ms, std::move(c.line), c.code});
    const auto spool = std::move(spool_);  // removed at the end of this scope unless stored
    head_.clear();
    r_.journal_.append(rec, spool.get(), r_.on_record_ != nullptr);
    if (r_.journal_.group_commit()) unsynced_seq_ = rec.seq;
    if (r_.on_record_) r_.on_record_(rec);
    decisions_.clear();
    accepted_.clear();
  }

  void on_session_end(const protocol::SmtpSessionStats& s, std::string_view reason) override {
    SessionRecord rec;
    rec.session_id = id_;
    rec.client = client_;
    rec.tls = s.tls || peer_.tls;
    rec.lmtp = r_.smtp_.lmtp;
    rec.connected_virtual_ms = session_.connected_at().virtual_ms;
    rec.connected_real_ms = session_.connected_at().real_ms;
    const auto end = now();
    rec.ended_virtual_ms = end.virtual_ms;
    rec.ended_real_ms = end.real_ms;
    rec.greeting_code = session_.greeting_code();
    rec.helo_verb = session_.helo_verb();
    rec.helo = session_.helo();
    rec.end_reason = std::string(reason);
    rec.transactions = s.transactions;
    rec.messages = s.messages;
    rec.rcpts_accepted = s.rcpts_accepted;
    rec.rcpts_refused = s.rcpts_refused;
    rec.errors = s.errors;
    rec.bare_lf = s.bare_lf;
    for (const auto& c : session_.session_commands())
      rec.commands.push_back({c.at.virtual_ms, c.at.real_ms, c.line, c.code});
    rec.commands_dropped = session_.session_commands_dropped();
    rec.faults = std::move(session_faults_);
    r_.journal_.append_session(rec);
    if (!r_.log_) return;
    r_.log_(
        fmt::format("event=disconnect session={} client={} reason={} tls={} commands={} errors={} "
                    "transactions={} messages={} rcpts_accepted={} rcpts_refused={} bare_lf={}",
                    id_, client_, reason, s.tls ? 1 : 0, s.commands, s.errors, s.transactions,
                    s.messages, s.rcpts_accepted, s.rcpts_refused, s.bare_lf));
  }

 private:
  static protocol::SmtpServerConfig config_for(const Receiver& r) {
    protocol::SmtpServerConfig c = r.smtp_;
    c.lmtp = r.policy_.lmtp;
    return c;
  }

  // A reply of this stage is on its way: wait before sending it, if the policy says so (the
  // longest of several pipelined replies counts). Transaction stages fire with faults_apply().
  void delay(ReplyStage stage, bool in_transaction) {
    stage_seen_ = true;
    const auto d = r_.policy_.faults.reply_delay[static_cast<std::size_t>(stage)];
    if (d.count() <= 0 || (in_transaction && !faults_apply())) return;
    const std::string fault =
        fmt::format("delay-{}-{}ms", kReplyStageNames[static_cast<std::size_t>(stage)], d.count());
    if (in_transaction)
      faults_.push_back(fault);
    else if (std::find(session_faults_.begin(), session_faults_.end(), fault) ==
             session_faults_.end())
      session_faults_.push_back(fault);
    pending_delay_ = std::max(pending_delay_, d);
  }

  bool faults_apply() const {
    const auto only = r_.policy_.faults.only_transaction;
    return only == 0 || only == txn_number_;
  }

  bool is_local_domain(std::string_view domain) const {
    return std::any_of(r_.policy_.local_domains.begin(), r_.policy_.local_domains.end(),
                       [&](const std::string& d) { return base::iequals(d, domain); });
  }

  bool known_user(std::string_view addr) const {
    const auto& users = r_.policy_.users;
    if (users.empty()) return true;
    const std::string lp = local_part(addr);
    return std::any_of(users.begin(), users.end(), [&](const std::string& u) {
      if (u.find('@') != std::string::npos) return base::iequals(u, addr);
      return base::iequals(u, lp);
    });
  }

  SmtpReply decide(std::string_view rcpt, RcptDecision& d) {
    const auto& p = r_.policy_;
    std::string addr(rcpt);
    // RFC 5321 4.5.1: "postmaster" without a domain must be accepted.
    if (base::iequals(rcpt, "postmaster")) {
      d.local = true;
      d.mailbox = "postmaster";
      return {};
    }
    const std::string domain = mail::domain_of(addr);
    if (is_local_domain(domain)) {
      d.local = true;
      if (known_user(addr) || base::iequals(local_part(addr), "postmaster")) {
        d.mailbox = mail::normalize_address(addr);
        return {};
      }
      if (!p.catch_all.empty()) {
        d.mailbox = p.catch_all;
        return {};
      }
      return smtp_reply(550,
                        "5.1.1 <" + addr +
                            ">: Recipient address rejected: User unknown in local recipient table");
    }
    if (p.relay == RelayMode::open && !domain.empty()) {
      d.relayed = true;
      d.mailbox = mail::normalize_address(addr);
      return {};
    }
    return smtp_reply(550, "5.7.1 <" + addr + ">: Relay access denied: relaying denied");
  }

  std::vector<std::string> delivered_to(std::string_view message) const {
    std::vector<std::string> out;
    auto hs = mail::parse_header_section(message);
    if (!hs) return out;
    for (const auto* f : mail::find_all(*hs, "Delivered-To"))
      out.push_back(mail::normalize_address(f->unfolded()));
    return out;
  }

  Receiver& r_;
  net::Peer peer_;
  std::string client_;  // "address:port", as journaled
  std::string id_;
  protocol::SmtpServerSession session_;
  std::size_t rcpt_index_ = 0;
  std::uint64_t txn_number_ = 0;
  std::map<std::string, RcptDecision> decisions_;
  std::vector<std::string> accepted_;
  std::vector<std::string> faults_;          // of the current transaction
  std::vector<std::string> session_faults_;  // outside transactions
  std::unique_ptr<MessageSpool> spool_;      // the message arriving (streamed)
  std::string head_;                         // its first kKeptHead octets
  net::InputDeadlines deadlines_;
  bool fault_disconnect_ = false;
  bool fatal_ = false;
  bool busy_ = false;  // JournalBusy: 421 and close
  std::chrono::milliseconds pending_delay_{0};
  std::uint64_t unsynced_seq_ = 0;  // group commit: the reply waits until this is on disk
  bool stage_seen_ = false;  // a stage-specific delay decision was made for the pending output
};

Receiver::Receiver(Policy policy, Journal& journal, const base::Clock& clock,
                   protocol::SmtpServerConfig smtp)
    : policy_(std::move(policy)), journal_(journal), clock_(clock), smtp_(std::move(smtp)) {
  smtp_.lmtp = policy_.lmtp;
  for (auto& d : policy_.local_domains) d = base::to_lower(d);
  id_prefix_ = fmt::format("{:x}", real_now_ms());
}

std::unique_ptr<net::ProtocolSession> Receiver::make_session(const net::Peer& peer) {
  const auto n = ++sessions_;
  return std::make_unique<ReceiverSession>(*this, peer, fmt::format("{}-{}", id_prefix_, n));
}

Receiver::Syncer& Receiver::syncer(const net::asio::any_io_executor& ex) {
  const void* key = &net::asio::query(ex, net::asio::execution::context);
  const std::lock_guard lock(syncers_mutex_);
  auto& s = syncers_[key];
  if (!s) s = std::make_unique<Syncer>(ex);
  return *s;
}

void Receiver::record_refused(const net::Peer& peer, std::string_view reason) {
  SessionRecord rec;
  rec.session_id = fmt::format("{}-{}", id_prefix_, ++sessions_);
  rec.client = fmt::format("{}:{}", peer.address, peer.port);
  rec.tls = peer.tls;
  rec.lmtp = smtp_.lmtp;
  const auto now = clock_.now().count();
  const auto real = real_now_ms();
  rec.connected_virtual_ms = rec.ended_virtual_ms = now;
  rec.connected_real_ms = rec.ended_real_ms = real;
  rec.greeting_code = 421;
  rec.end_reason = std::string(reason);
  try {
    journal_.append_session(rec);
  } catch (const std::exception& e) {
    set_fatal(e.what());
  }
  if (log_)
    log_(fmt::format("event=refused session={} client={} reason={} reply=421", rec.session_id,
                     rec.client, reason));
}

void Receiver::set_fatal(const std::string& what) {
  {
    const std::lock_guard lock(fatal_mutex_);
    if (fatal_.empty()) fatal_ = what;
  }
  failed_ = true;
  if (on_fatal_) on_fatal_(what);
}

}  // namespace dropcheck::fake_smtp

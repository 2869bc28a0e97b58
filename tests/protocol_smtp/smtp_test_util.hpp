#pragma once
// A recording SmtpHandler and drivers that feed a session whole, byte by byte, or split.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/smtp_server.hpp"

namespace dropcheck::protocol::smtp_testing {

class RecordingHandler : public SmtpHandler {
 public:
  SmtpReply on_mail(std::string_view rp, std::string_view params) override {
    mails.push_back(std::string(rp) + "|" + std::string(params));
    if (rp == "bad@sender.example") return smtp_reply(550, "5.7.1 sender rejected");
    return {};
  }
  SmtpReply on_rcpt(std::string_view fp, std::string_view) override {
    rcpts.emplace_back(fp);
    if (fp.ends_with("@foreign.example")) return smtp_reply(550, "5.7.1 relaying denied");
    if (fp.starts_with("tempfail@")) return smtp_reply(451, "4.3.0 try later");
    return {};
  }
  SmtpReply on_data_start() override { return data_start; }
  std::vector<SmtpReply> on_data(std::string_view message) override {
    messages.emplace_back(message);
    return data_replies;
  }
  void on_transaction_end(SmtpTransaction&& t) override { txns.push_back(std::move(t)); }
  void on_session_end(const SmtpSessionStats& s, std::string_view reason) override {
    end_stats = s;
    end_reason = reason;
  }
  SmtpTimestamp now() const override { return {++clock_, 0}; }
  bool streams_message() const override { return stream; }
  void on_message_bytes(std::string_view piece) override {
    streamed.append(piece);
    max_piece = std::max(max_piece, piece.size());
  }

  SmtpReply data_start;
  std::vector<SmtpReply> data_replies{smtp_reply(250, "2.0.0 Ok: queued")};
  std::vector<std::string> mails, rcpts, messages;
  std::vector<SmtpTransaction> txns;
  SmtpSessionStats end_stats;
  std::string end_reason;
  mutable std::int64_t clock_ = 0;
  bool stream = false;   // streams_message()
  std::string streamed;  // every piece, concatenated
  std::size_t max_piece = 0;
};

struct SessionRun {
  std::string out;  // greeting + every reply
  RecordingHandler handler;
  bool closing = false;
  SmtpState state = SmtpState::connected;
};

// Feeds `input` in pieces of `chunk` octets (0 = all at once).
inline void drive(SessionRun& r, const SmtpServerConfig& cfg, std::string_view input,
                  std::size_t chunk, bool finish = true) {
  r.handler.streamed.clear();
  SmtpServerSession s(cfg, r.handler);
  r.out = s.greeting();
  if (chunk == 0) chunk = input.size() ? input.size() : 1;
  for (std::size_t i = 0; i < input.size(); i += chunk) s.receive(input.substr(i, chunk), r.out);
  r.closing = s.closing();
  r.state = s.state();
  if (finish) r.out += s.finish("peer-closed");
}

// The reply codes in `out`, one per final reply line.
inline std::vector<int> codes(std::string_view out) {
  std::vector<int> v;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find('\n', pos);
    if (nl == std::string_view::npos) nl = out.size();
    const auto line = out.substr(pos, nl - pos);
    if (line.size() >= 3 && (line.size() == 3 || line[3] != '-'))
      v.push_back(std::stoi(std::string(line.substr(0, 3))));
    pos = nl + 1;
  }
  return v;
}

}  // namespace dropcheck::protocol::smtp_testing

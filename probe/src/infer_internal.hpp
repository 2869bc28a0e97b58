#pragma once
// Shared by the parts of infer() (infer.cpp, infer_service.cpp, infer_received.cpp,
// infer_active.cpp): the
// answer list helpers and the questions each file answers. Internal to probe/src.
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "probe/probe.hpp"

namespace dropcheck::probe::detail {

// A header present in at least this share of the messages is the provider's
// stamp, not a stray line of some messages (forwarding chains, list software).
inline constexpr double kStampCoverage = 0.8;

void add(Report &r, std::string id, std::string question, Verdict v, std::string answer,
         std::string evidence = {});
std::string join(const std::vector<std::string> &v, std::string_view sep = ", ");
bool sent(const TestCase &c);
// The line `host` wrote in one copy (the topmost by it), or nullptr.
const ReceivedLine *line_by(const MessageObservation &m, std::string_view host);

// Addresses the header names in one message (the top Delivered-To line only).
std::set<std::string> named_by(const MessageObservation &m, std::string_view name);
// A test case by id whose mail the MX accepted, or nullptr.
const TestCase *find_case(const Report &r, std::string_view id);
// The answers only test mails give (infer_active.cpp); r.active is set.
void answer_test_mails(Report &r, const std::string &header);

// The POP3 service (infer_service.cpp): connection, TLS, login, capabilities, locking and
// login delay; the pop3.* part of the profile.
void infer_service(Report &r);

// No envelope header: does the provider's MX name the recipient in its Received line?
// (infer_received.cpp)
void infer_received_for(Report &r, const std::vector<const MessageObservation *> &all);
// Without test mails: the host whose Received line carries a for clause in (nearly) every
// message, or "".
std::string passive_received_host(const std::vector<const MessageObservation *> &all);

}  // namespace dropcheck::probe::detail

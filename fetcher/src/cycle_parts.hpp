#pragma once
// Helpers of the fetch cycle (fetcher.cpp), kept apart to keep that file short.
#include <string>
#include <vector>

#include "client/pop3.hpp"
#include "client/smtp.hpp"
#include "fetcher/config.hpp"

namespace dropcheck::fetcher::detail {

// One message of the listing. `uidl` is empty when the server gave none for it, or gave the
// same one to several messages (then it identifies none of them).
struct Listed {
  std::size_t number = 0;
  std::size_t size = 0;
  std::string uidl;
};

std::string join(const std::vector<std::string>& v);
client::Auth auth_of(const Pop3Account& a);
client::Pop3Options pop3_options(const Pop3Account& a);
client::SmtpOptions smtp_options(const Delivery& d);
// RFC 1939 11: a server may count line endings as one octet; anything further off than one
// octet per line means the response is not the message LIST announced.
bool size_plausible(std::size_t listed, const std::string& body);
// The dedup key of one provider copy: Message-ID plus a digest over the trace (Received) and
// the body.
std::string dedup_key(const std::string& raw);

}  // namespace dropcheck::fetcher::detail

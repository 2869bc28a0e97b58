#pragma once
// The trace fields of one Received line (RFC 5321 4.4 Time-stamp-line; RFC 5322 3.6.7):
//   from <domain> by <domain> [via ..] [with <protocol>] [id <id>] [for <path>] ; <date-time>
// Comments (TCP-info, "(Postfix)", "(envelope-from <x>)") are removed first; folds are
// whitespace. Real MTAs write the clauses in this order, but the reader takes them in any
// order and ignores the words it does not know (Exim's "tls TLS_AES_256_GCM_SHA384").
#include <string>
#include <string_view>
#include <vector>

namespace dropcheck::mail {

struct ReceivedTrace {
  std::string from;  // From-domain as written; "" when absent
  std::string by;    // By-domain, lower-case, without a trailing dot; "" when absent
  std::string with;  // protocol ("ESMTP", "LMTP", ...) as written
  std::string id;
  bool has_for = false;                // a FOR clause is present (RFC 5321: one Path/Mailbox)
  std::vector<std::string> for_addrs;  // the addr-specs it names ("<a@b>" or "a@b"), as written
  bool for_damaged = false;  // the FOR clause names something that is no address ("for <>",
                             // "for b@@x", nothing at all)
  bool has_date = false;     // "; date-time" follows the clauses
};

// Total on any input: what cannot be read is left empty.
ReceivedTrace parse_received(std::string_view value);

// Whether two host names are the same DNS name (case-insensitive, trailing root dot ignored).
bool same_host(std::string_view a, std::string_view b);

}  // namespace dropcheck::mail

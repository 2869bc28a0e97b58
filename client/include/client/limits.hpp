#pragma once
// Limits of the one POP3 and SMTP/LMTP client, each with its reason. The fetcher core and the
// probe both read them from here.
#include <chrono>
#include <cstddef>

namespace dropcheck::client {

// RFC 2449 4: a POP3 response status line is at most 512 octets; sloppy servers send longer
// greetings and -ERR texts, so a status line is taken up to 8 KiB.
inline constexpr std::size_t kMaxPop3StatusLine = 8192;
// RFC 2449 6: a CAPA list is a few short lines; 64 KiB is far beyond any server's.
inline constexpr std::size_t kMaxCapaOctets = 64 * 1024;
// LIST and UIDL scan listings (RFC 1939 5, 7: a UIDL line is at most 3 + 1 + 70 + 2 octets for
// a 3-digit number): 16 MiB holds well over 200,000 messages.
inline constexpr std::size_t kMaxListingOctets = 16 * 1024 * 1024;
// Lines inside a retrieved message have no limit of their own: RFC 5322 2.1.1's 998 octets is
// broken in the wild (unfolded envelope header lines of 89-214 KB), so a message line may be as
// long as the whole message, which the caller bounds.
// RFC 5321 4.5.3.1.5: an SMTP reply line is at most 512 octets; allow 4 KiB.
inline constexpr std::size_t kMaxSmtpReplyLine = 4096;
// A multi-line SMTP reply (EHLO) with more lines than this is broken.
inline constexpr std::size_t kMaxSmtpReplyLines = 100;
// Addresses tried for one host name (A and AAAA together), in the resolver's order.
inline constexpr std::size_t kMaxConnectAddresses = 8;
// One read from the socket at a time.
inline constexpr std::size_t kReadChunk = 64 * 1024;
// RFC 1939 3: a server may log out a client idle for 10 minutes; one operation waiting 60 s
// is generous for a loaded provider.
inline constexpr std::chrono::milliseconds kDefaultTimeout = std::chrono::seconds(60);

}  // namespace dropcheck::client

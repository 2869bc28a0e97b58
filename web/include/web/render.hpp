#pragma once
// The page: one self-contained HTML document (inline CSS and a little inline JS, no framework,
// no CDN, works offline) listing transactions, with a view of each message (envelope beside
// the headers, raw, stamped envelope headers and Bcc highlighted, the analyzer's findings).
// Everything taken from mail is HTML-escaped (a message is attacker-controlled), and the
// page's Content-Security-Policy allows only its own script (by hash), so an escaping mistake
// still runs no script. Pure functions: journal records in, strings out.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "web/store.hpp"

namespace dropcheck::web {

// The page shows the newest this many records (the REST API pages through all of them).
inline constexpr std::size_t kPageMaxItems = 1000;
// Raw text per message in the page; the rest is behind the raw link (served pages).
inline constexpr std::size_t kPageMaxRawOctets = 1u << 20;

struct PageOptions {
  std::string title = "dropcheck: what arrived";
  // Served by a server: live update (server-sent events from api/events) and links to the raw
  // bytes (api/messages/{id}/raw). A written file (--out) has neither.
  bool live = false;
};

std::string render_page(const Store& store, const PageOptions& options);
// One list row and one message view, as inserted by the page's live update.
std::string render_row(const Item& item);
std::string render_detail(const Item& item, const PageOptions& options);
// The Content-Security-Policy of the page (its script allowed by SHA-256 hash).
std::string page_csp();

// The REST API's JSON of a record: the summary (list) and the full view (GET by id).
nlohmann::json item_summary(const Item& item);
nlohmann::json item_detail(const Item& item);
// JSON text for the API: invalid UTF-8 in mail becomes U+FFFD, never an exception.
std::string dump(const nlohmann::json& j);

// Unix milliseconds as "2026-01-02T03:04:05.678Z".
std::string iso_time(std::int64_t unix_ms);

// How a header field is marked in the message view.
enum class Mark {
  none,
  stamped,  // an envelope header or Bcc in a copy that reached no recipient
  leak,     // an envelope header or Bcc in a copy that reached a recipient
};
Mark mark_of(const Item& item, const HeaderField& field);
// True when a finding of `item` points at this field (its evidence quotes the line, or it names
// the finding's address in a disclosing header): the leaked line.
bool finding_points_at(const Item& item, const HeaderField& field);

}  // namespace dropcheck::web

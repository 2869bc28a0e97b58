#include "web/api.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/strings.hpp"

namespace dropcheck::web {
namespace {

Response json_response(int status, const nlohmann::json& j) {
  return Response{status, "application/json", dump(j) + "\n", {}};
}

Response error(int status, std::string_view what) {
  return json_response(status, {{"error", what}});
}

std::optional<std::uint64_t> parse_number(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = base::ascii_lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 &&
               hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Response list(const Store& store, std::string_view target) {
  const std::string q = query_param(target, "q");
  const std::string limit_text = query_param(target, "limit");
  const std::string offset_text = query_param(target, "offset");
  if (q.size() > kMaxQueryOctets) return error(400, "q too long");
  const auto limit = limit_text.empty() ? std::optional<std::uint64_t>(kListDefaultLimit)
                                        : parse_number(limit_text);
  const auto offset =
      offset_text.empty() ? std::optional<std::uint64_t>(0) : parse_number(offset_text);
  if (!limit || *limit > kListMaxLimit)
    return error(400, "limit wants a number from 0 to " + std::to_string(kListMaxLimit));
  if (!offset) return error(400, "offset wants a number");
  std::size_t total = 0;
  auto messages = nlohmann::json::array();
  for (const Item* i : store.query(q, static_cast<std::size_t>(*offset), *limit, total))
    messages.push_back(item_summary(*i));
  return json_response(200, {{"total", total},
                             {"offset", *offset},
                             {"limit", *limit},
                             {"deleted_through", store.deleted_through()},
                             {"evicted", store.evicted()},
                             {"messages", std::move(messages)}});
}

// "/api/messages/12" -> 12 with rest "", "/api/messages/12/raw" -> 12 with rest "/raw".
std::optional<std::uint64_t> id_in(std::string_view path, std::string_view prefix,
                                   std::string_view& rest) {
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  path.remove_prefix(prefix.size());
  const std::size_t slash = path.find('/');
  rest = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
  return parse_number(path.substr(0, slash));
}

Response one(const Store& store, std::string_view path, const PageOptions& page) {
  std::string_view rest;
  const bool fragment = path.substr(0, 12) == "/page/items/";
  const auto id = id_in(path, fragment ? "/page/items/" : "/api/messages/", rest);
  if (!id || !(rest.empty() || (!fragment && rest == "/raw"))) return error(404, "no such route");
  const Item* item = store.find(*id);
  if (item == nullptr) return error(404, "no such message");
  if (fragment)
    return json_response(200, {{"row", render_row(*item)}, {"detail", render_detail(*item, page)}});
  if (rest == "/raw") return Response{200, "text/plain", item->rec.message, {}};
  return json_response(200, item_detail(*item));
}

}  // namespace

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

std::string query_param(std::string_view target, std::string_view name) {
  const std::size_t qm = target.find('?');
  if (qm == std::string_view::npos) return {};
  for (std::string_view part : base::split(target.substr(qm + 1), '&')) {
    const std::size_t eq = part.find('=');
    if (percent_decode(part.substr(0, eq)) == name)
      return eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1));
  }
  return {};
}

Response handle(Store& store, const Request& request, const PageOptions& page) {
  const std::string_view path = target_path(request.target);
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/" || path == "/index.html") {
    if (!get) return error(405, "GET only");
    return Response{200,
                    "text/html; charset=utf-8",
                    render_page(store, page),
                    {{"Content-Security-Policy", page_csp()}}};
  }
  if (path == "/api/messages") {
    if (request.method == "DELETE") {
      store.clear();
      return json_response(200, {{"deleted_through", store.deleted_through()}});
    }
    if (!get) return error(405, "GET or DELETE");
    return list(store, request.target);
  }
  if (path.substr(0, 14) == "/api/messages/" || path.substr(0, 12) == "/page/items/") {
    if (!get) return error(405, "GET only");
    return one(store, path, page);
  }
  return error(404, "no such route");
}

std::string sse_event(std::string_view name, std::string_view data) {
  return "event: " + std::string(name) + "\ndata: " + std::string(data) + "\n\n";
}

}  // namespace dropcheck::web

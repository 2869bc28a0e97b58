#include "fake_smtp/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "base/strings.hpp"

namespace dropcheck::fake_smtp {
namespace {

constexpr std::size_t kKeepLineCapacity = 1 << 20;

using nlohmann::json;

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& p) {
  const int e = errno;
  const std::string text = "journal: " + what + " " + p.string() + ": " + std::strerror(e);
  if (e == EMFILE || e == ENFILE) throw JournalBusy(text);  // comes back: 4xx, not fatal
  throw std::runtime_error(text);
}

// A journal line as JSON. The writer puts only integers in it: a floating-point number (also
// what the parser makes of an integer past 2^64) is refused here, so that reading it into an
// integer field (a float-to-integer overflow, undefined behaviour) can never happen.
json parse_record(std::string_view line) {
  const auto no_floats = [](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::value && parsed.is_number_float())
      throw std::invalid_argument("a number that is not an integer in range");
    return true;
  };
  return json::parse(line, no_floats);
}

// Writes one JSON line. The journal is on the hot path of every transaction: building a
// nlohmann::json object per record (a std::map per object) and dumping it was a third of the
// server's CPU time in bench/fake-smtp (see bench/README.md); the reader still parses with
// nlohmann, and tests check that what is written here parses back to the same record.
class LineWriter {
  static constexpr auto kEscape = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = true;
    t['"'] = t['\\'] = true;
    return t;
  }();

 public:
  explicit LineWriter(std::string& out) : out_(out) {}

  // A bit set in the top bit of each of the eight octets at p that is a control, '"' or '\\'
  // (SWAR: a zero octet in w ^ c marks an octet equal to c; an octet below 0x20 borrows in
  // w - 0x20..). A borrow can only mark octets above a true one, so the lowest bit is exact.
  static std::uint64_t escape_mask8(const char* p) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ull;
    constexpr std::uint64_t kHigh = 0x8080808080808080ull;
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    const auto zero_in = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    return ((w - kOnes * 0x20) & ~w & kHigh) | zero_in(w ^ (kOnes * '"')) |
           zero_in(w ^ (kOnes * '\\'));
  }
  // The index of the first octet from `i` on that needs escaping, or s.size().
  static std::size_t next_escape(std::string_view s, std::size_t i) {
    static_assert(std::endian::native == std::endian::little, "escape_mask8 reads octets LE");
    for (; i + 8 <= s.size(); i += 8) {
      if (const std::uint64_t m = escape_mask8(s.data() + i))
        return i + static_cast<std::size_t>(std::countr_zero(m)) / 8;
    }
    while (i < s.size() && !kEscape[static_cast<unsigned char>(s[i])]) ++i;
    return i;
  }

  LineWriter& key(std::string_view k) {  // k: a plain ASCII constant, at most 60 octets
    char buf[64];
    std::size_t n = 0;
    if (!first_) buf[n++] = ',';
    buf[n++] = '"';
    std::memcpy(buf + n, k.data(), k.size());
    n += k.size();
    buf[n++] = '"';
    buf[n++] = ':';
    out_.append(buf, n);
    first_ = true;
    return *this;
  }
  void open(char c) {
    separate();
    out_.push_back(c);
    first_ = true;
  }
  void close(char c) {
    out_.push_back(c);
    first_ = false;
  }
  void boolean(bool v) {
    separate();
    out_.append(v ? "true" : "false");
  }
  template <typename T>
  void number(T v) {
    separate();
    char buf[24];
    const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    out_.append(buf, static_cast<std::size_t>(end - buf));
  }
  // A string that is valid UTF-8 (RFC 8259 7: escape quote, backslash and controls).
  void string(std::string_view s) {
    separate();
    out_.push_back('"');
    std::size_t run = 0;
    for (std::size_t i = next_escape(s, 0); i < s.size(); i = next_escape(s, run)) {
      const auto c = static_cast<unsigned char>(s[i]);
      out_.append(s.data() + run, i - run);
      run = i + 1;
      switch (c) {
        case '"': out_.append("\\\""); break;
        case '\\': out_.append("\\\\"); break;
        case '\n': out_.append("\\n"); break;
        case '\r':
          if (run < s.size() && s[run] == '\n') {  // CRLF, the common case, in one append
            out_.append("\\r\\n", 4);
            ++run;
          } else {
            out_.append("\\r");
          }
          break;
        case '\t': out_.append("\\t"); break;
        default: {
          static constexpr char kHex[] = "0123456789abcdef";
          const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out_.append(u, 6);
        }
      }
    }
    out_.append(s.data() + run, s.size() - run);
    out_.push_back('"');
  }
  // Octets: a string when valid UTF-8, else {"hex": "..."}.
  void bytes(std::string_view s) {
    if (base::valid_utf8(s)) {
      string(s);
      return;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    open('{');
    key("hex");
    separate();
    out_.push_back('"');
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      out_.push_back(kHex[c >> 4]);
      out_.push_back(kHex[c & 0xF]);
    }
    out_.push_back('"');
    close('}');
  }

 private:
  void separate() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

std::string unbytes(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  const std::string hex = j.at("hex").get<std::string>();
  if (hex.size() % 2) throw std::invalid_argument("odd hex length");
  const auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::invalid_argument("bad hex digit");
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2)
    out.push_back(static_cast<char>(val(hex[i]) * 16 + val(hex[i + 1])));
  return out;
}

// `path_of()` names the file in the error; called only on failure (a path is built per call).
template <typename PathOf>
void write_all(int fd, std::string_view data, PathOf&& path_of) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path_of());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void fsync_dir(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", p);
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("cannot fsync", p);
  }
  ::close(fd);
}

void store_message(const std::filesystem::path& dir, const TransactionRecord& rec, bool sync,
                   unsigned mode) {
  const auto path = message_file(dir, rec.sha256);
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) == rec.size && !ec)
    return;  // same bytes already stored (content-addressed)
  static std::atomic<unsigned long> counter{0};  // unique among threads of this process
  const auto tmp = dir / "messages" /
                   fmt::format(".tmp-{}-{}-{}", rec.sha256, ::getpid(), ++counter);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("cannot create", tmp);
  try {
    write_all(fd, rec.message, [&] { return tmp; });
    if (sync && ::fsync(fd) != 0) fail("cannot fsync", tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail("cannot close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename to", path);
  if (sync) fsync_dir(dir / "messages");
}

}  // namespace

std::filesystem::path journal_file(const std::filesystem::path& dir) {
  return dir / "journal.jsonl";
}

std::filesystem::path message_file(const std::filesystem::path& dir, const std::string& sha256) {
  return dir / "messages" / (sha256 + ".eml");
}

namespace {

void write_commands(LineWriter& w, const std::vector<CommandRecord>& commands) {
  w.key("commands").open('[');
  for (const auto& c : commands) {
    w.open('{');
    w.key("virtual_ms").number(c.virtual_ms);
    w.key("real_ms").number(c.real_ms);
    w.key("line").bytes(c.line);
    w.key("code").number(c.code);
    w.close('}');
  }
  w.close(']');
}

// The fields every record starts with; an error for a version this reader does not know.
std::optional<base::Error> read_header(const json& j, int& version, std::uint64_t& seq,
                                       std::string& session_id) {
  version = j.at("version").get<int>();
  if (version != kJournalVersion)
    return base::Error{"journal-version", "unsupported version " + std::to_string(version)};
  seq = j.at("seq").get<std::uint64_t>();
  session_id = unbytes(j.at("session_id"));
  return std::nullopt;
}

std::vector<CommandRecord> read_commands(const json& j) {
  std::vector<CommandRecord> out;
  for (const auto& c : j.at("commands"))
    out.push_back({c.at("virtual_ms").get<std::int64_t>(), c.at("real_ms").get<std::int64_t>(),
                   unbytes(c.at("line")), c.at("code").get<int>()});
  return out;
}

void write_json_line(const TransactionRecord& r, bool inline_message, std::string& out) {
  out.reserve(out.size() + 1024 + (inline_message ? r.message.size() + r.message.size() / 8 : 0));
  LineWriter w(out);
  w.open('{');
  w.key("version").number(r.version);
  w.key("seq").number(r.seq);
  w.key("session_id").bytes(r.session_id);
  w.key("virtual_ms").number(r.virtual_ms);
  w.key("real_ms").number(r.real_ms);
  w.key("client").bytes(r.client);
  w.key("tls").boolean(r.tls);
  w.key("lmtp").boolean(r.lmtp);
  w.key("helo_verb").bytes(r.helo_verb);
  w.key("helo").bytes(r.helo);
  w.key("mail_from_null").boolean(r.mail_from_null);
  w.key("mail_from").bytes(r.mail_from);
  w.key("mail_params").bytes(r.mail_params);
  w.key("mail_code").number(r.mail_code);
  w.key("mail_reply").bytes(r.mail_reply);
  w.key("smtputf8").boolean(r.smtputf8);
  w.key("body_type").bytes(r.body_type);
  w.key("rcpts").open('[');
  for (const auto& x : r.rcpts) {
    w.open('{');
    w.key("address").bytes(x.address);
    w.key("params").bytes(x.params);
    w.key("code").number(x.code);
    w.key("reply").bytes(x.reply);
    w.key("local").boolean(x.local);
    w.key("relayed").boolean(x.relayed);
    w.key("mailbox").bytes(x.mailbox);
    w.key("data_code").number(x.data_code);
    w.key("data_reply").bytes(x.data_reply);
    w.close('}');
  }
  w.close(']');
  w.key("data_attempted").boolean(r.data_attempted);
  w.key("bdat").boolean(r.bdat);
  w.key("data_start_code").number(r.data_start_code);
  w.key("data_complete").boolean(r.data_complete);
  w.key("data_code").number(r.data_code);
  w.key("data_reply").bytes(r.data_reply);
  w.key("accepted").boolean(r.accepted);
  w.key("data_end_virtual_ms").number(r.data_end_virtual_ms);
  w.key("data_end_real_ms").number(r.data_end_real_ms);
  w.key("size").number(r.size);
  w.key("sha256").bytes(r.sha256);
  w.key("too_large").boolean(r.too_large);
  w.key("bare_lf_in_data").boolean(r.bare_lf_in_data);
  w.key("bare_lf_in_commands").boolean(r.bare_lf_in_commands);
  w.key("relayed_out").boolean(r.relayed_out);
  w.key("end_reason").bytes(r.end_reason);
  w.key("faults").open('[');
  for (const auto& f : r.faults) w.bytes(f);
  w.close(']');
  write_commands(w, r.commands);
  if (inline_message && !r.sha256.empty()) {
    w.key("message");
    if (base::valid_utf8(r.message)) {
      w.string(r.message);
    } else {
      w.open('{');
      w.key("base64").string(base::base64_encode(r.message));
      w.close('}');
    }
  }
  w.close('}');
}

}  // namespace

std::string to_json_line(const TransactionRecord& r, bool inline_message) {
  std::string out;
  write_json_line(r, inline_message, out);
  return out;
}

base::Result<TransactionRecord> from_json_line(std::string_view line) {
  try {
    const json j = parse_record(line);
    TransactionRecord r;
    if (auto bad = read_header(j, r.version, r.seq, r.session_id)) return *bad;
    r.virtual_ms = j.at("virtual_ms").get<std::int64_t>();
    r.real_ms = j.at("real_ms").get<std::int64_t>();
    r.client = unbytes(j.at("client"));
    r.tls = j.at("tls").get<bool>();
    r.lmtp = j.at("lmtp").get<bool>();
    r.helo_verb = unbytes(j.at("helo_verb"));
    r.helo = unbytes(j.at("helo"));
    r.mail_from_null = j.at("mail_from_null").get<bool>();
    r.mail_from = unbytes(j.at("mail_from"));
    r.mail_params = unbytes(j.at("mail_params"));
    r.mail_code = j.at("mail_code").get<int>();
    r.mail_reply = unbytes(j.at("mail_reply"));
    r.smtputf8 = j.at("smtputf8").get<bool>();
    r.body_type = unbytes(j.at("body_type"));
    for (const auto& x : j.at("rcpts")) {
      RcptRecord rr;
      rr.address = unbytes(x.at("address"));
      rr.params = unbytes(x.at("params"));
      rr.code = x.at("code").get<int>();
      rr.reply = unbytes(x.at("reply"));
      rr.local = x.at("local").get<bool>();
      rr.relayed = x.at("relayed").get<bool>();
      rr.mailbox = unbytes(x.at("mailbox"));
      rr.data_code = x.at("data_code").get<int>();
      rr.data_reply = unbytes(x.at("data_reply"));
      r.rcpts.push_back(std::move(rr));
    }
    r.data_attempted = j.at("data_attempted").get<bool>();
    r.bdat = j.at("bdat").get<bool>();
    r.data_start_code = j.at("data_start_code").get<int>();
    r.data_complete = j.at("data_complete").get<bool>();
    r.data_code = j.at("data_code").get<int>();
    r.data_reply = unbytes(j.at("data_reply"));
    r.accepted = j.at("accepted").get<bool>();
    r.data_end_virtual_ms = j.at("data_end_virtual_ms").get<std::int64_t>();
    r.data_end_real_ms = j.at("data_end_real_ms").get<std::int64_t>();
    r.size = j.at("size").get<std::size_t>();
    r.sha256 = j.at("sha256").get<std::string>();
    r.too_large = j.at("too_large").get<bool>();
    r.bare_lf_in_data = j.at("bare_lf_in_data").get<bool>();
    r.bare_lf_in_commands = j.at("bare_lf_in_commands").get<bool>();
    r.relayed_out = j.at("relayed_out").get<bool>();
    r.end_reason = unbytes(j.at("end_reason"));
    r.faults = j.at("faults").get<std::vector<std::string>>();
    r.commands = read_commands(j);
    if (const auto m = j.find("message"); m != j.end()) {
      if (m->is_string()) {
        r.message = m->get<std::string>();
      } else {
        auto decoded = base::base64_decode_strict(m->at("base64").get<std::string>());
        if (!decoded) throw std::invalid_argument("message: bad base64");
        r.message = std::move(*decoded);
      }
      r.message_inline = true;
    }
    return r;
  } catch (const std::exception& e) {
    return base::make_error("journal-bad-line", e.what());
  }
}

std::string to_json_line(const SessionRecord& r) {
  std::string out;
  LineWriter w(out);
  w.open('{');
  w.key("version").number(r.version);
  w.key("seq").number(r.seq);
  w.key("session_id").bytes(r.session_id);
  w.key("client").bytes(r.client);
  w.key("tls").boolean(r.tls);
  w.key("lmtp").boolean(r.lmtp);
  w.key("connected_virtual_ms").number(r.connected_virtual_ms);
  w.key("connected_real_ms").number(r.connected_real_ms);
  w.key("ended_virtual_ms").number(r.ended_virtual_ms);
  w.key("ended_real_ms").number(r.ended_real_ms);
  w.key("greeting_code").number(r.greeting_code);
  w.key("helo_verb").bytes(r.helo_verb);
  w.key("helo").bytes(r.helo);
  w.key("end_reason").bytes(r.end_reason);
  w.key("transactions").number(r.transactions);
  w.key("messages").number(r.messages);
  w.key("rcpts_accepted").number(r.rcpts_accepted);
  w.key("rcpts_refused").number(r.rcpts_refused);
  w.key("errors").number(r.errors);
  w.key("bare_lf").number(r.bare_lf);
  write_commands(w, r.commands);
  w.key("commands_dropped").number(r.commands_dropped);
  w.key("faults").open('[');
  for (const auto& f : r.faults) w.bytes(f);
  w.close(']');
  w.close('}');
  return out;
}

base::Result<SessionRecord> session_from_json_line(std::string_view line) {
  try {
    const json j = parse_record(line);
    SessionRecord r;
    if (auto bad = read_header(j, r.version, r.seq, r.session_id)) return *bad;
    r.client = unbytes(j.at("client"));
    r.tls = j.at("tls").get<bool>();
    r.lmtp = j.at("lmtp").get<bool>();
    r.connected_virtual_ms = j.at("connected_virtual_ms").get<std::int64_t>();
    r.connected_real_ms = j.at("connected_real_ms").get<std::int64_t>();
    r.ended_virtual_ms = j.at("ended_virtual_ms").get<std::int64_t>();
    r.ended_real_ms = j.at("ended_real_ms").get<std::int64_t>();
    r.greeting_code = j.at("greeting_code").get<int>();
    r.helo_verb = unbytes(j.at("helo_verb"));
    r.helo = unbytes(j.at("helo"));
    r.end_reason = unbytes(j.at("end_reason"));
    r.transactions = j.at("transactions").get<std::size_t>();
    r.messages = j.at("messages").get<std::size_t>();
    r.rcpts_accepted = j.at("rcpts_accepted").get<std::size_t>();
    r.rcpts_refused = j.at("rcpts_refused").get<std::size_t>();
    r.errors = j.at("errors").get<std::size_t>();
    r.bare_lf = j.at("bare_lf").get<std::size_t>();
    r.commands = read_commands(j);
    r.commands_dropped = j.at("commands_dropped").get<std::size_t>();
    r.faults = j.at("faults").get<std::vector<std::string>>();
    return r;
  } catch (const std::exception& e) {
    return base::make_error("journal-bad-line", e.what());
  }
}

namespace {

// Opens an append-only JSON Lines file, continuing it: counts its complete lines into `lines`,
// cuts a torn tail (a crash mid-write) and returns its length in `torn`.
int open_lines_file(const std::filesystem::path& path, unsigned mode, std::uint64_t& lines,
                    std::size_t& torn) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, mode);
  if (fd < 0) fail("cannot open", path);
  if (::fchmod(fd, mode) != 0) {  // an existing journal, written before with another mode
    const int e = errno;
    ::close(fd);
    errno = e;
    fail("cannot chmod", path);
  }
  std::string content;
  {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    content = ss.str();
  }
  const auto last_nl = content.rfind('\n');
  const std::size_t complete = last_nl == std::string::npos ? 0 : last_nl + 1;
  lines = 0;
  for (std::size_t i = 0; i < complete; ++i)
    if (content[i] == '\n') ++lines;
  torn = content.size() - complete;
  if (torn != 0 && ::ftruncate(fd, static_cast<off_t>(complete)) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    fail("cannot truncate torn tail of", path);
  }
  return fd;
}

// Every complete line of JSON Lines text, parsed by `parse`; a torn tail is reported.
template <typename Record, typename Parse>
base::Result<std::pair<std::vector<Record>, std::size_t>> parse_lines(std::string_view content,
                                                                      Parse parse) {
  std::vector<Record> records;
  std::size_t pos = 0;
  std::size_t lineno = 0;
  while (pos < content.size()) {
    const auto nl = content.find('\n', pos);
    if (nl == std::string_view::npos) return std::pair{std::move(records), content.size() - pos};
    ++lineno;
    auto rec = parse(content.substr(pos, nl - pos), lineno);
    if (!rec) return rec.error();
    records.push_back(std::move(rec).value());
    pos = nl + 1;
  }
  return std::pair{std::move(records), std::size_t{0}};
}

base::Result<std::string> read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("journal-missing", "cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return base::make_error("journal-io", "cannot read " + path.string());
  return ss.str();
}

base::Result<SessionRecord> session_at(std::string_view line, std::string_view source,
                                       std::size_t lineno) {
  auto rec = session_from_json_line(line);
  if (!rec)
    return base::make_error("journal-bad-line", std::string(source) + ":" +
                                                    std::to_string(lineno) + ": " +
                                                    rec.error().message);
  return rec;
}

// The record of line `lineno` with its message checked: inline bytes against size and
// SHA-256; with `dir`, a message stored as a file is loaded and checked too.
base::Result<TransactionRecord> transaction_at(std::string_view line, std::string_view source,
                                               std::size_t lineno,
                                               const std::filesystem::path* dir) {
  const std::string where = std::string(source) + ":" + std::to_string(lineno) + ": ";
  auto rec = from_json_line(line);
  if (!rec) return base::make_error("journal-bad-line", where + rec.error().message);
  if (rec->message_inline) {
    if (rec->message.size() != rec->size || base::sha256_hex(rec->message) != rec->sha256)
      return base::make_error("message-corrupt", where + "message does not match its SHA-256");
  } else if (dir && !rec->sha256.empty()) {
    const auto mpath = message_file(*dir, rec->sha256);
    std::ifstream m(mpath, std::ios::binary);
    if (!m) return base::make_error("message-missing", where + "cannot open " + mpath.string());
    std::ostringstream ms;
    ms << m.rdbuf();
    rec->message = ms.str();
    if (rec->message.size() != rec->size || base::sha256_hex(rec->message) != rec->sha256)
      return base::make_error("message-corrupt", mpath.string() + " does not match its SHA-256");
  }
  return rec;
}

template <typename Contents, typename Record>
Contents contents_of(std::pair<std::vector<Record>, std::size_t>&& lines) {
  Contents out;
  out.records = std::move(lines.first);
  out.torn_bytes = lines.second;
  out.torn_tail = out.torn_bytes != 0;
  return out;
}

}  // namespace

std::filesystem::path sessions_file(const std::filesystem::path& dir) {
  return dir / "sessions.jsonl";
}

base::Result<SessionContents> parse_sessions(std::string_view text, std::string_view source) {
  auto lines = parse_lines<SessionRecord>(text, [&](std::string_view line, std::size_t lineno) {
    return session_at(line, source, lineno);
  });
  if (!lines) return lines.error();
  return contents_of<SessionContents>(std::move(lines).value());
}

base::Result<SessionContents> read_sessions(const std::filesystem::path& dir) {
  const auto path = sessions_file(dir);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return SessionContents{};
  auto text = read_whole_file(path);
  if (!text) return text.error();
  return parse_sessions(*text, path.string());
}

Journal::Journal(std::filesystem::path dir, bool fsync, MessageStore store, unsigned file_mode)
    : dir_(std::move(dir)), fsync_(fsync), store_(store), file_mode_(file_mode) {
  std::error_code ec;
  for (const auto& made : {store_ == MessageStore::files ? dir_ / "messages" : dir_,
                           spool_dir(dir_)}) {
    std::filesystem::create_directories(made, ec);
    if (ec)
      throw std::runtime_error("journal: cannot create " + made.string() + ": " + ec.message());
  }
  // Spools left by a crash: their messages were never acknowledged.
  for (const auto& e : std::filesystem::directory_iterator(spool_dir(dir_), ec))
    std::filesystem::remove(e.path(), ec);
  // Continue existing files: count complete lines, cut a torn tail.
  std::uint64_t lines = 0;
  std::size_t torn = 0;
  fd_ = open_lines_file(journal_path(), file_mode_, lines, torn);
  seq_ = lines;
  torn_bytes_ = torn;
  try {
    session_fd_ = open_lines_file(sessions_file(dir_), file_mode_, lines, torn);
  } catch (...) {
    ::close(fd_);
    throw;
  }
  session_seq_ = lines;
  torn_bytes_ += torn;
  synced_ = seq_.load();
}

Journal::~Journal() {
  if (fsync_) {
    // Session records (and, with group commit, anything not yet synced): best effort.
    if (fd_ >= 0) ::fdatasync(fd_);
    if (session_fd_ >= 0) ::fdatasync(session_fd_);
  }
  if (fd_ >= 0) ::close(fd_);
  if (session_fd_ >= 0) ::close(session_fd_);
}

void Journal::sync() {
  const std::lock_guard lock(sync_mutex_);
  // Everything written before fdatasync starts is covered by it.
  const std::uint64_t written = seq_.load();
  if (synced_.load() >= written) return;
  if (datasync_(fd_) != 0) fail("cannot fsync", journal_path());
  synced_ = written;
}

void Journal::append_session(SessionRecord& rec) {
  const std::lock_guard lock(mutex_);
  rec.seq = session_seq_ + 1;
  std::string line = to_json_line(rec);
  line.push_back('\n');
  write_all(session_fd_, line, [this] { return sessions_file(dir_); });
  ++session_seq_;
}

std::filesystem::path Journal::journal_path() const { return journal_file(dir_); }

std::unique_ptr<MessageSpool> Journal::open_spool() const {
  return std::make_unique<MessageSpool>(spool_dir(dir_), file_mode_);
}

void Journal::store_spooled(TransactionRecord& rec, MessageSpool& spool, bool load_message) {
  rec.size = spool.size();
  rec.sha256 = spool.sha256_hex();
  if (store_ == MessageStore::inline_bytes || load_message) rec.message = spool.read_all();
  if (store_ == MessageStore::inline_bytes) return;
  const auto path = message_file(dir_, rec.sha256);
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) == rec.size && !ec)
    return;  // same bytes already stored (content-addressed); the spool goes
  if (fsync_) spool.sync();
  spool.commit(path);
  if (fsync_) fsync_dir(dir_ / "messages");
}

void Journal::append(TransactionRecord& rec, MessageSpool* spool, bool load_message) {
  if (rec.data_complete && !rec.too_large && spool) {
    store_spooled(rec, *spool, load_message);
  } else if (rec.data_complete && !rec.too_large) {
    rec.size = rec.message.size();
    rec.sha256 = base::sha256_hex(rec.message);
    if (store_ == MessageStore::files) store_message(dir_, rec, fsync_, file_mode_);
  } else {
    rec.sha256.clear();
  }
  const std::lock_guard lock(mutex_);
  rec.seq = seq_ + 1;
  line_.clear();  // keeps its capacity from record to record
  write_json_line(rec, store_ == MessageStore::inline_bytes, line_);
  line_.push_back('\n');
  if (spool && !load_message) rec.message.clear();  // read back only for the line
  write_all(fd_, line_, [this] { return journal_path(); });
  // Keep the buffer for typical records, not the last large message's worth.
  if (line_.capacity() > kKeepLineCapacity) line_ = std::string();
  if (fsync_ && !group_commit_) {
    if (datasync_(fd_) != 0) fail("cannot fsync", journal_path());
    synced_ = seq_ + 1;
  }
  ++seq_;
}

base::Result<JournalContents> parse_journal(std::string_view text, std::string_view source) {
  auto lines = parse_lines<TransactionRecord>(
      text, [&](std::string_view line, std::size_t lineno) {
        return transaction_at(line, source, lineno, nullptr);
      });
  if (!lines) return lines.error();
  return contents_of<JournalContents>(std::move(lines).value());
}

base::Result<JournalContents> read_journal_contents(const std::filesystem::path& dir,
                                                    bool load_messages) {
  const auto path = journal_file(dir);
  auto text = read_whole_file(path);
  if (!text) return text.error();
  auto lines = parse_lines<TransactionRecord>(
      *text, [&](std::string_view line, std::size_t lineno) -> base::Result<TransactionRecord> {
        if (load_messages) return transaction_at(line, path.string(), lineno, &dir);
        auto rec = from_json_line(line);
        if (!rec)
          return base::make_error("journal-bad-line", path.string() + ":" +
                                                          std::to_string(lineno) + ": " +
                                                          rec.error().message);
        return rec;
      });
  if (!lines) return lines.error();
  return contents_of<JournalContents>(std::move(lines).value());
}

base::Result<std::vector<TransactionRecord>> read_journal(const std::filesystem::path& dir) {
  auto c = read_journal_contents(dir, true);
  if (!c) return c.error();
  if (c->torn_tail)
    return base::make_error("journal-torn", journal_file(dir).string() +
                                                ": last line is incomplete (" +
                                                std::to_string(c->torn_bytes) + " octets)");
  return std::move(c->records);
}

}  // namespace dropcheck::fake_smtp

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "base/strings.hpp"
#include "sent_messages.hpp"
#include "truth_scanner.hpp"

namespace dropcheck::analyzer {

base::Status save_truth(const std::string& path, const Truth& t) {
  nlohmann::json j;
  j["version"] = 1;
  j["scenario"] = t.scenario;
  j["local_domains"] = t.local_domains;
  j["users"] = t.users;
  j["aliases"] = t.aliases;
  j["fallback"] = t.fallback;
  j["login_delay_ms"] = t.login_delay_ms;
  j["end_ms"] = t.end_ms;
  j["interval_ms"] = t.interval_ms;
  j["latency_budget_ms"] = t.latency_budget_ms;
  j["pop3_sessions"] = nlohmann::json::array();
  for (const auto& p : t.pop3_sessions)
    j["pop3_sessions"].push_back({{"id", p.id},
                                  {"started_ms", p.started_ms},
                                  {"tls", p.tls},
                                  {"cleartext_while_stls", p.cleartext_while_stls},
                                  {"auth_result", p.auth_result},
                                  {"retrieved", p.retrieved},
                                  {"deleted", p.deleted},
                                  {"user", p.user},
                                  {"reported", p.reported}});
  j["messages"] = nlohmann::json::array();
  for (const auto& m : t.messages) {
    // Raw bytes need not be UTF-8, so they are stored base64-encoded.
    j["messages"].push_back({{"id", m.id},
                             {"envelope_from", m.envelope_from},
                             {"envelope_to", m.envelope_to},
                             {"injected_ms", m.injected_ms},
                             {"tag", m.tag},
                             {"raw_base64", base::base64_encode(m.raw)}});
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) return base::make_error("io", fmt::format("{}: cannot write", path));
  out << j.dump(1) << "\n";
  if (!out) return base::make_error("io", fmt::format("{}: write failed", path));
  return base::ok_status();
}

namespace {

TruthMessage message_of(const nlohmann::json& m) {
  TruthMessage tm;
  tm.id = m.at("id").get<std::string>();
  tm.envelope_from = m.at("envelope_from").get<std::string>();
  tm.envelope_to = m.at("envelope_to").get<std::vector<std::string>>();
  tm.injected_ms = m.at("injected_ms").get<std::int64_t>();
  tm.tag = m.value("tag", std::string());
  tm.raw = base::base64_decode(m.at("raw_base64").get_ref<const std::string&>());
  return tm;
}

Pop3SessionFact session_of(const nlohmann::json& p) {
  Pop3SessionFact f;
  f.id = p.at("id").get<std::uint64_t>();
  f.started_ms = p.at("started_ms").get<std::int64_t>();
  f.tls = p.at("tls").get<bool>();
  f.cleartext_while_stls = p.at("cleartext_while_stls").get<bool>();
  f.auth_result = p.at("auth_result").get<std::string>();
  f.retrieved = p.at("retrieved").get<std::vector<std::string>>();
  f.deleted = p.value("deleted", std::vector<std::string>{});
  f.user = p.value("user", std::string());
  f.reported = p.value("reported", true);
  return f;
}

// The members besides "messages", from the parsed document.
base::Status read_head(const nlohmann::json& j, const std::string& path, Truth& t) {
  if (j.value("version", 0) != 1)
    return base::make_error("bad-truth", fmt::format("{}: unsupported truth version", path));
  t.scenario = j.at("scenario").get<std::string>();
  t.local_domains = j.at("local_domains").get<std::vector<std::string>>();
  t.users = j.at("users").get<std::vector<std::string>>();
  t.aliases = j.at("aliases").get<std::map<std::string, std::string>>();
  t.fallback = j.at("fallback").get<std::string>();
  t.login_delay_ms = j.value("login_delay_ms", std::int64_t{0});
  t.end_ms = j.value("end_ms", std::int64_t{0});
  t.interval_ms = j.value("interval_ms", std::int64_t{0});
  t.latency_budget_ms = j.value("latency_budget_ms", std::int64_t{0});
  if (j.contains("pop3_sessions"))
    for (const auto& p : j.at("pop3_sessions")) t.pop3_sessions.push_back(session_of(p));
  if (!j.contains("messages"))
    return base::make_error("bad-truth", fmt::format("{}: no messages", path));
  return base::ok_status();
}

// Where the messages go as they are read: Truth::messages, or (summarized) Truth::summarized.
// Summaries (SHA-256 of the body, address scans) are made on a second thread, a chunk of
// messages at a time, while the next chunk is read: at most two chunks are held (bounded
// memory), and they are added in file order.
class MessageSink {
 public:
  // Messages per chunk: large enough that starting a thread per chunk costs nothing.
  static constexpr std::size_t kChunk = 1024;

  explicit MessageSink(TruthBytes bytes) {
    if (bytes == TruthBytes::summarized) sent_ = std::make_shared<SentMessages>();
  }
  MessageSink(const MessageSink&) = delete;
  MessageSink& operator=(const MessageSink&) = delete;
  ~MessageSink() {
    if (pending_.valid()) pending_.wait();  // never leave the worker running on freed chunks
  }
  void add(Truth& t, TruthMessage&& m) {
    if (!sent_) {
      t.messages.push_back(std::move(m));
      return;
    }
    chunk_.push_back(std::move(m));
    if (chunk_.size() == kChunk) hand_over();
  }
  void finish(Truth& t) {
    if (!sent_) return;
    hand_over();
    take_pending();
    sent_->seal();
    t.summarized = std::move(sent_);
  }

 private:
  using Chunk = std::vector<TruthMessage>;

  // A chunk being summarized: the worker and, once it has read the next chunk, the reader
  // take messages from it in turn (summarizing costs more than reading: neither core idles).
  struct Summarizing {
    Chunk messages;
    std::vector<SentSummary> summaries;
    std::atomic<std::size_t> next{0};
    explicit Summarizing(Chunk&& c) : messages(std::move(c)), summaries(messages.size()) {}
    void help() {
      for (std::size_t i = next++; i < messages.size(); i = next++)
        summaries[i] = summarize(messages[i]);
    }
  };

  // The chunk being read goes to the worker, once the previous one is added.
  void hand_over() {
    take_pending();
    if (chunk_.empty()) return;
    summarizing_ = std::make_unique<Summarizing>(std::move(chunk_));
    pending_ = std::async(std::launch::async, [s = summarizing_.get()] { s->help(); });
    chunk_ = Chunk();
    chunk_.reserve(kChunk);
  }
  void take_pending() {
    if (!pending_.valid()) return;
    summarizing_->help();
    pending_.get();  // the worker's last message done too
    const Summarizing& done = *summarizing_;
    for (std::size_t i = 0; i < done.messages.size(); ++i)
      sent_->add(done.messages[i], done.summaries[i]);
    summarizing_.reset();
  }

  std::shared_ptr<SentMessages> sent_;
  Chunk chunk_;
  std::unique_ptr<Summarizing> summarizing_;
  std::future<void> pending_;
};

// A file mapped for reading, its pages given back as the reader passes them: the file's
// hundreds of MB never count in the process's memory at once.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      size_ = static_cast<std::size_t>(st.st_size);
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        data_ = static_cast<const char*>(p);
        ::madvise(p, size_, MADV_SEQUENTIAL);
      }
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view text() const { return data_ ? std::string_view(data_, size_) : ""; }
  // The pages before `pos` are no longer needed (read again from the file if they are).
  void done_upto(std::size_t pos) {
    constexpr std::size_t kStep = std::size_t{64} << 20;
    if (!data_ || pos < released_ + kStep) return;
    const std::size_t end = pos & ~(kStep - 1);
    ::madvise(const_cast<char*>(data_) + released_, end - released_, MADV_DONTNEED);
    released_ = end;
  }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t released_ = 0;
};

// A file in save_truth's exact form, read without a JSON tree of its messages (the scanner)
// and its other members by nlohmann; nullopt when it is in any other form or wrong in any way
// (the nlohmann reader then reads it and names what is wrong).
std::optional<Truth> load_canonical(const std::string& path, TruthBytes bytes) {
  MappedFile file(path);
  Truth t;
  MessageSink sink(bytes);
  const auto head = detail::scan_truth_messages(
      file.text(), [&](TruthMessage&& m) { sink.add(t, std::move(m)); },
      [&](std::size_t pos) { file.done_upto(pos); });
  if (!head) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(head->text);
    if (j.dump(1) + "\n" != head->text || !read_head(j, path, t).ok()) return std::nullopt;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  sink.finish(t);
  return t;
}

}  // namespace

// A file in save_truth's form goes through load_canonical; any other through nlohmann's
// parser from the stream, each message converted as soon as it is parsed and dropped from the
// JSON tree: memory holds the messages once (decoded), never the file or a tree of all of them.
base::Result<Truth> load_truth(const std::string& path, TruthBytes bytes) {
  if (auto t = load_canonical(path, bytes)) return std::move(*t);
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error("io", fmt::format("{}: cannot read", path));
  try {
    Truth t;
    MessageSink sink(bytes);
    std::string section;  // the top-level member being parsed
    const auto each = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      using E = nlohmann::json::parse_event_t;
      if (event == E::key && depth == 1) section = parsed.get<std::string>();
      if (event != E::object_end || depth != 2 || section != "messages") return true;
      sink.add(t, message_of(parsed));
      return false;  // not kept in the tree
    };
    const auto j = nlohmann::json::parse(in, each);
    if (auto head = read_head(j, path, t); !head.ok()) return head.error();
    sink.finish(t);
    return t;
  } catch (const nlohmann::json::exception& e) {
    return base::make_error("bad-truth", fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace dropcheck::analyzer

#include "analyzer/journal_input.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "journal/reader.hpp"

namespace dropcheck::analyzer {

Delivery delivery_of(journal::TransactionRecord&& r) {
  Delivery d;
  d.seq = r.seq;
  d.session = std::move(r.session_id);
  d.virtual_ms = r.data_end_virtual_ms ? r.data_end_virtual_ms : r.virtual_ms;
  d.real_ms = r.data_end_real_ms ? r.data_end_real_ms : r.real_ms;
  d.mail_from = r.mail_from_null ? "" : std::move(r.mail_from);
  d.rcpts.reserve(r.rcpts.size());
  for (auto& rc : r.rcpts) {
    if (r.lmtp && rc.code >= 200 && rc.code < 300) d.lmtp_codes.push_back(rc.data_code);
    d.rcpts.push_back({std::move(rc.address), rc.code});
  }
  d.data_code = r.data_complete ? r.data_code : 0;
  if (r.lmtp && r.data_complete) {
    // LMTP: the message is accepted if any recipient's final reply was positive.
    const bool any = std::any_of(d.lmtp_codes.begin(), d.lmtp_codes.end(),
                                 [](int c) { return c >= 200 && c < 300; });
    d.data_code = any ? 250 : r.data_code;
  }
  d.message = std::move(r.message);
  d.relayed_out = r.relayed_out;
  for (const auto& c : r.commands)
    if (c.line.size() >= 4 &&
        (c.line.compare(0, 4, "DATA") == 0 || c.line.compare(0, 4, "data") == 0))
      d.data_real_ms = c.real_ms;
  if (d.data_real_ms >= 0 && r.data_complete) d.data_end_real_ms = r.data_end_real_ms;
  return d;
}

namespace {

// Batches of Deliveries from the reader thread to the judge, at most kBatches waiting: the
// journal is read (lines scanned, messages checked against their SHA-256) on one core while
// it is judged on another, in bounded memory.
class Batches {
 public:
  static constexpr std::size_t kBatchSize = 256;
  static constexpr std::size_t kBatches = 8;

  // False when the judge stopped taking them (the reader then stops).
  bool put(std::vector<Delivery>&& batch) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return queue_.size() < kBatches || closed_; });
    if (closed_) return false;
    queue_.push_back(std::move(batch));
    ready_.notify_one();
    return true;
  }
  // The reader is done (`result` its outcome).
  void finish(base::Status result) {
    const std::lock_guard lock(mutex_);
    result_ = std::move(result);
    done_ = true;
    ready_.notify_one();
  }
  // The next batch; empty once the reader is done and every batch was taken.
  std::vector<Delivery> take() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty() || done_; });
    if (queue_.empty()) return {};
    std::vector<Delivery> batch = std::move(queue_.front());
    queue_.pop_front();
    room_.notify_one();
    return batch;
  }
  // The judge stops taking batches (done, or an exception).
  void close() {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    room_.notify_one();
  }
  void fail(std::exception_ptr e) {
    const std::lock_guard lock(mutex_);
    failure_ = std::move(e);
  }
  // The reader's outcome (its exception rethrown).
  base::Status result() {
    const std::lock_guard lock(mutex_);
    if (failure_) std::rethrow_exception(failure_);
    return result_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::deque<std::vector<Delivery>> queue_;
  bool done_ = false;
  bool closed_ = false;
  base::Status result_ = base::ok_status();
  std::exception_ptr failure_;
};

struct Stopped {};  // thrown in the reader when the judge stopped taking batches

// Reads the journal of `dir` into `out` (on the reader thread).
void read_journal(const std::filesystem::path& dir, Batches& out) {
  std::vector<Delivery> batch;
  const auto flush = [&] {
    if (!batch.empty() && !out.put(std::move(batch))) throw Stopped{};
    batch.clear();
    batch.reserve(Batches::kBatchSize);
  };
  base::Status result = base::ok_status();
  try {
    auto tail = journal::for_each_transaction(
        dir, true,
        [&](journal::TransactionRecord& r) {
          batch.push_back(delivery_of(std::move(r)));
          if (batch.size() == Batches::kBatchSize) flush();
        },
        journal::Fields::analysis);
    flush();
    if (!tail)
      result = tail.error();
    else if (tail->torn_tail)
      result = base::make_error("journal-torn", journal::journal_file(dir).string() +
                                                    ": last line is incomplete (" +
                                                    std::to_string(tail->torn_bytes) + " octets)");
  } catch (const Stopped&) {
  } catch (...) {
    out.fail(std::current_exception());  // rethrown on the judge's thread
  }
  out.finish(std::move(result));
}

// Feeds the journal of `dir` to `judge`, read on a second thread.
base::Status judge_journal(Judge& judge, const std::filesystem::path& dir) {
  Batches batches;
  std::thread reader(read_journal, std::cref(dir), std::ref(batches));
  try {
    for (auto batch = batches.take(); !batch.empty(); batch = batches.take())
      for (const Delivery& d : batch) judge.add(d);
  } catch (...) {
    batches.close();
    reader.join();
    throw;
  }
  batches.close();
  reader.join();
  return batches.result();
}

}  // namespace

base::Result<Report> analyze_journal(const Truth& truth, const std::filesystem::path& dir) {
  Judge judge(truth);
  if (auto read = judge_journal(judge, dir); !read.ok()) return read.error();
  return judge.finish();
}

base::Status analyze_journal(const Truth& truth, const std::filesystem::path& dir,
                             ReportSink& sink) {
  Judge judge(truth);
  if (auto read = judge_journal(judge, dir); !read.ok()) return read.error();
  judge.finish(sink);
  return base::ok_status();
}

}  // namespace dropcheck::analyzer

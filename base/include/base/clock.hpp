#pragma once
// Time as a value: servers and the fetcher read time only through a Clock, so the scenario
// runner can drive a virtual clock (a 15-minute LOGIN-DELAY testable in milliseconds).
#include <atomic>
#include <chrono>
#include <cstdint>

namespace dropcheck::base {

using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since an epoch fixed for the clock's lifetime (Unix epoch for SystemClock).
  virtual Millis now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Millis now() const override {
    return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch());
  }
};

// Advanced only by its owner (the scenario runner).
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(Millis start = Millis{0}) : now_(start.count()) {}
  Millis now() const override { return Millis{now_.load()}; }
  void advance(Millis d) { now_ += d.count(); }
  void set(Millis t) { now_ = t.count(); }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace dropcheck::base

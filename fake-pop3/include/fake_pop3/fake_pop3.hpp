#pragma once
// The fake provider (umbrella header): profiles, the Provider and its mailboxes file.
#include "fake_pop3/mailboxes.hpp"
#include "fake_pop3/profile.hpp"
#include "fake_pop3/provider.hpp"

#pragma once
// The fake provider (umbrella header): profiles and the Provider.
#include "fake_pop3/profile.hpp"
#include "fake_pop3/provider.hpp"

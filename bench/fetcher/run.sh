#!/bin/sh
# Fetcher drain benchmark: dropcheck core vs fetchmail, same mailbox, same servers, same run.
#   bench/fetcher/run.sh BUILD_DIR [MESSAGES] [REPEAT] [FETCHERS]
# Needs fake-pop3, fake-smtp and dropcheck built in BUILD_DIR, and fetchmail (Debian 12:
# 6.4.37) on PATH for the comparison (FETCHERS=core runs the core alone; see drive.py for
# core-base and fetchmail-nodelay).
set -eu
BUILD=${1:?usage: run.sh BUILD_DIR [MESSAGES] [REPEAT] [FETCHERS]}
exec python3 "$(dirname "$0")/drive.py" "$BUILD" "${2:-10000}" "${3:-3}" "${4:-core,fetchmail}"

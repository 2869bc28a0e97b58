#!/bin/sh
# A real provider stack on loopback high ports, for the probe's conformance test: Postfix as
# the MX delivering the catch-all domain into a Maildir with virtual(8) (which prepends
# Return-Path, X-Original-To and Delivered-To), and Dovecot's POP3 server on that Maildir,
# offering STLS (RFC 2595) with a certificate for localhost (DNS:localhost, IP:127.0.0.1)
# signed by a test CA made here: a client verifies it with ca_file DIR/tls/ca.pem.
#   provider_stack.sh start DIR SMTP_PORT POP3_PORT DOMAIN USER PASSWORD
#   provider_stack.sh diag DIR     # postfix check, Postfix's log, Dovecot's log (to stdout)
#   provider_stack.sh stop DIR
# Self-sufficient: everything lives in DIR and every setting is in DIR's own main.cf, master.cf
# and dovecot.conf. Nothing in /etc is read for configuration or written (no /etc/mailname,
# /etc/postfix/main.cf, /etc/aliases, /etc/services, resolvable host name or syslog socket
# needed); no system service is started; no chroot. Listens on 127.0.0.1 only.
# Exit status of start: 0 up, 1 a peer failed (the reason and diag on stderr), 77 this machine
# cannot run the stack (the reason on stderr, first line "skip: ..."): not root, a package
# or one of its system users missing, DIR not reachable by the users the peers drop to.
set -eu
. "$(dirname "$0")/../../scripts/dovecot_pop3_conf.sh"
cmd=${1:?usage}
T=${2:?usage}

# Bounded waits, in tenths of a second.
kStartWait=100 # Dovecot's master: config parsed, listeners bound (normally < 1 s)
kStopWait=50   # a peer's master after SIGTERM

diag() {
  echo "--- postfix check ($T/postfix-check.log)"
  cat "$T/postfix-check.log" 2>/dev/null || true
  echo "--- postfix start ($T/postfix-start.log)"
  cat "$T/postfix-start.log" 2>/dev/null || true
  echo "--- Postfix log: master and daemons ($T/maillog)"
  tail -n 60 "$T/maillog" 2>/dev/null || true
  echo "--- Dovecot stdout/stderr ($T/dovecot.out)"
  tail -n 30 "$T/dovecot.out" 2>/dev/null || true
  echo "--- Dovecot log ($T/dovecot.log)"
  tail -n 60 "$T/dovecot.log" 2>/dev/null || true
}

wait_gone() { # PID
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt $kStopWait ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$1" 2>/dev/null || true
}

stop() { # both peers asked at once, then a bounded wait for each
  pf= dc=
  if [ -f "$T/queue/pid/master.pid" ]; then pf=$(tr -d ' ' < "$T/queue/pid/master.pid"); fi
  if [ -f "$T/dovecot.pid" ]; then dc=$(cat "$T/dovecot.pid"); fi
  if [ -f "$T/etc/main.cf" ]; then
    postfix -c "$T/etc" stop >/dev/null 2>&1 || true
  fi
  [ -z "$pf" ] || kill "$pf" 2>/dev/null || true
  [ -z "$dc" ] || kill "$dc" 2>/dev/null || true
  [ -z "$pf" ] || wait_gone "$pf"
  [ -z "$dc" ] || wait_gone "$dc"
  rm -f "$T/dovecot.pid"
}

# postfix -c DIR VERB, its messages into DIR/postfix-VERB.log. Postfix's commands print on
# stderr only when it is a terminal, else they log to syslog (which a minimal system lacks)
# until maillog_file is read: a bad main.cf would fail without a word. script(1) (bsdutils,
# essential) gives them a terminal.
postfix_cmd() {
  _log=$T/postfix-$1.log _rc=0
  if command -v script >/dev/null; then
    script -qec "postfix -c '$T/etc' $1" /dev/null </dev/null >"$_log.tty" 2>&1 || _rc=$?
    tr -d '\r' <"$_log.tty" >"$_log"
    rm -f "$_log.tty"
  else
    postfix -c "$T/etc" "$1" </dev/null >"$_log" 2>&1 || _rc=$?
  fi
  return $_rc
}

skip() { echo "skip: $*" >&2; exit 77; }
fail() { echo "provider_stack.sh: $*" >&2; diag >&2; exit 1; }

case $cmd in
  stop) stop; exit 0 ;;
  diag) diag; exit 0 ;;
  start) ;;
  *) echo "usage: provider_stack.sh start|stop|diag DIR ..." >&2; exit 2 ;;
esac

SMTP=${3:?usage}
POP3=${4:?usage}
DOMAIN=${5:?usage}
USER_NAME=${6:?usage}
PASSWORD=${7:?usage}

# --- What this machine must provide (else: skip, saying what is missing) -------------------
command -v postfix >/dev/null || skip "postfix not installed (apt-get install postfix)"
command -v dovecot >/dev/null || skip "dovecot not installed (apt-get install dovecot-pop3d)"
command -v openssl >/dev/null || skip "openssl not installed (apt-get install openssl)"
[ "$(id -u)" = 0 ] || skip "needs root: Postfix's master and Dovecot drop privileges"
# The packages' maintainer scripts create these; a partly installed package lacks them.
for u in postfix $dovecot_pop3_users; do
  getent passwd "$u" >/dev/null || skip "system user $u missing (reinstall postfix/dovecot-core)"
done
getent group postdrop >/dev/null || skip "group postdrop missing (reinstall postfix)"
MAIL_UID=$(id -u mail)
MAIL_GID=$(id -g mail)

chmod 755 "$T"
mkdir -p "$T/etc" "$T/queue" "$T/data" "$T/vmail/$USER_NAME/Maildir" "$T/run" "$T/state"
chown -R mail:mail "$T/vmail"
chown postfix "$T/data"

# The peers' unprivileged processes open paths under DIR by absolute name: every directory
# above it must be searchable by them. A root directory of mode 0700 (a chroot unpacked into a
# `mktemp -d` directory) makes that impossible without changing the machine.
if command -v setpriv >/dev/null; then
  for u in postfix $dovecot_pop3_users; do
    setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups test -x "$T/etc" 2>/dev/null && continue
    d=$T blocked=
    while [ "$d" != / ]; do
      d=$(dirname "$d")
      setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups test -x "$d" 2>/dev/null ||
        blocked="$d ($(stat -c '%A %U:%G' "$d"))"
    done
    skip "user $u cannot reach $T: ${blocked:-a directory above it} is not searchable" \
      "by others; Postfix and Dovecot need every directory above their files searchable"
  done
fi

# --- The provider's certificate ------------------------------------------------------------
# A test CA (its own key, never trusted by the machine: only by a client given DIR/tls/ca.pem)
# and a server certificate it signs for the names a client on this machine dials. EC P-256:
# made in milliseconds. Valid from now for 2 days (a test run is minutes). Made before any
# peer starts, so a failure here leaves nothing running.
kCertDays=2
make_certificates() { # into DIR/tls; every step's output goes to DIR/openssl.log
  mkdir -p "$T/tls" && cd "$T/tls" &&
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout ca.key -out ca.pem -days $kCertDays -subj "/CN=dropcheck provider stack test CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout server.key -out server.csr -subj /CN=localhost &&
    printf '%s\n' 'basicConstraints = critical,CA:FALSE' \
      'keyUsage = critical,digitalSignature' 'extendedKeyUsage = serverAuth' \
      'subjectAltName = DNS:localhost,IP:127.0.0.1' > server.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -days $kCertDays -extfile server.ext -out server.pem &&
    openssl verify -CAfile ca.pem server.pem &&
    chmod 600 ca.key server.key && chmod 644 ca.pem server.pem
}
( make_certificates ) >"$T/openssl.log" 2>&1 ||
  fail "could not make the test certificates: $(cat "$T/openssl.log")"

# --- Postfix: the provider's MX --------------------------------------------------------------
# Our own master.cf (not the package's, which chroots most daemons into the queue directory and
# listens on port 25): only the services this stack uses, none chrooted.
{
  echo '# service type  private unpriv chroot wakeup maxproc command'
  printf '127.0.0.1:%s inet n - n - - smtpd\n' "$SMTP"
  cat <<'MASTER'
pickup     unix  n - n 60    1 pickup
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
rewrite    unix  - - n -     - trivial-rewrite
bounce     unix  - - n -     0 bounce
defer      unix  - - n -     0 bounce
trace      unix  - - n -     0 bounce
verify     unix  - - n -     1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -     - proxymap
proxywrite unix  - - n -     1 proxymap
smtp       unix  - - n -     - smtp
relay      unix  - - n -     - smtp
showq      unix  n - n -     - showq
error      unix  - - n -     - error
retry      unix  - - n -     - error
discard    unix  - - n -     - discard
local      unix  - n n -     - local
virtual    unix  - n n -     - virtual
lmtp       unix  - - n -     - lmtp
anvil      unix  - - n -     1 anvil
scache     unix  - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
MASTER
} > "$T/etc/master.cf"
cat > "$T/etc/main.cf" <<CF
compatibility_level = 3.6
config_directory = $T/etc
queue_directory = $T/queue
data_directory = $T/data
mail_owner = postfix
setgid_group = postdrop
# Names of our own, not the machine's: no resolvable host name, no /etc/mailname.
myhostname = mx.provider.example
mydomain = provider.example
myorigin = \$myhostname
append_dot_mydomain = no
mydestination =
# No local delivery: no /etc/aliases, no passwd lookups for recipients.
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
smtpd_banner = \$myhostname ESMTP
biff = no
# No DNS: every destination here is local.
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
# Our own log file, written by postlogd(8), not syslog (a minimal system has no /dev/log).
# The master's own early errors land here too. (/dev/stdout would need "postfix start-fg".)
maillog_file = $T/maillog
maillog_file_prefixes = $T
# The catch-all: every address of the domain lands in one Maildir.
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $T/vmail
virtual_mailbox_maps = inline:{ @$DOMAIN=$USER_NAME/Maildir/ }
virtual_uid_maps = static:$MAIL_UID
virtual_gid_maps = static:$MAIL_GID
virtual_minimum_uid = 1
# Deliver at once (one copy per recipient, as virtual(8) does).
virtual_destination_recipient_limit = 1
CF
postfix_cmd check || fail "postfix check failed (config $T/etc)"
postfix_cmd start || fail "postfix start failed"

# --- Dovecot: the provider's POP3 service ---------------------------------------------------
printf '%s:{PLAIN}%s::::::\n' "$USER_NAME" "$PASSWORD" > "$T/passwd"
chown dovecot "$T/passwd"; chmod 600 "$T/passwd"
dovecot_pop3_conf "$T" "$T/vmail" "$T/passwd" "$POP3" "$T/tls/server.pem" "$T/tls/server.key" \
  > "$T/dovecot.conf"
dovecot -F -c "$T/dovecot.conf" >"$T/dovecot.out" 2>&1 &
echo $! > "$T/dovecot.pid"
# Up when its master wrote base_dir/master.pid (after binding the listeners); a bad config
# makes it exit at once.
i=0
while [ ! -s "$T/run/master.pid" ]; do
  kill -0 "$(cat "$T/dovecot.pid")" 2>/dev/null || fail "dovecot exited"
  [ $i -lt $kStartWait ] || fail "dovecot did not start within $((kStartWait / 10)) s"
  sleep 0.1; i=$((i + 1))
done
exit 0

#!/bin/sh
# A real provider stack on loopback high ports, for the probe's conformance test: Postfix as
# the MX delivering the catch-all domain into a Maildir with virtual(8) (which prepends
# Return-Path, X-Original-To and Delivered-To), and Dovecot's POP3 server on that Maildir.
# Everything lives in DIR; nothing in /etc is touched; no system service is started.
#   provider_stack.sh start DIR SMTP_PORT POP3_PORT DOMAIN USER PASSWORD
#   provider_stack.sh stop DIR
# Needs root (Postfix's master and Dovecot drop privileges to their own users).
set -eu
. "$(dirname "$0")/../../scripts/dovecot_pop3_conf.sh"
cmd=${1:?usage}
T=${2:?usage}

stop() {
  if [ -f "$T/etc/main.cf" ]; then
    postfix -c "$T/etc" stop >/dev/null 2>&1 || true
  fi
  if [ -f "$T/queue/pid/master.pid" ]; then
    pid=$(tr -d ' ' < "$T/queue/pid/master.pid")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  fi
  if [ -f "$T/dovecot.pid" ]; then
    pid=$(cat "$T/dovecot.pid")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$T/dovecot.pid"
  fi
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi

SMTP=${3:?usage}
POP3=${4:?usage}
DOMAIN=${5:?usage}
USER_NAME=${6:?usage}
PASSWORD=${7:?usage}

command -v postfix >/dev/null || { echo "postfix not installed" >&2; exit 77; }
command -v dovecot >/dev/null || { echo "dovecot not installed" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 77; }

chmod 755 "$T"
mkdir -p "$T/etc" "$T/queue" "$T/data" "$T/vmail/$USER_NAME/Maildir" "$T/run" "$T/state"
chown -R mail:mail "$T/vmail"
chown postfix "$T/data"

# --- Postfix: the provider's MX --------------------------------------------------------------
cp /usr/share/postfix/master.cf.dist "$T/etc/master.cf"
# Only our smtpd, on the loopback port; the stock "smtp inet" line goes.
sed -i '/^smtp[[:space:]]*inet/d' "$T/etc/master.cf"
printf '127.0.0.1:%s inet n - n - - smtpd\n' "$SMTP" >> "$T/etc/master.cf"
cat > "$T/etc/main.cf" <<CF
compatibility_level = 3.6
config_directory = $T/etc
queue_directory = $T/queue
data_directory = $T/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.provider.example
mydomain = provider.example
mydestination =
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
maillog_file = /dev/stdout
# The catch-all: every address of the domain lands in one Maildir.
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $T/vmail
virtual_mailbox_maps = inline:{ @$DOMAIN=$USER_NAME/Maildir/ }
virtual_uid_maps = static:8
virtual_gid_maps = static:8
virtual_minimum_uid = 1
# Deliver at once (one copy per recipient, as virtual(8) does).
virtual_destination_recipient_limit = 1
CF
printf 'postlog   unix-dgram n  -       n       -       1       postlogd\n' >> "$T/etc/master.cf"
postfix -c "$T/etc" check >"$T/postfix-check.log" 2>&1 || true
postfix -c "$T/etc" start >"$T/postfix.log" 2>&1 || { cat "$T/postfix.log" >&2; exit 1; }

# --- Dovecot: the provider's POP3 service ---------------------------------------------------
printf '%s:{PLAIN}%s::::::\n' "$USER_NAME" "$PASSWORD" > "$T/passwd"
chown dovecot "$T/passwd"; chmod 600 "$T/passwd"
dovecot_pop3_conf "$T" "$T/vmail" "$T/passwd" "$POP3" > "$T/dovecot.conf"
dovecot -F -c "$T/dovecot.conf" >"$T/dovecot.out" 2>&1 &
echo $! > "$T/dovecot.pid"
exit 0

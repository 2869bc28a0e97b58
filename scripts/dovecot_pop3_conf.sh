# Sourced (POSIX sh) by tests/probe/provider_stack.sh and bench/fake-pop3/run.sh: the one
# Dovecot configuration both use, a POP3-only server on 127.0.0.1 with plaintext PLAIN login,
# a passwd-file user database and Maildirs, everything under the caller's directory (nothing
# in /etc is read or written: no !include of conf.d, no system certificates, no system log).
#   dovecot_pop3_conf DIR MAIL_ROOT PASSWD_FILE PORT [CERT KEY] > DIR/dovecot.conf
# Without CERT and KEY: ssl = no (bench/ measures the server without TLS). With them (PEM
# files, read by Dovecot's config process as root): ssl = yes, STLS offered on PORT (RFC 2595);
# plaintext login stays allowed without it, as before.
# DIR holds run/, state/ and dovecot.log; a user's Maildir is MAIL_ROOT/<user>/Maildir, owned
# by the system user `mail`. Every directory above DIR must be searchable by the users Dovecot
# drops to (dovecot, dovenull, mail): dovecot_pop3_users lists them for a caller's check.
dovecot_pop3_users='dovecot dovenull mail'
dovecot_pop3_conf() {
  _dir=$1 _root=$2 _passwd=$3 _port=$4 _cert=${5:-} _key=${6:-}
  if [ -n "$_cert" ] && [ -z "$_key" ]; then
    echo "dovecot_pop3_conf: a certificate ($_cert) needs its key" >&2
    return 2
  fi
  # The uid of `mail` is 8 on Debian, but read it: first_valid_uid must not exclude it.
  _mail_uid=$(id -u mail)
  cat <<CF
base_dir = $_dir/run
state_dir = $_dir/state
# Every process logs to this file, never to syslog (a minimal system has no /dev/log).
log_path = $_dir/dovecot.log
info_log_path = $_dir/dovecot.log
debug_log_path = $_dir/dovecot.log
# Not the machine's host name: nothing depends on it resolving.
hostname = pop.provider.example
postmaster_address = postmaster@provider.example
protocols = pop3
listen = 127.0.0.1
CF
  if [ -n "$_cert" ]; then
    printf 'ssl = yes\nssl_cert = <%s\nssl_key = <%s\n' "$_cert" "$_key"
  else
    echo 'ssl = no'
  fi
  cat <<CF
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = $_mail_uid
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:$_root/%u/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $_passwd
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$_root/%u
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $_port
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
}
CF
}

// LD_PRELOAD shim for the fetcher benchmark: sets TCP_NODELAY on every TCP socket before
// connect(), so a fetcher that writes a message line by line (fetchmail) is not held by Nagle's
// algorithm waiting for the receiver's delayed ACK. Only the benchmark uses it:
//   LD_PRELOAD=build/bench/nodelay/libdropcheck_nodelay.so fetchmail ...
// Failures to set the option are ignored (a UNIX socket, a non-TCP socket): connect() goes on
// as the program asked.
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

using connect_fn = int (*)(int, const sockaddr*, socklen_t);

extern "C" int connect(int fd, const sockaddr* addr, socklen_t len) {
  static connect_fn real_connect;
  if (!real_connect) real_connect = reinterpret_cast<connect_fn>(dlsym(RTLD_NEXT, "connect"));
  if (addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
    int type = 0;
    socklen_t tlen = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM) {
      int one = 1;
      (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  }
  return real_connect(fd, addr, len);
}

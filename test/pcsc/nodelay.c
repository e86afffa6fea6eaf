/*
 * LD_PRELOAD shim for pcscd: sets TCP_NODELAY on every TCP socket the process accepts.
 *
 * Why: Debian's vpcd driver (libifdvpcd) sends each frame to the card as two send() calls, the
 * 2-byte length and then the payload. With Nagle's algorithm on, the payload waits for the ACK
 * of the length, which the peer delays by up to 40 ms: about 44 ms per APDU. With TCP_NODELAY
 * on the accepted socket both segments leave at once.
 *
 * Build: cc -shared -fPIC -O2 -o libnodelay.so nodelay.c -ldl
 * Use:   LD_PRELOAD=/path/libnodelay.so pcscd -f
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static void set_nodelay(int fd) {
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &len) != 0) return;
  if (local.ss_family != AF_INET && local.ss_family != AF_INET6) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int accept(int fd, struct sockaddr *addr, socklen_t *addrlen) {
  static accept_fn real;
  if (!real) real = (accept_fn)dlsym(RTLD_NEXT, "accept");
  int s = real(fd, addr, addrlen);
  set_nodelay(s);
  return s;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags) {
  static accept4_fn real;
  if (!real) real = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
  int s = real(fd, addr, addrlen, flags);
  set_nodelay(s);
  return s;
}

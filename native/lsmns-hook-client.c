/*
 * lsmns-hook-client (native): the served hook's thin client, built static by `make build` (never committed).
 * It does what hooks/lsmns-hook-client (sh + socat) does, byte for byte on stderr and in exit codes, in one
 * small process: the sh client spends about 7 ms starting sh and socat, twice per container start, which is
 * most of a served call. The sh client stays as the portable fallback where no compiler ran.
 *
 *   usage: lsmns-hook-client STAGE        (createRuntime, prestart or poststop)
 *   env:   LSMNS_SOCKET (default /run/lsmns/agent.sock), LSMNS_CLIENT_TIMEOUT seconds (default 8)
 *
 * It forwards the OCI state on stdin as one HTTP/1.0 POST to /v1/hooks/STAGE on the agent's unix socket and
 * maps the status back: 200 -> 0, 400 -> 2, 409 -> 3, 422 -> 4, anything else -> 1. It fails closed: every
 * failure exits non-zero with one line on stderr, which the runtime shows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Far above any OCI state (a few KiB) and above the agent's own 512 KiB limit, which answers with its reason. */
#define MAX_STATE (4 << 20)
#define MAX_ANSWER (64 << 10)

static const char *sock_path;
static int timeout_s = 8;

static void unreachable(const char *why) {
  fprintf(stderr, "lsmns: cannot reach the lsmns agent at %s (%s). Remedy: start it with systemctl start lsmns-agent.socket, or lsmns agent --socket %s\n", sock_path, why, sock_path);
  exit(1);
}

static void silent(void) {
  fprintf(stderr, "lsmns: the lsmns agent at %s did not answer within %ds. Remedy: check it with journalctl -u lsmns-agent; the container start was stopped\n", sock_path, timeout_s);
  exit(1);
}

/* Waits for fd to be ready; a whole timeout without progress is a silent agent, as socat -T has it. */
static void wait_for(int fd, short events) {
  struct pollfd p = { .fd = fd, .events = events };
  for (;;) {
    int n = poll(&p, 1, timeout_s * 1000);
    if (n > 0) return;
    if (n == 0) silent();
    if (errno != EINTR) unreachable(strerror(errno));
  }
}

static char *read_stdin(size_t *len) {
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap);
  if (!buf) unreachable("out of memory");
  for (;;) {
    if (n == cap) {
      if (cap >= MAX_STATE) {
        fprintf(stderr, "lsmns-hook-client: the OCI state on stdin is over %d bytes; a runtime sends a few KiB\n", MAX_STATE);
        exit(2);
      }
      cap *= 2;
      if (!(buf = realloc(buf, cap))) unreachable("out of memory");
    }
    ssize_t r = read(0, buf + n, cap - n);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      break; /* No stdin (closed or not readable): the agent reports the missing state, as with the sh client. */
    }
    n += (size_t)r;
  }
  *len = n;
  return buf;
}

static void send_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    wait_for(fd, POLLOUT);
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      unreachable(strerror(errno));
    }
    p += w;
    len -= (size_t)w;
  }
}

int main(int argc, char **argv) {
  const char *stage = argc > 1 ? argv[1] : "";
  if (strcmp(stage, "createRuntime") && strcmp(stage, "prestart") && strcmp(stage, "poststop")) {
    fprintf(stderr, "lsmns-hook-client: unknown stage '%s'; use createRuntime, prestart or poststop\n", stage);
    return 2;
  }
  sock_path = getenv("LSMNS_SOCKET");
  if (!sock_path || !*sock_path) sock_path = "/run/lsmns/agent.sock";
  const char *t = getenv("LSMNS_CLIENT_TIMEOUT");
  if (t && *t && strspn(t, "0123456789") == strlen(t) && strlen(t) < 6) timeout_s = atoi(t);
  signal(SIGPIPE, SIG_IGN);

  size_t len;
  char *state = read_stdin(&len);

  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(sock_path) >= sizeof addr.sun_path) unreachable("socket path too long");
  strcpy(addr.sun_path, sock_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) unreachable(strerror(errno));
  /* A unix connect either succeeds, fails at once, or (a full backlog) blocks: bound that by the timeout too. */
  struct timeval tv = { .tv_sec = timeout_s };
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    if (errno == EINPROGRESS || errno == EAGAIN) silent();
    unreachable(strerror(errno));
  }

  /* When this client gives up (epoch ms): the agent finishes, or undoes, its work before then. */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  long long deadline = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + (long long)timeout_s * 1000;
  char head[320];
  int hl = snprintf(head, sizeof head, "POST /v1/hooks/%s HTTP/1.0\r\nHost: lsmns\r\nContent-Type: application/json\r\nX-Lsmns-Deadline: %lld\r\nContent-Length: %zu\r\n\r\n", stage, deadline, len);
  send_all(fd, head, (size_t)hl);
  send_all(fd, state, len);
  /* No shutdown(SHUT_WR): node's HTTP server takes a half-close as the client going away. */

  static char ans[MAX_ANSWER + 1];
  size_t got = 0;
  while (got < MAX_ANSWER) {
    wait_for(fd, POLLIN);
    ssize_t r = recv(fd, ans + got, MAX_ANSWER - got, 0);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (got > 0) break;
      unreachable(strerror(errno));
    }
    got += (size_t)r;
  }
  ans[got] = 0;

  /* "HTTP/1.x NNN": anything else (or nothing) means the agent did not answer. */
  if (got < 12 || strncmp(ans, "HTTP/1.", 7) || (ans[7] != '0' && ans[7] != '1') || ans[8] != ' ' ||
      strspn(ans + 9, "0123456789") < 3)
    silent();
  int code = (ans[9] - '0') * 100 + (ans[10] - '0') * 10 + (ans[11] - '0');
  /* The body is the agent's one line after the empty header line; whatever follows it is never shown. */
  char *body = strstr(ans, "\r\n\r\n");
  body = body ? body + 4 : ans + got;
  body[strcspn(body, "\n")] = 0;

  switch (code) {
  case 200: return 0;
  case 400: if (*body) fprintf(stderr, "%s\n", body); return 2;
  case 409: if (*body) fprintf(stderr, "%s\n", body); return 3;
  case 422: if (*body) fprintf(stderr, "%s\n", body); return 4;
  default:
    if (*body) fprintf(stderr, "%s\n", body);
    else fprintf(stderr, "lsmns: the agent at %s answered HTTP %d\n", sock_path, code);
    return 1;
  }
}

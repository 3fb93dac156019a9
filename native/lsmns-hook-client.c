/*
 * lsmns-hook-client (native): the served hooks' and the served shim's thin client, built static by `make build`
 * (never committed). It does what hooks/lsmns-hook-client (sh + socat) does, byte for byte on stderr, in the
 * runtime's --log and in exit codes, in one small process: the sh client spends about 7 ms starting sh and
 * socat, which is most of a served call. The sh client stays as the portable fallback where no compiler ran.
 *
 *   usage: lsmns-hook-client STAGE        (createRuntime, prestart or poststop; the OCI state on stdin)
 *          lsmns-hook-client shim SOCKET TIMEOUT RUNTIME BUNDLE LOG -- RUNTIME-ARGS...   (from lsmns-runtime)
 *   env:   LSMNS_SOCKET (default: the node configuration's, else /run/lsmns/agent.sock), LSMNS_CLIENT_TIMEOUT
 *          seconds (default 8), LSMNS_CONFIG (default: the path `lsmns install` wrote into the marked field)
 *
 * A hook forwards the OCI state as one HTTP/1.0 POST to /v1/hooks/STAGE on the agent's unix socket and maps
 * the status back: 200 -> 0, 400 -> 2, 409 -> 3, 422 -> 4, anything else -> 1. The shim posts the bundle, the
 * runtime and its arguments to /v1/shim/prepare, writes a refusal's runc JSON line to LOG, sets the display
 * LSM on itself when the agent says so, and execs the runtime. It fails closed: every failure exits non-zero
 * with one line on stderr, which the runtime shows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "node-conf.h"

/* Far above any OCI state (a few KiB) and above the agent's own 512 KiB limit, which answers with its reason. */
#define MAX_STATE (4 << 20)
#define MAX_ANSWER (64 << 10)

static const char *sock_path;
static int timeout_s = 8;
/* The runtime's --log (shim mode): containerd reads a runtime's errors only from there. */
static const char *shim_log;

/* One line on stderr, the runc JSON line in the shim's log (when there is one and a line is given), exit. */
static void fail(int code, const char *log_line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void fail(int code, const char *log_line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (shim_log && *shim_log && log_line && *log_line) {
    FILE *f = fopen(shim_log, "a");
    if (f) { fprintf(f, "%s\n", log_line); fclose(f); }
  }
  exit(code);
}

static void unreachable(const char *why) {
  char line[1024];
  snprintf(line, sizeof line, "{\"level\":\"error\",\"msg\":\"lsmns: cannot reach the lsmns agent at %s; start it with systemctl start lsmns-agent.socket\"}", sock_path);
  fail(1, line, "lsmns: cannot reach the lsmns agent at %s (%s). Remedy: start it with systemctl start lsmns-agent.socket, or lsmns agent --socket %s\n", sock_path, why, sock_path);
}

static void silent(void) {
  char line[1024];
  snprintf(line, sizeof line, "{\"level\":\"error\",\"msg\":\"lsmns: the lsmns agent at %s did not answer within %ds\"}", sock_path, timeout_s);
  fail(1, line, "lsmns: the lsmns agent at %s did not answer within %ds. Remedy: check it with journalctl -u lsmns-agent; the container start was stopped\n", sock_path, timeout_s);
}

/*
 * Fills the socket and the timeout the environment left unset from the node configuration, parsed as the sh
 * twin parses it: KEY=value lines, # comments; any other line is refused with file:line (exit 2).
 */
static void read_conf(const char **sock, const char **timeout) {
  const char *path = getenv("LSMNS_CONFIG");
  if (!path || !*path) path = (const char *)baked_conf + CONF_MARKER_LEN;
  FILE *f = fopen(path, "r");
  if (!f) return;
  static char line[4096], sockbuf[4096], tbuf[32];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    n++;
    line[strcspn(line, "\n")] = 0;
    if (!*line || *line == '#') continue;
    char *eq = strchr(line, '=');
    int known = 0;
    if (eq) {
      *eq = 0;
      for (const char *const *k = conf_keys; *k; k++) known |= !strcmp(line, *k);
    }
    if (!known) fail(2, NULL, "lsmns: %s:%d: not a known LSMNS_ KEY=value line. Remedy: fix the line (lsmns doctor checks the file)\n", path, n);
    if (!strcmp(line, "LSMNS_SOCKET")) { snprintf(sockbuf, sizeof sockbuf, "%s", eq + 1); *sock = sockbuf; }
    if (!strcmp(line, "LSMNS_CLIENT_TIMEOUT") && (!*timeout || !**timeout)) { snprintf(tbuf, sizeof tbuf, "%s", eq + 1); *timeout = tbuf; }
  }
  fclose(f);
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
        fail(2, NULL, "lsmns-hook-client: the OCI state on stdin is over %d bytes; a runtime sends a few KiB\n", MAX_STATE);
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

static void set_timeout(const char *t) {
  if (t && *t && strspn(t, "0123456789") == strlen(t) && strlen(t) < 6) timeout_s = atoi(t);
}

/* Percent-encodes p into out (application/x-www-form-urlencoded, as the sh twin's urlenc); returns the end. */
static char *urlenc(char *out, const char *p) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("._~/-", c)) *out++ = (char)c;
    else { *out++ = '%'; *out++ = hex[c >> 4]; *out++ = hex[c & 15]; }
  }
  return out;
}

/*
 * Whether the answer so far is whole: its headers have ended and its Content-Length bytes of body are in. The agent
 * closes the connection only after its own work on the call (about 2 ms), so a client that waited for the close
 * would hold the runtime that long; without a Content-Length the answer ends at the close.
 */
static int answer_complete(const char *ans, size_t got) {
  const char *end = strstr(ans, "\r\n\r\n");
  if (!end) return 0;
  for (const char *p = strstr(ans, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
    if (strncasecmp(p + 2, "Content-Length:", 15)) continue;
    const char *v = p + 17;
    while (*v == ' ' || *v == '\t') v++;
    size_t digits = strspn(v, "0123456789");
    if (digits == 0 || digits > 6 || (v[digits] != '\r' && v[digits] != ' ' && v[digits] != '\t')) return 0;
    return got - (size_t)(end + 4 - ans) >= (size_t)atol(v);
  }
  return 0;
}

/*
 * One HTTP/1.0 POST of body to path on the agent's socket; returns the status, with *answer at the body (the
 * bytes after the empty header line). Every failure to get an answer exits through unreachable() or silent().
 */
static int post(const char *path, const char *ctype, const char *body, size_t len, char **answer) {
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
  char head[600];
  int hl = snprintf(head, sizeof head, "POST %s HTTP/1.0\r\nHost: lsmns\r\nContent-Type: %s\r\nX-Lsmns-Deadline: %lld\r\nContent-Length: %zu\r\n\r\n", path, ctype, deadline, len);
  send_all(fd, head, (size_t)hl);
  send_all(fd, body, len);
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
    ans[got] = 0;
    if (answer_complete(ans, got)) break;
  }
  ans[got] = 0;
  close(fd);

  /* "HTTP/1.x NNN": anything else (or nothing) means the agent did not answer. */
  if (got < 12 || strncmp(ans, "HTTP/1.", 7) || (ans[7] != '0' && ans[7] != '1') || ans[8] != ' ' ||
      strspn(ans + 9, "0123456789") < 3)
    silent();
  char *b = strstr(ans, "\r\n\r\n");
  *answer = b ? b + 4 : ans + got;
  return (ans[9] - '0') * 100 + (ans[10] - '0') * 10 + (ans[11] - '0');
}

static int exit_of(int code) {
  switch (code) {
  case 200: return 0;
  case 400: return 2;
  case 409: return 3;
  case 422: return 4;
  default: return 1;
  }
}

/* lsmns-hook-client shim SOCKET TIMEOUT RUNTIME BUNDLE LOG -- ARGS: prepare the bundle, then exec the runtime. */
static int shim(int argc, char **argv) {
  if (argc < 8 || strcmp(argv[7], "--")) fail(2, NULL, "lsmns-hook-client: usage: lsmns-hook-client shim SOCKET TIMEOUT RUNTIME BUNDLE LOG -- ARGS\n");
  sock_path = argv[2];
  set_timeout(argv[3]);
  const char *rt = argv[4], *bundle = argv[5];
  shim_log = argv[6];
  char **rargs = argv + 8;
  size_t cap = 64 + 3 * (strlen(bundle) + strlen(rt));
  for (char **a = rargs; *a; a++) cap += 5 + 3 * strlen(*a);
  char *form = malloc(cap), *p = form;
  if (!form) unreachable("out of memory");
  p = urlenc(stpcpy(p, "bundle="), bundle);
  p = urlenc(stpcpy(p, "&runtime="), rt);
  for (char **a = rargs; *a; a++) p = urlenc(stpcpy(p, "&arg="), *a);
  char *body;
  int code = post("/v1/shim/prepare", "application/x-www-form-urlencoded", form, (size_t)(p - form), &body);
  if (code != 200) {
    /* Two lines: the message for stderr, then the runc log line. */
    char *nl = strchr(body, '\n'), *second = "";
    if (nl) { *nl = 0; second = nl + 1; second[strcspn(second, "\n")] = 0; }
    if (*body) fail(exit_of(code), second, "%s\n", body);
    fail(exit_of(code), second, "lsmns: the agent at %s answered HTTP %d\n", sock_path, code);
  }
  if (!strncmp(body, "display=", 8)) {
    char *iface = body + 8;
    iface[strcspn(iface, "\n")] = 0;
    if (!strcmp(iface, "display") || !strcmp(iface, "interface_lsm")) {
      char attr[64];
      snprintf(attr, sizeof attr, "/proc/self/attr/%s", iface);
      FILE *f = fopen(attr, "w");
      if (!f || fputs("apparmor", f) < 0 || fclose(f) != 0) fail(1, NULL, "lsmns: cannot set the display LSM (%s)\n", attr);
    }
  }
  /* The runtime gets its own name as argv[0] (the slot of "--"), as the sh front's exec gives it. */
  rargs[-1] = (char *)rt;
  execvp(rt, rargs - 1);
  fail(127, NULL, "lsmns: cannot run %s: %s\n", rt, strerror(errno));
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *stage = argc > 1 ? argv[1] : "";
  if (!strcmp(stage, "shim")) return shim(argc, argv);
  if (strcmp(stage, "createRuntime") && strcmp(stage, "prestart") && strcmp(stage, "poststop"))
    fail(2, NULL, "lsmns-hook-client: unknown stage '%s'; use createRuntime, prestart or poststop\n", stage);
  sock_path = getenv("LSMNS_SOCKET");
  const char *t = getenv("LSMNS_CLIENT_TIMEOUT");
  if (!sock_path || !*sock_path) read_conf(&sock_path, &t);
  if (!sock_path || !*sock_path) sock_path = "/run/lsmns/agent.sock";
  set_timeout(t);

  size_t len;
  char *state = read_stdin(&len);
  char path[64], *body;
  snprintf(path, sizeof path, "/v1/hooks/%s", stage);
  int code = post(path, "application/json", state, len, &body);
  /* The agent's answer is one line; whatever follows it is never shown. */
  body[strcspn(body, "\n")] = 0;
  if (code != 200 && *body) fprintf(stderr, "%s\n", body);
  else if (exit_of(code) == 1) fprintf(stderr, "lsmns: the agent at %s answered HTTP %d\n", sock_path, code);
  return exit_of(code);
}

/*
 * lsmns-runtime (native): the shim front a RuntimeClass handler or `podman --runtime` names, built static by
 * `make build` (never committed). It does what hooks/lsmns-runtime (sh) does, byte for byte on stderr, in the
 * runtime's --log and in exit codes: a runtime runs a dozen times per pod, and starting dash costs about 1.3 ms
 * of CPU per call where this costs a fraction of that. The sh front stays as the fallback where no compiler ran.
 *
 * Every verb but create and run execs the runtime with its arguments untouched. create and run parse the node
 * configuration strictly and exec `lsmns runtime` (standalone) or the hook client's shim mode (served), which
 * prepares the bundle through the agent and execs the runtime. See hooks/lsmns-runtime for the why of each step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The node configuration's path, rewritten in the installed copy by `lsmns install` (after the marker,
 * NUL-padded; src/install/layout.ts). volatile: the compiler must read the field, never fold the literal.
 */
static volatile const char baked_conf[4096] = "@@LSMNS_CONFIG@@/etc/lsmns/node.conf";
#define CONF_MARKER_LEN 16

/* A node.conf line this long or longer is refused as malformed (the sh front has the same bound). */
#define LINE_MAX_BYTES 4096

static const char *log_path = "";
extern char **environ;

/* An LSMNS_* variable, or NULL when unset or empty (the sh front's ${VAR:-...}). */
static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* The sh front's refuse(): the message on stderr, the runc JSON line in --log (when both are there), exit. */
static void refuse(const char *msg, const char *log_msg, int code) __attribute__((noreturn));
static void refuse(const char *msg, const char *log_msg, int code) {
  dprintf(2, "%s\n", msg);
  if (*log_path && *log_msg) {
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) { dprintf(fd, "{\"level\":\"error\",\"msg\":\"%s\"}\n", log_msg); close(fd); }
  }
  exit(code);
}

static char *cat(const char *a, const char *b, const char *c, const char *d) {
  char *s;
  if (asprintf(&s, "%s%s%s%s", a, b, c, d) < 0) { dprintf(2, "lsmns: out of memory\n"); exit(1); }
  return s;
}

/* dash's tryexec: a file the kernel cannot run (ENOEXEC: no #!) is run by /bin/sh, with its path as $0. */
static void try_exec(const char *cmd, char **args) {
  execve(cmd, args, environ);
  if (errno != ENOEXEC) return;
  int n = 0;
  while (args[n]) n++;
  char **sh = calloc((size_t)n + 2, sizeof *sh);
  if (!sh) { errno = ENOMEM; return; }
  sh[0] = "/bin/sh";
  sh[1] = (char *)cmd;
  for (int i = 1; i <= n; i++) sh[i + 1] = args[i];
  execve(sh[0], sh, environ);
  free(sh);
}

/* exec as dash's exec builtin does it: its PATH search and default PATH, its messages and exit codes. */
static void sh_exec(const char *self, char **args) __attribute__((noreturn));
static void sh_exec(const char *self, char **args) {
  const char *name = args[0];
  int e = ENOENT;
  if (strchr(name, '/')) {
    try_exec(name, args);
    e = errno;
  } else {
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *p = path;; p++) {
      const char *end = strchrnul(p, ':');
      char *cand;
      /* An empty PATH element is the working directory. */
      if (asprintf(&cand, "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "", name) >= 0) {
        try_exec(cand, args);
        if (errno != ENOENT && errno != ENOTDIR) e = errno;
        free(cand);
      }
      if (!*end) break;
      p = end;
    }
  }
  int missing = e == ENOENT || e == ENOTDIR;
  dprintf(2, "%s: exec: %s: %s\n", self, name, missing ? "not found" : strerror(e));
  exit(missing || e == ELOOP || e == ENAMETOOLONG ? 127 : 126);
}

/* The value after `KEY=` when line starts with it, else NULL. */
static const char *value_of(const char *line, const char *key) {
  size_t n = strlen(key);
  return !strncmp(line, key, n) && line[n] == '=' ? line + n + 1 : NULL;
}

/*
 * Keys node.conf may hold (src/config.ts CONFIG_KEYS; test/config.test.ts keeps the lists equal): the front
 * keeps the first FRONT_KEYS, and leaves the others to the Node side.
 */
static const char *const conf_keys[] = {
  "LSMNS_RUNTIME", "LSMNS_SHIM_MODE", "LSMNS_SOCKET", "LSMNS_HOOK_CLIENT", "LSMNS_BIN", "LSMNS_CLIENT_TIMEOUT",
  "LSMNS_BACKEND", "LSMNS_SIM_STATE", "LSMNS_SECURITYFS", "LSMNS_POLICY_DIR", "LSMNS_HOST_PROFILE_DIR", "LSMNS_STATE_DIR", "LSMNS_POLICY_WAIT", NULL,
};
enum { RT, MODE, SOCK, CLIENT, BIN, TIMEOUT, FRONT_KEYS };

/* What node.conf said (NULL: no line), and the refusal a create or run gets ("message|remedy", as sh has it). */
struct conf { char *v[FRONT_KEYS]; char *err; };

/*
 * The node configuration as the sh front reads it (IFS= read -r: NUL bytes dropped, the last line counts
 * without its newline). A pass-through verb stops at the LSMNS_RUNTIME line, and reads no byte past it.
 */
static void read_conf(const char *path, int full, struct conf *c) {
  if (access(path, R_OK) != 0) {
    c->err = cat("cannot read the node configuration ", path, "|write it with lsmns install, or point LSMNS_CONFIG at it", "");
    return;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return; /* sh: the redirection fails, the loop never runs */
  static char line[LINE_MAX_BYTES];
  size_t len = 0;
  int n = 0, too_long = 0, eof = 0;
  char buf[512];
  ssize_t got = 0, at = 0;
  while (!eof) {
    if (at == got) {
      do got = read(fd, buf, sizeof buf); while (got < 0 && errno == EINTR);
      at = 0;
      if (got <= 0) { eof = 1; got = 0; if (len == 0 && !too_long) break; }
    }
    if (!eof) {
      char ch = buf[at++];
      if (ch == 0) continue;
      if (ch != '\n') {
        if (len < sizeof line - 1) line[len++] = ch; else too_long = 1;
        continue;
      }
    }
    /* One whole line. */
    line[len] = 0;
    n++;
    if (too_long) goto bad;
    if (len > 0 && line[0] != '#') {
      int k = 0;
      const char *v = NULL;
      while (conf_keys[k] && !(v = value_of(line, conf_keys[k]))) k++;
      if (!v) goto bad;
      if (k < FRONT_KEYS) { free(c->v[k]); c->v[k] = strdup(v); }
      if (k == RT && !full) break;
    }
    len = 0;
    too_long = 0;
    continue;
  bad: {
      char num[16];
      snprintf(num, sizeof num, ":%d", n);
      c->err = cat(path, num, ": not a known LSMNS_ KEY=value line|fix the line (lsmns doctor checks the file)", "");
      break;
    }
  }
  close(fd);
}

/* The sh front's `$(pwd)`: dash's logical working directory ($PWD when it is this directory), which its exec exports. */
static const char *sh_pwd(void) {
  static char cwd[4096];
  const char *p = getenv("PWD");
  struct stat a, b;
  if (p && *p == '/' && stat(".", &a) == 0 && stat(p, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) return p;
  if (!getcwd(cwd, sizeof cwd)) return "";
  setenv("PWD", cwd, 1);
  return cwd;
}

int main(int argc, char **argv) {
  /* $0 of the sh front: the path the runtime was exec'd by, which the kernel passes a #! interpreter. */
  const char *self = (const char *)getauxval(AT_EXECFN);
  if (!self) self = argc > 0 ? argv[0] : "lsmns-runtime";
  if (argc < 1) return 2;

  /* The verb after the runtime's global flags (runc and crun), and the --log file for error reports. */
  const char *verb = "";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--root") || !strcmp(a, "--log-format") || !strcmp(a, "--criu") || !strcmp(a, "--rootless") || !strcmp(a, "--cgroup-manager") || !strcmp(a, "--log-level")) { i++; continue; }
    if (!strcmp(a, "--log")) { if (i + 1 < argc) log_path = argv[i + 1]; i++; continue; }
    if (!strncmp(a, "--log=", 6)) { log_path = a + 6; continue; }
    if (a[0] == '-') continue;
    verb = a;
    break;
  }
  int full = !strcmp(verb, "create") || !strcmp(verb, "run");
  /* The runtime gets the front's own arguments, with its name in argv[0]. */
  char **rt_args = argv;

  if (!full && env("LSMNS_RUNTIME")) { rt_args[0] = (char *)env("LSMNS_RUNTIME"); sh_pwd(); sh_exec(self, rt_args); }
  const char *conf = env("LSMNS_CONFIG");
  if (!conf) conf = (const char *)baked_conf + CONF_MARKER_LEN;
  struct conf c = { 0 };
  struct stat st;
  int have_conf = 0;
  if (stat(conf, &st) == 0 || env("LSMNS_CONFIG")) {
    have_conf = 1;
    read_conf(conf, full, &c);
  }
  const char *rt = env("LSMNS_RUNTIME") ? env("LSMNS_RUNTIME") : c.v[RT] && *c.v[RT] ? c.v[RT] : "runc";
  const char *mode = env("LSMNS_SHIM_MODE") ? env("LSMNS_SHIM_MODE") : c.v[MODE] && *c.v[MODE] ? c.v[MODE] : "standalone";
  if (!full) { rt_args[0] = (char *)rt; sh_pwd(); sh_exec(self, rt_args); }

  if (c.err) {
    /* The sh front splits its error at the first '|' (a '|' in the path splits there too). */
    char *bar = strchr(c.err, '|');
    const char *remedy = bar ? bar + 1 : c.err;
    if (bar) *bar = 0;
    char *msg = cat("lsmns: ", c.err, ". Remedy: ", remedy);
    char *log_msg = cat("lsmns: ", c.err, "", "");
    refuse(msg, log_msg, 2);
  }

  /* The bundle: --bundle/-b after the verb (the first argument equal to it, as the sh loop finds it), else the cwd. */
  const char *bundle = "";
  int after = 0, expect = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!after) { if (!strcmp(a, verb)) after = 1; continue; }
    if (expect) { bundle = a; expect = 0; continue; }
    if (!strcmp(a, "--bundle") || !strcmp(a, "-b")) expect = 1;
    else if (!strncmp(a, "--bundle=", 9)) bundle = a + 9;
    else if (!strncmp(a, "-b=", 3)) bundle = a + 3;
  }
  const char *pwd = sh_pwd();
  if (!*bundle) bundle = pwd;
  if (*bundle != '/') bundle = cat(pwd, "/", bundle, "");

  /* Room for the longest argv we build (served: client shim SOCK T RT BUNDLE LOG -- args). */
  char **out = calloc((size_t)argc + 10, sizeof *out);
  if (!out) refuse("lsmns: out of memory", "", 1);
  int o = 0;
  if (!strcmp(mode, "standalone")) {
    out[o++] = (char *)(env("LSMNS_BIN") ? env("LSMNS_BIN") : c.v[BIN] && *c.v[BIN] ? c.v[BIN] : "lsmns");
    out[o++] = "runtime";
    out[o++] = "--runtime";
    out[o++] = (char *)rt;
    if (have_conf) { out[o++] = "--config"; out[o++] = (char *)conf; }
  } else if (!strcmp(mode, "served")) {
    const char *sock = env("LSMNS_SOCKET") ? env("LSMNS_SOCKET") : c.v[SOCK] && *c.v[SOCK] ? c.v[SOCK] : "/run/lsmns/agent.sock";
    const char *t = env("LSMNS_CLIENT_TIMEOUT") ? env("LSMNS_CLIENT_TIMEOUT") : c.v[TIMEOUT] && *c.v[TIMEOUT] ? c.v[TIMEOUT] : "8";
    const char *client = env("LSMNS_HOOK_CLIENT") ? env("LSMNS_HOOK_CLIENT") : c.v[CLIENT] && *c.v[CLIENT] ? c.v[CLIENT] : NULL;
    if (!client) {
      /* The sh ${0%/...}/lsmns-hook-client: $0 up to its last slash, or all of it when it has none. */
      const char *slash = strrchr(self, '/');
      char *dir = strndup(self, slash ? (size_t)(slash - self) : strlen(self));
      client = cat(dir ? dir : "", "/lsmns-hook-client", "", "");
    }
    if (access(client, X_OK) != 0) {
      refuse(cat("lsmns: the hook client ", client, " is missing or not executable. Remedy: run lsmns install (or set LSMNS_HOOK_CLIENT in ", cat(conf, ")", "", "")),
             cat("lsmns: the hook client ", client, " is missing or not executable", ""), 3);
    }
    out[o++] = (char *)client;
    out[o++] = "shim";
    out[o++] = (char *)sock;
    out[o++] = (char *)t;
    out[o++] = (char *)rt;
    out[o++] = (char *)bundle;
    out[o++] = (char *)log_path;
  } else {
    refuse(cat("lsmns: LSMNS_SHIM_MODE=", mode, ": must be served or standalone. Remedy: fix it in ", conf),
           cat("lsmns: LSMNS_SHIM_MODE=", mode, ": must be served or standalone", ""), 2);
  }
  out[o++] = "--";
  for (int i = 1; i < argc; i++) out[o++] = argv[i];
  out[o] = NULL;
  sh_exec(self, out);
}

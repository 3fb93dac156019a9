/*
 * lsmns-runtime (native): the shim front a RuntimeClass handler or `podman --runtime` names, built static by
 * `make build` (never committed). It does what hooks/lsmns-runtime (sh) does, byte for byte on stderr, in the
 * runtime's --log and in exit codes (see that script for the why of each step): every verb but create and run
 * execs the runtime with its arguments untouched; create and run parse the node configuration strictly and exec
 * `lsmns runtime` (standalone) or the hook client's shim mode (served).
 *
 * containerd runs it 12 times per pod lifecycle, so it is built without libc (-nostdlib, raw system calls,
 * x86_64 and aarch64): a static glibc program spends about 0.7 ms of CPU before main() on a VM, most of it in
 * the cpuid instructions of glibc's CPU feature probe (each one a VM exit), and this program's work is a few
 * system calls. The sh front stays as the fallback where nothing was compiled (or on another architecture).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "node-conf.h"

#define AT_EXECFN_TAG 31 /* auxv: the path execve was given, which the kernel passes a #! interpreter as $0 */

/* ---- the system calls it needs, and the few string functions ---- */

static long sys(long n, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
  register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d, x4 __asm__("x4") = e, x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
#else
#error "native/lsmns-runtime.c: x86_64 or aarch64; elsewhere install hooks/lsmns-runtime"
#endif
}
#define sys3(n, a, b, c) sys(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

/* The entry point: the kernel's initial stack (argc, argv, NULL, envp, NULL, auxv) goes to start(). */
#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n and $-16, %rsp\n call start\n hlt\n");
#elif defined(__aarch64__)
__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x0, sp\n bl start\n");
#endif

/* gcc may emit calls to these for plain loops and initialisers even here. */
void *memset(void *d, int c, size_t n) { unsigned char *p = d; while (n--) *p++ = (unsigned char)c; return d; }
void *memcpy(void *d, const void *s, size_t n) { unsigned char *p = d; const unsigned char *q = s; while (n--) *p++ = *q++; return d; }
size_t strlen(const char *s) { const char *p = s; while (*p) p++; return (size_t)(p - s); }

static int eq(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return *a == *b; }
/* s after prefix p, or NULL. */
static const char *after(const char *s, const char *p) { while (*p && *s == *p) s++, p++; return *p ? NULL : s; }
static const char *rchr(const char *s, char c) { const char *r = NULL; for (; *s; s++) if (*s == c) r = s; return r; }

static void out(int fd, const char *s, size_t n) {
  while (n > 0) {
    long w = sys3(SYS_write, fd, s, n);
    if (w == -EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void leave(int code) __attribute__((noreturn));
static void leave(int code) {
  for (;;) sys3(SYS_exit_group, code, 0, 0);
}

/* Memory for what grows with the input (joined strings, argv arrays): its own mapping, never a fixed buffer. */
static void *alloc(size_t n) {
  long p = sys(SYS_mmap, 0, (long)n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p < 0 && p > -4096) { const char m[] = "lsmns: out of memory\n"; out(2, m, sizeof m - 1); leave(1); }
  return (void *)p;
}

/* The arguments joined into one new string (NULL ends the list). */
static char *cat(const char *first, ...) {
  va_list ap;
  size_t n = 0;
  va_start(ap, first);
  for (const char *s = first; s; s = va_arg(ap, const char *)) n += strlen(s);
  va_end(ap);
  char *r = alloc(n + 1), *p = r;
  va_start(ap, first);
  for (const char *s = first; s; s = va_arg(ap, const char *)) { size_t l = strlen(s); memcpy(p, s, l); p += l; }
  va_end(ap);
  *p = 0;
  return r;
}

/* ---- the front ---- */

/* A node.conf line this long or longer is refused as malformed (the sh front has the same bound). */
#define LINE_MAX_BYTES 4096

/* node.conf's keys (node-conf.h): the front keeps the first FRONT_KEYS, and leaves the others to the Node side. */
enum { RT, MODE, SOCK, CLIENT, BIN, TIMEOUT, FRONT_KEYS };

/* What node.conf said (empty: no line, as sh has it), and the refusal a create or run gets ("message|remedy"). */
static char conf_val[FRONT_KEYS][LINE_MAX_BYTES];
static char *conf_err;

static char **envp;
static const char *self;
static const char *log_path = "";

/* A variable's value, or NULL when unset or empty (the sh front's ${VAR:-...}). */
static const char *env(const char *name) {
  for (char **e = envp; *e; e++) {
    const char *v = after(*e, name);
    if (v && *v == '=') return v[1] ? v + 1 : NULL;
  }
  return NULL;
}

/* The first that is set and not empty: ${VAR:-${c_var:-default}}. */
static const char *pick(const char *from_env, int key, const char *dflt) {
  return from_env ? from_env : conf_val[key][0] ? conf_val[key] : dflt;
}

/* The sh front's refuse(): the message on stderr, the runc JSON line in --log (when there is one), exit. */
static void refuse(const char *msg, const char *log_msg, int code) __attribute__((noreturn));
static void refuse(const char *msg, const char *log_msg, int code) {
  char *m = cat(msg, "\n", NULL);
  out(2, m, strlen(m));
  if (*log_path) {
    int fd = (int)sys(SYS_openat, AT_FDCWD, (long)log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666, 0, 0);
    if (fd >= 0) {
      char *l = cat("{\"level\":\"error\",\"msg\":\"", log_msg, "\"}\n", NULL);
      out(fd, l, strlen(l));
      sys3(SYS_close, fd, 0, 0);
    }
  }
  leave(code);
}

static const char *errtext(long e) {
  switch (e) {
    case ENOENT: case ENOTDIR: return "not found"; /* dash's words for a command it cannot find */
    case EACCES: return "Permission denied";
    case ELOOP: return "Too many levels of symbolic links";
    case ENAMETOOLONG: return "File name too long";
    case E2BIG: return "Argument list too long";
    case ENOMEM: return "Cannot allocate memory";
    case ETXTBSY: return "Text file busy";
    case EPERM: return "Operation not permitted";
    case EIO: return "Input/output error";
    case ENOEXEC: return "Exec format error";
    case EISDIR: return "Is a directory";
    case EFAULT: return "Bad address";
    case EINVAL: return "Invalid argument";
    case ELIBBAD: return "Accessing a corrupted shared library";
    default: return "Unknown error";
  }
}

/* dash's tryexec: a file the kernel cannot run (ENOEXEC: no #!) is run by /bin/sh, with its path as $0. */
static long try_exec(const char *cmd, char **args) {
  long e = sys3(SYS_execve, cmd, args, envp);
  if (e != -ENOEXEC) return e;
  size_t n = 0;
  while (args[n]) n++;
  char **sh = alloc((n + 2) * sizeof *sh);
  sh[0] = "/bin/sh";
  sh[1] = (char *)cmd;
  for (size_t i = 1; i <= n; i++) sh[i + 1] = args[i];
  return sys3(SYS_execve, sh[0], sh, envp);
}

/* exec as dash's exec builtin does it: its PATH search and default PATH, its messages and exit codes. */
static void sh_exec(char **args) __attribute__((noreturn));
static void sh_exec(char **args) {
  const char *name = args[0];
  long e = -ENOENT;
  int slash = 0;
  for (const char *p = name; *p; p++) slash |= *p == '/';
  if (slash) {
    e = try_exec(name, args);
  } else {
    const char *path = NULL; /* unset: dash's default; set but empty: one empty element */
    for (char **v = envp; *v && !path; v++) path = after(*v, "PATH=");
    if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    static char cand[8192];
    size_t nl = strlen(name);
    for (const char *p = path;;) {
      const char *end = p;
      while (*end && *end != ':') end++;
      size_t dl = (size_t)(end - p);
      long r = -ENAMETOOLONG; /* what execve says of a path over PATH_MAX */
      if (dl + nl + 2 <= sizeof cand) {
        /* An empty PATH element is the working directory. */
        memcpy(cand, p, dl);
        if (dl) cand[dl++] = '/';
        memcpy(cand + dl, name, nl + 1);
        r = try_exec(cand, args);
      }
      if (r != -ENOENT && r != -ENOTDIR) e = r;
      if (!*end) break;
      p = end + 1;
    }
  }
  char *m = cat(self, ": exec: ", name, ": ", errtext(-e), "\n", NULL);
  out(2, m, strlen(m));
  leave(e == -ENOENT || e == -ENOTDIR || e == -ELOOP || e == -ENAMETOOLONG ? 127 : 126);
}

static int exists(const char *path) {
  char st[256]; /* struct stat on x86_64 and aarch64 fits; only st_dev and st_ino (the first 16 bytes) are read */
  return sys(SYS_newfstatat, AT_FDCWD, (long)path, (long)st, 0, 0, 0) == 0;
}

static int can(const char *path, int mode) { return sys(SYS_faccessat, AT_FDCWD, (long)path, mode, 0, 0, 0) == 0; }

/* The value after `KEY=` when line starts with it, else NULL. */
static const char *value_of(const char *line, const char *key) {
  const char *v = after(line, key);
  return v && *v == '=' ? v + 1 : NULL;
}

static char *num(int n) {
  static char b[16];
  char *p = b + sizeof b - 1;
  *p = 0;
  do *--p = (char)('0' + n % 10); while (n /= 10);
  return p;
}

/*
 * The node configuration as the sh front reads it (IFS= read -r: NUL bytes dropped, the last line counts
 * without its newline). A pass-through verb stops at the LSMNS_RUNTIME line, and reads no byte past it.
 */
static void read_conf(const char *path, int full) {
  if (!can(path, R_OK)) {
    conf_err = cat("cannot read the node configuration ", path, "|write it with lsmns install, or point LSMNS_CONFIG at it", NULL);
    return;
  }
  int fd = (int)sys3(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return; /* sh: the redirection fails, the loop never runs */
  static char line[LINE_MAX_BYTES];
  char buf[512];
  size_t len = 0;
  long got = 0, at = 0;
  int n = 0, too_long = 0, eof = 0;
  while (!eof) {
    if (at == got) {
      do got = sys3(SYS_read, fd, buf, sizeof buf); while (got == -EINTR);
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
      if (k < FRONT_KEYS) memcpy(conf_val[k], v, len - (size_t)(v - line) + 1);
      if (k == RT && !full) break;
    }
    len = 0;
    too_long = 0;
    continue;
  bad:
    conf_err = cat(path, ":", num(n), ": not a known LSMNS_ KEY=value line|fix the line (lsmns doctor checks the file)", NULL);
    break;
  }
  sys3(SYS_close, fd, 0, 0);
}

/*
 * The sh front's `$(pwd)`: dash's logical working directory ($PWD when it names this directory, else the real
 * one), which dash also exports as PWD to what it execs.
 */
static const char *sh_pwd(void) {
  static char cwd[4096];
  struct { unsigned long dev, ino; char rest[240]; } a, b;
  const char *p = env("PWD");
  if (p && *p == '/' && sys(SYS_newfstatat, AT_FDCWD, (long)".", (long)&a, 0, 0, 0) == 0 &&
      sys(SYS_newfstatat, AT_FDCWD, (long)p, (long)&b, 0, 0, 0) == 0 && a.dev == b.dev && a.ino == b.ino) return p;
  if (sys3(SYS_getcwd, cwd, sizeof cwd, 0) < 0) return "";
  /* Export it: replace PWD in the environment, or add it. */
  size_t n = 0, at = (size_t)-1;
  for (; envp[n]; n++) if (after(envp[n], "PWD=")) at = n;
  char **e = alloc((n + 2) * sizeof *e);
  for (size_t i = 0; i < n; i++) e[i] = envp[i];
  e[at == (size_t)-1 ? n++ : at] = cat("PWD=", cwd, NULL);
  e[n] = NULL;
  envp = e;
  return cwd;
}

void start(long *sp) __attribute__((noreturn, used));
void start(long *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  envp = argv + argc + 1;
  char **e = envp;
  while (*e) e++;
  for (unsigned long *aux = (unsigned long *)(e + 1); aux[0]; aux += 2) if (aux[0] == AT_EXECFN_TAG) self = (const char *)aux[1];
  if (!self) self = argc > 0 ? argv[0] : "lsmns-runtime";
  if (argc < 1) leave(2);

  /* The verb after the runtime's global flags (runc and crun), and the --log file for error reports. */
  const char *verb = "";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (eq(a, "--root") || eq(a, "--log-format") || eq(a, "--criu") || eq(a, "--rootless") || eq(a, "--cgroup-manager") || eq(a, "--log-level")) { i++; continue; }
    if (eq(a, "--log")) { if (i + 1 < argc) log_path = argv[i + 1]; i++; continue; }
    if (after(a, "--log=")) { log_path = after(a, "--log="); continue; }
    if (a[0] == '-') continue;
    verb = a;
    break;
  }
  int full = eq(verb, "create") || eq(verb, "run");

  /* The runtime gets the front's own arguments, with its name in argv[0]. */
  if (!full && env("LSMNS_RUNTIME")) { argv[0] = (char *)env("LSMNS_RUNTIME"); sh_pwd(); sh_exec(argv); }
  const char *conf = env("LSMNS_CONFIG");
  if (!conf) conf = (const char *)baked_conf + CONF_MARKER_LEN;
  int have_conf = 0;
  if (exists(conf) || env("LSMNS_CONFIG")) {
    have_conf = 1;
    read_conf(conf, full);
  }
  const char *rt = pick(env("LSMNS_RUNTIME"), RT, "runc");
  const char *mode = pick(env("LSMNS_SHIM_MODE"), MODE, "standalone");
  if (!full) { argv[0] = (char *)rt; sh_pwd(); sh_exec(argv); }

  if (conf_err) {
    /* The sh front splits its error at the first '|' (a '|' in the path splits there too). */
    char *bar = conf_err;
    while (*bar && *bar != '|') bar++;
    const char *remedy = *bar ? bar + 1 : conf_err;
    *bar = 0;
    refuse(cat("lsmns: ", conf_err, ". Remedy: ", remedy, NULL), cat("lsmns: ", conf_err, NULL), 2);
  }

  /* The bundle: --bundle/-b after the verb (the first argument equal to it, as the sh loop finds it), else the cwd. */
  const char *bundle = "";
  int past = 0, expect = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!past) { past = eq(a, verb); continue; }
    if (expect) { bundle = a; expect = 0; continue; }
    if (eq(a, "--bundle") || eq(a, "-b")) expect = 1;
    else if (after(a, "--bundle=")) bundle = after(a, "--bundle=");
    else if (after(a, "-b=")) bundle = after(a, "-b=");
  }
  const char *pwd = sh_pwd();
  if (!*bundle) bundle = pwd;
  if (*bundle != '/') bundle = cat(pwd, "/", bundle, NULL);

  /* Room for the longest argv built here (served: client shim SOCK T RT BUNDLE LOG -- args). */
  char **cmd = alloc(((size_t)argc + 10) * sizeof *cmd);
  int o = 0;
  if (eq(mode, "standalone")) {
    cmd[o++] = (char *)pick(env("LSMNS_BIN"), BIN, "lsmns");
    cmd[o++] = "runtime";
    cmd[o++] = "--runtime";
    cmd[o++] = (char *)rt;
    if (have_conf) { cmd[o++] = "--config"; cmd[o++] = (char *)conf; }
  } else if (eq(mode, "served")) {
    const char *client = pick(env("LSMNS_HOOK_CLIENT"), CLIENT, NULL);
    if (!client) {
      /* The sh ${0%/...}/lsmns-hook-client: $0 up to its last slash, or all of it when it has none. */
      const char *slash = rchr(self, '/');
      char *dir = cat(self, NULL);
      if (slash) dir[slash - self] = 0;
      client = cat(dir, "/lsmns-hook-client", NULL);
    }
    if (!can(client, X_OK)) {
      refuse(cat("lsmns: the hook client ", client, " is missing or not executable. Remedy: run lsmns install (or set LSMNS_HOOK_CLIENT in ", conf, ")", NULL),
             cat("lsmns: the hook client ", client, " is missing or not executable", NULL), 3);
    }
    cmd[o++] = (char *)client;
    cmd[o++] = "shim";
    cmd[o++] = (char *)pick(env("LSMNS_SOCKET"), SOCK, "/run/lsmns/agent.sock");
    cmd[o++] = (char *)pick(env("LSMNS_CLIENT_TIMEOUT"), TIMEOUT, "8");
    cmd[o++] = (char *)rt;
    cmd[o++] = (char *)bundle;
    cmd[o++] = (char *)log_path;
  } else {
    refuse(cat("lsmns: LSMNS_SHIM_MODE=", mode, ": must be served or standalone. Remedy: fix it in ", conf, NULL),
           cat("lsmns: LSMNS_SHIM_MODE=", mode, ": must be served or standalone", NULL), 2);
  }
  cmd[o++] = "--";
  for (int i = 1; i < argc; i++) cmd[o++] = argv[i];
  cmd[o] = NULL;
  sh_exec(cmd);
}

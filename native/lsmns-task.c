/*
 * lsmns-task: the one native piece of the securityfs backend, built static by `make build` (never committed).
 * AppArmor only lets a task set its own exec label, so a task that should run confined must write the label
 * itself and then exec; Node cannot exec in place, and the LSM syscalls (459-461) have no Node binding.
 *
 *   lsmns-task probe
 *       prints one JSON line: what lsm_list_modules and lsm_get_self_attr(LSM_ATTR_CURRENT) return.
 *   lsmns-task exec [--via apparmor/exec|exec|syscall] [--display FILE:LSM] [--label LABEL] -- PROGRAM ARGS...
 *       sets the display LSM and "exec LABEL" on itself, then execs PROGRAM. A refusal prints
 *       "lsmns-task: ERRNO OP TARGET" on stderr and exits 3 before any exec.
 *   lsmns-task pause
 *       waits for a signal. The caller sees it is ready when /proc/PID/cmdline reads "... pause": the exec, and so
 *       the label, is done. It writes nothing: after the exec AppArmor revalidates inherited descriptors against
 *       the new profile, and a profile without unix rules loses the caller's socketpair.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NR_LSM_GET_SELF_ATTR 459
#define NR_LSM_SET_SELF_ATTR 460
#define NR_LSM_LIST_MODULES 461
#define LSM_ATTR_CURRENT 100
#define LSM_ATTR_EXEC 101
#define LSM_ID_APPARMOR 104

struct lsm_ctx { uint64_t id, flags, len, ctx_len; unsigned char ctx[]; };

static const char *errname(int e) {
  switch (e) {
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EACCES: return "EACCES"; case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS"; case EOPNOTSUPP: return "EOPNOTSUPP"; case E2BIG: return "E2BIG"; case ENOMEM: return "ENOMEM";
    case EEXIST: return "EEXIST"; case EIO: return "EIO"; case ENAMETOOLONG: return "ENAMETOOLONG"; case EBUSY: return "EBUSY";
    default: return "EUNKNOWN";
  }
}

static int fail(const char *op, const char *target, int e) {
  fprintf(stderr, "lsmns-task: %s %s %s\n", errname(e), op, target);
  return 3;
}

/* One write() of the whole value, as the kernel wants for attr files. */
static int write_attr(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail("open", path, errno);
  ssize_t n = write(fd, value, strlen(value));
  int e = errno;
  close(fd);
  if (n < 0) return fail("write", path, e);
  return 0;
}

static int probe(void) {
  uint64_t ids[64];
  uint32_t size = sizeof(ids);
  long n = syscall(NR_LSM_LIST_MODULES, ids, &size, 0);
  printf("{\"listModules\":");
  if (n < 0) printf("{\"errno\":\"%s\"}", errname(errno));
  else {
    printf("{\"ids\":[");
    for (long i = 0; i < n && i < 64; i++) printf("%s%llu", i ? "," : "", (unsigned long long)ids[i]);
    printf("]}");
  }
  unsigned char buf[4096];
  size = sizeof(buf);
  long m = syscall(NR_LSM_GET_SELF_ATTR, LSM_ATTR_CURRENT, buf, &size, 0);
  printf(",\"getSelfAttr\":");
  if (m < 0) printf("{\"errno\":\"%s\"}}\n", errname(errno));
  else printf("{\"count\":%ld}}\n", m);
  return 0;
}

static int set_exec_syscall(const char *cmd) {
  size_t clen = strlen(cmd) + 1, total = sizeof(struct lsm_ctx) + clen;
  struct lsm_ctx *c = calloc(1, total);
  if (!c) return fail("alloc", "lsm_ctx", ENOMEM);
  c->id = LSM_ID_APPARMOR; c->flags = 0; c->len = total; c->ctx_len = clen;
  memcpy(c->ctx, cmd, clen);
  long r = syscall(NR_LSM_SET_SELF_ATTR, LSM_ATTR_EXEC, c, (uint32_t)total, 0);
  int e = errno;
  free(c);
  return r < 0 ? fail("syscall", "lsm_set_self_attr(LSM_ATTR_EXEC)", e) : 0;
}

static int do_exec(int argc, char **argv) {
  const char *via = "apparmor/exec", *display = NULL, *label = NULL;
  int i = 2;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--")) { i++; break; }
    if (i + 1 >= argc) return fail("usage", argv[i], EINVAL);
    if (!strcmp(argv[i], "--via")) via = argv[++i];
    else if (!strcmp(argv[i], "--display")) display = argv[++i];
    else if (!strcmp(argv[i], "--label")) label = argv[++i];
    else return fail("usage", argv[i], EINVAL);
  }
  if (i >= argc) return fail("usage", "no program after --", EINVAL);
  char path[128], cmd[4200];
  if (display) {
    /* FILE:LSM, FILE being display or interface_lsm (only where the kernel has it). */
    const char *colon = strchr(display, ':');
    size_t n = colon ? (size_t)(colon - display) : 0;
    if (!((n == 7 && !strncmp(display, "display", 7)) || (n == 13 && !strncmp(display, "interface_lsm", 13)))) return fail("usage", display, EINVAL);
    snprintf(path, sizeof(path), "/proc/thread-self/attr/%.*s", (int)n, display);
    int r = write_attr(path, colon + 1);
    if (r) return r;
  }
  if (label) {
    if (strlen(label) > 4096) return fail("write", "label", E2BIG);
    snprintf(cmd, sizeof(cmd), "exec %s", label);
    int r;
    if (!strcmp(via, "syscall")) r = set_exec_syscall(cmd);
    else if (!strcmp(via, "apparmor/exec") || !strcmp(via, "exec")) {
      snprintf(path, sizeof(path), "/proc/thread-self/attr/%s", via);
      r = write_attr(path, cmd);
    } else return fail("usage", via, EINVAL);
    if (r) return r;
  }
  execv(argv[i], argv + i);
  return fail("execve", argv[i], errno);
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "probe")) return probe();
  if (argc >= 2 && !strcmp(argv[1], "exec")) return do_exec(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "pause")) {
    for (;;) pause();
  }
  fprintf(stderr, "usage: lsmns-task probe | exec [--via apparmor/exec|exec|syscall] [--display FILE:LSM] [--label LABEL] -- PROGRAM ARGS... | pause\n");
  return 2;
}

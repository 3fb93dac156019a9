/* The sandbox's pause process for critest's pods (registry.k8s.io/pause:3.10 here), as Kubernetes' own pause does:
 * it starts nothing (a shell loop's `sleep` would show in the pod's PID namespace, where critest's execSync timeout
 * spec looks for a leftover `sleep`), reaps what is reparented to it, and exits 0 on SIGINT or SIGTERM. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
  struct sigaction q = { .sa_handler = quit }, r = { .sa_handler = reap, .sa_flags = SA_NOCLDSTOP };
  sigaction(SIGINT, &q, NULL);
  sigaction(SIGTERM, &q, NULL);
  sigaction(SIGCHLD, &r, NULL);
  for (;;) pause();
}

/*
 * What the static front (lsmns-runtime.c) and the static client (lsmns-hook-client.c) both know of the node
 * configuration. Header only, no libc: the front is built without one.
 */
#ifndef LSMNS_NODE_CONF_H
#define LSMNS_NODE_CONF_H

/*
 * The node configuration's path, rewritten in the installed copy by `lsmns install` (after the marker,
 * NUL-padded; src/install/layout.ts). volatile: the compiler must read the field, never fold the literal.
 */
static volatile const char baked_conf[4096] = "@@LSMNS_CONFIG@@/etc/lsmns/node.conf";
#define CONF_MARKER_LEN 16

/*
 * Keys node.conf may hold (src/config.ts CONFIG_KEYS; test/config.test.ts keeps the lists equal). The first six
 * are the ones the front reads itself, in the order of its enum; the client reads LSMNS_SOCKET and
 * LSMNS_CLIENT_TIMEOUT and only checks the others.
 */
static const char *const conf_keys[] = {
  "LSMNS_RUNTIME", "LSMNS_SHIM_MODE", "LSMNS_SOCKET", "LSMNS_HOOK_CLIENT", "LSMNS_BIN", "LSMNS_CLIENT_TIMEOUT",
  "LSMNS_BACKEND", "LSMNS_SIM_STATE", "LSMNS_SECURITYFS", "LSMNS_POLICY_DIR", "LSMNS_HOST_PROFILE_DIR", "LSMNS_STATE_DIR", "LSMNS_POLICY_WAIT", NULL,
};

#endif

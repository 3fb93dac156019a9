// SHA-256 for the paths that run on every container start (policy digests, derived namespace names, sim notes).
// @noble/hashes (audited, dependency-free) instead of node:crypto, whose first import alone costs about 3 ms:
// a tenth of a hook process's whole budget over `node -e 0`.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/** Hex SHA-256 of a string (as UTF-8) or of bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return bytesToHex(sha256(typeof data === 'string' ? utf8ToBytes(data) : data));
}

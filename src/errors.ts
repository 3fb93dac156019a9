// The one domain error: a stable PascalCase code (also an Event reason and a metric label),
// a message that says what and where, a remedy that says how to fix it, and the CLI exit code.

/** Exit codes of every lsmns command (SPEC §3). */
export const ExitCode = {
  Ok: 0,
  Internal: 1,
  InvalidInput: 2,
  NotPossible: 3,
  ApplyFailed: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Every error code lsmns raises: one closed set, since the codes are also Event reasons and metric labels
 * (a new code is a new label value, so it is added here on purpose, never by accident).
 */
export const ERROR_CODES = [
  // Invalid input (exit 2).
  'InvalidInput', 'InvalidAnnotation', 'InvalidBundle', 'InvalidOciState', 'InvalidPod', 'InvalidNodeFacts', 'InvalidKernelRelease', 'InvalidLsmList',
  'InvalidRequest', 'UnknownStage', 'NotFound', 'BodyTooLarge', 'PolicyInvalid', 'PolicyNotFound', 'KubeConfigInvalid', 'SimBootMismatch',
  'InvalidPermission', 'InvalidPath', 'NoSuchTask',
  // Not possible on this node (exit 3).
  'NotPossibleOnNode',
  // The kernel refused, or the apply failed and was unwound (exit 4).
  'KernelExists', 'KernelNotFound', 'KernelDepthOrSpace', 'KernelPermissionDenied', 'KernelInvalidArgument', 'KernelUnsupported',
  'KernelOverflow', 'KernelRefused', 'NamespaceOwnedByOther', 'NamespaceNotOwned', 'VerifyFailed', 'UnwindIncomplete', 'Locked', 'Busy', 'ClientGone',
  'StateCorrupt', 'StateUnreadable', 'PolicyCompileFailed', 'TaskHelperMissing', 'TaskStartFailed', 'TaskStartTimeout',
  // The node's own setup.
  'InstallConflict', 'AgentAlreadyRunning', 'NodeNotConfigured',
  // A bug (exit 1).
  'Internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** One problem found while validating input; validation collects all of them. */
export interface Problem {
  /** Where: an annotation key, a flag, a JSON path or a file. */
  key: string;
  /** The offending value, escaped so that it is safe to print. */
  value: string;
  /** The rule that was broken. */
  rule: string;
  /** A valid example. */
  example: string;
}

export interface LsmnsErrorOptions {
  code: ErrorCode;
  message: string;
  remedy: string;
  exitCode: ExitCode;
  cause?: unknown;
  /** Kernel errno name (EEXIST, EACCES, ...) when the kernel refused. */
  errno?: string;
  problems?: Problem[];
  details?: Record<string, unknown>;
}

export class LsmnsError extends Error {
  readonly code: ErrorCode;
  readonly remedy: string;
  readonly exitCode: ExitCode;
  readonly errno?: string;
  readonly problems: Problem[];
  readonly details: Record<string, unknown>;

  constructor(o: LsmnsErrorOptions) {
    super(o.message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'LsmnsError';
    this.code = o.code;
    this.remedy = o.remedy;
    this.exitCode = o.exitCode;
    this.errno = o.errno;
    this.problems = o.problems ?? [];
    this.details = o.details ?? {};
  }

  /** Adds context in front of the message, keeping code, remedy and errno (runc's style of wrapping). */
  wrap(context: string, patch: Partial<LsmnsErrorOptions> = {}): LsmnsError {
    return new LsmnsError({
      code: this.code,
      remedy: this.remedy,
      exitCode: this.exitCode,
      errno: this.errno,
      problems: this.problems,
      details: this.details,
      ...patch,
      message: `${context}: ${this.message}`,
      cause: this,
    });
  }

  /** The one-line form used on stderr by the hook, the shim and the agent. */
  /** The one line a runtime shows (hooks, shim, agent): who refused, why, and the remedy, with no line breaks. */
  oneLine(front = 'lsmns'): string {
    return `${front}: ${this.message}; remedy: ${this.remedy}`.replace(/[\r\n]+/g, ' ');
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      code: this.code,
      message: this.message,
      remedy: this.remedy,
      exitCode: this.exitCode,
    };
    if (this.errno) out.errno = this.errno;
    if (this.problems.length > 0) out.problems = this.problems;
    if (Object.keys(this.details).length > 0) out.details = this.details;
    const cause = this.cause;
    if (cause instanceof LsmnsError) out.cause = cause.toJSON();
    else if (cause instanceof Error) out.cause = { message: cause.message };
    return out;
  }
}

/** Turns anything thrown into an LsmnsError; an unknown error is a bug (exit 1). */
export function toLsmnsError(e: unknown): LsmnsError {
  if (e instanceof LsmnsError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new LsmnsError({
    code: 'Internal',
    message: `internal error: ${message}`,
    remedy: 'this is a bug in lsmns; report it with the command and its --output json',
    exitCode: ExitCode.Internal,
    cause: e,
  });
}

/** Invalid input (exit 2) carrying every problem found. */
export function invalidInput(code: ErrorCode, message: string, remedy: string, problems: Problem[] = [], details?: Record<string, unknown>): LsmnsError {
  return new LsmnsError({ code, message, remedy, exitCode: ExitCode.InvalidInput, problems, details });
}

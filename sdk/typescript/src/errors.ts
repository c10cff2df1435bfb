// Problem details (RFC 9457) as errors: one class per status the API documents (docs/http-api.md, "Errors"), each
// carrying the document. The same hierarchy as the Python SDK's memrl.errors.

/** An error's problem+json document with the API's members (docs/errors.md); members a newer server adds stay. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  /** The member, parameter or header at fault as the caller spells it: `options.alpha`, `memoryIds[2]`, `bank`. */
  field?: string;
  /** What it must be. */
  expected?: string;
  /** The value sent, as text (never a key). */
  actual?: string;
  /** A code to branch on: `missing`, `unknown-member`, `token-expired`, `token-invalid`, `cursor-invalid`,
   * `not-finite`, `reward-conflict`, `quota`. */
  reason?: string;
  quota?: string;
  limit?: number;
  current?: number;
  [member: string]: unknown;
}

/** Every error the SDK throws (an aborted call rejects with the signal's reason instead, as fetch does).
 * `status` is the HTTP status, or undefined when no response came. */
export class MemRLError extends Error {
  readonly status: number | undefined;
  readonly problem: Problem;
  /** The response's headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number | undefined, problem?: Problem, headers?: Record<string, string>, options?: { cause?: unknown }) {
    const doc: Problem = { ...(problem ?? {}) };
    super(describe(status, doc), options);
    this.name = new.target.name;
    this.status = status;
    this.problem = doc;
    this.headers = Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  }

  get title(): string | undefined { return text(this.problem.title); }
  get detail(): string | undefined { return text(this.problem.detail); }
  get field(): string | undefined { return text(this.problem.field); }
  get expected(): string | undefined { return text(this.problem.expected); }
  get actual(): string | undefined { return text(this.problem.actual); }
  get reason(): string | undefined { return text(this.problem.reason); }
}

/** No response after every attempt (refused, reset, timed out); the last failure is `cause`. A mutation may or may
 * not have been applied: call it again with the same `idempotencyKey` to find out without applying it twice. */
export class ConnectionFailed extends MemRLError {}

/** 400: bad input, recall token, cursor or request target; `field`/`expected`/`actual`/`reason` say which. */
export class InvalidRequest extends MemRLError {}

/** 401: no key, or a key the server does not know. */
export class Unauthorized extends MemRLError {}

/** 403: a read-only key on a mutation, or a quota (see {@link QuotaExceeded}). */
export class Forbidden extends MemRLError {}

/** 403 with `reason: "quota"`: nothing was stored, and waiting will not help (so it is never retried). */
export class QuotaExceeded extends Forbidden {
  get quota(): string | undefined { return text(this.problem.quota); }
  get limit(): number | undefined { return typeof this.problem.limit === "number" ? this.problem.limit : undefined; }
  get current(): number | undefined { return typeof this.problem.current === "number" ? this.problem.current : undefined; }
}

/** 404: no such bank, memory or route (another tenant's answers the same). */
export class NotFound extends MemRLError {}

/** 405: the route has no such method; `expected` lists the allowed ones. */
export class MethodNotAllowed extends MemRLError {}

/** 409: an Idempotency-Key reused with another body or call, or a bank created again with another spec. */
export class Conflict extends MemRLError {}

/** 409 with `reason: "reward-conflict"`: the memory already took another value from this recall (`expected` is the
 * value given first). */
export class RewardConflict extends Conflict {}

/** 413: the body is over the server's MaxRequestBytes. */
export class PayloadTooLarge extends InvalidRequest {}

/** 415: the body was not `application/json`. */
export class UnsupportedMediaType extends InvalidRequest {}

/** 431: a header, or all of them, over the server's limits. */
export class HeadersTooLarge extends InvalidRequest {}

/** 429: the tenant's rate limit or an overloaded shard, still so after every retry. */
export class RateLimited extends MemRLError {
  /** The Retry-After header as sent (seconds or an HTTP date), if any. */
  get retryAfter(): string | undefined { return this.headers["retry-after"]; }
}

/** 503: a recall or stats no shard answered, or one that required full coverage and did not get it. */
export class Unavailable extends MemRLError {}

/** Any other status, 5xx included: not part of the API's contract, so nothing more is known. */
export class ServerError extends MemRLError {}

const byStatus: Record<number, new (status: number, problem?: Problem, headers?: Record<string, string>) => MemRLError> = {
  400: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed, 409: Conflict,
  413: PayloadTooLarge, 415: UnsupportedMediaType, 429: RateLimited, 431: HeadersTooLarge, 503: Unavailable,
};

/** The error for an error response: by status, refined by `reason` where a client must tell kinds apart. */
export function errorFor(status: number, problem?: Problem, headers?: Record<string, string>): MemRLError {
  if (status === 403 && problem?.reason === "quota") {
    return new QuotaExceeded(status, problem, headers);
  }
  if (status === 409 && problem?.reason === "reward-conflict") {
    return new RewardConflict(status, problem, headers);
  }
  const Kind = byStatus[status] ?? ServerError;
  return new Kind(status, problem, headers);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : value === undefined || value === null ? undefined : String(value);
}

function describe(status: number | undefined, problem: Problem): string {
  let message = status !== undefined ? `HTTP ${status}` : "no response";
  if (problem.title) {
    message += ` ${problem.title}`;
  }
  if (problem.detail) {
    message += `: ${problem.detail}`;
  }
  const extras = (["field", "expected", "actual", "reason"] as const)
    .filter((name) => problem[name] !== undefined && problem[name] !== null)
    .map((name) => `${name}=${JSON.stringify(problem[name])}`);
  return extras.length > 0 ? `${message} (${extras.join(", ")})` : message;
}

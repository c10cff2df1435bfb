// One logical request and its attempts: building the request, one attempt over fetch, and the retry rule. A call's
// Idempotency-Key is fixed before its first attempt (see Call), so every retry sends the same one and the server
// applies the call once (docs/exactly-once.md).

import { ConnectionFailed, MemRLError, errorFor, type Problem } from "./errors.js";

export const VERSION = "0.1.0";

/** When a request is tried again: on network errors and timeouts and on the statuses in `statuses` (429, 503), at
 * most `maxAttempts` attempts in all. The wait is Retry-After when the server sends it (capped at `retryAfterCapMs`),
 * else `backoffBaseMs` × 2^(attempt − 1) capped at `backoffCapMs`, with jitter (50–100 %) so many agents do not retry
 * in lockstep. 403 (quotas) is never retried: waiting does not bring a tenant under a quota. */
export interface RetryPolicy {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  retryAfterCapMs: number;
  statuses: readonly number[];
}

export const defaultRetry: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  backoffBaseMs: 200,
  backoffCapMs: 5_000,
  retryAfterCapMs: 60_000,
  statuses: Object.freeze([429, 503]),
});

/** The wait before attempt `attempt + 1`, in milliseconds. */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | null, random: () => number = Math.random): number {
  const told = parseRetryAfter(retryAfter);
  if (told !== undefined) {
    return Math.min(told, policy.retryAfterCapMs);
  }
  return Math.min(policy.backoffCapMs, policy.backoffBaseMs * 2 ** (attempt - 1)) * (0.5 + random() / 2);
}

/** Milliseconds from a Retry-After header (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) {
    return undefined;
  }
  if (/^\d+(\.\d+)?$/.test(text)) {
    return Number(text) * 1000;
  }
  const when = Date.parse(text);
  return Number.isNaN(when) ? undefined : Math.max(0, when - now);
}

/** One logical request. */
export interface Call {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  segments: readonly string[];
  body?: unknown;
  /** An array value is the parameter repeated (`?userId=a&userId=b`), how the API reads a set. */
  query?: Record<string, string | number | readonly string[] | undefined>;
  /** Set once per call, before the first attempt: every retry carries it. */
  idempotencyKey?: string;
  signal?: AbortSignal | undefined;
}

/** What the client's transport needs; `sleep` is replaceable so tests can record the waits instead of sleeping. */
export interface TransportSettings {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  retry: RetryPolicy;
  fetch: typeof globalThis.fetch;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  headers: Record<string, string>;
}

export function newKey(): string {
  return globalThis.crypto.randomUUID();
}

/** The request body: the members given without undefined values (null is kept: PATCH clears with it). */
export function body(fields: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done, fail) => {
    if (signal?.aborted) {
      fail(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      fail(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      done();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function urlOf(baseUrl: string, call: Call): string {
  // encodeURIComponent keeps '/', '?', '#', '%' and spaces in a name inside its segment.
  let url = `${baseUrl}/v1/${call.segments.map(encodeURIComponent).join("/")}`;
  const query = Object.entries(call.query ?? {}).filter(([, v]) => v !== undefined);
  if (query.length > 0) {
    url += "?" + new URLSearchParams(query.flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((one) => [k, String(one)]))).toString();
  }
  return url;
}

function headersOf(response: Response): Record<string, string> {
  const result: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    result[name.toLowerCase()] = value;
  });
  return result;
}

async function problemOf(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => "");
  let problem: unknown;
  try {
    problem = text.trim() ? JSON.parse(text) : {};
  } catch {
    problem = undefined;
  }
  // A proxy's page that is not a JSON object becomes the detail.
  const doc: Problem = problem !== null && typeof problem === "object" && !Array.isArray(problem)
    ? (problem as Problem)
    : text.trim() ? { detail: text.trim().slice(0, 500) } : {};
  doc.status ??= response.status;
  return doc;
}

/** One attempt, under the call's signal and the per-attempt timeout. A timeout is a network failure (retried); the
 * caller's abort is not (rethrown as is). */
async function attempt(settings: TransportSettings, call: Call, init: RequestInit): Promise<Response> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(call.signal?.reason);
  call.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new TimeoutError(settings.timeoutMs)), settings.timeoutMs);
  try {
    const response = await settings.fetch(urlOf(settings.baseUrl, call), { ...init, signal: controller.signal });
    // Read the body under the same deadline, so a response that stalls half-way is a failed attempt too.
    const payload = await response.arrayBuffer();
    return new Response(response.status === 204 || response.status === 304 ? null : payload, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } finally {
    clearTimeout(timer);
    call.signal?.removeEventListener("abort", onAbort);
  }
}

export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no complete response within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/** Sends a call, retrying as the policy says with the same Idempotency-Key; resolves to the decoded JSON (undefined
 * for an empty body) or throws a MemRLError. */
export async function send<T>(settings: TransportSettings, call: Call): Promise<T> {
  const headers: Record<string, string> = {
    ...settings.headers,
    Authorization: `Bearer ${settings.apiKey}`,
    Accept: "application/json, application/problem+json",
  };
  let payload: string | undefined;
  if (call.body !== undefined) {
    payload = JSON.stringify(call.body, (_, value: unknown) => {
      // NaN and Infinity are not JSON (stringify would send null): fail here rather than send something else.
      if (typeof value === "number" && !Number.isFinite(value)) {
        throw new RangeError(`${value} is not a finite number; JSON has no such value.`);
      }
      return value;
    });
    headers["Content-Type"] = "application/json";
  }
  if (call.idempotencyKey !== undefined) {
    headers["Idempotency-Key"] = call.idempotencyKey;
  }
  const init: RequestInit = { method: call.method, headers, ...(payload !== undefined ? { body: payload } : {}) };
  const policy = settings.retry;
  for (let n = 1; ; n++) {
    call.signal?.throwIfAborted();
    let response: Response;
    try {
      response = await attempt(settings, call, init);
    } catch (error) {
      if (call.signal?.aborted) {
        throw call.signal.reason;
      }
      // Maybe applied, maybe not: the retry carries the same key, so the server replays a first result.
      if (n >= policy.maxAttempts) {
        throw new ConnectionFailed(undefined, { title: "No response", detail: String((error as Error)?.message ?? error) }, undefined, { cause: error });
      }
      await settings.sleep(retryDelay(policy, n), call.signal);
      continue;
    }
    if (response.ok) {
      const text = await response.text();
      return (text.trim() ? JSON.parse(text) : undefined) as T;
    }
    if (policy.statuses.includes(response.status) && n < policy.maxAttempts) {
      await settings.sleep(retryDelay(policy, n, response.headers.get("retry-after")), call.signal);
      continue;
    }
    throw errorFor(response.status, await problemOf(response), headersOf(response));
  }
}

export { MemRLError };

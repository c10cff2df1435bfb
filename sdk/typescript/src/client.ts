// The client: one object per API (base URL and key), calls grouped as the API groups them (banks, memories) with the
// MemRL step (recall, reward, write) on the client itself.

import { MemRLError } from "./errors.js";
import { body, defaultRetry, newKey, send, sleep, VERSION, type Call, type RetryPolicy, type TransportSettings } from "./http.js";
import type {
  Bank, BankOptions, BankStats, BankSummary, Calibration, RetentionRun, CreateBankRequest, Deleted, EditRequest, Filter, Memory, MemoryPage, Recall,
  RecallRequest, RewardRequest, RewardResult, WriteRequest, WriteResult,
} from "./types.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface MemRLOptions {
  /** Base URL of the silo's HTTP API; default `MEMRL_URL` (in Node) or http://127.0.0.1:8080. */
  url?: string;
  /** The API key; default `MEMRL_API_KEY` (in Node). */
  apiKey?: string;
  /** Per attempt, response body included; default 30 s. A timed-out attempt is retried like a network error. */
  timeoutMs?: number;
  /** Overrides of the retry policy's members (see {@link RetryPolicy}). */
  retry?: Partial<RetryPolicy>;
  /** The fetch to use (default globalThis.fetch): a proxy-aware one, or a test's. */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request (e.g. a User-Agent in Node; browsers do not let a page set it). */
  headers?: Record<string, string>;
  /** How the client waits between attempts; tests replace it to record the waits. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Per call: an AbortSignal (aborting rejects with the signal's reason and stops the retries). */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Per mutation: also the Idempotency-Key. Without one the call gets a fresh one before its first attempt, which all
 * its retries reuse; pass your own to retry a call yourself (after a ConnectionFailed, a restart) without applying it
 * twice. */
export interface MutationOptions extends CallOptions {
  idempotencyKey?: string;
}

export interface ListOptions extends CallOptions {
  limit?: number;
  cursor?: string;
  /** Only the memories matching it (as recall takes it); pass the same filter with each page's cursor. */
  filter?: Filter;
  /** Active memories (the default), archived ones (restorable until purged) or all; the same with each page's cursor. */
  state?: MemoryListState;
}

/** Which memories a listing walks (docs/retention.md). */
export type MemoryListState = "active" | "archived" | "all";

// In a query string the filter's fields sit beside the listing parameters; these are never a filter field.
function filterQuery(filter: Filter | undefined): Record<string, string | readonly string[]> {
  const fields = { ...filter };
  for (const reserved of ["limit", "cursor", "state"]) {
    if (reserved in fields) {
      throw new TypeError(`filter field "${reserved}" is not a filter field: use userId, agentId, sessionId, runId or metadata.<key>.`);
    }
  }
  return fields;
}

function env(name: string): string | undefined {
  // Browsers have no process; bundlers may define one without env.
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return value?.trim() || undefined;
}

/** Bank calls: create, describe, list, delete, options, stats, calibrate. */
export class Banks {
  constructor(private readonly client: MemRL) {}

  /** Creates a bank, or returns it when it exists with the same spec (another spec is Conflict). Without `dimension`
   * and `embedderId` it is made for the server's text embedder (`queryText`, `intentText`). */
  create(request: CreateBankRequest, options?: MutationOptions): Promise<Bank> {
    return this.client.send({ method: "POST", segments: ["banks"], body: body(request), ...mutation(options) });
  }

  get(name: string, options?: CallOptions): Promise<Bank> {
    return this.client.send({ method: "GET", segments: ["banks", name], signal: options?.signal });
  }

  /** The tenant's banks in name order, with the memories and text bytes the quotas count. */
  async list(options?: CallOptions): Promise<BankSummary[]> {
    const answer = await this.client.send<{ banks: BankSummary[] }>({ method: "GET", segments: ["banks"], signal: options?.signal });
    return answer.banks;
  }

  /** Deletes the bank and every memory in it (NotFound when there is none). */
  async delete(name: string, options?: MutationOptions): Promise<void> {
    await this.client.send({ method: "DELETE", segments: ["banks", name], ...mutation(options) });
  }

  /** Changes the options named and keeps the others (PATCH; null clears `qFloor` / `qMin`). */
  updateOptions(name: string, changes: Partial<BankOptions> & Record<string, unknown>, options?: MutationOptions): Promise<Bank> {
    return this.client.send({ method: "PATCH", segments: ["banks", name, "options"], body: changes, ...mutation(options) });
  }

  /** Replaces every option (PUT): pass `(await get(name)).options` with your changes. */
  replaceOptions(name: string, all: BankOptions & Record<string, unknown>, options?: MutationOptions): Promise<Bank> {
    return this.client.send({ method: "PUT", segments: ["banks", name, "options"], body: all, ...mutation(options) });
  }

  stats(name: string, options?: CallOptions): Promise<BankStats> {
    return this.client.stats(name, options);
  }

  /** Runs the bank's retention policy once (docs/retention.md): purges archived memories past their retention period,
   * archives what the rules name, then caps the bank by utility, at most `maxPerRun` changes (`more`: run again).
   * Retries carry the same Idempotency-Key, so a retried run answers the first. */
  runRetention(name: string, options?: MutationOptions): Promise<RetentionRun> {
    return this.client.send({ method: "POST", segments: ["banks", name, "retention:run"], ...mutation(options) });
  }

  /** Similarity statistics of the bank's keys and the suggested delta; `apply: true` sets it. */
  calibrate(name: string, request: { sample?: number; apply?: boolean } = {}, options?: MutationOptions): Promise<Calibration> {
    // Only applying changes the bank, so only then is it a mutation with a key.
    const call: Call = { method: "POST", segments: ["banks", name, "calibrate"], body: body({ sample: request.sample, apply: request.apply ?? false }), signal: options?.signal };
    if (request.apply) {
      call.idempotencyKey = options?.idempotencyKey ?? newKey();
    }
    return this.client.send(call);
  }
}

/** Memory calls: one, a page, all of them (async iterator), delete. */
export class Memories {
  constructor(private readonly client: MemRL) {}

  get(bank: string, memoryId: string, options?: CallOptions): Promise<Memory> {
    return this.client.send({ method: "GET", segments: ["banks", bank, "memories", memoryId], signal: options?.signal });
  }

  /** One page, oldest first per shard; pass `nextCursor` back for the next (null on the last page). */
  list(bank: string, options?: ListOptions): Promise<MemoryPage> {
    return this.client.send({
      method: "GET", segments: ["banks", bank, "memories"], query: { ...filterQuery(options?.filter), limit: options?.limit, cursor: options?.cursor, state: options?.state }, signal: options?.signal,
    });
  }

  /** Every memory of the bank, following `nextCursor` page by page: `for await (const m of memrl.memories.iterate(b))`. */
  async *iterate(bank: string, options?: CallOptions & { pageSize?: number; filter?: Filter; state?: MemoryListState }): AsyncGenerator<Memory, void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.list(bank, {
        limit: options?.pageSize ?? 100, ...(cursor ? { cursor } : {}), ...(options?.signal ? { signal: options.signal } : {}),
        ...(options?.filter ? { filter: options.filter } : {}), ...(options?.state ? { state: options.state } : {}),
      });
      yield* page.memories ?? [];
      const next = page.nextCursor ?? undefined;
      if (!next) {
        return;
      }
      if (next === cursor) {
        throw new Error(`the server returned the same cursor twice: ${JSON.stringify(cursor)}`);
      }
      cursor = next;
    }
  }

  /** Replaces a memory's experience and/or whole metadata and returns it as edited; retries carry the same
   * Idempotency-Key, so the edit applies once. */
  edit(bank: string, memoryId: string, request: EditRequest, options?: MutationOptions): Promise<Memory> {
    return this.client.send({ method: "PATCH", segments: ["banks", bank, "memories", memoryId], body: body(request), ...mutation(options) });
  }

  /** Archives a memory: out of recall at once (its key too, when that held no other active memory), restorable for
   * the bank's retention period; `archivedAt` is set on the returned memory. Archiving an archived memory changes
   * nothing. A reward of a recall made before the archive still counts. */
  archive(bank: string, memoryId: string, options?: MutationOptions): Promise<Memory> {
    return this.client.send({ method: "POST", segments: ["banks", bank, "memories", memoryId, "archive"], ...mutation(options) });
  }

  /** Restores an archived memory: recalled again at once, with the Q and history it had (`restoredAt` set). After the
   * retention period, or once purged or deleted, it is refused naming `memoryId`. */
  restore(bank: string, memoryId: string, options?: MutationOptions): Promise<Memory> {
    return this.client.send({ method: "POST", segments: ["banks", bank, "memories", memoryId, "restore"], ...mutation(options) });
  }

  async delete(bank: string, memoryId: string, options?: MutationOptions): Promise<void> {
    await this.client.send({ method: "DELETE", segments: ["banks", bank, "memories", memoryId], ...mutation(options) });
  }

  /** Erases every memory matching `filter` (at least one scope field, e.g. `{ userId: "u-7" }`: the server refuses a
   * filter without one, so nothing erases a whole bank by accident) and returns how many went. Retries carry the same
   * Idempotency-Key, so a retried delete answers the first count. */
  async deleteByScope(bank: string, filter: Filter, options?: MutationOptions): Promise<number> {
    const answer = await this.client.send<Deleted>({ method: "DELETE", segments: ["banks", bank, "memories"], query: { ...filter }, ...mutation(options) });
    return answer.deleted;
  }
}

function mutation(options: MutationOptions | undefined): Pick<Call, "idempotencyKey" | "signal"> {
  return { idempotencyKey: options?.idempotencyKey ?? newKey(), signal: options?.signal };
}

/** A client of one MemRL.Cluster HTTP API (docs/http-api.md). Errors throw MemRLError subclasses carrying the problem
 * document; 429, 503, network errors and timeouts are retried with backoff (Retry-After honoured) and the same
 * Idempotency-Key, so a retried mutation applies once. */
export class MemRL {
  readonly url: string;
  readonly retry: Readonly<RetryPolicy>;
  readonly banks: Banks;
  readonly memories: Memories;
  readonly #settings: TransportSettings;

  constructor(options: MemRLOptions = {}) {
    const apiKey = options.apiKey ?? env("MEMRL_API_KEY");
    if (!apiKey) {
      throw new MemRLError(undefined, {
        title: "No API key",
        detail: "pass apiKey or set MEMRL_API_KEY; the embedded silo (dotnet run --project silo) writes its key to data/api-key.local",
      });
    }
    const retry: RetryPolicy = { ...defaultRetry, ...options.retry };
    if (!(retry.maxAttempts >= 1)) {
      throw new RangeError(`retry.maxAttempts is ${retry.maxAttempts}; it must be at least 1.`);
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    this.url = (options.url ?? env("MEMRL_URL") ?? DEFAULT_URL).replace(/\/+$/, "");
    this.retry = Object.freeze(retry);
    this.#settings = {
      baseUrl: this.url,
      apiKey,
      timeoutMs: options.timeoutMs ?? 30_000,
      retry: this.retry,
      // Bound so a method-less call of the global fetch (which some runtimes refuse) cannot happen.
      fetch: (input, init) => fetchImpl(input, init),
      sleep: options.sleep ?? sleep,
      headers: { ...options.headers },
    };
    this.banks = new Banks(this);
    this.memories = new Memories(this);
  }

  /** Two-phase recall by vector (`query`) or text (`queryText`). Pass the `token` to {@link reward} and {@link write}.
   * Members left out take the bank's options. */
  recall(bank: string, request: RecallRequest, options?: CallOptions): Promise<Recall> {
    if (request.query == null && request.queryText == null) {
      throw new TypeError("recall needs query (a vector) or queryText.");
    }
    return this.send({ method: "POST", segments: ["banks", bank, "recall"], body: body(request), signal: options?.signal });
  }

  /** Moves the Q of the memories a recall returned (or the subset `memoryIds`) toward `reward`. Each memory takes one
   * reward per recall: the same value again answers the first result, another is RewardConflict. */
  reward(bank: string, request: RewardRequest, options?: MutationOptions): Promise<RewardResult> {
    return this.send({ method: "POST", segments: ["banks", bank, "reward"], body: body(request), ...mutation(options) });
  }

  /** Writes an experience, keyed by `intent` (a vector) or `intentText` (embedded by the server); `recallToken` links it
   * to the recall that preceded it. */
  write(bank: string, request: WriteRequest, options?: MutationOptions): Promise<WriteResult> {
    if (request.intent == null && request.intentText == null) {
      throw new TypeError("write needs intent (a vector) or intentText.");
    }
    return this.send({ method: "POST", segments: ["banks", bank, "memories"], body: body(request), ...mutation(options) });
  }

  /** Keys, memories, per-shard sizes; Q, visits and age distributions. */
  stats(bank: string, options?: CallOptions): Promise<BankStats> {
    return this.send({ method: "GET", segments: ["banks", bank, "stats"], signal: options?.signal });
  }

  /** @internal One call with its retries; the typed methods above are the surface. */
  send<T>(call: Call): Promise<T> {
    return send<T>(this.#settings, call);
  }
}

export { VERSION };

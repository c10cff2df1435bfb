// The client against a fake server in the process: retries and their Idempotency-Keys, Retry-After, aborts,
// timeouts, error mapping, request building and pagination.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import {
  Conflict, ConnectionFailed, Forbidden, HeadersTooLarge, InvalidRequest, MemRL, MemRLError, MethodNotAllowed, NotFound,
  parseRetryAfter, PayloadTooLarge, QuotaExceeded, RateLimited, RewardConflict, ServerError, Unauthorized, Unavailable,
  UnsupportedMediaType, type MemRLOptions,
} from "../src/index.js";
import { FakeServer, problem, type Handler } from "./fake.js";

const written = { memoryId: "0b6c5a52-0000-4000-8000-000000000001", createdKey: true, q: 0.5 };
let fake: FakeServer | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function serve(handler: Handler, options: MemRLOptions = {}): Promise<{ client: MemRL; waits: number[]; server: FakeServer }> {
  const server = await FakeServer.start(handler);
  fake = server;
  const waits: number[] = [];
  const client = new MemRL({
    url: server.url, apiKey: "k-test", sleep: async (ms) => void waits.push(ms), ...options,
  });
  return { client, waits, server };
}

const write = (client: MemRL, key?: string) =>
  client.write("b", { intentText: "reset password", experience: "sent the link", success: true }, key ? { idempotencyKey: key } : {});

describe("retries", () => {
  it("retries 503 and 429 with the same Idempotency-Key and honours Retry-After", async () => {
    const { client, waits, server } = await serve((_, n) =>
      n === 1 ? problem(503, {}) : n === 2 ? { ...problem(429, {}), headers: { "Retry-After": "2" } } : { status: 201, body: written });
    assert.deepEqual(await write(client), written);
    assert.equal(server.seen.length, 3);
    const keys = server.seen.map((s) => s.headers["idempotency-key"]);
    assert.match(String(keys[0]), /^[0-9a-f-]{36}$/);
    assert.deepEqual(new Set(keys).size, 1);
    assert.equal(waits.length, 2);
    assert.ok(waits[0]! >= 100 && waits[0]! <= 200, `backoff ${waits[0]} not within 50-100 % of 200 ms`);
    assert.equal(waits[1], 2000);
  });

  it("retries a dropped connection with the same key, so the server applies the write once", async () => {
    const applied = new Map<string, number>();
    const { client, server } = await serve((seen, n) => {
      const key = String(seen.headers["idempotency-key"]);
      applied.set(key, (applied.get(key) ?? 0) + (applied.has(key) ? 0 : 1));
      return n === 1 ? "drop" : { status: 201, body: written };
    });
    assert.deepEqual(await write(client), written);
    assert.equal(server.seen.length, 2);
    assert.equal(server.seen[0]!.headers["idempotency-key"], server.seen[1]!.headers["idempotency-key"]);
    assert.equal(applied.size, 1);
  });

  it("sends the caller's Idempotency-Key on every attempt", async () => {
    const { client, server } = await serve((_, n) => (n < 3 ? "drop" : { status: 201, body: written }));
    await write(client, "episode-17-write");
    assert.deepEqual(server.seen.map((s) => s.headers["idempotency-key"]), Array(3).fill("episode-17-write"));
  });

  it("gives two calls two keys", async () => {
    const { client, server } = await serve(() => ({ status: 201, body: written }));
    await write(client);
    await write(client);
    assert.notEqual(server.seen[0]!.headers["idempotency-key"], server.seen[1]!.headers["idempotency-key"]);
  });

  it("caps the backoff and grows it per attempt", async () => {
    const { client, waits } = await serve(() => problem(503, {}), { retry: { maxAttempts: 6, backoffBaseMs: 100, backoffCapMs: 250 } });
    await assert.rejects(write(client), Unavailable);
    assert.equal(waits.length, 5);
    assert.ok(waits[0]! >= 50 && waits[0]! <= 100);
    assert.ok(waits[1]! >= 100 && waits[1]! <= 200);
    assert.ok(waits.slice(2).every((w) => w >= 125 && w <= 250), waits.join(","));
  });

  it("throws RateLimited with Retry-After after the last attempt", async () => {
    const { client, server, waits } = await serve(() => ({ ...problem(429, { title: "Too Many Requests" }), headers: { "Retry-After": "120" } }),
      { retry: { maxAttempts: 3, retryAfterCapMs: 1500 } });
    const error = await write(client).catch((e: unknown) => e);
    assert.ok(error instanceof RateLimited);
    assert.equal(error.status, 429);
    assert.equal(error.retryAfter, "120");
    assert.equal(server.seen.length, 3);
    assert.deepEqual(waits, [1500, 1500]);
  });

  it("throws ConnectionFailed with the cause when no attempt gets an answer", async () => {
    const { client, server } = await serve(() => "drop", { retry: { maxAttempts: 2 } });
    const error = await write(client).catch((e: unknown) => e);
    assert.ok(error instanceof ConnectionFailed);
    assert.ok(error instanceof MemRLError);
    assert.equal(error.status, undefined);
    assert.ok(error.cause !== undefined);
    assert.equal(server.seen.length, 2);
  });

  it("retries an attempt that times out, with the same key", async () => {
    const { client, server } = await serve((_, n) => (n === 1 ? "hang" : { status: 201, body: written }), { timeoutMs: 200 });
    assert.deepEqual(await write(client), written);
    // At least 2: on a loaded machine the answered attempt may also pass 200 ms and be retried (seen here once in three runs: 3 attempts).
    assert.ok(server.seen.length >= 2, `${server.seen.length} attempts`);
    assert.equal(new Set(server.seen.map((s) => s.headers["idempotency-key"])).size, 1);
  });

  it("does not retry a quota (403) and carries its members", async () => {
    const { client, server } = await serve(() => problem(403, { reason: "quota", quota: "memories", limit: 10, current: 10, expected: "at most 10", actual: "10" }));
    const error = await write(client).catch((e: unknown) => e);
    assert.ok(error instanceof QuotaExceeded);
    assert.ok(error instanceof Forbidden);
    assert.equal(error.quota, "memories");
    assert.equal(error.limit, 10);
    assert.equal(error.current, 10);
    assert.equal(server.seen.length, 1);
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-12-01T10:00:00Z");
    assert.equal(parseRetryAfter("3", now), 3000);
    assert.equal(parseRetryAfter("Tue, 01 Dec 2026 10:00:05 GMT", now), 5000);
    assert.equal(parseRetryAfter("Tue, 01 Dec 2026 09:00:00 GMT", now), 0);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});

describe("abort", () => {
  it("rejects with the signal's reason and does not retry when aborted mid-request", async () => {
    const controller = new AbortController();
    // Aborted once the server has the request, however slow the machine is.
    const { client, server } = await serve(() => {
      setTimeout(() => controller.abort(), 20);
      return "hang";
    });
    const error = await client.banks.get("b", { signal: controller.signal }).catch((e: unknown) => e);
    assert.equal((error as Error).name, "AbortError");
    assert.ok(!(error instanceof MemRLError));
    assert.equal(server.seen.length, 1);
  });

  it("stops waiting for a retry when aborted during the backoff", async () => {
    const controller = new AbortController();
    const server = await FakeServer.start(() => {
      setTimeout(() => controller.abort(new Error("stop")), 50);
      return { ...problem(503, {}), headers: { "Retry-After": "30" } };
    });
    fake = server;
    const client = new MemRL({ url: server.url, apiKey: "k" }); // the real sleep
    const started = Date.now();
    await assert.rejects(client.banks.delete("b", { signal: controller.signal }), /stop/);
    assert.equal(server.seen.length, 1);
    assert.ok(Date.now() - started < 10_000, "waited out the Retry-After instead of stopping");
  });

  it("sends nothing when the signal is already aborted", async () => {
    const { client, server } = await serve(() => ({ status: 200, body: {} }));
    await assert.rejects(client.stats("b", { signal: AbortSignal.abort() }), { name: "AbortError" });
    assert.equal(server.seen.length, 0);
  });
});

describe("errors", () => {
  it("carries the problem's field, expected, actual and reason", async () => {
    const { client } = await serve(() => problem(400, {
      title: "Bad request", detail: "Option 'options.lamda' is not an option.", field: "options.lamda",
      expected: "one of alpha, lambda, …", actual: "lamda", reason: "unknown-member",
    }));
    const error = await client.banks.create({ name: "b", options: { lamda: 0.5 } }).catch((e: unknown) => e);
    assert.ok(error instanceof InvalidRequest);
    assert.equal(error.name, "InvalidRequest");
    assert.equal(error.status, 400);
    assert.equal(error.field, "options.lamda");
    assert.equal(error.expected, "one of alpha, lambda, …");
    assert.equal(error.actual, "lamda");
    assert.equal(error.reason, "unknown-member");
    assert.equal(error.problem.detail, "Option 'options.lamda' is not an option.");
    assert.match(error.message, /^HTTP 400 Bad request: Option .* \(field="options.lamda", .*reason="unknown-member"\)$/);
  });

  it("maps each documented status to its class", async () => {
    const cases: [number, Record<string, unknown>, new (...a: never[]) => MemRLError][] = [
      [401, {}, Unauthorized], [403, {}, Forbidden], [404, {}, NotFound], [405, {}, MethodNotAllowed], [409, {}, Conflict],
      [409, { reason: "reward-conflict", expected: "1" }, RewardConflict], [413, {}, PayloadTooLarge],
      [415, {}, UnsupportedMediaType], [431, {}, HeadersTooLarge], [503, {}, Unavailable], [500, {}, ServerError],
    ];
    let i = 0;
    const { client } = await serve(() => {
      const [status, members] = cases[i++]!;
      return problem(status, members);
    }, { retry: { maxAttempts: 1 } });
    for (const [status, members, Kind] of cases) {
      const error = await client.banks.get("b").catch((e: unknown) => e);
      assert.ok(error instanceof Kind, `${status} ${JSON.stringify(members)} gave ${(error as Error).name}`);
      assert.equal((error as MemRLError).status, status);
    }
    assert.ok(!(new Conflict(409) instanceof RewardConflict));
  });

  it("turns a proxy's HTML page into the detail and does not retry a 502", async () => {
    const { client, server } = await serve(() => ({ status: 502, raw: "<html>Bad gateway</html>" }));
    const error = await client.banks.list().catch((e: unknown) => e);
    assert.ok(error instanceof ServerError);
    assert.equal(error.status, 502);
    assert.equal(error.detail, "<html>Bad gateway</html>");
    assert.equal(server.seen.length, 1);
  });

  it("refuses a NaN before sending anything", async () => {
    const { client, server } = await serve(() => ({ status: 200, body: {} }));
    await assert.rejects(client.reward("b", { token: "t", reward: Number.NaN }), RangeError);
    assert.equal(server.seen.length, 0);
  });

  it("needs an API key", () => {
    const saved = process.env.MEMRL_API_KEY;
    delete process.env.MEMRL_API_KEY;
    try {
      assert.throws(() => new MemRL({ url: "http://127.0.0.1:1" }), (e: unknown) => e instanceof MemRLError && /MEMRL_API_KEY/.test(e.message));
    } finally {
      if (saved !== undefined) process.env.MEMRL_API_KEY = saved;
    }
  });
});

describe("requests", () => {
  it("builds each call's method, path, headers and body", async () => {
    const { client, server } = await serve((seen) =>
      seen.method === "DELETE" ? { status: 204 } : seen.url.includes("/memories?") ? { status: 200, body: { memories: [], nextCursor: null } } : { status: 200, body: { banks: [] } });
    await client.recall("a b/c", { queryText: "hello", k2: 3, delta: undefined, filter: { lang: "en" } });
    await client.reward("b", { token: "tok", reward: 1, memoryIds: ["m1"] });
    await client.banks.updateOptions("b", { qFloor: null, alpha: 0.2 });
    assert.equal(await client.memories.delete("b", "m1"), undefined);
    await client.memories.list("b", { limit: 5, cursor: "c/1" });
    assert.deepEqual(await client.banks.list(), []);
    const [recall, reward, patch, del, list, banks] = server.seen;
    assert.equal(recall!.method, "POST");
    assert.equal(recall!.url, "/v1/banks/a%20b%2Fc/recall");
    assert.deepEqual(JSON.parse(recall!.body), { queryText: "hello", k2: 3, filter: { lang: "en" } });
    assert.equal(recall!.headers["idempotency-key"], undefined, "a recall changes nothing and takes no key");
    assert.equal(recall!.headers.authorization, "Bearer k-test");
    assert.equal(recall!.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(reward!.body), { token: "tok", reward: 1, memoryIds: ["m1"] });
    assert.ok(reward!.headers["idempotency-key"]);
    assert.equal(patch!.method, "PATCH");
    assert.deepEqual(JSON.parse(patch!.body), { qFloor: null, alpha: 0.2 });
    assert.equal(del!.method, "DELETE");
    assert.ok(del!.headers["idempotency-key"]);
    assert.equal(list!.url, "/v1/banks/b/memories?limit=5&cursor=c%2F1");
    assert.equal(list!.headers["idempotency-key"], undefined);
    assert.equal(banks!.url, "/v1/banks");
    assert.equal(banks!.headers["content-type"], undefined);
  });

  it("sends an edit as PATCH with only the members given, keyed", async () => {
    const { client, server } = await serve(() => ({ status: 200, body: { id: "m1", experience: "fixed" } }));
    const edited = await client.memories.edit("b", "m1", { experience: "fixed", metadata: undefined });
    assert.equal(edited.experience, "fixed");
    const [edit] = server.seen;
    assert.equal(edit!.method, "PATCH");
    assert.equal(edit!.url, "/v1/banks/b/memories/m1");
    assert.deepEqual(JSON.parse(edit!.body), { experience: "fixed" });
    assert.ok(edit!.headers["idempotency-key"]);
  });

  it("archives and restores with keyed POSTs and no body", async () => {
    const { client, server } = await serve(() => ({ status: 200, body: { id: "m1", archivedAt: "2026-12-03T00:00:00Z" } }));
    const archived = await client.memories.archive("b", "m1", { idempotencyKey: "k-1" });
    assert.equal(archived.archivedAt, "2026-12-03T00:00:00Z");
    await client.memories.restore("b", "m1");
    const [archive, restore] = server.seen;
    assert.deepEqual([archive!.method, archive!.url, restore!.method, restore!.url],
      ["POST", "/v1/banks/b/memories/m1/archive", "POST", "/v1/banks/b/memories/m1/restore"]);
    assert.equal(archive!.headers["idempotency-key"], "k-1");
    assert.ok(restore!.headers["idempotency-key"]);
    assert.equal(archive!.body, "");
  });

  it("runs retention as a keyed POST", async () => {
    const { client, server } = await serve(() => ({ status: 200, body: { purged: 1, archived: 2, more: false, at: "2026-12-03T00:00:00Z" } }));
    const run = await client.banks.runRetention("b", { idempotencyKey: "r-1" });
    assert.equal(run.archived, 2);
    assert.equal(server.seen[0]!.method, "POST");
    assert.equal(server.seen[0]!.url, "/v1/banks/b/retention%3Arun");
    assert.equal(server.seen[0]!.headers["idempotency-key"], "r-1");
  });

  it("sends a write's time to live as ttlSeconds", async () => {
    const { client, server } = await serve(() => ({ status: 201, body: { memoryId: "m1", createdKey: true, q: 0 } }));
    await client.write("b", { intentText: "t", experience: "e", success: true, ttlSeconds: 3600 });
    assert.equal(JSON.parse(server.seen[0]!.body).ttlSeconds, 3600);
  });

  it("lists archived memories with state, never as a filter field", async () => {
    const { client, server } = await serve(() => ({ status: 200, body: { memories: [], nextCursor: null } }));
    await client.memories.list("b", { state: "archived", limit: 2 });
    for await (const _ of client.memories.iterate("b", { state: "all", pageSize: 3 })) { /* empty */ }
    assert.equal(server.seen[0]!.url, "/v1/banks/b/memories?limit=2&state=archived");
    assert.equal(server.seen[1]!.url, "/v1/banks/b/memories?limit=3&state=all");
    assert.throws(() => client.memories.list("b", { filter: { state: "archived" } }), TypeError);
  });

  it("keys calibrate only when it applies", async () => {
    const { client, server } = await serve(() => ({ status: 200, body: {} }));
    await client.banks.calibrate("b", { sample: 100 });
    await client.banks.calibrate("b", { apply: true });
    assert.equal(server.seen[0]!.headers["idempotency-key"], undefined);
    assert.deepEqual(JSON.parse(server.seen[0]!.body), { sample: 100, apply: false });
    assert.ok(server.seen[1]!.headers["idempotency-key"]);
  });

  it("needs a query or queryText, an intent or intentText", async () => {
    const { client, server } = await serve(() => ({ status: 200, body: {} }));
    assert.throws(() => client.recall("b", {}), TypeError);
    assert.throws(() => client.write("b", { experience: "x", success: true }), TypeError);
    assert.equal(server.seen.length, 0);
  });

  it("iterates every memory across pages", async () => {
    const pages: Record<string, unknown> = {
      "": { memories: [{ id: "1" }, { id: "2" }], nextCursor: "p2" },
      p2: { memories: [{ id: "3" }], nextCursor: "p3" },
      p3: { memories: [], nextCursor: null },
    };
    const { client, server } = await serve((seen) => ({ status: 200, body: pages[new URL(seen.url, "http://x").searchParams.get("cursor") ?? ""] }));
    const ids: string[] = [];
    for await (const memory of client.memories.iterate("b", { pageSize: 2 })) {
      ids.push(memory.id);
    }
    assert.deepEqual(ids, ["1", "2", "3"]);
    assert.equal(server.seen.length, 3);
    assert.match(server.seen[0]!.url, /limit=2/);
  });

  it("stops when the server repeats a cursor", async () => {
    const { client } = await serve(() => ({ status: 200, body: { memories: [{ id: "1" }], nextCursor: "same" } }));
    await assert.rejects(async () => {
      for await (const _ of client.memories.iterate("b")) {
        // drain
      }
    }, /same cursor twice/);
  });
});

describe("scopes, metadata and filters", () => {
  it("sends scope and metadata with a write, a filter with a recall, and a set in a query as the parameter repeated", async () => {
    const { client, server } = await serve((seen) =>
      seen.method === "POST" && seen.url.endsWith("/memories") ? { status: 201, body: written }
        : seen.method === "POST" ? { status: 200, body: { token: "t", memories: [] } }
          : seen.method === "DELETE" ? { status: 200, body: { deleted: 3 } }
            : { status: 200, body: { memories: [], nextCursor: null } });
    await client.write("b", { intentText: "t", experience: "e", success: true, scope: { userId: "u" }, metadata: { topic: "x" } });
    await client.recall("b", { queryText: "q", filter: { userId: ["u", "v"], "metadata.topic": "x" } });
    await client.memories.list("b", { limit: 5, filter: { userId: ["u", "v"], "metadata.topic": "x" } });
    assert.equal(await client.memories.deleteByScope("b", { userId: "u" }), 3);
    const [w, r, l, d] = server.seen;
    assert.deepEqual([JSON.parse(w!.body).scope, JSON.parse(w!.body).metadata], [{ userId: "u" }, { topic: "x" }]);
    assert.deepEqual(JSON.parse(r!.body).filter, { userId: ["u", "v"], "metadata.topic": "x" });
    assert.equal(l!.url, "/v1/banks/b/memories?userId=u&userId=v&metadata.topic=x&limit=5");
    assert.deepEqual([d!.method, d!.url], ["DELETE", "/v1/banks/b/memories?userId=u"]);
    assert.match(String(d!.headers["idempotency-key"]), /^[0-9a-f-]{36}$/);
    assert.throws(() => client.memories.list("b", { filter: { cursor: "x" } }), TypeError);
  });

  it("retries a delete by scope with the same Idempotency-Key", async () => {
    const { client, server } = await serve((_, n) => (n < 3 ? problem(503, {}) : { status: 200, body: { deleted: 2 } }));
    assert.equal(await client.memories.deleteByScope("b", { userId: "u" }), 2);
    assert.equal(server.seen.length, 3);
    assert.equal(new Set(server.seen.map((s) => s.headers["idempotency-key"])).size, 1);
  });

  it("throws InvalidRequest naming filter.<field> for a bad filter", async () => {
    const { client } = await serve(() => problem(400, { field: "filter.userId", expected: "a string, or an array of strings (set membership)", actual: "the number 7" }));
    const error = await client.recall("b", { queryText: "q", filter: { userId: 7 as unknown as string } }).catch((e: unknown) => e);
    assert.ok(error instanceof InvalidRequest);
    assert.deepEqual([error.field, error.actual], ["filter.userId", "the number 7"]);
  });
});

// Against a real silo: set MEMRL_URL and MEMRL_API_KEY (tests/MemRL.Api.Tests/TypeScriptSdkTests.cs starts a silo
// process and does). Skipped, saying so, when they are not set. Each test makes its own bank and deletes it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, it } from "node:test";
import { AgentLoop, Conflict, InvalidRequest, MemRL, NotFound, RewardConflict, Unauthorized, type Bank, type Filter, type Memory } from "../src/index.js";
import { FakeServer } from "./fake.js";

// sdk/testdata, shared with the Python SDK's tests: MEMRL_TESTDATA when the tests are compiled elsewhere (the .NET
// test does), else next to the source tree (build/tests/ → ../../../testdata).
function paraphrases(): { memory: string; paraphrase: string }[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = process.env.MEMRL_TESTDATA?.trim() || join(here, "..", "..", "..", "testdata");
  const file = join(dir, "paraphrases.json");
  assert.ok(existsSync(file), `${file} is missing: set MEMRL_TESTDATA to sdk/testdata`);
  return (JSON.parse(readFileSync(file, "utf8")) as { pairs: { memory: string; paraphrase: string }[] }).pairs;
}

const URL_ = process.env.MEMRL_URL?.trim() ?? "";
const KEY = process.env.MEMRL_API_KEY?.trim() ?? "";
const skip = URL_ && KEY ? false : "set MEMRL_URL and MEMRL_API_KEY to run against a silo";
if (skip) {
  console.log(`# integration tests skipped: ${skip}`);
}
// delta 0 lets every stored key pass the similarity gate: the hashing embedder gives paraphrases modest similarity.
const OPTIONS = { delta: 0, qInitSuccess: 1 };

const fresh = (prefix = "ts-sdk") => `${prefix}-${randomUUID().slice(0, 10)}`;

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const result: T[] = [];
  for await (const item of items) {
    result.push(item);
  }
  return result;
}

describe("against a silo", { skip }, () => {
  let client: MemRL;
  let bank: string;
  let created: Bank;

  beforeEach(async () => {
    client = new MemRL({ url: URL_, apiKey: KEY, timeoutMs: 30_000 });
    bank = fresh();
    created = await client.banks.create({ name: bank, options: OPTIONS });
  });

  afterEach(async () => {
    await client.banks.delete(bank).catch((error: unknown) => {
      if (!(error instanceof NotFound)) throw error;
    });
  });

  it("creates, gets, lists, patches, reads stats of and deletes a bank", async () => {
    assert.equal(created.name, bank);
    assert.equal(created.options.delta, 0);
    assert.equal((await client.banks.create({ name: bank, options: OPTIONS })).version, created.version, "the same spec again returns the bank");
    await assert.rejects(client.banks.create({ name: bank, shardCount: created.shardCount + 1, options: OPTIONS }), Conflict);
    assert.equal((await client.banks.get(bank)).embedderId, created.embedderId);
    assert.ok((await client.banks.list()).some((b) => b.name === bank));
    const patched = await client.banks.updateOptions(bank, { lambda: 0.25 });
    assert.deepEqual([patched.options.lambda, patched.options.qInitSuccess], [0.25, 1]);
    assert.ok(patched.version > created.version);
    const stats = await client.stats(bank);
    assert.deepEqual([stats.memories, stats.keys], [0, 0]);
    await client.banks.delete(bank);
    const error = await client.banks.get(bank).catch((e: unknown) => e);
    assert.ok(error instanceof NotFound);
    assert.equal(error.field, "bank");
  });

  it("writes, recalls, rewards with the token, and lists the memories", async () => {
    const first = await client.write(bank, { intentText: "I forgot my password", experience: "Sent a reset link.", success: true });
    assert.equal(first.createdKey, true);
    const recall = await client.recall(bank, { queryText: "how do I reset my password" });
    assert.deepEqual(recall.memories.map((m) => m.id), [first.memoryId]);
    assert.equal(recall.coverage.shardsAnswered, recall.coverage.shardsTotal);
    const rewarded = await client.reward(bank, { token: recall.token, reward: 0 });
    assert.equal(rewarded.updated[0]?.id, first.memoryId);
    assert.equal(rewarded.updated[0]?.visits, 1);
    assert.deepEqual((await client.reward(bank, { token: recall.token, reward: 0 })).updated, rewarded.updated, "the same reward again answers the first result");
    const conflict = await client.reward(bank, { token: recall.token, reward: 1 }).catch((e: unknown) => e);
    assert.ok(conflict instanceof RewardConflict);
    assert.equal(conflict.reason, "reward-conflict");
    const memory = await client.memories.get(bank, first.memoryId);
    assert.deepEqual([memory.visits, memory.q], [1, rewarded.updated[0]?.q]);
    const second = await client.write(bank, { intentText: "how do I reset my password", experience: "Asked to retry.", success: false, recallToken: recall.token });
    const ids = (await all(client.memories.iterate(bank, { pageSize: 1 }))).map((m: Memory) => m.id);
    assert.deepEqual(ids.sort(), [first.memoryId, second.memoryId].sort());
    const page = await client.memories.list(bank, { limit: 1 });
    assert.equal(page.memories.length, 1);
    assert.ok(page.nextCursor);
  });

  it("replays a write retried with its key, and refuses the key with another body", async () => {
    const key = randomUUID();
    const request = { intentText: "probe", experience: "probe", success: false };
    const first = await client.write(bank, request, { idempotencyKey: key });
    const again = await client.write(bank, request, { idempotencyKey: key });
    assert.equal(again.memoryId, first.memoryId);
    assert.equal((await client.stats(bank)).memories, 1);
    await assert.rejects(client.write(bank, { ...request, experience: "another body" }, { idempotencyKey: key }), Conflict);
    await client.memories.delete(bank, first.memoryId);
    await assert.rejects(client.memories.get(bank, first.memoryId), NotFound);
  });

  it("applies a write, reward and delete once when their answers are lost and the SDK retries", async () => {
    // Forwards every request to the silo; drops the answers to the next `lose` mutations after the silo applied them.
    let lose = 0;
    const proxy = await FakeServer.start(async (seen) => {
      const headers: Record<string, string> = {};
      for (const name of ["authorization", "content-type", "accept", "idempotency-key"]) {
        const value = seen.headers[name];
        if (typeof value === "string") headers[name] = value;
      }
      const answer = await fetch(URL_ + seen.url, { method: seen.method, headers, ...(seen.body ? { body: seen.body } : {}) });
      const raw = await answer.text();
      if (headers["idempotency-key"] && lose > 0) {
        lose--;
        return "drop";
      }
      return { status: answer.status, raw, headers: { "Content-Type": answer.headers.get("content-type") ?? "application/json" } };
    });
    try {
      const lossy = new MemRL({ url: proxy.url, apiKey: KEY, retry: { backoffBaseMs: 10 } });
      lose = 2;
      const written = await lossy.write(bank, { intentText: "I forgot my password", experience: "Sent a reset link.", success: true });
      assert.equal(lose, 0, "two answers were lost");
      assert.equal(proxy.seen.length, 3);
      assert.equal(new Set(proxy.seen.map((s) => s.headers["idempotency-key"])).size, 1);
      assert.equal((await client.stats(bank)).memories, 1, "three attempts, one memory");

      const recall = await client.recall(bank, { queryText: "I forgot my password" });
      lose = 1;
      const rewarded = await lossy.reward(bank, { token: recall.token, reward: 0 });
      assert.equal(rewarded.updated[0]?.visits, 1);
      assert.equal((await client.memories.get(bank, written.memoryId)).visits, 1);

      lose = 1;
      await lossy.memories.delete(bank, written.memoryId);
      assert.equal((await client.stats(bank)).memories, 0);
    } finally {
      await proxy.close();
    }
  });

  it("names the field of a bad request, extra members included", async () => {
    let error = await client.recall(bank, { queryText: "x", lamda: 0.3 }).catch((e: unknown) => e);
    assert.ok(error instanceof InvalidRequest);
    assert.deepEqual([error.status, error.field, error.reason], [400, "lamda", "unknown-member"]);
    error = await client.banks.updateOptions(bank, { alpha: 7 }).catch((e: unknown) => e);
    assert.ok(error instanceof InvalidRequest);
    assert.deepEqual([error.field, error.actual], ["alpha", "7"]);
    error = await client.reward(bank, { token: "not-a-token", reward: 1 }).catch((e: unknown) => e);
    assert.ok(error instanceof InvalidRequest);
    assert.equal(error.field, "token");
    await assert.rejects(new MemRL({ url: URL_, apiKey: "wrong-key" }).banks.get(bank), Unauthorized);
  });

  it("runs the agent loop, which learns the right tactic", async () => {
    const right = "Send a reset link.";
    const wrong = "Escalate and wait.";
    const loop = new AgentLoop(client, bank);
    const episodes = [];
    for (const task of ["I forgot my password", "reset my password", "my password reset is not working"]) {
      episodes.push(await loop.runEpisode(task, (memories) => {
        const best = memories[0];
        const tactic = best?.success ? best.experience : best?.experience === wrong ? right : wrong;
        return { experience: tactic, success: tactic === right };
      }));
    }
    assert.deepEqual(episodes.map((e) => e.outcome.experience), [wrong, right, right]);
    assert.equal(episodes[0]?.rewarded, undefined);
    assert.equal((await client.stats(bank)).memories, 3);
  });
});

describe("scopes, metadata and filters against a silo", { skip }, () => {
  let client: MemRL;
  let bank: string;
  let ana: string[];
  let bob: string[];

  beforeEach(async () => {
    client = new MemRL({ url: URL_, apiKey: KEY, timeoutMs: 30_000 });
    bank = fresh("ts-scope");
    await client.banks.create({ name: bank, options: OPTIONS });
    ana = [];
    for (const [i, topic] of ["billing", "login", "login"].entries()) {
      ana.push((await client.write(bank, {
        intentText: `reset my password ${i}`, experience: `ana ${i}`, success: true,
        scope: { userId: "ana", agentId: "support" }, metadata: { topic, n: String(i) },
      })).memoryId);
    }
    bob = [];
    for (const i of [0, 1]) {
      bob.push((await client.write(bank, {
        intentText: `reset my password ${i}`, experience: `bob ${i}`, success: true, scope: { userId: "bob" }, metadata: { topic: "billing" },
      })).memoryId);
    }
  });

  afterEach(async () => {
    await client.banks.delete(bank).catch((error: unknown) => {
      if (!(error instanceof NotFound)) throw error;
    });
  });

  const recalled = async (filter?: Filter) =>
    (await client.recall(bank, { queryText: "reset my password", k1: 10, k2: 10, ...(filter ? { filter } : {}) })).memories.map((m) => m.id).sort();
  const sorted = (ids: string[]) => [...ids].sort();

  it("a filtered recall returns only that user's memories, with their scope and metadata", async () => {
    assert.deepEqual(await recalled(), sorted([...ana, ...bob]), "without a filter both users' memories are found");
    assert.deepEqual(await recalled({ userId: "ana" }), sorted(ana));
    assert.deepEqual(await recalled({ userId: "bob" }), sorted(bob));
    assert.deepEqual(await recalled({ userId: ["ana", "bob"] }), sorted([...ana, ...bob]), "an array is a set");
    assert.deepEqual(await recalled({ userId: "carol" }), []);
    const first = (await client.recall(bank, { queryText: "reset my password 1", filter: { userId: "ana" } })).memories[0]!;
    assert.equal(first.scope?.userId, "ana");
    assert.equal(first.scope?.agentId, "support");
    assert.equal(first.metadata?.["topic"], ["billing", "login", "login"][ana.indexOf(first.id)]);
  });

  it("metadata set membership, ANDed across fields", async () => {
    assert.deepEqual(await recalled({ "metadata.topic": "login" }), sorted(ana.slice(1)));
    assert.deepEqual(await recalled({ "metadata.topic": ["login", "billing"] }), sorted([...ana, ...bob]));
    assert.deepEqual(await recalled({ userId: "bob", "metadata.topic": "billing" }), sorted(bob));
    assert.deepEqual(await recalled({ userId: "bob", "metadata.topic": "login" }), [], "AND, not OR");
    assert.deepEqual(await recalled({ agentId: "support", "metadata.n": ["0", "2"] }), sorted([ana[0]!, ana[2]!]));
  });

  it("lists by filter, following cursors with the filter", async () => {
    const ids = (await all(client.memories.iterate(bank, { pageSize: 1, filter: { userId: "ana" } }))).map((m) => m.id);
    assert.deepEqual(ids.sort(), sorted(ana));
    const page = await client.memories.list(bank, { filter: { userId: ["bob"], "metadata.topic": "billing" } });
    assert.deepEqual(page.memories.map((m) => m.id).sort(), sorted(bob));
    assert.deepEqual(page.memories[0]?.metadata, { topic: "billing" });
    assert.equal(page.memories[0]?.scope?.userId, "bob");
    assert.deepEqual((await client.memories.list(bank, { filter: { userId: "bob", "metadata.topic": "login" } })).memories, []);
  });

  it("deletes by scope with a count, and a retry under the same key answers the same count", async () => {
    const idempotencyKey = randomUUID();
    assert.equal(await client.memories.deleteByScope(bank, { userId: "ana" }, { idempotencyKey }), 3);
    assert.equal(await client.memories.deleteByScope(bank, { userId: "ana" }, { idempotencyKey }), 3, "the retry replays the first answer");
    assert.equal(await client.memories.deleteByScope(bank, { userId: "ana" }), 0, "a new key deletes again");
    assert.deepEqual((await all(client.memories.iterate(bank))).map((m) => m.id).sort(), sorted(bob));
    await assert.rejects(client.memories.deleteByScope(bank, { userId: "bob" }, { idempotencyKey }), Conflict);
    assert.equal((await client.stats(bank)).memories, 2, "a conflicting key changed nothing");
  });

  it("refuses a bad filter naming filter.<field>, and a delete without a scope field, changing nothing", async () => {
    const cases: [unknown, string][] = [
      [{ userId: 7 }, "filter.userId"],
      [{ userId: ["ana", 7] }, "filter.userId"],
      [{ userId: null }, "filter.userId"],
      [{ userId: [] }, "filter.userId"],
      [{ colour: "red" }, "filter.colour"],
    ];
    for (const [filter, field] of cases) {
      const error = await client.recall(bank, { queryText: "reset my password", filter: filter as Filter }).catch((e: unknown) => e);
      assert.ok(error instanceof InvalidRequest, `${JSON.stringify(filter)}: ${String(error)}`);
      assert.deepEqual([error.status, error.field], [400, field]);
      assert.ok(error.expected && error.actual, "the problem says what was expected and what was sent");
    }
    const listed = await client.memories.list(bank, { filter: { colour: "red" } }).catch((e: unknown) => e);
    assert.ok(listed instanceof InvalidRequest);
    assert.equal(listed.field, "colour", "in a query string the field is the parameter");
    await assert.rejects(client.memories.deleteByScope(bank, { "metadata.topic": "billing" }), InvalidRequest);
    await assert.rejects(client.memories.deleteByScope(bank, {}), InvalidRequest);
    assert.equal((await client.stats(bank)).memories, 5, "refused deletes erased nothing");
  });

  it("the agent loop with a scope recalls only its own memories and writes with its scope and metadata", async () => {
    const carol = new AgentLoop(client, bank, { scope: { userId: "carol" }, metadata: { channel: "chat" }, recall: { k1: 10, k2: 10 } });
    const first = await carol.runEpisode("reset my password", () => ({ experience: "carol's tactic", success: true }));
    assert.deepEqual(first.memories, [], "ana's and bob's memories are not carol's");
    const second = await carol.runEpisode("reset my password", (m) => ({ experience: m[0]!.experience, success: true }));
    assert.deepEqual(second.memories.map((m) => m.id), [first.written!.memoryId]);
    const stored = await client.memories.get(bank, first.written!.memoryId);
    assert.deepEqual([stored.scope?.userId, stored.metadata], ["carol", { channel: "chat" }]);
  });
});

describe("text recall with the default embedder against a silo", { skip }, () => {
  it("paraphrases sharing few words with their memory recall it at rank <= 3, on a bank made with no embedder or options", async () => {
    const client = new MemRL({ url: URL_, apiKey: KEY, timeoutMs: 60_000 });
    const bank = fresh("ts-text");
    const created = await client.banks.create({ name: bank });
    try {
      assert.match(created.embedderId, /minilm/i, "the default text embedder is MiniLM");
      const pairs = paraphrases();
      const ids: string[] = [];
      for (const pair of pairs) {
        ids.push((await client.write(bank, { intentText: pair.memory, experience: `how we handled: ${pair.memory}`, success: true })).memoryId);
      }
      const misses: string[] = [];
      for (const [i, pair] of pairs.entries()) {
        const recalled = (await client.recall(bank, { queryText: pair.paraphrase })).memories.map((m) => m.id);
        if (!recalled.slice(0, 3).includes(ids[i]!)) {
          misses.push(pair.paraphrase);
        }
      }
      assert.ok(pairs.length - misses.length >= 8, `${pairs.length - misses.length} of ${pairs.length} at rank <= 3; missed: ${JSON.stringify(misses)}`);
    } finally {
      await client.banks.delete(bank);
    }
  });
});

// Against a real silo: set MEMRL_URL and MEMRL_API_KEY (tests/MemRL.Api.Tests/TypeScriptSdkTests.cs starts a silo
// process and does). Skipped, saying so, when they are not set. Each test makes its own bank and deletes it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, it } from "node:test";
import { AgentLoop, Conflict, InvalidRequest, MemRL, NotFound, RewardConflict, Unauthorized, type Bank, type Memory } from "../src/index.js";
import { FakeServer } from "./fake.js";

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

// The agent loop against a fake server: recall → act → reward → write, with the recall's token.
import assert from "node:assert/strict";
import { afterEach, it } from "node:test";
import { AgentLoop, MemRL } from "../src/index.js";
import { FakeServer } from "./fake.js";

let fake: FakeServer | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const memory = { id: "m1", similarity: 0.9, q: 0.5, zSim: 1, zQ: 0, score: 1, success: true, experience: "sent the link", intentText: "reset" };

async function loopOn(memories: unknown[], write = true) {
  fake = await FakeServer.start((seen) =>
    seen.url.endsWith("/recall") ? { status: 200, body: { token: "tok-1", coverage: { shardsAnswered: 1, shardsTotal: 1 }, poolSize: 1, explored: false, memories } }
      : seen.url.endsWith("/reward") ? { status: 200, body: { updated: [{ id: "m1", q: 0.6, visits: 1 }] } }
        : { status: 201, body: { memoryId: "m2", createdKey: false, q: 0.5 } });
  return { loop: new AgentLoop(new MemRL({ url: fake.url, apiKey: "k" }), "support", { write, recall: { k2: 2 } }), seen: fake.seen };
}

it("recalls by the task, rewards what it recalled and writes the episode with the token", async () => {
  const { loop, seen } = await loopOn([memory]);
  let given: unknown[] = [];
  const episode = await loop.runEpisode("I forgot my password", async (memories) => {
    given = memories;
    return { experience: "sent the reset link", success: false };
  });
  assert.deepEqual(given, [memory]);
  assert.deepEqual(seen.map((s) => s.url), ["/v1/banks/support/recall", "/v1/banks/support/reward", "/v1/banks/support/memories"]);
  assert.deepEqual(JSON.parse(seen[0]!.body), { k2: 2, queryText: "I forgot my password" });
  assert.deepEqual(JSON.parse(seen[1]!.body), { token: "tok-1", reward: 0 });
  assert.deepEqual(JSON.parse(seen[2]!.body), { experience: "sent the reset link", success: false, recallToken: "tok-1", intentText: "I forgot my password" });
  assert.equal(episode.rewarded?.updated[0]?.q, 0.6);
  assert.equal(episode.written?.memoryId, "m2");
});

it("skips the reward when nothing was recalled, and the write when asked", async () => {
  const { loop, seen } = await loopOn([], false);
  const episode = await loop.runEpisode("new task", () => ({ experience: "did it", success: true, reward: 0.7 }), { query: [1, 0] });
  assert.deepEqual(seen.map((s) => s.url), ["/v1/banks/support/recall"]);
  assert.deepEqual(JSON.parse(seen[0]!.body).query, [1, 0]);
  assert.equal(episode.rewarded, undefined);
  assert.equal(episode.written, undefined);
});

it("a scoped loop ANDs its scope into every recall's filter and writes with its scope and metadata", async () => {
  fake = await FakeServer.start((seen) =>
    seen.url.endsWith("/recall") ? { status: 200, body: { token: "tok-1", coverage: { shardsAnswered: 1, shardsTotal: 1 }, poolSize: 0, explored: false, memories: [] } }
      : { status: 201, body: { memoryId: "m2", createdKey: true, q: 0.5 } });
  const client = new MemRL({ url: fake.url, apiKey: "k" });
  const loop = new AgentLoop(client, "support", { scope: { userId: "u" }, metadata: { channel: "chat" }, recall: { filter: { "metadata.topic": "x" } } });
  await loop.runEpisode("reset my password", () => ({ experience: "sent the link", success: true }));
  const [recall, write] = fake.seen.map((s) => JSON.parse(s.body));
  assert.deepEqual(recall.filter, { "metadata.topic": "x", userId: "u" });
  assert.deepEqual([write.scope, write.metadata], [{ userId: "u" }, { channel: "chat" }]);
  assert.throws(() => new AgentLoop(client, "support", { scope: { userId: "u" }, recall: { filter: { userId: "v" } } }), TypeError);
});

// The MemRL step for an agent: recall → act → reward → write, as one call.
//
//   const loop = new AgentLoop(memrl, "support");
//   const episode = await loop.runEpisode("I forgot my password", async (memories) => ({ experience, success }));
//
// `act` gets the recalled memories (best first; empty when nothing passes the bank's similarity gate, and the agent
// then works without memory, as in the paper) and returns what it did and how it went. The loop rewards every
// recalled memory with the outcome's reward (each was in the agent's context, so each shares the credit) and writes
// the episode as a new memory, keyed by the task text and carrying the recall token. Each call retries with its own
// Idempotency-Key, so a retried reward or write applies once.
//
// With `scope` (e.g. `{ userId: "u-7" }`) the loop recalls only that scope's memories (a filter of every field the scope
// sets, ANDed with any filter in `recall`) and writes each episode with that scope and `metadata`, as the .NET
// AgentLoop does: one user's episodes never inform another's.

import type { CallOptions, MemRL } from "./client.js";
import type { Filter, Metadata, Recall, RecallRequest, RecalledMemory, RewardResult, Scope, WriteResult } from "./types.js";

/** What the agent did (`experience`, stored as the memory's text), whether it worked, and the reward (default 1 for
 * a success, 0 for a failure). */
export interface Outcome {
  experience: string;
  success: boolean;
  reward?: number;
}

/** One step: the recall, the outcome, the reward's result (undefined when nothing was recalled) and the write's
 * (undefined when the loop does not write). */
export interface Episode {
  task: string;
  recall: Recall;
  memories: RecalledMemory[];
  outcome: Outcome;
  rewarded: RewardResult | undefined;
  written: WriteResult | undefined;
}

export type Act = (memories: RecalledMemory[], signal?: AbortSignal) => Outcome | Promise<Outcome>;

export interface AgentLoopOptions {
  /** false rewards without storing the episode (e.g. for evaluation); default true. */
  write?: boolean;
  /** Members sent with every recall (`k1`, `k2`, `lambda`, `delta`, …). */
  recall?: Omit<RecallRequest, "query" | "queryText">;
  /** Whose episodes these are: recall is limited to it and every write carries it. */
  scope?: Partial<Scope>;
  /** Stored with every episode the loop writes. */
  metadata?: Metadata;
}

/** The scope's own filter ANDed into `filter`; a field both name with different values is refused, since the loop
 * would then recall outside its scope. */
function scopedFilter(filter: Filter | undefined, scope: Partial<Scope> | undefined): Filter | undefined {
  const own = Object.entries(scope ?? {}).filter(([, v]) => v != null) as [string, string][];
  if (own.length === 0) {
    return filter;
  }
  const result: Filter = { ...filter };
  for (const [field, value] of own) {
    const given = result[field];
    if (given !== undefined && given !== value) {
      throw new TypeError(`recall.filter.${field} is ${JSON.stringify(given)} but the loop's scope says ${JSON.stringify(value)}; leave it out of the filter.`);
    }
    result[field] = value;
  }
  return result;
}

export function rewardOf(outcome: Outcome): number {
  return outcome.reward ?? (outcome.success ? 1 : 0);
}

export class AgentLoop {
  readonly write: boolean;
  readonly recallOptions: Omit<RecallRequest, "query" | "queryText">;
  readonly scope: Partial<Scope> | undefined;
  readonly metadata: Metadata | undefined;

  constructor(readonly client: MemRL, readonly bank: string, options: AgentLoopOptions = {}) {
    this.write = options.write ?? true;
    this.scope = options.scope ? Object.fromEntries(Object.entries(options.scope).filter(([, v]) => v != null)) : undefined;
    this.metadata = options.metadata ? { ...options.metadata } : undefined;
    const filter = scopedFilter(options.recall?.filter as Filter | undefined, this.scope);
    this.recallOptions = { ...options.recall, ...(filter ? { filter } : {}) };
  }

  /** Recalls by `query` (a vector) when given, else by the task text; writes under `intent` (a vector) when given,
   * else the task text. */
  async runEpisode(task: string, act: Act, options: CallOptions & { query?: readonly number[]; intent?: readonly number[] } = {}): Promise<Episode> {
    const call = options.signal ? { signal: options.signal } : {};
    const recall = await this.client.recall(this.bank, {
      ...this.recallOptions, ...(options.query ? { query: options.query } : { queryText: task }),
    }, call);
    const memories = recall.memories ?? [];
    const outcome = await act(memories, options.signal);
    const rewarded = memories.length > 0
      ? await this.client.reward(this.bank, { token: recall.token, reward: rewardOf(outcome) }, call)
      : undefined;
    const written = this.write
      ? await this.client.write(this.bank, {
        experience: outcome.experience, success: outcome.success, recallToken: recall.token,
        ...(this.scope ? { scope: this.scope } : {}), ...(this.metadata ? { metadata: this.metadata } : {}),
        ...(options.intent ? { intent: options.intent } : { intentText: task }),
      }, call)
      : undefined;
    return { task, recall, memories, outcome, rewarded, written };
  }
}

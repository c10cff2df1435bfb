// MemRL.Cluster's TypeScript SDK: a client of the HTTP API on fetch (Node 20+, browsers), no runtime dependencies.
export { MemRL, Banks, Memories, DEFAULT_URL, VERSION } from "./client.js";
export type { MemRLOptions, CallOptions, MutationOptions, ListOptions, MemoryListState } from "./client.js";
export { defaultRetry, parseRetryAfter, retryDelay, type RetryPolicy } from "./http.js";
export * from "./errors.js";
export * from "./types.js";
export { AgentLoop, rewardOf, type Act, type Episode, type Outcome, type AgentLoopOptions } from "./agent.js";

// The API's JSON shapes, from the types generated out of the silo's OpenAPI document (src/generated/openapi.ts, by
// `npm run generate`), so a change to the server's contract changes these types or fails the build.
//
// Responses are the decoded JSON itself: a member a newer server adds is still there at run time. Request types name
// the members the API has and accept any others, passed through as given, so members the API grows can be sent before
// this SDK names them; the server refuses members it does not know (400, reason "unknown-member"), so a typo is never
// dropped silently.

import type { components } from "./generated/openapi.js";

type Schemas = components["schemas"];

// The document says `number | string` for every number because the server also reads numbers written as strings
// (JsonNumberHandling.AllowReadingFromString); it always writes numbers, and this SDK always sends them. Clean<T>
// narrows those members to number. The tuple wrapping stops the conditional distributing over the union.
type Clean<T> = [number] extends [T] ? CleanEach<Exclude<T, string>> : CleanEach<T>;
type CleanEach<T> = T extends readonly (infer E)[] ? Clean<E>[] : T extends object ? { [K in keyof T]: Clean<T[K]> } : T;

/** Members the API grows before this SDK names them; see the note above. */
export interface Extra {
  [member: string]: unknown;
}

export type BankOptions = Clean<Schemas["BankOptions"]>;
/** A bank's retention policy (docs/retention.md), durations in seconds; `null` on a bank without one. */
export type RetentionSettings = Clean<Schemas["RetentionSettings"]>;
export type IndexSettings = Clean<Schemas["IndexSettings"]>;
export type SimilarityNormalization = Schemas["SimilarityNormalizationMode"];
export type Bank = Clean<Schemas["BankView"]>;
export type BankSummary = Clean<Schemas["BankUsageView"]>;
export type Coverage = Clean<Schemas["Coverage"]>;
export type RecalledMemory = Clean<Schemas["RecalledMemory"]>;
export type Recall = Clean<Schemas["RecallView"]>;
export type MemoryQ = Clean<Schemas["MemoryQ"]>;
export type RewardResult = Clean<Schemas["RewardResponse"]>;
export type WriteResult = Clean<Schemas["WriteResponse"]>;
export type Memory = Clean<Schemas["MemoryInfo"]>;
export type MemoryPage = Clean<Schemas["MemoryPage"]>;
export type ShardSize = Clean<Schemas["ShardSize"]>;
export type Distribution = Clean<Schemas["ValueDistribution"]>;
export type BankStats = Clean<Schemas["BankStats"]>;
export type Calibration = Clean<Schemas["CalibrationView"]>;
/** What a retention run did: purged, archived, `more` when it stopped at maxPerRun, `at` its clock. */
export type RetentionRun = Clean<Schemas["RetentionRunResult"]>;
/** Who a memory belongs to (docs/scopes.md): each field optional, 1–128 characters. */
export type Scope = Clean<Schemas["ScopeFields"]>;
/** DELETE /v1/banks/{bank}/memories?…: how many memories went. */
export type Deleted = Clean<Schemas["DeletedView"]>;
/** Free string key–values stored with a memory: at most 16, keys of [A-Za-z0-9_.-] up to 64 characters, values up to
 * 256, 4 KiB in all (the server refuses more, naming `metadata.<key>`). */
export type Metadata = Record<string, string>;
/** A recall's, listing's or delete's filter: fields `userId`, `agentId`, `sessionId`, `runId` or `metadata.<key>`, each
 * a string (equality) or an array of strings (set membership), combined with AND; OR across fields is not supported.
 * (The document types the body's filter as free JSON values, since the server names a wrong type itself.) */
export type Filter = Record<string, string | readonly string[]>;

/** POST /v1/banks. Without `dimension` and `embedderId` the bank is made for the server's text embedder. */
export interface CreateBankRequest extends Extra {
  name: string;
  dimension?: number;
  embedderId?: string;
  shardCount?: number;
  options?: Partial<BankOptions> & Extra;
  index?: Partial<IndexSettings> & Extra;
}

/** POST /v1/banks/{bank}/recall: `query` (a vector) or `queryText`; members left out take the bank's options. */
export interface RecallRequest extends Extra {
  query?: readonly number[];
  queryText?: string;
  embedderId?: string;
  k1?: number;
  k2?: number;
  lambda?: number;
  delta?: number;
  requireFullCoverage?: boolean;
  /** Only memories matching it are candidates (applied before the per-key cap, docs/scopes.md). */
  filter?: Filter;
}

/** POST /v1/banks/{bank}/reward: the recall's token; every memory it returned, or the subset `memoryIds`. */
export interface RewardRequest extends Extra {
  token: string;
  reward: number;
  memoryIds?: readonly string[];
}

/** POST /v1/banks/{bank}/memories: `intent` (a vector) or `intentText`; `recallToken` of the recall it follows. */
export interface WriteRequest extends Extra {
  experience: string;
  success: boolean;
  intent?: readonly number[];
  intentText?: string;
  embedderId?: string;
  recallToken?: string;
  /** Who the memory belongs to. */
  scope?: Partial<Scope>;
  /** Free string key–values stored with the memory. */
  metadata?: Metadata;
  /** How long the memory lives, in seconds (1 to 100 years): the first retention run after that archives it. */
  ttlSeconds?: number;
}

/** An edit of a memory: `experience` replaces its text, `metadata` its whole metadata (`{}` clears it); a member left
 * out is unchanged, and at least one is required. Its id, key, scope, Q and visits stay. */
export interface EditRequest extends Extra {
  experience?: string;
  metadata?: Metadata;
}

// Compile-time checks that the requests above stay within the document's bodies: a member renamed or retyped there
// fails the build here. (Not exported; erased from the JavaScript.)
type Known<T> = { [K in keyof T as string extends K ? never : K]: T[K] };
type Loose<T> = T extends readonly (infer E)[] ? readonly Loose<E>[] : T extends object ? { [K in keyof T]?: Loose<T[K]> } : T;
type Within<A extends B, B> = A;
export type _Checks = [
  Within<Known<CreateBankRequest>, Loose<Clean<Schemas["CreateBankBody"]>>>,
  // The document types the filter as an object without saying what its values are (the server's Dictionary of JSON
  // values), which openapi-typescript reads as Record<string, never>; the filter's own type is Filter above.
  Within<Omit<Known<RecallRequest>, "filter">, Loose<Omit<Clean<Schemas["RecallBody"]>, "filter">>>,
  Within<Known<RewardRequest>, Loose<Clean<Schemas["RewardBody"]>>>,
  Within<Known<WriteRequest>, Loose<Clean<Schemas["WriteBody"]>>>,
  Within<Known<EditRequest>, Loose<Clean<Schemas["EditMemoryBody"]>>>,
];

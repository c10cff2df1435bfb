namespace MemRL.Core.Recall;

/// <summary>A memory as Phase A sees it: compact, no experience text (DESIGN §2).</summary>
/// <param name="Sequence">Bank-wide memory sequence; unique, and increasing with age within a key.</param>
/// <param name="Q">Current utility.</param>
/// <param name="Success">Whether the memory was written from a successful episode.</param>
/// <param name="Visits">Direct rewards applied so far: the n of the UCB bonus (<see cref="MemRLOptions.ExplorationBonus"/>).</param>
public readonly record struct MemoryCandidate(long Sequence, double Q, bool Success, int Visits = 0);

/// <summary>An intent key that matched a query, with the memories it contributes to the pool.</summary>
/// <param name="KeySequence">Bank-wide key creation sequence: the tie-break after similarity.</param>
/// <param name="Similarity">Cosine similarity of the query and the key's intent (the shared kernel's value).</param>
/// <param name="Memories">The key's memories, already capped by <see cref="KeyMemoryCap"/>.</param>
public sealed record KeyCandidate(long KeySequence, float Similarity, IReadOnlyList<MemoryCandidate> Memories);

/// <summary>A key that Phase A kept, without its memories (what a recall token remembers for the write rule).</summary>
public readonly record struct KeyMatch(long KeySequence, float Similarity);

/// <summary>One member of the Phase-B pool, in Phase-A order.</summary>
public readonly record struct PoolEntry(long KeySequence, float Similarity, MemoryCandidate Memory);

/// <summary>A pool member with its Phase-B scores.</summary>
public readonly record struct ScoredMemory(PoolEntry Entry, double ZSim, double ZQ, double Score);

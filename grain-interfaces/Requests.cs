using System.Text.Json.Serialization;
namespace MemRL.GrainInterfaces;

/// <summary>A recall: Phase A over every shard, Phase B over the merged pool.</summary>
/// <param name="Query">Query embedding (raw; the bank normalises it).</param>
/// <param name="K1">Override of the bank's k1, or null.</param>
/// <param name="K2">Override of the bank's k2, or null.</param>
/// <param name="Lambda">Override of the bank's lambda, or null.</param>
/// <param name="Delta">Override of the bank's delta, or null.</param>
/// <param name="RequireFullCoverage">Fail rather than answer from the shards that replied in time.</param>
/// <param name="EmbedderId">When given, must equal the bank's embedder id.</param>
/// <param name="Filter">When given, Phase A sees only the memories that pass every clause (docs/scopes.md).</param>
[GenerateSerializer, Immutable, Alias("memrl.RecallRequest")]
public sealed record RecallRequest(
    [property: Id(0)] float[] Query,
    [property: Id(1)] int? K1 = null,
    [property: Id(2)] int? K2 = null,
    [property: Id(3)] double? Lambda = null,
    [property: Id(4)] double? Delta = null,
    [property: Id(5)] bool RequireFullCoverage = false,
    [property: Id(6)] string? EmbedderId = null,
    [property: Id(7)] FilterClause[]? Filter = null);

/// <summary>How many shards contributed to an answer.</summary>
[GenerateSerializer, Immutable, Alias("memrl.Coverage")]
public sealed record Coverage([property: Id(0)] int ShardsAnswered, [property: Id(1)] int ShardsTotal)
{
    /// <summary>All shards answered.</summary>
    public bool IsFull => ShardsAnswered == ShardsTotal;
}

/// <summary>A recalled memory and the numbers that explain its rank.</summary>
[GenerateSerializer, Immutable, Alias("memrl.RecalledMemory")]
public sealed record RecalledMemory(
    [property: Id(0)] string Id,
    [property: Id(1)] float Similarity,
    [property: Id(2)] double Q,
    [property: Id(3), JsonPropertyName("zSim")] double ZSim,
    [property: Id(4), JsonPropertyName("zQ")] double ZQ,
    [property: Id(5)] double Score,
    [property: Id(6)] bool Success,
    [property: Id(7)] string Experience,
    [property: Id(8)] string IntentText,
    [property: Id(9)] ScopeFields? Scope = null,
    [property: Id(10)] Dictionary<string, string>? Metadata = null);

/// <summary>The answer to a recall. An empty <see cref="Memories"/> list means "run without memory".</summary>
/// <param name="Memories">The k2 (or fewer) memories, best first.</param>
/// <param name="Coverage">Shards answered / total.</param>
/// <param name="Token">Signed recall token: pass it to reward (and to write, for the merge decision).</param>
/// <param name="PoolSize">Size of the Phase-B pool.</param>
/// <param name="Explored">True when epsilon-greedy chose at random.</param>
[GenerateSerializer, Immutable, Alias("memrl.RecallResponse")]
public sealed record RecallResponse(
    [property: Id(0)] IReadOnlyList<RecalledMemory> Memories,
    [property: Id(1)] Coverage Coverage,
    [property: Id(2)] string Token,
    [property: Id(3)] int PoolSize,
    [property: Id(4)] bool Explored);

/// <summary>One reward for a recall, shared by the memories it returned (or the subset named).</summary>
/// <param name="Token">The recall's token.</param>
/// <param name="Reward">The scalar reward, finite.</param>
/// <param name="OperationId">Idempotency key; a retry with the same id returns the original result.</param>
/// <param name="MemoryIds">Subset of the recalled memories to reward; null for all of them.</param>
[GenerateSerializer, Immutable, Alias("memrl.RewardRequest")]
public sealed record RewardRequest(
    [property: Id(0)] string Token,
    [property: Id(1)] double Reward,
    [property: Id(2)] string OperationId,
    [property: Id(3)] IReadOnlyList<string>? MemoryIds = null);

/// <summary>A memory's Q after a reward.</summary>
[GenerateSerializer, Immutable, Alias("memrl.MemoryQ")]
public sealed record MemoryQ([property: Id(0)] string Id, [property: Id(1)] double Q, [property: Id(2)] int Visits);

/// <summary>The answer to a reward.</summary>
[GenerateSerializer, Immutable, Alias("memrl.RewardResponse")]
public sealed record RewardResponse([property: Id(0)] IReadOnlyList<MemoryQ> Updated);

/// <summary>Stores a new experience with Q = qInit(outcome).</summary>
/// <param name="Intent">Intent embedding (raw).</param>
/// <param name="IntentText">Intent text, kept so the bank can be re-embedded.</param>
/// <param name="Experience">Script and trajectory on success, reflection and trajectory on failure.</param>
/// <param name="Success">Episode outcome.</param>
/// <param name="OperationId">Idempotency key.</param>
/// <param name="RecallToken">The episode's recall token: its Phase-A keys decide the merge; null to ask every shard.</param>
/// <param name="EmbedderId">When given, must equal the bank's embedder id.</param>
/// <param name="Scope">Who the memory belongs to; it joins only keys of its own scope unless the bank merges across scopes.</param>
/// <param name="Metadata">Free key–values stored with the memory (limits: docs/scopes.md).</param>
[GenerateSerializer, Immutable, Alias("memrl.WriteRequest")]
public sealed record WriteRequest(
    [property: Id(0)] float[] Intent,
    [property: Id(1)] string IntentText,
    [property: Id(2)] string Experience,
    [property: Id(3)] bool Success,
    [property: Id(4)] string OperationId,
    [property: Id(5)] string? RecallToken = null,
    [property: Id(6)] string? EmbedderId = null,
    [property: Id(7)] ScopeFields? Scope = null,
    [property: Id(8)] Dictionary<string, string>? Metadata = null,
    [property: Id(9)] double? TtlSeconds = null);

/// <summary>The answer to a write.</summary>
[GenerateSerializer, Immutable, Alias("memrl.WriteResponse")]
public sealed record WriteResponse([property: Id(0)] string MemoryId, [property: Id(1)] bool CreatedKey, [property: Id(2)] double Q);

/// <summary>A stored memory. <c>Revision</c> counts its edits, archives and restores (0 for one never changed); <c>ArchivedAt</c> is set while it
/// is archived (out of recall, restorable: docs/retention.md), <c>RestoredAt</c> once it has been restored; <c>ExpiresAt</c>
/// when its time to live ends (the first retention run after it archives the memory).</summary>
[GenerateSerializer, Immutable, Alias("memrl.MemoryInfo")]
public sealed record MemoryInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] string IntentText,
    [property: Id(2)] string Experience,
    [property: Id(3)] bool Success,
    [property: Id(4)] double Q,
    [property: Id(5)] int Visits,
    [property: Id(6)] double? LastReward,
    [property: Id(7)] DateTimeOffset CreatedAt,
    [property: Id(8)] DateTimeOffset UpdatedAt,
    [property: Id(9)] ScopeFields? Scope = null,
    [property: Id(10)] Dictionary<string, string>? Metadata = null,
    [property: Id(11)] int Revision = 0,
    [property: Id(12)] DateTimeOffset? ArchivedAt = null,
    [property: Id(13)] DateTimeOffset? RestoredAt = null,
    [property: Id(14)] DateTimeOffset? ExpiresAt = null);

/// <summary>What a retention run did (docs/retention.md).</summary>
/// <param name="Purged">Archived memories removed for good: their retention period had ended.</param>
/// <param name="Archived">Active memories archived, by the rules and then by the cap.</param>
/// <param name="More">The run stopped at the policy's maxPerRun with work left: run again.</param>
/// <param name="At">The run's clock: every decision was taken at this time.</param>
[GenerateSerializer, Immutable, Alias("memrl.RetentionRunResult")]
public sealed record RetentionRunResult([property: Id(0)] int Purged, [property: Id(1)] int Archived, [property: Id(2)] bool More, [property: Id(3)] DateTimeOffset At);

/// <summary>
/// Counts and distributions of one shard, computed on the shard: its size does not grow with the bank (id 3, the list of
/// every Q, is retired).
/// </summary>
/// <param name="Q">The memories' Q values (linear scale).</param>
/// <param name="Visits">The memories' visit counts (log2 scale).</param>
/// <param name="AgeSeconds">Seconds since each memory was created, by the shard's clock (log2 scale).</param>
[GenerateSerializer, Immutable, Alias("memrl.ShardStats")]
public sealed record ShardStats(
    [property: Id(0)] int Shard,
    [property: Id(1)] int Keys,
    [property: Id(2)] int Memories,
    [property: Id(4)] StatsHistogram Q,
    [property: Id(5)] StatsHistogram Visits,
    [property: Id(6)] StatsHistogram AgeSeconds)
{
    /// <summary>The shard's archived memories; <see cref="Memories"/> and the histograms count active ones.</summary>
    [Id(7)]
    public int ArchivedMemories { get; init; }
}

/// <summary>Bank statistics: keys, memories, per-shard sizes and the Q distribution.</summary>
/// <param name="QMean">Mean Q, exact.</param>
/// <param name="QMin">Smallest Q, exact.</param>
/// <param name="QMax">Largest Q, exact.</param>
/// <param name="QHistogramEdges">Bin edges of <see cref="QHistogram"/> (count + 1 values): the bins of <see cref="QDistribution"/>.</param>
/// <param name="QDistribution">Q: exact count, mean and extremes, estimated quantiles, at most 64 bins.</param>
/// <param name="VisitsDistribution">Visits per memory, on log2 bins.</param>
/// <param name="AgeSecondsDistribution">Seconds since each memory was created, on log2 bins.</param>
[GenerateSerializer, Immutable, Alias("memrl.BankStats")]
public sealed record BankStats(
    [property: Id(0)] int Keys,
    [property: Id(1)] int Memories,
    [property: Id(2)] IReadOnlyList<ShardSize> Shards,
    [property: Id(3)] double QMean,
    [property: Id(4)] double QMin,
    [property: Id(5)] double QMax,
    [property: Id(6)] IReadOnlyList<double> QHistogramEdges,
    [property: Id(7)] IReadOnlyList<int> QHistogram,
    [property: Id(8)] Coverage Coverage,
    [property: Id(9)] ValueDistribution QDistribution,
    [property: Id(10)] ValueDistribution VisitsDistribution,
    [property: Id(11)] ValueDistribution AgeSecondsDistribution)
{
    /// <summary>Archived memories (out of recall, restorable until purged: docs/retention.md); <see cref="Memories"/>, the
    /// key count and the distributions count active memories only.</summary>
    [Id(12)]
    public int ArchivedMemories { get; init; }
}

/// <summary>
/// A distribution summarised from a <see cref="StatsHistogram"/>: count, mean, minimum and maximum are exact; the
/// quantiles are estimates within one bin width of the exact value (docs/http-api.md).
/// </summary>
/// <param name="Edges">Bin edges (<see cref="Counts"/> + 1 values); bin i covers [edges[i], edges[i + 1]).</param>
[GenerateSerializer, Immutable, Alias("memrl.ValueDistribution")]
public sealed record ValueDistribution(
    [property: Id(0)] long Count,
    [property: Id(1)] double Mean,
    [property: Id(2)] double Min,
    [property: Id(3)] double Max,
    [property: Id(4)] double P50,
    [property: Id(5)] double P90,
    [property: Id(6)] double P99,
    [property: Id(7)] IReadOnlyList<double> Edges,
    [property: Id(8)] IReadOnlyList<long> Counts)
{
    /// <summary>The summary of <paramref name="histogram"/>.</summary>
    public static ValueDistribution Of(StatsHistogram histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        return new ValueDistribution(histogram.Count, histogram.Mean, histogram.Min, histogram.Max,
            histogram.Quantile(0.5), histogram.Quantile(0.9), histogram.Quantile(0.99), histogram.Edges(), histogram.Counts);
    }
}

/// <summary>Sizes of one shard.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardSize")]
public sealed record ShardSize([property: Id(0)] int Shard, [property: Id(1)] int Keys, [property: Id(2)] int Memories)
{
    /// <summary>The shard's archived memories (not in <see cref="Memories"/>, which counts active ones).</summary>
    [Id(3)]
    public int ArchivedMemories { get; init; }
}

/// <summary>Which memories a listing walks (docs/retention.md): the active ones (recalled), the archived ones (out of recall,
/// restorable until purged), or both, in one sequence order per shard either way.</summary>
[GenerateSerializer]
public enum MemoryListState
{
    /// <summary>Memories in recall.</summary>
    Active = 0,

    /// <summary>Archived memories (<see cref="MemoryInfo.ArchivedAt"/> set).</summary>
    Archived = 1,

    /// <summary>Active and archived memories.</summary>
    All = 2,
}

/// <summary>
/// A page of a bank's memories: shard by shard, by sequence within a shard. Pass <see cref="NextCursor"/> back for the
/// next page; null means the listing is complete. Memories written during a listing appear if their shard has not been
/// passed yet; a listing that spans a growth of the shard count may miss or repeat memories that moved.
/// </summary>
[GenerateSerializer, Immutable, Alias("memrl.MemoryPage")]
public sealed record MemoryPage([property: Id(0)] IReadOnlyList<MemoryInfo> Memories, [property: Id(1)] string? NextCursor);

/// <summary>One page of a memory's history (docs/history.md), newest first.</summary>
/// <param name="Entries">At most the requested limit.</param>
/// <param name="NextCursor">The ordinal of the last entry, when older entries may follow; null at the end.</param>
[GenerateSerializer, Immutable, Alias("memrl.MemoryHistoryPage")]
public sealed record MemoryHistoryPage([property: Id(0)] IReadOnlyList<MemoryHistoryEntry> Entries, [property: Id(1)] long? NextCursor)
{
    /// <summary>Entries a page may hold (and the most a memory keeps).</summary>
    public const int MaxLimit = 256;

    /// <summary>Entries per page when the caller names none.</summary>
    public const int DefaultLimit = 50;
}

/// <summary>A bank's calibration: the suggested delta and the similarity statistics of a sample of its keys.</summary>
/// <param name="Delta">Top-20 % quantile of pairwise key similarity: the similarity gate the paper uses.</param>
/// <param name="SimilarityMean">Mean pairwise similarity (for fixed z-scoring of similarity).</param>
/// <param name="SimilarityStdDev">Its standard deviation.</param>
/// <param name="SampleSize">Keys sampled.</param>
/// <param name="PairCount">Pairs compared.</param>
/// <param name="Applied">Whether the options now carry these values.</param>
/// <param name="Bank">The bank after the call.</param>
[GenerateSerializer, Immutable, Alias("memrl.BankCalibration")]
public sealed record BankCalibration(
    [property: Id(0)] double Delta,
    [property: Id(1)] double SimilarityMean,
    [property: Id(2)] double SimilarityStdDev,
    [property: Id(3)] int SampleSize,
    [property: Id(4)] long PairCount,
    [property: Id(5)] bool Applied,
    [property: Id(6)] BankInfo Bank);

/// <summary>A bank and what it stores, as the store last committed it.</summary>
/// <param name="Name">The cluster's bank name.</param>
/// <param name="Memories">Memories stored under the bank's shards.</param>
/// <param name="TextBytes">UTF-8 bytes of those memories' experience and intent text.</param>
[GenerateSerializer, Immutable, Alias("memrl.BankUsage")]
public sealed record BankUsage([property: Id(0)] string Name, [property: Id(1)] long Memories, [property: Id(2)] long TextBytes);

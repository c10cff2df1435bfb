using System.Text.Json.Serialization;

namespace MemRL.GrainInterfaces;

// What the operator console reads: a recall explained candidate by candidate, and a bank's shards, recent rewards and
// extreme memories. Reads only; none of them signs a recall token, so nothing they return can be rewarded.

/// <summary>One member of the Phase-B pool and why it was or was not returned.</summary>
/// <param name="Rank">1-based position among the returned memories; null when not returned.</param>
/// <param name="Verdict"><c>returned</c>, <c>outscored</c> (score below the last returned one) or <c>below-qmin</c>.</param>
/// <param name="Reason">The verdict in one sentence, with the numbers that decided it.</param>
[GenerateSerializer, Immutable, Alias("memrl.ExplainedCandidate")]
public sealed record ExplainedCandidate(
    [property: Id(0)] string Id,
    [property: Id(1)] float Similarity,
    [property: Id(2)] double Q,
    [property: Id(3), JsonPropertyName("zSim")] double ZSim,
    [property: Id(4), JsonPropertyName("zQ")] double ZQ,
    [property: Id(5)] double Score,
    [property: Id(6)] bool Success,
    [property: Id(7)] int? Rank,
    [property: Id(8)] string Verdict,
    [property: Id(9)] string Reason,
    [property: Id(10)] string IntentText,
    [property: Id(11)] string Experience);

/// <summary>
/// A recall explained: the parameters it ran with, the pool statistics Phase B z-scored with, and every pool member in
/// Phase-A order. It shows the exploiting choice: with probability <see cref="Epsilon"/> a real recall returns a random
/// sample of the pool instead.
/// </summary>
[GenerateSerializer, Immutable, Alias("memrl.RecallExplanation")]
public sealed record RecallExplanation(
    [property: Id(0)] IReadOnlyList<ExplainedCandidate> Pool,
    [property: Id(1)] Coverage Coverage,
    [property: Id(2)] int K1,
    [property: Id(3)] int K2,
    [property: Id(4)] double Lambda,
    [property: Id(5)] double Delta,
    [property: Id(6)] double? QMin,
    [property: Id(7)] double Epsilon,
    [property: Id(8)] int KeysMatched,
    [property: Id(9)] double SimilarityMean,
    [property: Id(10)] double SimilarityStdDev,
    [property: Id(11)] double QMean,
    [property: Id(12)] double QStdDev,
    [property: Id(13)] string SimilarityNormalization);

/// <summary>Service time of a shard's recent Phase-A searches, measured inside the shard.</summary>
/// <param name="Count">Searches the figures are over (the most recent, at most 256).</param>
[GenerateSerializer, Immutable, Alias("memrl.LatencySummary")]
public sealed record LatencySummary(
    [property: Id(0)] int Count, [property: Id(1)] double P50Ms, [property: Id(2)] double P90Ms, [property: Id(3)] double MaxMs);

/// <summary>Rewards applied in one time bucket: one per rewarded memory.</summary>
/// <param name="Start">Bucket start (UTC); buckets are <see cref="BankInsight.BucketSeconds"/> wide.</param>
/// <param name="Successes">Rewards above zero.</param>
/// <param name="Sum">Sum of the rewards (their mean is Sum / Count).</param>
[GenerateSerializer, Immutable, Alias("memrl.RewardBucket")]
public sealed record RewardBucket(
    [property: Id(0)] DateTimeOffset Start, [property: Id(1)] int Count, [property: Id(2)] int Successes, [property: Id(3)] double Sum);

/// <summary>A memory in a best-or-worst list: its numbers and intent, not its experience.</summary>
[GenerateSerializer, Immutable, Alias("memrl.MemoryBrief")]
public sealed record MemoryBrief(
    [property: Id(0)] string Id,
    [property: Id(1)] double Q,
    [property: Id(2)] int Visits,
    [property: Id(3)] bool Success,
    [property: Id(4)] double? LastReward,
    [property: Id(5)] string IntentText);

/// <summary>One shard as the console shows it.</summary>
/// <param name="Silo">The silo hosting the activation that answered.</param>
/// <param name="ActiveSince">When that activation started (it loaded the shard from storage then).</param>
/// <param name="SuccessMemories">Memories written from successful episodes.</param>
/// <param name="Rewards">Its reward buckets, oldest first (in memory: an activation starts with none).</param>
[GenerateSerializer, Immutable, Alias("memrl.ShardInsight")]
public sealed record ShardInsight(
    [property: Id(0)] int Shard,
    [property: Id(1)] string Silo,
    [property: Id(2)] DateTimeOffset ActiveSince,
    [property: Id(3)] int Keys,
    [property: Id(4)] int Memories,
    [property: Id(5)] int SuccessMemories,
    [property: Id(6)] LatencySummary Search,
    [property: Id(7)] IReadOnlyList<RewardBucket> Rewards,
    [property: Id(8)] IReadOnlyList<MemoryBrief> Best,
    [property: Id(9)] IReadOnlyList<MemoryBrief> Worst);

/// <summary>A bank as the console shows it: its shards, the merged reward timeline and the extreme memories.</summary>
/// <param name="Shards">The shards that answered, by index; <see cref="Coverage"/> says how many did not.</param>
/// <param name="Rewards">Every answering shard's buckets merged by start, oldest first.</param>
/// <param name="Best">The memories with the highest Q (ties: older first).</param>
/// <param name="Worst">The memories with the lowest Q (ties: older first).</param>
[GenerateSerializer, Immutable, Alias("memrl.BankInsight")]
public sealed record BankInsight(
    [property: Id(0)] IReadOnlyList<ShardInsight> Shards,
    [property: Id(1)] Coverage Coverage,
    [property: Id(2)] int BucketSeconds,
    [property: Id(3)] IReadOnlyList<RewardBucket> Rewards,
    [property: Id(4)] IReadOnlyList<MemoryBrief> Best,
    [property: Id(5)] IReadOnlyList<MemoryBrief> Worst,
    [property: Id(6)] DateTimeOffset AsOf);

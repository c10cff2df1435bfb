using MemRL.Core;
using MemRL.Errors;

namespace MemRL.GrainInterfaces;

/// <summary>How zsim is computed (mirrors MemRL.Core's SimilarityNormalization).</summary>
public enum SimilarityNormalizationMode
{
    /// <summary>z-score over the candidate pool (the paper's text).</summary>
    Pool = 0,

    /// <summary>(sim − SimilarityMean) / SimilarityStdDev with bank constants (the authors' code).</summary>
    Fixed = 1,
}

/// <summary>
/// A bank's MemRL options on the wire. Meanings and ranges are those of MemRL.Core's <see cref="MemRLOptions"/>, and so
/// are the defaults: each is read from <see cref="MemRLOptions.Default"/>, so the two cannot drift (paper Table 8:
/// alpha 0.3, lambda 0.5, k1 5, k2 3, delta 0.5, qInit 0/0, mergeThreshold 0.90). The silo validates.
/// </summary>
/// <remarks>The ids and the alias are the wire contract: never renumber them. <see cref="BankOptionsMapping"/> is the
/// one conversion to and from the core options.</remarks>
[GenerateSerializer, Immutable, Alias("memrl.BankOptions")]
public sealed record BankOptions
{
    [Id(0)] public double Alpha { get; init; } = MemRLOptions.Default.Alpha;
    [Id(1)] public double Lambda { get; init; } = MemRLOptions.Default.Lambda;
    [Id(2)] public int K1 { get; init; } = MemRLOptions.Default.K1;
    [Id(3)] public int K2 { get; init; } = MemRLOptions.Default.K2;
    [Id(4)] public double Delta { get; init; } = MemRLOptions.Default.Delta;
    [Id(5)] public double QInitSuccess { get; init; } = MemRLOptions.Default.QInitSuccess;
    [Id(6)] public double QInitFailure { get; init; } = MemRLOptions.Default.QInitFailure;
    [Id(7)] public double? QFloor { get; init; } = MemRLOptions.Default.QFloor;
    [Id(8)] public double? QMin { get; init; } = MemRLOptions.Default.QMin;
    [Id(9)] public double Epsilon { get; init; } = MemRLOptions.Default.Epsilon;
    [Id(10)] public double MergeThreshold { get; init; } = MemRLOptions.Default.MergeThreshold;
    [Id(11)] public int MaxMemoriesPerKey { get; init; } = MemRLOptions.Default.MaxMemoriesPerKey;
    [Id(12)] public SimilarityNormalizationMode SimilarityNormalization { get; init; } = (SimilarityNormalizationMode)MemRLOptions.Default.SimilarityNormalization;
    [Id(13)] public double SimilarityMean { get; init; } = MemRLOptions.Default.SimilarityMean;
    [Id(14)] public double SimilarityStdDev { get; init; } = MemRLOptions.Default.SimilarityStdDev;
    [Id(15)] public bool MergeAcrossScopes { get; init; } = MemRLOptions.Default.MergeAcrossScopes;
}

/// <summary>How each shard indexes its intent keys.</summary>
/// <param name="M">HNSW links per node (layer 0 holds 2·M). Default 16.</param>
/// <param name="EfConstruction">HNSW build beam. Default 200.</param>
/// <param name="EfSearch">HNSW search beam; at least k1. Default 64.</param>
/// <param name="Exact">Brute-force search always (exact answers; the equivalence tests use it). Default false.</param>
[GenerateSerializer, Immutable, Alias("memrl.IndexSettings")]
public sealed record IndexSettings(
    [property: Id(0)] int M = 16,
    [property: Id(1)] int EfConstruction = 200,
    [property: Id(2)] int EfSearch = 64,
    [property: Id(3)] bool Exact = false);

/// <summary>What a caller asks for when creating a bank.</summary>
/// <param name="Dimension">Embedding dimension of every intent, 1..8192.</param>
/// <param name="EmbedderId">Names the embedding model (model, version, dimension); calls naming another are refused.</param>
/// <param name="Options">MemRL options; null for the defaults.</param>
/// <param name="ShardCount">Number of memory shards, 1..<see cref="BankLimits.MaxShards"/>. Default 2.</param>
/// <param name="Index">Index settings; null for the defaults.</param>
[GenerateSerializer, Immutable, Alias("memrl.BankSpec")]
public sealed record BankSpec(
    [property: Id(0)] int Dimension,
    [property: Id(1)] string EmbedderId,
    [property: Id(2)] BankOptions? Options = null,
    [property: Id(3)] int ShardCount = 2,
    [property: Id(4)] IndexSettings? Index = null);

/// <summary>A bank's durable description. <see cref="Version"/> changes whenever options or the slot map change.</summary>
[GenerateSerializer, Immutable, Alias("memrl.BankInfo")]
public sealed record BankInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] int Dimension,
    [property: Id(2)] string EmbedderId,
    [property: Id(3)] BankOptions Options,
    [property: Id(4)] IndexSettings Index,
    [property: Id(5)] int ShardCount,
    [property: Id(6)] uint Incarnation,
    [property: Id(7)] long Version,
    [property: Id(8)] IReadOnlyList<int> SlotMap,
    [property: Id(9)] DateTimeOffset CreatedAt,
    [property: Id(10)] IReadOnlyList<int>? MovingSlots = null)
{
    /// <summary>The shard that owns <paramref name="slot"/>.</summary>
    public int ShardOf(int slot) => SlotMap[slot];

    /// <summary>Whether <paramref name="slot"/> is being moved to another shard (its memories are read-only meanwhile).</summary>
    public bool IsMoving(int slot) => MovingSlots is { Count: > 0 } moving && moving.Contains(slot);
}

/// <summary>Fixed limits of the cluster's wire contract.</summary>
public static class BankLimits
{
    /// <summary>Virtual slots per bank: memory ids name a slot, slots map to shards (DESIGN §2).</summary>
    public const int VirtualSlots = 256;

    /// <summary>Most shards a bank may have.</summary>
    public const int MaxShards = 64;

    /// <summary>Largest embedding dimension.</summary>
    public const int MaxDimension = 8192;

    /// <summary>Longest experience text, in characters.</summary>
    public const int MaxExperienceLength = 1 << 20;

    /// <summary>Longest intent text, in characters.</summary>
    public const int MaxIntentTextLength = 1 << 16;

    /// <summary>Longest bank name.</summary>
    public const int MaxBankNameLength = 128;

    /// <summary>Longest operation id.</summary>
    public const int MaxOperationIdLength = 200;

    /// <summary>Most intent keys one calibration samples (pairs grow quadratically: 2000 keys are 1,999,000 pairs).</summary>
    public const int MaxCalibrationSample = 2000;

    /// <summary>Fewest intent keys one calibration samples (one pair).</summary>
    public const int MinCalibrationSample = 2;

    /// <summary>The sample size of a calibration that does not name one.</summary>
    public const int DefaultCalibrationSample = 1000;

    /// <summary>
    /// Throws unless <paramref name="sample"/> is in [<see cref="MinCalibrationSample"/>, <see cref="MaxCalibrationSample"/>].
    /// The coordinator is the one place that enforces it; the .NET client and the HTTP API pass the value through.
    /// </summary>
    public static void ValidateCalibrationSample(int sample)
    {
        if (sample is < MinCalibrationSample or > MaxCalibrationSample)
        {
            throw FieldError.OutOfRange(nameof(sample), $"an integer in [{MinCalibrationSample}, {MaxCalibrationSample}]", FieldError.Format(sample));
        }
    }

    /// <summary>Most memories one listing page returns.</summary>
    public const int MaxPageSize = 1000;
}

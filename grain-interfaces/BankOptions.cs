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
/// alpha 0.3, lambda 0.5, k1 5, k2 3, delta 0.5, mergeThreshold 0.90; rewards in [rewardMin, rewardMax] = [−1, 1], null for
/// an unbounded side as banks stored before reward ranges keep; qInit the range's midpoint unless given). The silo validates.
/// </summary>
/// <remarks>The ids and the alias are the wire contract: never renumber them. <see cref="BankOptionsMapping"/> is the
/// one conversion to and from the core options. qInit left unset reads as the reward range's midpoint, so a bank made with
/// <c>new BankOptions { RewardMin = 0, RewardMax = 1 }</c> starts memories at 0.5; the wire and storage carry the number
/// (ids 5 and 6 keep their type), and equality compares what the options mean, as MemRL.Core's does. Orleans serialises
/// it through <see cref="BankOptionsSurrogate"/>, whose ids are these (a computed default cannot sit behind a generated
/// serializer, which needs auto-properties).</remarks>
[Immutable, Alias("memrl.BankOptions")]
public sealed record BankOptions
{
    private readonly double? _qInitSuccess;
    private readonly double? _qInitFailure;

    public double Alpha { get; init; } = MemRLOptions.Default.Alpha;
    public double Lambda { get; init; } = MemRLOptions.Default.Lambda;
    public int K1 { get; init; } = MemRLOptions.Default.K1;
    public int K2 { get; init; } = MemRLOptions.Default.K2;
    public double Delta { get; init; } = MemRLOptions.Default.Delta;
    public double QInitSuccess { get => _qInitSuccess ?? Core().RewardMidpoint(); init => _qInitSuccess = value; }
    public double QInitFailure { get => _qInitFailure ?? Core().RewardMidpoint(); init => _qInitFailure = value; }
    public double? QFloor { get; init; } = MemRLOptions.Default.QFloor;
    public double? QMin { get; init; } = MemRLOptions.Default.QMin;
    public double Epsilon { get; init; } = MemRLOptions.Default.Epsilon;
    public double MergeThreshold { get; init; } = MemRLOptions.Default.MergeThreshold;
    public int MaxMemoriesPerKey { get; init; } = MemRLOptions.Default.MaxMemoriesPerKey;
    public SimilarityNormalizationMode SimilarityNormalization { get; init; } = (SimilarityNormalizationMode)MemRLOptions.Default.SimilarityNormalization;
    public double SimilarityMean { get; init; } = MemRLOptions.Default.SimilarityMean;
    public double SimilarityStdDev { get; init; } = MemRLOptions.Default.SimilarityStdDev;

    /// <summary>Lowest reward accepted; null: unbounded below (banks stored before reward ranges). Default −1.</summary>
    public double? RewardMin { get; init; } = MemRLOptions.Default.RewardMin;

    /// <summary>Highest reward accepted; null: unbounded above (banks stored before reward ranges). Default 1.</summary>
    public double? RewardMax { get; init; } = MemRLOptions.Default.RewardMax;

    /// <summary>Whether a new memory may join a key of another scope (docs/scopes.md). Default false.</summary>
    public bool MergeAcrossScopes { get; init; } = MemRLOptions.Default.MergeAcrossScopes;

    /// <summary>The bank's retention policy (docs/retention.md); null: none (never archives on its own, archived
    /// memories restorable for 30 days).</summary>
    public RetentionSettings? Retention { get; init; }

    /// <summary>Equal when every option means the same (qInit compared by value, set or defaulted) and the retention
    /// policies are equal.</summary>
    public bool Equals(BankOptions? other) => other is not null && this.ToCore() == other.ToCore() && Retention == other.Retention;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(this.ToCore(), Retention);

    // The core options' midpoint is the one definition of the default qInit.
    private MemRLOptions Core() => new() { RewardMin = RewardMin, RewardMax = RewardMax };
}

/// <summary>The wire form of <see cref="BankOptions"/>: the same ids and types as the record carried before its qInit
/// became computed (ids 0–14), plus the reward range (15, 16), cross-scope merging (17) and the retention policy (18).
/// qInit travels as the number it resolved to.</summary>
[GenerateSerializer, Immutable]
public readonly record struct BankOptionsSurrogate(
    [property: Id(0)] double Alpha,
    [property: Id(1)] double Lambda,
    [property: Id(2)] int K1,
    [property: Id(3)] int K2,
    [property: Id(4)] double Delta,
    [property: Id(5)] double QInitSuccess,
    [property: Id(6)] double QInitFailure,
    [property: Id(7)] double? QFloor,
    [property: Id(8)] double? QMin,
    [property: Id(9)] double Epsilon,
    [property: Id(10)] double MergeThreshold,
    [property: Id(11)] int MaxMemoriesPerKey,
    [property: Id(12)] SimilarityNormalizationMode SimilarityNormalization,
    [property: Id(13)] double SimilarityMean,
    [property: Id(14)] double SimilarityStdDev,
    [property: Id(15)] double? RewardMin,
    [property: Id(16)] double? RewardMax,
    [property: Id(17)] bool MergeAcrossScopes,
    [property: Id(18)] RetentionSettings? Retention);

/// <summary>Converts <see cref="BankOptions"/> to and from its wire form.</summary>
[RegisterConverter]
public sealed class BankOptionsConverter : IConverter<BankOptions, BankOptionsSurrogate>
{
    /// <inheritdoc/>
    public BankOptions ConvertFromSurrogate(in BankOptionsSurrogate s) => new()
    {
        Alpha = s.Alpha, Lambda = s.Lambda, K1 = s.K1, K2 = s.K2, Delta = s.Delta, QInitSuccess = s.QInitSuccess, QInitFailure = s.QInitFailure,
        QFloor = s.QFloor, QMin = s.QMin, Epsilon = s.Epsilon, MergeThreshold = s.MergeThreshold, MaxMemoriesPerKey = s.MaxMemoriesPerKey,
        SimilarityNormalization = s.SimilarityNormalization, SimilarityMean = s.SimilarityMean, SimilarityStdDev = s.SimilarityStdDev,
        RewardMin = s.RewardMin, RewardMax = s.RewardMax, MergeAcrossScopes = s.MergeAcrossScopes, Retention = s.Retention,
    };

    /// <inheritdoc/>
    public BankOptionsSurrogate ConvertToSurrogate(in BankOptions o) => new(o.Alpha, o.Lambda, o.K1, o.K2, o.Delta, o.QInitSuccess, o.QInitFailure,
        o.QFloor, o.QMin, o.Epsilon, o.MergeThreshold, o.MaxMemoriesPerKey, o.SimilarityNormalization, o.SimilarityMean, o.SimilarityStdDev,
        o.RewardMin, o.RewardMax, o.MergeAcrossScopes, o.Retention);
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

    /// <summary>
    /// Whether the bank is frozen for an export's cut (docs/export-format.md): every slot frozen. A slot move never
    /// freezes every slot (slot 0 maps to shard 0 at every shard count, so it never moves), which is what tells the two
    /// freezes apart without a new field in the bank row.
    /// </summary>
    public bool IsExportFreeze => MovingSlots is { Count: BankLimits.VirtualSlots };
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

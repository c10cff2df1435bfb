using System.Text.Json;
using System.Text.Json.Serialization;
using MemRL.GrainInterfaces;

namespace MemRL.Grains.Storage;

/// <summary>
/// What a deleted bank leaves in its row: the last version (a bank created again under the name continues past it),
/// the shard count and incarnation its shards need to forget, and whether their rows are purged yet.
/// </summary>
internal sealed record BankTombstone(long Version, int ShardCount, uint Incarnation, bool Purged);

/// <summary>
/// A bank that an import is filling (docs/export-format.md): hidden from everyone but the importer holding
/// <paramref name="Id"/>, until the import completes, or deleted once <paramref name="Until"/> passes without a renewal
/// (the importer died).
/// </summary>
internal sealed record BankImport(string Id, DateTimeOffset Until);

/// <summary>
/// A decoded bank row: a live bank's description, or the tombstone of a deleted one (exactly one is set); a live bank's
/// <paramref name="Import"/> is set while an import fills it.
/// </summary>
internal readonly record struct BankRow(BankInfo? Bank, BankTombstone? Tombstone, BankImport? Import = null)
{
    public void Deconstruct(out BankInfo? bank, out BankTombstone? tombstone) => (bank, tombstone) = (Bank, Tombstone);
}

/// <summary>
/// The description column of a bank row (<see cref="StoredBank.Description"/>), owned by storage: its own documents
/// with explicit JSON names and a <c>format</c> number, so a wire record can be renamed or reshaped without changing
/// what stored banks say, and a stored bank never depends on how the wire record happens to serialise.
/// Writes format 3, format 4 while an import fills the bank, or format 5 when the bank has a retention policy (with or
/// without an import). Reads formats 5, 4, 3, 2 and 1. Format 5 is format 4 plus the options' <c>retention</c> (the
/// policy, durations in seconds): a silo that reads only format 4 would ignore it and never forget, or purge on another
/// schedule, so the number changes and such a silo refuses the row; a bank whose policy is removed is written in format
/// 3 or 4 again. Format 4 is format 3 plus
/// the bank's <c>import</c> (id, lease end): a silo that reads only format 3 would ignore it and serve a half-imported
/// bank, so the number changes and such a silo refuses the row; a bank whose import completed is written in format 3
/// again, so a finished import leaves nothing an older silo cannot read. Format 3 is format 2 plus the reward range (<c>rewardMin</c>,
/// <c>rewardMax</c>; null for an unbounded side): a silo that reads only format 2 would ignore those members and accept
/// rewards outside the range, so the number changes and it refuses the row instead. Format 2 and 1 rows predate reward
/// ranges: their banks read with the unbounded legacy range and the qInit they stored. Format 1: rows written before this codec (the wire <see cref="BankInfo"/>, or a
/// tombstone under <c>"tombstone"</c>, as System.Text.Json wrote them by default: PascalCase names, enums as numbers,
/// no format member). Any other format is refused, naming it, so an older silo never misreads a newer silo's row.
/// </summary>
internal static class BankRowCodec
{
    /// <summary>The format this code writes.</summary>
    public const int CurrentFormat = 5;

    // The format of a row without an import or a retention policy: what most banks are written in.
    private const int SettledFormat = 3;

    // The first format that may carry an import, and the first that may carry a retention policy.
    private const int ImportFormat = 4, RetentionFormat = 5;

    private const string FormatMember = "format";

    // No naming policy: every member names itself with an attribute, so nothing about the stored text is left to a setting.
    private static readonly JsonSerializerOptions Json = new();

    /// <summary>The row of a live bank: format 3, format 4 with the import filling it, format 5 with a retention policy.</summary>
    public static string Write(BankInfo bank, BankImport? import = null) => JsonSerializer.Serialize(new RowV2
    {
        Format = bank.Options.Retention is not null ? RetentionFormat : import is null ? SettledFormat : ImportFormat,
        Bank = BankV2.From(bank),
        Import = import is null ? null : new ImportV4 { Id = import.Id, Until = import.Until },
    }, Json);

    /// <summary>The row of a deleted bank (format 3: a tombstone never carries an import).</summary>
    public static string Write(BankTombstone tombstone) =>
        JsonSerializer.Serialize(new RowV2 { Format = SettledFormat, Tombstone = TombstoneV2.From(tombstone) }, Json);

    /// <summary>Decodes a stored row of <paramref name="bank"/>.</summary>
    /// <exception cref="InvalidDataException">The row is not a bank row of a format this code reads (the message names the
    /// bank and the format).</exception>
    public static BankRow Read(string bank, string description)
    {
        int format = 0;
        try
        {
            using var document = JsonDocument.Parse(description);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(bank, $"a {root.ValueKind} document; expected a JSON object");
            }

            format = !root.TryGetProperty(FormatMember, out var member) ? 1
                : member.ValueKind == JsonValueKind.Number && member.TryGetInt32(out int n) ? n
                : throw Invalid(bank, $"format {member.GetRawText()}; expected an integer format number");
            return format switch
            {
                1 => root.TryGetProperty("tombstone", out var tombstone)
                    ? new BankRow(null, Required(tombstone.Deserialize<TombstoneV1>(Json), bank).ToTombstone())
                    : new BankRow(Required(root.Deserialize<BankV1>(Json), bank).ToBankInfo(), null),
                // Format 2 has no range members, so they read as null: the legacy unbounded range.
                2 or SettledFormat or ImportFormat or RetentionFormat => Required(root.Deserialize<RowV2>(Json), bank).ToRow(bank, format),
                _ => throw new InvalidDataException(
                    $"Bank '{bank}' has a stored row of format {format}; this silo reads formats 1 to {CurrentFormat} (a newer silo wrote it: upgrade this one)."),
            };
        }
        catch (JsonException ex)
        {
            throw Invalid(bank, format == 0 ? $"not JSON ({ex.Message})" : $"a format-{format} row that does not decode ({ex.Message})");
        }
    }

    private static T Required<T>(T? value, string bank) where T : class => value ?? throw Invalid(bank, "null; expected a JSON object");

    private static InvalidDataException Invalid(string bank, string what) => new($"Bank '{bank}' has a stored row that is {what}.");

    // Formats 2 to 4: camelCase names, the normalisation mode as a word, a format number first; 3 adds the reward range,
    // 4 the import (read only from format 4: a lower format never has one).
    private sealed class RowV2
    {
        [JsonPropertyName(FormatMember)] public required int Format { get; init; }
        [JsonPropertyName("bank"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public BankV2? Bank { get; init; }
        [JsonPropertyName("tombstone"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public TombstoneV2? Tombstone { get; init; }
        [JsonPropertyName("import"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public ImportV4? Import { get; init; }

        public BankRow ToRow(string bank, int format) => (Bank, Tombstone, Import) switch
        {
            ({ } b, null, null) => new BankRow(b.ToBankInfo(bank, format), null),
            ({ } b, null, { } i) when format >= ImportFormat => new BankRow(b.ToBankInfo(bank, format), null, i.ToImport(bank)),
            (null, { } t, null) => new BankRow(null, t.ToTombstone()),
            (_, _, { }) => throw Invalid(bank, $"a format-{format} row with an 'import'; expected one only on a live bank of format {ImportFormat} or later"),
            _ => throw Invalid(bank, $"a format-{format} row with neither or both of 'bank' and 'tombstone'; expected exactly one"),
        };
    }

    private sealed class ImportV4
    {
        [JsonPropertyName("id")] public required string Id { get; init; }
        [JsonPropertyName("until")] public required DateTimeOffset Until { get; init; }

        public BankImport ToImport(string bank) => string.IsNullOrEmpty(Id) ? throw Invalid(bank, "a row whose import has an empty id") : new BankImport(Id, Until);
    }

    private sealed class BankV2
    {
        [JsonPropertyName("name")] public required string Name { get; init; }
        [JsonPropertyName("dimension")] public required int Dimension { get; init; }
        [JsonPropertyName("embedderId")] public required string EmbedderId { get; init; }
        [JsonPropertyName("options")] public required OptionsV2 Options { get; init; }
        [JsonPropertyName("index")] public required IndexV2 Index { get; init; }
        [JsonPropertyName("shardCount")] public required int ShardCount { get; init; }
        [JsonPropertyName("incarnation")] public required uint Incarnation { get; init; }
        [JsonPropertyName("version")] public required long Version { get; init; }
        [JsonPropertyName("slotMap")] public required int[] SlotMap { get; init; }
        [JsonPropertyName("createdAt")] public required DateTimeOffset CreatedAt { get; init; }
        [JsonPropertyName("movingSlots")] public int[]? MovingSlots { get; init; }

        public static BankV2 From(BankInfo b) => new()
        {
            Name = b.Name, Dimension = b.Dimension, EmbedderId = b.EmbedderId, Options = OptionsV2.From(b.Options),
            Index = new IndexV2 { M = b.Index.M, EfConstruction = b.Index.EfConstruction, EfSearch = b.Index.EfSearch, Exact = b.Index.Exact },
            ShardCount = b.ShardCount, Incarnation = b.Incarnation, Version = b.Version, SlotMap = [.. b.SlotMap], CreatedAt = b.CreatedAt,
            MovingSlots = b.MovingSlots is null ? null : [.. b.MovingSlots],
        };

        public BankInfo ToBankInfo(string bank, int format) => new(Name, Dimension, EmbedderId, Options.ToWire(bank, format),
            new IndexSettings(Index.M, Index.EfConstruction, Index.EfSearch, Index.Exact), ShardCount, Incarnation, Version, SlotMap, CreatedAt, MovingSlots);
    }

    private sealed class OptionsV2
    {
        private const string Pool = "pool", Fixed = "fixed";

        [JsonPropertyName("alpha")] public required double Alpha { get; init; }
        [JsonPropertyName("lambda")] public required double Lambda { get; init; }
        [JsonPropertyName("k1")] public required int K1 { get; init; }
        [JsonPropertyName("k2")] public required int K2 { get; init; }
        [JsonPropertyName("delta")] public required double Delta { get; init; }
        [JsonPropertyName("qInitSuccess")] public required double QInitSuccess { get; init; }
        [JsonPropertyName("qInitFailure")] public required double QInitFailure { get; init; }
        [JsonPropertyName("qFloor")] public double? QFloor { get; init; }
        [JsonPropertyName("qMin")] public double? QMin { get; init; }
        [JsonPropertyName("epsilon")] public required double Epsilon { get; init; }
        [JsonPropertyName("mergeThreshold")] public required double MergeThreshold { get; init; }
        [JsonPropertyName("maxMemoriesPerKey")] public required int MaxMemoriesPerKey { get; init; }
        [JsonPropertyName("similarityNormalization")] public required string SimilarityNormalization { get; init; }
        [JsonPropertyName("similarityMean")] public required double SimilarityMean { get; init; }
        [JsonPropertyName("similarityStdDev")] public required double SimilarityStdDev { get; init; }

        // Format 3 writes both, null for an unbounded side; format 2 never has them, so they read as null (legacy).
        [JsonPropertyName("rewardMin")] public double? RewardMin { get; init; }
        [JsonPropertyName("rewardMax")] public double? RewardMax { get; init; }
        // Added after formats 2 and 3 first shipped: absent means false, and false is left out, so rows written before read the
        // same and a bank that never opts in writes the bytes it always did.
        [JsonPropertyName("mergeAcrossScopes"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool MergeAcrossScopes { get; init; }
        // Format 5 only (a lower format never has one, and a row that does is refused).
        [JsonPropertyName("retention"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public RetentionV5? Retention { get; init; }

        public static OptionsV2 From(BankOptions o) => new()
        {
            Alpha = o.Alpha, Lambda = o.Lambda, K1 = o.K1, K2 = o.K2, Delta = o.Delta, QInitSuccess = o.QInitSuccess, QInitFailure = o.QInitFailure,
            QFloor = o.QFloor, QMin = o.QMin, Epsilon = o.Epsilon, MergeThreshold = o.MergeThreshold, MaxMemoriesPerKey = o.MaxMemoriesPerKey,
            SimilarityNormalization = o.SimilarityNormalization switch
            {
                SimilarityNormalizationMode.Pool => Pool,
                SimilarityNormalizationMode.Fixed => Fixed,
                var other => throw new ArgumentOutOfRangeException(nameof(o), other, "A normalisation mode the bank-row format has no word for."),
            },
            SimilarityMean = o.SimilarityMean, SimilarityStdDev = o.SimilarityStdDev, RewardMin = o.RewardMin, RewardMax = o.RewardMax, MergeAcrossScopes = o.MergeAcrossScopes,
            Retention = o.Retention is { } r ? RetentionV5.From(r) : null,
        };

        public BankOptions ToWire(string bank, int format) => new()
        {
            Alpha = Alpha, Lambda = Lambda, K1 = K1, K2 = K2, Delta = Delta, QInitSuccess = QInitSuccess, QInitFailure = QInitFailure,
            QFloor = QFloor, QMin = QMin, Epsilon = Epsilon, MergeThreshold = MergeThreshold, MaxMemoriesPerKey = MaxMemoriesPerKey,
            SimilarityNormalization = SimilarityNormalization switch
            {
                Pool => SimilarityNormalizationMode.Pool,
                Fixed => SimilarityNormalizationMode.Fixed,
                _ => throw Invalid(bank, $"a row with similarityNormalization '{SimilarityNormalization}'; expected '{Pool}' or '{Fixed}'"),
            },
            SimilarityMean = SimilarityMean, SimilarityStdDev = SimilarityStdDev, RewardMin = RewardMin, RewardMax = RewardMax, MergeAcrossScopes = MergeAcrossScopes,
            Retention = Retention is null ? null
                : format >= RetentionFormat ? Retention.ToWire()
                : throw Invalid(bank, $"a format-{format} row with 'retention'; expected it only in format {RetentionFormat} or later"),
        };
    }

    private sealed class RetentionV5
    {
        [JsonPropertyName("lowQThreshold")] public double? LowQThreshold { get; init; }
        [JsonPropertyName("lowQMinVisits")] public required int LowQMinVisits { get; init; }
        [JsonPropertyName("idleWindowSeconds")] public double? IdleWindowSeconds { get; init; }
        [JsonPropertyName("protectQ")] public double? ProtectQ { get; init; }
        [JsonPropertyName("maxActive")] public int? MaxActive { get; init; }
        [JsonPropertyName("retentionPeriodSeconds")] public required double RetentionPeriodSeconds { get; init; }
        [JsonPropertyName("maxPerRun")] public required int MaxPerRun { get; init; }

        public static RetentionV5 From(RetentionSettings r) => new()
        {
            LowQThreshold = r.LowQThreshold, LowQMinVisits = r.LowQMinVisits, IdleWindowSeconds = r.IdleWindowSeconds, ProtectQ = r.ProtectQ,
            MaxActive = r.MaxActive, RetentionPeriodSeconds = r.RetentionPeriodSeconds, MaxPerRun = r.MaxPerRun,
        };

        public RetentionSettings ToWire() => new()
        {
            LowQThreshold = LowQThreshold, LowQMinVisits = LowQMinVisits, IdleWindowSeconds = IdleWindowSeconds, ProtectQ = ProtectQ,
            MaxActive = MaxActive, RetentionPeriodSeconds = RetentionPeriodSeconds, MaxPerRun = MaxPerRun,
        };
    }

    private sealed class IndexV2
    {
        [JsonPropertyName("m")] public required int M { get; init; }
        [JsonPropertyName("efConstruction")] public required int EfConstruction { get; init; }
        [JsonPropertyName("efSearch")] public required int EfSearch { get; init; }
        [JsonPropertyName("exact")] public required bool Exact { get; init; }
    }

    private sealed class TombstoneV2
    {
        [JsonPropertyName("version")] public required long Version { get; init; }
        [JsonPropertyName("shardCount")] public required int ShardCount { get; init; }
        [JsonPropertyName("incarnation")] public required uint Incarnation { get; init; }
        [JsonPropertyName("purged")] public required bool Purged { get; init; }

        public static TombstoneV2 From(BankTombstone t) => new() { Version = t.Version, ShardCount = t.ShardCount, Incarnation = t.Incarnation, Purged = t.Purged };

        public BankTombstone ToTombstone() => new(Version, ShardCount, Incarnation, Purged);
    }

    // Format 1, frozen: the names and shapes System.Text.Json gave the wire records of 2026-11, every member written
    // (golden/store-v1.db holds such rows). Spelled out here so that renaming a wire member cannot change how old rows read.
    private sealed class BankV1
    {
        [JsonPropertyName("Name")] public required string Name { get; init; }
        [JsonPropertyName("Dimension")] public required int Dimension { get; init; }
        [JsonPropertyName("EmbedderId")] public required string EmbedderId { get; init; }
        [JsonPropertyName("Options")] public required OptionsV1 Options { get; init; }
        [JsonPropertyName("Index")] public required IndexV1 Index { get; init; }
        [JsonPropertyName("ShardCount")] public required int ShardCount { get; init; }
        [JsonPropertyName("Incarnation")] public required uint Incarnation { get; init; }
        [JsonPropertyName("Version")] public required long Version { get; init; }
        [JsonPropertyName("SlotMap")] public required int[] SlotMap { get; init; }
        [JsonPropertyName("CreatedAt")] public required DateTimeOffset CreatedAt { get; init; }
        [JsonPropertyName("MovingSlots")] public int[]? MovingSlots { get; init; }

        public BankInfo ToBankInfo() => new(Name, Dimension, EmbedderId, Options.ToWire(),
            new IndexSettings(Index.M, Index.EfConstruction, Index.EfSearch, Index.Exact), ShardCount, Incarnation, Version, SlotMap, CreatedAt, MovingSlots);
    }

    private sealed class OptionsV1
    {
        [JsonPropertyName("Alpha")] public required double Alpha { get; init; }
        [JsonPropertyName("Lambda")] public required double Lambda { get; init; }
        [JsonPropertyName("K1")] public required int K1 { get; init; }
        [JsonPropertyName("K2")] public required int K2 { get; init; }
        [JsonPropertyName("Delta")] public required double Delta { get; init; }
        [JsonPropertyName("QInitSuccess")] public required double QInitSuccess { get; init; }
        [JsonPropertyName("QInitFailure")] public required double QInitFailure { get; init; }
        [JsonPropertyName("QFloor")] public double? QFloor { get; init; }
        [JsonPropertyName("QMin")] public double? QMin { get; init; }
        [JsonPropertyName("Epsilon")] public required double Epsilon { get; init; }
        [JsonPropertyName("MergeThreshold")] public required double MergeThreshold { get; init; }
        [JsonPropertyName("MaxMemoriesPerKey")] public required int MaxMemoriesPerKey { get; init; }
        [JsonPropertyName("SimilarityNormalization")] public required int SimilarityNormalization { get; init; }
        [JsonPropertyName("SimilarityMean")] public required double SimilarityMean { get; init; }
        [JsonPropertyName("SimilarityStdDev")] public required double SimilarityStdDev { get; init; }

        // Format 1 numbered the modes as the wire enum does: 0 pool, 1 fixed.
        public BankOptions ToWire() => new()
        {
            Alpha = Alpha, Lambda = Lambda, K1 = K1, K2 = K2, Delta = Delta, QInitSuccess = QInitSuccess, QInitFailure = QInitFailure,
            QFloor = QFloor, QMin = QMin, Epsilon = Epsilon, MergeThreshold = MergeThreshold, MaxMemoriesPerKey = MaxMemoriesPerKey,
            SimilarityNormalization = SimilarityNormalization switch
            {
                0 => SimilarityNormalizationMode.Pool,
                1 => SimilarityNormalizationMode.Fixed,
                _ => throw new JsonException($"SimilarityNormalization {SimilarityNormalization}; expected 0 (pool) or 1 (fixed)."),
            },
            SimilarityMean = SimilarityMean, SimilarityStdDev = SimilarityStdDev,
            RewardMin = null, RewardMax = null, // before reward ranges: unbounded, qInit as stored
        };
    }

    private sealed class IndexV1
    {
        [JsonPropertyName("M")] public required int M { get; init; }
        [JsonPropertyName("EfConstruction")] public required int EfConstruction { get; init; }
        [JsonPropertyName("EfSearch")] public required int EfSearch { get; init; }
        [JsonPropertyName("Exact")] public required bool Exact { get; init; }
    }

    private sealed class TombstoneV1
    {
        [JsonPropertyName("Version")] public required long Version { get; init; }
        [JsonPropertyName("ShardCount")] public required int ShardCount { get; init; }
        [JsonPropertyName("Incarnation")] public required uint Incarnation { get; init; }
        [JsonPropertyName("Purged")] public required bool Purged { get; init; }

        public BankTombstone ToTombstone() => new(Version, ShardCount, Incarnation, Purged);
    }
}

using MemRL.Core;
using MemRL.Errors;

namespace MemRL.GrainInterfaces;

/// <summary>
/// The one conversion between the wire options and MemRL.Core's, whose validation is the only one (no second copy of a
/// range). The grains, the client, the tests and the benchmarks all use it; <c>OptionsMappingTests</c> sets every member
/// in turn and fails when either direction leaves one out.
/// </summary>
public static class BankOptionsMapping
{
    /// <summary>
    /// Core options the cluster does not carry yet: credit along provenance and the UCB bonus run in the reference bank
    /// only (docs/provenance.md). <see cref="ToWire"/> refuses them when set rather than drop them silently, so a bank can
    /// never behave differently from the options it was given.
    /// </summary>
    public static IReadOnlyList<string> CoreOnly { get; } =
    [
        nameof(MemRLOptions.ProvenanceDecay), nameof(MemRLOptions.ProvenanceDepth), nameof(MemRLOptions.ProvenanceFanOut),
        nameof(MemRLOptions.ExplorationBonus),
    ];

    /// <summary>The wire form of core options.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A <see cref="CoreOnly"/> option differs from its default.</exception>
    public static BankOptions ToWire(this MemRLOptions o)
    {
        var d = MemRLOptions.Default;
        // Named as the JSON field (camelCase), with the only value the cluster accepts today.
        if (o.ProvenanceDecay != d.ProvenanceDecay || o.ProvenanceDepth != d.ProvenanceDepth || o.ProvenanceFanOut != d.ProvenanceFanOut)
        {
            string field = o.ProvenanceDecay != d.ProvenanceDecay ? "provenanceDecay" : o.ProvenanceDepth != d.ProvenanceDepth ? "provenanceDepth" : "provenanceFanOut";
            object actual = o.ProvenanceDecay != d.ProvenanceDecay ? o.ProvenanceDecay : o.ProvenanceDepth != d.ProvenanceDepth ? o.ProvenanceDepth : o.ProvenanceFanOut;
            throw FieldError.OutOfRange(field, "its default (credit along provenance runs in the reference bank only, not in the cluster yet)",
                FieldError.Format(Convert.ToDouble(actual, System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (o.ExplorationBonus != d.ExplorationBonus)
        {
            throw FieldError.OutOfRange("explorationBonus", "0 (the UCB bonus runs in the reference bank only, not in the cluster yet)", FieldError.Format(o.ExplorationBonus));
        }

        return Wire(o);
    }

    private static BankOptions Wire(MemRLOptions o) => new()
    {
        Alpha = o.Alpha, Lambda = o.Lambda, K1 = o.K1, K2 = o.K2, Delta = o.Delta,
        QInitSuccess = o.QInitSuccess, QInitFailure = o.QInitFailure, QFloor = o.QFloor, QMin = o.QMin, Epsilon = o.Epsilon,
        MergeThreshold = o.MergeThreshold, MaxMemoriesPerKey = o.MaxMemoriesPerKey,
        SimilarityNormalization = (SimilarityNormalizationMode)o.SimilarityNormalization,
        SimilarityMean = o.SimilarityMean, SimilarityStdDev = o.SimilarityStdDev, RewardMin = o.RewardMin, RewardMax = o.RewardMax, MergeAcrossScopes = o.MergeAcrossScopes,
    };

    /// <summary>The bank's retention policy in core form: <see cref="RetentionPolicy.None"/> when it has none. Call on
    /// options that passed <see cref="ToValidatedCore"/> (stored banks did).</summary>
    public static RetentionPolicy RetentionPolicyOf(this BankOptions o) => o.Retention?.ToValidatedPolicy() ?? RetentionPolicy.None;

    /// <summary>The core form of wire options (not validated; see <see cref="ToValidatedCore"/>).</summary>
    public static MemRLOptions ToCore(this BankOptions o) => new()
    {
        Alpha = o.Alpha, Lambda = o.Lambda, K1 = o.K1, K2 = o.K2, Delta = o.Delta,
        QInitSuccess = o.QInitSuccess, QInitFailure = o.QInitFailure, QFloor = o.QFloor, QMin = o.QMin, Epsilon = o.Epsilon,
        MergeThreshold = o.MergeThreshold, MaxMemoriesPerKey = o.MaxMemoriesPerKey,
        SimilarityNormalization = (SimilarityNormalization)o.SimilarityNormalization,
        SimilarityMean = o.SimilarityMean, SimilarityStdDev = o.SimilarityStdDev, RewardMin = o.RewardMin, RewardMax = o.RewardMax, MergeAcrossScopes = o.MergeAcrossScopes,
    };

    /// <summary>Validates with MemRL.Core's rules (the options, and the retention policy when there is one); throws
    /// <see cref="ArgumentOutOfRangeException"/> naming the options.</summary>
    /// <param name="options">The wire options.</param>
    /// <param name="fieldPrefix">Where the options sit in the caller's request: "" for an options body, <c>"options."</c> in a bank definition.</param>
    public static MemRLOptions ToValidatedCore(this BankOptions options, string fieldPrefix = "")
    {
        if (options is null)
        {
            throw FieldError.Missing(fieldPrefix.Length == 0 ? "options" : fieldPrefix.TrimEnd('.'), "the bank's options");
        }

        var core = options.ToCore();
        // Every option and every retention field outside its range, in one error.
        var errors = core.FindErrors(fieldPrefix).ToList();
        errors.AddRange(options.Retention?.FindErrors(fieldPrefix + "retention.") ?? []);
        RangeCheck.ThrowIfAny(errors);
        return core;
    }
}

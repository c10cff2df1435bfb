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
    /// <summary>The wire form of core options.</summary>
    public static BankOptions ToWire(this MemRLOptions o) => new()
    {
        Alpha = o.Alpha, Lambda = o.Lambda, K1 = o.K1, K2 = o.K2, Delta = o.Delta,
        QInitSuccess = o.QInitSuccess, QInitFailure = o.QInitFailure, QFloor = o.QFloor, QMin = o.QMin, Epsilon = o.Epsilon,
        MergeThreshold = o.MergeThreshold, MaxMemoriesPerKey = o.MaxMemoriesPerKey,
        SimilarityNormalization = (SimilarityNormalizationMode)o.SimilarityNormalization,
        SimilarityMean = o.SimilarityMean, SimilarityStdDev = o.SimilarityStdDev, RewardMin = o.RewardMin, RewardMax = o.RewardMax, MergeAcrossScopes = o.MergeAcrossScopes,
    };

    /// <summary>The core form of wire options (not validated; see <see cref="ToValidatedCore"/>).</summary>
    public static MemRLOptions ToCore(this BankOptions o) => new()
    {
        Alpha = o.Alpha, Lambda = o.Lambda, K1 = o.K1, K2 = o.K2, Delta = o.Delta,
        QInitSuccess = o.QInitSuccess, QInitFailure = o.QInitFailure, QFloor = o.QFloor, QMin = o.QMin, Epsilon = o.Epsilon,
        MergeThreshold = o.MergeThreshold, MaxMemoriesPerKey = o.MaxMemoriesPerKey,
        SimilarityNormalization = (SimilarityNormalization)o.SimilarityNormalization,
        SimilarityMean = o.SimilarityMean, SimilarityStdDev = o.SimilarityStdDev, RewardMin = o.RewardMin, RewardMax = o.RewardMax, MergeAcrossScopes = o.MergeAcrossScopes,
    };

    /// <summary>Validates with MemRL.Core's rules; throws <see cref="ArgumentOutOfRangeException"/> naming the options.</summary>
    /// <param name="options">The wire options.</param>
    /// <param name="fieldPrefix">Where the options sit in the caller's request: "" for an options body, <c>"options."</c> in a bank definition.</param>
    public static MemRLOptions ToValidatedCore(this BankOptions options, string fieldPrefix = "")
    {
        if (options is null)
        {
            throw FieldError.Missing(fieldPrefix.Length == 0 ? "options" : fieldPrefix.TrimEnd('.'), "the bank's options");
        }

        var core = options.ToCore();
        core.Validate(fieldPrefix);
        return core;
    }
}

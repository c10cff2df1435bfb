using MemRL.Errors;

namespace MemRL.Core.Recall;

/// <summary>Per-request overrides of a bank's recall options (DESIGN §1: k1, k2, lambda, delta).</summary>
public sealed record RecallOverrides(int? K1 = null, int? K2 = null, double? Lambda = null, double? Delta = null)
{
    /// <summary>No overrides.</summary>
    public static RecallOverrides None { get; } = new();

    /// <summary>
    /// Throws one <see cref="ArgumentOutOfRangeException"/> listing every override outside the range
    /// <see cref="MemRLOptions"/> gives it (fields k1, k2, lambda, delta, as the recall body spells them); k2 is checked
    /// against k1 only when both are set (a caller without the bank's options, such as the .NET client, checks what it can).
    /// </summary>
    public void Validate()
    {
        var errors = new List<FieldErrorParts>();
        MemRLOptions.AddRecallErrors(errors, "", K1, K2, Lambda, Delta);
        RangeCheck.ThrowIfAny(errors);
    }
}

/// <summary>The effective, validated parameters of one recall.</summary>
public sealed record RecallParameters(int K1, int K2, double Lambda, double Delta)
{
    /// <summary>Applies <paramref name="overrides"/> to the bank's <paramref name="options"/> and validates the result.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An override is outside its range, or k2 exceeds k1.</exception>
    public static RecallParameters Resolve(MemRLOptions options, RecallOverrides? overrides)
    {
        overrides ??= RecallOverrides.None;
        var merged = options with
        {
            K1 = overrides.K1 ?? options.K1,
            K2 = overrides.K2 ?? options.K2,
            Lambda = overrides.Lambda ?? options.Lambda,
            Delta = overrides.Delta ?? options.Delta,
        };
        // The fields are the recall body's members (k1, k2, lambda, delta); the bank's other options were validated when set.
        var errors = new List<FieldErrorParts>();
        MemRLOptions.AddRecallErrors(errors, "", merged.K1, merged.K2, merged.Lambda, merged.Delta);
        RangeCheck.ThrowIfAny(errors);

        return new RecallParameters(merged.K1, merged.K2, merged.Lambda, merged.Delta);
    }
}

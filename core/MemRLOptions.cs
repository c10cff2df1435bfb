using MemRL.Errors;

namespace MemRL.Core;

/// <summary>How Phase B turns a candidate's similarity into a z-score (DESIGN §1).</summary>
public enum SimilarityNormalization
{
    /// <summary>z-score over the candidate pool, the paper's text.</summary>
    Pool,

    /// <summary><c>(sim - SimilarityMean) / SimilarityStdDev</c> with per-bank constants, what the authors' code does.</summary>
    Fixed,
}

/// <summary>
/// MemRL's per-bank options. Defaults are the paper's Table 8 / the authors' code (DESIGN §1):
/// alpha 0.3, lambda 0.5, k1 5, k2 3, delta 0.5, no floor, no qMin, epsilon 0, mergeThreshold 0.90, pool zsim; and
/// the reward range [−1, 1] with qInit at its midpoint (0/0, the paper's value for ±1 rewards; docs/learning.md).
/// </summary>
/// <remarks>Equality compares the values the options mean: an unset qInit equals one set to the range's midpoint, so
/// options that went through the wire or storage (where qInit is always a number) equal the ones they came from.</remarks>
public sealed record MemRLOptions
{
    private readonly double? _qInitSuccess;
    private readonly double? _qInitFailure;

    /// <summary>Learning rate of the Q rule <c>Q ← Q + alpha(R − Q)</c>. Range (0, 1]; 0 is allowed only as the
    /// "no learning" control of the benchmark. Default 0.3.</summary>
    public double Alpha { get; init; } = 0.3;

    /// <summary>Weight of the Q z-score in the Phase-B score <c>(1 − lambda)·zsim + lambda·zQ</c>. Range [0, 1]. Default 0.5.</summary>
    public double Lambda { get; init; } = 0.5;

    /// <summary>Number of intent keys Phase A keeps. Range [1, 1000]. Default 5.</summary>
    public int K1 { get; init; } = 5;

    /// <summary>Number of memories recall returns. Range [1, K1]. Default 3.</summary>
    public int K2 { get; init; } = 3;

    /// <summary>Similarity gate of Phase A: keys with cosine similarity ≥ delta pass (inclusive). Range [-1, 1]. Default 0.5.</summary>
    public double Delta { get; init; } = 0.5;

    /// <summary>Lowest reward the bank accepts (inclusive); <see langword="null"/>: unbounded below, which banks stored
    /// before reward ranges existed keep. Finite, below <see cref="RewardMax"/>. Default −1.</summary>
    public double? RewardMin { get; init; } = -1;

    /// <summary>Highest reward the bank accepts (inclusive); <see langword="null"/>: unbounded above (banks stored before
    /// reward ranges existed). Finite, above <see cref="RewardMin"/>. Default 1.</summary>
    public double? RewardMax { get; init; } = 1;

    /// <summary>Initial Q of a memory written from a successful episode. Finite, inside the reward range. Default: the
    /// range's <see cref="RewardMidpoint()"/> (with 1/0 rewards a qInit of 0 would equal the value a misleading memory decays
    /// to, so Q could not rank it below an untried one).</summary>
    public double QInitSuccess { get => _qInitSuccess ?? RewardMidpoint(); init => _qInitSuccess = value; }

    /// <summary>Initial Q of a memory written from a failed episode. Finite, inside the reward range. Default: the range's
    /// <see cref="RewardMidpoint()"/>.</summary>
    public double QInitFailure { get => _qInitFailure ?? RewardMidpoint(); init => _qInitFailure = value; }

    /// <summary>The middle of the reward range, the default qInit; 0 when a side is unbounded (the legacy qInit).</summary>
    public double RewardMidpoint() => RewardMin is { } low && RewardMax is { } high && double.IsFinite(low) && double.IsFinite(high)
        ? (low / 2) + (high / 2) // halves first: the sum of two large finite bounds can overflow
        : 0;

    /// <summary>Optional lower bound applied after every Q update; <see langword="null"/> for none (default).</summary>
    public double? QFloor { get; init; }

    /// <summary>Optional gate: pool members with Q below it are dropped after the pool statistics are taken. Default none.</summary>
    public double? QMin { get; init; }

    /// <summary>Probability of returning k2 uniformly random pool members instead of the best. Range [0, 1]. Default 0.</summary>
    public double Epsilon { get; init; }

    /// <summary>A new memory joins the most similar existing key when their similarity is at least this; above 1 every
    /// memory is its own key. Range [-1, 2]. Default 0.90.</summary>
    public double MergeThreshold { get; init; } = 0.90;

    /// <summary>Whether a new memory may join a key of another scope (userId, agentId, sessionId, runId). Default false:
    /// keys hold one scope each, so one user's write is never found through another user's key (docs/scopes.md).</summary>
    public bool MergeAcrossScopes { get; init; }

    /// <summary>At most this many memories of one key enter a pool: the newest quarter plus the best by Q
    /// (a documented departure from the authors' unbounded buckets). Range [1, 10000]. Default 32.</summary>
    public int MaxMemoriesPerKey { get; init; } = 32;

    /// <summary>How zsim is computed. Default <see cref="SimilarityNormalization.Pool"/>.</summary>
    public SimilarityNormalization SimilarityNormalization { get; init; } = SimilarityNormalization.Pool;

    /// <summary>muD: mean pairwise intent similarity, used by <see cref="SimilarityNormalization.Fixed"/>. Range [-1, 1].
    /// Default 0.5187 (the authors' ALFWorld constant); calibrate per bank with <see cref="Calibration"/>.</summary>
    public double SimilarityMean { get; init; } = 0.5187;

    /// <summary>sigmaD: standard deviation of pairwise intent similarity, used by <see cref="SimilarityNormalization.Fixed"/>.
    /// Range [0, 2]; ≤ 1e-9 counts as 1. Default 0.1203.</summary>
    public double SimilarityStdDev { get; init; } = 0.1203;

    /// <summary>Credit along provenance (docs/provenance.md; MemQ, arXiv 2605.08374): a reward to a memory also reaches
    /// the memories that were in the recall context it was written from (its ancestors), with eligibility
    /// <c>decay^depth</c>: <c>Q ← Q + alpha·decay^depth·(R − Q)</c>. 0 (default) turns it off, and memories written while
    /// it is off record no ancestors. Range [0, 1].</summary>
    public double ProvenanceDecay { get; init; }

    /// <summary>How many generations of ancestors a reward reaches when <see cref="ProvenanceDecay"/> is on. Range [1, 4].
    /// Default 1 (the parents only).</summary>
    public int ProvenanceDepth { get; init; } = 1;

    /// <summary>At most this many ancestors are credited per reward (breadth first, nearest generation first, then in the
    /// order the ancestors were recorded), so one reward's work stays bounded. Range [1, 256]. Default 16.</summary>
    public int ProvenanceFanOut { get; init; } = 16;

    /// <summary>UCB-style exploration (docs/provenance.md): Phase B adds <c>c·sqrt(ln(N + 1) / (n + 1))</c> to a pool
    /// member's zQ, with n its visit count (direct rewards) and N the pool's total visits; deterministic. 0 (default) turns
    /// it off. Range [0, 10].</summary>
    public double ExplorationBonus { get; init; }

    /// <summary>The defaults.</summary>
    public static MemRLOptions Default { get; } = new();

    /// <summary>
    /// Throws one <see cref="ArgumentOutOfRangeException"/> whose message lists every option outside its range and
    /// whose <see cref="FieldError"/> parts name the first.
    /// </summary>
    /// <param name="fieldPrefix">Where the caller's options sit, so the field is what the caller spells: "" when the
    /// options are the whole body (<c>alpha</c>), <c>"options."</c> inside a bank definition (<c>options.alpha</c>).</param>
    public void Validate(string fieldPrefix = "") => RangeCheck.ThrowIfAny(FindErrors(fieldPrefix));

    /// <summary>Every option outside its range, in declaration order; empty when valid.</summary>
    /// <param name="fieldPrefix">As for <see cref="Validate"/>; fields are the options' JSON names (camelCase).</param>
    public IReadOnlyList<FieldErrorParts> FindErrors(string fieldPrefix = "")
    {
        _ = fieldPrefix ?? throw FieldError.Missing(nameof(fieldPrefix), "a field prefix (\"\" for none)");
        string F(string member) => RangeCheck.Field(fieldPrefix, member);
        var errors = new List<FieldErrorParts>();
        RangeCheck.Closed(errors, F(nameof(Alpha)), Alpha, 0, 1);
        AddRecallErrors(errors, fieldPrefix, K1, K2, Lambda, Delta);
        bool rangeValid = AddRewardRangeErrors(errors, fieldPrefix);
        RangeCheck.Finite(errors, F(nameof(QInitSuccess)), QInitSuccess);
        RangeCheck.Finite(errors, F(nameof(QInitFailure)), QInitFailure);
        if (rangeValid)
        {
            // Q is an average of rewards started at qInit: a start outside the range is a value Q could never come back to.
            InRewardRange(errors, F(nameof(QInitSuccess)), QInitSuccess);
            InRewardRange(errors, F(nameof(QInitFailure)), QInitFailure);
        }
        if (QFloor is { } floor)
        {
            RangeCheck.Finite(errors, F(nameof(QFloor)), floor);
            if (double.IsFinite(floor) && (QInitSuccess < floor || QInitFailure < floor))
            {
                errors.Add(new FieldErrorParts(F(nameof(QFloor)),
                    $"at most {F(nameof(QInitSuccess))} ({FieldError.Format(QInitSuccess)}) and {F(nameof(QInitFailure))} ({FieldError.Format(QInitFailure)})",
                    FieldError.Format(floor), null));
            }
        }

        if (QMin is { } qMin)
        {
            RangeCheck.Finite(errors, F(nameof(QMin)), qMin);
        }

        RangeCheck.Closed(errors, F(nameof(Epsilon)), Epsilon, 0, 1);
        RangeCheck.Closed(errors, F(nameof(MergeThreshold)), MergeThreshold, -1, 2);
        RangeCheck.Closed(errors, F(nameof(MaxMemoriesPerKey)), MaxMemoriesPerKey, 1, 10_000);
        RangeCheck.Closed(errors, F(nameof(SimilarityMean)), SimilarityMean, -1, 1);
        RangeCheck.Closed(errors, F(nameof(SimilarityStdDev)), SimilarityStdDev, 0, 2);
        if (!Enum.IsDefined(SimilarityNormalization))
        {
            errors.Add(new FieldErrorParts(F(nameof(SimilarityNormalization)), "Pool or Fixed", FieldError.Format((int)SimilarityNormalization), null));
        }

        RangeCheck.Closed(errors, F(nameof(ProvenanceDecay)), ProvenanceDecay, 0, 1);
        RangeCheck.Closed(errors, F(nameof(ProvenanceDepth)), ProvenanceDepth, 1, 4);
        RangeCheck.Closed(errors, F(nameof(ProvenanceFanOut)), ProvenanceFanOut, 1, 256);
        RangeCheck.Closed(errors, F(nameof(ExplorationBonus)), ExplorationBonus, 0, 10);

        return errors;
    }

    /// <summary>The reward range as people write it: "[0, 1]", "[-1, +∞)", "(-∞, +∞)".</summary>
    public string DescribeRewardRange() =>
        (RewardMin is { } low ? $"[{FieldError.Format(low)}" : "(-∞") + ", " + (RewardMax is { } high ? $"{FieldError.Format(high)}]" : "+∞)");

    /// <summary>Throws unless <paramref name="reward"/> is finite and inside the bank's reward range; changes nothing.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Naming <paramref name="field"/>, the range and the reward.</exception>
    public void ValidateReward(double reward, string field = "reward")
    {
        QRule.ValidateReward(reward, field);
        if (reward < RewardMin || reward > RewardMax)
        {
            throw FieldError.OutOfRange(field, $"a number in the bank's reward range {DescribeRewardRange()}", FieldError.Format(reward));
        }
    }

    /// <summary>Equal when every option means the same (qInit compared by value, set or defaulted).</summary>
    public bool Equals(MemRLOptions? other) => other is not null && Values().SequenceEqual(other.Values());

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (object? value in Values())
        {
            hash.Add(value);
        }

        return hash.ToHashCode();
    }

    // Every option's effective value, in declaration order: the one definition of equality.
    private IEnumerable<object?> Values() =>
    [
        Alpha, Lambda, K1, K2, Delta, RewardMin, RewardMax, QInitSuccess, QInitFailure, QFloor, QMin, Epsilon, MergeThreshold,
        MaxMemoriesPerKey, SimilarityNormalization, SimilarityMean, SimilarityStdDev, MergeAcrossScopes,
        ProvenanceDecay, ProvenanceDepth, ProvenanceFanOut, ExplorationBonus,
    ];

    // Adds the range's errors; true when the range is usable for the checks that depend on it.
    private bool AddRewardRangeErrors(List<FieldErrorParts> errors, string fieldPrefix)
    {
        string F(string member) => RangeCheck.Field(fieldPrefix, member);
        int before = errors.Count;
        if (RewardMin is { } low)
        {
            RangeCheck.Finite(errors, F(nameof(RewardMin)), low);
        }

        if (RewardMax is { } high)
        {
            RangeCheck.Finite(errors, F(nameof(RewardMax)), high);
        }

        if (errors.Count == before && RewardMin is { } min && RewardMax is { } max && !(min < max))
        {
            errors.Add(new FieldErrorParts(F(nameof(RewardMax)), $"a number above {F(nameof(RewardMin))} ({FieldError.Format(min)})", FieldError.Format(max), null));
        }

        return errors.Count == before;
    }

    private void InRewardRange(List<FieldErrorParts> errors, string field, double value)
    {
        if (double.IsFinite(value) && (value < RewardMin || value > RewardMax))
        {
            errors.Add(new FieldErrorParts(field, $"a number in the reward range {DescribeRewardRange()}", FieldError.Format(value), null));
        }
    }

    /// <summary>
    /// The ranges of the four options a recall may override (DESIGN §1), for the bank's options and for a request's
    /// overrides alike, so the two cannot disagree. Unset (null) values are not checked; k2 ≤ k1 only when both are set.
    /// Adds in declaration order (lambda, k1, k2, delta), as <see cref="FindErrors"/> lists them.
    /// </summary>
    internal static void AddRecallErrors(List<FieldErrorParts> errors, string fieldPrefix, int? k1, int? k2, double? lambda, double? delta)
    {
        string F(string member) => RangeCheck.Field(fieldPrefix, member);
        if (lambda is { } l)
        {
            RangeCheck.Closed(errors, F(nameof(Lambda)), l, 0, 1);
        }

        if (k1 is { } first)
        {
            RangeCheck.Closed(errors, F(nameof(K1)), first, 1, 1000);
        }

        if (k2 is { } second)
        {
            RangeCheck.Closed(errors, F(nameof(K2)), second, 1, 1000);
            if (k1 is { } bound && second > bound)
            {
                errors.Add(new FieldErrorParts(F(nameof(K2)), $"at most {F(nameof(K1))} ({bound})", FieldError.Format(second), null));
            }
        }

        if (delta is { } d)
        {
            RangeCheck.Closed(errors, F(nameof(Delta)), d, -1, 1);
        }
    }
}

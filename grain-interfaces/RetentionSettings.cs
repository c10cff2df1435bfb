using MemRL.Core;
using MemRL.Errors;

namespace MemRL.GrainInterfaces;

/// <summary>
/// A bank's retention policy on the wire (docs/retention.md): MemRL.Core's <see cref="RetentionPolicy"/> with its two
/// durations in seconds, so the HTTP API takes plain numbers. Meanings, ranges and defaults are the core record's (read
/// from <see cref="RetentionPolicy.None"/>, so the two cannot drift). A bank without one (<see cref="BankOptions.Retention"/>
/// null) never archives on its own, and its archived memories are restorable for the default 30 days.
/// </summary>
/// <remarks>The ids and the alias are the wire contract: never renumber them.</remarks>
[GenerateSerializer, Immutable, Alias("memrl.RetentionSettings")]
public sealed record RetentionSettings
{
    private static readonly RetentionPolicy Defaults = RetentionPolicy.None;

    /// <summary>Archive a memory whose Q is at or below this once it has <see cref="LowQMinVisits"/> visits. Null: off.</summary>
    [Id(0)]
    public double? LowQThreshold { get; init; } = Defaults.LowQThreshold;

    /// <summary>Visits before <see cref="LowQThreshold"/> applies, 1..1,000,000. Default 3.</summary>
    [Id(1)]
    public int LowQMinVisits { get; init; } = Defaults.LowQMinVisits;

    /// <summary>Archive a memory not rewarded, written or restored for this many seconds (1 s to 100 years). Null: off.</summary>
    [Id(2)]
    public double? IdleWindowSeconds { get; init; } = Defaults.IdleWindow?.TotalSeconds;

    /// <summary>Memories with Q at or above this are exempt from the idle rule. Null: none.</summary>
    [Id(3)]
    public double? ProtectQ { get; init; } = Defaults.ProtectQ;

    /// <summary>At most this many active memories in the bank, lowest utility archived first, 1..100,000,000. Null: no cap.</summary>
    [Id(4)]
    public int? MaxActive { get; init; } = Defaults.MaxActive;

    /// <summary>Seconds an archived memory stays restorable before a run purges it (0 to 100 years). Default 30 days.</summary>
    [Id(5)]
    public double RetentionPeriodSeconds { get; init; } = Defaults.RetentionPeriod.TotalSeconds;

    /// <summary>Archives and purges per run, 1..100,000; a run that hits it reports more work left. Default 1000.</summary>
    [Id(6)]
    public int MaxPerRun { get; init; } = Defaults.MaxPerRun;

    /// <summary>The core policy, every value checked: one exception naming each field outside its range (prefixed, e.g.
    /// <c>options.retention.maxActive</c>).</summary>
    public RetentionPolicy ToValidatedPolicy(string fieldPrefix = "retention.")
    {
        var (policy, errors) = Convert(fieldPrefix);
        RangeCheck.ThrowIfAny(errors);
        return policy;
    }

    /// <summary>Every field outside its range, named as the caller spells it; empty when valid.</summary>
    public IReadOnlyList<FieldErrorParts> FindErrors(string fieldPrefix = "retention.") => Convert(fieldPrefix).Errors;

    private (RetentionPolicy Policy, List<FieldErrorParts> Errors) Convert(string fieldPrefix)
    {
        var errors = new List<FieldErrorParts>();
        TimeSpan? idle = IdleWindowSeconds is { } i ? Seconds(errors, fieldPrefix + "idleWindowSeconds", i, RetentionPolicy.MinIdleWindow) : null;
        var period = Seconds(errors, fieldPrefix + "retentionPeriodSeconds", RetentionPeriodSeconds, TimeSpan.Zero);
        var policy = new RetentionPolicy
        {
            LowQThreshold = LowQThreshold, LowQMinVisits = LowQMinVisits, IdleWindow = idle, ProtectQ = ProtectQ, MaxActive = MaxActive,
            RetentionPeriod = period ?? RetentionPolicy.None.RetentionPeriod, MaxPerRun = MaxPerRun,
        };
        // The core checks the rest; the durations were checked above, in the seconds the caller sent.
        errors.AddRange(policy.FindErrors(fieldPrefix));
        return (policy, errors);
    }

    /// <summary>The wire form of a core policy.</summary>
    public static RetentionSettings From(RetentionPolicy policy) => new()
    {
        LowQThreshold = policy.LowQThreshold, LowQMinVisits = policy.LowQMinVisits, IdleWindowSeconds = policy.IdleWindow?.TotalSeconds,
        ProtectQ = policy.ProtectQ, MaxActive = policy.MaxActive, RetentionPeriodSeconds = policy.RetentionPeriod.TotalSeconds, MaxPerRun = policy.MaxPerRun,
    };

    // A duration in seconds, or null (and an error naming the field) when it is not finite or outside [min, 100 years].
    private static TimeSpan? Seconds(List<FieldErrorParts> errors, string field, double seconds, TimeSpan min)
    {
        if (double.IsFinite(seconds) && seconds >= min.TotalSeconds && seconds <= RetentionPolicy.MaxSpan.TotalSeconds)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        errors.Add(new FieldErrorParts(field, $"seconds in [{FieldError.Format(min.TotalSeconds)}, {FieldError.Format(RetentionPolicy.MaxSpan.TotalSeconds)}]",
            FieldError.Format(seconds), null));
        return null;
    }
}

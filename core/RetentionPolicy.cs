using MemRL.Errors;

namespace MemRL.Core;

/// <summary>
/// A bank's retention policy (docs/retention.md): which memories a retention run archives, how long an archived memory
/// stays restorable, and how much one run may do. Every rule is off by default, so a bank without a policy never
/// forgets. Decisions are computed from an explicit <c>now</c> so replay and the reference bank agree.
/// </summary>
public sealed record RetentionPolicy
{
    /// <summary>Archive a memory whose Q is at or below this once it has at least <see cref="LowQMinVisits"/> visits:
    /// outcomes, not age, say it does not help. Null: off. Finite.</summary>
    public double? LowQThreshold { get; init; }

    /// <summary>Visits a memory needs before <see cref="LowQThreshold"/> applies, so a memory is judged on evidence, not
    /// on its initial Q. Range [1, 1,000,000]. Default 3.</summary>
    public int LowQMinVisits { get; init; } = 3;

    /// <summary>Archive a memory not rewarded (or written) within this window. Recalls are reads and leave no durable
    /// trace, so "recalled" means "recalled and rewarded": the last reward is what the log knows. Null: off.
    /// Range [1 s, 100 years].</summary>
    public TimeSpan? IdleWindow { get; init; }

    /// <summary>Memories with Q at or above this are protected from the age rule (<see cref="IdleWindow"/>): a memory that
    /// helped is kept even when rarely needed. Null: no protection. Finite.</summary>
    public double? ProtectQ { get; init; }

    /// <summary>At most this many active memories per bank; a run archives the lowest-utility ones first
    /// (<see cref="UtilityOrder"/>). The cap overrides <see cref="ProtectQ"/>, since otherwise it could not hold. Null: no
    /// cap. Range [1, 100,000,000].</summary>
    public int? MaxActive { get; init; }

    /// <summary>How long an archived memory stays restorable; a run purges it afterwards. Range [0, 100 years].
    /// Default 30 days.</summary>
    public TimeSpan RetentionPeriod { get; init; } = TimeSpan.FromDays(30);

    /// <summary>At most this many archives and purges per run (per turn), so a run never blocks the bank for long; a run
    /// that hit the bound says so and the next run continues. Range [1, 100,000]. Default 1000.</summary>
    public int MaxPerRun { get; init; } = 1000;

    /// <summary>No rule on: never archives, purges after 30 days whatever was archived by hand.</summary>
    public static RetentionPolicy None { get; } = new();

    /// <summary>Whether any automatic archiving rule is on.</summary>
    public bool ArchivesAutomatically => LowQThreshold is not null || IdleWindow is not null || MaxActive is not null;

    /// <summary>The longest duration a policy takes: 100 years.</summary>
    public static TimeSpan MaxSpan { get; } = TimeSpan.FromDays(36_525);

    /// <summary>
    /// Throws unless <paramref name="ttl"/> is a memory's time to live this service takes: from 1 second to 100 years
    /// (<see cref="MaxSpan"/>), as the idle window.
    /// </summary>
    /// <param name="field">The field's name in the caller's input (e.g. <c>ttlSeconds</c>).</param>
    public static void ValidateTimeToLive(TimeSpan ttl, string field)
    {
        if (ttl < MinIdleWindow || ttl > MaxSpan)
        {
            throw FieldError.OutOfRange(field, "from 1 second to 100 years", ttl.ToString("c", System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>The shortest idle window: 1 second.</summary>
    public static TimeSpan MinIdleWindow { get; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws one exception listing every value outside its range (see <see cref="MemRLOptions.Validate"/>).</summary>
    /// <param name="fieldPrefix">Where the policy sits in the caller's input, e.g. <c>"retention."</c>.</param>
    public void Validate(string fieldPrefix = "") => RangeCheck.ThrowIfAny(FindErrors(fieldPrefix));

    /// <summary>Every value outside its range, in declaration order; empty when valid.</summary>
    public IReadOnlyList<FieldErrorParts> FindErrors(string fieldPrefix = "")
    {
        _ = fieldPrefix ?? throw FieldError.Missing(nameof(fieldPrefix), "a field prefix (\"\" for none)");
        string F(string member) => RangeCheck.Field(fieldPrefix, member);
        var errors = new List<FieldErrorParts>();
        if (LowQThreshold is { } low)
        {
            RangeCheck.Finite(errors, F(nameof(LowQThreshold)), low);
        }

        RangeCheck.Closed(errors, F(nameof(LowQMinVisits)), LowQMinVisits, 1, 1_000_000);
        if (IdleWindow is { } idle)
        {
            Span(errors, F(nameof(IdleWindow)), idle, MinIdleWindow);
        }

        if (ProtectQ is { } protect)
        {
            RangeCheck.Finite(errors, F(nameof(ProtectQ)), protect);
        }

        if (MaxActive is { } cap)
        {
            RangeCheck.Closed(errors, F(nameof(MaxActive)), cap, 1, 100_000_000);
        }

        Span(errors, F(nameof(RetentionPeriod)), RetentionPeriod, TimeSpan.Zero);
        RangeCheck.Closed(errors, F(nameof(MaxPerRun)), MaxPerRun, 1, 100_000);
        return errors;
    }

    /// <summary>
    /// The cap's order, lowest utility first: Q ascending (the learned estimate of how much the memory helps is the
    /// utility), then the older last reward (or write) first (among equal Q, the one the bank has gone longest without
    /// needing), then the lower sequence (older) first so the order is total and the same on every shard and in the
    /// reference bank. Visits do not enter the order: Q already averages the rewards, and ranking unvisited memories by
    /// their evidence would archive every new memory before it is tried.
    /// </summary>
    public static int UtilityOrder(double qA, DateTimeOffset lastA, long sequenceA, double qB, DateTimeOffset lastB, long sequenceB)
    {
        int c = qA.CompareTo(qB);
        if (c != 0)
        {
            return c;
        }

        c = lastA.UtcTicks.CompareTo(lastB.UtcTicks);
        return c != 0 ? c : sequenceA.CompareTo(sequenceB);
    }

    /// <summary>Whether the rules (not the cap) archive <paramref name="memory"/> at <paramref name="now"/>: its time to live
    /// ended (whatever the policy and its Q: the writer asked for it), low Q after enough visits, or idle past the window
    /// unless its Q protects it.</summary>
    public bool ArchivesByRule(Bank.MemoryRecord memory, DateTimeOffset now)
    {
        if (memory.ExpiresAt is { } expires && now >= expires)
        {
            return true;
        }

        if (LowQThreshold is { } low && memory.Visits >= LowQMinVisits && memory.Q <= low)
        {
            return true;
        }

        bool protectedByQ = ProtectQ is { } protect && memory.Q >= protect;
        return IdleWindow is { } idle && !protectedByQ && now - memory.LastActiveAt >= idle;
    }

    /// <summary>
    /// The <paramref name="count"/> lowest of <paramref name="memories"/> in <see cref="UtilityOrder"/>, lowest first: what
    /// the cap archives first. A bounded heap rather than a sort of them all, so a run over a million memories costs
    /// O(n log count); the order is total, so the shards and the reference bank pick the same ones.
    /// </summary>
    public static List<Bank.MemoryRecord> LowestByUtility(IEnumerable<Bank.MemoryRecord> memories, int count)
    {
        if (count <= 0)
        {
            return [];
        }

        // A max-heap of the lowest seen so far: its root is the highest of them, the first to give way.
        var highestFirst = Comparer<Bank.MemoryRecord>.Create((a, b) => UtilityOrder(b.Q, b.LastActiveAt, b.Sequence, a.Q, a.LastActiveAt, a.Sequence));
        var kept = new PriorityQueue<Bank.MemoryRecord, Bank.MemoryRecord>(count + 1, highestFirst);
        foreach (var m in memories)
        {
            if (kept.Count < count)
            {
                kept.Enqueue(m, m);
            }
            else if (highestFirst.Compare(m, kept.Peek()) > 0)
            {
                // m is below the highest kept: it takes that one's place.
                kept.DequeueEnqueue(m, m);
            }
        }

        var lowest = new List<Bank.MemoryRecord>(kept.Count);
        while (kept.Count > 0)
        {
            lowest.Add(kept.Dequeue());
        }

        lowest.Reverse();
        return lowest;
    }

    /// <summary>Throws unless a memory archived at <paramref name="archivedAt"/> may still be restored at <paramref name="now"/>:
    /// its retention period has not ended (after that a run purges it, and a restore in between must not depend on
    /// whether the run came first).</summary>
    /// <param name="id">The memory's id as the caller spells it, for the message.</param>
    public void RequireRestorable(string id, DateTimeOffset archivedAt, DateTimeOffset now)
    {
        var ends = archivedAt + RetentionPeriod;
        if (now >= ends)
        {
            throw FieldError.Invalid("memoryId", $"an archived memory within its retention period ({RetentionPeriod})", $"{id}, whose retention period ended at {ends:O}");
        }
    }

    private static void Span(List<FieldErrorParts> errors, string field, TimeSpan value, TimeSpan min)
    {
        if (value < min || value > MaxSpan)
        {
            errors.Add(new FieldErrorParts(field, $"a duration in [{min}, {MaxSpan}]", value.ToString(), null));
        }
    }
}

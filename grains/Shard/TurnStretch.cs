namespace MemRL.Grains.Shard;

/// <summary>
/// Checks the rule that keeps a reentrant shard correct without locks: a turn does all of its awaiting first, then checks
/// and changes state in one synchronous stretch, and awaits only the commit after it. A turn opens its stretch with
/// <see cref="Begin"/>; every change calls <see cref="AssertCurrent"/>, which fails when another turn has opened a
/// stretch since, i.e. when this turn awaited in the middle of its own and another interleaved.
/// </summary>
/// <remarks>
/// On in debug builds and wherever the runtime switch <c>MemRL.CheckTurnRule</c> is set (the test projects set it, so CI
/// checks the rule in its Release run); a failed check throws <see cref="InvalidOperationException"/>. Off otherwise: no
/// work beyond one static branch the JIT removes.
/// The stretch id flows with the turn's execution context (an <see cref="AsyncLocal{T}"/> set by a synchronous call, so it
/// stays set in the calling async method and in nothing that runs before it resumes).
/// </remarks>
internal sealed class TurnStretch
{
#if DEBUG
    private const bool DebugBuild = true;
#else
    private const bool DebugBuild = false;
#endif

    /// <summary>Whether the rule is checked in this process.</summary>
    public static readonly bool Enabled = DebugBuild || (AppContext.TryGetSwitch("MemRL.CheckTurnRule", out bool on) && on);

    private readonly AsyncLocal<long> _turn = new();
    private long _latest;

    /// <summary>Opens the calling turn's synchronous stretch: from here to its commit it must not await.</summary>
    public void Begin()
    {
        if (Enabled)
        {
            _turn.Value = ++_latest;
        }
    }

    /// <summary>True when the calling turn opened the newest stretch (no other turn began one since).</summary>
    public bool IsCurrent => _turn.Value == _latest && _latest != 0;

    /// <summary>Fails when the calling turn is not inside its own, uninterrupted stretch.</summary>
    public void AssertCurrent(string what)
    {
        if (Enabled && !IsCurrent)
        {
            Fail(what);
        }
    }

    // An exception rather than Debug.Assert's fail-fast: the call that broke the rule fails with this message, and a test
    // host reports it instead of dying.
    private static void Fail(string what) => throw new InvalidOperationException(
        $"{what} outside its turn's synchronous stretch: the turn awaited after it began changing state, and another turn interleaved.");
}

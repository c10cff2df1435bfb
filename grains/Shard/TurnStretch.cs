using System.Diagnostics;

namespace MemRL.Grains.Shard;

/// <summary>
/// Checks, in debug builds, the rule that keeps a reentrant shard correct without locks: a turn does all of its awaiting
/// first, then checks and changes state in one synchronous stretch, and awaits only the commit after it. A turn opens its
/// stretch with <see cref="Begin"/>; every change asserts <see cref="IsCurrent"/>, which is false when another turn has
/// opened a stretch since, i.e. when this turn awaited in the middle of its own and another interleaved.
/// </summary>
/// <remarks>
/// The stretch id flows with the turn's execution context (an <see cref="AsyncLocal{T}"/> set by a synchronous call, so it
/// stays set in the calling async method and in nothing that runs before it resumes). Release builds do no work.
/// </remarks>
internal sealed class TurnStretch
{
    private readonly AsyncLocal<long> _turn = new();
    private long _latest;

    /// <summary>Opens the calling turn's synchronous stretch: from here to its commit it must not await.</summary>
    [Conditional("DEBUG")]
    public void Begin() => _turn.Value = ++_latest;

    /// <summary>True when the calling turn opened the newest stretch (no other turn began one since).</summary>
    public bool IsCurrent => _turn.Value == _latest && _latest != 0;

    /// <summary>Asserts that the calling turn is inside its own, uninterrupted stretch.</summary>
    [Conditional("DEBUG")]
    public void AssertCurrent(string what) =>
        Debug.Assert(IsCurrent, $"{what} outside its turn's synchronous stretch: the turn awaited after it began changing state, and another turn interleaved.");
}

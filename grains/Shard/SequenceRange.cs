namespace MemRL.Grains.Shard;

/// <summary>
/// The block of sequence numbers a shard hands out to new keys and memories. Blocks come from the bank, which persists
/// the end of every block it grants, so sequences stay unique across shards, restarts and crashes (an unused rest of a
/// block is skipped, never reused). Concurrent turns that run short share one reservation.
/// </summary>
/// <remarks>Not thread-safe: called from the shard's turns only.</remarks>
internal sealed class SequenceRange(Func<int, Task<long>> reserve, int block)
{
    private long _next;
    private long _end;
    private Task? _reserving;

    /// <summary>How many sequences are left in the current block.</summary>
    public long Remaining => _end - _next;

    /// <summary>
    /// Completes when a reservation started for a turn that found fewer than it needs has landed. The caller re-checks
    /// <see cref="Remaining"/> afterwards: other turns may have used the new block while it waited.
    /// </summary>
    public Task ReserveAsync()
    {
        if (_reserving is null || _reserving.IsCompleted)
        {
            _reserving = ReserveBlockAsync();
        }

        return _reserving;
    }

    /// <summary>
    /// Drops the rest of the current block when it would hand out a sequence at or below <paramref name="sequence"/>, so
    /// the next take reserves a new block (the bank grants blocks in rising order, so that one lies above every sequence
    /// granted so far). A shard receiving moved keys calls it with their highest sequence: a memory written here later is
    /// then younger by sequence too, which the per-key order ("oldest first") and recall's tie-break rely on.
    /// </summary>
    public void SkipPast(long sequence)
    {
        if (_next <= sequence)
        {
            _next = _end;
        }
    }

    /// <summary>Takes the next sequence; the caller has made sure one remains.</summary>
    public long Take()
    {
        if (_next >= _end)
        {
            throw new InvalidOperationException($"No sequence is left in the reserved block (next {_next}, end {_end}); reserve before taking.");
        }

        return _next++;
    }

    private async Task ReserveBlockAsync()
    {
        long start = await reserve(block);
        _next = start;
        _end = start + block;
    }
}

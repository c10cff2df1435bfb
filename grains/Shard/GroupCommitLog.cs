using System.Diagnostics;
using MemRL.Grains.Storage;

namespace MemRL.Grains.Shard;

/// <summary>
/// A shard's group commit (DESIGN §3): changes already applied in memory queue here, and one write to the store carries
/// everything queued while the previous write was in flight. A caller is acknowledged only when the commit holding its
/// changes completes. After a failed write the log stops: the memory holds changes that may never be durable, so the
/// owner must stop serving and reload.
/// </summary>
/// <remarks>
/// Not thread-safe, and it needs none: the shard calls it from its turns, and the flush loop it starts continues on the
/// scheduler of the turn that started it (no <c>ConfigureAwait(false)</c> here), so its synchronous parts never race a
/// turn. One log record per commit: <see cref="DurableHead"/> is the position of the last record written or read.
/// </remarks>
internal sealed class GroupCommitLog(IMemoryStore store, string shard, long durableHead)
{
    private readonly List<ShardEvent> _pendingEvents = [];
    private readonly List<StoredPayload> _pendingPuts = [];
    private readonly List<long> _pendingDeletes = [];
    private readonly List<StoredHistory> _pendingHistory = [];
    private TaskCompletionSource? _pendingCommit;
    private Task? _inFlightCommit;
    private bool _flushing;

    /// <summary>The log position of the last record this log wrote (or the shard read on activation).</summary>
    public long DurableHead { get; private set; } = durableHead;

    /// <summary>Why the log stopped appending (a failed write, or the owner stopped it); null while it runs.</summary>
    public Exception? Stopped { get; private set; }

    /// <summary>True while changes wait for a commit that has not started: memory is ahead of the store.</summary>
    public bool HasPending => _pendingCommit is not null;

    /// <summary>True when memory equals the log up to <see cref="DurableHead"/>: nothing pending, nothing in flight.</summary>
    public bool IsQuiet => _pendingCommit is null && _inFlightCommit is null;

    /// <summary>Called after a flush loop ends with everything durable (the shard takes snapshots from here).</summary>
    public Action? Drained { get; init; }

    /// <summary>Called once when a write to the store fails; returns the error its callers (and <see cref="Stopped"/>) get.</summary>
    public Func<Exception, Exception> Failed { get; init; } = static ex => ex;

    /// <summary>Queues one applied change and the payload row it writes.</summary>
    public void Queue(ShardEvent change, StoredPayload? put = null)
    {
        _pendingEvents.Add(change);
        if (put is not null)
        {
            _pendingPuts.Add(put);
        }
    }

    /// <summary>Queues a history row, written in the same commit (and transaction) as the change queued with it.</summary>
    public void QueueHistory(StoredHistory row) => _pendingHistory.Add(row);

    /// <summary>Queues the physical deletion of a payload row. Rows are written before deletes within one commit.</summary>
    public void QueueDelete(long sequence) => _pendingDeletes.Add(sequence);

    /// <summary>Joins the next commit, starting the flush loop if none runs. Interleaving is allowed at the caller's await.</summary>
    public Task CommitAsync()
    {
        if (Stopped is { } stopped)
        {
            return Task.FromException(stopped);
        }

        _pendingCommit ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var commit = _pendingCommit.Task;
        if (!_flushing)
        {
            _flushing = true;
            _ = FlushAsync();
        }

        return commit;
    }

    /// <summary>Completes when everything queued so far is durable (a retry is acknowledged no earlier than its original).</summary>
    public Task DurableAsync() => _pendingCommit?.Task ?? _inFlightCommit ?? Task.CompletedTask;

    /// <summary>Completes when the write on its way to the store (if any) has landed or failed; never throws.</summary>
    public Task InFlightSettledAsync() => Settled(_inFlightCommit);

    /// <summary>Completes when everything queued has landed or failed; never throws.</summary>
    public Task SettledAsync() => Settled(DurableAsync());

    /// <summary>Stops appending: changes waiting for a commit are refused with <paramref name="reason"/>; a write in flight still lands.</summary>
    public void Stop(Exception reason)
    {
        if (Stopped is not null)
        {
            return;
        }

        Stopped = reason;
        _pendingCommit?.TrySetException(reason);
        _pendingCommit = null;
        _pendingEvents.Clear();
        _pendingPuts.Clear();
        _pendingDeletes.Clear();
        _pendingHistory.Clear();
    }

    // One row per sequence, the last put winning: two edits of one memory in one commit rewrite its row twice, and a store
    // transaction may touch a row only once (Azure's entity-group transactions refuse it; the result is the last anyway).
    private static StoredPayload[] LatestPuts(List<StoredPayload> puts)
    {
        if (puts.Count < 2)
        {
            return [.. puts];
        }

        var last = new Dictionary<long, int>(puts.Count);
        for (int i = 0; i < puts.Count; i++)
        {
            last[puts[i].Sequence] = i;
        }

        return last.Count == puts.Count ? [.. puts] : [.. puts.Where((p, i) => last[p.Sequence] == i)];
    }

    private static async Task Settled(Task? task)
    {
        if (task is null)
        {
            return;
        }

        try
        {
            await task;
        }
        catch
        {
            // Settled, not succeeded: the commit's own caller sees its failure.
        }
    }

    // Writes batches until nothing is pending: everything queued while one batch is being written goes in the next.
    private async Task FlushAsync()
    {
        try
        {
            while (_pendingCommit is { } commit && Stopped is null)
            {
                int events = _pendingEvents.Count;
                var batch = new ShardBatch(DurableHead, EventCodec.Encode(_pendingEvents), LatestPuts(_pendingPuts), [.. _pendingDeletes]) { History = [.. _pendingHistory] };
                _pendingEvents.Clear();
                _pendingPuts.Clear();
                _pendingDeletes.Clear();
                _pendingHistory.Clear();
                _pendingCommit = null;
                _inFlightCommit = commit.Task;
                long started = Stopwatch.GetTimestamp();
                try
                {
                    await store.AppendAsync(shard, batch);
                    Telemetry.CommitDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    Telemetry.CommitEvents.Record(events);
                }
                catch (Exception ex)
                {
                    var error = Failed(ex);
                    Stop(error);
                    commit.TrySetException(error);
                    return;
                }

                DurableHead = batch.ExpectedHead + 1;
                _inFlightCommit = null;
                commit.TrySetResult();
            }

            if (Stopped is null)
            {
                Drained?.Invoke();
            }
        }
        finally
        {
            _flushing = false;
        }
    }
}

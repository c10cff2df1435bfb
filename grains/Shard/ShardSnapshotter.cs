using MemRL.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace MemRL.Grains.Shard;

/// <summary>
/// Takes a shard's snapshots (DESIGN §3): after enough events, at a consistent cut (nothing pending or in flight), the
/// records are serialised in the shard's turn, the HNSW graph on a thread of its own while the shard keeps serving, and
/// the chunks go to the store. Turns that would change the graph wait for <see cref="IndexWritableAsync"/>; recalls,
/// rewards and joining writes go on. A failed snapshot is not fatal: the log still holds everything, and the next cut
/// tries again.
/// </summary>
/// <remarks>Not thread-safe: called from the shard's turns only.</remarks>
internal sealed partial class ShardSnapshotter(IMemoryStore store, string shard, StorageOptions options, ILogger logger, long position)
{
    private Task _indexSaving = Task.CompletedTask;
    private bool _writing;

    /// <summary>The log position of the newest snapshot in the store.</summary>
    public long Position { get; private set; } = position;

    /// <summary>Events applied since the last snapshot began (replayed ones count: they are what a restart would replay).</summary>
    public long EventsSince { get; set; }

    /// <summary>The snapshot on its way to the store, if any; never faults.</summary>
    public Task Writing { get; private set; } = Task.CompletedTask;

    /// <summary>True while a snapshot reads the graph: a turn that changes the index must wait.</summary>
    public bool IsReadingIndex => !_indexSaving.IsCompleted;

    /// <summary>
    /// Starts a snapshot at <paramref name="position"/> if enough events have passed and none is being written. Call only
    /// at a consistent cut: the state must equal the log up to <paramref name="position"/>.
    /// </summary>
    public void MaybeStart(ShardState state, long position)
    {
        if (_writing || EventsSince < options.SnapshotEveryEvents)
        {
            return;
        }

        var records = SnapshotCodec.WriteRecords(state, position, options.SnapshotChunkBytes);
        // A dedicated thread, not a pool thread: serialising a large graph takes about a second, and on a small machine
        // a pool thread held that long is a large share of the pool every grain runs on.
        var chunks = Task.Factory.StartNew(
            () => SnapshotCodec.AppendIndex(state, records), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _indexSaving = chunks;
        _writing = true;
        EventsSince = 0;
        Writing = WriteAsync(position, chunks);
    }

    /// <summary>
    /// Completes when no snapshot is reading the graph. The caller must not await anything else between this and the
    /// change it makes to the index, or a snapshot could start in between.
    /// </summary>
    public async Task IndexWritableAsync()
    {
        while (!_indexSaving.IsCompleted)
        {
            // A failed serialisation is reported by WriteAsync; here it only means the graph is free again.
            try
            {
                await _indexSaving;
            }
            catch
            {
            }
        }
    }

    private async Task WriteAsync(long position, Task<List<ReadOnlyMemory<byte>>> serialising)
    {
        try
        {
            var chunks = await serialising;
            if (await store.WriteSnapshotAsync(shard, position, chunks))
            {
                Position = position;
            }
        }
        catch (Exception ex)
        {
            LogSnapshotFailed(logger, ex, shard, position);
        }
        finally
        {
            _writing = false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: snapshot at position {Position} failed; the log is kept.")]
    private static partial void LogSnapshotFailed(ILogger logger, Exception error, string shard, long position);
}

using MemRL.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace MemRL.Grains.Shard;

/// <summary>What a shard is after loading: its state and where its log and snapshots stand.</summary>
internal sealed record RecoveredShard(ShardState State, long DurableHead, long SnapshotPosition, long EventsSinceSnapshot);

/// <summary>
/// Loads a shard from what the store holds (DESIGN §3): the latest snapshot, then the log tail through the same
/// <see cref="ShardState.Apply"/> live turns use, so a recovered shard equals the one that wrote the log. A torn last
/// record (a commit that never completed, so was never acknowledged) is dropped; any other gap or corruption refuses
/// the load rather than serve a shard that lost acknowledged data.
/// </summary>
internal static partial class ShardRecovery
{
    public static async Task<RecoveredShard> LoadAsync(IMemoryStore store, string shard, ShardImage image, Func<ShardState> empty, int operationCapacity, ILogger logger)
    {
        var payloads = image.Payloads.ToDictionary(p => p.Sequence);
        long position = 0;
        var state = image.SnapshotChunks.Count > 0
            ? SnapshotCodec.Read(image.SnapshotChunks, payloads, operationCapacity, shard, out position)
            : empty();
        if (position != image.SnapshotPosition)
        {
            throw new InvalidDataException($"Shard '{shard}' snapshot says position {position}; its row says {image.SnapshotPosition}.");
        }

        long expected = position;
        long events = 0;
        bool torn = false;
        foreach (var record in image.Tail)
        {
            if (record.Position != expected + 1)
            {
                throw new InvalidDataException($"Shard '{shard}' log jumps from position {expected} to {record.Position}; expected {expected + 1}.");
            }

            if (!EventCodec.TryDecode(record.Record, out var changes))
            {
                if (record.Position != image.Head)
                {
                    throw new InvalidDataException(
                        $"Shard '{shard}' log record {record.Position} is corrupt and is not the last (head {image.Head}); refusing to load.");
                }

                LogTornTail(logger, shard, record.Position);
                await store.DiscardTailAsync(shard, image.Head, expected);
                torn = true;
                break;
            }

            foreach (var change in changes)
            {
                state.Apply(change, payloads);
            }

            events += changes.Count;
            expected = record.Position;
        }

        if (!torn && expected != image.Head)
        {
            throw new InvalidDataException($"Shard '{shard}' log ends at position {expected}; its head row says {image.Head}.");
        }

        state.VerifyPayloads(shard);
        return new RecoveredShard(state, expected, position, events);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: log record {Position} is torn (length/CRC mismatch); it was never acknowledged and is discarded.")]
    private static partial void LogTornTail(ILogger logger, string shard, long position);
}

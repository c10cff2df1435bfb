using MemRL.Core.Bank;
using MemRL.Errors;
using MemRL.Grains.Storage;
using MemRL.Index;

namespace MemRL.Grains;

/// <summary>
/// A shard's in-memory state and the one code path that changes it: <see cref="Apply"/>. Live turns build an event,
/// apply it here and append it to the log; activation replays the same events through the same method, which is why a
/// recovered shard equals the one that wrote the log (same Q bits, same keys; HNSW levels derive from (seed, id), so
/// the same inserts give the same graph). Not thread-safe: owned by one grain activation.
/// </summary>
internal sealed class ShardState
{
    private const uint SnapshotMagic = 0x534C524D; // "MRLS"
    // Version 2 adds the recall-reward table after the operations; version 1 (without it) is still read.
    private const byte SnapshotVersion = 2;
    private const byte FirstSnapshotVersion = 1;

    // Memories whose payload row was missing when replayed: legal only if a later event deletes them.
    private readonly HashSet<long> _missingPayloads = [];

    public ShardState(HnswIndex index, int operationCapacity)
    {
        Index = index;
        Operations = new OperationLog(operationCapacity);
    }

    public MemoryTable Table { get; } = new();

    public Dictionary<long, int> KeySlots { get; } = [];

    public HnswIndex Index { get; private set; }

    public OperationLog Operations { get; }

    public RecallRewardLog RecallRewards { get; } = new();

    /// <summary>Applies one event. <paramref name="payloads"/> resolves the texts and vectors the event references.</summary>
    public void Apply(ShardEvent change, IReadOnlyDictionary<long, StoredPayload> payloads)
    {
        switch (change)
        {
            case KeyCreated e:
                AddKey(e.Key, e.Slot, payloads, normalized: false);
                break;
            case KeyImported e:
                AddKey(e.Key, e.Slot, payloads, normalized: true);
                break;
            case MemoryAdded e:
                if (!payloads.TryGetValue(e.Memory, out var memoryPayload))
                {
                    _missingPayloads.Add(e.Memory);
                }

                Table.AddMemory(e.Memory, e.Key, memoryPayload?.IntentText ?? "", memoryPayload?.Experience ?? "", e.Success, e.Q, e.CreatedAt);
                break;
            case QUpdated e:
                Table.RestoreQ(e.Memory, e.Q, e.Visits, e.Reward, e.UpdatedAt);
                break;
            case MemoryDeleted e:
                var (_, removedKey) = Table.Delete(e.Memory);
                _missingPayloads.Remove(e.Memory);
                if (removedKey is { } key)
                {
                    Index.Remove(key);
                    KeySlots.Remove(key);
                    _missingPayloads.Remove(~key);
                }

                break;
            case OperationApplied e:
                Operations.Record(e.OperationId, e.PayloadHash, e.Result);
                break;
            case RecallRewarded e:
                RecallRewards.Record(e.Recall, e.Memory, new RecallReward(e.Reward, e.Q, e.Visits, e.ExpiresTicks));
                break;
            default:
                throw FieldError.Invalid(nameof(change), "a shard event", change.GetType().Name);
        }
    }

    private void AddKey(long key, int slot, IReadOnlyDictionary<long, StoredPayload> payloads, bool normalized)
    {
        payloads.TryGetValue(key, out var keyPayload);
        // The vector lives in the index; the table keeps the key's text and memories only.
        Table.AddKey(key, keyPayload?.IntentText ?? "", []);
        KeySlots.Add(key, slot);
        if (keyPayload?.Vector is not { } vector)
        {
            _missingPayloads.Add(~key);
        }
        else if (normalized)
        {
            Index.AddNormalized(key, vector);
        }
        else
        {
            Index.Add(key, vector);
        }
    }

    /// <summary>Throws when a surviving key or memory had no payload row: the store lost data it had acknowledged.</summary>
    public void VerifyPayloads(string shard)
    {
        if (_missingPayloads.Count > 0)
        {
            long first = _missingPayloads.First();
            throw new InvalidDataException(
                $"Shard '{shard}' has {_missingPayloads.Count} live record(s) without a payload row (first: {(first < 0 ? $"key {~first}" : $"memory {first}")}); expected every live key and memory to have one.");
        }
    }

    /// <summary>
    /// Serialises the records and operation ids into chunks of at most <paramref name="chunkSize"/> bytes, so no single
    /// stored value approaches a backend's value limit. Texts and vectors are not included: they stay in their payload
    /// rows. Call only when the state equals the log up to <paramref name="position"/>; then, before anything changes
    /// the index, append the HNSW graph with <see cref="AppendIndex"/> (it may run on another thread while searches and
    /// Q updates go on: neither changes the graph).
    /// </summary>
    public ChunkWriteStream SnapshotRecords(long position, int chunkSize)
    {
        var chunks = new ChunkWriteStream(chunkSize);
        using (var w = new BinaryWriter(chunks, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(SnapshotMagic);
            w.Write(SnapshotVersion);
            w.Write(position);
            w.Write(Table.KeyCount);
            foreach (var key in Table.Keys.OrderBy(k => k.Sequence))
            {
                w.Write(key.Sequence);
                w.Write(KeySlots[key.Sequence]);
                w.Write(key.Memories.Count);
                foreach (var m in key.Memories)
                {
                    w.Write(m.Sequence);
                    w.Write(m.Success);
                    w.Write(m.Q);
                    w.Write(m.Visits);
                    w.Write(m.LastReward.HasValue);
                    w.Write(m.LastReward ?? 0);
                    w.Write(m.CreatedAt.UtcTicks);
                    w.Write(m.UpdatedAt.UtcTicks);
                }
            }

            var operations = Operations.Entries.ToList();
            w.Write(operations.Count);
            foreach (var (id, hash, result) in operations)
            {
                EventCodec.WriteOperation(w, new OperationApplied(id, hash, result));
            }

            var rewards = RecallRewards.Entries.ToList();
            w.Write(rewards.Count);
            foreach (var (recall, memory, reward) in rewards)
            {
                EventCodec.WriteRecallRewarded(w, new RecallRewarded(recall, memory, reward.Reward, reward.Q, reward.Visits, reward.ExpiresTicks));
            }
        }

        return chunks;
    }

    /// <summary>Completes a snapshot begun by <see cref="SnapshotRecords"/> with the index graph and vectors.</summary>
    public List<ReadOnlyMemory<byte>> AppendIndex(ChunkWriteStream records)
    {
        Index.Save(records);
        return records.Chunks;
    }

    /// <summary>The whole snapshot in one call (records, then graph): for callers with nothing to keep serving.</summary>
    public List<ReadOnlyMemory<byte>> Snapshot(long position, int chunkSize) => AppendIndex(SnapshotRecords(position, chunkSize));

    /// <summary>Rebuilds the state from a snapshot's chunks and the shard's payload rows.</summary>
    public static ShardState Restore(IReadOnlyList<byte[]> chunks, IReadOnlyDictionary<long, StoredPayload> payloads, int operationCapacity, string shard, out long position)
    {
        using var stream = new ChunkReadStream(chunks);
        using var r = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        uint magic = r.ReadUInt32();
        byte version = r.ReadByte();
        if (magic != SnapshotMagic || version is < FirstSnapshotVersion or > SnapshotVersion)
        {
            throw new InvalidDataException($"Snapshot of shard '{shard}' has magic {magic:x8} version {version}; expected {SnapshotMagic:x8} version {FirstSnapshotVersion} to {SnapshotVersion}.");
        }

        position = r.ReadInt64();
        var keys = new List<(long Key, int Slot, List<(long Seq, bool Success, double Q, int Visits, double? Last, long Created, long Updated)> Memories)>();
        int keyCount = r.ReadInt32();
        for (int k = 0; k < keyCount; k++)
        {
            long key = r.ReadInt64();
            int slot = r.ReadInt32();
            int count = r.ReadInt32();
            var memories = new List<(long, bool, double, int, double?, long, long)>(count);
            for (int m = 0; m < count; m++)
            {
                long seq = r.ReadInt64();
                bool success = r.ReadBoolean();
                double q = r.ReadDouble();
                int visits = r.ReadInt32();
                bool hasLast = r.ReadBoolean();
                double last = r.ReadDouble();
                memories.Add((seq, success, q, visits, hasLast ? last : null, r.ReadInt64(), r.ReadInt64()));
            }

            keys.Add((key, slot, memories));
        }

        var operations = new List<OperationApplied>();
        int operationCount = r.ReadInt32();
        for (int i = 0; i < operationCount; i++)
        {
            operations.Add(EventCodec.ReadOperation(r));
        }

        var rewards = new List<RecallRewarded>();
        int rewardCount = version >= 2 ? r.ReadInt32() : 0;
        for (int i = 0; i < rewardCount; i++)
        {
            rewards.Add(EventCodec.ReadRecallRewarded(r));
        }

        var state = new ShardState(HnswIndex.Load(stream), operationCapacity);
        foreach (var e in rewards)
        {
            state.RecallRewards.Record(e.Recall, e.Memory, new RecallReward(e.Reward, e.Q, e.Visits, e.ExpiresTicks));
        }

        // A payload may be missing when the log tail deletes the record after the snapshot (deletes are physical);
        // VerifyPayloads, after the tail is replayed, fails the load if any live record is still without one.
        foreach (var (key, slot, memories) in keys)
        {
            if (!payloads.TryGetValue(key, out var keyPayload))
            {
                state._missingPayloads.Add(~key);
            }

            state.Table.AddKey(key, keyPayload?.IntentText ?? "", []);
            state.KeySlots.Add(key, slot);
            foreach (var (seq, success, q, visits, last, created, updated) in memories)
            {
                if (!payloads.TryGetValue(seq, out var payload))
                {
                    state._missingPayloads.Add(seq);
                }

                state.Table.AddMemory(seq, key, payload?.IntentText ?? "", payload?.Experience ?? "", success, q, new DateTimeOffset(created, TimeSpan.Zero));
                state.Table.RestoreQ(seq, q, visits, last, new DateTimeOffset(updated, TimeSpan.Zero));
            }
        }

        foreach (var op in operations)
        {
            state.Operations.Record(op.OperationId, op.PayloadHash, op.Result);
        }

        return state;
    }
}

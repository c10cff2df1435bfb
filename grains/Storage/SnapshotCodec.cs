using MemRL.Core.Bank;
using MemRL.Grains.Shard;
using MemRL.Index;

namespace MemRL.Grains.Storage;

/// <summary>
/// The shard snapshot format: magic "MRLS", a version byte, the log position the snapshot equals, the records (keys with
/// their slot and memories with Q, visits, times and, from version 3, scope and metadata), the operation ids, the recall
/// rewards (from version 2), from version 4 each memory's revision (its edit count), from version 5 each memory's restore
/// time and the archive (keys out of the graph with their unit vectors, archived memories with their archive time), then
/// the HNSW graph. Texts and vectors are not included: they stay in their payload rows. Every version ever written is read;
/// a change to the layout is a new version here, never an edit of an old one.
/// </summary>
internal static class SnapshotCodec
{
    public const uint Magic = 0x534C524D; // "MRLS"

    /// <summary>The version written. Version 2 added the recall-reward table after the operations; version 3 a memory's
    /// scope and metadata (a flag, then the tags when it has any); version 4 a memory's revision (int32, after the tags);
    /// version 5 a memory's restore time (flag, ticks) after the revision, and the archive section after the recall rewards:
    /// set-aside keys (key, slot, dimension, unit vector) then archived memories (key, the memory as above, archive ticks);
    /// version 6 a memory's expiry (flag, ticks) after its restore time.</summary>
    public const byte Version = 6;

    /// <summary>The oldest version still read.</summary>
    public const byte FirstVersion = 1;

    /// <summary>
    /// Serialises the records, operation ids and recall rewards into chunks of at most <paramref name="chunkSize"/>
    /// bytes, so no single stored value approaches a backend's value limit. Call only when the state equals the log up to
    /// <paramref name="position"/>; then, before anything changes the index, append the graph with
    /// <see cref="AppendIndex"/> (it may run on another thread while searches and Q updates go on: neither changes the
    /// graph).
    /// </summary>
    public static ChunkWriteStream WriteRecords(ShardState state, long position, int chunkSize)
    {
        var chunks = new ChunkWriteStream(chunkSize);
        using var w = new BinaryWriter(chunks, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Version);
        w.Write(position);
        w.Write(state.Table.KeyCount);
        foreach (var key in state.Table.Keys.OrderBy(k => k.Sequence))
        {
            w.Write(key.Sequence);
            w.Write(state.KeySlots[key.Sequence]);
            w.Write(key.Memories.Count);
            foreach (var m in key.Memories)
            {
                WriteMemory(w, m);
            }
        }

        var operations = state.Operations.Entries.ToList();
        w.Write(operations.Count);
        foreach (var (id, hash, result) in operations)
        {
            EventCodec.WriteOperation(w, new OperationApplied(id, hash, result));
        }

        var rewards = state.RecallRewards.Entries.ToList();
        w.Write(rewards.Count);
        foreach (var (recall, memory, reward) in rewards)
        {
            EventCodec.WriteRecallRewarded(w, new RecallRewarded(recall, memory, reward.Reward, reward.Q, reward.Visits, reward.ExpiresTicks));
        }

        w.Write(state.Table.SetAsideKeys.Count());
        foreach (var key in state.Table.SetAsideKeys.OrderBy(k => k.Sequence))
        {
            var vector = state.SetAsideVectors[key.Sequence];
            w.Write(key.Sequence);
            w.Write(state.KeySlots[key.Sequence]);
            w.Write(vector.Length);
            foreach (float x in vector)
            {
                w.Write(x);
            }
        }

        w.Write(state.Table.ArchivedCount);
        foreach (var m in state.Table.ArchivedMemories.OrderBy(m => m.Sequence))
        {
            w.Write(m.KeySequence);
            WriteMemory(w, m);
            w.Write(m.ArchivedAt!.Value.UtcTicks);
        }

        return chunks;
    }

    private static void WriteMemory(BinaryWriter w, MemoryRecord m)
    {
        w.Write(m.Sequence);
        w.Write(m.Success);
        w.Write(m.Q);
        w.Write(m.Visits);
        w.Write(m.LastReward.HasValue);
        w.Write(m.LastReward ?? 0);
        w.Write(m.CreatedAt.UtcTicks);
        w.Write(m.UpdatedAt.UtcTicks);
        bool tagged = !m.Scope.IsEmpty || m.Metadata.Count > 0;
        w.Write(tagged);
        if (tagged)
        {
            EventCodec.WriteTags(w, m.Scope, m.Metadata);
        }

        w.Write(m.Revision);
        w.Write(m.RestoredAt.HasValue);
        w.Write(m.RestoredAt?.UtcTicks ?? 0);
        w.Write(m.ExpiresAt.HasValue);
        w.Write(m.ExpiresAt?.UtcTicks ?? 0);
    }

    private static SnapshotMemory ReadMemory(BinaryReader r, byte version)
    {
        long sequence = r.ReadInt64();
        bool success = r.ReadBoolean();
        double q = r.ReadDouble();
        int visits = r.ReadInt32();
        bool hasLast = r.ReadBoolean();
        double last = r.ReadDouble();
        long created = r.ReadInt64(), updated = r.ReadInt64();
        var (scope, metadata) = version >= 3 && r.ReadBoolean() ? EventCodec.ReadTags(r) : (MemoryScope.None, MemoryMetadata.Empty);
        int revision = version >= 4 ? r.ReadInt32() : 0;
        long? restored = null;
        if (version >= 5)
        {
            bool hasRestored = r.ReadBoolean();
            long ticks = r.ReadInt64();
            restored = hasRestored ? ticks : null;
        }

        long? expires = null;
        if (version >= 6)
        {
            bool hasExpiry = r.ReadBoolean();
            long ticks = r.ReadInt64();
            expires = hasExpiry ? ticks : null;
        }

        return new SnapshotMemory(sequence, success, q, visits, hasLast ? last : null, created, updated, scope, metadata, revision, restored) { ExpiresTicks = expires };
    }

    /// <summary>Completes a snapshot begun by <see cref="WriteRecords"/> with the index graph and vectors.</summary>
    public static List<ReadOnlyMemory<byte>> AppendIndex(ShardState state, ChunkWriteStream records)
    {
        state.Index.Save(records);
        return records.Chunks;
    }

    /// <summary>The whole snapshot in one call (records, then graph): for callers with nothing to keep serving.</summary>
    public static List<ReadOnlyMemory<byte>> Write(ShardState state, long position, int chunkSize) =>
        AppendIndex(state, WriteRecords(state, position, chunkSize));

    /// <summary>Rebuilds a shard's state from a snapshot's chunks and the shard's payload rows.</summary>
    public static ShardState Read(
        IReadOnlyList<byte[]> chunks, IReadOnlyDictionary<long, StoredPayload> payloads, int operationCapacity, string shard, out long position)
    {
        using var stream = new ChunkReadStream(chunks);
        using var r = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        uint magic = r.ReadUInt32();
        byte version = r.ReadByte();
        if (magic != Magic || version is < FirstVersion or > Version)
        {
            throw new InvalidDataException(
                $"Snapshot of shard '{shard}' has magic {magic:x8} version {version}; expected {Magic:x8} version {FirstVersion} to {Version}.");
        }

        position = r.ReadInt64();
        var keys = new List<SnapshotKey>();
        int keyCount = r.ReadInt32();
        for (int k = 0; k < keyCount; k++)
        {
            long key = r.ReadInt64();
            int slot = r.ReadInt32();
            int count = r.ReadInt32();
            var memories = new SnapshotMemory[count];
            for (int m = 0; m < count; m++)
            {
                memories[m] = ReadMemory(r, version);
            }

            keys.Add(new SnapshotKey(key, slot, memories));
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

        var setAside = new List<(long Key, int Slot, float[] Vector)>();
        var archived = new List<(long Key, SnapshotMemory Memory, long ArchivedTicks)>();
        if (version >= 5)
        {
            int setAsideCount = r.ReadInt32();
            for (int i = 0; i < setAsideCount; i++)
            {
                long key = r.ReadInt64();
                int slot = r.ReadInt32();
                var vector = new float[r.ReadInt32()];
                for (int d = 0; d < vector.Length; d++)
                {
                    vector[d] = r.ReadSingle();
                }

                setAside.Add((key, slot, vector));
            }

            int archivedCount = r.ReadInt32();
            for (int i = 0; i < archivedCount; i++)
            {
                long key = r.ReadInt64();
                var memory = ReadMemory(r, version);
                archived.Add((key, memory, r.ReadInt64()));
            }
        }

        var state = new ShardState(HnswIndex.Load(stream), operationCapacity);
        foreach (var key in keys)
        {
            state.RestoreKey(key, payloads);
        }

        state.RestoreArchive(setAside, archived, payloads);

        foreach (var op in operations)
        {
            state.Apply(op, payloads);
        }

        foreach (var reward in rewards)
        {
            state.Apply(reward, payloads);
        }

        return state;
    }
}

/// <summary>One key of a snapshot, with its memories.</summary>
internal sealed record SnapshotKey(long Key, int Slot, SnapshotMemory[] Memories);

/// <summary>One memory of a snapshot: everything but its texts, which stay in the payload row.</summary>
internal sealed record SnapshotMemory(
    long Sequence, bool Success, double Q, int Visits, double? LastReward, long CreatedTicks, long UpdatedTicks, MemoryScope Scope, MemoryMetadata Metadata,
    int Revision, long? RestoredTicks)
{
    /// <summary>The memory's expiry (snapshot version 6 on); null: none.</summary>
    public long? ExpiresTicks { get; init; }
}

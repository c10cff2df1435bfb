using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using MemRL.Grains.Shard;
using MemRL.Grains.Storage;
using MemRL.Index;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>Snapshots: a restored shard equals the one that took the snapshot, whatever the chunk size.</summary>
public sealed class ShardStateTests
{
    [Theory]
    [InlineData(4096)]
    [InlineData(1 << 20)]
    public void Restore_RebuildsTheSameShard_FromSnapshotChunks(int chunkSize)
    {
        var vectors = new Vectors(5, 32);
        var state = new ShardState(new HnswIndex(new HnswOptions { Dimension = 32, Seed = 7 }), 1000);
        var payloads = new Dictionary<long, StoredPayload>();
        var now = new DateTimeOffset(2026, 11, 24, 0, 0, 0, TimeSpan.Zero);
        long sequence = 0;
        for (int k = 0; k < 60; k++)
        {
            long key = sequence++;
            var keyPayload = new StoredPayload(key, $"intent {k}", null, vectors.Gaussian());
            payloads[key] = keyPayload;
            state.Apply(new KeyCreated(key, k % 7), payloads);
            for (int m = 0; m < 1 + (k % 3); m++)
            {
                long memory = sequence++;
                payloads[memory] = new StoredPayload(memory, $"intent {k}", $"experience {memory}", null);
                state.Apply(new MemoryAdded(memory, key, m % 2 == 0, 0.5, now), payloads);
                state.Apply(new QUpdated(memory, 1.0, 0.65, 1, now.AddSeconds(1)), payloads);
                state.Apply(new OperationApplied($"op-{memory}", [1], new ShardWriteResult(new MemoryId(1, k % 7, memory), m == 0, 0.5)), payloads);
            }

            if (k % 5 == 0)
            {
                state.Apply(new MemoryDeleted(key + 1), payloads);
            }
        }

        var chunks = SnapshotCodec.Write(state, 99, chunkSize);
        var restored = SnapshotCodec.Read(chunks.Select(c => c.ToArray()).ToList(), payloads, 1000, "test/0", out long position);

        Assert.Equal(99, position);
        Assert.Equal(Describe(state), Describe(restored));
        Assert.Equal(state.Index.Count, restored.Index.Count);
        Assert.Equal(state.Operations.Entries.Select(e => e.OperationId), restored.Operations.Entries.Select(e => e.OperationId));
    }

    /// <summary>
    /// The archive survives a snapshot (version 5): archived memories with their Q and archive time, keys out of the graph
    /// with the unit vectors they left it with (a restore after the snapshot puts back the same bits), restore times; and
    /// the index holds the graph keys only.
    /// </summary>
    [Fact]
    public void Restore_RebuildsTheArchive_AndARestoreAfterItReturnsTheSameKey()
    {
        var vectors = new Vectors(6, 8);
        var state = new ShardState(new HnswIndex(new HnswOptions { Dimension = 8, Seed = 3 }), 100);
        var payloads = new Dictionary<long, StoredPayload>();
        var now = new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);
        for (long key = 0; key < 30; key += 3)
        {
            payloads[key] = new StoredPayload(key, $"intent {key}", null, vectors.Gaussian());
            state.Apply(new KeyCreated(key, (int)key % 4), payloads);
            for (long memory = key + 1; memory <= key + 2; memory++)
            {
                payloads[memory] = new StoredPayload(memory, $"intent {key}", $"experience {memory}", null);
                state.Apply(new MemoryAdded(memory, key, true, 0.5, now), payloads);
            }
        }

        // Keys 0 and 6 leave the graph (both memories archived); key 3 keeps one active; memory 10 is restored.
        foreach (long memory in new long[] { 1, 2, 4, 7, 8, 10 })
        {
            state.Apply(new MemoryArchived(memory, now.AddMinutes(memory)), payloads);
        }

        state.Apply(new MemoryRestored(10, now.AddHours(1)), payloads);
        state.Apply(new QUpdated(11, 1, 0.8, 1, now.AddHours(2)), payloads);
        // Expiries (snapshot version 6) on an active and an archived memory.
        state.Apply(new MemoryExpires(11, now.AddDays(1)), payloads);
        state.Apply(new MemoryExpires(4, now.AddDays(2)), payloads);
        var vector0 = state.SetAsideVectors[0];
        Assert.False(state.Index.Contains(0));

        var chunks = SnapshotCodec.Write(state, 42, 4096).Select(c => c.ToArray()).ToList();
        var restored = SnapshotCodec.Read(chunks, payloads, 100, "t/0", out _);
        restored.VerifyPayloads("t/0");

        Assert.Equal(Describe(state), Describe(restored));
        Assert.Equal(DescribeArchive(state), DescribeArchive(restored));
        Assert.Equal(state.Index.Count, restored.Index.Count);
        Assert.Equal([0L, 6L], restored.Table.SetAsideKeys.Select(k => k.Sequence).Order());
        Assert.Equal(now.AddHours(1), restored.Table.TryGetMemory(10, out var back) ? back.RestoredAt : null);
        Assert.Equal(now.AddDays(1), restored.Table.TryGetMemory(11, out var expiring) ? expiring.ExpiresAt : null);
        Assert.Equal(now.AddDays(2), restored.Table.TryGetArchived(4, out var expired) ? expired.ExpiresAt : null);
        Assert.Null(back!.ExpiresAt);
        restored.Apply(new MemoryRestored(1, now.AddHours(3)), payloads);
        var vector = new float[8];
        Assert.True(restored.Index.TryGetVector(0, vector));
        Assert.Equal(vector0, vector);
        Assert.False(restored.SetAsideVectors.ContainsKey(0));
        // Purging the last archived memory of a set-aside key removes the key with it.
        restored.Apply(new MemoryDeleted(7), payloads);
        restored.Apply(new MemoryDeleted(8), payloads);
        Assert.False(restored.Table.TryGetAnyKey(6, out _));
        Assert.False(restored.KeySlots.ContainsKey(6));
        Assert.False(restored.SetAsideVectors.ContainsKey(6));
    }

    [Fact]
    public void Restore_AcceptsMissingPayload_OnlyWhenTheTailDeletesTheRecord()
    {
        var state = new ShardState(new HnswIndex(new HnswOptions { Dimension = 4 }), 10);
        var payloads = new Dictionary<long, StoredPayload>
        {
            [1] = new(1, "intent", null, [1, 0, 0, 0]),
            [2] = new(2, "intent", "kept", null),
            [3] = new(3, "intent", "deleted later", null),
        };
        var now = DateTimeOffset.UnixEpoch;
        state.Apply(new KeyCreated(1, 0), payloads);
        state.Apply(new MemoryAdded(2, 1, true, 0, now), payloads);
        state.Apply(new MemoryAdded(3, 1, true, 0, now), payloads);
        var chunks = SnapshotCodec.Write(state, 3, 4096).Select(c => c.ToArray()).ToList();
        payloads.Remove(3);

        var deletedInTail = SnapshotCodec.Read(chunks, payloads, 10, "t/0", out _);
        deletedInTail.Apply(new MemoryDeleted(3), payloads);
        deletedInTail.VerifyPayloads("t/0");
        var lost = SnapshotCodec.Read(chunks, payloads, 10, "t/0", out _);

        var error = Assert.Throws<InvalidDataException>(() => lost.VerifyPayloads("t/0"));
        Assert.Contains("memory 3", error.Message);
        Assert.Equal(1, deletedInTail.Table.MemoryCount);
    }

    private static string DescribeArchive(ShardState state) => string.Join("\n", state.Table.ArchivedMemories.OrderBy(m => m.Sequence).Select(m =>
        $"{m.Sequence}@{m.KeySequence} {m.Q:R}/{m.Visits}/{m.ArchivedAt:O}/{m.RestoredAt:O}/{m.Experience}"))
        + "|" + string.Join(",", state.SetAsideVectors.OrderBy(v => v.Key).Select(v => $"{v.Key}:{string.Join(' ', v.Value.Select(x => x.ToString("R")))}"));

    private static string Describe(ShardState state) => string.Join("\n", state.Table.Keys.OrderBy(k => k.Sequence).Select(k =>
        $"{k.Sequence}@{state.KeySlots[k.Sequence]} {k.IntentText}: " + string.Join(",", k.Memories.Select(m =>
            $"{m.Sequence}/{m.Success}/{m.Q:R}/{m.Visits}/{m.LastReward}/{m.CreatedAt:O}/{m.UpdatedAt:O}/{m.RestoredAt:O}/{m.Experience}"))));
}

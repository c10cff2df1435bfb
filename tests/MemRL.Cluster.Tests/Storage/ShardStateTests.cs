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

    private static string Describe(ShardState state) => string.Join("\n", state.Table.Keys.OrderBy(k => k.Sequence).Select(k =>
        $"{k.Sequence}@{state.KeySlots[k.Sequence]} {k.IntentText}: " + string.Join(",", k.Memories.Select(m =>
            $"{m.Sequence}/{m.Success}/{m.Q:R}/{m.Visits}/{m.LastReward}/{m.CreatedAt:O}/{m.UpdatedAt:O}/{m.Experience}"))));
}

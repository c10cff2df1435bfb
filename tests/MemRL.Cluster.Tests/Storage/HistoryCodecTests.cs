using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>History rows round-trip bit for bit, and a version or kind this build does not know is refused, not guessed.</summary>
public sealed class HistoryCodecTests
{
    [Fact]
    public void Reward_RoundTrips()
    {
        var at = new DateTimeOffset(2026, 12, 2, 16, 0, 0, TimeSpan.Zero).AddTicks(7);
        var recall = Guid.NewGuid();

        var entry = HistoryCodec.Decode(9, HistoryCodec.EncodeReward(-0.25, at, recall, 0.1 + 0.2, 9));

        Assert.Equal(new MemoryHistoryEntry(MemoryHistoryEntry.RewardKind, 9, -0.25, at, recall, 0.1 + 0.2, 9), entry);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ArchiveAndRestore_RoundTrip(bool archived)
    {
        var at = new DateTimeOffset(2026, 12, 3, 17, 0, 0, TimeSpan.Zero).AddTicks(3);

        var entry = HistoryCodec.Decode(12, HistoryCodec.EncodeLifecycle(archived, at, 5, -0.1 - 0.2, 7));

        var kind = archived ? MemoryHistoryEntry.ArchiveKind : MemoryHistoryEntry.RestoreKind;
        Assert.Equal(new MemoryHistoryEntry(kind, 12, null, at, null, -0.1 - 0.2, 7) { Revision = 5 }, entry with { Changed = null });
        Assert.Null(entry.Changed);
    }

    [Theory]
    [InlineData(0, 2)] // a newer format version
    [InlineData(1, 2)] // an edit's kind in a reward's length
    [InlineData(1, 3)] // an archive's kind in a reward's length
    [InlineData(1, 5)] // a kind this build does not know
    public void Decode_RefusesUnknownVersionsAndKinds(int index, byte value)
    {
        byte[] bytes = HistoryCodec.EncodeReward(1, DateTimeOffset.UnixEpoch, Guid.Empty, 0.5, 1);
        bytes[index] = value;

        Assert.Throws<InvalidDataException>(() => HistoryCodec.Decode(1, bytes));
    }
}

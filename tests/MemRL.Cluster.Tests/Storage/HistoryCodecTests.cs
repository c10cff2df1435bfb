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
    [InlineData(0, 2)] // a newer format version
    [InlineData(1, 2)] // kind 2 (edit) is reserved, not written by this build
    public void Decode_RefusesUnknownVersionsAndKinds(int index, byte value)
    {
        byte[] bytes = HistoryCodec.EncodeReward(1, DateTimeOffset.UnixEpoch, Guid.Empty, 0.5, 1);
        bytes[index] = value;

        Assert.Throws<InvalidDataException>(() => HistoryCodec.Decode(1, bytes));
    }
}

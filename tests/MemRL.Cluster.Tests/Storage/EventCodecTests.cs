using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>The log format: old logs stay readable (golden file), torn or corrupt records are never applied.</summary>
public sealed class EventCodecTests
{
    private static readonly string GoldenPath = Path.Combine(AppContext.BaseDirectory, "golden", "shard-log-v1.bin");

    // Every event kind and every operation result kind, with values that exercise the edge of each field.
    internal static IReadOnlyList<IReadOnlyList<ShardEvent>> GoldenCommits { get; } =
    [
        [
            new KeyCreated(1, 4095),
            new MemoryAdded(2, 1, true, 0.5, new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero)),
            new OperationApplied("write-1", [1, 2, 3, 4], new ShardWriteResult(new MemoryId(0xdeadbeef, 4095, 2), true, 0.5)),
        ],
        [
            new QUpdated(2, -1.0, 0.05, 1, new DateTimeOffset(2026, 11, 24, 12, 0, 1, TimeSpan.Zero)),
            new OperationApplied("reward-ü", [9], new[] { new ShardQ(new MemoryId(0xdeadbeef, 4095, 2), 0.05, 1) }),
        ],
        [
            new MemoryDeleted(2),
            new OperationApplied("delete-1", [], true),
        ],
    ];

    [Fact]
    public void Decode_ReadsGoldenLog_WrittenByFormatVersion1()
    {
        var records = Split(File.ReadAllBytes(GoldenPath));

        Assert.Equal(GoldenCommits.Count, records.Count);
        for (int i = 0; i < records.Count; i++)
        {
            Assert.True(EventCodec.TryDecode(records[i], out var events), $"golden record {i} did not decode.");
            Assert.Equal(Describe(GoldenCommits[i]), Describe(events));
        }
    }

    [Fact]
    public void Encode_WritesTheGoldenBytes_ForTheGoldenEvents()
    {
        var encoded = GoldenCommits.SelectMany(EventCodec.Encode).ToArray();

        Assert.Equal(File.ReadAllBytes(GoldenPath), encoded);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void TryDecode_RejectsRecord_WhenTornAtTheEnd(int missing)
    {
        var record = EventCodec.Encode(GoldenCommits[0]);

        Assert.False(EventCodec.TryDecode(record.AsSpan(0, record.Length - missing), out _));
    }

    [Fact]
    public void TryDecode_RejectsRecord_WhenOneBitFlips()
    {
        var record = EventCodec.Encode(GoldenCommits[1]);
        for (int i = 0; i < record.Length; i++)
        {
            var copy = (byte[])record.Clone();
            copy[i] ^= 0x10;
            Assert.False(EventCodec.TryDecode(copy, out _), $"a flipped bit in byte {i} went unnoticed.");
        }
    }

    private static List<byte[]> Split(byte[] log)
    {
        var records = new List<byte[]>();
        for (int at = 0; at < log.Length;)
        {
            int length = 8 + (int)BitConverter.ToUInt32(log, at);
            records.Add(log[at..(at + length)]);
            at += length;
        }

        return records;
    }

    private static string Describe(IReadOnlyList<ShardEvent> events) => string.Join("\n", events.Select(e => e switch
    {
        OperationApplied op => $"op {op.OperationId} {Convert.ToHexString(op.PayloadHash)} {op.Result switch
        {
            ShardQ[] qs => string.Join(",", qs.Select(q => q.ToString())),
            var other => other.ToString(),
        }}",
        _ => e.ToString(),
    }));
}

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

    // The kinds and results the golden log predates, pinned byte for byte as this format version first wrote them.
    private static readonly IReadOnlyList<ShardEvent> LaterKinds =
    [
        new KeyImported(3, 17),
        new RecallRewarded(new Guid("00112233-4455-6677-8899-aabbccddeeff"), 2, 1.0, 0.55, 2, 638_000_000_000_000_000),
        new OperationApplied("claim-1", [7, 7], new OperationClaim(new WriteRoute(5, 42))),
        new OperationApplied("claim-2", [1], new OperationClaim(new WriteRoute(6, null))),
        new OperationApplied("claim-3", [], new OperationClaim(null)),
    ];

    [Fact]
    public void Encode_KeepsTheLayout_OfKindsNewerThanTheGoldenLog()
    {
        var record = EventCodec.Encode(LaterKinds);

        string expected =
            "950000002ED137F1" + "0105000000" + // length, CRC; version 1, 5 events
            "06" + "0300000000000000" + "11000000" + // KeyImported: key, slot
            // RecallRewarded: recall id, memory, reward, Q, visits, expiry ticks
            "07" + "33221100554477668899AABBCCDDEEFF" + "0200000000000000" + "000000000000F03F" + "9A9999999999E13F" + "02000000" + "0000B3A69EA1DA08" +
            "05" + "07636C61696D2D31" + "02" + "0707" + "04" + "01" + "05000000" + "01" + "2A00000000000000" + // claim: route, joins key 42
            "05" + "07636C61696D2D32" + "01" + "01" + "04" + "01" + "06000000" + "00" + "0000000000000000" + // claim: route, new key
            "05" + "07636C61696D2D33" + "00" + "04" + "00" + "00000000" + "00" + "0000000000000000"; // claim: no route
        Assert.Equal(expected, Convert.ToHexString(record));
        Assert.True(EventCodec.TryDecode(record, out var events));
        Assert.Equal(Describe(LaterKinds), Describe(events));
    }

    // Scopes and metadata (kind 8) and the delete-by-scope result (result kind 5), pinned as first written.
    [Fact]
    public void Encode_PinsTheLayout_OfMemoryTaggedAndTheDeleteByScopeResult()
    {
        var tagged = new MemoryTagged(7, new MemRL.Core.Bank.MemoryScope("u", null, "s", null),
            MemRL.Core.Bank.MemoryMetadata.From(new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" }));
        var record = EventCodec.Encode([tagged, new OperationApplied("del-1", [5], 3)]);

        string body =
            "01" + "02000000" + // version 1, 2 events
            "08" + "0700000000000000" + "01" + "0175" + "00" + "01" + "0173" + "00" + // memory 7: userId u, no agentId, sessionId s, no runId
            "02000000" + "0161" + "0131" + "0162" + "0132" + // two entries, by key: a=1, b=2
            "05" + "0564656C2D31" + "01" + "05" + "05" + "03000000"; // operation del-1, hash [5], delete-by-scope count 3
        Assert.Equal(body, Convert.ToHexString(record.AsSpan(8)));
        Assert.True(EventCodec.TryDecode(record, out var events));
        var decoded = Assert.IsType<MemoryTagged>(events[0]);
        Assert.Equal(tagged.Scope, decoded.Scope);
        Assert.True(tagged.Metadata.SameAs(decoded.Metadata));
        Assert.Equal(3, Assert.IsType<OperationApplied>(events[1]).Result);
    }

    // An edit (kind 12: memory, revision after it, what changed, when; the text is in the payload row) and the edit's
    // result (result kind 8, no value).
    [Fact]
    public void Encode_PinsTheLayout_OfMemoryEditedAndTheEditResult()
    {
        var at = new DateTimeOffset(0x0102030405060708, TimeSpan.Zero);
        var record = EventCodec.Encode([new MemoryEdited(9, 2, true, false, at), new OperationApplied("e-1", [6], EditApplied.Instance)]);

        string body =
            "01" + "02000000" + // version 1, 2 events
            "0C" + "0900000000000000" + "02000000" + "01" + "00" + "0807060504030201" + // memory 9 at revision 2, experience only
            "05" + "03652D31" + "01" + "06" + "08"; // operation e-1, hash [6], edit result
        Assert.Equal(body, Convert.ToHexString(record.AsSpan(8)));
        Assert.True(EventCodec.TryDecode(record, out var events));
        Assert.Equal(new MemoryEdited(9, 2, true, false, at), events[0]);
        Assert.Same(EditApplied.Instance, Assert.IsType<OperationApplied>(events[1]).Result);
    }

    // An archive (kind 9: memory, when) and a restore (kind 10: memory, when), and the archive result (result kind 7: changed).
    [Fact]
    public void Encode_PinsTheLayout_OfMemoryArchivedRestoredAndTheArchiveResult()
    {
        var at = new DateTimeOffset(0x0102030405060708, TimeSpan.Zero);
        var record = EventCodec.Encode([new MemoryArchived(9, at), new MemoryRestored(10, at), new OperationApplied("a", [6], new ArchiveApplied(true))]);

        string body =
            "01" + "03000000" + // version 1, 3 events
            "09" + "0900000000000000" + "0807060504030201" + // memory 9 archived at
            "0A" + "0A00000000000000" + "0807060504030201" + // memory 10 restored at
            "05" + "0161" + "01" + "06" + "07" + "01"; // operation a, hash [6], archive result: changed
        Assert.Equal(body, Convert.ToHexString(record.AsSpan(8)));
        Assert.True(EventCodec.TryDecode(record, out var events));
        Assert.Equal(new MemoryArchived(9, at), events[0]);
        Assert.Equal(new MemoryRestored(10, at), events[1]);
        Assert.Equal(new ArchiveApplied(true), Assert.IsType<OperationApplied>(events[2]).Result);
    }

    // An expiry (kind 13: memory, a flag, then the time when set).
    [Fact]
    public void Encode_PinsTheLayout_OfMemoryExpires()
    {
        var at = new DateTimeOffset(0x0102030405060708, TimeSpan.Zero);
        var record = EventCodec.Encode([new MemoryExpires(9, at), new MemoryExpires(10, null)]);

        string body =
            "01" + "02000000" + // version 1, 2 events
            "0D" + "0900000000000000" + "01" + "0807060504030201" + // memory 9 expires at
            "0D" + "0A00000000000000" + "00"; // memory 10 has no expiry
        Assert.Equal(body, Convert.ToHexString(record.AsSpan(8)));
        Assert.True(EventCodec.TryDecode(record, out var events));
        Assert.Equal([new MemoryExpires(9, at), new MemoryExpires(10, null)], events);
    }

    // A retention run's part (result kind 6: purged, archived, the run's time, whether it left work).
    [Fact]
    public void Encode_PinsTheLayout_OfTheRetentionRunResult()
    {
        var at = new DateTimeOffset(0x0102030405060708, TimeSpan.Zero);
        var run = new ShardRetentionApplied(2, 3, at, true);
        var record = EventCodec.Encode([new OperationApplied("r", [6], run)]);

        Assert.Equal("01" + "01000000" + "05" + "0172" + "01" + "06" + "06" + "02000000" + "03000000" + "0807060504030201" + "01",
            Convert.ToHexString(record.AsSpan(8)));
        Assert.True(EventCodec.TryDecode(record, out var events));
        Assert.Equal(run, Assert.IsType<OperationApplied>(events[0]).Result);
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

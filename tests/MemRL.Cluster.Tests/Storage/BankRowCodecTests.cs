using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// The bank row is storage's own format, versioned apart from the wire records: format 3 is written and pinned here
/// character for character, format 2 (pinned below as it was written before reward ranges) and format 1 (the rows of
/// golden/store-v1.db, written before the codec) still read, with the unbounded legacy range, and a format this code
/// does not know is refused by name.
/// </summary>
public sealed class BankRowCodecTests
{
    private static readonly DateTimeOffset Created = new(2026, 12, 1, 20, 45, 20, TimeSpan.Zero);

    // Every option set explicitly, so the literal below changes only when the row format does (not with a default).
    private static readonly BankInfo Known = new("acme.support", 4, "minilm-l6-v2@1/4",
        new BankOptions
        {
            Alpha = 0.25, Lambda = 0.75, K1 = 6, K2 = 2, Delta = -0.5, QInitSuccess = 1, QInitFailure = -1, QFloor = -1, QMin = null,
            Epsilon = 0.125, MergeThreshold = 2, MaxMemoriesPerKey = 16, SimilarityNormalization = SimilarityNormalizationMode.Fixed,
            SimilarityMean = 0.5, SimilarityStdDev = 0.25, RewardMin = -2, RewardMax = 3,
        },
        new IndexSettings(M: 8, EfConstruction: 100, EfSearch: 32, Exact: true), ShardCount: 2, Incarnation: 3981762495, Version: 7,
        SlotMap: [0, 1, 0, 1], CreatedAt: Created, MovingSlots: [1, 3]);

    // One line in the store; broken here at member boundaries for reading.
    private static readonly string KnownRow = """
        {"format":3,"bank":{"name":"acme.support","dimension":4,"embedderId":"minilm-l6-v2@1/4",
        "options":{"alpha":0.25,"lambda":0.75,"k1":6,"k2":2,"delta":-0.5,"qInitSuccess":1,"qInitFailure":-1,"qFloor":-1,"qMin":null,
        "epsilon":0.125,"mergeThreshold":2,"maxMemoriesPerKey":16,"similarityNormalization":"fixed","similarityMean":0.5,"similarityStdDev":0.25,
        "rewardMin":-2,"rewardMax":3},
        "index":{"m":8,"efConstruction":100,"efSearch":32,"exact":true},"shardCount":2,"incarnation":3981762495,"version":7,
        "slotMap":[0,1,0,1],"createdAt":"2026-12-01T20:45:20+00:00","movingSlots":[1,3]}}
        """.ReplaceLineEndings("");

    // Format 2 as this codec wrote it before reward ranges (commit 302b3b7): frozen, never edited.
    private static readonly string FormatTwoRow = """
        {"format":2,"bank":{"name":"acme.support","dimension":4,"embedderId":"minilm-l6-v2@1/4",
        "options":{"alpha":0.25,"lambda":0.75,"k1":6,"k2":2,"delta":-0.5,"qInitSuccess":1,"qInitFailure":-1,"qFloor":-1,"qMin":null,
        "epsilon":0.125,"mergeThreshold":2,"maxMemoriesPerKey":16,"similarityNormalization":"fixed","similarityMean":0.5,"similarityStdDev":0.25},
        "index":{"m":8,"efConstruction":100,"efSearch":32,"exact":true},"shardCount":2,"incarnation":3981762495,"version":7,
        "slotMap":[0,1,0,1],"createdAt":"2026-12-01T20:45:20+00:00","movingSlots":[1,3]}}
        """.ReplaceLineEndings("");

    [Fact]
    public void Write_KnownBank_IsExactlyTheFormatThreeText_WhateverTheWireRecordsAreCalled()
    {
        Assert.Equal(KnownRow, BankRowCodec.Write(Known));
    }

    [Fact]
    public void Read_FormatTwo_IsTheSameBank_WithTheUnboundedLegacyRange_AndTheQInitItStored()
    {
        var bank = BankRowCodec.Read("acme.support", FormatTwoRow).Bank;

        AssertSameBank(Known with { Options = Known.Options with { RewardMin = null, RewardMax = null } }, bank);
        Assert.Equal((1.0, -1.0), (bank!.Options.QInitSuccess, bank.Options.QInitFailure));
    }

    [Fact]
    public void Read_FormatThree_AnUnboundedRange_RoundTripsAsNull_AndAnUnsetQInitAsItsNumber()
    {
        var legacy = Known with { Options = Known.Options with { RewardMin = null, RewardMax = null } };
        string row = BankRowCodec.Write(legacy);
        Assert.Contains("\"rewardMin\":null,\"rewardMax\":null", row, StringComparison.Ordinal);
        AssertSameBank(legacy, BankRowCodec.Read("acme.support", row).Bank);

        var unit = Known with { Options = new BankOptions { RewardMin = 0, RewardMax = 1 } };
        row = BankRowCodec.Write(unit);
        Assert.Contains("\"qInitSuccess\":0.5,\"qInitFailure\":0.5", row, StringComparison.Ordinal);
        Assert.Equal(0.5, BankRowCodec.Read("acme.support", row).Bank!.Options.QInitFailure);
    }

    [Fact]
    public void Read_FormatThree_RoundTripsEveryMember()
    {
        var (bank, tombstone) = BankRowCodec.Read("acme.support", BankRowCodec.Write(Known));

        Assert.Null(tombstone);
        AssertSameBank(Known, bank);
        var pool = Known with { Options = Known.Options with { SimilarityNormalization = SimilarityNormalizationMode.Pool }, MovingSlots = null };
        AssertSameBank(pool, BankRowCodec.Read("acme.support", BankRowCodec.Write(pool)).Bank);
    }

    [Fact]
    public void Read_FormatTwoTombstone_RoundTrips()
    {
        var written = new BankTombstone(Version: 9, ShardCount: 3, Incarnation: 2987629485, Purged: false);

        string row = BankRowCodec.Write(written);

        Assert.Equal("""{"format":3,"tombstone":{"version":9,"shardCount":3,"incarnation":2987629485,"purged":false}}""", row);
        Assert.Equal(new BankRow(null, written), BankRowCodec.Read("gone", row));
        Assert.Equal(new BankRow(null, written), BankRowCodec.Read("gone", row.Replace("\"format\":3", "\"format\":2", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Read_GoldenStoreRows_AreFormatOne_AndDecodeToTheBanksWrittenThen()
    {
        using var file = new SqliteFile("golden-rows");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "golden", "store-v1.db"), file.Path);
        var store = new SqliteMemoryStore(file.Path);

        foreach (var (name, shards, merge) in new[] { ("golden-a", 2, 2.0), ("golden-b", 3, 0.9) })
        {
            var stored = await store.ReadBankAsync(name);
            Assert.NotNull(stored);
            Assert.DoesNotContain("\"format\"", stored.Description, StringComparison.Ordinal);

            var bank = BankRowCodec.Read(name, stored.Description).Bank;

            Assert.NotNull(bank);
            Assert.Equal((name, 16, "golden-embedder", shards, 1L), (bank.Name, bank.Dimension, bank.EmbedderId, bank.ShardCount, bank.Version));
            Assert.Equal(new BankOptions { K1 = 6, Delta = -1, MergeThreshold = merge, QInitSuccess = 0, QInitFailure = 0, RewardMin = null, RewardMax = null },
                bank.Options);
            Assert.Equal(new IndexSettings(Exact: true), bank.Index);
            Assert.Equal(Enumerable.Range(0, BankLimits.VirtualSlots).Select(s => s % shards), bank.SlotMap);
            Assert.Null(bank.MovingSlots);
            // Rewritten as format 3, the bank reads back the same, still unbounded.
            AssertSameBank(bank, BankRowCodec.Read(name, BankRowCodec.Write(bank)).Bank);
        }

        Assert.Equal(new DateTimeOffset(2026, 12, 1, 20, 45, 20, TimeSpan.Zero).AddTicks(7175974),
            BankRowCodec.Read("golden-a", (await store.ReadBankAsync("golden-a"))!.Description).Bank!.CreatedAt);
    }

    [Fact]
    public void Read_FormatOneTombstone_IsATombstone()
    {
        var row = BankRowCodec.Read("gone", """{"tombstone":{"Version":4,"ShardCount":2,"Incarnation":7,"Purged":true}}""");

        Assert.Equal(new BankRow(null, new BankTombstone(4, 2, 7, true)), row);
    }

    [Theory]
    [InlineData("""{"format":6,"bank":{"name":"future"}}""", "format 6")]
    [InlineData("""{"format":0}""", "format 0")]
    [InlineData("""{"format":"2"}""", "format \"2\"")]
    public void Read_UnknownFormat_IsRefused_NamingTheFormat(string row, string named)
    {
        var error = Assert.Throws<InvalidDataException>(() => BankRowCodec.Read("future", row));

        Assert.Contains("'future'", error.Message, StringComparison.Ordinal);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"format":2}""")]
    [InlineData("""{"format":2,"bank":{"name":"x"}}""")]
    [InlineData("""{"format":3}""")]
    [InlineData("""{"format":3,"bank":{"name":"x","options":{"rewardMin":0}}}""")]
    [InlineData("""{"Name":"x","Dimension":4}""")]
    [InlineData("""{"format":4,"tombstone":{"version":4,"shardCount":2,"incarnation":7,"purged":true},"import":{"id":"i","until":"2026-12-02T00:00:00+00:00"}}""")]
    [InlineData("""{"format":4,"import":{"id":"i","until":"2026-12-02T00:00:00+00:00"}}""")]
    public void Read_MalformedRow_IsInvalidData_NamingTheBank(string row)
    {
        var error = Assert.Throws<InvalidDataException>(() => BankRowCodec.Read("broken", row));

        Assert.Contains("'broken'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImportingBank_IsFormatFour_WithItsLease_AndFormatThreeAgainOnceComplete()
    {
        var import = new BankImport("import-1", new DateTimeOffset(2026, 12, 2, 23, 0, 0, TimeSpan.Zero));
        string row = BankRowCodec.Write(Known, import);

        Assert.StartsWith("""{"format":4,"bank":""", row, StringComparison.Ordinal);
        Assert.EndsWith(""","import":{"id":"import-1","until":"2026-12-02T23:00:00+00:00"}}""", row, StringComparison.Ordinal);
        var read = BankRowCodec.Read("acme.support", row);
        Assert.Equal(import, read.Import);
        AssertSameBank(Known, read.Bank);
        // The finished import writes exactly the row a bank that was never imported has.
        Assert.Equal(KnownRow, BankRowCodec.Write(read.Bank!));
        Assert.Null(BankRowCodec.Read("acme.support", KnownRow).Import);
    }

    [Fact]
    public void BankWithARetentionPolicy_IsFormatFive_RoundTripsEveryField_AndWithoutOneIsFormatThreeAgain()
    {
        var retention = new RetentionSettings
        {
            LowQThreshold = -0.5, LowQMinVisits = 4, IdleWindowSeconds = 86_400, ProtectQ = 0.75, MaxActive = 10_000, RetentionPeriodSeconds = 3_600, MaxPerRun = 50,
        };
        var bank = Known with { Options = Known.Options with { Retention = retention } };

        string row = BankRowCodec.Write(bank);
        Assert.StartsWith("""{"format":5,"bank":""", row, StringComparison.Ordinal);
        Assert.Contains(""","retention":{"lowQThreshold":-0.5,"lowQMinVisits":4,"idleWindowSeconds":86400,"protectQ":0.75,"maxActive":10000,"retentionPeriodSeconds":3600,"maxPerRun":50}}""",
            row, StringComparison.Ordinal);
        var read = BankRowCodec.Read("acme.support", row);
        AssertSameBank(bank, read.Bank);
        Assert.Equal(retention, read.Bank!.Options.Retention);
        // With an import too, still format 5 (it carries both); without the policy, the row a bank never given one has.
        var importing = BankRowCodec.Read("acme.support", BankRowCodec.Write(bank, new BankImport("i", Created)));
        Assert.Equal(("i", retention), (importing.Import!.Id, importing.Bank!.Options.Retention));
        Assert.Equal(KnownRow, BankRowCodec.Write(bank with { Options = bank.Options with { Retention = null } }));
        // A format-4 reader never looked for a policy: a lower format claiming one is not a row this codec wrote.
        var error = Assert.Throws<InvalidDataException>(() => BankRowCodec.Read("acme.support", row.Replace("\"format\":5", "\"format\":3", StringComparison.Ordinal)));
        Assert.Contains("'retention'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImportMember_InALowerFormat_IsRefused()
    {
        // A format-3 reader never looked for it: a row claiming format 3 with an import is not one this codec wrote.
        string row = BankRowCodec.Write(Known, new BankImport("i", Created)).Replace("\"format\":4", "\"format\":3", StringComparison.Ordinal);

        var error = Assert.Throws<InvalidDataException>(() => BankRowCodec.Read("acme.support", row));

        Assert.Contains("'import'", error.Message, StringComparison.Ordinal);
    }

    private static void AssertSameBank(BankInfo expected, BankInfo? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal((expected.Name, expected.Dimension, expected.EmbedderId, expected.ShardCount, expected.Incarnation, expected.Version, expected.CreatedAt),
            (actual.Name, actual.Dimension, actual.EmbedderId, actual.ShardCount, actual.Incarnation, actual.Version, actual.CreatedAt));
        Assert.Equal(expected.Options, actual.Options);
        Assert.Equal(expected.Index, actual.Index);
        Assert.Equal(expected.SlotMap, actual.SlotMap);
        Assert.Equal(expected.MovingSlots, actual.MovingSlots);
    }
}

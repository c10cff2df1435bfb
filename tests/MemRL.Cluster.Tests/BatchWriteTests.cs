using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests;

/// <summary>
/// Batch writes (docs/bulk-load.md): a batch leaves the bank exactly as the same writes one by one (so the reference bank
/// still matches), a batch sent again resumes instead of writing twice, and a bad item refuses the whole batch.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class BatchWriteTests(ClusterFixture fixture)
{
    private const int Dimension = BankHelpers.Dimension;

    // Merging on (threshold 0.93, intents drawn near a few centres), so later items of a batch join keys earlier items
    // made: the order inside a batch matters, and the test fails if a batch applied its items in any other order.
    private static readonly BankOptions MergingOptions = new()
    {
        K1 = 6, K2 = 3, Delta = 0.3, MergeThreshold = 0.93, Alpha = 0.3, Lambda = 0.5, QInitSuccess = 0.5, QInitFailure = 0, MaxMemoriesPerKey = 4,
    };

    [Theory]
    [InlineData(2, 7)]
    [InlineData(3, 8)]
    public async Task WriteBatchAsync_MatchesReferenceBank_WrittenOneByOne(int shards, int seed)
    {
        var vectors = new Vectors(seed, Dimension);
        var bank = await BankHelpers.NewBankAsync(fixture, $"batch-eq{shards}", MergingOptions, shards);
        var reference = new ReferenceBank(Dimension, MergingOptions.ToCore());
        var centres = Enumerable.Range(0, 5).Select(_ => vectors.Gaussian()).ToArray();
        var ids = new Dictionary<string, long>();
        int joined = 0;
        for (int batch = 0; batch < 3; batch++)
        {
            var items = Enumerable.Range(0, 40)
                .Select(i => new BatchWriteItem(vectors.Near(centres[vectors.Next(centres.Length)], 0.1), $"intent {batch}.{i}", $"experience {batch}.{i}", i % 3 != 0))
                .ToList();
            var written = await bank.WriteBatchAsync(items, $"load-{batch}");

            Assert.Equal(items.Count, written.Results.Count);
            for (int i = 0; i < items.Count; i++)
            {
                var expected = reference.Write(items[i].Intent, items[i].IntentText, items[i].Experience, items[i].Success);
                var actual = written.Results[i];
                Assert.Equal((i, expected.CreatedKey), (actual.Index, actual.CreatedKey));
                ids[actual.MemoryId] = expected.MemorySequence;
                joined += actual.CreatedKey ? 0 : 1;
            }

            // Recallable at once, and selected exactly as the reference bank selects.
            for (int q = 0; q < 8; q++)
            {
                var query = vectors.Near(centres[vectors.Next(centres.Length)], 0.3);
                var recall = await bank.RecallAsync(query, new RecallSettings(RequireFullCoverage: true));
                AssertSameSelection(recall, reference.Recall(query), ids);
            }
        }

        Assert.True(joined > 0, "no item joined an existing key: the test would not see the order of a batch.");
    }

    [Fact]
    public async Task WriteBatchAsync_SentAgain_ReturnsFirstResults_AndAnInterruptedBatchResumes()
    {
        var vectors = new Vectors(41, Dimension);
        var bank = await BankHelpers.NewBankAsync(fixture, "batch-resume", BankHelpers.SpreadOptions, shards: 2);
        var items = Enumerable.Range(0, 30).Select(i => new BatchWriteItem(vectors.Gaussian(), $"i{i}", $"e{i}", true)).ToList();

        // An interrupted first attempt: only its first 12 items were applied before the caller lost the connection.
        var partial = await bank.WriteBatchAsync(items[..12], "resume-key");
        var whole = await bank.WriteBatchAsync(items, "resume-key");
        var again = await bank.WriteBatchAsync(items, "resume-key");

        Assert.Equal(partial.Results, whole.Results.Take(12));
        Assert.Equal(whole.Results, again.Results);
        Assert.Equal(30, whole.Results.Select(r => r.MemoryId).Distinct().Count());
        Assert.Equal(30, (await bank.GetStatsAsync()).Memories);

        // Another batch key is another batch: the same items are written again.
        await bank.WriteBatchAsync(items[..5], "other-key");
        Assert.Equal(35, (await bank.GetStatsAsync()).Memories);
    }

    [Fact]
    public async Task WriteBatchAsync_ItemWithOwnOperationId_IsTheSameOperationAsASingleWrite()
    {
        var vectors = new Vectors(43, Dimension);
        var bank = await BankHelpers.NewBankAsync(fixture, "batch-own-id", BankHelpers.SpreadOptions, shards: 2);
        var intent = vectors.Gaussian();
        var single = await bank.WriteAsync(intent, "t", "e", true, operationId: "own-7");

        var batch = await bank.WriteBatchAsync([new BatchWriteItem(vectors.Gaussian(), "a", "b", true), new BatchWriteItem(intent, "t", "e", true, OperationId: "own-7")]);

        Assert.Equal(single.MemoryId, batch.Results[1].MemoryId);
        Assert.Equal("own-7", batch.Results[1].OperationId);
        Assert.Equal(2, (await bank.GetStatsAsync()).Memories);
    }

    public static TheoryData<string, int, string> BadItems => new()
    {
        { "nan", 2, "items[2].intent[5]" },
        { "dimension", 3, "items[3].intent" },
        { "experience", 1, "items[1].experience" },
        { "intentText", 4, "items[4].intentText" },
        { "duplicate", 4, "items[4].operationId" },
        { "scope", 2, "items[2].scope.userId" },
    };

    [Theory]
    [MemberData(nameof(BadItems))]
    public async Task WriteBatchAsync_BadItem_NamedByIndexAndField_AndNothingWritten(string fault, int index, string field)
    {
        var vectors = new Vectors(47, Dimension);
        var bank = await BankHelpers.NewBankAsync(fixture, "batch-bad", BankHelpers.SpreadOptions, shards: 2);
        var items = Enumerable.Range(0, 6).Select(i => new BatchWriteItem(vectors.Gaussian(), $"i{i}", $"e{i}", true, OperationId: $"op-{i}")).ToList();
        items[index] = fault switch
        {
            "nan" => items[index] with { Intent = [.. items[index].Intent.Select((x, j) => j == 5 ? float.NaN : x)] },
            "dimension" => items[index] with { Intent = vectors.Gaussian()[..(Dimension - 1)] },
            "experience" => items[index] with { Experience = null! },
            "intentText" => items[index] with { IntentText = new string('x', BankLimits.MaxIntentTextLength + 1) },
            "duplicate" => items[index] with { OperationId = "op-0" },
            "scope" => items[index] with { Scope = new ScopeFields(UserId: new string('u', 1000)) },
            _ => throw new ArgumentOutOfRangeException(nameof(fault)),
        };

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.WriteBatchAsync(items, "bad"));

        FieldAssert.Parts(error, field);
        Assert.Equal(0, (await bank.GetStatsAsync()).Memories);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(BatchWrites.MaxItems + 1)]
    public async Task WriteBatchAsync_CountOutsideLimit_Refused(int count)
    {
        var vectors = new Vectors(53, Dimension);
        var bank = await BankHelpers.NewBankAsync(fixture, "batch-count", BankHelpers.SpreadOptions, shards: 2);
        var items = Enumerable.Range(0, count).Select(i => new BatchWriteItem(vectors.Gaussian(), "", $"e{i}", true)).ToList();

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.WriteBatchAsync(items));

        FieldAssert.Parts(error, "items", actual: count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, (await bank.GetStatsAsync()).Memories);
    }

    private static void AssertSameSelection(RecallResponse cluster, RecallResult reference, Dictionary<string, long> ids)
    {
        Assert.True(cluster.Coverage.IsFull);
        Assert.Equal(reference.PoolSize, cluster.PoolSize);
        Assert.Equal(reference.Memories.Select(m => (m.Sequence, m.Similarity, m.Experience)), cluster.Memories.Select(m => (ids[m.Id], m.Similarity, m.Experience)));
        for (int i = 0; i < reference.Memories.Count; i++)
        {
            Assert.Equal(reference.Memories[i].Q, cluster.Memories[i].Q, 1e-12);
            Assert.Equal(reference.Memories[i].Score, cluster.Memories[i].Score, 1e-6);
        }
    }
}

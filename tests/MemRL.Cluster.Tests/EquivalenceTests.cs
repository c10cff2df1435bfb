using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests;

/// <summary>
/// DESIGN §2's invariant: with exact search, a bank of S shards returns the same selection as MemRL.Core's reference
/// bank fed the same operations in the same order — ids, order, scores and Q values.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class EquivalenceTests(ClusterFixture fixture)
{
    private const int Dimension = 16;

    public static TheoryData<int, int, SimilarityNormalizationMode> Cases => new()
    {
        { 1, 11, SimilarityNormalizationMode.Pool },
        { 2, 12, SimilarityNormalizationMode.Pool },
        { 5, 13, SimilarityNormalizationMode.Fixed },
        { 8, 14, SimilarityNormalizationMode.Pool },
        { 2, 15, SimilarityNormalizationMode.Fixed },
        { 8, 16, SimilarityNormalizationMode.Fixed },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public Task Cluster_MatchesReferenceBank_UnderRandomWorkload(int shards, int seed, SimilarityNormalizationMode mode) =>
        RunWorkloadAsync(shards, seed, mode, growAtStep: -1, growTo: 0);

    /// <summary>Growing the shard count moves memories between shards without changing a single answer or id.</summary>
    [Theory]
    [InlineData(2, 5, 21)]
    [InlineData(1, 8, 22)]
    public Task Cluster_MatchesReferenceBank_AcrossShardGrowth(int shards, int growTo, int seed) =>
        RunWorkloadAsync(shards, seed, SimilarityNormalizationMode.Pool, growAtStep: 80, growTo);

    /// <summary>
    /// Archiving takes memories out of recall (a key whose memories are all archived leaves the graph) and restoring
    /// brings them back, identically in the cluster and the reference bank — also across a shard growth, which moves the
    /// archived memories and the keys kept aside for them (docs/retention.md).
    /// </summary>
    [Theory]
    [InlineData(3, 23, -1, 0)]
    [InlineData(2, 24, 90, 5)]
    public Task Cluster_MatchesReferenceBank_WithArchivesAndRestores(int shards, int seed, int growAtStep, int growTo) =>
        RunWorkloadAsync(shards, seed, SimilarityNormalizationMode.Pool, growAtStep, growTo, archive: true);

    /// <summary>
    /// Finite vectors whose float norm overflows (elements near 1e38) or underflows (near 1e-30) write and recall: the
    /// cluster equals the reference bank fed the same vectors bit for bit, and picks what the scaled-down vectors pick.
    /// </summary>
    [Theory]
    [InlineData(1e38f)]
    [InlineData(1e-30f)]
    public async Task Cluster_MatchesReferenceBank_ForVectorsWhoseFloatNormOverflowsOrUnderflows(float scale)
    {
        var vectors = new Vectors(31, Dimension);
        var wireOptions = new BankOptions { K1 = 5, K2 = 3, Delta = -1, MergeThreshold = 2 };
        string name = ClusterFixture.NewBankName("eq-scale");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", wireOptions, 3, new IndexSettings(Exact: true)));
        var bank = fixture.Memory.Bank(name);
        var sameVectors = new ReferenceBank(Dimension, wireOptions.ToCore());
        var scaledDown = new ReferenceBank(Dimension, wireOptions.ToCore());
        var ids = new Dictionary<string, long>();
        for (int i = 0; i < 24; i++)
        {
            var v = UnitBox(vectors.Gaussian());
            var written = await bank.WriteAsync(Scale(v, scale), $"t{i}", $"e{i}", i % 2 == 0);
            ids[written.MemoryId] = sameVectors.Write(Scale(v, scale), $"t{i}", $"e{i}", i % 2 == 0).MemorySequence;
            scaledDown.Write(v, $"t{i}", $"e{i}", i % 2 == 0);
        }

        for (int step = 0; step < 12; step++)
        {
            var q = UnitBox(vectors.Gaussian());
            var recall = await bank.RecallAsync(Scale(q, scale), new RecallSettings(RequireFullCoverage: true));
            AssertSameSelection(recall, sameVectors.Recall(Scale(q, scale)), ids, step);
            Assert.Equal(scaledDown.Recall(q).Memories.Select(m => m.Sequence), recall.Memories.Select(m => ids[m.Id]));
        }
    }

    private static float[] UnitBox(float[] v)
    {
        float largest = v.Max(Math.Abs);
        return [.. v.Select(x => x / largest)];
    }

    private static float[] Scale(float[] v, float scale) => [.. v.Select(x => x * scale)];

    private async Task RunWorkloadAsync(int shards, int seed, SimilarityNormalizationMode mode, int growAtStep, int growTo, bool archive = false)
    {
        var vectors = new Vectors(seed, Dimension);
        var wireOptions = new BankOptions
        {
            K1 = 6, K2 = 3, Delta = 0.3, MergeThreshold = 0.93, Alpha = 0.3, Lambda = 0.5, QInitSuccess = 0.5, QInitFailure = 0,
            MaxMemoriesPerKey = 4, SimilarityNormalization = mode, SimilarityMean = 0.45, SimilarityStdDev = 0.2,
        };
        string name = ClusterFixture.NewBankName($"eq{shards}");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", wireOptions, shards, new IndexSettings(Exact: true)));
        var bank = fixture.Memory.Bank(name);
        var reference = new ReferenceBank(Dimension, wireOptions.ToCore());

        // Memory ids correspond by write order: the i-th write of each side is the same memory.
        var clusterToReference = new Dictionary<string, long>();
        var centres = Enumerable.Range(0, 6).Select(_ => vectors.Gaussian()).ToArray();
        int comparedRecalls = 0, archivedCount = 0, restoredCount = 0;
        var archivedAt = new Dictionary<string, DateTimeOffset>();
        for (int step = 0; step < 160; step++)
        {
            if (step == growAtStep)
            {
                var grown = await fixture.Memory.GrowShardsAsync(name, growTo);
                Assert.Equal(growTo, grown.ShardCount);
                var sizes = (await bank.GetStatsAsync()).Shards;
                Assert.Equal(growTo, sizes.Count);
                Assert.True(sizes.Count(s => s.Memories > 0) > shards, "no memory moved to the new shards.");
            }

            var query = vectors.Near(centres[vectors.Next(centres.Length)], vectors.NextDouble() < 0.3 ? 0.05 : 0.8);
            var clusterRecall = await bank.RecallAsync(query, new RecallSettings(RequireFullCoverage: true));
            var referenceRecall = reference.Recall(query);
            AssertSameSelection(clusterRecall, referenceRecall, clusterToReference, step);
            comparedRecalls += clusterRecall.Memories.Count > 0 ? 1 : 0;

            if (archive && step % 4 == 0 && clusterRecall.Memories.Count > 0)
            {
                // Archived between the recall and its reward: the reward still reaches it, on both sides.
                Assert.True(reference.Archive(referenceRecall.Memories[0].Sequence, DateTimeOffset.UtcNow));
                archivedAt[clusterRecall.Memories[0].Id] = (await bank.ArchiveAsync(clusterRecall.Memories[0].Id)).ArchivedAt!.Value;
            }

            if (clusterRecall.Memories.Count > 0 && vectors.NextDouble() < 0.8)
            {
                double reward = vectors.NextDouble() < 0.5 ? 1 : -1;
                var updated = await bank.RewardAsync(clusterRecall.Token, reward);
                var referenceQs = reference.Reward(referenceRecall.Memories.Select(m => m.Sequence).ToList(), reward);
                Assert.Equal(referenceQs.Count, updated.Updated.Count);
                for (int i = 0; i < referenceQs.Count; i++)
                {
                    Assert.Equal(referenceQs[i], updated.Updated[i].Q, 1e-12);
                }
            }

            bool success = vectors.NextDouble() < 0.5;
            bool useToken = vectors.NextDouble() < 0.7;
            var written = await bank.WriteAsync(query, $"intent {step}", $"experience {step}", success, useToken ? clusterRecall.Token : null);
            var referenceWritten = reference.Write(query, $"intent {step}", $"experience {step}", success, useToken ? referenceRecall.Keys : null);
            Assert.Equal(referenceWritten.CreatedKey, written.CreatedKey);
            clusterToReference[written.MemoryId] = referenceWritten.MemorySequence;

            if (step % 17 == 16)
            {
                var victim = clusterToReference.Keys.ElementAt(vectors.Next(clusterToReference.Count));
                Assert.Equal(reference.Delete(clusterToReference[victim]), await bank.DeleteAsync(victim));
            }

            if (archive && step % 3 == 1)
            {
                // Any memory ever written: active ones are archived, archived ones are no-ops, deleted ones not found.
                var chosen = clusterToReference.Keys.ElementAt(vectors.Next(clusterToReference.Count));
                long sequence = clusterToReference[chosen];
                if (reference.Table.TryGetMemory(sequence, out _) || reference.Table.TryGetArchived(sequence, out _))
                {
                    bool changed = reference.Archive(sequence, DateTimeOffset.UtcNow);
                    var archived = await bank.ArchiveAsync(chosen);
                    Assert.NotNull(archived.ArchivedAt);
                    if (!changed)
                    {
                        // Archiving an archived memory changes nothing, its archive time included.
                        Assert.Equal(archivedAt[chosen], archived.ArchivedAt);
                    }

                    archivedAt[chosen] = archived.ArchivedAt.Value;
                    archivedCount++;
                }
                else
                {
                    await Assert.ThrowsAsync<MemoryNotFoundException>(() => bank.ArchiveAsync(chosen));
                }
            }

            if (archive && step % 5 == 3 && reference.Table.ArchivedMemories.Any())
            {
                var archivedNow = reference.Table.ArchivedMemories.Select(m => m.Sequence).Order().ToList();
                long sequence = archivedNow[vectors.Next(archivedNow.Count)];
                string chosen = clusterToReference.First(p => p.Value == sequence).Key;
                Assert.True(reference.Restore(sequence, DateTimeOffset.UtcNow));
                var restored = await bank.RestoreAsync(chosen);
                Assert.Null(restored.ArchivedAt);
                Assert.NotNull(restored.RestoredAt);
                restoredCount++;
            }
        }

        if (archive)
        {
            Assert.True(archivedCount > 30 && restoredCount > 15, $"only {archivedCount} archives and {restoredCount} restores ran.");
            Assert.True(reference.Table.SetAsideKeys.Any(), "no key left the graph: the workload does not exercise set-aside keys.");
            foreach (var (clusterId, referenceId) in clusterToReference)
            {
                if (reference.Table.TryGetArchived(referenceId, out var expected))
                {
                    var got = await bank.GetAsync(clusterId);
                    Assert.NotNull(got.ArchivedAt);
                    Assert.Equal(expected.Q, got.Q, 1e-12);
                    Assert.Equal((expected.Visits, expected.Revision), (got.Visits, got.Revision));
                }
            }
        }

        Assert.True(comparedRecalls > 100, $"only {comparedRecalls} recalls returned memories; the workload does not exercise Phase B.");
        var stats = await bank.GetStatsAsync();
        Assert.Equal(reference.Table.MemoryCount, stats.Memories);
        Assert.Equal(reference.Table.KeyCount, stats.Keys);
        foreach (var (clusterId, referenceId) in clusterToReference)
        {
            if (reference.Table.TryGetMemory(referenceId, out var expected))
            {
                var got = await bank.GetAsync(clusterId);
                Assert.Equal(expected.Q, got.Q, 1e-12);
                // Each archive and restore raised the revision on both sides (the history's numbering).
                Assert.Equal((expected.Visits, expected.Revision), (got.Visits, got.Revision));
            }
        }
    }

    private static void AssertSameSelection(RecallResponse cluster, RecallResult reference, Dictionary<string, long> ids, int step)
    {
        Assert.True(cluster.Coverage.IsFull);
        Assert.Equal(reference.PoolSize, cluster.PoolSize);
        Assert.Equal(reference.Memories.Count, cluster.Memories.Count);
        for (int i = 0; i < reference.Memories.Count; i++)
        {
            var expected = reference.Memories[i];
            var actual = cluster.Memories[i];
            Assert.True(expected.Sequence == ids[actual.Id], $"step {step}, rank {i}: cluster returned another memory than the reference bank: expected "
                + string.Join(", ", reference.Memories.Select(m => $"{m.Sequence} (key {m.KeySequence}, sim {m.Similarity:R}, q {m.Q:R}, score {m.Score:R})")) + "; got "
                + string.Join(", ", cluster.Memories.Select(m => $"{ids[m.Id]} (sim {m.Similarity:R}, q {m.Q:R}, score {m.Score:R})")) + $"; pool {reference.PoolSize} vs {cluster.PoolSize}.");
            Assert.Equal(expected.Similarity, actual.Similarity);
            Assert.Equal(expected.Q, actual.Q, 1e-12);
            Assert.Equal(expected.ZSim, actual.ZSim, 1e-6);
            Assert.Equal(expected.ZQ, actual.ZQ, 1e-6);
            Assert.Equal(expected.Score, actual.Score, 1e-6);
            Assert.Equal(expected.Experience, actual.Experience);
        }
    }
}

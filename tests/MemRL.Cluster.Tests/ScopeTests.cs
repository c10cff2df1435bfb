using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

/// <summary>
/// Scopes, metadata and filters (docs/scopes.md): the cluster equals the reference bank under a workload of several
/// users, filtered recalls, scoped writes with and without tokens, and deletes by scope; filters act inside Phase A
/// before the per-key cap; bad filters and tags are refused naming the field.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ScopeTests(ClusterFixture fixture)
{
    private const int Dimension = 16;
    private static readonly string[] Users = ["u-ann", "u-bob", "u-cy", "u-dee"];
    private static readonly string[] Topics = ["billing", "deploys", "tls"];

    [Theory]
    [InlineData(1, 41, false)]
    [InlineData(3, 42, false)]
    [InlineData(8, 43, false)]
    [InlineData(3, 44, true)]
    public async Task Cluster_MatchesReferenceBank_WithScopesFiltersAndDeletesByScope(int shards, int seed, bool mergeAcrossScopes)
    {
        var vectors = new Vectors(seed, Dimension);
        var wireOptions = new BankOptions
        {
            K1 = 6, K2 = 3, Delta = 0.2, MergeThreshold = 0.9, QInitSuccess = 0.5, QInitFailure = 0, MaxMemoriesPerKey = 3,
            MergeAcrossScopes = mergeAcrossScopes,
        };
        string name = ClusterFixture.NewBankName($"scope{shards}");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", wireOptions, shards, new IndexSettings(Exact: true)));
        var bank = fixture.Memory.Bank(name);
        var reference = new ReferenceBank(Dimension, wireOptions.ToCore());
        var ids = new Dictionary<string, long>();
        var centres = Enumerable.Range(0, 4).Select(_ => vectors.Gaussian()).ToArray();
        int filteredWithMemories = 0, joinsAcrossWouldHappen = 0;
        for (int step = 0; step < 150; step++)
        {
            var query = vectors.Near(centres[vectors.Next(centres.Length)], vectors.NextDouble() < 0.5 ? 0.05 : 0.6);
            string user = Users[vectors.Next(Users.Length)];
            var scope = vectors.NextDouble() < 0.15 ? null : new ScopeFields(UserId: user, AgentId: vectors.NextDouble() < 0.3 ? "agent-1" : null);
            var clauses = RandomFilter(vectors, user);
            var filter = ScopeWire.ToFilter(clauses);

            var clusterRecall = await bank.RecallAsync(query, new RecallSettings(RequireFullCoverage: true, Filter: clauses));
            var referenceRecall = reference.Recall(query, filter: filter);
            AssertSame(clusterRecall, referenceRecall, ids, step);
            Assert.All(clusterRecall.Memories, m => Assert.True(filter is null || filter.Matches(ScopeOf(m.Scope), MetadataOf(m.Metadata)),
                $"step {step}: memory {m.Id} does not pass the filter."));
            filteredWithMemories += filter is not null && clusterRecall.Memories.Count > 0 ? 1 : 0;

            if (clusterRecall.Memories.Count > 0 && vectors.NextDouble() < 0.7)
            {
                double reward = vectors.NextDouble() < 0.5 ? 1 : -1;
                var updated = await bank.RewardAsync(clusterRecall.Token, reward);
                var expected = reference.Reward(referenceRecall.Memories.Select(m => m.Sequence).ToList(), reward);
                Assert.Equal(expected, updated.Updated.Select(u => u.Q));
            }

            bool useToken = vectors.NextDouble() < 0.6;
            var metadata = vectors.NextDouble() < 0.7 ? new Dictionary<string, string> { ["topic"] = Topics[vectors.Next(Topics.Length)] } : null;
            joinsAcrossWouldHappen += useToken && referenceRecall.Keys.Any(k => reference.Table.TryGetKey(k.KeySequence, out var key) && key.Scope != ScopeOf(scope)) ? 1 : 0;
            var written = await bank.WriteAsync(query, $"intent {step}", $"experience {step}", step % 3 == 0, useToken ? clusterRecall.Token : null,
                scope: scope, metadata: metadata);
            var referenceWritten = reference.Write(query, $"intent {step}", $"experience {step}", step % 3 == 0, useToken ? referenceRecall.Keys : null,
                ScopeOf(scope), MemoryMetadata.From(metadata));
            Assert.True(referenceWritten.CreatedKey == written.CreatedKey, $"step {step}: the cluster and the reference bank disagree on joining a key.");
            ids[written.MemoryId] = referenceWritten.MemorySequence;

            if (step == 100)
            {
                var byScope = new[] { new FilterClause("userId", [Users[0]]) };
                int deleted = await bank.DeleteMatchingAsync(byScope, "delete-ann-" + name);
                Assert.Equal(reference.DeleteMatching(ScopeWire.ToFilter(byScope)!), deleted);
                Assert.True(deleted > 0, "the workload wrote nothing for the first user before the delete by scope.");
                // A retry under the same id answers the first count and deletes nothing more.
                Assert.Equal(deleted, await bank.DeleteMatchingAsync(byScope, "delete-ann-" + name));
            }
        }

        Assert.True(filteredWithMemories > 30, $"only {filteredWithMemories} filtered recalls returned memories.");
        Assert.True(joinsAcrossWouldHappen > 5, $"only {joinsAcrossWouldHappen} tokens held another scope's keys: the merge rule is not exercised.");
        var stats = await bank.GetStatsAsync();
        Assert.Equal(reference.Table.MemoryCount, stats.Memories);
        Assert.Equal(reference.Table.KeyCount, stats.Keys);
        foreach (var (clusterId, referenceId) in ids)
        {
            if (reference.Table.TryGetMemory(referenceId, out var expected))
            {
                var got = await bank.GetAsync(clusterId);
                Assert.Equal(expected.Scope, ScopeOf(got.Scope));
                Assert.True(expected.Metadata.SameAs(MetadataOf(got.Metadata)));
            }
        }
    }

    // Most keys belong to other users: a post-filter (search k1, then drop) would find none of the one user's memories.
    // One shard of 5,000 keys: the rare user's 50 keys are scanned exactly, half the keys (2,500 candidates, over the
    // scan limit) go through the filtered graph walk.
    [Fact]
    public async Task FilteredRecall_FindsK1MatchingKeys_BothByScanAndByGraphWalk()
    {
        var vectors = new Vectors(51, Dimension);
        string name = ClusterFixture.NewBankName("scope-sparse");
        var options = new BankOptions { K1 = 5, K2 = 5, Delta = -1, MergeThreshold = 2 };
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", options, 1, new IndexSettings(EfSearch: 16)));
        var bank = fixture.Memory.Bank(name);
        var centre = vectors.Gaussian();
        var writes = new List<Task>();
        for (int i = 0; i < 5000; i++)
        {
            string user = i % 100 == 7 ? "rare" : $"u{i % 20}";
            writes.Add(bank.WriteAsync(vectors.Near(centre, 0.5), $"t{i}", $"e{i}", true, scope: new ScopeFields(UserId: user),
                metadata: new Dictionary<string, string> { ["half"] = (i % 2).ToString(System.Globalization.CultureInfo.InvariantCulture) }));
            if (writes.Count == 64)
            {
                await Task.WhenAll(writes);
                writes.Clear();
            }
        }

        await Task.WhenAll(writes);
        for (int q = 0; q < 5; q++)
        {
            var query = vectors.Near(centre, 0.5);
            var rare = await bank.RecallAsync(query, new RecallSettings(Filter: [new FilterClause("userId", ["rare"])]));
            Assert.Equal(5, rare.PoolSize);
            Assert.All(rare.Memories, m => Assert.Equal("rare", m.Scope?.UserId));

            var half = await bank.RecallAsync(query, new RecallSettings(Filter: [new FilterClause("metadata.half", ["1"])]));
            Assert.Equal(5, half.PoolSize);
            Assert.All(half.Memories, m => Assert.Equal("1", m.Metadata!["half"]));
        }

        var none = await bank.RecallAsync(vectors.Near(centre, 0.5), new RecallSettings(Filter: [new FilterClause("userId", ["nobody"])]));
        Assert.Empty(none.Memories);
    }

    [Fact]
    public async Task Listing_TakesTheFilter_AndPagesThroughOnlyMatchingMemories()
    {
        var vectors = new Vectors(52, Dimension);
        string name = ClusterFixture.NewBankName("scope-list");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", new BankOptions { MergeThreshold = 2 }, 3));
        var bank = fixture.Memory.Bank(name);
        var mine = new HashSet<string>();
        for (int i = 0; i < 40; i++)
        {
            var written = await bank.WriteAsync(vectors.Gaussian(), "t", "e", true, scope: new ScopeFields(UserId: i % 4 == 0 ? "me" : "other"));
            if (i % 4 == 0)
            {
                mine.Add(written.MemoryId);
            }
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await bank.ListAsync(cursor, 3, [new FilterClause("userId", ["me"])]);
            seen.AddRange(page.Memories.Select(m => m.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        Assert.Equal(mine.Order(), seen.Order());
        Assert.Equal(seen.Count, seen.Distinct().Count());
    }

    [Fact]
    public async Task BadFiltersAndTags_AreRefusedNamingTheField_AndChangeNothing()
    {
        var vectors = new Vectors(53, Dimension);
        string name = ClusterFixture.NewBankName("scope-bad");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", null, 2));
        var bank = fixture.Memory.Bank(name);
        var q = vectors.Gaussian();

        async Task Refused(string field, Func<Task> call)
        {
            var error = await Assert.ThrowsAnyAsync<ArgumentException>(call);
            FieldAssert.Parts(error, field);
        }

        await Refused("filter.colour", () => bank.RecallAsync(q, new RecallSettings(Filter: [new FilterClause("colour", ["red"])])));
        await Refused("filter.userId", () => bank.RecallAsync(q, new RecallSettings(Filter: [new FilterClause("userId", [])])));
        await Refused("filter.userId", () => bank.RecallAsync(q, new RecallSettings(Filter: [new FilterClause("userId", [new string('x', 129)])])));
        await Refused("filter.userId", () => bank.RecallAsync(q, new RecallSettings(Filter: [new FilterClause("userId", ["a"]), new FilterClause("userId", ["b"])])));
        await Refused("filter.metadata.bad key", () => bank.RecallAsync(q, new RecallSettings(Filter: [new FilterClause("metadata.bad key", ["x"])])));
        await Refused("scope.userId", () => bank.WriteAsync(q, "t", "e", true, scope: new ScopeFields(UserId: "")));
        await Refused("scope.runId", () => bank.WriteAsync(q, "t", "e", true, scope: new ScopeFields(RunId: "tab\there")));
        await Refused("metadata.k", () => bank.WriteAsync(q, "t", "e", true, metadata: new Dictionary<string, string> { ["k"] = new string('v', 257) }));
        await Refused("metadata", () => bank.WriteAsync(q, "t", "e", true,
            metadata: Enumerable.Range(0, 17).ToDictionary(i => $"k{i}", i => "v")));
        await Refused("metadata", () => bank.WriteAsync(q, "t", "e", true,
            metadata: Enumerable.Range(0, 16).ToDictionary(i => $"k{i}", i => new string('v', 256))));
        await Refused("filter", () => bank.DeleteMatchingAsync([new FilterClause("metadata.topic", ["x"])]));

        Assert.Equal(0, (await bank.GetStatsAsync()).Memories);
    }

    // The scope and metadata survive a restart: replayed from the log (MemoryTagged) and read back from a snapshot (v3).
    [Fact]
    public async Task ScopesAndMetadata_AreReturnedWithTheMemory()
    {
        var vectors = new Vectors(54, Dimension);
        string name = ClusterFixture.NewBankName("scope-get");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", null, 2));
        var bank = fixture.Memory.Bank(name);
        var q = vectors.Gaussian();
        var written = await bank.WriteAsync(q, "t", "e", true, scope: new ScopeFields("u", "a", "s", "r"),
            metadata: new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" });

        var got = await bank.GetAsync(written.MemoryId);
        var recalled = await bank.RecallAsync(q, new RecallSettings(Filter: [new FilterClause("sessionId", ["s"]), new FilterClause("metadata.a", ["1", "9"])]));

        Assert.Equal(new ScopeFields("u", "a", "s", "r"), got.Scope);
        Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" }, got.Metadata);
        Assert.Equal(written.MemoryId, Assert.Single(recalled.Memories).Id);
        Assert.Equal("r", recalled.Memories[0].Scope!.RunId);
    }

    private static FilterClause[]? RandomFilter(Vectors vectors, string user) => vectors.Next(6) switch
    {
        0 => null,
        1 => [new FilterClause("userId", [user])],
        2 => [new FilterClause("userId", [user, Users[(Array.IndexOf(Users, user) + 1) % Users.Length]])],
        3 => [new FilterClause("metadata.topic", [Topics[vectors.Next(Topics.Length)]])],
        4 => [new FilterClause("userId", [user]), new FilterClause("metadata.topic", [Topics[vectors.Next(Topics.Length)], Topics[vectors.Next(Topics.Length)]])],
        _ => [new FilterClause("agentId", ["agent-1"])],
    };

    private static MemoryScope ScopeOf(ScopeFields? scope) => scope?.ToScope() ?? MemoryScope.None;

    private static MemoryMetadata MetadataOf(Dictionary<string, string>? metadata) => MemoryMetadata.From(metadata);

    private static void AssertSame(RecallResponse cluster, RecallResult reference, Dictionary<string, long> ids, int step)
    {
        Assert.Equal(reference.PoolSize, cluster.PoolSize);
        Assert.Equal(reference.Memories.Count, cluster.Memories.Count);
        for (int i = 0; i < reference.Memories.Count; i++)
        {
            Assert.True(reference.Memories[i].Sequence == ids[cluster.Memories[i].Id], $"step {step}, rank {i}: another memory than the reference bank's.");
            Assert.Equal(reference.Memories[i].Similarity, cluster.Memories[i].Similarity);
            Assert.Equal(reference.Memories[i].Score, cluster.Memories[i].Score, 1e-9);
        }
    }
}

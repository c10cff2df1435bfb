using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Core.Bank;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

/// <summary>
/// Edits of a memory's experience and metadata: the id, Q, visits and rank stay, metadata filters follow the new values,
/// the reference bank edits alike, an operation id applies once, and bad or late edits change nothing.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class EditTests(ClusterFixture fixture)
{
    private const int Dimension = 16;

    [Fact]
    public async Task Edit_ReplacesExperienceAndMetadata_KeepsIdQAndRank_AndFiltersFollowTheNewMetadata()
    {
        var vectors = new Vectors(71, Dimension);
        var bank = await NewBankAsync("edit", shards: 3);
        var reference = new ReferenceBank(Dimension, new BankOptions { Delta = -1, MergeThreshold = 2 }.ToCore());
        var ids = new List<string>();
        var clusterIdOf = new Dictionary<long, string>();
        var referenceIds = new List<long>();
        var intents = Enumerable.Range(0, 12).Select(_ => vectors.Gaussian()).ToArray();
        foreach (var (intent, i) in intents.Select((v, i) => (v, i)))
        {
            var tags = new Dictionary<string, string> { ["topic"] = "old" };
            ids.Add((await bank.WriteAsync(intent, $"t{i}", $"e{i}", true, scope: new ScopeFields("u"), metadata: tags)).MemoryId);
            var written = reference.Write(intent, $"t{i}", $"e{i}", true, scope: new MemoryScope("u", null, null, null), metadata: MemoryMetadata.From(tags));
            referenceIds.Add(written.MemorySequence);
            clusterIdOf[written.MemorySequence] = ids[^1];
        }

        var recall = await bank.RecallAsync(intents[0]);
        await bank.RewardAsync(recall.Token, 1);
        reference.Reward(reference.Recall(intents[0]).Memories.Select(m => m.Sequence).ToList(), 1);
        var before = await bank.GetAsync(ids[0]);
        var ranked = await bank.RecallAsync(intents[0]);

        var edited = await bank.EditAsync(ids[0], experience: "corrected é", metadata: new Dictionary<string, string> { ["topic"] = "new", ["v"] = "2" });
        Assert.True(reference.Edit(referenceIds[0], "corrected é", MemoryMetadata.From(new Dictionary<string, string> { ["topic"] = "new", ["v"] = "2" })));

        // Everything but the experience, metadata and revision is as before: id, intent text, Q, visits, scope, timestamps.
        Assert.Equal(Plain(before) with { Experience = "corrected é", Revision = 1 }, Plain(edited));
        Assert.Equal(new Dictionary<string, string> { ["topic"] = "new", ["v"] = "2" }, edited.Metadata);
        var got = await bank.GetAsync(ids[0]);
        Assert.Equal(Plain(edited), Plain(got));
        Assert.Equal(edited.Metadata, got.Metadata);
        // Metadata only: the experience stays as edited; an empty metadata clears it.
        var cleared = await bank.EditAsync(ids[1], metadata: new Dictionary<string, string>());
        Assert.True(reference.Edit(referenceIds[1], null, MemoryMetadata.Empty));
        Assert.Equal("e1", cleared.Experience);
        Assert.True(cleared.Metadata is null || cleared.Metadata.Count == 0);

        // Recall ranks as before (Q and similarity did not change), and filters see the new values only; the reference
        // bank, edited alike, agrees memory for memory.
        var after = await bank.RecallAsync(intents[0]);
        Assert.Equal(ranked.Memories.Select(m => (m.Id, m.Score)), after.Memories.Select(m => (m.Id, m.Score)));
        Assert.Equal("corrected é", after.Memories.Single(m => m.Id == ids[0]).Experience);
        foreach (var (field, value) in new[] { ("metadata.topic", "new"), ("metadata.topic", "old"), ("metadata.v", "2") })
        {
            FilterClause[] clauses = [new FilterClause(field, [value])];
            var filtered = await bank.RecallAsync(intents[0], new RecallSettings(RequireFullCoverage: true, Filter: clauses));
            var expected = reference.Recall(intents[0], filter: ScopeWire.ToFilter(clauses));
            Assert.Equal(expected.Memories.Select(m => clusterIdOf[m.Sequence]), filtered.Memories.Select(m => m.Id));
            Assert.All(filtered.Memories, m => Assert.Equal(value, m.Metadata![field["metadata.".Length..]]));
        }

        Assert.Equal([ids[0]], (await bank.RecallAsync(intents[0], new RecallSettings(Filter: [new FilterClause("metadata.topic", ["new"])]))).Memories.Select(m => m.Id));
        Assert.DoesNotContain(ids[0], (await bank.RecallAsync(intents[0], new RecallSettings(Filter: [new FilterClause("metadata.topic", ["old"])]))).Memories.Select(m => m.Id));
        Assert.DoesNotContain(ids[1], (await bank.RecallAsync(intents[1], new RecallSettings(Filter: [new FilterClause("metadata.topic", ["old", "new"])]))).Memories.Select(m => m.Id));

        // The history numbers rewards and edits together (ordinal = visits + revision), newest first.
        await bank.RewardAsync((await bank.RecallAsync(intents[0])).Token, 0);
        var rewarded = await bank.GetAsync(ids[0]);
        var history = (await bank.GetHistoryAsync(ids[0], limit: 256)).Entries;
        Assert.Equal(rewarded.Visits + 1, history.Count);
        Assert.Equal(Enumerable.Range(1, history.Count).Reverse().Select(o => (long)o), history.Select(e => e.Ordinal));
        Assert.Equal([1, 2, 1], history.Take(3).Select(e => e.Kind));
        var edit = history[1];
        Assert.Equal((1, before.Q, before.Visits, (double?)null, (Guid?)null), (edit.Revision, edit.Q, edit.Visits, edit.Reward, edit.RecallId));
        Assert.Equal(["experience", "metadata"], edit.Changed!);
        Assert.Equal(["metadata"], (await bank.GetHistoryAsync(ids[1])).Entries[0].Changed!);
    }

    [Fact]
    public async Task Edit_RetriedWithItsOperationId_AppliesOnce_AndTheIdReusedForAnotherEdit_IsAConflict()
    {
        var vectors = new Vectors(72, Dimension);
        var bank = await NewBankAsync("edit-once", shards: 2);
        string id = (await bank.WriteAsync(vectors.Gaussian(), "t", "v1", true)).MemoryId;

        await bank.EditAsync(id, experience: "v2", operationId: "edit-a");
        await bank.EditAsync(id, experience: "v3", operationId: "edit-b");
        // The retry of edit-a is acknowledged with the memory as it is now: v2 is not applied a second time over v3.
        Assert.Equal("v3", (await bank.EditAsync(id, experience: "v2", operationId: "edit-a")).Experience);
        await Assert.ThrowsAsync<OperationConflictException>(() => bank.EditAsync(id, experience: "v4", operationId: "edit-a"));
        // An id used by another kind of call is a conflict too.
        await Assert.ThrowsAsync<OperationConflictException>(() => bank.DeleteAsync(id, operationId: "edit-b"));
        var memory = await bank.GetAsync(id);
        Assert.Equal(("v3", 2), (memory.Experience, memory.Revision));
        // One history entry per applied edit: the retry wrote none.
        var history = (await bank.GetHistoryAsync(id)).Entries;
        Assert.Equal([(2L, 2), (1L, 1)], history.Select(e => (e.Ordinal, e.Revision!.Value)));
        Assert.All(history, e => Assert.Equal(["experience"], e.Changed!));
    }

    [Fact]
    public async Task BadEdits_AreRefusedNamingTheField_AndEditsOfDeletedMemories_AreNotFound_ChangingNothing()
    {
        var vectors = new Vectors(73, Dimension);
        var bank = await NewBankAsync("edit-bad", shards: 2);
        string id = (await bank.WriteAsync(vectors.Gaussian(), "t", "keep", true, metadata: new Dictionary<string, string> { ["a"] = "1" })).MemoryId;
        string gone = (await bank.WriteAsync(vectors.Gaussian(), "t", "gone", true)).MemoryId;
        Assert.True(await bank.DeleteAsync(gone));
        var before = await bank.GetAsync(id);

        await Refused("experience", () => bank.EditAsync(id));
        await Refused("experience", () => bank.EditAsync(id, experience: new string('x', BankLimits.MaxExperienceLength + 1)));
        await Refused("metadata", () => bank.EditAsync(id, metadata: new Dictionary<string, string> { ["bad key!"] = "v" }));
        await Refused("memoryId", () => bank.EditAsync("..", experience: "x"));
        await Assert.ThrowsAsync<MemoryNotFoundException>(() => bank.EditAsync(gone, experience: "back"));
        // An id of another bank's incarnation names no memory here.
        var other = await NewBankAsync("edit-other", shards: 2);
        string foreign = (await other.WriteAsync(vectors.Gaussian(), "t", "f", true)).MemoryId;
        await Assert.ThrowsAsync<MemoryNotFoundException>(() => bank.EditAsync(foreign, experience: "x"));

        var after = await bank.GetAsync(id);
        Assert.Equal(Plain(before), Plain(after));
        Assert.Equal(before.Metadata, after.Metadata);
        Assert.Equal("f", (await other.GetAsync(foreign)).Experience);
        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
    }

    // A memory without its metadata, whose dictionary a record compares by reference.
    private static MemoryInfo Plain(MemoryInfo memory) => memory with { Metadata = null };

    private static async Task Refused(string field, Func<Task> call)
    {
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(call);
        Assert.True(MemRL.Errors.FieldError.TryRead(error, out var parts), $"no field-error parts on {error.GetType().Name}: {error.Message}");
        Assert.StartsWith(field, parts.Field);
        Assert.False(string.IsNullOrEmpty(parts.Expected));
    }

    private async Task<BankClient> NewBankAsync(string prefix, int shards)
    {
        string name = ClusterFixture.NewBankName(prefix);
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, shards,
            new IndexSettings(Exact: true)));
        return fixture.Memory.Bank(name);
    }
}

using MemRL.Core.Bank;

namespace MemRL.Core.Tests;

/// <summary>The scope rules of the reference bank (docs/scopes.md): what the cluster is tested against.</summary>
public sealed class ScopeRulesTests
{
    private static readonly float[] Intent = [1, 0, 0, 0];
    private static readonly MemoryScope Ann = new(UserId: "ann");
    private static readonly MemoryScope Bob = new(UserId: "bob");

    private static MemoryFilter Filter(string field, params string[] values) => MemoryFilter.Create([new FilterField(field, values)])!;

    // Ann's four memories have the better Q; with the cap (2) applied before the filter, Bob's memory would never enter.
    [Fact]
    public void Filter_AppliesBeforeThePerKeyCap()
    {
        var bank = new ReferenceBank(4, MemRLOptions.Default with { MaxMemoriesPerKey = 2, MergeThreshold = 0.5, MergeAcrossScopes = true, Delta = 0, QInitSuccess = 1, QInitFailure = -1 });
        var first = bank.Write(Intent, "t", "bob's", success: false, scope: Bob);
        for (int i = 0; i < 4; i++)
        {
            bank.Write(Intent, "t", $"ann's {i}", success: true, scope: Ann);
        }

        var recall = bank.Recall(Intent, filter: Filter("userId", "bob"));

        Assert.Equal(first.MemorySequence, Assert.Single(recall.Memories).Sequence);
        Assert.Equal(1, recall.PoolSize);
    }

    [Fact]
    public void Writes_JoinOnlyKeysOfTheirOwnScope_UnlessTheBankMergesAcrossScopes()
    {
        var separate = new ReferenceBank(4, MemRLOptions.Default with { MergeThreshold = 0.5 });
        var a = separate.Write(Intent, "t", "e", true, scope: Ann);
        var b = separate.Write(Intent, "t", "e", true, scope: Bob);
        var a2 = separate.Write(Intent, "t", "e", true, scope: Ann);
        // With a recall token's keys too: Ann's key is the nearest, and still not Bob's to join.
        var b2 = separate.Write(Intent, "t", "e", true, separate.Recall(Intent).Keys, scope: Bob);
        var none = separate.Write(Intent, "t", "e", true);

        Assert.True(a.CreatedKey && b.CreatedKey && none.CreatedKey);
        Assert.Equal((false, a.KeySequence), (a2.CreatedKey, a2.KeySequence));
        Assert.Equal((false, b.KeySequence), (b2.CreatedKey, b2.KeySequence));

        var merged = new ReferenceBank(4, MemRLOptions.Default with { MergeThreshold = 0.5, MergeAcrossScopes = true });
        var m1 = merged.Write(Intent, "t", "e", true, scope: Ann);
        var m2 = merged.Write(Intent, "t", "e", true, scope: Bob);
        Assert.Equal((false, m1.KeySequence), (m2.CreatedKey, m2.KeySequence));
    }

    [Fact]
    public void DeleteMatching_ErasesOneScope_AndNeedsAScopeField()
    {
        var bank = new ReferenceBank(4, MemRLOptions.Default with { MergeThreshold = 2 });
        bank.Write(Intent, "t", "e", true, scope: Ann, metadata: MemoryMetadata.From(new Dictionary<string, string> { ["topic"] = "x" }));
        bank.Write(Intent, "t", "e", true, scope: Ann);
        bank.Write(Intent, "t", "e", true, scope: Bob, metadata: MemoryMetadata.From(new Dictionary<string, string> { ["topic"] = "x" }));

        Assert.Throws<ArgumentNullException>(() => bank.DeleteMatching(Filter("metadata.topic", "x")));
        Assert.Equal(3, bank.Table.MemoryCount);
        Assert.Equal(2, bank.DeleteMatching(Filter("userId", "ann")));
        Assert.Equal(0, bank.DeleteMatching(Filter("userId", "ann")));
        Assert.Equal(1, bank.Table.MemoryCount);
    }

    [Theory]
    [InlineData("colour", "filter.colour")]
    [InlineData("metadata.", "filter.metadata.")]
    [InlineData("metadata.a b", "filter.metadata.a b")]
    [InlineData("userid", "filter.userid")]
    public void Filter_RefusesUnknownFields_NamingThem(string field, string named)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => MemoryFilter.Create([new FilterField(field, ["x"])]));
        FieldAssert.Parts(error, named);
    }

    [Fact]
    public void Filter_IsCanonical_AndCombinesFieldsWithAnd()
    {
        var filter = MemoryFilter.Create([new FilterField("userId", ["b", "a", "b"]), new FilterField("agentId", ["x"])])!;

        Assert.Equal(["agentId", "userId"], filter.Fields.Select(f => f.Field));
        Assert.Equal(["a", "b"], filter.Fields[1].Values);
        Assert.True(filter.Matches(new MemoryScope("a", "x"), MemoryMetadata.Empty));
        Assert.False(filter.Matches(new MemoryScope("a"), MemoryMetadata.Empty));
        Assert.False(filter.Matches(new MemoryScope("c", "x"), MemoryMetadata.Empty));
        Assert.Null(MemoryFilter.Create([]));
    }

    [Fact]
    public void Metadata_IsSortedAndLimited()
    {
        var metadata = MemoryMetadata.From(new Dictionary<string, string> { ["z"] = "1", ["a"] = "2" });
        Assert.Equal(["a", "z"], metadata.Entries.Select(e => e.Key));
        Assert.Equal("2", metadata.ValueOf("a"));
        Assert.Null(metadata.ValueOf("m"));
        FieldAssert.Parts(Assert.ThrowsAny<ArgumentException>(() =>
            MemoryMetadata.From(new Dictionary<string, string> { ["k"] = "bell\a" })), "metadata.k");
        FieldAssert.Parts(Assert.ThrowsAny<ArgumentException>(() =>
            MemoryMetadata.From(Enumerable.Range(0, 17).ToDictionary(i => $"k{i}", _ => "v"))), "metadata");
    }
}

using System.Buffers.Text;
using System.Text;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests;

/// <summary>
/// List cursors: decoding is total (any text is a position or a <c>cursor-invalid</c> argument error, never a
/// FormatException or an overflow), and a cursor is bound to the bank that issued it.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ListCursorTests(ClusterFixture fixture)
{
    private static readonly BankInfo Bank = NewInfo("alpha.support", 0x1234abcd, shards: 4);

    public static TheoryData<string> Garbage()
    {
        var data = new TheoryData<string>
        {
            "", " ", "garbage", "not-a-cursor", "a.b", "!!!!", "A", "AA", "AAA=", "AA==AA", "====", "%00", "é", "\u0000",
            new string('A', 97), new string('A', 100_000),
            Encode("c1:0:5"), Encode("c2"), Encode("c2:"), Encode("c2::::"), Encode("c3:1234abcd:0000000000000000:0:1"),
            Encode("c2:1234abc:0000000000000000:0:1"), Encode("c2:1234abcd:000000000000000:0:1"), Encode("c2:1234abcd:00000000000000000:0:1"),
            Encode("c2:zzzzzzzz:0000000000000000:0:1"), Encode("c2:1234abcd:0000000000000000:-1:1"), Encode("c2:1234abcd:0000000000000000:+1:1"),
            Encode("c2:1234abcd:0000000000000000:99999999999999999999:1"), Encode("c2:1234abcd:0000000000000000:0:99999999999999999999"),
            Encode("c2:1234abcd:0000000000000000:0:-2"), Encode("c2:1234abcd:0000000000000000:0:1:extra"), Encode("c2:1234abcd:0000000000000000: 0:1"),
            Base64Url.EncodeToString([0xff, 0xfe, 0x00, 0x80]),
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(Garbage))]
    public void Decode_RefusesAnythingItDidNotIssue_AsCursorInvalid(string cursor)
    {
        var error = Assert.Throws<ArgumentException>(() => ListCursor.Resolve(ListCursor.Decode(cursor), cursor, Bank));
        FieldAssert.Parts(error, "cursor", reason: Reasons.CursorInvalid);
    }

    [Fact]
    public void Decode_IsTotal_OnRandomTextAndRandomBytes()
    {
        var random = new Random(2026);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. :%";
        for (int i = 0; i < 5000; i++)
        {
            string cursor = i % 2 == 0
                ? new string([.. Enumerable.Range(0, random.Next(0, 90)).Select(_ => alphabet[random.Next(alphabet.Length)])])
                : Base64Url.EncodeToString([.. Enumerable.Range(0, random.Next(0, 60)).Select(_ => (byte)random.Next(256))]);
            try
            {
                ListCursor.Resolve(ListCursor.Decode(cursor), cursor, Bank);
            }
            catch (ArgumentException error)
            {
                FieldAssert.Parts(error, "cursor", reason: Reasons.CursorInvalid);
            }
        }
    }

    [Fact]
    public void Format_RoundTrips_ForEveryShardAndEdgeSequence()
    {
        foreach (int shard in new[] { 0, 3 })
        {
            foreach (long after in new[] { -1L, 0L, 1L, long.MaxValue })
            {
                string cursor = ListCursor.Format(Bank, shard, after);
                Assert.Equal((shard, after), ListCursor.Resolve(ListCursor.Decode(cursor), cursor, Bank));
            }
        }

        Assert.Equal((0, -1L), ListCursor.Resolve(ListCursor.Decode(null), null, Bank));
    }

    [Fact]
    public void Resolve_RefusesTheCursorOfAnotherBank_EvenWithTheSameIncarnation()
    {
        // Names are "{tenant}.{bank}": the same bank name of another tenant, and a colliding incarnation, still differ.
        foreach (var other in new[] { NewInfo("beta.support", Bank.Incarnation, 4), NewInfo("alpha.support", Bank.Incarnation + 1, 4), NewInfo("alpha.other", Bank.Incarnation, 4) })
        {
            string cursor = ListCursor.Format(other, 1, 5);
            var error = Assert.Throws<ArgumentException>(() => ListCursor.Resolve(ListCursor.Decode(cursor), cursor, Bank));
            FieldAssert.Parts(error, "cursor", reason: Reasons.CursorInvalid);
        }

        string beyond = ListCursor.Format(NewInfo(Bank.Name, Bank.Incarnation, 8), 6, 5);
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => ListCursor.Resolve(ListCursor.Decode(beyond), beyond, Bank)), "cursor", reason: Reasons.CursorInvalid);
    }

    [Fact]
    public async Task ListAsync_RefusesAnotherBanksCursor_AndGarbage_AndPagesItsOwn()
    {
        var a = await BankHelpers.NewBankAsync(fixture, "cursor-a");
        var b = await BankHelpers.NewBankAsync(fixture, "cursor-b");
        var vectors = new Vectors(21, BankHelpers.Dimension);
        var written = new HashSet<string>();
        for (int i = 0; i < 5; i++)
        {
            written.Add((await a.WriteAsync(vectors.Gaussian(), $"t{i}", $"e{i}", true)).MemoryId);
            await b.WriteAsync(vectors.Gaussian(), $"t{i}", $"e{i}", true);
        }

        var first = await a.ListAsync(limit: 2);
        Assert.NotNull(first.NextCursor);
        var fromOther = await Assert.ThrowsAnyAsync<ArgumentException>(() => b.ListAsync(first.NextCursor, 2));
        FieldAssert.Parts(fromOther, "cursor", reason: Reasons.CursorInvalid);
        foreach (string garbage in new[] { "garbage", "a.b", "AA==AA", Encode("c2:1234abcd:0000000000000000:0:99999999999999999999") })
        {
            FieldAssert.Parts(await Assert.ThrowsAnyAsync<ArgumentException>(() => a.ListAsync(garbage, 2)), "cursor", reason: Reasons.CursorInvalid);
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await a.ListAsync(cursor, 2);
            seen.AddRange(page.Memories.Select(m => m.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        Assert.Equal(written.Order(), seen.Order());
    }

    [Fact]
    public async Task ListAsync_RefusesACursorOfTheDeletedBankOfTheSameName()
    {
        var bank = await BankHelpers.NewBankAsync(fixture, "cursor-again");
        var v = new Vectors(22, BankHelpers.Dimension);
        for (int i = 0; i < 3; i++)
        {
            await bank.WriteAsync(v.Gaussian(), "t", "e", true);
        }

        string cursor = (await bank.ListAsync(limit: 1)).NextCursor!;
        Assert.True(await fixture.Memory.DeleteBankAsync(bank.Name));
        await fixture.Memory.CreateBankAsync(bank.Name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions(), 2, new IndexSettings(Exact: true)));

        FieldAssert.Parts(await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.ListAsync(cursor, 1)), "cursor", reason: Reasons.CursorInvalid);
    }

    private static string Encode(string text) => Base64Url.EncodeToString(Encoding.ASCII.GetBytes(text));

    private static BankInfo NewInfo(string name, uint incarnation, int shards) =>
        new(name, BankHelpers.Dimension, "test-embedder", new BankOptions(), new IndexSettings(), shards, incarnation, 1, new int[BankLimits.VirtualSlots], DateTimeOffset.UnixEpoch);
}

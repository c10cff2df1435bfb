using System.Net;

namespace MemRL.Api.Tests;

/// <summary>Archived memories over HTTP (docs/retention.md): listed by <c>state</c>, counted apart in stats, readable by a
/// read-only key, and their archive and restore in the memory's history.</summary>
[Collection(ApiCollection.Name)]
public sealed class ArchiveHttpTests(ApiSiloFixture fixture)
{
    private const int Dimension = Http.Dimension;
    private readonly HttpClient _alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));

    [Fact]
    public async Task ArchivedMemories_AreListedByState_CountedInStats_AndInTheirHistory()
    {
        string bank = ApiSiloFixture.NewBankName("archived-list");
        await _alpha.CreateVectorBankAsync(bank, shards: 3);
        var ids = new List<string>();
        for (int i = 0; i < 7; i++)
        {
            var written = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new
            {
                intent = Http.Vector(Dimension, i), experience = $"e{i}", success = true, scope = new { userId = i < 4 ? "ann" : "bob" },
            })).Ok(HttpStatusCode.Created);
            ids.Add(written.Body.GetProperty("memoryId").GetString()!);
        }

        foreach (string id in new[] { ids[1], ids[3], ids[5] })
        {
            (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories/{id}/archive", new { })).Ok();
        }

        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories/{ids[5]}/restore", new { })).Ok();

        using var reader = fixture.Silo.Client(ApiSilo.KeyOf("alpha", readOnly: true));
        string[] archived = [.. new[] { ids[1], ids[3] }.Order(StringComparer.Ordinal)];
        Assert.Equal(archived, await ListAsync(reader, bank, "state=archived"));
        Assert.Equal(ids.Except([ids[1], ids[3]]).Order(StringComparer.Ordinal), await ListAsync(reader, bank, ""));
        Assert.Equal(ids.Except([ids[1], ids[3]]).Order(StringComparer.Ordinal), await ListAsync(reader, bank, "state=active"));
        Assert.Equal(ids.Order(StringComparer.Ordinal), await ListAsync(reader, bank, "state=all"));
        Assert.Equal(archived, await ListAsync(reader, bank, "state=archived&userId=ann"));
        Assert.Empty(await ListAsync(reader, bank, "state=archived&userId=bob"));

        var stats = (await reader.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body;
        Assert.Equal((5, 2), (stats.GetProperty("memories").GetInt32(), stats.GetProperty("archivedMemories").GetInt32()));
        Assert.Equal(2, stats.GetProperty("shards").EnumerateArray().Sum(s => s.GetProperty("archivedMemories").GetInt32()));

        // Newest first: the restore (kind 4, revision 2) then the archive (kind 3, revision 1), with the memory's times.
        var memory = (await reader.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[5]}")).Ok().Body;
        var history = (await reader.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[5]}/history")).Ok().Body.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal([(4, 2, 2L), (3, 1, 1L)], history.Select(e => (e.GetProperty("kind").GetInt32(), e.GetProperty("revision").GetInt32(), e.GetProperty("ordinal").GetInt64())));
        Assert.Equal(memory.GetProperty("restoredAt").GetDateTimeOffset(), history[0].GetProperty("at").GetDateTimeOffset());
        Assert.Equal(2, memory.GetProperty("revision").GetInt32());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, history[0].GetProperty("reward").ValueKind);
    }

    [Fact]
    public async Task TimeToLive_IsStoredAtWrite_AndInABatch_AndShownAsExpiresAt()
    {
        string bank = ApiSiloFixture.NewBankName("ttl-http");
        await _alpha.CreateVectorBankAsync(bank);
        var written = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 1), experience = "e", success = true, ttlSeconds = 3600 })).Ok(HttpStatusCode.Created);
        var memory = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{written.Body.GetProperty("memoryId").GetString()}")).Ok().Body;
        Assert.Equal(memory.GetProperty("createdAt").GetDateTimeOffset().AddHours(1), memory.GetProperty("expiresAt").GetDateTimeOffset());

        var batch = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories:batch", new
        {
            items = new object[]
            {
                new { intent = Http.Vector(Dimension, 2), experience = "e", success = true, ttlSeconds = 60 },
                new { intent = Http.Vector(Dimension, 3), experience = "e", success = true },
            },
        })).Ok().Body;
        var ids = batch.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("memoryId").GetString()!).ToList();
        var first = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[0]}")).Ok().Body;
        Assert.Equal(first.GetProperty("createdAt").GetDateTimeOffset().AddSeconds(60), first.GetProperty("expiresAt").GetDateTimeOffset());
        var second = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[1]}")).Ok().Body;
        Assert.True(!second.TryGetProperty("expiresAt", out var none) || none.ValueKind == System.Text.Json.JsonValueKind.Null);

        // A bad item refuses the batch, naming it, and writes nothing.
        var refused = await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories:batch", new
        {
            items = new object[] { new { intent = Http.Vector(Dimension, 4), experience = "e", success = true }, new { intent = Http.Vector(Dimension, 5), experience = "e", success = true, ttlSeconds = 0 } },
        });
        Assert.Contains("items[1].ttlSeconds", refused.Problem(HttpStatusCode.BadRequest).GetRawText(), StringComparison.Ordinal);
        Assert.Equal(3, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body.GetProperty("memories").GetInt32());
    }

    // Every page of one listing, two at a time (the cursor crosses shards), ids in order.
    private static async Task<List<string>> ListAsync(HttpClient client, string bank, string query)
    {
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            string url = $"/v1/banks/{bank}/memories?limit=2{(query.Length > 0 ? "&" + query : "")}{(cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor))}";
            var page = (await client.GetJsonAsync(url)).Ok().Body;
            seen.AddRange(page.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()!));
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);

        return [.. seen.Order(StringComparer.Ordinal)];
    }
}

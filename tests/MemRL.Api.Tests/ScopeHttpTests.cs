using System.Net;

namespace MemRL.Api.Tests;

/// <summary>Scopes, metadata and filters over HTTP (docs/scopes.md): write, recall, list and delete by scope.</summary>
[Collection(ApiCollection.Name)]
public sealed class ScopeHttpTests(ApiSiloFixture fixture)
{
    private const int Dimension = Http.Dimension;
    private readonly HttpClient _alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));

    [Fact]
    public async Task ScopedMemories_AreRecalledListedAndDeletedByScope()
    {
        string bank = ApiSiloFixture.NewBankName("scopes");
        await _alpha.CreateVectorBankAsync(bank, shards: 3);
        for (int i = 0; i < 12; i++)
        {
            (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new
            {
                intent = Http.Vector(Dimension, i), intentText = $"t{i}", experience = $"e{i}", success = true,
                scope = new { userId = i % 3 == 0 ? "ann" : "bob", sessionId = $"s{i % 2}" },
                metadata = new Dictionary<string, string> { ["topic"] = i % 4 == 0 ? "tls" : "billing" },
            })).Ok(HttpStatusCode.Created);
        }

        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new
        {
            query = Http.Vector(Dimension, 0), k1 = 10, k2 = 10, filter = new Dictionary<string, object> { ["userId"] = "ann", ["metadata.topic"] = new[] { "tls", "x" } },
        })).Ok();
        var memories = recall.Body.GetProperty("memories").EnumerateArray().ToList();
        Assert.Single(memories); // ann: 0, 3, 6, 9; tls: 0, 4, 8
        Assert.All(memories, m => Assert.Equal("ann", m.GetProperty("scope").GetProperty("userId").GetString()));
        Assert.All(memories, m => Assert.Equal("tls", m.GetProperty("metadata").GetProperty("topic").GetString()));

        var listed = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?userId=ann&limit=2")).Ok();
        int count = listed.Body.GetProperty("memories").GetArrayLength();
        string? cursor = listed.Body.GetProperty("nextCursor").GetString();
        while (cursor is not null)
        {
            var page = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?userId=ann&limit=2&cursor={Uri.EscapeDataString(cursor)}")).Ok();
            count += page.Body.GetProperty("memories").GetArrayLength();
            cursor = page.Body.GetProperty("nextCursor").GetString();
        }

        Assert.Equal(4, count);
        var set = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?sessionId=s0&sessionId=s1&metadata.topic=tls")).Ok();
        Assert.Equal(3, set.Body.GetProperty("memories").GetArrayLength());

        var deleted = (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories?userId=ann", idempotencyKey: "erase-ann")).Ok();
        Assert.Equal(4, deleted.Body.GetProperty("deleted").GetInt32());
        var again = (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories?userId=ann", idempotencyKey: "erase-ann")).Ok();
        Assert.Equal(4, again.Body.GetProperty("deleted").GetInt32());
        Assert.Equal(8, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
        Assert.Equal(0, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?userId=ann")).Body.GetProperty("memories").GetArrayLength());
        // The same key with another scope is another operation: a conflict, not a second delete.
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories?userId=bob", idempotencyKey: "erase-ann")).Problem(HttpStatusCode.Conflict);
        Assert.Equal(8, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task DeleteByScope_NeedsAScopeField_AWriterKey_AndKnownParameters()
    {
        string bank = ApiSiloFixture.NewBankName("scopes-bad");
        await _alpha.CreateVectorBankAsync(bank);
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new
        {
            intent = Http.Vector(Dimension, 1), experience = "e", success = true, scope = new { userId = "ann" }, metadata = new { topic = "x" },
        })).Ok(HttpStatusCode.Created);
        using var reader = fixture.Silo.Client(ApiSilo.KeyOf("alpha", readOnly: true));

        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories")).Problem(HttpStatusCode.BadRequest, "filter");
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories?metadata.topic=x")).Problem(HttpStatusCode.BadRequest, "filter");
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories?user=ann")).Problem(HttpStatusCode.BadRequest, "user");
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?colour=red")).Problem(HttpStatusCode.BadRequest, "colour");
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories?userId=ann")).Status);
        (await _alpha.SendJsonAsync(HttpMethod.Delete, "/v1/banks/no-such-bank/memories?userId=ann")).Problem(HttpStatusCode.NotFound, "bank");

        Assert.Equal(1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
    }
}

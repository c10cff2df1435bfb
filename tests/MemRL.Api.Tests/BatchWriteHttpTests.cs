using System.Net;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>
/// <c>POST /v1/banks/{bank}/memories:batch</c>: per-item results in order, vectors and text in one batch, the batch's
/// Idempotency-Key and an item's own key both replayable, and a bad item refused by index and field with nothing written.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class BatchWriteHttpTests(ApiSiloFixture fixture)
{
    private const int Dimension = Http.Dimension;
    private readonly HttpClient _alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));

    [Fact]
    public async Task Batch_WritesEveryItemInOrder_AndReplaysUnderItsKey()
    {
        string bank = ApiSiloFixture.NewBankName("batch");
        await _alpha.CreateVectorBankAsync(bank);
        var items = Enumerable.Range(0, 5).Select(i => new { intent = Http.Vector(Dimension, i), intentText = $"t{i}", experience = $"e{i}", success = i % 2 == 0 }).ToArray();

        var first = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories:batch", new { items }, "batch-1")).Ok();
        var again = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories:batch", new { items }, "batch-1")).Ok();

        Assert.Equal(first.Body.GetRawText(), again.Body.GetRawText());
        var results = first.Body.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2, 3, 4], results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Equal(5, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
        for (int i = 0; i < 5; i++)
        {
            var stored = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{results[i].GetProperty("memoryId").GetString()}")).Ok();
            Assert.Equal($"e{i}", stored.Str("experience"));
        }

        // Recallable at once: the memory written along axis 3 is the nearest to a query along axis 3.
        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 3) })).Ok();
        Assert.Equal("e3", recall.Body.GetProperty("memories")[0].GetProperty("experience").GetString());
    }

    [Fact]
    public async Task Batch_OfText_IsEmbeddedByTheServer()
    {
        string bank = ApiSiloFixture.NewBankName("batch-text");
        (await _alpha.PostJsonAsync("/v1/banks", new { name = bank })).Ok(HttpStatusCode.Created);
        string[] tasks = ["put a clean mug in the coffee machine", "water the plants on the balcony", "sort the invoices by date"];

        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories:batch", new { items = tasks.Select(t => new { intentText = t, experience = $"how to {t}", success = true }) })).Ok();

        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { queryText = "water the plants", delta = 0.0 })).Ok();
        Assert.Equal("how to water the plants on the balcony", recall.Body.GetProperty("memories")[0].GetProperty("experience").GetString());
    }

    [Fact]
    public async Task Batch_ItemKey_IsTheSameOperationAsASingleWriteUnderIt()
    {
        string bank = ApiSiloFixture.NewBankName("batch-key");
        await _alpha.CreateVectorBankAsync(bank);
        var write = new { intent = Http.Vector(Dimension, 1), intentText = "t", experience = "e", success = true };
        var single = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", write, "item-key")).Ok(HttpStatusCode.Created);

        var batch = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories:batch",
            new { items = new object[] { new { write.intent, write.intentText, write.experience, write.success, idempotencyKey = "item-key" } } })).Ok();

        Assert.Equal(single.Str("memoryId"), batch.Body.GetProperty("results")[0].GetProperty("memoryId").GetString());
        Assert.Equal(1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
    }

    public static TheoryData<string, string> BadItems => new()
    {
        { """{"experience":"e","success":true,"intent":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}""", "items[2].intent" },
        { """{"success":true,"intent":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}""", "items[2].experience" },
        { """{"experience":"e","intent":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}""", "items[2].success" },
        { """{"experience":"e","success":true}""", "items[2].intent" },
        { """{"experience":"e","success":true,"intent":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"scope":{"userId":""}}""", "items[2].scope.userId" },
        { """{"experience":"e","success":true,"intent":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"idempotencyKey":""}""", "items[2].idempotencyKey" },
        { "null", "items[2]" },
    };

    [Theory]
    [MemberData(nameof(BadItems))]
    public async Task Batch_BadItem_NamedByIndexAndField_AndNothingWritten(string bad, string field)
    {
        string bank = ApiSiloFixture.NewBankName("batch-bad");
        await _alpha.CreateVectorBankAsync(bank);
        string good = JsonSerializer.Serialize(new { intent = Http.Vector(Dimension, 0), intentText = "t", experience = "e", success = true });

        var reply = await _alpha.SendJsonAsync(HttpMethod.Post, $"/v1/banks/{bank}/memories:batch", $$"""{"items":[{{good}},{{good}},{{bad}},{{good}}]}""");

        reply.Problem(HttpStatusCode.BadRequest, field);
        Assert.Equal(0, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task Batch_EmptyOrMissingItems_Refused()
    {
        string bank = ApiSiloFixture.NewBankName("batch-empty");
        await _alpha.CreateVectorBankAsync(bank);

        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories:batch", new { items = Array.Empty<object>() })).Problem(HttpStatusCode.BadRequest, "items");
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories:batch", new { })).Problem(HttpStatusCode.BadRequest, "items");
    }
}

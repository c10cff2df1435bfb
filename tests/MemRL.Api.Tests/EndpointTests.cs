using System.Net;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>Every endpoint's happy path over real HTTP, with the semantics of the .NET client.</summary>
[Collection(ApiCollection.Name)]
public sealed class EndpointTests(ApiSiloFixture fixture)
{
    private readonly HttpClient _alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));

    [Fact]
    public async Task Banks_AreCreatedDescribedChangedAndCounted()
    {
        string bank = ApiSiloFixture.NewBankName("banks");
        var spec = new { name = bank, dimension = Dimension, embedderId = "test-embedder", shardCount = 3, index = new { exact = true } };
        var created = (await _alpha.PostJsonAsync("/v1/banks", spec)).Ok(HttpStatusCode.Created);
        Assert.Equal(bank, created.Str("name"));
        Assert.Equal(3, created.Body.GetProperty("shardCount").GetInt32());
        Assert.EndsWith($"/v1/banks/{bank}", created.Response.Headers.Location!.ToString(), StringComparison.Ordinal);

        // The same spec again is not an error: it answers the existing bank.
        (await _alpha.PostJsonAsync("/v1/banks", spec)).Ok();
        var described = (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Ok();
        Assert.Equal("test-embedder", described.Str("embedderId"));
        long version = described.Body.GetProperty("version").GetInt64();

        var options = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(described.Body.GetProperty("options").GetRawText())!;
        options["lambda"] = JsonSerializer.SerializeToElement(0.25);
        var changed = (await _alpha.SendJsonAsync(HttpMethod.Put, $"/v1/banks/{bank}/options", options)).Ok();
        Assert.Equal(0.25, changed.Body.GetProperty("options").GetProperty("lambda").GetDouble());
        Assert.True(changed.Body.GetProperty("version").GetInt64() > version);

        var stats = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok();
        Assert.Equal(0, stats.Body.GetProperty("memories").GetInt32());
        Assert.Equal(3, stats.Body.GetProperty("shards").GetArrayLength());
    }

    [Fact]
    public async Task RecallRewardWriteGetDelete_WorkByVector()
    {
        string bank = await NewVectorBankAsync("vectors");
        var ids = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            var written = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories",
                new { intent = Http.Vector(Dimension, i), intentText = $"task {i}", experience = $"do {i}", success = true })).Ok(HttpStatusCode.Created);
            ids.Add(written.Str("memoryId"));
            Assert.True(written.Body.GetProperty("createdKey").GetBoolean());
        }

        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 2), k1 = 3, k2 = 2 })).Ok();
        var memories = recall.Body.GetProperty("memories");
        Assert.Equal(2, memories.GetArrayLength());
        var best = memories[0];
        Assert.Equal(ids[2], best.GetProperty("id").GetString());
        Assert.Equal("do 2", best.GetProperty("experience").GetString());
        Assert.Equal("task 2", best.GetProperty("intentText").GetString());
        foreach (string field in new[] { "similarity", "q", "zSim", "zQ", "score" })
        {
            Assert.Equal(JsonValueKind.Number, best.GetProperty(field).ValueKind);
        }

        Assert.Equal(2, recall.Body.GetProperty("coverage").GetProperty("shardsTotal").GetInt32());
        string token = recall.Str("token");

        var rewarded = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0, memoryIds = new[] { ids[2] } })).Ok();
        var updated = rewarded.Body.GetProperty("updated");
        Assert.Equal(1, updated.GetArrayLength());
        Assert.Equal(1, updated[0].GetProperty("visits").GetInt32());

        var memory = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[2]}")).Ok();
        Assert.Equal(updated[0].GetProperty("q").GetDouble(), memory.Body.GetProperty("q").GetDouble());
        Assert.Equal(1.0, memory.Body.GetProperty("lastReward").GetDouble());

        // The reward is the memory's history: its value, recall id, resulting Q and visits; ordinal 1 is the last page.
        var history = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[2]}/history")).Ok().Body;
        var entry = Assert.Single(history.GetProperty("entries").EnumerateArray());
        Assert.Equal((1, 1L, 1.0, updated[0].GetProperty("q").GetDouble(), 1), (entry.GetProperty("kind").GetInt32(), entry.GetProperty("ordinal").GetInt64(),
            entry.GetProperty("reward").GetDouble(), entry.GetProperty("q").GetDouble(), entry.GetProperty("visits").GetInt32()));
        Assert.Equal(JsonValueKind.Null, history.GetProperty("nextCursor").ValueKind);
        Assert.Empty((await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[1]}/history")).Ok().Body.GetProperty("entries").EnumerateArray());
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[2]}/history?limit=0")).Problem(HttpStatusCode.BadRequest, "limit");
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[2]}/history?limit=257")).Problem(HttpStatusCode.BadRequest, "limit");
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[2]}/history?cursor=abc")).Problem(HttpStatusCode.BadRequest, "cursor");

        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{ids[0]}")).Ok(HttpStatusCode.NoContent);
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[0]}")).Problem(HttpStatusCode.NotFound, "memoryId");
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{ids[0]}/history")).Problem(HttpStatusCode.NotFound, "memoryId");
        Assert.Equal(3, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task Stats_SummariseQVisitsAndAge_ExactlyWhereTheyCanAndWithinABinWhereTheyEstimate()
    {
        string bank = await NewVectorBankAsync("stats");
        for (int i = 0; i < 4; i++)
        {
            (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, i), experience = $"do {i}", success = true })).Ok(HttpStatusCode.Created);
        }

        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 2), k1 = 3, k2 = 1 })).Ok();
        string rewarded = recall.Body.GetProperty("memories")[0].GetProperty("id").GetString()!;
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = recall.Str("token"), reward = 1.0, memoryIds = new[] { rewarded } })).Ok();

        // Q is 0, 0, 0 and 0.3 (alpha 0.3 from qInit 0); one memory was visited once.
        var stats = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body;
        Assert.Equal(4, stats.GetProperty("memories").GetInt32());
        Assert.Equal(0.0, stats.GetProperty("qMin").GetDouble());
        Assert.Equal(0.3, stats.GetProperty("qMax").GetDouble(), 12);
        Assert.Equal(0.075, stats.GetProperty("qMean").GetDouble(), 12);
        int[] counts = [.. stats.GetProperty("qHistogram").EnumerateArray().Select(c => c.GetInt32())];
        double[] edges = [.. stats.GetProperty("qHistogramEdges").EnumerateArray().Select(e => e.GetDouble())];
        Assert.InRange(counts.Length, 2, 64);
        Assert.Equal(counts.Length + 1, edges.Length);
        Assert.Equal((3, 1, 4), (counts[0], counts[^1], counts.Sum()));
        double width = edges[1] - edges[0];
        Assert.True(width <= 0.3 / 31.5, $"bin width {width} is coarser than the layout promises for a spread of 0.3.");

        var q = stats.GetProperty("qDistribution");
        Assert.Equal(4, q.GetProperty("count").GetInt64());
        Assert.Equal(0.075, q.GetProperty("mean").GetDouble(), 12);
        // Exact quantiles (linear between order statistics): p50 = 0, p99 = 0 + 0.97 × 0.3.
        Assert.InRange(q.GetProperty("p50").GetDouble(), 0, width);
        Assert.InRange(q.GetProperty("p99").GetDouble(), 0.291 - width, 0.291 + width);

        var visits = stats.GetProperty("visitsDistribution");
        Assert.Equal((4L, 0.0, 1.0, 0.25), (visits.GetProperty("count").GetInt64(), visits.GetProperty("min").GetDouble(),
            visits.GetProperty("max").GetDouble(), visits.GetProperty("mean").GetDouble()));
        var age = stats.GetProperty("ageSecondsDistribution");
        Assert.Equal(4, age.GetProperty("count").GetInt64());
        Assert.InRange(age.GetProperty("min").GetDouble(), 0, age.GetProperty("max").GetDouble());
        Assert.InRange(age.GetProperty("max").GetDouble(), 0, 3600);
        var coverage = stats.GetProperty("coverage");
        Assert.Equal(coverage.GetProperty("shardsTotal").GetInt32(), coverage.GetProperty("shardsAnswered").GetInt32());
    }

    [Fact]
    public async Task DeletedBank_IsGone_AndANewBankOfTheSameNameStartsEmpty()
    {
        string bank = await NewVectorBankAsync("deleted");
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            ids.Add((await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, i), experience = $"old {i}", success = true }))
                .Ok(HttpStatusCode.Created).Str("memoryId"));
        }

        string token = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 1) })).Ok().Str("token");
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}")).Ok(HttpStatusCode.NoContent);
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Problem(HttpStatusCode.NotFound, "bank");
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 1) })).Problem(HttpStatusCode.NotFound, "bank");
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 1), experience = "x", success = true }))
            .Problem(HttpStatusCode.NotFound, "bank");
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}")).Problem(HttpStatusCode.NotFound, "bank");

        // Same name again: a new, empty bank that no id or token of the old one reaches.
        await NewVectorBankAsync(bank, exactName: true);
        Assert.Equal(0, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body.GetProperty("memories").GetInt32());
        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 1) })).Ok();
        Assert.Equal(0, recall.Body.GetProperty("memories").GetArrayLength());
        foreach (string id in ids)
        {
            (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{id}")).Problem(HttpStatusCode.NotFound, "memoryId");
        }

        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 })).Problem(HttpStatusCode.BadRequest, "token");
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 1), experience = "new", success = true })).Ok(HttpStatusCode.Created);
        Assert.Equal(1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task Calibrate_MeasuresTheBanksKeys_AndApplyWritesTheOptions()
    {
        string bank = await NewVectorBankAsync("calibrate");
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/calibrate", new { })).Problem(HttpStatusCode.BadRequest, "bank");
        var intents = new List<float[]>();
        for (int i = 0; i < 12; i++)
        {
            intents.Add(Http.Vector(Dimension, i % 4, noise: 0.5f, seed: i));
            (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = intents[^1], experience = $"e{i}", success = true }))
                .Ok(HttpStatusCode.Created);
        }

        var measured = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/calibrate", new { sample = 100 })).Ok();
        Assert.Equal(12, measured.Body.GetProperty("sampleSize").GetInt32());
        Assert.Equal(66, measured.Body.GetProperty("pairCount").GetInt64());
        Assert.False(measured.Body.GetProperty("applied").GetBoolean());
        // The whole bank is the sample (12 keys < 100): the HTTP answer is MemRL's calibration of exactly these intents.
        var oracle = MemRL.Core.Calibration.FromSample(intents);
        double delta = measured.Body.GetProperty("delta").GetDouble();
        Assert.Equal(oracle.Delta, delta, 6);
        Assert.Equal(oracle.SimilarityMean, measured.Body.GetProperty("similarityMean").GetDouble(), 6);
        Assert.Equal(-1.0, measured.Body.GetProperty("bank").GetProperty("options").GetProperty("delta").GetDouble());

        using var reader = fixture.Silo.Client(ApiSilo.KeyOf("alpha", readOnly: true));
        (await reader.PostJsonAsync($"/v1/banks/{bank}/calibrate", new { apply = true })).Problem(HttpStatusCode.Forbidden);
        (await reader.PostJsonAsync($"/v1/banks/{bank}/calibrate", new { sample = 100 })).Ok();

        var applied = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/calibrate", new { sample = 100, apply = true })).Ok();
        Assert.True(applied.Body.GetProperty("applied").GetBoolean());
        var options = (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Body.GetProperty("options");
        Assert.Equal(delta, options.GetProperty("delta").GetDouble(), 12);
        Assert.Equal(measured.Body.GetProperty("similarityMean").GetDouble(), options.GetProperty("similarityMean").GetDouble(), 12);
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/calibrate", new { sample = 1 })).Problem(HttpStatusCode.BadRequest, "sample");
    }

    [Fact]
    public async Task Listing_ReturnsEveryMemoryOnce_AcrossPagesAndShards()
    {
        string bank = await NewVectorBankAsync("list");
        var written = new HashSet<string>();
        for (int i = 0; i < 11; i++)
        {
            written.Add((await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, i, seed: i), intentText = $"t{i}", experience = $"e{i}", success = i % 2 == 0 }))
                .Ok(HttpStatusCode.Created).Str("memoryId"));
        }

        var listed = new List<string>();
        string? cursor = null;
        int pages = 0;
        do
        {
            var page = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?limit=3" + (cursor is null ? "" : $"&cursor={cursor}"))).Ok();
            var memories = page.Body.GetProperty("memories");
            Assert.InRange(memories.GetArrayLength(), 0, 3);
            listed.AddRange(memories.EnumerateArray().Select(m => m.GetProperty("id").GetString()!));
            cursor = page.Body.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null && pages < 20);

        Assert.Null(cursor);
        Assert.Equal(written.Count, listed.Count);
        Assert.Equal(written.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));

        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?limit=0")).Problem(HttpStatusCode.BadRequest, "limit");
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?limit=1001")).Problem(HttpStatusCode.BadRequest, "limit");
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?cursor=not-a-cursor")).Problem(HttpStatusCode.BadRequest, "cursor");
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?limit=ten")).Problem(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Text_IsEmbeddedByTheServer_AndABankOfAnotherEmbedderRefusesIt()
    {
        string bank = ApiSiloFixture.NewBankName("text");
        var created = (await _alpha.PostJsonAsync("/v1/banks", new { name = bank })).Ok(HttpStatusCode.Created);
        Assert.Equal("memrl-hashing/v1/384", created.Str("embedderId"));
        Assert.Equal(384, created.Body.GetProperty("dimension").GetInt32());

        string[] tasks = ["put a clean mug in the coffee machine", "water the plants on the balcony", "sort the invoices by date"];
        foreach (string task in tasks)
        {
            (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intentText = task, experience = $"how to {task}", success = true }))
                .Ok(HttpStatusCode.Created);
        }

        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { queryText = "water the plants", delta = 0.0 })).Ok();
        Assert.Equal("how to water the plants on the balcony", recall.Body.GetProperty("memories")[0].GetProperty("experience").GetString());

        // A vector that names its model is refused by a bank made for another.
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = new float[384].Select((_, i) => i == 3 ? 1f : 0f).ToArray(), embedderId = "some-other-model" }))
            .Problem(HttpStatusCode.BadRequest, "embedderId");

        string vectors = await NewVectorBankAsync("not-text");
        var refused = (await _alpha.PostJsonAsync($"/v1/banks/{vectors}/recall", new { queryText = "water the plants" })).Problem(HttpStatusCode.BadRequest);
        Assert.Contains("memrl-hashing/v1/384", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("test-embedder", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenApiDocument_IsServedWithoutAKey()
    {
        using var anonymous = fixture.Silo.Client(null);
        var document = (await anonymous.GetJsonAsync("/openapi/v1.json")).Ok();
        Assert.True(document.Body.GetProperty("paths").EnumerateObject().Any());
    }

    private async Task<string> NewVectorBankAsync(string prefix, bool exactName = false)
    {
        string bank = exactName ? prefix : ApiSiloFixture.NewBankName(prefix);
        await _alpha.CreateVectorBankAsync(bank);
        return bank;
    }
}

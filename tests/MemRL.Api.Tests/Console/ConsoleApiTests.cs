using System.Net;
using System.Text.Json;

namespace MemRL.Api.Tests.Console;

/// <summary>
/// The console's reads over real HTTP: the explainer agrees with recall and issues nothing rewardable, the insight counts
/// rewards and orders extremes, both refuse bad input naming the field and calls without a key, and the page is served
/// without a key under a Content-Security-Policy.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class ConsoleApiTests(ApiSiloFixture fixture)
{
    private static async Task<string> WriteAsync(HttpClient http, string bank, int axis, string text, bool success, int seed = 0) =>
        (await http.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, axis, seed: seed), intentText = text, experience = "e-" + text, success }))
            .Ok(HttpStatusCode.Created).Str("memoryId");

    [Fact]
    public async Task Explain_ReturnsTheWholePool_WithRecallsSelectionAndNoToken()
    {
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string bank = ApiSiloFixture.NewBankName("explain");
        await http.CreateVectorBankAsync(bank);
        for (int i = 0; i < 6; i++)
        {
            await WriteAsync(http, bank, 1, $"near {i}", success: i % 2 == 0, seed: i);
        }

        var query = Http.Vector(Dimension, 1, seed: 99);
        var recall = (await http.PostJsonAsync($"/v1/banks/{bank}/recall", new { query, k1 = 6, k2 = 2 })).Ok().Body;
        // Give one recalled memory a higher Q, so the pool's Q varies and zQ is not all zero.
        (await http.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = recall.GetProperty("token").GetString(), reward = 1.0 })).Ok();
        var again = (await http.PostJsonAsync($"/v1/banks/{bank}/recall", new { query, k1 = 6, k2 = 2 })).Ok().Body;

        var x = (await http.PostJsonAsync($"/v1/banks/{bank}/explain", new { query, k1 = 6, k2 = 2 })).Ok().Body;
        Assert.False(x.TryGetProperty("token", out _), "the explainer must not issue a recall token");
        var pool = x.GetProperty("pool").EnumerateArray().ToList();
        Assert.Equal(again.GetProperty("poolSize").GetInt32(), pool.Count);
        Assert.Equal(6, pool.Count);
        var returned = pool.Where(c => c.GetProperty("verdict").GetString() == "returned").OrderBy(c => c.GetProperty("rank").GetInt32()).ToList();
        var recalled = again.GetProperty("memories").EnumerateArray().ToList();
        Assert.Equal(recalled.Select(m => m.GetProperty("id").GetString()), returned.Select(c => c.GetProperty("id").GetString()));
        for (int i = 0; i < recalled.Count; i++)
        {
            foreach (string field in new[] { "similarity", "q", "zSim", "zQ", "score" })
            {
                Assert.Equal(recalled[i].GetProperty(field).GetDouble(), returned[i].GetProperty(field).GetDouble());
            }
        }

        Assert.Contains(pool, c => c.GetProperty("zQ").GetDouble() != 0);
        var outscored = pool.Where(c => c.GetProperty("verdict").GetString() == "outscored").ToList();
        Assert.Equal(4, outscored.Count);
        double last = returned[^1].GetProperty("score").GetDouble();
        Assert.All(outscored, c =>
        {
            Assert.Equal(JsonValueKind.Null, c.GetProperty("rank").ValueKind);
            Assert.True(c.GetProperty("score").GetDouble() <= last, $"an outscored candidate scored above the last returned: {c}");
            Assert.StartsWith("e-near", c.GetProperty("experience").GetString());
        });
        Assert.Equal(6, x.GetProperty("keysMatched").GetInt32());
        Assert.Equal(2, x.GetProperty("k2").GetInt32());
    }

    [Fact]
    public async Task Explain_MarksCandidatesBelowQMin_AndChangesNothing()
    {
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string bank = ApiSiloFixture.NewBankName("explain-qmin");
        await http.CreateVectorBankAsync(bank);
        await WriteAsync(http, bank, 3, "a", success: true);
        await WriteAsync(http, bank, 3, "b", success: false, seed: 1);
        (await http.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", new { qMin = 0.5, qInitSuccess = 1.0, qInitFailure = 0.0 })).Ok();
        // Options change Q only for memories written after: write two more, one on each side of qMin.
        string high = await WriteAsync(http, bank, 3, "c", success: true, seed: 2);
        string low = await WriteAsync(http, bank, 3, "d", success: false, seed: 3);
        var before = (await http.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body.GetRawText();

        var x = (await http.PostJsonAsync($"/v1/banks/{bank}/explain", new { query = Http.Vector(Dimension, 3, seed: 7) })).Ok().Body;
        var byId = x.GetProperty("pool").EnumerateArray().ToDictionary(c => c.GetProperty("id").GetString()!);
        Assert.Equal("returned", byId[high].GetProperty("verdict").GetString());
        Assert.Equal("below-qmin", byId[low].GetProperty("verdict").GetString());
        Assert.Contains("qMin 0.5", byId[low].GetProperty("reason").GetString());
        Assert.Equal(0.5, x.GetProperty("qMin").GetDouble());
        // A read: the bank's numbers (Q, visits) are as they were.
        var after = (await http.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body;
        Assert.Equal(JsonDocument.Parse(before).RootElement.GetProperty("qDistribution").GetRawText(), after.GetProperty("qDistribution").GetRawText());
        Assert.Equal(JsonDocument.Parse(before).RootElement.GetProperty("visitsDistribution").GetRawText(), after.GetProperty("visitsDistribution").GetRawText());
    }

    [Fact]
    public async Task Insight_CountsRewardsPerMemory_AndOrdersTheExtremesByQ()
    {
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string bank = ApiSiloFixture.NewBankName("insight");
        await http.CreateVectorBankAsync(bank, shards: 3);
        for (int i = 0; i < 5; i++)
        {
            await WriteAsync(http, bank, i, $"m{i}", success: i != 4);
        }

        var good = (await http.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0), k1 = 1, k2 = 1 })).Ok().Body;
        (await http.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = good.GetProperty("token").GetString(), reward = 1.0 })).Ok();
        var bad = (await http.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 4), k1 = 1, k2 = 1 })).Ok().Body;
        (await http.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = bad.GetProperty("token").GetString(), reward = -1.0 })).Ok();
        // A repeat of the same reward changes nothing, so it is not counted again.
        (await http.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = bad.GetProperty("token").GetString(), reward = -1.0 })).Ok();

        var insight = (await http.GetJsonAsync($"/v1/banks/{bank}/insight?extremes=2")).Ok().Body;
        var rewards = insight.GetProperty("rewards").EnumerateArray().ToList();
        Assert.Equal(2, rewards.Sum(b => b.GetProperty("count").GetInt32()));
        Assert.Equal(1, rewards.Sum(b => b.GetProperty("successes").GetInt32()));
        Assert.Equal(0.0, rewards.Sum(b => b.GetProperty("sum").GetDouble()), 9);
        var shards = insight.GetProperty("shards").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], shards.Select(s => s.GetProperty("shard").GetInt32()));
        Assert.Equal(5, shards.Sum(s => s.GetProperty("memories").GetInt32()));
        Assert.Equal(4, shards.Sum(s => s.GetProperty("successMemories").GetInt32()));
        Assert.All(shards, s => Assert.False(string.IsNullOrEmpty(s.GetProperty("silo").GetString())));
        Assert.True(shards.Sum(s => s.GetProperty("search").GetProperty("count").GetInt32()) >= 2, "each recall searched every shard");

        string goodId = good.GetProperty("memories")[0].GetProperty("id").GetString()!;
        string badId = bad.GetProperty("memories")[0].GetProperty("id").GetString()!;
        var best = insight.GetProperty("best").EnumerateArray().ToList();
        var worst = insight.GetProperty("worst").EnumerateArray().ToList();
        Assert.Equal(2, best.Count);
        Assert.Equal(goodId, best[0].GetProperty("id").GetString());
        Assert.Equal(badId, worst[0].GetProperty("id").GetString());
        Assert.True(best[0].GetProperty("q").GetDouble() >= best[1].GetProperty("q").GetDouble());
        Assert.True(worst[0].GetProperty("q").GetDouble() <= worst[1].GetProperty("q").GetDouble());
    }

    [Theory]
    [InlineData("51")]
    [InlineData("-1")]
    [InlineData("two")]
    public async Task Insight_RefusesABadExtremesCount_NamingIt(string extremes)
    {
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string bank = ApiSiloFixture.NewBankName("insight-bad");
        await http.CreateVectorBankAsync(bank);
        var problem = (await http.GetJsonAsync($"/v1/banks/{bank}/insight?extremes={extremes}")).Problem(HttpStatusCode.BadRequest, "extremes");
        Assert.Equal(extremes, problem.GetProperty("actual").GetString());
    }

    [Fact]
    public async Task Explain_RefusesBadInput_NamingTheField()
    {
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string bank = ApiSiloFixture.NewBankName("explain-bad");
        await http.CreateVectorBankAsync(bank);
        (await http.PostJsonAsync($"/v1/banks/{bank}/explain", new { k1 = 3 })).Problem(HttpStatusCode.BadRequest, "query");
        (await http.PostJsonAsync($"/v1/banks/{bank}/explain", new { query = new float[3] { 1, 0, 0 } })).Problem(HttpStatusCode.BadRequest, "query");
        (await http.PostJsonAsync($"/v1/banks/{bank}/explain", new { query = Http.Vector(Dimension, 1), lambda = 1.5 })).Problem(HttpStatusCode.BadRequest, "lambda");
        (await http.PostJsonAsync($"/v1/banks/nope-{Guid.NewGuid():N}/explain", new { query = Http.Vector(Dimension, 1) })).Problem(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task ConsoleReads_RefuseCallsWithoutAKey_AndOtherTenantsBanks()
    {
        using var alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        using var beta = fixture.Silo.Client(ApiSilo.KeyOf("beta"));
        using var anonymous = fixture.Silo.Client(null);
        string bank = ApiSiloFixture.NewBankName("console-keys");
        await alpha.CreateVectorBankAsync(bank);
        (await anonymous.GetJsonAsync($"/v1/banks/{bank}/insight")).Problem(HttpStatusCode.Unauthorized, "Authorization");
        (await anonymous.PostJsonAsync($"/v1/banks/{bank}/explain", new { query = Http.Vector(Dimension, 1) })).Problem(HttpStatusCode.Unauthorized, "Authorization");
        (await beta.GetJsonAsync($"/v1/banks/{bank}/insight")).Problem(HttpStatusCode.NotFound);
        (await beta.PostJsonAsync($"/v1/banks/{bank}/explain", new { query = Http.Vector(Dimension, 1) })).Problem(HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("/console", "text/html")]
    [InlineData("/console/", "text/html")]
    [InlineData("/console/console.js", "text/javascript")]
    [InlineData("/console/console.css", "text/css")]
    public async Task ConsolePage_IsServedWithoutAKey_UnderAContentSecurityPolicy(string path, string mediaType)
    {
        using var anonymous = fixture.Silo.Client(null);
        using var response = await anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        string csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", csp);
        Assert.Contains("script-src 'self'", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        // No cookie: the page creates no credential that /v1 (or anything) would accept.
        Assert.False(response.Headers.Contains("Set-Cookie"));
        string body = await response.Content.ReadAsStringAsync();
        // No key travels in the page (the placeholder "memrl_…" is not one).
        Assert.DoesNotMatch(@"memrl_[A-Za-z0-9_-]{16,}", body);
        if (path.EndsWith(".js", StringComparison.Ordinal))
        {
            // The script builds the DOM from text only.
            Assert.DoesNotContain("innerHTML", body);
            Assert.DoesNotContain("insertAdjacentHTML", body);
        }
    }

    [Fact]
    public async Task ConsolePage_AnswersAnUnknownAssetWithAProblem()
    {
        using var anonymous = fixture.Silo.Client(null);
        (await anonymous.GetJsonAsync("/console/secrets.json")).Problem(HttpStatusCode.NotFound, "path");
        // A path trick is refused at the edge, before any route sees it.
        (await anonymous.GetJsonAsync("/console/..%2Fapi-key.local")).Problem(HttpStatusCode.BadRequest, "path");
    }
}

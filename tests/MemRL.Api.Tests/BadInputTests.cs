using System.Net;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>
/// DESIGN §5's catalogue over HTTP: each bad request gets the right status and a problem-details body naming the
/// field (and, where the rule has them, the expected and actual values), and the bank is exactly as it was.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class BadInputTests(ApiSiloFixture fixture)
{
    private readonly HttpClient _alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));

    public static TheoryData<string, string, string, HttpStatusCode, string?> Cases() => new()
    {
        // name, path under the bank ("" = the bank itself), method + body as JSON, expected status, expected field
        { "wrong dimension", "recall", """{"query":[1,0,0]}""", HttpStatusCode.BadRequest, "query" },
        { "empty vector", "recall", """{"query":[]}""", HttpStatusCode.BadRequest, "query" },
        { "zero vector", "recall", $$"""{"query":[{{string.Join(',', Enumerable.Repeat(0, Dimension))}}]}""", HttpStatusCode.BadRequest, "query" },
        { "NaN is not JSON", "recall", """{"query":[NaN]}""", HttpStatusCode.BadRequest, null },
        { "k2 > k1", "recall", $$"""{"query":{{Vec(1)}},"k1":2,"k2":3}""", HttpStatusCode.BadRequest, "k2" },
        { "lambda outside [0,1]", "recall", $$"""{"query":{{Vec(1)}},"lambda":1.5}""", HttpStatusCode.BadRequest, "lambda" },
        { "both query and text", "recall", $$"""{"query":{{Vec(1)}},"queryText":"x"}""", HttpStatusCode.BadRequest, "query" },
        { "neither query nor text", "recall", """{}""", HttpStatusCode.BadRequest, "query" },
        { "wrong type", "recall", """{"query":"up"}""", HttpStatusCode.BadRequest, "query" },
        { "malformed JSON", "recall", """{"query":[1,""", HttpStatusCode.BadRequest, null },
        { "forged token", "reward", """{"token":"AAAA.BBBB","reward":1}""", HttpStatusCode.BadRequest, "token" },
        { "reward missing", "reward", """{"token":"AAAA.BBBB"}""", HttpStatusCode.BadRequest, "reward" },
        { "experience missing", "memories", $$"""{"intent":{{Vec(1)}},"success":true}""", HttpStatusCode.BadRequest, "experience" },
        { "success missing", "memories", $$"""{"intent":{{Vec(1)}},"experience":"e"}""", HttpStatusCode.BadRequest, "success" },
        { "oversized experience", "memories", $$"""{"intent":{{Vec(1)}},"experience":"{{new string('x', (1 << 20) + 1)}}","success":true}""", HttpStatusCode.BadRequest, "experience" },
        { "alpha outside [0,1]", "options", """{"alpha":1.5}""", HttpStatusCode.BadRequest, "alpha" },
        { "unknown memory", "memories/1-2-3", "", HttpStatusCode.BadRequest, "memoryId" },
        { "filter value a number", "recall", RecallWith("""{"userId":7}"""), HttpStatusCode.BadRequest, "filter.userId" },
        { "filter value null", "recall", RecallWith("""{"userId":null}"""), HttpStatusCode.BadRequest, "filter.userId" },
        { "filter empty set", "recall", RecallWith("""{"userId":[]}"""), HttpStatusCode.BadRequest, "filter.userId" },
        { "filter set with a number", "recall", RecallWith("""{"userId":["a",1]}"""), HttpStatusCode.BadRequest, "filter.userId" },
        { "filter unknown field", "recall", RecallWith("""{"colour":"red"}"""), HttpStatusCode.BadRequest, "filter.colour" },
        { "filter not an object", "recall", RecallWith("\"userId=a\""), HttpStatusCode.BadRequest, "filter" },
        { "text filter checked before embedding", "recall", """{"queryText":"hello","filter":{"sessionId":{"a":1}}}""", HttpStatusCode.BadRequest, "filter.sessionId" },
        { "scope value empty", "memories", WriteWith("""  "scope":{"userId":""}"""), HttpStatusCode.BadRequest, "scope.userId" },
        { "scope value a number", "memories", WriteWith("""  "scope":{"userId":5}"""), HttpStatusCode.BadRequest, "scope.userId" },
        { "scope with a newline", "memories", WriteWith("""  "scope":{"agentId":"a\nb"}"""), HttpStatusCode.BadRequest, "scope.agentId" },
        { "metadata value too long", "memories", WriteWith($"\"metadata\":{{\"k\":\"{new string('v', 257)}\"}}"), HttpStatusCode.BadRequest, "metadata.k" },
        { "metadata bad key", "memories", WriteWith("""  "metadata":{"a/../b":"v"}"""), HttpStatusCode.BadRequest, "metadata.a/../b" },
        { "metadata too many", "memories", WriteWith("\"metadata\":{" + string.Join(',', Enumerable.Range(0, 17).Select(i => $"\"k{i}\":\"v\"")) + "}"), HttpStatusCode.BadRequest, "metadata" },
        { "metadata value a number", "memories", WriteWith("""  "metadata":{"k":1}"""), HttpStatusCode.BadRequest, "metadata.k" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task BadRequest_IsRefusedWithProblemDetails_AndChangesNothing(string name, string path, string body, HttpStatusCode status, string? field)
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        string before = await SnapshotAsync(bank, ids);
        var method = path switch { "options" => HttpMethod.Patch, "memories/1-2-3" => HttpMethod.Get, _ => HttpMethod.Post };
        var reply = await _alpha.SendJsonAsync(method, $"/v1/banks/{bank}/{path}", body.Length == 0 ? null : body);
        var problem = reply.Problem(status, field);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()), name);
        Assert.Equal(before, await SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task RangeErrors_NameExpectedAndActual()
    {
        var (bank, _) = await BankWithMemoriesAsync();
        var problem = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = new[] { 1f, 0f, 0f } })).Problem(HttpStatusCode.BadRequest, "query");
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("expected").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("actual").GetString()));

        var alpha = (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", """{"alpha":1.5}""")).Problem(HttpStatusCode.BadRequest, "alpha");
        Assert.Equal("1.5", alpha.GetProperty("actual").GetString());
        Assert.Contains("[0, 1]", alpha.GetProperty("expected").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownBank_Is404_AndAMemoryOfAnotherBankToo()
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        var (other, _) = await BankWithMemoriesAsync();
        (await _alpha.PostJsonAsync("/v1/banks/no-such-bank/recall", new { query = Http.Vector(Dimension, 1) })).Problem(HttpStatusCode.NotFound, "bank");
        (await _alpha.GetJsonAsync("/v1/banks/no-such-bank")).Problem(HttpStatusCode.NotFound, "bank");
        string before = await SnapshotAsync(bank, ids);
        (await _alpha.GetJsonAsync($"/v1/banks/{other}/memories/{ids[0]}")).Problem(HttpStatusCode.NotFound, "memoryId");
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{other}/memories/{ids[0]}")).Problem(HttpStatusCode.NotFound, "memoryId");
        Assert.Equal(before, await SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task RewardNamingAMemoryTheRecallDidNotReturn_ChangesNothing()
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0), k1 = 1, k2 = 1 })).Ok();
        string returned = recall.Body.GetProperty("memories")[0].GetProperty("id").GetString()!;
        string before = await SnapshotAsync(bank, ids);
        var notReturned = ids.First(id => id != returned);
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = recall.Str("token"), reward = 1.0, memoryIds = new[] { returned, notReturned } }))
            .Problem(HttpStatusCode.BadRequest, "memoryIds[1]");
        Assert.Equal(before, await SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task ABankOfAnotherDimension_MustNameItsEmbedder()
    {
        string bank = ApiSiloFixture.NewBankName("dimension");
        (await _alpha.PostJsonAsync("/v1/banks", new { name = bank, dimension = Dimension })).Problem(HttpStatusCode.BadRequest, "embedderId");
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Problem(HttpStatusCode.NotFound, "bank");
    }

    [Fact]
    public async Task BodyOverTheLimit_Is413()
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        string before = await SnapshotAsync(bank, ids);
        string huge = $$"""{"intent":{{Vec(1)}},"experience":"{{new string('x', 5 << 20)}}","success":true}""";
        // Expect: 100-continue, as a well-behaved client sends large bodies: the server refuses before the body is sent
        // (without it the server answers 413 and closes while the client is still writing).
        (await _alpha.SendJsonAsync(HttpMethod.Post, $"/v1/banks/{bank}/memories", huge, expectContinue: true)).Problem(HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(before, await SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task BadIdempotencyKey_IsRefused()
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        string before = await SnapshotAsync(bank, ids);
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 9), experience = "e", success = true }, new string('k', 201)))
            .Problem(HttpStatusCode.BadRequest, "Idempotency-Key");
        Assert.Equal(before, await SnapshotAsync(bank, ids));
    }

    private static string Vec(int axis) => JsonSerializer.Serialize(Http.Vector(Dimension, axis));

    private static string RecallWith(string filter) => "{\"query\":" + Vec(1) + ",\"filter\":" + filter + "}";

    private static string WriteWith(string member) => "{\"intent\":" + Vec(1) + ",\"experience\":\"e\",\"success\":true," + member.Trim() + "}";

    [Fact]
    public async Task Problems_CarryFieldExpectedActualAndReason_AsTheCallerSpellsThem()
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        AssertParts((await _alpha.PostJsonAsync("/v1/banks", new { name = "no spaces!", dimension = Dimension, embedderId = "e" })).Problem(HttpStatusCode.BadRequest), "name", "no spaces!");
        string fresh = ApiSiloFixture.NewBankName("parts");
        AssertParts((await _alpha.PostJsonAsync("/v1/banks", new { name = fresh, dimension = Dimension, embedderId = "e", options = new { alpha = 2.0 } }))
            .Problem(HttpStatusCode.BadRequest), "options.alpha", "2");
        AssertParts((await _alpha.PostJsonAsync("/v1/banks", new { name = fresh, dimension = Dimension, embedderId = "e", index = new { m = 1, efConstruction = 8 } }))
            .Problem(HttpStatusCode.BadRequest), "index.m", "1");
        AssertParts((await _alpha.PostJsonAsync("/v1/banks", new { name = fresh, dimension = Dimension, embedderId = "e", shardCount = 0 }))
            .Problem(HttpStatusCode.BadRequest), "shardCount", "0");
        AssertParts((await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0), k1 = 0 })).Problem(HttpStatusCode.BadRequest), "k1", "0");
        AssertParts((await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?cursor=garbage")).Problem(HttpStatusCode.BadRequest), "cursor", "garbage", "cursor-invalid");
        AssertParts((await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?cursor=a.b")).Problem(HttpStatusCode.BadRequest), "cursor", "a.b", "cursor-invalid");
        AssertParts((await _alpha.PostJsonAsync($"/v1/banks/{bank}/calibrate", new { sample = 2001 })).Problem(HttpStatusCode.BadRequest), "sample", "2001");
        AssertParts((await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = "AAAA.BBBB", reward = 1 })).Problem(HttpStatusCode.BadRequest), "token", null, "token-invalid");

        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0), k1 = 1, k2 = 1 })).Ok();
        string returned = recall.Body.GetProperty("memories")[0].GetProperty("id").GetString()!;
        string before = await SnapshotAsync(bank, ids);
        AssertParts((await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = recall.Str("token"), reward = 1.0, memoryIds = new[] { returned, "zz" } }))
            .Problem(HttpStatusCode.BadRequest), "memoryIds[1]", "zz");
        Assert.Equal(before, await SnapshotAsync(bank, ids));
    }

    [Theory]
    [InlineData(1e38f)]
    [InlineData(1e-30f)]
    public async Task VectorsWhoseFloatNormOverflowsOrUnderflows_WriteAndRecallLikeTheirScaledDownSelves(float scale)
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        float[] intent = [.. Http.Vector(Dimension, 5).Select(x => x * scale)];
        string id = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent, intentText = "big", experience = "big", success = true }))
            .Ok(HttpStatusCode.Created).Str("memoryId");
        foreach (var query in new[] { Http.Vector(Dimension, 5), [.. Http.Vector(Dimension, 5).Select(x => x * scale)] })
        {
            var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query, k1 = 1, k2 = 1 })).Ok();
            Assert.Equal(id, recall.Body.GetProperty("memories")[0].GetProperty("id").GetString());
        }

        var other = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = (float[])[.. Http.Vector(Dimension, 0).Select(x => x * scale)], k1 = 1, k2 = 1 })).Ok();
        Assert.Equal(ids[0], other.Body.GetProperty("memories")[0].GetProperty("id").GetString());
    }

    private static void AssertParts(JsonElement problem, string field, string? actual, string? reason = null)
    {
        Assert.Equal(field, problem.GetProperty("field").GetString());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("expected").GetString()), $"expected must be a phrase: {problem}");
        if (actual is not null)
        {
            Assert.Equal(actual, problem.GetProperty("actual").GetString());
        }

        if (reason is not null)
        {
            Assert.Equal(reason, problem.GetProperty("reason").GetString());
        }
    }

    private async Task<(string Bank, List<string> Ids)> BankWithMemoriesAsync()
    {
        string bank = ApiSiloFixture.NewBankName("bad");
        await _alpha.CreateVectorBankAsync(bank);
        var ids = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            var w = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, i), intentText = $"t{i}", experience = $"e{i}", success = true }))
                .Ok(HttpStatusCode.Created);
            ids.Add(w.Str("memoryId"));
        }

        return (bank, ids);
    }

    /// <summary>Everything a refused call must leave alone: the bank's version and counts, every memory's Q and visits.</summary>
    internal static async Task<string> SnapshotAsync(HttpClient http, string bank, IEnumerable<string> ids)
    {
        var description = await http.GetJsonAsync($"/v1/banks/{bank}");
        var stats = await http.GetJsonAsync($"/v1/banks/{bank}/stats");
        var parts = new List<string>
        {
            $"version={description.Body.GetProperty("version").GetInt64()}",
            $"keys={stats.Body.GetProperty("keys").GetInt32()}",
            $"memories={stats.Body.GetProperty("memories").GetInt32()}",
        };
        foreach (string id in ids.Order(StringComparer.Ordinal))
        {
            var m = await http.GetJsonAsync($"/v1/banks/{bank}/memories/{id}");
            parts.Add(m.Status == HttpStatusCode.OK ? $"{id}:{m.Body.GetProperty("q").GetDouble():R}/{m.Body.GetProperty("visits").GetInt32()}" : $"{id}:gone");
        }

        return string.Join(";", parts);
    }

    private Task<string> SnapshotAsync(string bank, IEnumerable<string> ids) => SnapshotAsync(_alpha, bank, ids);
}

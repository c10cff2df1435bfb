using System.Net;

namespace MemRL.Api.Tests;

/// <summary>
/// Per-tenant quotas on a silo of its own with small limits: a call over a quota is 403 (reason quota, naming the quota,
/// limit and current value) and stores nothing; under the quota again (after a delete), the call is accepted.
/// </summary>
public sealed class QuotaTests : IAsyncLifetime
{
    private ApiSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await ApiSilo.StartAsync(new Dictionary<string, string?>
    {
        ["MemRL:Api:Quotas:MaxBanks"] = "2",
        ["MemRL:Api:Quotas:MaxMemories"] = "3",
        ["MemRL:Api:Quotas:MaxTextBytes"] = "100",
        // Every check reads the store: the test sees the counts exactly.
        ["MemRL:Api:Quotas:UsageMaxAge"] = "00:00:00",
    });

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Fact]
    public async Task Banks_OverTheQuota_AreRefused_AndAcceptedAfterADelete()
    {
        using var http = _silo.Client(ApiSilo.KeyOf("alpha"));
        await http.CreateVectorBankAsync("b1");
        await http.CreateVectorBankAsync("b2");
        var problem = (await http.PostJsonAsync("/v1/banks", new { name = "b3", dimension = Dimension, embedderId = "test-embedder" })).Problem(HttpStatusCode.Forbidden);
        AssertQuota(problem, "banks", 2, 2);
        (await http.GetJsonAsync("/v1/banks/b3")).Problem(HttpStatusCode.NotFound, "bank");
        // Creating an existing bank again is not a new bank.
        (await http.PostJsonAsync("/v1/banks", new
        {
            name = "b1", dimension = Dimension, embedderId = "test-embedder", shardCount = 2, index = new { exact = true },
            options = new { mergeThreshold = 2.0, delta = -1.0 },
        })).Ok();
        // Another tenant has its own count.
        using var beta = _silo.Client(ApiSilo.KeyOf("beta"));
        await beta.CreateVectorBankAsync("b3");

        (await http.SendJsonAsync(HttpMethod.Delete, "/v1/banks/b2")).Ok(HttpStatusCode.NoContent);
        await http.CreateVectorBankAsync("b3");
        var listed = (await http.GetJsonAsync("/v1/banks")).Ok().Body.GetProperty("banks").EnumerateArray().Select(b => b.GetProperty("name").GetString()).ToList();
        Assert.Equal(["b1", "b3"], listed);
    }

    [Fact]
    public async Task Memories_OverTheQuota_AreRefusedWithNothingStored_AndAcceptedAfterADelete()
    {
        using var http = _silo.Client(ApiSilo.KeyOf("gamma"));
        await http.CreateVectorBankAsync("m");
        var ids = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            ids.Add((await WriteAsync(http, "m", i, "e")).Ok(HttpStatusCode.Created).Str("memoryId"));
        }

        var problem = (await WriteAsync(http, "m", 3, "e")).Problem(HttpStatusCode.Forbidden);
        AssertQuota(problem, "memories", 3, 3);
        Assert.Equal(3, (await http.GetJsonAsync("/v1/banks/m/stats")).Body.GetProperty("memories").GetInt32());

        (await http.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/m/memories/{ids[0]}")).Ok(HttpStatusCode.NoContent);
        (await WriteAsync(http, "m", 3, "e")).Ok(HttpStatusCode.Created);
        Assert.Equal(3, (await http.GetJsonAsync("/v1/banks/m/stats")).Body.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task TextBytes_OverTheQuota_AreRefusedWithNothingStored_AndASmallerWriteIsAccepted()
    {
        using var http = _silo.Client(ApiSilo.KeyOf("beta"));
        await http.CreateVectorBankAsync("t");
        // 60 bytes: 50 of experience, 10 of intent text ("é" is two bytes in UTF-8: bytes, not characters, count).
        (await WriteAsync(http, "t", 0, new string('x', 48) + "é", intentText: "0123456789")).Ok(HttpStatusCode.Created);
        var problem = (await WriteAsync(http, "t", 1, new string('y', 41))).Problem(HttpStatusCode.Forbidden);
        AssertQuota(problem, "textBytes", 100, 60);
        Assert.Equal(1, (await http.GetJsonAsync("/v1/banks/t/stats")).Body.GetProperty("memories").GetInt32());
        var listed = (await http.GetJsonAsync("/v1/banks")).Ok().Body.GetProperty("banks").EnumerateArray().Single(b => b.GetProperty("name").GetString() == "t");
        Assert.Equal(60, listed.GetProperty("textBytes").GetInt64());
        Assert.Equal(1, listed.GetProperty("memories").GetInt64());

        (await WriteAsync(http, "t", 1, new string('y', 40))).Ok(HttpStatusCode.Created);
    }

    [Fact]
    public async Task Import_OverTheMemoryQuota_IsRefusedBeforeABankIsMade_AndAcceptedOnceItFits()
    {
        using var http = _silo.Client(ApiSilo.KeyOf("delta"));
        await http.CreateVectorBankAsync("src");
        var ids = new List<string>();
        for (int i = 0; i < 2; i++)
        {
            ids.Add((await WriteAsync(http, "src", i, "e")).Ok(HttpStatusCode.Created).Str("memoryId"));
        }

        byte[] stream = await (await ExportImportHttpTests.ExportAsync(http, "src")).Content.ReadAsByteArrayAsync();
        // 2 stored + 2 imported > 3: refused, naming the quota, and no bank (hidden or not) is left under the name.
        var problem = (await ExportImportHttpTests.ImportAsync(http, "dst", stream)).Problem(HttpStatusCode.Forbidden);
        AssertQuota(problem, "memories", 3, 2);
        (await http.GetJsonAsync("/v1/banks/dst")).Problem(HttpStatusCode.NotFound, "bank");
        Assert.Equal(["src"], (await http.GetJsonAsync("/v1/banks")).Ok().Body.GetProperty("banks").EnumerateArray().Select(b => b.GetProperty("name").GetString()).ToList());

        // With one memory deleted the same stream fits (1 + 2 = 3).
        (await http.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/src/memories/{ids[0]}")).Ok(HttpStatusCode.NoContent);
        (await ExportImportHttpTests.ImportAsync(http, "dst", stream)).Ok(HttpStatusCode.Created);
        Assert.Equal(2, (await http.GetJsonAsync("/v1/banks/dst/stats")).Body.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task Edit_ThatGrowsTheTextPastTheQuota_IsRefused_AndOneThatFitsOrShrinksIt_IsAccepted()
    {
        using var http = _silo.Client(ApiSilo.KeyOf("epsilon"));
        await http.CreateVectorBankAsync("edits");
        string id = (await WriteAsync(http, "edits", 0, new string('x', 50))).Ok(HttpStatusCode.Created).Str("memoryId");
        string path = $"/v1/banks/edits/memories/{id}";
        // 50 stored; 101 in place of 50 adds 51 (101 > 100): refused, nothing changed.
        var problem = (await http.SendJsonAsync(HttpMethod.Patch, path, new { experience = new string('y', 101) })).Problem(HttpStatusCode.Forbidden);
        AssertQuota(problem, "textBytes", 100, 50);
        Assert.Equal(new string('x', 50), (await http.GetJsonAsync(path)).Str("experience"));
        // 100 in place of 50 fits exactly; a shorter text and a metadata-only edit always do.
        (await http.SendJsonAsync(HttpMethod.Patch, path, new { experience = new string('y', 100) })).Ok();
        (await http.SendJsonAsync(HttpMethod.Patch, path, new { experience = "short" })).Ok();
        (await http.SendJsonAsync(HttpMethod.Patch, path, new { metadata = new Dictionary<string, string> { ["k"] = "v" } })).Ok();
        Assert.Equal("short", (await http.GetJsonAsync(path)).Str("experience"));
    }

    private static void AssertQuota(System.Text.Json.JsonElement problem, string quota, long limit, long current)
    {
        Assert.Equal("quota", problem.GetProperty("reason").GetString());
        Assert.Equal(quota, problem.GetProperty("quota").GetString());
        Assert.Equal(limit, problem.GetProperty("limit").GetInt64());
        Assert.Equal(current, problem.GetProperty("current").GetInt64());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("expected").GetString()));
        Assert.Equal(current.ToString(System.Globalization.CultureInfo.InvariantCulture), problem.GetProperty("actual").GetString());
    }

    private static Task<Reply> WriteAsync(HttpClient http, string bank, int axis, string experience, string? intentText = null) =>
        http.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, axis), intentText, experience, success = true });
}

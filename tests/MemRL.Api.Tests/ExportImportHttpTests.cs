using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using static MemRL.Api.Tests.Http;

namespace MemRL.Api.Tests;

/// <summary>
/// GET /v1/banks/{bank}/export and POST /v1/banks/{bank}/import: a bank moved over HTTP recalls exactly as the original,
/// a bad stream is refused with its reason and creates nothing, an import needs a key that may write, and a tenant
/// reaches only its own banks.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class ExportImportHttpTests(ApiSiloFixture fixture)
{
    private const string ExportType = "application/vnd.memrl.export";

    [Fact]
    public async Task RoundTrip_OverHttp_RecallsIdenticallyInExactMode()
    {
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string source = ApiSiloFixture.NewBankName("exp-src");
        string copy = ApiSiloFixture.NewBankName("exp-dst");
        await http.CreateVectorBankAsync(source, shards: 3);
        for (int i = 0; i < 24; i++)
        {
            (await http.PostJsonAsync($"/v1/banks/{source}/memories", new
            {
                intent = Vector(Dimension, i % Dimension, seed: i), intentText = $"intent {i}", experience = $"experience {i}", success = i % 3 != 0,
                scope = new { userId = i % 2 == 0 ? "u-even" : "u-odd" },
            })).Ok(HttpStatusCode.Created);
        }

        // Rewards make Q differ between memories, so equal recalls mean Q came across.
        for (int i = 0; i < 8; i++)
        {
            string token = (await http.PostJsonAsync($"/v1/banks/{source}/recall", new { query = Vector(Dimension, i, seed: 100 + i) })).Ok().Str("token");
            (await http.PostJsonAsync($"/v1/banks/{source}/reward", new { token, reward = i % 2 == 0 ? 1.0 : -0.5 })).Ok();
        }

        var exported = await ExportAsync(http, source);
        Assert.Equal(ExportType, exported.Content.Headers.ContentType?.MediaType);
        byte[] stream = await exported.Content.ReadAsByteArrayAsync();

        var imported = (await ImportAsync(http, copy, stream)).Ok(HttpStatusCode.Created);
        Assert.Equal(24, imported.Body.GetProperty("memories").GetInt64());
        Assert.Equal(copy, imported.Body.GetProperty("bank").GetProperty("name").GetString());
        Assert.Equal(3, imported.Body.GetProperty("bank").GetProperty("shardCount").GetInt32());

        for (int i = 0; i < Dimension; i++)
        {
            var query = new { query = Vector(Dimension, i, seed: 500 + i), k1 = 30, k2 = 10 };
            string before = Recalled((await http.PostJsonAsync($"/v1/banks/{source}/recall", query)).Ok());
            string after = Recalled((await http.PostJsonAsync($"/v1/banks/{copy}/recall", query)).Ok());
            Assert.Equal(before, after);
        }

        // A second import under the same name is a conflict, and changes nothing.
        (await ImportAsync(http, copy, stream)).Problem(HttpStatusCode.Conflict, "bank");

        // Export by scope: only that user's memories.
        using var scoped = await http.GetAsync($"/v1/banks/{source}/export?userId=u-even");
        Assert.Equal(HttpStatusCode.OK, scoped.StatusCode);
        string even = ApiSiloFixture.NewBankName("exp-even");
        Assert.Equal(12, (await ImportAsync(http, even, await scoped.Content.ReadAsByteArrayAsync())).Ok(HttpStatusCode.Created).Body.GetProperty("memories").GetInt64());
    }

    [Fact]
    public async Task BadStream_IsRefusedWithItsReason_AndNoBankIsCreated()
    {
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string source = ApiSiloFixture.NewBankName("exp-bad");
        await http.CreateVectorBankAsync(source);
        for (int i = 0; i < 6; i++)
        {
            (await http.PostJsonAsync($"/v1/banks/{source}/memories", new { intent = Vector(Dimension, i), experience = $"e{i}", success = true })).Ok(HttpStatusCode.Created);
        }

        byte[] stream = await (await ExportAsync(http, source)).Content.ReadAsByteArrayAsync();
        byte[] corrupted = (byte[])stream.Clone();
        corrupted[^1] ^= 0x5a; // the trailer's CRC: intact lengths, a checksum that no longer matches
        byte[] newer = (byte[])stream.Clone();
        newer[8] = 0xff;

        foreach (var (bytes, reason) in new[] { (stream[..^7], "export-truncated"), (corrupted, "export-corrupted"), (newer, "export-version") })
        {
            string target = ApiSiloFixture.NewBankName("exp-none");
            var problem = (await ImportAsync(http, target, bytes)).Problem(HttpStatusCode.BadRequest);
            Assert.True(problem.TryGetProperty("reason", out var r) && r.GetString() == reason, $"expected reason {reason}: {problem}");
            (await http.GetJsonAsync($"/v1/banks/{target}")).Problem(HttpStatusCode.NotFound, "bank");
        }
    }

    [Fact]
    public async Task Import_LargerThanTheJsonBodyLimit_IsAccepted()
    {
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string source = ApiSiloFixture.NewBankName("exp-big");
        await http.CreateVectorBankAsync(source);
        for (int i = 0; i < 6; i++)
        {
            (await http.PostJsonAsync($"/v1/banks/{source}/memories", new { intent = Vector(Dimension, i), experience = new string((char)('a' + i), 900_000), success = true }))
                .Ok(HttpStatusCode.Created);
        }

        byte[] stream = await (await ExportAsync(http, source)).Content.ReadAsByteArrayAsync();
        Assert.True(stream.Length > 4 << 20, $"the stream must exceed MaxRequestBytes (4 MiB) to test the lifted limit; it is {stream.Length} bytes");
        string copy = ApiSiloFixture.NewBankName("exp-big-copy");
        Assert.Equal(6, (await ImportAsync(http, copy, stream)).Ok(HttpStatusCode.Created).Body.GetProperty("memories").GetInt64());
    }

    [Fact]
    public async Task ReadOnlyKey_MayExport_ButNotImport_AndTenantsReachOnlyTheirOwnBanks()
    {
        using var writer = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        using var reader = fixture.Silo.Client(ApiSilo.KeyOf("alpha", readOnly: true));
        using var beta = fixture.Silo.Client(ApiSilo.KeyOf("beta"));
        string source = ApiSiloFixture.NewBankName("exp-ro");
        await writer.CreateVectorBankAsync(source);
        (await writer.PostJsonAsync($"/v1/banks/{source}/memories", new { intent = Vector(Dimension, 1), experience = "e", success = true })).Ok(HttpStatusCode.Created);

        using var exported = await ExportAsync(reader, source);
        byte[] stream = await exported.Content.ReadAsByteArrayAsync();
        string target = ApiSiloFixture.NewBankName("exp-ro-copy");
        (await ImportAsync(reader, target, stream)).Problem(HttpStatusCode.Forbidden);
        (await writer.GetJsonAsync($"/v1/banks/{target}")).Problem(HttpStatusCode.NotFound, "bank");

        // Another tenant neither sees alpha's bank nor lands its import in alpha's names.
        using var foreign = await beta.GetAsync($"/v1/banks/{source}/export");
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        (await ImportAsync(beta, target, stream)).Ok(HttpStatusCode.Created);
        (await writer.GetJsonAsync($"/v1/banks/{target}")).Problem(HttpStatusCode.NotFound, "bank");
    }

    internal static async Task<HttpResponseMessage> ExportAsync(HttpClient http, string bank)
    {
        var response = await http.GetAsync($"/v1/banks/{bank}/export");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"export answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return response;
    }

    internal static async Task<Reply> ImportAsync(HttpClient http, string bank, byte[] stream)
    {
        using var content = new ByteArrayContent(stream);
        content.Headers.ContentType = new MediaTypeHeaderValue(ExportType);
        var response = await http.PostAsync($"/v1/banks/{bank}/import", content);
        string text = await response.Content.ReadAsStringAsync();
        return new Reply(response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    // Everything of a recall but ids and the token, which name the bank incarnation and so differ by design.
    internal static string Recalled(Reply recall) => string.Join('\n', recall.Body.GetProperty("memories").EnumerateArray().Select(m =>
        string.Join('|', m.EnumerateObject().Where(p => p.Name != "id").Select(p => $"{p.Name}={p.Value.GetRawText()}"))));
}

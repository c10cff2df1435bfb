using System.Net;
using System.Text;

namespace MemRL.Api.Tests;

/// <summary>
/// The HTTP edge over a raw socket: targets Kestrel would resolve into another route, encoded separators, control
/// characters and long paths or headers are refused with problem details before routing, and the bank is untouched.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class EdgeTests(ApiSiloFixture fixture)
{
    private static readonly string AlphaKey = ApiSilo.KeyOf("alpha");
    private readonly HttpClient _alpha = fixture.Silo.Client(AlphaKey);

    public static TheoryData<string> Rerouting() => new()
    {
        "/memories/..", "/memories/%2E%2E", "/memories/%2e.", "/memories/.%2E", "/memories/%2e%2E", "/memories/.",
        "/memories/%2E", "/memories/../..", "/./memories", "/memories/%2E%2E/", "/memories/..?limit=1",
        "/memories%2F..", "/memories%2f..", "/memories%5C..", "/memories\\..", "/memories/%1f", "/memories/%7F",
    };

    [Theory]
    [MemberData(nameof(Rerouting))]
    public async Task Delete_WithADotSegmentOrEncodedSeparator_IsRefused_AndTheBankStays(string suffix)
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        string before = await BadInputTests.SnapshotAsync(_alpha, bank, ids);
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, $"DELETE /v1/banks/{bank}{suffix} HTTP/1.1", [$"Authorization: Bearer {AlphaKey}"]);
        var problem = reply.Problem(400, "path");
        Assert.Equal($"/v1/banks/{bank}{suffix}".Split('?')[0], problem.GetProperty("actual").GetString());
        Assert.Equal(before, await BadInputTests.SnapshotAsync(_alpha, bank, ids));
    }

    [Fact]
    public async Task AbsoluteFormTarget_WithADotSegment_IsRefused_AndTheBankStays()
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        string before = await BadInputTests.SnapshotAsync(_alpha, bank, ids);
        var reply = await RawHttp.SendAsync(
            fixture.Silo.Address, $"DELETE http://{fixture.Silo.Address.Authority}/v1/banks/{bank}/memories/%2E%2E HTTP/1.1", [$"Authorization: Bearer {AlphaKey}"]);
        reply.Problem(400, "path");
        Assert.Equal(before, await BadInputTests.SnapshotAsync(_alpha, bank, ids));
    }

    [Fact]
    public async Task PathOverTheLimit_IsRefusedByTheApplication()
    {
        string path = "/v1/banks/" + new string('b', 2000);
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, $"GET {path} HTTP/1.1", [$"Authorization: Bearer {AlphaKey}"]);
        var problem = reply.Problem(400, "path");
        Assert.Contains("1024", problem.GetProperty("expected").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryOverTheLimit_IsRefusedByTheApplication()
    {
        var (bank, _) = await BankWithMemoriesAsync();
        var reply = await RawHttp.SendAsync(
            fixture.Silo.Address, $"GET /v1/banks/{bank}/memories?cursor={new string('c', 5000)} HTTP/1.1", [$"Authorization: Bearer {AlphaKey}"]);
        var problem = reply.Problem(400, "path");
        Assert.Equal("5007 characters", problem.GetProperty("actual").GetString());
    }

    [Theory]
    [InlineData("not-an-id")]
    [InlineData("1-2-3")]
    [InlineData("zzzzzzzz-0000-1")]
    public async Task BadMemoryId_Is400OnMemoryId_BeforeAnyHandler(string id)
    {
        var (bank, ids) = await BankWithMemoriesAsync();
        string before = await BadInputTests.SnapshotAsync(_alpha, bank, ids);
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, $"DELETE /v1/banks/{bank}/memories/{id} HTTP/1.1", [$"Authorization: Bearer {AlphaKey}"]);
        var problem = reply.Problem(400, "memoryId");
        Assert.Equal(id, problem.GetProperty("actual").GetString());
        Assert.Equal(before, await BadInputTests.SnapshotAsync(_alpha, bank, ids));
    }

    [Fact]
    public async Task HeaderOverTheLimit_Is431NamingIt()
    {
        var reply = await RawHttp.SendAsync(
            fixture.Silo.Address, "GET /v1/banks/x HTTP/1.1", [$"Authorization: Bearer {AlphaKey}", $"X-Trace-Note: {new string('n', 9000)}"]);
        var problem = reply.Problem(431, "X-Trace-Note");
        Assert.Equal("9012 bytes", problem.GetProperty("actual").GetString());
    }

    [Fact]
    public async Task HeadersOverTheTotalLimit_Are431()
    {
        var headers = Enumerable.Range(0, 10).Select(i => $"X-Note-{i}: {new string('n', 4000)}").Append($"Authorization: Bearer {AlphaKey}");
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, "GET /v1/banks/x HTTP/1.1", headers);
        reply.Problem(431, "headers");
    }

    [Fact]
    public async Task NonAsciiHeader_IsRefusedNamingIt()
    {
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, "GET /v1/banks/x HTTP/1.1", [$"Authorization: Bearer {AlphaKey}", "Idempotency-Key: caf\u00e9"]);
        var problem = reply.Problem(400, "Idempotency-Key");
        Assert.Equal("caf\u00e9", problem.GetProperty("actual").GetString());
    }

    [Fact]
    public async Task EncodedSlashInTheQuery_IsData_NotARoute()
    {
        var (bank, _) = await BankWithMemoriesAsync();
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, $"GET /v1/banks/{bank}/memories?cursor=a%2F..%5Cb HTTP/1.1", [$"Authorization: Bearer {AlphaKey}"]);
        // The cursor is judged by the listing (not a cursor of this bank), not refused as a path.
        reply.Problem(400, "cursor");
    }

    [Fact]
    public async Task AsteriskFormTarget_IsRefusedByTheApplication()
    {
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, "OPTIONS * HTTP/1.1", [$"Authorization: Bearer {AlphaKey}"]);
        Assert.Equal("*", reply.Problem(400, "path").GetProperty("actual").GetString());
    }

    [Fact]
    public async Task ControlCharacterInAHeaderName_IsRefused()
    {
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, "GET /v1/banks/x HTTP/1.1", [$"Authorization: Bearer {AlphaKey}", "X-\u0001Note: a"]);
        Assert.Equal("X-\\u0001Note", reply.Problem(400, "headers").GetProperty("actual").GetString());
    }

    [Fact]
    public async Task ControlCharacterInAHeader_IsRefusedNamingIt()
    {
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, "GET /v1/banks/x HTTP/1.1", [$"Authorization: Bearer {AlphaKey}", "X-Note: a\u0001b"]);
        reply.Problem(400, "X-Note");
    }

    /// <summary>
    /// What Kestrel still answers by itself (docs/http-api.md, "Kestrel's own answers"): a status and no problem body,
    /// because the request never reaches the application. The list is pinned so a change to it is seen.
    /// </summary>
    public static TheoryData<string, int> KestrelAnswers() => new()
    {
        { "malformed request line", 400 },
        { "unsupported HTTP version", 505 },
        { "request line over Kestrel's limit", 414 },
        { "header block over Kestrel's limit", 431 },
        { "no Host header", 400 },
        { "encoded NUL in the path", 400 },
        { "header line without a colon", 400 },
    };

    [Theory]
    [MemberData(nameof(KestrelAnswers))]
    public async Task RequestsKestrelRefuses_GetItsOwnAnswer(string what, int status)
    {
        byte[] request = what switch
        {
            "malformed request line" => Ascii("GET\r\nHost: x\r\n\r\n"),
            "unsupported HTTP version" => Ascii("GET /v1/banks/x HTTP/9.9\r\nHost: x\r\n\r\n"),
            "request line over Kestrel's limit" => Ascii($"GET /v1/banks/{new string('b', 70 << 10)} HTTP/1.1\r\nHost: x\r\n\r\n"),
            "header block over Kestrel's limit" => Ascii($"GET /v1/banks/x HTTP/1.1\r\nHost: x\r\n{string.Concat(Enumerable.Range(0, 40).Select(i => $"X-N{i}: {new string('n', 4000)}\r\n"))}\r\n"),
            "header line without a colon" => Ascii("GET /v1/banks/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Note\r\n\r\n"),
            "encoded NUL in the path" => Ascii("GET /v1/banks/x%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            "no Host header" => Ascii("GET /v1/banks/x HTTP/1.1\r\n\r\n"),
            _ => throw new ArgumentOutOfRangeException(nameof(what), what, "not a case of KestrelAnswers"),
        };
        var reply = await RawHttp.SendBytesAsync(fixture.Silo.Address, request);
        Assert.True(reply.Status == status, $"{what}: expected {status}, got {reply.Status}: {reply.Body}");
        Assert.NotEqual("application/problem+json", reply.ContentType);
    }

    private static byte[] Ascii(string text) => Encoding.Latin1.GetBytes(text);

    private async Task<(string Bank, List<string> Ids)> BankWithMemoriesAsync()
    {
        string bank = ApiSiloFixture.NewBankName("edge");
        await _alpha.CreateVectorBankAsync(bank);
        var ids = new List<string>();
        for (int i = 0; i < 2; i++)
        {
            var w = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, i), experience = $"e{i}", success = true }))
                .Ok(HttpStatusCode.Created);
            ids.Add(w.Str("memoryId"));
        }

        return (bank, ids);
    }
}

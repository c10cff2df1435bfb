using System.Net;
using System.Text;
using System.Text.Json;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// A silo of its own for the hostile suite and the fuzzer (a case that wrongly deletes a bank must not break another
/// team's tests), and the <see cref="Scene"/> the cases attack. The scene is built once and kept while the cases leave
/// it unchanged; a case that changes it marks it dirty and the next case gets a fresh one, so one defect fails one case.
/// </summary>
public sealed class HostileFixture : IAsyncLifetime
{
    private Scene? _scene;

    public ApiSilo Silo { get; private set; } = null!;

    public HttpClient Alpha { get; private set; } = null!;

    public HttpClient Beta { get; private set; } = null!;

    public HttpClient Reader { get; private set; } = null!;

    /// <summary>A bank name no other test uses.</summary>
    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        // No rate limit or bank quota in reach: the fingerprints and the fuzzer send thousands of requests and make a
        // fresh scene (new banks) whenever one got dirty, and a 429 on a fingerprint read or a 403 on a scene's bank
        // would look like a state change or a broken harness. (Rate limit and quotas have their own tests.)
        Silo = await ApiSilo.StartAsync(new Dictionary<string, string?>
        {
            ["MemRL:Api:RatePerSecond"] = "1000000",
            ["MemRL:Api:RateBurst"] = "1000000",
            ["MemRL:Api:Quotas:MaxBanks"] = "1000000",
        });
        Alpha = Silo.Client(ApiSilo.KeyOf("alpha"));
        Beta = Silo.Client(ApiSilo.KeyOf("beta"));
        Reader = Silo.Client(ApiSilo.KeyOf("alpha", readOnly: true));
    }

    public async Task DisposeAsync()
    {
        Alpha.Dispose();
        Beta.Dispose();
        Reader.Dispose();
        await Silo.DisposeAsync();
    }

    /// <summary>The current scene, or a fresh one when the last case changed it.</summary>
    public async Task<Scene> SceneAsync()
    {
        if (_scene is null || _scene.Dirty)
        {
            _scene = await Scene.CreateAsync(this);
        }

        return _scene;
    }

    /// <summary>A bank of <paramref name="shards"/> with <paramref name="count"/> memories, one along each axis.</summary>
    public static async Task<List<string>> FillAsync(HttpClient http, string bank, int count, int shards)
    {
        await http.CreateVectorBankAsync(bank, shards);
        var ids = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var w = (await http.PostJsonAsync($"/v1/banks/{bank}/memories",
                new { intent = Http.Vector(Dimension, i), intentText = $"intent {i}", experience = $"experience {i} of {bank}", success = i % 2 == 0 }))
                .Ok(HttpStatusCode.Created);
            ids.Add(w.Str("memoryId"));
        }

        return ids;
    }
}

[CollectionDefinition(Name)]
public sealed class HostileCollection : ICollectionFixture<HostileFixture>
{
    public const string Name = nameof(HostileCollection);
}

/// <summary>
/// What the hostile cases aim at, made by legitimate calls: alpha's target bank (4 shards, 8 memories, a recall token
/// for 4 of them, a list cursor), a second bank of alpha's (for tokens, cursors and ids of another bank), beta's bank of
/// the same name as alpha's target (names are per tenant) and a bank only beta has (for names alpha must not reach).
/// </summary>
public sealed class Scene
{
    public const int Shards = 4;
    public const int Memories = 8;

    private Scene(HostileFixture fixture) => Fixture = fixture;

    public HostileFixture Fixture { get; }

    public bool Dirty { get; set; }

    public string Bank { get; private set; } = "";

    public List<string> Ids { get; private set; } = [];

    public string Token { get; private set; } = "";

    public List<string> Returned { get; private set; } = [];

    public string NotReturned { get; private set; } = "";

    public string Cursor { get; private set; } = "";

    public string OtherBank { get; private set; } = "";

    public string OtherId { get; private set; } = "";

    public string OtherToken { get; private set; } = "";

    public string OtherCursor { get; private set; } = "";

    public string BetaOnlyBank { get; private set; } = "";

    /// <summary>A name no bank has: a refused create must leave it so.</summary>
    public string NewBank { get; } = HostileFixture.NewName("hostile-new");

    public string BetaId { get; private set; } = "";

    public string BetaToken { get; private set; } = "";

    public string BetaCursor { get; private set; } = "";

    public IReadOnlyList<Watched> Watched { get; private set; } = [];

    public static async Task<Scene> CreateAsync(HostileFixture fixture)
    {
        var s = new Scene(fixture);
        var alpha = fixture.Alpha;
        var beta = fixture.Beta;
        s.Bank = HostileFixture.NewName("hostile");
        s.Ids = await HostileFixture.FillAsync(alpha, s.Bank, Memories, Shards);
        var recall = (await alpha.PostJsonAsync($"/v1/banks/{s.Bank}/recall", new { query = Http.Vector(Dimension, 0), k1 = Memories, k2 = 4 })).Ok();
        s.Token = recall.Str("token");
        s.Returned = recall.Body.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToList();
        Assert.True(s.Returned.Count == 4, $"the scene's recall must return 4 memories: {recall.Body}");
        s.NotReturned = s.Ids.First(id => !s.Returned.Contains(id));
        s.Cursor = await CursorAsync(alpha, s.Bank);

        s.OtherBank = HostileFixture.NewName("hostile-other");
        var other = await HostileFixture.FillAsync(alpha, s.OtherBank, 3, 2);
        s.OtherId = other[0];
        s.OtherToken = (await alpha.PostJsonAsync($"/v1/banks/{s.OtherBank}/recall", new { query = Http.Vector(Dimension, 0) })).Ok().Str("token");
        s.OtherCursor = await CursorAsync(alpha, s.OtherBank);

        // Beta's bank has alpha's target's name: a token, id or cursor of it must not reach alpha's bank of that name.
        var betaIds = await HostileFixture.FillAsync(beta, s.Bank, 3, 2);
        s.BetaId = betaIds[0];
        s.BetaToken = (await beta.PostJsonAsync($"/v1/banks/{s.Bank}/recall", new { query = Http.Vector(Dimension, 0) })).Ok().Str("token");
        s.BetaCursor = await CursorAsync(beta, s.Bank);
        s.BetaOnlyBank = HostileFixture.NewName("hostile-beta");
        await HostileFixture.FillAsync(beta, s.BetaOnlyBank, 1, 1);

        s.Watched =
        [
            new Watched("alpha", alpha, s.Bank, s.Ids[0]),
            new Watched("alpha", alpha, s.OtherBank, s.OtherId),
            new Watched("beta", beta, s.Bank, s.BetaId),
            new Watched("beta", beta, s.BetaOnlyBank, null),
        ];
        return s;
    }

    public Task<string> FingerprintAsync() => StateFingerprint.TakeAsync(Fixture.Silo.Memory, Watched);

    /// <summary>The token with one character changed: well-formed, signed wrong.</summary>
    public string ForgedToken => Flip(Token, ^2);

    /// <summary>A cursor of this bank's own format naming a shard the bank does not have.</summary>
    public string ForgedCursor
    {
        get
        {
            string text = Encoding.ASCII.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(Cursor));
            var parts = text.Split(':');
            parts[^2] = "99";
            return System.Buffers.Text.Base64Url.EncodeToString(Encoding.ASCII.GetBytes(string.Join(':', parts)));
        }
    }

    /// <summary>A well-formed id of another incarnation: no bank issued it.</summary>
    public string ForgedId
    {
        get
        {
            var parts = Ids[0].Split('-');
            parts[0] = parts[0] == "0badf00d" ? "0badf00e" : "0badf00d";
            return string.Join('-', parts);
        }
    }

    /// <summary>Replaces the scene's placeholders ({bank}, {token}, {id}, …) in a case's path, body or expected value.</summary>
    public string Fill(string text)
    {
        if (!text.Contains('{', StringComparison.Ordinal))
        {
            return text;
        }

        return new StringBuilder(text)
            .Replace("{bank}", Bank).Replace("{id}", Ids[0]).Replace("{returned}", Returned[0]).Replace("{returned1}", Returned[1])
            .Replace("{notReturned}", NotReturned).Replace("{token}", Token).Replace("{cursor}", Cursor)
            .Replace("{otherBank}", OtherBank).Replace("{otherId}", OtherId).Replace("{otherToken}", OtherToken).Replace("{otherCursor}", OtherCursor)
            .Replace("{betaOnlyBank}", BetaOnlyBank).Replace("{betaId}", BetaId).Replace("{betaToken}", BetaToken).Replace("{betaCursor}", BetaCursor)
            .Replace("{forgedToken}", ForgedToken).Replace("{forgedCursor}", ForgedCursor).Replace("{forgedId}", ForgedId).Replace("{newBank}", NewBank)
            .ToString();
    }

    private static async Task<string> CursorAsync(HttpClient http, string bank)
    {
        var page = (await http.GetJsonAsync($"/v1/banks/{bank}/memories?limit=1")).Ok();
        return page.Body.GetProperty("nextCursor").GetString() ?? throw new InvalidOperationException($"no cursor from a first page of one of {bank}: {page.Body}");
    }

    private static string Flip(string text, System.Index at)
    {
        char[] chars = text.ToCharArray();
        chars[at] = chars[at] == 'A' ? 'B' : 'A';
        return new string(chars);
    }
}

/// <summary>Problem-details assertions shared by the hostile suite and the fuzzer.</summary>
public static class ProblemAssert
{
    /// <summary>Turns an HttpClient answer into the same shape as a raw one.</summary>
    public static async Task<WireReply> ToWireAsync(HttpResponseMessage response)
    {
        var headers = response.Headers.Concat(response.Content.Headers)
            .SelectMany(h => h.Value.Select(v => (h.Key, v))).ToList();
        string body = await response.Content.ReadAsStringAsync();
        return new WireReply((int)response.StatusCode, response.ReasonPhrase ?? "", headers, body);
    }

    /// <summary>
    /// Kestrel's own refusal of a request it cannot parse (a NUL in the path, an absolute-form target, a request line over
    /// its limit): answered before any middleware runs, so it cannot carry problem details. A 4xx with no body and no
    /// Content-Type; accepted where a case says so, and it must still change nothing.
    /// </summary>
    public static bool IsTransportRejection(WireReply reply) =>
        reply.Status is 400 or 414 or 431 && reply.Body.Length == 0 && reply.Header("Content-Type") is null;

    /// <summary>Asserts the shape every non-2xx answer must have; returns the problem body.</summary>
    public static JsonElement IsProblem(WireReply reply, string context)
    {
        Assert.True(reply.MediaType == "application/problem+json",
            $"{context}: a {reply.Status} must be application/problem+json, got '{reply.Header("Content-Type")}': {Cut(reply.Body)}");
        var json = reply.Json;
        Assert.True(json.ValueKind == JsonValueKind.Object, $"{context}: the problem body must be a JSON object: {Cut(reply.Body)}");
        Assert.True(json.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Number && s.GetInt32() == reply.Status,
            $"{context}: the problem must carry status {reply.Status}: {Cut(reply.Body)}");
        foreach (string member in new[] { "title", "detail" })
        {
            Assert.True(json.TryGetProperty(member, out var v) && v.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(v.GetString()),
                $"{context}: the problem must have a non-empty {member}: {Cut(reply.Body)}");
        }

        // Internal type names (MemRL.Api.RewardBody, System.Double) say nothing a client can act on and leak the implementation.
        Assert.False(reply.Body.Contains("MemRL.", StringComparison.Ordinal) || reply.Body.Contains("System.", StringComparison.Ordinal),
            $"{context}: the problem must not name internal types: {Cut(reply.Body)}");
        if (reply.Status == 401)
        {
            Assert.True(reply.Header("WWW-Authenticate")?.StartsWith("Bearer", StringComparison.OrdinalIgnoreCase) == true,
                $"{context}: a 401 must send WWW-Authenticate: Bearer, got '{reply.Header("WWW-Authenticate")}'");
        }

        return json;
    }

    /// <summary>
    /// Asserts a problem naming <paramref name="field"/> with a non-empty expected, the actual value sent
    /// (<paramref name="actual"/>: exact text, "*" for present and non-empty, null for not checked) and the reason code.
    /// </summary>
    public static void Names(JsonElement problem, string context, string field, string? actual, string? reason) =>
        Names(problem, context, [field], actual, reason);

    /// <summary>As <see cref="Names(JsonElement, string, string, string?, string?)"/>, where the contract allows either of <paramref name="fields"/>.</summary>
    public static void Names(JsonElement problem, string context, IReadOnlyList<string> fields, string? actual, string? reason)
    {
        Assert.True(fields.Contains(Str(problem, "field")),
            $"{context}: expected field '{string.Join("' or '", fields)}', got '{Str(problem, "field")}': {Cut(problem.GetRawText())}");
        // Bad input says what it must be; a missing resource (404) or a refused key (401, 403) need only name it.
        int status = problem.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt32() : 0;
        if (status is 400 or 409 or 415)
        {
            Assert.False(string.IsNullOrWhiteSpace(Str(problem, "expected")), $"{context}: the problem must say what was expected: {Cut(problem.GetRawText())}");
        }

        if (actual == "*")
        {
            Assert.False(string.IsNullOrEmpty(Str(problem, "actual")), $"{context}: the problem must repeat the value sent: {Cut(problem.GetRawText())}");
        }
        else if (actual is not null)
        {
            Assert.True(SameActual(actual, Str(problem, "actual")), $"{context}: expected actual '{Cut(actual)}', got '{Str(problem, "actual")}': {Cut(problem.GetRawText())}");
        }

        if (reason is not null)
        {
            Assert.True(Str(problem, "reason") == reason, $"{context}: expected reason '{reason}', got '{Str(problem, "reason")}': {Cut(problem.GetRawText())}");
        }
    }

    /// <summary>
    /// The value sent, as text: exactly, or a finite number written another way ("1E+308" for "1e308"). A number that
    /// overflowed (1e309 reported as "Infinity") is not the value sent.
    /// </summary>
    public static bool SameActual(string sent, string? reported) =>
        sent == reported
        || (reported is not null
            && double.TryParse(sent, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double a) && double.IsFinite(a)
            && double.TryParse(reported, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double b) && a == b);

    public static string? Str(JsonElement json, string member) =>
        json.ValueKind == JsonValueKind.Object && json.TryGetProperty(member, out var v)
            ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText()
            : null;

    public static string Cut(string s) => s.Length <= 800 ? s : s[..800] + "…";
}

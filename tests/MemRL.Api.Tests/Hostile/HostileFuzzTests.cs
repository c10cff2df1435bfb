using System.Globalization;
using System.Text;
using CsCheck;
using Xunit.Abstractions;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// Property-based fuzzing of every route with CsCheck: random paths (valid routes with mutated segments, dot segments,
/// encodings), headers and JSON bodies (valid shapes with extreme values, and structural garbage), sent as raw bytes.
/// Properties: never a 5xx; every error is problem details; a 4xx changes nothing (the scene's fingerprint); a path with
/// dot segments is never accepted.
/// <para>
/// CI runs it for a bounded time: MEMRL_FUZZ_SECONDS (default 45) or MEMRL_FUZZ_ITERATIONS (takes precedence).
/// By hand, for ten minutes:
/// <c>MEMRL_FUZZ_SECONDS=600 dotnet test tests/MemRL.Api.Tests --no-build --filter FullyQualifiedName~HostileFuzz --logger "console;verbosity=detailed"</c>.
/// <c>MEMRL_FUZZ_SURVEY=1</c> goes on past failures and reports each class of them with a count and an example.
/// A failure prints CsCheck's seed; replay it with
/// <c>MEMRL_FUZZ_SEED=&lt;seed&gt; MEMRL_FUZZ_ITERATIONS=1 dotnet test tests/MemRL.Api.Tests --no-build --filter FullyQualifiedName~HostileFuzz</c>.
/// </para>
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileFuzzTests(HostileFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Fuzz_AnyRequest_NeverGets5xx_AlwaysGetsProblemDetails_AndA4xxChangesNothing()
    {
        int? iterations = int.TryParse(Environment.GetEnvironmentVariable("MEMRL_FUZZ_ITERATIONS"), out int i) ? i : null;
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("MEMRL_FUZZ_SECONDS"), out int s) ? s : 45;
        string? seed = Environment.GetEnvironmentVariable("MEMRL_FUZZ_SEED");
        // Survey: go on past failures and report every class of them at the end (no shrinking), to see the whole picture.
        var survey = Environment.GetEnvironmentVariable("MEMRL_FUZZ_SURVEY") == "1" ? new Dictionary<string, (int Count, string Example)>(StringComparer.Ordinal) : null;
        int sent = 0, refused = 0, accepted = 0;
        var scene = await fixture.SceneAsync();
        string state = await scene.FingerprintAsync();
        var gen = Gen.Int[0, 1 << 20].Array[40].Select(choices => FuzzRequest.Build(choices));
        try
        {
            await gen.SampleAsync(
                async request =>
                {
                    if (scene.Dirty)
                    {
                        scene = await fixture.SceneAsync();
                        state = await scene.FingerprintAsync();
                    }

                    var reply = await request.SendAsync(scene);
                    Interlocked.Increment(ref sent);
                    string after = await scene.FingerprintAsync();
                    var made = await fixture.Alpha.GetAsync($"/v1/banks/{scene.NewBank}");
                    bool created = made.StatusCode == System.Net.HttpStatusCode.OK;
                    string before = state;
                    state = after;
                    bool ok = reply.Status is >= 200 and < 300;
                    if (ok)
                    {
                        accepted++;
                    }
                    else
                    {
                        refused++;
                    }

                    if (created || (ok && (after.Contains("\nbank 404", StringComparison.Ordinal) || after.Length > 200_000)))
                    {
                        // A bank made, deleted or filled up by an accepted request: go on from a fresh scene.
                        scene.Dirty = true;
                    }

                    string context = request.ToString();
                    if (survey is not null)
                    {
                        try
                        {
                            Check(request, reply, context, before, after, created, ok, scene);
                        }
                        catch (Exception e) when (e is Xunit.Sdk.XunitException)
                        {
                            string said = (e.Message.StartsWith(context, StringComparison.Ordinal) ? e.Message[context.Length..] : e.Message).TrimStart(':', ' ', '\n', '=', '>');
                            string kind = System.Text.RegularExpressions.Regex.Replace(said.Split(':')[0], "[0-9a-f]{6,}|[0-9]+", "#");
                            string key = $"{request.Method} {request.Route}: {kind}";
                            survey[key] = survey.TryGetValue(key, out var seen) ? (seen.Count + 1, seen.Example) : (1, e.Message);
                        }

                        return;
                    }

                    Check(request, reply, context, before, after, created, ok, scene);
                },
                writeLine: output.WriteLine,
                seed: seed,
                iter: iterations ?? -1,
                time: iterations is null ? seconds : -1,
                threads: 1,
                print: r => r.ToString());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new Xunit.Sdk.XunitException(
                $"{e.Message}\n=> {e.InnerException?.Message}\n\n{sent} requests sent ({accepted} accepted, {refused} refused). Replay the seed above with:\n" +
                "  MEMRL_FUZZ_SEED=<seed> MEMRL_FUZZ_ITERATIONS=1 dotnet test tests/MemRL.Api.Tests --no-build --filter FullyQualifiedName~HostileFuzz");
        }

        output.WriteLine($"{sent} requests sent ({accepted} accepted, {refused} refused)");
        Assert.True(sent > 0, "the fuzzer sent no request");
        if (survey is { Count: > 0 })
        {
            throw new Xunit.Sdk.XunitException($"{survey.Values.Sum(v => v.Count)} of {sent} requests broke the contract, in {survey.Count} classes:\n" + string.Join("\n\n",
                survey.OrderByDescending(kv => kv.Value.Count).Select(kv => $"[{kv.Value.Count}] {kv.Key}\n  e.g. {kv.Value.Example.Replace("\n", "\n  ", StringComparison.Ordinal)}")));
        }
    }

    // The properties of one exchange: never a 5xx; an error is problem details and changes nothing; dot segments never pass.
    private static void Check(FuzzRequest request, WireReply reply, string context, string before, string after, bool created, bool ok, Scene scene)
    {
        Assert.True(reply.Status < 500, $"{context}\n=> {reply.Status}: {ProblemAssert.Cut(reply.Body)}");
        if (!ok)
        {
            // HEAD answers carry no body by definition; Kestrel's own refusals of unparsable requests cannot carry one.
            if (request.Method == "HEAD")
            {
                Assert.True(reply.MediaType is null or "application/problem+json", $"{context}\n=> a {reply.Status} to HEAD announced {reply.MediaType}");
            }
            else if (!ProblemAssert.IsTransportRejection(reply))
            {
                ProblemAssert.IsProblem(reply, context);
            }

            if (before != after || created)
            {
                scene.Dirty = true;
            }

            Assert.False(created, $"{context}\n=> a refused request made bank {scene.NewBank}");
            Assert.True(before == after, $"{context}\n=> {reply.Status} changed the state:\n{StateFingerprint.Diff(before, after)}");
        }
        else
        {
            Assert.False(request.HasDotSegment, $"{context}\n=> a path with dot segments was accepted ({reply.Status}): {ProblemAssert.Cut(reply.Body)}");
        }
    }
}

/// <summary>
/// One fuzzed request, built from a list of choices (CsCheck shrinks the choices towards 0, which picks the first,
/// plainest entry of every pool below: a shrunk failure reads as the plainest request that still fails).
/// </summary>
public sealed record FuzzRequest(string Method, string Path, string Key, IReadOnlyList<(string Name, string Value)> Headers, string? ContentType, string? Body)
{
    private static readonly string[] Numbers =
    [
        "1", "0", "-0", "-1", "0.5", "1.5", "2", "1e308", "-1.7e308", "1.7e308", "1e309", "-1e309", "5e-324", "1e-45", "2147483647", "2147483648",
        "-2147483649", "99999999999999999999", "NaN", "Infinity", "-Infinity", "\"NaN\"", "\"Infinity\"", "\"1\"", "null", "true", "\"x\"", "[]", "{}", "1e38",
    ];

    private static readonly string[] Strings =
    [
        "\"{token}\"", "\"x\"", "\"\"", "\"{forgedToken}\"", "\"{otherToken}\"", "\"{betaToken}\"", "\"a.b\"", "\"a.b.c\"", "\".\"", "\"garbage\"",
        "\"\\u0000\"", "\"" + new string('z', 3000) + "\"", "5", "null", "[]", "{}", "\"{cursor}\"", "\"{id}\"", "\"{bank}\"",
    ];

    private static readonly string[] Segments =
    [
        "..", ".", "%2E%2E", "%2e%2e", ".%2E", "%2E", "%2F", "a%2Fb", "%5C", "%00", "%20", "%C0%AE%C0%AE", "%252E%252E", "%C3%A9", "{otherBank}",
        "{betaOnlyBank}", "{forgedId}", "{otherId}", "{betaId}", "{notReturned}", "x", "", new string('s', 300), "a\u0001b", "..;", "%",
    ];

    private static readonly string[] Ids = ["\"{returned}\"", "\"{returned1}\"", "\"{notReturned}\"", "\"{otherId}\"", "\"{betaId}\"", "\"{forgedId}\"", "\"garbage\"", "null", "5"];

    private static readonly (string Method, string Path, string[] Members)[] Routes =
    [
        ("POST", "/v1/banks/{bank}/recall", ["query", "queryText", "k1", "k2", "lambda", "delta", "requireFullCoverage", "embedderId"]),
        ("POST", "/v1/banks/{bank}/reward", ["token", "reward", "memoryIds"]),
        ("POST", "/v1/banks/{bank}/memories", ["intent", "intentText", "experience", "success", "recallToken", "embedderId"]),
        ("GET", "/v1/banks/{bank}/memories", []),
        ("GET", "/v1/banks/{bank}/memories/{id}", []),
        ("DELETE", "/v1/banks/{bank}/memories/{id}", []),
        ("GET", "/v1/banks/{bank}", []),
        ("GET", "/v1/banks/{bank}/stats", []),
        ("PATCH", "/v1/banks/{bank}/options", ["alpha", "lambda", "k1", "k2", "delta", "mergeThreshold", "maxMemoriesPerKey", "epsilon"]),
        ("PUT", "/v1/banks/{bank}/options", ["alpha", "lambda", "k1", "k2", "delta", "mergeThreshold"]),
        ("POST", "/v1/banks/{bank}/calibrate", ["sample", "apply"]),
        ("POST", "/v1/banks", ["name", "dimension", "embedderId", "shardCount", "options", "index"]),
        ("DELETE", "/v1/banks/{bank}", []),
    ];

    /// <summary>The route template this request was made from (for grouping failures).</summary>
    public string Route { get; init; } = "";

    private static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    private static readonly string[] Keys = ["alpha", "alpha", "alpha", "reader", "beta", "none", "unknown"];
    private static readonly string?[] ContentTypes = ["application/json", "application/json", "application/json; charset=utf-8", "text/plain", null, "application/xml", "application/json; charset=utf-16", "*/*"];

    /// <summary>True when the path holds a dot segment in any spelling: such a path must never be accepted.</summary>
    public bool HasDotSegment =>
        Path.Split('?')[0].Split('/').Any(s => Uri.UnescapeDataString(s.Replace("%25", "%2525", StringComparison.Ordinal)) is "." or ".." || s.Contains("%C0%AE", StringComparison.OrdinalIgnoreCase));

    public static FuzzRequest Build(int[] choices)
    {
        int at = 0;
        int Pick(int n) => choices[at++ % choices.Length] % n;
        bool Chance(int percent) => Pick(100) < percent;
        T One<T>(IReadOnlyList<T> pool) => pool[Pick(pool.Count)];

        var (method, path, members) = One(Routes);
        string route = path;
        if (Chance(10))
        {
            method = One(Methods);
        }

        // Path: as routed, or one segment mutated, or a segment appended.
        var segments = path.Split('/').ToList();
        int mutation = Pick(10);
        if (mutation < 3)
        {
            segments[1 + Pick(segments.Count - 1)] = One(Segments);
        }
        else if (mutation < 5)
        {
            segments.Add(One(Segments));
        }
        else if (mutation == 5)
        {
            segments.Insert(1 + Pick(segments.Count - 1), One(Segments));
        }

        path = string.Join('/', segments);
        if (path.EndsWith("/memories", StringComparison.Ordinal) && method == "GET" && Chance(70))
        {
            var query = new List<string>();
            if (Chance(60))
            {
                query.Add("limit=" + One(["1", "2", "0", "-1", "1000", "1001", "2147483648", "abc", "1.5", "", "1e3"]));
            }

            if (Chance(60))
            {
                query.Add("cursor=" + One(["{cursor}", "{otherCursor}", "{betaCursor}", "{forgedCursor}", "garbage", "a.b", "", "%00", new string('A', 500)]));
            }

            path += "?" + string.Join('&', query);
        }

        string key = One(Keys);
        var headers = new List<(string, string)>();
        if (key == "none" && Chance(50))
        {
            headers.Add(("Authorization", One(["Basic dXNlcjpwYXNz", "Bearer ", "Bearer", "bearer x", "Token abc", "Bearer a b c"])));
        }

        if (Chance(30))
        {
            headers.Add(("Idempotency-Key", One(["fuzz-1", "fuzz-2", "", new string('k', 201), "a\u0001b", "{token}"])));
        }

        if (Chance(10))
        {
            headers.Add(("Accept", One(["text/html", "application/xml", "*/*"])));
        }

        string? body = null;
        if (members.Length > 0 || Chance(10))
        {
            body = Pick(10) switch
            {
                < 7 => ObjectOf(members.Length > 0 ? members : ["x"], Pick, Chance, One),
                7 => Garbage(Pick, One),
                8 => Truncate(ObjectOf(members.Length > 0 ? members : ["x"], Pick, Chance, One), Pick),
                _ => One(["[]", "null", "\"x\"", "123", "", "{}", new string('[', 3000)]),
            };
        }

        return new FuzzRequest(method, path, key, headers, body is null ? null : One(ContentTypes), body) { Route = route };
    }

    private static string ObjectOf(string[] members, Func<int, int> pick, Func<int, bool> chance, Func<IReadOnlyList<string>, string> one)
    {
        var parts = new List<string>();
        foreach (string member in members)
        {
            if (!chance(55))
            {
                continue;
            }

            parts.Add($"\"{member}\":{ValueOf(member, pick, chance, one)}");
        }

        if (chance(10))
        {
            parts.Add($"\"{one(["lamda", "k3", "sucess", "rewrd", "$type", "Query", "__proto__"])}\":{one(Numbers)}");
        }

        return "{" + string.Join(',', parts) + "}";
    }

    private static string ValueOf(string member, Func<int, int> pick, Func<int, bool> chance, Func<IReadOnlyList<string>, string> one)
    {
        switch (member)
        {
            case "query" or "intent":
                return pick(8) switch
                {
                    < 4 => HostileCatalogue.V(pick(Dimension)),
                    4 => HostileCatalogue.VAt3(one(Numbers)),
                    5 => HostileCatalogue.VAll(one(["1e38", "-1e38", "3e38", "0", "-0", "1e-45", "1"]), new[] { Dimension, Dimension, 3, 0, 1000 }[pick(5)]),
                    _ => one(Numbers),
                };
            case "token" or "recallToken" or "embedderId" or "queryText" or "intentText" or "experience":
                return chance(50) && member is "token" or "recallToken" ? "\"{token}\"" : one(Strings);
            case "memoryIds":
                return pick(4) == 0 ? one(Numbers) : "[" + string.Join(',', Enumerable.Range(0, pick(4)).Select(_ => one(Ids))) + "]";
            case "success" or "apply" or "requireFullCoverage":
                return one(["true", "false", "null", "\"true\"", "1", "[]"]);
            case "name":
                return one(["\"{newBank}\"", "\"{bank}\"", "\"\"", "\"a b\"", "\"..\"", "\"a/b\"", "\"" + new string('n', 200) + "\"", "5", "null"]);
            case "dimension":
                return one(["16", "16", "0", "-1", "8193", "2147483648", "\"16\"", "1.5", "null"]);
            case "options":
                return ObjectOf(["alpha", "lambda", "k1", "k2", "delta", "mergeThreshold"], pick, chance, one);
            case "index":
                return ObjectOf(["m", "efConstruction", "efSearch", "exact"], pick, chance, one);
            default:
                return one(Numbers);
        }
    }

    private static string Garbage(Func<int, int> pick, Func<IReadOnlyList<string>, string> one)
    {
        var text = new StringBuilder();
        int length = pick(64);
        for (int i = 0; i < length; i++)
        {
            text.Append(one(["{", "}", "[", "]", ",", ":", "\"", "\\", "a", "1", "e", "-", ".", " ", "NaN", "null", "\u00e9", "\u0001"]));
        }

        return text.ToString();
    }

    private static string Truncate(string json, Func<int, int> pick) => json.Length <= 1 ? json : json[..pick(json.Length)];

    public Task<WireReply> SendAsync(Scene scene) =>
        new HostileCase("fuzz", Method, Path, Body, 0) { Key = Key, Headers = Headers, ContentType = ContentType }.SendAsync(scene);

    public override string ToString()
    {
        string headers = string.Concat(Headers.Select(h => $"\n  {h.Name}: {Escape(h.Value)}"));
        string body = Body is null ? "" : $"\n  Content-Type: {ContentType ?? "(none)"}\n\n  {Escape(Body.Length > 600 ? Body[..600] + "…" : Body)}";
        return string.Create(CultureInfo.InvariantCulture, $"{Method} {Escape(Path.Length > 300 ? Path[..300] + "…" : Path)} (key {Key}){headers}{body}");
    }

    private static string Escape(string s) => string.Concat(s.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
}

using System.Globalization;
using System.Text.Json.Nodes;
using MemRL.LocalCluster;

namespace MemRL.Api.Tests;

/// <summary>
/// Runs only where node is on the PATH and <c>npm ci</c> has installed sdk/typescript's devDependencies (.ci/run does);
/// elsewhere it says why it skipped.
/// </summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (TypeScriptSdk.Node is null)
        {
            Skip = "node is not on the PATH; install Node 20+ (CI does) to build and test the TypeScript SDK.";
        }
        else if (!File.Exists(TypeScriptSdk.Tool("typescript", "bin", "tsc")) || !File.Exists(TypeScriptSdk.Tool("openapi-typescript", "bin", "cli.js")))
        {
            Skip = $"{Path.Combine(TypeScriptSdk.SdkPath, "node_modules")} is not installed; run 'npm ci' there (.ci/run does).";
        }
    }
}

/// <summary>One silo process as a user starts it (SQLite, a generated local key, free ports), shared by the tests.</summary>
public sealed class TypeScriptSdk : IAsyncLifetime
{
    internal static readonly string Root = LocalSilo.FindRoot(AppContext.BaseDirectory);
    internal static readonly string SdkPath = Path.Combine(Root, "sdk", "typescript");

    internal static string? Node { get; } = ExternalProcess.OnPath("node");

    internal static string Tool(params string[] path) => Path.Combine([SdkPath, "node_modules", .. path]);

    private string? _work;

    public LocalSilo? Silo { get; private set; }

    public string Key { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (Node is null || !File.Exists(Tool("typescript", "bin", "tsc")))
        {
            return;
        }

        _work = Directory.CreateTempSubdirectory("memrl-typescript-").FullName;
        string keyFile = Path.Combine(_work, "api-key.local");
        var env = new Dictionary<string, string>
        {
            ["MemRL__Api__Urls"] = $"http://127.0.0.1:{ApiSilo.FreePort()}",
            ["MemRL__Api__LocalKeyPath"] = keyFile,
            ["MemRL__Api__LocalKeyRingPath"] = Path.Combine(_work, "api-keys.json"),
            ["MemRL__Cluster__SiloPort"] = ApiSilo.FreePort().ToString(CultureInfo.InvariantCulture),
            ["MemRL__Cluster__GatewayPort"] = ApiSilo.FreePort().ToString(CultureInfo.InvariantCulture),
            ["MemRL__Storage__SqlitePath"] = Path.Combine(_work, "memrl.db"),
        };
        Silo = await LocalSilo.StartAsync(Root, env, TimeSpan.FromMinutes(1));
        Key = (await File.ReadAllTextAsync(keyFile)).Trim();
    }

    public Task DisposeAsync()
    {
        Silo?.Kill();
        if (_work is not null)
        {
            Directory.Delete(_work, recursive: true);
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// The TypeScript SDK (sdk/typescript): its committed OpenAPI document and generated types match what the silo
/// serves (so neither can drift from the server's contract), and it builds with tsc and passes its unit tests (fake
/// servers in the process) and integration tests against a real silo process under node's test runner.
/// </summary>
public sealed class TypeScriptSdkTests(TypeScriptSdk sdk) : IClassFixture<TypeScriptSdk>
{
    private const string Regenerate = "run 'npm run generate' in sdk/typescript (with the silo built: dotnet build silo -c Release) and commit openapi/v1.json and src/generated/openapi.ts";

    [NodeFact]
    public async Task CommittedOpenApiDocument_IsWhatTheSiloServes()
    {
        using var http = new HttpClient { BaseAddress = new Uri(sdk.Silo!.Url) };
        var served = JsonNode.Parse(await http.GetStringAsync("/openapi/v1.json"))!.AsObject();
        // The address the silo happened to listen on is not part of the contract; npm run generate drops it too.
        served.Remove("servers");
        var committed = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(TypeScriptSdk.SdkPath, "openapi", "v1.json")));
        string? at = FirstDifference(served, committed, "$");
        Assert.True(at is null, $"sdk/typescript/openapi/v1.json differs from the silo's /openapi/v1.json at {at}. To update: {Regenerate}.");
    }

    /// <summary>The path of the first member where the two documents differ, or null when they are equal.</summary>
    private static string? FirstDifference(JsonNode? a, JsonNode? b, string path)
    {
        switch (a, b)
        {
            case (JsonObject x, JsonObject y):
                foreach (string name in x.Select(p => p.Key).Union(y.Select(p => p.Key)))
                {
                    if (!x.ContainsKey(name) || !y.ContainsKey(name))
                    {
                        return $"{path}.{name} ({(x.ContainsKey(name) ? "not committed" : "no longer served")})";
                    }

                    if (FirstDifference(x[name], y[name], $"{path}.{name}") is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            case (JsonArray x, JsonArray y):
                for (int i = 0; i < Math.Max(x.Count, y.Count); i++)
                {
                    if (i >= x.Count || i >= y.Count)
                    {
                        return $"{path}[{i}] (lengths {x.Count} served, {y.Count} committed)";
                    }

                    if (FirstDifference(x[i], y[i], $"{path}[{i}]") is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            default:
                return JsonNode.DeepEquals(a, b) ? null : $"{path} (served {a?.ToJsonString() ?? "null"}, committed {b?.ToJsonString() ?? "null"})";
        }
    }

    [NodeFact]
    public async Task CommittedTypes_AreWhatOpenApiTypescriptMakesOfTheCommittedDocument()
    {
        string work = Directory.CreateTempSubdirectory("memrl-openapi-ts-").FullName;
        try
        {
            string output = Path.Combine(work, "openapi.ts");
            var (code, log) = await ExternalProcess.RunAsync(TypeScriptSdk.Node!,
                [TypeScriptSdk.Tool("openapi-typescript", "bin", "cli.js"), Path.Combine("openapi", "v1.json"), "--output", output],
                TypeScriptSdk.SdkPath, TimeSpan.FromMinutes(1));
            Assert.True(code == 0, log);
            AssertSameText(await File.ReadAllTextAsync(output), await File.ReadAllTextAsync(Path.Combine(TypeScriptSdk.SdkPath, "src", "generated", "openapi.ts")),
                "sdk/typescript/src/generated/openapi.ts is not what openapi-typescript makes of openapi/v1.json");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [NodeFact]
    public async Task Sdk_BuildsStrict_AndItsTestsPass_AgainstARealSiloProcess()
    {
        string work = Directory.CreateTempSubdirectory("memrl-typescript-build-").FullName;
        try
        {
            // The library alone first (no node types, as a browser build sees it), then with the tests into work/.
            var (code, output) = await ExternalProcess.RunAsync(TypeScriptSdk.Node!,
                [TypeScriptSdk.Tool("typescript", "bin", "tsc"), "-p", "tsconfig.json", "--outDir", Path.Combine(work, "dist")],
                TypeScriptSdk.SdkPath, TimeSpan.FromMinutes(2));
            Assert.True(code == 0, $"tsc -p tsconfig.json failed:\n{output}");
            (code, output) = await ExternalProcess.RunAsync(TypeScriptSdk.Node!,
                [TypeScriptSdk.Tool("typescript", "bin", "tsc"), "-p", "tsconfig.test.json", "--outDir", Path.Combine(work, "build")],
                TypeScriptSdk.SdkPath, TimeSpan.FromMinutes(2));
            Assert.True(code == 0, $"tsc -p tsconfig.test.json failed:\n{output}");

            (code, output) = await ExternalProcess.RunAsync(TypeScriptSdk.Node!, ["--test", Path.Combine(work, "build", "tests")],
                work, TimeSpan.FromMinutes(3), new()
                {
                    ["MEMRL_URL"] = sdk.Silo!.Url,
                    ["MEMRL_API_KEY"] = sdk.Key,
                    // The tests are compiled into work/, away from the tree: the shared paraphrase set is found here.
                    ["MEMRL_TESTDATA"] = Path.Combine(TypeScriptSdk.Root, "sdk", "testdata"),
                });
            Assert.True(code == 0, $"node --test failed:\n{output}\nsilo output:\n{sdk.Silo.Log}");
            Assert.DoesNotContain("integration tests skipped", output, StringComparison.Ordinal);
            Assert.Matches(@"# fail 0\b", output);
            Assert.Matches(@"# skipped 0\b", output);
            var passed = System.Text.RegularExpressions.Regex.Match(output, @"# pass (\d+)");
            Assert.True(passed.Success && int.Parse(passed.Groups[1].Value, CultureInfo.InvariantCulture) >= 30, output);
            Assert.DoesNotContain("# SKIP", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static void AssertSameText(string actual, string committed, string what)
    {
        string[] a = actual.ReplaceLineEndings("\n").TrimEnd().Split('\n');
        string[] c = committed.ReplaceLineEndings("\n").TrimEnd().Split('\n');
        int line = 0;
        while (line < a.Length && line < c.Length && a[line] == c[line])
        {
            line++;
        }

        if (line < a.Length || line < c.Length)
        {
            Assert.Fail($"{what} from line {line + 1}: committed {(line < c.Length ? c[line] : "(end)")} but now {(line < a.Length ? a[line] : "(end)")}. To update: {Regenerate}.");
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MemRL.LocalCluster;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace MemRL.Api.Tests;

/// <summary>One silo process as a user starts it (SQLite in a temporary folder, free ports) with the test keys configured.</summary>
public sealed class McpSilo : IAsyncLifetime
{
    internal static readonly string Root = LocalSilo.FindRoot(AppContext.BaseDirectory);

    internal static string SiloDll => Path.Combine(Root, "silo", "bin", "Release", "net10.0", "MemRL.Silo.dll");

    private string _work = "";

    public LocalSilo Silo { get; private set; } = null!;

    public string Url => Silo.Url;

    public async Task InitializeAsync()
    {
        _work = Directory.CreateTempSubdirectory("memrl-mcp-").FullName;
        var env = new Dictionary<string, string>
        {
            ["MemRL__Api__Urls"] = $"http://127.0.0.1:{ApiSilo.FreePort()}",
            ["MemRL__Cluster__SiloPort"] = ApiSilo.FreePort().ToString(CultureInfo.InvariantCulture),
            ["MemRL__Cluster__GatewayPort"] = ApiSilo.FreePort().ToString(CultureInfo.InvariantCulture),
            ["MemRL__Storage__SqlitePath"] = Path.Combine(_work, "memrl.db"),
        };
        int i = 0;
        foreach (var (key, (tenant, readOnly)) in ApiSilo.Keys)
        {
            env[$"MemRL__Api__Keys__{i}__Tenant"] = tenant;
            env[$"MemRL__Api__Keys__{i}__Sha256"] = ApiKeyRing.Hash(key);
            env[$"MemRL__Api__Keys__{i}__ReadOnly"] = readOnly ? "true" : "false";
            i++;
        }

        Silo = await LocalSilo.StartAsync(Root, env, TimeSpan.FromMinutes(1));
    }

    /// <summary>An MCP client over Streamable HTTP with <paramref name="key"/>, the SDK negotiating as it does by default.</summary>
    public Task<McpClient> HttpClientAsync(string key) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri($"{Url}/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {key}" },
        }));

    public Task DisposeAsync()
    {
        Silo.Kill();
        Directory.Delete(_work, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The MCP server end to end with the SDK's MCP client against a real silo process: Streamable HTTP at /mcp, and the
/// stdio bridge (<c>MemRL.Silo mcp</c>, from the built binary) both to that silo and starting its own.
/// </summary>
public sealed class McpTests(McpSilo fixture) : IClassFixture<McpSilo>
{
    private static readonly string Writer = ApiSilo.KeyOf("alpha");
    private static readonly string Reader = ApiSilo.KeyOf("alpha", readOnly: true);

    private static readonly string[] AllTools = ["bank_stats", "delete_memory", "edit_memory", "get", "list", "recall", "reward", "write"];

    [Fact]
    public async Task Http_ListsEveryTool_AndAReadOnlyKeyOnlyTheReadTools()
    {
        await using var writer = await fixture.HttpClientAsync(Writer);
        var tools = await writer.ListToolsAsync();
        Assert.Equal(AllTools, tools.Select(t => t.Name).Order());
        var recall = tools.Single(t => t.Name == "recall").ProtocolTool;
        Assert.Contains("BEFORE acting", recall.Description);
        Assert.Equal(["query"], recall.InputSchema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.True(recall.Annotations?.ReadOnlyHint);
        Assert.False(tools.Single(t => t.Name == "write").ProtocolTool.Annotations?.ReadOnlyHint);
        Assert.Contains("recall", writer.ServerInstructions);

        await using var reader = await fixture.HttpClientAsync(Reader);
        Assert.Equal(["bank_stats", "get", "list", "recall"], (await reader.ListToolsAsync()).Select(t => t.Name).Order());
    }

    [Fact]
    public async Task Http_RecallRewardWrite_TheLoopLearns()
    {
        await using var client = await fixture.HttpClientAsync(Writer);
        string bank = ApiSiloFixture.NewBankName("mcp-loop");
        await RunLoopAsync(client, bank);
    }

    [Fact]
    public async Task Http_ReadOnlyKey_IsRefusedOnWrite_AndNothingChanges()
    {
        string bank = ApiSiloFixture.NewBankName("mcp-ro");
        await using var writer = await fixture.HttpClientAsync(Writer);
        await CallOkAsync(writer, "write", new() { ["bank"] = bank, ["intent"] = "reset a password", ["experience"] = "send the reset link", ["success"] = true });

        await using var reader = await fixture.HttpClientAsync(Reader);
        foreach (var (tool, args) in new (string, Dictionary<string, object?>)[]
        {
            ("write", new() { ["bank"] = bank, ["intent"] = "x", ["experience"] = "y", ["success"] = true }),
            ("reward", new() { ["reward"] = 1 }),
            ("delete_memory", new() { ["bank"] = bank, ["memoryId"] = "00000000-0000-0000-0000-000000000000" }),
            ("edit_memory", new() { ["bank"] = bank, ["memoryId"] = "00000000-0000-0000-0000-000000000000", ["experience"] = "x" }),
        })
        {
            var error = await CallErrorAsync(reader, tool, args);
            Assert.Equal("Authorization", error.GetProperty("field").GetString());
            Assert.Contains("read-only", error.GetProperty("message").GetString());
        }

        var stats = await CallOkAsync(reader, "bank_stats", new() { ["bank"] = bank });
        Assert.Equal(1, stats.GetProperty("memories").GetInt32());
        // Reading is allowed: the reader's recall returns the writer's memory.
        var recall = await CallOkAsync(reader, "recall", new() { ["bank"] = bank, ["query"] = "how do I reset my password" });
        Assert.Single(recall.GetProperty("memories").EnumerateArray());
    }

    [Fact]
    public async Task Http_EditMemory_CorrectsTheTextAndMetadata_KeepsIdAndQ_AndRefusesBadArgumentsChangingNothing()
    {
        string bank = ApiSiloFixture.NewBankName("mcp-edit");
        await using var client = await fixture.HttpClientAsync(Writer);
        var written = await CallOkAsync(client, "write", new() { ["bank"] = bank, ["intent"] = "reset a password", ["experience"] = "call support", ["success"] = true });
        string id = written.GetProperty("memoryId").GetString()!;

        var edited = await CallOkAsync(client, "edit_memory", new() { ["bank"] = bank, ["memoryId"] = id, ["experience"] = "send the reset link", ["metadata"] = new Dictionary<string, string> { ["fixed"] = "yes" } });
        Assert.Equal((id, "send the reset link", 1, "yes"), (edited.GetProperty("memoryId").GetString(), edited.GetProperty("experience").GetString(),
            edited.GetProperty("revision").GetInt32(), edited.GetProperty("metadata").GetProperty("fixed").GetString()));
        Assert.Equal(written.GetProperty("q").GetDouble(), edited.GetProperty("q").GetDouble());
        // Asked again after another edit, the same edit applies again (its operation id names the revision it read).
        await CallOkAsync(client, "edit_memory", new() { ["bank"] = bank, ["memoryId"] = id, ["experience"] = "call support" });
        var again = await CallOkAsync(client, "edit_memory", new() { ["bank"] = bank, ["memoryId"] = id, ["experience"] = "send the reset link" });
        Assert.Equal(("send the reset link", 3), (again.GetProperty("experience").GetString(), again.GetProperty("revision").GetInt32()));

        foreach (var (args, field) in new (Dictionary<string, object?>, string)[]
        {
            (new() { ["bank"] = bank, ["memoryId"] = id }, "experience"),
            (new() { ["bank"] = bank, ["memoryId"] = "..", ["experience"] = "x" }, "memoryId"),
            (new() { ["bank"] = bank, ["memoryId"] = id, ["metadata"] = new Dictionary<string, string> { ["bad key!"] = "v" } }, "metadata"),
            (new() { ["bank"] = bank, ["memoryId"] = id, ["experience"] = new string('x', MemRL.GrainInterfaces.BankLimits.MaxExperienceLength + 1) }, "experience"),
        })
        {
            var error = await CallErrorAsync(client, "edit_memory", args);
            Assert.StartsWith(field, error.GetProperty("field").GetString());
        }

        var got = await CallOkAsync(client, "get", new() { ["bank"] = bank, ["memoryId"] = id });
        Assert.Equal(("send the reset link", 3), (got.GetProperty("experience").GetString(), got.GetProperty("revision").GetInt32()));
    }

    [Fact]
    public async Task Http_Write_WithATimeToLive_StoresItsExpiry_OnceForARetriedCall_AndRefusesABadOne()
    {
        string bank = ApiSiloFixture.NewBankName("mcp-ttl");
        await using var client = await fixture.HttpClientAsync(Writer);
        var args = new Dictionary<string, object?> { ["bank"] = bank, ["intent"] = "rotate the api key", ["experience"] = "use the console", ["success"] = true, ["ttlSeconds"] = 3600 };
        var written = await CallOkAsync(client, "write", args);
        string id = written.GetProperty("memoryId").GetString()!;
        Assert.Equal(id, (await CallOkAsync(client, "write", args)).GetProperty("memoryId").GetString());
        var got = await CallOkAsync(client, "get", new() { ["bank"] = bank, ["memoryId"] = id });
        Assert.Equal(got.GetProperty("createdAt").GetDateTimeOffset().AddHours(1), got.GetProperty("expiresAt").GetDateTimeOffset());

        var error = await CallErrorAsync(client, "write", new() { ["bank"] = bank, ["intent"] = "x", ["experience"] = "y", ["success"] = true, ["ttlSeconds"] = 0 });
        Assert.Equal("ttlSeconds", error.GetProperty("field").GetString());
        var stats = await CallOkAsync(client, "bank_stats", new() { ["bank"] = bank });
        Assert.Equal(1, stats.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task Http_BadArguments_AreToolErrorsNamingTheArgument_AndChangeNothing()
    {
        string bank = ApiSiloFixture.NewBankName("mcp-bad");
        await using var client = await fixture.HttpClientAsync(Writer);
        var written = await CallOkAsync(client, "write", new() { ["bank"] = bank, ["intent"] = "reset a password", ["experience"] = "send the reset link", ["success"] = true });
        string memoryId = written.GetProperty("memoryId").GetString()!;
        var cases = new (string Tool, Dictionary<string, object?> Args, string Field, string? Actual)[]
        {
            ("recall", new() { ["bank"] = bank }, "query", null),
            ("recall", new() { ["bank"] = bank, ["query"] = "   " }, "query", "   "),
            ("recall", new() { ["bank"] = bank, ["query"] = "q", ["k2"] = "three" }, "k2", "the string 'three'"),
            ("recall", new() { ["bank"] = bank, ["query"] = "q", ["k2"] = 2.5 }, "k2", "2.5"),
            ("recall", new() { ["bank"] = bank, ["query"] = "q", ["lambda"] = 2 }, "lambda", "2"),
            ("recall", new() { ["bank"] = bank, ["query"] = "q", ["k1"] = 2, ["k2"] = 3 }, "k2", null),
            ("recall", new() { ["bank"] = bank, ["query"] = "q", ["lamda"] = 0.5 }, "lamda", "an unknown argument"),
            ("recall", new() { ["bank"] = "no/such", ["query"] = "q" }, "bank", "no/such"),
            ("write", new() { ["bank"] = bank, ["intent"] = "i", ["experience"] = "e" }, "success", null),
            ("write", new() { ["bank"] = bank, ["intent"] = "i", ["experience"] = "e", ["success"] = "yes" }, "success", "the string 'yes'"),
            ("write", new() { ["bank"] = bank, ["intent"] = "i", ["experience"] = "e", ["success"] = true, ["recallId"] = "zzzzzz" }, "recallId", "zzzzzz"),
            ("reward", new() { ["reward"] = 1, ["recallId"] = "zzzzzz" }, "recallId", "zzzzzz"),
            ("reward", new() { ["recallId"] = "zzzzzz" }, "reward", null),
            ("reward", new() { ["reward"] = JsonDocument.Parse("1e999").RootElement }, "reward", "1e999"),
            ("get", new() { ["bank"] = bank, ["memoryId"] = "not-an-id" }, "memoryId", "not-an-id"),
            ("list", new() { ["bank"] = bank, ["limit"] = 0 }, "limit", "0"),
            ("list", new() { ["bank"] = bank, ["cursor"] = "garbage" }, "cursor", null),
            ("write", new() { ["bank"] = bank, ["intent"] = "i", ["experience"] = "e", ["success"] = true, ["userId"] = "a\tb" }, "userId", null),
            ("write", new() { ["bank"] = bank, ["intent"] = "i", ["experience"] = "e", ["success"] = true, ["metadata"] = new Dictionary<string, object> { ["k"] = 1 } }, "metadata.k", "the number 1"),
            ("write", new() { ["bank"] = bank, ["intent"] = "i", ["experience"] = "e", ["success"] = true, ["metadata"] = new Dictionary<string, object> { ["bad key"] = "v" } }, "metadata.bad key", null),
            ("recall", new() { ["bank"] = bank, ["query"] = "q", ["runId"] = new string('r', 129) }, "runId", null),
        };
        foreach (var (tool, args, field, actual) in cases)
        {
            var error = await CallErrorAsync(client, tool, args);
            Assert.True(field == error.GetProperty("field").GetString(), $"{tool} {JsonSerializer.Serialize(args)}: {error}");
            Assert.False(string.IsNullOrEmpty(error.GetProperty("expected").GetString()), error.ToString());
            if (actual is not null)
            {
                Assert.True(actual == error.GetProperty("actual").GetString(), $"{tool} {JsonSerializer.Serialize(args)}: {error}");
            }
        }

        // A fresh session with no recall: reward has nothing to default to, and says so.
        var none = await CallErrorAsync(client, "reward", new() { ["reward"] = 1 });
        Assert.Equal("recallId", none.GetProperty("field").GetString());

        var stats = await CallOkAsync(client, "bank_stats", new() { ["bank"] = bank });
        Assert.Equal(1, stats.GetProperty("memories").GetInt32());
        var memory = await CallOkAsync(client, "get", new() { ["bank"] = bank, ["memoryId"] = memoryId });
        Assert.Equal(0, memory.GetProperty("visits").GetInt32());
    }

    // The scope arguments: write stores them with the memory, recall and list see only that scope's memories.
    [Fact]
    public async Task Http_ScopeArguments_KeepOneUsersMemoriesFromAnother()
    {
        string bank = ApiSiloFixture.NewBankName("mcp-scope");
        await using var client = await fixture.HttpClientAsync(Writer);
        await CallOkAsync(client, "write", new()
        {
            ["bank"] = bank, ["intent"] = "reset a password", ["experience"] = "ann: send the reset link", ["success"] = true, ["userId"] = "ann",
            ["metadata"] = new Dictionary<string, object> { ["topic"] = "auth" },
        });
        await CallOkAsync(client, "write", new() { ["bank"] = bank, ["intent"] = "reset a password", ["experience"] = "bob: call support", ["success"] = true, ["userId"] = "bob" });

        var ann = await CallOkAsync(client, "recall", new() { ["bank"] = bank, ["query"] = "how do I reset my password", ["userId"] = "ann" });
        var memory = Assert.Single(ann.GetProperty("memories").EnumerateArray());
        Assert.Equal("ann: send the reset link", memory.GetProperty("experience").GetString());
        Assert.Equal("auth", memory.GetProperty("metadata").GetProperty("topic").GetString());
        Assert.Empty((await CallOkAsync(client, "recall", new() { ["bank"] = bank, ["query"] = "reset my password", ["userId"] = "cy" })).GetProperty("memories").EnumerateArray());
        var listed = Assert.Single((await CallOkAsync(client, "list", new() { ["bank"] = bank, ["userId"] = "bob" })).GetProperty("memories").EnumerateArray());
        Assert.Equal("bob", listed.GetProperty("scope").GetProperty("userId").GetString());
        Assert.Equal(2, (await CallOkAsync(client, "bank_stats", new() { ["bank"] = bank })).GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task Http_RecallIds_BelongToTheirSessionAndTenant()
    {
        string bank = ApiSiloFixture.NewBankName("mcp-ids");
        await using var first = await fixture.HttpClientAsync(Writer);
        await CallOkAsync(first, "write", new() { ["bank"] = bank, ["intent"] = "reset a password", ["experience"] = "send the reset link", ["success"] = true });
        string recallId = (await CallOkAsync(first, "recall", new() { ["bank"] = bank, ["query"] = "reset my password" })).GetProperty("recallId").GetString()!;

        // The same key in another session, and another tenant, cannot use it; nothing is rewarded.
        await using var second = await fixture.HttpClientAsync(Writer);
        await using var beta = await fixture.HttpClientAsync(ApiSilo.KeyOf("beta"));
        foreach (var other in new[] { second, beta })
        {
            var error = await CallErrorAsync(other, "reward", new() { ["recallId"] = recallId, ["reward"] = 1 });
            Assert.Equal("recallId", error.GetProperty("field").GetString());
        }

        // Another tenant does not see the bank at all.
        var missing = await CallOkAsync(beta, "recall", new() { ["bank"] = bank, ["query"] = "reset my password" });
        Assert.Empty(missing.GetProperty("memories").EnumerateArray());
        var memory = Assert.Single((await CallOkAsync(first, "list", new() { ["bank"] = bank })).GetProperty("memories").EnumerateArray());
        Assert.Equal(0, memory.GetProperty("visits").GetInt32());
        Assert.Single((await CallOkAsync(first, "reward", new() { ["recallId"] = recallId, ["reward"] = 1 })).GetProperty("updated").EnumerateArray());
    }

    [Fact]
    public async Task Stdio_BridgesToTheRunningSilo_TheLoopLearns()
    {
        string work = Directory.CreateTempSubdirectory("memrl-mcp-stdio-").FullName;
        try
        {
            var stderr = new List<string>();
            await using var client = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
            {
                Command = "dotnet",
                Arguments = [McpSilo.SiloDll, "mcp"],
                WorkingDirectory = work,
                EnvironmentVariables = new Dictionary<string, string?> { ["MEMRL_API_KEY"] = Writer, ["MemRL__Mcp__SiloUrl"] = fixture.Url },
                StandardErrorLines = line => { lock (stderr) { stderr.Add(line); } },
            }));
            Assert.Equal(AllTools, (await client.ListToolsAsync()).Select(t => t.Name).Order());
            await RunLoopAsync(client, ApiSiloFixture.NewBankName("mcp-stdio"));
            // A silo configured elsewhere is never started here: no data folder appears.
            Assert.False(Directory.Exists(Path.Combine(work, "data")));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task Stdio_StartsTheEmbeddedSiloOnce_TwoSessionsShareIt_AndStdoutIsOnlyJsonRpc()
    {
        string work = Directory.CreateTempSubdirectory("memrl-mcp-embedded-").FullName;
        var env = new Dictionary<string, string>
        {
            ["MemRL__Api__Urls"] = $"http://127.0.0.1:{ApiSilo.FreePort()}",
            ["MemRL__Cluster__SiloPort"] = ApiSilo.FreePort().ToString(CultureInfo.InvariantCulture),
            ["MemRL__Cluster__GatewayPort"] = ApiSilo.FreePort().ToString(CultureInfo.InvariantCulture),
        };
        // Two host sessions started together in one folder: one starts the embedded silo under the lock, the other waits
        // for it and bridges to it.
        await using var first = RawStdio.Start(work, env);
        await using var second = RawStdio.Start(work, env);
        try
        {
            foreach (var session in new[] { first, second })
            {
                var init = await session.RequestAsync("initialize", new
                {
                    protocolVersion = "2025-11-25", capabilities = new { }, clientInfo = new { name = "raw", version = "1" },
                });
                Assert.Equal("memrl", init.GetProperty("result").GetProperty("serverInfo").GetProperty("name").GetString());
                await session.NotifyAsync("notifications/initialized");
            }

            var write = await first.RequestAsync("tools/call", new
            {
                name = "write", arguments = new { intent = "reset a password", experience = "send the reset link", success = true },
            });
            Assert.False(write.GetProperty("result").TryGetProperty("isError", out var isError) && isError.GetBoolean(), write.ToString());
            var recall = await second.RequestAsync("tools/call", new { name = "recall", arguments = new { query = "how do I reset my password" } });
            var recalled = recall.GetProperty("result").GetProperty("structuredContent");
            Assert.Single(recalled.GetProperty("memories").EnumerateArray());
            var reward = await second.RequestAsync("tools/call", new { name = "reward", arguments = new { reward = 1 } });
            Assert.Equal(recalled.GetProperty("recallId").GetString(), reward.GetProperty("result").GetProperty("structuredContent").GetProperty("recallId").GetString());

            string log = first.Stderr + second.Stderr;
            // The embedded silo ran in exactly one of them, and its local key notice went to stderr.
            Assert.Single(new[] { first, second }, s => s.Stderr.Contains("starting the embedded silo", StringComparison.Ordinal));
            Assert.Contains("No API key is configured", log, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(work, "data", "silo.lock")));
        }
        finally
        {
            // Both hosts close at once, as when the user quits: the embedded silo stops gracefully under the other's feet.
            await Task.WhenAll(first.DisposeAsync().AsTask(), second.DisposeAsync().AsTask());
            // Every line either process wrote to stdout was JSON-RPC.
            foreach (var session in new[] { first, second })
            {
                Assert.True(session.NonProtocolLines.Count == 0, $"stdout carried: {string.Join('\n', session.NonProtocolLines)}\nstderr:\n{session.Stderr}");
            }

            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>write (creating the bank) → recall → reward by id → reward again refused with another value → write with the recallId.</summary>
    private static async Task RunLoopAsync(McpClient client, string bank)
    {
        var written = await CallOkAsync(client, "write", new() { ["bank"] = bank, ["intent"] = "reset a password", ["experience"] = "send the reset link", ["success"] = true });
        Assert.True(written.GetProperty("written").GetBoolean());
        Assert.True(written.GetProperty("createdBank").GetBoolean());
        string memoryId = written.GetProperty("memoryId").GetString()!;

        var recall = await CallOkAsync(client, "recall", new() { ["bank"] = bank, ["query"] = "how do I reset my password" });
        string recallId = recall.GetProperty("recallId").GetString()!;
        Assert.Matches("^[a-z2-9]{6}$", recallId);
        var memory = Assert.Single(recall.GetProperty("memories").EnumerateArray());
        Assert.Equal(memoryId, memory.GetProperty("memoryId").GetString());
        Assert.True(memory.GetProperty("similarity").GetDouble() > 0.35);
        double qBefore = memory.GetProperty("q").GetDouble();

        var reward = await CallOkAsync(client, "reward", new() { ["recallId"] = recallId, ["reward"] = 1 });
        var updated = Assert.Single(reward.GetProperty("updated").EnumerateArray());
        Assert.Equal(memoryId, updated.GetProperty("memoryId").GetString());
        Assert.True(updated.GetProperty("q").GetDouble() > qBefore, reward.ToString());
        // The session's last recall is the default, and it already took its reward.
        var conflict = await CallErrorAsync(client, "reward", new() { ["reward"] = 0 });
        Assert.Equal("reward", conflict.GetProperty("field").GetString());

        var second = await CallOkAsync(client, "write", new()
        {
            ["bank"] = bank, ["intent"] = "reset a password by email", ["experience"] = "the link expires in an hour", ["success"] = true, ["recallId"] = recallId,
        });
        Assert.False(second.TryGetProperty("createdBank", out _));
        var got = await CallOkAsync(client, "get", new() { ["bank"] = bank, ["memoryId"] = memoryId });
        Assert.Equal(1, got.GetProperty("visits").GetInt32());
        var list = await CallOkAsync(client, "list", new() { ["bank"] = bank });
        Assert.Equal(2, list.GetProperty("memories").GetArrayLength());
        var stats = await CallOkAsync(client, "bank_stats", new() { ["bank"] = bank });
        Assert.Equal(2, stats.GetProperty("memories").GetInt32());

        var deleted = await CallOkAsync(client, "delete_memory", new() { ["bank"] = bank, ["memoryId"] = second.GetProperty("memoryId").GetString() });
        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        Assert.Equal(1, (await CallOkAsync(client, "bank_stats", new() { ["bank"] = bank })).GetProperty("memories").GetInt32());
    }

    private static async Task<JsonElement> CallOkAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args);
        Assert.True(result.IsError != true, $"{tool}: {Text(result)}");
        return result.StructuredContent is { } structured ? structured : JsonDocument.Parse(Text(result)).RootElement;
    }

    private static async Task<JsonElement> CallErrorAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args);
        Assert.True(result.IsError == true, $"{tool} {JsonSerializer.Serialize(args)} should fail: {Text(result)}");
        Assert.StartsWith("Error: ", Text(result));
        return result.StructuredContent!.Value.GetProperty("error");
    }

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));
}

/// <summary>
/// <c>MemRL.Silo mcp</c> driven by hand over its stdin and stdout, so the test sees every byte the process writes to
/// stdout (the SDK's client would skip a stray line) and can check that each is a JSON-RPC message.
/// </summary>
internal sealed class RawStdio : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _stderr = new();
    private readonly Dictionary<int, TaskCompletionSource<JsonElement>> _pending = [];
    private int _nextId;

    private RawStdio(Process process)
    {
        _process = process;
        process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        _ = Task.Run(ReadStdoutAsync);
    }

    public List<string> NonProtocolLines { get; } = [];

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static RawStdio Start(string directory, IReadOnlyDictionary<string, string> env)
    {
        var start = new ProcessStartInfo("dotnet", [McpSilo.SiloDll, "mcp"])
        {
            WorkingDirectory = directory, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        start.Environment.Remove("MEMRL_API_KEY");
        foreach (var (key, value) in env)
        {
            start.Environment[key] = value;
        }

        return new RawStdio(Process.Start(start)!);
    }

    public async Task<JsonElement> RequestAsync(string method, object parameters)
    {
        var done = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        int id;
        lock (_pending)
        {
            id = ++_nextId;
            _pending[id] = done;
        }

        await SendAsync(new { jsonrpc = "2.0", id, method, @params = parameters });
        try
        {
            return await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No answer to {method} within 2 minutes; the process wrote to stderr:\n{Stderr}");
        }
    }

    public Task NotifyAsync(string method) => SendAsync(new { jsonrpc = "2.0", method });

    private async Task SendAsync(object message)
    {
        await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(message));
        await _process.StandardInput.FlushAsync();
    }

    private async Task ReadStdoutAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            JsonElement message;
            try
            {
                message = JsonDocument.Parse(line).RootElement;
            }
            catch (JsonException)
            {
                lock (NonProtocolLines)
                {
                    NonProtocolLines.Add(line);
                }

                continue;
            }

            if (message.TryGetProperty("jsonrpc", out _) && message.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.Number)
            {
                lock (_pending)
                {
                    if (_pending.Remove(id.GetInt32(), out var waiter))
                    {
                        waiter.TrySetResult(message);
                    }
                }
            }
            else if (!message.TryGetProperty("jsonrpc", out _))
            {
                lock (NonProtocolLines)
                {
                    NonProtocolLines.Add(line);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        // A host ends a stdio server by closing its stdin; the bridge then stops its embedded silo gracefully.
        _process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
    }
}

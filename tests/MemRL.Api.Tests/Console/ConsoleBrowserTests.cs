using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using MemRL.LocalCluster;

namespace MemRL.Api.Tests.Console;

/// <summary>
/// The console in a real browser (headless chromium) against a silo process with known data: the numbers it renders
/// are those of <c>/stats</c>, <c>/insight</c> and <c>/explain</c>, and memory text containing markup is shown as text.
/// </summary>
public sealed class ConsoleBrowserTests
{
    // What a memory may hold: markup that would run script or add elements if the page ever parsed text as HTML.
    private const string Hostile = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"> reset the password";
    private static readonly TimeSpan BrowserTimeout = TimeSpan.FromSeconds(90);

    [ChromiumFact]
    public async Task Console_RendersTheNumbersOfTheApi_AndMemoryTextAsText()
    {
        string work = Directory.CreateTempSubdirectory("memrl-console-").FullName;
        LocalSilo? silo = null;
        try
        {
            string keyFile = Path.Combine(work, "api-key.local");
            silo = await LocalSilo.StartAsync(LocalClusterRoot.Root, new Dictionary<string, string>
            {
                ["MemRL__Api__Urls"] = $"http://127.0.0.1:{ApiSilo.FreePort()}",
                ["MemRL__Api__LocalKeyPath"] = keyFile,
                ["MemRL__Api__LocalKeyRingPath"] = Path.Combine(work, "api-keys.json"),
                ["MemRL__Cluster__SiloPort"] = ApiSilo.FreePort().ToString(CultureInfo.InvariantCulture),
                ["MemRL__Cluster__GatewayPort"] = ApiSilo.FreePort().ToString(CultureInfo.InvariantCulture),
                ["MemRL__Storage__SqlitePath"] = Path.Combine(work, "memrl.db"),
            }, TimeSpan.FromMinutes(1));
            string key = (await File.ReadAllTextAsync(keyFile)).Trim();
            using var http = new HttpClient { BaseAddress = new Uri(silo.Url) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            var (bank, hostileId) = await SeedAsync(http);
            const string query = "how do I reset my password";

            // Both views at once: a browser start is most of the test's time.
            var bankDom = HeadlessChromium.DumpDomAsync($"{silo.Url}/console#key={key}&bank={bank}&q={Uri.EscapeDataString(query)}", BrowserTimeout);
            var listDom = HeadlessChromium.DumpDomAsync($"{silo.Url}/console#key={key}", BrowserTimeout);
            var parser = new HtmlParser();
            using var page = parser.ParseDocument(await bankDom);
            using var list = parser.ParseDocument(await listDom);
            Assert.True(page.Body!.GetAttribute("data-state") == "ready", $"the bank view did not finish: {page.QuerySelector("#error")?.TextContent}\n{silo.Log}");
            Assert.True(list.Body!.GetAttribute("data-state") == "ready", $"the bank list did not finish: {list.QuerySelector("#error")?.TextContent}");

            var stats = await GetAsync(http, $"/v1/banks/{bank}/stats");
            var insight = await GetAsync(http, $"/v1/banks/{bank}/insight");
            var explanation = await PostAsync(http, $"/v1/banks/{bank}/explain", new { queryText = query });
            AssertStats(page, stats);
            AssertShards(page, insight);
            await AssertHistoriesAsync(page, http, bank, insight);
            AssertExplanation(page, explanation);
            AssertHostileTextIsText(page, hostileId);
            await AssertBankListAsync(list, http);
        }
        finally
        {
            silo?.Kill();
            Directory.Delete(work, recursive: true);
        }
    }

    // Two text banks (hashing embedder: deterministic, no model to load); the first with rewards, so Q varies.
    private static async Task<(string Bank, string HostileId)> SeedAsync(HttpClient http)
    {
        const string bank = "support";
        await PostAsync(http, "/v1/banks", new { name = bank, embedderId = "memrl-hashing/v1/64", shardCount = 2, options = new { delta = 0.1, k1 = 8, k2 = 3, mergeThreshold = 2.0 } });
        await PostAsync(http, "/v1/banks", new { name = "billing", embedderId = "memrl-hashing/v1/64", shardCount = 1 });
        var ids = new List<string>();
        string[] intents = ["reset my password", "reset a password by email", "password reset link expired", "change the account email", "close my account", Hostile];
        for (int i = 0; i < intents.Length; i++)
        {
            var written = await PostAsync(http, $"/v1/banks/{bank}/memories", new { intentText = intents[i], experience = $"{Hostile} step {i}", success = i % 3 != 2 });
            ids.Add(written.GetProperty("memoryId").GetString()!);
        }

        // Histories of every kind: an edit, and an archive then a restore (the memory is back in the tables).
        await SendAsync(http, HttpMethod.Patch, $"/v1/banks/{bank}/memories/{ids[0]}", new { metadata = new { checkedBy = "console test" } });
        await PostAsync(http, $"/v1/banks/{bank}/memories/{ids[1]}/archive", new { });
        await PostAsync(http, $"/v1/banks/{bank}/memories/{ids[1]}/restore", new { });
        string hostileId = ids[^1];

        await PostAsync(http, "/v1/banks/billing/memories", new { intentText = "refund an order", experience = "open the refund form", success = true });
        foreach (double reward in new[] { 1.0, 0.0, 1.0 })
        {
            var recall = await PostAsync(http, $"/v1/banks/{bank}/recall", new { queryText = "reset password", k2 = 2 });
            await PostAsync(http, $"/v1/banks/{bank}/reward", new { token = recall.GetProperty("token").GetString(), reward });
        }

        return (bank, hostileId);
    }

    private static void AssertStats(IDocument page, JsonElement stats)
    {
        AssertNumber(stats.GetProperty("keys").GetDouble(), Stat(page, "keys"), "keys");
        AssertNumber(stats.GetProperty("memories").GetDouble(), Stat(page, "memories"), "memories");
        AssertNumber(stats.GetProperty("qMean").GetDouble(), Stat(page, "qMean"), "qMean");
        AssertNumber(stats.GetProperty("qMin").GetDouble(), Stat(page, "qMin"), "qMin");
        AssertNumber(stats.GetProperty("qMax").GetDouble(), Stat(page, "qMax"), "qMax");
        AssertNumber(stats.GetProperty("visitsDistribution").GetProperty("mean").GetDouble(), Stat(page, "visitsMean"), "visits mean");
        var counts = stats.GetProperty("qDistribution").GetProperty("counts").EnumerateArray().Select(c => c.GetInt64()).ToList();
        var bars = page.QuerySelectorAll("#q-histogram rect.bar").Select(b => long.Parse(b.GetAttribute("data-count")!, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(counts, bars);
        Assert.True(counts.Sum() > 0);
        var edges = stats.GetProperty("qDistribution").GetProperty("edges").EnumerateArray().Select(e => e.GetDouble()).ToList();
        var from = page.QuerySelectorAll("#q-histogram rect.bar").Select(b => double.Parse(b.GetAttribute("data-from")!, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(edges.Take(from.Count), from);
    }

    // The best/worst tables' recent history is each memory's newest history entries, in the endpoint's order: a reward's
    // value and time, another entry's kind and time.
    private static async Task AssertHistoriesAsync(IDocument page, HttpClient http, string bank, JsonElement insight)
    {
        int rewarded = 0;
        var kinds = new HashSet<int>();
        foreach (string table in (string[])["best", "worst"])
        {
            foreach (var memory in insight.GetProperty(table).EnumerateArray())
            {
                string id = memory.GetProperty("id").GetString()!;
                var history = await GetAsync(http, $"/v1/banks/{bank}/memories/{id}/history?limit=5");
                var expected = history.GetProperty("entries").EnumerateArray()
                    .Select(e => (e.GetProperty("kind").GetInt32(), e.GetProperty("reward").ValueKind == JsonValueKind.Null ? (double?)null : e.GetProperty("reward").GetDouble(),
                        DateTimeOffset.Parse(e.GetProperty("at").GetString()!, CultureInfo.InvariantCulture))).ToList();
                var row = page.QuerySelector($"#{table} tr[data-id='{id}']") ?? throw new Xunit.Sdk.XunitException($"memory {id} is not in #{table}");
                var shown = row.QuerySelectorAll("[data-field=history] > span").Select(s => s.ClassName == "reward"
                    ? (1, double.Parse(s.GetAttribute("data-reward")!, CultureInfo.InvariantCulture), DateTimeOffset.Parse(s.GetAttribute("data-at")!, CultureInfo.InvariantCulture))
                    : (int.Parse(s.GetAttribute("data-kind")!, CultureInfo.InvariantCulture), (double?)null, DateTimeOffset.Parse(s.GetAttribute("data-at")!, CultureInfo.InvariantCulture))).ToList();
                Assert.Equal(expected, shown);
                rewarded += expected.Count(e => e.Item1 == 1);
                kinds.UnionWith(expected.Select(e => e.Item1));
            }
        }

        // The seed's rewards, edit, archive and restore: a table of empty cells would match empty histories and check nothing.
        Assert.True(rewarded > 0, "no memory in the best/worst tables has a reward in its history");
        Assert.Superset(new HashSet<int> { 1, 2, 3, 4 }, kinds);
    }

    private static void AssertShards(IDocument page, JsonElement insight)
    {
        foreach (var shard in insight.GetProperty("shards").EnumerateArray())
        {
            var row = page.QuerySelector($"#shards tr[data-shard='{shard.GetProperty("shard").GetInt32()}']");
            Assert.NotNull(row);
            Assert.Equal(shard.GetProperty("silo").GetString(), row.QuerySelector("[data-field=silo]")!.TextContent);
            AssertNumber(shard.GetProperty("keys").GetDouble(), row.QuerySelector("[data-field=keys]")!.TextContent, "shard keys");
            AssertNumber(shard.GetProperty("memories").GetDouble(), row.QuerySelector("[data-field=memories]")!.TextContent, "shard memories");
        }

        // Rewards: 3 recalls of 2 memories, 2 of them rewarded 1 (a success) and one 0.
        Assert.Equal("66.7 %", Stat(page, "rewardSuccessShare"));
        Assert.Equal("6", Stat(page, "rewards"));
        var best = insight.GetProperty("best").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        Assert.Equal(best, page.QuerySelectorAll("#best tbody tr").Select(r => r.GetAttribute("data-id")).ToList());
    }

    private static void AssertExplanation(IDocument page, JsonElement explanation)
    {
        var pool = explanation.GetProperty("pool").EnumerateArray().ToList();
        var rows = page.QuerySelectorAll("#explain-pool tbody tr").ToList();
        Assert.Equal(pool.Count, rows.Count);
        Assert.True(pool.Count >= 4, $"the seeded bank should give a pool of several candidates: {explanation}");
        Assert.Contains(pool, c => c.GetProperty("verdict").GetString() == "outscored");
        for (int i = 0; i < pool.Count; i++)
        {
            var c = pool[i];
            var row = rows[i];
            Assert.Equal(c.GetProperty("id").GetString(), row.GetAttribute("data-id"));
            Assert.Equal(c.GetProperty("verdict").GetString(), row.QuerySelector("[data-field=verdict]")!.TextContent);
            foreach (string field in new[] { "similarity", "q", "zSim", "zQ", "score" })
            {
                AssertNumber(c.GetProperty(field).GetDouble(), row.QuerySelector($"[data-field={field}]")!.TextContent, $"{field} of {c.GetProperty("id")}");
            }

            string rank = row.QuerySelector("[data-field=rank]")!.TextContent;
            Assert.Equal(c.GetProperty("rank").ValueKind == JsonValueKind.Null ? "–" : c.GetProperty("rank").GetInt32().ToString(CultureInfo.InvariantCulture), rank);
            Assert.Equal(c.GetProperty("reason").GetString(), row.QuerySelector("[data-field=reason]")!.TextContent);
        }
    }

    private static void AssertHostileTextIsText(IDocument page, string hostileId)
    {
        var row = page.QuerySelector($"#explain-pool tr[data-id='{hostileId}']") ?? throw new Xunit.Sdk.XunitException("the hostile memory is not in the explained pool");
        Assert.Equal(Hostile, row.QuerySelector("[data-field=intentText]")!.TextContent);
        Assert.Equal($"{Hostile} step 5", row.QuerySelector("[data-field=experience]")!.TextContent);
        // The only script is the console's own; no element came out of memory text; the title was not changed.
        Assert.Equal(["/console/console.js"], page.QuerySelectorAll("script").Select(s => s.GetAttribute("src")).ToList());
        Assert.Empty(page.QuerySelectorAll("img"));
        Assert.Equal("MemRL console", page.Title);
    }

    private static async Task AssertBankListAsync(IDocument list, HttpClient http)
    {
        var banks = (await GetAsync(http, "/v1/banks")).GetProperty("banks").EnumerateArray().ToList();
        Assert.Equal(2, banks.Count);
        foreach (var b in banks)
        {
            string name = b.GetProperty("name").GetString()!;
            var row = list.QuerySelector($"#banks tr[data-bank='{name}']") ?? throw new Xunit.Sdk.XunitException($"bank {name} is not listed");
            var stats = await GetAsync(http, $"/v1/banks/{name}/stats");
            AssertNumber(stats.GetProperty("keys").GetDouble(), row.QuerySelector("[data-field=keys]")!.TextContent, $"keys of {name}");
            AssertNumber(stats.GetProperty("memories").GetDouble(), row.QuerySelector("[data-field=memories]")!.TextContent, $"memories of {name}");
        }
    }

    private static string Stat(IDocument page, string name) =>
        page.QuerySelector($"[data-stat={name}]")?.TextContent ?? throw new Xunit.Sdk.XunitException($"the page shows no {name}");

    // The console prints integers whole and other numbers to 4 decimals: equal means equal to that precision.
    private static void AssertNumber(double expected, string rendered, string what)
    {
        Assert.True(double.TryParse(rendered, NumberStyles.Float, CultureInfo.InvariantCulture, out double shown), $"{what}: '{rendered}' is not a number");
        Assert.True(Math.Abs(expected - shown) <= 0.5e-4 + 1e-12, $"{what}: the page shows {rendered}, the API says {expected.ToString("R", CultureInfo.InvariantCulture)}");
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static Task<JsonElement> PostAsync(HttpClient http, string path, object body) => SendAsync(http, HttpMethod.Post, path, body);

    private static async Task<JsonElement> SendAsync(HttpClient http, HttpMethod method, string path, object body)
    {
        using var request = new HttpRequestMessage(method, path) { Content = System.Net.Http.Json.JsonContent.Create(body, options: JsonSerializerOptions.Web) };
        using var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}

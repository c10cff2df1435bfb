using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MemRL.Api;
using MemRL.Bench.Cluster;
using MemRL.Embeddings;

namespace MemRL.Bench.Http;

/// <summary>
/// Text recall end to end over HTTP (issue 15): a text bank made with no options (the silo's default embedder and its
/// gate), written as text, recalled by paraphrases that share few words with their intents. The same queries go as
/// text and, embedded beforehand by the same embedder, as vectors, on the same bank in the same run; the embedder alone
/// runs at the same concurrency, so the embedding's share and whether concurrent requests queue on it are visible.
/// </summary>
internal static class TextRecall
{
    private const string BankName = "text";

    public static async Task RunAsync(HttpClient http, TextEmbedders embedders, int memories, int seconds, string dataPath)
    {
        var rows = File.ReadLines(dataPath).Skip(1).Select(l => l.Split('\t')).Where(c => c.Length == 5).ToArray();
        string[] intents = [.. rows.Select(r => r[1])], paraphrases = [.. rows.Select(r => r[2])], negatives = [.. rows.Select(r => r[4])];
        var texts = new List<string>(intents);
        texts.AddRange(negatives);
        texts.AddRange(Filler(intents.Concat(negatives).Concat(paraphrases), Math.Max(0, memories - texts.Count), seed: 7));

        using (var created = await http.PostAsJsonAsync("/v1/banks", new { name = BankName }))
        {
            created.EnsureSuccessStatusCode();
        }

        string bankPath = $"/v1/banks/{BankName}";
        var load = System.Diagnostics.Stopwatch.StartNew();
        await Parallel.ForAsync(0, texts.Count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"{bankPath}/memories")
            {
                Content = JsonContent.Create(new { intentText = texts[i], experience = Experience(i), success = true }),
            };
            request.Headers.Add("Idempotency-Key", $"text-load-{i}");
            using var response = await http.SendAsync(request, ct);
            response.EnsureSuccessStatusCode();
        });
        load.Stop();

        var embedder = embedders.Default;
        var vectors = new float[paraphrases.Length][];
        for (int q = 0; q < paraphrases.Length; q++)
        {
            vectors[q] = (await embedder.EmbedAsync(paraphrases[q], CancellationToken.None)).Vector;
        }

        async Task<JsonDocument> RecallAsync(object body)
        {
            using var response = await http.PostAsJsonAsync($"{bankPath}/recall", body);
            response.EnsureSuccessStatusCode();
            return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
        }

        // A check that the bank answers what it should, not a quality figure (bench/MemRL.Bench.Embeddings has those):
        // the share of paraphrases whose own intent is among the k2 returned, and how many got nothing past the gate.
        int hits = 0, empty = 0;
        for (int q = 0; q < paraphrases.Length; q++)
        {
            using var body = await RecallAsync(new { queryText = paraphrases[q] });
            var returned = body.RootElement.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("experience").GetString()).ToList();
            hits += returned.Contains(Experience(q)) ? 1 : 0;
            empty += returned.Count == 0 ? 1 : 0;
        }

        Console.WriteLine($"Text recall over HTTP: bank '{BankName}' made with no options (embedder {embedder.EmbedderId}, gate {embedder.RecommendedDelta?.ToString(CultureInfo.InvariantCulture) ?? "default"}, "
            + $"k1 5, k2 3), {texts.Count} memories written as text over HTTP in {load.Elapsed.TotalSeconds:F1} s ({intents.Length} intents, {negatives.Length} hard negatives, "
            + $"{texts.Count - intents.Length - negatives.Length} filler); queries: the {paraphrases.Length} paraphrases; closed loop {seconds} s per point");
        Console.WriteLine($"Check: own intent among the 3 returned for {hits} of {paraphrases.Length} paraphrases; {empty} got no memory past the gate");
        Console.WriteLine();
        Console.WriteLine("| agents | call | calls/s | p50 ms | p99 ms | CPU cores | failed |");
        Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|");
        var calls = new (string Name, Func<int, Task<int>> Call)[]
        {
            ("text recall (embed + recall)", async q => { using var b = await RecallAsync(new { queryText = paraphrases[q % paraphrases.Length] }); return 0; }),
            ("vector recall (same queries)", async q => { using var b = await RecallAsync(new { query = vectors[q % vectors.Length], embedderId = embedder.EmbedderId }); return 0; }),
            ("embedder alone (in process)", async q => (await embedder.EmbedAsync(paraphrases[q % paraphrases.Length], CancellationToken.None)).Vector.Length),
        };
        foreach (int agents in new[] { 1, 16, 64 })
        {
            foreach (var (name, call) in calls)
            {
                var r = await Measure.ClosedLoopAsync(agents, TimeSpan.FromSeconds(seconds), call);
                Console.WriteLine($"| {agents} | {name} | {r.Throughput:F0} | {r.Percentile(0.5):F2} | {r.Percentile(0.99):F2} | {r.CpuCores:F2} | {r.Failed} |");
            }
        }
    }

    private static string Experience(int i) => $"memory {i}";

    /// <summary>
    /// Filler memories: word sequences drawn from the set's own vocabulary (6–14 words), seeded. They read like text to
    /// the tokenizer and the model, share words with the real intents, and mean nothing, so they add keys and search
    /// work without standing in for any intent.
    /// </summary>
    private static IEnumerable<string> Filler(IEnumerable<string> corpus, int count, int seed)
    {
        var words = corpus.SelectMany(t => t.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Distinct(StringComparer.Ordinal).ToArray();
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int length = random.Next(6, 15);
            yield return string.Join(' ', Enumerable.Range(0, length).Select(_ => words[random.Next(words.Length)]));
        }
    }
}

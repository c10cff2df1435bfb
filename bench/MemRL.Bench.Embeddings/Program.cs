// Text embedders on the paraphrase set (data/paraphrases.tsv): paraphrase → intent recall@1/@5 against every intent
// and hard negative, the cosine distributions that set a bank's similarity gate, throughput single vs batched (median
// of 3 runs, with min–max), load time and resident memory. Usage: dotnet run --project bench/MemRL.Bench.Embeddings -c Release
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using MemRL.Client.Agents;
using MemRL.Embeddings;
using Microsoft.Extensions.AI;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var rows = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "data", "paraphrases.tsv")).Skip(1)
    .Select(line => line.Split('\t')).Select(f => new Row(f[0], f[1], f[2], f[3], f[4])).ToList();
Console.WriteLine($"{rows.Count} intents, {rows.Select(r => r.Domain).Distinct().Count()} domains; styles: "
    + string.Join(", ", rows.GroupBy(r => r.Style).Select(g => $"{g.Key} {g.Count()}")));
Console.WriteLine($"{Environment.ProcessorCount} cores, {RuntimeInformationText()}");
Console.WriteLine();

long baseline = Resident();
var load = Stopwatch.StartNew();
using var miniLm = new MiniLmEmbedder();
miniLm.Load();
load.Stop();
_ = await miniLm.GenerateVectorAsync("warm up");
long loaded = Resident();
// Later loads in the same process: ONNX Runtime's native library is loaded and the weights' file is in the page cache.
var reloads = new List<double>();
for (int i = 0; i < 3; i++)
{
    var again = Stopwatch.StartNew();
    using var other = new MiniLmEmbedder();
    other.Load();
    reloads.Add(again.Elapsed.TotalSeconds);
}

Console.WriteLine($"MiniLM: first load {load.Elapsed.TotalSeconds:F2} s (ONNX Runtime's native start included), later loads {Median(reloads):F2} s "
    + $"({reloads.Min():F2}–{reloads.Max():F2}); resident {loaded / (1 << 20)} MiB after the first load (process before it {baseline / (1 << 20)} MiB)");
Console.WriteLine();

var embedders = new (string Name, IEmbeddingGenerator<string, Embedding<float>> Generator)[]
{
    (MiniLmEmbedder.Id, miniLm),
    ("memrl-hashing/v1/384", new HashingEmbedder(384)),
};

var gates = new[] { 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7 };
foreach (var (name, generator) in embedders)
{
    var intents = await EmbedAsync(generator, rows.Select(r => r.Intent));
    var paraphrases = await EmbedAsync(generator, rows.Select(r => r.Paraphrase));
    var negatives = await EmbedAsync(generator, rows.Select(r => r.HardNegative));

    // Candidates: every intent and every hard negative; a hit is the paraphrase's own intent.
    var candidates = intents.Concat(negatives).ToArray();
    int at1 = 0, at5 = 0;
    var byStyle = new Dictionary<string, (int Hits, int Total)>();
    for (int i = 0; i < rows.Count; i++)
    {
        var scores = candidates.Select((c, j) => (Score: Cos(paraphrases[i], c), Index: j)).OrderByDescending(s => s.Score).Take(5).ToList();
        bool hit1 = scores[0].Index == i;
        at1 += hit1 ? 1 : 0;
        at5 += scores.Any(s => s.Index == i) ? 1 : 0;
        var st = byStyle.GetValueOrDefault(rows[i].Style);
        byStyle[rows[i].Style] = (st.Hits + (hit1 ? 1 : 0), st.Total + 1);
    }

    var paraphrase = Enumerable.Range(0, rows.Count).Select(i => Cos(paraphrases[i], intents[i])).ToArray();
    var hard = Enumerable.Range(0, rows.Count).Select(i => Cos(paraphrases[i], negatives[i])).ToArray();
    var unrelated = Enumerable.Range(0, rows.Count).SelectMany(i => Enumerable.Range(0, rows.Count)
        .Where(j => rows[j].Domain != rows[i].Domain).Select(j => Cos(paraphrases[i], intents[j]))).ToArray();
    var sameDomain = Enumerable.Range(0, rows.Count).SelectMany(i => Enumerable.Range(0, rows.Count)
        .Where(j => j != i && rows[j].Domain == rows[i].Domain).Select(j => Cos(paraphrases[i], intents[j]))).ToArray();

    Console.WriteLine($"## {name}");
    Console.WriteLine($"recall@1 {at1 / (double)rows.Count:P1}, recall@5 {at5 / (double)rows.Count:P1} (paraphrase → own intent among {candidates.Length} intents and hard negatives)");
    Console.WriteLine("recall@1 by style: " + string.Join(", ", byStyle.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value.Hits / (double)k.Value.Total:P0}")));
    Console.WriteLine();
    Console.WriteLine("| cosine(paraphrase, ·) | n | p5 | p25 | median | p75 | p95 |");
    Console.WriteLine("|---|---|---|---|---|---|---|");
    Distribution("its intent (should pass)", paraphrase);
    Distribution("its hard negative", hard);
    Distribution("other intents, same domain", sameDomain);
    Distribution("intents of other domains", unrelated);
    Console.WriteLine();
    Console.WriteLine("| gate delta | paraphrases passing | hard negatives passing | same-domain others passing | other-domain passing |");
    Console.WriteLine("|---|---|---|---|---|");
    foreach (double gate in gates)
    {
        Console.WriteLine($"| {gate:F2} | {Pass(paraphrase, gate):P1} | {Pass(hard, gate):P1} | {Pass(sameDomain, gate):P1} | {Pass(unrelated, gate):P2} |");
    }

    Console.WriteLine();
    var texts = rows.Select(r => r.Paraphrase).Concat(rows.Select(r => r.Intent)).ToArray();
    var single = new List<double>();
    var batched = new List<double>();
    for (int run = 0; run < 3; run++)
    {
        var sw = Stopwatch.StartNew();
        foreach (string text in texts)
        {
            _ = await generator.GenerateVectorAsync(text);
        }

        single.Add(texts.Length / sw.Elapsed.TotalSeconds);
        sw.Restart();
        foreach (var chunk in texts.Chunk(20))
        {
            _ = await generator.GenerateAsync(chunk);
        }

        batched.Add(texts.Length / sw.Elapsed.TotalSeconds);
    }

    Console.WriteLine($"throughput ({texts.Length} texts, 3 runs): single {Median(single):F0}/s ({single.Min():F0}–{single.Max():F0}), batches of 20 {Median(batched):F0}/s ({batched.Min():F0}–{batched.Max():F0})");
    Console.WriteLine();
}

Console.WriteLine($"resident at the end: {Resident() / (1 << 20)} MiB");

static async Task<float[][]> EmbedAsync(IEmbeddingGenerator<string, Embedding<float>> generator, IEnumerable<string> texts) =>
    (await generator.GenerateAsync(texts.ToList())).Select(e => e.Vector.ToArray()).ToArray();

static float Cos(float[] a, float[] b) => TensorPrimitives.CosineSimilarity(a, b);

static double Pass(float[] values, double gate) => values.Count(v => v >= gate) / (double)values.Length;

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

static void Distribution(string label, float[] values)
{
    var sorted = values.Order().ToArray();
    double Q(double q) => sorted[(int)Math.Round(q * (sorted.Length - 1))];
    Console.WriteLine($"| {label} | {sorted.Length} | {Q(0.05):F2} | {Q(0.25):F2} | {Q(0.5):F2} | {Q(0.75):F2} | {Q(0.95):F2} |");
}

static long Resident()
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    using var process = Process.GetCurrentProcess();
    return process.WorkingSet64;
}

static string RuntimeInformationText() => System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription;

internal sealed record Row(string Domain, string Intent, string Paraphrase, string Style, string HardNegative);

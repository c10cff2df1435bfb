using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MemRL.Bench.Ann;
using MemRL.Index;

// Speaks the CLI contract of the shared ANN harness (../shared/bench/ann/README.md): texmex files in, one JSON line per
// ef out. Extra modes (--deletes, --load-vs-rebuild) report what the index issue asks beyond QPS; `filtered` measures
// filtered search on generated data (issue 15).
if (args is ["filtered", .. var rest])
{
    return Filtered.Run(rest);
}

var a = AnnArgs.Parse(args);
var baseVectors = Texmex.ReadFvecs(a.Base);
var queries = Texmex.ReadFvecs(a.Query);
if (a.Nq > 0 && a.Nq < queries.Length)
{
    queries = queries[..a.Nq];
}

var truth = Texmex.ReadIvecs(a.GroundTruth);
int dim = baseVectors[0].Length;
Console.Error.WriteLine($"base {baseVectors.Length} x {dim}, queries {queries.Length}, M {a.M}, efc {a.EfConstruction}");

GC.Collect();
long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
var build = Stopwatch.StartNew();
HnswIndex index;
// --index-file: A/B runs of the search load one saved build instead of rebuilding it (the build is minutes on a loaded
// machine); build_s then reports the load.
if (a.IndexFile is { } saved && File.Exists(saved))
{
    using var file = File.OpenRead(saved);
    index = HnswIndex.Load(file);
    Console.Error.WriteLine($"loaded {saved}");
}
else
{
    index = new HnswIndex(new HnswOptions { Dimension = dim, M = a.M, EfConstruction = a.EfConstruction, ExactSearchThreshold = 0, InitialCapacity = baseVectors.Length });
    for (int i = 0; i < baseVectors.Length; i++)
    {
        index.Add(i, baseVectors[i]);
    }

    if (a.IndexFile is { } path)
    {
        using var file = File.Create(path);
        index.Save(file);
    }
}

build.Stop();
long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
double memMb = (heapAfter - heapBefore) / (1024.0 * 1024.0);
Console.Error.WriteLine($"built in {build.Elapsed.TotalSeconds:F1} s, {memMb:F1} MiB");

var context = index.CreateSearchContext();
var results = new Neighbor[a.K];
var ids = new int[queries.Length][];
for (int q = 0; q < queries.Length; q++)
{
    ids[q] = new int[a.K];
}

// Warm-up at the largest ef: JIT, tiering and PGO finish before anything is timed.
for (int pass = 0; pass < 2; pass++)
{
    RunPass(a.Efs.Max());
}

if (a.CompareTraversals)
{
    CompareTraversals();
    return 0;
}

var fastest = a.Efs.ToDictionary(ef => ef, _ => double.MaxValue);
var passes = a.Efs.ToDictionary(ef => ef, _ => 0);
var spent = a.Efs.ToDictionary(ef => ef, _ => 0.0);
// The harness's protocol: round-robin over ef; an ef is done after at least 3 passes and 1 s of passes, or 50 passes.
bool Done(int ef) => (passes[ef] >= 3 && spent[ef] >= a.MinTime) || passes[ef] >= 50;
while (!a.Efs.All(Done))
{
    foreach (int ef in a.Efs.Where(ef => !Done(ef)))
    {
        double seconds = RunPass(ef);
        fastest[ef] = Math.Min(fastest[ef], seconds);
        spent[ef] += seconds;
        passes[ef]++;
    }
}

foreach (int ef in a.Efs)
{
    RunPass(ef);
    double recall = Recall(ids, truth, a.K);
    if (a.OutIds is { } dir)
    {
        Directory.CreateDirectory(dir);
        Texmex.WriteIvecs(Path.Combine(dir, $"ids_ef{ef}.ivecs"), ids);
    }

    long allocated = AllocatedPerSearch(ef);
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["ef"] = ef,
        ["recall10"] = Math.Round(recall, 4),
        ["qps"] = Math.Round(queries.Length / fastest[ef], 1),
        ["build_s"] = Math.Round(build.Elapsed.TotalSeconds, 2),
        ["build_s_1t"] = Math.Round(build.Elapsed.TotalSeconds, 2),
        ["build_threads"] = 1,
        ["mem_mb"] = Math.Round(memMb, 1),
        ["alloc_bytes_per_search"] = allocated,
        ["version"] = "memrl-index-2-int8-traversal",
    }));
}

if (a.Deletes)
{
    Extras.RecallAfterDeletes(index, baseVectors, queries, a.K, a.Efs);
}

if (a.LoadVsRebuild)
{
    Extras.LoadVersusRebuild(index, baseVectors, a);
}

return 0;

double RunPass(int ef)
{
    int effective = Math.Max(ef, a.K);
    long start = Stopwatch.GetTimestamp();
    for (int q = 0; q < queries.Length; q++)
    {
        int n = index.Search(queries[q], a.K, effective, context, results, SearchMode.Approximate);
        var row = ids[q];
        for (int i = 0; i < n; i++)
        {
            row[i] = (int)results[i].Id;
        }
    }

    return Stopwatch.GetElapsedTime(start).TotalSeconds;
}

// Float against 8-bit traversal of the same index in one process, passes alternating, so a slow spell of the shared
// machine hits both alike: per ef, the fastest of the passes of each and the recall of each.
void CompareTraversals()
{
    foreach (int ef in a.Efs)
    {
        var best = new[] { double.MaxValue, double.MaxValue };
        var recall = new double[2];
        double spentEf = 0;
        for (int pass = 0; pass < 50 && (pass < 6 || spentEf < 2 * a.MinTime); pass++)
        {
            int which = pass % 2;
            index.QuantizedTraversal = which == 1;
            double seconds = RunPass(ef);
            best[which] = Math.Min(best[which], seconds);
            recall[which] = Recall(ids, truth, a.K);
            spentEf += seconds;
        }

        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["ef"] = ef,
            ["recall10_float"] = Math.Round(recall[0], 4),
            ["recall10_int8"] = Math.Round(recall[1], 4),
            ["qps_float"] = Math.Round(queries.Length / best[0], 1),
            ["qps_int8"] = Math.Round(queries.Length / best[1], 1),
            ["int8_over_float"] = Math.Round(best[0] / best[1], 3),
        }));
    }

    index.QuantizedTraversal = true;
}

long AllocatedPerSearch(int ef)
{
    long before = GC.GetAllocatedBytesForCurrentThread();
    for (int q = 0; q < queries.Length; q++)
    {
        index.Search(queries[q], a.K, Math.Max(ef, a.K), context, results, SearchMode.Approximate);
    }

    return (GC.GetAllocatedBytesForCurrentThread() - before) / queries.Length;
}

static double Recall(int[][] found, int[][] truth, int k)
{
    double hits = 0;
    for (int q = 0; q < found.Length; q++)
    {
        var expected = new HashSet<int>(truth[q].Take(k));
        hits += found[q].Count(expected.Contains);
    }

    return hits / (found.Length * (double)k);
}

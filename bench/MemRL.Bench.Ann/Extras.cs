using System.Diagnostics;
using MemRL.Index;

namespace MemRL.Bench.Ann;

/// <summary>Measurements the index issue asks for beyond QPS; printed to stderr as plain lines.</summary>
internal static class Extras
{
    /// <summary>Deletes every other id, then measures recall@k over the live ids against exact search over the same ids.</summary>
    public static void RecallAfterDeletes(HnswIndex index, float[][] vectors, float[][] queries, int k, int[] efs)
    {
        for (int i = 0; i < vectors.Length; i += 2)
        {
            index.Remove(i);
        }

        var context = index.CreateSearchContext();
        var found = new Neighbor[k];
        var exact = new Neighbor[k];
        foreach (int ef in efs)
        {
            double hits = 0;
            foreach (var q in queries)
            {
                int n = index.Search(q, k, Math.Max(ef, k), context, found, SearchMode.Approximate);
                index.Search(q, k, Math.Max(ef, k), context, exact, SearchMode.Exact);
                var truth = exact.Select(e => e.Id).ToHashSet();
                hits += found.Take(n).Count(f => truth.Contains(f.Id));
            }

            Console.Error.WriteLine($"after deleting 50 %: ef {ef} recall@{k} over live ids {hits / (queries.Length * (double)k):F4} (nodes {index.NodeCount}, live {index.Count})");
        }
    }

    /// <summary>Time to load a saved index against time to rebuild it from the same vectors.</summary>
    public static void LoadVersusRebuild(HnswIndex index, float[][] vectors, AnnArgs a)
    {
        string path = Path.Combine(Path.GetTempPath(), $"memrl-index-{Environment.ProcessId}.bin");
        try
        {
            var save = Stopwatch.StartNew();
            using (var file = File.Create(path))
            {
                index.Save(file);
            }

            save.Stop();
            var load = Stopwatch.StartNew();
            using (var file = File.OpenRead(path))
            {
                HnswIndex.Load(file);
            }

            load.Stop();
            var rebuild = Stopwatch.StartNew();
            var rebuilt = new HnswIndex(new HnswOptions { Dimension = vectors[0].Length, M = a.M, EfConstruction = a.EfConstruction, InitialCapacity = vectors.Length });
            for (int i = 0; i < vectors.Length; i++)
            {
                rebuilt.Add(i, vectors[i]);
            }

            rebuild.Stop();
            Console.Error.WriteLine($"save {save.Elapsed.TotalSeconds:F2} s ({new FileInfo(path).Length / 1048576.0:F1} MiB), load {load.Elapsed.TotalSeconds:F2} s, rebuild {rebuild.Elapsed.TotalSeconds:F1} s, rebuild/load {rebuild.Elapsed / load.Elapsed:F0}x");
        }
        finally
        {
            File.Delete(path);
        }
    }
}

using MemRL.Index;

namespace MemRL.Bench.Cluster;

/// <summary>
/// The ceiling the cluster is judged against: the same keys in the same number of MemRL.Index instances, the same ef,
/// one searcher per shard fanned out with Task.WhenAll, the per-shard top-k merged in process.
/// </summary>
internal sealed class Ceiling
{
    private readonly HnswIndex[] _shards;
    private readonly int _k;
    private readonly int _ef;

    private Ceiling(HnswIndex[] shards, int k, int ef)
    {
        _shards = shards;
        _k = k;
        _ef = ef;
    }

    public static Ceiling Build(float[][] keys, int shardCount, BenchSettings settings)
    {
        var shards = new HnswIndex[shardCount];
        Parallel.For(0, shardCount, s =>
        {
            var index = new HnswIndex(new HnswOptions { Dimension = settings.Dimension, Seed = (ulong)s });
            for (int i = s; i < keys.Length; i += shardCount)
            {
                index.Add(i, keys[i]);
            }

            shards[s] = index;
        });
        return new Ceiling(shards, settings.K1, settings.Ef);
    }

    public async Task<int[]> SearchAsync(float[] query)
    {
        var parts = new Task<Neighbor[]>[_shards.Length];
        for (int s = 0; s < parts.Length; s++)
        {
            var index = _shards[s];
            parts[s] = Task.Run(() => SearchOne(index, query));
        }

        var all = (await Task.WhenAll(parts)).SelectMany(p => p).OrderByDescending(n => n.Similarity).ThenBy(n => n.Id).Take(_k);
        return all.Select(n => (int)n.Id).ToArray();
    }

    public double Recall(float[][] queries, int[][] truth, int k)
    {
        double hits = 0;
        for (int q = 0; q < queries.Length; q++)
        {
            hits += SearchAsync(queries[q]).Result.Intersect(truth[q]).Count();
        }

        return hits / (queries.Length * (double)k);
    }

    // One search context per thread: contexts are caller-owned and reusable, and a shard's searches may run at once.
    [ThreadStatic]
    private static Dictionary<HnswIndex, HnswSearchContext>? t_contexts;

    private Neighbor[] SearchOne(HnswIndex index, float[] query)
    {
        t_contexts ??= [];
        if (!t_contexts.TryGetValue(index, out var context))
        {
            context = index.CreateSearchContext();
            t_contexts[index] = context;
        }

        var result = new Neighbor[_k];
        int n = index.Search(query, _k, Math.Max(_ef, _k), context, result);
        return result[..n];
    }
}

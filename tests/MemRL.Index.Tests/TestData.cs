using MemRL.Index;

namespace MemRL.Index.Tests;

/// <summary>Seeded clustered vectors (like real embeddings, unlike isotropic noise) and a brute-force oracle.</summary>
internal static class TestData
{
    public static float[][] Clustered(int count, int dimension, int seed, int clusters = 20)
    {
        var random = new Random(seed);
        var centres = Enumerable.Range(0, clusters).Select(_ => Gaussian(random, dimension, 1.0)).ToArray();
        return Enumerable.Range(0, count).Select(_ =>
        {
            var c = centres[random.Next(clusters)];
            var noise = Gaussian(random, dimension, 0.5);
            return c.Zip(noise, (a, b) => a + b).ToArray();
        }).ToArray();
    }

    public static float[] Gaussian(Random random, int dimension, double scale)
    {
        var v = new float[dimension];
        for (int i = 0; i < dimension; i++)
        {
            v[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()) / Math.Sqrt(dimension));
        }

        return v;
    }

    /// <summary>The exact top-k ids by cosine, computed independently in double precision.</summary>
    public static long[] BruteForce(IReadOnlyDictionary<long, float[]> items, float[] query, int k) =>
        items.Select(p => (p.Key, Sim: ScalarCosine.Of(p.Value, query)))
            .OrderByDescending(p => p.Sim).ThenBy(p => p.Key).Take(k).Select(p => p.Key).ToArray();

    public static HnswIndex Build(float[][] vectors, int m = 16, int efConstruction = 100, ulong seed = 7)
    {
        var index = new HnswIndex(new HnswOptions { Dimension = vectors[0].Length, M = m, EfConstruction = efConstruction, Seed = seed, ExactSearchThreshold = 0 });
        for (int i = 0; i < vectors.Length; i++)
        {
            index.Add(i, vectors[i]);
        }

        return index;
    }

    public static Neighbor[] Search(HnswIndex index, float[] query, int k, int ef, SearchMode mode = SearchMode.Approximate, Func<long, bool>? accept = null)
    {
        var results = new Neighbor[k];
        int n = index.Search(query, k, ef, index.CreateSearchContext(), results, mode, accept);
        return results[..n];
    }
}

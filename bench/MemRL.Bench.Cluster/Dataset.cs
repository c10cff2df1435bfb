using MemRL.Index;

namespace MemRL.Bench.Cluster;

/// <summary>Seeded clustered embeddings (Gaussian mixture on the unit sphere), like the ANN harness's default profile.</summary>
internal static class Dataset
{
    public static float[][] Clustered(int count, int dimension, int seed, int centres = 300)
    {
        var random = new Random(seed);
        var centre = new float[centres][];
        for (int c = 0; c < centres; c++)
        {
            centre[c] = Gaussian(random, dimension, 1.0);
        }

        var data = new float[count][];
        for (int i = 0; i < count; i++)
        {
            var noise = Gaussian(random, dimension, 0.9 * (0.6 + (0.8 * random.NextDouble())));
            var v = new float[dimension];
            var c = centre[random.Next(centres)];
            for (int d = 0; d < dimension; d++)
            {
                v[d] = c[d] + noise[d];
            }

            VectorMath.TryNormalize(v, v);
            data[i] = v;
        }

        return data;
    }

    /// <summary>The exact top-k key indices of every query by the shared kernel (ties to the lower index).</summary>
    public static int[][] ExactTopK(float[][] keys, float[][] queries, int k)
    {
        var result = new int[queries.Length][];
        Parallel.For(0, queries.Length, q =>
        {
            var best = new PriorityQueue<int, (float, int)>(Comparer<(float Sim, int Index)>.Create((a, b) =>
                a.Sim != b.Sim ? a.Sim.CompareTo(b.Sim) : b.Index.CompareTo(a.Index)));
            for (int i = 0; i < keys.Length; i++)
            {
                float sim = VectorMath.Dot(queries[q], keys[i]);
                best.Enqueue(i, (sim, i));
                if (best.Count > k)
                {
                    best.Dequeue();
                }
            }

            var top = new int[best.Count];
            for (int j = top.Length - 1; j >= 0; j--)
            {
                top[j] = best.Dequeue();
            }

            result[q] = top;
        });
        return result;
    }

    private static float[] Gaussian(Random random, int dimension, double scale)
    {
        var v = new float[dimension];
        for (int d = 0; d < dimension; d++)
        {
            v[d] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()) / Math.Sqrt(dimension));
        }

        return v;
    }
}

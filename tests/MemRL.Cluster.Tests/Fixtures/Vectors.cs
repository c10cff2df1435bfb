namespace MemRL.Cluster.Tests.Fixtures;

/// <summary>Seeded test vectors: clustered intents, so that keys merge and pass delta.</summary>
public sealed class Vectors(int seed, int dimension)
{
    private readonly Random _random = new(seed);

    public int Dimension { get; } = dimension;

    public float[] Gaussian()
    {
        var v = new float[Dimension];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)Normal();
        }

        return v;
    }

    /// <summary>A point near <paramref name="centre"/>: larger <paramref name="noise"/> gives lower similarity.</summary>
    public float[] Near(float[] centre, double noise)
    {
        var v = new float[Dimension];
        double norm = Math.Sqrt(centre.Sum(x => (double)x * x));
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)((centre[i] / norm) + (noise * Normal() / Math.Sqrt(Dimension)));
        }

        return v;
    }

    public int Next(int max) => _random.Next(max);

    public double NextDouble() => _random.NextDouble();

    private double Normal() => Math.Sqrt(-2 * Math.Log(1 - _random.NextDouble())) * Math.Cos(2 * Math.PI * _random.NextDouble());
}

namespace MemRL.Core;

/// <summary>Random numbers for epsilon-greedy selection, injected so that tests and seeded benchmarks reproduce.</summary>
public interface IRandomSource
{
    /// <summary>Uniform in [0, 1).</summary>
    double NextDouble();

    /// <summary>Uniform in [0, maxExclusive).</summary>
    int Next(int maxExclusive);
}

/// <summary>A seeded <see cref="Random"/>; not thread-safe (one per bank or per caller).</summary>
public sealed class SeededRandom(int seed) : IRandomSource
{
    private readonly Random _random = new(seed);

    /// <inheritdoc />
    public double NextDouble() => _random.NextDouble();

    /// <inheritdoc />
    public int Next(int maxExclusive) => _random.Next(maxExclusive);
}

/// <summary><see cref="Random.Shared"/>: thread-safe, unseeded; for the cluster's coordinator.</summary>
public sealed class SharedRandom : IRandomSource
{
    /// <summary>The one instance.</summary>
    public static SharedRandom Instance { get; } = new();

    /// <inheritdoc />
    public double NextDouble() => Random.Shared.NextDouble();

    /// <inheritdoc />
    public int Next(int maxExclusive) => Random.Shared.Next(maxExclusive);
}

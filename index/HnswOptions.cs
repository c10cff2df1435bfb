using MemRL.Errors;

namespace MemRL.Index;

/// <summary>How similarity is measured.</summary>
public enum SimilarityMetric
{
    /// <summary>Cosine: vectors are normalised once on insert (and queries per search), then compared by inner product.</summary>
    Cosine,

    /// <summary>Raw inner product; vectors are stored as given.</summary>
    InnerProduct,
}

/// <summary>How <see cref="HnswIndex.Search"/> finds neighbours.</summary>
public enum SearchMode
{
    /// <summary>Exact below <see cref="HnswOptions.ExactSearchThreshold"/> live items, the graph above.</summary>
    Auto,

    /// <summary>Always the HNSW graph.</summary>
    Approximate,

    /// <summary>Always brute force over live items (exact answers).</summary>
    Exact,
}

/// <summary>Options of an <see cref="HnswIndex"/> (Malkov &amp; Yashunin); validated on construction.</summary>
public sealed class HnswOptions
{
    /// <summary>Vector dimension, 1..65536. Required.</summary>
    public required int Dimension { get; init; }

    /// <summary>Similarity metric. Default <see cref="SimilarityMetric.Cosine"/>.</summary>
    public SimilarityMetric Metric { get; init; } = SimilarityMetric.Cosine;

    /// <summary>Links per node on upper layers (layer 0 holds 2·M), 2..128; the level multiplier mL = 1/ln(M) derives from it. Default 16.</summary>
    public int M { get; init; } = 16;

    /// <summary>Beam width while inserting, M..4096. Default 200.</summary>
    public int EfConstruction { get; init; } = 200;

    /// <summary>Seed of the level draw: a node's level is a function of (Seed, id), so the same inserts give the same graph. Default 42.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary><see cref="SearchMode.Auto"/> searches exactly below this many live items (brute force is then as fast and exact). Default 2048.</summary>
    public int ExactSearchThreshold { get; init; } = 2048;

    /// <summary>Nodes allocated up front; the index grows by doubling. Default 1024.</summary>
    public int InitialCapacity { get; init; } = 1024;

    /// <summary>Share of tombstones (deleted nodes) above which the graph is rebuilt from its live nodes. Default 0.5.</summary>
    public double CompactionThreshold { get; init; } = 0.5;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first option outside its range.</summary>
    public void Validate()
    {
        Check(nameof(Dimension), Dimension, 1, 65_536);
        Check(nameof(M), M, 2, 128);
        Check(nameof(EfConstruction), EfConstruction, M, 4096);
        Check(nameof(ExactSearchThreshold), ExactSearchThreshold, 0, int.MaxValue);
        Check(nameof(InitialCapacity), InitialCapacity, 1, 1 << 28);
        if (!(CompactionThreshold > 0 && CompactionThreshold <= 1))
        {
            throw FieldError.OutOfRange(nameof(CompactionThreshold), "a number in (0, 1]", FieldError.Format(CompactionThreshold));
        }

        if (!Enum.IsDefined(Metric))
        {
            throw FieldError.OutOfRange(nameof(Metric), "Cosine or InnerProduct", FieldError.Format((int)Metric));
        }
    }

    private static void Check(string name, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            throw FieldError.OutOfRange(name, $"an integer in [{min}, {max}]", FieldError.Format(value));
        }
    }
}

/// <summary>A search result: the caller's id and its similarity to the query (the shared kernel's value).</summary>
public readonly record struct Neighbor(long Id, float Similarity);

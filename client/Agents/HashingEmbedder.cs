using System.Text;
using MemRL.Errors;
using Microsoft.Extensions.AI;

namespace MemRL.Client.Agents;

/// <summary>
/// The default, offline embedder: feature hashing of lower-cased words and character trigrams into a fixed number of
/// signed buckets, L2-normalised. Deterministic across processes and machines, needs no model download; texts that
/// share words and spellings get similar vectors. Good enough to make intents recallable, not a semantic model.
/// </summary>
public sealed class HashingEmbedder : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Creates an embedder producing <paramref name="dimension"/>-long vectors.</summary>
    public HashingEmbedder(int dimension = 384)
    {
        if (dimension is < 8 or > 8192)
        {
            throw FieldError.OutOfRange(nameof(dimension), "an integer in [8, 8192]", FieldError.Format(dimension));
        }

        Dimension = dimension;
        Metadata = new EmbeddingGeneratorMetadata("memrl-hashing", null, "hashing-v1", dimension);
    }

    /// <summary>Vector length.</summary>
    public int Dimension { get; }

    /// <summary>The id a bank records for this embedder (model, version, dimension).</summary>
    public string EmbedderId => $"memrl-hashing/v1/{Dimension}";

    /// <summary>Model metadata.</summary>
    public EmbeddingGeneratorMetadata Metadata { get; }

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        _ = values ?? throw FieldError.Missing(nameof(values), "the texts to embed");
        var result = new GeneratedEmbeddings<Embedding<float>>();
        foreach (string text in values)
        {
            result.Add(new Embedding<float>(Embed(text)) { ModelId = Metadata.DefaultModelId });
        }

        return Task.FromResult(result);
    }

    /// <summary>The vector of one text.</summary>
    public float[] Embed(string text)
    {
        _ = text ?? throw FieldError.Missing(nameof(text), "the text to embed");
        var v = new float[Dimension];
        string lower = text.ToLowerInvariant();
        foreach (string word in lower.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            Add(v, "w:" + word.Trim('.', ',', ';', ':', '!', '?', '"', '\''), 1.0f);
        }

        string padded = $" {lower} ";
        for (int i = 0; i + 3 <= padded.Length; i++)
        {
            Add(v, "c:" + padded.Substring(i, 3), 0.5f);
        }

        double norm = Math.Sqrt(v.Sum(x => (double)x * x));
        if (norm == 0)
        {
            // An empty text still needs a valid (non-zero) vector: a fixed direction.
            v[0] = 1;
            return v;
        }

        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)(v[i] / norm);
        }

        return v;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    /// <inheritdoc />
    public void Dispose()
    {
    }

    // FNV-1a over UTF-8: stable everywhere (string.GetHashCode is randomised per process).
    private void Add(float[] v, string feature, float weight)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(feature))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        v[(int)(hash % (ulong)v.Length)] += (hash >> 63) == 0 ? weight : -weight;
    }
}

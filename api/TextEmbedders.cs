using System.Collections.Concurrent;
using System.Globalization;
using MemRL.Client.Agents;
using MemRL.Embeddings;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>One text embedder the server hosts: the id banks record, its vector length and the gate that suits it.</summary>
public sealed class HostedEmbedder
{
    private readonly IEmbeddingGenerator<string, Embedding<float>> _generator;

    internal HostedEmbedder(string embedderId, int dimension, IEmbeddingGenerator<string, Embedding<float>> generator, double? recommendedDelta)
    {
        EmbedderId = embedderId;
        Dimension = dimension;
        _generator = generator;
        RecommendedDelta = recommendedDelta;
    }

    /// <summary>The id banks record for this embedder.</summary>
    public string EmbedderId { get; }

    /// <summary>Vector length.</summary>
    public int Dimension { get; }

    /// <summary>
    /// The similarity gate a new text bank of this embedder gets when the client sends no options (null: the bank's
    /// generic default). Measured on the paraphrase set (docs/benchmarks.md, "Text embedders").
    /// </summary>
    public double? RecommendedDelta { get; }

    /// <summary>
    /// The vector of <paramref name="text"/>, and whether the model saw only its first tokens. A remote model that
    /// answers another length is an error, not a bank mismatch.
    /// </summary>
    public async Task<(float[] Vector, bool Truncated)> EmbedAsync(string text, CancellationToken cancellationToken)
    {
        var embedding = await _generator.GenerateAsync(text, cancellationToken: cancellationToken);
        var vector = embedding.Vector.ToArray();
        if (vector.Length != Dimension)
        {
            throw new InvalidOperationException(
                $"The embedder '{EmbedderId}' returned {vector.Length} dimensions; MemRL:Api:Embedder:Dimension says {Dimension}. Fix the setting to the model's dimension.");
        }

        return (vector, MiniLmEmbedder.IsTruncated(embedding));
    }
}

/// <summary>
/// The text embedders the server hosts, by the id banks record. A bank's text is embedded by the embedder the bank
/// names, so banks made for one embedder keep working when the default changes; <see cref="Default"/> (key
/// <c>MemRL:Api:Embedder:Kind</c>, MiniLM unless configured) is the one new text banks get. Hosted: all-MiniLM-L6-v2
/// (loaded on first use), the hashing embedder at any dimension (its id names the dimension), and an OpenAI-compatible
/// endpoint when one is configured.
/// </summary>
public sealed class TextEmbedders : IDisposable
{
    /// <summary>The similarity gate for new MiniLM text banks (docs/benchmarks.md, "Text embedders").</summary>
    public const double MiniLmDelta = 0.35;

    private const string HashingPrefix = "memrl-hashing/v1/";
    private readonly Lazy<HostedEmbedder> _miniLm;
    private readonly HostedEmbedder? _openAi;
    private readonly ConcurrentDictionary<int, HostedEmbedder> _hashing = new();
    private readonly MiniLmEmbedder _miniLmGenerator;

    /// <summary>Creates the registry the options describe; nothing is loaded until a text needs it.</summary>
    public TextEmbedders(IOptions<ApiOptions> options)
    {
        var o = options.Value.Embedder;
        _miniLmGenerator = new MiniLmEmbedder(o.MaxBatchSize, o.IntraOpThreads, o.WeightsPath);
        _miniLm = new Lazy<HostedEmbedder>(() => new HostedEmbedder(MiniLmEmbedder.Id, MiniLmEmbedder.ModelDimension, _miniLmGenerator, MiniLmDelta));
        if (o.Endpoint is not null && o.Model is not null)
        {
            var remote = OpenAICompatible.CreateEmbeddingGenerator(new Uri(o.Endpoint), o.ApiKey ?? "unused", o.Model);
            _openAi = new HostedEmbedder($"openai-compatible/{o.Model}/{o.Dimension}", o.Dimension, remote, null);
        }

        Default = o.Kind switch
        {
            EmbedderOptions.HashingKind => Hashing(o.Dimension),
            EmbedderOptions.OpenAICompatibleKind => _openAi ?? throw new InvalidOperationException("MemRL:Api:Embedder:Endpoint and Model are required for OpenAICompatible."),
            _ => _miniLm.Value,
        };
    }

    /// <summary>The embedder new text banks get.</summary>
    public HostedEmbedder Default { get; }

    /// <summary>The ids this server can embed text for, the default first (the hashing embedder: any dimension).</summary>
    public IReadOnlyList<string> HostedIds =>
        new[] { Default.EmbedderId, MiniLmEmbedder.Id, HashingPrefix + "<dimension>", _openAi?.EmbedderId }.OfType<string>().Distinct().ToList();

    /// <summary>The embedder that makes vectors for banks recording <paramref name="embedderId"/>; false when this server hosts none.</summary>
    public bool TryGet(string embedderId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HostedEmbedder? embedder)
    {
        if (embedderId == MiniLmEmbedder.Id)
        {
            embedder = _miniLm.Value;
            return true;
        }

        if (_openAi is not null && embedderId == _openAi.EmbedderId)
        {
            embedder = _openAi;
            return true;
        }

        // Hashing ids carry their dimension, so a bank of any dimension made by any earlier default stays usable.
        if (embedderId.StartsWith(HashingPrefix, StringComparison.Ordinal)
            && int.TryParse(embedderId.AsSpan(HashingPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int dimension)
            && dimension is >= 8 and <= GrainInterfaces.BankLimits.MaxDimension
            && embedderId == HashingPrefix + dimension.ToString(CultureInfo.InvariantCulture))
        {
            embedder = Hashing(dimension);
            return true;
        }

        embedder = null;
        return false;
    }

    /// <inheritdoc />
    public void Dispose() => _miniLmGenerator.Dispose();

    private HostedEmbedder Hashing(int dimension) =>
        _hashing.GetOrAdd(dimension, d => { var h = new HashingEmbedder(d); return new HostedEmbedder(h.EmbedderId, d, h, null); });
}

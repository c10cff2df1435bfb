using MemRL.Client.Agents;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>
/// The server's text embedder (<see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>): the offline hashing embedder
/// by default, or an OpenAI-compatible endpoint. Its id goes with every text call, so a bank made for another embedder
/// refuses the vector instead of comparing it with keys from a different space.
/// </summary>
public sealed class TextEmbedder
{
    private readonly IEmbeddingGenerator<string, Embedding<float>> _generator;

    /// <summary>Creates the embedder the options name.</summary>
    public TextEmbedder(IOptions<ApiOptions> options)
    {
        var o = options.Value.Embedder;
        Dimension = o.Dimension;
        if (o.Kind == "OpenAICompatible")
        {
            _generator = OpenAICompatible.CreateEmbeddingGenerator(new Uri(o.Endpoint!), o.ApiKey ?? "unused", o.Model!);
            EmbedderId = $"openai-compatible/{o.Model}/{o.Dimension}";
        }
        else
        {
            var hashing = new HashingEmbedder(o.Dimension);
            _generator = hashing;
            EmbedderId = hashing.EmbedderId;
        }
    }

    /// <summary>The id banks record for this embedder.</summary>
    public string EmbedderId { get; }

    /// <summary>Vector length.</summary>
    public int Dimension { get; }

    /// <summary>The vector of <paramref name="text"/>; a remote model that answers another length is an error, not a bank mismatch.</summary>
    public async Task<float[]> EmbedAsync(string text, CancellationToken cancellationToken)
    {
        var embedding = await _generator.GenerateAsync(text, cancellationToken: cancellationToken);
        var vector = embedding.Vector.ToArray();
        if (vector.Length != Dimension)
        {
            throw new InvalidOperationException(
                $"The embedder returned {vector.Length} dimensions; MemRL:Api:Embedder:Dimension says {Dimension}. Fix the setting to the model's dimension.");
        }

        return vector;
    }
}

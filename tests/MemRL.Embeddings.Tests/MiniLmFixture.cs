using MemRL.Embeddings;

namespace MemRL.Embeddings.Tests;

/// <summary>One loaded model for the whole class (about 0.3 s and 360 MiB each).</summary>
public sealed class MiniLmFixture : IDisposable
{
    public MiniLmEmbedder Embedder { get; } = new();

    public void Dispose() => Embedder.Dispose();
}

using System.Numerics.Tensors;

namespace MemRL.Index;

/// <summary>
/// The one distance kernel of MemRL.Cluster. The reference bank in MemRL.Core and the HNSW index both call it,
/// so a similarity computed by either agrees with the other to the last bit (DESIGN §2, equivalence invariant).
/// </summary>
public static class VectorMath
{
    /// <summary>Inner product of two equally long vectors.</summary>
    /// <remarks>SIMD through <see cref="TensorPrimitives"/> (AVX-512/AVX2/NEON with a scalar tail). The summation
    /// order differs from a scalar loop, so results agree with one to rounding, not bit for bit; every caller in
    /// this solution goes through this method, which is what makes them agree with each other exactly.</remarks>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Vectors differ in length: {a.Length} and {b.Length}.", nameof(b));
        }

        return TensorPrimitives.Dot(a, b);
    }

    /// <summary>Euclidean norm.</summary>
    public static float Norm(ReadOnlySpan<float> vector) => TensorPrimitives.Norm(vector);

    /// <summary>
    /// Writes <paramref name="source"/> scaled to unit length into <paramref name="destination"/>; the cosine
    /// similarity of two normalised vectors is then their <see cref="Dot"/>.
    /// </summary>
    /// <returns><see langword="false"/> when the vector has zero (or non-finite) norm and cannot be normalised.</returns>
    public static bool TryNormalize(ReadOnlySpan<float> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException(
                $"Destination has {destination.Length} elements; at least {source.Length} are needed.", nameof(destination));
        }

        float norm = Norm(source);
        if (!(norm > 0f) || !float.IsFinite(norm))
        {
            return false;
        }

        TensorPrimitives.Divide(source, norm, destination[..source.Length]);
        return true;
    }

    /// <summary>Cosine similarity of two arbitrary (non-zero) vectors, for callers that hold raw vectors.</summary>
    public static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.CosineSimilarity(a, b);
}

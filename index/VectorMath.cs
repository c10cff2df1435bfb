using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MemRL.Index;

/// <summary>
/// The one distance kernel of MemRL.Cluster. The reference bank in MemRL.Core and the HNSW index both call it,
/// so a similarity computed by either agrees with the other to the last bit (DESIGN §2, equivalence invariant).
/// </summary>
public static class VectorMath
{
    /// <summary>Inner product of two equally long vectors.</summary>
    /// <remarks>Four independent FMA accumulators of the widest vector the CPU has (AVX-512, else AVX2/NEON, else
    /// scalar), then a scalar tail. The summation order differs from a scalar loop, so results agree with one to
    /// rounding, not bit for bit; every caller in this solution goes through this method, which is what makes them
    /// agree with each other exactly.</remarks>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Vectors differ in length: {a.Length} and {b.Length}.", nameof(b));
        }

        return DotCore(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);
    }

    // The HNSW hot path: this is most of a search's time. A hand-unrolled kernel beats TensorPrimitives.Dot on the short
    // (128..1536) vectors of embeddings because it skips the generic dispatch and keeps four FMA chains in flight.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float DotCore(ref float a, ref float b, int n)
    {
        int i = 0;
        float result;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            var s0 = Vector512<float>.Zero;
            var s1 = Vector512<float>.Zero;
            var s2 = Vector512<float>.Zero;
            var s3 = Vector512<float>.Zero;
            for (; i <= n - (4 * Vector512<float>.Count); i += 4 * Vector512<float>.Count)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)(i + 16)), Vector512.LoadUnsafe(ref b, (nuint)(i + 16)), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)(i + 32)), Vector512.LoadUnsafe(ref b, (nuint)(i + 32)), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)(i + 48)), Vector512.LoadUnsafe(ref b, (nuint)(i + 48)), s3);
            }

            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i), s0);
            }

            result = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var s0 = Vector256<float>.Zero;
            var s1 = Vector256<float>.Zero;
            var s2 = Vector256<float>.Zero;
            var s3 = Vector256<float>.Zero;
            for (; i <= n - (4 * Vector256<float>.Count); i += 4 * Vector256<float>.Count)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)(i + 8)), Vector256.LoadUnsafe(ref b, (nuint)(i + 8)), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)(i + 16)), Vector256.LoadUnsafe(ref b, (nuint)(i + 16)), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)(i + 24)), Vector256.LoadUnsafe(ref b, (nuint)(i + 24)), s3);
            }

            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i), s0);
            }

            result = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else
        {
            result = 0f;
        }

        for (; i < n; i++)
        {
            result = MathF.FusedMultiplyAdd(Unsafe.Add(ref a, i), Unsafe.Add(ref b, i), result);
        }

        return result;
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

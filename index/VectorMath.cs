using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MemRL.Errors;

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
            throw FieldError.Invalid(nameof(b), $"{a.Length} elements, as many as a", FieldError.Format(b.Length) + " elements");
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
    /// <remarks>A finite vector always normalises unless it is all zeros: when its float norm overflows to infinity
    /// (elements near 1e38) or underflows to zero (elements near 1e-30), it is first divided by its largest |element|,
    /// which brings the norm into [1, sqrt(n)]. Only then: every vector whose plain norm is positive and finite takes
    /// the plain path, so its unit vector is bit for bit what it always was and replayed logs rebuild the same index.</remarks>
    /// <returns><see langword="false"/> when the vector is all zeros or holds NaN or infinity and cannot be normalised.</returns>
    public static bool TryNormalize(ReadOnlySpan<float> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw FieldError.Invalid(nameof(destination), $"at least {source.Length} elements", FieldError.Format(destination.Length) + " elements");
        }

        var unit = destination[..source.Length];
        float norm = Norm(source);
        if (norm > 0f && float.IsFinite(norm))
        {
            TensorPrimitives.Divide(source, norm, unit);
            return true;
        }

        float largest = source.IsEmpty ? 0f : MathF.Abs(TensorPrimitives.MaxMagnitude(source));
        if (!(largest > 0f) || !float.IsFinite(largest))
        {
            return false;
        }

        // Divides in place after the first step, so source and destination may be the same span.
        TensorPrimitives.Divide(source, largest, unit);
        norm = Norm(unit);
        if (!(norm > 0f) || !float.IsFinite(norm))
        {
            return false;
        }

        TensorPrimitives.Divide(unit, norm, unit);
        return true;
    }

    /// <summary>Cosine similarity of two arbitrary (non-zero) vectors, for callers that hold raw vectors.</summary>
    public static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.CosineSimilarity(a, b);
}

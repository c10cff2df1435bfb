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
    /// <remarks>Four independent FMA accumulators of the widest vector the CPU has (AVX-512, else AVX2, else
    /// SSE/NEON, else scalar), then a scalar tail. The summation order depends on the width, so results agree across
    /// widths (and with a scalar loop) to rounding, not bit for bit: machines with the same width reproduce each other
    /// exactly, and every caller on one machine goes through this method, which is what makes them agree there.</remarks>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
        {
            throw FieldError.Invalid(nameof(b), $"{a.Length} elements, as many as a", FieldError.Format(b.Length) + " elements");
        }

        return DotCore(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);
    }

    // The HNSW hot path: this is most of a search's time. A hand-unrolled kernel beats TensorPrimitives.Dot on the short
    // (128..1536) vectors of embeddings because it skips the generic dispatch and keeps four FMA chains in flight. The
    // width is chosen once per process (IsHardwareAccelerated is a JIT-time constant, so the other branches vanish):
    // 512-bit on AVX-512, 256-bit on AVX2, 128-bit on SSE/NEON (Arm64 nodes), else the scalar loop.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float DotCore(ref float a, ref float b, int n)
    {
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            return Dot512(ref a, ref b, n);
        }

        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            return Dot256(ref a, ref b, n);
        }

        if (Vector128.IsHardwareAccelerated && n >= Vector128<float>.Count)
        {
            return Dot128(ref a, ref b, n);
        }

        return DotTail(ref a, ref b, 0, n, 0f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot512(ref float a, ref float b, int n)
    {
        int i = 0;
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

        return DotTail(ref a, ref b, i, n, Vector512.Sum((s0 + s1) + (s2 + s3)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot256(ref float a, ref float b, int n)
    {
        int i = 0;
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

        return DotTail(ref a, ref b, i, n, Vector256.Sum((s0 + s1) + (s2 + s3)));
    }

    // Arm64 (NEON) and x64 without AVX2. Vector128.FusedMultiplyAdd is one instruction on Arm64 and on x64 with FMA3; on
    // older x64 the JIT emulates it, which is still correct, only slower.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot128(ref float a, ref float b, int n)
    {
        int i = 0;
        var s0 = Vector128<float>.Zero;
        var s1 = Vector128<float>.Zero;
        var s2 = Vector128<float>.Zero;
        var s3 = Vector128<float>.Zero;
        for (; i <= n - (4 * Vector128<float>.Count); i += 4 * Vector128<float>.Count)
        {
            s0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, (nuint)i), Vector128.LoadUnsafe(ref b, (nuint)i), s0);
            s1 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, (nuint)(i + 4)), Vector128.LoadUnsafe(ref b, (nuint)(i + 4)), s1);
            s2 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, (nuint)(i + 8)), Vector128.LoadUnsafe(ref b, (nuint)(i + 8)), s2);
            s3 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, (nuint)(i + 12)), Vector128.LoadUnsafe(ref b, (nuint)(i + 12)), s3);
        }

        for (; i <= n - Vector128<float>.Count; i += Vector128<float>.Count)
        {
            s0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, (nuint)i), Vector128.LoadUnsafe(ref b, (nuint)i), s0);
        }

        return DotTail(ref a, ref b, i, n, Vector128.Sum((s0 + s1) + (s2 + s3)));
    }

    // The scalar loop: the whole product below the narrowest vector width, otherwise the elements past the last full one.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float DotTail(ref float a, ref float b, int from, int n, float sum)
    {
        for (int i = from; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref a, i), Unsafe.Add(ref b, i), sum);
        }

        return sum;
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

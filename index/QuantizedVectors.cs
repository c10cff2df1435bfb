using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MemRL.Index;

/// <summary>
/// An 8-bit copy of the index's vectors, used only to walk layer 0 during a search: a code is a quarter of a float
/// vector's bytes, and on vectors far beyond the caches the walk waits on memory, not on arithmetic. Every answer is
/// re-ranked with the float kernel, so the similarities a search returns are the shared kernel's values.
/// </summary>
/// <remarks>
/// Symmetric per-vector scaling: code_i = round(x_i · 127 / max|x|), so a node's code is a pure function of its stored
/// float vector (no training, no dependence on other nodes or on insertion order) and is recomputed, bit for bit, when a
/// saved index is loaded; the file format does not carry it. The integer dot product of two codes is exact on every
/// path (AVX-VNNI or the portable one), so a quantised similarity is the same on every machine.
/// </remarks>
internal sealed unsafe class QuantizedVectors
{
    // Codes are padded to whole cache lines: each starts on a 64-byte boundary, and the kernels need no scalar tail.
    private const int Line = 64;

    private readonly int _dimension;
    private sbyte[] _codes;
    private int _offset;
    private float[] _scales;
    private int[] _sums;

    public QuantizedVectors(int dimension, int capacity)
    {
        _dimension = dimension;
        Stride = (dimension + Line - 1) / Line * Line;
        (_codes, _offset) = NewBlock(capacity);
        _scales = new float[capacity];
        _sums = new int[capacity];
    }

    /// <summary>Bytes per code (the dimension rounded up to a cache line).</summary>
    public int Stride { get; }

    /// <summary>Grows to <paramref name="capacity"/> nodes, keeping the first <paramref name="count"/>.</summary>
    public void Resize(int capacity, int count)
    {
        var (codes, offset) = NewBlock(capacity);
        _codes.AsSpan(_offset, count * Stride).CopyTo(codes.AsSpan(offset));
        (_codes, _offset) = (codes, offset);
        Array.Resize(ref _scales, capacity);
        Array.Resize(ref _sums, capacity);
    }

    /// <summary>Encodes <paramref name="vector"/> as node <paramref name="node"/>'s code.</summary>
    public void Set(int node, ReadOnlySpan<float> vector)
    {
        var code = _codes.AsSpan(_offset + (node * Stride), Stride);
        _scales[node] = Encode(vector, MemoryMarshal.Cast<sbyte, byte>(code), bias: 0);
        int sum = 0;
        foreach (sbyte c in code)
        {
            sum += c;
        }

        _sums[node] = sum;
    }

    /// <summary>
    /// Encodes a query into <paramref name="destination"/> (<see cref="Stride"/> bytes) as unsigned bytes, code + 128:
    /// the VNNI instruction multiplies unsigned by signed bytes, and the bias is taken back out with the node's code sum.
    /// </summary>
    /// <returns>The query's scale: a similarity is then dot · query scale · node scale.</returns>
    public float EncodeQuery(ReadOnlySpan<float> query, Span<byte> destination) => Encode(query, destination, bias: 128);

    /// <summary>Approximate similarity of an encoded query to node <paramref name="node"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Similarity(ref byte query, float queryScale, int node) =>
        Dot(ref query, ref CodeRef(node), Stride, _sums[node]) * (queryScale * _scales[node]);

    /// <summary>Starts the loads of node <paramref name="node"/>'s code: every cache line of it when it is short.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int node)
    {
        if (Sse.IsSupported)
        {
            byte* p = (byte*)Unsafe.AsPointer(ref CodeRef(node));
            // Every line of the code, not only its first: the hardware's stride prefetcher starts a line or two late
            // on each of these scattered short reads (measured: the 8-bit walk's gain over the float walk went from
            // 1.3-1.5x with four lines to 1.9-2.4x with all twelve at d 768, same process, same index). Capped at
            // 1 KiB so a very wide code does not flood the load queue.
            int lines = Math.Min(Stride / Line, 16);
            for (int i = 0; i < lines; i++)
            {
                Sse.Prefetch0(p + (i * Line));
            }
        }
    }

    /// <summary>The integer dot product of an encoded query (code + 128) and a code, with the bias taken out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Dot(ref byte query, ref sbyte code, int stride, int codeSum) =>
        (AvxVnni.IsSupported ? DotVnni(ref query, ref code, stride) : DotPortable(ref query, ref code, stride)) - (128 * codeSum);

    // vpdpbusd: 32 unsigned-by-signed byte products summed four at a time into eight int32 lanes, one instruction. No
    // lane can overflow: 4 · 255 · 127 per step, at most 65,536 / 32 steps per lane.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int DotVnni(ref byte query, ref sbyte code, int stride)
    {
        var s0 = Vector256<int>.Zero;
        var s1 = Vector256<int>.Zero;
        int i = 0;
        for (; i <= stride - 64; i += 64)
        {
            s0 = AvxVnni.MultiplyWideningAndAdd(s0, Vector256.LoadUnsafe(ref query, (nuint)i), Vector256.LoadUnsafe(ref code, (nuint)i));
            s1 = AvxVnni.MultiplyWideningAndAdd(s1, Vector256.LoadUnsafe(ref query, (nuint)(i + 32)), Vector256.LoadUnsafe(ref code, (nuint)(i + 32)));
        }

        return Vector256.Sum(s0 + s1);
    }

    // Any CPU (and the reference the VNNI path is tested against): widen to 16 bits, whose products (at most 255 · 127)
    // still fit, then to 32 bits for the sum. Integer arithmetic, so the same value as the VNNI path.
    internal static int DotPortable(ref byte query, ref sbyte code, int stride)
    {
        var sum = Vector128<int>.Zero;
        for (int i = 0; i < stride; i += Vector128<byte>.Count)
        {
            var (qLow, qHigh) = Vector128.Widen(Vector128.LoadUnsafe(ref query, (nuint)i));
            var (cLow, cHigh) = Vector128.Widen(Vector128.LoadUnsafe(ref code, (nuint)i));
            var low = qLow.AsInt16() * cLow;
            var high = qHigh.AsInt16() * cHigh;
            var (a, b) = Vector128.Widen(low);
            var (c, d) = Vector128.Widen(high);
            sum += (a + b) + (c + d);
        }

        return Vector128.Sum(sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref sbyte CodeRef(int node) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_codes), _offset + ((nint)node * Stride));

    // Scalar on purpose: it runs once per insert or query (the dimension's worth of work, next to a search's hundreds of
    // dot products), and a scalar loop gives the same bits on every machine. Padding stays at code 0 (bias + 0).
    private float Encode(ReadOnlySpan<float> vector, Span<byte> destination, int bias)
    {
        float largest = 0f;
        foreach (float x in vector)
        {
            largest = MathF.Max(largest, MathF.Abs(x));
        }

        // 127 / max|x| overflows for subnormal vectors (inner-product banks store vectors as given): divide first then.
        float toCode = largest > 0f ? 127f / largest : 0f;
        bool divide = !float.IsFinite(toCode);
        for (int i = 0; i < _dimension; i++)
        {
            float scaled = divide ? vector[i] / largest * 127f : vector[i] * toCode;
            int c = (int)MathF.Round(scaled, MidpointRounding.ToEven);
            destination[i] = (byte)(Math.Clamp(c, -127, 127) + bias);
        }

        destination[_dimension..Stride].Fill((byte)bias);
        return largest > 0f ? largest / 127f : 0f;
    }

    // Pinned, so the search may compute addresses to prefetch; over-allocated by a line so the first code is aligned.
    private (sbyte[] Block, int Offset) NewBlock(int nodes)
    {
        var block = GC.AllocateArray<sbyte>((nodes * Stride) + Line, pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(block));
        return (block, (int)((Line - (address & (Line - 1))) & (Line - 1)));
    }
}

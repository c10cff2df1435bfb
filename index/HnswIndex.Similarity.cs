using System.Runtime.CompilerServices;

namespace MemRL.Index;

public sealed unsafe partial class HnswIndex
{
    /// <summary>The similarity of one node to the query a layer search holds, and the prefetch that precedes it.</summary>
    private interface INodeSimilarity
    {
        float Of(int node);

        void Prefetch(int node);
    }

    // The shared float kernel on a query in pinned memory (a stored vector while linking, the context's buffer while
    // searching): the same function as VectorMath.Dot, so the same bits.
    private readonly struct FloatSimilarity(HnswIndex index, float* query) : INodeSimilarity
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Of(int node) => VectorMath.DotCore(ref *query, ref index.VectorRef(node), index._dimension);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int node) => index.Prefetch(node);
    }

    // The 8-bit codes against an encoded query in the context's pinned buffer.
    private readonly struct CodeSimilarity(QuantizedVectors codes, byte* query, float queryScale) : INodeSimilarity
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Of(int node) => codes.Similarity(ref *query, queryScale, node);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int node) => codes.Prefetch(node);
    }
}

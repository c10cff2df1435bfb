namespace MemRL.Index;

/// <summary>
/// Caller-owned scratch state of one search: a generation-stamped visited set and two heaps. Reused across searches, so a
/// search allocates nothing after warm-up; one context per concurrent searcher.
/// </summary>
public sealed class HnswSearchContext
{
    private int[] _visited = [];
    private int _generation;

    internal HnswSearchContext()
    {
    }

    internal SimilarityHeap Candidates { get; } = new(maxOnTop: true);

    internal SimilarityHeap Results { get; } = new(maxOnTop: false);

    private float[] _query = [];
    private int _queryOffset;

    /// <summary>The normalised query of the current search, on a 64-byte boundary like the index's vectors.</summary>
    internal Span<float> QueryBuffer(int dimension)
    {
        if (_query.Length != dimension + 15)
        {
            _query = GC.AllocateUninitializedArray<float>(dimension + 15, pinned: true);
            _queryOffset = HnswIndex.AlignedOffset(_query);
        }

        return _query.AsSpan(_queryOffset, dimension);
    }

    private byte[] _queryCode = [];
    private int _queryCodeOffset;

    /// <summary>The 8-bit code of the current query (<paramref name="stride"/> bytes), on a 64-byte boundary, pinned so
    /// the search can read it through a pointer.</summary>
    internal Span<byte> QueryCodeBuffer(int stride)
    {
        if (_queryCode.Length != stride + 63)
        {
            _queryCode = GC.AllocateUninitializedArray<byte>(stride + 63, pinned: true);
            _queryCodeOffset = HnswIndex.AlignedByteOffset(_queryCode);
        }

        return _queryCode.AsSpan(_queryCodeOffset, stride);
    }

    /// <summary>Starts a new search over <paramref name="nodes"/> nodes: bumping the generation forgets every visit in O(1).</summary>
    internal void BeginVisit(int nodes)
    {
        if (_visited.Length < nodes)
        {
            _visited = new int[Math.Max(nodes, _visited.Length * 2)];
            _generation = 0;
        }

        if (++_generation == int.MaxValue)
        {
            Array.Clear(_visited);
            _generation = 1;
        }
    }

    /// <summary>Marks <paramref name="node"/> visited; false when it already was.</summary>
    internal bool TryVisit(int node)
    {
        ref int stamp = ref _visited[node];
        if (stamp == _generation)
        {
            return false;
        }

        stamp = _generation;
        return true;
    }
}

/// <summary>
/// A binary heap of (similarity, node) with max-similarity or min-similarity on top. Each pair is packed into one ulong
/// whose unsigned order is the heap's order (order-preserving float bits above the node number), so a comparison is one
/// integer compare: the search spends a quarter of its time in these heaps, and a compare of two (float, int) pairs with
/// a tie-break was the larger part of that. Equal similarities order by node number, so the heap is deterministic.
/// </summary>
internal sealed class SimilarityHeap(bool maxOnTop)
{
    // XOR-ed into the ordered similarity bits: 0 keeps larger similarities on top, all ones puts smaller ones there.
    private readonly uint _flip = maxOnTop ? 0u : uint.MaxValue;
    private ulong[] _keys = new ulong[64];

    public int Count { get; private set; }

    public float TopSimilarity => SimilarityOf(_keys[0]);

    public int TopNode => (int)(uint)_keys[0];

    public void Clear() => Count = 0;

    public void Push(float similarity, int node)
    {
        if (Count == _keys.Length)
        {
            Array.Resize(ref _keys, _keys.Length * 2);
        }

        ulong key = KeyOf(similarity, node);
        var keys = _keys;
        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (keys[parent] >= key)
            {
                break;
            }

            keys[i] = keys[parent];
            i = parent;
        }

        keys[i] = key;
    }

    /// <summary>Removes the top.</summary>
    public void Pop()
    {
        int count = --Count;
        if (count > 0)
        {
            SiftDown(_keys[count], count);
        }
    }

    /// <summary>Removes the top and adds (similarity, node) in one pass: a push and a pop for the price of a pop.</summary>
    public void ReplaceTop(float similarity, int node) => SiftDown(KeyOf(similarity, node), Count);

    public float SimilarityAt(int index) => SimilarityOf(_keys[index]);

    public int NodeAt(int index) => (int)(uint)_keys[index];

    /// <summary>Copies the items, in heap order (not sorted), to <paramref name="destination"/>.</summary>
    public void CopyTo(Span<(float Similarity, int Node)> destination)
    {
        for (int i = 0; i < Count; i++)
        {
            destination[i] = (SimilarityOf(_keys[i]), NodeAt(i));
        }
    }

    private void SiftDown(ulong key, int count)
    {
        var keys = _keys;
        int i = 0;
        while (true)
        {
            int child = (2 * i) + 1;
            if (child >= count)
            {
                break;
            }

            if (child + 1 < count && keys[child + 1] > keys[child])
            {
                child++;
            }

            if (keys[child] <= key)
            {
                break;
            }

            keys[i] = keys[child];
            i = child;
        }

        keys[i] = key;
    }

    // IEEE-754 bits made to sort as unsigned integers: flip every bit of a negative, set the sign bit of a positive.
    private ulong KeyOf(float similarity, int node)
    {
        uint bits = BitConverter.SingleToUInt32Bits(similarity);
        uint ordered = (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
        return ((ulong)(ordered ^ _flip) << 32) | (uint)node;
    }

    private float SimilarityOf(ulong key)
    {
        uint ordered = (uint)(key >> 32) ^ _flip;
        uint bits = (ordered & 0x8000_0000u) != 0 ? ordered & 0x7FFF_FFFFu : ~ordered;
        return BitConverter.UInt32BitsToSingle(bits);
    }
}

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

    internal float[] Query { get; private set; } = [];

    internal float[] QueryBuffer(int dimension)
    {
        if (Query.Length != dimension)
        {
            Query = new float[dimension];
        }

        return Query;
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

/// <summary>A binary heap of (similarity, node) on one growable array; max-similarity or min-similarity on top.</summary>
internal sealed class SimilarityHeap(bool maxOnTop)
{
    private (float Similarity, int Node)[] _items = new (float, int)[64];

    public int Count { get; private set; }

    public (float Similarity, int Node) Top => _items[0];

    public void Clear() => Count = 0;

    public void Push(float similarity, int node)
    {
        if (Count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (!Before(similarity, node, _items[parent].Similarity, _items[parent].Node))
            {
                break;
            }

            _items[i] = _items[parent];
            i = parent;
        }

        _items[i] = (similarity, node);
    }

    public (float Similarity, int Node) Pop()
    {
        var top = _items[0];
        var last = _items[--Count];
        int i = 0;
        while (true)
        {
            int child = (2 * i) + 1;
            if (child >= Count)
            {
                break;
            }

            if (child + 1 < Count && Before(_items[child + 1].Similarity, _items[child + 1].Node, _items[child].Similarity, _items[child].Node))
            {
                child++;
            }

            if (!Before(_items[child].Similarity, _items[child].Node, last.Similarity, last.Node))
            {
                break;
            }

            _items[i] = _items[child];
            i = child;
        }

        if (Count > 0)
        {
            _items[i] = last;
        }

        return top;
    }

    /// <summary>The items in heap order (not sorted).</summary>
    public ReadOnlySpan<(float Similarity, int Node)> Items => _items.AsSpan(0, Count);

    // Ties on similarity break on the node number, so the heap's order, and every result, is deterministic.
    private bool Before(float a, int nodeA, float b, int nodeB) =>
        maxOnTop ? a > b || (a == b && nodeA < nodeB) : a < b || (a == b && nodeA > nodeB);
}

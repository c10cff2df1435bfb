using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using MemRL.Errors;

namespace MemRL.Index;

/// <summary>
/// Hierarchical navigable small world graph (Malkov &amp; Yashunin, 2018) over caller-labelled vectors.
/// One writer at a time (Add, Remove); any number of concurrent searches, each with its own
/// <see cref="HnswSearchContext"/>, while no write runs. Payloads live with the caller, keyed by id: changing one never
/// touches the graph.
/// </summary>
public sealed unsafe partial class HnswIndex
{
    private const int LevelCap = 15;

    private readonly HnswOptions _options;
    private readonly int _dimension;
    private readonly int _m;
    private readonly int _m0;
    private readonly int _stride0;
    private readonly double _levelMultiplier;
    private readonly Dictionary<long, int> _nodeOf = [];
    private readonly HnswSearchContext _writeContext = new();
    private (float Similarity, int Node)[] _selectScratch = new (float, int)[64];
    private int[] _selected = new int[64];
    private readonly int[] _chosen;

    private float[] _vectors;
    // Index of the first vector in _vectors: the block is over-allocated so that vector 0 starts on a 64-byte boundary
    // (see NewVectorBlock).
    private int _vectorOffset;
    private long[] _ids;
    private byte[] _levels;
    private bool[] _deleted;
    private int[] _links0;
    private int[]?[] _upper;
    private QuantizedVectors _codes;
    private int _count;
    private int _live;
    private int _entry = -1;
    private int _maxLevel = -1;

    /// <summary>Creates an empty index.</summary>
    public HnswIndex(HnswOptions options)
    {
        _ = options ?? throw FieldError.Missing(nameof(options), "the index options");
        options.Validate();
        _options = options;
        _dimension = options.Dimension;
        _m = options.M;
        _m0 = 2 * options.M;
        _stride0 = 1 + _m0;
        _levelMultiplier = 1.0 / Math.Log(options.M);
        _chosen = new int[options.M];
        Allocate(options.InitialCapacity);
    }

    /// <summary>The options the index was built with.</summary>
    public HnswOptions Options => _options;

    /// <summary>Live (not deleted) items.</summary>
    public int Count => _live;

    /// <summary>Nodes in the graph, tombstones included.</summary>
    public int NodeCount => _count;

    /// <summary>Whether approximate searches walk layer 0 on the 8-bit codes (true) or on the float vectors; a switch
    /// for measuring one against the other in the same process (bench/MemRL.Bench.Ann), not a product option.</summary>
    internal bool QuantizedTraversal { get; set; } = true;

    /// <summary>Creates a reusable search context for one searcher.</summary>
    public HnswSearchContext CreateSearchContext() => new();

    /// <summary>Whether a live item has this id.</summary>
    public bool Contains(long id) => _nodeOf.ContainsKey(id);

    /// <summary>Adds a vector under <paramref name="id"/> (normalised first for <see cref="SimilarityMetric.Cosine"/>).</summary>
    /// <exception cref="ArgumentException">Wrong dimension, a non-finite element, a zero vector (cosine), or a duplicate id.</exception>
    public void Add(long id, ReadOnlySpan<float> vector) => AddCore(id, vector, normalized: false);

    /// <summary>
    /// Adds a vector that is already unit length, such as one read back with <see cref="TryGetVector"/>, without
    /// normalising it again: normalising twice can move the last bits, and with them every similarity.
    /// </summary>
    public void AddNormalized(long id, ReadOnlySpan<float> unitVector) => AddCore(id, unitVector, normalized: true);

    /// <summary>Deletes an item: its node stays in the graph as a tombstone that searches traverse but never return,
    /// until tombstones pass <see cref="HnswOptions.CompactionThreshold"/> and the graph is rebuilt from live nodes.</summary>
    /// <returns>False when no live item has this id.</returns>
    public bool Remove(long id)
    {
        if (!_nodeOf.Remove(id, out int node))
        {
            return false;
        }

        _deleted[node] = true;
        _live--;
        if (_count >= 64 && (_count - _live) > _options.CompactionThreshold * _count)
        {
            Compact();
        }

        return true;
    }

    /// <summary>Copies the stored vector (unit length for cosine) of a live item.</summary>
    public bool TryGetVector(long id, Span<float> destination)
    {
        if (!_nodeOf.TryGetValue(id, out int node))
        {
            return false;
        }

        if (destination.Length < _dimension)
        {
            throw FieldError.Invalid(nameof(destination), $"at least {_dimension} elements", FieldError.Format(destination.Length) + " elements");
        }

        Vector(node).CopyTo(destination);
        return true;
    }

    /// <summary>
    /// The <paramref name="k"/> live items most similar to <paramref name="query"/>, by similarity (descending) then id
    /// (ascending), written to <paramref name="destination"/>. Allocates nothing after the context has warmed up.
    /// </summary>
    /// <param name="accept">
    /// A filter: when given, only items whose id it accepts are returned. The graph is still traversed through the others
    /// (as through deleted items), so a filtered search finds the k nearest accepted items instead of filtering the k
    /// nearest afterwards; with a filter that accepts few items it may walk most of the graph, so callers scan the few
    /// accepted items exactly instead (see docs/scopes.md).
    /// </param>
    /// <returns>The number written: min(k, live accepted items, destination length).</returns>
    public int Search(ReadOnlySpan<float> query, int k, int ef, HnswSearchContext context, Span<Neighbor> destination, SearchMode mode = SearchMode.Auto,
        Func<long, bool>? accept = null)
    {
        _ = context ?? throw FieldError.Missing(nameof(context), "a search context of this index (CreateSearchContext)");
        if (k < 1)
        {
            throw FieldError.OutOfRange(nameof(k), "at least 1", FieldError.Format(k));
        }

        if (ef < k)
        {
            throw FieldError.OutOfRange(nameof(ef), $"at least k ({k})", FieldError.Format(ef));
        }

        var q = PrepareQuery(query, context);
        k = Math.Min(k, destination.Length);
        if (_live == 0 || k == 0)
        {
            return 0;
        }

        bool exact = mode == SearchMode.Exact || (mode == SearchMode.Auto && _live < _options.ExactSearchThreshold);
        return exact ? SearchExact(q, k, destination, accept) : SearchGraph(q, k, ef, context, destination, accept);
    }

    /// <summary>
    /// The <paramref name="k"/> items among <paramref name="ids"/> most similar to <paramref name="query"/>, exactly (same
    /// similarities and order as <see cref="SearchMode.Exact"/>): for a filter that leaves few items, scanning them beats a
    /// graph walk that refuses almost every node. Ids not in the index, deleted or refused by <paramref name="accept"/>
    /// are skipped.
    /// </summary>
    public int SearchAmong(ReadOnlySpan<float> query, IEnumerable<long> ids, int k, HnswSearchContext context, Span<Neighbor> destination,
        Func<long, bool>? accept = null)
    {
        _ = context ?? throw FieldError.Missing(nameof(context), "a search context of this index (CreateSearchContext)");
        _ = ids ?? throw FieldError.Missing(nameof(ids), "the ids to search among");
        if (k < 1)
        {
            throw FieldError.OutOfRange(nameof(k), "at least 1", FieldError.Format(k));
        }

        var q = PrepareQuery(query, context);
        k = Math.Min(k, destination.Length);
        if (k == 0)
        {
            return 0;
        }

        int n = 0;
        foreach (long id in ids)
        {
            if (_nodeOf.TryGetValue(id, out int node) && Admits(node, accept))
            {
                n = Offer(new Neighbor(id, VectorMath.Dot(q, Vector(node))), destination, n, k);
            }
        }

        return Finish(destination, n, k);
    }

    // The query as the stored vectors are: validated, and normalised for cosine, in the context's reused buffer.
    private Span<float> PrepareQuery(ReadOnlySpan<float> query, HnswSearchContext context)
    {
        VectorValidation.ThrowIfInvalid(query, _dimension, nameof(query), requireNonZero: _options.Metric == SimilarityMetric.Cosine);
        var q = context.QueryBuffer(_dimension);
        if (_options.Metric == SimilarityMetric.Cosine)
        {
            // The buffer is reused: a failed normalisation ignored here would search with the previous query.
            ThrowIfNotNormalized(VectorMath.TryNormalize(query, q), nameof(query));
        }
        else
        {
            query.CopyTo(q);
        }

        return q;
    }

    private void AddCore(long id, ReadOnlySpan<float> vector, bool normalized)
    {
        VectorValidation.ThrowIfInvalid(vector, _dimension, nameof(vector), requireNonZero: _options.Metric == SimilarityMetric.Cosine);
        if (_nodeOf.ContainsKey(id))
        {
            throw FieldError.Invalid(nameof(id), "an id not in the index (remove it first to replace its vector)", id.ToString(CultureInfo.InvariantCulture));
        }

        EnsureCapacity(_count + 1);
        int node = _count;
        var stored = VectorSlot(node);
        if (_options.Metric == SimilarityMetric.Cosine && !normalized)
        {
            ThrowIfNotNormalized(VectorMath.TryNormalize(vector, stored), nameof(vector));
        }
        else
        {
            vector.CopyTo(stored);
        }

        int level = LevelOf(id);
        _ids[node] = id;
        _levels[node] = (byte)level;
        _deleted[node] = false;
        _codes.Set(node, stored);
        _links0[node * _stride0] = 0;
        _upper[node] = level > 0 ? new int[level * (1 + _m)] : null;
        _count++;
        _live++;
        _nodeOf[id] = node;
        Link(node, level);
    }

    private static void ThrowIfNotNormalized(bool normalized, string field)
    {
        // Validation admits only vectors that normalise, so this fires only if the two disagree; it must not pass silently.
        if (!normalized)
        {
            throw FieldError.Invalid(field, "a vector that can be scaled to unit length", "a vector that cannot", Reasons.NotFinite);
        }
    }

    // Algorithm 1 of the paper: greedy descent to the node's level, then a beam search and heuristic linking per layer.
    private void Link(int node, int level)
    {
        if (_entry < 0)
        {
            _entry = node;
            _maxLevel = level;
            return;
        }

        var q = Vector(node);
        int current = _entry;
        float currentSim = VectorMath.Dot(q, Vector(current));
        for (int layer = _maxLevel; layer > level; layer--)
        {
            (current, currentSim) = Greedy(q, current, currentSim, layer);
        }

        for (int layer = Math.Min(level, _maxLevel); layer >= 0; layer--)
        {
            var results = SearchLayer(new FloatSimilarity(this, (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(q))), current, _options.EfConstruction, layer, _writeContext, liveOnly: false, accept: null);
            int candidates = SortedDescending(results);
            int closest = _selectScratch[0].Node;
            int selected = SelectNeighbors(_selectScratch.AsSpan(0, candidates), _m, _selected);
            SetLinks(node, layer, _selected.AsSpan(0, selected));
            // Connect reuses the scratch buffers, so the chosen neighbours are copied out first.
            var chosen = _chosen.AsSpan(0, selected);
            _selected.AsSpan(0, selected).CopyTo(chosen);
            foreach (int neighbor in chosen)
            {
                Connect(neighbor, node, layer);
            }

            current = closest;
        }

        if (level > _maxLevel)
        {
            _maxLevel = level;
            _entry = node;
        }
    }

    // Adds node to neighbour's links; past the layer's capacity the neighbour keeps the heuristic's choice.
    private void Connect(int neighbor, int node, int layer)
    {
        var links = Links(neighbor, layer);
        int capacity = layer == 0 ? _m0 : _m;
        int count = links[0];
        if (count < capacity)
        {
            links[1 + count] = node;
            links[0] = count + 1;
            return;
        }

        var baseVector = Vector(neighbor);
        EnsureScratch(count + 1);
        for (int i = 0; i < count; i++)
        {
            int other = links[1 + i];
            _selectScratch[i] = (VectorMath.Dot(baseVector, Vector(other)), other);
        }

        _selectScratch[count] = (VectorMath.Dot(baseVector, Vector(node)), node);
        var span = _selectScratch.AsSpan(0, count + 1);
        span.Sort(static (a, b) => a.Similarity != b.Similarity ? b.Similarity.CompareTo(a.Similarity) : a.Node.CompareTo(b.Node));
        int n = SelectNeighbors(span, capacity, _selected);
        SetLinks(neighbor, layer, _selected.AsSpan(0, n));
    }

    // Algorithm 4 of the paper: walk candidates from the closest; keep one only if it is closer to the base than to every
    // neighbour kept so far. This keeps links pointing in diverse directions, which is what holds clusters together
    // (keeping the M nearest instead cuts the graph into cluster islands).
    private int SelectNeighbors(ReadOnlySpan<(float Similarity, int Node)> candidatesDescending, int max, int[] selected)
    {
        int count = 0;
        foreach (var (similarity, candidate) in candidatesDescending)
        {
            if (count >= max)
            {
                break;
            }

            var candidateVector = Vector(candidate);
            bool good = true;
            for (int i = 0; i < count; i++)
            {
                if (VectorMath.Dot(candidateVector, Vector(selected[i])) > similarity)
                {
                    good = false;
                    break;
                }
            }

            if (good)
            {
                selected[count++] = candidate;
            }
        }

        return count;
    }

    private (int Node, float Similarity) Greedy(ReadOnlySpan<float> q, int current, float currentSim, int layer)
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            var links = Links(current, layer);
            int count = links[0];
            for (int i = 1; i <= count; i++)
            {
                int candidate = links[i];
                float sim = Similarity(ref MemoryMarshal.GetReference(q), candidate);
                if (sim > currentSim)
                {
                    currentSim = sim;
                    current = candidate;
                    changed = true;
                }
            }
        }

        return (current, currentSim);
    }

    // Algorithm 2 of the paper. With liveOnly, tombstones (and items the filter refuses) are traversed but never enter
    // the results, and the search goes on until it holds ef such results or runs out of graph. Generic over the
    // similarity (a struct, so each instantiation is compiled with its kernel inlined): the float kernel while linking,
    // the 8-bit codes while searching layer 0.
    private SimilarityHeap SearchLayer<TSimilarity>(TSimilarity similarity, int entry, int ef, int layer, HnswSearchContext context, bool liveOnly, Func<long, bool>? accept)
        where TSimilarity : struct, INodeSimilarity
    {
        context.BeginVisit(_count);
        var candidates = context.Candidates;
        var results = context.Results;
        candidates.Clear();
        results.Clear();
        float entrySim = similarity.Of(entry);
        context.TryVisit(entry);
        candidates.Push(entrySim, entry);
        if (!liveOnly || Admits(entry, accept))
        {
            results.Push(entrySim, entry);
        }

        float worst = results.Count > 0 ? results.TopSimilarity : float.NegativeInfinity;
        while (candidates.Count > 0)
        {
            float sim = candidates.TopSimilarity;
            int node = candidates.TopNode;
            if (results.Count >= ef && sim < worst)
            {
                break;
            }

            candidates.Pop();
            var links = Links(node, layer);
            int count = links[0];
            // Start the memory loads of every neighbour's vector before the first distance: the vectors are far beyond
            // the caches, and waiting on them one at a time is what makes a search slow.
            for (int i = 1; i <= count; i++)
            {
                similarity.Prefetch(links[i]);
            }

            for (int i = 1; i <= count; i++)
            {
                int neighbor = links[i];
                if (!context.TryVisit(neighbor))
                {
                    continue;
                }

                float neighborSim = similarity.Of(neighbor);
                if (results.Count < ef || neighborSim > worst)
                {
                    candidates.Push(neighborSim, neighbor);
                    if (!liveOnly || Admits(neighbor, accept))
                    {
                        // Full: the newcomer beats the worst result (the condition above), so it takes its place.
                        if (results.Count < ef)
                        {
                            results.Push(neighborSim, neighbor);
                        }
                        else
                        {
                            results.ReplaceTop(neighborSim, neighbor);
                        }

                        worst = results.TopSimilarity;
                    }
                }
            }
        }

        return results;
    }

    private bool Admits(int node, Func<long, bool>? accept) => !_deleted[node] && (accept is null || accept(_ids[node]));

    private int SearchGraph(ReadOnlySpan<float> q, int k, int ef, HnswSearchContext context, Span<Neighbor> destination, Func<long, bool>? accept)
    {
        int current = _entry;
        float currentSim = VectorMath.Dot(q, Vector(current));
        for (int layer = _maxLevel; layer > 0; layer--)
        {
            (current, currentSim) = Greedy(q, current, currentSim, layer);
        }

        if (!QuantizedTraversal)
        {
            return SearchGraphFloat(q, k, ef, context, destination, current, accept);
        }

        // Layer 0, where nearly all of a search's distances are, walks the 8-bit codes; the beam's ef answers are then
        // re-ranked with the float kernel, so what is returned carries the exact similarity (and its order).
        var queryCode = context.QueryCodeBuffer(_codes.Stride);
        float queryScale = _codes.EncodeQuery(q, queryCode);
        var similarity = new CodeSimilarity(_codes, (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(queryCode)), queryScale);
        var results = SearchLayer(similarity, current, ef, 0, context, liveOnly: true, accept);
        int count = results.Count;
        for (int i = 0; i < count; i++)
        {
            Prefetch(results.NodeAt(i));
        }

        ref float query = ref MemoryMarshal.GetReference(q);
        int n = 0;
        for (int i = 0; i < count; i++)
        {
            int node = results.NodeAt(i);
            n = Offer(new Neighbor(_ids[node], Similarity(ref query, node)), destination, n, k);
        }

        if (n < k)
        {
            SortResults(destination[..n]);
        }

        return n;
    }

    // Layer 0 on the float vectors: the traversal before the 8-bit codes, kept for A/B measurement in the same process.
    private int SearchGraphFloat(ReadOnlySpan<float> q, int k, int ef, HnswSearchContext context, Span<Neighbor> destination, int entry, Func<long, bool>? accept)
    {
        var results = SearchLayer(new FloatSimilarity(this, (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(q))), entry, ef, 0, context, liveOnly: true, accept);
        int n = 0;
        for (int i = 0; i < results.Count; i++)
        {
            int node = results.NodeAt(i);
            n = Offer(new Neighbor(_ids[node], results.SimilarityAt(i)), destination, n, k);
        }

        if (n < k)
        {
            SortResults(destination[..n]);
        }

        return n;
    }

    // Brute force over live nodes with a k-sized heap whose ties break on the caller's id, so exact answers match any
    // other exact search over the same ids to the last place.
    private int SearchExact(ReadOnlySpan<float> q, int k, Span<Neighbor> destination, Func<long, bool>? accept)
    {
        int n = 0;
        for (int node = 0; node < _count; node++)
        {
            if (Admits(node, accept))
            {
                n = Offer(new Neighbor(_ids[node], VectorMath.Dot(q, Vector(node))), destination, n, k);
            }
        }

        return Finish(destination, n, k);
    }

    // Keeps the best k seen so far in destination[..n], sorted once it is full; returns the new n.
    private static int Offer(Neighbor candidate, Span<Neighbor> destination, int n, int k)
    {
        if (n < k)
        {
            destination[n++] = candidate;
            if (n == k)
            {
                SortResults(destination[..n]);
            }
        }
        else if (Better(candidate, destination[k - 1]))
        {
            // Insertion into the sorted top-k: k is small (k1), so shifting beats a heap's bookkeeping.
            int i = k - 1;
            while (i > 0 && Better(candidate, destination[i - 1]))
            {
                destination[i] = destination[i - 1];
                i--;
            }

            destination[i] = candidate;
        }

        return n;
    }

    private static int Finish(Span<Neighbor> destination, int n, int k)
    {
        if (n < k)
        {
            SortResults(destination[..n]);
        }

        return n;
    }

    private static bool Better(Neighbor a, Neighbor b) => a.Similarity > b.Similarity || (a.Similarity == b.Similarity && a.Id < b.Id);

    private static void SortResults(Span<Neighbor> results) =>
        results.Sort(static (a, b) => a.Similarity != b.Similarity ? b.Similarity.CompareTo(a.Similarity) : a.Id.CompareTo(b.Id));

    private int SortedDescending(SimilarityHeap results)
    {
        int n = results.Count;
        EnsureScratch(n);
        results.CopyTo(_selectScratch);
        _selectScratch.AsSpan(0, n).Sort(static (a, b) => a.Similarity != b.Similarity ? b.Similarity.CompareTo(a.Similarity) : a.Node.CompareTo(b.Node));
        return n;
    }

    private void SetLinks(int node, int layer, ReadOnlySpan<int> neighbors)
    {
        var links = Links(node, layer);
        neighbors.CopyTo(links[1..]);
        links[0] = neighbors.Length;
    }

    // Layer 0 lives in one contiguous block (fixed width 1 + 2M: a count, then links); upper layers, held by about one
    // node in M, in a small array per node.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<int> Links(int node, int layer) =>
        layer == 0 ? _links0.AsSpan(node * _stride0, _stride0) : _upper[node].AsSpan((layer - 1) * (1 + _m), 1 + _m);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlySpan<float> Vector(int node) => VectorSlot(node);

    private Span<float> VectorSlot(int node) => _vectors.AsSpan(_vectorOffset + (node * _dimension), _dimension);

    // The first float of a node's vector, for the hot loop: no span construction or bounds check.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref float VectorRef(int node) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_vectors), _vectorOffset + ((nint)node * _dimension));

    // The kernel called by reference: no span construction or length check per neighbour. Same function as
    // VectorMath.Dot, so the same bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Similarity(ref float query, int node) =>
        VectorMath.DotCore(ref query, ref VectorRef(node), _dimension);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Prefetch(int node)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref VectorRef(node)));
        }
    }

    // The level is a pure function of (seed, id): SplitMix64 to a uniform in (0, 1], then the paper's -ln(u)·mL.
    private int LevelOf(long id)
    {
        ulong z = _options.Seed ^ (ulong)id;
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        double u = ((z >> 11) + 1) * (1.0 / (1UL << 53));
        return Math.Min(LevelCap, (int)(-Math.Log(u) * _levelMultiplier));
    }

    private void EnsureCapacity(int nodes)
    {
        int capacity = _ids.Length;
        if (nodes <= capacity)
        {
            return;
        }

        int grown = Math.Max(nodes, capacity * 2);
        var (vectors, offset) = NewVectorBlock(grown);
        StoredVectors().CopyTo(vectors.AsSpan(offset));
        (_vectors, _vectorOffset) = (vectors, offset);
        Array.Resize(ref _ids, grown);
        Array.Resize(ref _levels, grown);
        Array.Resize(ref _deleted, grown);
        Array.Resize(ref _links0, grown * _stride0);
        _codes.Resize(grown, _count);
        Array.Resize(ref _upper, grown);
    }

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_vectors), nameof(_ids), nameof(_levels), nameof(_deleted), nameof(_links0), nameof(_upper), nameof(_codes))]
    private void Allocate(int capacity)
    {
        (_vectors, _vectorOffset) = NewVectorBlock(capacity);
        _ids = new long[capacity];
        _levels = new byte[capacity];
        _deleted = new bool[capacity];
        _links0 = new int[capacity * _stride0];
        _codes = new QuantizedVectors(_dimension, capacity);
        _upper = new int[capacity][];
    }

    // Pinned (on the pinned object heap) so the search loop may compute addresses to prefetch: a prefetch is only a
    // hint, but the address it names must stay the vector's. Over-allocated by 15 floats so the first vector can start on
    // a 64-byte boundary: an array's data sits 16 bytes past its (8-byte aligned) header, so without this a 512-bit load
    // may straddle two cache lines, depending on where the block happened to land. With a dimension that is a multiple of
    // 16, every vector is then aligned.
    private (float[] Block, int Offset) NewVectorBlock(int nodes)
    {
        var block = GC.AllocateUninitializedArray<float>((nodes * _dimension) + 15, pinned: true);
        return (block, AlignedOffset(block));
    }

    /// <summary>Index of the first element of a pinned float array that lies on a 64-byte boundary.</summary>
    internal static unsafe int AlignedOffset(float[] pinned)
    {
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
        return (int)((64 - (address & 63)) & 63) / sizeof(float);
    }

    /// <summary>Index of the first element of a pinned byte array that lies on a 64-byte boundary.</summary>
    internal static unsafe int AlignedByteOffset(byte[] pinned)
    {
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
        return (int)((64 - (address & 63)) & 63);
    }

    // The vectors of nodes 0.._count-1, contiguous.
    private Span<float> StoredVectors() => _vectors.AsSpan(_vectorOffset, _count * _dimension);

    private void EnsureScratch(int n)
    {
        if (_selectScratch.Length < n)
        {
            _selectScratch = new (float, int)[Math.Max(n, _selectScratch.Length * 2)];
        }

        if (_selected.Length < Math.Max(n, _m0))
        {
            _selected = new int[Math.Max(Math.Max(n, _m0), _selected.Length * 2)];
        }
    }

    // Rebuilds the graph from the live nodes, in their insertion order, so the result is the same as inserting only them.
    private void Compact()
    {
        var live = new List<int>(_live);
        for (int node = 0; node < _count; node++)
        {
            if (!_deleted[node])
            {
                live.Add(node);
            }
        }

        var vectors = _vectors;
        int offset = _vectorOffset;
        var ids = _ids;
        Allocate(Math.Max(_options.InitialCapacity, live.Count * 2));
        _nodeOf.Clear();
        _count = 0;
        _live = 0;
        _entry = -1;
        _maxLevel = -1;
        foreach (int node in live)
        {
            AddCore(ids[node], vectors.AsSpan(offset + (node * _dimension), _dimension), normalized: true);
        }
    }
}

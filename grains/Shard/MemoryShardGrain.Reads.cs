using MemRL.Core.Bank;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using MemRL.Index;

namespace MemRL.Grains.Shard;

// Reads: recall's search, the write path's nearest key, texts, single memories, samples, listing and stats. They change
// nothing, so they run between any two stretches of other turns.
internal sealed partial class MemoryShardGrain
{
    public async Task<ShardCandidates> SearchAsync(ShardSearch request, CancellationToken cancellationToken = default)
    {
        // The call may have waited in the queue past the coordinator's deadline: do no work for an answer nobody reads.
        cancellationToken.ThrowIfCancellationRequested();
        using var span = Telemetry.Source.StartActivity("memrl.shard.search");
        span?.SetTag("memrl.shard", _key);
        await EnsureVersionAsync(request.BankVersion);
        ThrowIfBroken();
        var filter = ScopeWire.ToFilter(request.Filter);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        // Keys copied in for slots this shard does not own yet (a move in progress) are skipped, so search deeper by
        // their number to still return k1 owned keys; a filtered search refuses them inside the walk instead.
        int found = filter is null ? FindKeys(request.Query, request.K1 + _unownedKeys) : FindMatchingKeys(request.Query, request.K1, filter);
        var keys = new List<ShardKeyCandidate>(Math.Min(found, request.K1));
        for (int i = 0; i < found && keys.Count < request.K1; i++)
        {
            var neighbor = _neighbors[i];
            if (neighbor.Similarity < request.Delta)
            {
                break;
            }

            int slot = KeySlots[neighbor.Id];
            if (!Owns(slot))
            {
                continue;
            }

            Table.TryGetKey(neighbor.Id, out var key);
            var candidate = MemoryTable.ToCandidate(key!, neighbor.Similarity, _options.MaxMemoriesPerKey, filter);
            var memories = new ShardMemoryCandidate[candidate.Memories.Count];
            for (int m = 0; m < memories.Length; m++)
            {
                var c = candidate.Memories[m];
                memories[m] = new ShardMemoryCandidate(c.Sequence, c.Q, c.Success);
            }

            keys.Add(new ShardKeyCandidate(neighbor.Id, slot, neighbor.Similarity, memories));
        }

        _activity.Searched(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return new ShardCandidates(_shard, [.. keys]);
    }

    public async Task<ShardKeyMatch?> NearestKeyAsync(ShardNearest request, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await EnsureVersionAsync(request.BankVersion);
        ThrowIfBroken();
        if (_options.MergeAcrossScopes)
        {
            int found = FindKeys(request.Intent, 1 + _unownedKeys);
            for (int i = 0; i < found; i++)
            {
                var best = _neighbors[i];
                if (Owns(KeySlots[best.Id]))
                {
                    return new ShardKeyMatch(best.Id, KeySlots[best.Id], best.Similarity);
                }
            }

            return null;
        }

        // Only a key of the write's own scope may be joined: the nearest of those (docs/scopes.md).
        var scope = request.Scope?.ToScope() ?? MemoryScope.None;
        // The filter "same scope as this write" (null for the empty scope, which no posting lists: its keys are found by
        // the walk).
        var sameScope = ScopeWire.ToFilter(ScopeWire.FilterOf(request.Scope));
        bool Joinable(long id) => Owns(KeySlots[id]) && Table.TryGetKey(id, out var key) && key.Scope == scope;
        int n = sameScope is null ? Search(request.Intent, 1, Joinable) : SearchAmongOrGraph(request.Intent, 1, _state.Postings.CandidateKeys(sameScope), Joinable);
        return n == 0 ? null : new ShardKeyMatch(_neighbors[0].Id, KeySlots[_neighbors[0].Id], _neighbors[0].Similarity);
    }

    public async Task<ShardMemoryText[]> FetchAsync(long bankVersion, long[] sequences)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        var texts = new List<ShardMemoryText>(sequences.Length);
        foreach (long sequence in sequences)
        {
            if (Table.TryGetMemory(sequence, out var memory))
            {
                texts.Add(new ShardMemoryText(sequence, memory.Experience, memory.IntentText, ScopeFields.From(memory.Scope), ScopeWire.From(memory.Metadata)));
            }
        }

        return [.. texts];
    }


    public async Task<MemoryInfo?> GetAsync(long bankVersion, MemoryId id)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        RequireRoutedHere(id);
        // An archived memory is out of recall, not gone: it reads with its archive time, so a client can restore it.
        if (!Table.TryGetAnyMemory(id.Sequence, out var m))
        {
            return null;
        }

        return Info(id, m);
    }

    public async Task<MemoryHistoryEntry[]?> GetHistoryAsync(long bankVersion, MemoryId id, long beforeOrdinal, int limit)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        RequireRoutedHere(id);
        // Read-your-writes: an acknowledged reward's row is in the store once everything applied so far is durable.
        await DurableAsync();
        if (!Table.TryGetAnyMemory(id.Sequence, out var m))
        {
            return null;
        }

        // Only ordinals up to the live one: a row past it was left by a commit that failed after staging it, and the
        // next entry with that ordinal overwrites it.
        long live = m.HistoryOrdinal;
        var rows = await store.ReadHistoryAsync(_key, id.Sequence, Math.Min(beforeOrdinal, live + 1), limit);
        return [.. rows.Select(r => HistoryCodec.Decode(r.Ordinal, r.Entry))];
    }

    public async Task<float[][]> SampleKeysAsync(long bankVersion, int count, int seed)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        if (count < 1)
        {
            throw FieldError.OutOfRange("sample", "at least 1", FieldError.Format(count));
        }

        var owned = Table.Keys.Where(k => Owns(KeySlots[k.Sequence])).Select(k => k.Sequence).ToArray();
        // Partial Fisher-Yates: the first `take` entries become a uniform sample without replacement.
        var random = new Random(seed);
        int take = Math.Min(count, owned.Length);
        var vectors = new float[take][];
        for (int i = 0; i < take; i++)
        {
            int j = random.Next(i, owned.Length);
            (owned[i], owned[j]) = (owned[j], owned[i]);
            vectors[i] = new float[_bank.Dimension];
            Index.TryGetVector(owned[i], vectors[i]);
        }

        return vectors;
    }


    public async Task<ShardMemoryPage> ListAsync(long bankVersion, long afterSequence, int limit, FilterClause[]? filter = null, MemoryListState state = MemoryListState.Active)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        if (limit < 1)
        {
            throw FieldError.OutOfRange("limit", "at least 1", FieldError.Format(limit));
        }

        var matching = ScopeWire.ToFilter(filter);
        // No index by sequence to maintain for a rare call (SequencePage).
        var walked = state switch
        {
            MemoryListState.Active => Table.Memories,
            MemoryListState.Archived => Table.ArchivedMemories,
            MemoryListState.All => Table.Memories.Concat(Table.ArchivedMemories),
            _ => throw FieldError.Invalid("state", "active, archived or all", state.ToString()),
        };
        var (page, above) = SequencePage.Lowest(
            walked, static m => m.Sequence, afterSequence, limit, m => Owns(KeySlots[m.KeySequence]) && (matching is null || matching.Matches(m)));
        var memories = Array.ConvertAll(page, m => Info(new MemoryId(_bank.Incarnation, KeySlots[m.KeySequence], m.Sequence), m));
        return new ShardMemoryPage(memories, above > limit);
    }

    private static MemoryInfo Info(MemoryId id, MemoryRecord m) =>
        new(id.ToString(), m.IntentText, m.Experience, m.Success, m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt,
            ScopeFields.From(m.Scope), ScopeWire.From(m.Metadata), m.Revision, m.ArchivedAt, m.RestoredAt, m.ExpiresAt);

    public async Task<ShardStats> GetStatsAsync(long bankVersion)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        // Summarised here, so the answer is the same size whatever the shard holds (ShardStatistics).
        var owned = Table.Keys.Where(key => Owns(KeySlots[key.Sequence])).ToList();
        return ShardStatistics.Of(_shard, owned, time.GetUtcNow()) with
        {
            ArchivedMemories = Table.ArchivedMemories.Count(m => Owns(KeySlots[m.KeySequence])),
        };
    }


    // A filtered Phase A: the k1 nearest owned keys with a memory that passes the filter. Few candidate keys (from the
    // postings) are scanned exactly; otherwise the graph walk refuses the others as it goes (docs/scopes.md).
    private int FindMatchingKeys(float[] query, int k, MemoryFilter filter)
    {
        bool Matches(long id) => Owns(KeySlots[id]) && Table.TryGetKey(id, out var key) && filter.MatchesAny(key);
        return SearchAmongOrGraph(query, k, _state.Postings.CandidateKeys(filter), Matches);
    }

    private int SearchAmongOrGraph(float[] query, int k, IReadOnlyCollection<long> candidates, Func<long, bool> accept)
    {
        EnsureNeighbors(k);
        if (candidates.Count == 0 || Index.Count == 0)
        {
            return 0;
        }

        // Exact mode answers exactly either way; the scan is the cheaper exact answer.
        return _bank.Index.Exact || candidates.Count <= ExactScanLimit()
            ? Index.SearchAmong(query, candidates, k, _searchContext, _neighbors.AsSpan(0, k), accept)
            : Search(query, k, accept);
    }

    // Up to this many candidate keys a scan beats a walk that refuses most nodes, and is exact: measured at 100k x 384,
    // the scan of 10 % of the keys still beat the filtered walk, whose recall@10 fell to 0.92-0.95 at 0.5-2 %
    // (docs/benchmarks.md, "Text recall and filtered recall"). k bounds nothing here: the scan's cost is the candidates'.
    private int ExactScanLimit() => Math.Max(2_000, Index.Count / 10);

    private int Search(float[] query, int k, Func<long, bool> accept)
    {
        EnsureNeighbors(k);
        if (Index.Count == 0)
        {
            return 0;
        }

        var mode = _bank.Index.Exact ? SearchMode.Exact : SearchMode.Auto;
        return Index.Search(query, k, Math.Max(_bank.Index.EfSearch, k), _searchContext, _neighbors.AsSpan(0, k), mode, accept);
    }

    private void EnsureNeighbors(int k)
    {
        if (_neighbors.Length < k)
        {
            _neighbors = new Neighbor[k];
        }
    }

    private int FindKeys(float[] query, int k)
    {
        if (Index.Count == 0)
        {
            return 0;
        }

        if (_neighbors.Length < k)
        {
            _neighbors = new Neighbor[k];
        }

        var mode = _bank.Index.Exact ? SearchMode.Exact : SearchMode.Auto;
        return Index.Search(query, k, Math.Max(_bank.Index.EfSearch, k), _searchContext, _neighbors.AsSpan(0, k), mode);
    }
}

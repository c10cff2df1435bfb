using MemRL.Core.Recall;

namespace MemRL.Core.Bank;

/// <summary>
/// Intent keys and their memories, with MemRL's mutations (add, reward, delete). The reference bank and each shard grain
/// own one; how keys are searched (brute force or HNSW) is the owner's business. Not thread-safe: one owner at a time.
/// </summary>
public sealed class MemoryTable
{
    private readonly Dictionary<long, IntentKey> _keys = [];
    private readonly Dictionary<long, MemoryRecord> _memories = [];
    private readonly Dictionary<long, MemoryRecord> _archived = [];
    private readonly Dictionary<long, IntentKey> _archivedKeys = [];

    /// <summary>Number of intent keys.</summary>
    public int KeyCount => _keys.Count;

    /// <summary>Number of memories.</summary>
    public int MemoryCount => _memories.Count;

    /// <summary>All keys (unordered).</summary>
    public IEnumerable<IntentKey> Keys => _keys.Values;

    /// <summary>All active memories (unordered).</summary>
    public IEnumerable<MemoryRecord> Memories => _memories.Values;

    /// <summary>Number of archived memories (out of recall, restorable).</summary>
    public int ArchivedCount => _archived.Count;

    /// <summary>All archived memories (unordered).</summary>
    public IEnumerable<MemoryRecord> ArchivedMemories => _archived.Values;

    /// <summary>Looks an archived memory up.</summary>
    public bool TryGetArchived(long memorySequence, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MemoryRecord? memory) =>
        _archived.TryGetValue(memorySequence, out memory);

    /// <summary>
    /// Archives an active memory: it leaves its key (so recall no longer sees it) and, when it was the key's last active
    /// memory, the key leaves the graph too and is kept aside for a restore.
    /// </summary>
    /// <returns>The key that left the graph, if any.</returns>
    public long? Archive(long memorySequence, DateTimeOffset now)
    {
        if (!_memories.Remove(memorySequence, out var memory))
        {
            throw new KeyNotFoundException($"Memory {memorySequence} is not active.");
        }

        var key = _keys[memory.KeySequence];
        key.Memories.Remove(memory);
        key.Archived.Add(memory);
        memory.ArchivedAt = now;
        _archived.Add(memorySequence, memory);
        if (key.Memories.Count > 0)
        {
            return null;
        }

        _keys.Remove(key.Sequence);
        _archivedKeys.Add(key.Sequence, key);
        return key.Sequence;
    }

    /// <summary>Brings an archived memory back into its key, in sequence order; a key that had left the graph returns.</summary>
    /// <returns>The key that returned to the graph, if any.</returns>
    public long? Restore(long memorySequence, DateTimeOffset now)
    {
        if (!_archived.Remove(memorySequence, out var memory))
        {
            throw new KeyNotFoundException($"Memory {memorySequence} is not archived.");
        }

        long? returned = null;
        if (!_keys.TryGetValue(memory.KeySequence, out var key))
        {
            key = _archivedKeys[memory.KeySequence];
            _archivedKeys.Remove(key.Sequence);
            _keys.Add(key.Sequence, key);
            returned = key.Sequence;
        }

        key.Archived.Remove(memory);
        memory.ArchivedAt = null;
        memory.RestoredAt = now;
        // A restore is the caller wanting the memory back: an expiry that archived it would archive it again at once.
        memory.ExpiresAt = null;
        _memories.Add(memorySequence, memory);
        // Keep the key's list oldest first (the per-key cap and canonical order depend on it).
        int at = key.Memories.FindIndex(m => m.Sequence > memorySequence);
        key.Memories.Insert(at < 0 ? key.Memories.Count : at, memory);
        return returned;
    }

    /// <summary>Removes an archived memory for good; a set-aside key with nothing left is removed with it.</summary>
    /// <returns>The set-aside key removed with it, if any (it was already out of the graph).</returns>
    public long? Purge(long memorySequence)
    {
        if (!_archived.Remove(memorySequence, out var memory))
        {
            throw new KeyNotFoundException($"Memory {memorySequence} is not archived.");
        }

        IntentKey key = _keys.TryGetValue(memory.KeySequence, out var live) ? live : _archivedKeys[memory.KeySequence];
        key.Archived.Remove(memory);
        if (key.ArchivedCount == 0 && key.Memories.Count == 0)
        {
            _archivedKeys.Remove(key.Sequence);
            return key.Sequence;
        }

        return null;
    }

    private MemoryRecord Any(long memorySequence) =>
        TryGetAnyMemory(memorySequence, out var memory) ? memory : throw new KeyNotFoundException($"Memory {memorySequence} does not exist.");

    /// <summary>Adds a key with an already normalised vector.</summary>
    public IntentKey AddKey(long keySequence, string intentText, float[] unitVector)
    {
        var key = new IntentKey(keySequence, intentText, unitVector);
        if (!_keys.TryAdd(keySequence, key))
        {
            throw new InvalidOperationException($"Key {keySequence} already exists.");
        }

        return key;
    }

    /// <summary>Adds a memory to an existing key (one set aside returns to the graph: see <see cref="IsSetAside"/> before).</summary>
    public MemoryRecord AddMemory(long memorySequence, long keySequence, string intentText, string experience, bool success, double qInit, DateTimeOffset now,
        MemoryScope? scope = null, MemoryMetadata? metadata = null)
    {
        if (!_keys.TryGetValue(keySequence, out var key))
        {
            // A key kept aside for its archived memories returns to the graph with an active one (an import or a slot move
            // bringing a memory the copy here did not have; writes never join such a key).
            if (!_archivedKeys.Remove(keySequence, out key))
            {
                throw new KeyNotFoundException($"Key {keySequence} does not exist.");
            }

            _keys.Add(keySequence, key);
        }

        var memory = new MemoryRecord(memorySequence, keySequence, intentText, experience, success, qInit, now)
        {
            Scope = scope ?? MemoryScope.None,
            Metadata = metadata ?? MemoryMetadata.Empty,
        };
        if (!_memories.TryAdd(memorySequence, memory))
        {
            throw new InvalidOperationException($"Memory {memorySequence} already exists.");
        }

        // Sequences increase with age, so appending keeps the key's list oldest first.
        key.Memories.Add(memory);
        return memory;
    }

    /// <summary>Looks a memory up.</summary>
    public bool TryGetMemory(long memorySequence, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MemoryRecord? memory) =>
        _memories.TryGetValue(memorySequence, out memory);

    /// <summary>Whether <paramref name="keySequence"/> is out of the graph with only archived memories, kept for a restore.</summary>
    public bool IsSetAside(long keySequence) => _archivedKeys.ContainsKey(keySequence);

    /// <summary>The keys out of the graph with only archived memories (unordered).</summary>
    public IEnumerable<IntentKey> SetAsideKeys => _archivedKeys.Values;

    /// <summary>Looks a key up, in the graph or set aside.</summary>
    public bool TryGetAnyKey(long keySequence, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IntentKey? key) =>
        _keys.TryGetValue(keySequence, out key) || _archivedKeys.TryGetValue(keySequence, out key);

    /// <summary>Looks a memory up, active or archived.</summary>
    public bool TryGetAnyMemory(long memorySequence, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MemoryRecord? memory) =>
        _memories.TryGetValue(memorySequence, out memory) || _archived.TryGetValue(memorySequence, out memory);

    /// <summary>Sets when an active memory was last restored (a moved or imported copy keeps its source's clock).</summary>
    public void SetRestoredAt(long memorySequence, DateTimeOffset restoredAt) => _memories[memorySequence].RestoredAt = restoredAt;

    /// <summary>Looks a key up.</summary>
    public bool TryGetKey(long keySequence, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IntentKey? key) =>
        _keys.TryGetValue(keySequence, out key);

    /// <summary>Records a memory's provenance parents (at its write, or on log replay).</summary>
    public void SetAncestors(long memorySequence, IReadOnlyList<long> ancestors) => _memories[memorySequence].Ancestors = [.. ancestors];

    /// <summary>Applies a reward's discounted credit to an ancestor (<see cref="ProvenanceCredit"/>): Q moves with the
    /// eligibility-scaled rate, and neither the visit count (the UCB n counts direct rewards) nor the last reward changes.</summary>
    public double ApplyCredit(long memorySequence, double q, DateTimeOffset now)
    {
        var memory = _memories[memorySequence];
        memory.Q = q;
        memory.UpdatedAt = now;
        return q;
    }

    /// <summary>Applies one reward to one memory, active or archived (a reward of a recall made before the archive still
    /// counts), with <see cref="QRule"/>; returns the new Q.</summary>
    public double ApplyReward(long memorySequence, double reward, double alpha, double? floor, DateTimeOffset now)
    {
        var memory = Any(memorySequence);
        memory.Q = QRule.Update(memory.Q, reward, alpha, floor);
        memory.Visits++;
        memory.LastReward = reward;
        memory.UpdatedAt = now;
        return memory.Q;
    }

    /// <summary>Sets a memory's scope and metadata (log replay: they travel in their own event after the memory's).</summary>
    public void Tag(long memorySequence, MemoryScope scope, MemoryMetadata metadata)
    {
        var memory = _memories[memorySequence];
        memory.Scope = scope;
        memory.Metadata = metadata;
    }

    /// <summary>Replaces an active memory's experience text (an edit); Q, visits, timestamps and the key stay.</summary>
    public void SetExperience(long memorySequence, string experience) => _memories[memorySequence].Experience = experience;

    /// <summary>Sets a memory's expiry (active or archived): at its write, or a replay or a move restoring it.</summary>
    public void SetExpiry(long memorySequence, DateTimeOffset? expiresAt) => Any(memorySequence).ExpiresAt = expiresAt;

    /// <summary>Sets a memory's revision (active or archived): an edit, an archive and a restore raise it by one, a replay or a
    /// move restores the recorded one.</summary>
    public void SetRevision(long memorySequence, int revision) => Any(memorySequence).Revision = revision;

    /// <summary>
    /// Whether a write of <paramref name="scope"/> may join <paramref name="key"/>: keys hold one scope each unless the bank
    /// merges across scopes (docs/scopes.md).
    /// </summary>
    public static bool CanJoin(IntentKey key, MemoryScope scope, bool mergeAcrossScopes) => mergeAcrossScopes || key.Scope == scope;

    /// <summary>Sets a memory's Q directly (log replay and snapshots), active or archived, keeping its bookkeeping.</summary>
    public void RestoreQ(long memorySequence, double q, int visits, double? lastReward, DateTimeOffset updatedAt)
    {
        var memory = Any(memorySequence);
        memory.Q = q;
        memory.Visits = visits;
        memory.LastReward = lastReward;
        memory.UpdatedAt = updatedAt;
    }

    /// <summary>Deletes a memory, active or archived; a key left without memories is deleted too, and one left with
    /// archived memories only leaves the graph (<see cref="IsSetAside"/>).</summary>
    /// <returns>Whether the memory existed, and the key that left the graph or was removed with it, if any.</returns>
    public (bool Deleted, long? RemovedKey) Delete(long memorySequence)
    {
        if (_archived.ContainsKey(memorySequence))
        {
            // Deleting an archived memory is purging it early; its key, if that removes it, had already left the graph.
            return (true, Purge(memorySequence));
        }

        if (!_memories.Remove(memorySequence, out var memory))
        {
            return (false, null);
        }

        var key = _keys[memory.KeySequence];
        key.Memories.Remove(memory);
        if (key.Memories.Count > 0)
        {
            return (true, null);
        }

        _keys.Remove(key.Sequence);
        if (key.ArchivedCount > 0)
        {
            // The key leaves the graph but its archived memories may still come back.
            _archivedKeys.Add(key.Sequence, key);
        }

        return (true, key.Sequence);
    }

    /// <summary>
    /// The compact Phase-A candidate of <paramref name="key"/>: its memories that pass <paramref name="filter"/> (all when
    /// null), then capped per <paramref name="maxMemoriesPerKey"/> — the filter first, so memories that do not match
    /// never take a place under the cap.
    /// </summary>
    public static KeyCandidate ToCandidate(IntentKey key, float similarity, int maxMemoriesPerKey, MemoryFilter? filter = null)
    {
        var all = new List<MemoryCandidate>(key.Memories.Count);
        foreach (var m in key.Memories)
        {
            if (filter is null || filter.Matches(m))
            {
                all.Add(new MemoryCandidate(m.Sequence, m.Q, m.Success, m.Visits));
            }
        }

        return new KeyCandidate(key.Sequence, similarity, KeyMemoryCap.Select(all, maxMemoriesPerKey));
    }
}

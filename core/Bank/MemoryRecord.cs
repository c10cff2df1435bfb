namespace MemRL.Core.Bank;

/// <summary>One memory (z, e, Q) and its bookkeeping. Mutated only by its owner (a shard grain's turn, or the reference bank).</summary>
public sealed class MemoryRecord
{
    internal MemoryRecord(long sequence, long keySequence, string intentText, string experience, bool success, double q, DateTimeOffset createdAt)
    {
        Sequence = sequence;
        KeySequence = keySequence;
        IntentText = intentText;
        Experience = experience;
        Success = success;
        Q = q;
        CreatedAt = createdAt;
        UpdatedAt = createdAt;
    }

    /// <summary>Bank-wide memory sequence.</summary>
    public long Sequence { get; }

    /// <summary>The intent key this memory belongs to.</summary>
    public long KeySequence { get; }

    /// <summary>The intent text of the episode that wrote it (may differ slightly from its key's when it joined a key).</summary>
    public string IntentText { get; }

    /// <summary>The experience e: a script and trajectory on success, a reflection and trajectory on failure; an edit
    /// may correct it (it never changes Q, visits or the key).</summary>
    public string Experience { get; internal set; }

    /// <summary>Whether the episode that wrote it succeeded.</summary>
    public bool Success { get; }

    /// <summary>Learned utility.</summary>
    public double Q { get; internal set; }

    /// <summary>Number of Q updates applied.</summary>
    public int Visits { get; internal set; }

    /// <summary>How many changes other than rewards it has had: edits, archives and restores. With <see cref="Visits"/> it
    /// numbers the memory's history: every reward, edit, archive and restore adds one entry, so
    /// <see cref="HistoryOrdinal"/> rises by one per entry.</summary>
    public int Revision { get; internal set; }

    /// <summary>The ordinal of its newest history entry: visits + revision.</summary>
    public long HistoryOrdinal => (long)Visits + Revision;

    /// <summary>The last reward applied, if any.</summary>
    public double? LastReward { get; internal set; }

    /// <summary>When it was written.</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>When Q last changed (or creation).</summary>
    public DateTimeOffset UpdatedAt { get; internal set; }

    /// <summary>Who the memory belongs to (set at write; <see cref="MemoryScope.None"/> when written without one).</summary>
    public MemoryScope Scope { get; internal set; } = MemoryScope.None;

    /// <summary>The key–values the memory was written with.</summary>
    public MemoryMetadata Metadata { get; internal set; } = MemoryMetadata.Empty;

    /// <summary>When it was archived; null while active (docs/retention.md).</summary>
    public DateTimeOffset? ArchivedAt { get; internal set; }

    /// <summary>When its time to live, given at write time, ends: the first retention run at or after it archives the memory
    /// whatever its Q (docs/retention.md). Null: no expiry. A restore clears it, since the caller wants the memory back.</summary>
    public DateTimeOffset? ExpiresAt { get; internal set; }

    /// <summary>When it was last restored from the archive, if ever.</summary>
    public DateTimeOffset? RestoredAt { get; internal set; }

    /// <summary>The later of its last reward (or write) and its last restore: the age rules' clock, so a restored memory
    /// is not archived again by the next run for the idleness that archived it.</summary>
    public DateTimeOffset LastActiveAt => RestoredAt is { } restored && restored > UpdatedAt ? restored : UpdatedAt;

    /// <summary>The memories that were in the recall context this memory was written from (its provenance parents), in
    /// recall order; fixed at write time, and empty unless the bank had <see cref="MemRLOptions.ProvenanceDecay"/> on then.</summary>
    public IReadOnlyList<long> Ancestors { get; internal set; } = [];
}

/// <summary>An intent key: a normalised intent vector owning one or more memories (the authors' "bucket").</summary>
public sealed class IntentKey
{
    internal IntentKey(long sequence, string intentText, float[] vector)
    {
        Sequence = sequence;
        IntentText = intentText;
        Vector = vector;
    }

    /// <summary>Bank-wide key creation sequence: the tie-break after similarity.</summary>
    public long Sequence { get; }

    /// <summary>The intent text the key was made from; kept so a bank can be re-embedded.</summary>
    public string IntentText { get; }

    /// <summary>The unit-length intent vector.</summary>
    public float[] Vector { get; }

    /// <summary>The key's active memories, oldest first.</summary>
    public List<MemoryRecord> Memories { get; } = [];

    /// <summary>The key's archived memories (unordered): a key with none active but some archived leaves the graph and is
    /// kept aside so a restore brings it back; slot moves and exports carry them with the key.</summary>
    public HashSet<MemoryRecord> Archived { get; } = [];

    /// <summary>How many of the key's memories are archived.</summary>
    public int ArchivedCount => Archived.Count;

    /// <summary>
    /// The key's scope: its oldest memory's. Unless the bank merges across scopes every memory of a key has it, because
    /// a write joins only keys of its own scope (<see cref="MemoryTable.CanJoin"/>).
    /// </summary>
    public MemoryScope Scope => Memories.Count > 0 ? Memories[0].Scope : MemoryScope.None;
}

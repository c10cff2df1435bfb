using MemRL.Core.Bank;
using MemRL.Errors;
using MemRL.Grains.Storage;
using MemRL.Index;

namespace MemRL.Grains.Shard;

/// <summary>
/// A shard's in-memory state and the one code path that changes it: <see cref="Apply"/>. Live turns build an event,
/// apply it here and append it to the log; activation replays the same events through the same method, which is why a
/// recovered shard equals the one that wrote the log (same Q bits, same keys; HNSW levels derive from (seed, id), so
/// the same inserts give the same graph). Its snapshot format is <see cref="SnapshotCodec"/>. Not thread-safe: owned by
/// one grain activation.
/// </summary>
internal sealed class ShardState
{
    // Memories whose payload row was missing when replayed: legal only if a later event deletes them.
    private readonly HashSet<long> _missingPayloads = [];

    public ShardState(HnswIndex index, int operationCapacity)
    {
        Index = index;
        Operations = new OperationLog(operationCapacity);
        Postings = new ScopePostings(Table);
    }

    public MemoryTable Table { get; } = new();

    public Dictionary<long, int> KeySlots { get; } = [];

    public HnswIndex Index { get; private set; }

    public OperationLog Operations { get; }

    public RecallRewardLog RecallRewards { get; } = new();

    /// <summary>Which keys hold memories of each scope value and metadata entry: how a filtered search finds its keys.</summary>
    public ScopePostings Postings { get; }

    /// <summary>
    /// The unit vectors of keys out of the graph because all their memories are archived (<see cref="MemoryTable.IsSetAside"/>):
    /// taken from the index when the key leaves it, given back to it on a restore, so the key returns with the same bits.
    /// Snapshots store them (a key's payload row keeps the vector as written, which need not be the unit vector).
    /// </summary>
    public Dictionary<long, float[]> SetAsideVectors { get; } = [];

    /// <summary>Applies one event. <paramref name="payloads"/> resolves the texts and vectors the event references.</summary>
    public void Apply(ShardEvent change, IReadOnlyDictionary<long, StoredPayload> payloads)
    {
        switch (change)
        {
            case KeyCreated e:
                AddKey(e.Key, e.Slot, payloads, normalized: false);
                break;
            case KeyImported e:
                AddKey(e.Key, e.Slot, payloads, normalized: true);
                break;
            case MemoryAdded e:
                if (!payloads.TryGetValue(e.Memory, out var memoryPayload))
                {
                    _missingPayloads.Add(e.Memory);
                }

                bool returns = Table.IsSetAside(e.Key);
                Table.AddMemory(e.Memory, e.Key, memoryPayload?.IntentText ?? "", memoryPayload?.Experience ?? "", e.Success, e.Q, e.CreatedAt);
                if (returns)
                {
                    ReturnToGraph(e.Key);
                }

                break;
            case MemoryTagged e:
                // At write time the memory has no tags yet; an edit's replace its old ones, which leave the postings first.
                Postings.Remove(e.Memory);
                Table.Tag(e.Memory, e.Scope, e.Metadata);
                Postings.Add(e.Memory);
                break;
            case MemoryEdited e:
                if (e.Experience)
                {
                    if (payloads.TryGetValue(e.Memory, out var edited) && edited.Experience is { } experience)
                    {
                        Table.SetExperience(e.Memory, experience);
                    }
                    else
                    {
                        _missingPayloads.Add(e.Memory);
                    }
                }

                Table.SetRevision(e.Memory, e.Revision);
                break;
            case QUpdated e:
                Table.RestoreQ(e.Memory, e.Q, e.Visits, e.Reward, e.UpdatedAt);
                break;
            case MemoryArchived e:
                // Out of recall at once; a key left with archived memories only leaves the graph too.
                Postings.Remove(e.Memory);
                if (Table.Archive(e.Memory, e.At) is { } left)
                {
                    SetAside(left);
                }

                break;
            case MemoryExpires e:
                Table.SetExpiry(e.Memory, e.ExpiresAt);
                break;
            case MemoryRestored e:
                if (Table.TryGetArchived(e.Memory, out _))
                {
                    if (Table.Restore(e.Memory, e.At) is { } returned)
                    {
                        ReturnToGraph(returned);
                    }

                    Postings.Add(e.Memory);
                }
                else
                {
                    // A moved or imported copy that is active already takes its source's restore time.
                    Table.SetRestoredAt(e.Memory, e.At);
                }

                break;
            case MemoryDeleted e:
                Postings.Remove(e.Memory);
                var (_, removedKey) = Table.Delete(e.Memory);
                _missingPayloads.Remove(e.Memory);
                if (removedKey is { } key)
                {
                    if (Table.IsSetAside(key))
                    {
                        // Its last active memory went, archived ones remain: out of the graph, restorable.
                        SetAside(key);
                    }
                    else
                    {
                        Index.Remove(key);
                        SetAsideVectors.Remove(key);
                        KeySlots.Remove(key);
                        _missingPayloads.Remove(~key);
                    }
                }

                break;
            case OperationApplied e:
                Operations.Record(e.OperationId, e.PayloadHash, e.Result);
                break;
            case RecallRewarded e:
                RecallRewards.Record(e.Recall, e.Memory, new RecallReward(e.Reward, e.Q, e.Visits, e.ExpiresTicks));
                break;
            default:
                throw FieldError.Invalid(nameof(change), "a shard event", change.GetType().Name);
        }
    }

    private void ReturnToGraph(long key)
    {
        Index.AddNormalized(key, SetAsideVectors[key]);
        SetAsideVectors.Remove(key);
    }

    private void SetAside(long key)
    {
        var vector = new float[Index.Options.Dimension];
        Index.TryGetVector(key, vector);
        Index.Remove(key);
        SetAsideVectors.Add(key, vector);
    }

    private void AddKey(long key, int slot, IReadOnlyDictionary<long, StoredPayload> payloads, bool normalized)
    {
        payloads.TryGetValue(key, out var keyPayload);
        // The vector lives in the index; the table keeps the key's text and memories only.
        Table.AddKey(key, keyPayload?.IntentText ?? "", []);
        KeySlots.Add(key, slot);
        if (keyPayload?.Vector is not { } vector)
        {
            _missingPayloads.Add(~key);
        }
        else if (normalized)
        {
            Index.AddNormalized(key, vector);
        }
        else
        {
            Index.Add(key, vector);
        }
    }

    /// <summary>Throws when a surviving key or memory had no payload row: the store lost data it had acknowledged.</summary>
    public void VerifyPayloads(string shard)
    {
        if (_missingPayloads.Count > 0)
        {
            long first = _missingPayloads.First();
            throw new InvalidDataException(
                $"Shard '{shard}' has {_missingPayloads.Count} live record(s) without a payload row (first: {(first < 0 ? $"key {~first}" : $"memory {first}")}); expected every live key and memory to have one.");
        }
    }

    /// <summary>Adds a key and its memories read from a snapshot (texts and the vector come from the payload rows).</summary>
    public void RestoreKey(SnapshotKey key, IReadOnlyDictionary<long, StoredPayload> payloads)
    {
        // A payload may be missing when the log tail deletes the record after the snapshot (deletes are physical);
        // VerifyPayloads, after the tail is replayed, fails the load if any live record is still without one.
        if (!payloads.TryGetValue(key.Key, out var keyPayload))
        {
            _missingPayloads.Add(~key.Key);
        }

        Table.AddKey(key.Key, keyPayload?.IntentText ?? "", []);
        KeySlots.Add(key.Key, key.Slot);
        foreach (var m in key.Memories)
        {
            if (!payloads.TryGetValue(m.Sequence, out var payload))
            {
                _missingPayloads.Add(m.Sequence);
            }

            Table.AddMemory(m.Sequence, key.Key, payload?.IntentText ?? "", payload?.Experience ?? "", m.Success, m.Q, new DateTimeOffset(m.CreatedTicks, TimeSpan.Zero),
                m.Scope, m.Metadata);
            Postings.Add(m.Sequence);
            RestoreMemoryFields(m);
        }
    }

    /// <summary>Adds a snapshot's archive: the keys out of the graph (with the unit vectors they left it with) and the
    /// archived memories. Called after <see cref="RestoreKey"/>; the index read from the snapshot holds neither.</summary>
    public void RestoreArchive(
        IReadOnlyList<(long Key, int Slot, float[] Vector)> setAside, IReadOnlyList<(long Key, SnapshotMemory Memory, long ArchivedTicks)> archived,
        IReadOnlyDictionary<long, StoredPayload> payloads)
    {
        foreach (var (key, slot, vector) in setAside)
        {
            payloads.TryGetValue(key, out var keyPayload);
            if (keyPayload is null)
            {
                _missingPayloads.Add(~key);
            }

            Table.AddKey(key, keyPayload?.IntentText ?? "", []);
            KeySlots.Add(key, slot);
            SetAsideVectors.Add(key, vector);
        }

        // Every memory goes in before any is archived: a set-aside key leaves the table's graph with its last one.
        foreach (var (key, m, _) in archived)
        {
            if (!payloads.TryGetValue(m.Sequence, out var payload))
            {
                _missingPayloads.Add(m.Sequence);
            }

            Table.AddMemory(m.Sequence, key, payload?.IntentText ?? "", payload?.Experience ?? "", m.Success, m.Q, new DateTimeOffset(m.CreatedTicks, TimeSpan.Zero),
                m.Scope, m.Metadata);
            RestoreMemoryFields(m);
        }

        foreach (var (_, m, archivedTicks) in archived)
        {
            Table.Archive(m.Sequence, new DateTimeOffset(archivedTicks, TimeSpan.Zero));
        }
    }

    private void RestoreMemoryFields(SnapshotMemory m)
    {
        Table.RestoreQ(m.Sequence, m.Q, m.Visits, m.LastReward, new DateTimeOffset(m.UpdatedTicks, TimeSpan.Zero));
        Table.SetRevision(m.Sequence, m.Revision);
        if (m.RestoredTicks is { } restored)
        {
            Table.SetRestoredAt(m.Sequence, new DateTimeOffset(restored, TimeSpan.Zero));
        }

        if (m.ExpiresTicks is { } expires)
        {
            Table.SetExpiry(m.Sequence, new DateTimeOffset(expires, TimeSpan.Zero));
        }
    }
}

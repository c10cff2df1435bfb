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

                Table.AddMemory(e.Memory, e.Key, memoryPayload?.IntentText ?? "", memoryPayload?.Experience ?? "", e.Success, e.Q, e.CreatedAt);
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
            case MemoryDeleted e:
                Postings.Remove(e.Memory);
                var (_, removedKey) = Table.Delete(e.Memory);
                _missingPayloads.Remove(e.Memory);
                if (removedKey is { } key)
                {
                    Index.Remove(key);
                    KeySlots.Remove(key);
                    _missingPayloads.Remove(~key);
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
            Table.RestoreQ(m.Sequence, m.Q, m.Visits, m.LastReward, new DateTimeOffset(m.UpdatedTicks, TimeSpan.Zero));
            Table.SetRevision(m.Sequence, m.Revision);
        }
    }
}

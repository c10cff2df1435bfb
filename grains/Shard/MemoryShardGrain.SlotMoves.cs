using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Grains.Shard;

// Slot moves (docs/slot-moves.md): a source's keys exported in pages, imported on the target as a difference (hidden from
// search until the target owns the slot), the exactly-once records carried along, and the old owner's copies dropped
// once the new map takes effect.
internal sealed partial class MemoryShardGrain
{
    public async Task<SlotExportPage> ExportSlotsAsync(long bankVersion, int[] slots, long afterKey, int maxKeys, int maxBytes)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        if (maxKeys < 1)
        {
            throw FieldError.OutOfRange("maxKeys", "at least 1", FieldError.Format(maxKeys));
        }

        var wanted = slots.ToHashSet();
        // The lowest sequences of the wanted slots after the cursor (SequencePage: no sort of the shard per page): a page
        // is a prefix of what remains, so a retried or resumed page starts where the last one that landed ended.
        // Keys out of the graph (all their memories archived) move too, with their archived memories.
        var (ordered, remaining) = SequencePage.Lowest(
            Table.Keys.Concat(Table.SetAsideKeys), static k => k.Sequence, afterKey, maxKeys, k => wanted.Contains(KeySlots[k.Sequence]));
        var page = new List<KeyExport>();
        long bytes = 0;
        foreach (var key in ordered)
        {
            if (page.Count > 0 && bytes >= maxBytes)
            {
                break;
            }

            var vector = new float[_bank.Dimension];
            if (!Index.TryGetVector(key.Sequence, vector))
            {
                _state.SetAsideVectors[key.Sequence].CopyTo(vector, 0);
            }

            int slot = KeySlots[key.Sequence];
            // Active and archived, oldest first: the importer adds them in this order (MemoryInfo.ArchivedAt tells them apart).
            var memories = key.Memories.Concat(key.Archived).OrderBy(m => m.Sequence)
                .Select(m => Info(new MemoryId(_bank.Incarnation, slot, m.Sequence), m)).ToArray();
            bytes += (vector.Length * sizeof(float)) + (2 * key.IntentText.Length)
                + memories.Sum(m => 64L + (2L * (m.IntentText.Length + m.Experience.Length)) + (64L * Math.Min((long)m.Visits + m.Revision, StoredHistory.Slots)));
            page.Add(new KeyExport(key.Sequence, slot, key.IntentText, vector, memories));
        }

        bool more = page.Count < remaining;
        // History rows live in the store, not in state: read after the page is cut (and what it shows is durable), each
        // memory's only up to the visits + revision the page exports, so rows and the exported Q agree. The import upserts them
        // with the change that brings the memory (or its rewards) over.
        if (page.Any(k => k.Memories.Any(m => m.Visits + m.Revision > 0)))
        {
            await DurableAsync();
            for (int i = 0; i < page.Count; i++)
            {
                var rows = new List<HistoryRowExport>();
                foreach (var m in page[i].Memories.Where(m => m.Visits + m.Revision > 0))
                {
                    long sequence = MemoryId.Parse(m.Id, "id").Sequence;
                    foreach (var row in await store.ReadHistoryAsync(_key, sequence, (long)m.Visits + m.Revision + 1L, StoredHistory.Slots))
                    {
                        rows.Add(new HistoryRowExport(sequence, row.Ordinal, row.Entry));
                    }
                }

                page[i] = page[i] with { History = rows };
            }
        }

        return new SlotExportPage([.. page], more ? page[^1].KeySequence : null);
    }

    public async Task ImportAsync(long bankVersion, IReadOnlyList<KeyExport> keys)
    {
        await EnsureVersionAsync(bankVersion);
        await IndexWritableAsync();
        BeginStretch();
        var plan = SlotImportPlan.For(_state, keys);
        foreach (var (change, row) in plan.Changes)
        {
            Change(change, row);
        }

        foreach (long row in plan.RowDeletes)
        {
            DeleteRow(row);
        }

        // Keys written elsewhere come with sequences from other shards' blocks: writes here must number above them.
        if (keys.Count > 0)
        {
            _sequences.SkipPast(keys.Max(k => Math.Max(k.KeySequence, k.Memories.Count == 0 ? k.KeySequence : k.Memories.Max(m => MemoryId.Parse(m.Id, "memories.id").Sequence))));
        }

        // A memory's history rows travel with the change that brings it or its rewards: in the same commit, and an
        // import that changes nothing (a repeat) writes none, because the first one already did.
        foreach (var history in plan.History)
        {
            _log.QueueHistory(history);
        }

        CountUnowned();
        if (plan.Changes.Count > 0)
        {
            await CommitAsync();
        }
        else
        {
            await DurableAsync();
        }
    }

    public async Task DropCopiesAsync(long bankVersion, int[] slots)
    {
        await EnsureVersionAsync(bankVersion);
        await IndexWritableAsync();
        BeginStretch();
        if (slots.Where(Owns).Select(static s => (int?)s).FirstOrDefault() is { } owned)
        {
            throw FieldError.Invalid("slots", $"slots shard {_shard} does not own", $"slot {owned} (owned here)");
        }

        var drop = slots.ToHashSet();
        if (DropKeys(k => drop.Contains(k.Value)))
        {
            await CommitAsync();
        }
    }

    // After a move takes effect (or is undone) a shard logs the deletion of the keys of slots it does not own: the old
    // owner's given-away keys, or a target's copies from a move that did not complete.
    private async Task DropGivenAwayAsync()
    {
        await IndexWritableAsync();
        BeginStretch();
        if (_bank.MovingSlots is { Count: > 0 } || !DropKeys(k => !Owns(k.Value)))
        {
            CountUnowned();
            return;
        }

        await CommitAsync();
    }

    // Deletes every key (its memories' events, all their rows) whose (key, slot) entry matches; true if any.
    private bool DropKeys(Func<KeyValuePair<long, int>, bool> which)
    {
        var keys = KeySlots.Where(which).Select(k => k.Key).ToList();
        foreach (long key in keys)
        {
            Table.TryGetAnyKey(key, out var dropped);
            foreach (var memory in dropped!.Memories.Concat(dropped.Archived).ToList())
            {
                DeleteMemory(memory);
            }
        }

        CountUnowned();
        return keys.Count > 0;
    }

    public async Task<IReadOnlyList<byte[]>> ExportSlotRecordsAsync(long bankVersion, int[] slots)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        var wanted = slots.ToHashSet();
        var bySlot = new Dictionary<int, List<ShardEvent>>();
        void Add(int slot, ShardEvent change)
        {
            if (wanted.Contains(slot))
            {
                (bySlot.TryGetValue(slot, out var list) ? list : bySlot[slot] = []).Add(change);
            }
        }

        foreach (var (id, hash, result) in _state.Operations.Entries)
        {
            var change = new OperationApplied(id, hash, result);
            int home = OperationIds.SlotOf(id);
            Add(home, change);
            foreach (int slot in ResultSlots(result).Where(s => s != home).Distinct())
            {
                Add(slot, change);
            }
        }

        foreach (var (recall, memory, reward) in _state.RecallRewards.Entries)
        {
            if (Table.TryGetAnyMemory(memory, out var record) && KeySlots.TryGetValue(record.KeySequence, out int slot))
            {
                Add(slot, new RecallRewarded(recall, memory, reward.Reward, reward.Q, reward.Visits, reward.ExpiresTicks));
            }
        }

        return bySlot.Values.Select(EventCodec.Encode).ToList();
    }

    public async Task ImportSlotRecordsAsync(long bankVersion, IReadOnlyList<byte[]> records)
    {
        await EnsureVersionAsync(bankVersion);
        BeginStretch();
        // What is already here wins: it is this shard's own.
        bool changed = false;
        foreach (byte[] record in records)
        {
            if (!EventCodec.TryDecode(record, out var events))
            {
                throw new InvalidDataException($"Shard '{_key}' was sent a slot record that does not decode; expected one made by ExportSlotRecordsAsync.");
            }

            foreach (var change in events)
            {
                bool known = change switch
                {
                    OperationApplied op => _state.Operations.Contains(op.OperationId),
                    RecallRewarded reward => _state.RecallRewards.TryGet(reward.Recall, reward.Memory, out _),
                    _ => throw new InvalidDataException($"Shard '{_key}' was sent a slot record holding {change.GetType().Name}; expected operations and recall rewards only."),
                };
                if (!known)
                {
                    Change(change);
                    changed = true;
                }
            }
        }

        if (changed)
        {
            await CommitAsync();
        }
    }

    private static IEnumerable<int> ResultSlots(object result) => result switch
    {
        ShardWriteResult write => [write.Id.Slot],
        ShardQ[] rewards => rewards.Select(q => q.Id.Slot),
        _ => [],
    };
}

using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Grains.Shard;

/// <summary>
/// What importing moved keys changes on the receiving shard: the difference between the keys sent and the copies already
/// here (from an earlier, cut-short or repeated move), so an import is idempotent by construction — importing the same
/// keys twice plans nothing the second time. New memories are added before stale ones are deleted, so a key that keeps
/// any memory is never removed and re-added on the way.
/// </summary>
internal sealed class SlotImportPlan
{
    private SlotImportPlan()
    {
    }

    /// <summary>The changes, in order, each with the payload row it writes.</summary>
    public List<(ShardEvent Change, StoredPayload? Row)> Changes { get; } = [];

    /// <summary>History rows of the memories this plan adds or catches up (upserts: a repeated row is harmless).</summary>
    public List<StoredHistory> History { get; } = [];

    /// <summary>Payload rows to delete physically: memories the source no longer has.</summary>
    public List<long> RowDeletes { get; } = [];

    public static SlotImportPlan For(ShardState state, IReadOnlyList<KeyExport> keys)
    {
        var plan = new SlotImportPlan();
        foreach (var key in keys)
        {
            int before = plan.Changes.Count;
            if (!state.Table.TryGetAnyKey(key.KeySequence, out var here))
            {
                // The exported vector is the stored unit vector; the key's payload row keeps it for replay.
                plan.Changes.Add((new KeyImported(key.KeySequence, key.Slot), new StoredPayload(key.KeySequence, key.IntentText, null, key.Vector)));
                foreach (var m in key.Memories)
                {
                    plan.Add(key.KeySequence, m);
                }

                // Archive state last, once every memory is in: a key whose memories are all archived then leaves the graph.
                foreach (var m in key.Memories)
                {
                    plan.AddArchiveState(m, copyActive: true, copyRestoredAt: null);
                }

                plan.AddHistory(key, before);
                continue;
            }

            if (state.KeySlots[key.KeySequence] != key.Slot)
            {
                throw new InvalidDataException(
                    $"Imported key {key.KeySequence} is in slot {key.Slot}; the copy here is in slot {state.KeySlots[key.KeySequence]}. A key never changes slot.");
            }

            var sent = new HashSet<long>();
            foreach (var m in key.Memories)
            {
                long sequence = SequenceOf(m);
                sent.Add(sequence);
                if (!state.Table.TryGetAnyMemory(sequence, out var copy))
                {
                    plan.Add(key.KeySequence, m);
                    plan.AddArchiveState(m, copyActive: true, copyRestoredAt: null);
                }
                else if (copy.ArchivedAt is { } copyArchivedAt && copyArchivedAt == m.ArchivedAt)
                {
                    // Archived here and at the source since the same moment: text, tags and revision cannot have changed
                    // (edits are refused on archived memories), but Q can: a reward of a recall made before the archive
                    // still applies (docs/retention.md).
                    plan.CatchUpQ(sequence, copy, m);
                }
                else
                {
                    bool copyActive = copy.ArchivedAt is null;
                    if (!copyActive)
                    {
                        // Restored at the source since the copy was made (and maybe archived again): active first, so the
                        // catch-up below applies to an active memory.
                        plan.Changes.Add((new MemoryRestored(sequence, m.RestoredAt ?? m.UpdatedAt), null));
                        copyActive = true;
                    }

                    if (copy.Revision != m.Revision)
                    {
                        // Edited, archived or restored since the copy was made (a move cut short, then changes at the
                        // source): take its text, tags and revision. Edits are refused while the slot moves, so a revision
                        // names one content.
                        plan.Changes.Add((new MemoryTagged(sequence, ScopeOf(m), ScopeWire.ToMetadata(m.Metadata)), null));
                        plan.Changes.Add((new MemoryEdited(sequence, m.Revision, true, true, m.UpdatedAt), new StoredPayload(sequence, m.IntentText, m.Experience, null)));
                    }

                    if (copy.ExpiresAt != m.ExpiresAt)
                    {
                        // Restored at the source since the copy was made (a restore clears the expiry).
                        plan.Changes.Add((new MemoryExpires(sequence, m.ExpiresAt), null));
                    }

                    plan.CatchUpQ(sequence, copy, m);
                    plan.AddArchiveState(m, copyActive, copy.ArchivedAt is null ? copy.RestoredAt : m.RestoredAt);
                }
            }

            foreach (long stale in here.Memories.Concat(here.Archived).Select(m => m.Sequence).Where(s => !sent.Contains(s)).ToList())
            {
                plan.Changes.Add((new MemoryDeleted(stale), null));
                plan.RowDeletes.Add(stale);
            }

            plan.AddHistory(key, before);
        }

        return plan;
    }

    // The key's history rows of the memories whose MemoryAdded or QUpdated this key's part of the plan holds.
    private void AddHistory(KeyExport key, int firstChange)
    {
        if (key.History is not { Count: > 0 } rows)
        {
            return;
        }

        var brought = Changes.Skip(firstChange).Select(c => c.Change switch
        {
            MemoryAdded a => a.Memory,
            QUpdated q => q.Memory,
            MemoryEdited e => e.Memory,
            _ => -1L,
        }).Where(s => s >= 0).ToHashSet();
        History.AddRange(rows.Where(r => brought.Contains(r.Memory)).Select(r => new StoredHistory(r.Memory, r.Ordinal, r.Entry)));
    }

    private void Add(long key, MemoryInfo m)
    {
        long sequence = SequenceOf(m);
        Changes.Add((new MemoryAdded(sequence, key, m.Success, m.Q, m.CreatedAt), new StoredPayload(sequence, m.IntentText, m.Experience, null)));
        if (m.Scope is not null || m.Metadata is { Count: > 0 })
        {
            Changes.Add((new MemoryTagged(sequence, ScopeOf(m), ScopeWire.ToMetadata(m.Metadata)), null));
        }

        if (m.ExpiresAt is not null)
        {
            Changes.Add((new MemoryExpires(sequence, m.ExpiresAt), null));
        }

        if (m.Revision > 0)
        {
            // Only the revision: the text and tags came with the add. It keeps the history's ordinals (visits + revision).
            Changes.Add((new MemoryEdited(sequence, m.Revision, false, false, m.UpdatedAt), null));
        }

        if (m.LastReward is { } reward)
        {
            Changes.Add((new QUpdated(sequence, reward, m.Q, m.Visits, m.UpdatedAt), null));
        }
    }

    // Q moves only with rewards: a copy behind by rewards takes the source's Q, visits and last reward.
    private void CatchUpQ(long sequence, Core.Bank.MemoryRecord copy, MemoryInfo m)
    {
        if (m.LastReward is { } reward && (copy.Visits != m.Visits || !BitEquals(copy.Q, m.Q) || copy.UpdatedAt != m.UpdatedAt))
        {
            Changes.Add((new QUpdated(sequence, reward, m.Q, m.Visits, m.UpdatedAt), null));
        }
    }

    // Brings an active copy's archive state to the source's: its restore time (the age rules' clock), then the archive.
    private void AddArchiveState(MemoryInfo m, bool copyActive, DateTimeOffset? copyRestoredAt)
    {
        long sequence = SequenceOf(m);
        if (copyActive && m.RestoredAt is { } restoredAt && restoredAt != copyRestoredAt)
        {
            Changes.Add((new MemoryRestored(sequence, restoredAt), null));
        }

        if (m.ArchivedAt is { } archivedAt)
        {
            Changes.Add((new MemoryArchived(sequence, archivedAt), null));
        }
    }

    private static Core.Bank.MemoryScope ScopeOf(MemoryInfo m) => m.Scope?.ToScope("memories.scope") ?? Core.Bank.MemoryScope.None;

    // A moved memory keeps its id; the sequence is the part this shard keys it by.
    private static long SequenceOf(MemoryInfo m) => MemoryId.Parse(m.Id, "memories.id").Sequence;

    private static bool BitEquals(double a, double b) => BitConverter.DoubleToInt64Bits(a) == BitConverter.DoubleToInt64Bits(b);
}

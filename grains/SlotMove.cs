using MemRL.GrainInterfaces;

namespace MemRL.Grains;

/// <summary>
/// Moves virtual slots to new shards when a bank grows (docs/slot-moves.md). Three steps, each persisted and pushed to
/// every shard before the next: (1) freeze the moving slots (writes, rewards and deletes on them are refused as
/// retryable; recall keeps reading the old owners); (2) copy, per source shard, its keys of the moving slots in pages to
/// their new owners, which log them durably but keep them hidden from search until they own the slots, and then the
/// slots' exactly-once records; (3) switch the map: callers with the old version are refused by the shards and refresh,
/// and the old owners log the deletion of what they gave away.
/// </summary>
/// <remarks>
/// No message grows with the bank: keys travel in pages of at most <see cref="PageKeys"/> keys and about
/// <see cref="PageBytes"/>, records in groups of <see cref="RecordSlotsPerCall"/> slots. Every copy step can be repeated:
/// an export is a read, and an import applies only the difference with what the target holds. So a page whose call
/// failed is sent again from its cursor, and a move that fails as a whole is undone (the old owners still hold every
/// memory; the targets drop their copies when they see the unfrozen map) and can simply be run again. A bank that stopped
/// during a move finds the frozen slots on activation and undoes the freeze the same way.
/// </remarks>
internal sealed class SlotMove(Func<int, IMemoryShardGrain> shard, Func<BankInfo, Task<BankInfo>> save, Func<BankInfo, Task<bool>> notify)
{
    // A page's import inserts its keys into the target's graph in one turn (about 2 ms a key at efConstruction 200):
    // 64 keys keep that turn near a tenth of a second, so a move does not hold a pool thread long.
    public const int PageKeys = 64;
    public const int PageBytes = 1 << 20;
    public const int RecordSlotsPerCall = 64;
    private const int Attempts = 3;

    /// <summary>Grows <paramref name="bank"/> to <paramref name="shardCount"/> shards; returns the switched bank.</summary>
    public async Task<BankInfo> RunAsync(BankInfo bank, int shardCount)
    {
        var newMap = new int[BankLimits.VirtualSlots];
        var moving = new List<int>();
        for (int slot = 0; slot < newMap.Length; slot++)
        {
            newMap[slot] = slot % shardCount;
            if (newMap[slot] != bank.SlotMap[slot])
            {
                moving.Add(slot);
            }
        }

        var frozen = await save(bank with { MovingSlots = moving, Version = bank.Version + 1 });
        if (!await notify(frozen))
        {
            await notify(await save(bank with { Version = frozen.Version + 1 }));
            throw new ShardUnavailableException($"Bank '{bank.Name}' could not freeze every shard for the move; nothing was moved.");
        }

        try
        {
            foreach (var fromSource in moving.GroupBy(slot => bank.SlotMap[slot]))
            {
                await CopyAsync(frozen, fromSource.Key, [.. fromSource], newMap);
            }
        }
        catch (Exception ex) when (ex is not BankNotFoundException)
        {
            await notify(await save(frozen with { MovingSlots = null, Version = frozen.Version + 1 }));
            throw new ShardUnavailableException(
                $"Bank '{bank.Name}' could not copy its moving slots ({ex.GetType().Name}: {ex.Message}); the move was undone and nothing moved. Retry the resize.");
        }

        var switched = await save(frozen with { SlotMap = newMap, ShardCount = shardCount, MovingSlots = null, Version = frozen.Version + 1 });
        await notify(switched);
        return switched;
    }

    private async Task CopyAsync(BankInfo frozen, int sourceShard, int[] slots, int[] newMap)
    {
        var source = shard(sourceShard);
        var targets = slots.GroupBy(slot => newMap[slot]).ToDictionary(g => g.Key, g => g.ToArray());
        // What an earlier, unfinished move left on a target goes first: a memory deleted at the source since must not
        // come back with the new map.
        foreach (var (target, targetSlots) in targets)
        {
            await WithRetriesAsync(() => shard(target).DropCopiesAsync(frozen.Version, targetSlots));
        }

        long? after = long.MinValue;
        while (after is { } cursor)
        {
            var page = await WithRetriesAsync(() => source.ExportSlotsAsync(frozen.Version, slots, cursor, PageKeys, PageBytes));
            foreach (var keys in page.Keys.GroupBy(k => newMap[k.Slot]))
            {
                KeyExport[] part = [.. keys];
                await WithRetriesAsync(() => shard(keys.Key).ImportAsync(frozen.Version, part));
            }

            after = page.NextAfterKey;
        }

        // The exactly-once records follow their slots, so a retry or a second reward after the move is still known.
        foreach (var (target, targetSlots) in targets)
        {
            foreach (int[] group in targetSlots.Chunk(RecordSlotsPerCall))
            {
                var records = await WithRetriesAsync(() => source.ExportSlotRecordsAsync(frozen.Version, group));
                if (records.Count > 0)
                {
                    await WithRetriesAsync(() => shard(target).ImportSlotRecordsAsync(frozen.Version, records));
                }
            }
        }
    }

    // Every step is repeatable, so a step that failed for a passing reason (a timeout, a shard reloading) goes again.
    private static async Task<T> WithRetriesAsync<T>(Func<Task<T>> step)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await step();
            }
            catch (Exception ex) when (attempt < Attempts && ex is TimeoutException or ShardUnavailableException or Orleans.Runtime.OrleansException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt));
            }
        }
    }

    private static Task WithRetriesAsync(Func<Task> step) => WithRetriesAsync(async () =>
    {
        await step();
        return true;
    });
}

using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using Orleans.Concurrency;

namespace MemRL.Grains;

/// <summary>
/// Lists a prefix's banks from the store's rows (tombstones and banks an import is still filling left out), so a tenant's
/// bank count and stored memories cost one query rather than a call to every shard of every bank. A listing is also
/// the sweep of dead imports: a bank whose import lease ran out is touched, and its bank grain deletes it.
/// </summary>
[StatelessWorker(1)]
internal sealed class BankCatalogGrain(IMemoryStore store, TimeProvider time) : Grain, IBankCatalogGrain
{
    public async Task<IReadOnlyList<BankUsage>> ListAsync(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var rows = await store.ListBanksAsync(prefix);
        var listed = new List<BankUsage>(rows.Count);
        var now = time.GetUtcNow();
        foreach (var r in rows)
        {
            var row = BankRowCodec.Read(r.Bank, r.Description);
            if (row.Import is { } import && import.Until <= now)
            {
                // The bank grain drops an expired import on its next read; a failure there leaves it hidden for the next sweep.
                GrainFactory.GetGrain<IBankGrain>(r.Bank).GetAsync().Ignore();
            }
            else if (row.Tombstone is null && row.Import is null)
            {
                listed.Add(new BankUsage(r.Bank, r.Memories, r.TextBytes));
            }
        }

        return listed;
    }
}

using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using Orleans.Concurrency;

namespace MemRL.Grains;

/// <summary>
/// Lists a prefix's banks from the store's rows (tombstones left out), so a tenant's bank count and stored memories
/// cost one query rather than a call to every shard of every bank.
/// </summary>
[StatelessWorker(1)]
internal sealed class BankCatalogGrain(IMemoryStore store) : Grain, IBankCatalogGrain
{
    public async Task<IReadOnlyList<BankUsage>> ListAsync(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var rows = await store.ListBanksAsync(prefix);
        return rows.Where(r => BankRowCodec.Read(r.Bank, r.Description).Tombstone is null).Select(r => new BankUsage(r.Bank, r.Memories, r.TextBytes)).ToList();
    }
}

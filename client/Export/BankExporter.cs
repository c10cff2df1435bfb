using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Client.Export;

/// <summary>
/// Exports a bank at a consistent point (docs/export-format.md): freeze every slot at one bank version, wait for the
/// rewards spanning shards that were checked before the freeze to finish, read every shard's keys in pages at that
/// version, then lift the freeze. What is written is the bank as of the freeze: no change made after it, nothing
/// acknowledged before it missing, a reward spanning shards whole or absent. Memory use is one page of one shard.
/// </summary>
/// <remarks>Writes are refused (retryable) while the shards are read, so a caller that streams to a slow reader should
/// write to a file first (the HTTP endpoint does) and send it after the freeze is lifted.</remarks>
public sealed class BankExporter(IGrainFactory grains)
{
    private const int PageKeys = 256;
    private const int PageBytes = 1 << 20;

    // A lease lasts 30 s (the shard's RewardLease) and is not renewed under an export's freeze: past that, none is left.
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(40);

    /// <summary>Writes the export of <paramref name="bank"/> to <paramref name="output"/>; only one user's memories when <paramref name="userId"/> is set.</summary>
    public async Task<ExportCounts> ExportAsync(string bank, Stream output, string? userId = null, IProgress<ExportCounts>? progress = null,
        CancellationToken cancellationToken = default)
    {
        WireValidation.BankName(bank);
        ArgumentNullException.ThrowIfNull(output);
        if (userId is not null)
        {
            new ScopeFields(UserId: userId).ToScope("userId");
        }

        var bankGrain = grains.GetGrain<IBankGrain>(bank);
        var cut = await bankGrain.BeginExportAsync();
        try
        {
            var info = cut.Bank;
            await SettleRewardsAsync(info, cancellationToken);
            var writer = new ExportWriter(output);
            await writer.WriteHeaderAsync(new ExportHeader(info.Name, info.Dimension, info.EmbedderId, info.ShardCount, info.Options, info.Index,
                cut.SequenceEnd, info.Version, DateTimeOffset.UtcNow, userId,
                new Dictionary<string, string>
                {
                    ["sourceIncarnation"] = info.Incarnation.ToString("x8", System.Globalization.CultureInfo.InvariantCulture),
                    ["createdAt"] = info.CreatedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                }), cancellationToken);
            for (int shard = 0; shard < info.ShardCount; shard++)
            {
                int[] slots = [.. Enumerable.Range(0, BankLimits.VirtualSlots).Where(s => info.ShardOf(s) == shard)];
                if (slots.Length == 0)
                {
                    continue;
                }

                var source = grains.GetGrain<IMemoryShardGrain>(ShardKeys.Of(bank, shard));
                long? after = long.MinValue;
                while (after is { } cursor)
                {
                    var page = await source.ExportSlotsAsync(info.Version, slots, cursor, PageKeys, PageBytes);
                    foreach (var key in page.Keys)
                    {
                        var memories = key.Memories.Where(m => userId is null || m.Scope?.UserId == userId).Select(ToExported).ToArray();
                        if (memories.Length > 0)
                        {
                            var exported = memories.Select(m => m.Sequence).ToHashSet();
                            await writer.WriteKeyAsync(new ExportedKey(key.KeySequence, key.Slot, key.IntentText, key.Vector, memories,
                                key.History?.Where(h => exported.Contains(h.Memory)).ToArray()), cancellationToken);
                        }
                    }

                    progress?.Report(writer.Counts);
                    after = page.NextAfterKey;
                }
            }

            await writer.WriteTrailerAsync(cancellationToken);
            await output.FlushAsync(cancellationToken);
            return writer.Counts;
        }
        finally
        {
            await bankGrain.EndExportAsync(cut.Bank.Version);
        }
    }

    // A reward spanning shards checked everywhere before the freeze may still apply its parts; the cut waits for them
    // (each shard holds a lease per such memory until its part applies or the lease lapses).
    private async Task SettleRewardsAsync(BankInfo info, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + SettleLimit;
        while (true)
        {
            var counts = await Task.WhenAll(Enumerable.Range(0, info.ShardCount)
                .Select(s => grains.GetGrain<IMemoryShardGrain>(ShardKeys.Of(info.Name, s)).PendingRewardsAsync(info.Version)));
            if (counts.Sum() == 0)
            {
                return;
            }

            if (DateTime.UtcNow > until)
            {
                throw new ShardUnavailableException($"Bank '{info.Name}' still has {counts.Sum()} reward part(s) pending after {SettleLimit.TotalSeconds} s; the export was not taken. Retry.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }
    }

    private static ExportedMemory ToExported(MemoryInfo m) => new(
        MemoryId.Parse(m.Id, "memory.id").Sequence, m.IntentText, m.Experience, m.Success, m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt,
        m.Scope, m.Metadata, m.Revision, m.ArchivedAt, m.RestoredAt, m.ExpiresAt);
}

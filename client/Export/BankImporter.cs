using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Client.Export;

/// <summary>What an import may ask for beyond what the stream says.</summary>
/// <param name="ShardCount">The new bank's shard count; the exported bank's when null.</param>
/// <param name="ExpectedDimension">Refuse a stream of another dimension (an import into a cluster whose embedder is fixed).</param>
/// <param name="Lease">
/// How long the new bank waits for this importer between renewals (renewed every quarter of it) before taking it for
/// dead: a killed importer's half-imported bank is hidden at once and deleted by the first touch of its name after the
/// lease. Also how long a retry of the name has to wait after such a kill. One minute when null; between 1 s and 1 h.
/// </param>
/// <param name="Admit">
/// Called with what the stream holds once it has been checked whole and before anything is created: a caller that
/// counts usage (the HTTP API's tenant quotas) throws here to refuse the import.
/// </param>
public sealed record ImportSettings(int? ShardCount = null, int? ExpectedDimension = null, TimeSpan? Lease = null, Func<ImportSize, Task>? Admit = null)
{
    /// <summary>The lease when none is given.</summary>
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(1);
}

/// <summary>What an import would add: its memories, and the UTF-8 bytes of their experience and intent texts (what quotas count).</summary>
public sealed record ImportSize(long Memories, long TextBytes);

/// <summary>The imported bank and what it holds.</summary>
public sealed record ImportResult(BankInfo Bank, ExportCounts Counts);

/// <summary>
/// Imports an export stream into a new bank, all or nothing (docs/export-format.md). The stream is first copied to a
/// temporary file and checked whole (CRCs, frame order, dimension, counts, sequences), so a truncated, corrupted,
/// newer or other-dimension stream is refused before anything is created. Then the bank is created, its sequences start
/// above the exported ones, and the keys go to their shards in pages, keeping slot and sequence (ids change: they name
/// the new bank's incarnation). The bank stays hidden until the last key is in (IBankGrain.BeginImportAsync: a lease this
/// importer renews), so no one reads a half-imported bank; a failure while importing deletes it, and a killed importer's
/// bank is deleted once its lease runs out.
/// </summary>
public sealed class BankImporter(IGrainFactory grains)
{
    private const int PageKeys = 64;
    private const int PageBytes = 1 << 20;

    public async Task<ImportResult> ImportAsync(string bank, Stream input, ImportSettings? settings = null, IProgress<ExportCounts>? progress = null,
        CancellationToken cancellationToken = default)
    {
        WireValidation.BankName(bank);
        ArgumentNullException.ThrowIfNull(input);
        settings ??= new ImportSettings();
        string spool = Path.Combine(Path.GetTempPath(), $"memrl-import-{Guid.NewGuid():N}.bin");
        try
        {
            await using (var file = new FileStream(spool, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await input.CopyToAsync(file, cancellationToken);
            }

            ExportHeader header;
            ExportCounts counts;
            long textBytes;
            await using (var file = OpenRead(spool))
            {
                (header, counts, textBytes) = await CheckAsync(new ExportReader(file), settings, cancellationToken);
            }

            if (settings.Admit is { } admit)
            {
                await admit(new ImportSize(counts.Memories, textBytes));
            }

            var bankGrain = grains.GetGrain<IBankGrain>(bank);
            var lease = new ImportLease(bankGrain, $"import-{Guid.NewGuid():N}", settings.Lease ?? ImportSettings.DefaultLease);
            var created = await bankGrain.BeginImportAsync(
                new BankSpec(header.Dimension, header.EmbedderId, header.Options, settings.ShardCount ?? header.ShardCount, header.Index), lease.Id, lease.Length);
            try
            {
                await bankGrain.RaiseSequencesAsync(header.SequenceEnd);
                await using (var file = OpenRead(spool))
                {
                    await LoadAsync(created, new ExportReader(file), lease, progress, cancellationToken);
                }

                created = await bankGrain.CompleteImportAsync(lease.Id);
            }
            catch
            {
                // All or nothing: the half-imported bank goes, if it is still this import's (a stalled importer whose
                // lease ran out must not delete a bank created under the name since).
                try
                {
                    await bankGrain.AbandonImportAsync(lease.Id);
                }
                catch (Exception)
                {
                    // The cluster is unreachable too: the bank stays hidden and goes once its lease runs out.
                }

                throw;
            }

            return new ImportResult(created, counts);
        }
        finally
        {
            File.Delete(spool);
        }
    }

    private static FileStream OpenRead(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);

    // The whole stream, checked before anything is created. Sequences must be unique and below the header's end, since
    // an import keeps them.
    private static async Task<(ExportHeader, ExportCounts, long TextBytes)> CheckAsync(ExportReader reader, ImportSettings settings, CancellationToken cancellationToken)
    {
        var header = await reader.ReadHeaderAsync(cancellationToken);
        if (settings.ExpectedDimension is { } expected && expected != header.Dimension)
        {
            throw FieldError.Invalid("stream.header.dimension", $"{expected} (the dimension this import is for)", FieldError.Format(header.Dimension), Reasons.ExportDimension,
                $"The export stream holds {header.Dimension}-dimensional intents; this import is for {expected}-dimensional ones.");
        }

        if (settings.ShardCount is < 1 or > BankLimits.MaxShards)
        {
            throw FieldError.OutOfRange("shardCount", $"an integer in [1, {BankLimits.MaxShards}]", FieldError.Format(settings.ShardCount.Value));
        }

        if (settings.Lease is { } lease && (lease < TimeSpan.FromSeconds(1) || lease > TimeSpan.FromHours(1)))
        {
            throw FieldError.OutOfRange("lease", "a duration in [1 s, 1 h]", $"{lease.TotalSeconds:G6} s");
        }

        var seen = new HashSet<long>();
        long textBytes = 0;
        while (await reader.ReadKeyAsync(cancellationToken) is { } key)
        {
            string at = $"stream.key[{reader.Counts.Keys - 1}]";
            Sequence(key.Sequence, at);
            for (int i = 0; i < key.Memories.Count; i++)
            {
                var m = key.Memories[i];
                Sequence(m.Sequence, $"{at}.memories[{i}]");
                if (!double.IsFinite(m.Q) || m.Visits < 0)
                {
                    throw FieldError.Invalid($"{at}.memories[{i}]", "a finite Q and visits ≥ 0", $"Q {FieldError.Format(m.Q)}, visits {m.Visits}");
                }

                textBytes += System.Text.Encoding.UTF8.GetByteCount(m.Experience) + System.Text.Encoding.UTF8.GetByteCount(m.IntentText);
                if (m.Experience.Length > BankLimits.MaxExperienceLength || m.IntentText.Length > BankLimits.MaxIntentTextLength)
                {
                    throw FieldError.OutOfRange($"{at}.memories[{i}]", $"texts within the bank limits ({BankLimits.MaxExperienceLength}, {BankLimits.MaxIntentTextLength} characters)",
                        $"{m.Experience.Length}, {m.IntentText.Length}");
                }
            }
        }

        return (header, reader.Counts, textBytes);

        void Sequence(long sequence, string at)
        {
            if (sequence < 0 || sequence >= header.SequenceEnd)
            {
                throw FieldError.OutOfRange($"{at}.sequence", $"an integer in [0, {header.SequenceEnd}) (the header's sequence end)", FieldError.Format(sequence));
            }

            if (!seen.Add(sequence))
            {
                throw FieldError.Invalid($"{at}.sequence", "a sequence no other key or memory of the stream has", FieldError.Format(sequence));
            }
        }
    }

    private async Task LoadAsync(BankInfo bank, ExportReader reader, ImportLease lease, IProgress<ExportCounts>? progress, CancellationToken cancellationToken)
    {
        await reader.ReadHeaderAsync(cancellationToken);
        var pages = new Dictionary<int, (List<KeyExport> Keys, long Bytes)>();
        long keys = 0, memories = 0;
        while (await reader.ReadKeyAsync(cancellationToken) is { } key)
        {
            int shard = bank.ShardOf(key.Slot);
            var page = pages.TryGetValue(shard, out var p) ? p : ([], 0);
            page.Keys.Add(ToKeyExport(bank, key));
            page.Bytes += (key.Vector.Length * sizeof(float)) + key.Memories.Sum(m => 64L + (2L * (m.IntentText.Length + m.Experience.Length)))
                + (64L * (key.History?.Count ?? 0));
            pages[shard] = page;
            if (page.Keys.Count >= PageKeys || page.Bytes >= PageBytes)
            {
                await lease.KeepAsync();
                await FlushAsync(bank, shard, page.Keys);
                pages.Remove(shard);
            }

            keys++;
            memories += key.Memories.Count;
            if (keys % PageKeys == 0)
            {
                progress?.Report(new ExportCounts(keys, memories));
            }
        }

        foreach (var (shard, page) in pages)
        {
            await lease.KeepAsync();
            await FlushAsync(bank, shard, page.Keys);
        }

        await lease.KeepAsync();

        progress?.Report(new ExportCounts(keys, memories));
    }

    // The shard's import is the slot move's: a difference against what it holds, durable before it returns.
    private Task FlushAsync(BankInfo bank, int shard, List<KeyExport> keys) =>
        grains.GetGrain<IMemoryShardGrain>(ShardKeys.Of(bank.Name, shard)).ImportAsync(bank.Version, [.. keys]);

    // Renews the import's lease once a quarter of it has passed since the last renewal, so a live importer keeps its
    // bank with a margin of three renewals, at one bank-row write per quarter lease rather than one per page.
    private sealed class ImportLease(IBankGrain bank, string id, TimeSpan length)
    {
        private long _renewed = Environment.TickCount64;

        public string Id => id;

        public TimeSpan Length => length;

        public async Task KeepAsync()
        {
            if (Environment.TickCount64 - _renewed >= length.TotalMilliseconds / 4)
            {
                await bank.RenewImportAsync(id, length);
                _renewed = Environment.TickCount64;
            }
        }
    }

    private static KeyExport ToKeyExport(BankInfo bank, ExportedKey key) => new(key.Sequence, key.Slot, key.IntentText, key.Vector,
        key.Memories.Select(m => new MemoryInfo(new MemoryId(bank.Incarnation, key.Slot, m.Sequence).ToString(), m.IntentText, m.Experience, m.Success,
            m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt, m.Scope, m.Metadata, m.Revision, m.ArchivedAt, m.RestoredAt, m.ExpiresAt)).ToArray(), key.History);
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace MemRL.Grains.Storage;

/// <summary>
/// The Azure backend: Azure Tables for bank rows, shard heads, log records and payload rows; Azure Blobs for snapshot
/// chunks and values too large for an entity (<see cref="AzureValues"/>). One table partition per shard, so one group
/// commit is one entity-group transaction (atomic, at most 100 entities): the head row replaced under its ETag
/// (<c>If-Match</c>: a second activation's append finds the ETag changed and loses), the log record, and the commit's
/// payload puts and deletes. What does not fit the transaction goes around it in a crash-safe order: extra puts are
/// written first (rows of sequences no log record names yet, which a load ignores), extra deletes are listed in a
/// marker entity inside the transaction and carried out after it, by the writer or by the next load. A transaction
/// that returns has been written to the account's replicas, which is what acknowledged means here.
/// </summary>
public sealed class AzureMemoryStore : IMemoryStore
{
    private const int MaxActions = 100;

    // Raw bytes a transaction may carry: 4 MiB of body, base64 inflating binary by 4/3, less headers and framing.
    private const long MaxTransactionBytes = 2_900_000;

    private const string BankPartition = "bank";
    private const string HeadRow = "h";
    private const string SnapshotRow = "s";

    private readonly TableClient _banks;
    private readonly TableClient _shards;
    private readonly BlobContainerClient _blobs;
    private readonly Lazy<Task> _created;

    // The head ETag each shard's last append here returned: the next append of the same activation needs no read.
    private readonly ConcurrentDictionary<string, (long Head, ETag ETag)> _heads = new(StringComparer.Ordinal);

    /// <summary>Uses tables <c>{prefix}banks</c>, <c>{prefix}shards</c> and container <c>{prefix}-blobs</c> of the given account clients.</summary>
    public AzureMemoryStore(TableServiceClient tables, BlobServiceClient blobs, string prefix = "memrl")
    {
        _banks = tables.GetTableClient(prefix + "banks");
        _shards = tables.GetTableClient(prefix + "shards");
        _blobs = blobs.GetBlobContainerClient(prefix + "-blobs");
        _created = new Lazy<Task>(async () =>
        {
            await _banks.CreateIfNotExistsAsync();
            await _shards.CreateIfNotExistsAsync();
            await _blobs.CreateIfNotExistsAsync();
        });
    }

    /// <summary>Creates the tables and the container when missing (idempotent); fails when the account cannot be reached.</summary>
    public Task EnsureCreatedAsync() => GuardAsync("create tables and container", () => _created.Value);

    public Task<StoredBank?> ReadBankAsync(string bank, CancellationToken cancellationToken = default) =>
        GuardAsync($"read bank '{bank}'", async () =>
        {
            await _created.Value;
            var entity = await GetAsync(_banks, BankPartition, Key(bank), cancellationToken);
            return entity is null ? null
                : new StoredBank(entity.GetInt64("Revision")!.Value, Encoding.UTF8.GetString(await ReadValueAsync(entity, cancellationToken)), entity.GetInt64("SequenceEnd")!.Value);
        });

    public Task<bool> TryWriteBankAsync(string bank, long expectedRevision, StoredBank value, CancellationToken cancellationToken = default) =>
        GuardAsync($"write bank '{bank}'", async () =>
        {
            await _created.Value;
            string row = Key(bank);
            var entity = new TableEntity(BankPartition, row) { ["Revision"] = expectedRevision + 1, ["SequenceEnd"] = value.SequenceEnd };
            TableEntity? current = null;
            if (expectedRevision != 0)
            {
                current = await GetAsync(_banks, BankPartition, row, cancellationToken);
                if (current is null || current.GetInt64("Revision") != expectedRevision)
                {
                    return false;
                }
            }

            await PlaceValueAsync(entity, Encoding.UTF8.GetBytes(value.Description), $"banks/{row}/{Guid.NewGuid():N}", cancellationToken);
            try
            {
                if (current is null)
                {
                    await _banks.AddEntityAsync(entity, cancellationToken);
                }
                else
                {
                    // If-Match: a writer that read the same revision and wrote first changed the ETag.
                    await _banks.UpdateEntityAsync(entity, current.ETag, TableUpdateMode.Replace, cancellationToken);
                }
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                await DeleteBlobIfNamedAsync(entity);
                return false;
            }

            if (current is not null)
            {
                await DeleteBlobIfNamedAsync(current);
            }

            return true;
        });

    public Task<ShardImage> LoadShardAsync(string shard, CancellationToken cancellationToken = default) =>
        GuardAsync($"load shard '{shard}'", async () =>
        {
            await _created.Value;
            string pk = Key(shard);
            // A partition query is not one consistent view: a snapshot committing meanwhile truncates the log under it.
            // The snapshot row is read before and after; if it moved, the load starts over.
            for (int attempt = 0; ; attempt++)
            {
                var before = await GetAsync(_shards, pk, SnapshotRow, cancellationToken);
                long snapshotPosition = before?.GetInt64("Position") ?? 0;
                long head = 0;
                ETag headETag = default;
                var logs = new List<TableEntity>();
                var payloads = new List<TableEntity>();
                var markers = new List<TableEntity>();
                await foreach (var e in _shards.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {pk} and RowKey lt {"y"}"), cancellationToken: cancellationToken))
                {
                    // History rows ('y') are not part of a shard's state: the filter leaves them on the server.
                    switch (e.RowKey[0])
                    {
                        case 'h':
                            head = e.GetInt64("Head")!.Value;
                            headETag = e.ETag;
                            break;
                        case 'l':
                            logs.Add(e);
                            break;
                        case 'p':
                            payloads.Add(e);
                            break;
                        case 'x':
                            markers.Add(e);
                            break;
                    }
                }

                if (markers.Count > 0)
                {
                    // Deletes a commit left to finish after it: finish them before anyone sees the rows.
                    foreach (var marker in markers)
                    {
                        await FinishMarkerAsync(pk, marker, cancellationToken);
                    }

                    continue;
                }

                var chunks = new List<byte[]>();
                bool moved = false;
                for (int i = 0; i < (before?.GetInt32("Chunks") ?? 0) && !moved; i++)
                {
                    var blob = await TryDownloadAsync(SnapshotBlob(pk, snapshotPosition, i), cancellationToken);
                    if (blob is null)
                    {
                        moved = true;
                    }
                    else
                    {
                        chunks.Add(blob);
                    }
                }

                var after = await GetAsync(_shards, pk, SnapshotRow, cancellationToken);
                if (moved || after?.ETag != before?.ETag)
                {
                    if (attempt >= 10)
                    {
                        throw new InvalidOperationException($"Shard '{shard}' snapshot kept moving during 10 loads; expected one activation writing it.");
                    }

                    continue;
                }

                // Rows at or below the snapshot are a truncation a crash interrupted; rows past the head, a discarded tail.
                var tail = new List<StoredEvent>();
                foreach (var e in logs)
                {
                    long position = long.Parse(e.RowKey.AsSpan(1), CultureInfo.InvariantCulture);
                    if (position > snapshotPosition && position <= head)
                    {
                        tail.Add(new StoredEvent(position, await ReadValueAsync(e, cancellationToken)));
                    }
                }

                tail.Sort((a, b) => a.Position.CompareTo(b.Position));
                var stored = new List<StoredPayload>(payloads.Count);
                foreach (var e in payloads)
                {
                    stored.Add(AzureValues.DecodePayload(long.Parse(e.RowKey.AsSpan(1), CultureInfo.InvariantCulture), await ReadValueAsync(e, cancellationToken)));
                }

                if (headETag != default)
                {
                    _heads[shard] = (head, headETag);
                }

                return new ShardImage(head, snapshotPosition, chunks, tail, stored);
            }
        });

    public Task AppendAsync(string shard, ShardBatch batch, CancellationToken cancellationToken = default) =>
        GuardAsync($"append to shard '{shard}'", async () =>
        {
            await _created.Value;
            string pk = Key(shard);
            long newHead = batch.ExpectedHead + 1;
            ETag? headETag = await HeadETagAsync(shard, pk, batch.ExpectedHead, cancellationToken);

            var commit = new List<TableTransactionAction>();
            long bytes = 0;
            var head = new TableEntity(pk, HeadRow) { ["Head"] = newHead };
            commit.Add(headETag is { } etag
                ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, head, etag)
                : new TableTransactionAction(TableTransactionActionType.Add, head));
            // Upsert, not insert: a row past the head is a discarded tail's leftover; the head's ETag is the fence.
            var log = new TableEntity(pk, LogRow(newHead));
            await PlaceValueAsync(log, batch.Record, $"{pk}/l/{newHead:D19}-{Guid.NewGuid():N}", cancellationToken);
            commit.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, log));
            bytes += AzureValues.BatchBytes(log) + AzureValues.BatchBytes(head);

            // A row put and deleted by the same commit is neither (a transaction may touch an entity once).
            var deleted = batch.Deletes.ToHashSet();
            var putSequences = batch.Puts.Select(p => p.Sequence).ToHashSet();
            var existing = await ExistingPayloadsAsync(pk, deleted.Where(s => !putSequences.Contains(s)), cancellationToken);
            // One action stays free for the marker.
            var staged = new List<TableEntity>();

            // A row goes in the entity-group transaction while it has room, else it is staged before it.
            void CommitOrStage(TableEntity entity)
            {
                long size = AzureValues.BatchBytes(entity);
                if (commit.Count < MaxActions - 1 && bytes + size <= MaxTransactionBytes)
                {
                    commit.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, entity));
                    bytes += size;
                }
                else
                {
                    staged.Add(entity);
                }
            }

            foreach (var put in batch.Puts)
            {
                if (deleted.Contains(put.Sequence))
                {
                    continue;
                }

                var entity = await PayloadEntityAsync(pk, put, cancellationToken);
                CommitOrStage(entity);
            }

            // History rows after the payloads (the log record and payloads come first when the transaction is full):
            // one per key, the newest ordinal winning, none for a memory the batch deletes. A staged one that its
            // commit then fails to land has an ordinal past the memory's live one, which reads filter out.
            foreach (var h in batch.History.Where(h => !deleted.Contains(h.Memory)).GroupBy(h => (h.Memory, h.Slot)).Select(g => g.MaxBy(h => h.Ordinal)!))
            {
                var entity = new TableEntity(pk, HistoryRow(h.Memory, h.Slot)) { ["Ordinal"] = h.Ordinal, ["E"] = h.Entry };
                CommitOrStage(entity);
            }

            var laterRows = new List<long>();
            var laterBlobs = new List<long>();
            foreach (var (sequence, hasBlob) in existing)
            {
                if (hasBlob)
                {
                    laterBlobs.Add(sequence);
                }

                if (commit.Count < MaxActions - 1)
                {
                    commit.Add(new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(pk, PayloadRow(sequence)), ETag.All));
                }
                else
                {
                    laterRows.Add(sequence);
                }
            }

            TableEntity? marker = null;
            if (laterRows.Count > 0 || laterBlobs.Count > 0)
            {
                marker = new TableEntity(pk, MarkerRow(newHead));
                await PlaceValueAsync(marker, AzureValues.EncodeSequences(laterRows, laterBlobs), $"{pk}/x/{newHead:D19}-{Guid.NewGuid():N}", cancellationToken);
                commit.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, marker));
            }

            // Before the commit: rows of sequences that no log record names until it lands.
            await WriteAllAsync(pk, staged.Select(e => new TableTransactionAction(TableTransactionActionType.UpsertReplace, e)), cancellationToken);
            try
            {
                var response = await _shards.SubmitTransactionAsync(commit, cancellationToken);
                // Responses come in the order of the actions: the head's is the first.
                if (response.Value[0].Headers.ETag is { } newETag)
                {
                    _heads[shard] = (newHead, newETag);
                }
                else
                {
                    _heads.TryRemove(shard, out _);
                }
            }
            catch (TableTransactionFailedException e) when (e.Status is 404 or 409 or 412)
            {
                _heads.TryRemove(shard, out _);
                throw new StoreFencedException($"Shard '{shard}' log head is no longer {batch.ExpectedHead}: another activation appended first ({e.ErrorCode}).");
            }
            catch
            {
                _heads.TryRemove(shard, out _);
                throw;
            }

            // A deleted memory's history rows go after the commit: until then they are invisible (the memory is gone and
            // sequences are never reused), and a crash before this leaves them unread for good.
            foreach (long sequence in deleted)
            {
                try
                {
                    await DeleteHistoryAsync(pk, sequence, cancellationToken);
                }
                catch (RequestFailedException)
                {
                    // Tidiness only: the commit is durable and no read can reach the rows.
                }
            }

            if (marker is not null)
            {
                try
                {
                    await FinishMarkerAsync(pk, marker, cancellationToken);
                }
                catch (RequestFailedException)
                {
                    // The commit is durable and the marker with it: the next load of the shard finishes the deletes.
                }
            }
        });

    public Task<bool> WriteSnapshotAsync(string shard, long position, IReadOnlyList<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken = default) =>
        GuardAsync($"write a snapshot of shard '{shard}'", async () =>
        {
            await _created.Value;
            string pk = Key(shard);
            var head = await GetAsync(_shards, pk, HeadRow, cancellationToken);
            var current = await GetAsync(_shards, pk, SnapshotRow, cancellationToken);
            if (head is null || head.GetInt64("Head") < position || (current?.GetInt64("Position") ?? 0) >= position)
            {
                return false;
            }

            await Parallel.ForEachAsync(Enumerable.Range(0, chunks.Count), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken },
                async (i, ct) => await _blobs.GetBlobClient(SnapshotBlob(pk, position, i)).UploadAsync(BinaryData.FromBytes(chunks[i]), overwrite: true, ct));
            var pointer = new TableEntity(pk, SnapshotRow) { ["Position"] = position, ["Chunks"] = chunks.Count };
            try
            {
                if (current is null)
                {
                    await _shards.AddEntityAsync(pointer, cancellationToken);
                }
                else
                {
                    await _shards.UpdateEntityAsync(pointer, current.ETag, TableUpdateMode.Replace, cancellationToken);
                }
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                return false;
            }

            // The pointer has committed: only now may the log it covers and the older snapshot go.
            var covered = new List<TableTransactionAction>();
            await foreach (var e in _shards.QueryAsync<TableEntity>(
                TableClient.CreateQueryFilter($"PartitionKey eq {pk} and RowKey ge {"l"} and RowKey le {LogRow(position)}"), select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken))
            {
                covered.Add(new TableTransactionAction(TableTransactionActionType.Delete, e, ETag.All));
            }

            await WriteAllAsync(pk, covered, cancellationToken);
            await foreach (var blob in _blobs.GetBlobsAsync(BlobTraits.None, BlobStates.None, $"{pk}/", cancellationToken))
            {
                if (IsCovered(blob.Name[(pk.Length + 1)..], position))
                {
                    await _blobs.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: cancellationToken);
                }
            }

            return true;
        });

    public Task DiscardTailAsync(string shard, long expectedHead, long newHead, CancellationToken cancellationToken = default) =>
        GuardAsync($"discard the tail of shard '{shard}'", async () =>
        {
            await _created.Value;
            string pk = Key(shard);
            var head = await GetAsync(_shards, pk, HeadRow, cancellationToken);
            if (head is null || head.GetInt64("Head") != expectedHead)
            {
                throw new StoreFencedException($"Shard '{shard}' log head is no longer {expectedHead}: another activation appended first.");
            }

            try
            {
                await _shards.UpdateEntityAsync(new TableEntity(pk, HeadRow) { ["Head"] = newHead }, head.ETag, TableUpdateMode.Replace, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status is 404 or 412)
            {
                throw new StoreFencedException($"Shard '{shard}' log head is no longer {expectedHead}: another activation appended first.");
            }

            _heads.TryRemove(shard, out _);
            // Past the new head the rows are ignored on load and overwritten by the next appends; removing them is tidiness.
            var discarded = new List<TableTransactionAction>();
            await foreach (var e in _shards.QueryAsync<TableEntity>(
                TableClient.CreateQueryFilter($"PartitionKey eq {pk} and RowKey gt {LogRow(newHead)} and RowKey lt {"m"}"), select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken))
            {
                discarded.Add(new TableTransactionAction(TableTransactionActionType.Delete, e, ETag.All));
            }

            await WriteAllAsync(pk, discarded, cancellationToken);
        });

    public Task PurgeShardsAsync(string bank, CancellationToken cancellationToken = default) =>
        GuardAsync($"purge the shards of bank '{bank}'", async () =>
        {
            await _created.Value;
            string from = Key(bank) + "|";
            var partitions = new Dictionary<string, List<TableEntity>>(StringComparer.Ordinal);
            await foreach (var e in _shards.QueryAsync<TableEntity>(
                TableClient.CreateQueryFilter($"PartitionKey ge {from} and PartitionKey lt {StoreRows.PrefixEnd(from)}"), select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken))
            {
                (partitions.TryGetValue(e.PartitionKey, out var rows) ? rows : partitions[e.PartitionKey] = []).Add(e);
            }

            // Blobs first, then rows, the head row last: a purge cut short leaves a shard that still has a head and is
            // purged again (the bank's tombstone asks for it), never a log without its head.
            await foreach (var blob in _blobs.GetBlobsAsync(BlobTraits.None, BlobStates.None, from, cancellationToken))
            {
                await _blobs.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: cancellationToken);
            }

            foreach (var (pk, rows) in partitions)
            {
                await WriteAllAsync(pk, rows.Where(r => r.RowKey != HeadRow).Select(r => new TableTransactionAction(TableTransactionActionType.Delete, r, ETag.All)), cancellationToken);
                await WriteAllAsync(pk, rows.Where(r => r.RowKey == HeadRow).Select(r => new TableTransactionAction(TableTransactionActionType.Delete, r, ETag.All)), cancellationToken);
            }

            foreach (string shard in _heads.Keys.Where(k => Key(k).StartsWith(from, StringComparison.Ordinal)))
            {
                _heads.TryRemove(shard, out _);
            }
        });

    // Tables have no aggregates: the bank's payload rows are read with two small properties each (M: is a memory,
    // T: its text bytes), one partition-range query per bank. Costs one read per 1,000 rows; see docs/storage.md.
    public Task<IReadOnlyList<StoredBankUsage>> ListBanksAsync(string prefix, CancellationToken cancellationToken = default) =>
        GuardAsync($"list banks '{prefix}*'", async () =>
        {
            await _created.Value;
            var rows = new List<TableEntity>();
            await foreach (var e in _banks.QueryAsync<TableEntity>(
                TableClient.CreateQueryFilter($"PartitionKey eq {BankPartition} and RowKey ge {Key(prefix)} and RowKey lt {StoreRows.PrefixEnd(Key(prefix))}"), cancellationToken: cancellationToken))
            {
                rows.Add(e);
            }

            var banks = new StoredBankUsage[rows.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, rows.Count), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                string from = rows[i].RowKey + "|";
                long memories = 0, textBytes = 0;
                await foreach (var p in _shards.QueryAsync<TableEntity>(
                    TableClient.CreateQueryFilter($"PartitionKey ge {from} and PartitionKey lt {StoreRows.PrefixEnd(from)} and RowKey ge {"p"} and RowKey lt {"q"}"),
                    select: ["M", "T"], cancellationToken: ct))
                {
                    if (p.GetBoolean("M") == true)
                    {
                        memories++;
                        textBytes += p.GetInt64("T") ?? 0;
                    }
                }

                banks[i] = new StoredBankUsage(Unkey(rows[i].RowKey), Encoding.UTF8.GetString(await ReadValueAsync(rows[i], ct)), memories, textBytes);
            });

            return (IReadOnlyList<StoredBankUsage>)banks.OrderBy(b => b.Bank, StringComparer.Ordinal).ToList();
        });

    public Task<IReadOnlyList<StoredHistory>> ReadHistoryAsync(string shard, long memorySequence, long beforeOrdinal, int limit, CancellationToken cancellationToken = default) =>
        GuardAsync($"read the history of memory {memorySequence} of shard '{shard}'", async () =>
        {
            await _created.Value;
            string pk = Key(shard);
            var rows = new List<StoredHistory>();
            await foreach (var e in _shards.QueryAsync<TableEntity>(
                TableClient.CreateQueryFilter($"PartitionKey eq {pk} and RowKey ge {HistoryRow(memorySequence, 0)} and RowKey le {HistoryRow(memorySequence, StoredHistory.Slots - 1)}"),
                cancellationToken: cancellationToken))
            {
                long ordinal = e.GetInt64("Ordinal")!.Value;
                if (ordinal < beforeOrdinal)
                {
                    rows.Add(new StoredHistory(memorySequence, ordinal, e.GetBinary("E")));
                }
            }

            return (IReadOnlyList<StoredHistory>)rows.OrderByDescending(r => r.Ordinal).Take(limit).ToList();
        });

    public Task ProbeAsync(CancellationToken cancellationToken = default) =>
        GuardAsync("probe", async () =>
        {
            await _created.Value;
            await _banks.GetEntityIfExistsAsync<TableEntity>(BankPartition, "~probe", ["RowKey"], cancellationToken);
        });

    /// <summary>
    /// A key as table keys allow it: '/', '\\', '#', '?' and control characters may not appear, so '/' (the shard
    /// separator) becomes '|' and anything else outside letters, digits, '-', '_' and '.' becomes "~" and four hex
    /// digits. Bank names are letters, digits, '-', '_' and '.' only, so they stay themselves and keep their order.
    /// </summary>
    internal static string Key(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (char c in name)
        {
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            {
                builder.Append(c);
            }
            else if (c == '/')
            {
                builder.Append('|');
            }
            else
            {
                builder.Append('~').Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    internal static string Unkey(string key)
    {
        var builder = new StringBuilder(key.Length);
        for (int i = 0; i < key.Length; i++)
        {
            if (key[i] == '|')
            {
                builder.Append('/');
            }
            else if (key[i] == '~')
            {
                builder.Append((char)int.Parse(key.AsSpan(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i += 4;
            }
            else
            {
                builder.Append(key[i]);
            }
        }

        return builder.ToString();
    }

    // Fixed width, so the row order is the position order and a range of rows is a range of positions.
    private static string LogRow(long position) => "l" + position.ToString("D19", CultureInfo.InvariantCulture);

    private static string PayloadRow(long sequence) => "p" + sequence.ToString("D19", CultureInfo.InvariantCulture);

    // Memory then slot, fixed width: one memory's rows are one row-key range, and all sort after the shard's other rows.
    private static string HistoryRow(long memory, int slot) =>
        "y" + memory.ToString("D19", CultureInfo.InvariantCulture) + slot.ToString("D3", CultureInfo.InvariantCulture);

    private async Task DeleteHistoryAsync(string pk, long memory, CancellationToken cancellationToken)
    {
        var rows = new List<TableTransactionAction>();
        await foreach (var e in _shards.QueryAsync<TableEntity>(
            TableClient.CreateQueryFilter($"PartitionKey eq {pk} and RowKey ge {HistoryRow(memory, 0)} and RowKey le {HistoryRow(memory, StoredHistory.Slots - 1)}"),
            select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken))
        {
            rows.Add(new TableTransactionAction(TableTransactionActionType.Delete, e, ETag.All));
        }

        await WriteAllAsync(pk, rows, cancellationToken);
    }

    private static string MarkerRow(long position) => "x" + position.ToString("D19", CultureInfo.InvariantCulture);

    private static string SnapshotBlob(string pk, long position, int chunk) => $"{pk}/s/{position:D19}/{chunk:D6}";

    // A blob of the shard a snapshot at `position` makes obsolete: an older snapshot's chunk, or a spilled log record it covers.
    private static bool IsCovered(string name, long position) =>
        name.Length > 21 && long.TryParse(name.AsSpan(2, 19), NumberStyles.None, CultureInfo.InvariantCulture, out long at)
        && ((name[0] == 's' && at != position) || (name[0] == 'l' && at <= position));

    // The ETag the append is conditional on: the cached one when this store wrote the expected head, else read.
    private async Task<ETag?> HeadETagAsync(string shard, string pk, long expectedHead, CancellationToken cancellationToken)
    {
        if (_heads.TryGetValue(shard, out var cached) && cached.Head == expectedHead)
        {
            return cached.ETag;
        }

        var head = await GetAsync(_shards, pk, HeadRow, cancellationToken);
        long stored = head?.GetInt64("Head") ?? 0;
        if (stored != expectedHead)
        {
            throw new StoreFencedException($"Shard '{shard}' log head is {stored}, not {expectedHead}: another activation appended first.");
        }

        return head?.ETag;
    }

    // Deleting a row that is not there fails a whole transaction: find which of the rows exist, and which spilled to a blob.
    private async Task<List<(long Sequence, bool HasBlob)>> ExistingPayloadsAsync(string pk, IEnumerable<long> sequences, CancellationToken cancellationToken)
    {
        var found = new ConcurrentBag<(long, bool)>();
        await Parallel.ForEachAsync(sequences, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (sequence, ct) =>
        {
            var row = await _shards.GetEntityIfExistsAsync<TableEntity>(pk, PayloadRow(sequence), ["Blob"], ct);
            if (row.HasValue)
            {
                found.Add((sequence, row.Value!.GetString("Blob") is not null));
            }
        });

        return [.. found.OrderBy(f => f.Item1)];
    }

    private async Task<TableEntity> PayloadEntityAsync(string pk, StoredPayload payload, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(pk, PayloadRow(payload.Sequence)) { ["M"] = payload.Experience is not null, ["T"] = AzureValues.TextBytes(payload) };
        // Spilled payloads have one name per sequence: a retried put overwrites its own blob.
        await PlaceValueAsync(entity, AzureValues.EncodePayload(payload), $"{pk}/p/{payload.Sequence:D19}", cancellationToken);
        return entity;
    }

    // Inline when it fits; otherwise the blob first, so the entity never names a blob that is not there.
    private async Task PlaceValueAsync(TableEntity entity, byte[] value, string blobName, CancellationToken cancellationToken)
    {
        if (AzureValues.FitsInline(value.Length))
        {
            AzureValues.SetInline(entity, value);
            return;
        }

        await _blobs.GetBlobClient(blobName).UploadAsync(BinaryData.FromBytes(value), overwrite: true, cancellationToken);
        entity["Blob"] = blobName;
    }

    private async Task<byte[]> ReadValueAsync(TableEntity entity, CancellationToken cancellationToken)
    {
        if (AzureValues.GetInline(entity) is { } inline)
        {
            return inline;
        }

        string name = entity.GetString("Blob")!;
        return await TryDownloadAsync(name, cancellationToken)
            ?? throw new InvalidDataException($"Entity '{entity.PartitionKey}/{entity.RowKey}' names blob '{name}', which does not exist; expected it written before the entity.");
    }

    private async Task<byte[]?> TryDownloadAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var content = await _blobs.GetBlobClient(name).DownloadContentAsync(cancellationToken);
            return content.Value.Content.ToArray();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    private async Task DeleteBlobIfNamedAsync(TableEntity entity)
    {
        if (entity.GetString("Blob") is { } name)
        {
            await _blobs.DeleteBlobIfExistsAsync(name);
        }
    }

    // The deletes a commit could not fit: the rows, the spilled payloads' blobs, then the marker itself. Idempotent,
    // so the writer and a later load may both run it.
    private async Task FinishMarkerAsync(string pk, TableEntity marker, CancellationToken cancellationToken)
    {
        var (rows, blobs) = AzureValues.DecodeSequences(await ReadValueAsync(marker, cancellationToken));
        var existing = await ExistingPayloadsAsync(pk, rows, cancellationToken);
        await WriteAllAsync(pk, existing.Select(e => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(pk, PayloadRow(e.Sequence)), ETag.All)), cancellationToken);
        foreach (long sequence in blobs)
        {
            await _blobs.DeleteBlobIfExistsAsync($"{pk}/p/{sequence:D19}", cancellationToken: cancellationToken);
        }

        await _shards.DeleteEntityAsync(pk, marker.RowKey, ETag.All, cancellationToken);
        await DeleteBlobIfNamedAsync(marker);
    }

    // Actions outside a commit (staged puts, truncation, purges), in transactions of at most 100 entities and the byte
    // budget. A delete whose row is already gone fails its transaction; the rest of it is then retried without it.
    private async Task WriteAllAsync(string pk, IEnumerable<TableTransactionAction> actions, CancellationToken cancellationToken)
    {
        var pending = new List<TableTransactionAction>();
        long bytes = 0;
        foreach (var action in actions)
        {
            long size = AzureValues.BatchBytes((TableEntity)action.Entity);
            if (pending.Count == MaxActions || (pending.Count > 0 && bytes + size > MaxTransactionBytes))
            {
                await SubmitTolerantAsync(pending, cancellationToken);
                pending = [];
                bytes = 0;
            }

            pending.Add(action);
            bytes += size;
        }

        if (pending.Count > 0)
        {
            await SubmitTolerantAsync(pending, cancellationToken);
        }
    }

    private async Task SubmitTolerantAsync(List<TableTransactionAction> actions, CancellationToken cancellationToken)
    {
        while (actions.Count > 0)
        {
            try
            {
                await _shards.SubmitTransactionAsync(actions, cancellationToken);
                return;
            }
            catch (TableTransactionFailedException e) when (e.Status == 404 && e.FailedTransactionActionIndex is int failed
                && actions[failed].ActionType == TableTransactionActionType.Delete)
            {
                actions = [.. actions.Where((_, i) => i != failed)];
            }
        }
    }

    private static async Task<TableEntity?> GetAsync(TableClient table, string partition, string row, CancellationToken cancellationToken)
    {
        var response = await table.GetEntityIfExistsAsync<TableEntity>(partition, row, cancellationToken: cancellationToken);
        return response.HasValue ? response.Value : null;
    }

    // The SDK has already retried throttling (HTTP 429/503) with exponential backoff (AzureStorageClients); still
    // throttled after that, the call fails as an overload, naming what it was doing.
    private static async Task<T> GuardAsync<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (RequestFailedException e) when (e.Status is 429 or 503)
        {
            throw new StoreOverloadedException(
                $"Azure Storage is throttling: {what} still got HTTP {e.Status} ({e.ErrorCode ?? "no error code"}) after the retries with backoff; "
                + "the account or the partition is over its throughput target, retry later.", e);
        }
    }

    private static Task GuardAsync(string what, Func<Task> call) => GuardAsync(what, async () =>
    {
        await call();
        return true;
    });
}

/// <summary>The storage service kept refusing for load (HTTP 429/503) after its retries with backoff.</summary>
public sealed class StoreOverloadedException(string message, Exception inner) : Exception(message, inner);

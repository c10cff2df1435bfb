using Npgsql;
using NpgsqlTypes;

namespace MemRL.Grains.Storage;

/// <summary>
/// The cluster backend: PostgreSQL through Npgsql, shared by every silo. Sessions run with
/// <c>synchronous_commit=on</c>, so a commit returns only after its WAL is flushed on the server: an acknowledged change
/// survives a crash of the silo or of the database server. Fencing relies on row locks: two appends at the same head
/// serialise on the shard row, and the second finds the head moved and changes nothing. The schema is created and
/// migrated on first use, under an advisory lock so silos starting together do not race.
/// </summary>
public sealed class PostgreSqlMemoryStore : IMemoryStore, IAsyncDisposable
{
    // Arbitrary but fixed: every silo of every version must take the same lock ("MemRL" in ASCII).
    private const long MigrationLockKey = 0x4D656D524C;

    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE memrl_bank(bank text PRIMARY KEY, revision bigint NOT NULL, description text NOT NULL, sequence_end bigint NOT NULL);
        CREATE TABLE memrl_shard(shard text PRIMARY KEY, head bigint NOT NULL, snapshot_position bigint NOT NULL);
        CREATE TABLE memrl_log(shard text NOT NULL, position bigint NOT NULL, record bytea NOT NULL, PRIMARY KEY(shard, position));
        CREATE TABLE memrl_payload(shard text NOT NULL, sequence bigint NOT NULL, intent_text text NOT NULL, experience text, vector bytea,
            PRIMARY KEY(shard, sequence));
        CREATE TABLE memrl_snapshot(shard text NOT NULL, position bigint NOT NULL, chunk int NOT NULL, data bytea NOT NULL,
            PRIMARY KEY(shard, position, chunk));
        """,
        // Per-memory history (docs/history.md): one row per slot (ordinal mod 256), upserted, so at most 256 per memory.
        """
        CREATE TABLE memrl_history(shard text NOT NULL, memory bigint NOT NULL, slot int NOT NULL, ordinal bigint NOT NULL, entry bytea NOT NULL,
            PRIMARY KEY(shard, memory, slot));
        """,
    ];

    private readonly NpgsqlDataSource _dataSource;
    private readonly Lazy<Task> _schema;

    /// <summary>Connects with <paramref name="connectionString"/>; the schema is migrated by <see cref="EnsureSchemaAsync"/> or on first use.</summary>
    public PostgreSqlMemoryStore(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        // Durability does not depend on the server's default: every session of this store commits synchronously.
        builder.ConnectionStringBuilder.Options = ((builder.ConnectionStringBuilder.Options ?? "") + " -c synchronous_commit=on").Trim();
        _dataSource = builder.Build();
        _schema = new Lazy<Task>(MigrateAsync);
    }

    /// <summary>Creates or migrates the schema (idempotent; safe when several silos start at once).</summary>
    public Task EnsureSchemaAsync() => _schema.Value;

    public async Task<StoredBank?> ReadBankAsync(string bank, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaAsync();
        await using var command = _dataSource.CreateCommand("SELECT revision, description, sequence_end FROM memrl_bank WHERE bank = $1");
        command.Parameters.Add(new() { Value = bank });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? new StoredBank(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2)) : null;
    }

    // As SqliteMemoryStore.ListBanksAsync: ranges on the primary keys; octet_length takes a TOASTed value's size
    // from its header without reading the text. COLLATE "C": ranges by code point, whatever the database's collation.
    public async Task<IReadOnlyList<StoredBankUsage>> ListBanksAsync(string prefix, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaAsync();
        await using var command = _dataSource.CreateCommand("""
            SELECT b.bank, b.description,
                (SELECT COUNT(*) FROM memrl_payload p WHERE p.shard COLLATE "C" >= b.bank || '/' AND p.shard COLLATE "C" < b.bank || '0' AND p.experience IS NOT NULL),
                (SELECT COALESCE(SUM(octet_length(p.intent_text) + octet_length(p.experience)), 0) FROM memrl_payload p
                    WHERE p.shard COLLATE "C" >= b.bank || '/' AND p.shard COLLATE "C" < b.bank || '0' AND p.experience IS NOT NULL)::bigint
            FROM memrl_bank b WHERE b.bank COLLATE "C" >= $1 AND b.bank COLLATE "C" < $2 ORDER BY b.bank COLLATE "C"
            """);
        command.Parameters.Add(new() { Value = prefix });
        command.Parameters.Add(new() { Value = StoreRows.PrefixEnd(prefix) });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var banks = new List<StoredBankUsage>();
        while (await reader.ReadAsync(cancellationToken))
        {
            banks.Add(new StoredBankUsage(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
        }

        return banks;
    }

    public Task<bool> TryWriteBankAsync(string bank, long expectedRevision, StoredBank value, CancellationToken cancellationToken = default) =>
        WriteAsync(async (connection, transaction) =>
        {
            await using var command = expectedRevision == 0
                ? Command(connection, transaction, "INSERT INTO memrl_bank(bank, revision, description, sequence_end) VALUES($1, 1, $2, $3) ON CONFLICT(bank) DO NOTHING",
                    bank, value.Description, value.SequenceEnd)
                : Command(connection, transaction, "UPDATE memrl_bank SET revision = revision + 1, description = $2, sequence_end = $3 WHERE bank = $1 AND revision = $4",
                    bank, value.Description, value.SequenceEnd, expectedRevision);
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);

    public async Task<ShardImage> LoadShardAsync(string shard, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaAsync();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        // Repeatable read: head, snapshot, log and payloads from one consistent view while other silos write.
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        long head = 0, snapshotPosition = 0;
        await using (var c = Command(connection, transaction, "SELECT head, snapshot_position FROM memrl_shard WHERE shard = $1", shard))
        await using (var r = await c.ExecuteReaderAsync(cancellationToken))
        {
            if (await r.ReadAsync(cancellationToken))
            {
                head = r.GetInt64(0);
                snapshotPosition = r.GetInt64(1);
            }
        }

        var chunks = new List<byte[]>();
        await using (var c = Command(connection, transaction, "SELECT data FROM memrl_snapshot WHERE shard = $1 AND position = $2 ORDER BY chunk", shard, snapshotPosition))
        await using (var r = await c.ExecuteReaderAsync(cancellationToken))
        {
            while (await r.ReadAsync(cancellationToken))
            {
                chunks.Add(r.GetFieldValue<byte[]>(0));
            }
        }

        var tail = new List<StoredEvent>();
        await using (var c = Command(connection, transaction, "SELECT position, record FROM memrl_log WHERE shard = $1 AND position > $2 ORDER BY position", shard, snapshotPosition))
        await using (var r = await c.ExecuteReaderAsync(cancellationToken))
        {
            while (await r.ReadAsync(cancellationToken))
            {
                tail.Add(new StoredEvent(r.GetInt64(0), r.GetFieldValue<byte[]>(1)));
            }
        }

        var payloads = new List<StoredPayload>();
        await using (var c = Command(connection, transaction, "SELECT sequence, intent_text, experience, vector FROM memrl_payload WHERE shard = $1", shard))
        await using (var r = await c.ExecuteReaderAsync(cancellationToken))
        {
            while (await r.ReadAsync(cancellationToken))
            {
                payloads.Add(new StoredPayload(r.GetInt64(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2),
                    r.IsDBNull(3) ? null : StoreRows.ToFloats(r.GetFieldValue<byte[]>(3))));
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return new ShardImage(head, snapshotPosition, chunks, tail, payloads);
    }

    public Task AppendAsync(string shard, ShardBatch batch, CancellationToken cancellationToken = default) =>
        WriteAsync(async (connection, transaction) =>
        {
            long newHead = batch.ExpectedHead + 1;
            await using (var head = batch.ExpectedHead == 0
                ? Command(connection, transaction, "INSERT INTO memrl_shard(shard, head, snapshot_position) VALUES($1, $2, 0) ON CONFLICT(shard) DO NOTHING", shard, newHead)
                : Command(connection, transaction, "UPDATE memrl_shard SET head = $2 WHERE shard = $1 AND head = $3", shard, newHead, batch.ExpectedHead))
            {
                if (await head.ExecuteNonQueryAsync(cancellationToken) != 1)
                {
                    throw new StoreFencedException($"Shard '{shard}' log head is no longer {batch.ExpectedHead}: another activation appended first.");
                }
            }

            // One round trip for the record and every payload change of the commit.
            await using var work = new NpgsqlBatch(connection, transaction);
            work.BatchCommands.Add(BatchCommand("INSERT INTO memrl_log(shard, position, record) VALUES($1, $2, $3)", shard, newHead, batch.Record));
            foreach (var p in batch.Puts)
            {
                work.BatchCommands.Add(BatchCommand(
                    "INSERT INTO memrl_payload(shard, sequence, intent_text, experience, vector) VALUES($1, $2, $3, $4, $5) "
                    + "ON CONFLICT(shard, sequence) DO UPDATE SET intent_text = EXCLUDED.intent_text, experience = EXCLUDED.experience, vector = EXCLUDED.vector",
                    shard, p.Sequence, p.IntentText, (object?)p.Experience ?? DBNull.Value,
                    p.Vector is null ? DBNull.Value : StoreRows.ToBytes(p.Vector)));
            }

            // Before the deletes: a memory the batch deletes keeps no row, even one the same batch wrote.
            foreach (var h in batch.History)
            {
                work.BatchCommands.Add(BatchCommand(
                    "INSERT INTO memrl_history(shard, memory, slot, ordinal, entry) VALUES($1, $2, $3, $4, $5) "
                    + "ON CONFLICT(shard, memory, slot) DO UPDATE SET ordinal = EXCLUDED.ordinal, entry = EXCLUDED.entry",
                    shard, h.Memory, h.Slot, h.Ordinal, h.Entry));
            }

            foreach (long sequence in batch.Deletes)
            {
                work.BatchCommands.Add(BatchCommand("DELETE FROM memrl_payload WHERE shard = $1 AND sequence = $2", shard, sequence));
                work.BatchCommands.Add(BatchCommand("DELETE FROM memrl_history WHERE shard = $1 AND memory = $2", shard, sequence));
            }

            await work.ExecuteNonQueryAsync(cancellationToken);
            return true;
        }, cancellationToken);

    public Task<bool> WriteSnapshotAsync(string shard, long position, IReadOnlyList<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken = default) =>
        WriteAsync(async (connection, transaction) =>
        {
            await using (var claim = Command(connection, transaction,
                "UPDATE memrl_shard SET snapshot_position = $2 WHERE shard = $1 AND snapshot_position < $2 AND head >= $2", shard, position))
            {
                if (await claim.ExecuteNonQueryAsync(cancellationToken) != 1)
                {
                    return false;
                }
            }

            for (int i = 0; i < chunks.Count; i++)
            {
                await using var insert = Command(connection, transaction, "INSERT INTO memrl_snapshot(shard, position, chunk, data) VALUES($1, $2, $3, $4)",
                    shard, position, i, chunks[i].ToArray());
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }

            // Same transaction: the older snapshot and the log it covers go only if the new snapshot commits.
            await using var cleanup = new NpgsqlBatch(connection, transaction);
            cleanup.BatchCommands.Add(BatchCommand("DELETE FROM memrl_snapshot WHERE shard = $1 AND position < $2", shard, position));
            cleanup.BatchCommands.Add(BatchCommand("DELETE FROM memrl_log WHERE shard = $1 AND position <= $2", shard, position));
            await cleanup.ExecuteNonQueryAsync(cancellationToken);
            return true;
        }, cancellationToken);

    public Task DiscardTailAsync(string shard, long expectedHead, long newHead, CancellationToken cancellationToken = default) =>
        WriteAsync(async (connection, transaction) =>
        {
            await using (var head = Command(connection, transaction, "UPDATE memrl_shard SET head = $2 WHERE shard = $1 AND head = $3", shard, newHead, expectedHead))
            {
                if (await head.ExecuteNonQueryAsync(cancellationToken) != 1)
                {
                    throw new StoreFencedException($"Shard '{shard}' log head is no longer {expectedHead}: another activation appended first.");
                }
            }

            await using var delete = Command(connection, transaction, "DELETE FROM memrl_log WHERE shard = $1 AND position > $2", shard, newHead);
            await delete.ExecuteNonQueryAsync(cancellationToken);
            return true;
        }, cancellationToken);

    public Task PurgeShardsAsync(string bank, CancellationToken cancellationToken = default) =>
        WriteAsync(async (connection, transaction) =>
        {
            await using var purge = new NpgsqlBatch(connection, transaction);
            foreach (string table in (string[])["memrl_log", "memrl_payload", "memrl_snapshot", "memrl_history", "memrl_shard"])
            {
                purge.BatchCommands.Add(BatchCommand($"DELETE FROM {table} WHERE starts_with(shard, $1)", bank + "/"));
            }

            await purge.ExecuteNonQueryAsync(cancellationToken);
            return true;
        }, cancellationToken);

    public async Task<IReadOnlyList<StoredHistory>> ReadHistoryAsync(string shard, long memorySequence, long beforeOrdinal, int limit, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaAsync();
        await using var command = _dataSource.CreateCommand(
            "SELECT ordinal, entry FROM memrl_history WHERE shard = $1 AND memory = $2 AND ordinal < $3 ORDER BY ordinal DESC LIMIT $4");
        command.Parameters.Add(new() { Value = shard });
        command.Parameters.Add(new() { Value = memorySequence });
        command.Parameters.Add(new() { Value = beforeOrdinal });
        command.Parameters.Add(new() { Value = limit });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<StoredHistory>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new StoredHistory(memorySequence, reader.GetInt64(0), reader.GetFieldValue<byte[]>(1)));
        }

        return rows;
    }

    public async Task ProbeAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand("SELECT 1");
        await command.ExecuteScalarAsync(cancellationToken);
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private async Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> write, CancellationToken cancellationToken)
    {
        await EnsureSchemaAsync();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        T result = await write(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    private async Task MigrateAsync()
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        // Transaction-scoped: released by commit or rollback, even if this silo dies mid-migration.
        await using (var lockCommand = Command(connection, transaction, "SELECT pg_advisory_xact_lock($1)", MigrationLockKey))
        {
            await lockCommand.ExecuteNonQueryAsync();
        }

        await using (var create = Command(connection, transaction, "CREATE TABLE IF NOT EXISTS memrl_schema(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"))
        {
            await create.ExecuteNonQueryAsync();
        }

        int applied;
        await using (var current = Command(connection, transaction, "SELECT COALESCE(MAX(version), 0) FROM memrl_schema"))
        {
            applied = Convert.ToInt32(await current.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }

        for (int version = applied + 1; version <= Migrations.Length; version++)
        {
            await using (var migrate = Command(connection, transaction, Migrations[version - 1]))
            {
                await migrate.ExecuteNonQueryAsync();
            }

            await using var record = Command(connection, transaction, "INSERT INTO memrl_schema(version) VALUES($1)", version);
            await record.ExecuteNonQueryAsync();
        }

        await transaction.CommitAsync();
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, params object[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (object value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }

    private static NpgsqlBatchCommand BatchCommand(string sql, params object[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (object value in parameters)
        {
            command.Parameters.Add(value is byte[] bytes ? new NpgsqlParameter { Value = bytes, NpgsqlDbType = NpgsqlDbType.Bytea } : new NpgsqlParameter { Value = value });
        }

        return command;
    }
}

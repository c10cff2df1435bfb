using Microsoft.Data.Sqlite;

namespace MemRL.Grains.Storage;

/// <summary>
/// The embedded default backend: one SQLite file in WAL mode. One writer per file: a silo serialises its writes through
/// one lock, and SQLite's file lock (with a busy timeout) covers anything else that opens the file.
/// Crash class: with <c>synchronous=FULL</c> (the default, <see cref="SqliteSynchronousMode.Full"/>) every commit is
/// fsynced before it returns, so an acknowledged change survives a process kill and an OS crash or power loss (on a disk
/// that honours fsync). With <c>NORMAL</c> in WAL mode the WAL is not fsynced per commit: a process kill loses nothing,
/// but a power loss can lose the last commits — acknowledged ones included.
/// </summary>
public sealed class SqliteMemoryStore : IMemoryStore
{
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE memrl_bank(bank TEXT PRIMARY KEY, revision INTEGER NOT NULL, description TEXT NOT NULL, sequence_end INTEGER NOT NULL);
        CREATE TABLE memrl_shard(shard TEXT PRIMARY KEY, head INTEGER NOT NULL, snapshot_position INTEGER NOT NULL);
        CREATE TABLE memrl_log(shard TEXT NOT NULL, position INTEGER NOT NULL, record BLOB NOT NULL, PRIMARY KEY(shard, position)) WITHOUT ROWID;
        CREATE TABLE memrl_payload(shard TEXT NOT NULL, sequence INTEGER NOT NULL, intent_text TEXT NOT NULL, experience TEXT, vector BLOB,
            PRIMARY KEY(shard, sequence)) WITHOUT ROWID;
        CREATE TABLE memrl_snapshot(shard TEXT NOT NULL, position INTEGER NOT NULL, chunk INTEGER NOT NULL, data BLOB NOT NULL,
            PRIMARY KEY(shard, position, chunk)) WITHOUT ROWID;
        """,
        // Per-memory history (docs/history.md): one row per slot (ordinal mod 256), upserted, so at most 256 per memory.
        """
        CREATE TABLE memrl_history(shard TEXT NOT NULL, memory INTEGER NOT NULL, slot INTEGER NOT NULL, ordinal INTEGER NOT NULL, entry BLOB NOT NULL,
            PRIMARY KEY(shard, memory, slot)) WITHOUT ROWID;
        """,
    ];

    private readonly string _connectionString;
    private readonly string _synchronous;
    private readonly SemaphoreSlim _writer = new(1, 1);

    /// <summary>Opens (and creates or migrates) the database file at <paramref name="path"/>.</summary>
    public SqliteMemoryStore(string path, SqliteSynchronousMode synchronous = SqliteSynchronousMode.Full)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true }.ToString();
        _synchronous = synchronous == SqliteSynchronousMode.Full ? "FULL" : "NORMAL";
        using var connection = Open();
        Execute(connection, null, "PRAGMA journal_mode=WAL;");
        Migrate(connection);
    }

    public Task<StoredBank?> ReadBankAsync(string bank, CancellationToken cancellationToken = default) => Task.Run(() =>
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT revision, description, sequence_end FROM memrl_bank WHERE bank = $bank", ("$bank", bank));
        using var reader = command.ExecuteReader();
        return reader.Read() ? new StoredBank(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2)) : null;
    }, cancellationToken);

    // Ranges instead of LIKE (bank names may hold '_'): '/' follows '.' and '0' follows '/', so "{prefix}" ≤ bank <
    // "{prefix-with-last-char+1}" and "{bank}/" ≤ shard < "{bank}0" are exactly the prefix matches, on the primary keys.
    // octet_length reads a value's size from the record header, not the text.
    public Task<IReadOnlyList<StoredBankUsage>> ListBanksAsync(string prefix, CancellationToken cancellationToken = default) => Task.Run(() =>
    {
        using var connection = Open();
        using var command = Command(connection, null, """
            SELECT b.bank, b.description,
                (SELECT COUNT(*) FROM memrl_payload p WHERE p.shard >= b.bank || '/' AND p.shard < b.bank || '0' AND p.experience IS NOT NULL),
                (SELECT COALESCE(SUM(octet_length(p.intent_text) + octet_length(p.experience)), 0) FROM memrl_payload p
                    WHERE p.shard >= b.bank || '/' AND p.shard < b.bank || '0' AND p.experience IS NOT NULL)
            FROM memrl_bank b WHERE b.bank >= $from AND b.bank < $to ORDER BY b.bank
            """, ("$from", prefix), ("$to", StoreRows.PrefixEnd(prefix)));
        using var reader = command.ExecuteReader();
        var banks = new List<StoredBankUsage>();
        while (reader.Read())
        {
            banks.Add(new StoredBankUsage(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
        }

        return (IReadOnlyList<StoredBankUsage>)banks;
    }, cancellationToken);

    public Task<bool> TryWriteBankAsync(string bank, long expectedRevision, StoredBank value, CancellationToken cancellationToken = default) => WriteAsync(transaction =>
    {
        var connection = transaction.Connection!;
        int rows = expectedRevision == 0
            ? Command(connection, transaction, "INSERT INTO memrl_bank(bank, revision, description, sequence_end) VALUES($bank, 1, $d, $s) ON CONFLICT(bank) DO NOTHING",
                ("$bank", bank), ("$d", value.Description), ("$s", value.SequenceEnd)).ExecuteNonQuery()
            : Command(connection, transaction, "UPDATE memrl_bank SET revision = revision + 1, description = $d, sequence_end = $s WHERE bank = $bank AND revision = $r",
                ("$bank", bank), ("$d", value.Description), ("$s", value.SequenceEnd), ("$r", expectedRevision)).ExecuteNonQuery();
        return rows == 1;
    }, cancellationToken);

    public Task<ShardImage> LoadShardAsync(string shard, CancellationToken cancellationToken = default) => Task.Run(() =>
    {
        using var connection = Open();
        // One read transaction: a consistent view of head, snapshot, log and payloads even while another silo writes.
        using var transaction = connection.BeginTransaction(deferred: true);
        long head = 0, snapshotPosition = 0;
        using (var c = Command(connection, transaction, "SELECT head, snapshot_position FROM memrl_shard WHERE shard = $s", ("$s", shard)))
        using (var r = c.ExecuteReader())
        {
            if (r.Read())
            {
                head = r.GetInt64(0);
                snapshotPosition = r.GetInt64(1);
            }
        }

        var chunks = new List<byte[]>();
        using (var c = Command(connection, transaction, "SELECT data FROM memrl_snapshot WHERE shard = $s AND position = $p ORDER BY chunk", ("$s", shard), ("$p", snapshotPosition)))
        using (var r = c.ExecuteReader())
        {
            while (r.Read())
            {
                chunks.Add((byte[])r[0]);
            }
        }

        var tail = new List<StoredEvent>();
        using (var c = Command(connection, transaction, "SELECT position, record FROM memrl_log WHERE shard = $s AND position > $p ORDER BY position", ("$s", shard), ("$p", snapshotPosition)))
        using (var r = c.ExecuteReader())
        {
            while (r.Read())
            {
                tail.Add(new StoredEvent(r.GetInt64(0), (byte[])r[1]));
            }
        }

        var payloads = new List<StoredPayload>();
        using (var c = Command(connection, transaction, "SELECT sequence, intent_text, experience, vector FROM memrl_payload WHERE shard = $s", ("$s", shard)))
        using (var r = c.ExecuteReader())
        {
            while (r.Read())
            {
                payloads.Add(new StoredPayload(r.GetInt64(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : StoreRows.ToFloats((byte[])r[3])));
            }
        }

        transaction.Commit();
        return new ShardImage(head, snapshotPosition, chunks, tail, payloads);
    }, cancellationToken);

    public Task AppendAsync(string shard, ShardBatch batch, CancellationToken cancellationToken = default) => WriteAsync(transaction =>
    {
        var connection = transaction.Connection!;
        long newHead = batch.ExpectedHead + 1;
        int rows = batch.ExpectedHead == 0
            ? Command(connection, transaction, "INSERT INTO memrl_shard(shard, head, snapshot_position) VALUES($s, $h, 0) ON CONFLICT(shard) DO NOTHING", ("$s", shard), ("$h", newHead)).ExecuteNonQuery()
            : Command(connection, transaction, "UPDATE memrl_shard SET head = $h WHERE shard = $s AND head = $e", ("$s", shard), ("$h", newHead), ("$e", batch.ExpectedHead)).ExecuteNonQuery();
        if (rows != 1)
        {
            throw new StoreFencedException($"Shard '{shard}' log head is no longer {batch.ExpectedHead}: another activation appended first.");
        }

        Command(connection, transaction, "INSERT INTO memrl_log(shard, position, record) VALUES($s, $p, $r)", ("$s", shard), ("$p", newHead), ("$r", batch.Record)).ExecuteNonQuery();

        using (var put = Command(connection, transaction, "INSERT OR REPLACE INTO memrl_payload(shard, sequence, intent_text, experience, vector) VALUES($s, $q, $i, $e, $v)",
            ("$s", shard), ("$q", 0L), ("$i", ""), ("$e", DBNull.Value), ("$v", DBNull.Value)))
        {
            foreach (var p in batch.Puts)
            {
                put.Parameters["$q"].Value = p.Sequence;
                put.Parameters["$i"].Value = p.IntentText;
                put.Parameters["$e"].Value = (object?)p.Experience ?? DBNull.Value;
                put.Parameters["$v"].Value = p.Vector is null ? DBNull.Value : StoreRows.ToBytes(p.Vector);
                put.ExecuteNonQuery();
            }
        }

        // Before the deletes: a memory the batch deletes keeps no row, even one the same batch wrote.
        using (var history = Command(connection, transaction, "INSERT OR REPLACE INTO memrl_history(shard, memory, slot, ordinal, entry) VALUES($s, $m, $k, $o, $e)",
            ("$s", shard), ("$m", 0L), ("$k", 0), ("$o", 0L), ("$e", Array.Empty<byte>())))
        {
            foreach (var h in batch.History)
            {
                history.Parameters["$m"].Value = h.Memory;
                history.Parameters["$k"].Value = h.Slot;
                history.Parameters["$o"].Value = h.Ordinal;
                history.Parameters["$e"].Value = h.Entry;
                history.ExecuteNonQuery();
            }
        }

        using (var delete = Command(connection, transaction, "DELETE FROM memrl_payload WHERE shard = $s AND sequence = $q", ("$s", shard), ("$q", 0L)))
        using (var forget = Command(connection, transaction, "DELETE FROM memrl_history WHERE shard = $s AND memory = $q", ("$s", shard), ("$q", 0L)))
        {
            foreach (long sequence in batch.Deletes)
            {
                delete.Parameters["$q"].Value = sequence;
                delete.ExecuteNonQuery();
                forget.Parameters["$q"].Value = sequence;
                forget.ExecuteNonQuery();
            }
        }

        return true;
    }, cancellationToken);

    public Task<bool> WriteSnapshotAsync(string shard, long position, IReadOnlyList<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken = default) => WriteAsync(transaction =>
    {
        var connection = transaction.Connection!;
        int rows = Command(connection, transaction, "UPDATE memrl_shard SET snapshot_position = $p WHERE shard = $s AND snapshot_position < $p AND head >= $p",
            ("$s", shard), ("$p", position)).ExecuteNonQuery();
        if (rows != 1)
        {
            return false;
        }

        using (var insert = Command(connection, transaction, "INSERT INTO memrl_snapshot(shard, position, chunk, data) VALUES($s, $p, $c, $d)",
            ("$s", shard), ("$p", position), ("$c", 0), ("$d", Array.Empty<byte>())))
        {
            for (int i = 0; i < chunks.Count; i++)
            {
                insert.Parameters["$c"].Value = i;
                insert.Parameters["$d"].Value = chunks[i].ToArray();
                insert.ExecuteNonQuery();
            }
        }

        // Same transaction: the older snapshot and the log it covers go only if the new snapshot commits.
        Command(connection, transaction, "DELETE FROM memrl_snapshot WHERE shard = $s AND position < $p", ("$s", shard), ("$p", position)).ExecuteNonQuery();
        Command(connection, transaction, "DELETE FROM memrl_log WHERE shard = $s AND position <= $p", ("$s", shard), ("$p", position)).ExecuteNonQuery();
        return true;
    }, cancellationToken);

    public Task DiscardTailAsync(string shard, long expectedHead, long newHead, CancellationToken cancellationToken = default) => WriteAsync(transaction =>
    {
        var connection = transaction.Connection!;
        int rows = Command(connection, transaction, "UPDATE memrl_shard SET head = $n WHERE shard = $s AND head = $e", ("$s", shard), ("$n", newHead), ("$e", expectedHead)).ExecuteNonQuery();
        if (rows != 1)
        {
            throw new StoreFencedException($"Shard '{shard}' log head is no longer {expectedHead}: another activation appended first.");
        }

        Command(connection, transaction, "DELETE FROM memrl_log WHERE shard = $s AND position > $n", ("$s", shard), ("$n", newHead)).ExecuteNonQuery();
        return true;
    }, cancellationToken);

    public Task PurgeShardsAsync(string bank, CancellationToken cancellationToken = default) => WriteAsync(transaction =>
    {
        // A prefix compare, not LIKE: '_' is a LIKE wildcard and may appear in bank names.
        foreach (string table in (string[])["memrl_log", "memrl_payload", "memrl_snapshot", "memrl_history", "memrl_shard"])
        {
            Command(transaction.Connection!, transaction, $"DELETE FROM {table} WHERE substr(shard, 1, length($p)) = $p", ("$p", bank + "/")).ExecuteNonQuery();
        }

        return true;
    }, cancellationToken);

    public Task<IReadOnlyList<StoredHistory>> ReadHistoryAsync(string shard, long memorySequence, long beforeOrdinal, int limit, CancellationToken cancellationToken = default) => Task.Run(() =>
    {
        using var connection = Open();
        using var command = Command(connection, null,
            "SELECT ordinal, entry FROM memrl_history WHERE shard = $s AND memory = $m AND ordinal < $b ORDER BY ordinal DESC LIMIT $l",
            ("$s", shard), ("$m", memorySequence), ("$b", beforeOrdinal), ("$l", limit));
        using var reader = command.ExecuteReader();
        var rows = new List<StoredHistory>();
        while (reader.Read())
        {
            rows.Add(new StoredHistory(memorySequence, reader.GetInt64(0), (byte[])reader[1]));
        }

        return (IReadOnlyList<StoredHistory>)rows;
    }, cancellationToken);

    public Task ProbeAsync(CancellationToken cancellationToken = default) => Task.Run(() =>
    {
        using var connection = Open();
        Command(connection, null, "SELECT count(*) FROM memrl_schema").ExecuteScalar();
    }, cancellationToken);

    // Microsoft.Data.Sqlite's async methods complete synchronously; Task.Run keeps fsync off Orleans' scheduler threads.
    private Task<T> WriteAsync<T>(Func<SqliteTransaction, T> write, CancellationToken cancellationToken) => Task.Run(async () =>
    {
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = Open();
            using var transaction = connection.BeginTransaction(deferred: false);
            T result = write(transaction);
            transaction.Commit();
            return result;
        }
        finally
        {
            _writer.Release();
        }
    }, cancellationToken);

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // The pool hands back a connection as it was left, and Microsoft.Data.Sqlite ends only the transactions its own
        // SqliteTransaction objects began: one left open by a failed commit or rollback would make every later use of
        // this pooled connection fail ("cannot start a transaction within a transaction"; the PRAGMA below refuses
        // "inside a transaction") and hold SQLite's lock. Nothing of it was acknowledged, so it is rolled back here.
        if (SQLitePCL.raw.sqlite3_get_autocommit(connection.Handle) == 0)
        {
            Execute(connection, null, "ROLLBACK;");
        }

        // Per-connection settings: synchronous decides the crash class (see the class comment); the busy timeout lets a
        // second connection wait for the file lock instead of failing at once.
        Execute(connection, null, $"PRAGMA synchronous={_synchronous}; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=OFF;");
        return connection;
    }

    private static void Migrate(SqliteConnection connection)
    {
        using var transaction = connection.BeginTransaction(deferred: false);
        Execute(connection, transaction, "CREATE TABLE IF NOT EXISTS memrl_schema(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);");
        long applied = (long)(Command(connection, transaction, "SELECT COALESCE(MAX(version), 0) FROM memrl_schema").ExecuteScalar() ?? 0L);
        for (int version = (int)applied + 1; version <= Migrations.Length; version++)
        {
            Execute(connection, transaction, Migrations[version - 1]);
            Command(connection, transaction, "INSERT INTO memrl_schema(version, applied_at) VALUES($v, $t)", ("$v", version), ("$t", DateTimeOffset.UtcNow.ToString("O"))).ExecuteNonQuery();
        }

        transaction.Commit();
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = Command(connection, transaction, sql);
        command.ExecuteNonQuery();
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }
}

/// <summary>SQLite's <c>synchronous</c> setting, which decides the crash class the embedded store survives.</summary>
public enum SqliteSynchronousMode
{
    /// <summary>fsync on every commit: acknowledged changes survive power loss. The default.</summary>
    Full,

    /// <summary>WAL not fsynced per commit: survives a process kill only; a power loss may lose acknowledged changes.</summary>
    Normal,
}

namespace MemRL.Cluster.Tests.Fixtures;

/// <summary>Throwaway SQLite files under the temp folder.</summary>
public static class TestDatabase
{
    public static string NewPath(string prefix) => Path.Combine(Path.GetTempPath(), "memrl-tests", $"{prefix}-{Guid.NewGuid():N}.db");

    public static void Delete(string path)
    {
        foreach (string file in new[] { path, path + "-wal", path + "-shm" })
        {
            if (File.Exists(file))
            {
                File.Delete(file);
            }
        }
    }
}

/// <summary>A throwaway SQLite file, deleted with its WAL when disposed (after the connection pools let go of it).</summary>
public sealed class SqliteFile(string prefix) : IDisposable
{
    public string Path { get; } = TestDatabase.NewPath(prefix);

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        TestDatabase.Delete(Path);
    }
}

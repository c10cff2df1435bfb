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

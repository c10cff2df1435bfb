namespace MemRL.Silo;

/// <summary>
/// An exclusive lock on the embedded silo's data folder: <c>silo.lock</c> beside the SQLite file (<c>./data/silo.lock</c>
/// by default), held open for the silo's life. Two silos on one SQLite file would fight over its shards and over the
/// ports; two MCP host sessions starting the embedded silo at once is exactly that race. The OS drops the lock when the
/// process ends, however it ends (on Unix .NET takes an advisory <c>flock</c> for <see cref="FileShare.None"/>), so a
/// killed silo never leaves a stale lock behind.
/// </summary>
internal sealed class SiloLock : IDisposable
{
    /// <summary>The lock file's name, in the SQLite file's folder.</summary>
    public const string FileName = "silo.lock";

    private readonly FileStream _file;

    private SiloLock(FileStream file, string path)
    {
        _file = file;
        Path = path;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>Where the lock of the silo storing in <paramref name="sqlitePath"/> lives.</summary>
    public static string PathFor(string sqlitePath) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(sqlitePath)) ?? ".", FileName);

    /// <summary>Takes the lock, or throws <see cref="SiloLockHeldException"/> at once when another process holds it.</summary>
    public static SiloLock Acquire(string sqlitePath)
    {
        string path = PathFor(sqlitePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        try
        {
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            // The holder's process id, for the message another silo shows; the lock itself is the open handle.
            file.SetLength(0);
            using (var writer = new StreamWriter(file, leaveOpen: true))
            {
                writer.Write(Environment.ProcessId);
            }

            file.Flush();
            return new SiloLock(file, path);
        }
        catch (IOException e)
        {
            throw new SiloLockHeldException(path, e);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();
}

/// <summary>Another process holds the data folder's <see cref="SiloLock"/>: a silo runs (or is starting) on these files.</summary>
internal sealed class SiloLockHeldException(string path, Exception inner) : IOException(
    $"Another silo uses this data folder: {path} is locked{Holder(path)}. Stop that silo, or give this one its own MemRL:Storage:SqlitePath.", inner)
{
    public string LockPath { get; } = path;

    private static string Holder(string path)
    {
        try
        {
            // The holder wrote its pid; reading works while it holds the lock only where locks are advisory.
            using var read = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            string pid = new StreamReader(read).ReadToEnd().Trim();
            return pid.Length > 0 ? $" by process {pid}" : "";
        }
        catch (IOException)
        {
            return "";
        }
    }
}

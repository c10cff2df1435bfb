namespace MemRL;

/// <summary>
/// Writes a secret (a key or a key ring) so that only its owner can ever read it. Source-shared, not referenced: the
/// grains' recall-token ring and the API's local keys both compile this file, and neither project depends on the other.
/// </summary>
internal static class OwnerOnlyFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/>, creating its folder when missing.</summary>
    public static void Write(string path, string text)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // Written beside the target and moved over it: a crash leaves the old file or the new one, never half of one.
        string temporary = full + ".tmp";
        // Created owner-only rather than restricted after writing: the secret is never readable by others, not even for
        // the moment between the write and a chmod. A stale temporary from a crash is removed so the mode applies.
        File.Delete(temporary);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(temporary, create))
        {
            writer.Write(text);
        }

        File.Move(temporary, full, overwrite: true);
    }
}

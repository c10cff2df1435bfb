using System.Runtime.InteropServices;

namespace MemRL.Grains.Storage;

/// <summary>
/// Row encodings both stores share (so neither calls into the other): vectors as their little-endian float bytes, and
/// the key range that stands for a name prefix.
/// </summary>
internal static class StoreRows
{
    /// <summary>The least string above every string that starts with <paramref name="prefix"/> (its last character plus one).</summary>
    public static string PrefixEnd(string prefix) =>
        prefix.Length == 0 ? "\uffff" : string.Concat(prefix.AsSpan(0, prefix.Length - 1), ((char)(prefix[^1] + 1)).ToString());

    /// <summary>A payload vector as stored: its floats' bytes, in the machine's (little-endian) order.</summary>
    public static byte[] ToBytes(float[] vector) => MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();

    /// <summary>A stored payload vector read back.</summary>
    public static float[] ToFloats(byte[] bytes) => MemoryMarshal.Cast<byte, float>(bytes).ToArray();
}

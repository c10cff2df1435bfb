using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace MemRL.Bench.Learning;

/// <summary>
/// The committed embeddings of a language scenario: little-endian float32 rows, one per phrasing in
/// <see cref="LanguageSpec.Texts"/> order. ONNX Runtime's output depends on the CPU's kernels, so the benchmark never
/// embeds at run time; it reads this file and refuses one that does not match the checksums its scenario records.
/// </summary>
public static class LanguageEmbeddings
{
    /// <summary>SHA-256 (lower-case hex) of the texts, UTF-8, each followed by a line feed.</summary>
    public static string TextsSha256(LanguageSpec language)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Concat(language.Texts.Select(t => t + "\n")));
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    /// <summary>The rows of the scenario's embeddings file, after checking it against everything the scenario records.</summary>
    public static float[][] Read(Scenario scenario)
    {
        var language = scenario.Language ?? throw new ArgumentException($"scenario '{scenario.Name}' is synthetic; it has no text to embed.");
        var spec = scenario.Embeddings ?? throw new ArgumentException(
            $"scenario '{scenario.Name}': embeddings is null; expected the committed embeddings file's record (run the benchmark with --embed on the scenario's source file).");
        string textsSha = TextsSha256(language);
        if (textsSha != spec.TextsSha256)
        {
            throw new ArgumentException($"scenario '{scenario.Name}': embeddings.textsSha256 is {spec.TextsSha256}; the scenario's texts hash to {textsSha} (a phrasing changed since the file was made; embed again).");
        }

        string path = Path.Combine(scenario.Folder, spec.File);
        if (!File.Exists(path))
        {
            throw new ArgumentException($"scenario '{scenario.Name}': embeddings.file is '{spec.File}'; expected a file in {scenario.Folder}, found none.");
        }

        byte[] bytes = File.ReadAllBytes(path);
        long expected = (long)spec.Count * spec.Dimension * sizeof(float);
        if (bytes.Length != expected)
        {
            throw new ArgumentException($"scenario '{scenario.Name}': embeddings file '{spec.File}' has {bytes.Length} bytes; expected {expected} ({spec.Count} rows × {spec.Dimension} float32).");
        }

        string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (sha != spec.Sha256)
        {
            throw new ArgumentException($"scenario '{scenario.Name}': embeddings file '{spec.File}' hashes to {sha}; expected embeddings.sha256 {spec.Sha256}.");
        }

        var rows = new float[spec.Count][];
        for (int r = 0; r < rows.Length; r++)
        {
            rows[r] = new float[spec.Dimension];
            for (int i = 0; i < spec.Dimension; i++)
            {
                rows[r][i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(((r * spec.Dimension) + i) * sizeof(float)));
            }
        }

        return rows;
    }

    /// <summary>Writes the rows to <paramref name="path"/> and returns the record the scenario must carry for them.</summary>
    public static EmbeddingsSpec Write(LanguageSpec language, IReadOnlyList<float[]> rows, string path, string model)
    {
        int dimension = rows.Count == 0 ? 0 : rows[0].Length;
        if (rows.Any(r => r.Length != dimension || r.Any(v => !float.IsFinite(v))))
        {
            throw new ArgumentException($"rows are not all {dimension} finite floats; refusing to write {path}.");
        }

        var bytes = new byte[rows.Count * dimension * sizeof(float)];
        for (int r = 0; r < rows.Count; r++)
        {
            for (int i = 0; i < dimension; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(((r * dimension) + i) * sizeof(float)), rows[r][i]);
            }
        }

        File.WriteAllBytes(path, bytes);
        return new EmbeddingsSpec(Path.GetFileName(path), model, rows.Count, dimension, Convert.ToHexStringLower(SHA256.HashData(bytes)), TextsSha256(language));
    }
}

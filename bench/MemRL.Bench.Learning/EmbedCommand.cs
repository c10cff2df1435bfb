using System.Text.Json;
using System.Text.Json.Nodes;
using MemRL.Embeddings;

namespace MemRL.Bench.Learning;

/// <summary>
/// <c>--embed PATH</c>: embeds a language scenario's phrasings with all-MiniLM-L6-v2 and writes the embeddings file
/// beside the scenario's source file. It prints the <c>embeddings</c> record to put in the scenario; the benchmark
/// reads only that committed file afterwards, because ONNX Runtime's output depends on the CPU's kernels.
/// </summary>
public static class EmbedCommand
{
    public static async Task<int> RunAsync(string scenarioPath)
    {
        if (!File.Exists(scenarioPath))
        {
            throw new ArgumentException($"--embed is '{scenarioPath}'; expected the path of a language scenario's source file (bench/MemRL.Bench.Learning/scenarios/NAME.json).");
        }

        // The record of a previous file is dropped before validation: the texts (and so the count) may have changed since.
        var node = JsonNode.Parse(File.ReadAllText(scenarioPath), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip })?.AsObject()
            ?? throw new ArgumentException($"{scenarioPath}: empty scenario.");
        node.Remove("embeddings");
        var scenario = Scenario.Parse(node.ToJsonString(), scenarioPath);
        var language = scenario.Language ?? throw new ArgumentException($"--embed is '{scenarioPath}'; that scenario is synthetic (no language member), nothing to embed.");
        if (scenario.Dimension != MiniLmEmbedder.ModelDimension)
        {
            throw new ArgumentException($"{scenarioPath}: dimension is {scenario.Dimension}; expected {MiniLmEmbedder.ModelDimension} (all-MiniLM-L6-v2).");
        }

        var texts = language.Texts.ToList();
        using var embedder = new MiniLmEmbedder();
        var generated = await embedder.GenerateAsync(texts);
        if (generated.Any(MiniLmEmbedder.IsTruncated))
        {
            throw new ArgumentException($"{scenarioPath}: a phrasing is longer than {MiniLmEmbedder.MaxTokens} tokens and would be truncated; shorten it.");
        }

        string file = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(scenarioPath))!, scenario.Name + ".embeddings.f32");
        var spec = LanguageEmbeddings.Write(language, generated.Select(e => e.Vector.ToArray()).ToList(), file, MiniLmEmbedder.Id);
        Console.WriteLine($"Wrote {spec.Count} × {spec.Dimension} float32 to {file}. Put this in the scenario:");
        Console.WriteLine("\"embeddings\": " + JsonSerializer.Serialize(spec, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        return 0;
    }
}

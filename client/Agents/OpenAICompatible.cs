using System.ClientModel;
using MemRL.Errors;
using Microsoft.Extensions.AI;
using OpenAI;

namespace MemRL.Client.Agents;

/// <summary>Chat and embedding clients for any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio …).</summary>
public static class OpenAICompatible
{
    /// <summary>A chat client for <paramref name="model"/> at <paramref name="endpoint"/> (e.g. http://localhost:11434/v1).</summary>
    public static IChatClient CreateChatClient(Uri endpoint, string apiKey, string model) =>
        Client(endpoint, apiKey).GetChatClient(model).AsIChatClient();

    /// <summary>An embedding generator for <paramref name="model"/> at <paramref name="endpoint"/>.</summary>
    public static IEmbeddingGenerator<string, Embedding<float>> CreateEmbeddingGenerator(Uri endpoint, string apiKey, string model) =>
        Client(endpoint, apiKey).GetEmbeddingClient(model).AsIEmbeddingGenerator();

    private static OpenAIClient Client(Uri endpoint, string apiKey)
    {
        _ = endpoint ?? throw FieldError.Missing(nameof(endpoint), "the base address of an OpenAI-compatible API");
        if (string.IsNullOrEmpty(apiKey))
        {
            // The key is a secret: its value is never repeated, only whether it was there.
            throw apiKey is null ? FieldError.Missing(nameof(apiKey), "an API key") : FieldError.Invalid(nameof(apiKey), "an API key", "empty");
        }
        return new OpenAIClient(new ApiKeyCredential(apiKey), new OpenAIClientOptions { Endpoint = endpoint });
    }
}

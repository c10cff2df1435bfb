using MemRL.Client;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Api.Mcp;

/// <summary>
/// Text to the bank's vectors for the MCP tools, which take text only (a model writes text, not embeddings). The rule
/// is the HTTP API's: text is embedded by the embedder the bank recorded, its id goes with the call, and a bank made
/// again with another embedder since the id was cached refuses it, so the call is retried once with the new id.
/// </summary>
internal static class BankText
{
    /// <summary>Embeds <paramref name="text"/> for the call's bank and runs <paramref name="use"/>; reports whether the model truncated it.</summary>
    public static async Task<(T Result, bool Truncated)> WithVectorAsync<T>(ToolCall call, string text, string field, Func<float[], string, Task<T>> use)
    {
        var memory = call.Get<MemoryClient>();
        var embedders = call.Get<TextEmbedders>();
        var bankEmbedders = call.Get<BankEmbedders>();
        for (int attempt = 0; ; attempt++)
        {
            string bankEmbedderId = await bankEmbedders.GetAsync(memory, call.ClusterBank, call.BankName);
            if (!embedders.TryGet(bankEmbedderId, out var embedder))
            {
                throw FieldError.Invalid("bank",
                    $"a bank of an embedder this server hosts ({string.Join(", ", embedders.HostedIds)}): MCP tools take text, and bank '{call.BankName}' records "
                    + $"{FieldError.Quote(bankEmbedderId)}, whose vectors only the HTTP API accepts", FieldError.Quote(call.BankName));
            }

            var (vector, truncated) = await embedder.EmbedAsync(text, call.CancellationToken);
            try
            {
                return (await use(vector, embedder.EmbedderId), truncated);
            }
            catch (ArgumentException e) when (attempt == 0 && FieldError.TryRead(e, out var parts) && parts.Field == "embedderId")
            {
                bankEmbedders.Forget(call.ClusterBank);
            }
        }
    }

    /// <summary>
    /// Creates the call's bank for the server's default text embedder, with the gate measured for it, within the
    /// tenant's bank quota: what <c>POST /v1/banks</c> with a name alone does.
    /// </summary>
    public static async Task CreateDefaultBankAsync(ToolCall call)
    {
        var memory = call.Get<MemoryClient>();
        var usage = call.Get<TenantUsage>();
        var standard = call.Get<TextEmbedders>().Default;
        await usage.CheckNewBankAsync(call.Tenant);
        var options = standard.RecommendedDelta is { } delta ? new BankOptions { Delta = delta } : null;
        call.Get<BankEmbedders>().Forget(call.ClusterBank);
        bool existed = await memory.GetBankAsync(call.ClusterBank) is not null;
        await memory.CreateBankAsync(call.ClusterBank, new BankSpec(standard.Dimension, standard.EmbedderId, options, 2, null));
        if (!existed)
        {
            usage.AddBank(call.Tenant);
        }
    }
}

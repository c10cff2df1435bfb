using MemRL.Client;
using MemRL.GrainInterfaces;

namespace MemRL.Api.Mcp.Tools;

/// <summary>
/// <c>recall</c>: the two-phase recall by text. Answers the memories best first with the numbers that rank them, and a
/// short recall id that <c>reward</c> and <c>write</c> take in place of the token (<see cref="RecallIds"/>).
/// </summary>
internal sealed class RecallTool(McpOptions options) : MemoryTool("recall", "Recall memories",
    "Call this BEFORE acting on a task: it returns past experiences of similar tasks, best first, each with its learned "
    + "utility q (how much it helped before), its similarity and its rank score, and whether it succeeded. Use successes as "
    + "examples and failures as warnings. It also returns a recallId: once the outcome of the task is known, call reward "
    + "with it (1 for success, 0 for failure, or the bank's reward range), then write what you learned. An empty list is a "
    + "normal answer: nothing similar is known yet, so act without memory and write the experience afterwards.",
    [
        ToolArgument.Text("query", "The task or intent you are about to act on, in plain words (what you would search for).",
            BankLimits.MaxIntentTextLength, required: true, minLength: 1),
        BankArgument(options),
        ToolArgument.Integer("k1", "Candidates drawn by similarity before ranking by utility (default: the bank's, usually 5).", 1, 1000),
        ToolArgument.Integer("k2", "Memories returned, at most k1 (default: the bank's, usually 3).", 1, 1000),
        ToolArgument.Number("lambda", "Weight of learned utility against similarity in the rank, 0 to 1 (default: the bank's, usually 0.5).", 0, 1),
        ToolArgument.Number("delta", "Least similarity a memory needs to be considered, -1 to 1 (default: the bank's).", -1, 1),
        .. ScopeArguments,
    ], readOnly: true, idempotent: false)
{
    protected override async Task<object> CallAsync(ToolCall call)
    {
        var a = call.Arguments;
        string query = a.Text("query", BankLimits.MaxIntentTextLength, required: true, minLength: 1)!;
        var settings = new RecallSettings(a.Integer("k1", 1, 1000), a.Integer("k2", 1, 1000), a.Number("lambda", 0, 1), a.Number("delta", -1, 1),
            Filter: ScopeWire.FilterOf(ScopeOf(a)));
        var bank = call.Bank();
        RecallResponse recall;
        bool truncated;
        try
        {
            (recall, truncated) = await BankText.WithVectorAsync(call, query, "query", (vector, embedderId) =>
                bank.RecallAsync(vector, settings with { EmbedderId = embedderId }, call.CancellationToken));
        }
        catch (BankNotFoundException)
        {
            // A bank no one wrote to yet knows nothing: the loop's normal "run without memory", not an error.
            return new RecallResult(null, [], 0, null, $"Bank '{call.BankName}' has no memories yet (a write creates it). Act without memory, then write what you learned.");
        }

        var ids = call.Get<RecallIds>();
        var entry = ids.Add(call.Tenant, call.Session, call.BankName, recall.Token, recall.Memories.Count);
        string hint = recall.Memories.Count == 0
            ? "No similar memory passed the similarity gate: act without memory, then write what you learned (pass this recallId to write)."
            : $"After the outcome is known, call reward with recallId '{entry.Id}' (it expires in {ids.Lifetime.TotalMinutes:0} minutes), then write what you learned.";
        return new RecallResult(entry.Id,
            [.. recall.Memories.Select(m => new RecalledView(m.Id, m.IntentText, m.Experience, m.Success, m.Q, m.Similarity, m.ZSim, m.ZQ, m.Score, m.Scope, m.Metadata))],
            recall.PoolSize, $"{recall.Coverage.ShardsAnswered}/{recall.Coverage.ShardsTotal}",
            truncated ? hint + " The query was longer than the embedding model reads; only its start was used." : hint,
            recall.Explored ? true : null);
    }

    protected override string RenameField(string field) => field is "queryText" ? "query" : field;

    private sealed record RecallResult(string? RecallId, IReadOnlyList<RecalledView> Memories, int PoolSize, string? Coverage, string Hint, bool? Explored = null);

    private sealed record RecalledView(string MemoryId, string Intent, string Experience, bool Success, double Q, double Similarity, double ZSim, double ZQ, double Score,
        ScopeFields? Scope, Dictionary<string, string>? Metadata);
}

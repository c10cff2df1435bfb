namespace MemRL.Api.Mcp.Tools;

/// <summary><c>bank_stats</c>: how much the bank holds and how its learned utility is spread.</summary>
internal sealed class BankStatsTool(McpOptions options) : MemoryTool("bank_stats", "Bank statistics",
    "How much the bank holds (intent keys, memories, per shard) and how learned utility q is spread (mean, extremes, "
    + "quantiles, histogram): whether the memory is learning which experiences help.",
    [BankArgument(options)], readOnly: true, idempotent: true)
{
    protected override async Task<object> CallAsync(ToolCall call)
    {
        var s = await call.Bank().GetStatsAsync();
        var q = s.QDistribution;
        return new StatsResult(call.BankName, s.Keys, s.Memories, [.. s.Shards.Select(x => new ShardView(x.Shard, x.Keys, x.Memories))],
            q.Count == 0 ? null : new QView(q.Count, q.Mean, q.Min, q.Max, q.P50, q.P90, q.P99, q.Edges, q.Counts),
            s.VisitsDistribution.Count == 0 ? null : s.VisitsDistribution.Mean, $"{s.Coverage.ShardsAnswered}/{s.Coverage.ShardsTotal}");
    }

    private sealed record StatsResult(string Bank, int Keys, int Memories, IReadOnlyList<ShardView> Shards, QView? Q, double? MeanVisits, string Coverage);

    private sealed record ShardView(int Shard, int Keys, int Memories);

    private sealed record QView(long Count, double Mean, double Min, double Max, double P50, double P90, double P99, IReadOnlyList<double> Edges, IReadOnlyList<long> Counts);
}

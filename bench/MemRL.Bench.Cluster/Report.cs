using System.Globalization;

namespace MemRL.Bench.Cluster;

/// <summary>Collects the runs and prints Markdown tables.</summary>
internal sealed class Report(BenchSettings settings)
{
    private readonly List<string> _load = [];
    private readonly List<string> _closed = [];
    private readonly List<string> _open = [];
    private readonly List<string> _mutations = [];
    private readonly Dictionary<int, double> _best = [];
    private readonly Dictionary<int, double> _bestCeiling = [];

    public void Load(int shards, double writesPerSecond, double recall, double ceilingRecall) =>
        _load.Add(Row(shards, F(writesPerSecond, 0), F(recall, 4), F(ceilingRecall, 4)));

    public void Closed(int shards, int c, RunResult cluster, RunResult ceiling)
    {
        _best[shards] = Math.Max(_best.GetValueOrDefault(shards), cluster.Throughput);
        _bestCeiling[shards] = Math.Max(_bestCeiling.GetValueOrDefault(shards), ceiling.Throughput);
        _closed.Add(Row(shards, c, F(cluster.Throughput, 0), F(ceiling.Throughput, 0), F(cluster.Throughput / ceiling.Throughput, 2),
            F(cluster.Percentile(0.5), 2), F(cluster.Percentile(0.99), 2), F(cluster.CpuCores, 2), F(ceiling.CpuCores, 2), cluster.Failed));
        Console.Error.WriteLine($"S={shards} C={c}: cluster {cluster.Throughput:F0}/s, ceiling {ceiling.Throughput:F0}/s");
    }

    public double BestClusterThroughput(int shards) => _best[shards];

    public double BestCeilingThroughput(int shards) => _bestCeiling[shards];

    public void Open(int shards, string system, double rate, RunResult run) =>
        _open.Add(Row(shards, system, F(rate, 0), F(run.Throughput, 0), F(run.Percentile(0.5), 2), F(run.Percentile(0.99), 2), F(run.Percentile(0.999), 2),
            F(RunResult.Percentile(run.DispatchLagMs ?? [], 0.99), 2), F(run.GcPauseMs, 0), run.Collections, F(run.AllocatedKbPerRequest, 1), F(run.CpuCores, 2), run.Failed));

    public void Mutations(int shards, RunResult rewards, RunResult writes) =>
        _mutations.Add(Row(shards, F(rewards.Throughput, 0), F(rewards.Percentile(0.99), 2), F(writes.Throughput, 0), F(writes.Percentile(0.99), 2), rewards.Failed + writes.Failed));

    public void Print(TextWriter o)
    {
        o.WriteLine($"Keys {settings.Keys} × {settings.Dimension}, k1 {settings.K1}, k2 {settings.K2}, ef {settings.Ef}, {settings.Duration.TotalSeconds:F0} s per closed-loop run, {settings.OpenDuration.TotalSeconds:F0} s open loop, seed {settings.Seed}");
        Table(o, _load, "shards", "load writes/s", "cluster recall@k1", "ceiling recall@k1");
        Table(o, _closed, "shards", "agents (closed loop)", "cluster recalls/s", "ceiling searches/s", "cluster ÷ ceiling", "p50 ms", "p99 ms",
            "cluster CPU cores", "ceiling CPU cores", "failed");
        Table(o, _open, "shards", "system", "open-loop rate /s", "achieved /s", "p50 ms", "p99 ms", "p99.9 ms", "generator lag p99 ms", "GC pauses ms",
            "GCs gen0/1/2", "KB allocated per request", "CPU cores", "failed");
        Table(o, _mutations, "shards", "recall+reward /s (64 agents)", "p99 ms", "writes/s (64 agents)", "p99 ms", "failed");
    }

    // Numbers right-aligned; the one text column (system) left.
    private static void Table(TextWriter o, List<string> rows, params string[] columns)
    {
        o.WriteLine();
        o.WriteLine(Row(columns));
        o.WriteLine("|" + string.Concat(columns.Select(c => c == "system" ? "---|" : "---:|")));
        rows.ForEach(o.WriteLine);
    }

    private static string F(double v, int digits) => v.ToString("F" + digits, CultureInfo.InvariantCulture);

    private static string Row(params object[] cells) => "| " + string.Join(" | ", cells) + " |";
}

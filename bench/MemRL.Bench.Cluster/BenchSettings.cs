using System.Globalization;

namespace MemRL.Bench.Cluster;

/// <summary>Command-line settings; unknown or malformed flags stop the run with a message naming the flag.</summary>
internal sealed record BenchSettings(
    int Keys, int Queries, int Dimension, int[] ShardCounts, int[] Concurrency, int Ef, int K1, int K2, TimeSpan Duration, int Seed, TimeSpan OpenDuration,
    int[]? OpenRates = null, string? TimelinePath = null, TimeSpan? MachineProbe = null)
{
    public static BenchSettings Parse(string[] args)
    {
        var s = new BenchSettings(10_000, 1_000, 384, [1, 2, 4, 8], [1, 16, 64, 256], 64, 5, 3, TimeSpan.FromSeconds(5), 42, TimeSpan.FromSeconds(10));
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            string value = i + 1 < args.Length ? args[++i] : throw Usage($"{flag} needs a value");
            s = flag switch
            {
                "--keys" => s with { Keys = Int(flag, value, 100) },
                "--queries" => s with { Queries = Int(flag, value, 10) },
                "--dim" => s with { Dimension = Int(flag, value, 2) },
                "--shards" => s with { ShardCounts = Ints(flag, value) },
                "--concurrency" => s with { Concurrency = Ints(flag, value) },
                "--ef" => s with { Ef = Int(flag, value, 1) },
                "--k1" => s with { K1 = Int(flag, value, 1) },
                "--k2" => s with { K2 = Int(flag, value, 1) },
                "--seconds" => s with { Duration = TimeSpan.FromSeconds(Int(flag, value, 1)) },
                "--seed" => s with { Seed = Int(flag, value, 0) },
                "--open-seconds" => s with { OpenDuration = TimeSpan.FromSeconds(Int(flag, value, 1)) },
                "--open-rates" => s with { OpenRates = Ints(flag, value) },
                "--timeline" => s with { TimelinePath = value },
                "--machine-probe" => s with { MachineProbe = TimeSpan.FromSeconds(Int(flag, value, 1)) },
                _ => throw Usage($"unknown flag {flag}"),
            };
        }

        return s;
    }

    private static int Int(string flag, string value, int min) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min
            ? v
            : throw Usage($"{flag} is '{value}'; expected an integer ≥ {min}");

    private static int[] Ints(string flag, string value) => value.Split(',').Select(v => Int(flag, v, 1)).ToArray();

    private static ArgumentException Usage(string message) => new(
        $"{message}. Flags: --keys N --queries N --dim D --shards 1,2,4,8 --concurrency 1,16,64,256 --ef N --k1 N --k2 N --seconds N --seed N --open-seconds N\n" +
        "  --open-rates N,N (skip the closed loop: open loops at these rates /s) --timeline FILE (CSV of the open loop, sampled every 5 ms)\n" +
        "  --machine-probe SECONDS (only measure how steady this machine's cores are, then exit)");
}

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using MemRL.Bench.Cluster;
using MemRL.Index;

namespace MemRL.Bench.Ann;

/// <summary>
/// Filtered search at the index level (issue 15): HNSW with the accept predicate against an exact scan of the accepted
/// items, at several filter selectivities, on seeded clustered data. The filter is a seeded coin per item, independent of
/// the vectors (a scope such as userId that says nothing about content). Decides below which share of matching keys a
/// shard should scan them exactly instead of walking the graph. Prints a markdown table to stdout.
/// </summary>
internal static partial class Filtered
{
    private const string Usage = "filtered [--n N] [--dim N] [--queries N] [--k N] [--ef N,N] [--selectivities S,S] [--seed N] [--repeats N]";

    public static int Run(string[] args)
    {
        int n = 100_000, dim = 384, queryCount = 200, k = 10, seed = 42, repeats = 1;
        int[] efs = [64, 128];
        double[] selectivities = [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001];
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            string value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag} needs a value; usage: {Usage}");
            switch (flag)
            {
                case "--n": n = Int(flag, value); break;
                case "--dim": dim = Int(flag, value); break;
                case "--queries": queryCount = Int(flag, value); break;
                case "--k": k = Int(flag, value); break;
                case "--seed": seed = Int(flag, value); break;
                case "--repeats": repeats = Int(flag, value); break;
                case "--ef": efs = value.Split(',').Select(v => Int(flag, v)).ToArray(); break;
                case "--selectivities": selectivities = value.Split(',').Select(v => Share(flag, v)).ToArray(); break;
                default: throw new ArgumentException($"flag is '{flag}'; usage: {Usage}");
            }
        }

        var data = Dataset.Clustered(n + queryCount, dim, seed);
        var queries = data[n..];
        // The vectors as the index holds them: one contiguous array, so the exact scan of a posting list gathers rows
        // scattered over it as a shard's scan of its matching keys would.
        var flat = new float[n * dim];
        for (int i = 0; i < n; i++)
        {
            data[i].CopyTo(flat, i * dim);
        }

        var build = Stopwatch.StartNew();
        var index = new HnswIndex(new HnswOptions { Dimension = dim, ExactSearchThreshold = 0, InitialCapacity = n });
        for (int i = 0; i < n; i++)
        {
            index.Add(i, data[i]);
        }

        build.Stop();
        Console.WriteLine($"Filtered search: {n} × {dim} clustered (seed {seed}), M 16, efConstruction 200, built in {build.Elapsed.TotalSeconds:F0} s; "
            + $"{queryCount} queries, k {k}, one thread; filter = a seeded coin per item, independent of the vectors");
        Console.WriteLine();
        Console.WriteLine("CPU ms: the searching thread's own CPU time per query (CLOCK_THREAD_CPUTIME_ID), which the machine's other load does not inflate; wall ms: elapsed");
        Console.WriteLine();
        Console.WriteLine("| repeat | selectivity | matching | method | ef | CPU p50 ms | CPU p99 ms | CPU mean ms | wall p50 ms | wall p99 ms | recall@" + k + " vs exact |");
        Console.WriteLine("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");

        var context = index.CreateSearchContext();
        var found = new Neighbor[k];
        // Repeats run the whole sweep again over the same index and filters (the build is the slow part on this machine),
        // so the spread is the machine's, not the data's.
        int repeat;
        for (repeat = 1; repeat <= repeats; repeat++)
        {
            var coin = new Random(seed + 1);
            foreach (double s in selectivities)
            {
                var accepted = new bool[n];
                var posting = new List<int>();
                for (int i = 0; i < n; i++)
                {
                    if (s >= 1 || coin.NextDouble() < s)
                    {
                        accepted[i] = true;
                        posting.Add(i);
                    }
                }

                int[] ids = [.. posting];
                Func<long, bool>? accept = s >= 1 ? null : id => accepted[id];
                var truth = new HashSet<long>[queryCount];
                var exactMs = Time(q =>
                {
                    int m = ScanExact(flat, dim, ids, queries[q], found);
                    truth[q] = found.Take(m).Select(f => f.Id).ToHashSet();
                });
                string share = s >= 1 ? "100 % (none)" : $"{s * 100:0.###} %";
                Row(share, ids.Length, "exact scan of the matching items", "–", exactMs, 1.0);

                var sweepMs = Time(q => index.Search(queries[q], k, k, context, found, SearchMode.Exact, accept));
                Row(share, ids.Length, "exact: index sweep, predicate per item", "–", sweepMs, 1.0);

                foreach (int ef in efs)
                {
                    var graphMs = Time(q => index.Search(queries[q], k, Math.Max(ef, k), context, found, SearchMode.Approximate, accept));
                    double hits = 0, wanted = 0;
                    for (int q = 0; q < queryCount; q++)
                    {
                        int m = index.Search(queries[q], k, Math.Max(ef, k), context, found, SearchMode.Approximate, accept);
                        hits += found.Take(m).Count(f => truth[q].Contains(f.Id));
                        wanted += truth[q].Count;
                    }

                    Row(share, ids.Length, "HNSW" + (accept is null ? "" : " + accept"), ef.ToString(CultureInfo.InvariantCulture), graphMs, hits / wanted);
                }
            }
        }

        return 0;

        // A warm-up pass (JIT, caches), then one timed pass; each query timed alone, by CPU time and by the clock. The
        // machine is shared and often loaded many times over: a search longer than a scheduler slice is descheduled,
        // so its wall time grows with the load while its CPU time does not.
        (double[] Cpu, double[] Wall) Time(Action<int> search)
        {
            for (int q = 0; q < Math.Min(queryCount, 20); q++)
            {
                search(q);
            }

            var cpu = new double[queryCount];
            var wall = new double[queryCount];
            for (int q = 0; q < queryCount; q++)
            {
                double cpuStart = ThreadCpuMs();
                long start = Stopwatch.GetTimestamp();
                search(q);
                wall[q] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                cpu[q] = ThreadCpuMs() - cpuStart;
            }

            return (cpu, wall);
        }

        void Row(string share, int matching, string method, string ef, (double[] Cpu, double[] Wall) ms, double recall) =>
            Console.WriteLine($"| {repeat} | {share} | {matching:N0} | {method} | {ef} | {Percentile(ms.Cpu, 0.5):F3} | {Percentile(ms.Cpu, 0.99):F3} | {ms.Cpu.Average():F3} | "
                + $"{Percentile(ms.Wall, 0.5):F3} | {Percentile(ms.Wall, 0.99):F3} | {recall:F4} |");
    }

    /// <summary>
    /// The exact top-k of <paramref name="ids"/> (a posting list), by similarity then id, as the index orders them: what a
    /// shard's fallback does. The query is unit length already (the dataset is normalised).
    /// </summary>
    private static int ScanExact(float[] flat, int dim, int[] ids, float[] query, Neighbor[] top)
    {
        int m = 0;
        foreach (int id in ids)
        {
            float sim = VectorMath.Dot(query, flat.AsSpan(id * dim, dim));
            if (m == top.Length && !(sim > top[m - 1].Similarity))
            {
                continue;
            }

            // Insertion into the sorted top-k (k is small); ids arrive ascending, so an equal similarity stays behind.
            int i = m < top.Length ? m++ : m - 1;
            while (i > 0 && sim > top[i - 1].Similarity)
            {
                top[i] = top[i - 1];
                i--;
            }

            top[i] = new Neighbor(id, sim);
        }

        return m;
    }

    private const int ClockThreadCpuTime = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    // Linux only, as the benchmark machine is: the calling thread's CPU time in nanoseconds' resolution.
    private static double ThreadCpuMs() =>
        ClockGetTime(ClockThreadCpuTime, out var t) == 0
            ? (t.Seconds * 1e3) + (t.Nanoseconds / 1e6)
            : throw new InvalidOperationException($"clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed with errno {Marshal.GetLastPInvokeError()}.");

    // Nearest rank, as the cluster benchmark's RunResult.Percentile.
    private static double Percentile(double[] values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    private static int Int(string flag, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v
            : throw new ArgumentException($"{flag} is '{value}'; expected a positive integer.");

    private static double Share(string flag, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && v <= 1
            ? v
            : throw new ArgumentException($"{flag} has '{value}'; expected shares in (0, 1], such as 0.5,0.1,0.01.");
}

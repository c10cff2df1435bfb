using System.Diagnostics;
using MemRL.Client;

namespace MemRL.Bench.Cluster;

/// <summary>What one run measured.</summary>
/// <param name="DispatchLagMs">Open loop only: how late the generator started each request against its schedule.</param>
/// <param name="GcPauseMs">Open loop only: total time the GC paused the process during the run.</param>
/// <param name="Collections">Open loop only: collections of generations 0, 1 and 2 during the run.</param>
internal sealed record RunResult(int Concurrency, long Completed, long Failed, TimeSpan Elapsed, double CpuCores, double[] LatenciesMs,
    double[]? DispatchLagMs = null, double GcPauseMs = 0, string Collections = "", double AllocatedKbPerRequest = 0)
{
    public double Throughput => Completed / Elapsed.TotalSeconds;

    public double Percentile(double p) => Percentile(LatenciesMs, p);

    public static double Percentile(double[] values, double p)
    {
        if (values.Length == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}

internal static class Measure
{
    /// <summary>
    /// Every measured run starts from a collected heap, as BenchmarkDotNet's runs do: otherwise the collection owed for
    /// the previous phase's garbage (a 100k-key bulk load, 256 agents' requests) lands in this run and is billed to it.
    /// Collections during the run are counted and reported (open loop).
    /// </summary>
    private static void Settle()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
    }

    /// <summary>Recall@k1 of the cluster's Phase A against exact search (k2 = k1, lambda 0 so the order is by similarity).</summary>
    public static async Task<double> ClusterRecallAsync(BankClient bank, float[][] queries, int[][] truth, Dictionary<string, int> idToKey, int k1)
    {
        double hits = 0;
        for (int q = 0; q < queries.Length; q++)
        {
            var r = await bank.RecallAsync(queries[q], new RecallSettings(K1: k1, K2: k1, Lambda: 0));
            hits += r.Memories.Select(m => idToKey[m.Id]).Intersect(truth[q]).Count();
        }

        return hits / (queries.Length * (double)k1);
    }

    /// <summary>Closed loop: <paramref name="concurrency"/> callers each issue the next request when the last completes.</summary>
    public static async Task<RunResult> ClosedLoopAsync<T>(int concurrency, TimeSpan duration, Func<int, Task<T>> call)
    {
        // Warm-up: JIT, tiering, grain activations.
        for (int i = 0; i < 50; i++)
        {
            await call(i);
        }

        Settle();
        int next = 1000;
        long completed = 0, failed = 0;
        var latencies = new List<double>[concurrency];
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = new List<double>(4096);
            while (clock.Elapsed < duration)
            {
                long start = Stopwatch.GetTimestamp();
                try
                {
                    await call(Interlocked.Increment(ref next));
                    Interlocked.Increment(ref completed);
                    mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        clock.Stop();
        double cores = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds / clock.Elapsed.TotalSeconds;
        return new RunResult(concurrency, completed, failed, clock.Elapsed, cores, latencies.SelectMany(l => l).ToArray());
    }

    /// <summary>
    /// Open loop: requests start at a fixed rate whatever the latency, so queueing shows up in the latency (a closed
    /// loop's latency is just concurrency ÷ throughput). Latency counts from the scheduled start, not the actual one, so a
    /// late generator counts against the system; its lateness is reported beside the latency to tell the two apart.
    /// </summary>
    public static async Task<RunResult> OpenLoopAsync<T>(double ratePerSecond, TimeSpan duration, Func<int, Task<T>> call, string? timelinePath = null, bool warmUp = true)
    {
        if (warmUp)
        {
            // One unmeasured second at the same rate: the generator's own code paths are compiled here, not billed.
            await OpenLoopAsync(ratePerSecond, TimeSpan.FromSeconds(1), call, warmUp: false);
        }

        Settle();
        long total = (long)(ratePerSecond * duration.TotalSeconds);
        var latencies = new double[total];
        var lags = new double[total];
        var tasks = new Task[total];
        long started = 0, completed = 0, failed = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var paused = GC.GetTotalPauseDuration();
        long allocated = GC.GetTotalAllocatedBytes(precise: false);
        int[] collections = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        using var timeline = timelinePath is null ? null
            : new Timeline(timelinePath, () => (Volatile.Read(ref started), Volatile.Read(ref completed) + Volatile.Read(ref failed)), TimeSpan.FromMilliseconds(5));
        var clock = Stopwatch.StartNew();

        async Task RunOne(long index, double from)
        {
            try
            {
                await call((int)index);
                latencies[index] = (clock.Elapsed.TotalSeconds - from) * 1000;
                Interlocked.Increment(ref completed);
            }
            catch (Exception)
            {
                latencies[index] = double.NaN;
                Interlocked.Increment(ref failed);
            }
        }

        // The generator is its own thread, not a thread-pool continuation: a timer continuation waits behind the silo's
        // queued work, which made the generator late by milliseconds and counted that as latency. It sleeps, never spins
        // (on two cores a spinning generator takes a core from the silo it measures); requests due within the same
        // millisecond start together.
        // Joining the thread from a pool thread would block that thread for the whole run: on two cores that halves the
        // pool the silo runs on. The thread signals its end instead.
        var generated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var generator = new Thread(() =>
        {
            for (long i = 0; i < total; i++)
            {
                double due = i / ratePerSecond;
                double wait = due - clock.Elapsed.TotalSeconds;
                if (wait > 0.0005)
                {
                    Thread.Sleep(TimeSpan.FromSeconds(wait));
                }

                double now = clock.Elapsed.TotalSeconds;
                lags[i] = Math.Max(0, (now - due) * 1000);
                long index = i;
                Interlocked.Increment(ref started);

                // Latency counts from the schedule when the generator is late, from the start when it is up to 0.5 ms
                // early (requests due within the same millisecond start together): never a negative latency.
                double from = Math.Min(due, now);
                tasks[i] = Task.Run(() => RunOne(index, from));
            }

            generated.SetResult();
        })
        { IsBackground = true, Name = "open-loop generator", Priority = ThreadPriority.AboveNormal };
        generator.Start();
        await generated.Task;
        await Task.WhenAll(tasks);
        clock.Stop();
        double cores = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds / clock.Elapsed.TotalSeconds;
        if (!warmUp)
        {
            return new RunResult(0, completed, failed, clock.Elapsed, cores, [], lags);
        }

        // Where in the run the slow requests were (> 10 ms), per second: a burst points at one event, a spread at load.
        var slow = Enumerable.Range(0, (int)Math.Ceiling(duration.TotalSeconds)).Select(second =>
            Enumerable.Range((int)(second * ratePerSecond), (int)ratePerSecond).Count(i => i < total && latencies[i] > 10));
        Console.Error.WriteLine($"open loop: requests over 10 ms per second of the run: {string.Join(' ', slow)}");
        return new RunResult(0, completed, failed, clock.Elapsed, cores, latencies.Where(double.IsFinite).ToArray(), lags,
            (GC.GetTotalPauseDuration() - paused).TotalMilliseconds,
            $"{GC.CollectionCount(0) - collections[0]}/{GC.CollectionCount(1) - collections[1]}/{GC.CollectionCount(2) - collections[2]}",
            (GC.GetTotalAllocatedBytes(precise: false) - allocated) / 1024.0 / total);
    }
}

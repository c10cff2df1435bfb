using System.Diagnostics;
using System.Globalization;

namespace MemRL.Bench.Cluster;

/// <summary>
/// How steady this machine's CPUs are, apart from any of our code: threads each run a fixed arithmetic loop and count
/// the loops they finish in every 100 ms window. On a steady machine every window finishes about the same number; a
/// virtual machine whose host takes its cores away shows windows that finish far fewer. Such a window is invisible to
/// the guest's own accounting (no steal time, the process's CPU time still runs) but a server at half load queues
/// through it, so the open loop's tail cannot be read without this.
/// </summary>
internal static class MachineProbe
{
    public static void Run(TextWriter o, TimeSpan duration)
    {
        o.WriteLine($"Machine probe: loops finished per 100 ms window, {duration.TotalSeconds:F0} s per row, relative to the median window");
        o.WriteLine();
        o.WriteLine("| busy threads | windows | min | p1 | p5 | p10 | windows below 0.6 | longest gap between loops ms |");
        o.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (int threads = 1; threads <= Environment.ProcessorCount; threads++)
        {
            o.WriteLine(Measure(threads, duration));
        }
    }

    private static string Measure(int threads, TimeSpan duration)
    {
        int windows = (int)(duration.TotalMilliseconds / 100);
        var counts = new long[windows];
        var longestGap = new double[threads];
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            double x = 1;
            var last = clock.Elapsed;
            while (true)
            {
                for (int i = 0; i < 20_000; i++)
                {
                    x = (x * 1.0000001) + 0.1;
                }

                var now = clock.Elapsed;
                int window = (int)(now.TotalMilliseconds / 100);
                if (window >= windows)
                {
                    break;
                }

                Interlocked.Increment(ref counts[window]);
                longestGap[t] = Math.Max(longestGap[t], (now - last).TotalMilliseconds);
                last = now;
            }

            GC.KeepAlive(x);
        })
        { IsBackground = true, Priority = ThreadPriority.AboveNormal }).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        // The first window includes thread start and JIT; it is not the machine.
        var sorted = counts.Skip(1).Order().ToArray();
        double median = sorted[sorted.Length / 2];
        string Share(double p) => (sorted[(int)(p * (sorted.Length - 1))] / median).ToString("F2", CultureInfo.InvariantCulture);
        int below = sorted.Count(c => c < 0.6 * median);
        return $"| {threads} | {sorted.Length} | {Share(0)} | {Share(0.01)} | {Share(0.05)} | {Share(0.10)} | {below} | {longestGap.Max().ToString("F1", CultureInfo.InvariantCulture)} |";
    }
}

using System.Diagnostics;
using System.Globalization;

namespace MemRL.Bench.Cluster;

/// <summary>
/// Diagnostic for the open loop's tail: a dedicated thread samples, every few milliseconds, how many requests are in
/// flight, the process's CPU time, the thread pool (threads, queued and completed work items), lock contention and
/// GC counts, and writes one CSV row per sample. Whether the cores are busy or idle while requests pile up tells
/// extra work (CPU rises) from waiting (CPU falls) — the first fork in finding a tail's cause.
/// </summary>
internal sealed class Timeline : IDisposable
{
    private readonly Thread _thread;
    private readonly StreamWriter _out;
    private volatile bool _stop;

    public Timeline(string path, Func<(long Started, long Completed)> progress, TimeSpan every)
    {
        _out = new StreamWriter(path);
        _out.WriteLine("ms,started,completed,in_flight,cpu_ms,pool_threads,pool_queued,pool_completed,lock_contentions,gc0,gc1,gc2,gc_pause_ms");
        var clock = Stopwatch.StartNew();
        var process = Process.GetCurrentProcess();
        _thread = new Thread(() =>
        {
            while (!_stop)
            {
                var (started, completed) = progress();
                process.Refresh();
                _out.WriteLine(string.Join(',',
                    clock.Elapsed.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture), started, completed, started - completed,
                    process.TotalProcessorTime.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture),
                    ThreadPool.ThreadCount, ThreadPool.PendingWorkItemCount, ThreadPool.CompletedWorkItemCount,
                    Monitor.LockContentionCount, GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2),
                    GC.GetTotalPauseDuration().TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture)));
                Thread.Sleep(every);
            }
        })
        { IsBackground = true, Name = "timeline sampler" };
        _thread.Start();
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        _out.Dispose();
    }
}

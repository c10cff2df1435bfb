using System.Diagnostics;
using System.Globalization;

// The thread pool every grain runs on, measured per benchmark phase (issue 14), so a stall is a figure and not only
// Orleans' warning: threads, queued work items and work items completed, and the queue delay — a no-op work item queued
// every 100 ms and timed until it runs, the probe Orleans' own stall check uses. With it the machine from /proc (the
// 1-minute load average and every process's CPU), so a stall of the design can be told from a machine that is busy.
sealed class PoolSampler : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);

    private readonly Lock _gate = new();
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new();
    private readonly List<double> _delays = [];
    private long _probeQueuedAt;
    private int _maxThreads;
    private long _maxPending;
    private long _start;
    private long _completed;
    private double _machineBusy;
    private double _selfCpu;
    private TimeSpan _gcPause;
    private string _load = "";

    public PoolSampler()
    {
        Begin();
        // A thread of its own, not a timer: timer callbacks run on the pool, so a starved pool would delay the sampler too.
        _thread = new Thread(Run) { IsBackground = true, Name = "pool sampler" };
        _thread.Start();
    }

    /// <summary>Starts a new phase: what <see cref="Report"/> prints covers from here on.</summary>
    public void Begin()
    {
        lock (_gate)
        {
            _delays.Clear();
            _maxThreads = ThreadPool.ThreadCount;
            _maxPending = ThreadPool.PendingWorkItemCount;
            _start = Stopwatch.GetTimestamp();
            _completed = ThreadPool.CompletedWorkItemCount;
            _machineBusy = MachineBusySeconds();
            _selfCpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
            _gcPause = GC.GetTotalPauseDuration();
            _load = LoadAverage();
        }
    }

    /// <summary>The phase so far: pool figures, then cores busy in this process and in the whole machine.</summary>
    public string Report()
    {
        lock (_gate)
        {
            double wall = Stopwatch.GetElapsedTime(_start).TotalSeconds;
            // A probe still waiting is a stall in progress: its age counts.
            double waiting = _probeQueuedAt == 0 ? 0 : Stopwatch.GetElapsedTime(_probeQueuedAt).TotalMilliseconds;
            var sorted = _delays.Order().ToArray();
            double median = sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
            double max = Math.Max(waiting, sorted.Length == 0 ? 0 : sorted[^1]);
            double self = (Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - _selfCpu) / wall;
            double machine = (MachineBusySeconds() - _machineBusy) / wall;
            return string.Create(CultureInfo.InvariantCulture,
                $"pool: queue delay max {max:F0} ms median {median:F1} ms ({sorted.Length} probes), threads max {_maxThreads}, queued max {_maxPending}, " +
                $"{(ThreadPool.CompletedWorkItemCount - _completed) / wall:F0} items/s, GC pauses {(GC.GetTotalPauseDuration() - _gcPause).TotalMilliseconds:F0} ms; cores busy: this process {self:F2}, machine {machine:F2} " +
                $"of {Environment.ProcessorCount}; load {_load} -> {LoadAverage()}");
        }
    }

    public void Dispose()
    {
        _stop.Set();
        _thread.Join();
    }

    private void Run()
    {
        while (!_stop.Wait(Period))
        {
            lock (_gate)
            {
                _maxThreads = Math.Max(_maxThreads, ThreadPool.ThreadCount);
                _maxPending = Math.Max(_maxPending, ThreadPool.PendingWorkItemCount);
                if (_probeQueuedAt != 0)
                {
                    // The last probe has not run yet: one at a time, so a long stall is one long delay, not many.
                    continue;
                }

                _probeQueuedAt = Stopwatch.GetTimestamp();
            }

            // The global queue, as Orleans' scheduler queues a grain's work (preferLocal: false).
            ThreadPool.UnsafeQueueUserWorkItem(static sampler => sampler.ProbeRan(), this, preferLocal: false);
        }
    }

    private void ProbeRan()
    {
        lock (_gate)
        {
            _delays.Add(Stopwatch.GetElapsedTime(_probeQueuedAt).TotalMilliseconds);
            _probeQueuedAt = 0;
        }
    }

    // Busy time of every CPU: /proc/stat's first line, user through steal but idle and iowait (guest time is already in
    // user), in clock ticks of 1/100 s.
    private static double MachineBusySeconds()
    {
        string[] fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        double busy = 0;
        for (int i = 1; i <= 8 && i < fields.Length; i++)
        {
            if (i is not (4 or 5))
            {
                busy += double.Parse(fields[i], CultureInfo.InvariantCulture);
            }
        }

        return busy / 100.0;
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];
}

using MemRL.GrainInterfaces;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MemRL.Grains;

/// <summary>
/// Runs every bank's retention policy on a schedule (docs/retention.md): each <see cref="MemRLClusterOptions.RetentionInterval"/>,
/// and once shortly after the silo starts (the check on activation), every bank (with a policy, or holding memories that expire or were archived by hand) gets runs until one
/// reports no more work (at most <see cref="MaxRunsPerTick"/>). The schedule is the stored policy plus the clock, so it
/// survives idle deactivation and restarts with nothing else to persist; each run's operation id names the bank's
/// interval window and the run's place in it, so silos of one cluster running the same window, or a silo retrying
/// after a crash, apply each run once.
/// </summary>
internal sealed partial class RetentionScheduler(
    IGrainFactory grains, TimeProvider time, IOptions<MemRLClusterOptions> options, ILogger<RetentionScheduler> logger) : BackgroundService
{
    /// <summary>Most runs one bank gets per tick: a bank whose backlog is larger continues at the next tick.</summary>
    public const int MaxRunsPerTick = 16;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.RetentionInterval;
        if (interval <= TimeSpan.Zero)
        {
            return;
        }

        // The first pass after the silo has had time to join: banks due while it was down are run then.
        var delay = TimeSpan.FromTicks(Math.Min(interval.Ticks, TimeSpan.FromSeconds(10).Ticks));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await TickAsync(interval, stoppingToken);
            delay = interval;
        }
    }

    /// <summary>One pass over every bank; failures are logged per bank and retried at the next tick.</summary>
    internal async Task TickAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        IReadOnlyList<BankUsage> banks;
        try
        {
            banks = await grains.GetGrain<IBankCatalogGrain>(0).ListAsync("");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogListFailed(ex);
            return;
        }

        long window = time.GetUtcNow().UtcTicks / interval.Ticks;
        foreach (var usage in banks)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                // Every bank, with a policy or not: memories written with a time to live expire, and memories archived by
                // hand are purged after the retention period, in any bank. A run with nothing to do changes nothing.
                var coordinator = grains.GetGrain<IMemoryCoordinatorGrain>(0);
                for (int run = 0; run < MaxRunsPerTick; run++)
                {
                    var result = await coordinator.RunRetentionAsync(usage.Name, $"retention-{window}-{run}");
                    if (result.Purged + result.Archived > 0)
                    {
                        LogRun(usage.Name, result.Purged, result.Archived, result.More);
                    }

                    if (!result.More)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogRunFailed(ex, usage.Name);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention run of bank {Bank}: {Purged} purged, {Archived} archived, more: {More}.")]
    private partial void LogRun(string bank, int purged, int archived, bool more);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Retention run of bank {Bank} failed; the next tick retries it.")]
    private partial void LogRunFailed(Exception error, string bank);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Retention runs could not list the banks; the next tick retries.")]
    private partial void LogListFailed(Exception error);
}

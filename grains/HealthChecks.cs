using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Runtime;

namespace MemRL.Grains;

/// <summary>Ready only while the store answers: a silo that cannot commit must not get traffic it would refuse.</summary>
internal sealed class StorageHealthCheck(IMemoryStore store) : IHealthCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await store.ProbeAsync(timeout.Token).WaitAsync(timeout.Token);
            return HealthCheckResult.Healthy("storage answers");
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"storage does not answer: {ex.GetType().Name}: {ex.Message}");
        }
    }
}

/// <summary>Healthy once this silo is Active in the cluster's membership (not while joining or shutting down).</summary>
internal sealed class SiloActiveHealthCheck(IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(local.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy("silo is active")
            : HealthCheckResult.Unhealthy($"silo is {status}, not Active"));
    }
}

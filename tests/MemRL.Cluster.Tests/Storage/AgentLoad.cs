using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Agents under disruption with the client-side ledger of their writes: every step each agent writes one memory
/// (acknowledged, or in flight when the call failed, so it may or may not have applied), then takes the test's own step
/// (recall, reward), until stopped. <see cref="CrashTests.SettleWritesAsync"/> checks the ledger afterwards.
/// </summary>
internal sealed class AgentLoad
{
    private int _steps;

    /// <summary>Acknowledged writes: operation id → memory id.</summary>
    public ConcurrentDictionary<string, string> Acked { get; } = new();

    /// <summary>Writes whose call failed: operation id → the write.</summary>
    public ConcurrentDictionary<string, CrashTests.WriteOp> InFlight { get; } = new();

    /// <summary>Steps all agents have completed: the progress to wait on after a disruption.</summary>
    public int Steps => Volatile.Read(ref _steps);

    /// <param name="failed">The write failures a disruption may cause; any other ends the agent and fails the test.</param>
    /// <param name="then">The agent's own step after its write (its vectors, agent and step number); it handles its own failures.</param>
    public Task[] Start(BankClient bank, int agents, int seed, Func<Exception, bool> failed, Func<Vectors, int, int, Task> then, CancellationToken stop) =>
        Enumerable.Range(0, agents).Select(agent => Task.Run(async () =>
        {
            var v = new Vectors(seed + agent, BankHelpers.Dimension);
            for (int step = 0; !stop.IsCancellationRequested; step++)
            {
                var op = new CrashTests.WriteOp($"w-{agent}-{step}", v.Gaussian(), $"experience {agent}/{step}");
                try
                {
                    Acked[op.OperationId] = (await bank.WriteAsync(op.Intent, "intent", op.Text, true, operationId: op.OperationId)).MemoryId;
                }
                catch (Exception e) when (failed(e))
                {
                    InFlight[op.OperationId] = op;
                }

                await then(v, agent, step);
                Interlocked.Increment(ref _steps);
            }
        })).ToArray();
}

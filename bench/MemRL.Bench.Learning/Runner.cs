using MemRL.Core;

namespace MemRL.Bench.Learning;

/// <summary>How a run is driven.</summary>
/// <param name="Epochs">Replays of the task set (the paper: 10).</param>
/// <param name="BatchSize">Episodes per mini-batch; every episode of a batch recalls from the batch-start state.</param>
/// <param name="Agents">Agents recalling concurrently within a batch.</param>
/// <param name="Transfer">Train on 70 % of the tasks, evaluate the frozen memory on the other 30 % after each epoch.</param>
public sealed record RunSettings(int Epochs = 10, int BatchSize = 16, int Agents = 8, bool Transfer = false);

/// <summary>One episode's use of memory, for the Q-versus-success analysis.</summary>
public readonly record struct MemoryUse(string MemoryId, double Q, bool Success, int Epoch);

/// <summary>Everything one (method, seed) run produced.</summary>
/// <param name="Chosen">Per epoch and task, the strategy the agent followed (−1 for a task not run in the epoch).</param>
/// <param name="Followed">Per epoch and task, whether that strategy came from a successful memory in the context (else a guess).</param>
public sealed record RunResult(
    string Method, int Seed, bool[][] Success, bool[][] HeldOutSuccess, IReadOnlyList<MemoryUse> Uses, IReadOnlyList<MemoryQ> FinalMemories,
    int[][] Chosen, bool[][] Followed);

/// <summary>
/// Replays a world's tasks for E epochs against one bank, in mini-batches with barriers as in the authors' code: every
/// episode of a batch recalls from the batch-start state (concurrently, C agents), then rewards and then writes are
/// applied in task order. With the same seed a run reproduces bit for bit, and every method sees the same luck.
/// </summary>
public sealed class Runner(World world, IMemoryBackend backend, RunSettings settings)
{
    private readonly Policy _policy = new(world.Scenario);

    public async Task<RunResult> RunAsync(Method method, int seed, Action<int>? onEpoch = null, CancellationToken ct = default)
    {
        var scenario = world.Scenario;
        var (train, heldOut) = Split(seed);
        // The same uniforms for every method: luck decides the outcome, choice which strategy the agent follows.
        var draws = new Random(StreamSeed(seed, stream: 1));
        int slots = settings.Epochs * scenario.TaskCount;
        var luck = Enumerable.Range(0, slots).Select(_ => draws.NextDouble()).ToArray();
        var choice = Enumerable.Range(0, slots).Select(_ => draws.NextDouble()).ToArray();
        var evalLuck = Enumerable.Range(0, slots).Select(_ => draws.NextDouble()).ToArray();

        // Short and readable in the console; the suffix keeps runs apart in one data folder.
        string bank = $"{scenario.Name}-{method.Name}-s{seed}-{Guid.NewGuid().ToString("N")[..8]}";
        if (method.UsesMemory)
        {
            await (method.Cap is { } cap
                ? backend.CreateBankAsync(bank, scenario.Dimension, method.Options!, cap, ct)
                : backend.CreateBankAsync(bank, scenario.Dimension, method.Options!, ct));
        }

        var success = new bool[settings.Epochs][];
        var chosenAt = new int[settings.Epochs][];
        var followed = new bool[settings.Epochs][];
        var heldOutSuccess = new bool[settings.Epochs][];
        var uses = new List<MemoryUse>();
        for (int epoch = 0; epoch < settings.Epochs; epoch++)
        {
            success[epoch] = new bool[scenario.TaskCount];
            chosenAt[epoch] = Enumerable.Repeat(-1, scenario.TaskCount).ToArray();
            followed[epoch] = new bool[scenario.TaskCount];
            foreach (var batch in train.Chunk(settings.BatchSize))
            {
                var recalls = await RecallAllAsync(method, bank, batch, epoch, ct);
                var outcomes = new bool[batch.Length];
                var chosen = new int[batch.Length];
                for (int i = 0; i < batch.Length; i++)
                {
                    var task = batch[i];
                    int slot = (epoch * scenario.TaskCount) + task.Id;
                    var context = Context(recalls[i]);
                    chosen[i] = _policy.Choose(context, choice[slot]);
                    outcomes[i] = _policy.Succeeds(chosen[i], task.RightStrategy, luck[slot]);
                    success[epoch][task.Id] = outcomes[i];
                    chosenAt[epoch][task.Id] = chosen[i];
                    followed[epoch][task.Id] = context.Any(c => c.Success);
                    foreach (var m in recalls[i]?.Memories ?? [])
                    {
                        uses.Add(new MemoryUse(m.Id, m.Q, outcomes[i], epoch));
                    }
                }

                if (method.UsesMemory)
                {
                    for (int i = 0; i < batch.Length; i++)
                    {
                        double reward = outcomes[i] ? scenario.Reward.Success : scenario.Reward.Failure;
                        await backend.RewardAsync(bank, recalls[i]!, reward, ct);
                    }

                    for (int i = 0; i < batch.Length; i++)
                    {
                        await backend.WriteAsync(bank, batch[i].IntentAt(epoch), batch[i].TextAt(epoch), Policy.Experience(batch[i].TextAt(epoch), chosen[i], outcomes[i]), outcomes[i], recalls[i], ct);
                    }
                }
            }

            heldOutSuccess[epoch] = settings.Transfer ? await EvaluateAsync(method, bank, heldOut, epoch, choice, evalLuck, ct) : [];
            onEpoch?.Invoke(epoch);
        }

        var finalMemories = method.UsesMemory ? await backend.ListMemoriesAsync(bank, ct) : [];
        return new RunResult(method.Name, seed, success, heldOutSuccess, uses, finalMemories, chosenAt, followed);
    }

    // Transfer: recall only, nothing learned, on tasks the memory never trained on.
    private async Task<bool[]> EvaluateAsync(Method method, string bank, TaskSpec[] tasks, int epoch, double[] choice, double[] luck, CancellationToken ct)
    {
        var result = new bool[world.Scenario.TaskCount];
        var recalls = await RecallAllAsync(method, bank, tasks, epoch, ct);
        for (int i = 0; i < tasks.Length; i++)
        {
            int slot = (epoch * world.Scenario.TaskCount) + tasks[i].Id;
            int chosen = _policy.Choose(Context(recalls[i]), choice[slot]);
            result[tasks[i].Id] = _policy.Succeeds(chosen, tasks[i].RightStrategy, luck[slot]);
        }

        return result;
    }

    private async Task<BackendRecall?[]> RecallAllAsync(Method method, string bank, TaskSpec[] batch, int epoch, CancellationToken ct)
    {
        var recalls = new BackendRecall?[batch.Length];
        if (method.UsesMemory)
        {
            await Parallel.ForAsync(0, batch.Length, new ParallelOptions { MaxDegreeOfParallelism = settings.Agents, CancellationToken = ct },
                async (i, token) => recalls[i] = await backend.RecallAsync(bank, batch[i].IntentAt(epoch), token));
        }

        return recalls;
    }

    private static List<ContextItem> Context(BackendRecall? recall) =>
        recall?.Memories.Select(m => new ContextItem(Policy.StrategyOf(m.Experience), m.Success)).ToList() ?? [];

    /// <summary>The runtime setting trains on every task; transfer on a seeded 70 % with the rest held out.</summary>
    public (TaskSpec[] Train, TaskSpec[] HeldOut) Split(int seed) => Split(world, settings, seed);

    /// <summary>The split a run of <paramref name="seed"/> used, for the reports that read its results (each side in id order).</summary>
    public static (TaskSpec[] Train, TaskSpec[] HeldOut) Split(World world, RunSettings settings, int seed)
    {
        if (!settings.Transfer)
        {
            return ([.. world.Tasks], []);
        }

        var shuffled = world.Tasks.ToArray();
        new Random(StreamSeed(seed, stream: 2)).Shuffle(shuffled);
        int train = (int)Math.Round(shuffled.Length * 0.7);
        return ([.. shuffled[..train].OrderBy(t => t.Id)], [.. shuffled[train..].OrderBy(t => t.Id)]);
    }

    /// <summary>
    /// The seed of one random stream of a run: a pure function of its inputs. (HashCode.Combine would be shorter, but it
    /// is randomised per process, and seeded runs must reproduce across processes and machines.)
    /// </summary>
    public static int StreamSeed(int seed, int stream)
    {
        ulong z = ((ulong)(uint)seed << 32) | (uint)stream;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)(z ^ (z >> 31));
    }

    /// <summary>
    /// The product's defaults with delta (top-20 % quantile), muD and sigmaD from the scenario's own intents and the
    /// reward range of its reward spec (so qInit is that range's midpoint, as for any bank made for those rewards): the
    /// same for every method.
    /// </summary>
    public static MemRLOptions Calibrated(World world)
    {
        var c = Calibration.FromSample(world.Tasks.SelectMany(t => t.AllIntents).ToList());
        var reward = world.Scenario.Reward;
        var options = MemRLOptions.Default with
        {
            Delta = c.Delta, SimilarityMean = c.SimilarityMean, SimilarityStdDev = c.SimilarityStdDev,
            RewardMin = Math.Min(reward.Success, reward.Failure), RewardMax = Math.Max(reward.Success, reward.Failure),
        };
        options.Validate();
        return options;
    }
}

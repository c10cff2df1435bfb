namespace MemRL.Bench.Learning;

/// <summary>What a recalled memory tells the agent: the strategy its experience names, and whether it worked.</summary>
public readonly record struct ContextItem(int Strategy, bool Success);

/// <summary>
/// The simulated frozen LLM. It follows one of the successful memories in its context (earlier ranks more likely);
/// with none, it guesses a strategy, avoiding those that failure reflections name. The outcome is a Bernoulli draw on
/// whether the strategy followed is the task's right one. All randomness comes from pre-drawn uniforms, so every
/// method sees the same luck on the same (epoch, task).
/// </summary>
public sealed class Policy(Scenario scenario)
{
    private readonly PolicySpec _spec = scenario.Policy;

    /// <summary>The strategy chosen with the choice uniform <paramref name="choice"/> in [0, 1).</summary>
    public int Choose(IReadOnlyList<ContextItem> context, double choice)
    {
        var successes = context.Where(c => c.Success).Select(c => c.Strategy).ToList();
        if (successes.Count > 0)
        {
            int n = Math.Min(successes.Count, _spec.FollowWeights.Length);
            double total = _spec.FollowWeights.Take(n).Sum();
            double acc = 0;
            for (int i = 0; i < n; i++)
            {
                acc += _spec.FollowWeights[i] / total;
                if (choice < acc)
                {
                    return successes[i];
                }
            }

            return successes[n - 1];
        }

        var avoided = _spec.ReflectionAvoidsNamedStrategy ? context.Where(c => !c.Success).Select(c => c.Strategy).ToHashSet() : [];
        var options = Enumerable.Range(0, scenario.Strategies).Where(s => !avoided.Contains(s)).ToList();
        if (options.Count == 0)
        {
            options = [.. Enumerable.Range(0, scenario.Strategies)];
        }

        return options[Math.Min(options.Count - 1, (int)(choice * options.Count))];
    }

    /// <summary>Whether the episode succeeds, with the outcome uniform <paramref name="luck"/>.</summary>
    public bool Succeeds(int chosen, int right, double luck) => luck < (chosen == right ? _spec.SuccessIfRight : _spec.SuccessIfWrong);

    /// <summary>The exact success probability of a task given its context (for tests of the specification).</summary>
    public double SuccessProbability(IReadOnlyList<ContextItem> context, int right)
    {
        // Integrate Choose over the choice uniform: its pieces are intervals, so a fine grid is exact up to rounding.
        const int grid = 100_000;
        int hits = 0;
        for (int i = 0; i < grid; i++)
        {
            hits += Choose(context, (i + 0.5) / grid) == right ? 1 : 0;
        }

        double pRight = hits / (double)grid;
        return (pRight * _spec.SuccessIfRight) + ((1 - pRight) * _spec.SuccessIfWrong);
    }

    /// <summary>The experience text a memory stores: the strategy, as a script on success or a reflection on failure.</summary>
    public static string Experience(TaskSpec task, int strategy, bool success) => Experience(task.Text, strategy, success);

    /// <summary>The experience text for the task text the agent was shown (a language task's phrasing of the epoch).</summary>
    public static string Experience(string taskText, int strategy, bool success) => success
        ? $"Task: {taskText}\nSCRIPT: apply strategy {strategy}.\nstrategy: {strategy}"
        : $"TASK REFLECTION:\nTask: {taskText}\nWhat went wrong: strategy {strategy} did not solve it; avoid it here.\nstrategy: {strategy}";

    /// <summary>Reads the strategy back from an experience text: the policy sees only what memory returns.</summary>
    public static int StrategyOf(string experience)
    {
        int at = experience.LastIndexOf("strategy: ", StringComparison.Ordinal);
        return at < 0 ? -1 : int.Parse(experience.AsSpan(at + 10).Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

using System.Text.Json;

namespace MemRL.Bench.Learning;

/// <summary>How the simulated frozen LLM uses its context.</summary>
/// <param name="FollowWeights">Chance of following the 1st, 2nd, 3rd … successful memory in the context (renormalised over those present).</param>
/// <param name="SuccessIfRight">Success probability when the strategy followed is the task's right one.</param>
/// <param name="SuccessIfWrong">Success probability otherwise.</param>
/// <param name="ReflectionAvoidsNamedStrategy">A failure reflection in the context removes the strategy it names from the agent's own guesses.</param>
public sealed record PolicySpec(double[] FollowWeights, double SuccessIfRight, double SuccessIfWrong, bool ReflectionAvoidsNamedStrategy);

/// <summary>Reward values per outcome (+1/−1 or 1/0 in the paper's benchmarks).</summary>
public sealed record RewardSpec(double Success, double Failure);

/// <summary>A simulated lifelong-learning environment; every parameter lives in a JSON file under scenarios/.</summary>
public sealed record Scenario(
    string Name,
    string Description,
    int Dimension,
    int Families,
    int TasksPerFamily,
    int Strategies,
    double MainStrategyShare,
    double IntraFamilySimilarity,
    double CrossFamilySimilarity,
    int LookAlikeFamilies,
    double LookAlikeSimilarity,
    PolicySpec Policy,
    RewardSpec Reward)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip };

    public int TaskCount => (Families + LookAlikeFamilies) * TasksPerFamily;

    /// <summary>Loads a scenario by name (from scenarios/) or path, and validates it.</summary>
    public static Scenario Load(string nameOrPath)
    {
        string path = File.Exists(nameOrPath) ? nameOrPath : Path.Combine(AppContext.BaseDirectory, "scenarios", nameOrPath + ".json");
        if (!File.Exists(path))
        {
            var known = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "scenarios"), "*.json").Select(Path.GetFileNameWithoutExtension);
            throw new ArgumentException($"scenario is '{nameOrPath}'; expected a file path or one of: {string.Join(", ", known)}.");
        }

        return Parse(File.ReadAllText(path), path);
    }

    public static Scenario Parse(string json, string source = "scenario")
    {
        Scenario? scenario;
        try
        {
            scenario = JsonSerializer.Deserialize<Scenario>(json, Json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{source}: not a valid scenario ({e.Message}).", e);
        }

        if (scenario is null)
        {
            throw new ArgumentException($"{source}: empty scenario.");
        }

        scenario.Validate(source);
        return scenario;
    }

    public void Validate(string source)
    {
        Check(string.IsNullOrWhiteSpace(Name), "name", "a non-empty name", $"'{Name}'");
        Check(Dimension is < 8 or > 4096, "dimension", "an integer in [8, 4096]", Dimension);
        Check(Families < 1, "families", "at least 1", Families);
        Check(TasksPerFamily < 1, "tasksPerFamily", "at least 1", TasksPerFamily);
        Check(Strategies < 2, "strategies", "at least 2", Strategies);
        Check(!(MainStrategyShare is >= 0 and <= 1), "mainStrategyShare", "a number in [0, 1]", MainStrategyShare);
        Check(!(IntraFamilySimilarity is > 0 and < 1), "intraFamilySimilarity", "a number in (0, 1)", IntraFamilySimilarity);
        Check(!(CrossFamilySimilarity is >= 0 and < 1), "crossFamilySimilarity", "a number in [0, 1)", CrossFamilySimilarity);
        Check(LookAlikeFamilies < 0 || LookAlikeFamilies > Families, "lookAlikeFamilies", $"an integer in [0, families ({Families})]", LookAlikeFamilies);
        Check(LookAlikeFamilies > 0 && !(LookAlikeSimilarity is > 0 and < 1), "lookAlikeSimilarity", "a number in (0, 1)", LookAlikeSimilarity);
        Check(Policy is null, "policy", "an object", "null");
        Check(Policy!.FollowWeights is not { Length: > 0 } || Policy.FollowWeights.Any(w => !(w >= 0)) || Policy.FollowWeights.Sum() <= 0,
            "policy.followWeights", "non-negative weights with a positive sum", Policy.FollowWeights is null ? "null" : string.Join(",", Policy.FollowWeights));
        Check(!(Policy.SuccessIfRight is >= 0 and <= 1), "policy.successIfRight", "a probability", Policy.SuccessIfRight);
        Check(!(Policy.SuccessIfWrong is >= 0 and <= 1), "policy.successIfWrong", "a probability", Policy.SuccessIfWrong);
        Check(Reward is null || !double.IsFinite(Reward.Success) || !double.IsFinite(Reward.Failure), "reward", "finite success and failure values", Reward?.ToString() ?? "null");

        void Check(bool bad, string field, string expected, object actual)
        {
            if (bad)
            {
                throw new ArgumentException($"{source}: {field} is {actual}; expected {expected}.");
            }
        }
    }
}

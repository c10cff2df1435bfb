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

/// <summary>One task written as text: its phrasings and, when it differs from its family's, its own right strategy.</summary>
public sealed record TextTask(string[] Phrasings, string? Strategy = null);

/// <summary>A family of text tasks; a look-alike family names the family its wording imitates.</summary>
public sealed record TextFamily(string Name, string Strategy, TextTask[] Tasks, string? LookAlikeOf = null);

/// <summary>The text of a language scenario: the strategy names and the families (real ones first, then look-alikes).</summary>
public sealed record LanguageSpec(string[] Strategies, TextFamily[] Families)
{
    /// <summary>Every phrasing in scenario order (family, task, phrasing): the rows of the embeddings file.</summary>
    public IEnumerable<string> Texts => Families.SelectMany(f => f.Tasks).SelectMany(t => t.Phrasings);
}

/// <summary>
/// Where a language scenario's intents come from: a committed file of little-endian float32 rows (one per phrasing, in
/// <see cref="LanguageSpec.Texts"/> order) written by <c>--embed</c>, with the checksums that tie it to its text.
/// </summary>
/// <param name="File">The file, relative to the scenario's folder.</param>
/// <param name="Model">The embedder id that produced it (MiniLmEmbedder.Id).</param>
/// <param name="Sha256">SHA-256 of the file, lower-case hex.</param>
/// <param name="TextsSha256">SHA-256 of the texts (UTF-8, one per line), lower-case hex: a changed phrasing is refused.</param>
public sealed record EmbeddingsSpec(string File, string Model, int Count, int Dimension, string Sha256, string TextsSha256);

/// <summary>
/// A simulated lifelong-learning environment; every parameter lives in a JSON file under scenarios/. A synthetic
/// scenario generates its intents from the similarity parameters; a language scenario (<see cref="Language"/> set)
/// takes them from its text's committed embeddings and ignores those parameters.
/// </summary>
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
    RewardSpec Reward,
    LanguageSpec? Language = null,
    EmbeddingsSpec? Embeddings = null)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip };

    public int TaskCount => (Families + LookAlikeFamilies) * TasksPerFamily;

    /// <summary>The folder of the file the scenario was loaded from (a language scenario's embeddings sit beside it).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Folder { get; init; } = Path.Combine(AppContext.BaseDirectory, "scenarios");

    /// <summary>Loads a scenario by name (from scenarios/) or path, and validates it.</summary>
    public static Scenario Load(string nameOrPath)
    {
        string path = File.Exists(nameOrPath) ? nameOrPath : Path.Combine(AppContext.BaseDirectory, "scenarios", nameOrPath + ".json");
        if (!File.Exists(path))
        {
            var known = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "scenarios"), "*.json").Select(Path.GetFileNameWithoutExtension);
            throw new ArgumentException($"scenario is '{nameOrPath}'; expected a file path or one of: {string.Join(", ", known)}.");
        }

        return Parse(File.ReadAllText(path), path) with { Folder = Path.GetDirectoryName(Path.GetFullPath(path))! };
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
        Check(LookAlikeFamilies < 0 || LookAlikeFamilies > Families, "lookAlikeFamilies", $"an integer in [0, families ({Families})]", LookAlikeFamilies);
        if (Language is null)
        {
            Check(!(MainStrategyShare is >= 0 and <= 1), "mainStrategyShare", "a number in [0, 1]", MainStrategyShare);
            Check(!(IntraFamilySimilarity is > 0 and < 1), "intraFamilySimilarity", "a number in (0, 1)", IntraFamilySimilarity);
            Check(!(CrossFamilySimilarity is >= 0 and < 1), "crossFamilySimilarity", "a number in [0, 1)", CrossFamilySimilarity);
            Check(LookAlikeFamilies > 0 && !(LookAlikeSimilarity is > 0 and < 1), "lookAlikeSimilarity", "a number in (0, 1)", LookAlikeSimilarity);
            Check(Embeddings is not null, "embeddings", "absent (a synthetic scenario generates its intents)", "an embeddings file");
        }
        else
        {
            ValidateLanguage(Language, Check);
        }

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

    // The counts at the top of the file must agree with the text, so the Report's and the runner's arithmetic (families,
    // look-alikes, tasks per family, strategies) means the same for a language scenario as for a synthetic one.
    private void ValidateLanguage(LanguageSpec language, Action<bool, string, string, object> check)
    {
        check(language.Strategies is not { Length: > 0 }, "language.strategies", "a list of strategy names", "empty");
        check(language.Strategies.Length != Strategies, "language.strategies", $"{Strategies} names (strategies)", language.Strategies.Length);
        check(language.Strategies.Any(string.IsNullOrWhiteSpace), "language.strategies", "non-empty names", "a blank name");
        var duplicate = language.Strategies.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        check(duplicate is not null, "language.strategies", "distinct names", $"'{duplicate?.Key}' twice");
        check(language.Families is not { Length: > 0 }, "language.families", "a list of families", "empty");
        var real = language.Families.TakeWhile(f => f.LookAlikeOf is null).ToList();
        check(real.Count != Families, "language.families", $"{Families} families (families) before the look-alike ones", $"{real.Count}");
        check(language.Families.Length - real.Count != LookAlikeFamilies, "language.families", $"{LookAlikeFamilies} look-alike families (lookAlikeFamilies) after the others",
            $"{language.Families.Length - real.Count} families after the first look-alike");
        var names = new HashSet<string>(StringComparer.Ordinal);
        var known = new HashSet<string>(language.Strategies, StringComparer.Ordinal);
        for (int f = 0; f < language.Families.Length; f++)
        {
            var family = language.Families[f];
            string at = $"language.families[{f}]";
            check(string.IsNullOrWhiteSpace(family.Name) || !names.Add(family.Name), $"{at}.name", "a non-empty name no other family has", $"'{family.Name}'");
            check(!known.Contains(family.Strategy ?? ""), $"{at}.strategy", "one of language.strategies", $"'{family.Strategy}'");
            if (f >= real.Count)
            {
                check(family.LookAlikeOf is null, $"{at}.lookAlikeOf", "the name of a family listed before the look-alikes", "null");
                var twin = real.FirstOrDefault(r => r.Name == family.LookAlikeOf);
                check(twin is null, $"{at}.lookAlikeOf", "the name of a family listed before the look-alikes", $"'{family.LookAlikeOf}'");
                check(twin!.Strategy == family.Strategy, $"{at}.strategy", $"a strategy other than its twin '{twin.Name}''s", $"'{family.Strategy}'");
            }

            check(family.Tasks is null || family.Tasks.Length != TasksPerFamily, $"{at}.tasks", $"{TasksPerFamily} tasks (tasksPerFamily)", family.Tasks?.Length ?? 0);
            for (int t = 0; t < family.Tasks!.Length; t++)
            {
                var task = family.Tasks[t];
                check(task.Phrasings is not { Length: > 0 } || task.Phrasings.Any(string.IsNullOrWhiteSpace), $"{at}.tasks[{t}].phrasings", "one or more non-empty texts",
                    task.Phrasings is null ? "null" : $"{task.Phrasings.Length} texts, some blank");
                // One line per text in the texts checksum: a newline inside a phrasing would make that checksum ambiguous.
                check(task.Phrasings!.Any(p => p.Contains('\n', StringComparison.Ordinal)), $"{at}.tasks[{t}].phrasings", "single-line texts", "a text with a line break");
                check(task.Strategy is not null && !known.Contains(task.Strategy), $"{at}.tasks[{t}].strategy", "one of language.strategies", $"'{task.Strategy}'");
            }
        }

        if (Embeddings is { } e)
        {
            int texts = language.Texts.Count();
            check(e.Count != texts, "embeddings.count", $"{texts} (one row per phrasing)", e.Count);
            check(e.Dimension != Dimension, "embeddings.dimension", $"{Dimension} (dimension)", e.Dimension);
            check(string.IsNullOrWhiteSpace(e.File) || Path.IsPathRooted(e.File) || e.File.Contains("..", StringComparison.Ordinal),
                "embeddings.file", "a file name inside the scenario's folder", $"'{e.File}'");
        }
    }
}

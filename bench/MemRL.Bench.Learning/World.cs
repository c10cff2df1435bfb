using MemRL.Index;

namespace MemRL.Bench.Learning;

/// <summary>One task: its intent embedding and the strategy that solves it (hidden from every method).</summary>
/// <param name="Phrasings">A language task's intents, one per phrasing (null: the synthetic task's one intent).</param>
/// <param name="PhrasingTexts">The texts of those phrasings, in the same order.</param>
public sealed record TaskSpec(int Id, int Family, bool LookAlike, float[] Intent, int RightStrategy, string Text,
    IReadOnlyList<float[]>? Phrasings = null, IReadOnlyList<string>? PhrasingTexts = null)
{
    /// <summary>The intent the task shows in an epoch: phrasing epoch mod count (a synthetic task always shows its one).</summary>
    public float[] IntentAt(int epoch) => Phrasings is { Count: > 0 } p ? p[epoch % p.Count] : Intent;

    /// <summary>The text the task shows in an epoch, as <see cref="IntentAt"/>.</summary>
    public string TextAt(int epoch) => PhrasingTexts is { Count: > 0 } p ? p[epoch % p.Count] : Text;

    /// <summary>Every intent the task can show (what calibration samples).</summary>
    public IEnumerable<float[]> AllIntents => Phrasings ?? [Intent];
}

/// <summary>
/// The tasks of a scenario, generated from a seed. Family centres share a global direction (cross-family similarity);
/// tasks sit around their centre (intra-family similarity); a look-alike family's centre is a near copy of a real
/// family's, but its main strategy is another one, so its nearest memories mislead.
/// </summary>
public sealed class World
{
    private World(Scenario scenario, IReadOnlyList<TaskSpec> tasks)
    {
        Scenario = scenario;
        Tasks = tasks;
    }

    public Scenario Scenario { get; }

    public IReadOnlyList<TaskSpec> Tasks { get; }

    /// <summary>The world of a scenario: generated from the seed, or for a language scenario read from its text and embeddings (the seed unused).</summary>
    public static World Create(Scenario s, int seed)
    {
        if (s.Language is { } language)
        {
            return FromText(s, language, LanguageEmbeddings.Read(s));
        }

        var random = new Random(seed);
        var global = UnitGaussian(random, s.Dimension);
        int familyCount = s.Families + s.LookAlikeFamilies;
        var centres = new float[familyCount][];
        var mainStrategy = new int[familyCount];
        for (int f = 0; f < s.Families; f++)
        {
            centres[f] = Mix(global, UnitGaussian(random, s.Dimension), s.CrossFamilySimilarity);
            mainStrategy[f] = random.Next(s.Strategies);
        }

        for (int l = 0; l < s.LookAlikeFamilies; l++)
        {
            int twin = l % s.Families;
            int f = s.Families + l;
            centres[f] = Mix(centres[twin], UnitGaussian(random, s.Dimension), s.LookAlikeSimilarity);
            mainStrategy[f] = OtherThan(random, s.Strategies, mainStrategy[twin]);
        }

        var tasks = new List<TaskSpec>(s.TaskCount);
        for (int f = 0; f < familyCount; f++)
        {
            for (int t = 0; t < s.TasksPerFamily; t++)
            {
                var intent = Mix(centres[f], UnitGaussian(random, s.Dimension), s.IntraFamilySimilarity);
                int right = random.NextDouble() < s.MainStrategyShare ? mainStrategy[f] : OtherThan(random, s.Strategies, mainStrategy[f]);
                int id = tasks.Count;
                tasks.Add(new TaskSpec(id, f, f >= s.Families, intent, right, $"task {id} of family {f}"));
            }
        }

        return new World(s, tasks);
    }

    // The same contract as the generated world: a task's right strategy is its own (else its family's), look-alike
    // families come after the real ones, and each phrasing's intent is its committed embedding.
    private static World FromText(Scenario s, LanguageSpec language, float[][] rows)
    {
        var strategyIndex = language.Strategies.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
        var tasks = new List<TaskSpec>(s.TaskCount);
        int row = 0;
        for (int f = 0; f < language.Families.Length; f++)
        {
            var family = language.Families[f];
            foreach (var task in family.Tasks)
            {
                var intents = task.Phrasings.Select(_ => rows[row++]).ToArray();
                int id = tasks.Count;
                tasks.Add(new TaskSpec(id, f, family.LookAlikeOf is not null, intents[0], strategyIndex[task.Strategy ?? family.Strategy],
                    task.Phrasings[0], intents, task.Phrasings));
            }
        }

        return new World(s, tasks);
    }

    /// <summary>The family a look-alike family imitates (its twin), for the per-pair breakdowns; null for a real family.</summary>
    public int? TwinOf(int family)
    {
        if (Scenario.Language is { } language)
        {
            string? twin = language.Families[family].LookAlikeOf;
            return twin is null ? null : Array.FindIndex(language.Families, f => f.Name == twin);
        }

        return family >= Scenario.Families ? (family - Scenario.Families) % Scenario.Families : null;
    }

    /// <summary>A family's name: the text's, or "family N" for a generated one.</summary>
    public string FamilyName(int family) => Scenario.Language is { } language ? language.Families[family].Name : $"family {family}";

    /// <summary>Mean cosine similarity over all pairs of task intents (the paper reports 0.19 to 0.52 for its benchmarks).</summary>
    public double MeanPairwiseSimilarity()
    {
        double sum = 0;
        long pairs = 0;
        for (int i = 0; i < Tasks.Count; i++)
        {
            for (int j = i + 1; j < Tasks.Count; j++)
            {
                sum += VectorMath.Dot(Tasks[i].Intent, Tasks[j].Intent);
                pairs++;
            }
        }

        return sum / pairs;
    }

    // sqrt(w)·a + sqrt(1 − w)·b for unit a, b nearly orthogonal: cosine with a ≈ sqrt(w); two such mixes of the same a
    // have cosine ≈ w, which is what the scenario's similarity parameters mean.
    private static float[] Mix(float[] a, float[] b, double w)
    {
        var v = new float[a.Length];
        float wa = (float)Math.Sqrt(w), wb = (float)Math.Sqrt(1 - w);
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (wa * a[i]) + (wb * b[i]);
        }

        VectorMath.TryNormalize(v, v);
        return v;
    }

    private static float[] UnitGaussian(Random random, int dimension)
    {
        var v = new float[dimension];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        VectorMath.TryNormalize(v, v);
        return v;
    }

    private static int OtherThan(Random random, int count, int excluded)
    {
        int pick = random.Next(count - 1);
        return pick >= excluded ? pick + 1 : pick;
    }
}

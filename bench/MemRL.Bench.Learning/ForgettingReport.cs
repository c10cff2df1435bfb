using System.Globalization;
using System.Text;

namespace MemRL.Bench.Learning;

/// <summary>
/// Where forgetting comes from. Every loss (a task solved in epoch t−1 and failed in t) is put down to one cause: the
/// agent followed the task's right strategy and the outcome draw failed (luck: no memory can prevent it), it followed a
/// successful memory whose strategy is wrong for this task (misled), or it had no successful memory and guessed. Beside
/// the paper's rate it shows what the rate would be if a task's outcome were independent of its previous one, and the
/// chance of losing a solved task, P(lose | solved), which is what memory can lower; per family and per look-alike pair.
/// </summary>
public sealed class ForgettingReport(World world, RunSettings settings, IReadOnlyList<RunResult> runs)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private const string MemRL = "memrl";
    private const string Similarity = "similarity";

    /// <summary>Counts of one (seed, task) unit over epochs 1..E−1.</summary>
    public readonly record struct UnitCounts(int Failed, int Lost, int SolvedBefore, int Luck, int Misled, int Guessed, double FailedTimesPreviousSr);

    private IReadOnlyList<string> Methods => runs.Select(r => r.Method).Distinct().ToList();

    private List<int> TrainTasks(RunResult r) => Runner.Split(world, settings, r.Seed).Train.Select(t => t.Id).ToList();

    /// <summary>The units of one method, seeds then tasks in order (so two methods pair unit by unit), optionally of some families only.</summary>
    public List<UnitCounts> Units(string method, Func<TaskSpec, bool>? include = null)
    {
        var units = new List<UnitCounts>();
        foreach (var r in runs.Where(r => r.Method == method).OrderBy(r => r.Seed))
        {
            var train = TrainTasks(r);
            var sr = Enumerable.Range(0, settings.Epochs).Select(e => Metrics.SuccessRate(r.Success[e], train)).ToArray();
            foreach (int t in train.Where(t => include?.Invoke(world.Tasks[t]) ?? true))
            {
                int failed = 0, lost = 0, solvedBefore = 0, luck = 0, misled = 0, guessed = 0;
                double independent = 0;
                for (int e = 1; e < settings.Epochs; e++)
                {
                    bool before = r.Success[e - 1][t], now = r.Success[e][t];
                    solvedBefore += before ? 1 : 0;
                    if (now)
                    {
                        continue;
                    }

                    failed++;
                    independent += sr[e - 1];
                    if (!before)
                    {
                        continue;
                    }

                    lost++;
                    if (r.Chosen[e][t] == world.Tasks[t].RightStrategy)
                    {
                        luck++;
                    }
                    else if (r.Followed[e][t])
                    {
                        misled++;
                    }
                    else
                    {
                        guessed++;
                    }
                }

                units.Add(new UnitCounts(failed, lost, solvedBefore, luck, misled, guessed, independent));
            }
        }

        return units;
    }

    private static List<(double, double)> Rate(List<UnitCounts> u) => u.Select(x => ((double)x.Lost, (double)x.Failed)).ToList();

    // Losses the memory could have prevented: the right strategy followed and an unlucky draw is outcome noise.
    private static List<(double, double)> RateWithoutLuck(List<UnitCounts> u) => u.Select(x => ((double)(x.Lost - x.Luck), (double)x.Failed)).ToList();

    private static List<(double, double)> LoseGivenSolved(List<UnitCounts> u) => u.Select(x => ((double)x.Lost, (double)x.SolvedBefore)).ToList();

    public string Markdown()
    {
        var sb = new StringBuilder();
        var s = world.Scenario;
        sb.AppendLine(Inv, $"### Forgetting, explained: `{s.Name}`");
        sb.AppendLine();
        sb.AppendLine("Forgetting = losses ÷ failures, pooled over epochs 2..E and units (task × seed), bootstrap 95 % CI; \"if independent\" is the rate if a task's outcome did not depend on its previous one (each failure weighted by the previous epoch's SR); P(lose | solved) = losses ÷ tasks solved in the previous epoch (its floor is 1 − successIfRight = "
            + (1 - s.Policy.SuccessIfRight).ToString("F2", Inv) + " when the right strategy is always followed). Causes of losses: right strategy but unlucky draw / misled by a recalled success / guessed; \"without luck\" counts only the misled and guessed losses (outcome noise removed).");
        sb.AppendLine();
        sb.AppendLine("| method | forgetting | 95 % CI | if independent | without luck | P(lose \\| solved) | 95 % CI | losses: luck / misled / guess |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---|---|");
        foreach (string m in Methods)
        {
            var u = Units(m);
            var f = Metrics.BootstrapRatio(Rate(u));
            var l = Metrics.BootstrapRatio(LoseGivenSolved(u));
            double lost = u.Sum(x => x.Lost);
            double independent = u.Sum(x => x.FailedTimesPreviousSr) / u.Sum(x => x.Failed);
            sb.AppendLine(Inv, $"| {m} | {f.Mean:F3} | {Ci(f)} | {independent:F3} | {R(RateWithoutLuck(u)):F3} | {l.Mean:F3} | {Ci(l)} | {u.Sum(x => x.Luck) / lost:F2} / {u.Sum(x => x.Misled) / lost:F2} / {u.Sum(x => x.Guessed) / lost:F2} |");
        }

        if (Methods.Contains(MemRL))
        {
            sb.AppendLine();
            sb.AppendLine("Paired differences, MemRL minus the other method (units task × seed):");
            sb.AppendLine();
            sb.AppendLine("| versus | Δ forgetting | 95 % CI | Δ without luck | 95 % CI | Δ P(lose \\| solved) | 95 % CI |");
            sb.AppendLine("|---|---:|---|---:|---|---:|---|");
            var mine = Units(MemRL);
            foreach (string m in Methods.Where(m => m != MemRL))
            {
                var other = Units(m);
                var df = Metrics.BootstrapRatio(Rate(mine), Rate(other));
                var dn = Metrics.BootstrapRatio(RateWithoutLuck(mine), RateWithoutLuck(other));
                var dl = Metrics.BootstrapRatio(LoseGivenSolved(mine), LoseGivenSolved(other));
                sb.AppendLine(Inv, $"| {m} | {D(df.Mean)} | {DCi(df)} | {D(dn.Mean)} | {DCi(dn)} | {D(dl.Mean)} | {DCi(dl)} |");
            }
        }

        if (Methods.Contains(MemRL) && Methods.Contains(Similarity))
        {
            AppendFamilies(sb);
            AppendPairs(sb);
        }

        return sb.ToString();
    }

    private void AppendFamilies(StringBuilder sb)
    {
        sb.AppendLine();
        sb.AppendLine("Per family, MemRL vs similarity-only (look-alike families name their twin):");
        sb.AppendLine();
        sb.AppendLine("| family | look-alike of | forgetting MemRL | similarity | Δ | 95 % CI | P(lose \\| solved) MemRL | similarity | MemRL losses misled |");
        sb.AppendLine("|---|---|---:|---:|---:|---|---:|---:|---:|");
        int families = world.Tasks.Max(t => t.Family) + 1;
        for (int f = 0; f < families; f++)
        {
            int family = f;
            var mine = Units(MemRL, t => t.Family == family);
            var other = Units(Similarity, t => t.Family == family);
            var d = Metrics.BootstrapRatio(Rate(mine), Rate(other));
            string twin = world.TwinOf(f) is { } tw ? world.FamilyName(tw) : "";
            double misled = mine.Sum(x => x.Lost) == 0 ? double.NaN : mine.Sum(x => x.Misled) / (double)mine.Sum(x => x.Lost);
            sb.AppendLine(Inv, $"| {world.FamilyName(f)} | {twin} | {R(Rate(mine)):F3} | {R(Rate(other)):F3} | {D(d.Mean)} | {DCi(d)} | {R(LoseGivenSolved(mine)):F3} | {R(LoseGivenSolved(other)):F3} | {misled:F2} |");
        }
    }

    private void AppendPairs(StringBuilder sb)
    {
        var pairs = Enumerable.Range(0, world.Tasks.Max(t => t.Family) + 1)
            .Select(f => (LookAlike: f, Twin: world.TwinOf(f))).Where(p => p.Twin is not null).ToList();
        if (pairs.Count == 0)
        {
            return;
        }

        sb.AppendLine();
        sb.AppendLine("Per look-alike pair (both families' tasks pooled), MemRL minus similarity-only:");
        sb.AppendLine();
        sb.AppendLine("| pair | forgetting MemRL | similarity | Δ forgetting | 95 % CI | Δ P(lose \\| solved) | 95 % CI | SR last MemRL | similarity |");
        sb.AppendLine("|---|---:|---:|---:|---|---:|---|---:|---:|");
        foreach (var (lookAlike, twin) in pairs)
        {
            bool In(TaskSpec t) => t.Family == lookAlike || t.Family == twin;
            var mine = Units(MemRL, In);
            var other = Units(Similarity, In);
            var df = Metrics.BootstrapRatio(Rate(mine), Rate(other));
            var dl = Metrics.BootstrapRatio(LoseGivenSolved(mine), LoseGivenSolved(other));
            sb.AppendLine(Inv, $"| {world.FamilyName(twin!.Value)} / {world.FamilyName(lookAlike)} | {R(Rate(mine)):F3} | {R(Rate(other)):F3} | {D(df.Mean)} | {DCi(df)} | {D(dl.Mean)} | {DCi(dl)} | {LastSr(MemRL, In):F3} | {LastSr(Similarity, In):F3} |");
        }
    }

    private double LastSr(string method, Func<TaskSpec, bool> include) =>
        runs.Where(r => r.Method == method).SelectMany(r => TrainTasks(r).Where(t => include(world.Tasks[t])).Select(t => r.Success[^1][t] ? 1.0 : 0.0)).Average();

    private static double R(List<(double Num, double Den)> u) => u.Sum(x => x.Den) == 0 ? double.NaN : u.Sum(x => x.Num) / u.Sum(x => x.Den);

    private static string Ci((double Mean, double Low, double High) c) => string.Create(Inv, $"[{c.Low:F3}, {c.High:F3}]");

    // Rounded first: a tiny negative value would otherwise print as "-+0.000".
    private static string D(double v)
    {
        double r = Math.Round(v, 3);
        return (r == 0 ? 0 : r).ToString("+0.000;−0.000", Inv);
    }

    private static string DCi((double Mean, double Low, double High) c) => $"[{D(c.Low)}, {D(c.High)}]";
}

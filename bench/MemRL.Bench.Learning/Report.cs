using System.Globalization;
using System.Text;
using ScottPlot;
using Spectre.Console;

namespace MemRL.Bench.Learning;

/// <summary>Summaries across seeds, the terminal and Markdown tables, and the learning-curve plots.</summary>
public sealed class Report(World world, RunSettings settings, IReadOnlyList<RunResult> runs, string backendName)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private IReadOnlyList<string> Methods => runs.Select(r => r.Method).Distinct().ToList();

    private int LastEpoch => settings.Epochs - 1;

    private IReadOnlyCollection<int> TrainTasks(RunResult r) =>
        Runner.Split(world, settings, r.Seed).Train.Select(t => t.Id).ToList();

    private IReadOnlyCollection<int> HeldOutTasks(RunResult r) =>
        Runner.Split(world, settings, r.Seed).HeldOut.Select(t => t.Id).ToList();

    /// <summary>Per (seed, task) values of one method, in a fixed order so two methods pair up unit by unit.</summary>
    private List<double> Units(string method, Func<RunResult, int, double> value) =>
        runs.Where(r => r.Method == method).OrderBy(r => r.Seed).SelectMany(r => TrainTasks(r).Order().Select(t => value(r, t))).ToList();

    private static double LastSr(RunResult r, int t) => r.Success[^1][t] ? 1 : 0;

    private static double EverSolved(RunResult r, int t) => r.Success.Any(e => e[t]) ? 1 : 0;

    public double[] MeanCurve(string method, bool cumulative) => Enumerable.Range(0, settings.Epochs).Select(e =>
        runs.Where(r => r.Method == method).Average(r => cumulative
            ? Metrics.CumulativeSuccessRate(r.Success, TrainTasks(r))[e]
            : Metrics.SuccessRate(r.Success[e], TrainTasks(r)))).ToArray();

    private double MeanForgetting(string method)
    {
        var values = runs.Where(r => r.Method == method)
            .SelectMany(r => Enumerable.Range(1, settings.Epochs - 1).Select(e => Metrics.ForgettingRate(r.Success, e, TrainTasks(r))))
            .Where(v => v.HasValue).Select(v => v!.Value).ToList();
        return values.Count == 0 ? double.NaN : values.Average();
    }

    private double HeldOutLast(string method) =>
        runs.Where(r => r.Method == method).Average(r => Metrics.SuccessRate(r.HeldOutSuccess[^1], HeldOutTasks(r)));

    private (double Q, double PerMemory) QCorrelation(string method)
    {
        var mine = runs.Where(r => r.Method == method).ToList();
        var uses = mine.SelectMany(r => r.Uses).ToList();
        double bins = Metrics.QBins(uses).Pearson;
        var perMemory = new List<(double Q, double Rate)>();
        foreach (var r in mine)
        {
            var finalQ = r.FinalMemories.ToDictionary(m => m.Id, m => m.Q);
            foreach (var g in r.Uses.Where(u => u.Epoch >= settings.Epochs / 2).GroupBy(u => u.MemoryId).Where(g => g.Count() >= 3))
            {
                if (finalQ.TryGetValue(g.Key, out double q))
                {
                    perMemory.Add((q, g.Average(u => u.Success ? 1.0 : 0.0)));
                }
            }
        }

        double pm = perMemory.Count < 3 ? double.NaN : Metrics.Pearson(perMemory.Select(p => p.Q).ToList(), perMemory.Select(p => p.Rate).ToList());
        return (bins, pm);
    }

    public string Markdown()
    {
        var sb = new StringBuilder();
        var s = world.Scenario;
        sb.AppendLine(Inv, $"Scenario `{s.Name}`: {s.TaskCount} tasks ({s.Families} families + {s.LookAlikeFamilies} look-alike, {s.TasksPerFamily} each), mean pairwise intent similarity {world.MeanPairwiseSimilarity():F3}; {settings.Epochs} epochs, {runs.Select(r => r.Seed).Distinct().Count()} seeds, batch {settings.BatchSize}, {settings.Agents} concurrent agents, backend `{backendName}`{(settings.Transfer ? ", transfer (70/30)" : "")}.");
        sb.AppendLine();
        sb.AppendLine("| method | SR epoch 1 | SR last | 95 % CI | CSR last | 95 % CI | mean forgetting | Q-bin r | per-memory r |" + (settings.Transfer ? " held-out SR last |" : ""));
        sb.AppendLine("|---|---:|---:|---|---:|---|---:|---:|---:|" + (settings.Transfer ? "---:|" : ""));
        foreach (string m in Methods)
        {
            var sr = Metrics.Bootstrap(Units(m, LastSr));
            var csr = Metrics.Bootstrap(Units(m, EverSolved));
            var (qr, pm) = QCorrelation(m);
            string heldOut = settings.Transfer ? string.Create(Inv, $" {HeldOutLast(m):F3} |") : "";
            sb.AppendLine(Inv, $"| {m} | {MeanCurve(m, false)[0]:F3} | {sr.Mean:F3} | [{sr.Low:F3}, {sr.High:F3}] | {csr.Mean:F3} | [{csr.Low:F3}, {csr.High:F3}] | {F(MeanForgetting(m))} | {F(qr)} | {F(pm)} |{heldOut}");
        }

        if (Methods.Contains("memrl"))
        {
            sb.AppendLine();
            sb.AppendLine("Paired differences (MemRL minus the other method; units: task × seed; bootstrap 95 % CI):");
            sb.AppendLine();
            sb.AppendLine("| versus | Δ SR last | 95 % CI | Δ CSR last | 95 % CI |");
            sb.AppendLine("|---|---:|---|---:|---|");
            var memrlSr = Units("memrl", LastSr);
            var memrlCsr = Units("memrl", EverSolved);
            foreach (string m in Methods.Where(m => m != "memrl"))
            {
                var dSr = Metrics.Bootstrap(memrlSr.Zip(Units(m, LastSr), (a, b) => a - b).ToList());
                var dCsr = Metrics.Bootstrap(memrlCsr.Zip(Units(m, EverSolved), (a, b) => a - b).ToList());
                sb.AppendLine(Inv, $"| {m} | {dSr.Mean:+0.000;-0.000} | [{dSr.Low:+0.000;-0.000}, {dSr.High:+0.000;-0.000}] | {dCsr.Mean:+0.000;-0.000} | [{dCsr.Low:+0.000;-0.000}, {dCsr.High:+0.000;-0.000}] |");
            }
        }

        var utilityCaps = Methods.Where(m => m.StartsWith("memrl-cap", StringComparison.Ordinal) && m.EndsWith("-utility", StringComparison.Ordinal)).ToList();
        if (utilityCaps.Count > 0)
        {
            // The retention experiment's question: at the same cap, does forgetting by utility beat age and LRU?
            sb.AppendLine();
            sb.AppendLine("Paired differences at the same cap (utility archiving minus the other order; units: task × seed; bootstrap 95 % CI):");
            sb.AppendLine();
            sb.AppendLine("| utility versus | Δ SR last | 95 % CI | Δ CSR last | 95 % CI |");
            sb.AppendLine("|---|---:|---|---:|---|");
            foreach (string utility in utilityCaps)
            {
                string prefix = utility[..^"utility".Length];
                var uSr = Units(utility, LastSr);
                var uCsr = Units(utility, EverSolved);
                foreach (string m in Methods.Where(m => m.StartsWith(prefix, StringComparison.Ordinal) && m != utility))
                {
                    var dSr = Metrics.Bootstrap(uSr.Zip(Units(m, LastSr), (a, b) => a - b).ToList());
                    var dCsr = Metrics.Bootstrap(uCsr.Zip(Units(m, EverSolved), (a, b) => a - b).ToList());
                    sb.AppendLine(Inv, $"| {m} | {dSr.Mean:+0.000;-0.000} | [{dSr.Low:+0.000;-0.000}, {dSr.High:+0.000;-0.000}] | {dCsr.Mean:+0.000;-0.000} | [{dCsr.Low:+0.000;-0.000}, {dCsr.High:+0.000;-0.000}] |");
                }
            }
        }

        sb.AppendLine();
        sb.AppendLine("SR per epoch (mean over seeds):");
        sb.AppendLine();
        sb.AppendLine("| method | " + string.Join(" | ", Enumerable.Range(1, settings.Epochs)) + " |");
        sb.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", settings.Epochs)));
        foreach (string m in Methods)
        {
            sb.AppendLine($"| {m} | " + string.Join(" | ", MeanCurve(m, false).Select(v => v.ToString("F3", Inv))) + " |");
        }

        return sb.ToString();
    }

    public void PrintTable()
    {
        var table = new Table().Title($"[bold]{world.Scenario.Name}[/] ({backendName})");
        table.AddColumns("method", "SR epoch 1", "SR last", "CSR last", "forgetting");
        foreach (string m in Methods)
        {
            table.AddRow(m, MeanCurve(m, false)[0].ToString("F3", Inv), MeanCurve(m, false)[LastEpoch].ToString("F3", Inv),
                MeanCurve(m, true)[LastEpoch].ToString("F3", Inv), F(MeanForgetting(m)));
        }

        AnsiConsole.Write(table);
    }

    /// <summary>
    /// Learning curves (SR and CSR per epoch, band = ±1.96 standard errors across seeds), as PNG and SVG. MemRL is drawn in
    /// the one saturated red, widest and on top; every other method gets its own colour, assigned explicitly (a band added
    /// through the palette would take a colour of its own and leave lines sharing colours); fixed-zsim sweep lines are
    /// marked with open squares; the legend sits right of the axes, never over the data. With more than five methods (the sweep) only the
    /// standard methods keep their bands, so seventeen lines stay readable.
    /// </summary>
    public IReadOnlyList<string> Plot(string directory, string prefix)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        var colours = MethodColours(Methods);
        bool crowded = Methods.Count > 5;
        foreach (bool cumulative in new[] { false, true })
        {
            var plot = new Plot();
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
            double[] xs = Enumerable.Range(1, settings.Epochs).Select(e => (double)e).ToArray();
            // MemRL last, so its line is drawn over the others.
            foreach (string m in Methods.OrderBy(m => m == MemRL))
            {
                var perSeed = runs.Where(r => r.Method == m).Select(r => Enumerable.Range(0, settings.Epochs).Select(e => cumulative
                    ? Metrics.CumulativeSuccessRate(r.Success, TrainTasks(r))[e]
                    : Metrics.SuccessRate(r.Success[e], TrainTasks(r))).ToArray()).ToList();
                double[] mean = Enumerable.Range(0, settings.Epochs).Select(e => perSeed.Average(p => p[e])).ToArray();
                double[] se = Enumerable.Range(0, settings.Epochs).Select(e =>
                {
                    double mu = mean[e];
                    double var = perSeed.Count > 1 ? perSeed.Sum(p => (p[e] - mu) * (p[e] - mu)) / (perSeed.Count - 1) : 0;
                    return 1.96 * Math.Sqrt(var / perSeed.Count);
                }).ToArray();
                var colour = colours[m];
                if (!crowded || StandardMethods.Contains(m))
                {
                    var band = plot.Add.FillY(xs, mean.Zip(se, (a, b) => a - b).ToArray(), mean.Zip(se, (a, b) => a + b).ToArray());
                    band.FillColor = colour.WithAlpha(m == MemRL ? 0.25 : 0.12);
                    band.LineWidth = 0;
                }

                var line = plot.Add.Scatter(xs, mean);
                line.Color = colour;
                line.LegendText = m;
                line.LineWidth = m == MemRL ? 3.5f : 1.75f;
                line.MarkerSize = m == MemRL ? 7 : 4;
                if (m.EndsWith("-fixed", StringComparison.Ordinal))
                {
                    // Open squares rather than dashes: the SVG canvas has no dash effect.
                    line.MarkerShape = MarkerShape.OpenSquare;
                }
            }

            string what = cumulative ? "CSR" : "SR";
            plot.Title($"{world.Scenario.Name}: {what} per epoch");
            plot.XLabel("epoch");
            plot.YLabel(cumulative ? "cumulative success rate" : "success rate");
            plot.ShowLegend(Edge.Right);
            string png = Path.Combine(directory, $"{prefix}-{what.ToLowerInvariant()}.png");
            string svg = Path.ChangeExtension(png, ".svg");
            int width = crowded ? 1100 : 950;
            plot.SavePng(png, width, 500);
            plot.SaveSvg(svg, width, 500);
            files.Add(png);
            files.Add(svg);
        }

        return files;
    }

    private const string MemRL = "memrl";

    private static readonly string[] StandardMethods = ["no-memory", "similarity", "successes-first", MemRL];

    // MemRL: saturated red. The others: Category20's colours without its reds, in method order, so no two lines share one
    // and none is mistaken for MemRL.
    private static Dictionary<string, ScottPlot.Color> MethodColours(IReadOnlyList<string> methods)
    {
        var memrlRed = ScottPlot.Color.FromHex("#D62728");
        var reds = new[] { "#D62728", "#FF9896" };
        var palette = new ScottPlot.Palettes.Category20().Colors.Where(c => !reds.Contains(c.ToHex(), StringComparer.OrdinalIgnoreCase)).ToArray();
        var colours = new Dictionary<string, ScottPlot.Color>();
        int next = 0;
        foreach (string m in methods)
        {
            colours[m] = m == MemRL ? memrlRed : palette[next++ % palette.Length];
        }

        return colours;
    }

    private static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F3", Inv);
}

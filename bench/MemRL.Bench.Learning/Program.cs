using System.Diagnostics;
using System.Globalization;
using MemRL.Bench.Learning;
using Spectre.Console;

// The main job: start the cluster on embedded defaults, run a simulated lifelong-learning scenario with concurrent
// agents on a fresh shared bank per (method, seed), and write the results table and learning curves.
CliOptions cli;
try
{
    if (args is ["--embed", var scenarioPath])
    {
        // Not a benchmark run: writes a language scenario's embeddings file (the one committed step that runs the model).
        return await EmbedCommand.RunAsync(scenarioPath);
    }

    cli = CliOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(CliOptions.Usage);
    return 2;
}

var total = Stopwatch.StartNew();
await using IMemoryBackend backend = cli.Backend == "reference" ? new ReferenceBackend() : await ClusterBackend.StartAsync(cli.Shards, cli.ConsolePort);
string? consoleUrl = (backend as ClusterBackend)?.ConsoleUrl;
if (consoleUrl is not null)
{
    // Printed before the progress bars take the terminal; the key is this run's only, in memory, for tenant 'bench'.
    Console.WriteLine($"Console (watch the banks learn): {consoleUrl}");
}
Directory.CreateDirectory(cli.Out);
var markdown = new List<string> { $"# MemRL.Cluster learning benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)", "", $"Command: `{cli.CommandLine}`", "" };
foreach (string name in cli.Scenarios)
{
    var scenario = Scenario.Load(name);
    var world = World.Create(scenario, seed: 2026);
    var calibrated = Runner.Calibrated(world);
    var methods = Method.Standard(calibrated)
        .Concat(cli.Sweep ? Method.Sweep(calibrated) : [])
        .Concat(cli.ForgettingOptions ? Method.ForgettingOptions(calibrated) : [])
        .Concat(cli.Beyond ? Method.Beyond(calibrated) : [])
        .Where(m => cli.Methods is null || cli.Methods.Contains(m.Name)).ToList();
    var settings = new RunSettings(cli.Epochs, cli.Batch, cli.Agents, cli.Transfer);
    var runner = new Runner(world, backend, settings);
    var runs = new List<RunResult>();
    await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
        .StartAsync(async progress =>
        {
            int methodCount = methods.Count + (cli.ForgettingCaps.Length * Enum.GetValues<CapOrder>().Length);
            var bar = progress.AddTask($"{scenario.Name}: {methodCount} methods × {cli.Seeds} seeds × {cli.Epochs} epochs", maxValue: methodCount * cli.Seeds * cli.Epochs);
            for (int seed = 1; seed <= cli.Seeds; seed++)
            {
                foreach (var method in methods)
                {
                    runs.Add(await runner.RunAsync(method, seed, _ => bar.Increment(1)));
                }

                // The cap is a fraction of what this seed's uncapped MemRL bank grew to, so every order gives up the same share.
                int grown = runs.Single(r => r.Seed == seed && r.Method == "memrl").FinalMemories.Count;
                foreach (double fraction in cli.ForgettingCaps)
                {
                    foreach (var method in Method.Capped(calibrated, fraction, Math.Max(1, (int)Math.Round(fraction * grown))))
                    {
                        runs.Add(await runner.RunAsync(method, seed, _ => bar.Increment(1)));
                    }
                }
            }
        });

    var report = new Report(world, settings, runs, backend.Name);
    report.PrintTable();
    markdown.Add($"## {scenario.Name}");
    markdown.Add("");
    markdown.Add($"delta {calibrated.Delta:F3} (top-20 % quantile), muD {calibrated.SimilarityMean:F3}, sigmaD {calibrated.SimilarityStdDev:F3}.");
    markdown.Add("");
    markdown.Add(report.Markdown());
    markdown.Add(new ForgettingReport(world, settings, runs).Markdown());
    var plots = report.Plot(cli.Out, scenario.Name + (cli.Transfer ? "-transfer" : ""));
    markdown.Add(string.Join("  ", plots.Where(p => p.EndsWith(".png", StringComparison.Ordinal)).Select(p => $"![{Path.GetFileName(p)}]({Path.GetFileName(p)})")));
    markdown.Add("");
}

string results = Path.Combine(cli.Out, "results.md");
File.WriteAllLines(results, markdown);
AnsiConsole.MarkupLine($"[green]Done in {total.Elapsed.TotalSeconds:F0} s.[/] Table: [bold]{results}[/]; plots: [bold]{cli.Out}[/]");
if (cli.KeepServing && consoleUrl is not null)
{
    // The silo stays up so the banks can be explored; Ctrl+C or SIGTERM stops it (and disposing the backend stops the silo).
    var stop = new TaskCompletionSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
    using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
    Console.WriteLine($"Console still serving at {consoleUrl} (Ctrl+C to stop).");
    await stop.Task;
}

return 0;

internal sealed record CliOptions(string[] Scenarios, int Seeds, int Epochs, int Agents, int Batch, string[]? Methods, bool Sweep, bool Transfer,
    string Out, string Backend, int Shards, string CommandLine, int? ConsolePort = 0, bool KeepServing = false, bool ForgettingOptions = false,
    double[]? Caps = null, bool Beyond = false)
{
    /// <summary>The forgetting-cap fractions (empty: no capped runs).</summary>
    public double[] ForgettingCaps => Caps ?? [];

    public const string Usage = "usage: MemRL.Bench.Learning [--scenario NAME|PATH[,…]] [--seeds N] [--epochs E] [--agents C] [--batch B] "
        + "[--methods a,b] [--sweep] [--forgetting-options] [--forgetting-cap F[,F…]] [--beyond] [--transfer] [--out DIR] [--backend cluster|reference] [--shards S] [--console-port P | --no-console] [--keep-serving]"
        + " | --embed SCENARIO.json";

    public static CliOptions Parse(string[] args)
    {
        var o = new CliOptions(["distractors"], 5, 10, 8, 16, null, false, false, Path.Combine("out", "learning"), "cluster", 2,
            "dotnet run --project bench/MemRL.Bench.Learning -c Release" + (args.Length > 0 ? " -- " + string.Join(' ', args) : ""));
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            if (flag == "--sweep")
            {
                o = o with { Sweep = true };
                continue;
            }

            if (flag == "--forgetting-options")
            {
                o = o with { ForgettingOptions = true };
                continue;
            }

            if (flag == "--beyond")
            {
                o = o with { Beyond = true };
                continue;
            }

            if (flag == "--transfer")
            {
                o = o with { Transfer = true };
                continue;
            }

            if (flag == "--no-console")
            {
                o = o with { ConsolePort = null };
                continue;
            }

            if (flag == "--keep-serving")
            {
                o = o with { KeepServing = true };
                continue;
            }

            string value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag} needs a value.");
            o = flag switch
            {
                "--scenario" => o with { Scenarios = value.Split(',') },
                "--seeds" => o with { Seeds = Int(flag, value, 1, 100) },
                "--epochs" => o with { Epochs = Int(flag, value, 2, 100) },
                "--agents" => o with { Agents = Int(flag, value, 1, 1024) },
                "--batch" => o with { Batch = Int(flag, value, 1, 10_000) },
                "--methods" => o with { Methods = value.Split(',') },
                "--out" => o with { Out = value },
                "--backend" => value is "cluster" or "reference" ? o with { Backend = value } : throw new ArgumentException($"--backend is '{value}'; expected cluster or reference."),
                "--shards" => o with { Shards = Int(flag, value, 1, 64) },
                "--console-port" => o with { ConsolePort = Int(flag, value, 0, 65535) },
                "--forgetting-cap" => o with { Caps = value.Split(',').Select(f => Fraction(flag, f)).ToArray() },
                _ => throw new ArgumentException($"unknown flag '{flag}'."),
            };
        }

        if (o.ForgettingCaps.Length > 0 && (o.Backend != "reference" || (o.Methods is { } only && !only.Contains("memrl"))))
        {
            throw new ArgumentException("--forgetting-cap needs --backend reference (the cluster does not cap banks yet) and the memrl method (the cap is a fraction of its bank).");
        }

        if (o.KeepServing && o.ConsolePort is null)
        {
            throw new ArgumentException("--keep-serving keeps the console up; it cannot go with --no-console.");
        }

        return o;
    }

    private static double Fraction(string flag, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && v < 1
            ? v
            : throw new ArgumentException($"{flag} has '{value}'; expected fractions in (0, 1), e.g. 0.25,0.5.");

    private static int Int(string flag, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max
            ? v
            : throw new ArgumentException($"{flag} is '{value}'; expected an integer in [{min}, {max}].");
}

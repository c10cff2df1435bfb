using System.Diagnostics;

namespace MemRL.Api.Tests;

/// <summary>The external tools the tests drive (python3, node, chromium): found on the PATH, run to their end.</summary>
internal static class ExternalProcess
{
    /// <summary>The full path of <paramref name="name"/> in the first PATH folder that has it, or null.</summary>
    internal static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    /// <summary>Runs a process to its end and returns its output and errors as one text (what an SDK test prints when
    /// it fails).</summary>
    internal static async Task<(int Code, string Output)> RunAsync(
        string file, string[] args, string directory, TimeSpan timeout, Dictionary<string, string>? env = null)
    {
        var (code, output, errors) = await RunSeparatelyAsync(file, args, directory, timeout, env);
        return (code, output + errors);
    }

    /// <summary>
    /// Starts a process and SIGKILLs it (no cleanup of any kind runs in it) as soon as a line of its standard error
    /// satisfies <paramref name="killAt"/>. Returns whether it was killed there, its exit code and its standard error up to
    /// then; a process that ends first is returned as it ended, one still running at <paramref name="timeout"/> is killed
    /// as a failure.
    /// </summary>
    internal static async Task<(bool Killed, int Code, string Errors)> RunUntilKilledAsync(
        string file, string[] args, string directory, Func<string, bool> killAt, TimeSpan timeout, Dictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(file, args) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in env ?? [])
        {
            start.Environment[name] = value;
        }

        var errors = new System.Text.StringBuilder();
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = start };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (errors)
            {
                errors.AppendLine(e.Data);
            }

            if (killAt(e.Data))
            {
                reached.TrySetResult();
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var ended = process.WaitForExitAsync();
        var first = await Task.WhenAny(reached.Task, ended, Task.Delay(timeout));
        if (first == ended)
        {
            await ended;
            lock (errors)
            {
                return (false, process.ExitCode, errors.ToString());
            }
        }

        // Process.Kill sends SIGKILL on Unix.
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        lock (errors)
        {
            return (first == reached.Task, process.ExitCode, first == reached.Task ? errors.ToString() : $"timed out after {timeout}: {errors}");
        }
    }

    /// <summary>
    /// Runs a process to its end, draining both streams (a full pipe would block it), and kills its whole tree at
    /// <paramref name="timeout"/> (exit code -1). MEMRL_URL and MEMRL_API_KEY come only from <paramref name="env"/>, so
    /// the SDKs' integration tests skip unless a test points them at its own silo.
    /// </summary>
    internal static async Task<(int Code, string Output, string Errors)> RunSeparatelyAsync(
        string file, string[] args, string directory, TimeSpan timeout, Dictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(file, args) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment.Remove("MEMRL_URL");
        start.Environment.Remove("MEMRL_API_KEY");
        start.Environment.Remove("MEMRL_KEY");
        start.Environment.Remove("PYTHONPATH");
        foreach (var (name, value) in env ?? [])
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, await stdout, $"timed out after {timeout}: {await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}

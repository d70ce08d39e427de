// Runs the sharpcnn CLI (SharpCnn.Cli.dll, copied next to the tests by the project reference)
// as a child process, to test what a user sees: exit codes, stdout and stderr, and what a
// killed process leaves behind.

using System.Collections.Concurrent;
using System.Diagnostics;

namespace SharpCnn.Tests.Cli;

internal sealed class CliChildProcess : IDisposable
{
    private readonly Process process;
    private readonly ConcurrentQueue<string> stdout = new();
    private readonly ConcurrentQueue<string> stderr = new();
    private readonly SemaphoreSlim lines = new(0);

    private CliChildProcess(IEnumerable<string> args, string workingDirectory)
    {
        // A shell starts background jobs with SIGINT ignored, and a child inherits that: under `nohup .ci/run &`
        // the CLI would never see the SIGINT the signal tests send. env --default-signal (coreutils) puts
        // SIGINT and SIGTERM back to their default handling before it runs dotnet in its place (same pid).
        bool resetSignals = OperatingSystem.IsLinux() && File.Exists("/usr/bin/env");
        var start = new ProcessStartInfo(resetSignals ? "/usr/bin/env" : Dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        if (resetSignals)
        {
            start.ArgumentList.Add("--default-signal=INT,TERM");
            start.ArgumentList.Add(Dotnet);
        }
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SharpCnn.Cli.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment.Remove("SHARPCNN_DEBUG");
        process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            stdout.Enqueue(e.Data);
            lines.Release();
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) stderr.Enqueue(e.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The dotnet host running the tests (the SDK sets DOTNET_HOST_PATH), else "dotnet" from PATH.</summary>
    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static CliChildProcess Start(string workingDirectory, params string[] args) => new(args, workingDirectory);

    /// <summary>Runs to the end (or fails after <paramref name="timeout"/>).</summary>
    public static (int ExitCode, string[] Stdout, string[] Stderr) Run(string workingDirectory, TimeSpan timeout, params string[] args)
    {
        using var cli = Start(workingDirectory, args);
        if (!cli.process.WaitForExit(timeout))
        {
            cli.Kill();
            Assert.Fail($"sharpcnn {string.Join(' ', args)} did not finish within {timeout}");
        }
        cli.process.WaitForExit(); // flushes the asynchronous readers
        return (cli.process.ExitCode, [.. cli.stdout], [.. cli.stderr]);
    }

    public int ProcessId => process.Id;

    public bool HasExited => process.HasExited;

    public string[] Stdout => [.. stdout];

    public string[] Stderr => [.. stderr];

    /// <summary>Waits for a stdout line matching <paramref name="match"/>; returns it, or null if the process ends or time runs out first.</summary>
    public string? WaitForLine(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        int seen = 0;
        while (deadline.Elapsed < timeout)
        {
            var all = stdout.ToArray();
            for (; seen < all.Length; seen++)
                if (match(all[seen])) return all[seen];
            if (process.HasExited && stdout.Count == seen && process.WaitForExit(100) && stdout.Count == seen) return null;
            lines.Wait(TimeSpan.FromMilliseconds(50));
        }
        return null;
    }

    /// <summary>SIGKILL: the process gets no chance to clean up.</summary>
    public void Kill()
    {
        if (process.HasExited) return;
        process.Kill(entireProcessTree: false); // SIGKILL on Unix
        process.WaitForExit();
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout)) Assert.Fail("the process did not exit in time");
        process.WaitForExit();
        return process.ExitCode;
    }

    public void Dispose()
    {
        Kill();
        process.Dispose();
        lines.Dispose();
    }
}

// The memory budget seen from the command line: a model or batch that cannot fit is refused with one line,
// exit code 2, in well under a second and without allocating it; and under a real memory limit (a control
// group made by the test where the machine allows it, else the .NET runtime's heap hard limit) a run the
// estimate accepts trains and one it refuses is refused.

using System.Diagnostics;
using System.Globalization;

namespace SharpCnn.Tests.Cli;

public sealed class MemoryBudgetCliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-memory-cli-").FullName;
    private readonly ITestOutputHelper output;

    public MemoryBudgetCliTests(ITestOutputHelper output) => this.output = output;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("conv5x5x100000:same,relu,dense10", "1 'conv5x5x100000:same'")]
    [InlineData("conv5x5x1000:same,flatten,dense1000000,dense10", "3 'dense1000000' (784000 -> 1000000)")]
    public void AModelThatCannotFitIsRefusedWithOneLineAtOnce(string model, string largest)
    {
        var clock = Stopwatch.StartNew();
        var (exit, stdout, stderr) = CliChildProcess.Run(dir, TimeSpan.FromMinutes(2), "train", "--model", model, "--epochs", "1");
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F2} s (process start included): {string.Join("\n", stderr)}");
        Assert.Equal(2, exit);
        Assert.Empty(stdout);
        string line = Assert.Single(stderr);
        Assert.StartsWith("error: training this network needs ", line);
        Assert.Contains($"the largest is layer {largest}", line);
        Assert.Contains(" is available (", line);
        Assert.EndsWith("; try a smaller --batch or model", line);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}"); // 0.4 s measured on 2 cores; generous under a loaded test run
    }

    [Fact]
    public void UnderAMemoryLimitWhatTheEstimateAcceptsTrainsAndWhatItRefusesIsRefused()
    {
        const long limit = 512L << 20;
        // The seed CNN with batches of 32 (and evaluation batches of 256): about 230 MiB by the estimate.
        var accepted = RunLimited(limit, "train", "--limit", "500", "--test-limit", "300", "--epochs", "1");
        output.WriteLine($"{accepted.How}: accepted run exit {accepted.Exit}\n{string.Join("\n", accepted.Stdout)}\n{accepted.Stderr}");
        Assert.True(accepted.Exit == 0, accepted.Stderr);
        Assert.Contains(accepted.Stdout, l => l.StartsWith("test accuracy", StringComparison.Ordinal));

        // A batch of 1,000,000 (2,000 samples at once): 1.5 GiB by the estimate; refused before it is allocated.
        var refused = RunLimited(limit, "train", "--limit", "2000", "--batch", "1000000", "--epochs", "1");
        output.WriteLine($"{refused.How}: refused run exit {refused.Exit}: {refused.Stderr}");
        Assert.Equal(2, refused.Exit);
        string line = Assert.Single(refused.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("activations and their gradients for batches of 2000", line);
        Assert.Contains("the largest is layer 1 'conv5x5x32:same'", line);
        Assert.DoesNotContain("unexpected", line);
    }

    private (int Exit, string[] Stdout, string Stderr, string How) RunLimited(long limit, params string[] args)
    {
        string? group = MakeControlGroup(limit, out string how);
        try
        {
            var start = new ProcessStartInfo("bash")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = dir,
            };
            // The shell moves itself into the group, then becomes the CLI, so everything it allocates is charged there.
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("if [ -n \"$SHARPCNN_TEST_CGROUP\" ]; then echo $$ > \"$SHARPCNN_TEST_CGROUP/cgroup.procs\" || exit 99; fi; exec \"$@\"");
            start.ArgumentList.Add("bash");
            start.ArgumentList.Add(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet");
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SharpCnn.Cli.dll"));
            foreach (string a in args) start.ArgumentList.Add(a);
            start.Environment.Remove("SHARPCNN_DEBUG");
            if (group is not null) start.Environment["SHARPCNN_TEST_CGROUP"] = group;
            else start.Environment["DOTNET_GCHeapHardLimit"] = limit.ToString("x", CultureInfo.InvariantCulture);
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                process.Kill();
                Assert.Fail($"sharpcnn {string.Join(' ', args)} did not finish in 3 minutes");
            }
            process.WaitForExit();
            return (process.ExitCode, stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries), stderr.Result.Trim(), how);
        }
        finally
        {
            if (group is not null) Directory.Delete(group); // empty once the process is gone (rmdir)
        }
    }

    /// <summary>A memory control group limited to <paramref name="limit"/> bytes (v1 or v2), or null where this process may not make one.</summary>
    private static string? MakeControlGroup(long limit, out string how)
    {
        string name = $"sharpcnn-test-{Environment.ProcessId}-{Guid.NewGuid():N}";
        (string Root, string LimitFile)[] candidates = [("/sys/fs/cgroup/memory", "memory.limit_in_bytes"), ("/sys/fs/cgroup", "memory.max"), ("/sys/fs/cgroup/unified", "memory.max")];
        foreach (var (root, limitFile) in candidates)
        {
            if (!File.Exists(Path.Combine(root, "cgroup.procs"))) continue;
            string group = Path.Combine(root, name);
            try
            {
                Directory.CreateDirectory(group);
                if (!File.Exists(Path.Combine(group, limitFile))) // v2 without the memory controller enabled for children
                {
                    Directory.Delete(group);
                    continue;
                }
                File.WriteAllText(Path.Combine(group, limitFile), limit.ToString(CultureInfo.InvariantCulture));
                how = $"control group {group} ({limitFile} = {limit})";
                return group;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                try { if (Directory.Exists(group)) Directory.Delete(group); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        how = $"DOTNET_GCHeapHardLimit = {limit} (no writable memory control group here)";
        return null;
    }
}

using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using SharpCnn.Formats;
using SharpCnn.Training;

namespace SharpCnn.Tests.Distributed;

/// <summary>
/// The promise of <c>mpirun -np N sharpcnn train --distributed</c> (README, "More than one machine"), with real
/// processes and MPICH on localhost: the model saved by 2 and by 3 ranks has exactly the weights (and batch-norm
/// running statistics) of a one-process run with the same batch, seed and data, and a run checkpointed under 2
/// ranks and resumed under 3 ends there too. The model has batch norm, dropout, random crops and flips; batches
/// of 48 (one block of 16 per rank for N = 3) over 173 samples, so each epoch ends with a short batch of 29.
/// Needs MPICH's <c>mpirun.mpich</c>: .ci/run installs it, and under CI a missing one fails the test.
/// </summary>
public sealed class MpirunTrainingTests : IDisposable
{
    private const string Spec = "conv3x3x4:same,batchnorm,relu,maxpool2,dropout0.2,conv3x3x6,relu,maxpool2,flatten,dense16,batchnorm,relu,dropout0.3,dense10";

    /// <summary>The data and settings of every run; a new model adds <see cref="NewModel"/> (a resumed one has its own).</summary>
    private static string[] Common(int threads = 1, int epochs = 2) =>
        ["train", "--limit", "173", "--test-limit", "40", "--batch", "48", "--epochs", $"{epochs}", "--seed", "4", "--plain", "--threads", $"{threads}"];

    private static readonly string[] NewModel = ["--model", Spec, "--augment", "crop2,flip"];

    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-mpi-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static string? Mpirun()
    {
        string? found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(p => Path.Combine(p, "mpirun.mpich")).FirstOrDefault(File.Exists);
        // Missing MPICH fails, never skips: the README's test command installs it, and so does .ci/run.
        if (found is null) Assert.Fail("mpirun.mpich is missing: install Debian's MPICH (apt-get install mpich), as the README's test command does");
        return found;
    }

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private (int Code, string Out, string Err) Run(int ranks, params string[] args)
    {
        var start = new ProcessStartInfo(ranks == 0 ? Dotnet : Mpirun()!)
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (ranks > 0)
        {
            start.ArgumentList.Add("-np");
            start.ArgumentList.Add(ranks.ToString(System.Globalization.CultureInfo.InvariantCulture));
            start.ArgumentList.Add(Dotnet);
        }
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SharpCnn.Cli.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        if (ranks > 0) start.ArgumentList.Add("--distributed");
        start.Environment.Remove("SHARPCNN_DEBUG");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(4)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{(ranks > 0 ? $"mpirun -np {ranks} " : "")}sharpcnn {string.Join(' ', args)} did not finish in 4 minutes");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    private string Train(int ranks, string name, string[] args)
    {
        var (code, output, error) = Run(ranks, [.. args, "--output", name]);
        Assert.True(code == 0, $"{ranks} rank(s): exit {code}\n{output}\n{error}");
        return Path.Combine(dir, name);
    }

    private static string WeightsHash(string model)
    {
        var network = ModelFile.Load<float>(model);
        var hash = new XxHash64();
        foreach (var p in network.Parameters) hash.Append(MemoryMarshal.AsBytes(p.Value.AsSpan()));
        return hash.GetCurrentHashAsUInt64().ToString("x16");
    }

    [Fact]
    public void TwoAndThreeRanksSaveTheWeightsOfOneProcessAndResumeAcrossRankCounts()
    {
        Mpirun();
        string alone = WeightsHash(Train(0, "one.scnn", [.. Common(threads: 2), .. NewModel]));
        Assert.Equal(alone, WeightsHash(Train(1, "np1.scnn", [.. Common(), .. NewModel])));
        Assert.Equal(alone, WeightsHash(Train(2, "np2.scnn", [.. Common(), .. NewModel])));
        Assert.Equal(alone, WeightsHash(Train(3, "np3.scnn", [.. Common(), .. NewModel])));

        // 5 steps under 2 ranks with a checkpoint every 3 (and at the cap), then the rest of the run under 3 ranks.
        var (code, output, error) = Run(2, [.. Common(), .. NewModel, "--max-steps", "5", "--checkpoint-every", "3", "--checkpoint", "run.ckpt"]);
        Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
        string resumed = Train(3, "resumed.scnn", [.. Common(), "--resume", "run.ckpt", "--max-steps", "0"]);
        Assert.Equal(alone, WeightsHash(resumed));
    }

    [Fact]
    public void OnlyRankZeroPrints()
    {
        Mpirun();
        var (code, output, error) = Run(2, [.. Common(epochs: 1), .. NewModel]);
        Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
        Assert.Single(output.Split('\n'), line => line.StartsWith("epoch 1/1", StringComparison.Ordinal));
    }

    /// <summary>
    /// A 2-rank job that trains for 1000 epochs with a checkpoint every 2 steps (in the test's folder): rank 1 is the
    /// process MPICH started with PMI_RANK=1 in its environment; once it is found and has trained a few seconds,
    /// <paramref name="strike"/> is done to it and the job must end within 30 s.
    /// </summary>
    private async Task<(int Code, string Out, string Err, int Victim, double Seconds)> StrikeRankOne(Action<int> strike)
    {
        string mpirun = Mpirun()!;
        var start = new ProcessStartInfo(mpirun) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["-np", "2", Dotnet, Path.Combine(AppContext.BaseDirectory, "SharpCnn.Cli.dll"), .. Common(epochs: 1000), .. NewModel,
                     "--checkpoint-every", "2", "--checkpoint", "run.ckpt", "--distributed"])
            start.ArgumentList.Add(a);
        using var job = Process.Start(start)!;
        var output = job.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = job.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        int victim = 0;
        try
        {
            var clock = Stopwatch.StartNew();
            while (victim == 0 && clock.Elapsed < TimeSpan.FromMinutes(2) && !job.HasExited)
            {
                Thread.Sleep(200);
                foreach (string proc in Directory.GetDirectories("/proc"))
                {
                    if (!int.TryParse(Path.GetFileName(proc), out int pid)) continue;
                    try
                    {
                        if (new DirectoryInfo(Path.Combine(proc, "cwd")).LinkTarget?.TrimEnd('/') != dir.TrimEnd('/')) continue;
                        if (File.ReadAllText(Path.Combine(proc, "environ")).Split('\0').Contains("PMI_RANK=1")) victim = pid;
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        // a process that ended or is not ours
                    }
                }
            }
            Assert.True(victim != 0, "rank 1 did not start");
            // Well into training: past the first checkpoints.
            while (!File.Exists(Path.Combine(dir, "run.ckpt")) && clock.Elapsed < TimeSpan.FromMinutes(2) && !job.HasExited) Thread.Sleep(200);
            Thread.Sleep(3000);
            if (job.HasExited || !Directory.Exists($"/proc/{victim}"))
            {
                job.WaitForExit(TimeSpan.FromSeconds(30));
                Assert.Fail($"rank 1 (pid {victim}) or the job ended before rank 1 was touched:\n{(job.HasExited ? await output + await error : "")}");
            }
            strike(victim);
            var struck = Stopwatch.StartNew();
            Assert.True(job.WaitForExit(TimeSpan.FromSeconds(30)), $"the job went on for 30 s after rank 1 (pid {victim}) was struck");
            double seconds = struck.Elapsed.TotalSeconds;
            job.WaitForExit();
            return (job.ExitCode, await output, await error, victim, seconds);
        }
        finally
        {
            if (victim != 0) Signal(victim, SigCont);
            if (!job.HasExited) job.Kill(entireProcessTree: true);
        }
    }

    private const int SigStop = 19, SigCont = 18;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Signal(int pid, int signal);

    [Fact]
    public async Task AKilledRankEndsTheJobWithinThirtySecondsNamingItAndTheRunResumesOnThreeRanks()
    {
        var (code, output, error, victim, seconds) = await StrikeRankOne(pid => Process.GetProcessById(pid).Kill());
        TestContext.Current.TestOutputHelper?.WriteLine($"the job ended {seconds:F2} s after rank 1 (pid {victim}) was killed\n{error}");
        Assert.NotEqual(0, code);
        // mpirun ends the job at once itself, naming the process; rank 0's first line says which rank that process is.
        Assert.Contains("BAD TERMINATION", output + error);
        Assert.Contains($"PID {victim}", output + error);
        Assert.Contains($"1 = pid {victim} on ", error);

        // Resume the last checkpoint under 3 ranks for 3 more steps: the weights of one process that ran straight there.
        long at = CheckpointFile.ReadHeader(Path.Combine(dir, "run.ckpt")).Training.Steps;
        Assert.True(at >= 2, $"the checkpoint is at step {at}");
        string end = $"{at + 3}";
        string resumed = Train(3, "resumed.scnn", [.. Common(epochs: 1000), "--resume", "run.ckpt", "--max-steps", end]);
        string alone = Train(0, "alone.scnn", [.. Common(threads: 2, epochs: 1000), .. NewModel, "--max-steps", end]);
        Assert.Equal(WeightsHash(alone), WeightsHash(resumed));
    }

    [Fact]
    public async Task AHungRankEndsTheJobWithinThirtySecondsNamingIt()
    {
        // SIGSTOP: the process stays, mpirun sees nothing wrong; rank 0's exchange runs out of its 20 s (the default) and names it.
        var (code, output, error, victim, seconds) = await StrikeRankOne(pid => Assert.Equal(0, Signal(pid, SigStop)));
        TestContext.Current.TestOutputHelper?.WriteLine($"the job ended {seconds:F2} s after rank 1 (pid {victim}) was stopped\n{error}");
        Assert.True(code == 69, $"exit {code}\n{output}\n{error}");
        Assert.Contains($"error: rank 1 of 2 (pid {victim} on ", error);
        Assert.Contains("within 20 s: it died or hung", error);
        Assert.Contains("the last checkpoint is run.ckpt", error);
        Assert.Contains("mpirun -np N sharpcnn train --resume run.ckpt", error);
    }

    [Fact]
    public void DistributedOutsideMpirunFailsClearly()
    {
        var (code, output, error) = Run(0, [.. Common(), .. NewModel, "--distributed"]);
        Assert.Equal(2, code);
        Assert.Contains("--distributed", error);
        Assert.Contains("mpirun", error);
        Assert.DoesNotContain("epoch", output);
    }
}

// Ctrl-C and SIGTERM during sharpcnn train, sent to a training child process: the first signal ends the run after
// the step in progress with a checkpoint (beside --output when no --checkpoint is given), the exact command that
// resumes, and exit code 130 or 143; that command ends with weights identical, bit for bit, to an uninterrupted run.
// A second signal ends the process at once, and every file it leaves is either the old one or a complete new one.

using System.Diagnostics;
using System.Runtime.InteropServices;
using SharpCnn.Formats;
using SharpCnn.Training;

namespace SharpCnn.Tests.Cli;

/// <summary>The uninterrupted run the interrupted ones are compared with, trained once for the class.</summary>
public sealed class UninterruptedRun : IDisposable
{
    /// <summary>Two epochs of 3,000 one-sample steps, a few seconds in all. The model is large enough that the second
    /// epoch takes most of a second on a fast core (0.8 s on a Zen 4 at 3.7 GHz), so that a signal sent a tenth of a
    /// second into it cannot arrive after the run has ended: with conv3x3x4 and dense10 alone an epoch took 0.09 s,
    /// and on CI the process had once exited before kill(2) was called.</summary>
    public static readonly string[] Args = ["train", "--model", "conv5x5x8,relu,maxpool2,flatten,dense32,relu,dense10", "--limit", "3000", "--test-limit", "100",
        "--batch", "1", "--epochs", "2", "--seed", "11", "--plain"];

    public UninterruptedRun()
    {
        var run = CliChildProcess.Run(Dir, TimeSpan.FromMinutes(5), [.. Args, "--output", Model]);
        Assert.True(run.ExitCode == 0, string.Join("\n", run.Stderr));
    }

    public string Dir { get; } = Directory.CreateTempSubdirectory("sharpcnn-signal-ref-").FullName;

    public string Model => Path.Combine(Dir, "full.scnn");

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}

public sealed partial class SignalTests(UninterruptedRun reference, ITestOutputHelper output) : IClassFixture<UninterruptedRun>, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-signal-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>kill(2) from the C library: no kill program needed (a fresh Debian has none without procps).</summary>
    private static void Send(int pid, string signal)
    {
        int number = signal switch { "INT" => 2, "TERM" => 15, _ => throw new ArgumentException(signal) }; // the same on Linux and macOS
        int result = OperatingSystem.IsLinux() ? LinuxKill(pid, number) : MacKill(pid, number);
        Assert.True(result == 0, $"kill({pid}, SIG{signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc.so.6", EntryPoint = "kill", SetLastError = true)]
    private static extern int LinuxKill(int pid, int signal);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int MacKill(int pid, int signal);

    [Theory]
    [InlineData("INT", 130, false)]
    [InlineData("TERM", 143, false)]
    [InlineData("INT", 130, true)]
    [InlineData("TERM", 143, true)]
    public void TheFirstSignalCheckpointsMidEpochAndTheResumeCommandEndsBitIdentical(string signal, int exitCode, bool checkpointEvery)
    {
        string model = Path.Combine(dir, "model.scnn");
        string[] args = [.. UninterruptedRun.Args, "--output", model, .. (checkpointEvery ? new[] { "--checkpoint-every", "700" } : [])];
        string stderr;
        using (var run = CliChildProcess.Start(dir, args))
        {
            // Signalled soon after the first epoch is reported: the second's 3,000 one-sample steps remain. The wait
            // after the report must stay far below the second epoch's time on the fastest machine (see Args), yet let
            // it take its first steps.
            string? line = run.WaitForLine(l => l.StartsWith("epoch 1/2", StringComparison.Ordinal), TimeSpan.FromMinutes(3));
            Assert.True(line is not null, "no epoch was reported: " + string.Join("\n", run.Stdout.Concat(run.Stderr)));
            Thread.Sleep(100); // into the second epoch's steps, not at its very start
            Assert.False(run.HasExited, "the run ended before it could be signalled: " + string.Join("\n", run.Stdout));
            Send(run.ProcessId, signal);
            Assert.Equal(exitCode, run.WaitForExit(TimeSpan.FromMinutes(2)));
            stderr = string.Join("\n", run.Stderr);
            output.WriteLine(string.Join("\n", run.Stdout) + "\n" + stderr);
            Assert.Contains($"stopped: stopped (SIG{signal})", run.Stdout);
        }
        Assert.False(File.Exists(model), "an unfinished model was saved as --output");
        string checkpoint = Path.Combine(dir, "model.checkpoint.scnn"); // beside --output
        var at = CheckpointFile.ReadHeader(checkpoint).Training;
        Assert.Equal(2, at.Epoch);
        Assert.InRange(at.Position, 2, at.DataCount - 2); // mid-epoch
        Assert.Contains($"stopped by SIG{signal} at step {at.Steps} (epoch 2, sample {at.Position} of 3000); checkpoint: {checkpoint}", stderr);

        string resume = stderr.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("resume with: ", StringComparison.Ordinal))["resume with: ".Length..];
        Assert.Equal($"sharpcnn train --resume {checkpoint} --output {model}", resume);
        var rest = CliChildProcess.Run(dir, TimeSpan.FromMinutes(5), resume.Split(' ')[1..]);
        Assert.True(rest.ExitCode == 0, string.Join("\n", rest.Stderr));
        KillTests.AssertSameWeights(reference.Model, model);
    }

    [Fact]
    public void ASecondSignalEndsAtOnceLeavingEveryFileOldOrComplete()
    {
        // A checkpoint after every step, so that saves are in progress most of the time.
        string model = Path.Combine(dir, "model.scnn"), checkpoint = Path.Combine(dir, "run.ckpt");
        using var run = CliChildProcess.Start(dir, [.. UninterruptedRun.Args, "--output", model, "--checkpoint-every", "1", "--checkpoint", checkpoint]);
        string? line = run.WaitForLine(l => l.StartsWith("  checkpoint step 30 ", StringComparison.Ordinal), TimeSpan.FromMinutes(3));
        Assert.True(line is not null, "no checkpoint was announced: " + string.Join("\n", run.Stdout.Concat(run.Stderr)));
        Send(run.ProcessId, "INT");
        Send(run.ProcessId, "INT");
        int exit = run.WaitForExit(TimeSpan.FromMinutes(2));
        output.WriteLine($"exit {exit}\n{string.Join("\n", run.Stderr)}");
        Assert.NotEqual(0, exit);

        // Every file under its own name loads; a temporary file of an interrupted save may remain (the next save removes it).
        var files = Directory.EnumerateFiles(dir).Where(f => !Path.GetFileName(f).EndsWith(".tmp", StringComparison.Ordinal)).ToList();
        Assert.Contains(checkpoint, files);
        foreach (string file in files)
        {
            ModelFile.Load<float>(file);
            output.WriteLine($"{Path.GetFileName(file)} loads");
        }
        var at = CheckpointFile.ReadHeader(checkpoint).Training;
        Assert.True(at.Steps >= 30, $"the checkpoint went back to step {at.Steps}");
        Trainer<float>.Resume(checkpoint); // a checkpoint that resumes, not only a model file
    }
}

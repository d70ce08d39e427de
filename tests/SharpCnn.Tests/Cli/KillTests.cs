// What a process killed with SIGKILL leaves behind: a training run killed mid-epoch resumes
// from its last checkpoint and ends with the weights of a run that never stopped, bit for
// bit; a process killed while saving leaves the previous file whole; the seed CNN with
// rand() init is stopped by the guard and its last good checkpoint loads.

using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using SharpCnn.Formats;
using SharpCnn.Training;

namespace SharpCnn.Tests.Cli;

public sealed partial class KillTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-kill-").FullName;
    private readonly ITestOutputHelper output;

    public KillTests(ITestOutputHelper output) => this.output = output;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [GeneratedRegex(@"^  checkpoint step (\d+) \(epoch (\d+), sample (\d+)\) -> ")]
    private static partial Regex CheckpointLine();

    private static (long Step, int Epoch, int Sample)? Checkpoint(string line)
    {
        var m = CheckpointLine().Match(line);
        if (!m.Success) return null;
        return (long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>The two model files' parameters are the same bits (also used by <see cref="SignalTests"/>).</summary>
    internal static void AssertSameWeights(string expected, string actual)
    {
        var a = ModelFile.Load<float>(expected).Parameters.ToArray();
        var b = ModelFile.Load<float>(actual).Parameters.ToArray();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(MemoryMarshal.AsBytes(a[i].Value.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b[i].Value.AsSpan())), $"parameter {i} differs");
    }

    [Fact]
    public void ARunKilledMidEpochResumesToBitIdenticalWeights()
    {
        string[] run = ["train", "--model", "conv5x5x8,relu,maxpool2,flatten,dense32,relu,dense10", "--limit", "1600", "--test-limit", "100",
            "--batch", "8", "--epochs", "2", "--seed", "7", "--optimizer", "adam", "--lr", "0.002"];
        string full = Path.Combine(dir, "full.scnn"), resumed = Path.Combine(dir, "resumed.scnn"), checkpoint = Path.Combine(dir, "run.ckpt");

        var uninterrupted = CliChildProcess.Run(dir, TimeSpan.FromMinutes(5), [.. run, "--output", full]);
        Assert.True(uninterrupted.ExitCode == 0, string.Join("\n", uninterrupted.Stderr));

        // The same run with checkpoints every 37 steps (never on an epoch boundary: 200 steps an epoch),
        // killed at once when the first checkpoint after step 100 is announced.
        using (var victim = CliChildProcess.Start(dir, [.. run, "--output", resumed, "--checkpoint-every", "37", "--checkpoint", checkpoint]))
        {
            string? line = victim.WaitForLine(l => Checkpoint(l) is { Step: > 100 }, TimeSpan.FromMinutes(5));
            Assert.True(line is not null, "no checkpoint was announced: " + string.Join("\n", victim.Stdout.Concat(victim.Stderr)));
            Assert.False(victim.HasExited, "the run ended before it could be killed");
            victim.Kill();
            output.WriteLine($"killed after: {line}");
        }
        Assert.False(File.Exists(resumed), "the killed run got to the end");
        var at = CheckpointFile.ReadHeader(checkpoint).Training!;
        Assert.InRange(at.Steps, 111, 399);
        Assert.InRange(at.Position, 1, at.DataCount - 1); // mid-epoch

        var rest = CliChildProcess.Run(dir, TimeSpan.FromMinutes(5), "train", "--resume", checkpoint, "--limit", "1600", "--test-limit", "100", "--output", resumed);
        Assert.True(rest.ExitCode == 0, string.Join("\n", rest.Stderr));
        Assert.Contains(rest.Stdout, l => l.StartsWith($"resumed  {checkpoint}: step {at.Steps}, epoch {at.Epoch}, sample {at.Position} of 1600", StringComparison.Ordinal));
        AssertSameWeights(full, resumed);
        // The epoch summaries agree too (the running statistics were part of the checkpoint).
        Assert.Equal(uninterrupted.Stdout.Where(l => l.StartsWith("epoch 2/", StringComparison.Ordinal)).Select(WithoutTimes),
            rest.Stdout.Where(l => l.StartsWith("epoch 2/", StringComparison.Ordinal)).Select(WithoutTimes));
    }

    [Fact]
    public void ResumeAloneContinuesAKilledRunOnItsOwnData()
    {
        // The issue's case: --limit 3000 and checkpoints every 20 steps, killed with SIGKILL, then --resume CHECKPOINT with
        // no other option. The data selection (limit, test limit) comes from the checkpoint.
        string[] run = ["train", "--model", "conv5x5x4,relu,maxpool2,flatten,dense10", "--limit", "3000", "--test-limit", "100",
            "--batch", "32", "--epochs", "2", "--seed", "3", "--checkpoint-every", "20"];
        string full = Path.Combine(dir, "full.ckpt"), checkpoint = Path.Combine(dir, "run.ckpt");
        var uninterrupted = CliChildProcess.Run(dir, TimeSpan.FromMinutes(5), [.. run, "--checkpoint", full]);
        Assert.True(uninterrupted.ExitCode == 0, string.Join("\n", uninterrupted.Stderr));

        using (var victim = CliChildProcess.Start(dir, [.. run, "--checkpoint", checkpoint]))
        {
            string? line = victim.WaitForLine(l => Checkpoint(l) is { Step: >= 40 }, TimeSpan.FromMinutes(5));
            Assert.True(line is not null, "no checkpoint was announced: " + string.Join("\n", victim.Stdout.Concat(victim.Stderr)));
            Assert.False(victim.HasExited, "the run ended before it could be killed");
            victim.Kill();
            output.WriteLine($"killed after: {line}");
        }
        var at = CheckpointFile.ReadHeader(checkpoint).Training!;
        Assert.InRange(at.Steps, 40, 187); // 94 steps an epoch: killed before the end
        Assert.Equal(3000, at.Data!.TrainLimit);
        Assert.Equal(100, at.Data.TestLimit);

        var rest = CliChildProcess.Run(dir, TimeSpan.FromMinutes(5), "train", "--resume", checkpoint);
        Assert.True(rest.ExitCode == 0, string.Join("\n", rest.Stderr));
        Assert.DoesNotContain(rest.Stderr, l => l.StartsWith("warning:", StringComparison.Ordinal));
        Assert.Contains(rest.Stdout, l => l.StartsWith($"resumed  {checkpoint}: step {at.Steps}, epoch {at.Epoch}, sample {at.Position} of 3000", StringComparison.Ordinal));
        // Both runs end with a final checkpoint: the same steps, the same weights, bit for bit.
        Assert.Equal(CheckpointFile.ReadHeader(full).Training.Steps, CheckpointFile.ReadHeader(checkpoint).Training.Steps);
        AssertSameWeights(full, checkpoint);
    }

    [Fact]
    public void DataOptionsGivenWithResumeOverrideWithAWarning()
    {
        string checkpoint = Path.Combine(dir, "short.ckpt");
        var first = CliInProcess.Run(["train", "--model", "flatten,dense10", "--limit", "300", "--test-limit", "50", "--epochs", "1", "--max-steps", "3",
            "--checkpoint-every", "3", "--checkpoint", checkpoint]);
        Assert.True(first.ExitCode == 0, string.Join("\n", first.Stderr));

        // Another test limit: the training data are the same, so the run continues, with a warning.
        var other = CliInProcess.Run(["train", "--resume", checkpoint, "--test-limit", "20", "--max-steps", "5"]);
        Assert.True(other.ExitCode == 0, string.Join("\n", other.Stderr));
        Assert.Contains("warning: --test-limit overrides the data the checkpoint was trained on (--test-limit 50)", other.Stderr);
        Assert.Contains(other.Stdout, l => l.Contains("20 test images", StringComparison.Ordinal));

        // Another training limit: warned, then refused by the data's fingerprint.
        var wrong = CliInProcess.Run(["train", "--resume", checkpoint, "--limit", "200"]);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("warning: --limit overrides the data the checkpoint was trained on (--limit 300)", wrong.Stderr);
        Assert.Contains(wrong.Stderr, l => l.StartsWith("error: ", StringComparison.Ordinal) && l.Contains("resume on the same training data", StringComparison.Ordinal));
    }

    private static string WithoutTimes(string epochLine) => epochLine[..epochLine.IndexOf("  test loss", StringComparison.Ordinal)];

    [Fact]
    public void AProcessKilledWhileSavingLeavesThePreviousFileWhole()
    {
        // A 9.5 MB model saved after every single-sample step: nearly all the time goes to saving,
        // so kills at random moments land inside saves. After each kill the file must load, and be
        // at least as new as the last save the process announced.
        string path = Path.Combine(dir, "big.scnn");
        string[] common = ["--limit", "400", "--test-limit", "10", "--checkpoint-every", "1", "--checkpoint", path];
        var random = new Random(1234);
        int interrupted = 0;
        for (int round = 0; round < 6; round++)
        {
            string[] args = round == 0
                ? ["train", "--model", "flatten,dense3000,relu,dense10", "--optimizer", "sgd", "--lr", "0.001", "--batch", "1", "--epochs", "1000", .. common]
                : ["train", "--resume", path, .. common];
            long announced;
            using (var saver = CliChildProcess.Start(dir, args))
            {
                string? line = saver.WaitForLine(l => Checkpoint(l) is { Step: > 0 }, TimeSpan.FromMinutes(3));
                Assert.True(line is not null, "no save was announced: " + string.Join("\n", saver.Stdout.Concat(saver.Stderr)));
                Thread.Sleep(random.Next(20, 400));
                Assert.False(saver.HasExited, "the process stopped by itself: " + string.Join("\n", saver.Stderr));
                saver.Kill();
                announced = saver.Stdout.Select(Checkpoint).Where(c => c is not null).Max(c => c!.Value.Step);
            }
            string[] partial = Directory.GetFiles(dir, ".big.scnn.*.tmp");
            if (partial.Length > 0) interrupted++;
            var header = CheckpointFile.ReadHeader(path);
            ModelFile.Load<float>(path);
            output.WriteLine($"round {round}: last announced save step {announced}, file holds step {header.Training!.Steps}, partial temporary files {partial.Length}");
            Assert.InRange(header.Training.Steps, announced, long.MaxValue);
        }
        // Evidence the kills hit saves in progress (each leaves its temporary file, removed by the next save).
        Assert.InRange(interrupted, 1, 6);
    }

    [Fact]
    public void TheSeedCnnWithRandInitIsStoppedByTheGuardAndItsLastGoodCheckpointLoads()
    {
        string checkpoint = Path.Combine(dir, "seed.scnn");
        var (exitCode, stdout, stderr) = CliChildProcess.Run(dir, TimeSpan.FromMinutes(3),
            "train", "--init", "uniform", "--optimizer", "sgd", "--lr", "0.05", "--limit", "256", "--test-limit", "10", "--checkpoint-every", "1", "--checkpoint", checkpoint);
        string errors = string.Join("\n", stderr);
        Assert.True(exitCode == 1, $"exit code {exitCode}: {errors}");
        Assert.Matches(@"^error: training diverged: layer 8 'dense1024' output max \|x\| = \d\.\d+e\+0[6-9] \(limit 1e\+06\) at step 1, epoch 1$", stderr[0]);
        Assert.Contains("--init normal or he", errors);
        Assert.Contains("'-max' (minusmax)", errors);
        Assert.Contains($"last good checkpoint: {checkpoint} (step 0)", errors);
        Assert.DoesNotContain(stdout.Concat(stderr), l => l.Contains("Exception"));
        var network = ModelFile.Load<float>(checkpoint);
        Assert.Equal(3_274_634, network.ParameterCount);
        Assert.Equal(0, CheckpointFile.ReadHeader(checkpoint).Training!.Steps);
    }
}

namespace SharpCnn.Tests.Cli;

/// <summary><c>sharpcnn bench</c> runs its quick measures, says the weights are bit-identical, and rejects bad options.</summary>
public class BenchCommandTests
{
    [Fact]
    public void AllocationAndDeterminismMeasuresRunAndReportZeroBytesAndIdenticalWeights()
    {
        var r = CliProcess.Run(AppContext.BaseDirectory, "bench", "--threads", "2", "--only", "alloc,identical", "--tsv");
        Assert.True(r.ExitCode == 0, r.Output + r.Error);
        var lines = r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1]);
        Assert.Equal("0", lines["alloc_per_step"]);
        Assert.Equal("1", lines["identical"]);
        Assert.True(double.Parse(lines["peak_rss"], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Fact]
    public void TrainingThroughputAtBatchOneIsReported()
    {
        var r = CliProcess.Run(AppContext.BaseDirectory, "bench", "--only", "train1", "--seconds", "0.2", "--rounds", "1");
        Assert.True(r.ExitCode == 0, r.Output + r.Error);
        Assert.Matches(@"\d+ samples/s\s+training, batch 1", r.Output);
    }

    [Fact]
    public void AModelSpecTrainsAtTheBatchAndWithTheOptimiserAsked()
    {
        var r = CliProcess.Run(AppContext.BaseDirectory, "bench", "--model", "conv3x3x4,batchnorm,relu,maxpool2,dropout0.25,dense10",
            "--batch", "8", "--optimizer", "momentum", "--only", "train64", "--seconds", "0.05", "--rounds", "1", "--tsv");
        Assert.True(r.ExitCode == 0, r.Output + r.Error);
        Assert.Matches(@"(?m)^train_b8\t[0-9.]+\tsamples/s", r.Output);
    }

    [Fact]
    public void ScalingReportsBothThreadCountsAndTheirRatio()
    {
        // The N-thread and 1-thread rates come from alternating rounds; the speed-up is their ratio.
        var r = CliProcess.Run(AppContext.BaseDirectory, "bench", "--model", "conv3x3x4,relu,maxpool2,dense10", "--batch", "8", "--threads", "2",
            "--only", "scaling", "--seconds", "0.05", "--rounds", "2", "--tsv");
        Assert.True(r.ExitCode == 0, r.Output + r.Error);
        var lines = r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('\t')).ToDictionary(f => f[0], f => double.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(lines["train_b8"] > 0 && lines["train_b8_1thread"] > 0, r.Output);
        Assert.Equal(lines["train_b8"] / lines["train_b8_1thread"], lines["scaling"], 1e-9);
        // Where the host put the cores, measured before the rounds: a time, or NaN when the second thread could not run beside
        // the first (one processor, or other tests holding the cores; CoreRoundTripTests hold the measurement itself).
        double roundTrip = lines["core_round_trip_ns"];
        Assert.True(double.IsNaN(roundTrip) || roundTrip > 0, r.Output);
    }

    [Theory]
    [InlineData("--batch", "0")]
    [InlineData("--optimizer", "lion")]
    [InlineData("--threads", "-1")]
    [InlineData("--only", "nonsense")]
    [InlineData("--seconds", "0")]
    public void ABadOptionIsOneLineAndExitCodeTwo(string option, string value)
    {
        var r = CliProcess.Run(AppContext.BaseDirectory, "bench", option, value);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error:", r.Error.Trim());
    }
}

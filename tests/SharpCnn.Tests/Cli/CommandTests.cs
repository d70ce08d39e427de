using System.Text.RegularExpressions;

namespace SharpCnn.Tests.Cli;

/// <summary>The CLI end to end, in a child process, on the bundled digits.</summary>
public sealed partial class CommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TrainSaveThenEvalGivesTheSamePredictions()
    {
        var train = CliProcess.Run(dir, "train", "--model", "seed-fc2", "--limit", "1500", "--test-limit", "400", "--epochs", "1",
            "--batch", "10", "--optimizer", "sgd", "--lr", "0.1", "-o", "m.scnn", "--confusion");
        Assert.True(train.ExitCode == 0, train.Output + train.Error);
        Assert.True(File.Exists(Path.Combine(dir, "m.scnn")));
        var trained = Accuracy().Match(train.Output);
        Assert.True(trained.Success, train.Output);
        Assert.True(int.Parse(trained.Groups[1].Value) > 300, train.Output); // well above chance (40 of 400)

        var eval = CliProcess.Run(dir, "eval", "m.scnn", "--limit", "400");
        Assert.True(eval.ExitCode == 0, eval.Output + eval.Error);
        var evaluated = Accuracy().Match(eval.Output);
        Assert.True(evaluated.Success, eval.Output);
        Assert.Equal(trained.Groups[1].Value, evaluated.Groups[1].Value);
        // The confusion matrices printed by both commands are the same table.
        var rows = ConfusionRows(train.Output);
        Assert.Equal(11, rows.Length); // header and ten classes
        Assert.Equal(rows, ConfusionRows(eval.Output));
    }

    [Theory]
    [InlineData("lenet5")]
    [InlineData("conv3x2x4:s2:p1-0-2-1,tanh,maxpool2:pad,subsample2,sigmoid,flatten,dense5,divnorm")]
    public void GradcheckPassesAndSaysSo(string model)
    {
        var r = CliProcess.Run(dir, "gradcheck", "--model", model, "--samples", "20");
        Assert.True(r.ExitCode == 0, r.Output + r.Error);
        Assert.Contains("PASS", r.Output);
        Assert.DoesNotContain("FAIL", r.Output);
    }

    [Fact]
    public void SummaryListsEveryLayerWithShapesParametersAndFlops()
    {
        var r = CliProcess.Run(dir, "summary", "--model", "seed-cnn");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("conv5x5x32:same", r.Output);
        Assert.Contains("32x28x28", r.Output);
        Assert.Contains("3,274,634", r.Output); // 832 + 51,264 + 3,212,288 + 10,250 parameters
        Assert.Contains("27.8 MFLOP", r.Output);
    }

    [Fact]
    public void ABadSpecIsOneLineNamingThePositionAndAnExitCodeOfTwo()
    {
        var r = CliProcess.Run(dir, "summary", "--model", "conv5x5x8,relu,maxpool2,bogus7");
        Assert.Equal(2, r.ExitCode);
        string line = Assert.Single(r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("4", line);
        Assert.Contains("bogus7", line);
        Assert.DoesNotContain("   at ", r.Error); // no stack trace
    }

    private static string[] ConfusionRows(string output) =>
        output.Split('\n').Select(l => l.TrimEnd()).SkipWhile(l => !l.StartsWith("true\\pred", StringComparison.Ordinal)).Take(11).ToArray();

    [GeneratedRegex(@"accuracy [\d.]+ ?% \((\d+)/(\d+)\)")]
    private static partial Regex Accuracy();
}

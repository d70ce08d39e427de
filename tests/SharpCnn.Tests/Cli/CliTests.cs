using System.CommandLine;
using System.Text.Json;
using SharpCnn.Charts;
using SharpCnn.Cli;
using SharpCnn.Formats;
using SharpCnn.Pictures;
using SharpCnn.Training;
using Spectre.Console;

namespace SharpCnn.Tests.Cli;

/// <summary>The sharpcnn commands run in-process, their output captured.</summary>
public sealed class CliTests(TrainedDigitModel trained) : IClassFixture<TrainedDigitModel>, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>The command tree that ships.</summary>
    private static RootCommand Root() => CommandLine.Create();

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = CommandLine.Run(args, new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    private string SavedModel()
    {
        string path = Path.Combine(dir, "digits.scnn");
        if (!File.Exists(path)) trained.Model.Save(path);
        return path;
    }

    [Fact]
    public void TrainWithJsonWritesStartEpochAndEndObjectsTheModelAndThePictures()
    {
        string model = Path.Combine(dir, "fc.scnn"), plots = Path.Combine(dir, "plots");
        var (exit, output, error) = Run("train", "--model", "flatten,dense10", "--epochs", "2", "--limit", "600", "--test-limit", "200",
            "--lr", "0.01", "--output", model, "--plots", plots, "--json");
        Assert.True(exit == 0, error);
        var all = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        // Step and layers objects (for view) come between, at most one a second and every 5 s; each epoch ends with its last steps.
        Assert.Contains(all, l => l.GetProperty("event").GetString() == "step");
        Assert.Contains(all, l => l.GetProperty("event").GetString() == "layers");
        var lines = all.Where(l => l.GetProperty("event").GetString() is not ("step" or "layers")).ToArray();
        Assert.Equal(["start", "epoch", "epoch", "end"], lines.Select(l => l.GetProperty("event").GetString()));
        Assert.Equal("flatten,dense10", lines[0].GetProperty("spec").GetString());
        Assert.Equal(600, lines[0].GetProperty("train_samples").GetInt32());
        Assert.Equal(2, lines[2].GetProperty("epoch").GetInt32());
        Assert.InRange(lines[2].GetProperty("test_accuracy").GetDouble(), 0.5, 1);
        var end = lines[3];
        Assert.False(end.GetProperty("diverged").GetBoolean());
        Assert.Equal(lines[2].GetProperty("test_accuracy").GetDouble(), end.GetProperty("test_accuracy").GetDouble());
        Assert.Equal(200, end.GetProperty("confusion").EnumerateArray().SelectMany(r => r.EnumerateArray()).Sum(c => c.GetInt32()));
        Assert.Equal(model, end.GetProperty("model_file").GetString());
        string[] pictures = [.. TrainingCharts.FileNames, .. ModelPictures.FileNames, "index.html"];
        Assert.Equal(pictures, end.GetProperty("pictures").EnumerateArray().Select(p => Path.GetFileName(p.GetString())));
        Assert.All(pictures, f => Assert.True(File.Exists(Path.Combine(plots, f)), f));
        Assert.Equal("flatten,dense10", ModelFile.ReadHeader(model).Spec);
    }

    [Fact]
    public void TrainWithRedirectedOutputWritesQuietPlainLines()
    {
        var (exit, output, _) = Run("train", "--model", "flatten,dense10", "--epochs", "2", "--limit", "300", "--test-limit", "100", "--confusion");
        Assert.Equal(0, exit);
        Assert.DoesNotContain("\u001b[", output); // no ANSI escapes
        var lines = output.Split('\n');
        Assert.Single(lines, l => l.StartsWith("epoch 1/2  loss", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("epoch 2/2  loss", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("test accuracy", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("true\\pred", StringComparison.Ordinal));
        Assert.True(lines.Length < 30, $"{lines.Length} lines: plain output stays short");
    }

    [Fact]
    public void PredictNamesTheRightDigitForEverySamplePng()
    {
        string model = SavedModel();
        foreach (var (path, label, darkOnLight) in TrainedDigitModel.SampleDigits())
        {
            string[] args = darkOnLight ? ["predict", model, path, "--invert"] : ["predict", model, path];
            var (exit, output, error) = Run(args);
            Assert.True(exit == 0, error);
            string line = output.Split('\n').Single(l => l.StartsWith(path, StringComparison.Ordinal));
            Assert.Equal(label.ToString(), line[path.Length..].Trim().Split(' ')[0]);
        }
    }

    [Fact]
    public void PredictJsonGivesTheTopClassesAndKeepsGoingPastABadFile()
    {
        string model = SavedModel();
        string good = TrainedDigitModel.SampleDigit("7-grey.png"), bad = Path.Combine(dir, "not-a.png");
        File.WriteAllText(bad, "hello");
        var (exit, output, error) = Run("predict", model, bad, good, "--json", "--top", "4");
        Assert.Equal(2, exit);
        Assert.Contains($"error: {bad}: at byte 0: expected the PNG signature", error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(bad, lines[0].GetProperty("file").GetString());
        Assert.Contains("PNG signature", lines[0].GetProperty("error").GetString());
        Assert.Equal(7, lines[1].GetProperty("class").GetInt32());
        var top = lines[1].GetProperty("top").EnumerateArray().ToArray();
        Assert.Equal(4, top.Length);
        Assert.Equal(7, top[0].GetProperty("class").GetInt32());
        Assert.True(top[0].GetProperty("probability").GetDouble() >= top[1].GetProperty("probability").GetDouble());
    }

    [Fact]
    public void UserErrorsAreOneLineAndExitCodeTwo()
    {
        var missing = Run("predict", Path.Combine(dir, "missing.scnn"), "x.png");
        Assert.Equal(2, missing.Exit);
        Assert.StartsWith("error: ", missing.Error);
        Assert.Contains("missing.scnn", missing.Error);

        var badSpec = Run("train", "--model", "conv5x5x8,frobnicate");
        Assert.Equal(2, badSpec.Exit);
        Assert.Contains("frobnicate", badSpec.Error);

        var parse = Run("train", "--epochs", "many");
        Assert.Equal(2, parse.Exit);
        Assert.Contains("'many'", parse.Error);
        Assert.Contains("Run 'sharpcnn train --help'", parse.Error);
        Assert.DoesNotContain("Usage:", parse.Output + parse.Error);
    }

    [Fact]
    public void EveryOptionIsDocumentedAndNamedInLowerCaseKebab()
    {
        foreach (var command in Root().Subcommands)
        {
            Assert.False(string.IsNullOrWhiteSpace(command.Description), command.Name);
            foreach (var option in command.Options)
            {
                Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{command.Name} {option.Name}");
                Assert.Matches("^--[a-z][a-z0-9]*(-[a-z0-9]+)*$", option.Name);
            }
            foreach (var argument in command.Arguments)
                Assert.False(string.IsNullOrWhiteSpace(argument.Description), $"{command.Name} {argument.Name}");
        }
    }

    [Fact]
    public void ClosedChoicesCompleteOnTab()
    {
        var root = Root();
        string[] Completions(string line) => root.Parse(line).GetCompletions().Select(c => c.Label).ToArray();
        Assert.Equal(["adam", "momentum", "sgd"], Completions("train --optimizer ").Order());
        Assert.Contains("lenet5", Completions("train --model "));
        Assert.Contains("double", Completions("predict m.scnn x.png --precision "));
    }

    [Fact]
    public void TheLiveReportDrawsABarPerEpochAndASummaryTable()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text),
            Ansi = AnsiSupport.Yes,
            Interactive = InteractionSupport.Yes,
            ColorSystem = ColorSystemSupport.TrueColor,
        });
        var report = new LiveTrainingReport(console);
        var evaluation = new Evaluation(0.9, 0.3, new int[2, 2] { { 9, 1 }, { 1, 9 } }, 20);
        EpochResult Epoch(int e) => new(e, 10 * e, 1.0 / e, 0.5 + 0.1 * e, evaluation, 0.5, 1234, double.NaN);
        var result = report.Run(3, 100, (progress, epoch) =>
        {
            progress(new TrainingProgress(1, 50, 100, 0.9, 0.6, 1000));
            epoch(Epoch(1));
            progress(new TrainingProgress(2, 50, 100, 0.6, 0.7, 1100));
            epoch(Epoch(2));
            return new TrainingResult([Epoch(1), Epoch(2)], "converged (test)", false);
        });
        report.End(new TrainingEnd(result, evaluation, "m.scnn", [], ShowConfusion: true));
        string output = text.ToString();
        Assert.Contains("━", output);                 // bars
        Assert.Contains("1,234", output);             // samples per second
        Assert.Contains("not run: converged (test)", output);
        Assert.Contains("training summary", output);
        Assert.Contains("confusion matrix", output);
        Assert.Contains("test accuracy 90.00 %", output);
    }
}

using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using SharpCnn.Cli;
using SharpCnn.Data;
using SharpCnn.Formats;

namespace SharpCnn.Tests.Cli;

/// <summary>
/// Every command of the command tree that ships (<see cref="CommandLine.Create"/>) runs, in-process, with its
/// output captured, and prints its help: a command added to the tree without a run here fails the test.
/// In the thread-count collection because bench, experiments, train and eval set the process-wide thread count.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class CommandTreeTests(TrainedDigitModel trained) : IClassFixture<TrainedDigitModel>, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-tree-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<string> Commands() => new(CommandLine.Create().Subcommands.Select(c => c.Name));

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

    /// <summary>A short run of each command and a line its output must contain.</summary>
    private Dictionary<string, Func<(string[] Args, string Expected)>> Runs() => new()
    {
        ["train"] = () => (["train", "--model", "flatten,dense10", "--epochs", "1", "--limit", "300", "--test-limit", "100", "--plain"], "test accuracy"),
        ["predict"] = () => (["predict", SavedModel(), TrainedDigitModel.SampleDigit("7-grey.png")], "7-grey.png  7  ("),
        ["serve"] = () => (["serve", SavedModel(), "--port", "0", "--check"], "check: a bundled test digit labelled 9 -> {\"classes\":[{\"label\":"),
        ["eval"] = () => (["eval", SavedModel(), "--limit", "100", "--precision", "double"], "accuracy "),
        ["gradcheck"] = () => (["gradcheck", "--model", "conv3x3x2,tanh,flatten,dense3", "--input", "1x6x6", "--samples", "10"], "PASS"),
        ["summary"] = () => (["summary", "--model", "lenet5"], "conv5x5x16:table=lenet5"),
        ["export-onnx"] = () => (["export-onnx", SavedModel(), Path.Combine(dir, "digits.onnx"), "--reference", "3"], "3 inputs and SharpCnn's"),
        ["import-onnx"] = () => (["import-onnx", Path.Combine(AppContext.BaseDirectory, "Formats", "Onnx", "Fixtures", "pytorch-lenet.onnx"), Path.Combine(dir, "lenet.scnn"), "--precision", "double"], "(loss ce, double)"),
        ["bench"] = () => (["bench", "--only", "train1,infer256", "--seconds", "0.05", "--rounds", "1"], "inference, batch 256"),
        ["experiments"] = () => (["experiments", "--quick", "--only", "t1-softmax-ce", "--out", Path.Combine(dir, "experiments")], "wrote "),
        ["view"] = () => (["view", JsonLog(), "--for", "0.2"], "live page: http://127.0.0.1:"),
    };

    /// <summary>The smallest training log view replays: a start and an end.</summary>
    private string JsonLog()
    {
        string path = Path.Combine(dir, "run.jsonl");
        File.WriteAllText(path, "{\"event\":\"start\",\"spec\":\"flatten,dense10\",\"parameters\":7850,\"epochs\":1}\n{\"event\":\"end\",\"stop_reason\":\"epochs (1)\",\"diverged\":false}\n");
        return path;
    }

    [Fact]
    public void TheRunsCoverEveryCommandOfTheTreeThatShips() =>
        Assert.Equal(CommandLine.Create().Subcommands.Select(c => c.Name).Order(), Runs().Keys.Order());

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryCommandRuns(string command)
    {
        Assert.True(Runs().TryGetValue(command, out var make), $"no run for '{command}': add one");
        var (args, expected) = make!();
        var (exit, output, error) = Run(args);
        Assert.True(exit == 0, $"sharpcnn {string.Join(' ', args)}: exit code {exit}\n{error}\n{output}");
        Assert.Contains(expected, output);
        Assert.Equal("", error);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryCommandPrintsItsHelp(string name)
    {
        var command = CommandLine.Create().Subcommands.Single(c => c.Name == name);
        var (exit, output, error) = Run(name, "--help");
        Assert.Equal(0, exit);
        Assert.Equal("", error);
        Assert.Matches($@"Usage:\s+\S+ {name} ", output); // the root is named after the executable
        Assert.Contains(command.Description!.Split('.')[0], Regex.Replace(output, @"\s+", " "));
        foreach (var option in command.Options) Assert.Contains(option.Name, output);
    }

    [Fact]
    public void TheFilesTheCommandsWriteAreThere()
    {
        Assert.Equal(0, Run(Runs()["export-onnx"]().Args).Exit);
        Assert.True(File.Exists(Path.Combine(dir, "digits.onnx")));
        Assert.True(File.Exists(Path.Combine(dir, "digits.reference.json")));
        Assert.Equal(0, Run(Runs()["import-onnx"]().Args).Exit);
        Assert.Equal("float64", ModelFile.ReadHeader(Path.Combine(dir, "lenet.scnn")).Precision);
        Assert.Equal(0, Run(Runs()["experiments"]().Args).Exit);
        Assert.Contains("| `t1-softmax-ce` softmax-cross-entropy |", File.ReadAllText(Path.Combine(dir, "experiments", "results.md")));
    }

    [Fact]
    public void BenchTsvLinesAreMeasureValueUnit()
    {
        var (exit, output, error) = Run("bench", "--only", "train1,infer256", "--seconds", "0.05", "--rounds", "1", "--tsv", "--threads", "1");
        Assert.True(exit == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToArray();
        Assert.Equal(["train_b1", "infer_b256", "peak_rss"], lines.Select(l => l[0]));
        Assert.All(lines, l => Assert.Equal(3, l.Length));
        Assert.All(lines, l => Assert.True(double.Parse(l[1], CultureInfo.InvariantCulture) > 0, string.Join(' ', l)));
        Assert.Equal(["samples/s", "samples/s", "MiB"], lines.Select(l => l[2]));
    }

    [Fact]
    public void BenchTrainsOneEpochOfAnIdxFolder()
    {
        // 300 bundled digits written as an MNIST-layout folder (only the training files are read).
        var (train, _) = BundledDigits.Load();
        var subset = train.Take(300);
        string folder = Directory.CreateDirectory(Path.Combine(dir, "idx")).FullName;
        var pixels = new byte[300 * 784];
        for (int i = 0; i < 300; i++) subset.Image(i).CopyTo(pixels.AsSpan(i * 784));
        File.WriteAllBytes(Path.Combine(folder, "train-images-idx3-ubyte"), Data.IdxTestFiles.Idx(pixels, 300, 28, 28));
        File.WriteAllBytes(Path.Combine(folder, "train-labels-idx1-ubyte"), Data.IdxTestFiles.Idx(subset.Labels.ToArray(), 300));
        var (exit, output, error) = Run("bench", "--epoch-data", folder, "--model", "flatten,dense10", "--tsv");
        Assert.True(exit == 0, error);
        Assert.Contains("epoch_samples\t300\tsamples", output);
        Assert.Contains("epoch_steps\t5\tsteps", output); // batch 64 unless --batch says otherwise
        Assert.Contains("epoch_rate\t", output);

        // The Fashion-MNIST recipe's batch, as bench/compare-pytorch.sh asks for its recipe epoch.
        (exit, output, error) = Run("bench", "--epoch-data", folder, "--model", "flatten,dense10", "--optimizer", "momentum", "--batch", "128", "--tsv");
        Assert.True(exit == 0, error);
        Assert.Contains("epoch_samples\t300\tsamples", output);
        Assert.Contains("epoch_steps\t3\tsteps", output);
    }
}

// Every bad option, spec or path gives one clear line on stderr ("error: ...") and a
// non-zero exit code, never a stack trace. The whole list runs in-process (the CLI's own
// entry point with stdout and stderr captured); a sample runs as real child processes, to
// show what the dotnet host prints and returns.

using SharpCnn.Tests.Hostile;

namespace SharpCnn.Tests.Cli;

public sealed class CliErrorTests : IClassFixture<CliErrorTests.Files>
{
    /// <summary>Files the bad commands point at, made once for the class.</summary>
    public sealed class Files : IDisposable
    {
        public Files()
        {
            Dir = Directory.CreateTempSubdirectory("sharpcnn-cli-").FullName;
            File.WriteAllBytes(Path.Combine(Dir, "truncated.scnn"), ModelCorpus.SmallFloat()[..100]);
            File.WriteAllBytes(Path.Combine(Dir, "model.scnn"), ModelCorpus.SmallFloat());
            File.WriteAllBytes(Path.Combine(Dir, "checkpoint.scnn"), ModelCorpus.SmallCheckpoint());
            File.WriteAllText(Path.Combine(Dir, "notes.txt"), "not a model\n");
            string data = Directory.CreateDirectory(Path.Combine(Dir, "mnist")).FullName;
            File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte"), IdxCorpus.Images[..40]);
            File.WriteAllBytes(Path.Combine(data, "train-labels-idx1-ubyte"), IdxCorpus.Labels);
            File.WriteAllBytes(Path.Combine(data, "t10k-images-idx3-ubyte"), IdxCorpus.Images);
            File.WriteAllBytes(Path.Combine(data, "t10k-labels-idx1-ubyte"), IdxCorpus.Labels);
            string mismatch = Directory.CreateDirectory(Path.Combine(Dir, "mismatch")).FullName;
            File.WriteAllBytes(Path.Combine(mismatch, "train-images-idx3-ubyte"), IdxCorpus.Images);
            File.WriteAllBytes(Path.Combine(mismatch, "train-labels-idx1-ubyte"), Data.IdxTestFiles.Idx([1, 2], 2));
            File.WriteAllBytes(Path.Combine(mismatch, "t10k-images-idx3-ubyte"), IdxCorpus.Images);
            File.WriteAllBytes(Path.Combine(mismatch, "t10k-labels-idx1-ubyte"), IdxCorpus.Labels);
            Directory.CreateDirectory(Path.Combine(Dir, "empty-folder"));
        }

        public string Dir { get; }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    private readonly Files files;

    public CliErrorTests(Files files) => this.files = files;

    public static TheoryData<string, string> BadCommands() => new()
    {
        // Options the parser rejects.
        { "train --bogus", "Unrecognized command or argument '--bogus'" },
        { "frobnicate", "Unrecognized command or argument 'frobnicate'" },
        { "train --epochs -1", "--epochs must be at least 1, not -1" },
        { "train --epochs 0", "--epochs must be at least 1, not 0" },
        { "train --epochs abc", "Cannot parse argument 'abc' for option '--epochs'" },
        { "train --epochs 99999999999", "Cannot parse argument '99999999999' for option '--epochs'" },
        { "train --batch 0", "--batch must be at least 1, not 0" },
        { "train --lr 0", "--lr must be a positive number, not 0" },
        { "train --lr NaN", "--lr must be a positive number, not NaN" },
        { "train --lr -Infinity", "--lr must be a positive number" },
        { "train --momentum 1.5", "--momentum must be at least 0 and below 1, not 1.5" },
        { "train --optimizer rmsprop", "Argument 'rmsprop' not recognized. Must be one of: 'sgd' 'momentum' 'adam'" },
        { "train --seed -1", "Cannot parse argument '-1' for option '--seed'" },
        { "train --limit -5", "--limit must be at least 0, not -5" },
        { "train --max-steps -1", "--max-steps must be at least 0, not -1" },
        { "train --stop-epsilon -0.1", "--stop-epsilon must be 0 or a positive number, not -0.1" },
        { "train --checkpoint-every -1", "--checkpoint-every must be at least 0, not -1" },
        { "train --clip-norm -1", "--clip-norm must be 0 or a positive number, not -1" },
        { "train --explosion-limit -2", "--explosion-limit must be 0 or a positive number, not -2" },
        { "train --epochs", "Required argument missing for option: '--epochs'" },
        // Values the commands reject.
        { "train --precision half", "--precision must be float or double, not 'half'" },
        { "train --init bogus", "unknown initialiser 'bogus'" },
        { "train --loss hinge", "unknown loss 'hinge'" },
        { "train --model conv99x99x3", "layer 1 'conv99x99x3': kernel 99x99 is larger than its input 28x28" },
        { "train --model conv3x3x4,,relu", "layer 2 '': empty token" },
        { "train --model conv3x3x4,frob,dense10", "layer 2 'frob': unknown layer 'frob'" },
        { "train --model dense1000000,dense1000000", "layer 2 'dense1000000'" },
        { "summary --input 1x0x28", "--input must look like 1x28x28" },
        { "gradcheck --batch 0", "--batch must be at least 1, not 0" },
        { "gradcheck --tolerance NaN", "--tolerance must be a positive number, not NaN" },
        { "gradcheck --step -1", "--step must be a positive number, not -1" },
        { "gradcheck --model seed-cnn --input 1x28", "--input must look like 1x28x28" },
        { "eval --limit -1 {dir}/model.scnn", "--limit must be at least 0, not -1" },
        // Paths.
        { "train --data {dir}/nowhere", "{dir}/nowhere: no such folder" },
        { "train --data {dir}/empty-folder", "no train-images file; looked for train-images-idx3-ubyte.gz" },
        { "train --data {dir}/mnist", "{dir}/mnist/train-images-idx3-ubyte: at byte 40: expected 3 x 4 x 4 = 48 data bytes, found 24: the file is truncated" },
        { "train --data {dir}/mismatch", "train-labels-idx1-ubyte: at byte 4: expected 3 labels, one per image of" },
        { "train --output {dir}", "--output {dir}: is a folder; give a file name" },
        { "train --output /proc/no/such.scnn", "--output /proc/no/such.scnn: cannot write" },
        { "train --checkpoint-every 5 --checkpoint {dir}/empty-folder", "--checkpoint {dir}/empty-folder: is a folder" },
        { "train --resume {dir}/none.scnn", "{dir}/none.scnn: no such model file" },
        { "train --resume {dir}/model.scnn", "{dir}/model.scnn: at byte 8: expected a checkpoint" },
        { "train --resume {dir}/checkpoint.scnn --model lenet5", "--model cannot be given with --resume" },
        { "train --resume {dir}/checkpoint.scnn --precision double", "--precision double: {dir}/checkpoint.scnn was trained in float" },
        { "train --resume {dir}/checkpoint.scnn", "the training samples are 1x28x28, the network takes 1x6x6" },
        { "eval {dir}/none.scnn", "{dir}/none.scnn: no such model file" },
        { "eval {dir}/truncated.scnn", "{dir}/truncated.scnn: at byte 12: expected a header length" },
        { "eval {dir}/notes.txt", "{dir}/notes.txt: at byte 12: expected at least 24 bytes" },
        { "eval {dir}", "is a folder, expected a model file" },
        { "eval {dir}/model.scnn", "takes inputs of 1x6x6, the data are 1x28x28" },
        { "summary --model {dir}/truncated.scnn", "{dir}/truncated.scnn: at byte 12" },
    };

    [Theory]
    [MemberData(nameof(BadCommands))]
    public void ABadCommandGivesOneClearLineAndExitCode2(string command, string expected) =>
        AssertOneClearLine(command, expected, args => CliInProcess.Run(args));

    public static TheoryData<string, string> BadCommandsForTheRealHost() => new()
    {
        { "train --bogus", "Unrecognized command or argument '--bogus'" },
        { "train --epochs -3", "--epochs must be at least 1, not -3" },
        { "train --precision half", "--precision must be float or double, not 'half'" },
        { "train --model conv3x3x4,frob,dense10", "layer 2 'frob': unknown layer 'frob'" },
        { "train --data {dir}/nowhere", "{dir}/nowhere: no such folder" },
        { "eval {dir}/truncated.scnn", "{dir}/truncated.scnn: at byte 12: expected a header length" },
    };

    [Theory]
    [MemberData(nameof(BadCommandsForTheRealHost))]
    public void AChildProcessGivesOneClearLineAndExitCode2(string command, string expected) =>
        AssertOneClearLine(command, expected, args => CliChildProcess.Run(files.Dir, TimeSpan.FromMinutes(2), args));

    private void AssertOneClearLine(string command, string expected, Func<string[], (int ExitCode, string[] Stdout, string[] Stderr)> run)
    {
        string[] args = command.Split(' ').Select(a => a.Replace("{dir}", files.Dir, StringComparison.Ordinal)).ToArray();
        var (exitCode, stdout, stderr) = run(args);
        string message = string.Join("\n", stderr);
        Assert.True(exitCode == 2, $"exit code {exitCode}; stderr: {message}; stdout: {string.Join("\n", stdout)}");
        Assert.True(stderr.Length == 1, $"expected one line on stderr, found {stderr.Length}:\n{message}");
        Assert.StartsWith("error: ", stderr[0]);
        Assert.Contains(expected.Replace("{dir}", files.Dir, StringComparison.Ordinal), stderr[0]);
        Assert.DoesNotContain(stdout.Concat(stderr), line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal) || line.Contains("Exception:"));
    }

    [Fact]
    public void HelpStillWorks()
    {
        var (exitCode, stdout, stderr) = CliInProcess.Run(["train", "--help"]);
        Assert.Equal(0, exitCode);
        Assert.Empty(stderr);
        Assert.Contains(stdout, l => l.Contains("--checkpoint-every"));
        Assert.Contains(stdout, l => l.Contains("--resume"));
    }
}

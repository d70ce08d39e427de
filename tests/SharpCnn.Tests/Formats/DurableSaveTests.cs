// Saves that the file system refuses: a full file system and a read-only one (a small tmpfs mounted by the test;
// root ignores permissions, a read-only mount does not), a write that fails part-way (a fault injected into the
// stream, which needs no mount), a folder that cannot be made, a path that is a folder, and a checkpoint that
// cannot be written during training. Each gives one clear error naming the file and the cause, leaves the previous
// file whole and loadable, and leaves no temporary file behind.

using System.Diagnostics;
using System.Runtime.InteropServices;
using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Tests.Cli;
using SharpCnn.Training;

namespace SharpCnn.Tests.Formats;

public sealed class DurableSaveTests : IDisposable
{
    private static readonly Shape Digits = new(1, 28, 28);
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-save-").FullName;
    private readonly ITestOutputHelper output;
    private string? mounted;

    public DurableSaveTests(ITestOutputHelper output) => this.output = output;

    public void Dispose()
    {
        if (mounted is not null) Run("umount", mounted);
        Directory.Delete(dir, recursive: true);
    }

    private static Network<float> Model(string spec, ulong seed) => ModelFactory.FromSpec<float>(spec, Digits, seed: seed);

    private static void AssertSameWeights(Network<float> expected, string file)
    {
        var a = expected.Parameters.ToArray();
        var b = ModelFile.Load<float>(file).Parameters.ToArray();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(MemoryMarshal.AsBytes(a[i].Value.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b[i].Value.AsSpan())), $"parameter {i} differs");
    }

    private static void AssertNoTemporaryFiles(string folder) =>
        Assert.Empty(Directory.EnumerateFiles(folder, "*.tmp").Select(Path.GetFileName));

    private static int Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start)!;
            process.WaitForExit(30_000);
            return process.HasExited ? process.ExitCode : -1;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1; // no such program
        }
    }

    /// <summary>A tmpfs of <paramref name="kib"/> KiB mounted at a fresh folder, or null where this process may not mount.</summary>
    private string? MountSmallFileSystem(int kib)
    {
        string point = Directory.CreateDirectory(Path.Combine(dir, "small")).FullName;
        if (!OperatingSystem.IsLinux() || Run("mount", "-t", "tmpfs", "-o", $"size={kib}k", "tmpfs", point) != 0) return null;
        return mounted = point;
    }

    [Fact]
    public void AWriteThatFailsPartWayLeavesThePreviousFileAndNoTemporaryFile()
    {
        string path = Path.Combine(dir, "model.scnn");
        var old = Model("flatten,dense10", 1);
        ModelFile.Save(old, path);
        // The fault a full disk gives, injected after some bytes are written: no mount needed.
        var e = Assert.Throws<SaveFailedException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[100_000]);
            throw new IOException("No space left on device");
        }));
        Assert.Equal($"cannot save {path}: No space left on device; the previous file is unchanged", e.Message);
        Assert.Equal(path, e.FilePath);
        AssertSameWeights(old, path);
        AssertNoTemporaryFiles(dir);
    }

    [Fact]
    public void AFullAndAReadOnlyFileSystemRefuseTheSaveAndKeepThePreviousFile()
    {
        string? small = MountSmallFileSystem(64);
        if (small is null)
        {
            // No mount here (not root, or no tmpfs): the same checks with the fault injected by the test above.
            output.WriteLine("mount -t tmpfs is not permitted here; the full disk is simulated by AWriteThatFailsPartWayLeavesThePreviousFileAndNoTemporaryFile");
            AWriteThatFailsPartWayLeavesThePreviousFileAndNoTemporaryFile();
            return;
        }
        string path = Path.Combine(small, "model.scnn");
        var old = Model("flatten,dense10", 1); // 31 KiB
        ModelFile.Save(old, path);

        // 62 KiB more does not fit beside it in 64 KiB.
        var full = Assert.Throws<SaveFailedException>(() => ModelFile.Save(Model("flatten,dense20", 2), path));
        output.WriteLine(full.Message);
        Assert.StartsWith($"cannot save {path}: ", full.Message);
        Assert.Contains("No space left on device", full.Message);
        Assert.EndsWith("; the previous file is unchanged", full.Message);
        AssertSameWeights(old, path);
        AssertNoTemporaryFiles(small);

        // Read-only: even root cannot write (permissions would not stop root; a read-only mount does).
        Assert.Equal(0, Run("mount", "-o", "remount,ro", small));
        var readOnly = Assert.Throws<SaveFailedException>(() => ModelFile.Save(Model("flatten,dense10", 3), path));
        output.WriteLine(readOnly.Message);
        Assert.Contains("Read-only file system", readOnly.Message);
        Assert.EndsWith("; the previous file is unchanged", readOnly.Message);
        AssertSameWeights(old, path);
        AssertNoTemporaryFiles(small);
    }

    [Fact]
    public void AFolderInTheWayOrOneThatCannotBeMadeIsNamed()
    {
        string folder = Directory.CreateDirectory(Path.Combine(dir, "model.scnn")).FullName;
        var isFolder = Assert.Throws<SaveFailedException>(() => ModelFile.Save(Model("flatten,dense10", 1), folder));
        Assert.Equal($"cannot save {folder}: it is a folder; expected a file name to save to", isFolder.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));

        // A file where a folder of the path should be: the folder cannot be made.
        string blocker = Path.Combine(dir, "notes.txt");
        File.WriteAllText(blocker, "a file, not a folder");
        string path = Path.Combine(blocker, "runs", "model.scnn");
        var missing = Assert.Throws<SaveFailedException>(() => ModelFile.Save(Model("flatten,dense10", 1), path));
        Assert.StartsWith($"cannot save {path}: the folder {Path.Combine(blocker, "runs")} does not exist and cannot be made (", missing.Message);
        Assert.EndsWith("); nothing was written", missing.Message);
        Assert.Equal("a file, not a folder", File.ReadAllText(blocker));

        // A missing folder that can be made is made, as mkdir -p would.
        string nested = Path.Combine(dir, "a", "b", "model.scnn");
        ModelFile.Save(Model("flatten,dense10", 1), nested);
        Assert.True(File.Exists(nested));
    }

    [Fact]
    public void TheFolderIsFlushedToDiskAfterTheRename()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            Assert.True(DirectorySync.Flush(dir)); // open(O_DIRECTORY) + fsync + close went through
            var e = Assert.Throws<IOException>(() => DirectorySync.Flush(Path.Combine(dir, "missing")));
            Assert.Contains("open of the folder", e.Message);
            Assert.Contains("errno 2", e.Message); // ENOENT: the call really reached the system
        }
        else
        {
            Assert.False(DirectorySync.Flush(dir));
        }
    }

    [Fact]
    public void ACheckpointThatCannotBeWrittenStopsTrainingAndTheLastOneLoads()
    {
        var (train, _) = BundledDigits.Load();
        train = train.Take(400);
        string folder = Directory.CreateDirectory(Path.Combine(dir, "run")).FullName;
        string checkpoint = Path.Combine(folder, "run.ckpt");
        var trainer = new Trainer<float>(Model("conv3x3x4,relu,maxpool2,flatten,dense10", 5),
            new TrainingOptions { Epochs = 2, BatchSize = 10, CheckpointEvery = 10, CheckpointPath = checkpoint, Optimizer = "adam", LearningRate = 0.001 });
        var saved = new List<long>();
        trainer.CheckpointSaved += c =>
        {
            saved.Add(c.Step);
            if (c.Step == 20)
            {
                // From here the save is refused (a folder now stands at the checkpoint's path; no mount needed). The
                // checkpoint of step 20 is kept aside to show it loads; the full and read-only cases are above.
                File.Copy(checkpoint, Path.Combine(dir, "step20.ckpt"));
                File.Delete(checkpoint);
                Directory.CreateDirectory(checkpoint);
            }
        };
        var e = Assert.Throws<SaveFailedException>(() => trainer.Fit(train, cancellation: TestContext.Current.CancellationToken));
        output.WriteLine(e.Message);
        Assert.Equal(checkpoint, e.FilePath);
        Assert.Contains("(the checkpoint of step 30: training stopped there; ", e.Message);
        Assert.Equal([0L, 10L, 20L], saved);
        Assert.Equal(20, CheckpointFile.ReadHeader(Path.Combine(dir, "step20.ckpt")).Training.Steps);
        AssertNoTemporaryFiles(folder);
    }

    [Fact]
    public void TheCliStopsWithExitCode74WhenACheckpointDoesNotFit()
    {
        string? small = MountSmallFileSystem(64);
        if (small is null)
        {
            output.WriteLine("mount -t tmpfs is not permitted here; the trainer's stop is tested by ACheckpointThatCannotBeWrittenStopsTrainingAndTheLastOneLoads");
            ACheckpointThatCannotBeWrittenStopsTrainingAndTheLastOneLoads();
            return;
        }
        // Checkpoints of dense20 on digits with Adam are 250 KiB: the first one (at the start) does not fit.
        string checkpoint = Path.Combine(small, "run.ckpt");
        var (exit, _, stderr) = CliInProcess.Run(["train", "--model", "flatten,dense20,dense10", "--limit", "200", "--test-limit", "50", "--epochs", "1",
            "--checkpoint-every", "5", "--checkpoint", checkpoint]);
        output.WriteLine(string.Join("\n", stderr));
        Assert.Equal(74, exit);
        string line = Assert.Single(stderr);
        Assert.StartsWith($"error: cannot save {checkpoint}: No space left on device; nothing was written (the checkpoint of step 0: training stopped there; no checkpoint of this run was written before)", line);
        AssertNoTemporaryFiles(small);
    }
}

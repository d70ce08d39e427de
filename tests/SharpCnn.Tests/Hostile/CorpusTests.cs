// Runs every committed corpus file through its reader, and holds the committed corpus to
// what the generators make. To regenerate after a deliberate format or message change:
//   SHARPCNN_WRITE_CORPUS=1 dotnet test -c Release tests/SharpCnn.Tests --filter "FullyQualifiedName~CorpusTests"


namespace SharpCnn.Tests.Hostile;

public sealed class CorpusTests
{
    public static TheoryData<string, string> Entries()
    {
        var data = new TheoryData<string, string>();
        foreach (string folder in Directory.GetDirectories(CorpusFolder.Root).Order(StringComparer.Ordinal))
            foreach (var entry in CorpusFolder.ReadManifest(folder))
                data.Add(Path.GetFileName(folder), entry.File);
        return data;
    }

    [Theory]
    [MemberData(nameof(Entries))]
    public void EveryFileGivesItsDocumentedResult(string format, string file)
    {
        string folder = Path.Combine(CorpusFolder.Root, format);
        var entry = CorpusFolder.ReadManifest(folder).Single(e => e.File == file);
        string path = Path.Combine(folder, file);
        var read = CorpusReaders.Resolve(entry.Reader, folder);
        Record.Exception(() => read(path)); // first-use costs (JIT, static tables) are not the file's
        long before = GC.GetAllocatedBytesForCurrentThread();
        Exception? thrown = Record.Exception(() => read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long size = new FileInfo(path).Length;
        if (entry.Expected == CorpusFile.Ok)
        {
            Assert.Null(thrown);
            return;
        }
        var error = Assert.IsType<FileFormatException>(thrown, exactMatch: true);
        Assert.True(error.FilePath == path || entry.Reader.Contains(':'), $"the error names {error.FilePath}, not {path}");
        Assert.StartsWith(error.FilePath, error.Message);
        if (CorpusFormats.All.Single(f => f.Folder == format).ByteOffsets)
        {
            Assert.Contains("expected", error.Message);
            Assert.True(error.Offset >= 0 && error.Offset <= Math.Max(size, 1L << 20), $"offset {error.Offset} for a file of {size} bytes");
        }
        else
        {
            Assert.Equal(-1, error.Offset);
        }
        Assert.True(error.Message.Contains(entry.Expected, StringComparison.Ordinal), $"expected \"{entry.Expected}\" in: {error.Message}");
        // Hostile sizes must not turn into allocations: a rejected file costs little more than itself.
        Assert.True(allocated <= MutationHarness.AllocationFactor * Math.Max(size, MutationTarget.GzipContentLength(File.ReadAllBytes(path))) + MutationHarness.AllocationOverhead, $"{allocated} bytes allocated to reject a file of {size} bytes");
    }

    [Fact]
    public void TheCommittedCorpusIsWhatTheGeneratorsMake()
    {
        bool write = Environment.GetEnvironmentVariable("SHARPCNN_WRITE_CORPUS") == "1";
        foreach (var format in CorpusFormats.All)
        {
            string folder = Path.Combine(CorpusFolder.Root, format.Folder);
            var files = format.Generate().ToList();
            Assert.Equal(files.Count, files.Select(f => f.Name).Distinct().Count());
            string manifest = CorpusFolder.Manifest(format, files);
            if (write)
            {
                Directory.CreateDirectory(folder);
                foreach (string stale in Directory.GetFiles(folder)) File.Delete(stale);
                foreach (var f in files) File.WriteAllBytes(Path.Combine(folder, f.Name), f.Bytes);
                File.WriteAllText(Path.Combine(folder, CorpusFolder.ManifestName), manifest);
            }
            const string hint = " (after a deliberate change, regenerate: SHARPCNN_WRITE_CORPUS=1 dotnet test --filter FullyQualifiedName~CorpusTests)";
            Assert.True(File.Exists(Path.Combine(folder, CorpusFolder.ManifestName)), $"{folder} has no manifest{hint}");
            Assert.True(manifest == File.ReadAllText(Path.Combine(folder, CorpusFolder.ManifestName)), $"{format.Folder}/{CorpusFolder.ManifestName} differs from the generator's{hint}");
            var committed = Directory.GetFiles(folder).Select(Path.GetFileName).Where(n => n != CorpusFolder.ManifestName).Order(StringComparer.Ordinal);
            Assert.Equal(files.Select(f => f.Name).Order(StringComparer.Ordinal), committed);
            foreach (var f in files)
                Assert.True(f.Bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(folder, f.Name))), $"{format.Folder}/{f.Name} differs from the generator's{hint}");
        }
    }

    [Fact]
    public void TheCorpusHasAtLeastFiftyHostileFiles()
    {
        int hostile = CorpusFormats.All.Sum(f => f.Generate().Count(file => file.Expected != CorpusFile.Ok));
        Assert.InRange(hostile, 50, int.MaxValue);
        foreach (var format in CorpusFormats.All) Assert.Contains(format.Generate(), f => f.Expected == CorpusFile.Ok); // seeds for the mutation tests
    }
}

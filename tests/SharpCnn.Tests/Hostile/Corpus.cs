// The hostile-file corpus: committed files under tests/SharpCnn.Tests/Corpus/<format>/, each
// listed in that folder's manifest.tsv with the reader that must read it and the text its
// FileFormatException must contain ("ok" for a file that must be read without error).
// Every format has a generator (ICorpusFormat) that makes its files from scratch, a test
// holds the committed files to what the generators make, and another test runs every file
// through its reader. Corpus/README.md says how to add a format and how to regenerate.

using System.Text;
using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Training;
using SharpCnn.Formats.Onnx;

namespace SharpCnn.Tests.Hostile;

/// <summary>One corpus file: its name, bytes, reader and expected error text ("ok" = must read fine).</summary>
/// <param name="Name">File name inside the format's folder.</param>
/// <param name="Bytes">The file's content.</param>
/// <param name="Reader">A key of <see cref="CorpusReaders"/>, optionally ":companion file" (e.g. the images file a labels file goes with).</param>
/// <param name="Expected">Text the FileFormatException's message must contain, or "ok".</param>
internal sealed record CorpusFile(string Name, byte[] Bytes, string Reader, string Expected)
{
    public const string Ok = "ok";
}

/// <summary>A file format's part of the corpus: its folder and the generator of its files.</summary>
internal interface ICorpusFormat
{
    /// <summary>Folder under Corpus/, e.g. "idx".</summary>
    string Folder { get; }

    /// <summary>Every file of the folder, in manifest order. Must be deterministic (same bytes on every machine).</summary>
    IEnumerable<CorpusFile> Generate();

    /// <summary>
    /// True (the default) when the format's reader walks the bytes field by field, so every error
    /// gives the byte offset and says what was "expected" there; false for a reader of a parsed
    /// structure (an ONNX protobuf), whose errors have no byte offset (-1) and name the node,
    /// tensor or attribute instead.
    /// </summary>
    bool ByteOffsets => true;
}

/// <summary>The registered formats.</summary>
internal static class CorpusFormats
{
    /// <summary>Every format with a generator; add new ones here (and their readers to <see cref="CorpusReaders"/>).</summary>
    public static IReadOnlyList<ICorpusFormat> All { get; } = [new IdxCorpus(), new ModelCorpus(), new PngCorpus(), new OnnxCorpus(), new CifarCorpus(), new ImageCorpus()];
}

/// <summary>Readers by manifest name. Each reads a file the way SharpCnn does and throws what SharpCnn throws.</summary>
internal static class CorpusReaders
{
    /// <summary>Reads <paramref name="path"/>; <paramref name="companion"/> is the manifest's ":file" argument as a path, if any.</summary>
    public delegate void Reader(string path, string? companion);

    private static readonly Dictionary<string, Reader> Readers = new()
    {
        ["idx-images"] = (path, _) => IdxReader.Read(path, 3),
        ["idx-labels"] = (path, _) => IdxReader.Read(path, 1),
        ["mnist-labels"] = (path, images) => ImageDataSet.Load(images ?? throw new ArgumentException("mnist-labels needs :imagesfile"), path),
        ["model"] = (path, _) => ModelFile.Load<float>(path),
        ["model-double"] = (path, _) => ModelFile.Load<double>(path),
        ["checkpoint"] = (path, _) => CheckpointFile.Load<float>(path),
        ["png"] = (path, _) => PngReader.Read(path),
        ["onnx"] = (path, _) => OnnxImport.Load<float>(path),
        ["onnx-double"] = (path, _) => OnnxImport.Load<double>(path),
        ["cifar10"] = (path, _) => CifarFolder.ReadBatches([path], labelBytes: 1, labelIndex: 0, classes: 10),
        ["cifar100-fine"] = (path, _) => CifarFolder.ReadBatches([path], labelBytes: 2, labelIndex: 1, classes: 100),
        ["cifar100-coarse"] = (path, _) => CifarFolder.ReadBatches([path], labelBytes: 2, labelIndex: 0, classes: 20),
        ["image"] = (path, _) => SharpCnn.Images.ImageDecoder.Load(path),
    };

    /// <summary>The reader a manifest entry names, with its companion path resolved in <paramref name="folder"/>.</summary>
    public static Action<string> Resolve(string reader, string folder)
    {
        string[] parts = reader.Split(':', 2);
        if (!Readers.TryGetValue(parts[0], out var read)) throw new ArgumentException($"unknown corpus reader '{parts[0]}'; known: {string.Join(", ", Readers.Keys)}");
        string? companion = parts.Length == 2 ? Path.Combine(folder, parts[1]) : null;
        return path => read(path, companion);
    }

    /// <summary>Registers another reader (for formats added later).</summary>
    public static void Register(string name, Reader reader) => Readers[name] = reader;
}

/// <summary>Where the corpus lives and how its manifests read and write.</summary>
internal static class CorpusFolder
{
    public const string ManifestName = "manifest.tsv";

    /// <summary>The committed corpus in the source tree when it can be found (so a regeneration is seen at once), else the copy next to the tests.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "tests", "SharpCnn.Tests", "Corpus");
                if (File.Exists(Path.Combine(dir.FullName, "SharpCnn.slnx")) && Directory.Exists(candidate)) return candidate;
            }
            return Path.Combine(AppContext.BaseDirectory, "Corpus");
        }
    }

    /// <summary>The manifest text for <paramref name="files"/>.</summary>
    public static string Manifest(ICorpusFormat format, IEnumerable<CorpusFile> files)
    {
        var text = new StringBuilder();
        text.Append($"# Hostile-input corpus '{format.Folder}': generated by {format.GetType().Name} (tests/SharpCnn.Tests/Hostile); do not edit by hand.\n");
        text.Append("# file\treader[:companion]\texpected text of the FileFormatException message, or ok\n");
        foreach (var f in files)
        {
            if (f.Name.Contains('\t') || f.Reader.Contains('\t') || f.Expected.Contains('\t') || f.Expected.Contains('\n'))
                throw new ArgumentException($"corpus entry {f.Name}: no tabs or line breaks in a manifest field");
            text.Append($"{f.Name}\t{f.Reader}\t{f.Expected}\n");
        }
        return text.ToString();
    }

    /// <summary>The entries of the manifest in <paramref name="folder"/>: (file, reader, expected).</summary>
    public static IReadOnlyList<(string File, string Reader, string Expected)> ReadManifest(string folder)
    {
        var entries = new List<(string, string, string)>();
        foreach (string line in File.ReadAllLines(Path.Combine(folder, ManifestName)))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string[] fields = line.Split('\t');
            if (fields.Length != 3) throw new FormatException($"{folder}/{ManifestName}: expected 3 tab-separated fields, found '{line}'");
            entries.Add((fields[0], fields[1], fields[2]));
        }
        return entries;
    }
}

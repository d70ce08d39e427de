// CIFAR-10 and CIFAR-100, "binary version" (Krizhevsky 2009), as their archives unpack:
//
//   CIFAR-10  (cifar-10-batches-bin/): data_batch_1.bin ... data_batch_5.bin (10,000 images each),
//             test_batch.bin (10,000), batches.meta.txt (the 10 label names, one per line).
//             Each record: 1 label byte (0-9), then 3,072 pixel bytes: the 32x32 red plane row by
//             row, then green, then blue.
//   CIFAR-100 (cifar-100-binary/): train.bin (50,000), test.bin (10,000), coarse_label_names.txt
//             (20 names) and fine_label_names.txt (100 names). Each record: the coarse label byte
//             (0-19), the fine label byte (0-99), then the same 3,072 pixel bytes.
//
// The pixel planes are exactly SharpCnn's channel-planar layout, so a record's pixels are copied as
// they are. Nothing is trusted: the file's length must be a whole number of records (the reader
// says how far into which record a cut file ends, before allocating anything), every label must be
// below the class count, and the names file must hold one name per class.

using SharpCnn.Tensors;

namespace SharpCnn.Data;

/// <summary>Which of CIFAR-100's two labels to train on.</summary>
public enum CifarLabel
{
    /// <summary>The fine label: 100 classes (apple, aquarium fish, baby, ...).</summary>
    Fine,

    /// <summary>The coarse label: 20 superclasses (aquatic mammals, fish, flowers, ...).</summary>
    Coarse,
}

/// <summary>Reads the CIFAR-10 and CIFAR-100 binary files.</summary>
public static class CifarFolder
{
    /// <summary>Bytes of pixels per record: 3 planes of 32 x 32.</summary>
    public const int PixelBytes = 3 * 32 * 32;

    /// <summary>The shape of a CIFAR image: 3 x 32 x 32.</summary>
    public static Shape ImageShape => new(3, 32, 32);

    /// <summary>The CIFAR-10 training files, in the order they are joined.</summary>
    public static IReadOnlyList<string> Cifar10TrainingFiles { get; } = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];

    /// <summary>The CIFAR-10 test file.</summary>
    public const string Cifar10TestFile = "test_batch.bin";

    /// <summary>The CIFAR-10 label names file.</summary>
    public const string Cifar10NamesFile = "batches.meta.txt";

    /// <summary>The CIFAR-100 training file.</summary>
    public const string Cifar100TrainFile = "train.bin";

    /// <summary>The CIFAR-100 test file.</summary>
    public const string Cifar100TestFile = "test.bin";

    /// <summary>The largest batch file read (1 GiB; CIFAR's are 30 and 150 MB).</summary>
    public const long MaxFileBytes = 1L << 30;

    /// <summary>The largest label-names file read (1 MiB).</summary>
    public const long MaxNamesBytes = 1 << 20;

    /// <summary>
    /// The folder holding CIFAR-10 files when <paramref name="folder"/> is one (it has <c>data_batch_1.bin</c> or
    /// <c>test_batch.bin</c>) or holds the archive's <c>cifar-10-batches-bin</c> folder; null otherwise.
    /// </summary>
    public static string? FindCifar10(string folder) =>
        Find(folder, "cifar-10-batches-bin", dir => File.Exists(Path.Combine(dir, Cifar10TrainingFiles[0])) || File.Exists(Path.Combine(dir, Cifar10TestFile)));

    /// <summary>
    /// The folder holding CIFAR-100 files when <paramref name="folder"/> is one (it has <c>train.bin</c> or
    /// <c>test.bin</c>) or holds the archive's <c>cifar-100-binary</c> folder; null otherwise.
    /// </summary>
    public static string? FindCifar100(string folder) =>
        Find(folder, "cifar-100-binary", dir => File.Exists(Path.Combine(dir, Cifar100TrainFile)) || File.Exists(Path.Combine(dir, Cifar100TestFile)));

    private static string? Find(string folder, string archiveFolder, Func<string, bool> holds)
    {
        if (holds(folder)) return folder;
        string inner = Path.Combine(folder, archiveFolder);
        return Directory.Exists(inner) && holds(inner) ? inner : null;
    }

    /// <summary>
    /// Loads CIFAR-10 from <paramref name="folder"/> (or its <c>cifar-10-batches-bin</c>): the five training
    /// batches joined in order, the test batch, and the label names from <c>batches.meta.txt</c> when it is there.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A batch file is missing.</exception>
    /// <exception cref="FileFormatException">A file is not in the CIFAR-10 layout; the message names the file, the record and the problem.</exception>
    public static (ImageDataSet Train, ImageDataSet Test) LoadCifar10(string folder)
    {
        string dir = FindCifar10(Existing(folder)) ?? throw Missing(folder, Cifar10TrainingFiles[0], "CIFAR-10");
        string[]? names = ReadNames(Path.Combine(dir, Cifar10NamesFile), 10, optional: true);
        var train = ReadBatches([.. Cifar10TrainingFiles.Select(f => Required(dir, f))], labelBytes: 1, labelIndex: 0, classes: 10, names);
        var test = ReadBatches([Required(dir, Cifar10TestFile)], labelBytes: 1, labelIndex: 0, classes: 10, names);
        return (train, test);
    }

    /// <summary>
    /// Loads CIFAR-100 from <paramref name="folder"/> (or its <c>cifar-100-binary</c>) with the fine (100 classes)
    /// or coarse (20) labels, and their names from <c>fine_label_names.txt</c> or <c>coarse_label_names.txt</c>
    /// when it is there.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A data file is missing.</exception>
    /// <exception cref="FileFormatException">A file is not in the CIFAR-100 layout.</exception>
    public static (ImageDataSet Train, ImageDataSet Test) LoadCifar100(string folder, CifarLabel label = CifarLabel.Fine)
    {
        string dir = FindCifar100(Existing(folder)) ?? throw Missing(folder, Cifar100TrainFile, "CIFAR-100");
        int classes = label == CifarLabel.Fine ? 100 : 20;
        int index = label == CifarLabel.Fine ? 1 : 0;
        string[]? names = ReadNames(Path.Combine(dir, label == CifarLabel.Fine ? "fine_label_names.txt" : "coarse_label_names.txt"), classes, optional: true);
        var train = ReadBatches([Required(dir, Cifar100TrainFile)], labelBytes: 2, labelIndex: index, classes, names);
        var test = ReadBatches([Required(dir, Cifar100TestFile)], labelBytes: 2, labelIndex: index, classes, names);
        return (train, test);
    }

    /// <summary>Loads only CIFAR-10's test batch (with the label names when they are there).</summary>
    /// <inheritdoc cref="LoadCifar10(string)"/>
    public static ImageDataSet LoadCifar10Test(string folder)
    {
        string dir = FindCifar10(Existing(folder)) ?? throw Missing(folder, Cifar10TestFile, "CIFAR-10");
        return ReadBatches([Required(dir, Cifar10TestFile)], labelBytes: 1, labelIndex: 0, classes: 10, ReadNames(Path.Combine(dir, Cifar10NamesFile), 10, optional: true));
    }

    /// <summary>Loads only CIFAR-100's test file with the chosen labels (and their names when they are there).</summary>
    /// <inheritdoc cref="LoadCifar100(string, CifarLabel)"/>
    public static ImageDataSet LoadCifar100Test(string folder, CifarLabel label = CifarLabel.Fine)
    {
        string dir = FindCifar100(Existing(folder)) ?? throw Missing(folder, Cifar100TestFile, "CIFAR-100");
        int classes = label == CifarLabel.Fine ? 100 : 20;
        string[]? names = ReadNames(Path.Combine(dir, label == CifarLabel.Fine ? "fine_label_names.txt" : "coarse_label_names.txt"), classes, optional: true);
        return ReadBatches([Required(dir, Cifar100TestFile)], labelBytes: 2, labelIndex: label == CifarLabel.Fine ? 1 : 0, classes, names);
    }

    /// <summary>
    /// Reads CIFAR batch files into one data set: records of <paramref name="labelBytes"/> label bytes (1 for
    /// CIFAR-10, 2 for CIFAR-100) and 3,072 pixel bytes, labelled by label byte <paramref name="labelIndex"/>,
    /// each below <paramref name="classes"/>.
    /// </summary>
    /// <exception cref="FileFormatException">A file is empty, not a whole number of records, or has a label out of range.</exception>
    public static ImageDataSet ReadBatches(IReadOnlyList<string> paths, int labelBytes, int labelIndex, int classes, IReadOnlyList<string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentOutOfRangeException.ThrowIfLessThan(labelBytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(labelIndex, labelBytes);
        int record = labelBytes + PixelBytes;
        var counts = new int[paths.Count];
        long total = 0;
        for (int f = 0; f < paths.Count; f++)
        {
            long length = new FileInfo(paths[f]).Length;
            counts[f] = RecordCount(paths[f], length, record, labelBytes);
            total += counts[f];
        }
        if (total * PixelBytes > Array.MaxLength)
            throw new FileFormatException(paths[^1], -1, $"the files hold {total} images, {total * PixelBytes} bytes of pixels, more than one data set holds ({Array.MaxLength} bytes)");
        var pixels = new byte[total * PixelBytes];
        var labels = new byte[total];
        int at = 0;
        for (int f = 0; f < paths.Count; f++)
        {
            using var stream = new FileStream(paths[f], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            Read(stream, paths[f], counts[f], labelBytes, labelIndex, classes, pixels.AsSpan(at * PixelBytes, counts[f] * PixelBytes), labels.AsSpan(at, counts[f]));
            at += counts[f];
        }
        return ImageDataSet.Adopt(pixels, labels, ImageShape, classes, names);
    }

    /// <summary>
    /// Reads one CIFAR batch held in memory (<paramref name="data"/>; <paramref name="name"/> names it in errors):
    /// the same checks as <see cref="ReadBatches"/>.
    /// </summary>
    /// <exception cref="FileFormatException">The bytes are not a whole number of records, or a label is out of range.</exception>
    public static ImageDataSet ReadBatch(byte[] data, string name, int labelBytes, int labelIndex, int classes)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(labelBytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(labelIndex, labelBytes);
        int count = RecordCount(name, data.Length, labelBytes + PixelBytes, labelBytes);
        var pixels = new byte[(long)count * PixelBytes];
        var labels = new byte[count];
        using var stream = new MemoryStream(data, writable: false);
        Read(stream, name, count, labelBytes, labelIndex, classes, pixels, labels);
        return ImageDataSet.Adopt(pixels, labels, ImageShape, classes, null);
    }

    private static int RecordCount(string name, long length, int record, int labelBytes)
    {
        string what = labelBytes == 1 ? "1 label byte" : $"{labelBytes} label bytes";
        if (length > MaxFileBytes)
            throw new FileFormatException(name, 0, $"expected a CIFAR batch of at most {MaxFileBytes} bytes, found {length}");
        if (length == 0)
            throw new FileFormatException(name, 0, $"the file is empty: expected records of {what} and {PixelBytes} pixel bytes");
        if (length % record != 0)
        {
            long complete = length / record;
            throw new FileFormatException(name, complete * record,
                $"expected records of {record} bytes ({what} and {PixelBytes} pixel bytes), but the file's {length} bytes end {length % record} bytes into record {complete + 1}: the file is truncated or not a CIFAR {(labelBytes == 1 ? "10" : "100")} batch");
        }
        return (int)(length / record);
    }

    private static void Read(Stream stream, string name, int count, int labelBytes, int labelIndex, int classes, Span<byte> pixels, Span<byte> labels)
    {
        Span<byte> label = stackalloc byte[labelBytes];
        int record = labelBytes + PixelBytes;
        for (int i = 0; i < count; i++)
        {
            long offset = (long)i * record;
            if (stream.ReadAtLeast(label, labelBytes, throwOnEndOfStream: false) != labelBytes
                || stream.ReadAtLeast(pixels.Slice(i * PixelBytes, PixelBytes), PixelBytes, throwOnEndOfStream: false) != PixelBytes)
                throw new FileFormatException(name, offset, $"expected record {i + 1} of {count}, but the file ends early (it changed while it was read)");
            for (int k = 0; k < labelBytes; k++)
            {
                int limit = labelBytes == 1 ? classes : k == 0 ? 20 : 100; // CIFAR-100: coarse (20), then fine (100)
                if (k == labelIndex) limit = classes;
                if (label[k] >= limit)
                    throw new FileFormatException(name, offset + k,
                        $"expected {(labelBytes == 1 ? "a label" : k == 0 ? "a coarse label" : "a fine label")} below {limit} in record {i + 1}, found {label[k]}");
            }
            labels[i] = label[labelIndex];
        }
    }

    /// <summary>
    /// Reads a label-names file: one name per line, blank lines at the end ignored, exactly
    /// <paramref name="classes"/> names; null when it is <paramref name="optional"/> and absent.
    /// </summary>
    /// <exception cref="FileFormatException">The file has another number of names, or an empty one among them.</exception>
    public static string[]? ReadNames(string path, int classes, bool optional = false)
    {
        if (!File.Exists(path))
        {
            if (optional) return null;
            throw new FileNotFoundException($"{path}: no such label-names file", path);
        }
        long length = new FileInfo(path).Length;
        if (length > MaxNamesBytes) throw new FileFormatException(path, 0, $"expected a label-names file of at most {MaxNamesBytes} bytes, found {length}");
        string[] lines = File.ReadAllText(path).ReplaceLineEndings("\n").TrimEnd('\n', ' ', '\t').Split('\n');
        var names = lines.Select(l => l.Trim()).ToArray();
        if (names.Length != classes)
            throw new FileFormatException(path, -1, $"expected {classes} label names, one per line, found {names.Length}");
        int empty = Array.FindIndex(names, string.IsNullOrEmpty);
        if (empty >= 0) throw new FileFormatException(path, -1, $"expected {classes} label names, one per line, found an empty line {empty + 1}");
        return names;
    }

    private static string Existing(string folder) =>
        Directory.Exists(folder) ? folder : throw new DirectoryNotFoundException($"{folder}: no such folder");

    private static string Required(string dir, string file)
    {
        string path = Path.Combine(dir, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{dir}: no {file} (a CIFAR folder has {string.Join(", ", file.StartsWith("data_batch", StringComparison.Ordinal) || file == Cifar10TestFile ? [.. Cifar10TrainingFiles, Cifar10TestFile] : new[] { Cifar100TrainFile, Cifar100TestFile })})", path);
    }

    private static FileNotFoundException Missing(string folder, string file, string set) =>
        new($"{folder}: no {set} files (looked for {file} there and in its {(set == "CIFAR-10" ? "cifar-10-batches-bin" : "cifar-100-binary")} folder)", Path.Combine(folder, file));
}

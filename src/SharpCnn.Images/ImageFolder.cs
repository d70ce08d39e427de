using SharpCnn.Data;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Images;

/// <summary>
/// The files of an image folder: one subfolder per class (<c>root/cat/*.jpg</c>), optionally with
/// <c>train/</c> and <c>test/</c> above the class folders (<c>root/train/cat/...</c>, <c>root/test/cat/...</c>).
/// </summary>
/// <param name="Root">The folder given.</param>
/// <param name="ClassNames">The class folders' names, sorted by ordinal comparison: class i is the i-th.</param>
/// <param name="Train">The training images (all images when there is no train/test split), with their labels.</param>
/// <param name="Test">The test images, or null when the folder has no <c>test/</c>.</param>
public sealed record ImageFolderLayout(string Root, IReadOnlyList<string> ClassNames, IReadOnlyList<LabelledFile> Train, IReadOnlyList<LabelledFile>? Test);

/// <summary>One image file and its class.</summary>
/// <param name="Path">The file.</param>
/// <param name="Label">Its class: the index of its class folder among the sorted class names.</param>
public readonly record struct LabelledFile(string Path, int Label);

/// <summary>How far loading has come: called on the loading thread about ten times a second.</summary>
/// <param name="Set">"train" or "test".</param>
/// <param name="Done">Images decoded (or found unreadable) so far.</param>
/// <param name="Total">Images in the set.</param>
/// <param name="Unreadable">Images that did not decode so far.</param>
public sealed record ImageLoadProgress(string Set, int Done, int Total, int Unreadable);

/// <summary>A file that did not decode, and why.</summary>
/// <param name="Path">The file.</param>
/// <param name="Reason">The decoder's message.</param>
public sealed record UnreadableImage(string Path, string Reason);

/// <summary>An image folder loaded: the data sets and what happened on the way.</summary>
/// <param name="Train">The training images (null when only the test set was loaded).</param>
/// <param name="Test">The test images, or null when the folder has no <c>test/</c>.</param>
/// <param name="Skipped">Files that did not decode and were skipped (only with <see cref="DataSelection.SkipUnreadable"/>).</param>
/// <param name="Converted">Images whose channels were converted (colour to grey, or grey to colour) to the data set's.</param>
/// <param name="Resized">Images resized to the data set's size.</param>
public sealed record ImageFolderData(ImageDataSet? Train, ImageDataSet? Test, IReadOnlyList<UnreadableImage> Skipped, int Converted, int Resized);

/// <summary>What went wrong loading an image folder, with the files concerned.</summary>
public sealed class ImageFolderException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ImageFolderException(string message, IReadOnlyList<UnreadableImage> unreadable, bool sizeMismatch, Exception? inner = null)
        : base(message, inner)
    {
        Unreadable = unreadable;
        SizeMismatch = sizeMismatch;
    }

    /// <summary>Every file that did not decode (empty when the problem is another).</summary>
    public IReadOnlyList<UnreadableImage> Unreadable { get; }

    /// <summary>True when the images differ in size and no size to resize them to was given.</summary>
    public bool SizeMismatch { get; }
}

/// <summary>
/// Reads an image folder the way Keras's <c>image_dataset_from_directory</c> and torchvision's
/// <c>ImageFolder</c> do: each subfolder of the root is a class, named by the folder, classes sorted by
/// name; every JPEG, PNG, WebP, BMP and GIF file below a class folder (at any depth, by its name's ending)
/// is an image of that class; other files, hidden folders (a name starting with '.') and files directly in
/// the root are ignored. With <c>train/</c> (and <c>test/</c>) folders above the class folders, the classes
/// are <c>train/</c>'s and <c>test/</c> becomes the test set.
///
/// Loading decodes every image in parallel (on <see cref="Parallelism.ThreadCount"/> threads) straight
/// into one byte array per set, each image at its place in the sorted order, so the result never depends
/// on the thread count. Before decoding it works out the images' shape (the size given, else the first
/// image's; the channels given, else 1 when the first image of every class is grey, else 3) and checks the
/// pixels fit in memory, failing at once when they do not.
/// </summary>
public static class ImageFolder
{
    /// <summary>Names of the split folders, as they are looked for.</summary>
    public const string TrainFolder = "train", TestFolder = "test";

    /// <summary>Most classes a data set holds (labels are bytes).</summary>
    public const int MaxClasses = 256;

    /// <summary>True when <paramref name="folder"/> looks like an image folder: a subfolder (or train/ subfolder) holding image files.</summary>
    public static bool Looks(string folder)
    {
        if (!Directory.Exists(folder)) return false;
        string classes = Directory.Exists(Path.Combine(folder, TrainFolder)) ? Path.Combine(folder, TrainFolder) : folder;
        return Subfolders(classes).Any(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Any(ImageDecoder.HasImageExtension));
    }

    /// <summary>Lists the classes and image files of the folder at <paramref name="root"/> without reading them.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ImageFolderException">The folder has fewer than two class folders, more than <see cref="MaxClasses"/>, no images, or a test class the training set lacks.</exception>
    public static ImageFolderLayout Scan(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"{root}: no such folder");
        string train = Path.Combine(root, TrainFolder), test = Path.Combine(root, TestFolder);
        bool split = Directory.Exists(train);
        string classRoot = split ? train : root;
        string[] names = [.. Subfolders(classRoot).Select(Path.GetFileName).Select(n => n!).Order(StringComparer.Ordinal)];
        if (names.Length < 2)
            throw new ImageFolderException($"{classRoot}: found {names.Length} class folder{(names.Length == 1 ? "" : "s")}; an image folder has one subfolder per class, at least two ({classRoot}/cat/*.jpg, {classRoot}/dog/*.jpg)", [], false);
        if (names.Length > MaxClasses)
            throw new ImageFolderException($"{classRoot}: found {names.Length} class folders; SharpCnn's data sets hold at most {MaxClasses} classes", [], false);
        var trainFiles = Files(classRoot, names, null);
        if (trainFiles.Count == 0)
            throw new ImageFolderException($"{classRoot}: the class folders hold no images ({string.Join(", ", ImageDecoder.Extensions)})", [], false);
        List<LabelledFile>? testFiles = null;
        if (split && Directory.Exists(test))
        {
            var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
            foreach (string dir in Subfolders(test))
                if (!index.ContainsKey(Path.GetFileName(dir)))
                    throw new ImageFolderException($"{dir}: the test set has a class '{Path.GetFileName(dir)}' that {train} does not have (its classes: {string.Join(", ", names)})", [], false);
            testFiles = Files(test, names, index);
        }
        return new ImageFolderLayout(root, names, trainFiles, testFiles);
    }

    /// <summary>
    /// Loads the image folder <paramref name="selection"/> names (<see cref="DataSelection.Source"/>), shaped as it
    /// says (size, channels), skipping unreadable files when it says so. Limits and the validation split are the
    /// caller's (see <c>DataFolder.Load</c>).
    /// </summary>
    /// <param name="selection">The folder and how to shape its images.</param>
    /// <param name="progress">Called on the calling thread about ten times a second while images decode.</param>
    /// <param name="cancellation">Stops loading between images.</param>
    /// <exception cref="ImageFolderException">An image does not decode (and skipping is off), the images differ in size and no size was given, or the pixels would not fit in memory.</exception>
    public static ImageFolderData Load(DataSelection selection, Action<ImageLoadProgress>? progress = null, CancellationToken cancellation = default) =>
        Load(selection, testOnly: false, progress, cancellation);

    /// <summary>
    /// As <see cref="Load(DataSelection, Action{ImageLoadProgress}?, CancellationToken)"/>; with <paramref name="testOnly"/>, a folder
    /// with <c>test/</c> loads only its test images (the training set is then empty of images but keeps the classes).
    /// </summary>
    /// <inheritdoc cref="Load(DataSelection, Action{ImageLoadProgress}?, CancellationToken)"/>
    public static ImageFolderData Load(DataSelection selection, bool testOnly, Action<ImageLoadProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(selection);
        if (selection.Problem() is { } problem) throw new ArgumentException(problem, nameof(selection));
        string root = selection.Source ?? throw new ArgumentException("an image folder needs a source folder", nameof(selection));
        var layout = Scan(root);
        var shape = ChooseShape(layout, selection);
        bool skipTrain = testOnly && layout.Test is not null;
        long images = (skipTrain ? 0 : layout.Train.Count) + (layout.Test?.Count ?? 0);
        CheckMemory(root, images, shape);
        var train = skipTrain ? null : LoadSet("train", layout.Train, shape, selection, layout.ClassNames, progress, cancellation);
        var test = layout.Test is null ? null : LoadSet("test", layout.Test, shape, selection, layout.ClassNames, progress, cancellation);
        return new ImageFolderData(train?.Data, test?.Data, [.. train?.Skipped ?? [], .. test?.Skipped ?? []], (train?.Converted ?? 0) + (test?.Converted ?? 0), (train?.Resized ?? 0) + (test?.Resized ?? 0));
    }

    /// <summary>The shape every image is brought to: the size given or the first image's, the channels given or the first images' kind.</summary>
    private static Shape ChooseShape(ImageFolderLayout layout, DataSelection selection)
    {
        // The first image of every class says whether the set is grey: a few header reads, not a pass over everything.
        var firsts = layout.Train.GroupBy(f => f.Label).Select(g => g.First()).ToList();
        var headers = new ImageHeader[firsts.Count];
        Parallel.For(0, firsts.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism.ThreadCount }, i =>
        {
            try
            {
                headers[i] = ImageDecoder.ReadHeader(ImageDecoder.ReadFile(firsts[i].Path), firsts[i].Path);
            }
            catch (Exception e) when (e is FileFormatException or IOException or UnauthorizedAccessException)
            {
                headers[i] = null!; // decided by the images that do read; the full pass reports this one
            }
        });
        var read = headers.Where(h => h is not null).ToList();
        if (read.Count == 0 && (selection.Channels == 0 || selection.Width == 0))
        {
            // Every probed image is unreadable: report the first, as the full pass would.
            ImageDecoder.ReadHeader(ImageDecoder.ReadFile(firsts[0].Path), firsts[0].Path);
        }
        int channels = selection.Channels != 0 ? selection.Channels : read.All(h => h.IsGrey) ? 1 : 3;
        var (width, height) = selection.Width != 0 ? (selection.Width, selection.Height) : (read[0].Width, read[0].Height);
        return new Shape(channels, height, width);
    }

    /// <summary>Fails when <paramref name="images"/> images of <paramref name="shape"/> cannot be held: more than an array holds, or than the memory available.</summary>
    public static void CheckMemory(string root, long images, Shape shape)
    {
        long bytes = images * shape.Size;
        if (bytes > Array.MaxLength)
            throw new ImageFolderException($"{root}: {images:N0} images of {shape} need {Gib(bytes)} of memory, more than one data set holds ({Gib(Array.MaxLength)}): use a smaller size, fewer channels or fewer images", [], false);
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (available > 0 && bytes > available * 3 / 4)
            throw new ImageFolderException($"{root}: {images:N0} images of {shape} need {Gib(bytes)} of memory; this machine has {Gib(available)} for the process: use a smaller size, fewer channels or fewer images", [], false);
    }

    private sealed record LoadedSet(ImageDataSet Data, IReadOnlyList<UnreadableImage> Skipped, int Converted, int Resized);

    private static LoadedSet LoadSet(string set, IReadOnlyList<LabelledFile> files, Shape shape, DataSelection selection, IReadOnlyList<string> names,
        Action<ImageLoadProgress>? progress, CancellationToken cancellation)
    {
        int count = files.Count, size = shape.Size;
        var pixels = new byte[(long)count * size];
        var labels = new byte[count];
        var errors = new string?[count];
        var sizes = new string?[count];
        bool resize = selection.Width != 0;
        int done = 0, unreadable = 0, converted = 0, resized = 0, mismatch = -1;
        var work = Task.Run(() => Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism.ThreadCount, CancellationToken = cancellation }, i =>
        {
            var file = files[i];
            labels[i] = (byte)file.Label;
            try
            {
                var image = ImageDecoder.Decode(ImageDecoder.ReadFile(file.Path), file.Path);
                if (image.Channels != shape.Channels)
                {
                    image = image.ToChannels(shape.Channels);
                    Interlocked.Increment(ref converted);
                }
                if (image.Width != shape.Width || image.Height != shape.Height)
                {
                    if (!resize)
                    {
                        // Keep the first mismatch in file order (the loop runs out of order).
                        sizes[i] = $"{image.Width}x{image.Height}";
                        int seen;
                        do seen = Volatile.Read(ref mismatch);
                        while ((seen < 0 || i < seen) && Interlocked.CompareExchange(ref mismatch, i, seen) != seen);
                        return;
                    }
                    image = image.Resize(shape.Width, shape.Height);
                    Interlocked.Increment(ref resized);
                }
                image.Pixels.CopyTo(pixels.AsSpan(i * size, size));
            }
            catch (Exception e) when (e is FileFormatException or IOException or UnauthorizedAccessException)
            {
                errors[i] = e is FileFormatException f ? f.Problem : e.Message;
                Interlocked.Increment(ref unreadable);
            }
            finally
            {
                Interlocked.Increment(ref done);
            }
        }), cancellation);
        while (!work.Wait(100))
            progress?.Invoke(new ImageLoadProgress(set, Volatile.Read(ref done), count, Volatile.Read(ref unreadable)));
        work.GetAwaiter().GetResult(); // rethrows a cancellation or a bug
        progress?.Invoke(new ImageLoadProgress(set, count, count, unreadable));

        if (mismatch >= 0)
        {
            var first = files[mismatch];
            throw new ImageFolderException($"{first.Path}: the image is {sizes[mismatch]}, the first image of {files[0].Path} {shape.Width}x{shape.Height}; the images differ in size, so give a size to resize them all to on load", [], true);
        }
        var bad = new List<UnreadableImage>();
        for (int i = 0; i < count; i++)
            if (errors[i] is { } reason) bad.Add(new UnreadableImage(files[i].Path, reason));
        if (bad.Count > 0 && !selection.SkipUnreadable)
        {
            string more = bad.Count > 1 ? $" ({bad.Count} of the {count} {set} images do not decode)" : "";
            throw new ImageFolderException($"{bad[0].Path}: {bad[0].Reason}{more}", bad, false);
        }
        if (bad.Count == count)
            throw new ImageFolderException($"{Path.GetDirectoryName(files[0].Path)}: none of the {count} {set} images decodes (the first: {bad[0].Path}: {bad[0].Reason})", bad, false);
        if (bad.Count > 0)
        {
            // Close the gaps: every readable image moves down to its place among the readable ones, in order.
            int kept = 0;
            for (int i = 0; i < count; i++)
            {
                if (errors[i] is not null) continue;
                if (kept != i)
                {
                    pixels.AsSpan(i * size, size).CopyTo(pixels.AsSpan(kept * size, size));
                    labels[kept] = labels[i];
                }
                kept++;
            }
            Array.Resize(ref pixels, kept * size);
            Array.Resize(ref labels, kept);
        }
        return new LoadedSet(ImageDataSet.Adopt(pixels, labels, shape, names.Count, names), bad, converted, resized);
    }

    private static List<LabelledFile> Files(string classRoot, string[] names, Dictionary<string, int>? index)
    {
        var files = new List<LabelledFile>();
        foreach (string dir in Subfolders(classRoot).OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            int label = index is null ? Array.IndexOf(names, name) : index[name];
            var paths = Directory.EnumerateFiles(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System })
                .Where(p => ImageDecoder.HasImageExtension(p) && !Path.GetRelativePath(dir, p).Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.')))
                .Order(StringComparer.Ordinal);
            foreach (string path in paths) files.Add(new LabelledFile(path, label));
        }
        return files;
    }

    private static IEnumerable<string> Subfolders(string folder) =>
        Directory.EnumerateDirectories(folder).Where(d => !Path.GetFileName(d).StartsWith('.'));

    private static string Gib(long bytes) => bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F1} GiB" : $"{bytes / (double)(1 << 20):F0} MiB";
}

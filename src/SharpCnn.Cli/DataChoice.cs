using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SharpCnn.Data;
using SharpCnn.Images;
using Spectre.Console;

namespace SharpCnn.Cli;

/// <summary>
/// The data options of <c>train</c>, <c>eval</c> and <c>export-onnx</c> (<c>--data</c>, <c>--size</c>, <c>--channels</c>,
/// <c>--label</c>, <c>--skip-unreadable</c>), turned into a <see cref="DataSelection"/> and loaded with a progress bar
/// (in a terminal) and a summary line on standard error.
/// </summary>
internal sealed class DataChoice
{
    public Option<string?> Data { get; }

    public Option<string?> Size { get; } = new("--size")
    {
        Description = "Resize every image to WxH on load (image folders, and to change the size of IDX or CIFAR images); default: the images' own size",
        HelpName = "WxH",
    };

    public Option<int> Channels { get; } = new Option<int>("--channels")
    {
        Description = "Convert every image to 1 channel (luma 0.299 R + 0.587 G + 0.114 B) or 3 (grey repeated); default: as the data come (an image folder: 1 if its first images are grey, else 3)",
        HelpName = "1|3",
    };

    public Option<string> Label { get; } = new("--label")
    {
        Description = "CIFAR-100: train on the fine labels (100 classes) or the coarse ones (20)",
        HelpName = "fine|coarse",
        DefaultValueFactory = _ => "fine",
    };

    public Option<bool> SkipUnreadable { get; } = new("--skip-unreadable")
    {
        Description = "Image folders: skip files that do not decode, and list them, instead of stopping at the first",
    };

    public DataChoice(string description)
    {
        Data = CommonOptions.Data(description);
        Channels.Validators.Add(r =>
        {
            int value;
            try
            {
                value = r.GetValueOrDefault<int>();
            }
            catch (InvalidOperationException)
            {
                return;
            }
            if (value is not (1 or 3)) r.AddError($"--channels must be 1 or 3, not {value}");
        });
        Label.AcceptOnlyFromAmong("fine", "coarse");
        Label.CompletionSources.Add("fine", "coarse");
    }

    /// <summary>Every data option, to add to a command.</summary>
    public IEnumerable<Option> All => [Data, Size, Channels, Label, SkipUnreadable];

    /// <summary>The selection the options describe (limits and validation are the command's).</summary>
    public DataSelection Selection(ParseResult r)
    {
        var (width, height) = r.GetValue(Size) is { } size ? ParseSize(size) : (0, 0);
        var selection = new DataSelection
        {
            Source = r.GetValue(Data),
            Width = width,
            Height = height,
            Channels = r.Given(Channels) ? r.GetValue(Channels) : 0,
            Label = r.GetValue(Label) == "coarse" ? CifarLabel.Coarse : CifarLabel.Fine,
            SkipUnreadable = r.GetValue(SkipUnreadable),
        };
        return selection;
    }

    /// <summary><c>--size WxH</c> as (width, height).</summary>
    public static (int Width, int Height) ParseSize(string text)
    {
        string[] parts = text.ToLowerInvariant().Split('x');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h)
            && w is >= 1 and <= 16384 && h is >= 1 and <= 16384)
            return (w, h);
        throw new ArgumentException($"--size must be WIDTHxHEIGHT with each from 1 to 16384, like 32x32, not '{text}'");
    }

    /// <summary>
    /// Loads <paramref name="selection"/>: a progress bar on <paramref name="error"/> while an image folder decodes (in a
    /// terminal), then one line saying what was loaded, skipped, converted and resized, and how long it took.
    /// </summary>
    public static LoadedData Load(DataSelection selection, DataParts parts, TextWriter error, bool quiet = false)
    {
        var clock = Stopwatch.StartNew();
        LoadedData loaded;
        try
        {
            var console = Terminal.Create(error, out bool live);
            live = live || (ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected && console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi);
            bool folder = selection.Source is not null && DataFolder.Detect(selection.Source) == DataSourceKind.ImageFolder;
            if (live && folder && !quiet)
            {
                LoadedData? result = null;
                console.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(context =>
                    {
                        var tasks = new Dictionary<string, ProgressTask>();
                        result = DataFolder.Load(selection, parts, p =>
                        {
                            if (!tasks.TryGetValue(p.Set, out var task)) tasks[p.Set] = task = context.AddTask($"decoding {p.Set} images", maxValue: p.Total);
                            task.Value = p.Done;
                            if (p.Unreadable > 0) task.Description = $"decoding {p.Set} images ({p.Unreadable} unreadable)";
                        });
                    });
                loaded = result!;
            }
            else
            {
                loaded = DataFolder.Load(selection, parts);
            }
        }
        catch (ImageFolderException e) when (e.SizeMismatch)
        {
            throw new ArgumentException($"{e.Message} (--size WxH)", e);
        }
        catch (ImageFolderException e) when (e.Unreadable.Count > 0 && !selection.SkipUnreadable)
        {
            throw new ArgumentException($"{e.Message}; --skip-unreadable skips such files and lists them", e);
        }
        if (!quiet && loaded.Kind == DataSourceKind.ImageFolder)
        {
            int images = (loaded.Train?.Count ?? 0) + (loaded.Validation?.Count ?? 0) + (loaded.Test?.Count ?? 0);
            var shape = (loaded.Train ?? loaded.Test)!.Shape;
            error.WriteLine($"loaded {images:N0} images of {shape} from {loaded.Label} in {clock.Elapsed.TotalSeconds:F1} s"
                + (loaded.Converted > 0 ? $"; {loaded.Converted:N0} converted to {shape.Channels} channel{(shape.Channels == 1 ? "" : "s")}" : "")
                + (loaded.Resized > 0 ? $"; {loaded.Resized:N0} resized" : ""));
            if (loaded.Skipped.Count > 0)
            {
                error.WriteLine($"skipped {loaded.Skipped.Count:N0} unreadable image{(loaded.Skipped.Count == 1 ? "" : "s")}:");
                foreach (var s in loaded.Skipped.Take(20)) error.WriteLine($"  {s.Path}: {s.Reason}");
                if (loaded.Skipped.Count > 20) error.WriteLine($"  ... and {loaded.Skipped.Count - 20:N0} more");
            }
        }
        return loaded;
    }

    /// <summary>
    /// The training and test sets of an IDX, CIFAR or image folder (<paramref name="folder"/>; null: the bundled digits),
    /// cut to the limits: what <c>train</c> and <c>export-onnx</c> read. A folder without a test set is refused.
    /// </summary>
    public static (ImageDataSet Train, ImageDataSet Test, string Label) Load(string? folder, int trainLimit = 0, int testLimit = 0)
    {
        var loaded = DataFolder.Load(new DataSelection { Source = folder, TrainLimit = trainLimit, TestLimit = testLimit });
        var test = loaded.Test ?? throw new ArgumentException($"{folder}: the image folder has no test/ folder beside train/; this command needs a test set");
        return (loaded.Train!, test, loaded.Label);
    }
}

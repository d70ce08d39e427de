using System.Text.Json.Serialization;

namespace SharpCnn.Data;

/// <summary>
/// Which data a run trains and evaluates on, in one record: the source folder, how its images are
/// shaped on load, how much of it is used and how a validation set is split off. A loader
/// (SharpCnn.Images' <c>DataFolder.Load</c>) turns it into data sets; a checkpoint can store it, so a
/// resumed run loads the same data again. The defaults select the bundled digits as they are.
/// </summary>
public sealed record DataSelection
{
    /// <summary>The folder (MNIST-format IDX files, CIFAR-10 or CIFAR-100 binary files, or an image folder); null for the bundled digits.</summary>
    [JsonPropertyName("source")] public string? Source { get; init; }

    /// <summary>Use only the first N training images (0 = all), taken before the validation split.</summary>
    [JsonPropertyName("train_limit")] public int TrainLimit { get; init; }

    /// <summary>Use only the first N test images (0 = all).</summary>
    [JsonPropertyName("test_limit")] public int TestLimit { get; init; }

    /// <summary>Share of each class of the training images held out for validation (0 = none), split by <see cref="ImageDataSet.SplitValidation"/>.</summary>
    [JsonPropertyName("validation")] public double ValidationFraction { get; init; }

    /// <summary>Seed of the validation split.</summary>
    [JsonPropertyName("validation_seed")] public ulong ValidationSeed { get; init; } = 1;

    /// <summary>Image folders: resize every image to this width on load (0 = keep the images' own size, which must then agree).</summary>
    [JsonPropertyName("width")] public int Width { get; init; }

    /// <summary>Image folders: resize every image to this height on load (0 = keep the images' own size).</summary>
    [JsonPropertyName("height")] public int Height { get; init; }

    /// <summary>Channels to convert every image to, 1 (luma) or 3 (grey repeated); 0 = as the data come (image folders: 1 when the sampled images are all grey, else 3).</summary>
    [JsonPropertyName("channels")] public int Channels { get; init; }

    /// <summary>CIFAR-100: train on the fine (100) or coarse (20) labels.</summary>
    [JsonPropertyName("label"), JsonConverter(typeof(JsonStringEnumConverter<CifarLabel>))] public CifarLabel Label { get; init; } = CifarLabel.Fine;

    /// <summary>Image folders: skip files that do not decode (and report them) instead of stopping at the first.</summary>
    [JsonPropertyName("skip_unreadable")] public bool SkipUnreadable { get; init; }

    /// <summary>Why this selection cannot be used, or null when it can (library messages; the CLI names its options).</summary>
    public string? Problem()
    {
        if (TrainLimit < 0 || TestLimit < 0) return $"limits must be 0 (all) or positive, not {TrainLimit} and {TestLimit}";
        if (!(ValidationFraction >= 0 && ValidationFraction < 1)) return $"the validation fraction must be at least 0 and below 1, not {ValidationFraction}";
        if (Width < 0 || Height < 0 || (Width == 0) != (Height == 0)) return $"the image size must be given as both a width and a height of at least 1, not {Width}x{Height}";
        if (Width > 16384 || Height > 16384) return $"the image size {Width}x{Height} is larger than the 16384x16384 a data set takes";
        if (Channels is not (0 or 1 or 3)) return $"images have 1 (grey) or 3 (colour) channels, not {Channels}";
        if (!Enum.IsDefined(Label)) return $"unknown CIFAR-100 label {Label}";
        return null;
    }
}

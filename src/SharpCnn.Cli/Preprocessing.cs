using System.Globalization;
using SharpCnn.Data;
using SharpCnn.Layers;
using SharpCnn.Model;

namespace SharpCnn.Cli;

/// <summary>
/// What <c>train</c>'s <c>--augment</c> and <c>--normalize</c> add to a new model: augmentation layers, then a
/// normalisation layer, in front of its layers; and, when the data have another number of classes than the model's
/// last dense layer gives, that layer resized to them.
/// </summary>
internal static class Preprocessing
{
    /// <summary>The <c>--augment</c> words and the layers they become.</summary>
    public const string AugmentHelp = "crop{p} (pad by p zeros, crop back at a random place), shift{p} (move by up to p pixels, border repeated), flip (mirror left-right half the time)";

    /// <summary><c>--augment crop4,flip</c> as layer descriptions (<c>randcrop4</c>, <c>randflip</c>), in the order given.</summary>
    public static IReadOnlyList<LayerSpec> Augmentations(string? list)
    {
        if (string.IsNullOrWhiteSpace(list) || list.Trim() == "none") return [];
        var layers = new List<LayerSpec>();
        foreach (string raw in list.Split(','))
        {
            string word = raw.Trim().ToLowerInvariant();
            string token = word switch
            {
                "flip" or "hflip" => "randflip",
                _ when word.StartsWith("crop", StringComparison.Ordinal) => "rand" + word,
                _ when word.StartsWith("shift", StringComparison.Ordinal) => "rand" + word,
                _ => throw new ArgumentException($"--augment: unknown augmentation '{raw.Trim()}'; expected a comma-separated list of {AugmentHelp}"),
            };
            try
            {
                layers.Add(LayerKinds.Parse(new LayerToken(token, 0)));
            }
            catch (ModelSpecException e)
            {
                throw new ArgumentException($"--augment: '{raw.Trim()}': {e.Reason}", e);
            }
        }
        return layers;
    }

    /// <summary>What <c>--normalize</c> asks for.</summary>
    internal sealed record NormalizeChoice(bool Add, double[]? Mean, double[]? Std);

    /// <summary><c>--normalize none|auto|M1,M2,M3/S1,S2,S3</c>.</summary>
    public static NormalizeChoice? ParseNormalize(string? text)
    {
        if (text is null) return null;
        string t = text.Trim().ToLowerInvariant();
        if (t == "none") return new NormalizeChoice(false, null, null);
        if (t == "auto") return new NormalizeChoice(true, null, null);
        string[] parts = t.Split('/');
        if (parts.Length == 2 && Numbers(parts[0]) is { } mean && Numbers(parts[1]) is { } std)
        {
            if (std.Any(s => !(s > 0))) throw new ArgumentException($"--normalize {text}: every standard deviation must be above 0");
            return new NormalizeChoice(true, mean, std);
        }
        throw new ArgumentException($"--normalize must be none, auto, or MEANS/STDS with one value or one per channel, like 0.49,0.48,0.45/0.25,0.24,0.26; not '{text}'");

        static double[]? Numbers(string list)
        {
            var values = new List<double>();
            foreach (string v in list.Split(','))
            {
                if (!double.TryParse(v.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d)) return null;
                values.Add(d);
            }
            return [.. values];
        }
    }

    /// <summary>
    /// The spec of a new model with the augmentations and (when asked) a normalisation in front, and its last dense
    /// layer fitted to <paramref name="classes"/> when it gives another number of outputs; <paramref name="note"/> says
    /// what was changed, for the report.
    /// </summary>
    public static string Prepare(string spec, IReadOnlyList<LayerSpec> augment, bool normalize, int classes, bool fitClasses, IReadOnlyList<string>? names, out string? note)
    {
        var parsed = ModelSpec.Parse(spec);
        var layers = parsed.Layers.ToList();
        var notes = new List<string>();
        if (normalize && !layers.OfType<NormalizeSpec>().Any()) layers.Insert(0, NormalizeSpec.Instance);
        layers.InsertRange(0, augment);
        // The last layer that sets the output's size (what follows it keeps the size: activations, -max, norm).
        if (layers.LastOrDefault(l => l.Kind.Traits.HasFlag(LayerTraits.ChangesShape)) is DenseSpec dense && dense.Outputs != classes && classes >= 2)
        {
            // A preset is fitted; a spec written by hand is the user's, but a named set of classes it does not fit is a mistake worth a message.
            if (!fitClasses)
            {
                if (names is null) goto done;
                throw new ArgumentException($"--model: the spec's last layer {dense.Token} gives {dense.Outputs} outputs, the data have {classes} classes ({string.Join(", ", names.Take(5))}{(names.Count > 5 ? ", ..." : "")}): end the spec in dense{classes}");
            }
            int at = layers.LastIndexOf(dense);
            layers[at] = dense with { Outputs = classes };
            notes.Add($"last layer {dense.Token} → {layers[at].Token} for the data's {classes} classes");
        }
    done:
        note = notes.Count == 0 ? null : string.Join("; ", notes);
        return new ModelSpec(layers, parsed.Input).Text;
    }

    /// <summary>Sets every <c>normalize</c> layer of a new network: to the given values, or to the training set's per-channel statistics.</summary>
    /// <returns>What it was set to, for the report, or null when the network has no normalisation.</returns>
    public static string? SetStatistics<T>(Network<T> network, ImageDataSet train, NormalizeChoice? choice) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var layers = network.Layers.OfType<Normalize<T>>().ToList();
        if (layers.Count == 0) return null;
        if (choice is { Mean: { } mean, Std: { } std })
        {
            foreach (var layer in layers) layer.SetStatistics(mean, std);
            return $"given: mean {Format(mean)}, std {Format(std)}";
        }
        var stats = train.ChannelStatistics();
        if (stats.Mean.Count != layers[0].InputShape.Channels)
            throw new ArgumentException($"the data have {stats.Mean.Count} channels, the normalisation takes {layers[0].InputShape.Channels}");
        foreach (var layer in layers) layer.SetStatistics([.. stats.Mean], [.. stats.Std]);
        return $"measured on the {train.Count:N0} training images: mean {Format(stats.Mean)}, std {Format(stats.Std)}";

        static string Format(IEnumerable<double> values) => string.Join(",", values.Select(v => v.ToString("0.####", CultureInfo.InvariantCulture)));
    }
}

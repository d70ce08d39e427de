using System.Globalization;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Training;

namespace SharpCnn.Pictures;

/// <summary>
/// Pictures of a model and its training, for people who would rather look than read:
/// <list type="bullet">
/// <item>the first layer's kernels as PNG: one tile per kernel (per output map and input channel), grey where the
///   weight is 0, white for the kernel's largest positive weight and black for minus its largest magnitude
///   (each kernel scaled by its own max |w|). A first dense layer on image input is drawn the same way, each
///   unit's weights laid out as the input image ("templates");</item>
/// <item>the feature maps of one sample as PNG: the input, then every layer whose output is still an image
///   (height or width above 1), one tile per channel, each tile stretched from its own minimum (black) to its
///   maximum (white); a constant map is black;</item>
/// <item>the confusion matrix as PNG: rows are true classes, columns predicted classes, each cell shaded by the
///   fraction of its row (white 0 to dark blue 1) and labelled with its count, recall at the end of each row.</item>
/// </list>
/// Every file is written atomically (temporary file, then rename). The charts of the training itself (loss,
/// accuracy, learning rate, gradient norms) are drawn by the SharpCnn.Charts project (ScottPlot), which needs
/// native code this library keeps out.
/// </summary>
public static class ModelPictures
{
    private const int Margin = 12, Gap = 2, LabelScale = 2, FeatureTile = 56, KernelTile = 40, MaxColumns = 16;
    private static readonly (byte, byte, byte) Ink = (30, 30, 30), Faint = (110, 110, 110);

    /// <summary>The file names <see cref="SaveAll"/> writes.</summary>
    public static IReadOnlyList<string> FileNames { get; } = ["kernels.png", "feature-maps.png", "confusion.png"];

    /// <summary>Draws the first convolution's kernels (or a first dense layer's templates) to a PNG file.</summary>
    /// <exception cref="ArgumentException">The network starts with neither a convolution nor a dense layer on its input image.</exception>
    public static void SaveKernels<T>(Network<T> network, string path) where T : unmanaged, IFloatingPointIeee754<T> =>
        DrawKernels(network).Save(path);

    /// <summary>Runs <paramref name="sample"/> (one input, the network's <see cref="Network{T}.InputShape"/>) through the network and draws every image-shaped activation to a PNG file.</summary>
    public static void SaveFeatureMaps<T>(Network<T> network, ReadOnlySpan<T> sample, string path) where T : unmanaged, IFloatingPointIeee754<T> =>
        DrawFeatureMaps(network, sample).Save(path);

    /// <summary>The first layer's kernels (see <see cref="SaveKernels{T}(Network{T}, string)"/>) as PNG bytes, or null when the network has no first convolution or dense layer on its input image.</summary>
    public static byte[]? KernelsPng<T>(Network<T> network) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(network);
        return FirstWeights(network) is null ? null : Png(DrawKernels(network));
    }

    /// <summary>The feature maps of <paramref name="sample"/> (see <see cref="SaveFeatureMaps{T}(Network{T}, ReadOnlySpan{T}, string)"/>) as PNG bytes; runs the network in evaluation mode and puts its mode back.</summary>
    public static byte[] FeatureMapsPng<T>(Network<T> network, ReadOnlySpan<T> sample) where T : unmanaged, IFloatingPointIeee754<T> =>
        Png(DrawFeatureMaps(network, sample));

    private static byte[] Png(PixelCanvas canvas) => PngWriter.Encode(canvas.Rgb, canvas.Width, canvas.Height, Data.PngColorType.Rgb);

    /// <summary>Draws the confusion matrix of <paramref name="evaluation"/> to a PNG file.</summary>
    public static void SaveConfusion(Evaluation evaluation, string path) => DrawConfusion(evaluation).Save(path);

    /// <summary>
    /// Writes every picture into <paramref name="directory"/> (created if needed) under the names in
    /// <see cref="FileNames"/>. The kernels picture is skipped (and left out of the list) when the network has no
    /// first convolution or dense layer to draw.
    /// </summary>
    /// <returns>The paths written.</returns>
    public static IReadOnlyList<string> SaveAll<T>(string directory, Network<T> network, Evaluation evaluation, ReadOnlySpan<T> sample)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(network);
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        string P(string name) => Path.Combine(directory, name);
        if (FirstWeights(network) is not null)
        {
            SaveKernels(network, P("kernels.png"));
            written.Add(P("kernels.png"));
        }
        SaveFeatureMaps(network, sample, P("feature-maps.png"));
        written.Add(P("feature-maps.png"));
        SaveConfusion(evaluation, P("confusion.png"));
        written.Add(P("confusion.png"));
        return written;
    }

    /// <summary>The weights drawn as kernels: those of the first layer with trained parameters (augmentation and normalisation in front of it are passed over), when they are pictures of the input image (<see cref="Layer{T}.FiltersOver"/>).</summary>
    internal static (int Layer, string Token, T[] Values, int Outputs, int Channels, int Height, int Width)? FirstWeights<T>(Network<T> network)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < network.Layers.Count; k++)
        {
            var layer = network.Layers[k];
            if (layer.FiltersOver(network.InputShape) is { } f) return (k + 1, layer.Token, f.Values, f.Count, f.Channels, f.Height, f.Width);
            if (layer.Parameters.Any(p => p.IsTrained)) return null; // a normalisation's state is no obstacle: the kernels still look at the image
        }
        return null;
    }

    internal static PixelCanvas DrawKernels<T>(Network<T> network) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var found = FirstWeights(network)
            ?? throw new ArgumentException($"the network '{network.Spec}' has no first convolution or dense layer on its input image to draw");
        var (layer, token, values, outputs, channels, height, width) = found;
        int scale = Math.Max(1, KernelTile / Math.Max(height, width));
        int tileW = width * scale, tileH = height * scale;
        // One input channel: kernels wrap into a near-square grid; several: one row per output map.
        int columns = channels == 1 ? Math.Min(MaxColumns, (int)Math.Ceiling(Math.Sqrt(outputs))) : Math.Min(channels, MaxColumns);
        int tiles = channels == 1 ? outputs : outputs * Math.Min(channels, MaxColumns);
        int rows = (tiles + columns - 1) / columns;
        string title = $"LAYER {layer} {token}: {outputs} {(channels == 1 ? "" : $"x {channels} ")}KERNELS {height}x{width}";
        const string legend = "GREY = 0, WHITE > 0, BLACK < 0 (EACH KERNEL SCALED BY ITS MAX |W|)";
        int gridW = columns * (tileW + Gap) - Gap;
        int canvasW = 2 * Margin + Math.Max(gridW, Math.Max(PixelCanvas.TextWidth(title, LabelScale), PixelCanvas.TextWidth(legend)));
        int top = Margin + 7 * LabelScale + 6 + 7 + 8;
        var canvas = new PixelCanvas(canvasW, top + rows * (tileH + Gap) - Gap + Margin);
        canvas.Text(Margin, Margin, title, Ink, LabelScale);
        canvas.Text(Margin, Margin + 7 * LabelScale + 6, legend, Faint);
        int area = height * width;
        for (int t = 0; t < tiles; t++)
        {
            int o = channels == 1 ? t : t / Math.Min(channels, MaxColumns), c = channels == 1 ? 0 : t % Math.Min(channels, MaxColumns);
            var kernel = values.AsSpan((o * channels + c) * area, area);
            double max = 0;
            foreach (T v in kernel) max = Math.Max(max, Math.Abs(double.CreateChecked(v)));
            int x0 = Margin + (t % columns) * (tileW + Gap), y0 = top + (t / columns) * (tileH + Gap);
            for (int i = 0; i < height; i++)
                for (int j = 0; j < width; j++)
                {
                    double v = double.CreateChecked(kernel[i * width + j]);
                    byte grey = Level(max > 0 ? 0.5 + 0.5 * v / max : 0.5);
                    canvas.Fill(x0 + j * scale, y0 + i * scale, scale, scale, (grey, grey, grey));
                }
        }
        return canvas;
    }

    internal static PixelCanvas DrawFeatureMaps<T>(Network<T> network, ReadOnlySpan<T> sample) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (sample.Length != network.InputShape.Size)
            throw new ArgumentException($"the network takes {network.InputShape} = {network.InputShape.Size} values per sample, got {sample.Length}", nameof(sample));
        var blocks = new List<(string Label, Tensors.Shape Shape, T[] Values)>();
        using (var inference = new Inference<T>(network, 1, everyActivation: true))
        {
            inference.Run(sample);
            blocks.Add(($"INPUT {network.InputShape}", network.InputShape, network.Activation(0, 1).ToArray()));
            for (int k = 0; k < network.Layers.Count; k++)
            {
                var shape = network.Layers[k].OutputShape;
                if (shape.Height > 1 || shape.Width > 1)
                    blocks.Add(($"{k + 1} {network.Layers[k].Token} {shape}", shape, network.Activation(k + 1, 1).ToArray()));
            }
        }

        const string title = "FEATURE MAPS OF ONE SAMPLE (EACH MAP: OWN MIN BLACK, MAX WHITE)";
        var layout = new List<(int Top, int Scale, int Columns)>();
        int y = Margin + 7 * LabelScale + 10, width = PixelCanvas.TextWidth(title, LabelScale);
        foreach (var (label, shape, _) in blocks)
        {
            int scale = Math.Max(1, FeatureTile / Math.Max(shape.Height, shape.Width));
            int columns = Math.Min(MaxColumns, shape.Channels), rows = (shape.Channels + columns - 1) / columns;
            width = Math.Max(width, Math.Max(PixelCanvas.TextWidth(label, LabelScale), columns * (shape.Width * scale + Gap) - Gap));
            y += 7 * LabelScale + 6;
            layout.Add((y, scale, columns));
            y += rows * (shape.Height * scale + Gap) - Gap + 14;
        }
        var canvas = new PixelCanvas(width + 2 * Margin, y - 14 + Margin);
        canvas.Text(Margin, Margin, title, Ink, LabelScale);
        for (int b = 0; b < blocks.Count; b++)
        {
            var (label, shape, values) = blocks[b];
            var (top, scale, columns) = layout[b];
            canvas.Text(Margin, top - 7 * LabelScale - 6, label, Ink, LabelScale);
            int area = shape.Height * shape.Width;
            for (int c = 0; c < shape.Channels; c++)
            {
                var map = values.AsSpan(c * area, area);
                double min = double.PositiveInfinity, max = double.NegativeInfinity;
                foreach (T v in map)
                {
                    double d = double.CreateChecked(v);
                    if (!double.IsFinite(d)) continue;
                    min = Math.Min(min, d);
                    max = Math.Max(max, d);
                }
                int x0 = Margin + (c % columns) * (shape.Width * scale + Gap), y0 = top + (c / columns) * (shape.Height * scale + Gap);
                for (int i = 0; i < shape.Height; i++)
                    for (int j = 0; j < shape.Width; j++)
                    {
                        double d = double.CreateChecked(map[i * shape.Width + j]);
                        byte grey = Level(max > min && double.IsFinite(d) ? (d - min) / (max - min) : 0);
                        canvas.Fill(x0 + j * scale, y0 + i * scale, scale, scale, (grey, grey, grey));
                    }
            }
        }
        return canvas;
    }

    internal static PixelCanvas DrawConfusion(Evaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        int k = evaluation.Confusion.GetLength(0);
        var counts = evaluation.Confusion;
        int largest = 0;
        foreach (int c in counts) largest = Math.Max(largest, c);
        int cell = Math.Max(28, PixelCanvas.TextWidth(largest.ToString(CultureInfo.InvariantCulture)) + 8);
        int correct = 0;
        for (int i = 0; i < k; i++) correct += counts[i, i];
        string title = $"CONFUSION MATRIX: ACCURACY {100 * evaluation.Accuracy:F2}% ({correct}/{evaluation.Count})";
        int rowLabelW = PixelCanvas.TextWidth((k - 1).ToString(CultureInfo.InvariantCulture)) + 8;
        int left = Margin + Math.Max(PixelCanvas.TextWidth("TRUE") + 6, rowLabelW) + 4;
        int top = Margin + 7 * LabelScale + 10 + 7 + 6 + 7 + 6;
        int recallW = PixelCanvas.TextWidth("RECALL") + 8;
        int width = Math.Max(left + k * cell + 8 + recallW, PixelCanvas.TextWidth(title, LabelScale) + Margin) + Margin;
        var canvas = new PixelCanvas(width, top + k * cell + Margin);
        canvas.Text(Margin, Margin, title, Ink, LabelScale);
        int axisY = Margin + 7 * LabelScale + 10;
        canvas.Text(left + (k * cell - PixelCanvas.TextWidth("PREDICTED")) / 2, axisY, "PREDICTED", Faint);
        canvas.Text(Margin, axisY + 13, "TRUE", Faint);
        canvas.Text(left + k * cell + 8, axisY + 13, "RECALL", Faint);
        for (int j = 0; j < k; j++)
        {
            string label = j.ToString(CultureInfo.InvariantCulture);
            canvas.Text(left + j * cell + (cell - PixelCanvas.TextWidth(label)) / 2, top - 13, label, Ink);
        }
        for (int i = 0; i < k; i++)
        {
            int rowTotal = 0;
            for (int j = 0; j < k; j++) rowTotal += counts[i, j];
            string label = i.ToString(CultureInfo.InvariantCulture);
            canvas.Text(left - 4 - PixelCanvas.TextWidth(label), top + i * cell + (cell - 7) / 2, label, Ink);
            for (int j = 0; j < k; j++)
            {
                double fraction = rowTotal == 0 ? 0 : (double)counts[i, j] / rowTotal;
                var fill = Shade(fraction);
                canvas.Fill(left + j * cell, top + i * cell, cell - 1, cell - 1, fill);
                if (counts[i, j] == 0) continue;
                string text = counts[i, j].ToString(CultureInfo.InvariantCulture);
                canvas.Text(left + j * cell + (cell - 1 - PixelCanvas.TextWidth(text)) / 2, top + i * cell + (cell - 1 - 7) / 2, text,
                    fraction > 0.5 ? ((byte)255, (byte)255, (byte)255) : Ink);
            }
            string recall = rowTotal == 0 ? "-" : $"{100.0 * counts[i, i] / rowTotal:F1}%";
            canvas.Text(left + k * cell + 8, top + i * cell + (cell - 7) / 2, recall, Ink);
        }
        return canvas;
    }

    /// <summary>White (0) to dark blue (1).</summary>
    internal static (byte R, byte G, byte B) Shade(double fraction)
    {
        double f = Math.Clamp(fraction, 0, 1);
        return ((byte)Math.Round(255 - f * (255 - 8)), (byte)Math.Round(255 - f * (255 - 48)), (byte)Math.Round(255 - f * (255 - 107)));
    }

    private static byte Level(double unit) => (byte)Math.Round(255 * Math.Clamp(unit, 0, 1));

}

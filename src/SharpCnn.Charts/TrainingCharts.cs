using System.Globalization;
using System.Net;
using System.Text;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace SharpCnn.Charts;

/// <summary>
/// Charts of a training run (<see cref="TrainingHistory"/>) as PNG, drawn by ScottPlot through SkiaSharp, each with a
/// title, labelled axes with ticks, a grid and a legend:
/// <list type="bullet">
/// <item><c>loss.png</c>: the loss of every step (faint), its exponential moving average (<see cref="Smoothing"/>),
///   and each epoch's mean training loss and held-out loss at the step the epoch ended;</item>
/// <item><c>accuracy.png</c>: training and held-out (validation or test) accuracy per epoch, in %;</item>
/// <item><c>learning-rate.png</c>: the learning rate of every step;</item>
/// <item><c>gradients.png</c>: each trained parameter tensor's gradient norm ‖∂L/∂θ‖₂ over the steps, on a log axis
///   (vanishing gradients sink by decades, exploding ones climb);</item>
/// <item><c>updates.png</c>: each tensor's update-to-weight ratio ‖Δθ‖₂ / ‖θ‖₂ over the steps, on a log axis, with
///   the usual rule of thumb (about 1e-3) drawn as a dashed line.</item>
/// </list>
/// Values that are not finite are left out (a gap in the line); on a log axis so are zero and negative ones, and the
/// chart says how many it left out. A chart with nothing to draw still renders, saying so. Files are written
/// atomically (temporary file, then rename).
/// </summary>
public static class TrainingCharts
{
    /// <summary>Default chart width in pixels.</summary>
    public const int Width = 900;

    /// <summary>Default chart height in pixels.</summary>
    public const int Height = 500;

    /// <summary>The weight of the newest step in the smoothed loss: EMA ← (1 − α)·EMA + α·loss.</summary>
    public const double Smoothing = 0.05;

    /// <summary>The update-to-weight ratio drawn as a reference line on <c>updates.png</c>.</summary>
    public const double UpdateRatioGuide = 1e-3;

    /// <summary>The colours of the per-epoch lines: training (blue) and held-out (red).</summary>
    public static readonly Color TrainColor = Color.FromHex("#1f77b4"), HeldOutColor = Color.FromHex("#d62728");

    /// <summary>The file names <see cref="SaveAll"/> writes, in order.</summary>
    public static IReadOnlyList<string> FileNames { get; } = ["loss.png", "accuracy.png", "learning-rate.png", "gradients.png", "updates.png"];

    /// <summary>Writes every chart into <paramref name="directory"/> (created if needed) under <see cref="FileNames"/>; returns the paths.</summary>
    public static IReadOnlyList<string> SaveAll(string directory, TrainingHistory history, int width = Width, int height = Height)
    {
        ArgumentNullException.ThrowIfNull(history);
        Directory.CreateDirectory(directory);
        var charts = new Func<TrainingHistory, int, int, byte[]>[] { LossPng, AccuracyPng, LearningRatePng, GradientNormsPng, UpdateRatiosPng };
        var written = new List<string>();
        for (int i = 0; i < charts.Length; i++)
        {
            string path = Path.Combine(directory, FileNames[i]);
            WriteAtomically(path, charts[i](history, width, height));
            written.Add(path);
        }
        return written;
    }

    /// <summary>The loss chart (see <see cref="TrainingCharts"/>) as PNG bytes.</summary>
    public static byte[] LossPng(TrainingHistory history, int width = Width, int height = Height)
    {
        ArgumentNullException.ThrowIfNull(history);
        var plot = NewPlot("Loss", "step", "loss");
        var x = history.Steps.ToArray();
        var raw = Finite(history.Losses);
        bool any = false;
        if (x.Length > 0)
        {
            var line = Line(plot, x, raw, Color.FromHex("#1f77b4").WithAlpha(0.35), 1, "loss per step");
            line.MarkerSize = x.Length == 1 ? 6 : 0;
            Line(plot, x, Ema(raw, Smoothing), TrainColor, 2, $"smoothed (EMA, α = {Smoothing.ToString(CultureInfo.InvariantCulture)})");
            any = true;
        }
        any |= EpochLines(plot, history, e => e.EndStep, e => e.TrainLoss, e => e.HeldOutLoss);
        return Render(plot, any, width, height);
    }

    /// <summary>The accuracy chart as PNG bytes.</summary>
    public static byte[] AccuracyPng(TrainingHistory history, int width = Width, int height = Height)
    {
        ArgumentNullException.ThrowIfNull(history);
        var plot = NewPlot("Accuracy per epoch", "epoch", "accuracy (%)");
        bool any = EpochLines(plot, history, e => e.Epoch, e => 100 * e.TrainAccuracy, e => 100 * e.HeldOutAccuracy, markers: 7);
        return Render(plot, any, width, height);
    }

    /// <summary>The learning-rate chart as PNG bytes.</summary>
    public static byte[] LearningRatePng(TrainingHistory history, int width = Width, int height = Height)
    {
        ArgumentNullException.ThrowIfNull(history);
        var plot = NewPlot("Learning rate per step", "step", "learning rate");
        bool any = history.Steps.Count > 0;
        if (any)
        {
            var line = Line(plot, history.Steps.ToArray(), Finite(history.LearningRates), Color.FromHex("#2ca02c"), 2, "learning rate");
            line.MarkerSize = history.Steps.Count == 1 ? 6 : 0;
        }
        return Render(plot, any, width, height);
    }

    /// <summary>The gradient-norm chart (log axis) as PNG bytes.</summary>
    public static byte[] GradientNormsPng(TrainingHistory history, int width = Width, int height = Height)
    {
        ArgumentNullException.ThrowIfNull(history);
        return PerParameter(history, history.GradientNorms, "Gradient norm per parameter tensor", "‖∂L/∂θ‖₂ (log scale)", null, width, height);
    }

    /// <summary>The update-to-weight ratio chart (log axis) as PNG bytes.</summary>
    public static byte[] UpdateRatiosPng(TrainingHistory history, int width = Width, int height = Height)
    {
        ArgumentNullException.ThrowIfNull(history);
        return PerParameter(history, history.UpdateRatios, "Update-to-weight ratio per parameter tensor", "‖Δθ‖₂ / ‖θ‖₂ (log scale)", UpdateRatioGuide, width, height);
    }

    /// <summary>Writes an <c>index.html</c> into <paramref name="directory"/> that shows <paramref name="files"/> (file names in that folder) under <paramref name="title"/>; returns its path.</summary>
    public static string WriteIndex(string directory, string title, IEnumerable<string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>SharpCnn training pictures</title></head>\n<body style=\"font-family:sans-serif\">\n");
        html.Append(CultureInfo.InvariantCulture, $"<h1>{WebUtility.HtmlEncode(title)}</h1>\n");
        foreach (string file in files)
        {
            string name = WebUtility.HtmlEncode(Path.GetFileName(file));
            html.Append(CultureInfo.InvariantCulture, $"<p><img src=\"{name}\" alt=\"{name}\"></p>\n");
        }
        html.Append("</body></html>\n");
        string path = Path.Combine(directory, "index.html");
        WriteAtomically(path, new UTF8Encoding(false).GetBytes(html.ToString()));
        return path;
    }

    private static byte[] PerParameter(TrainingHistory history, IReadOnlyList<IReadOnlyList<double>> series, string title, string yLabel, double? guide, int width, int height)
    {
        var plot = NewPlot(title, "step", yLabel);
        var x = history.StatisticSteps.ToArray();
        var palette = new ScottPlot.Palettes.Category10();
        int dropped = 0;
        bool any = false;
        for (int i = 0; i < series.Count; i++)
        {
            var y = new double[x.Length];
            for (int j = 0; j < y.Length; j++)
            {
                double v = series[i][j];
                if (double.IsFinite(v) && v > 0) y[j] = Math.Log10(v);
                else
                {
                    y[j] = double.NaN;
                    dropped++;
                }
            }
            if (x.Length == 0 || y.All(double.IsNaN)) continue;
            var line = Line(plot, x, y, palette.GetColor(i), 2, history.Parameters[i]);
            line.MarkerSize = x.Length == 1 ? 6 : 0;
            line.LinePattern = i >= 10 ? LinePattern.Dashed : LinePattern.Solid;
            any = true;
        }
        if (any && guide is { } g)
        {
            var rule = plot.Add.HorizontalLine(Math.Log10(g), 1, Colors.Gray, LinePattern.Dashed);
            rule.LegendText = $"guide: {g.ToString("g", CultureInfo.InvariantCulture)}";
        }
        var ticks = new NumericAutomatic
        {
            MinorTickGenerator = new LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = v => Math.Pow(10, v).ToString("g3", CultureInfo.InvariantCulture),
        };
        plot.Axes.Left.TickGenerator = ticks;
        plot.Grid.MajorLineColor = Colors.Black.WithAlpha(0.15);
        plot.Grid.MinorLineColor = Colors.Black.WithAlpha(0.05);
        plot.Grid.MinorLineWidth = 1;
        if (dropped > 0)
            plot.Add.Annotation($"{dropped} value(s) not finite or ≤ 0: not drawn on the log axis", Alignment.LowerLeft);
        return Render(plot, any, width, height);
    }

    private static bool EpochLines(Plot plot, TrainingHistory history, Func<EpochPoint, double> x, Func<EpochPoint, double> train, Func<EpochPoint, double> heldOut, int markers = 6)
    {
        var epochs = history.Epochs;
        if (epochs.Count == 0) return false;
        var xs = epochs.Select(x).ToArray();
        bool any = false;
        var t = Finite(epochs.Select(train).ToArray());
        if (t.Any(double.IsFinite))
        {
            var line = Line(plot, xs, t, TrainColor, 2, "training, per epoch");
            line.MarkerSize = markers;
            line.LinePattern = LinePattern.Dashed;
            any = true;
        }
        var h = Finite(epochs.Select(heldOut).ToArray());
        if (h.Any(double.IsFinite))
        {
            var line = Line(plot, xs, h, HeldOutColor, 2, $"{history.HeldOutName}, per epoch");
            line.MarkerSize = markers;
            any = true;
        }
        return any;
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true }; // steps and epochs are whole numbers
        return plot;
    }

    private static ScottPlot.Plottables.Scatter Line(Plot plot, double[] x, double[] y, Color color, float width, string legend)
    {
        var line = plot.Add.Scatter(x, y, color);
        line.LineWidth = width;
        line.MarkerSize = 0;
        line.LegendText = legend;
        return line;
    }

    private static byte[] Render(Plot plot, bool any, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 100);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, 8192);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(height, 8192);
        if (!any)
        {
            plot.Add.Annotation("nothing to draw yet: no finite values", Alignment.MiddleCenter);
            plot.Axes.SetLimits(0, 1, 0, 1);
        }
        else
        {
            plot.Axes.AutoScale();
            var limits = plot.Axes.GetLimits();
            // One point, or a flat line: give the axis some height so the point sits inside it.
            if (!(limits.Top > limits.Bottom) || !double.IsFinite(limits.Top - limits.Bottom))
                plot.Axes.SetLimitsY(double.IsFinite(limits.Bottom) ? limits.Bottom - 1 : -1, double.IsFinite(limits.Top) ? limits.Top + 1 : 1);
            if (!(limits.Right > limits.Left) || !double.IsFinite(limits.Right - limits.Left))
                plot.Axes.SetLimitsX(double.IsFinite(limits.Left) ? limits.Left - 1 : -1, double.IsFinite(limits.Right) ? limits.Right + 1 : 1);
        }
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>The values with every one that is not finite replaced by NaN (a gap).</summary>
    private static double[] Finite(IReadOnlyList<double> values)
    {
        var result = new double[values.Count];
        for (int i = 0; i < result.Length; i++) result[i] = double.IsFinite(values[i]) ? values[i] : double.NaN;
        return result;
    }

    /// <summary>Exponential moving average that passes over gaps (NaN stays NaN and does not reset it).</summary>
    internal static double[] Ema(double[] values, double alpha)
    {
        var result = new double[values.Length];
        double ema = double.NaN;
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            if (double.IsNaN(v))
            {
                result[i] = double.NaN;
                continue;
            }
            ema = double.IsNaN(ema) ? v : (1 - alpha) * ema + alpha * v;
            result[i] = ema;
        }
        return result;
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        string full = Path.GetFullPath(path);
        string temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllBytes(temporary, bytes);
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}

using System.Globalization;
using System.Text;

namespace SharpCnn.Pictures;

/// <summary>One line of a <see cref="SvgLineChart"/>: a name for the legend and its (x, y) points.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="Points">The points, in drawing order. A NaN or infinite y breaks the line there.</param>
public sealed record ChartSeries(string Name, IReadOnlyList<(double X, double Y)> Points);

/// <summary>
/// A line chart (learning curves: loss or accuracy per epoch) written as a standalone SVG
/// document by hand, since no plotting library is reachable from this project's machines.
///
/// The plot area maps [xMin, xMax] x [yMin, yMax] (rounded out to "nice" tick steps of
/// 1, 2 or 5 times a power of ten) onto a fixed pixel box; every series is one polyline
/// (split where a value is not finite), with a marker per point and a legend entry.
/// Text is XML-escaped; numbers are written with the invariant culture.
/// </summary>
public static class SvgLineChart
{
    private const int Width = 720, Height = 440;
    private const int Left = 70, Right = 170, Top = 40, Bottom = 60;

    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

    /// <summary>Renders the chart as an SVG document.</summary>
    /// <param name="title">Heading above the plot.</param>
    /// <param name="xLabel">Label of the horizontal axis.</param>
    /// <param name="yLabel">Label of the vertical axis.</param>
    /// <param name="series">The lines to draw (at least one finite point in all, or the chart says "no data").</param>
    /// <param name="wholeNumberX">Put the horizontal ticks on whole numbers only (epochs, steps), never 1.2 or 1.5.</param>
    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, bool wholeNumberX = false)
    {
        ArgumentNullException.ThrowIfNull(series);
        var finite = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToArray();
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width / 2}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{Escape(title)}</text>\n");
        int plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        if (finite.Length == 0)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotW / 2}\" y=\"{Top + plotH / 2}\" text-anchor=\"middle\">no data</text>\n</svg>\n");
            return svg.ToString();
        }

        var (x0, x1, xStep) = NiceRange(finite.Min(p => p.X), finite.Max(p => p.X));
        if (wholeNumberX && xStep < 1) (x0, x1, xStep) = (Math.Floor(x0), Math.Ceiling(x1), 1);
        var (y0, y1, yStep) = NiceRange(finite.Min(p => p.Y), finite.Max(p => p.Y));
        double Px(double x) => Left + (x - x0) / (x1 - x0) * plotW;
        double Py(double y) => Top + plotH - (y - y0) / (y1 - y0) * plotH;

        // Grid, ticks and tick labels.
        svg.Append("<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
        foreach (double x in Ticks(x0, x1, xStep)) svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(Px(x))}\" y1=\"{Top}\" x2=\"{F(Px(x))}\" y2=\"{Top + plotH}\"/>\n");
        foreach (double y in Ticks(y0, y1, yStep)) svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{F(Py(y))}\" x2=\"{Left + plotW}\" y2=\"{F(Py(y))}\"/>\n");
        svg.Append("</g>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#333\"/>\n");
        foreach (double x in Ticks(x0, x1, xStep))
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(Px(x))}\" y=\"{Top + plotH + 18}\" text-anchor=\"middle\">{Label(x, xStep)}</text>\n");
        foreach (double y in Ticks(y0, y1, yStep))
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{F(Py(y) + 4)}\" text-anchor=\"end\">{Label(y, yStep)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotW / 2}\" y=\"{Height - 18}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(18 {Top + plotH / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");

        // Lines, markers and the legend.
        for (int s = 0; s < series.Count; s++)
        {
            string color = Colors[s % Colors.Length];
            svg.Append(CultureInfo.InvariantCulture, $"<g class=\"series\" stroke=\"{color}\" fill=\"{color}\">\n");
            var segment = new List<string>();
            foreach (var (x, y) in series[s].Points)
            {
                if (double.IsFinite(x) && double.IsFinite(y))
                {
                    segment.Add($"{F(Px(x))},{F(Py(y))}");
                    continue;
                }
                Polyline(svg, segment);
            }
            Polyline(svg, segment);
            foreach (var (x, y) in series[s].Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)))
                svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(Px(x))}\" cy=\"{F(Py(y))}\" r=\"2.5\" stroke=\"none\"/>\n");
            svg.Append("</g>\n");
            int ly = Top + 10 + 20 * s;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left + plotW + 14}\" y1=\"{ly}\" x2=\"{Left + plotW + 38}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotW + 44}\" y=\"{ly + 4}\">{Escape(series[s].Name)}</text>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Renders the chart and writes it to <paramref name="path"/> (UTF-8).</summary>
    public static void Save(string path, string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, bool wholeNumberX = false) =>
        File.WriteAllText(path, Render(title, xLabel, yLabel, series, wholeNumberX), new UTF8Encoding(false));

    private static void Polyline(StringBuilder svg, List<string> segment)
    {
        if (segment.Count > 1) svg.Append($"<polyline fill=\"none\" stroke-width=\"2\" points=\"{string.Join(' ', segment)}\"/>\n");
        segment.Clear();
    }

    /// <summary>Rounds [min, max] out to multiples of a step of 1, 2 or 5 times a power of ten, with about five steps.</summary>
    internal static (double Low, double High, double Step) NiceRange(double min, double max)
    {
        if (max - min <= Math.Abs(max) * 1e-12)
        {
            // A single value: show a unit band around it (or around 0).
            double pad = max == 0 ? 1 : Math.Abs(max) * 0.1;
            (min, max) = (min - pad, max + pad);
        }
        double raw = (max - min) / 5;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = (raw / magnitude) switch { <= 1 => magnitude, <= 2 => 2 * magnitude, <= 5 => 5 * magnitude, _ => 10 * magnitude };
        return (Math.Floor(min / step) * step, Math.Ceiling(max / step) * step, step);
    }

    private static IEnumerable<double> Ticks(double low, double high, double step)
    {
        int count = (int)Math.Round((high - low) / step);
        for (int i = 0; i <= count; i++) yield return low + i * step;
    }

    private static string Label(double value, double step)
    {
        int decimals = Math.Max(0, (int)-Math.Floor(Math.Log10(step) + 1e-9));
        return Math.Round(value, Math.Min(decimals, 15)).ToString("F" + decimals, CultureInfo.InvariantCulture);
    }

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}

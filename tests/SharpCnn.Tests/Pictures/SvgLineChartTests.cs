using System.Xml.Linq;
using SharpCnn.Pictures;

namespace SharpCnn.Tests.Pictures;

public class SvgLineChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static ChartSeries Series(string name, params double[] ys) => new(name, ys.Select((y, i) => ((double)(i + 1), y)).ToArray());

    [Fact]
    public void TheDocumentIsWellFormedSvgWithOneLineAndLegendEntryPerSeries()
    {
        string text = SvgLineChart.Render("loss <per> epoch & run", "epoch", "loss", [Series("train", 0.9, 0.5, 0.3), Series("test", 1.0, 0.6, 0.45)]);
        var doc = XDocument.Parse(text); // throws on malformed XML, e.g. an unescaped '<' or '&'
        Assert.Equal(Svg + "svg", doc.Root!.Name);
        var groups = doc.Descendants(Svg + "g").Where(g => (string?)g.Attribute("class") == "series").ToArray();
        Assert.Equal(2, groups.Length);
        Assert.All(groups, g => Assert.Single(g.Elements(Svg + "polyline")));
        Assert.All(groups, g => Assert.Equal(3, g.Elements(Svg + "circle").Count()));
        var texts = doc.Descendants(Svg + "text").Select(t => t.Value).ToArray();
        Assert.Contains("loss <per> epoch & run", texts);
        Assert.Contains("train", texts);
        Assert.Contains("test", texts);
    }

    [Fact]
    public void PointsMapInsideThePlotAreaWithLargerValuesHigher()
    {
        var doc = XDocument.Parse(SvgLineChart.Render("t", "x", "y", [Series("a", 0.2, 0.8)]));
        var points = doc.Descendants(Svg + "circle").Select(c => (X: (double)c.Attribute("cx")!, Y: (double)c.Attribute("cy")!)).ToArray();
        var frame = doc.Root!.Elements(Svg + "rect").Single(r => (string?)r.Attribute("fill") == "none");
        double left = (double)frame.Attribute("x")!, top = (double)frame.Attribute("y")!;
        double right = left + (double)frame.Attribute("width")!, bottom = top + (double)frame.Attribute("height")!;
        Assert.All(points, p => Assert.InRange(p.X, left, right));
        Assert.All(points, p => Assert.InRange(p.Y, top, bottom));
        Assert.True(points[1].X > points[0].X);
        Assert.True(points[1].Y < points[0].Y); // SVG y grows downwards: 0.8 is drawn above 0.2
    }

    [Fact]
    public void ANonFiniteValueBreaksTheLineInsteadOfPoisoningTheAxes()
    {
        string text = SvgLineChart.Render("t", "x", "y", [Series("diverged", 0.5, 0.4, double.NaN, 0.3, 0.2, double.PositiveInfinity)]);
        var doc = XDocument.Parse(text);
        Assert.Equal(2, doc.Descendants(Svg + "polyline").Count());
        Assert.Equal(4, doc.Descendants(Svg + "circle").Count());
        Assert.DoesNotContain("NaN", text);
        Assert.DoesNotContain("Infinity", text);
    }

    [Fact]
    public void NoFiniteDataSaysSo()
    {
        var doc = XDocument.Parse(SvgLineChart.Render("t", "x", "y", [Series("a", double.NaN)]));
        Assert.Contains("no data", doc.Descendants(Svg + "text").Select(t => t.Value));
    }

    [Theory]
    [InlineData(0.0, 1.0, 0.2)]
    [InlineData(0.913, 0.987, 0.02)]
    [InlineData(3, 3, 0.2)]
    [InlineData(0, 0, 0.5)]
    [InlineData(-17, 230, 50)]
    public void AxesRoundOutToNiceSteps(double min, double max, double step)
    {
        var (low, high, s) = SvgLineChart.NiceRange(min, max);
        Assert.Equal(step, s, 12);
        Assert.True(low <= min && high >= max);
        Assert.Equal(Math.Round(low / s), low / s, 9);
        Assert.Equal(Math.Round(high / s), high / s, 9);
    }

    [Fact]
    public void WholeNumberTicksForEpochs()
    {
        var texts = XDocument.Parse(SvgLineChart.Render("t", "epoch", "y", [Series("a", 0.5, 0.3)], wholeNumberX: true))
            .Descendants(Svg + "text").Select(t => t.Value).ToArray();
        Assert.Contains("1", texts);
        Assert.Contains("2", texts);
        Assert.DoesNotContain("1.2", texts);
        var fractional = XDocument.Parse(SvgLineChart.Render("t", "epoch", "y", [Series("a", 0.5, 0.3)]))
            .Descendants(Svg + "text").Select(t => t.Value).ToArray();
        Assert.Contains("1.2", fractional); // without it, two epochs get ticks every 0.2
    }
}

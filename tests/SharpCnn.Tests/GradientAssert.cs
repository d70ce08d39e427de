using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests;

/// <summary>Runs the gradient checker in double and asserts every tensor is within 1e-6.</summary>
internal static class GradientAssert
{
    public const double Tolerance = 1e-6;

    /// <summary>
    /// Builds <paramref name="layer"/> for <paramref name="input"/>, fills its trained parameters randomly
    /// (non-trained state such as running statistics is left as it is) and checks it on a batch of <paramref name="n"/>.
    /// </summary>
    public static GradientCheckReport Layer(Layer<double> layer, Shape input, int n, double[]? x = null, ulong seed = 7, int maxElements = 0)
    {
        var rng = new Rng(seed);
        if (!layer.IsBuilt) layer.Build(input);
        foreach (var p in layer.Parameters)
            if (p.IsTrained) RandomTensors.Fill(p, rng);
        x ??= RandomTensors.Normal(rng, n * input.Size);
        var report = GradientChecker.CheckLayer(layer, x, n, new GradientCheckOptions { Seed = seed, MaxElementsPerTensor = maxElements });
        Passes(report);
        return report;
    }

    /// <summary>Asserts the report passed, listing every tensor when it did not.</summary>
    public static void Passes(GradientCheckReport report)
    {
        Assert.NotEmpty(report.Tensors);
        Assert.All(report.Tensors, t => Assert.True(t.Checked > 0, $"{t.Layer} {t.Tensor}: no element checked"));
        Assert.True(report.Passed, Describe(report));
        Assert.True(report.MaxRelativeError <= Tolerance, Describe(report));
    }

    public static string Describe(GradientCheckReport report) => string.Join("\n", report.Tensors.Select(t =>
        $"{t.Layer} {t.Tensor}: max rel err {t.MaxRelativeError:E2} over {t.Checked}/{t.Total} (scale {t.Scale:E1}, redraws {t.Redraws}) {(t.Passed ? "ok" : "FAIL")}"));
}
